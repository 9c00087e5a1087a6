/**
 * TxHost resolves a contract's local map names to store names call by call (runtime/executor/host.ts
 * remembers the last one): whatever the order in which a call names its maps, each write lands in
 * its own store map, and a refusal (publicOnly, a bad name) is never remembered as a resolution.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TxHost } from "../../runtime/executor/host.js";
import { KvStore } from "../../runtime/kv/store.js";
import { DEFAULT_LIMITS } from "../../runtime/sandbox/limits.js";
import { TreatyError } from "../../sdk/errors.js";

function host(store: KvStore, publicOnly = false): { host: TxHost; tx: ReturnType<KvStore["begin"]> } {
  const tx = store.begin();
  const seed = new Uint8Array(32);
  return {
    host: new TxHost({ tx, contract: "demo", readonly: false, limits: DEFAULT_LIMITS, seed, publicOnly }),
    tx,
  };
}

describe("TxHost map names", () => {
  it("sends every write of a call to its own store map, in any order of names", () => {
    const store = KvStore.open(null);
    const { host: h, tx } = host(store);
    h.kvSet("a", "k1", '"a1"');
    h.kvSet("public:b", "k1", '"b1"');
    h.kvSet("a", "k2", '"a2"');
    h.kvSet("c", "k1", '"c1"');
    h.kvSet("public:b", "k2", '"b2"');
    const maps = [...tx.writeSet().public, ...tx.writeSet().private].map(({ map, writes }) => [
      map,
      writes.length,
    ]);
    assert.deepEqual(maps, [
      ["public:demo.b", 2],
      ["demo.a", 2],
      ["demo.c", 1],
    ]);
    assert.equal(h.kvGet("a", "k2"), '"a2"');
    assert.equal(h.kvGet("public:b", "k1"), '"b1"');
  });

  it("checks each new name: a refusal after a resolved name is still a refusal", () => {
    const store = KvStore.open(null);
    const { host: h } = host(store, true);
    h.kvSet("public:ok", "k", "1");
    assert.throws(
      () => h.kvSet("private", "k", "1"),
      (err: unknown) => err instanceof TreatyError && err.code === "MapAccessDenied",
    );
    h.kvSet("public:ok", "k", "2");
    assert.throws(
      () => h.kvGet("bad.name", "k"),
      (err: unknown) => err instanceof TreatyError && err.code === "MapAccessDenied",
    );
    assert.equal(h.kvGet("public:ok", "k"), "2");
  });
});
