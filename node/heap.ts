/**
 * V8 heap sizes of a node's threads (docs/deploy.md, "Node process flags"): a young generation
 * twice V8's default, on the main thread and in the worker threads (execution, signature checks).
 *
 * A write's objects live from its request to its commit, tens of ms under load, and a leader's
 * main thread allocates ~30-50 KB per write: V8's default semi-space (16 MiB on 64-bit) fills
 * several times a second, each scavenge copies the writes in flight, and a write in flight across
 * two scavenges is promoted to the old generation. With 32 MiB semi-spaces the leader's main
 * thread scavenges about a third less often (31 against 47 in a bench run, `--trace-gc-nvp`),
 * each copying about as much. The young generation grows to this size only when the thread
 * allocates that fast (V8 starts it at 1 MiB and grows it while objects survive), so an idle
 * node, or a signature-check thread, does not pay for it.
 */
import type { ResourceLimits } from "node:worker_threads";

/** Largest semi-space of a node's threads, MiB (V8's default on 64-bit: 16). */
export const SEMI_SPACE_MB = 32;

/**
 * The V8 flags `treaty node start` runs with (the `treaty` bin's first line passes them to node;
 * a process started as `node <flags> dist/node/cli.js` needs them given, as the test cluster and
 * `treaty dev` do). V8 reads them only when the process starts. The flag applies to every
 * isolate of the process: the worker threads get the same semi-space from it, and from
 * WORKER_RESOURCE_LIMITS when the process was started without it.
 */
export const MAIN_THREAD_V8_FLAGS: readonly string[] = [`--max-semi-space-size=${SEMI_SPACE_MB}`];

/**
 * `resourceLimits` of the node's worker threads: the young generation is three semi-spaces
 * (V8 sizes it as two semi-spaces plus the new large-object space), so 96 MiB = 32 MiB semi-spaces.
 */
export const WORKER_RESOURCE_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 3 * SEMI_SPACE_MB };
