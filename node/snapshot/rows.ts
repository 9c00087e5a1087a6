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

interface MapSpan {
  readonly name: Uint8Array;
  readonly start: number;
  end: number;
  rows: number;
}

/**
 * Accumulates maps (in the order given: callers sort them) and their rows (bytewise key order),
 * then `finish` returns the encoded array in a fresh SharedArrayBuffer of exactly its length (see
 * `SnapshotRows`: posted to the main thread without a copy, and without slack).
 */
export class MapsEncoder {
  #buf: Uint8Array;
  #pos = 0;
  readonly #maps: MapSpan[] = [];
  #rows = 0;

  /**
   * `expectedBytes`: how many bytes the rows will take, as far as the caller knows (the previous
   * snapshot's part): the buffer starts that large (plus an eighth), so a state that did not
   * outgrow it is written without regrowing (each regrowth allocates and copies the whole).
   */
  constructor(expectedBytes = 0) {
    this.#buf = new Uint8Array(Math.max(INITIAL_BYTES, Math.ceil(expectedBytes * 1.125)));
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
    this.#maps.push({ name: encoder.encode(name), start: this.#pos, end: this.#pos, rows: 0 });
  }

  /** One row of the current map (the bytes are copied). */
  row(key: Uint8Array, value: Uint8Array): void {
    const map = this.#maps.at(-1);
    assert(map !== undefined, "MapsEncoder: a row belongs to a map");
    this.#reserve(10 + key.length + value.length);
    this.#buf[this.#pos++] = 0x92;
    this.#bin(key);
    this.#bin(value);
    map.end = this.#pos;
    map.rows++;
    this.#rows++;
  }

  /** The encoded array of the maps with rows, in a SharedArrayBuffer of its own (`SnapshotRows`). */
  finish(): Uint8Array {
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
    return out;
  }

  #bin(bytes: Uint8Array): void {
    this.#pos = writeBinHeader(this.#buf, this.#pos, bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  #reserve(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }
}

/** msgpack bin header of `n` bytes (minimal, as msgpackr writes it), as a fresh array. */
export function binHeader(n: number): Uint8Array {
  const out = new Uint8Array(binHeaderLength(n));
  writeBinHeader(out, 0, n);
  return out;
}
