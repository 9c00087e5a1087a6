/**
 * The V8 flags a node process runs with. V8 reads them when the process starts (setting
 * `--single-threaded-gc` later through `v8.setFlagsFromString` crashes V8 at its next GC), so
 * they travel on the command line: the `treaty` launcher's shebang (node/cli.ts, kept equal to
 * this list by test/node/v8-flags.test.ts), `treaty dev` and the test clusters.
 *
 * `--single-threaded-gc`: V8's garbage collector in the thread that allocates, without its
 * parallel and concurrent helper threads (which serve every isolate of the process: the main
 * thread and the execution and verify workers). On a 2-core machine those helpers cost a node
 * more CPU than they save (measured with bench:follower-cost, docs/ARCHITECTURE.md "V8 GC in
 * the allocating thread"): the leader's V8 threads fell from ~140 to ~35 µs per committed write
 * and each follower's from ~50 to ~25, with no more main-thread time.
 */
export const NODE_V8_FLAGS: readonly string[] = ["--single-threaded-gc"];

/**
 * The flags of NODE_V8_FLAGS that `execArgv` (a process's node flags) lacks, or turns off again
 * with a later `--no-` form (V8 takes the last).
 */
export function missingV8Flags(execArgv: readonly string[]): string[] {
  return NODE_V8_FLAGS.filter(
    (flag) => execArgv.lastIndexOf(flag) <= execArgv.lastIndexOf(`--no-${flag.slice(2)}`),
  );
}
