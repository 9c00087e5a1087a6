/**
 * node/snapshot/rows.ts: the worker's encoder writes exactly the bytes of
 * `encode(writesToWire(maps))`, and format.ts's sliced encoder builds from those parts the body
 * the format defines (reference-body.ts builds it the plain way): the format and the digests
 * stay what they were.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { concatBytes } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { writesToWire } from "../../runtime/ledger/entry.js";
import { LedgerSecret } from "../../runtime/ledger/secrets.js";
import { MapsEncoder } from "../../node/snapshot/rows.js";
import { bodyDigest, encodeBodyPartsSliced } from "../../node/snapshot/format.js";
import { referenceBody } from "./reference-body.js";

/**
 * Hands `out` one row as a pinned scan does: the key and the value as places inside larger
 * arrays (bytes around them that are not the row's).
 */
function rowInto(out: MapsEncoder, key: Uint8Array, value: Uint8Array): void {
  const keys = new Uint8Array(key.length + 7).fill(0xaa);
  keys.set(key, 3);
  const values = new Uint8Array(value.length + 5).fill(0xbb);
  values.set(value, 1);
  out.row(keys, 3, 3 + key.length, values, 1, 1 + value.length);
}

function encodeWith(maps: readonly MapWrites[], expectedBytes?: number): Uint8Array {
  const out = new MapsEncoder(expectedBytes);
  for (const m of maps) {
    out.beginMap(m.map);
    for (const [key, value] of m.writes) {
      rowInto(out, key, value!);
      assert.deepEqual(out.lastKey(), key, "the last key, for the next read to start after");
    }
  }
  return out.finish();
}

/** Same bytes (msgpackr returns a Buffer, the encoder a plain Uint8Array). */
function assertSameBytes(got: Uint8Array, expected: Uint8Array): void {
  assert.ok(Buffer.from(got.buffer, got.byteOffset, got.length).equals(expected), "same bytes");
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
/** Lengths across every msgpack header size: fix, 8, 16 and 32 bits. */
const sizedBytes = fc.oneof(
  { weight: 8, arbitrary: bytes(40) },
  { weight: 2, arbitrary: bytes(300) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 65_530, max: 65_540 }).map((n) => new Uint8Array(n).fill(n % 251)),
  },
);
const mapName = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 120 }),
  fc.integer({ min: 250, max: 300 }).map((n) => `m${"é".repeat(n)}`),
);
const maps = fc
  .uniqueArray(
    fc.record({
      map: mapName,
      writes: fc.uniqueArray(fc.tuple(bytes(24), sizedBytes), {
        minLength: 0,
        maxLength: 40,
        selector: ([key]) => Buffer.from(key).toString("hex"),
      }),
    }),
    { maxLength: 20, selector: (m) => m.map },
  )
  .map((list) =>
    list
      .map((m) => ({
        map: m.map,
        writes: [...m.writes].sort(([a], [b]) => Buffer.compare(a, b)) as [Uint8Array, Uint8Array][],
      }))
      .sort((a, b) => (a.map < b.map ? -1 : 1)),
  );

test("MapsEncoder writes the bytes of encode(writesToWire(maps)), leaving out maps without rows", () => {
  fc.assert(
    fc.property(maps, (list) => {
      const withRows = list.filter((m) => m.writes.length > 0);
      assertSameBytes(encodeWith(list), encode(writesToWire(withRows)));
    }),
    { numRuns: 150 },
  );
});

test("MapsEncoder gives the same bytes whatever size it expected (none, too small, exact, too large)", () => {
  fc.assert(
    fc.property(maps, fc.nat({ max: 200_000 }), (list, expected) => {
      const withRows = list.filter((m) => m.writes.length > 0);
      const reference = encode(writesToWire(withRows));
      const out = new MapsEncoder(expected);
      for (const m of list) {
        out.beginMap(m.map);
        for (const [key, value] of m.writes) rowInto(out, key, value!);
      }
      const rowBytes = out.rowBytes;
      assertSameBytes(out.finish(), reference);
      // The rows' bytes, as the next read expects them: exactly this encoder's rows.
      assertSameBytes(encodeWith(list, rowBytes), reference);
    }),
    { numRuns: 80 },
  );
});

test("MapsEncoder: array headers of 16 and 32 bits (many maps, many rows)", () => {
  const many: MapWrites[] = Array.from({ length: 17 }, (_, i) => ({
    map: `m${String(i).padStart(3, "0")}`,
    writes: Array.from({ length: i === 3 ? 70_000 : 16 }, (_, j) => {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, j);
      return [key, Uint8Array.of(j % 256)] as [Uint8Array, Uint8Array];
    }),
  }));
  assertSameBytes(encodeWith(many), encode(writesToWire(many)));
  const buffer = encodeWith(many);
  assert.equal(buffer.byteOffset, 0);
  assert.equal(
    buffer.buffer.byteLength,
    buffer.length,
    "the buffer owns its whole SharedArrayBuffer (shared with the main thread as it is)",
  );
  assert.ok(buffer.buffer instanceof SharedArrayBuffer, "posted without a copy and without a detach");
});

test("the body built from the encoder's parts is the reference body", async () => {
  const secret = new LedgerSecret(3, new Uint8Array(32).fill(5));
  const state = {
    seqno: 120,
    view: 4,
    frontier: [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)],
    views: [{ view: 4, startSeqno: 1 }],
    config: { seqno: 1, nodes: ["a", "b"] },
  };
  await fc.assert(
    fc.asyncProperty(maps, maps, async (publicMaps, privateMaps) => {
      const pub = publicMaps
        .filter((m) => m.writes.length > 0)
        .map((m) => ({ ...m, map: `public:${m.map}` }))
        .sort((a, b) => (a.map < b.map ? -1 : 1));
      const priv = privateMaps.filter((m) => m.writes.length > 0 && !m.map.startsWith("public:"));
      const expected = referenceBody({ ...state, public: pub, private: priv }, secret);
      const got = await encodeBodyPartsSliced(
        state,
        encodeWith(pub),
        priv.length === 0 ? null : encodeWith(priv),
        secret,
        async () => undefined,
      );
      assertSameBytes(concatBytes(...got.parts), expected);
    }),
    { numRuns: 40 },
  );
});

test("encodeBodyPartsSliced gives the reference body and its digest, across slices", async () => {
  const secret = new LedgerSecret(2, new Uint8Array(32).fill(6));
  const big = (n: number, fill: number): MapWrites[] => [
    { map: "m", writes: [[Uint8Array.of(1), new Uint8Array(n).fill(fill)]] as [Uint8Array, Uint8Array][] },
  ];
  let pauses = 0;
  const pause = async () => {
    pauses++;
  };
  for (const [config, pub, priv] of [
    [null, [] as MapWrites[], [] as MapWrites[]],
    [{ seqno: 3, nodes: ["x"] }, big(10, 1), big(20, 2)],
    [{ seqno: 9, nodes: ["a", "b", "c"] }, big(9_000_000, 3), big(5_000_000, 4)],
  ] as const) {
    const state = {
      seqno: 2 ** 33 + 7,
      view: 12,
      frontier: [new Uint8Array(32).fill(8)],
      views: [
        { view: 1, startSeqno: 1 },
        { view: 12, startSeqno: 40 },
      ],
      config,
    };
    const publicBytes = encode(writesToWire(pub));
    const privateBytes = priv.length === 0 ? null : encode(writesToWire(priv));
    const expected = referenceBody({ ...state, public: pub, private: priv }, secret);
    const got = await encodeBodyPartsSliced(state, publicBytes, privateBytes, secret, pause);
    assertSameBytes(concatBytes(...got.parts), expected);
    assert.ok(got.parts.includes(publicBytes), "the public rows are a part as they are, not copied");
    assertSameBytes(got.digest, bodyDigest(expected));
  }
  assert.ok(pauses > 6, "the large body was built in several slices");
});

test("MapsEncoder: a finished encoder's buffer serves the next one, which writes only its own rows", () => {
  const big: MapWrites[] = [
    {
      map: "m",
      writes: Array.from({ length: 500 }, (_, i) => [
        Uint8Array.of(i >> 8, i & 255),
        new Uint8Array(90).fill(i % 256),
      ]),
    },
  ];
  const first = new MapsEncoder();
  first.beginMap("m");
  for (const [key, value] of big[0]!.writes) rowInto(first, key, value!);
  const rowBytes = first.rowBytes;
  first.finish();
  assert.throws(() => rowInto(first, Uint8Array.of(1), Uint8Array.of(2)), /before finish/);
  const small: MapWrites[] = [{ map: "m", writes: [[Uint8Array.of(0), Uint8Array.of(7)]] }];
  // Expecting the first one's size: its buffer (with the first rows' bytes still in it) is taken.
  assertSameBytes(encodeWith(small, rowBytes), encode(writesToWire(small)));
  assertSameBytes(encodeWith(big, rowBytes), encode(writesToWire(big)));
});
