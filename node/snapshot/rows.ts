/**
 * The KV part of a snapshot body, encoded where the rows are read (the execution worker) straight
 * into one buffer per part, with no row objects in between: `MapsEncoder` writes exactly the
 * bytes `encode(writesToWire(maps))` (sdk/codec.ts, runtime/ledger/entry.ts) gives for the same
 * maps, i.e. the msgpack `[[map, [[key, value], ...]], ...]` of docs/snapshots.md, with minimal
 * headers as msgpackr writes them. The tests compare both on random maps.
 */
import { assert } from "../../sdk/assert.js";
import {
  arrayHeaderLength,
  binHeaderLength,
  strHeaderLength,
  writeArrayHeader,
  writeBinHeader,
  writeStrHeader,
} from "../../sdk/codec.js";

/**
 * What the execution worker hands over for a snapshot at `version`. Both byte strings live in a
 * SharedArrayBuffer (`MapsEncoder.finish`): posting them shares the memory with the main thread,
 * neither copied (structured clone would copy the whole state twice: into the message, then out
 * of it) nor transferred (a transfer detaches an ArrayBuffer: node/execution/serve.ts `post`).
 * The worker never writes them again once finished.
 */
export interface SnapshotRows {
  readonly version: number;
  /** The public maps (names starting with `public:`), encoded as above. */
  readonly publicBytes: Uint8Array;
  /** The private maps, encoded as above (still in clear: the main thread seals them), or null when none. */
  readonly privateBytes: Uint8Array | null;
  /** KV rows in both. */
  readonly rows: number;
}

const encoder = new TextEncoder();
const INITIAL_BYTES = 64 * 1024;
/** Most bytes of a row besides its key and value: the 2-array byte and two bin32 headers. */
const ROW_HEADER_BYTES = 11;
/** Keys and values of at most this many bytes are copied byte by byte (no subarray view to `set` from). */
const SHORT_COPY = 64;

/**
 * Row buffers of finished encoders, for the next ones (`MapsEncoder`): a snapshot's rows are
 * copied into a SharedArrayBuffer at `finish`, so the buffer they were gathered in is free again.
 * Allocating it afresh per snapshot (the state's size, ~9 MB at the bench's 72,000 rows) cost its
 * page faults while it was written, and its external memory brought on a major GC of the worker.
 * At most SPARE_BUFFERS (one per part) stay, the larger ones: the worker holds about the state's
 * size in them between snapshots.
 */
const spare: Uint8Array[] = [];
const SPARE_BUFFERS = 2;

/**
 * The smallest spare buffer that holds `expected` bytes, else a new one an eighth larger (a state
 * grows little between two snapshots: a spare sized for the last one usually still fits the next,
 * and the encoder grows its buffer when not).
 */
function takeBuffer(expected: number): Uint8Array {
  let best = -1;
  for (let i = 0; i < spare.length; i++) {
    if (spare[i]!.length >= expected && (best < 0 || spare[i]!.length < spare[best]!.length)) best = i;
  }
  if (best < 0) return new Uint8Array(Math.max(INITIAL_BYTES, Math.ceil(expected * 1.125)));
  return spare.splice(best, 1)[0]!;
}

function giveBack(buffer: Uint8Array): void {
  spare.push(buffer);
  spare.sort((a, b) => b.length - a.length);
  spare.length = Math.min(spare.length, SPARE_BUFFERS);
}

/** Copies `source[start, end)` into `target` at `pos`; returns the position after it. */
function copyInto(target: Uint8Array, pos: number, source: Uint8Array, start: number, end: number): number {
  if (end - start <= SHORT_COPY) {
    for (let i = start; i < end; i++) target[pos++] = source[i]!;
    return pos;
  }
  target.set(source.subarray(start, end), pos);
  return pos + end - start;
}

interface MapSpan {
  readonly name: Uint8Array;
  readonly start: number;
  end: number;
  rows: number;
}

/**
 * Accumulates maps (in the order given: callers sort them) and their rows (bytewise key order),
 * then `finish` returns the encoded array in a fresh SharedArrayBuffer of exactly its length (see
 * `SnapshotRows`: posted to the main thread without a copy, and without slack). Rows come as
 * places in other arrays (a pinned scan's RowSink, runtime/kv/backend.ts, hands them on straight
 * from the store's buffers).
 */
export class MapsEncoder {
  #buf: Uint8Array;
  #pos = 0;
  readonly #maps: MapSpan[] = [];
  #map: MapSpan | null = null;
  #rows = 0;
  /** Where the last row's key is in #buf. */
  #lastKeyStart = 0;
  #lastKeyEnd = 0;
  #released = false;

  /**
   * `expectedBytes`: how many bytes the rows will take, as far as the caller knows (the previous
   * snapshot's part): the buffer is a spare one that holds that many (see `spare`), else a new one
   * that large plus an eighth, so a state that did not outgrow it is written without regrowing
   * (each regrowth allocates and copies the whole).
   */
  constructor(expectedBytes = 0) {
    this.#buf = takeBuffer(expectedBytes);
  }

  /** Bytes of rows written so far (without the map headers `finish` adds). */
  get rowBytes(): number {
    return this.#pos;
  }

  /** Rows written so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Maps begun so far. */
  get maps(): number {
    return this.#maps.length;
  }

  /** Starts map `name`; its rows follow. A map with no rows is left out by `finish`. */
  beginMap(name: string): void {
    this.#map = { name: encoder.encode(name), start: this.#pos, end: this.#pos, rows: 0 };
    this.#maps.push(this.#map);
  }

  /** One row of the current map: `keys[keyStart, keyEnd)`, `values[valueStart, valueEnd)` (copied). */
  row(
    keys: Uint8Array,
    keyStart: number,
    keyEnd: number,
    values: Uint8Array,
    valueStart: number,
    valueEnd: number,
  ): void {
    const map = this.#map;
    assert(map !== null && !this.#released, "MapsEncoder: a row belongs to a map, before finish");
    const keyLength = keyEnd - keyStart;
    const valueLength = valueEnd - valueStart;
    if (this.#pos + ROW_HEADER_BYTES + keyLength + valueLength > this.#buf.length)
      this.#grow(ROW_HEADER_BYTES + keyLength + valueLength);
    const buf = this.#buf;
    let pos = this.#pos;
    buf[pos++] = 0x92;
    pos = writeBinHeader(buf, pos, keyLength);
    this.#lastKeyStart = pos;
    pos = copyInto(buf, pos, keys, keyStart, keyEnd);
    this.#lastKeyEnd = pos;
    pos = writeBinHeader(buf, pos, valueLength);
    pos = copyInto(buf, pos, values, valueStart, valueEnd);
    this.#pos = pos;
    map.end = pos;
    map.rows++;
    this.#rows++;
  }

  /** A copy of the last row's key (a scan continues after it). */
  lastKey(): Uint8Array {
    assert(this.#rows > 0, "MapsEncoder: a last key needs a row");
    return this.#buf.slice(this.#lastKeyStart, this.#lastKeyEnd);
  }

  /**
   * The encoded array of the maps with rows, in a SharedArrayBuffer of its own (`SnapshotRows`).
   * Once only: the row buffer goes back to the spares.
   */
  finish(): Uint8Array {
    assert(!this.#released, "MapsEncoder: finished once");
    const maps = this.#maps.filter((m) => m.rows > 0);
    let total = arrayHeaderLength(maps.length);
    for (const m of maps)
      total +=
        1 + strHeaderLength(m.name.length) + m.name.length + arrayHeaderLength(m.rows) + (m.end - m.start);
    const out = new Uint8Array(new SharedArrayBuffer(total));
    let pos = writeArrayHeader(out, 0, maps.length);
    for (const m of maps) {
      out[pos++] = 0x92;
      pos = writeStrHeader(out, pos, m.name.length);
      out.set(m.name, pos);
      pos += m.name.length;
      pos = writeArrayHeader(out, pos, m.rows);
      out.set(this.#buf.subarray(m.start, m.end), pos);
      pos += m.end - m.start;
    }
    assert(pos === total, "MapsEncoder: the encoded length is as computed");
    this.release();
    return out;
  }

  /** Gives the row buffer back to the spares (a read that ends unfinished); no rows after. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    giveBack(this.#buf);
    this.#buf = new Uint8Array(0);
  }

  #grow(bytes: number): void {
    let size = this.#buf.length * 2;
    while (size < this.#pos + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    // The smaller buffer is not kept: the next snapshot wants the larger size.
    this.#buf = next;
  }
}

/** msgpack bin header of `n` bytes (minimal, as msgpackr writes it), as a fresh array. */
export function binHeader(n: number): Uint8Array {
  const out = new Uint8Array(binHeaderLength(n));
  writeBinHeader(out, 0, n);
  return out;
}
