/**
 * `assert(cond, why)`: a broken invariant is a bug, not an expected failure. It throws an
 * `AssertionFailure`, which callers must never catch and translate into a user error; node
 * entry points stop the process on it (see node/main). Use TreatyError for expected failures.
 */
export class AssertionFailure extends Error {
  override readonly name = "AssertionFailure";
}

export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) throw new AssertionFailure(`invariant broken: ${why}`);
}

/** For exhaustive switches: the compiler proves `value` is `never`. */
export function unreachable(value: never, why = "unreachable"): never {
  throw new AssertionFailure(`invariant broken: ${why}: ${String(value)}`);
}
