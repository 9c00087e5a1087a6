/**
 * The snapshot schedule of test nodes: by entry count only, unless a test sets `everyMs`. A node
 * also takes a snapshot whenever its entries' time crosses a period of `snapshots.everyMs` (10
 * minutes by default, aligned to the clock), so with the default a test's ledger would depend on
 * the time of day it ran: a snapshot's evidence entries, or a joiner installing a snapshot, in
 * one run out of a few dozen. The longest period the config accepts (365 days) makes that a
 * once-a-year instant.
 */
export const TEST_SNAPSHOT_EVERY_MS = 365 * 24 * 3_600_000;

/** `snapshots` (a config section, possibly partial) with the test default for `everyMs`. */
export function testSnapshots(snapshots: unknown): Record<string, unknown> {
  return { everyMs: TEST_SNAPSHOT_EVERY_MS, ...(snapshots as Record<string, unknown> | undefined) };
}
