/**
 * Ordered merge of layered key/value sources (transaction writes over the overlay over committed
 * state). Every source yields entries in the same direction, each key at most once; for a key
 * present in several sources the first source in the list wins, deletes (`null`) included, so a
 * newer layer's delete hides an older layer's value.
 */
import type { Row } from "./backend.js";

/** One key in one layer: `value === null` is a delete recorded by that layer. */
export interface LayerEntry {
  readonly hex: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * Yields, in key order (descending with `reverse`), the winning entry of every key present in
 * any source. Closing the result early closes every source.
 */
export function* mergeLayers(
  sources: readonly Iterator<LayerEntry>[],
  reverse: boolean,
): Generator<LayerEntry> {
  const heads: (LayerEntry | undefined)[] = sources.map((s) => next(s));
  try {
    for (;;) {
      let best: string | undefined;
      let winner = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head === undefined) continue;
        if (best === undefined || (reverse ? head.hex > best : head.hex < best)) {
          best = head.hex;
          winner = i;
        }
      }
      if (best === undefined) return;
      const entry = heads[winner]!;
      for (let i = 0; i < heads.length; i++) {
        if (heads[i]?.hex === best) heads[i] = next(sources[i]!);
      }
      yield entry;
    }
  } finally {
    for (const source of sources) source.return?.();
  }
}

function next(source: Iterator<LayerEntry>): LayerEntry | undefined {
  const r = source.next();
  return r.done ? undefined : r.value;
}

/**
 * Pages through a scan function in growing chunks, so no cursor or read transaction stays open
 * between steps of a suspended iterator, and a short range costs one small scan.
 */
export function* pagedRows(
  scan: (
    lower: Uint8Array | undefined,
    lowerExclusive: boolean,
    upper: Uint8Array | undefined,
    limit: number,
  ) => Row[],
  bounds: { readonly lower?: Uint8Array | undefined; readonly upper?: Uint8Array | undefined },
  reverse: boolean,
  toHex: (bytes: Uint8Array) => string,
): Generator<LayerEntry> {
  let lower = bounds.lower;
  let lowerExclusive = false;
  let upper = bounds.upper;
  let chunk = 16;
  for (;;) {
    const rows = scan(lower, lowerExclusive, upper, chunk);
    for (const row of rows) yield { hex: toHex(row.key), key: row.key, value: row.value };
    if (rows.length < chunk) return;
    const last = rows[rows.length - 1]!.key;
    if (reverse) upper = last;
    else {
      lower = last;
      lowerExclusive = true;
    }
    chunk = Math.min(chunk * 4, 1024);
  }
}
