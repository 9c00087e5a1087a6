/**
 * Shared helpers for KV tests: byte shorthands, write-set builders, and store fixtures for both
 * modes (memory and LMDB in a temp dir that is always removed).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KvStore, type KvStoreOptions } from "../../runtime/kv/store.js";
import type { KvTx, MapWrites, WriteSet } from "../../runtime/kv/types.js";

/** Bytes from numbers: `b(1, 2)`. */
export function b(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

/** Bytes from a string (UTF-8). */
export function s(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Readable form of bytes for assertions: numbers joined by dots ("" for empty). */
export function show(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : [...bytes].join(".");
}

/** A range as `key=value` strings, for compact assertions. */
export function listRange(tx: KvTx, map: string, options?: Parameters<KvTx["range"]>[1]): string[] {
  return [...tx.range(map, options)].map(([k, v]) => `${show(k)}=${show(v)}`);
}

/** A write set from `{map: [[key, value|null], ...]}` (keys given in order), split by domain. */
export function writeSet(maps: Record<string, [Uint8Array, Uint8Array | null][]>): WriteSet {
  const pub: MapWrites[] = [];
  const priv: MapWrites[] = [];
  for (const map of Object.keys(maps).sort()) {
    (map.startsWith("public:") ? pub : priv).push({ map, writes: maps[map]! });
  }
  return { public: pub, private: priv };
}

/** A store plus what a test may do with it beyond the interface. */
export interface KvFixture {
  readonly store: KvStore;
  /** True for stores that survive close (LMDB). */
  readonly durable: boolean;
  /** The LMDB directory (durable stores only). */
  readonly path?: string;
  /** Closes the store and opens the same place again (durable stores only). */
  reopen(options?: KvStoreOptions): Promise<KvStore>;
  /** Closes every store opened by the fixture and removes its files. */
  dispose(): Promise<void>;
}

/** Opens a fresh fixture. */
export type KvFixtureFactory = (options?: KvStoreOptions) => KvFixture;

export const memoryFixture: KvFixtureFactory = (options) => {
  const store = KvStore.open(null, options);
  return {
    store,
    durable: false,
    reopen: () => Promise.reject(new Error("an in-memory store does not survive close")),
    dispose: () => store.close(),
  };
};

export const lmdbFixture: KvFixtureFactory = (options) => {
  const dir = mkdtempSync(join(tmpdir(), "treaty-kv-"));
  const path = join(dir, "state");
  const opened: KvStore[] = [];
  try {
    opened.push(KvStore.open(path, options));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    store: opened[0]!,
    durable: true,
    path,
    async reopen(reopenOptions) {
      await opened[opened.length - 1]!.close();
      const next = KvStore.open(path, reopenOptions ?? options);
      opened.push(next);
      return next;
    },
    async dispose() {
      try {
        for (const store of opened) await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
};

/** Runs `body` with a fresh fixture and always disposes of it. */
export async function withFixture(
  factory: KvFixtureFactory,
  body: (fixture: KvFixture) => void | Promise<void>,
  options?: KvStoreOptions,
): Promise<void> {
  const fixture = factory(options);
  try {
    await body(fixture);
  } finally {
    await fixture.dispose();
  }
}

/** Asserts `fn` throws a TreatyError with `code` whose message contains every `parts`. */
export function throwsCode(fn: () => unknown, code: string, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error, "expected an Error");
    assert.equal((err as { code?: unknown }).code, code, `wrong code; message: ${err.message}`);
    for (const part of parts)
      assert.ok(err.message.includes(part), `message "${err.message}" lacks "${part}"`);
    return true;
  });
}
