/**
 * The direct readers of an entry's outer map and header (runtime/ledger/entry-read.ts) must give
 * exactly what the codec's `decodeViews` gives for every input they accept, and accept every
 * entry this code writes with ASCII strings (else the fast path would silently stop being used).
 * Inputs they do not accept (other layouts, damage) go to the codec, so `decodeEntry`'s errors do
 * not change: checked here on altered, truncated and extended bytes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeViews, encode } from "../../sdk/codec.js";
import { readHeader, readOuter, readPrivatePart, readWrites } from "../../runtime/ledger/entry-read.js";
import { decodeEntry, encodeEntry, encodeOuter, writesToWire } from "../../runtime/ledger/entry.js";

/** What the codec decodes, or "throws". */
function codec(bytes: Uint8Array): unknown {
  try {
    return decodeViews(bytes);
  } catch {
    return "throws";
  }
}

/** The reader agrees with the codec wherever it answers. */
function agrees(read: unknown, bytes: Uint8Array): void {
  if (read === undefined) return;
  assert.deepStrictEqual(read, codec(bytes));
}

const ascii = fc.string({ unit: fc.constantFrom(..."abcXYZ09_-.:/ ~".split("")), maxLength: 300 });
const anyString = fc.oneof(ascii, fc.string({ unit: "grapheme", maxLength: 40 }));
/** Numbers a header holds (non-negative: the reader leaves negative ones to the codec). */
const number = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 1.5),
  fc.nat(),
  fc.integer({ min: 0, max: 2 ** 50 }),
);
const anyNumber = fc.oneof(number, fc.integer({ min: -(2 ** 40), max: -1 }), fc.double());
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** A header as `encodeEntry` writes it (keys sorted), with values of any kind the readers may meet. */
const header = (str: fc.Arbitrary<string>, num: fc.Arbitrary<number> = number) =>
  fc
    .record({
      claims: fc.option(digest),
      withClaims: fc.boolean(),
      kind: fc.oneof(fc.constantFrom("user", "member", "governance", "internal", "signature"), str),
      caller: fc.option(str),
      contract: fc.option(str),
      method: fc.option(str),
      time: num,
      request: fc.option(digest),
      secret: num,
      seqno: num,
      v: num,
      view: num,
    })
    .map((h) => ({
      ...(h.withClaims && { claims: h.claims }),
      kind: h.kind,
      meta: { caller: h.caller, contract: h.contract, method: h.method, time: h.time },
      request: h.request,
      secret: h.secret,
      seqno: h.seqno,
      v: h.v,
      view: h.view,
    }));

/** Damage: a changed byte, a cut, or bytes added at the end. */
const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);

type Damage =
  | { kind: "flip"; at: number; value: number }
  | { kind: "cut"; at: number }
  | { kind: "extend"; extra: Uint8Array };

function damaged(bytes: Uint8Array, d: Damage): Uint8Array {
  const out = new Uint8Array(bytes);
  if (d.kind === "flip") {
    out[d.at % out.length] = d.value;
    return out;
  }
  if (d.kind === "cut") return out.subarray(0, d.at % out.length);
  const longer = new Uint8Array(out.length + d.extra.length);
  longer.set(out);
  longer.set(d.extra, out.length);
  return longer;
}

describe("entry readers", () => {
  it("read every canonical ASCII header, exactly as the codec does", () => {
    fc.assert(
      fc.property(header(ascii), (h) => {
        const bytes = encode(h);
        const read = readHeader(bytes);
        assert.notEqual(read, undefined);
        agrees(read, bytes);
      }),
      { numRuns: 500 },
    );
  });

  it("agree with the codec on headers with any strings, and on damaged ones", () => {
    fc.assert(
      fc.property(header(anyString, anyNumber), damage, (h, d) => {
        const bytes = encode(h);
        agrees(readHeader(bytes), bytes);
        const bad = damaged(bytes, d);
        agrees(readHeader(bad), bad);
      }),
      { numRuns: 1000 },
    );
  });

  it("read every outer map encodeOuter writes, and agree with the codec on damaged ones", () => {
    const part = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom(255, 256, 65_535, 65_536).map((n) => new Uint8Array(n).fill(7)),
    );
    fc.assert(
      fc.property(part, part, fc.option(part), fc.option(part), digest, damage, (h, p, x, s, dg, d) => {
        const bytes = encodeOuter(h, p, x, s, dg);
        const read = readOuter(bytes);
        assert.notEqual(read, undefined);
        agrees(read, bytes);
        assert.deepStrictEqual(Buffer.from(encode(read)), Buffer.from(bytes));
        const bad = damaged(bytes, d);
        agrees(readOuter(bad), bad);
      }),
      { numRuns: 300 },
    );
  });

  it("hand out the right string when strings read before share a cache slot or differ in one byte", () => {
    // More distinct strings than the reader keeps (512 slots): every slot is overwritten many
    // times, and equal-length strings differing in one byte meet in slots along the way.
    const names: string[] = [];
    for (let i = 0; i < 3000; i++) names.push(`public:map.${String(i).padStart(5, "0")}`);
    for (let i = 0; i < 200; i++) names.push(`c${"x".repeat(i % 140)}${i}`); // some past the cached length
    const order = [...names.keys(), ...[...names.keys()].reverse(), ...names.keys()];
    for (const i of order) {
      const bytes = encode([[names[i], [[new Uint8Array([i & 0xff]), null]]]]);
      const read = readWrites(bytes) as Array<[string, unknown]>;
      assert.equal(read[0]![0], names[i]);
    }
  });

  it("leave other layouts to the codec (decodeEntry still reads them)", () => {
    const header = {
      view: 2,
      seqno: 5,
      kind: "user" as const,
      secretVersion: 0,
      requestDigest: null,
      meta: { timeMs: 1_700_000_000_000, contract: "log", method: "writé", callerId: null },
    };
    const { bytes, decoded } = encodeEntry({
      header,
      publicWrites: [],
      privatePart: null,
      signatureBytes: null,
    });
    // A non-ASCII method: the header reader declines, the codec reads it.
    assert.equal(readHeader(decoded.headerBytes), undefined);
    assert.deepEqual(decodeEntry(bytes, 5).header, header);
    // The same outer map with its keys in another order: valid MessagePack, not our layout.
    const reordered = encode({
      d: decoded.digest,
      h: decoded.headerBytes,
      p: decoded.publicBytes,
      s: null,
      x: null,
    });
    assert.equal(readOuter(reordered), undefined);
    assert.deepEqual(decodeEntry(reordered, 5).header, header);
  });
  it("read every write set and private part with ASCII map names, as the codec does, damaged ones too", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom(255, 256, 65_536).map((n) => new Uint8Array(n).fill(5)),
    );
    const writes = (name: fc.Arbitrary<string>) =>
      fc.array(
        fc.record({ map: name, writes: fc.array(fc.tuple(bytes, fc.option(bytes)), { maxLength: 18 }) }),
        { maxLength: 17 },
      );
    fc.assert(
      fc.property(writes(ascii), fc.option(digest), damage, (w, seed, d) => {
        const wire = writesToWire(w);
        const publicBytes = encode(wire);
        const read = readWrites(publicBytes);
        assert.notEqual(read, undefined);
        agrees(read, publicBytes);
        const plain = encode({ seed, writes: wire });
        const part = readPrivatePart(plain);
        assert.notEqual(part, undefined);
        agrees(part, plain);
        const bad = damaged(publicBytes, d);
        agrees(readWrites(bad), bad);
        const badPlain = damaged(plain, d);
        agrees(readPrivatePart(badPlain), badPlain);
      }),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(writes(anyString), (w) => {
        const publicBytes = encode(writesToWire(w));
        agrees(readWrites(publicBytes), publicBytes);
      }),
      { numRuns: 200 },
    );
    // Shapes the readers leave to the codec: a string where bytes belong, a long count.
    const odd = encode([["public:m", [["key", null]]]]);
    assert.equal(readWrites(odd), undefined);
    assert.equal(readWrites(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])), undefined);
  });
});
