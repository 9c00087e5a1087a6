/**
 * `committedMaps`: the committed rows of a family of maps, which a restarted node loads its
 * governance view from instead of replaying the ledger. Uncommitted versions never show, and a
 * map whose rows were all deleted by an uncommitted version still does.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { GovView } from "../../node/gov/view.js";
import { TempDirs, TEST_LIMITS } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const row = (key: string, value: unknown) => [utf8.encode(key), utf8.encode(JSON.stringify(value))] as const;

test("committed rows only, by prefix, and a GovView loaded from them equals the folded one", async () => {
  const engine = await ExecutionEngine.open({ kvPath: dirs.make(), limits: TEST_LIMITS });
  try {
    const v1 = {
      public: [
        {
          map: "public:gov.members",
          writes: [row("m0", { status: "active" }), row("m1", { status: "active" })],
        },
        { map: "public:gov.service", writes: [row("current", { status: "open" })] },
        { map: "public:other.table", writes: [row("x", 1)] },
      ],
      private: [],
    };
    const v2 = {
      public: [{ map: "public:gov.members", writes: [row("m2", { status: "active" })] }],
      private: [],
    };
    const v3 = {
      public: [{ map: "public:gov.service", writes: [[utf8.encode("current"), null] as const] }],
      private: [],
    };
    engine.apply([
      { version: 1, writeSet: v1 },
      { version: 2, writeSet: v2 },
      { version: 3, writeSet: v3 },
    ]);
    await engine.commit(2);
    const { version, maps } = engine.committedMaps("public:gov.");
    assert.equal(version, 2);
    assert.deepEqual(
      maps.map((m) => [m.map, m.writes.map(([k]) => utf8.decode(k))]),
      [
        ["public:gov.members", ["m0", "m1", "m2"]],
        ["public:gov.service", ["current"]],
      ],
    );
    const loaded = new GovView();
    loaded.loadState(version, maps);
    const folded = new GovView();
    folded.applyWrites(v1.public);
    folded.applyWrites(v2.public);
    for (const table of ["public:gov.members", "public:gov.service"])
      assert.deepEqual(loaded.rows(table), folded.rows(table), table);
    assert.equal(loaded.seqno, 2);
    assert.throws(() => loaded.loadState(3, []), /loadState starts an empty view/);
  } finally {
    await engine.close();
  }
});
