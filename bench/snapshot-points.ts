/**
 * Which snapshot points a bench run's writes spanned. Every node takes a snapshot at the first
 * committed signature past each multiple of `snapshots.everyEntries` (docs/snapshots.md), all
 * nodes at once, so a run that spans one pays for it in its latency tail.
 */

/** The multiples of `everyEntries` from the lowest to the highest of `seqnos` (none if empty). */
export function snapshotPointsAmong(seqnos: ArrayLike<number>, everyEntries: number): number[] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < seqnos.length; i++) {
    low = Math.min(low, seqnos[i]!);
    high = Math.max(high, seqnos[i]!);
  }
  const points: number[] = [];
  if (seqnos.length === 0) return points;
  for (let point = Math.ceil(low / everyEntries) * everyEntries; point <= high; point += everyEntries)
    points.push(point);
  return points;
}
