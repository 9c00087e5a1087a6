/**
 * The client API over TLS on a real 3-node network (node processes, nats-server): the SDK and
 * the CLI talk HTTPS to the nodes, pinning the service (`treaty events`' stream too); a node whose certificate the pinned
 * service did not issue is refused; and the bytes on the client port (read through a TCP proxy)
 * carry no private value.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { nodeTlsCredentials, serviceCertificate } from "../../node/tls/certificates.js";
import { pinnedFetch } from "../../node/tls/client.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, toKeyFile } from "../../sdk/keys.js";
import { runEvents } from "../../node/cli/events.js";
import { treaty } from "../support/cli.js";
import { type Cluster, startCluster } from "../support/cluster.js";

describe("the client API over TLS on a 3-node network", () => {
  let cluster: Cluster;
  let impostor: HttpsServer;
  let impostorUrl: string;
  let serviceFile: string;
  let userKeyFile: string;

  before(async () => {
    cluster = await startCluster({
      nodes: 3,
      tls: true,
      contracts: [
        { name: "log", path: "contracts/examples/log" },
        { name: "board", path: "docs/examples/board" },
      ],
    });
    serviceFile = join(cluster.dir, "service.json");
    writeFileSync(serviceFile, JSON.stringify(cluster.serviceFile));
    userKeyFile = join(cluster.dir, "user0.json");
    writeFileSync(userKeyFile, JSON.stringify(toKeyFile(cluster.user)));
    // A node of another service: a well-formed certificate chain, issued by a key we do not pin.
    const otherService = generateKeyPair();
    const credentials = nodeTlsCredentials({
      serviceKey: otherService,
      nodeKey: generateKeyPair(),
      validFromMs: Date.now() - 60_000,
      validToMs: Date.now() + 3600_000,
      host: "127.0.0.1",
    });
    impostor = createHttpsServer(credentials, (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ result: { msg: "forged" }, txid: "9.9", status: "Committed" }));
    });
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    impostorUrl = `https://127.0.0.1:${(impostor.address() as { port: number }).port}`;
  });
  after(async () => {
    impostor?.close();
    await cluster?.dispose();
  });

  it("every node serves https with a certificate chain issued by the service key", async () => {
    assert.ok(cluster.nodes.every((n) => n.url.startsWith("https://127.0.0.1:")));
    const net = await cluster.nodes[0]!.network();
    assert.deepEqual(
      net.nodes.map((n) => n.url).sort(),
      cluster.nodes.map((n) => n.url).sort(),
      "the network publishes the https URLs",
    );
    for (const node of cluster.nodes) {
      const status = await node.status();
      const api = status.clientApi as { url: string; tls: boolean; serviceCertificate: string };
      assert.equal(api.tls, true);
      assert.equal(api.url, node.url);
      assert.equal(api.serviceCertificate, cluster.serviceFile.serviceCertificate, "one service certificate");
    }
  });

  it("the SDK writes and reads over TLS, pinned by the service key or by the service certificate", async () => {
    const byKey = cluster.client();
    const { txid } = await byKey.call("log", "writePrivate", { id: 1, msg: "over tls" });
    await byKey.waitForCommit(txid);
    const byCert = new Client({
      nodes: cluster.nodes.map((n) => n.url),
      serviceKey: cluster.serviceKey,
      key: cluster.user,
      fetch: pinnedFetch(cluster.serviceFile.serviceCertificate!),
    });
    for (const node of cluster.nodes) {
      const read = await byCert.call("log", "readPrivate", { id: 1 }, {});
      assert.deepEqual(read.result, { msg: "over tls" });
      assert.ok(node.url.startsWith("https:"));
    }
  });

  it("the SDK refuses a node whose certificate the pinned service did not issue", async () => {
    const client = new Client({
      nodes: [impostorUrl],
      serviceKey: cluster.serviceKey,
      key: cluster.user,
      retries: 1,
      fetch: pinnedFetch(cluster.serviceFile.serviceCertificate!),
    });
    await assert.rejects(client.call("log", "readPrivate", { id: 1 }), (err) =>
      isTreatyError(err, "Unavailable"),
    );
    // Pinned by key alone, the same: the impostor's chain does not lead to the service key.
    const byKey = cluster.client(cluster.user, { nodes: [impostorUrl], retries: 1 });
    await assert.rejects(byKey.call("log", "readPrivate", { id: 1 }), (err) =>
      isTreatyError(err, "Unavailable"),
    );
    // And a client pinning another service refuses the real nodes.
    const other = new Client({
      nodes: [cluster.nodes[0]!.url],
      serviceKey: cluster.serviceKey,
      key: cluster.user,
      retries: 1,
      fetch: pinnedFetch(serviceCertificate(generateKeyPair())),
    });
    await assert.rejects(other.call("log", "readPrivate", { id: 1 }), (err) =>
      isTreatyError(err, "Unavailable"),
    );
  });

  it("the CLI calls over TLS with a service.json, and refuses an impostor node", async () => {
    /** `treaty call log readPrivate` as user0 with `service` pinned (and one `node`, if given). */
    const args = (service: string, node?: string) => [
      "call",
      "log",
      "readPrivate",
      "--args",
      '{"id":1}',
      "--key",
      userKeyFile,
      "--service",
      service,
      ...(node === undefined ? [] : ["--node", node]),
    ];
    const ok = await treaty(...args(serviceFile, cluster.nodes[1]!.url));
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).result, { msg: "over tls" });
    const refused = await treaty(...args(serviceFile, impostorUrl));
    assert.equal(refused.code, 1);
    assert.doesNotMatch(refused.stdout, /forged/);
    assert.equal(JSON.parse(refused.stdout).error.code, "Unavailable");
    // A service.json without the certificate pins by key: the CLI checks the node's chain.
    const keyOnly = join(cluster.dir, "service-key-only.json");
    writeFileSync(
      keyOnly,
      JSON.stringify({ serviceKey: cluster.serviceFile.serviceKey, nodes: [impostorUrl] }),
    );
    const byKey = await treaty(...args(keyOnly));
    assert.equal(byKey.code, 1);
    assert.doesNotMatch(byKey.stdout, /forged/);
  });

  it("the CLI follows the event stream over TLS, pinned by the service certificate or key, or unpinned", async () => {
    const client = cluster.client();
    const { txid } = await client.call("board", "post", { id: 1, text: "over tls" });
    await client.waitForCommit(txid);
    const keyOnly = join(cluster.dir, "service-key-only-nodes.json");
    writeFileSync(
      keyOnly,
      JSON.stringify({ serviceKey: cluster.serviceFile.serviceKey, nodes: cluster.nodes.map((n) => n.url) }),
    );
    // Pinned by the certificate, by the key alone, and (with a warning) not pinned at all.
    const runs: [string[], RegExp | undefined][] = [
      [["--service", serviceFile], undefined],
      [["--service", keyOnly], undefined],
      [
        ["--node", cluster.nodes[1]!.url],
        /warning: no --service file: the TLS certificate of https:\/\/\S+ is not checked/,
      ],
    ];
    for (const [target, warning] of runs) {
      // A failed connection stops the command (it would resume on the next node forever).
      const stop = new AbortController();
      const out: string[] = [];
      const err: string[] = [];
      const io = {
        out: (text: string) => out.push(text),
        err: (text: string) => {
          err.push(text);
          if (text.includes("resuming")) stop.abort();
        },
        fetch: globalThis.fetch,
      };
      const argv = [...target, "--contract", "board", "--from-start", "--count", "1"];
      assert.equal(await runEvents(argv, io, stop.signal), 0);
      if (warning === undefined) assert.deepEqual(err, [], target.join(" "));
      else assert.match(err.join(""), warning);
      assert.doesNotMatch(err.join(""), /resuming/);
      const event = JSON.parse(out.join("")) as { txid: string; name: string; data: unknown };
      assert.deepEqual([event.txid, event.name, event.data], [txid, "posted", { id: 1, text: "over tls" }]);
    }
  });

  it("a capture of the client port shows no private value", async () => {
    const target = new URL(cluster.nodes[0]!.url);
    const captured: Buffer[] = [];
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(client).add(upstream);
      client.on("data", (chunk: Buffer) => {
        captured.push(chunk);
        upstream.write(chunk);
      });
      upstream.on("data", (chunk: Buffer) => {
        captured.push(chunk);
        client.write(chunk);
      });
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const proxyUrl = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const client = new Client({
        nodes: [proxyUrl],
        serviceKey: cluster.serviceKey,
        key: cluster.user,
        fetch: pinnedFetch(cluster.serviceFile.serviceCertificate!),
      });
      const secret = `private-${toHex(generateKeyPair().publicKey).slice(0, 24)}`;
      const { txid } = await client.call("log", "writePrivate", { id: 2, msg: secret });
      await client.waitForCommit(txid);
      const read = await client.call("log", "readPrivate", { id: 2 });
      assert.deepEqual(read.result, { msg: secret }, "the call went through the proxy");
      const bytes = Buffer.concat(captured);
      assert.ok(bytes.length > 0);
      assert.equal(bytes[0], 0x16, "the first bytes are a TLS handshake record");
      assert.equal(bytes.indexOf(secret), -1, "the private value never crosses in clear");
      assert.equal(bytes.indexOf("readPrivate"), -1, "nor does the request path");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
