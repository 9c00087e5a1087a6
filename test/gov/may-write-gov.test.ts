/**
 * The governance fold skips an entry's public part without decoding it when `mayWriteGov` says
 * it names no governance table and not the configuration map (node/gov/view.ts): that must never
 * skip an entry the fold would change anything for.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { utf8 } from "../../sdk/bytes.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { encodeWrites } from "../../runtime/ledger/entry.js";
import { GOV_PREFIX, GovView, mayWriteGov } from "../../node/gov/view.js";
import { CONFIG_KEY, CONFIG_MAP } from "../../node/replica.js";
import { GOV } from "../../node/gov/tables.js";

const key = (s: string) => utf8.encode(s);

describe("mayWriteGov", () => {
  it("is false for a contract's writes and true for a governance table or the configuration", () => {
    const contract: MapWrites[] = [{ map: "public:log.entries", writes: [[key("a"), key("b")]] }];
    assert.equal(mayWriteGov(encodeWrites(contract, true)), false);
    assert.equal(mayWriteGov(encodeWrites([], true)), false);
    const users: MapWrites = { map: GOV.users, writes: [[key("u"), null]] };
    const gov = [...contract, users].sort((a, b) => (a.map < b.map ? -1 : 1));
    assert.equal(mayWriteGov(encodeWrites(gov, true)), true);
    const config: MapWrites[] = [{ map: CONFIG_MAP, writes: [[key(CONFIG_KEY), key('["n1"]')]] }];
    assert.equal(mayWriteGov(encodeWrites(config, true)), true);
    // A key holding the bytes is a false positive: the fold decodes and finds nothing.
    const lookalike: MapWrites[] = [{ map: "public:log.entries", writes: [[key("public:gov.x"), null]] }];
    assert.equal(mayWriteGov(encodeWrites(lookalike, true)), true);
    // Only the part's own bytes count: a name just outside the view (the entry around it) does not.
    const part = encodeWrites(contract, true);
    const name = utf8.encode(GOV.users);
    const around = new Uint8Array(name.length + part.length + name.length);
    around.set(name, 0);
    around.set(part, name.length);
    around.set(name, name.length + part.length);
    assert.equal(mayWriteGov(around.subarray(name.length, name.length + part.length)), false);
    // The prefix cut by the part's end (its last byte in what follows) is not in the part.
    const cut = name.length + part.length + GOV_PREFIX.length - 1;
    assert.equal(mayWriteGov(around.subarray(name.length, cut)), false);
    assert.equal(mayWriteGov(around.subarray(name.length, cut + 1)), true, "the whole prefix");
    assert.equal(mayWriteGov(around.subarray(name.length)), true, "at the very end");
  });

  it("never says false for public writes the governance view folds a table from", () => {
    const mapName = fc.oneof(
      fc.constantFrom(GOV.users, GOV.members, GOV.contracts, CONFIG_MAP, "public:log.entries", "public:gov."),
      fc.string({ maxLength: 12 }).map((s) => `public:${s}`),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(mapName, fc.string({ minLength: 1, maxLength: 8 }).map(key)), {
          selector: ([m]) => m,
          maxLength: 5,
        }),
        (maps) => {
          const writes: MapWrites[] = maps
            .map(([map, k]): MapWrites => ({ map, writes: [[k, null]] }))
            .sort((a, b) => (a.map < b.map ? -1 : a.map > b.map ? 1 : 0));
          const touched = new GovView().applyWrites(writes);
          if (touched.size > 0) assert.equal(mayWriteGov(encodeWrites(writes, true)), true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("GovView.applyCommitted", () => {
  it("touches what applyWrites touches, the view alike; nothing made for an entry it does not fold", () => {
    const mapName = fc.constantFrom(
      GOV.users,
      GOV.members,
      CONFIG_MAP,
      "public:log.entries",
      "public:a",
      "public:gov.",
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.uniqueArray(fc.tuple(mapName, fc.string({ minLength: 1, maxLength: 4 })), {
            selector: ([m]) => m,
            maxLength: 3,
          }),
          { maxLength: 6 },
        ),
        (entries) => {
          const byWrites = new GovView();
          const byCommit = new GovView();
          entries.forEach((maps, i) => {
            const writes: MapWrites[] = maps
              .map(
                ([map, k]): MapWrites => ({
                  map,
                  writes: [[key(map === CONFIG_MAP ? CONFIG_KEY : k), key(JSON.stringify([k]))]],
                }),
              )
              .sort((a, b) => (a.map < b.map ? -1 : a.map > b.map ? 1 : 0));
            const touched = byWrites.applyWrites(writes);
            const tables = byCommit.applyCommitted(i + 1, writes);
            assert.deepEqual([...tables].sort(), [...touched].sort());
            if (touched.size === 0)
              assert.equal(tables, byCommit.applyCommitted(i + 1, []), "the shared empty set");
            assert.equal(byCommit.seqno, i + 1);
          });
          assert.deepEqual(byCommit.config(), byWrites.config());
          for (const table of [GOV.users, GOV.members, "public:gov."])
            assert.deepEqual(byCommit.rows(table), byWrites.rows(table));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("someRow answers as rows().some does, without a table or with one", () => {
    const view = new GovView();
    const retiring = (r: { status?: string }) => r.status === "retiring";
    assert.equal(view.someRow(GOV.nodes, retiring), false, "no table");
    const row = (id: string, status: string): MapWrites => ({
      map: GOV.nodes,
      writes: [[key(id), key(JSON.stringify({ status }))]],
    });
    view.applyWrites([row("a", "trusted")]);
    view.applyWrites([row("b", "pending")]);
    const some = () => view.rows<{ status?: string }>(GOV.nodes).some(([, r]) => retiring(r));
    assert.equal(view.someRow(GOV.nodes, retiring), false);
    assert.equal(some(), false);
    view.applyWrites([row("c", "retiring")]);
    assert.equal(view.someRow(GOV.nodes, retiring), true);
    assert.equal(some(), true);
    view.applyWrites([{ map: GOV.nodes, writes: [[key("c"), null]] }]);
    assert.equal(view.someRow(GOV.nodes, retiring), false, "the row deleted");
  });
});
