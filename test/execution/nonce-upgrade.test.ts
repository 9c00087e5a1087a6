/**
 * Replay protection across a rolling upgrade from the previous version (before session 20's one
 * row per call): while a node record that is not retired lacks the `nonceLog` announcement (and
 * does not present the leader's own code measurement), the leader records every signed call in
 * the legacy maps too, byte for byte as the previous version did, so a node of that version that
 * leads next, reading only `treaty.nonces` and the horizon, refuses the replays. The decision
 * follows `public:gov.nodes` at the applied state through applies, rollbacks and installs (the
 * executed governance path: test/gov/nonce-upgrade.test.ts). Real LMDB.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { NONCE_PRUNE_SLACK_MS, nonceKey } from "../../node/execution/nonces.js";
import type { ExecResult } from "../../node/execution/protocol.js";
import {
  GOV,
  INTERNAL,
  type NodeRecord,
  readTableValue,
  SINGLETON_KEY,
  tableKey,
} from "../../node/gov/tables.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import { MAX_TX_WRITE_BYTES, WRITE_OVERHEAD_BYTES } from "../../runtime/sandbox/limits.js";
import { blobBundle, call, codeOf, counterBundle, okResult, TempDirs, TEST_LIMITS } from "./support.js";

const T0 = 1_700_000_000_000;
const WINDOW_MS = 60_000;
const VIEW = 3;

const dirs = new TempDirs();
after(() => dirs.cleanup());

async function openEngine(measurement?: string): Promise<ExecutionEngine> {
  const engine = await ExecutionEngine.open({
    kvPath: dirs.make("treaty-nonce-upgrade-"),
    limits: TEST_LIMITS,
    retention: { nonceMs: WINDOW_MS },
    ...(measurement !== undefined && { measurement }),
  });
  await engine.loadContract("counter", counterBundle());
  await engine.loadContract("blob", blobBundle());
  return engine;
}

/** A node record as this version writes it (announcing) or as the previous version did (`old`). */
function nodeRecord(status: NodeRecord["status"], old: boolean, measurement = "m-any"): NodeRecord {
  return {
    publicKey: "ab".repeat(32),
    status,
    measurement,
    url: "http://127.0.0.1:1",
    ...(!old && { features: ["nonceLog"] }),
  };
}

/** Node records as an internal entry writes them (the join path, the retirement steps). */
function nodesWriteSet(records: Record<string, NodeRecord>): WriteSet {
  const writes = Object.keys(records)
    .sort()
    .map((id) => [utf8.encode(id), utf8.encode(JSON.stringify(records[id]))] as const);
  return { public: [{ map: GOV.nodes, writes }], private: [] };
}

function applyNodes(engine: ExecutionEngine, records: Record<string, NodeRecord>): void {
  engine.apply([{ version: engine.appliedVersion + 1, writeSet: nodesWriteSet(records) }]);
}

function signed(
  engine: ExecutionEngine,
  nonce: string,
  timeMs: number,
  createdMs = timeMs,
  caller = "alice",
) {
  return engine.executeBatch(VIEW, engine.appliedVersion + 1, [
    call(
      "counter",
      "add",
      { key: "k", by: 1 },
      { nonce, timeMs, createdMs, caller: { id: caller, role: "user" } },
    ),
  ])[0];
}

/** The rows a write set writes in `map` (deletes left out). */
function written(writeSet: WriteSet, map: string): Array<[Uint8Array, Uint8Array]> {
  const rows: Array<[Uint8Array, Uint8Array]> = [];
  for (const m of writeSet.private) {
    if (m.map !== map) continue;
    for (const [key, value] of m.writes) if (value !== null) rows.push([key, value]);
  }
  return rows;
}

/** The rows the previous version (29e9323 nonces.ts `recordNonce`) wrote for a call, spelled out. */
function oldFormatRows(caller: string, nonce: string, createdMs: number, txid: string, timeMs: number) {
  return {
    nonces: [Buffer.from(`${caller}:${nonce}`, "utf8"), Buffer.from(`{"txid":"${txid}","timeMs":${timeMs}}`)],
    expiry: [
      Buffer.from(`${String(createdMs).padStart(15, "0")}:${caller}:${nonce}`, "utf8"),
      Buffer.alloc(0),
    ],
  };
}

function legacyRowCount(engine: ExecutionEngine): [number, number] {
  return [engine.scan(INTERNAL.nonces).length, engine.scan(INTERNAL.nonceExpiry).length];
}

/** Whether the call `result` wrote the legacy rows (and always the new row). */
function dualWritten(result: ExecResult | undefined): boolean {
  const { writeSet } = okResult(result);
  assert.equal(written(writeSet, INTERNAL.nonceLog).length, 1, "the new row, always");
  const legacy = written(writeSet, INTERNAL.nonces).length;
  assert.equal(written(writeSet, INTERNAL.nonceExpiry).length, legacy, "the two legacy rows go together");
  return legacy === 1;
}

/**
 * What a leader of the previous version decides for a signed call, reading only what 29e9323's
 * `#consumeNonce` read: `treaty.nonces` at `<caller>:<nonce>` (any value there is a consumed
 * nonce), then the freshness window and `treaty.nonceHorizon`.
 */
function oldLeaderCheck(
  engine: ExecutionEngine,
  caller: string,
  nonce: string,
  createdMs: number,
  timeMs: number,
): string {
  const used = engine.get(INTERNAL.nonces, Buffer.from(`${caller}:${nonce}`, "utf8"));
  if (used !== undefined) return `Replay ${readTableValue<{ txid: string }>(used).txid}`;
  const row = engine.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY));
  const horizon = row === undefined ? -1 : readTableValue<{ throughMs: number }>(row).throughMs;
  if (createdMs < timeMs - WINDOW_MS || createdMs <= horizon) return "StaleRequest";
  return "ok";
}

describe("nonce rows during a rolling upgrade", () => {
  test("with a record lacking the announcement the leader writes the old rows byte for byte beside the new one", async () => {
    const engine = await openEngine();
    try {
      applyNodes(engine, {
        "node-new": nodeRecord("trusted", false),
        "node-old": nodeRecord("pending", true),
      });
      const result = okResult(signed(engine, "n-1", T0 + 6, T0 + 5));
      const txid = `${VIEW}.${result.seqno}`;
      const expected = oldFormatRows("alice", "n-1", T0 + 5, txid, T0 + 6);
      assert.deepEqual(
        written(result.writeSet, INTERNAL.nonces).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
        [expected.nonces],
      );
      assert.deepEqual(
        written(result.writeSet, INTERNAL.nonceExpiry).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
        [expected.expiry],
      );
      assert.deepEqual(
        written(result.writeSet, INTERNAL.nonceLog).map(([k]) => Buffer.from(k)),
        [Buffer.from(nonceKey("alice", "n-1", T0 + 5))],
      );
      // And so they are in the KV.
      assert.deepEqual(Buffer.from(engine.get(INTERNAL.nonces, expected.nonces[0]!)!), expected.nonces[1]);
      assert.deepEqual(
        Buffer.from(engine.get(INTERNAL.nonceExpiry, expected.expiry[0]!)!),
        expected.expiry[1],
      );
      // A fractional recorded time and a txid are written as the old JSON.stringify wrote them.
      const odd = okResult(signed(engine, 'n-"2"', T0 + 7.25, T0 + 7));
      assert.deepEqual(
        Buffer.from(written(odd.writeSet, INTERNAL.nonces)[0]![1]).toString(),
        `{"txid":"${VIEW}.${odd.seqno}","timeMs":${T0 + 7.25}}`,
      );
      assert.deepEqual(Buffer.from(written(odd.writeSet, INTERNAL.nonces)[0]![0]).toString(), 'alice:n-"2"');
      // Every record announcing (the old node retired): only the new row.
      applyNodes(engine, { "node-old": nodeRecord("retired", true) });
      const single = okResult(signed(engine, "n-3", T0 + 8));
      assert.equal(dualWritten(single), false);
      assert.deepEqual(legacyRowCount(engine), [2, 2], "the earlier legacy rows stay until pruned");
    } finally {
      await engine.close();
    }
  });

  test("pending, trusted and retiring records without the announcement count; retired ones and announcing ones do not", async () => {
    const engine = await openEngine();
    try {
      assert.equal(dualWritten(signed(engine, "s-0", T0)), false, "no node records at all");
      let i = 0;
      for (const [status, old, dual] of [
        ["trusted", false, false],
        ["pending", true, true],
        ["trusted", true, true],
        ["retiring", true, true],
        ["retired", true, false],
        ["pending", false, false],
      ] as const) {
        applyNodes(engine, { "node-x": nodeRecord(status, old) });
        assert.equal(dualWritten(signed(engine, `s-${++i}`, T0 + i)), dual, `${status} old=${old}`);
      }
      // A record that does not parse is taken for an old node's.
      engine.apply([
        {
          version: engine.appliedVersion + 1,
          writeSet: {
            public: [{ map: GOV.nodes, writes: [[utf8.encode("node-y"), utf8.encode("{")]] }],
            private: [],
          },
        },
      ]);
      assert.equal(dualWritten(signed(engine, "s-bad", T0 + 20)), true);
    } finally {
      await engine.close();
    }
  });

  test("a record presenting the leader's own code measurement counts as announcing", async () => {
    const engine = await openEngine("m-this");
    try {
      // Admitted by a leader of the previous version, which dropped the join request's features.
      applyNodes(engine, { "node-same": nodeRecord("trusted", true, "m-this") });
      assert.equal(dualWritten(signed(engine, "m-0", T0)), false);
      applyNodes(engine, { "node-other": nodeRecord("pending", true, "m-older") });
      assert.equal(dualWritten(signed(engine, "m-1", T0 + 1)), true);
    } finally {
      await engine.close();
    }
    const plain = await openEngine();
    try {
      applyNodes(plain, { "node-same": nodeRecord("trusted", true, "m-this") });
      assert.equal(dualWritten(signed(plain, "m-0", T0)), true, "no measurement given: the record decides");
    } finally {
      await plain.close();
    }
  });

  test("the decision follows rollbacks and installs without a restart", async () => {
    const engine = await openEngine();
    try {
      applyNodes(engine, { "node-new": nodeRecord("trusted", false) });
      okResult(signed(engine, "r-0", T0));
      await engine.commit(engine.appliedVersion);
      const committed = engine.appliedVersion;
      // An old node's join, then a call that writes both layouts (the engine now knows "true").
      applyNodes(engine, { "node-old": nodeRecord("pending", true) });
      assert.equal(dualWritten(signed(engine, "r-1", T0 + 1)), true);
      // A new leader's log drops the join: the record is gone, and so is the reason.
      engine.rollback(committed);
      assert.equal(dualWritten(signed(engine, "r-2", T0 + 2)), false, "after the rollback");
      // The other way: a rollback that brings back an old node's record.
      applyNodes(engine, { "node-old": nodeRecord("pending", true) });
      okResult(signed(engine, "r-3", T0 + 3));
      await engine.commit(engine.appliedVersion);
      const withOld = engine.appliedVersion;
      applyNodes(engine, { "node-old": nodeRecord("retired", true) });
      assert.equal(dualWritten(signed(engine, "r-4", T0 + 4)), false);
      engine.rollback(withOld);
      assert.equal(dualWritten(signed(engine, "r-5", T0 + 5)), true, "the old record is back");
      // A snapshot whose node records all announce replaces the state: only the new row again.
      const nodes: MapWrites = nodesWriteSet({ "node-new": nodeRecord("trusted", false) }).public[0]!;
      await engine.installState(engine.appliedVersion + 5, [nodes]);
      assert.equal(dualWritten(signed(engine, "r-6", T0 + 6)), false, "after the install");
      // And one with an old node's record: both again.
      const oldNodes = nodesWriteSet({
        "node-new": nodeRecord("trusted", false),
        "node-old": nodeRecord("trusted", true),
      }).public[0]!;
      await engine.commit(engine.appliedVersion);
      await engine.installState(engine.appliedVersion + 5, [oldNodes]);
      assert.equal(dualWritten(signed(engine, "r-7", T0 + 7)), true, "after the second install");
    } finally {
      await engine.close();
    }
  });

  test("an old leader after a new one refuses the requests the new one ran, by the legacy rows or the horizon", async () => {
    const leader = await openEngine();
    const follower = await openEngine();
    try {
      const nodes = { "node-new": nodeRecord("trusted", false), "node-old": nodeRecord("trusted", true) };
      applyNodes(leader, nodes);
      applyNodes(follower, nodes);
      const ran: Array<{ nonce: string; createdMs: number; txid: string }> = [];
      for (let i = 0; i < 5; i++) {
        const createdMs = T0 + i * 1000;
        const result = okResult(signed(leader, `req-${i}`, createdMs + 10, createdMs));
        follower.apply([{ version: result.seqno, writeSet: result.writeSet }]);
        ran.push({ nonce: `req-${i}`, createdMs, txid: `${VIEW}.${result.seqno}` });
      }
      // The old node leads next, within the freshness window: every replay is refused.
      for (const { nonce, createdMs, txid } of ran)
        assert.equal(oldLeaderCheck(follower, "alice", nonce, createdMs, createdMs + 20), `Replay ${txid}`);
      // While the legacy rows are written the new leader refuses a nonce whatever createdMs comes
      // with it, as the old one does (a second request would overwrite the first's legacy row).
      assert.equal(codeOf(signed(leader, "req-0", T0 + 5000, T0 + 4500)), "Replay");
      // The new leader prunes the first three (both layouts) and raises the horizon over them.
      const late = T0 + 2500 + WINDOW_MS; // forgets what was created before T0 + 2500
      const pass = okResult(signed(leader, "late", late));
      follower.apply([{ version: pass.seqno, writeSet: pass.writeSet }]);
      const deleted = pass.writeSet.private
        .filter((m) => m.map === INTERNAL.nonces)
        .flatMap((m) => m.writes.filter(([, v]) => v === null).map(([k]) => utf8.decode(k)));
      assert.deepEqual(deleted, ["alice:req-0", "alice:req-1", "alice:req-2"]);
      for (const { nonce, createdMs } of ran.slice(0, 3))
        assert.equal(oldLeaderCheck(follower, "alice", nonce, createdMs, late), "StaleRequest");
      for (const { nonce, createdMs, txid } of ran.slice(3))
        assert.equal(oldLeaderCheck(follower, "alice", nonce, createdMs, late), `Replay ${txid}`);
    } finally {
      await leader.close();
      await follower.close();
    }
  });

  test("without the old node's record the old lookup would let the replays through (what the dual write closes)", async () => {
    const leader = await openEngine();
    try {
      applyNodes(leader, { "node-new": nodeRecord("trusted", false) });
      const result = okResult(signed(leader, "req-0", T0 + 10, T0));
      assert.equal(dualWritten(result), false);
      assert.equal(oldLeaderCheck(leader, "alice", "req-0", T0, T0 + 20), "ok");
    } finally {
      await leader.close();
    }
  });

  test("the legacy rows count against the write limit, and a due pass only takes what is left", async () => {
    const engine = await openEngine();
    try {
      applyNodes(engine, { "node-old": nodeRecord("trusted", true) });
      const copies = 3;
      const text = "t".repeat(300_000);
      const fill = (nonce: string, timeMs: number, extra: string) =>
        engine.executeBatch(VIEW, engine.appliedVersion + 1, [
          call("blob", "fill", { text, copies, extra }, { nonce, timeMs, createdMs: timeMs }),
        ])[0];
      for (let i = 0; i < 40; i++) okResult(signed(engine, `old-${i}`, T0 + i));
      const probe = okResult(fill("probe-00", T0 + 100, ""));
      assert.ok(dualWritten(probe));
      const probeBytes = bytesOf(probe.writeSet);
      const late = T0 + WINDOW_MS + 10 * NONCE_PRUNE_SLACK_MS;
      // Just over the limit with the legacy rows (they are 2 rows and ~50 bytes of this call's
      // writes; without them it would fit): the call fails, as it did on the previous version.
      const over = fill("large-00", late, "e".repeat(MAX_TX_WRITE_BYTES - probeBytes + 1));
      assert.equal(codeOf(over), "PayloadTooLarge");
      // Just under: it runs, and the due pass has no room beside it.
      const big = okResult(fill("large-01", late, "e".repeat(MAX_TX_WRITE_BYTES - probeBytes - 8)));
      assert.ok(dualWritten(big));
      assert.ok(bytesOf(big.writeSet) <= MAX_TX_WRITE_BYTES);
      assert.equal(engine.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY)), undefined, "no pass");
      // The next call has room, and forgets both layouts' rows of the expired calls.
      const small = okResult(signed(engine, "small-00", late));
      assert.ok(bytesOf(small.writeSet) <= MAX_TX_WRITE_BYTES);
      assert.ok(engine.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY)) !== undefined);
      assert.equal(engine.get(INTERNAL.nonces, Buffer.from("alice:old-0")), undefined);
      assert.equal(engine.get(INTERNAL.nonceLog, nonceKey("alice", "old-0", T0)), undefined);
    } finally {
      await engine.close();
    }
  });
});

/** What a write set counts against MAX_TX_WRITE_BYTES (runtime/executor/runtime.ts), spelled out. */
function bytesOf(writeSet: WriteSet): number {
  let bytes = 0;
  for (const maps of [writeSet.public, writeSet.private]) {
    for (const { map, writes } of maps) {
      bytes += Buffer.byteLength(map);
      for (const [key, value] of writes) bytes += key.length + (value?.length ?? 0) + WRITE_OVERHEAD_BYTES;
    }
  }
  return bytes;
}
