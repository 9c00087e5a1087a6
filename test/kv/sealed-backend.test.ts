import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { KvStore } from "../../runtime/kv/store.js";

const enc = new TextEncoder();
const SECRET = "confidential-balance-4242";

function diskContains(dir: string, text: string): boolean {
  const needle = Buffer.from(text);
  return readdirSync(dir).some((name) => readFileSync(join(dir, name)).includes(needle));
}

describe("private state at rest", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-sealed-"));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const key = new Uint8Array(32).fill(9);

  async function writeBoth(dir: string, atRestKey?: Uint8Array) {
    const kv = KvStore.open(dir, atRestKey ? { atRestKey } : {});
    kv.apply(1, {
      public: [{ map: "public:bank.info", writes: [[enc.encode("k"), enc.encode("public-visible-value")]] }],
      private: [{ map: "bank.balances", writes: [[enc.encode("alice"), enc.encode(SECRET)]] }],
    });
    await kv.commit(1);
    await kv.close();
  }

  it("seals private values on disk, leaves public ones readable, and reopens them", async () => {
    const dir = tempDir();
    await writeBoth(dir, key);
    assert.equal(diskContains(dir, SECRET), false, "the private value must not be on disk in clear");
    assert.equal(diskContains(dir, "public-visible-value"), true);
    const kv = KvStore.open(dir, { atRestKey: key });
    assert.equal(new TextDecoder().decode(kv.get("bank.balances", enc.encode("alice"))), SECRET);
    const rows = [...kv.begin().range("bank.balances")];
    assert.equal(new TextDecoder().decode(rows[0]![1]), SECRET);
    await kv.close();
  });

  it("without the key the control case stores values in clear (the test can fail)", async () => {
    const dir = tempDir();
    await writeBoth(dir);
    assert.equal(diskContains(dir, SECRET), true);
  });

  it("a wrong key is a coded error, not garbage", async () => {
    const dir = tempDir();
    await writeBoth(dir, key);
    const kv = KvStore.open(dir, { atRestKey: new Uint8Array(32).fill(1) });
    assert.throws(
      () => kv.get("bank.balances", enc.encode("alice")),
      (e) => isTreatyError(e, "LedgerCorrupt"),
    );
    await kv.close();
    assert.throws(
      () => KvStore.open(dir, { atRestKey: new Uint8Array(16) }),
      (e) => isTreatyError(e, "InvalidArgs"),
    );
  });
});
