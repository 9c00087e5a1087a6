/**
 * Packs the write sets of a batch reply into one ArrayBuffer that the worker transfers (not
 * clones) to the main thread.
 *
 * Structured clone turns every key and value `Uint8Array` into an ArrayBuffer of its own, on both
 * sides of the thread hop: ~6 per signed write (the contract's write and the two nonce rows), each
 * serialized, allocated and later swept by the GC. Packed, a batch's bytes cross as one transferred
 * buffer and the arrays the main thread receives are views of it; nothing else changes for the
 * main thread (the shapes are the same, views are ordinary `Uint8Array`s). The buffer is fresh and
 * owned by the reply alone, so transferring it detaches nothing the worker still uses.
 */
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import type { ExecResult } from "./protocol.js";

/** A batch's results with their write-set bytes in `buffer` (null when they hold none). */
export interface PackedResults {
  readonly results: ExecResult[];
  readonly buffer: ArrayBuffer | null;
}

/** See the module comment. `results` is not modified. */
export function packResults(results: readonly ExecResult[]): PackedResults {
  let total = 0;
  for (const result of results) if (result.ok) total += writeSetBytes(result.writeSet);
  if (total === 0) return { results: results.slice(), buffer: null };
  const buffer = new ArrayBuffer(total);
  const out = new Uint8Array(buffer);
  let offset = 0;
  const place = (bytes: Uint8Array): Uint8Array => {
    const view = out.subarray(offset, offset + bytes.length);
    view.set(bytes);
    offset += bytes.length;
    return view;
  };
  const packMaps = (maps: readonly MapWrites[]): MapWrites[] =>
    maps.map(({ map, writes }) => ({
      map,
      writes: writes.map(([key, value]) => [place(key), value === null ? null : place(value)] as const),
    }));
  const packed = results.map((result): ExecResult => {
    if (!result.ok || writeSetBytes(result.writeSet) === 0) return result;
    return {
      ...result,
      writeSet: { public: packMaps(result.writeSet.public), private: packMaps(result.writeSet.private) },
    };
  });
  return { results: packed, buffer };
}

function writeSetBytes(writeSet: WriteSet): number {
  let bytes = 0;
  for (const maps of [writeSet.public, writeSet.private]) {
    for (const { writes } of maps)
      for (const [key, value] of writes) bytes += key.length + (value?.length ?? 0);
  }
  return bytes;
}
