/**
 * The `nats` section of a node config: servers, subject prefix, TLS files and credentials,
 * validated with errors that name the field; credential files read and checked at start-up.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createUser } from "@nats-io/nkeys";
import { parseConfig } from "../../node/config.js";
import { natsTlsOptions, readNatsCredentials } from "../../node/nats-config.js";
import { isTreatyError } from "../../sdk/errors.js";

const nats = (value: unknown) => parseConfig({ dataDir: "d", nats: value }, "/srv/t").nats;

function refused(value: unknown, field: string): void {
  assert.throws(
    () => nats(value),
    (err: unknown) => isTreatyError(err, "MalformedRequest") && err.message.startsWith(`config ${field}`),
    field,
  );
}

describe("nats config", () => {
  const dir = mkdtempSync(join(tmpdir(), "treaty-nats-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("defaults: prefix treaty, no TLS, no credentials", () => {
    assert.deepEqual(nats({ servers: ["nats://127.0.0.1:4222"] }), {
      servers: ["nats://127.0.0.1:4222"],
      subjectPrefix: "treaty",
      tls: null,
      credentials: null,
    });
    assert.equal(nats(null), null);
  });

  it("resolves TLS and credential files against the config folder", () => {
    const config = nats({
      servers: ["tls://a:4222", "tls://b:4222"],
      subjectPrefix: "acme.ledger",
      tls: { caFile: "tls/ca.pem", certFile: "tls/node.pem", keyFile: "/keys/node.key" },
      credentials: { nkeySeedFile: "secrets/nats.nk" },
    })!;
    assert.deepEqual(config.tls, {
      caFile: "/srv/t/tls/ca.pem",
      certFile: "/srv/t/tls/node.pem",
      keyFile: "/keys/node.key",
    });
    assert.deepEqual(natsTlsOptions(config), {
      caFile: "/srv/t/tls/ca.pem",
      certFile: "/srv/t/tls/node.pem",
      keyFile: "/keys/node.key",
    });
    assert.deepEqual(config.credentials, { nkeySeedFile: "/srv/t/secrets/nats.nk" });
    assert.deepEqual(
      nats({ servers: ["nats://a"], credentials: { user: "u", passwordFile: "p" } })!.credentials,
      {
        user: "u",
        passwordFile: "/srv/t/p",
      },
    );
  });

  it("refuses what would silently weaken or break the connection, naming the field", () => {
    refused({ servers: [] }, "nats.servers");
    refused({ servers: ["http://a:4222"] }, "nats.servers[0]");
    refused({ servers: ["nats://a"], subjectPrefix: "a.>.b" }, "nats.subjectPrefix");
    refused({ servers: ["nats://a"], subjectPrefix: "a..b" }, "nats.subjectPrefix");
    refused({ servers: ["nats://a"], subjectPrefix: "*" }, "nats.subjectPrefix");
    refused({ servers: ["nats://a"], tsl: {} }, "nats.tsl");
    refused({ servers: ["nats://a"], tls: { certFile: "c.pem" } }, "nats.tls");
    refused({ servers: ["nats://a"], tls: { caFile: "", verify: true } }, "nats.tls.verify");
    refused({ servers: ["nats://a"], credentials: {} }, "nats.credentials");
    refused(
      { servers: ["nats://a"], credentials: { nkeySeedFile: "a", credsFile: "b" } },
      "nats.credentials",
    );
    refused({ servers: ["nats://a"], credentials: { user: "u" } }, "nats.credentials.passwordFile");
    refused({ servers: ["nats://a"], credentials: { password: "inline" } }, "nats.credentials.password");
  });

  it("reads the credential files and checks what they hold", () => {
    const user = createUser();
    const seedFile = join(dir, "node.nk");
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    const read = (credentials: unknown) =>
      readNatsCredentials(nats({ servers: ["nats://a"], credentials })!, "nats");
    const nkey = read({ nkeySeedFile: seedFile });
    assert.equal(nkey?.kind, "nkey");
    assert.equal(
      new TextDecoder().decode((nkey as { seed: Uint8Array }).seed),
      new TextDecoder().decode(user.getSeed()),
    );

    const passwordFile = join(dir, "password");
    writeFileSync(passwordFile, "s3cret\n");
    assert.deepEqual(read({ user: "node", passwordFile }), {
      kind: "password",
      user: "node",
      password: "s3cret",
    });

    const wrong = join(dir, "wrong");
    writeFileSync(wrong, "not a seed\n");
    const fails = (credentials: unknown, pattern: RegExp) =>
      assert.throws(
        () => read(credentials),
        (err: unknown) => isTreatyError(err, "MalformedRequest") && pattern.test(err.message),
      );
    fails(
      { nkeySeedFile: wrong },
      /^config nats\.credentials\.nkeySeedFile: .* does not hold an nkey user seed/,
    );
    fails({ nkeySeedFile: join(dir, "missing") }, /^config nats\.credentials\.nkeySeedFile: cannot read/);
    fails({ credsFile: wrong }, /^config nats\.credentials\.credsFile: .* is not a NATS \.creds file/);
    writeFileSync(join(dir, "empty"), "\n");
    fails(
      { user: "node", passwordFile: join(dir, "empty") },
      /^config nats\.credentials\.passwordFile: .* is empty/,
    );
  });
});
