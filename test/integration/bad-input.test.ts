/**
 * Hostile bytes on a running network's NATS subjects (issue 5, "Bad input"). An attacker with a
 * raw NATS client, as any host on the messaging fabric could be, injects frames on the nodes'
 * own subjects while a signed write load runs:
 *
 * - garbage: empty, random, msgpack of the wrong shape, a burst of random frames;
 * - real frames captured off the wire: duplicated, truncated, garbled, re-targeted to another
 *   node, and replayed from a node's earlier session;
 * - well-formed frames from a node nobody knows, from a known node id signed with the wrong key,
 *   and for another service;
 * - authenticated consensus messages (signed with a stopped member's own identity key, the
 *   strongest forgery a host can make) from an old view, and a member that claims a higher view
 *   with a shorter log: as a pre-vote, as a vote request, and as a leader's append that would
 *   overwrite committed entries and as a heartbeat.
 *
 * After each step the targets have processed everything sent before (a barrier: an old-view
 * append, which the node answers). None may crash, grant a vote to the shorter log, move its
 * commit point backwards or lose a committed write: at the end every write acknowledged as
 * committed is read back from every node and the stopped nodes' ledgers are identical and hold
 * them all. (A NATS server that goes away is in nats-restart.test.ts.)
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { decode, encode } from "../../sdk/codec.js";
import { generateKeyPair } from "../../sdk/keys.js";
import type { Message } from "../../node/consensus/types.js";
import { WIRE_CONSENSUS } from "../../node/replica.js";
import { SecureChannel } from "../../node/transport/channel.js";
import {
  FRAME_OVERHEAD_BYTES,
  FrameKind,
  MAX_MESSAGE_BYTES,
  nodeSubject,
  SESSION_ID_BYTES,
} from "../../node/transport/frame.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type LoadReport, startWriteLoad } from "./load.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + FRAME_OVERHEAD_BYTES;
const BURST_FRAMES = 500;
const CAPTURE_LIMIT = 400;

interface Captured {
  readonly subject: string;
  readonly data: Uint8Array;
}

/** A consensus message without its addresses (the forger fills them in). */
type Unaddressed<M> = M extends Message ? Omit<M, "from" | "to"> : never;

/** A consensus message as it travels inside a frame body. */
function wire(message: Message): Uint8Array {
  return encode({ t: WIRE_CONSENSUS, m: message });
}

/** A deterministic byte generator (xorshift32), so a failing run can be replayed. */
function prng(seed: number): (length: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (length) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  };
}

describe("hostile input on the nodes' NATS subjects", () => {
  let cluster: Cluster;
  let attacker: NatsConnection;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
    attacker = await connect({ servers: cluster.nats.url });
  });
  after(async () => {
    await attacker?.close();
    await cluster?.dispose();
  });

  it("crashes no node, changes no committed state, and the network keeps committing", async (t) => {
    const serviceId = cluster.serviceId;
    const subject = (node: ClusterNode) => nodeSubject(serviceId, node.id);
    const leader = await cluster.waitForLeader();
    const [a, b] = [leader, cluster.nodes.find((n) => n !== leader)!];
    const c = cluster.nodes.find((n) => n !== a && n !== b)!;

    // Eavesdrop, as any host on the fabric can, while the network works under load.
    const captured: Captured[] = [];
    const tap = attacker.subscribe(`treaty.${serviceId}.node.>`, {
      callback: (err, msg) => {
        if (err === null && captured.length < CAPTURE_LIMIT)
          captured.push({ subject: msg.subject, data: new Uint8Array(msg.data) });
      },
    });
    const load = startWriteLoad(cluster, { writers: 3, label: "hostile", nodes: [a.url, b.url] });
    let report: LoadReport;
    try {
      await load.waitForMoreCommits(20);
      tap.unsubscribe();
      const toAB = captured.filter((f) => f.subject !== subject(c));
      assert.ok(toAB.length > 0 && captured.some((f) => f.subject === subject(c)), "frames were captured");

      // C stops: its identity key (in the test's hands) signs the forgeries below, and A and B
      // alone must keep the service going, so any crash shows at once as lost availability.
      assert.equal(await c.stop(), 0);
      const forger = new SecureChannel({
        serviceId,
        nodeId: c.id,
        identity: c.identity,
        sessionEpoch: Date.now(),
        sessionId: randomBytes(SESSION_ID_BYTES),
        maxFrameBytes: MAX_FRAME_BYTES,
      });
      for (const n of [a, b]) forger.addPeer({ id: n.id, publicKey: keyOf(n) });
      const replies: { from: string; m: Message }[] = [];
      const inbox = attacker.subscribe(subject(c), {
        callback: (err, msg) => {
          if (err !== null) return;
          const opened = forger.open(msg.data);
          if (!opened.ok) return;
          const body = decode<{ t?: unknown; m?: Message }>(opened.body, "reply");
          if (body.t === WIRE_CONSENSUS && body.m !== undefined)
            replies.push({ from: opened.from, m: body.m });
        },
      });
      const publish = (node: ClusterNode, frames: readonly Uint8Array[]) => {
        for (const frame of frames) attacker.publish(subject(node), frame);
      };
      const forged = (to: ClusterNode, message: Unaddressed<Message>) =>
        forger.seal(to.id, FrameKind.Message, wire({ ...message, from: c.id, to: to.id } as Message), false)
          .frame;
      /** Waits until `node` processed everything published before (it answers an old-view append). */
      const barrier = async (node: ClusterNode) => {
        const seen = replies.length;
        publish(node, [
          forged(node, { type: "append", view: 1, prevSeqno: 0, prevView: 0, entries: [], commitSeqno: 0 }),
        ]);
        await cluster.waitFor(`node ${node.index} to answer an old-view append`, async () =>
          replies.slice(seen).some((r) => r.from === node.id && r.m.type === "appendResponse" && !r.m.success)
            ? true
            : undefined,
        );
      };
      const commitPoints = new Map<ClusterNode, number>();
      /** The commit point of A and B never moves backwards, and no node process exited. */
      const checkCommitPoints = async (step: string) => {
        assert.deepEqual(cluster.crashes(), [], step);
        for (const n of [a, b]) {
          const { commitSeqno } = await n.status();
          assert.ok(commitSeqno >= (commitPoints.get(n) ?? 0), `${step}: node ${n.index} commit point`);
          commitPoints.set(n, commitSeqno);
        }
      };
      await checkCommitPoints("before");

      // Unauthenticated garbage and mangled copies of real frames.
      const random = prng(0x5eed);
      const real = toAB.slice(0, 20).map((f) => f.data);
      const garbage: Uint8Array[] = [
        new Uint8Array(0),
        random(1),
        random(64),
        random(4096),
        encode({}),
        encode([1, 2, 3]),
        encode([new Uint8Array(8), new Uint8Array(8), new Uint8Array(64)]),
        encode({ t: WIRE_CONSENSUS, m: { type: "append" } }),
        ...real.flatMap((f) => [
          f.subarray(0, 10),
          f.subarray(0, f.length >> 1),
          f.subarray(0, f.length - 1),
        ]),
        ...real.flatMap((f) =>
          [0, f.length >> 2, f.length >> 1, f.length - 1].map((at) => {
            const copy = new Uint8Array(f);
            copy[at] ^= 0x5a;
            return copy;
          }),
        ),
        ...Array.from({ length: BURST_FRAMES }, (_, i) => random(1 + (i % 300))),
      ];
      for (const target of [a, b]) {
        publish(target, garbage);
        // Real frames again: the ones already delivered are replays, the ones meant for another
        // node are for the wrong receiver.
        publish(target, real);
        await barrier(target);
      }
      await checkCommitPoints("garbage, truncated, garbled, duplicated and re-targeted frames");

      // Well-formed frames from outside the service's trust.
      const stranger = generateKeyPair("ed25519");
      const outsiders = [
        new SecureChannel({ ...channelBase(), nodeId: stranger.id, identity: stranger }),
        new SecureChannel({ ...channelBase(), nodeId: c.id, identity: stranger }),
        new SecureChannel({
          ...channelBase(),
          serviceId: "another-service",
          nodeId: c.id,
          identity: c.identity,
        }),
      ];
      for (const target of [a, b]) {
        const status = await target.status();
        const message = wire({
          type: "requestVote",
          from: c.id,
          to: target.id,
          view: status.view + 1,
          lastSeqno: status.lastSeqno + 100,
          lastView: status.view + 1,
          preVote: false,
          transfer: true,
        });
        publish(
          target,
          outsiders.map((channel) => {
            channel.addPeer({ id: target.id, publicKey: keyOf(target) });
            return channel.seal(target.id, FrameKind.Message, message, false).frame;
          }),
        );
        await barrier(target);
        assert.ok(
          (await target.status()).view <= status.view,
          "an unauthenticated vote request moved no view",
        );
      }
      await checkCommitPoints("frames from an unknown node, with a bad signature, for another service");

      // A replay of C's earlier session: the forger's newer session superseded it.
      for (const target of [a, b]) {
        publish(
          target,
          captured.filter((f) => f.subject === subject(target)).map((f) => f.data),
        );
        await barrier(target);
      }
      await checkCommitPoints("frames replayed from an earlier session");

      // A member that claims a higher view with a shorter log.
      const current = await a.status();
      const shorter = { lastSeqno: 1, lastView: 1 };
      for (const preVote of [true, false]) {
        for (const target of [a, b]) {
          publish(target, [
            forged(target, {
              type: "requestVote",
              view: current.view + 5,
              ...shorter,
              preVote,
              transfer: false,
            }),
          ]);
          await barrier(target);
        }
        assert.deepEqual(
          replies.filter((r) => r.m.type === "voteResponse" && r.m.granted),
          [],
          "no vote for a shorter log",
        );
        if (preVote) {
          const after = await a.status();
          assert.equal(after.leader, current.leader, "a pre-vote changes nothing");
          assert.equal(after.view, current.view, "a pre-vote changes nothing");
        }
        await checkCommitPoints(
          `a ${preVote ? "pre-vote" : "vote request"} with a higher view and a shorter log`,
        );
      }
      for (const target of [a, b]) {
        const { view, commitSeqno } = await target.status();
        publish(target, [
          // Overwrite committed entry 2 with an entry of a higher view...
          forged(target, {
            type: "append",
            view: view + 10,
            prevSeqno: 1,
            prevView: 1,
            entries: [{ view: view + 10, seqno: 2, signature: false, payload: random(100) }],
            commitSeqno,
          }),
          // ...and a heartbeat from a "leader" whose log ends at seqno 1.
          forged(target, {
            type: "append",
            view: view + 11,
            prevSeqno: 1,
            prevView: 1,
            entries: [],
            commitSeqno: 1,
          }),
        ]);
        await barrier(target);
        const after = await target.status();
        assert.ok(after.lastSeqno >= commitSeqno, "no committed entry was truncated");
      }
      await checkCommitPoints("appends that claim a higher view with a shorter log");
      inbox.unsubscribe();

      // The service recovers by itself and keeps committing; C rejoins with a new session.
      await cluster.waitForLeader({ exclude: [c] });
      await load.waitForMoreCommits(20);
      await c.start();
      await load.waitForMoreCommits(20);
    } finally {
      report = await load.stop();
    }
    t.diagnostic(
      `writes: ${report.attempted} attempted, ${report.committed.length} committed; failures ${JSON.stringify(report.failures)}`,
    );

    await assertConvergedAndIdentical(cluster, report.committed);

    function channelBase() {
      return {
        serviceId,
        sessionEpoch: Date.now(),
        sessionId: randomBytes(SESSION_ID_BYTES),
        maxFrameBytes: MAX_FRAME_BYTES,
      };
    }
  });
});

function keyOf(node: ClusterNode) {
  return { curve: "ed25519" as const, publicKey: node.identity.publicKey };
}
