/**
 * docs/deploy.md, followed as written: three organisations' nodes started from the documented
 * configs (examples/deploy/node-{a,b,c}.yaml, shown verbatim in the doc) with `treaty node start
 * --config`, each attached to its own nats-server of a routed TLS cluster that carries the
 * documented accounts block (nats-server-a.conf) with real nkeys in place of the placeholders.
 * The test changes only what the doc says each operator fills in: addresses and ports, the
 * member key, the service key and the nkeys; files go where the configs name them (tls/,
 * secrets/). Node A creates the service unopened; B and C join, wait for trust, are trusted by
 * the member's `trust_node` proposal and vote, catch up, and become voters; every start prints
 * its progress.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createUser } from "@nats-io/nkeys";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { keyPinnedFetch, unpinnedFetch } from "../../node/tls/client.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { freePorts } from "../support/cluster.js";
import { type NatsCluster, startNatsCluster } from "../support/nats-cluster.js";
import { createTestCa } from "../support/nats-pki.js";
import { pollFor } from "../support/poll.js";

const ROOT = findPackageRoot();
const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
const ORGS = ["a", "b", "c"] as const;
/** The parts of a documented node config the operator fills in. */
interface DocConfig {
  http: Record<string, unknown>;
  nats: { servers: string[] } & Record<string, unknown>;
  genesis?: { members: { publicKey: string }[] } & Record<string, unknown>;
  join?: { nodes: string[]; serviceKey: string };
  [field: string]: unknown;
}
const example = (name: string) => readFileSync(join(ROOT, "examples/deploy", name), "utf8");

describe("docs/deploy.md, followed as written", () => {
  let dir: string;
  let nats: NatsCluster;
  const children: ChildProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "treaty-deploy-doc-"));
  });
  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
            c.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the example files verbatim", () => {
    const doc = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");
    for (const name of ["nats-server-a.conf", "node-a.yaml", "node-b.yaml", "treaty.service"])
      assert.ok(doc.includes(example(name)), `docs/deploy.md shows examples/deploy/${name} as it is`);
  });

  it("three nodes from the documented configs on three nats-servers form the service", async () => {
    const ca = createTestCa(dir, "consortium");
    const nkeys = ORGS.map(() => createUser());
    // The documented accounts block, with each node's real nkey for its placeholder.
    const conf = example("nats-server-a.conf");
    let accounts = conf.slice(conf.indexOf("accounts {"));
    ORGS.forEach((org, i) => {
      accounts = accounts.replace(`U${org.toUpperCase()}...node-${org}`, nkeys[i]!.getPublicKey());
    });
    assert.doesNotMatch(accounts, /\.\.\.node-/, "every placeholder nkey replaced");
    const serverCerts = ORGS.map((org) => ca.issueServer(`nats-${org}`));
    nats = await startNatsCluster({
      servers: 3,
      caFile: ca.caFile,
      serverCertificate: (i) => serverCerts[i]!,
      accounts,
    });
    const ports = await freePorts(3);
    // The documented configs serve HTTPS (the default): the harness reads status unpinned and
    // calls as the member with the service key pinned, as the CLI does from service.json.
    const url = (i: number) => `https://127.0.0.1:${ports[i]}`;
    const unpinned = unpinnedFetch();
    const member = generateKeyPair("ed25519");

    const setUp = (i: number): string => {
      const org = ORGS[i]!;
      const home = join(dir, org);
      mkdirSync(join(home, "tls"), { recursive: true });
      mkdirSync(join(home, "secrets"), { recursive: true, mode: 0o700 });
      const cert = ca.issueClient(`node-${org}`);
      copyFileSync(ca.caFile, join(home, "tls/ca.pem"));
      copyFileSync(cert.certFile, join(home, "tls/node.pem"));
      copyFileSync(cert.keyFile, join(home, "tls/node.key"));
      writeFileSync(join(home, "secrets/nats.nk"), `${new TextDecoder().decode(nkeys[i]!.getSeed())}\n`, {
        mode: 0o600,
      });
      return home;
    };
    const start = (i: number, config: DocConfig) => {
      const home = setUp(i);
      const file = join(home, "node.yaml");
      writeFileSync(file, stringifyYaml(config));
      const log = openSync(join(home, "node.log"), "a");
      try {
        children.push(
          spawn(process.execPath, [CLI, "node", "start", "--config", file], {
            cwd: home,
            stdio: ["ignore", log, log],
          }),
        );
      } finally {
        closeSync(log);
      }
    };
    /** The documented config of organisation `i`, with what its operator fills in. */
    const configOf = (i: number, fill: (c: DocConfig) => void): DocConfig => {
      const c = parseYaml(example(`node-${ORGS[i]}.yaml`)) as DocConfig;
      c.http = { ...c.http, host: "127.0.0.1", port: ports[i], advertiseUrl: url(i) };
      c.nats.servers = [nats.urls[i]!, nats.urls[(i + 1) % 3]!].map((u) => u.replace("nats://", "tls://"));
      fill(c);
      return c;
    };

    start(
      0,
      configOf(0, (c) => {
        c.genesis!.members[0]!.publicKey = toHex(member.publicKey);
      }),
    );
    const status = async (i: number) =>
      (await (await unpinned(`${url(i)}/node/status`, { signal: AbortSignal.timeout(5000) })).json()) as {
        nodeId: string;
        leader: string | null;
        phase: string;
        serviceKey?: { publicKey: string };
      };
    const waitFor = <T>(what: string, check: () => Promise<T | undefined>, ms = 90_000): Promise<T> =>
      pollFor(what, check, {
        timeoutMs: ms,
        pollMs: 100,
        context: () => logs(),
        abort: () => (children.some((c) => c.exitCode !== null) ? "a node exited" : undefined),
      });
    const logs = () =>
      ORGS.map((org) => {
        try {
          return `--- ${org}\n${readFileSync(join(dir, org, "node.log"), "utf8")
            .split("\n")
            .slice(-15)
            .join("\n")}`;
        } catch {
          return `--- ${org}: no log`;
        }
      }).join("\n");

    const serviceKeyHex = await waitFor("node A to create the service", async () => {
      const s = await status(0);
      return s.leader !== null && s.serviceKey !== undefined ? s.serviceKey.publicKey : undefined;
    });
    for (const i of [1, 2]) {
      start(
        i,
        configOf(i, (c) => {
          c.join = { nodes: [url(0)], serviceKey: serviceKeyHex };
        }),
      );
    }
    // B and C wait for trust; the member trusts them by proposal and vote.
    const serviceKey = { curve: "ed25519" as const, publicKey: fromHex(serviceKeyHex) };
    const gov = new Governance(
      new Client({ nodes: [url(0)], serviceKey, key: member, fetch: keyPinnedFetch(serviceKey) }),
      member,
    );
    const pending = await waitFor("B and C to be pending", async () => {
      const nodes = (await gov.nodes()).filter((n) => n.status === "pending");
      return nodes.length === 2 ? nodes.map((n) => n.id) : undefined;
    });
    const { proposalId } = await gov.propose(pending.map((id) => actions.trustNode(id)));
    await gov.vote(proposalId, "for");
    assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");

    const ids = await Promise.all(
      [0, 1, 2].map(async (i) => (await waitFor(`node ${i} up`, () => status(i))).nodeId),
    );
    await waitFor("three voting nodes, all serving", async () => {
      const net = (await (await unpinned(`${url(0)}/node/network`)).json()) as { config: string[] | null };
      if (JSON.stringify([...(net.config ?? [])].sort()) !== JSON.stringify([...ids].sort()))
        return undefined;
      const phases = await Promise.all([0, 1, 2].map(async (i) => (await status(i)).phase));
      return phases.every((p) => p === "serving") ? true : undefined;
    });
    // Every node announces the URL its config publishes, and printed its progress.
    const net = (await (await unpinned(`${url(1)}/node/network`)).json()) as {
      nodes: { nodeId: string; url: string | null }[];
    };
    for (const i of [0, 1, 2]) assert.equal(net.nodes.find((n) => n.nodeId === ids[i])?.url, url(i));
    const logB = readFileSync(join(dir, "b", "node.log"), "utf8");
    for (const line of [
      "checking the NATS connection before joining",
      "joining the service",
      "waiting for members to trust",
    ])
      assert.ok(logB.includes(line), `node B's log says "${line}"`);
    await waitFor("node B to say it is a voting member", async () =>
      readFileSync(join(dir, "b", "node.log"), "utf8").includes("voting member of the service")
        ? true
        : undefined,
    );
  });
});
