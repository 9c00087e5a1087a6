/**
 * At-rest rekey of the KV (sealed-backend.ts, KvStore.useAtRestKey / resealAtRest /
 * retireOlderAtRestKeys): writes committed between re-seal steps are kept, every private value
 * ends under the new key (the old key alone opens none), public values are untouched, and an
 * interrupted re-seal resumes from a store opened with both keys.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { KvStore } from "../../runtime/kv/store.js";
import { isTreatyError } from "../../sdk/errors.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const oldKey = () => new Uint8Array(32).fill(3);
const newKey = () => new Uint8Array(32).fill(7);
const MAPS = ["bank.balances", "log.private", "z.notes"];

describe("at-rest rekey of the KV", () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-kv-rekey-"));
    dirs.push(dir);
    return dir;
  };

  /** Version `v` writes key `k<v>` in every private map and one public row. */
  const writeVersion = (kv: KvStore, v: number) =>
    kv.apply(v, {
      public: [{ map: "public:info", writes: [[enc.encode(`k${v}`), enc.encode(`public ${v}`)]] }],
      private: MAPS.map((map) => ({ map, writes: [[enc.encode(`k${v}`), enc.encode(`${map} ${v}`)]] })),
    });

  const expectAll = (kv: KvStore, versions: number) => {
    for (let v = 1; v <= versions; v++) {
      for (const map of MAPS) assert.equal(dec.decode(kv.get(map, enc.encode(`k${v}`))), `${map} ${v}`);
      assert.equal(dec.decode(kv.get("public:info", enc.encode(`k${v}`))), `public ${v}`);
    }
  };

  it("re-seals in steps while commits go on; the old key then opens nothing", async () => {
    const dir = tempDir();
    const kv = KvStore.open(dir, { atRestKey: oldKey() });
    let v = 0;
    while (v < 40) writeVersion(kv, ++v);
    await kv.commit(v);
    kv.useAtRestKey(newKey());
    let cursor = null;
    let steps = 0;
    do {
      // A commit (and an uncommitted version) between every step.
      writeVersion(kv, ++v);
      const commit = kv.commit(v);
      writeVersion(kv, ++v);
      cursor = await kv.resealAtRest(cursor, 7);
      await commit;
      steps++;
    } while (cursor !== null);
    await kv.commit(v);
    kv.retireOlderAtRestKeys();
    assert.ok(steps > 10, `re-sealed in bounded steps (${steps})`);
    expectAll(kv, v);
    await kv.close();

    const reopened = KvStore.open(dir, { atRestKey: newKey() });
    expectAll(reopened, v);
    await reopened.close();

    const withOld = KvStore.open(dir, { atRestKey: oldKey() });
    for (const map of MAPS) {
      for (let i = 1; i <= v; i++) {
        assert.throws(
          () => withOld.get(map, enc.encode(`k${i}`)),
          (err: unknown) => isTreatyError(err) && err.code === "LedgerCorrupt",
        );
      }
    }
    assert.equal(dec.decode(withOld.get("public:info", enc.encode("k1"))), "public 1");
    await withOld.close();
  });

  it("an interrupted re-seal resumes from a store opened with both keys", async () => {
    const dir = tempDir();
    const kv = KvStore.open(dir, { atRestKey: oldKey() });
    for (let v = 1; v <= 20; v++) writeVersion(kv, v);
    await kv.commit(20);
    kv.useAtRestKey(newKey());
    assert.notEqual(await kv.resealAtRest(null, 5), null, "stopped half way");
    await kv.close();

    const onlyNew = KvStore.open(dir, { atRestKey: newKey() });
    assert.throws(
      () => MAPS.map((map) => [...onlyNew.begin().range(map)]),
      (err: unknown) => isTreatyError(err) && err.code === "LedgerCorrupt",
      "some values are still under the old key",
    );
    await onlyNew.close();

    const resumed = KvStore.open(dir, { atRestKey: newKey(), olderAtRestKeys: [oldKey()] });
    expectAll(resumed, 20);
    let cursor = null;
    do cursor = await resumed.resealAtRest(cursor, 1000);
    while (cursor !== null);
    resumed.retireOlderAtRestKeys();
    await resumed.close();
    const done = KvStore.open(dir, { atRestKey: newKey() });
    expectAll(done, 20);
    await done.close();
  });

  it("a store without sealing refuses a key; a key of the wrong length is refused", async () => {
    const plain = KvStore.open(tempDir());
    assert.throws(
      () => plain.useAtRestKey(newKey()),
      (err: unknown) => isTreatyError(err) && err.code === "InvalidArgs",
    );
    await plain.close();
    const sealed = KvStore.open(tempDir(), { atRestKey: oldKey() });
    assert.throws(
      () => sealed.useAtRestKey(new Uint8Array(16)),
      (err: unknown) => isTreatyError(err) && err.code === "InvalidArgs",
    );
    await sealed.close();
  });
});
