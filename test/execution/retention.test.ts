/**
 * Retention of replicated bookkeeping: expired nonces are forgotten inside the transactions of
 * later signed calls (oldest first, a bounded number per pass, a pass once the oldest nonce has
 * been expired for NONCE_PRUNE_SLACK_MS) and can never be replayed afterwards; decided
 * proposals beyond the bound leave the live tables (decided.ts; the scenario
 * test/scenarios/governance/retention.txt covers it through the proposal engine).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { KvStore } from "../../runtime/kv/store.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import {
  NONCE_PRUNE_MAX,
  NONCE_PRUNE_SLACK_MS,
  nonceKey,
  nonceKeyCreatedMs,
} from "../../node/execution/nonces.js";
import { resolveRetention } from "../../node/execution/retention.js";
import { decidedCount, recordDecided } from "../../node/gov/decided.js";
import { GOV, INTERNAL, readTableValue, SINGLETON_KEY, tableKey, tableValue } from "../../node/gov/tables.js";
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

/** One signed `add` by alice with `nonce`, created and run at the given times. */
function signed(engine: ExecutionEngine, nonce: string, timeMs: number, createdMs = timeMs) {
  const [result] = engine.executeBatch(1, engine.appliedVersion + 1, [
    call("counter", "add", { key: "k", by: 1 }, { nonce, timeMs, createdMs }),
  ]);
  return result;
}

/** The nonces a call's write set forgot, as hex `treaty.nonceLog` keys. */
function removedNonces(result: ReturnType<typeof okResult>): string[] {
  return (result.writeSet.private.find((m) => m.map === INTERNAL.nonceLog)?.writes ?? [])
    .filter(([, value]) => value === null)
    .map(([key]) => hex(key));
}

/** The hex `treaty.nonceLog` key of alice's request with `nonce` created at `createdMs`. */
function aliceKey(nonce: string, createdMs: number): string {
  return hex(nonceKey("alice", nonce, createdMs));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function horizon(engine: ExecutionEngine): number | undefined {
  const row = engine.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY));
  return row === undefined ? undefined : readTableValue<{ throughMs: number }>(row).throughMs;
}

describe("nonce retention", () => {
  let engine: ExecutionEngine;
  before(async () => {
    engine = await openEngine();
  });
  after(() => engine.close());

  test("nonces inside the window are all kept, and replays refused", () => {
    for (let i = 0; i < 10; i++) assert.equal(codeOf(signed(engine, `a-${i}`, T0 + i * 1000)), "ok");
    assert.equal(engine.scan(INTERNAL.nonceLog).length, 10);
    assert.equal(engine.scan(INTERNAL.nonces).length + engine.scan(INTERNAL.nonceExpiry).length, 0);
    assert.equal(horizon(engine), undefined);
    assert.equal(codeOf(signed(engine, "a-3", T0 + 20_000, T0 + 3000)), "Replay");
  });

  test("a later call forgets expired nonces, oldest first, once the oldest is past the slack", () => {
    // Created at T0 + i*1000 (a-0..a-9 above). Half the slack after a-0 expired:
    const early = okResult(signed(engine, "b-0", T0 + WINDOW_MS + NONCE_PRUNE_SLACK_MS / 2));
    assert.equal(removedNonces(early).length, 0, "a-0 is expired, but not yet for the slack");
    assert.equal(horizon(engine), undefined);
    // An expired nonce still held is refused as a replay; a new one created then, as stale.
    assert.equal(codeOf(signed(engine, "a-0", T0 + WINDOW_MS + NONCE_PRUNE_SLACK_MS / 2, T0)), "Replay");
    assert.equal(
      codeOf(signed(engine, "new", T0 + WINDOW_MS + NONCE_PRUNE_SLACK_MS / 2, T0)),
      "StaleRequest",
    );
    // Now a-0, a-1 and a-2 (created before T0 + 2500, one window ago) go, in one pass.
    const result = okResult(signed(engine, "b-1", T0 + WINDOW_MS + 2500));
    assert.deepEqual(removedNonces(result), [
      aliceKey("a-0", T0),
      aliceKey("a-1", T0 + 1000),
      aliceKey("a-2", T0 + 2000),
    ]);
    assert.equal(horizon(engine), T0 + 2000);
    assert.equal(engine.get(INTERNAL.nonceLog, nonceKey("alice", "a-0", T0)), undefined);
    assert.notEqual(engine.get(INTERNAL.nonceLog, nonceKey("alice", "a-3", T0 + 3000)), undefined);
    // The next pass waits until a-3 (the oldest kept) has been expired for the slack.
    const b2 = okResult(signed(engine, "b-2", T0 + WINDOW_MS + 3000 + NONCE_PRUNE_SLACK_MS / 2));
    assert.equal(removedNonces(b2).length, 0);
    const b3 = okResult(signed(engine, "b-3", T0 + WINDOW_MS + 5500));
    assert.deepEqual(removedNonces(b3), [
      aliceKey("a-3", T0 + 3000),
      aliceKey("a-4", T0 + 4000),
      aliceKey("a-5", T0 + 5000),
    ]);
    assert.equal(horizon(engine), T0 + 5000);
  });

  test("a backlog drains NONCE_PRUNE_MAX nonces per call, oldest first", async () => {
    const backlog = await openEngine();
    try {
      const total = NONCE_PRUNE_MAX + 10;
      for (let i = 0; i < total; i++) okResult(signed(backlog, `n-${i}`, T0 + i));
      const late = T0 + 10 * WINDOW_MS;
      const first = removedNonces(okResult(signed(backlog, "late-0", late)));
      assert.equal(first.length, NONCE_PRUNE_MAX);
      assert.deepEqual(first.slice(0, 2), [aliceKey("n-0", T0), aliceKey("n-1", T0 + 1)]);
      assert.equal(horizon(backlog), T0 + NONCE_PRUNE_MAX - 1);
      // The pass stopped at its bound, so the very next call prunes again.
      const second = removedNonces(okResult(signed(backlog, "late-1", late)));
      assert.equal(second.length, 10);
      assert.equal(horizon(backlog), T0 + total - 1);
      assert.deepEqual(
        backlog.scan(INTERNAL.nonceLog).map(([key]) => hex(key)),
        [aliceKey("late-0", late), aliceKey("late-1", late)].sort(),
      );
    } finally {
      await backlog.close();
    }
  });

  test("a forgotten nonce can never run again: its request is older than the horizon", () => {
    // Even on a leader whose clock lags (or whose window is wider), in-window by its own clock.
    const replay = signed(engine, "a-0", T0 + 30_000, T0);
    assert.equal(codeOf(replay), "StaleRequest");
    assert.equal(codeOf(signed(engine, "fresh-but-at-horizon", T0 + 30_000, T0 + 5000)), "StaleRequest");
    assert.equal(codeOf(signed(engine, "just-after-horizon", T0 + 30_000, T0 + 5001)), "ok");
  });

  test("a request created before the retention is refused in the transaction, and writes nothing", () => {
    const before = engine.appliedVersion;
    const result = signed(engine, "old", T0 + 200_000, T0 + 200_000 - WINDOW_MS - 1);
    assert.equal(codeOf(result), "StaleRequest");
    assert.equal(engine.appliedVersion, before);
    assert.equal(
      engine.get(INTERNAL.nonceLog, nonceKey("alice", "old", T0 + 200_000 - WINDOW_MS - 1)),
      undefined,
    );
  });

  test("under sustained load the table holds one window of nonces, not the whole history", () => {
    let t = T0 + 300_000;
    for (let i = 0; i < 600; i++) {
      t += 500; // 120 calls per window
      assert.equal(codeOf(signed(engine, `load-${i}`, t)), "ok");
    }
    // One window (120 calls) plus what the slack lets linger (2 calls) plus the call's own.
    const live = engine.scan(INTERNAL.nonceLog).length;
    assert.ok(
      live <= 120 + NONCE_PRUNE_SLACK_MS / 500 + 1,
      `expected about one window of nonces, got ${live}`,
    );
    assert.equal(codeOf(signed(engine, "load-599", t + 1, t)), "Replay");
  });

  test("a flood of nonces from many callers is forgotten within bounds, and replays stay refused throughout", async () => {
    const flooded = await openEngine();
    try {
      // 20 callers, 40 nonces each, all within one second: far more than one pass forgets.
      const callers = Array.from({ length: 20 }, (_, i) => ({ id: `hostile-${i}`, role: "user" as const }));
      const run = (caller: (typeof callers)[number], nonce: string, timeMs: number, createdMs = timeMs) =>
        flooded.executeBatch(1, flooded.appliedVersion + 1, [
          call("counter", "add", { key: "k", by: 1 }, { caller, nonce, timeMs, createdMs }),
        ])[0];
      for (let n = 0; n < 40; n++)
        for (const [i, caller] of callers.entries()) okResult(run(caller, `f-${n}`, T0 + n * 20 + i));
      const flood = callers.length * 40;
      assert.equal(flooded.scan(INTERNAL.nonceLog).length, flood);
      // After the window, a quiet caller's calls drain the flood, at most NONCE_PRUNE_MAX per
      // call. All along, a flood request still held is a Replay, and once forgotten it is stale.
      const quiet = { id: "quiet", role: "user" as const };
      const after = T0 + WINDOW_MS + 1000 + NONCE_PRUNE_SLACK_MS;
      let drained = 0;
      for (let k = 0; drained < flood; k++) {
        const forgotten = removedNonces(okResult(run(quiet, `q-${k}`, after + k)));
        assert.ok(
          forgotten.length > 0 && forgotten.length <= NONCE_PRUNE_MAX,
          `pass ${k}: ${forgotten.length}`,
        );
        drained += forgotten.length;
        const n = (k * 7) % 40;
        const victim = callers[(k * 3) % callers.length]!;
        const created = T0 + n * 20 + ((k * 3) % callers.length);
        const held = flooded.get(INTERNAL.nonceLog, nonceKey(victim.id, `f-${n}`, created)) !== undefined;
        assert.equal(codeOf(run(victim, `f-${n}`, after + k, created)), held ? "Replay" : "StaleRequest");
      }
      assert.equal(drained, flood);
      // What is left: the quiet caller's own nonces, all within the window.
      const left = flooded.scan(INTERNAL.nonceLog).map(([key]) => nonceKeyCreatedMs(key));
      assert.ok(
        left.every((createdMs) => createdMs >= after),
        left.join(","),
      );
    } finally {
      await flooded.close();
    }
  });
});

describe("the nonce horizon a leader holds", () => {
  test("follows write sets applied from elsewhere and rollbacks", async () => {
    const pruner = await openEngine();
    const other = await openEngine();
    try {
      // `other` runs signed calls first, so it holds the horizon (none yet); the second runs no
      // prune pass (the first did), which would make it read the horizon again.
      okResult(signed(other, "o-0", T0));
      okResult(signed(other, "o-1", T0 + 1));
      const otherBase = other.appliedVersion;
      // `pruner` records and then forgets n-0..n-2: its horizon moves to T0 + 2.
      for (let i = 0; i < 3; i++) okResult(signed(pruner, `n-${i}`, T0 + i));
      const late = T0 + 10 * WINDOW_MS;
      const pruned = okResult(signed(pruner, "late", late));
      assert.equal(horizon(pruner), T0 + 2);
      // `other` applies the pruning call's write set: it now refuses what the horizon covers.
      other.apply([{ version: otherBase + 1, writeSet: pruned.writeSet }]);
      const now = T0 + WINDOW_MS / 2; // within the window of everything created from T0 on
      assert.equal(codeOf(signed(other, "at-horizon", now, T0 + 2)), "StaleRequest");
      assert.equal(codeOf(signed(other, "after-horizon", now, T0 + 3)), "ok");
      assert.equal(codeOf(signed(other, "after-horizon-2", now, T0 + 4)), "ok");
      // Rolled back, the pruning never happened: the old horizon (none) holds again.
      other.rollback(otherBase);
      assert.equal(horizon(other), undefined);
      assert.equal(codeOf(signed(other, "at-old-horizon", now, T0 + 2)), "ok");
    } finally {
      await pruner.close();
      await other.close();
    }
  });
});

describe("retention options", () => {
  test("bad bounds are InvalidArgs naming the field", () => {
    assert.throws(() => resolveRetention({ nonceMs: 0 }), /retention\.nonceMs/);
    assert.throws(() => resolveRetention({ decidedProposals: 1.5 }), /retention\.decidedProposals/);
    assert.deepEqual(resolveRetention({ nonceMs: 10 }), { nonceMs: 10, decidedProposals: 1000 });
  });
});

describe("decided proposal retention", () => {
  test("the oldest decided proposals leave proposals, ballots and the index once over the bound", () => {
    const kv = KvStore.open(null);
    let version = 0;
    const decide = (id: string): string[] => {
      const tx = kv.begin();
      tx.set(GOV.proposals, tableKey(id), tableValue({ state: "Accepted" }));
      tx.set(GOV.ballots, tableKey(id), tableValue({ m0: "for" }));
      const dropped = recordDecided(tx, ++version, id, 3);
      kv.apply(version, tx.writeSet());
      return dropped;
    };
    const ids = ["p1", "p2", "p3", "p4", "p5"];
    const dropped = ids.map(decide);
    assert.deepEqual(dropped, [[], [], [], ["p1"], ["p2"]]);
    const tx = kv.begin();
    assert.equal(decidedCount(tx), 3);
    assert.deepEqual(
      [...tx.range(GOV.proposals)].map(([k]) => utf8.decode(k)),
      ["p3", "p4", "p5"],
    );
    assert.deepEqual(
      [...tx.range(GOV.ballots)].map(([k]) => utf8.decode(k)),
      ["p3", "p4", "p5"],
    );
    assert.equal([...tx.range(GOV.decided)].length, 3);
  });
});
