/**
 * Packs the write-set bytes of a message between the main thread and the execution worker into
 * one fresh ArrayBuffer that is transferred (not cloned) with it: a batch's results (worker to
 * main; their write sets are also described by numbers instead of objects, see `PackedBatch`),
 * an apply's items and a batch's seeds (main to worker).
 *
 * Structured clone turns every key and value `Uint8Array` into an ArrayBuffer of its own on both
 * sides (~6 per signed write: the contract's write and the two nonce rows), each serialized,
 * allocated and later swept by the GC; and a view clones the whole buffer under it, so a
 * replicated write set decoded in place from a received message carried that message along.
 * Packed, the bytes cross as one transferred buffer sized to them and the receiver's arrays are
 * views of it; the shapes are unchanged (views are ordinary `Uint8Array`s). The buffer is fresh
 * and owned by the message alone, so transferring it detaches nothing the sender still uses; the
 * packed copies are for the message only (the sender keeps its own arrays).
 */
import { assert } from "../../sdk/assert.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import type { ExecCall, ExecResult, VersionedWriteSet } from "./protocol.js";

/** An apply's items with their write-set bytes in `buffer` (null when they hold none). */
export interface PackedItems {
  readonly items: VersionedWriteSet[];
  readonly buffer: ArrayBuffer | null;
}

/**
 * A batch's results as they cross from the worker to the main thread (`packBatch`, then
 * `unpackBatch` on the receiving side): the results without their write sets, which are
 * described by numbers in `layout` over the bytes in `bytes`. Structured clone serializes every
 * object, array and view of a write set (~20 per signed write, ~2 µs to send and ~3 µs to receive
 * per write on this machine); this form crosses as two transferred buffers, a string table and
 * a few objects per result, and the receiver rebuilds the write sets as views of `bytes`.
 */
export interface PackedBatch {
  /** The results, in order; a successful one has `writeSet: null` here (it is in `layout`). */
  readonly results: readonly WireResult[];
  /** The map names the write sets name, each once; `layout` holds indices into it. */
  readonly maps: readonly string[];
  /**
   * For each successful result, in order: its public map count and private map count, then per
   * map (public ones first) the index of its name and its write count, then per write the key's
   * length and the value's length (-1 for a delete). Keys and values lie in `bytes` in that order.
   */
  readonly layout: Int32Array;
  /** Every key and value of the batch, back to back. */
  readonly bytes: Uint8Array;
}

/** A result as `PackedBatch` carries it. */
export type WireResult =
  | (Omit<Extract<ExecResult, { ok: true }>, "writeSet"> & { readonly writeSet: null })
  | Extract<ExecResult, { ok: false }>;

/**
 * A batch's results in the form that crosses to the main thread, and the buffers to transfer
 * with it (fresh, owned by the message alone). `results` is not modified.
 */
export function packBatch(results: readonly ExecResult[]): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  let slots = 0;
  let total = 0;
  for (const result of results) {
    if (!result.ok) continue;
    slots += 2;
    for (const maps of [result.writeSet.public, result.writeSet.private]) {
      for (const { writes } of maps) {
        slots += 2 + 2 * writes.length;
        for (const [key, value] of writes) total += key.length + (value?.length ?? 0);
      }
    }
  }
  const layout = new Int32Array(slots);
  const bytes = new Uint8Array(total);
  const names = new Map<string, number>();
  const maps: string[] = [];
  let slot = 0;
  let offset = 0;
  const place = (part: Uint8Array): void => {
    bytes.set(part, offset);
    offset += part.length;
  };
  const describe = (list: readonly MapWrites[]): void => {
    for (const { map, writes } of list) {
      let index = names.get(map);
      if (index === undefined) {
        index = maps.length;
        maps.push(map);
        names.set(map, index);
      }
      layout[slot++] = index;
      layout[slot++] = writes.length;
      for (const [key, value] of writes) {
        layout[slot++] = key.length;
        layout[slot++] = value === null ? -1 : value.length;
        place(key);
        if (value !== null) place(value);
      }
    }
  };
  const wire = results.map((result): WireResult => {
    if (!result.ok) return result;
    layout[slot++] = result.writeSet.public.length;
    layout[slot++] = result.writeSet.private.length;
    describe(result.writeSet.public);
    describe(result.writeSet.private);
    const { seqno, txid, result: value, events, claimsDigest } = result;
    return claimsDigest === undefined
      ? { ok: true, seqno, txid, result: value, writeSet: null, events }
      : { ok: true, seqno, txid, result: value, writeSet: null, events, claimsDigest };
  });
  assert(slot === slots && offset === total, "pack: every counted slot and byte is placed");
  return {
    batch: { results: wire, maps, layout, bytes },
    transfer: [layout.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer],
  };
}

/**
 * The results `packBatch` packed, with write sets whose keys and values are views of
 * `batch.bytes`. Takes over `batch` (its result objects become the returned results). Throws
 * AssertionFailure when the layout does not match the bytes (a bug: both come from packBatch).
 */
export function unpackBatch(batch: PackedBatch): ExecResult[] {
  const { layout, bytes, maps } = batch;
  let slot = 0;
  let offset = 0;
  const take = (length: number): Uint8Array => {
    const view = bytes.subarray(offset, offset + length);
    offset += length;
    return view;
  };
  const rebuild = (count: number): MapWrites[] => {
    const out: MapWrites[] = new Array(count);
    for (let m = 0; m < count; m++) {
      const map = maps[layout[slot++]!];
      const writeCount = layout[slot++]!;
      assert(map !== undefined && writeCount >= 0, "unpack: a map of the layout");
      const writes: (readonly [Uint8Array, Uint8Array | null])[] = new Array(writeCount);
      for (let w = 0; w < writeCount; w++) {
        const keyLength = layout[slot++]!;
        const valueLength = layout[slot++]!;
        const key = take(keyLength);
        writes[w] = [key, valueLength === -1 ? null : take(valueLength)];
      }
      out[m] = { map, writes };
    }
    return out;
  };
  const results = batch.results as ExecResult[];
  for (const result of results) {
    if (!result.ok) continue;
    const publicCount = layout[slot++]!;
    const privateCount = layout[slot++]!;
    const writeSet: WriteSet = { public: rebuild(publicCount), private: rebuild(privateCount) };
    (result as { writeSet: WriteSet | null }).writeSet = writeSet;
  }
  assert(slot === layout.length && offset === bytes.length, "unpack: the layout covers every byte");
  return results;
}

/** A batch's calls with their seeds as views of `buffer` (null when there are no calls). */
export interface PackedCalls {
  readonly calls: ExecCall[];
  readonly buffer: ArrayBuffer | null;
}

/**
 * The calls of a batch request with their seeds copied into one fresh buffer, to be transferred
 * with the request: structured clone gives every seed an ArrayBuffer of its own on both sides
 * (measured on one MessagePort, 32 calls per batch: ~1.2 µs per call less to send and receive).
 * `calls` and their seeds are not modified. Calls whose seeds are not all Uint8Arrays (a caller's
 * bug, which the worker reports as such) are passed on as they are, with no buffer.
 */
export function packCalls(calls: readonly ExecCall[]): PackedCalls {
  let total = 0;
  for (const call of calls) {
    if (!(call.seed instanceof Uint8Array)) return { calls: calls.slice(), buffer: null };
    total += call.seed.length;
  }
  if (calls.length === 0) return { calls: [], buffer: null };
  const bytes = new Uint8Array(total);
  let offset = 0;
  const packed = calls.map((call): ExecCall => {
    const { contract, method, args, caller, nonce, createdMs, timeMs } = call;
    bytes.set(call.seed, offset);
    const seed = bytes.subarray(offset, offset + call.seed.length);
    offset += call.seed.length;
    // Two fixed shapes: `createdMs` stays absent when it was.
    return createdMs === undefined
      ? { contract, method, args, caller, nonce, timeMs, seed }
      : { contract, method, args, caller, nonce, createdMs, timeMs, seed };
  });
  return { calls: packed, buffer: bytes.buffer as ArrayBuffer };
}

/** See the module comment. `items` is not modified. */
export function packItems(items: readonly VersionedWriteSet[]): PackedItems {
  let total = 0;
  for (const { writeSet } of items) total += writeSetBytes(writeSet);
  if (total === 0) return { items: items.slice(), buffer: null };
  const packer = new Packer(total);
  const packed = items.map((item): VersionedWriteSet => {
    if (writeSetBytes(item.writeSet) === 0) return item;
    return { version: item.version, writeSet: packer.writeSet(item.writeSet) };
  });
  return { items: packed, buffer: packer.done() };
}

/**
 * `result` with `writeSet` in place of its own: the fields written out rather than spread (a
 * spread built the copy's hidden class anew for every result), optional ones only when present.
 */
/** Copies write sets into one buffer of exactly the bytes they hold. */
class Packer {
  readonly #out: Uint8Array;
  #offset = 0;

  constructor(totalBytes: number) {
    this.#out = new Uint8Array(new ArrayBuffer(totalBytes));
  }

  writeSet(writeSet: WriteSet): WriteSet {
    return { public: this.#maps(writeSet.public), private: this.#maps(writeSet.private) };
  }

  done(): ArrayBuffer {
    assert(this.#offset === this.#out.length, "pack: every counted byte is placed");
    return this.#out.buffer as ArrayBuffer;
  }

  #maps(maps: readonly MapWrites[]): MapWrites[] {
    return maps.map(({ map, writes }) => ({
      map,
      writes: writes.map(
        ([key, value]) => [this.#place(key), value === null ? null : this.#place(value)] as const,
      ),
    }));
  }

  #place(bytes: Uint8Array): Uint8Array {
    const view = this.#out.subarray(this.#offset, this.#offset + bytes.length);
    view.set(bytes);
    this.#offset += bytes.length;
    return view;
  }
}

function writeSetBytes(writeSet: WriteSet): number {
  let bytes = 0;
  for (const maps of [writeSet.public, writeSet.private]) {
    for (const { writes } of maps)
      for (const [key, value] of writes) bytes += key.length + (value?.length ?? 0);
  }
  return bytes;
}
