/** Batch replies carry their write-set bytes in one buffer (node/execution/pack.ts). */
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { describe, it } from "node:test";
import type { ExecResult, VersionedWriteSet } from "../../node/execution/protocol.js";
import { decodeItems, encodeItems, packResults } from "../../node/execution/pack.js";
import { isTreatyError } from "../../sdk/errors.js";

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

/** The results as plain data, bytes as arrays: what the receiver must see. */
function plain(results: readonly ExecResult[]): unknown {
  return JSON.parse(
    JSON.stringify(results, (_key, value) => (value instanceof Uint8Array ? [...value] : value)),
  );
}

describe("packResults", () => {
  it("keeps every result and byte, with all write-set bytes as views of one buffer", () => {
    const before = plain(RESULTS);
    const { results, buffer } = packResults(RESULTS);
    assert.deepEqual(plain(results), before);
    assert.deepEqual(plain(RESULTS), before, "the input is not modified");
    assert.ok(buffer !== null);
    assert.equal(buffer.byteLength, 1 + 2 + 2 + 0 + 1 + 3 + 1);
    for (const result of results) {
      if (!result.ok) continue;
      for (const { writes } of [...result.writeSet.public, ...result.writeSet.private]) {
        for (const [key, value] of writes) {
          assert.equal(key.buffer, buffer);
          if (value !== null) assert.equal(value.buffer, buffer);
        }
      }
    }
    assert.equal(results[1], RESULTS[1], "a failed result passes as is");
  });

  it("has no buffer when no result writes a byte", () => {
    const { results, buffer } = packResults([RESULTS[1]!, RESULTS[2]!]);
    assert.equal(buffer, null);
    assert.deepEqual(plain(results), plain([RESULTS[1]!, RESULTS[2]!]));
  });

  it("crosses a MessagePort transferred: the receiver gets the same results", async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const { results, buffer } = packResults(RESULTS);
      const received = new Promise<ExecResult[]>((resolve) => port2.once("message", resolve));
      port1.postMessage(results, [buffer!]);
      assert.equal(buffer!.byteLength, 0, "transferred, not copied");
      assert.deepEqual(plain(await received), plain(RESULTS));
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe("encodeItems / decodeItems", () => {
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

  it("gives back every item, byte and delete, keys and values as views of the one buffer", () => {
    const before = plain(ITEMS as never);
    const buffer = encodeItems(ITEMS);
    assert.deepEqual(plain(ITEMS as never), before, "the input is not modified");
    assert.equal(key.buffer, received.buffer, "the caller's arrays are untouched");
    const items = decodeItems(buffer);
    assert.deepEqual(plain(items as never), before);
    assert.equal(items[2]!.writeSet.private[0]!.writes[0]![1], null, "a delete stays a delete");
    for (const { writeSet } of items)
      for (const { writes } of [...writeSet.public, ...writeSet.private])
        for (const [k, v] of writes) {
          assert.equal(k.buffer, buffer);
          if (v !== null) assert.equal(v.buffer, buffer);
        }
    assert.deepEqual(decodeItems(encodeItems([])), []);
  });

  it("crosses a MessagePort transferred: the receiver decodes the same items", async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const buffer = encodeItems(ITEMS);
      const received = new Promise<ArrayBuffer>((resolve) => port2.once("message", resolve));
      port1.postMessage(buffer, [buffer]);
      assert.equal(buffer.byteLength, 0, "transferred, not copied");
      assert.deepEqual(plain(decodeItems(await received) as never), plain(ITEMS as never));
    } finally {
      port1.close();
      port2.close();
    }
  });

  it("refuses bytes that are not an encoding, with LedgerCorrupt", () => {
    const whole = new Uint8Array(encodeItems(ITEMS));
    for (const bad of [whole.slice(0, whole.length - 1), new Uint8Array([...whole, 0]), new Uint8Array(3)]) {
      assert.throws(
        () => decodeItems(bad.buffer),
        (err) => isTreatyError(err) && err.code === "LedgerCorrupt",
      );
    }
  });
});
