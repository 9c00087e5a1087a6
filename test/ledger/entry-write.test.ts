/**
 * The direct writers of an entry's header, public write set and private plaintext
 * (runtime/ledger/entry-write.ts) must write exactly the codec's bytes for every value they
 * accept (entry bytes are hashed and signed: a different byte is a different ledger), accept every
 * value this code writes with ASCII names, and decline (undefined) what they do not handle, so
 * encodeEntry falls back to the codec. encodeEntry's parts are checked against the codec too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encode } from "../../sdk/codec.js";
import {
  writeHeader,
  writePrivatePart,
  writePrivatePartOf,
  writeWrites,
} from "../../runtime/ledger/entry-write.js";
import {
  compareBytes,
  decodeEntry,
  encodeEntry,
  type EntryHeader,
  openPrivatePart,
  writesToWire,
} from "../../runtime/ledger/entry.js";
import { generateLedgerSecret, LedgerSecrets } from "../../runtime/ledger/secrets.js";
import { secureRandomBytes } from "../../runtime/crypto.js";
import type { MapWrites } from "../../runtime/kv/types.js";

const ascii = fc.string({ unit: fc.constantFrom(..."abcXYZ09_-.:/ ~".split("")), maxLength: 300 });
/** True when `s` has a character outside ASCII. */
const hasNonAscii = (s: string) => [...s].some((c) => c.charCodeAt(0) >= 0x80);
const nonAscii = fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).filter(hasNonAscii);
const count = fc.oneof(
  fc.constantFrom(
    0,
    1,
    127,
    128,
    255,
    256,
    65_535,
    65_536,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53 - 1,
    1_764_979_200_000,
  ),
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.constantFrom(255, 256, 65_535, 65_536).map((n) => new Uint8Array(n).fill(3)),
);

const header = (str: fc.Arbitrary<string>) =>
  fc.record({
    view: count,
    seqno: count,
    kind: fc.oneof(fc.constantFrom("user", "member", "governance", "internal", "signature"), str),
    secretVersion: count,
    requestDigest: fc.option(digest),
    claimsDigest: fc.option(digest),
    meta: fc.record({
      timeMs: count,
      contract: fc.option(str),
      method: fc.option(str),
      callerId: fc.option(str),
    }),
  });

/** What entry.ts's headerToWire builds (keys sorted). */
function headerWire(h: {
  view: number;
  seqno: number;
  kind: string;
  secretVersion: number;
  requestDigest: Uint8Array | null;
  claimsDigest?: Uint8Array | null;
  meta: { timeMs: number; contract: string | null; method: string | null; callerId: string | null };
}): unknown {
  return {
    ...(h.claimsDigest != null && { claims: h.claimsDigest }),
    kind: h.kind,
    meta: { caller: h.meta.callerId, contract: h.meta.contract, method: h.meta.method, time: h.meta.timeMs },
    request: h.requestDigest,
    secret: h.secretVersion,
    seqno: h.seqno,
    v: 1,
    view: h.view,
  };
}

/** Sorted, unique maps and keys, as the KV hands them over. */
const writeSet = (mapName: fc.Arbitrary<string>) =>
  fc
    .array(
      fc.record({
        map: mapName,
        writes: fc.array(fc.tuple(bytes, fc.option(bytes)), { maxLength: 20 }),
      }),
      { maxLength: 17 },
    )
    .map((maps) => {
      const byName = new Map<string, MapWrites>();
      for (const m of maps) {
        const keys = new Map<string, [Uint8Array, Uint8Array | null]>();
        for (const [k, v] of m.writes) keys.set(Buffer.from(k).toString("hex"), [k, v]);
        byName.set(m.map, { map: m.map, writes: [...keys.values()].sort(([a], [b]) => compareBytes(a, b)) });
      }
      return [...byName.values()].sort((a, b) => (a.map < b.map ? -1 : 1));
    });

const same = (actual: Uint8Array | undefined, expected: Uint8Array) => {
  assert.notEqual(actual, undefined);
  assert.deepStrictEqual(Buffer.from(actual!), Buffer.from(expected));
};

describe("entry writers", () => {
  it("write the codec's bytes of every header with ASCII strings", () => {
    fc.assert(
      fc.property(header(ascii), (h) => same(writeHeader(h, 1), encode(headerWire(h)))),
      { numRuns: 1000 },
    );
  });

  it("decline headers they do not handle (non-ASCII strings, numbers that are not counts)", () => {
    fc.assert(
      fc.property(header(nonAscii), (h) => {
        const anyNonAscii = [h.kind, h.meta.contract, h.meta.method, h.meta.callerId].some(
          (s) => s !== null && hasNonAscii(s),
        );
        const written = writeHeader(h, 1);
        if (anyNonAscii) assert.equal(written, undefined);
        else same(written, encode(headerWire(h)));
      }),
      { numRuns: 300 },
    );
    const h = {
      view: 1,
      seqno: 2,
      kind: "user",
      secretVersion: 0,
      requestDigest: null,
      meta: { timeMs: 5, contract: null, method: null, callerId: null },
    };
    assert.equal(writeHeader({ ...h, view: -1 }, 1), undefined);
    assert.equal(writeHeader({ ...h, seqno: 1.5 }, 1), undefined);
    assert.equal(writeHeader({ ...h, meta: { ...h.meta, timeMs: 2 ** 53 } }, 1), undefined);
  });

  it("write the codec's bytes of every write set and private part with ASCII map names", () => {
    fc.assert(
      fc.property(writeSet(ascii), fc.option(digest), (writes, seed) => {
        same(writeWrites(writes), encode(writesToWire(writes)));
        same(writePrivatePart(seed, writes), encode({ seed, writes: writesToWire(writes) }));
      }),
      { numRuns: 300 },
    );
  });

  it("write the codec's private part around writes encoded already, whichever path encoded them", () => {
    fc.assert(
      fc.property(writeSet(fc.oneof(ascii, nonAscii)), fc.option(digest), (writes, seed) => {
        const codec = encode(writesToWire(writes));
        const encoded = writeWrites(writes);
        if (encoded !== undefined) same(encoded, codec);
        same(writePrivatePartOf(seed, codec), encode({ seed, writes: writesToWire(writes) }));
      }),
      { numRuns: 300 },
    );
    const notBytes = "seed" as unknown as Uint8Array;
    assert.equal(writePrivatePartOf(notBytes, new Uint8Array([0x90])), undefined);
  });

  it("decline write sets with a non-ASCII map name or a value that is not bytes", () => {
    const key = new Uint8Array([1]);
    assert.equal(writeWrites([{ map: "public:é", writes: [[key, null]] }]), undefined);
    const notBytes = [{ map: "m", writes: [[key, "text" as unknown as Uint8Array]] }] as MapWrites[];
    assert.equal(writePrivatePart(null, notBytes), undefined);
  });

  it("give encodeEntry the codec's parts, whichever path wrote them", () => {
    fc.assert(
      fc.property(
        header(fc.oneof(ascii, nonAscii)),
        writeSet(fc.oneof(ascii, nonAscii).map((s) => `public:${s}`)),
        (h, publicWrites) => {
          const entryHeader = { ...h, kind: "user", secretVersion: 0 } as EntryHeader;
          const { decoded } = encodeEntry({
            header: entryHeader,
            publicWrites,
            privatePart: null,
            signatureBytes: null,
          });
          assert.deepStrictEqual(
            Buffer.from(decoded.headerBytes),
            Buffer.from(encode(headerWire(entryHeader))),
          );
          assert.deepStrictEqual(
            Buffer.from(decoded.publicBytes),
            Buffer.from(encode(writesToWire(publicWrites))),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
  it("leave every decoded part a view into the entry's own bytes, intact after the next entry", () => {
    const secrets = new LedgerSecrets([generateLedgerSecret(1, secureRandomBytes)]);
    const secret = secrets.current!;
    const entry = (seqno: number, fill: number) =>
      encodeEntry({
        header: {
          view: 1,
          seqno,
          kind: "user",
          secretVersion: 1,
          requestDigest: null,
          meta: { timeMs: seqno, contract: "c", method: "m", callerId: "u" },
        },
        publicWrites: [
          { map: "public:t", writes: [[new Uint8Array([fill]), new Uint8Array(50).fill(fill)]] },
        ],
        privatePart: {
          part: {
            seed: null,
            writes: [{ map: "t", writes: [[new Uint8Array([fill]), new Uint8Array(70).fill(fill)]] }],
          },
          secret,
          nonce: new Uint8Array(12).fill(seqno),
        },
        signatureBytes: null,
      });
    const first = entry(1, 1);
    const sealedBefore = Buffer.from(first.decoded.sealed!);
    entry(2, 2); // reuses every scratch buffer
    for (const part of [first.decoded.headerBytes, first.decoded.publicBytes, first.decoded.sealed!])
      assert.equal(part.buffer, first.bytes.buffer);
    assert.deepStrictEqual(Buffer.from(first.decoded.sealed!), sealedBefore);
    const read = decodeEntry(first.bytes, 1);
    assert.deepStrictEqual(Buffer.from(read.sealed!), sealedBefore);
    const opened = openPrivatePart(read, secrets);
    assert.deepStrictEqual(
      Buffer.from(opened.writes[0]!.writes[0]![1]!),
      Buffer.from(new Uint8Array(70).fill(1)),
    );
  });
});
