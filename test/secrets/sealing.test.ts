/**
 * Sealing providers (node/secrets/sealing.ts): the virtual provider's round trip and refusals,
 * and the end-to-end property that a node's data folder copied without its sealing key yields no
 * private value and no key: every file is searched for the values and the keys' bytes, and
 * starting a node on the copy fails with a coded error.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { parseConfig } from "../../node/config.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import {
  createSealingProvider,
  type SealedState,
  SEALED_FILE,
  VirtualSealing,
} from "../../node/secrets/sealing.js";
import { TreatyNode } from "../../node/service.js";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { fromKeyFile, generateKeyPair, toKeyFile } from "../../sdk/keys.js";
import { startTestNode, type TestNode } from "../support/node.js";

const random = (n: number) => new Uint8Array(randomBytes(n));

describe("virtual sealing", () => {
  const dir = mkdtempSync(join(tmpdir(), "treaty-sealing-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const state: SealedState = { identity: toKeyFile(generateKeyPair("ed25519")) };

  it("seals under a key file it creates outside the data folder, and unseals with it", () => {
    const data = join(dir, "a");
    const keyFile = join(dir, "a.key");
    const sealing = createSealingProvider({ provider: "virtual", keyFile, keyEnv: null }, data, {
      randomBytes: random,
    });
    assert.equal(sealing.unseal(), undefined);
    sealing.seal(state);
    assert.ok(existsSync(keyFile));
    assert.equal(statSync(keyFile).mode & 0o077, 0, "the key file is private to its owner");
    assert.deepEqual(sealing.unseal(), state);
    const sealed = readFileSync(join(data, SEALED_FILE), "utf8");
    assert.ok(!sealed.includes(state.identity.privateKey!), "the identity is not in clear");
  });

  it("refuses sealed state without its key (SealingKeyMissing) and with another key (DecryptionFailed)", () => {
    const data = join(dir, "b");
    const keyFile = join(dir, "b.key");
    const config = { provider: "virtual", keyFile, keyEnv: null } as const;
    createSealingProvider(config, data, { randomBytes: random }).seal(state);
    rmSync(keyFile);
    assert.throws(
      () => createSealingProvider(config, data, { randomBytes: random }).unseal(),
      (e) => isTreatyError(e, "SealingKeyMissing") && e.message.includes(keyFile),
    );
    assert.ok(!existsSync(keyFile), "unsealing never creates a key");
    writeFileSync(keyFile, toHex(random(32)));
    assert.throws(
      () => createSealingProvider(config, data, { randomBytes: random }).unseal(),
      (e) => isTreatyError(e, "DecryptionFailed"),
    );
  });

  it("reads its key from an environment variable; a malformed key is MalformedRequest", () => {
    const data = join(dir, "c");
    const key = toHex(random(32));
    const env = new Map([["SEAL_KEY", key]]);
    const config = { provider: "virtual", keyFile: null, keyEnv: "SEAL_KEY" } as const;
    const runtime = { randomBytes: random, env: (name: string) => env.get(name) };
    createSealingProvider(config, data, runtime).seal(state);
    assert.deepEqual(createSealingProvider(config, data, runtime).unseal(), state);
    env.delete("SEAL_KEY");
    assert.throws(
      () => createSealingProvider(config, data, runtime).unseal(),
      (e) => isTreatyError(e, "SealingKeyMissing") && e.message.includes("SEAL_KEY"),
    );
    assert.throws(
      () => createSealingProvider(config, data, runtime).seal(state),
      (e) => isTreatyError(e, "SealingKeyMissing"),
    );
    env.set("SEAL_KEY", "not hex");
    assert.throws(
      () => createSealingProvider(config, data, runtime).unseal(),
      (e) => isTreatyError(e, "MalformedRequest"),
    );
  });

  it("an altered sealed file does not open", () => {
    const data = join(dir, "d");
    const sealing = new VirtualSealing({
      dataDir: data,
      what: "test",
      key: () => fromHex("11".repeat(32)),
      randomBytes: random,
    });
    sealing.seal(state);
    const file = join(data, SEALED_FILE);
    const sealed = JSON.parse(readFileSync(file, "utf8")) as { ciphertext: string };
    const flipped = (Number.parseInt(sealed.ciphertext[0]!, 16) ^ 1).toString(16);
    writeFileSync(file, JSON.stringify({ ...sealed, ciphertext: flipped + sealed.ciphertext.slice(1) }));
    assert.throws(
      () => sealing.unseal(),
      (e) => isTreatyError(e, "DecryptionFailed"),
    );
  });
});

describe("a data folder copied without its sealing key", () => {
  let net: TestNode;
  let copy: string;
  const publicValue = `public-value-${toHex(random(8))}`;
  const values = Array.from({ length: 4 }, (_, i) => `private-value-${i}-${toHex(random(8))}`);

  before(async () => {
    net = await startTestNode();
    const log = net.client().contract<typeof logContract>("log");
    for (const [i, msg] of values.entries()) await log.writePrivate({ id: i, msg });
    await log.writePublic({ id: 99, msg: publicValue });
    await net.settled();
    await net.stop();
    copy = mkdtempSync(join(tmpdir(), "treaty-stolen-"));
    cpSync(net.dataDir, join(copy, "data"), { recursive: true });
  });
  after(async () => {
    await net?.dispose();
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it("holds no private value and no key bytes in any file", () => {
    const sealed = createSealingProvider(net.node.config.sealing, net.dataDir, {
      randomBytes: random,
    }).unseal();
    const secrets = sealed!.secrets!;
    const keys: Array<[string, Uint8Array]> = [
      ["identity", fromKeyFile(sealed!.identity).privateKey],
      ["service key", fromKeyFile(secrets.serviceKey).privateKey],
      ["at-rest key", fromHex(secrets.atRestKey!)],
      ...secrets.ledgerSecrets.map((s): [string, Uint8Array] => [
        `ledger secret ${s.version}`,
        fromHex(s.key),
      ]),
    ];
    const files = walk(join(copy, "data"));
    assert.ok(files.some((f) => f.includes("ledger")) && files.some((f) => f.includes("kv")));
    // The search works: the public value is found in clear.
    assert.ok(files.some((file) => readFileSync(file).includes(Buffer.from(publicValue))));
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const value of values)
        assert.equal(bytes.indexOf(Buffer.from(value)), -1, `${file} holds private value ${value}`);
      for (const [name, key] of keys) {
        for (const form of [
          Buffer.from(key),
          Buffer.from(toHex(key)),
          Buffer.from(Buffer.from(key).toString("base64")),
        ])
          assert.equal(bytes.indexOf(form), -1, `${file} holds the ${name}`);
      }
    }
  });

  it("does not start without its key, with another key, or with memory sealing", async () => {
    const base = {
      dataDir: join(copy, "data"),
      http: { host: "127.0.0.1", port: 0, tls: false },
      genesis: { members: [{ publicKey: toHex(net.member.publicKey) }] },
      logLevel: "error",
    };
    const start = (extra: Record<string, unknown>) => {
      const config = parseConfig({ ...base, ...extra }, copy);
      return TreatyNode.start(config, realRuntime(config, silentLogger));
    };
    const keyFile = join(copy, "guessed.key");
    await assert.rejects(start({ sealing: { provider: "virtual", keyFile } }), (e) =>
      isTreatyError(e, "SealingKeyMissing"),
    );
    writeFileSync(keyFile, toHex(random(32)));
    await assert.rejects(start({ sealing: { provider: "virtual", keyFile } }), (e) =>
      isTreatyError(e, "DecryptionFailed"),
    );
    await assert.rejects(start({}), (e) => isTreatyError(e, "SecretsUnavailable"));
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}
