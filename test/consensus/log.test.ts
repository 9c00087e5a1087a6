import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ConsensusLog } from "../../node/consensus/log.js";
import type { Entry } from "../../node/consensus/index.js";

function entry(view: number, seqno: number, kind: "data" | "sig" | "config" = "data"): Entry {
  const base = { view, seqno, signature: kind === "sig", payload: new Uint8Array([seqno & 255]) };
  return kind === "config" ? { ...base, config: [`n${seqno}`] } : base;
}

/** Builds a log from `views` (one per seqno) with kinds cycling data/sig/config by `kinds`. */
function build(views: number[], kinds: ("data" | "sig" | "config")[] = []): ConsensusLog {
  const log = new ConsensusLog();
  log.append(views.map((v, i) => entry(v, i + 1, kinds[i] ?? "data")));
  return log;
}

test("empty log: seqno 0 is view 0, nothing beyond", () => {
  const log = new ConsensusLog();
  assert.equal(log.lastSeqno, 0);
  assert.equal(log.lastView, 0);
  assert.equal(log.viewAt(0), 0);
  assert.equal(log.viewAt(1), undefined);
  assert.equal(log.lastSignatureAtOrBefore(10), 0);
  assert.equal(log.latestConfig(), undefined);
  assert.deepEqual(log.viewHistory(), []);
});

test("view history records the first seqno of each view and shrinks on truncation", () => {
  const log = build([1, 2, 2, 4, 4, 4]);
  assert.deepEqual(log.viewHistory(), [
    { view: 1, startSeqno: 1 },
    { view: 2, startSeqno: 2 },
    { view: 4, startSeqno: 4 },
  ]);
  log.truncateFrom(5);
  assert.deepEqual(log.viewHistory().at(-1), { view: 4, startSeqno: 4 });
  log.truncateFrom(4);
  assert.deepEqual(log.viewHistory().at(-1), { view: 2, startSeqno: 2 });
  log.checkConsistency();
});

test("signature and configuration indexes follow appends and truncations", () => {
  const log = build([1, 1, 2, 2, 2], ["config", "sig", "data", "config", "sig"]);
  assert.equal(log.lastSignatureAtOrBefore(4), 2);
  assert.equal(log.lastSignatureAtOrBefore(5), 5);
  assert.deepEqual(log.latestConfig(), { seqno: 4, nodes: ["n4"] });
  assert.deepEqual(log.configAt(3), { seqno: 1, nodes: ["n1"] });
  assert.deepEqual(
    log.configsSince(2).map((c) => c.seqno),
    [1, 4],
  );
  log.truncateFrom(4);
  assert.deepEqual(log.latestConfig(), { seqno: 1, nodes: ["n1"] });
  assert.equal(log.lastSignatureAtOrBefore(10), 2);
  log.checkConsistency();
});

test("slice respects entry and byte bounds but always moves at least one entry", () => {
  const log = new ConsensusLog();
  log.append([1, 2, 3, 4].map((s) => ({ view: 1, seqno: s, signature: false, payload: new Uint8Array(10) })));
  assert.equal(log.slice(1, 3, 1000).length, 3);
  assert.equal(log.slice(1, 10, 25).length, 2);
  assert.equal(log.slice(2, 10, 5).length, 1);
  assert.equal(log.slice(5, 10, 100).length, 0);
});

test("storage acks only count while the acknowledged entry is still in the log", () => {
  const log = build([1, 2, 2]);
  assert.equal(log.markPersisted(3, 2), true);
  assert.equal(log.persistedSeqno, 3);
  log.truncateFrom(2);
  assert.equal(log.persistedSeqno, 1, "truncation pulls the persisted point back");
  log.append([entry(3, 2)]);
  assert.equal(log.markPersisted(2, 2), false, "an ack for the replaced entry is ignored");
  assert.equal(log.markPersisted(2, 3), true);
  assert.equal(log.markPersisted(1, 1), false, "acks never move the point backwards");
  assert.equal(log.persistedSeqno, 2);
});

/** Non-decreasing view sequences of length 0..40 with views 1..6. */
const viewsArb = fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 40 }).map((steps) => {
  let v = 1;
  return steps.map((d) => (v += d === 2 ? 1 : 0));
});

test("property: lastSeqnoWithViewAtMost matches a linear scan", () => {
  fc.assert(
    fc.property(viewsArb, fc.nat(45), fc.nat(8), (views, seqno, view) => {
      const log = build(views);
      let expected = 0;
      for (let s = 1; s <= Math.min(seqno, views.length); s++) if (views[s - 1]! <= view) expected = s;
      assert.equal(log.lastSeqnoWithViewAtMost(seqno, view), expected);
    }),
  );
});

test("property: indexes stay consistent through random appends and truncations", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("append" as const),
      count: fc.nat(5),
      bump: fc.boolean(),
      sig: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(30) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const log = new ConsensusLog();
      const model: Entry[] = [];
      for (const o of ops) {
        if (o.kind === "append") {
          const view = log.lastView + (o.bump || log.lastView === 0 ? 1 : 0);
          const batch = Array.from({ length: o.count }, (_, i) =>
            entry(
              view,
              log.lastSeqno + 1 + i,
              o.sig && i === o.count - 1 ? "sig" : i === 0 ? "config" : "data",
            ),
          );
          log.append(batch);
          model.push(...batch);
        } else if (o.at >= 1) {
          log.truncateFrom(o.at);
          model.length = Math.min(model.length, o.at - 1);
        }
        log.checkConsistency();
        assert.equal(log.lastSeqno, model.length);
        const sigs = model.filter((e) => e.signature).map((e) => e.seqno);
        assert.equal(log.lastSignatureAtOrBefore(log.lastSeqno), sigs.at(-1) ?? 0);
        const configs = model.filter((e) => e.config !== undefined);
        assert.equal(log.latestConfig()?.seqno, configs.at(-1)?.seqno);
      }
    }),
  );
});
