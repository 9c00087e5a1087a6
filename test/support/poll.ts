/**
 * Waiting in tests for something that happens on its own time (a commit, a snapshot, a node
 * process answering): poll a check until it holds, with a bound that fails the test naming what
 * it waited for. The bound is generous (a loaded machine), never a measurement.
 */
import assert from "node:assert/strict";

/** What a check answers: a value when done; `undefined` or `false` while not yet. */
type Check<T> = () => T | undefined | false | Promise<T | undefined | false>;

/**
 * Polls `check` every `pollMs` until it answers a value (neither `undefined` nor `false`) and
 * resolves with it; fails the test after `timeoutMs`. An error thrown by `check` fails at once.
 */
export async function until<T>(what: string, check: Check<T>, timeoutMs = 60_000, pollMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export interface PollOptions {
  readonly timeoutMs: number;
  readonly pollMs?: number;
  /** Appended to a failure (e.g. the tails of the node logs). */
  readonly context?: () => string;
  /** Checked before each poll: a reason ends the wait at once (e.g. a node process crashed). */
  readonly abort?: () => string | undefined;
}

/**
 * Polls `check` like `until`, for a service that may not answer yet: an error thrown by `check`
 * counts as "not yet" and the last one is named in the failure; `abort` and `context` as above.
 */
export async function pollFor<T>(what: string, check: Check<T>, options: PollOptions): Promise<T> {
  const { timeoutMs, pollMs = 20, context = () => "", abort = () => undefined } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const reason = abort();
    if (reason !== undefined) throw new Error(`while waiting for ${what}: ${reason}\n${context()}`);
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}${why}\n${context()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Waits (`pollFor`, 60 s) until the node at `url`, run in a child process, answers `/node/status`
 * with phase `serving`. A request that gets no answer (a pooled connection the node never
 * accepted, a listener not ready) is asked again; once `exited()` names why the process is gone,
 * the wait fails with that.
 */
export function untilServing(url: string, exited: () => string | undefined): Promise<true> {
  return pollFor(
    "the node to answer calls",
    async () => {
      const status = (await (await fetch(`${url}/node/status`)).json()) as { phase?: string };
      return status.phase === "serving";
    },
    { timeoutMs: 60_000, abort: exited },
  );
}
