/**
 * Packs the write-set bytes of a message between the main thread and the execution worker into
 * one fresh ArrayBuffer that is transferred (not cloned) with it: a batch's results (worker to
 * main, `packResults`), and an apply's items (main to worker, `encodeItems`: the whole apply is
 * encoded there, objects and all, see its comment).
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
import { utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import type { ExecResult, VersionedWriteSet } from "./protocol.js";

/** A batch's results with their write-set bytes in `buffer` (null when they hold none). */
export interface PackedResults {
  readonly results: ExecResult[];
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

/**
 * An apply's items encoded into one fresh buffer, for `decodeItems` on the other side; `items`
 * is not modified. Not structured clone: a replicated entry's write set is about six small
 * arrays, each a host object the serializer writes and the receiver rebuilds one by one, which
 * cost ~7.5-8.5 µs of CPU per entry on the two threads together (50-entry applies, GC
 * included), this ~1.2-1.5 µs. Layout, big-endian: u32 items; per item f64 version, then for
 * the public part and the private part: u32 maps; per map u32 name length, the name's UTF-8,
 * u32 writes; per write u32 key length, key, i32 value length (-1: a delete), value.
 */
export function encodeItems(items: readonly VersionedWriteSet[]): ArrayBuffer {
  let size = 4;
  for (const { writeSet } of items) {
    size += 8;
    for (const maps of [writeSet.public, writeSet.private]) {
      size += 4;
      for (const { map, writes } of maps) {
        size += 8 + nameBytes(map).length;
        for (const [key, value] of writes) size += 8 + key.length + (value?.length ?? 0);
      }
    }
  }
  const buffer = new ArrayBuffer(size);
  const out = new Uint8Array(buffer);
  const view = new DataView(buffer);
  let at = 0;
  view.setUint32(at, items.length);
  at += 4;
  for (const { version, writeSet } of items) {
    view.setFloat64(at, version);
    at += 8;
    for (const maps of [writeSet.public, writeSet.private]) {
      view.setUint32(at, maps.length);
      at += 4;
      for (const { map, writes } of maps) {
        const name = nameBytes(map);
        view.setUint32(at, name.length);
        out.set(name, at + 4);
        at += 4 + name.length;
        view.setUint32(at, writes.length);
        at += 4;
        for (const [key, value] of writes) {
          view.setUint32(at, key.length);
          out.set(key, at + 4);
          at += 4 + key.length;
          if (value === null) {
            view.setInt32(at, -1);
            at += 4;
          } else {
            view.setInt32(at, value.length);
            out.set(value, at + 4);
            at += 4 + value.length;
          }
        }
      }
    }
  }
  assert(at === size, "encodeItems fills its buffer exactly");
  return buffer;
}

/**
 * The items `encodeItems` wrote into `buffer` (the worker's side of an apply). Keys and values
 * are views of `buffer`, which the receiver then owns (it was transferred). Throws TreatyError
 * `LedgerCorrupt` when the bytes are not such an encoding (a bug: only the main thread writes them).
 */
export function decodeItems(buffer: ArrayBuffer): VersionedWriteSet[] {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  let at = 0;
  const u32 = (): number => {
    const n = view.getUint32(at);
    at += 4;
    return n;
  };
  const take = (n: number): Uint8Array => {
    if (n > bytes.length - at) throw new RangeError("apply items: truncated");
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const maps = (): MapWrites[] => {
    const out: MapWrites[] = [];
    for (let count = u32(); count > 0; count--) {
      const map = nameOf(take(u32()));
      const writes: Array<readonly [Uint8Array, Uint8Array | null]> = [];
      for (let n = u32(); n > 0; n--) {
        const key = take(u32());
        const length = view.getInt32(at);
        at += 4;
        writes.push([key, length < 0 ? null : take(length)]);
      }
      out.push({ map, writes });
    }
    return out;
  };
  try {
    const items: VersionedWriteSet[] = [];
    for (let count = u32(); count > 0; count--) {
      const version = view.getFloat64(at);
      at += 8;
      const publicMaps = maps();
      items.push({ version, writeSet: { public: publicMaps, private: maps() } });
    }
    if (at !== bytes.length) throw new RangeError("apply items: trailing bytes");
    return items;
  } catch (err) {
    throw new TreatyError("LedgerCorrupt", `apply items do not decode: ${(err as Error).message}`);
  }
}

/** Map names recur in every write set: each is encoded (and decoded) once, bounded. */
const NAME_CACHE_LIMIT = 1024;
const encodedNames = new Map<string, Uint8Array>();
const decodedNames = new Map<string, string>();

function nameBytes(map: string): Uint8Array {
  let bytes = encodedNames.get(map);
  if (bytes === undefined) {
    bytes = utf8.encode(map);
    if (encodedNames.size >= NAME_CACHE_LIMIT) encodedNames.clear();
    encodedNames.set(map, bytes);
  }
  return bytes;
}

/** The name in `bytes` (UTF-8), from the cache when the same bytes were decoded before. */
function nameOf(bytes: Uint8Array): string {
  // Names are short: their bytes as a latin1 string key the cache without a UTF-8 decode.
  const key = String.fromCharCode.apply(null, bytes as unknown as number[]);
  let name = decodedNames.get(key);
  if (name === undefined) {
    name = utf8.decode(bytes);
    if (decodedNames.size >= NAME_CACHE_LIMIT) decodedNames.clear();
    decodedNames.set(key, name);
  }
  return name;
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
