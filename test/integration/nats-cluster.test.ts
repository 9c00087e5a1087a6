/**
 * A consortium across NATS servers: three real nats-servers joined by routes (full mesh), client
 * and route TLS from a test CA (client certificates required), accounts with per-user
 * permissions, and one Treaty node attached to each server with its own credentials (nkey seeds
 * for nodes 0, 1 and 3, user/password for node 2) under the subject prefix `acme.ledger`. Under a
 * steady signed write load the service survives:
 *
 * - the leader's nats-server killed and restarted;
 * - the route between servers 0 and 2 cut (server 2 restarted routed only to server 1, with a
 *   route certificate server 0 does not trust, so the gossiped route cannot come back), then
 *   restored;
 * - a fourth node joining through a nats-server other than the leader's.
 *
 * What NATS sees: a subscriber of another account (valid credentials for another service) sees
 * nothing; a client without credentials is refused; a subscriber allowed on this service's
 * subjects sees only encrypted frames (no public write in clear). A node started with a wrong
 * nkey seed, or a client certificate from another CA, exits with a clear line naming the setting
 * to check, and the service goes on. No committed write is lost.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createUser, type KeyPair as NKeyPair } from "@nats-io/nkeys";
import { connect, type NatsConnection, nkeyAuthenticator } from "@nats-io/transport-node";
import { toHex } from "../../sdk/bytes.js";
import { decodeFrame, FrameKind } from "../../node/transport/frame.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";
import { type NatsCluster, startNatsCluster } from "../support/nats-cluster.js";
import { type CertificateFiles, createTestCa, type TestCa } from "../support/nats-pki.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type LoadReport, startWriteLoad } from "./load.js";

const PREFIX = "acme.ledger";
const LABEL = "cluster-load-marker";
const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
const NODE_USERS = 4;

describe("nodes on a NATS server cluster with TLS and credentials", () => {
  let dir: string;
  let ca: TestCa;
  let cutCa: TestCa;
  let rogueCa: TestCa;
  let nats: NatsCluster;
  let cluster: Cluster;
  const nodeKeys: NKeyPair[] = Array.from({ length: NODE_USERS }, () => createUser());
  const otherService = createUser();
  const auditor = createUser();
  const clientCerts: CertificateFiles[] = [];
  const taps: NatsConnection[] = [];
  /** Node i's nats-server (node 3's is set when it joins). */
  const serverOf = [0, 1, 2, 0];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-nats-cluster-"));
    ca = createTestCa(dir, "main");
    cutCa = createTestCa(dir, "cut");
    rogueCa = createTestCa(dir, "rogue");
    const bundle = join(dir, "main-and-cut.pem");
    writeFileSync(bundle, readFileSync(ca.caFile, "utf8") + readFileSync(cutCa.caFile, "utf8"));
    const serverCerts = [0, 1, 2].map((i) => ca.issueServer(`s${i}`));
    for (let i = 0; i < NODE_USERS + 2; i++) clientCerts.push(ca.issueClient(`client${i}`));
    const nodePermissions = `permissions: { publish: ["${PREFIX}.>"], subscribe: ["${PREFIX}.>"] }`;
    const accounts = [
      "accounts {",
      "  ACME: { users: [",
      ...nodeKeys.map((k, i) =>
        i === 2
          ? `    { user: "node2", password: "node2-secret", ${nodePermissions} }`
          : `    { nkey: "${k.getPublicKey()}", ${nodePermissions} }`,
      ),
      `    { nkey: "${auditor.getPublicKey()}", permissions: { publish: { deny: [">"] }, subscribe: ["${PREFIX}.>"] } }`,
      "  ] }",
      `  OTHER: { users: [ { nkey: "${otherService.getPublicKey()}" } ] }`,
      "}",
    ].join("\n");
    nats = await startNatsCluster({
      servers: 3,
      caFile: ca.caFile,
      serverCertificate: (i) => serverCerts[i]!,
      // Server 0 trusts only the main CA on routes; 1 and 2 also the "cut" CA (see the route test).
      routeCaFile: (i) => (i === 0 ? ca.caFile : bundle),
      accounts,
    });
    const secrets = join(dir, "secrets");
    mkdirSync(secrets, { mode: 0o700 });
    const credentialsOf = (i: number) => {
      if (i === 2) {
        const passwordFile = join(secrets, "node2.password");
        writeFileSync(passwordFile, "node2-secret\n", { mode: 0o600 });
        return { user: "node2", passwordFile };
      }
      const nkeySeedFile = join(secrets, `node${i}.nk`);
      writeFileSync(nkeySeedFile, `${new TextDecoder().decode(nodeKeys[i]!.getSeed())}\n`, { mode: 0o600 });
      return { nkeySeedFile };
    };
    cluster = await startCluster({
      nodes: 3,
      contracts: [{ name: "log", path: "contracts/examples/log" }],
      readyTimeoutMs: 120_000,
      externalNats: {
        handle: nats.servers[0]!,
        config: (i) => ({
          servers: [nats.urls[serverOf[i]!]],
          subjectPrefix: PREFIX,
          tls: { caFile: ca.caFile, ...clientCerts[i]! },
          credentials: credentialsOf(i),
        }),
      },
    });
  });

  after(async () => {
    for (const tap of taps) await tap.close().catch(() => undefined);
    await cluster?.dispose();
    await nats?.dispose();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A raw NATS client on server `server` with client certificate `cert`. */
  const rawClient = (server: number, cert: CertificateFiles, authenticator?: NKeyPair) =>
    connect({
      servers: nats.urls[server]!,
      tls: { caFile: ca.caFile, ...cert },
      timeout: 5000,
      ...(authenticator !== undefined && { authenticator: nkeyAuthenticator(authenticator.getSeed()) }),
    });

  const serverOfLeader = async (): Promise<number> => serverOf[(await cluster.waitForLeader()).index]!;

  it("survives a nats-server kill, a cut route and a join through another server; NATS sees nothing it need not", async (t) => {
    // Another service's credentials: a subscriber on everything of its account.
    const other = await rawClient(1, clientCerts[NODE_USERS]!, otherService);
    taps.push(other);
    let otherSeen = 0;
    other.subscribe(">", {
      callback: () => {
        otherSeen++;
      },
    });
    // A subscriber allowed on this service's subjects (an operator of the fabric).
    const audit = await rawClient(2, clientCerts[NODE_USERS + 1]!, auditor);
    taps.push(audit);
    const frames: Uint8Array[] = [];
    audit.subscribe(`${PREFIX}.>`, {
      callback: (err, msg) => {
        if (err === null) frames.push(msg.data);
      },
    });
    await Promise.all([other.flush(), audit.flush()]);

    // No credentials: refused.
    await assert.rejects(rawClient(0, clientCerts[0]!), /Authorization Violation/i);

    const load = startWriteLoad(cluster, { writers: 4, label: LABEL });
    let report: LoadReport;
    try {
      await load.waitForMoreCommits(20, 60_000);

      // 1. The leader's nats-server dies and comes back.
      const killed = await serverOfLeader();
      await nats.servers[killed]!.stop();
      await load.waitForMoreCommits(20, 60_000);
      await nats.servers[killed]!.start();
      await load.waitForMoreCommits(20, 60_000);

      // 2. The route between servers 0 and 2 is cut: server 2 is routed only to server 1 and
      //    presents a route certificate server 0 does not trust.
      await nats.restart(2, { peers: [1], routeCertificate: cutCa.issueServer("s2-cut") });
      await cluster.waitFor("server 0 to have only its route to server 1", async () =>
        (await nats.routes(0)).length === 1 && (await nats.routes(2)).length === 1 ? true : undefined,
      );
      await load.waitForMoreCommits(30, 60_000);
      assert.equal((await nats.routes(0)).length, 1, "the route 0-2 stays cut");
      await nats.restart(2);
      await cluster.waitFor("the full mesh again", async () =>
        (await nats.routes(0)).length === 2 && (await nats.routes(2)).length === 2 ? true : undefined,
      );
      await load.waitForMoreCommits(20, 60_000);

      // 3. A fourth node joins through a server that is not the leader's.
      const leaderServer = await serverOfLeader();
      serverOf[3] = (leaderServer + 1) % 3;
      const fourth = await cluster.addNode();
      await cluster.waitFor(
        "the fourth node to be a voting member",
        async () => {
          const net = await cluster.nodes[0]!.network();
          return net.config?.includes(fourth.id) ? true : undefined;
        },
        120_000,
      );
      await load.waitForMoreCommits(20, 60_000);
    } finally {
      report = await load.stop();
    }
    t.diagnostic(
      `writes: ${report.attempted} attempted, ${report.committed.length} committed; failures ${JSON.stringify(report.failures)}; frames seen by the auditor: ${frames.length}`,
    );

    await other.flush();
    assert.equal(otherSeen, 0, "another account sees nothing of this service");
    assert.ok(frames.length > 100, "the auditor saw the service's traffic");
    const marker = new TextEncoder().encode(LABEL);
    for (const bytes of frames) {
      const frame = decodeFrame(bytes);
      assert.ok(frame !== undefined, "a well-formed frame");
      if (frame.header.k === FrameKind.Message)
        assert.equal(frame.header.c, true, "consensus travels encrypted");
      assert.equal(indexOf(bytes, marker), -1, "no public write in clear on NATS");
    }

    await assertConvergedAndIdentical(cluster, report.committed);
  });

  it("refuses a wrong nkey seed and a certificate from another CA with a clear line; the service goes on", async () => {
    const nodes = cluster.nodes.filter((n) => n.running());
    if (nodes.length === 0) await Promise.all(cluster.nodes.map((n) => n.start()));
    await cluster.waitForLeader({ timeoutMs: 60_000 });
    const serviceKey = toHex(cluster.serviceKey.publicKey);
    const wrongSeed = join(dir, "secrets", "wrong.nk");
    writeFileSync(wrongSeed, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 });
    const seed0 = join(dir, "secrets", "node0.nk");
    const rogueCert = rogueCa.issueClient("intruder");
    const cases = [
      {
        name: "wrong nkey seed",
        nats: { tls: { caFile: ca.caFile, ...clientCerts[0]! }, credentials: { nkeySeedFile: wrongSeed } },
        expect: /Authorization Violation; check nats\.credentials/,
      },
      {
        name: "client certificate from another CA",
        nats: { tls: { caFile: ca.caFile, ...rogueCert }, credentials: { nkeySeedFile: seed0 } },
        expect: /check nats\.tls/,
      },
    ];
    for (const c of cases) {
      const dataDir = join(dir, `bad-${cases.indexOf(c)}`);
      const configFile = `${dataDir}.json`;
      writeFileSync(
        configFile,
        JSON.stringify({
          dataDir,
          http: { host: "127.0.0.1", port: 0 },
          nats: { servers: [nats.urls[1]], subjectPrefix: PREFIX, ...c.nats },
          join: { nodes: cluster.nodes.map((n: ClusterNode) => n.url), serviceKey },
        }),
      );
      const { code, stderr } = await runCli(["node", "start", "--config", configFile]);
      assert.equal(code, 1, `${c.name}: the node exits with status 1 (stderr: ${stderr})`);
      assert.match(stderr, c.expect, c.name);
      assert.doesNotMatch(stderr, /^\s+at /m, `${c.name}: no stack trace`);
    }
    const before = (await cluster.nodes[0]!.network()).nodes.length;
    const { txid } = await cluster.client().call("log", "writePublic", { id: 1_000_000, msg: "after" });
    await cluster.client().waitForCommit(txid!);
    assert.equal((await cluster.nodes[0]!.network()).nodes.length, before, "no refused node was added");
    assert.deepEqual(cluster.crashes(), []);
  });
});

function runCli(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stderr });
    });
  });
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle);
}
