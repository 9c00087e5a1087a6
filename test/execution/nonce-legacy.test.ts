/**
 * The legacy nonce layout (before session 20: `treaty.nonces` + `treaty.nonceExpiry`, two rows per
 * call), as ledgers and snapshots written before hold it and as a leader of the previous version
 * still writes it during a rolling upgrade: its requests stay refused for as long as they could
 * be admitted, and its rows are pruned with the new ones until the legacy maps are empty.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { NONCE_PRUNE_SLACK_MS, nonceKey } from "../../node/execution/nonces.js";
import { INTERNAL, readTableValue, SINGLETON_KEY, tableKey } from "../../node/gov/tables.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import { call, codeOf, counterBundle, okResult, TEST_LIMITS } from "./support.js";

const T0 = 1_700_000_000_000;
const WINDOW_MS = 60_000;

async function openEngine(): Promise<ExecutionEngine> {
  const engine = await ExecutionEngine.open({
    kvPath: null,
    limits: TEST_LIMITS,
    retention: { nonceMs: WINDOW_MS },
  });
  await engine.loadContract("counter", counterBundle());
  return engine;
}

/** The two rows the previous version wrote for a call, byte for byte as it wrote them. */
function legacyRows(
  caller: string,
  nonce: string,
  createdMs: number,
  txid: string,
  timeMs: number,
): MapWrites[] {
  return [
    {
      map: INTERNAL.nonceExpiry,
      writes: [[utf8.encode(`${String(createdMs).padStart(15, "0")}:${caller}:${nonce}`), new Uint8Array(0)]],
    },
    {
      map: INTERNAL.nonces,
      writes: [[utf8.encode(`${caller}:${nonce}`), utf8.encode(`{"txid":"${txid}","timeMs":${timeMs}}`)]],
    },
  ];
}

/** `writes` as a write set lists them: one entry per map, maps by name, keys bytewise. */
function merged(writes: MapWrites[]): MapWrites[] {
  const byMap = new Map<string, Array<readonly [Uint8Array, Uint8Array | null]>>();
  for (const { map, writes: rows } of writes) byMap.set(map, [...(byMap.get(map) ?? []), ...rows]);
  return [...byMap.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([map, rows]) => ({ map, writes: rows.sort(([a], [b]) => Buffer.compare(a, b)) }));
}

/** Applies `writes` as the next version (a write set from a leader of the previous version). */
function applyFromOldLeader(engine: ExecutionEngine, writes: MapWrites[]): void {
  engine.apply([{ version: engine.appliedVersion + 1, writeSet: { public: [], private: merged(writes) } }]);
}

function signed(
  engine: ExecutionEngine,
  nonce: string,
  timeMs: number,
  createdMs = timeMs,
  caller = "alice",
) {
  return engine.executeBatch(1, engine.appliedVersion + 1, [
    call(
      "counter",
      "add",
      { key: "k", by: 1 },
      { nonce, timeMs, createdMs, caller: { id: caller, role: "user" } },
    ),
  ])[0];
}

function horizon(engine: ExecutionEngine): number | undefined {
  const row = engine.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY));
  return row === undefined ? undefined : readTableValue<{ throughMs: number }>(row).throughMs;
}

/** The forgotten rows of a write set: `log:<createdMs>` for the new map, `legacy:<caller:nonce>` for the old. */
function forgotten(writeSet: WriteSet): string[] {
  const out: string[] = [];
  for (const { map, writes } of writeSet.private) {
    for (const [key, value] of writes) {
      if (value !== null) continue;
      if (map === INTERNAL.nonceLog) out.push(`log:${Buffer.from(key).readUIntBE(2, 6)}`);
      else if (map === INTERNAL.nonces) out.push(`legacy:${utf8.decode(key)}`);
    }
  }
  return out.sort();
}

function rowCounts(engine: ExecutionEngine): [number, number, number] {
  return [
    engine.scan(INTERNAL.nonceLog).length,
    engine.scan(INTERNAL.nonces).length,
    engine.scan(INTERNAL.nonceExpiry).length,
  ];
}

describe("nonces recorded in the legacy layout", () => {
  test("a replay of a request a leader of the previous version executed is refused, with its txid", async () => {
    const engine = await openEngine();
    try {
      // The engine has looked, and found the legacy maps empty, before the old leader's write.
      okResult(signed(engine, "new-0", T0));
      applyFromOldLeader(engine, legacyRows("alice", "old-0", T0 + 5, "3.77", T0 + 6));
      const replay = signed(engine, "old-0", T0 + 10, T0 + 5);
      assert.equal(codeOf(replay), "Replay");
      assert.ok(!replay!.ok);
      assert.equal(replay.error.txid, "3.77");
      // In the legacy layout a nonce was refused whatever createdMs came with it: still so.
      assert.equal(codeOf(signed(engine, "old-0", T0 + 10, T0 + 9)), "Replay");
      // Another caller's same nonce, and the new layout's own replays, as before.
      assert.equal(codeOf(signed(engine, "old-0", T0 + 10, T0 + 5, "bob")), "ok");
      assert.equal(codeOf(signed(engine, "new-0", T0 + 10, T0)), "Replay");
      assert.deepEqual(rowCounts(engine), [2, 1, 1], "new calls record only in treaty.nonceLog");
    } finally {
      await engine.close();
    }
  });

  test("legacy rows are pruned with the new ones, oldest first across both, until the legacy maps are empty", async () => {
    const engine = await openEngine();
    try {
      applyFromOldLeader(engine, [
        ...legacyRows("alice", "old-0", T0, "2.1", T0),
        ...legacyRows("alice", "old-2", T0 + 2000, "2.3", T0 + 2000),
      ]);
      okResult(signed(engine, "new-1", T0 + 1000));
      okResult(signed(engine, "new-3", T0 + 3000));
      applyFromOldLeader(engine, legacyRows("carol", "old-4", T0 + 4000, "2.5", T0 + 4000));
      assert.deepEqual(rowCounts(engine), [2, 3, 3]);
      // One window and the slack after T0 + 2500: what was created before T0 + 2500 goes.
      const first = okResult(signed(engine, "late-0", T0 + WINDOW_MS + 2500));
      assert.deepEqual(
        forgotten(first.writeSet),
        ["legacy:alice:old-0", "legacy:alice:old-2", `log:${T0 + 1000}`].sort(),
      );
      assert.equal(horizon(engine), T0 + 2000);
      // A forgotten legacy request is stale; a held one a replay.
      assert.equal(codeOf(signed(engine, "old-2", T0 + WINDOW_MS + 2600, T0 + 2000)), "StaleRequest");
      assert.equal(codeOf(signed(engine, "old-4", T0 + WINDOW_MS + 2600, T0 + 4000, "carol")), "Replay");
      const second = okResult(signed(engine, "late-1", T0 + WINDOW_MS + 4000 + NONCE_PRUNE_SLACK_MS + 1));
      assert.deepEqual(forgotten(second.writeSet), ["legacy:carol:old-4", `log:${T0 + 3000}`].sort());
      assert.equal(horizon(engine), T0 + 4000);
      assert.deepEqual(rowCounts(engine), [2, 0, 0], "the legacy maps are empty; late-0 and late-1 remain");
      // With the legacy maps empty, passes go on over the new map alone.
      const third = okResult(signed(engine, "late-2", T0 + 3 * WINDOW_MS));
      assert.deepEqual(forgotten(third.writeSet), [
        `log:${T0 + WINDOW_MS + 2500}`,
        `log:${T0 + WINDOW_MS + 4000 + NONCE_PRUNE_SLACK_MS + 1}`,
      ]);
    } finally {
      await engine.close();
    }
  });

  test("a snapshot taken before the change installs, refuses its requests and is pruned", async () => {
    const engine = await openEngine();
    try {
      okResult(signed(engine, "before-install", T0)); // the engine knows its legacy maps empty
      const maps: MapWrites[] = [
        ...legacyRows("alice", "snap-0", T0 + 100, "4.10", T0 + 100),
        ...legacyRows("alice", "snap-1", T0 + 200, "4.11", T0 + 200),
        {
          map: INTERNAL.nonceHorizon,
          writes: [[tableKey(SINGLETON_KEY), utf8.encode('{"throughMs":1699999999000}')]],
        },
      ];
      await engine.installState(engine.appliedVersion + 10, merged(maps));
      assert.deepEqual(rowCounts(engine), [0, 2, 2], "the install replaced the state");
      const replay = signed(engine, "snap-1", T0 + 300, T0 + 200);
      assert.equal(codeOf(replay), "Replay");
      assert.ok(!replay!.ok);
      assert.equal(replay.error.txid, "4.11");
      assert.equal(
        codeOf(signed(engine, "before-install", T0 + 300, T0)),
        "ok",
        "not in the snapshot's state",
      );
      assert.equal(
        codeOf(signed(engine, "snap-x", T0 + 300, T0 - 1000)),
        "StaleRequest",
        "the snapshot's horizon holds",
      );
      const pruned = okResult(signed(engine, "late", T0 + WINDOW_MS + 2 * NONCE_PRUNE_SLACK_MS + 300));
      assert.deepEqual(forgotten(pruned.writeSet), [
        "legacy:alice:snap-0",
        "legacy:alice:snap-1",
        `log:${T0}`,
      ]);
      assert.deepEqual(rowCounts(engine), [1, 0, 0]);
    } finally {
      await engine.close();
    }
  });

  test("after a previous version's pass raised the horizon over new rows, the next pass still forgets them", async () => {
    const engine = await openEngine();
    try {
      // The engine runs a pass of its own first (so it would otherwise scan from the horizon).
      okResult(signed(engine, "r-0", T0));
      const own = okResult(signed(engine, "r-1", T0 + WINDOW_MS + 2 * NONCE_PRUNE_SLACK_MS));
      assert.deepEqual(forgotten(own.writeSet), [`log:${T0}`]);
      const t1 = T0 + WINDOW_MS + 3 * NONCE_PRUNE_SLACK_MS;
      for (let i = 0; i < 3; i++) okResult(signed(engine, `n-${i}`, t1 + i));
      // An old leader forgets its own rows through t1 + 5 (it knows only the legacy maps).
      applyFromOldLeader(engine, [
        ...legacyRows("bob", "o", t1 + 5, "5.1", t1 + 5),
        {
          map: INTERNAL.nonceHorizon,
          writes: [[tableKey(SINGLETON_KEY), utf8.encode(`{"throughMs":${t1 + 5}}`)]],
        },
      ]);
      applyFromOldLeader(engine, [
        {
          map: INTERNAL.nonceExpiry,
          writes: [[utf8.encode(`${String(t1 + 5).padStart(15, "0")}:bob:o`), null]],
        },
        { map: INTERNAL.nonces, writes: [[utf8.encode("bob:o"), null]] },
      ]);
      const late = t1 + 10 * WINDOW_MS;
      const pass = okResult(signed(engine, "late", late));
      const got = forgotten(pass.writeSet);
      for (let i = 0; i < 3; i++)
        assert.ok(got.includes(`log:${t1 + i}`), `n-${i} below the horizon: ${got}`);
      assert.ok(engine.get(INTERNAL.nonceLog, nonceKey("alice", "n-0", t1)) === undefined);
      assert.deepEqual(rowCounts(engine), [1, 0, 0]);
    } finally {
      await engine.close();
    }
  });
});
