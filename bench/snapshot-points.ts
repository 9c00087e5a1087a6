/**
 * Which snapshot points a bench run's writes spanned. Every node takes a snapshot at the first
 * committed signature past each multiple of the snapshot stride (`snapshots.everyEntries`, doubled
 * per doubling of the newest snapshot past `snapshots.strideBytes`: docs/snapshots.md), all nodes
 * at once, so a run that spans one pays for it in its latency tail.
 */

/** The multiples of `stride` from the lowest to the highest of `seqnos` (none if empty). */
export function snapshotPointsAmong(seqnos: ArrayLike<number>, stride: number): number[] {
  const points: number[] = [];
  if (seqnos.length === 0) return points;
  const { first, last } = seqnoSpan(seqnos);
  for (let point = Math.ceil(first / stride) * stride; point <= last; point += stride) points.push(point);
  return points;
}

/** The lowest and highest seqno a run's writes got. */
export interface SeqnoSpan {
  readonly first: number;
  readonly last: number;
}

/** The lowest and highest of `seqnos` (0 and 0 if empty). */
export function seqnoSpan(seqnos: ArrayLike<number>): SeqnoSpan {
  if (seqnos.length === 0) return { first: 0, last: 0 };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < seqnos.length; i++) {
    first = Math.min(first, seqnos[i]!);
    last = Math.max(last, seqnos[i]!);
  }
  return { first, last };
}

/**
 * How many writes to send after a run of `writes` writes that got `span`, so that the next run
 * starts as far past a snapshot point (a multiple of `stride`) as `targetFirst` was: the
 * seqnos to skip, over the seqnos a write took in that run (signatures take seqnos too), rounded
 * down, so the next run starts at most a few entries short of the target distance, never past it.
 */
export function writesToSamePhase(
  writes: number,
  span: SeqnoSpan,
  targetFirst: number,
  stride: number,
): number {
  if (writes <= 0 || span.last < span.first) return 0;
  const next = span.last + 1;
  const skip = (((targetFirst - next) % stride) + stride) % stride;
  const seqnosPerWrite = Math.max(1, (span.last - span.first + 1) / writes);
  return Math.floor(skip / seqnosPerWrite);
}
