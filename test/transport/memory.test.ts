import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import { nodeSubject } from "../../node/transport/frame.js";
import { MemoryNetwork } from "../../node/transport/memory.js";
import type { ConnectionState, NodeId, Transport } from "../../node/transport/types.js";
import { freshServiceId, type Recording, transportConformance, waitFor } from "./conformance.js";

transportConformance("MemoryTransport", async () => {
  const network = new MemoryNetwork();
  return {
    create: async (options) => network.createTransport(options),
    inject: async (serviceId, to, frame) => network.publish("attacker", nodeSubject(serviceId, to), frame),
    record: async (serviceId, to): Promise<Recording> => {
      const frames: Uint8Array[] = [];
      const subject = nodeSubject(serviceId, to);
      const untap = network.tap((frame, on) => {
        if (on === subject) frames.push(new Uint8Array(frame));
      });
      return { frames, stop: async () => void untap() };
    },
    dispose: async () => undefined,
  };
});

interface Node {
  readonly id: NodeId;
  readonly transport: Transport;
  readonly inbox: string[];
}

function mesh(network: MemoryNetwork, ids: readonly NodeId[]): Node[] {
  const serviceId = freshServiceId();
  const keys = new Map<NodeId, KeyPair>(ids.map((id) => [id, generateKeyPair("ed25519")]));
  return ids.map((id) => {
    const transport = network.createTransport({
      serviceId,
      nodeId: id,
      identity: keys.get(id)!,
      sessionEpoch: 1,
      peers: ids.filter((p) => p !== id).map((p) => ({ id: p, publicKey: keys.get(p)! })),
    });
    const inbox: string[] = [];
    transport.onMessage((from, message) => inbox.push(`${from}:${utf8.decode(message)}`));
    return { id, transport, inbox };
  });
}

async function closeAll(nodes: readonly Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.transport.close()));
}

describe("MemoryNetwork faults", () => {
  it("partitions nodes both ways and heals", async () => {
    const network = new MemoryNetwork();
    const nodes = mesh(network, ["a", "b", "c"]);
    const [a, b, c] = nodes as [Node, Node, Node];
    try {
      network.partition(["a"], ["b", "c"]);
      a.transport.send("b", utf8.encode("1"));
      b.transport.send("a", utf8.encode("2"));
      b.transport.send("c", utf8.encode("3"));
      network.flush();
      assert.deepEqual([a.inbox, b.inbox, c.inbox], [[], [], ["b:3"]]);
      assert.equal(network.stats().dropped, 2);
      // The senders handed both frames to the network: partitions are invisible to them.
      assert.equal(a.transport.stats().sent, 1);
      network.heal();
      a.transport.send("b", utf8.encode("4"));
      network.flush();
      assert.deepEqual(b.inbox, ["a:4"]);
    } finally {
      await closeAll(nodes);
    }
  });

  it("cuts one direction of a link and drops by filter", async () => {
    const network = new MemoryNetwork();
    const nodes = mesh(network, ["a", "b"]);
    const [a, b] = nodes as [Node, Node];
    try {
      network.setLink("a", "b", false);
      a.transport.send("b", utf8.encode("lost"));
      b.transport.send("a", utf8.encode("kept"));
      network.flush();
      assert.deepEqual([a.inbox, b.inbox], [["b:kept"], []]);
      network.setLink("a", "b", true);
      let seen = 0;
      network.setDropFilter(() => seen++ % 2 === 0);
      for (let i = 0; i < 6; i++) a.transport.send("b", utf8.encode(String(i)));
      network.flush();
      assert.deepEqual(b.inbox, ["a:1", "a:3", "a:5"]);
      network.setDropFilter(undefined);
      a.transport.send("b", utf8.encode("6"));
      network.flush();
      assert.equal(b.inbox.at(-1), "a:6");
    } finally {
      await closeAll(nodes);
    }
  });

  it("takes a node offline: it reports reconnecting, drops its sends, fails its requests", async () => {
    const network = new MemoryNetwork();
    const nodes = mesh(network, ["a", "b"]);
    const [a, b] = nodes as [Node, Node];
    const states: ConnectionState[] = [];
    a.transport.onStateChange((s) => states.push(s));
    try {
      network.setOnline("a", false);
      assert.equal(a.transport.state(), "reconnecting");
      assert.equal(network.isOnline("a"), false);
      a.transport.send("b", utf8.encode("x"));
      assert.equal(a.transport.stats().dropped.disconnected, 1);
      await assert.rejects(a.transport.request("b", utf8.encode("x"), 1000), (err) =>
        isTreatyError(err, "Unavailable"),
      );
      b.transport.send("a", utf8.encode("to the offline node"));
      network.flush();
      assert.deepEqual(a.inbox, []);
      network.setOnline("a", true);
      network.setOnline("a", true);
      assert.deepEqual(states, ["reconnecting", "connected"]);
      a.transport.send("b", utf8.encode("back"));
      network.flush();
      assert.deepEqual(b.inbox, ["a:back"]);
      // A node created while offline starts in "reconnecting".
      network.setOnline("late", false);
      const late = network.createTransport({
        serviceId: freshServiceId(),
        nodeId: "late",
        identity: generateKeyPair("ed25519"),
        sessionEpoch: 1,
      });
      assert.equal(late.state(), "reconnecting");
      await late.close();
    } finally {
      await closeAll(nodes);
    }
  });

  it("delivers asynchronously, in publish order, and counts unrouted frames", async () => {
    const network = new MemoryNetwork();
    const nodes = mesh(network, ["a", "b"]);
    const [a, b] = nodes as [Node, Node];
    try {
      a.transport.send("b", utf8.encode("1"));
      a.transport.send("b", utf8.encode("2"));
      assert.deepEqual(b.inbox, [], "nothing is delivered inside send");
      assert.equal(network.pending(), 2);
      await waitFor(() => b.inbox.length === 2, "automatic delivery");
      assert.deepEqual(b.inbox, ["a:1", "a:2"]);
      await b.transport.close();
      a.transport.send("b", utf8.encode("3"));
      network.flush();
      assert.equal(network.stats().unrouted, 1);
      assert.equal(network.stats().delivered, 2);
    } finally {
      await closeAll(nodes);
    }
  });

  it("runs 3 nodes through a seeded lossy network without accepting anything twice", async () => {
    const network = new MemoryNetwork();
    const nodes = mesh(network, ["a", "b", "c"]);
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    network.setDropFilter(() => random() < 0.3);
    try {
      for (let round = 0; round < 50; round++) {
        for (const from of nodes) {
          for (const to of nodes) if (from !== to) from.transport.send(to.id, utf8.encode(`${round}`));
        }
      }
      network.flush();
      for (const node of nodes) {
        const bySender = new Map<string, number[]>();
        for (const entry of node.inbox) {
          const [from, round] = entry.split(":") as [string, string];
          bySender.set(from, [...(bySender.get(from) ?? []), Number(round)]);
        }
        for (const rounds of bySender.values()) {
          assert.deepEqual(
            rounds,
            [...rounds].sort((x, y) => x - y),
            "per-sender order survives loss",
          );
          assert.equal(new Set(rounds).size, rounds.length, "nothing twice");
        }
        const stats = node.transport.stats();
        assert.equal(stats.received, node.inbox.length);
        assert.equal(stats.dropped.replay + stats.dropped.badSignature + stats.dropped.malformed, 0);
      }
      const delivered = nodes.reduce((sum, n) => sum + n.inbox.length, 0);
      assert.equal(delivered + network.stats().dropped, 300);
      assert.ok(network.stats().dropped > 0 && delivered > 0);
    } finally {
      await closeAll(nodes);
    }
  });
});
