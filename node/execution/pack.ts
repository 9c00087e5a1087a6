/**
 * The form in which write sets and seeds cross between the main thread and the execution
 * worker: a batch's results (worker to main, `packBatch`), an apply's items (main to worker,
 * `packItems`) and a batch's seeds (main to worker, `packCalls`).
 *
 * Structured clone serializes every object, array and view of a write set one by one (~20 per
 * signed write: the contract's write and the two nonce rows), and gives every `Uint8Array` an
 * ArrayBuffer of its own on both sides, each allocated and later swept by the GC; a view even
 * clones the whole buffer under it, so a write set decoded in place from a received message
 * carried that message along. Packed (`packWriteSets`), write sets are numbers in an Int32Array
 * over one byte buffer, plus a table of map names: two buffers and a few strings, rebuilt on the
 * other side as views of the bytes (~2 µs to send and ~3 µs to receive per signed write before,
 * 0.4 and 1.4 after; an apply's replicated entry ~8 µs on both threads together before, ~1.3
 * after). The buffers are fresh and owned by the message alone (`transferOf` lists them): the main
 * thread transfers an apply's and a batch's seeds; the worker posts a batch's answer copied, so
 * its isolate never detaches an ArrayBuffer (serve.ts `post`).
 *
 * A batch's write sets go one step further (`encodeWriteSets`): the worker writes each one's two
 * parts in the form a ledger entry carries them (runtime/ledger/entry.ts `encodeWrites`), and the
 * main thread keeps them as those bytes (`EncodedWriteSet`): the leader's ledger copies them into
 * the entry, and nothing on the main thread makes the write set's objects, which lived until the
 * KV commit (the journal) and in the ledger's recent entries, long enough to be promoted by the
 * scavenger (docs/performance.md "Main-thread GC pauses, session 18").
 */
import { assert } from "../../sdk/assert.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import { EncodedWriteSet, encodeWrites } from "../../runtime/ledger/entry.js";
import type { CallerInfo } from "../../runtime/sandbox/abi.js";
import type { ExecCall, ExecResult, VersionedWriteSet } from "./protocol.js";

/** Write sets as numbers over one byte buffer (see the module comment). */
export interface PackedWriteSets {
  /** The map names the write sets name, each once; `layout` holds indices into it. */
  readonly maps: readonly string[];
  /**
   * For each write set, in order: its public map count and private map count, then per map
   * (public ones first) the index of its name and its write count, then per write the key's
   * length and the value's length (-1 for a delete). Keys and values lie in `bytes` in that order.
   */
  readonly layout: Int32Array;
  /** Every key and value, back to back. */
  readonly bytes: Uint8Array;
}

/** `writeSets` packed; they are not modified. */
export function packWriteSets(writeSets: readonly WriteSet[]): PackedWriteSets {
  let slots = 0;
  let total = 0;
  for (let i = 0; i < writeSets.length; i++) {
    const writeSet = writeSets[i]!;
    slots += 2 + countSlots(writeSet.public) + countSlots(writeSet.private);
    total += countBytes(writeSet.public) + countBytes(writeSet.private);
  }
  const packer = new Packer(new Int32Array(slots), new Uint8Array(total));
  for (let i = 0; i < writeSets.length; i++) {
    const writeSet = writeSets[i]!;
    packer.layout[packer.slot++] = writeSet.public.length;
    packer.layout[packer.slot++] = writeSet.private.length;
    packer.describe(writeSet.public);
    packer.describe(writeSet.private);
  }
  assert(packer.slot === slots && packer.offset === total, "pack: every counted slot and byte is placed");
  return { maps: packer.maps, layout: packer.layout, bytes: packer.bytes };
}

function countSlots(list: readonly MapWrites[]): number {
  let slots = 0;
  for (let m = 0; m < list.length; m++) slots += 2 + 2 * list[m]!.writes.length;
  return slots;
}

function countBytes(list: readonly MapWrites[]): number {
  let total = 0;
  for (let m = 0; m < list.length; m++) {
    const writes = list[m]!.writes;
    for (let w = 0; w < writes.length; w++) {
      const [key, value] = writes[w]!;
      total += key.length + (value?.length ?? 0);
    }
  }
  return total;
}

/**
 * One packing's cursor. Its steps are methods, not closures made per call: V8 keeps a hot
 * function's optimized code only while some closure of it lives, so closures made per call and
 * hot within it were optimized again by TurboFan after every major GC (~10 times a run per node,
 * `--trace-opt`; docs/performance.md, "Hot closures recompiled after every major GC").
 */
class Packer {
  slot = 0;
  offset = 0;
  readonly maps: string[] = [];
  readonly #names = new Map<string, number>();

  constructor(
    readonly layout: Int32Array,
    readonly bytes: Uint8Array,
  ) {}

  describe(list: readonly MapWrites[]): void {
    for (let m = 0; m < list.length; m++) {
      const { map, writes } = list[m]!;
      let index = this.#names.get(map);
      if (index === undefined) {
        index = this.maps.length;
        this.maps.push(map);
        this.#names.set(map, index);
      }
      this.layout[this.slot++] = index;
      this.layout[this.slot++] = writes.length;
      for (let w = 0; w < writes.length; w++) {
        const [key, value] = writes[w]!;
        this.layout[this.slot++] = key.length;
        this.layout[this.slot++] = value === null ? -1 : value.length;
        this.#place(key);
        if (value !== null) this.#place(value);
      }
    }
  }

  #place(part: Uint8Array): void {
    this.bytes.set(part, this.offset);
    this.offset += part.length;
  }
}

/** The buffers `packed` owns (to transfer with it; the worker's batch answers copy them instead). */
export function transferOf(packed: PackedWriteSets): ArrayBuffer[] {
  return [packed.layout.buffer as ArrayBuffer, packed.bytes.buffer as ArrayBuffer];
}

/**
 * The write sets `packWriteSets` packed, keys and values as views of `packed.bytes`. Throws
 * AssertionFailure when the layout does not match the bytes (a bug: both come from one pack).
 */
export function unpackWriteSets(packed: PackedWriteSets): WriteSet[] {
  const unpacker = new Unpacker(packed);
  const { layout } = packed;
  const writeSets: WriteSet[] = [];
  while (unpacker.slot < layout.length) {
    const publicCount = layout[unpacker.slot++]!;
    const privateCount = layout[unpacker.slot++]!;
    writeSets.push({ public: unpacker.rebuild(publicCount), private: unpacker.rebuild(privateCount) });
  }
  assert(
    unpacker.slot === layout.length && unpacker.offset === packed.bytes.length,
    "unpack: the layout covers every byte",
  );
  return writeSets;
}

/** One unpacking's cursor; methods, not closures made per call (see `Packer`). */
class Unpacker {
  slot = 0;
  offset = 0;
  readonly #layout: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #maps: readonly string[];

  constructor(packed: PackedWriteSets) {
    this.#layout = packed.layout;
    this.#bytes = packed.bytes;
    this.#maps = packed.maps;
  }

  rebuild(count: number): MapWrites[] {
    const layout = this.#layout;
    const out: MapWrites[] = new Array(count);
    for (let m = 0; m < count; m++) {
      const map = this.#maps[layout[this.slot++]!];
      const writeCount = layout[this.slot++]!;
      assert(map !== undefined && writeCount >= 0, "unpack: a map of the layout");
      const writes: (readonly [Uint8Array, Uint8Array | null])[] = new Array(writeCount);
      for (let w = 0; w < writeCount; w++) {
        const keyLength = layout[this.slot++]!;
        const valueLength = layout[this.slot++]!;
        const key = this.#take(keyLength);
        writes[w] = [key, valueLength === -1 ? null : this.#take(valueLength)];
      }
      out[m] = { map, writes };
    }
    return out;
  }

  #take(length: number): Uint8Array {
    assert(
      length >= 0 && length <= this.#bytes.length - this.offset,
      "unpack: a key or value within the bytes",
    );
    const view = this.#bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }
}

/**
 * A result as `PackedBatch` carries it: a successful one without its write set, or, for the
 * common write (`result` null, no events, no claims digest, txid `${view}.${seqno}`), just its
 * seqno: structured clone serializes an object field by field on one thread and rebuilds it on
 * the other (~3 µs a result for both together, measured with v8.serialize/deserialize; ~0.5 for
 * a number).
 */
export type WireResult =
  | (Omit<Extract<ExecResult, { ok: true }>, "writeSet"> & { readonly writeSet: null })
  | Extract<ExecResult, { ok: false }>
  | number;

/**
 * Write sets as a ledger entry carries them (runtime/ledger/entry.ts `encodeWrites`): for each, in
 * order, its public part's bytes then its private writes' bytes, back to back in `bytes`;
 * `lengths` holds the two lengths of each.
 */
export interface EncodedWriteSets {
  readonly lengths: Int32Array;
  readonly bytes: Uint8Array;
}

/** A batch's results as they cross from the worker to the main thread. */
export interface PackedBatch {
  /** The view of the batch's txids (`${view}.${seqno}`), for the results sent as a seqno. */
  readonly view: number;
  /** The results, in order; a successful one has `writeSet: null` here (it is in `writeSets`). */
  readonly results: readonly WireResult[];
  /** The write sets of the successful results, in order. */
  readonly writeSets: EncodedWriteSets;
}

/** Where `encodeWriteSets` writes, reused: its result is a copy of the bytes written. */
let encodeScratch = new Uint8Array(16 * 1024);

/**
 * `writeSets` in the entry's form, checked as the ledger checks a write set it encodes (sorted,
 * each map in its part: assertions); they are not modified. The bytes are one fresh buffer sized
 * to them (a view of a larger one would be cloned whole by postMessage).
 */
export function encodeWriteSets(writeSets: readonly WriteSet[]): EncodedWriteSets {
  const lengths = new Int32Array(2 * writeSets.length);
  let offset = 0;
  for (let i = 0; i < writeSets.length; i++) {
    const writeSet = writeSets[i]!;
    // Each copied before the next call: encodeWrites reuses its buffer.
    const publicBytes = encodeWrites(writeSet.public, true);
    offset = placeEncoded(publicBytes, offset);
    lengths[2 * i] = publicBytes.length;
    const privateBytes = encodeWrites(writeSet.private, false);
    offset = placeEncoded(privateBytes, offset);
    lengths[2 * i + 1] = privateBytes.length;
  }
  return { lengths, bytes: encodeScratch.slice(0, offset) };
}

function placeEncoded(part: Uint8Array, offset: number): number {
  if (offset + part.length > encodeScratch.length) {
    const bigger = new Uint8Array(Math.max(2 * encodeScratch.length, offset + part.length));
    bigger.set(encodeScratch.subarray(0, offset));
    encodeScratch = bigger;
  }
  encodeScratch.set(part, offset);
  return offset + part.length;
}

/**
 * The write sets `encodeWriteSets` encoded, each as views of `encoded.bytes`. Throws
 * AssertionFailure when the lengths do not cover the bytes (a bug: both come from one encoding).
 */
export function decodeWriteSets(encoded: EncodedWriteSets): EncodedWriteSet[] {
  const { lengths, bytes } = encoded;
  assert(lengths.length % 2 === 0, "unpack: two lengths per write set");
  const out = new Array<EncodedWriteSet>(lengths.length / 2);
  let offset = 0;
  for (let i = 0; i < out.length; i++) {
    const publicLength = lengths[2 * i]!;
    const privateLength = lengths[2 * i + 1]!;
    assert(
      publicLength > 0 && privateLength > 0 && publicLength + privateLength <= bytes.length - offset,
      "unpack: a write set within the bytes",
    );
    const publicEnd = offset + publicLength;
    const end = publicEnd + privateLength;
    out[i] = new EncodedWriteSet(bytes.subarray(offset, publicEnd), bytes.subarray(publicEnd, end));
    offset = end;
  }
  assert(offset === bytes.length, "unpack: the write sets cover the bytes");
  return out;
}

/**
 * `results` of a batch run in `view` packed, and the buffers it owns (`transferOf`); `results` is
 * not modified.
 */
export function packBatch(
  results: readonly ExecResult[],
  view: number,
): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  const writeSets: WriteSet[] = [];
  const wire = results.map((result): WireResult => {
    if (!result.ok) return result;
    writeSets.push(result.writeSet);
    // Written out rather than spread: one fixed shape (a spread built a hidden class per result).
    const { seqno, txid, result: value, events, claimsDigest } = result;
    if (value === null && events.length === 0 && claimsDigest === undefined && txid === `${view}.${seqno}`)
      return seqno;
    return claimsDigest === undefined
      ? { ok: true, seqno, txid, result: value, writeSet: null, events }
      : { ok: true, seqno, txid, result: value, writeSet: null, events, claimsDigest };
  });
  const encoded = encodeWriteSets(writeSets);
  return {
    batch: { view, results: wire, writeSets: encoded },
    transfer: [encoded.lengths.buffer as ArrayBuffer, encoded.bytes.buffer as ArrayBuffer],
  };
}

/**
 * The results `packBatch` packed, each write set an `EncodedWriteSet` (views of one buffer).
 * Takes over `batch` (its result objects become the returned results).
 */
export function unpackBatch(batch: PackedBatch): ExecResult[] {
  const writeSets = decodeWriteSets(batch.writeSets);
  const { view } = batch;
  let next = 0;
  const results = batch.results.map((wire): ExecResult => {
    if (typeof wire === "number") {
      assert(next < writeSets.length, "unpack: one write set per successful result");
      return {
        ok: true,
        seqno: wire,
        txid: `${view}.${wire}`,
        result: null,
        writeSet: writeSets[next++]!,
        events: [],
      };
    }
    const result = wire as ExecResult;
    if (result.ok) {
      assert(next < writeSets.length, "unpack: one write set per successful result");
      (result as { writeSet: WriteSet | null }).writeSet = writeSets[next++]!;
    }
    return result;
  });
  assert(next === writeSets.length, "unpack: one write set per successful result");
  return results;
}

/** An apply's items as they cross from the main thread to the worker. */
export interface PackedItems {
  readonly versions: readonly number[];
  readonly writeSets: PackedWriteSets;
}

/** `items` packed, and the buffers it owns (`transferOf`); `items` is not modified. */
export function packItems(items: readonly VersionedWriteSet[]): {
  items: PackedItems;
  transfer: ArrayBuffer[];
} {
  // Loops, not `map` with an arrow: an arrow made per call loses its optimized code (`Packer`).
  const sets: WriteSet[] = new Array(items.length);
  const versions: number[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    sets[i] = items[i]!.writeSet;
    versions[i] = items[i]!.version;
  }
  const writeSets = packWriteSets(sets);
  return { items: { versions, writeSets }, transfer: transferOf(writeSets) };
}

/** The items `packItems` packed, write sets as views of one buffer. */
export function unpackItems(packed: PackedItems): VersionedWriteSet[] {
  const writeSets = unpackWriteSets(packed.writeSets);
  assert(writeSets.length === packed.versions.length, "unpack: one write set per version");
  const items: VersionedWriteSet[] = new Array(writeSets.length);
  for (let i = 0; i < writeSets.length; i++)
    items[i] = { version: packed.versions[i]!, writeSet: writeSets[i]! };
  return items;
}

/**
 * A call as a batch request carries it (`packCalls`): its fields in a fixed order, the caller as
 * its id and role when it is exactly `{id, role}` (else the caller object or null, and no role),
 * `createdMs` undefined when absent, and the seed as its length (the seeds lie in call order in
 * the request's buffer). Structured clone writes an object's every key and rebuilds the object
 * field by field: on 25 signed calls, v8.serialize ~1.5 → ~0.6 µs and deserialize ~2.3 → ~1.6
 * µs per call as arrays.
 */
export type WireCall = readonly [
  contract: string,
  method: string,
  args: unknown,
  caller: string | CallerInfo | null,
  role: string | undefined,
  nonce: string | null,
  createdMs: number | undefined,
  timeMs: number,
  seedLength: number,
];

/**
 * A batch's calls as they cross to the worker: `wire` with the seeds copied into one fresh
 * buffer (to transfer with the request), or, when a seed is not a Uint8Array (a caller's bug,
 * which the worker reports as such), the calls as they are in `calls` and no buffer.
 */
export type PackedCalls =
  | { readonly wire: WireCall[]; readonly calls: null; readonly buffer: ArrayBuffer }
  | { readonly wire: null; readonly calls: ExecCall[]; readonly buffer: null };

/**
 * The calls of a batch request in their wire form with their seeds copied into one fresh buffer,
 * to be transferred with the request: structured clone gives every seed an ArrayBuffer of its own
 * on both sides (measured on one MessagePort, 32 calls per batch: ~1.2 µs per call less to send
 * and receive), and writes and rebuilds every object key (see WireCall). `calls` and their seeds
 * are not modified.
 */
export function packCalls(calls: readonly ExecCall[]): PackedCalls {
  let total = 0;
  for (const call of calls) {
    if (!(call.seed instanceof Uint8Array)) return { wire: null, calls: calls.slice(), buffer: null };
    total += call.seed.length;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  const wire = calls.map((call): WireCall => {
    const { contract, method, args, caller, nonce, createdMs, timeMs, seed } = call;
    bytes.set(seed, offset);
    offset += seed.length;
    return plainCaller(caller)
      ? [contract, method, args, caller.id, caller.role, nonce, createdMs, timeMs, seed.length]
      : [contract, method, args, caller, undefined, nonce, createdMs, timeMs, seed.length];
  });
  return { wire, calls: null, buffer: bytes.buffer as ArrayBuffer };
}

/** True when `caller` is exactly `{id, role}` with string fields (a JWT caller has more). */
function plainCaller(caller: CallerInfo | null): caller is CallerInfo & { id: string; role: string } {
  if (caller === null || typeof caller.id !== "string" || typeof caller.role !== "string") return false;
  let keys = 0;
  for (const key in caller) {
    if (!Object.hasOwn(caller, key) || (key !== "id" && key !== "role")) return false;
    keys++;
  }
  return keys === 2 && Object.getPrototypeOf(caller) === Object.prototype;
}

/**
 * The calls `packCalls` put in `wire`, seeds as views of `seeds` (the request's buffer): equal to
 * the calls packed, `createdMs` absent where it was. Asserts that the seeds cover the buffer.
 */
export function unpackCalls(wire: readonly WireCall[], seeds: Uint8Array): ExecCall[] {
  let offset = 0;
  // A loop, not a `map` arrow made per batch (see `Packer`).
  const calls = new Array<ExecCall>(wire.length);
  for (let i = 0; i < wire.length; i++) {
    const [contract, method, args, callerField, role, nonce, createdMs, timeMs, seedLength] = wire[i]!;
    assert(seedLength >= 0 && seedLength <= seeds.length - offset, "unpack: a seed within the bytes");
    const seed = seeds.subarray(offset, offset + seedLength);
    offset += seedLength;
    const caller =
      role === undefined ? (callerField as CallerInfo | null) : ({ id: callerField, role } as CallerInfo);
    // Two fixed shapes: `createdMs` stays absent when it was.
    calls[i] =
      createdMs === undefined
        ? { contract, method, args, caller, nonce, timeMs, seed }
        : { contract, method, args, caller, nonce, createdMs, timeMs, seed };
  }
  assert(offset === seeds.length, "unpack: the seeds cover the bytes");
  return calls;
}
