/** Batch replies and applies carry their write sets packed (node/execution/pack.ts). */
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { describe, it } from "node:test";
import type { ExecCall, ExecResult, VersionedWriteSet } from "../../node/execution/protocol.js";
import { encode } from "../../sdk/codec.js";
import { EncodedWriteSet, encodeWrites, writesToWire } from "../../runtime/ledger/entry.js";
import {
  decodeWriteSets,
  encodeWriteSets,
  type PackedBatch,
  type PackedItems,
  packBatch,
  packCalls,
  packItems,
  unpackBatch,
  unpackCalls,
  unpackItems,
  type WireCall,
} from "../../node/execution/pack.js";

const bytes = (...values: number[]) => Uint8Array.from(values);

function ok(seqno: number, writeSet: Extract<ExecResult, { ok: true }>["writeSet"]): ExecResult {
  return { ok: true, seqno, txid: `1.${seqno}`, result: { n: seqno }, writeSet, events: [] };
}

const RESULTS: ExecResult[] = [
  ok(5, {
    public: [{ map: "public:log.entries", writes: [[bytes(1), bytes(2, 3)]] }],
    private: [
      { map: "treaty.nonceExpiry", writes: [[bytes(4, 5), bytes()]] },
      { map: "treaty.nonces", writes: [[bytes(6), null]] },
    ],
  }),
  { ok: false, error: { code: "Replay", message: "used", txid: "1.2" } },
  ok(6, { public: [], private: [] }),
  ok(7, { public: [{ map: "public:log.entries", writes: [[bytes(7, 8, 9), bytes(10)]] }], private: [] }),
];

/** The results as plain data, bytes as arrays, write sets as their maps: what the receiver must see. */
function plain(results: readonly ExecResult[]): unknown {
  return JSON.parse(
    JSON.stringify(results, (_key, value) => {
      if (value instanceof Uint8Array) return [...value];
      if (value instanceof EncodedWriteSet) return { public: value.public, private: value.private };
      return value;
    }),
  );
}

describe("packBatch / unpackBatch", () => {
  it("keeps every result and byte; the write sets come back in the entry's form, views of one buffer", () => {
    const before = plain(RESULTS);
    const { batch, transfer } = packBatch(RESULTS, 1);
    assert.deepEqual(plain(RESULTS), before, "the input is not modified");
    assert.deepEqual(transfer, [batch.writeSets.lengths.buffer, batch.writeSets.bytes.buffer]);
    assert.equal(batch.writeSets.bytes.byteOffset, 0);
    assert.equal(batch.writeSets.bytes.buffer.byteLength, batch.writeSets.bytes.byteLength, "sized to them");
    for (const result of batch.results)
      if (typeof result !== "number" && result.ok) assert.equal(result.writeSet, null);
    const results = unpackBatch(batch);
    assert.deepEqual(plain(results), before);
    let total = 0;
    for (const [i, result] of results.entries()) {
      if (!result.ok) continue;
      const sent = (RESULTS[i] as Extract<ExecResult, { ok: true }>).writeSet;
      const { writeSet } = result;
      assert.ok(writeSet instanceof EncodedWriteSet);
      // The bytes an entry carries: the codec's of the public part, and of the private writes.
      assert.deepEqual(Buffer.from(writeSet.publicBytes), Buffer.from(encode(writesToWire(sent.public))));
      assert.deepEqual(Buffer.from(writeSet.privateBytes), Buffer.from(encode(writesToWire(sent.private))));
      assert.equal(writeSet.hasPrivateWrites, sent.private.length > 0);
      total += writeSet.publicBytes.length + writeSet.privateBytes.length;
      for (const part of [writeSet.publicBytes, writeSet.privateBytes])
        assert.equal(part.buffer, batch.writeSets.bytes.buffer);
      for (const { writes } of [...writeSet.public, ...writeSet.private]) {
        for (const [key, value] of writes) {
          assert.equal(key.buffer, batch.writeSets.bytes.buffer);
          if (value !== null) assert.equal(value.buffer, batch.writeSets.bytes.buffer);
        }
      }
    }
    assert.equal(total, batch.writeSets.bytes.byteLength);
    // A delete stays a delete, an empty value an empty value.
    const first = results[0] as Extract<ExecResult, { ok: true }>;
    assert.equal(first.writeSet.private[1]!.writes[0]![1], null);
    assert.deepEqual(first.writeSet.private[0]!.writes[0]![1], bytes());
  });

  it("keeps a claims digest, and packs a batch that writes nothing", () => {
    const claimed: ExecResult = {
      ...(ok(9, { public: [], private: [] }) as object),
      claimsDigest: "ab",
    } as ExecResult;
    const { batch } = packBatch([RESULTS[1]!, RESULTS[2]!, claimed], 1);
    // Two empty write sets: each part the empty array (one byte).
    assert.deepEqual([...batch.writeSets.bytes], [0x90, 0x90, 0x90, 0x90]);
    assert.deepEqual(plain(unpackBatch(batch)), plain([RESULTS[1]!, RESULTS[2]!, claimed]));
  });

  it("encodes a non-ASCII map name as the codec does, and refuses a write set out of order", () => {
    const odd = { public: [{ map: "public:é.ü", writes: [[bytes(1), bytes(2)] as const] }], private: [] };
    const [decoded] = decodeWriteSets(encodeWriteSets([odd]));
    assert.deepEqual(Buffer.from(decoded!.publicBytes), Buffer.from(encode(writesToWire(odd.public))));
    assert.deepEqual(plain([ok(1, decoded!)]), plain([ok(1, odd)]));
    const unsorted = {
      public: [],
      private: [{ map: "t", writes: [[bytes(2), null] as const, [bytes(1), null] as const] }],
    };
    assert.throws(() => encodeWriteSets([unsorted]), /sorted/);
    const misplaced = { public: [{ map: "t", writes: [] }], private: [] };
    assert.throws(() => encodeWriteSets([misplaced]), /wrong part/);
  });

  it("crosses a MessagePort transferred: the receiver unpacks the same results", async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const { batch, transfer } = packBatch(RESULTS, 1);
      const received = new Promise<PackedBatch>((resolve) => port2.once("message", resolve));
      port1.postMessage(batch, transfer);
      assert.equal(transfer[1]!.byteLength, 0, "transferred, not copied");
      assert.deepEqual(plain(unpackBatch(await received)), plain(RESULTS));
    } finally {
      port1.close();
      port2.close();
    }
  });

  it("sends a plain write (result null, no events, no claims, txid view.seqno) as its seqno alone", async () => {
    const plainWrite = (seqno: number, txid = `4.${seqno}`): ExecResult => ({
      ok: true,
      seqno,
      txid,
      result: null,
      writeSet: { public: [{ map: "public:log.entries", writes: [[bytes(seqno), bytes(1)]] }], private: [] },
      events: [],
    });
    const withEvent: ExecResult = {
      ...(plainWrite(12) as Extract<ExecResult, { ok: true }>),
      events: [{ name: "e", data: 1 }],
    } as ExecResult;
    const input = [
      plainWrite(10),
      { ok: false, error: { code: "Replay", message: "used", txid: "1.2" } } as ExecResult,
      plainWrite(11, "3.11"), // a txid of another view: kept whole
      withEvent,
      { ...(plainWrite(13) as object), result: 0 } as ExecResult,
      plainWrite(14),
    ];
    const before = plain(input);
    const { batch, transfer } = packBatch(input, 4);
    assert.deepEqual(
      batch.results.map((r) => (typeof r === "number" ? r : "object")),
      [10, "object", "object", "object", "object", 14],
    );
    const { port1, port2 } = new MessageChannel();
    try {
      const received = new Promise<PackedBatch>((resolve) => port2.once("message", resolve));
      port1.postMessage(batch, transfer);
      assert.deepEqual(plain(unpackBatch(await received)), before);
    } finally {
      port1.close();
      port2.close();
    }
  });

  it("refuses lengths that do not match the bytes", () => {
    const { batch } = packBatch(RESULTS, 1);
    const { writeSets } = batch;
    assert.throws(
      () => unpackBatch({ ...batch, writeSets: { ...writeSets, bytes: writeSets.bytes.subarray(1) } }),
      /unpack/,
    );
    const longer = new Uint8Array(writeSets.bytes.length + 1);
    assert.throws(() => unpackBatch({ ...batch, writeSets: { ...writeSets, bytes: longer } }), /unpack/);
    const fewer = writeSets.lengths.subarray(2);
    assert.throws(() => unpackBatch({ ...batch, writeSets: { ...writeSets, lengths: fewer } }), /unpack/);
  });
});

describe("packItems / unpackItems", () => {
  const received = new Uint8Array(4096).fill(7); // a large message the write sets were decoded from
  const key = received.subarray(10, 12);
  const value = received.subarray(100, 103);
  const ITEMS: VersionedWriteSet[] = [
    {
      version: 3,
      writeSet: {
        public: [
          { map: "public:a.m", writes: [[key, value] as const, [bytes(200), bytes()] as const] },
          { map: "public:é.ü", writes: [[bytes(1), bytes(2)] as const] },
        ],
        private: [],
      },
    },
    { version: 4, writeSet: { public: [], private: [] } },
    {
      version: 2 ** 40 + 5,
      writeSet: { public: [], private: [{ map: "a.p", writes: [[key, null] as const] }] },
    },
  ];

  it("gives back every item, byte and delete, keys and values as views of one buffer sized to them", () => {
    const before = plain(ITEMS as never);
    const { items: packed, transfer } = packItems(ITEMS);
    assert.deepEqual(plain(ITEMS as never), before, "the input is not modified");
    assert.equal(key.buffer, received.buffer, "the caller's arrays are untouched");
    assert.deepEqual(transfer, [packed.writeSets.lengths.buffer, packed.writeSets.bytes.buffer]);
    assert.equal(packed.writeSets.bytes.byteOffset, 0);
    assert.equal(
      packed.writeSets.bytes.buffer.byteLength,
      packed.writeSets.bytes.byteLength,
      "sized to them",
    );
    const items = unpackItems(packed);
    assert.deepEqual(plain(items as never), before);
    assert.equal(items[2]!.writeSet.private[0]!.writes[0]![1], null, "a delete stays a delete");
    for (const { writeSet } of items)
      for (const { writes } of [...writeSet.public, ...writeSet.private])
        for (const [k, v] of writes) {
          assert.equal(k.buffer, transfer[1]);
          if (v !== null) assert.equal(v.buffer, transfer[1]);
        }
    assert.deepEqual(unpackItems(packItems([]).items), []);
  });

  it("crosses a MessagePort transferred: the receiver unpacks the same items", async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const { items, transfer } = packItems(ITEMS);
      const arrived = new Promise<PackedItems>((resolve) => port2.once("message", resolve));
      port1.postMessage(items, transfer);
      assert.equal(transfer[1]!.byteLength, 0, "transferred, not copied");
      assert.deepEqual(plain(unpackItems(await arrived) as never), plain(ITEMS as never));
    } finally {
      port1.close();
      port2.close();
    }
  });

  it("refuses versions that do not match the write sets", () => {
    const { items } = packItems(ITEMS);
    assert.throws(() => unpackItems({ ...items, versions: items.versions.slice(1) }), /unpack/);
  });

  it("copies a write set in the entry's form as its bytes, and gives back its writes", () => {
    const publicBytes = encodeWrites(ITEMS[0]!.writeSet.public, true).slice();
    const privateBytes = encodeWrites(ITEMS[2]!.writeSet.private, false).slice();
    const encoded = new EncodedWriteSet(publicBytes, privateBytes);
    const { items: packed } = packItems([{ version: 9, writeSet: encoded }]);
    assert.deepEqual([...packed.writeSets.lengths], [publicBytes.length, privateBytes.length]);
    assert.deepEqual([...packed.writeSets.bytes], [...publicBytes, ...privateBytes]);
    assert.equal(encoded.hasPrivateWrites, true);
    const [item] = unpackItems(packed);
    assert.equal(item!.version, 9);
    assert.deepEqual(
      plain([item!] as never),
      plain([
        { version: 9, writeSet: { public: ITEMS[0]!.writeSet.public, private: ITEMS[2]!.writeSet.private } },
      ] as never),
    );
  });

  it("passes a malformed write set of objects on unchecked: the worker's unpack refuses it as LedgerCorrupt", () => {
    const unsorted: VersionedWriteSet = {
      version: 12,
      writeSet: {
        public: [{ map: "public:m", writes: [[bytes(2), null] as const, [bytes(1), null] as const] }],
        private: [],
      },
    };
    const misplaced: VersionedWriteSet = {
      version: 13,
      writeSet: { public: [], private: [{ map: "public:m", writes: [] }] },
    };
    for (const item of [unsorted, misplaced]) {
      const { items } = packItems([item]);
      assert.throws(() => unpackItems(items), {
        code: "LedgerCorrupt",
        message: new RegExp(`entry ${item.version}`),
      });
    }
  });
});

describe("packCalls / unpackCalls", () => {
  it("copies the seeds into one buffer, sends the calls as arrays, and rebuilds every call as it was", async () => {
    const pool = Buffer.from("0123456789abcdef0123456789abcdef"); // a slice of Node's shared pool
    const pooled = new Uint8Array(pool.buffer, pool.byteOffset, pool.length);
    const jwt = {
      id: "j",
      role: "jwt",
      issuer: "https://issuer",
      subject: "s",
      claims: { email: "a@b", roles: ["x"] },
    } as const;
    const calls: ExecCall[] = [
      {
        contract: "log",
        method: "w",
        args: { id: 1 },
        caller: null,
        nonce: null,
        timeMs: 5,
        seed: bytes(...Array(16).fill(1)),
      },
      {
        contract: "log",
        method: "w",
        args: [],
        caller: { id: "u", role: "user" },
        nonce: "n",
        createdMs: 4,
        timeMs: 5,
        seed: pooled,
      },
      {
        contract: "c",
        method: "m",
        args: null,
        caller: jwt,
        nonce: "k",
        createdMs: 0,
        timeMs: 6,
        seed: bytes(...Array(20).fill(2)),
      },
    ];
    const before = plain(calls as never);
    const packed = packCalls(calls);
    assert.ok(packed.wire !== null);
    assert.equal(packed.buffer.byteLength, 16 + 32 + 20);
    assert.deepEqual(plain(calls as never), before, "the input is not modified");
    assert.equal(pool.toString(), "0123456789abcdef0123456789abcdef");
    // A plain caller crosses as two strings; any other caller as the object it is.
    assert.deepEqual(packed.wire[1]!.slice(3, 5), ["u", "user"]);
    assert.deepEqual(packed.wire[2]!.slice(3, 5), [jwt, undefined]);
    const { port1, port2 } = new MessageChannel();
    try {
      const received = new Promise<{ wire: WireCall[]; seeds: Uint8Array }>((resolve) =>
        port2.once("message", resolve),
      );
      port1.postMessage({ wire: packed.wire, seeds: new Uint8Array(packed.buffer) }, [packed.buffer]);
      assert.equal(packed.buffer.byteLength, 0, "transferred, not copied");
      const { wire, seeds } = await received;
      const unpacked = unpackCalls(wire, seeds);
      assert.deepEqual(plain(unpacked as never), before);
      assert.equal(Object.hasOwn(unpacked[0]!, "createdMs"), false, "an absent createdMs stays absent");
      assert.equal(unpacked[2]!.createdMs, 0);
      for (const call of unpacked) assert.equal(call.seed.buffer, seeds.buffer);
      assert.throws(() => unpackCalls(wire, seeds.subarray(1)), /unpack/);
    } finally {
      port1.close();
      port2.close();
    }
  });

  it("keeps a caller object with more than id and role whole", () => {
    const odd = { id: "u", role: "user", extra: 1 } as unknown as ExecCall["caller"];
    const call: ExecCall = {
      contract: "c",
      method: "m",
      args: {},
      caller: odd,
      nonce: null,
      timeMs: 1,
      seed: bytes(1),
    };
    const packed = packCalls([call]);
    assert.ok(packed.wire !== null);
    assert.equal(packed.wire[0]![3], odd);
    assert.equal(unpackCalls(packed.wire, new Uint8Array(packed.buffer))[0]!.caller, odd);
  });

  it("passes calls on unpacked when a seed is not a Uint8Array (the worker reports it)", () => {
    const bad = [{ contract: "c", method: "m", args: {}, caller: null, nonce: null, timeMs: 1, seed: "x" }];
    const { calls, buffer, wire } = packCalls(bad as unknown as ExecCall[]);
    assert.equal(buffer, null);
    assert.equal(wire, null);
    assert.equal(calls?.[0], bad[0]);
    const empty = packCalls([]);
    assert.deepEqual(empty.wire, []);
    assert.equal(empty.buffer?.byteLength, 0);
  });
});
