/**
 * The write-set codec: round trips, canonical bytes, and a table of hostile inputs that must all
 * fail with a stable code naming the field, never crash.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { KEY_BYTES_LIMIT } from "../../runtime/kv/limits.js";
import { KvStore } from "../../runtime/kv/store.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import {
  checkWriteSet,
  decodeMapWrites,
  decodeWriteSet,
  EMPTY_WRITE_SET,
  encodeMapWrites,
  encodeWriteSet,
  isEmptyWriteSet,
} from "../../runtime/kv/write-set.js";
import { isTreatyError } from "../../sdk/errors.js";
import { equalBytes } from "../../sdk/bytes.js";
import { decode, encode } from "../../sdk/codec.js";
import { b, throwsCode } from "./fixtures.js";

/** Arbitrary well-formed write sets, built through a real transaction so they are canonical. */
const writeSetArb: fc.Arbitrary<WriteSet> = fc
  .array(
    fc.record({
      map: fc.constantFrom("a", "b", "é", "public:a", "public:gov.members", "z\u0001"),
      key: fc.uint8Array({ maxLength: 4 }),
      value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }),
    }),
    { maxLength: 20 },
  )
  .map((ops) => {
    const store = KvStore.open(null);
    const tx = store.begin();
    for (const { map, key, value } of ops) {
      if (value === null) tx.delete(map, key);
      else tx.set(map, key, value);
    }
    const ws = tx.writeSet();
    void store.close();
    return ws;
  });

function wire(value: unknown): Uint8Array {
  return encode(value);
}

/** Decoded MessagePack with every byte array turned into a number array, for deep comparison. */
function plainDecode(bytes: Uint8Array): unknown {
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return [...v];
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(decode(bytes));
}

describe("write-set codec", () => {
  it("round-trips and re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(writeSetArb, (ws) => {
        const bytes = encodeWriteSet(ws);
        const back = decodeWriteSet(bytes);
        assert.deepEqual(back, ws);
        // Compared as bytes: msgpackr caches a `dataView` property on arrays it decodes.
        assert.ok(equalBytes(encodeWriteSet(back), bytes), "re-encoding gives the same bytes");
        assert.equal(bytes.constructor, Uint8Array);
        for (const part of [back.public, back.private]) {
          for (const m of part) {
            for (const [k, v] of m.writes) {
              assert.equal(k.constructor, Uint8Array);
              if (v !== null) assert.equal(v.constructor, Uint8Array);
            }
          }
        }
        assert.deepEqual(decodeMapWrites(encodeMapWrites(ws.public, "public"), "public"), ws.public);
        assert.deepEqual(decodeMapWrites(encodeMapWrites(ws.private, "private"), "private"), ws.private);
      }),
      { numRuns: 150 },
    );
  });

  it("uses the ledger's per-part layout: [[map, [[key, value | nil]]]]", () => {
    const part: MapWrites[] = [
      {
        map: "a",
        writes: [
          [b(1), b(2)],
          [b(3), null],
        ],
      },
    ];
    const wirePart = [
      [
        "a",
        [
          [[1], [2]],
          [[3], null],
        ],
      ],
    ];
    assert.deepEqual(plainDecode(encodeMapWrites(part, "private")), wirePart);
    assert.deepEqual(plainDecode(encodeWriteSet({ public: [], private: part })), {
      public: [],
      private: wirePart,
    });
  });

  it("knows the empty write set", () => {
    assert.equal(isEmptyWriteSet(EMPTY_WRITE_SET), true);
    assert.equal(isEmptyWriteSet({ public: [], private: [{ map: "a", writes: [[b(), null]] }] }), false);
    assert.deepEqual(decodeWriteSet(encodeWriteSet(EMPTY_WRITE_SET)), { public: [], private: [] });
  });

  it("checks a map name's domain and order every time, however often the name was seen", () => {
    const good: WriteSet = { public: [{ map: "public:a", writes: [[b(1), null]] }], private: [] };
    for (let i = 0; i < 3; i++) checkWriteSet(good);
    // A name accepted before (so not checked again for its encoding) in the wrong part.
    assert.throws(() => checkWriteSet({ public: [], private: good.public }), /private part/);
    // More names than the accepted-name memory holds: bad names are still refused after.
    for (let i = 0; i < 3000; i++)
      checkWriteSet({ public: [], private: [{ map: `m${i}`, writes: [[b(1), null]] }] });
    assert.throws(
      () => checkWriteSet({ public: [], private: [{ map: "a\u0000", writes: [[b(1), null]] }] }),
      /U\+0000/,
    );
    assert.throws(
      () => checkWriteSet({ public: [], private: [{ map: "m".repeat(257), writes: [[b(1), null]] }] }),
      /257 bytes/,
    );
    checkWriteSet({ public: [], private: [{ map: "m7", writes: [[b(1), null]] }] });
  });

  const hostile: [string, unknown, string][] = [
    ["not a map", [1, 2], "expected a map"],
    ["binary at the top", b(1), "expected a map"],
    ["missing private", { public: [] }, "exactly the fields"],
    ["extra field", { public: [], private: [], x: 1 }, "exactly the fields"],
    ["part not an array", { public: {}, private: [] }, "writeSet.public"],
    ["map entry not a pair", { public: [], private: [["a"]] }, "writeSet.private[0]"],
    ["writes not an array", { public: [], private: [["a", "x"]] }, "writeSet.private[0]"],
    ["map name not a string", { public: [], private: [[7, [[b(1), null]]]] }, "writeSet.private[0].map"],
    ["empty map name", { public: [], private: [["", [[b(1), null]]]] }, "empty"],
    ["NUL in map name", { public: [], private: [["a\u0000", [[b(1), null]]]] }, "U+0000"],
    ["long map name", { public: [], private: [["m".repeat(257), [[b(1), null]]]] }, "257 bytes"],
    ["public map in private part", { public: [], private: [["public:a", [[b(1), null]]]] }, "private part"],
    ["private map in public part", { public: [["a", [[b(1), null]]]], private: [] }, "public part"],
    [
      "maps out of order",
      {
        public: [],
        private: [
          ["b", [[b(1), null]]],
          ["a", [[b(1), null]]],
        ],
      },
      "out of order",
    ],
    [
      "repeated map",
      {
        public: [],
        private: [
          ["a", [[b(1), null]]],
          ["a", [[b(2), null]]],
        ],
      },
      "out of order or repeated",
    ],
    ["no writes", { public: [], private: [["a", []]] }, "non-empty"],
    ["write not a pair", { public: [], private: [["a", [[b(1)]]]] }, "writes[0]"],
    ["key not bytes", { public: [], private: [["a", [["k", null]]]] }, "key bytes"],
    ["value a number", { public: [], private: [["a", [[b(1), 5]]]] }, "value bytes"],
    [
      "keys out of order",
      {
        public: [],
        private: [
          [
            "a",
            [
              [b(2), null],
              [b(1), null],
            ],
          ],
        ],
      },
      "out of order",
    ],
    [
      "repeated key",
      {
        public: [],
        private: [
          [
            "a",
            [
              [b(1), null],
              [b(1), b(2)],
            ],
          ],
        ],
      },
      "repeated",
    ],
    [
      "key over the limit",
      { public: [], private: [["a", [[new Uint8Array(KEY_BYTES_LIMIT + 1), null]]]] },
      "1722 bytes",
    ],
  ];

  for (const [name, value, part] of hostile) {
    it(`refuses ${name} with MalformedEncoding (or the code asked for) naming the field`, () => {
      throwsCode(() => decodeWriteSet(wire(value)), "MalformedEncoding", part);
      throwsCode(
        () => decodeWriteSet(wire(value), { code: "LedgerCorrupt", field: "entry 7" }),
        "LedgerCorrupt",
      );
    });
  }

  it("refuses bytes that are not one MessagePack value", () => {
    for (const bytes of [
      b(),
      b(0xc1),
      b(0x92, 0x01),
      Uint8Array.of(...encode({ public: [], private: [] }), 0),
    ]) {
      throwsCode(() => decodeWriteSet(bytes), "MalformedEncoding", "writeSet");
      throwsCode(() => decodeWriteSet(bytes, { code: "LedgerCorrupt" }), "LedgerCorrupt", "writeSet");
    }
    throwsCode(() => decodeWriteSet("text" as unknown as Uint8Array), "MalformedEncoding");
  });

  it("never crashes on random bytes or mutated encodings", () => {
    const onlyTreatyErrors = (bytes: Uint8Array) => {
      try {
        const ws = decodeWriteSet(bytes);
        checkWriteSet(ws);
      } catch (err) {
        if (!isTreatyError(err, "MalformedEncoding")) throw err;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), onlyTreatyErrors), { numRuns: 300 });
    fc.assert(
      fc.property(writeSetArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (ws, at, byte) => {
        const bytes = encodeWriteSet(ws).slice();
        bytes[at % bytes.length] = byte;
        onlyTreatyErrors(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses to encode a malformed write set, and checks the domain of a part", () => {
    throwsCode(
      () =>
        encodeWriteSet({
          public: [],
          private: [
            {
              map: "a",
              writes: [
                [b(2), null],
                [b(1), null],
              ],
            },
          ],
        }),
      "MalformedEncoding",
      "out of order",
    );
    throwsCode(
      () => encodeMapWrites([{ map: "a", writes: [[b(1), null]] }], "public"),
      "MalformedEncoding",
      "public",
    );
    const bytes = encodeMapWrites([{ map: "a", writes: [[b(1), null]] }], "private");
    throwsCode(() => decodeMapWrites(bytes, "public"), "MalformedEncoding", "public part");
    throwsCode(() => checkWriteSet(undefined), "MalformedEncoding", "expected {public, private}");
  });
});
