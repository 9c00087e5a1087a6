/**
 * `ExecutionEngine.snapshotRows`: the committed state at a snapshot's version, pinned in the KV's
 * commit sequence and read in slices while later versions are applied and committed, encoded as
 * the body's parts. Checked against the state at S read the old way (a transaction at S), across
 * at-rest keys, and on a store written before the nonce tables were stored in clear (format 1).
 */
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { open } from "lmdb";
import { utf8 } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { isPublicMap, type MapWrites, type WriteSet } from "../../runtime/kv/types.js";
import { KvStore } from "../../runtime/kv/store.js";
import { CLEAR_AT_REST } from "../../runtime/kv/sealed-backend.js";
import { writesToWire } from "../../runtime/ledger/entry.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { SnapshotScan } from "../../node/execution/snapshot-scan.js";
import { nonceKey, recordNonce } from "../../node/execution/nonces.js";
import { INTERNAL } from "../../node/gov/tables.js";
import type { SnapshotRows } from "../../node/snapshot/rows.js";
import { TempDirs, TEST_LIMITS } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** Version `v`'s writes: nonces, private and public contract rows, some overwriting or deleting. */
function writeSetAt(v: number): WriteSet {
  const kv = KvStore.open(null);
  const tx = kv.begin();
  for (let i = 0; i < 30; i++) {
    const key = nonceKey(`caller-${i % 3}`, `n-${v}-${i}`, 1_000_000 + v * 100 + i);
    recordNonce(tx, key, { txid: `2.${v}`, timeMs: v });
  }
  const ws = tx.writeSet();
  void kv.close();
  const row = (k: string, value: string | null) =>
    [utf8.encode(k), value === null ? null : utf8.encode(value)] as const;
  return {
    public: [{ map: "public:bank.audit", writes: [row(`a-${v % 7}`, `audit ${v}`)] }],
    private: [
      ...ws.private,
      { map: "bank.balances", writes: [row(`b-${v % 11}`, v % 5 === 0 ? null : `balance ${v}`)] },
    ].sort((a, b) => (a.map < b.map ? -1 : 1)),
  };
}

/** The parts as the old path gives them: every map read through a transaction at the committed version. */
function expectedParts(engine: ExecutionEngine): {
  publicBytes: Uint8Array;
  privateBytes: Uint8Array | null;
} {
  const { maps } = engine.committedMaps("");
  const sorted = [...maps].sort((a, b) => (a.map < b.map ? -1 : 1));
  const pub: MapWrites[] = sorted.filter((m) => isPublicMap(m.map));
  const priv: MapWrites[] = sorted.filter((m) => !isPublicMap(m.map));
  return {
    publicBytes: encode(writesToWire(pub)),
    privateBytes: priv.length === 0 ? null : encode(writesToWire(priv)),
  };
}

function assertParts(
  got: SnapshotRows | null,
  expected: ReturnType<typeof expectedParts>,
  version: number,
): void {
  assert.ok(got !== null);
  assert.equal(got.version, version);
  assert.ok(Buffer.from(got.publicBytes).equals(expected.publicBytes), "public part");
  assert.ok(expected.privateBytes !== null && got.privateBytes !== null);
  assert.ok(Buffer.from(got.privateBytes).equals(expected.privateBytes), "private part");
}

test("a snapshot read while later versions apply and commit holds exactly the state at S", async () => {
  const engine = await ExecutionEngine.open({
    kvPath: dirs.make(),
    atRestKey: randomBytes(32),
    limits: TEST_LIMITS,
  });
  try {
    for (let v = 1; v <= 40; v++) engine.apply([{ version: v, writeSet: writeSetAt(v) }]);
    await engine.commit(40);
    const expected = expectedParts(engine);
    // sliceMs 0: one read of rows per slice, so the writes below land between slices.
    const reading = engine.snapshotRows(40, 0);
    let v = 41;
    let done = false;
    void reading.finally(() => {
      done = true;
    });
    const commits: Promise<void>[] = [];
    while (!done) {
      engine.apply([{ version: v, writeSet: writeSetAt(v) }]);
      commits.push(engine.commit(v));
      v++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(commits);
    assert.ok(v > 45, "versions were committed while the snapshot was read");
    assertParts(await reading, expected, 40);
    assert.equal(engine.committedVersion, v - 1);
    assert.equal(await engine.snapshotRows(40), null, "the KV moved on: no snapshot at 40");
  } finally {
    await engine.close();
  }
});

test("a snapshot read pauses between two slices, never after the last, and reads what one slice reads", async () => {
  const kv = KvStore.open(dirs.make(), { atRestKey: randomBytes(32) });
  try {
    for (let v = 1; v <= 20; v++) kv.apply(v, writeSetAt(v));
    await kv.commit(20);
    const whole = new SnapshotScan((await kv.pinCommitted(20))!);
    assert.equal(whole.step(Number.POSITIVE_INFINITY), true);
    const expected = whole.finish();
    const scan = new SnapshotScan((await kv.pinCommitted(20))!);
    let slices = 0;
    let pauses = 0;
    const step = scan.step.bind(scan);
    scan.step = (untilMs: number) => {
      slices++;
      return step(untilMs);
    };
    // sliceMs 0: one read of rows per slice.
    await scan.read(0, async () => {
      pauses++;
    });
    assert.deepEqual(scan.finish(), expected);
    assert.ok(slices > 3, "the read took several slices");
    assert.equal(pauses, slices - 1);
  } finally {
    await kv.close();
  }
});

test("two KVs under different at-rest keys give the same parts", async () => {
  const parts: SnapshotRows[] = [];
  for (const atRestKey of [randomBytes(32), randomBytes(32)]) {
    const engine = await ExecutionEngine.open({ kvPath: dirs.make(), atRestKey, limits: TEST_LIMITS });
    try {
      for (let v = 1; v <= 20; v++) engine.apply([{ version: v, writeSet: writeSetAt(v) }]);
      await engine.commit(20);
      const got = await engine.snapshotRows(20);
      assert.ok(got !== null);
      parts.push(got);
    } finally {
      await engine.close();
    }
  }
  assert.deepEqual(parts[0], parts[1]);
  assert.ok(parts[0]!.rows > 600);
});

test("the nonce tables (and the legacy ones) are the maps stored in clear at rest", () => {
  assert.deepEqual(
    [...CLEAR_AT_REST].sort(),
    [INTERNAL.nonceLog, INTERNAL.nonceExpiry, INTERNAL.nonces].sort(),
  );
});

test("a store written before (format 1, nonce rows sealed) opens, and its first commit stores them in clear", async () => {
  const dir = dirs.make();
  const atRestKey = randomBytes(32);
  // A format-1 store as the previous code wrote it: sealed nonce value, sealed contract value.
  const legacyKey = utf8.encode("caller-0:n-1");
  const nonceValue = utf8.encode(JSON.stringify({ txid: "2.1", timeMs: 1 }));
  const balanceKey = utf8.encode("alice");
  const root = open<Uint8Array, Uint8Array>({
    path: dir,
    encoding: "binary",
    keyEncoding: "binary",
    maxDbs: 4,
  });
  const state = root.openDB<Uint8Array, Uint8Array>({
    name: "kv.state",
    encoding: "binary",
    keyEncoding: "binary",
  });
  const meta = root.openDB<Uint8Array, Uint8Array>({
    name: "kv.meta",
    encoding: "binary",
    keyEncoding: "binary",
  });
  const version = Buffer.alloc(8);
  version.writeBigUInt64BE(1n);
  await root.batch(() => {
    state.put(composite(INTERNAL.nonces, legacyKey), seal(atRestKey, INTERNAL.nonces, legacyKey, nonceValue));
    state.put(
      composite("bank.balances", balanceKey),
      seal(atRestKey, "bank.balances", balanceKey, utf8.encode("7")),
    );
    meta.put(Buffer.from("format"), Buffer.from([1]));
    meta.put(Buffer.from("committedVersion"), version);
  });
  await root.close();

  const engine = await ExecutionEngine.open({ kvPath: dir, atRestKey, limits: TEST_LIMITS });
  try {
    assert.deepEqual(engine.get(INTERNAL.nonces, legacyKey), nonceValue, "a sealed nonce row still opens");
    const before = await engine.snapshotRows(1);
    engine.apply([{ version: 2, writeSet: { public: [], private: [] } }]);
    await engine.commit(2);
    assert.deepEqual(engine.get(INTERNAL.nonces, legacyKey), nonceValue, "migrated in clear, same value");
    assert.deepEqual(engine.get("bank.balances", balanceKey), utf8.encode("7"));
    const afterMigration = await engine.snapshotRows(2);
    assert.deepEqual(afterMigration?.privateBytes, before?.privateBytes);
  } finally {
    await engine.close();
  }
  const raw = open<Uint8Array, Uint8Array>({
    path: dir,
    encoding: "binary",
    keyEncoding: "binary",
    maxDbs: 4,
  });
  try {
    const rawState = raw.openDB<Uint8Array, Uint8Array>({
      name: "kv.state",
      encoding: "binary",
      keyEncoding: "binary",
    });
    const rawMeta = raw.openDB<Uint8Array, Uint8Array>({
      name: "kv.meta",
      encoding: "binary",
      keyEncoding: "binary",
    });
    assert.deepEqual(new Uint8Array(rawState.getBinary(composite(INTERNAL.nonces, legacyKey))!), nonceValue);
    assert.notDeepEqual(
      new Uint8Array(rawState.getBinary(composite("bank.balances", balanceKey))!),
      utf8.encode("7"),
    );
    assert.deepEqual([...rawMeta.getBinary(Buffer.from("format"))!], [2]);
  } finally {
    await raw.close();
  }
});

function composite(map: string, key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(map), Buffer.from([0]), key]);
}

/** runtime/kv/sealed-backend.ts's sealing: nonce || AES-256-GCM || tag, aad = u32be |map| map key. */
function seal(key: Uint8Array, map: string, rowKey: Uint8Array, value: Uint8Array): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  const name = Buffer.from(map);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  cipher.setAAD(Buffer.concat([length, name, rowKey]));
  return Buffer.concat([nonce, cipher.update(value), cipher.final(), cipher.getAuthTag()]);
}
