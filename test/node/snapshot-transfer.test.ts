/**
 * Moving snapshot bytes for install-snapshot (node/snapshot/transfer.ts) over the in-memory
 * transport: chunks within the message cap, a digest check before anyone uses the bytes,
 * resuming after failed requests, and clear refusals of a source that changes its answers.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, describe, it } from "node:test";
import { generateKeyPair } from "../../sdk/keys.js";
import { isTreatyError } from "../../sdk/errors.js";
import { silentLogger } from "../../node/log.js";
import { MemoryNetwork } from "../../node/transport/memory.js";
import type { Transport } from "../../node/transport/types.js";
import type { SnapshotPort } from "../../node/snapshot/port.js";
import { SNAPSHOT_CHUNK_BYTES, SnapshotFetcher, SnapshotSource } from "../../node/snapshot/transfer.js";
import { decode } from "../../sdk/codec.js";

/** A port over fixed bytes (install is not exercised here: the replica's job). */
function port(snapshot: { seqno: number; view: number; bytes: Uint8Array } | undefined): SnapshotPort {
  return {
    latestSeqno: () => snapshot?.seqno ?? 0,
    latestView: () => snapshot?.view,
    readLatest: async () => snapshot,
    install: async () => {
      throw new Error("not used");
    },
  };
}

function bytesOf(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function pair(network: MemoryNetwork): { leader: Transport; follower: Transport } {
  const keys = { a: generateKeyPair("ed25519"), b: generateKeyPair("ed25519") };
  const make = (id: "a" | "b", peer: "a" | "b") =>
    network.createTransport({
      serviceId: `snap${Math.floor(Math.random() * 1e9)}`.slice(0, 12),
      nodeId: id,
      identity: keys[id],
      sessionEpoch: 1,
      peers: [{ id: peer, publicKey: keys[peer] }],
    });
  const leader = make("a", "b");
  const follower = network.createTransport({
    serviceId: leader.serviceId,
    nodeId: "b",
    identity: keys.b,
    sessionEpoch: 1,
    peers: [{ id: "a", publicKey: keys.a }],
  });
  return { leader, follower };
}

describe("snapshot transfer", () => {
  const transports: Transport[] = [];
  after(async () => {
    await Promise.all(transports.map((t) => t.close()));
  });

  /** A leader serving `snapshot` and a follower's fetcher; chunk requests time out after `timeoutMs`. */
  async function setup(snapshot: { seqno: number; view: number; bytes: Uint8Array }, timeoutMs = 10_000) {
    const network = new MemoryNetwork();
    const { leader, follower } = pair(network);
    transports.push(leader, follower);
    const offers: number[] = [];
    const source = new SnapshotSource(port(snapshot), silentLogger);
    await source.refresh({
      offerSnapshot: (seqno) => {
        offers.push(seqno);
        return true;
      },
    });
    const offsets: number[] = [];
    leader.onRequest((_from, payload) => {
      const request = decode<{ offset: number }>(payload, "request");
      offsets.push(request.offset);
      return source.serveChunk(request);
    });
    const fetcher = new SnapshotFetcher({
      transport: follower,
      logger: silentLogger,
      now: () => performance.now(),
      chunkTimeoutMs: timeoutMs,
      chunkAttempts: 2,
    });
    return { network, source, fetcher, offers, offsets, leader };
  }

  it("moves a snapshot larger than a message in chunks and checks its digest", async () => {
    const bytes = bytesOf(2 * SNAPSHOT_CHUNK_BYTES + 1234);
    const { fetcher, offers, offsets, leader } = await setup({ seqno: 40, view: 3, bytes });
    assert.deepEqual(offers, [40], "offered to the core once");
    const fetched = await fetcher.fetch("a", 40, 3);
    assert.deepEqual(fetched, bytes);
    assert.deepEqual(offsets, [0, SNAPSHOT_CHUNK_BYTES, 2 * SNAPSHOT_CHUNK_BYTES]);
    assert.ok(SNAPSHOT_CHUNK_BYTES < leader.maxMessageBytes - 4096, "a chunk fits a message");
  });

  it("resumes where a failed transfer stopped", async () => {
    const bytes = bytesOf(3 * SNAPSHOT_CHUNK_BYTES);
    // Dropped answers fail by timeout: short enough to keep the test quick, long enough under load.
    const { network, fetcher, offsets } = await setup({ seqno: 9, view: 2, bytes }, 2_000);
    let answered = 0;
    // The leader's answers stop after the first chunk.
    network.setDropFilter((publisher) => publisher === "a" && ++answered > 1);
    await assert.rejects(fetcher.fetch("a", 9, 2), (err) => isTreatyError(err) && err.code === "Unavailable");
    assert.equal(fetcher.pendingBytes, SNAPSHOT_CHUNK_BYTES, "the first chunk is kept");
    network.setDropFilter(undefined);
    offsets.length = 0;
    assert.deepEqual(await fetcher.fetch("a", 9, 2), bytes);
    assert.equal(offsets[0], SNAPSHOT_CHUNK_BYTES, "the next attempt asks from where it stopped");
    assert.equal(fetcher.pendingBytes, 0);
  });

  it("refuses bytes that do not match the announced digest", async () => {
    const bytes = bytesOf(SNAPSHOT_CHUNK_BYTES + 10);
    const { fetcher, source } = await setup({ seqno: 5, view: 1, bytes });
    await source.serveChunk({ seqno: 5, offset: 0 }); // read and hashed at the first request
    bytes[SNAPSHOT_CHUNK_BYTES + 3]! ^= 1; // changed after the digest was taken
    await assert.rejects(
      fetcher.fetch("a", 5, 1),
      (err) => isTreatyError(err) && err.code === "SnapshotInvalid" && /digest/.test(err.message),
    );
  });

  it("refuses a source that answers with another snapshot", async () => {
    const { fetcher } = await setup({ seqno: 5, view: 1, bytes: bytesOf(100) });
    await assert.rejects(
      fetcher.fetch("a", 5, 2),
      (err) => isTreatyError(err) && err.code === "SnapshotInvalid",
    );
    await assert.rejects(fetcher.fetch("a", 6, 1), (err) => isTreatyError(err) && err.code === "NotFound");
  });

  it("refuses an announced size above the follower's bound before allocating it", async () => {
    const network = new MemoryNetwork();
    const { leader, follower } = pair(network);
    transports.push(leader, follower);
    const source = new SnapshotSource(port({ seqno: 5, view: 1, bytes: bytesOf(5000) }), silentLogger);
    await source.refresh({ offerSnapshot: () => true });
    leader.onRequest((_from, payload) => source.serveChunk(decode(payload, "request")));
    const fetcher = new SnapshotFetcher({
      transport: follower,
      logger: silentLogger,
      now: () => 0,
      maxSnapshotBytes: 4096,
    });
    await assert.rejects(
      fetcher.fetch("a", 5, 1),
      (err) => isTreatyError(err) && err.code === "SnapshotInvalid" && /size/.test(err.message),
    );
  });

  it("serves only the latest snapshot, and only what the core accepted", async () => {
    let latest: { seqno: number; view: number; bytes: Uint8Array } | undefined;
    const offered: number[] = [];
    const core = {
      offerSnapshot: (seqno: number) => {
        offered.push(seqno);
        return seqno !== 7;
      },
    };
    const moving = new SnapshotSource(
      {
        latestSeqno: () => latest?.seqno ?? 0,
        latestView: () => latest?.view,
        readLatest: async () => latest,
        install: port(undefined).install,
      },
      silentLogger,
    );
    await moving.refresh(core);
    assert.deepEqual(offered, [], "nothing to offer");
    latest = { seqno: 7, view: 1, bytes: bytesOf(10) };
    await moving.refresh(core);
    await assert.rejects(
      moving.serveChunk({ seqno: 7, offset: 0 }),
      { code: "NotFound" },
      "the core refused it",
    );
    latest = { seqno: 8, view: 1, bytes: bytesOf(10) };
    await moving.refresh(core);
    assert.ok((await moving.serveChunk({ seqno: 8, offset: 0 })).length > 10);
    await assert.rejects(moving.serveChunk({ seqno: 8, offset: 11 }), { code: "MalformedRequest" });
    await assert.rejects(moving.serveChunk({ seqno: "8", offset: 0 }), { code: "MalformedRequest" });
    await assert.rejects(moving.serveChunk({ seqno: 7, offset: 0 }), { code: "NotFound" });
  });

  /** A port over `current()` that counts its reads; `view` says whether it knows the view. */
  function countingPort(
    current: () => { seqno: number; view: number; bytes: Uint8Array },
    read: () => Promise<{ seqno: number; view: number; bytes: Uint8Array }> = async () => current(),
    knowsView = true,
  ): { port: SnapshotPort; reads: () => number } {
    let reads = 0;
    return {
      port: {
        latestSeqno: () => current().seqno,
        latestView: () => (knowsView ? current().view : undefined),
        readLatest: () => {
          reads++;
          return read();
        },
        install: port(undefined).install,
      },
      reads: () => reads,
    };
  }

  it("offers a snapshot without reading it; the first chunk request reads it, once", async () => {
    let snapshot = { seqno: 5, view: 1, bytes: bytesOf(3000) };
    const { port: p, reads } = countingPort(() => snapshot);
    const source = new SnapshotSource(p, silentLogger);
    const offered: number[] = [];
    const core = { offerSnapshot: (seqno: number) => offered.push(seqno) > 0 };
    await source.refresh(core);
    await source.refresh(core);
    assert.deepEqual(offered, [5], "offered once");
    assert.equal(reads(), 0, "nothing read until a follower asks");
    const [first, second] = await Promise.all([
      source.serveChunk({ seqno: 5, offset: 0 }),
      source.serveChunk({ seqno: 5, offset: 0 }),
    ]);
    assert.equal(reads(), 1, "concurrent first requests share one read");
    assert.deepEqual(first, second);
    const chunk = decode<{ digest: Uint8Array; size: number; view: number }>(first);
    assert.equal(chunk.size, 3000);
    assert.equal(chunk.view, 1);
    assert.deepEqual(Buffer.from(chunk.digest), createHash("sha256").update(snapshot.bytes).digest());
    await source.serveChunk({ seqno: 5, offset: 100 });
    assert.equal(reads(), 1, "later requests are served from the read");
    snapshot = { seqno: 9, view: 2, bytes: bytesOf(12) };
    await source.refresh(core);
    assert.deepEqual(offered, [5, 9]);
    assert.equal(reads(), 1);
    assert.equal(decode<{ seqno: number }>(await source.serveChunk({ seqno: 9, offset: 0 })).seqno, 9);
    assert.equal(reads(), 2);
  });

  it("answers NotFound when the port moved on before the offered snapshot was read", async () => {
    let snapshot = { seqno: 5, view: 1, bytes: bytesOf(10) };
    const { port: p, reads } = countingPort(() => snapshot);
    const source = new SnapshotSource(p, silentLogger);
    const core = { offerSnapshot: () => true };
    await source.refresh(core);
    snapshot = { seqno: 6, view: 1, bytes: bytesOf(10) };
    for (let i = 0; i < 3; i++) {
      await assert.rejects(source.serveChunk({ seqno: 5, offset: 0 }), (err) => {
        return isTreatyError(err) && err.code === "NotFound" && /replaced by 6/.test(err.message);
      });
    }
    assert.equal(reads(), 1, "asking again does not read again");
    await source.refresh(core);
    assert.equal(decode<{ seqno: number }>(await source.serveChunk({ seqno: 6, offset: 0 })).seqno, 6);
  });

  it("reads again at the next request after a read failed", async () => {
    const snapshot = { seqno: 5, view: 1, bytes: bytesOf(10) };
    let fail = true;
    const { port: p, reads } = countingPort(
      () => snapshot,
      async () => {
        if (fail) throw new Error("EIO");
        return snapshot;
      },
    );
    const source = new SnapshotSource(p, silentLogger);
    await source.refresh({ offerSnapshot: () => true });
    await assert.rejects(source.serveChunk({ seqno: 5, offset: 0 }), /EIO/);
    fail = false;
    assert.equal(decode<{ seqno: number }>(await source.serveChunk({ seqno: 5, offset: 0 })).seqno, 5);
    assert.equal(reads(), 2);
  });

  it("reads a snapshot whose view the port does not know before offering it, off the caller's turn", async () => {
    let release: (() => void) | undefined;
    const snapshot = { seqno: 5, view: 3, bytes: bytesOf(3000) };
    const { port: p, reads } = countingPort(
      () => snapshot,
      () => new Promise((resolve) => (release = () => resolve(snapshot))),
      false,
    );
    const source = new SnapshotSource(p, silentLogger);
    const offered: number[] = [];
    const core = { offerSnapshot: (seqno: number) => offered.push(seqno) > 0 };
    const first = source.refresh(core);
    const second = source.refresh(core);
    assert.deepEqual(offered, [], "nothing is offered before the file is read");
    await assert.rejects(source.serveChunk({ seqno: 5, offset: 0 }), { code: "NotFound" });
    release!();
    await Promise.all([first, second]);
    assert.equal(reads(), 1, "a refresh during the read waits for it");
    assert.deepEqual(offered, [5]);
    const chunk = decode<{ digest: Uint8Array; view: number }>(
      await source.serveChunk({ seqno: 5, offset: 0 }),
    );
    assert.equal(chunk.view, 3, "the view the file holds");
    assert.deepEqual(Buffer.from(chunk.digest), createHash("sha256").update(snapshot.bytes).digest());
    assert.equal(reads(), 1, "the read made to offer it serves the chunks");
  });

  it("keeps a snapshot the core refused and offers it again without reading it", async () => {
    const snapshot = { seqno: 6, view: 2, bytes: bytesOf(20) };
    const { port: p, reads } = countingPort(() => snapshot);
    const source = new SnapshotSource(p, silentLogger);
    let accept = false;
    const offered: number[] = [];
    const core = { offerSnapshot: (seqno: number) => offered.push(seqno) > 0 && accept };
    await source.refresh(core);
    await assert.rejects(source.serveChunk({ seqno: 6, offset: 0 }), { code: "NotFound" });
    accept = true;
    await source.refresh(core);
    assert.deepEqual(offered, [6, 6]);
    assert.equal(reads(), 0);
    assert.equal(decode<{ seqno: number }>(await source.serveChunk({ seqno: 6, offset: 0 })).seqno, 6);
    assert.equal(reads(), 1);
  });
});
