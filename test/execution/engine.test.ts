/**
 * ExecutionEngine in-thread: the synchronous transaction path (seqnos, visibility, failures,
 * replay protection, reads) and the KV operations the worker exposes, over an in-memory KV and
 * over LMDB.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AssertionFailure } from "../../sdk/assert.js";
import { utf8 } from "../../sdk/bytes.js";
import { INTERNAL } from "../../node/gov/tables.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { nonceKey, readNonceValue } from "../../node/execution/nonces.js";
import { PROGRESS_RUNNING, PROGRESS_SLOTS, PROGRESS_STARTED } from "../../node/execution/protocol.js";
import {
  call,
  codeOf,
  counterBundle,
  DEFAULT_TIME_MS,
  logBundle,
  okResult,
  TEST_LIMITS,
  TempDirs,
  TestLedger,
} from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

async function openEngine(kvPath: string | null = null, hooks = {}): Promise<ExecutionEngine> {
  const engine = await ExecutionEngine.open({ kvPath, limits: TEST_LIMITS, hooks });
  await engine.loadContract("counter", counterBundle());
  return engine;
}

function counterValue(engine: ExecutionEngine, key: string): unknown {
  return okResult(engine.read(call("counter", "get", { key }))).result;
}

describe("ExecutionEngine batches", () => {
  let engine: ExecutionEngine;
  before(async () => {
    engine = await openEngine();
  });
  after(() => engine.close());

  test("successful calls take consecutive seqnos and see earlier calls' writes", () => {
    const results = engine.executeBatch(3, 1, [
      call("counter", "add", { key: "a", by: 1 }),
      call("counter", "add", { key: "a", by: 2 }),
      call("counter", "add", { key: "b", by: 5 }),
    ]);
    assert.deepEqual(
      results.map((r) => okResult(r).result),
      [1, 3, 5],
    );
    assert.deepEqual(
      results.map((r) => [okResult(r).seqno, okResult(r).txid]),
      [
        [1, "3.1"],
        [2, "3.2"],
        [3, "3.3"],
      ],
    );
    assert.equal(engine.appliedVersion, 3);
    assert.equal(engine.committedVersion, 0);
    const first = okResult(results[0]);
    assert.deepEqual(
      first.writeSet.private.map((m) => m.map),
      ["counter.counters"],
    );
    assert.deepEqual(
      first.writeSet.public.map((m) => m.map),
      ["public:counter.audit"],
    );
  });

  test("failed calls consume no seqno and write nothing", () => {
    const start = engine.appliedVersion + 1;
    const results = engine.executeBatch(3, start, [
      call("counter", "fail", { key: "f" }),
      call("counter", "add", { key: "f", by: 1 }),
      call("counter", "nope", {}),
      call("counter", "spin", { key: "f" }),
      call("counter", "add", { key: "f", by: "ten" }),
      call("missing", "add", {}),
      call("counter", "add", { key: "f", by: 1 }),
    ]);
    assert.deepEqual(results.map(codeOf), [
      "Refused",
      "ok",
      "UnknownMethod",
      "ExecutionLimit",
      "InvalidArgs",
      "UnknownContract",
      "ok",
    ]);
    assert.deepEqual([okResult(results[1]).seqno, okResult(results[6]).seqno], [start, start + 1]);
    assert.equal(okResult(results[6]).result, 2, "fail's and spin's increments were abandoned");
    assert.equal(engine.appliedVersion, start + 1);
    assert.equal(counterValue(engine, "f"), 2);
  });

  test("a batch with no successful call leaves the applied version alone", () => {
    const applied = engine.appliedVersion;
    const results = engine.executeBatch(3, applied + 1, [call("counter", "fail", { key: "z" })]);
    assert.equal(codeOf(results[0]), "Refused");
    assert.equal(engine.appliedVersion, applied);
    assert.deepEqual(engine.executeBatch(3, applied + 1, []), []);
  });

  test("firstSeqno at or below the applied version is a broken invariant", () => {
    const applied = engine.appliedVersion;
    assert.throws(
      () => engine.executeBatch(3, applied, [call("counter", "add", { key: "a", by: 1 })]),
      AssertionFailure,
    );
    assert.equal(engine.appliedVersion, applied);
  });

  test("seqno gaps are allowed (entries that write no state)", () => {
    const next = engine.appliedVersion + 10;
    const [result] = engine.executeBatch(4, next, [call("counter", "add", { key: "g", by: 1 })]);
    assert.equal(okResult(result).txid, `4.${next}`);
    assert.equal(engine.appliedVersion, next);
  });

  test("the progress slots are reset after every call", () => {
    const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
    return (async () => {
      const tracked = await ExecutionEngine.open({ kvPath: null, limits: TEST_LIMITS, progress });
      try {
        await tracked.loadContract("counter", counterBundle());
        tracked.executeBatch(1, 1, [
          call("counter", "add", { key: "p", by: 1 }),
          call("counter", "fail", { key: "p" }),
        ]);
        tracked.read(call("counter", "get", { key: "p" }));
        assert.equal(Atomics.load(progress, PROGRESS_STARTED), 3);
        assert.equal(Atomics.load(progress, PROGRESS_RUNNING), -1);
      } finally {
        await tracked.close();
      }
    })();
  });
});

describe("ExecutionEngine replay protection", () => {
  let engine: ExecutionEngine;
  before(async () => {
    engine = await openEngine();
  });
  after(() => engine.close());

  test("a nonce is consumed by its transaction and refused afterwards with the original txid", () => {
    const first = engine.executeBatch(1, 1, [
      call("counter", "add", { key: "n", by: 1 }, { nonce: "n-1" }),
      call("counter", "add", { key: "n", by: 1 }, { nonce: "n-1" }),
      call("counter", "add", { key: "n", by: 1 }, { nonce: "n-1", caller: { id: "bob", role: "user" } }),
    ]);
    assert.deepEqual(first.map(codeOf), ["ok", "Replay", "ok"]);
    const replay = first[1]!;
    assert.ok(!replay.ok);
    assert.equal(replay.error.txid, "1.1");
    assert.match(replay.error.message, /nonce "n-1": already used by transaction 1\.1/);
    const later = engine.executeBatch(2, engine.appliedVersion + 1, [
      call("counter", "add", { key: "n", by: 1 }, { nonce: "n-1" }),
    ]);
    assert.equal(codeOf(later[0]), "Replay");
    assert.equal(counterValue(engine, "n"), 2);
  });

  test("the nonce record is written in the same transaction, in the private internal map", () => {
    const [result] = engine.executeBatch(2, engine.appliedVersion + 1, [
      call("counter", "add", { key: "n", by: 1 }, { nonce: "n-2", timeMs: 1234 }),
    ]);
    const ok = okResult(result);
    const nonces = ok.writeSet.private.find((m) => m.map === INTERNAL.nonceLog);
    assert.ok(nonces, "the write set carries the nonce record");
    assert.equal(nonces.writes.length, 1, "one row per call");
    assert.equal(
      ok.writeSet.public.some((m) => m.map === INTERNAL.nonceLog),
      false,
    );
    assert.equal(
      ok.writeSet.private.some((m) => m.map === INTERNAL.nonces || m.map === INTERNAL.nonceExpiry),
      false,
      "nothing in the legacy maps",
    );
    const key = nonceKey("alice", "n-2", DEFAULT_TIME_MS);
    const [written, value] = nonces.writes[0]!;
    assert.deepEqual(written, key);
    assert.deepEqual(readNonceValue(value!), { txid: ok.txid, timeMs: 1234 });
    assert.deepEqual(readNonceValue(engine.get(INTERNAL.nonceLog, key)!), { txid: ok.txid, timeMs: 1234 });
  });

  test("a failed call does not consume its nonce", () => {
    const results = engine.executeBatch(2, engine.appliedVersion + 1, [
      call("counter", "fail", { key: "n" }, { nonce: "n-3" }),
      call("counter", "add", { key: "n", by: 10 }, { nonce: "n-3" }),
    ]);
    assert.deepEqual(results.map(codeOf), ["Refused", "ok"]);
  });

  test("calls without a nonce or without a caller are not tracked", () => {
    const applied = engine.appliedVersion;
    const results = engine.executeBatch(2, applied + 1, [
      call("counter", "add", { key: "m", by: 1 }),
      call("counter", "add", { key: "m", by: 1 }),
    ]);
    assert.deepEqual(results.map(codeOf), ["ok", "ok"]);
    for (const result of results) {
      assert.equal(
        okResult(result).writeSet.private.some((m) => m.map === INTERNAL.nonceLog),
        false,
      );
    }
  });

  test("a long nonce and caller id are recorded under a fixed-size key, and refused again", () => {
    const long = { nonce: "x".repeat(5000), caller: { id: "c".repeat(5000), role: "user" as const } };
    const [first, again] = engine.executeBatch(2, engine.appliedVersion + 1, [
      call("counter", "add", { key: "m", by: 1 }, long),
      call("counter", "add", { key: "m", by: 1 }, long),
    ]);
    const [[key]] = okResult(first).writeSet.private.find((m) => m.map === INTERNAL.nonceLog)!.writes;
    assert.equal(key!.length, 24);
    assert.equal(codeOf(again), "Replay");
  });

  test("a nonce without a valid createdMs fails its call without consuming a seqno", () => {
    const applied = engine.appliedVersion;
    const { createdMs: _, ...noCreated } = call("counter", "add", { key: "m", by: 1 }, { nonce: "n-nc" });
    const results = engine.executeBatch(2, applied + 1, [
      noCreated,
      call("counter", "add", { key: "m", by: 1 }, { nonce: "n-nc", createdMs: -1 }),
      call("counter", "add", { key: "m", by: 1 }, { nonce: "n-nc", createdMs: 1.5 }),
      call("counter", "add", { key: "m", by: 1 }, { nonce: "n-nc", createdMs: 2 ** 53 }),
    ]);
    assert.deepEqual(results.map(codeOf), Array(4).fill("MalformedRequest"));
    assert.equal(engine.appliedVersion, applied);
  });

  test("the same nonce with another createdMs is another request (each is refused when sent again)", () => {
    const at = (createdMs: number) =>
      call("counter", "add", { key: "m", by: 1 }, { nonce: "n-t", createdMs });
    const results = engine.executeBatch(2, engine.appliedVersion + 1, [
      at(DEFAULT_TIME_MS),
      at(DEFAULT_TIME_MS - 1),
      at(DEFAULT_TIME_MS),
      at(DEFAULT_TIME_MS - 1),
    ]);
    assert.deepEqual(results.map(codeOf), ["ok", "ok", "Replay", "Replay"]);
  });

  test("a nonce record that does not parse still refuses the nonce, in either layout", () => {
    const applied = engine.appliedVersion;
    engine.apply([
      {
        version: applied + 1,
        writeSet: {
          public: [],
          private: [
            {
              map: INTERNAL.nonceLog,
              writes: [[nonceKey("alice", "n-bad", DEFAULT_TIME_MS), utf8.encode("{oops")]],
            },
            { map: INTERNAL.nonces, writes: [[utf8.encode("alice:n-old-bad"), utf8.encode("{oops")]] },
          ],
        },
      },
    ]);
    const results = engine.executeBatch(2, applied + 2, [
      call("counter", "add", { key: "m", by: 1 }, { nonce: "n-bad" }),
      call("counter", "add", { key: "m", by: 1 }, { nonce: "n-old-bad" }),
    ]);
    for (const result of results) {
      assert.ok(!result!.ok);
      assert.equal(result.error.code, "Replay");
      assert.equal(result.error.txid, "unknown");
    }
  });
});

describe("ExecutionEngine replay protection across restarts, rollbacks and installs", () => {
  test("a committed request is refused after the KV reopens; its nonce with another createdMs is another request (LMDB)", async () => {
    const path = dirs.make();
    const engine = await openEngine(path);
    try {
      const [first] = engine.executeBatch(1, 1, [
        call("counter", "add", { key: "r", by: 1 }, { nonce: "restart-1", createdMs: 1_700_000_000_000 }),
      ]);
      assert.equal(okResult(first).txid, "1.1");
      await engine.commit(1);
    } finally {
      await engine.close();
    }
    const reopened = await openEngine(path);
    try {
      const results = reopened.executeBatch(2, 2, [
        call("counter", "add", { key: "r", by: 1 }, { nonce: "restart-1", createdMs: 1_700_000_000_000 }),
        call("counter", "add", { key: "r", by: 1 }, { nonce: "restart-1", createdMs: 1_700_000_000_001 }),
        call("counter", "add", { key: "r", by: 1 }, { nonce: "restart-2" }),
        call("counter", "add", { key: "r", by: 1 }, { nonce: "restart-2" }),
      ]);
      assert.deepEqual(results.map(codeOf), ["Replay", "ok", "ok", "Replay"]);
      const replay = results[0]!;
      assert.ok(!replay.ok);
      assert.equal(replay.error.txid, "1.1", "the original txid, read back from LMDB");
      assert.equal(counterValue(reopened, "r"), 3);
    } finally {
      await reopened.close();
    }
  });

  test("a rolled-back nonce may run again; a committed one stays refused after the rollback", async () => {
    const engine = await openEngine(dirs.make());
    try {
      okResult(
        engine.executeBatch(1, 1, [call("counter", "add", { key: "b", by: 1 }, { nonce: "kept" })])[0],
      );
      await engine.commit(1);
      okResult(
        engine.executeBatch(1, 2, [call("counter", "add", { key: "b", by: 1 }, { nonce: "dropped" })])[0],
      );
      engine.rollback(1);
      const results = engine.executeBatch(2, 2, [
        call("counter", "add", { key: "b", by: 1 }, { nonce: "dropped" }),
        call("counter", "add", { key: "b", by: 1 }, { nonce: "kept" }),
        call("counter", "add", { key: "b", by: 1 }, { nonce: "dropped" }),
      ]);
      assert.deepEqual(results.map(codeOf), ["ok", "Replay", "Replay"]);
      assert.equal(counterValue(engine, "b"), 2);
    } finally {
      await engine.close();
    }
  });

  test("a nonce that arrives in an installed snapshot is refused", async () => {
    const leader = await openEngine();
    const joiner = await openEngine(dirs.make());
    try {
      okResult(
        leader.executeBatch(1, 1, [call("counter", "add", { key: "s", by: 1 }, { nonce: "snap" })])[0],
      );
      await leader.commit(1);
      const { version, maps } = leader.committedMaps("");
      assert.equal(version, 1);
      await joiner.installState(version, maps);
      const [replay] = joiner.executeBatch(2, 2, [
        call("counter", "add", { key: "s", by: 1 }, { nonce: "snap" }),
      ]);
      assert.equal(codeOf(replay), "Replay");
    } finally {
      await leader.close();
      await joiner.close();
    }
  });
});

describe("ExecutionEngine reads", () => {
  let engine: ExecutionEngine;
  before(async () => {
    engine = await openEngine();
    engine.executeBatch(1, 1, [call("counter", "add", { key: "r", by: 7 })]);
  });
  after(() => engine.close());

  test("a read sees the applied state and reports the version it read at", () => {
    const result = okResult(engine.read(call("counter", "get", { key: "r" }, { caller: null })));
    assert.equal(result.result, 7);
    assert.equal(result.seqno, 1);
    assert.equal(result.txid, "");
    assert.deepEqual(result.writeSet, { public: [], private: [] });
  });

  test("a read cannot write, even through a readwrite method", () => {
    const result = engine.read(call("counter", "add", { key: "r", by: 1 }));
    assert.ok(!result.ok);
    assert.equal(result.error.code, "ReadonlyViolation");
    assert.match(result.error.message, /counter\.add: a read cannot write to map/);
    assert.equal(counterValue(engine, "r"), 7);
    assert.equal(engine.appliedVersion, 1);
  });

  test("a read ignores the nonce (it consumes nothing)", () => {
    okResult(engine.read(call("counter", "get", { key: "r" }, { nonce: "read-1" })));
    const [result] = engine.executeBatch(1, 2, [
      call("counter", "add", { key: "r", by: 1 }, { nonce: "read-1" }),
    ]);
    assert.equal(codeOf(result), "ok");
  });

  test("reads of unknown contracts and methods fail with their codes", () => {
    assert.equal(codeOf(engine.read(call("nope", "get", {}))), "UnknownContract");
    assert.equal(codeOf(engine.read(call("counter", "nope", {}))), "UnknownMethod");
  });
});

describe("ExecutionEngine KV operations", () => {
  test("a follower applying the leader's write sets reaches the same state", async () => {
    const leader = await openEngine();
    const follower = await openEngine();
    try {
      const ledger = new TestLedger();
      ledger.record(
        leader.executeBatch(1, 1, [
          call("counter", "add", { key: "a", by: 1 }, { nonce: "1" }),
          call("counter", "add", { key: "b", by: 2 }),
        ]),
      );
      follower.apply(ledger.entries);
      assert.equal(follower.appliedVersion, 2);
      assert.deepEqual(follower.scan("counter.counters"), leader.scan("counter.counters"));
      assert.deepEqual(follower.scan(INTERNAL.nonceLog), leader.scan(INTERNAL.nonceLog));
      assert.equal(follower.scan(INTERNAL.nonceLog).length, 1);
      const replay = follower.executeBatch(2, 3, [
        call("counter", "add", { key: "a", by: 1 }, { nonce: "1" }),
      ]);
      assert.equal(codeOf(replay[0]), "Replay", "a new leader knows the nonces it replicated");
    } finally {
      await leader.close();
      await follower.close();
    }
  });

  test("scan honours its limit and refuses bad ones", async () => {
    const engine = await openEngine();
    try {
      engine.executeBatch(
        1,
        1,
        ["c", "a", "b"].map((key) => call("counter", "add", { key, by: 1 })),
      );
      const keys = engine.scan("counter.counters").map(([key]) => utf8.decode(key));
      assert.equal(keys.length, 3);
      assert.deepEqual(keys, [...keys].sort());
      assert.equal(engine.scan("counter.counters", 2).length, 2);
      assert.equal(engine.scan("counter.counters", 0).length, 0);
      assert.deepEqual(engine.scan("nothing.here"), []);
      for (const bad of [-1, 1.5, Number.NaN]) {
        assert.throws(() => engine.scan("counter.counters", bad), {
          name: "TreatyError",
          code: "InvalidArgs",
        });
      }
      assert.equal(engine.get("counter.counters", utf8.encode("missing")), undefined);
    } finally {
      await engine.close();
    }
  });

  test("rollback drops uncommitted versions; commit persists across a reopen (LMDB)", async () => {
    const path = dirs.make();
    const engine = await openEngine(path);
    try {
      engine.executeBatch(1, 1, [
        call("counter", "add", { key: "k", by: 1 }),
        call("counter", "add", { key: "k", by: 1 }),
      ]);
      await engine.commit(2);
      assert.equal(engine.committedVersion, 2);
      engine.executeBatch(1, 3, [
        call("counter", "add", { key: "k", by: 1 }),
        call("counter", "add", { key: "k", by: 1 }),
      ]);
      assert.equal(counterValue(engine, "k"), 4);
      engine.rollback(3);
      assert.equal(engine.appliedVersion, 3);
      assert.equal(counterValue(engine, "k"), 3);
      assert.throws(() => engine.rollback(1), AssertionFailure, "never below committed");
    } finally {
      await engine.close();
    }
    const reopened = await openEngine(path);
    try {
      assert.equal(reopened.committedVersion, 2);
      assert.equal(reopened.appliedVersion, 2);
      assert.equal(counterValue(reopened, "k"), 2, "only committed versions survive");
    } finally {
      await reopened.close();
    }
  });

  test("a host failure mid-batch rolls the whole batch back", async () => {
    const engine = await openEngine(null, {
      beforeCall: (c: { method: string }) => {
        if (c.method === "explode") throw new Error("host bug");
      },
    });
    try {
      engine.executeBatch(1, 1, [call("counter", "add", { key: "h", by: 1 })]);
      assert.throws(
        () =>
          engine.executeBatch(1, 2, [
            call("counter", "add", { key: "h", by: 1 }),
            call("counter", "explode", { key: "h" }),
            call("counter", "add", { key: "h", by: 1 }),
          ]),
        /host bug/,
      );
      assert.equal(engine.appliedVersion, 1);
      assert.equal(counterValue(engine, "h"), 1);
    } finally {
      await engine.close();
    }
  });

  test("the sample log contract runs with private and public maps", async () => {
    const engine = await ExecutionEngine.open({ kvPath: null, limits: TEST_LIMITS });
    try {
      const manifest = await engine.loadContract("log", logBundle());
      assert.equal(manifest.methods.writePrivate?.mode, "readwrite");
      const results = engine.executeBatch(1, 1, [
        call("log", "writePrivate", { id: 1, msg: "secret" }),
        call("log", "writePublic", { id: 1, msg: "hello" }),
      ]);
      assert.deepEqual(
        results.map((r) => okResult(r).seqno),
        [1, 2],
      );
      assert.deepEqual(
        okResult(results[0]).writeSet.private.map((m) => m.map),
        ["log.messages"],
      );
      assert.deepEqual(
        okResult(results[1]).writeSet.public.map((m) => m.map),
        ["public:log.messages"],
      );
      assert.deepEqual(okResult(engine.read(call("log", "readPrivate", { id: 1 }))).result, {
        msg: "secret",
      });
      assert.equal(codeOf(engine.read(call("log", "readPublic", { id: 2 }))), "MessageNotFound");
      assert.deepEqual(engine.contracts(), ["log"]);
      assert.equal(engine.unloadContract("log"), true);
      assert.equal(codeOf(engine.read(call("log", "readPrivate", { id: 1 }))), "UnknownContract");
    } finally {
      await engine.close();
    }
  });

  test("loading a broken bundle is InvalidContract; a closed engine is Unavailable", async () => {
    const engine = await ExecutionEngine.open({ kvPath: null, limits: TEST_LIMITS });
    await assert.rejects(engine.loadContract("broken", "this is not a bundle("), {
      name: "TreatyError",
      code: "InvalidContract",
    });
    await assert.rejects(engine.loadContract("gov", counterBundle()), { code: "InvalidContract" });
    await assert.rejects(engine.setLimits({ ...TEST_LIMITS, wallClockMs: 0 }), { code: "InvalidArgs" });
    await engine.close();
    await engine.close();
    assert.throws(() => engine.read(call("counter", "get", { key: "a" })), { code: "Unavailable" });
  });
});
