import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { utf8 } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import { nodeSubject } from "../../node/transport/frame.js";
import { NatsTransport, type NatsTransportOptions } from "../../node/transport/nats.js";
import type { ConnectionState, NodeId } from "../../node/transport/types.js";
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { createTestCa } from "../support/nats-pki.js";
import { freshServiceId, type Recording, transportConformance, waitFor } from "./conformance.js";

transportConformance("NatsTransport", async () => {
  const server = await startNatsServer();
  const attacker = await connect({ servers: server.url });
  return {
    create: (options) => NatsTransport.connect({ ...options, servers: server.url }),
    inject: async (serviceId, to, frame) => {
      attacker.publish(nodeSubject(serviceId, to), frame);
      await attacker.flush();
    },
    record: async (serviceId, to): Promise<Recording> => {
      const frames: Uint8Array[] = [];
      const subscription = attacker.subscribe(nodeSubject(serviceId, to), {
        callback: (err, msg) => {
          if (err === null) frames.push(new Uint8Array(msg.data));
        },
      });
      await attacker.flush();
      return {
        frames,
        stop: async () => {
          subscription.unsubscribe();
          await attacker.flush();
        },
      };
    },
    dispose: async () => {
      await attacker.close();
      await server.dispose();
    },
  };
});

interface Node {
  readonly id: NodeId;
  readonly transport: NatsTransport;
  readonly inbox: number[];
  readonly states: ConnectionState[];
}

/** Two or more nodes in a fresh service on `server`, messages decoded as sequence numbers. */
async function pair(
  server: NatsServer,
  ids: readonly NodeId[],
  extra: Partial<NatsTransportOptions> = {},
): Promise<Node[]> {
  const serviceId = freshServiceId();
  const keys = new Map<NodeId, KeyPair>(ids.map((id) => [id, generateKeyPair("ed25519")]));
  return Promise.all(
    ids.map(async (id) => {
      const transport = await NatsTransport.connect({
        servers: server.url,
        serviceId,
        nodeId: id,
        identity: keys.get(id)!,
        sessionEpoch: 1,
        reconnectTimeWaitMs: 50,
        peers: ids.filter((p) => p !== id).map((p) => ({ id: p, publicKey: keys.get(p)! })),
        ...extra,
      });
      const inbox: number[] = [];
      const states: ConnectionState[] = [];
      transport.onMessage((_from, message) => inbox.push(Number(utf8.decode(message))));
      transport.onStateChange((state) => states.push(state));
      return { id, transport, inbox, states };
    }),
  );
}

describe("NatsTransport with a nats-server that restarts", () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server.dispose();
  });

  it("reconnects after a server restart mid-stream and resumes delivery in order", async () => {
    const nodes = await pair(server, ["a", "b"]);
    const [a, b] = nodes as [Node, Node];
    let next = 0;
    const sendNext = () => {
      next += 1;
      a.transport.send("b", utf8.encode(String(next)));
    };
    try {
      for (let i = 0; i < 50; i++) sendNext();
      await waitFor(() => b.inbox.length === 50, "the first 50 messages");
      // A steady stream keeps flowing while the server goes away and comes back.
      const pump = setInterval(sendNext, 1);
      try {
        await server.stop();
        await waitFor(
          () => a.transport.state() === "reconnecting" && b.transport.state() === "reconnecting",
          "both to notice",
        );
        const droppedWhileDown = a.transport.stats().dropped.disconnected;
        await waitFor(
          () => a.transport.stats().dropped.disconnected > droppedWhileDown + 5,
          "sends while down",
        );
        await server.start();
        await waitFor(
          () => a.transport.state() === "connected" && b.transport.state() === "connected",
          "both to reconnect",
        );
      } finally {
        clearInterval(pump);
      }
      const tail: number[] = [];
      for (let i = 0; i < 50; i++) {
        sendNext();
        tail.push(next);
      }
      await waitFor(() => b.inbox.at(-1) === next, "the messages sent after reconnecting");
      for (let i = 1; i < b.inbox.length; i++)
        assert.ok(b.inbox[i]! > b.inbox[i - 1]!, "strictly increasing, no duplicates");
      assert.deepEqual(b.inbox.slice(-50), tail, "everything sent after the reconnect arrives");
      assert.ok(a.states.includes("reconnecting") && a.states.at(-1) === "connected");
      assert.ok(b.states.includes("reconnecting") && b.states.at(-1) === "connected");
      const stats = b.transport.stats();
      assert.equal(stats.received, b.inbox.length);
      assert.equal(stats.dropped.replay + stats.dropped.staleSession + stats.dropped.badSignature, 0);
      assert.ok(a.transport.stats().dropped.disconnected > 0);
    } finally {
      await Promise.all(nodes.map((n) => n.transport.close()));
    }
  });

  it("closes promptly while the server is down", async () => {
    const nodes = await pair(server, ["a"]);
    const a = nodes[0]!;
    await server.stop();
    try {
      await waitFor(() => a.transport.state() === "reconnecting", "a to notice");
      await a.transport.close();
      assert.equal(a.transport.state(), "closed");
      assert.deepEqual(a.states, ["reconnecting", "closed"]);
    } finally {
      await server.start();
    }
  });
});

describe("NatsTransport", () => {
  let server: NatsServer;
  let observer: NatsConnection;
  before(async () => {
    server = await startNatsServer();
    observer = await connect({ servers: server.url });
  });
  after(async () => {
    await observer.close();
    await server.dispose();
  });

  it("a node whose connection is stopped receives nothing more, though frames still travel", async () => {
    const nodes = await pair(server, ["a", "b"]);
    const [a, b] = nodes as [Node, Node];
    try {
      a.transport.send("b", utf8.encode("1"));
      await waitFor(() => b.inbox.length === 1, "the first message");
      const seen: Uint8Array[] = [];
      const subscription = observer.subscribe(nodeSubject(b.transport.serviceId, "b"), {
        callback: (err, msg) => {
          if (err === null) seen.push(msg.data);
        },
      });
      await observer.flush();
      await b.transport.close();
      a.transport.send("b", utf8.encode("2"));
      a.transport.send("b", utf8.encode("3"));
      await waitFor(() => seen.length === 2, "the observer to see both frames");
      subscription.unsubscribe();
      assert.deepEqual(b.inbox, [1]);
      assert.equal(b.transport.stats().received, 1);
      assert.equal(a.transport.stats().sent, 3);
    } finally {
      await Promise.all(nodes.map((n) => n.transport.close()));
    }
  });

  it("fails to connect with Unavailable when no server listens", async () => {
    const down = await startNatsServer();
    const url = down.url;
    await down.dispose();
    await assert.rejects(
      NatsTransport.connect({
        servers: url,
        serviceId: freshServiceId(),
        nodeId: "a",
        identity: generateKeyPair("ed25519"),
        sessionEpoch: 1,
        connectTimeoutMs: 2000,
      }),
      (err) => isTreatyError(err, "Unavailable") && /servers/.test(err.message),
    );
  });

  it("a client certificate the server's CA did not sign fails naming nats.tls (docs/deploy.md)", async () => {
    // The server ends the TLS 1.3 handshake after the client finished it, so the client only sees
    // its own connect timeout: the message must still point at nats.tls.
    const pki = mkdtempSync(join(tmpdir(), "treaty-nats-tls-"));
    const ca = createTestCa(pki, "consortium");
    const rogue = createTestCa(pki, "rogue").issueClient("intruder");
    const server = ca.issueServer("s0");
    const tlsServer = await startNatsServer({
      extraConfig: [
        "tls {",
        `  cert_file: ${JSON.stringify(server.certFile)}`,
        `  key_file: ${JSON.stringify(server.keyFile)}`,
        `  ca_file: ${JSON.stringify(ca.caFile)}`,
        "  verify: true",
        "}",
      ].join("\n"),
    });
    try {
      await assert.rejects(
        NatsTransport.connect({
          servers: tlsServer.url.replace("nats://", "tls://"),
          serviceId: freshServiceId(),
          nodeId: "a",
          identity: generateKeyPair("ed25519"),
          sessionEpoch: 1,
          connectTimeoutMs: 1500,
          tls: { caFile: ca.caFile, ...rogue },
        }),
        (err) => isTreatyError(err, "Unavailable") && /check nats\.tls/.test(err.message),
      );
    } finally {
      await tlsServer.dispose();
      rmSync(pki, { recursive: true, force: true });
    }
  });

  it("refuses a server whose max_payload cannot carry maxMessageBytes, and fits under a smaller one", async () => {
    const small = await startNatsServer({ maxPayloadBytes: 64 * 1024 });
    try {
      const options = {
        servers: small.url,
        serviceId: freshServiceId(),
        identity: generateKeyPair("ed25519"),
        sessionEpoch: 1,
      };
      await assert.rejects(
        NatsTransport.connect({ ...options, nodeId: "a" }),
        (err) =>
          isTreatyError(err, "MalformedRequest") && /maxMessageBytes.*max_payload 65536/.test(err.message),
      );
      const fitted = await pair(small, ["a", "b"], { maxMessageBytes: 63 * 1024 });
      try {
        const [a, b] = fitted as [Node, Node];
        const big = new Uint8Array(63 * 1024).fill(0x31);
        a.transport.sendConfidential("b", big);
        await waitFor(() => b.transport.stats().received === 1, "the largest message");
      } finally {
        await Promise.all(fitted.map((n) => n.transport.close()));
      }
    } finally {
      await small.dispose();
    }
  });

  it("validates its own options with MalformedRequest", async () => {
    const base = {
      serviceId: freshServiceId(),
      nodeId: "a",
      identity: generateKeyPair("ed25519"),
      sessionEpoch: 1,
    };
    for (const [extra, field] of [
      [{ servers: [] }, /servers/],
      [{ servers: server.url, reconnectTimeWaitMs: 0 }, /reconnectTimeWaitMs/],
      [{ servers: server.url, connectTimeoutMs: 1e9 }, /connectTimeoutMs/],
    ] as const) {
      await assert.rejects(
        NatsTransport.connect({ ...base, ...extra }),
        (err) => isTreatyError(err, "MalformedRequest") && field.test(err.message),
      );
    }
  });
});
