/**
 * Packs the write-set bytes of a message between the main thread and the execution worker into
 * one fresh ArrayBuffer that is transferred (not cloned) with it: a batch's results (worker to
 * main) and an apply's items (main to worker).
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
import type { ExecResult, VersionedWriteSet } from "./protocol.js";

/** A batch's results with their write-set bytes in `buffer` (null when they hold none). */
export interface PackedResults {
  readonly results: ExecResult[];
  readonly buffer: ArrayBuffer | null;
}

/** An apply's items with their write-set bytes in `buffer` (null when they hold none). */
export interface PackedItems {
  readonly items: VersionedWriteSet[];
  readonly buffer: ArrayBuffer | null;
}

/** See the module comment. `results` is not modified. */
export function packResults(results: readonly ExecResult[]): PackedResults {
  let total = 0;
  const sizes = results.map((result) => (result.ok ? writeSetBytes(result.writeSet) : 0));
  for (const size of sizes) total += size;
  if (total === 0) return { results: results.slice(), buffer: null };
  const packer = new Packer(total);
  const packed = results.map((result, i): ExecResult => {
    if (!result.ok || sizes[i] === 0) return result;
    return withWriteSet(result, packer.writeSet(result.writeSet));
  });
  return { results: packed, buffer: packer.done() };
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
function withWriteSet(result: ExecResult & { ok: true }, writeSet: WriteSet): ExecResult {
  const { seqno, txid, result: value, events, claimsDigest } = result;
  return claimsDigest === undefined
    ? { ok: true, seqno, txid, result: value, writeSet, events }
    : { ok: true, seqno, txid, result: value, writeSet, events, claimsDigest };
}

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
