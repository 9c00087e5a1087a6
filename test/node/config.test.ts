import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULTS, loadConfig, parseConfig } from "../../node/config.js";
import { isTreatyError } from "../../sdk/errors.js";

describe("node config", () => {
  const dir = mkdtempSync(join(tmpdir(), "treaty-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("applies defaults and resolves paths against the config folder", () => {
    const config = parseConfig({ dataDir: "data" }, "/srv/treaty");
    assert.equal(config.dataDir, "/srv/treaty/data");
    assert.equal(config.identityFile, null);
    assert.deepEqual(config.sealing, { provider: "memory" });
    assert.equal(config.http.port, DEFAULTS.http.port);
    assert.equal(config.genesis, null);
    assert.equal(config.ledger.chunkBytes, 4 * 1024 * 1024);
    assert.equal(config.ledger.signWhenIdle, true);
    assert.equal(
      parseConfig({ dataDir: "d", ledger: { signWhenIdle: false } }, "/srv/t").ledger.signWhenIdle,
      false,
    );
    assert.equal(
      parseConfig({ dataDir: "data", ledger: { chunkBytes: 65536 } }, "/srv/t").ledger.chunkBytes,
      65536,
    );
    assert.equal(config.requests.verifyWorkers, undefined, "absent: the node picks by core count");
    assert.equal(
      parseConfig({ dataDir: "data", requests: { verifyWorkers: 0 } }, "/srv/t").requests.verifyWorkers,
      0,
    );
  });

  it("reads a virtual sealing section with a key file or an environment variable", () => {
    assert.deepEqual(
      parseConfig({ dataDir: "data", sealing: { provider: "virtual", keyFile: "keys/node.key" } }, "/srv/t")
        .sealing,
      { provider: "virtual", keyFile: "/srv/t/keys/node.key", keyEnv: null },
    );
    assert.deepEqual(
      parseConfig({ dataDir: "data", sealing: { provider: "virtual", keyEnv: "NODE_KEY" } }, "/srv/t")
        .sealing,
      { provider: "virtual", keyFile: null, keyEnv: "NODE_KEY" },
    );
  });

  it("reads YAML and JSON files alike", () => {
    writeFileSync(
      join(dir, "a.yaml"),
      "dataDir: d\nhttp:\n  port: 9001\ngenesis:\n  members:\n    - publicKey: ab\n",
    );
    writeFileSync(
      join(dir, "a.json"),
      JSON.stringify({ dataDir: "d", http: { port: 9001 }, genesis: { members: [{ publicKey: "ab" }] } }),
    );
    assert.deepEqual(loadConfig(join(dir, "a.yaml")), loadConfig(join(dir, "a.json")));
  });

  it("serves TLS unless http.tls is false, and never publishes a wildcard address", () => {
    assert.equal(parseConfig({ dataDir: "d" }, "/").http.tls, true);
    assert.equal(parseConfig({ dataDir: "d" }, "/").http.advertiseUrl, null);
    assert.equal(parseConfig({ dataDir: "d", http: { tls: false } }, "/").http.tls, false);
    const bound = parseConfig(
      { dataDir: "d", http: { host: "0.0.0.0", advertiseUrl: "https://node1.example:8000/" } },
      "/",
    );
    assert.equal(bound.http.advertiseUrl, "https://node1.example:8000");
    const refused: Array<[unknown, RegExp]> = [
      [{ host: "0.0.0.0" }, /http\.advertiseUrl: required when http\.host is the wildcard/],
      [{ host: "::" }, /http\.advertiseUrl: required/],
      [{ host: "0.0.0.0", advertiseUrl: "https://0.0.0.0:8000" }, /a reachable host/],
      [{ advertiseUrl: "http://node1.example:8000" }, /http\.advertiseUrl: expected a https:/],
      [{ tls: false, advertiseUrl: "https://node1.example:8000" }, /expected a http:/],
      [{ advertiseUrl: "https://node1.example:8000/api" }, /without a path/],
      [{ tls: "yes" }, /http\.tls: expected true or false/],
    ];
    for (const [http, message] of refused)
      assert.throws(
        () => parseConfig({ dataDir: "d", http }, "/"),
        (err) => isTreatyError(err, "MalformedRequest") && message.test((err as Error).message),
      );
  });

  it("names the offending field", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /config dataDir: expected a non-empty string/],
      [
        { dataDir: "d", http: { port: 70000 } },
        /config http\.port: expected an integer from 0 to 65535, got 70000/,
      ],
      [{ dataDir: "d", genesis: { members: [] } }, /genesis\.members: at least one member/],
      [
        { dataDir: "d", genesis: { members: [{ publicKey: "ab", curve: "rsa" }] } },
        /genesis\.members\[0\]\.curve/,
      ],
      [{ dataDir: "d", logLevel: "loud" }, /config logLevel: expected one of/],
      [
        { dataDir: "d", requests: { verifyWorkers: 65 } },
        /config requests\.verifyWorkers: expected an integer from 0 to 64, got 65/,
      ],
      [
        { dataDir: "d", ledger: { signWhenIdle: "yes" } },
        /config ledger\.signWhenIdle: expected true or false/,
      ],
      [
        { dataDir: "d", ledger: { chunkBytes: 10 } },
        /config ledger\.chunkBytes: expected an integer from 1024/,
      ],
      [
        { dataDir: "d", genesis: { members: [{ publicKey: "ab" }], autoTrustNodes: "yes" } },
        /config genesis\.autoTrustNodes: expected true or false/,
      ],
      [
        { dataDir: "d", sealing: { provider: "tpm" } },
        /config sealing\.provider: expected one of memory, virtual/,
      ],
      [
        { dataDir: "d", sealing: { provider: "virtual" } },
        /config sealing: expected exactly one of keyFile and keyEnv/,
      ],
      [
        { dataDir: "d", sealing: { provider: "virtual", keyFile: "d/key" } },
        /config sealing\.keyFile: must lie outside dataDir/,
      ],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseConfig(value, dir),
        (e) => isTreatyError(e, "MalformedRequest") && message.test(e.message),
      );
    }
    writeFileSync(join(dir, "bad.json"), "{");
    assert.throws(() => loadConfig(join(dir, "bad.json")), /not valid JSON/);
  });

  it("reads the trust policy for joiners as part of genesis; the old top-level field is its default", () => {
    const genesis = { members: [{ publicKey: "ab" }] };
    assert.equal(parseConfig({ dataDir: "d", genesis }, dir).genesis?.autoTrustNodes, false);
    assert.equal(
      parseConfig({ dataDir: "d", genesis: { ...genesis, autoTrustNodes: true } }, dir).genesis
        ?.autoTrustNodes,
      true,
    );
    // Workspaces written by earlier versions put it at the top level of node 0's config.
    assert.equal(
      parseConfig({ dataDir: "d", genesis, autoTrustNodes: true }, dir).genesis?.autoTrustNodes,
      true,
    );
    assert.equal(
      parseConfig({ dataDir: "d", genesis: { ...genesis, autoTrustNodes: false }, autoTrustNodes: true }, dir)
        .genesis?.autoTrustNodes,
      false,
    );
    assert.throws(
      () => parseConfig({ dataDir: "d", autoTrustNodes: 1 }, dir),
      (e) =>
        isTreatyError(e, "MalformedRequest") &&
        /config autoTrustNodes: expected true or false/.test(e.message),
    );
  });

  it("reads Ethereum wallets as genesis members and users, by the rules of set_member {address}", () => {
    const address = `0x${"Ab".repeat(20)}`;
    const genesis = parseConfig(
      {
        dataDir: "d",
        genesis: {
          members: [{ publicKey: "ab" }, { address, data: { name: "dao" } }],
          users: [{ address: `0x${"12".repeat(20)}` }],
        },
      },
      dir,
    ).genesis;
    assert.deepEqual(genesis?.members, [
      { curve: "ed25519", publicKey: "ab" },
      { address: address.toLowerCase(), data: { name: "dao" } },
    ]);
    assert.deepEqual(genesis?.users, [{ address: `0x${"12".repeat(20)}` }]);
    const refused = (entry: unknown, message: RegExp) =>
      assert.throws(
        () => parseConfig({ dataDir: "d", genesis: { members: [entry] } }, dir),
        (e) => isTreatyError(e, "MalformedRequest") && message.test(e.message),
      );
    refused({ address: "0x12" }, /config genesis\.members\[0\]\.address: expected an Ethereum address/);
    refused({ address: 42 }, /config genesis\.members\[0\]\.address: expected an Ethereum address/);
    refused(
      { address, encryptionKey: "ab".repeat(32) },
      /config genesis\.members\[0\]\.encryptionKey: a wallet member holds no recovery share/,
    );
    refused({ address, publicKey: "ab" }, /config genesis\.members\[0\]: expected either \{address\}/);
  });

  it("refuses a genesis member's encryptionKey of small order, as set_member does", () => {
    const member = (encryptionKey: string) => ({
      dataDir: "d",
      genesis: { members: [{ publicKey: "ab", encryptionKey }] },
    });
    // A share sealed to such a key cannot be issued, and with it no share round for anyone.
    assert.throws(
      () => parseConfig(member("00".repeat(32)), dir),
      (e) =>
        isTreatyError(e, "MalformedRequest") &&
        /config genesis\.members\[0\]\.encryptionKey: not a usable x25519 public key/.test(e.message),
    );
    const usable = "2ea8acbdded76cd4a9151109b9173c311e2ab92941e2c36afc43aee9d460357f";
    const [parsed] = parseConfig(member(usable.toUpperCase()), dir).genesis?.members ?? [];
    assert.equal(parsed !== undefined && "encryptionKey" in parsed && parsed.encryptionKey, usable);
  });
});
