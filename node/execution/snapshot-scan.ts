/**
 * Reading the committed state for a snapshot (node/snapshot/) in the execution worker, without
 * stopping execution: the state is pinned at the snapshot's version (one LMDB read transaction,
 * KvStore.pinCommitted), then read in slices of bounded time with a pause after each, the worker
 * serving requests (and commits going on) between slices. Rows go straight from the backend's
 * buffers into the encoded parts (the encoder is the scan's RowSink, node/snapshot/rows.ts): no
 * transaction, no overlay, no row objects, views or closures per row.
 */
import { TreatyError } from "../../sdk/errors.js";
import { isPublicMap } from "../../runtime/kv/types.js";
import type { RowSink } from "../../runtime/kv/backend.js";
import type { CommittedPin } from "../../runtime/kv/store.js";
import { pauseOf } from "../snapshot/format.js";
import { MapsEncoder, type SnapshotRows } from "../snapshot/rows.js";

/** Rows read between two looks at the clock. */
const ROWS_PER_LOOK = 256;

/**
 * Pause between two slices of a snapshot read, ms (`SnapshotScan.read`). Yielding only to the
 * event loop (setImmediate) kept the thread runnable for the whole read: on a busy machine it took
 * a full core's share from the node's other threads and from the other nodes, which all read at
 * once, and commit latency spiked for as long. With this pause a read uses at most
 * slice / (slice + pause) of a core (2 ms slices: a tenth) and takes about ten times its CPU
 * time; requests still run between slices (the thread waits for a timer, not for the read).
 */
export const SNAPSHOT_PAUSE_MS = 18;

/**
 * Row bytes of each part in this thread's last finished read: the next read's buffers start that
 * large (MapsEncoder), since a state grows little between two snapshots.
 */
const lastRowBytes = { public: 0, private: 0 };

/**
 * One snapshot read in progress; see the module comment. The scan's RowSink: each row goes to the
 * encoder of its part, and every ROWS_PER_LOOK rows the clock says whether the slice goes on, so a
 * slice is one LMDB range per map it reaches (not one per ROWS_PER_LOOK rows: each range costs a
 * cursor positioning and lmdb-js's setup).
 */
export class SnapshotScan implements RowSink {
  readonly #pin: CommittedPin;
  readonly #public = new MapsEncoder(lastRowBytes.public);
  readonly #private = new MapsEncoder(lastRowBytes.private);
  #map = -1;
  /** The part the current map goes to. */
  #into: MapsEncoder = this.#public;
  /** Where the current map continues: undefined = its start, null = it is done. */
  #after: Uint8Array | undefined | null;
  #ended: string | null = null;
  /**
   * The current slice's end (performance.now()), rows since the clock was last read, and whether
   * the clock was found past the end (the range stopped there).
   */
  #untilMs = 0;
  #sinceLook = 0;
  #stopped = false;

  constructor(pin: CommittedPin) {
    this.#pin = pin;
  }

  get version(): number {
    return this.#pin.version;
  }

  /**
   * Reads rows until every map is read (returns true) or `untilMs` (performance.now()) has passed
   * (false). Throws TreatyError Unavailable once the scan was ended.
   */
  step(untilMs: number): boolean {
    if (this.#ended !== null) throw new TreatyError("Unavailable", `snapshot read ended: ${this.#ended}`);
    const maps = this.#pin.maps;
    this.#untilMs = untilMs;
    for (;;) {
      if (this.#map < 0 || this.#after === null) {
        if (++this.#map >= maps.length) return true;
        this.#after = undefined;
        this.#into = isPublicMap(maps[this.#map]!) ? this.#public : this.#private;
        this.#into.beginMap(maps[this.#map]!);
      }
      // The rows go straight from the store's buffers to `row` (no view, copy or closure per row);
      // a range stopped by the clock continues after the last key the encoder wrote.
      this.#stopped = false;
      this.#pin.scan(maps[this.#map]!, this.#after ?? undefined, Number.POSITIVE_INFINITY, this);
      if (this.#stopped) {
        this.#after = this.#into.lastKey();
        return false;
      }
      this.#after = null;
      if (performance.now() >= untilMs) return this.#map === maps.length - 1;
    }
  }

  /** RowSink: one row of the current map (see the class comment). */
  row(
    keys: Uint8Array,
    keyStart: number,
    keyEnd: number,
    values: Uint8Array,
    valueStart: number,
    valueEnd: number,
  ): boolean {
    this.#into.row(keys, keyStart, keyEnd, values, valueStart, valueEnd);
    if (++this.#sinceLook < ROWS_PER_LOOK) return true;
    this.#sinceLook = 0;
    if (performance.now() < this.#untilMs) return true;
    this.#stopped = true;
    return false;
  }

  /**
   * Reads every row in slices of at most `sliceMs` (`step`), awaiting `pause()` between two slices
   * (never after the last). Rejects like `step` once the scan was ended.
   */
  async read(sliceMs: number, pause: () => Promise<void> = pauseOf(SNAPSHOT_PAUSE_MS)): Promise<void> {
    while (!this.step(performance.now() + sliceMs)) await pause();
  }

  /**
   * The encoded parts (after `step` returned true); releases the pin and the encoders' buffers.
   * Throws TreatyError Unavailable once the scan was ended.
   */
  finish(): SnapshotRows {
    if (this.#ended !== null) throw new TreatyError("Unavailable", `snapshot read ended: ${this.#ended}`);
    lastRowBytes.public = this.#public.rowBytes;
    lastRowBytes.private = this.#private.rowBytes;
    const rows = this.#public.rows + this.#private.rows;
    const publicBytes = this.#public.finish();
    const privateBytes = this.#private.maps === 0 ? null : this.#private.finish();
    this.end("finished");
    return { version: this.#pin.version, publicBytes, privateBytes, rows };
  }

  /**
   * Releases the pin and the encoders' buffers (MapsEncoder.release); later steps throw
   * Unavailable naming `why`. Idempotent.
   */
  end(why: string): void {
    this.#ended ??= why;
    this.#pin.release();
    this.#public.release();
    this.#private.release();
  }
}
