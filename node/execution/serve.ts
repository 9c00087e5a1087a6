/**
 * The worker side of the execution service: opens an `ExecutionEngine` from the `WorkerInit` the
 * main thread passed, says `ready` (or `fatal`), then runs requests strictly in arrival order
 * (a request's `applyFirst` versions just before it), each reply carrying the KV's applied and
 * committed versions. A commit is answered once durable;
 * the requests behind it do not wait for the disk (so replies can overtake a commit's). Errors become replies
 * (`toWireError`), so only a real crash or a hang ends the worker, and the main thread's watchdog
 * handles both.
 *
 * worker.ts is the production entry; tests start their own entry that passes `EngineHooks`.
 */
import type { MessagePort } from "node:worker_threads";
import { unreachable } from "../../sdk/assert.js";
import { type EngineHooks, ExecutionEngine } from "./engine.js";
import { packBatch, unpackCalls, unpackItems } from "./pack.js";
import { TIMELINE, timeline, timelineThread } from "../timeline.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import {
  type ReplyMessage,
  type ReplyValues,
  type PostedRequest,
  type Request,
  toWireError,
  type WorkerInit,
  type WorkerMessage,
} from "./protocol.js";

/**
 * Serves `port` until the main thread sends `close` (or terminates the worker). Never rejects:
 * a failure to open the engine is reported as a `fatal` message.
 */
export async function serveEngine(
  port: MessagePort,
  init: WorkerInit,
  hooks: EngineHooks = {},
): Promise<void> {
  timelineThread("exec");
  let engine: ExecutionEngine;
  try {
    engine = await ExecutionEngine.open({
      kvPath: init.kvPath,
      ...(init.atRestKey !== undefined && { atRestKey: init.atRestKey }),
      ...(init.olderAtRestKeys !== undefined && { olderAtRestKeys: init.olderAtRestKeys }),
      limits: init.limits,
      retention: init.retention,
      ...(init.measurement !== undefined && { measurement: init.measurement }),
      progress: new Int32Array(init.progress),
      hooks,
      // Every batch's write sets are packed (copied) into its reply: no copies before that.
      shareWriteSets: true,
    });
  } catch (err) {
    post(port, { kind: "fatal", error: toWireError(err) });
    return;
  }
  post(port, {
    kind: "ready",
    appliedVersion: engine.appliedVersion,
    committedVersion: engine.committedVersion,
  });
  const outbox = new Outbox(port);
  let queue: Promise<void> = Promise.resolve();
  // KV commits not yet durable. A commit is answered once durable, but the requests behind it
  // run meanwhile (the KV keeps a commit in flight apart from newer versions); requests outside
  // the hot path still run only after every earlier commit, as if commits were synchronous.
  let commits: Promise<void> = Promise.resolve();
  port.on("message", (request: PostedRequest) => {
    queue = queue.then(() => {
      if (request.op === "commit") {
        const answered = answer(port, engine, request, outbox);
        commits = commits.then(() => answered);
        return;
      }
      if (request.op === "snapshotRows") {
        // Pinned in the KV's commit sequence (after the commits before it), then read in slices
        // while the requests behind it run (ExecutionEngine.snapshotRows): nothing waits for it.
        void answer(port, engine, request, outbox);
        return;
      }
      return BESIDE_COMMITS.has(request.op)
        ? answer(port, engine, request, outbox)
        : commits.then(() => answer(port, engine, request, outbox));
    });
  });
}

/** The write set of a version carried in `applyFirst`. */
const EMPTY: WriteSet = Object.freeze({ public: [], private: [] });

/** Requests that may run while a commit is in flight (KvStore keeps it apart from them). */
const BESIDE_COMMITS: ReadonlySet<Request["op"]> = new Set([
  "batch",
  "read",
  "apply",
  "rollback",
  "get",
  "scan",
]);

/**
 * Requests whose answer carries no value (`null`, or an error): it cannot fail to be posted, and
 * waiting until the end of the turn costs its caller little (a follower's applies and the KV
 * commits are not awaited on the hot path), so it goes out with the other answers of the same
 * turn.
 */
const VALUELESS: ReadonlySet<Request["op"]> = new Set(["apply", "commit", "rollback"]);

/**
 * Value-less answers made in one turn of the event loop, posted together as one `replies`
 * message in a later phase of the same loop iteration (setImmediate): a paced KV write answers
 * every commit it made durable at once, and each message costs both threads a wake-up and a
 * dispatch. Any other answer goes out with them, after them, as one message (`postAfter`), so
 * answers leave in the order made.
 */
class Outbox {
  readonly #port: MessagePort;
  #replies: ReplyMessage[] = [];
  #scheduled = false;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  add(reply: ReplyMessage): void {
    this.#replies.push(reply);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  flush(): void {
    const replies = this.#replies;
    if (replies.length === 0) return;
    this.#replies = [];
    post(this.#port, replies.length === 1 ? replies[0]! : { kind: "replies", replies });
  }

  /**
   * Posts `message` after the answers waiting here, in the same `replies` message when there are
   * any: a batch after an apply or a commit is one message, not two. If `message` cannot be
   * posted, the waiting answers still go (alone) before this throws.
   */
  postAfter(message: ReplyMessage): void {
    const replies = this.#replies;
    if (replies.length === 0) {
      post(this.#port, message);
      return;
    }
    this.#replies = [];
    try {
      post(this.#port, { kind: "replies", replies: [...replies, message] });
    } catch (err) {
      post(this.#port, replies.length === 1 ? replies[0]! : { kind: "replies", replies });
      throw err;
    }
  }
}

async function answer(
  port: MessagePort,
  engine: ExecutionEngine,
  request: PostedRequest,
  outbox: Outbox,
): Promise<void> {
  // The empty applies the request carries (protocol.ts `applyFirst`) come first, in its place in
  // the order; if they fail, the request fails with their error and does not run.
  let carried: { error: unknown } | undefined;
  if (request.applyFirst !== undefined) {
    try {
      engine.apply(request.applyFirst.map((version) => ({ version, writeSet: EMPTY })));
    } catch (error) {
      carried = { error };
    }
  }
  // A batch applies its calls to the KV as it runs: if its reply cannot reach the main thread,
  // the main thread never learns of those versions, so they must go (see below).
  const appliedBefore = engine.appliedVersion;
  // A batch's service time (protocol.ts ReplyMessage.serviceMs) starts here.
  const started = performance.now();
  let message: ReplyMessage;
  /** Calls a batch ran (the timeline's count). */
  let calls = 0;
  try {
    if (carried !== undefined) throw carried.error;
    const value = await handle(engine, request);
    if (request.op === "batch") {
      calls = (value as ReplyValues["batch"]).length;
      // Packed (pack.ts), and copied by postMessage rather than transferred (see `post`).
      const packed = packBatch(value as ReplyValues["batch"], request.view);
      message = {
        kind: "reply",
        id: request.id,
        ok: true,
        value: null,
        batch: packed.batch,
        ...versions(engine),
        serviceMs: performance.now() - started,
        startedAtMs: performance.timeOrigin + started,
      };
    } else {
      message = { kind: "reply", id: request.id, ok: true, value, ...versions(engine) };
    }
  } catch (err) {
    message = { kind: "reply", id: request.id, ok: false, error: toWireError(err), ...versions(engine) };
  }
  if (TIMELINE) timeline(`exec-${request.op}`, started, performance.now() - started, calls);
  if (VALUELESS.has(request.op) && message.kind === "reply" && (!message.ok || message.value === null)) {
    outbox.add(message);
    return;
  }
  try {
    outbox.postAfter(message);
  } catch (err) {
    // The value cannot be cloned (the output check in runtime/sandbox/output.ts bounds what
    // contracts produce, so this is a bug upstream). Fail this request only: undo what a batch
    // applied, so the KV is where the main thread believes it is, then answer with the error.
    if (request.op === "batch" && engine.appliedVersion > appliedBefore) engine.rollback(appliedBefore);
    const error = toWireError(err);
    post(port, {
      kind: "reply",
      id: request.id,
      ok: false,
      error: {
        kind: "treaty",
        code: "Internal",
        message: `${request.op}: the reply could not be sent (${error.message})`,
      },
      ...versions(engine),
    });
  }
  if (request.op === "close") {
    // Nothing more to serve: let the thread end on its own (the main thread also terminates it).
    port.removeAllListeners("message");
    port.unref();
  }
}

async function handle(engine: ExecutionEngine, request: PostedRequest): Promise<ReplyValues[Request["op"]]> {
  switch (request.op) {
    case "load":
      return engine.loadContract(request.name, request.bundle);
    case "unload":
      return engine.unloadContract(request.name);
    case "constitution":
      await engine.loadConstitution(request.record);
      return null;
    case "setLimits":
      await engine.setLimits(request.limits);
      return null;
    case "batch":
      return engine.executeBatch(
        request.view,
        request.firstSeqno,
        "wire" in request ? unpackCalls(request.wire, request.seeds) : request.calls,
      );
    case "read":
      return engine.read(request.call, request.version);
    case "apply":
      // Views of the request's own transferred buffer: the KV keeps them without a copy each.
      engine.apply(unpackItems(request.items), true);
      return null;
    case "commit":
      await engine.commit(request.version);
      return null;
    case "rollback":
      engine.rollback(request.version);
      return null;
    case "get":
      return engine.get(request.map, request.key);
    case "scan":
      return engine.scan(request.map, request.limit);
    case "committedMaps":
      return engine.committedMaps(request.prefix);
    case "snapshotRows":
      return engine.snapshotRows(request.version);
    case "installState":
      await engine.installState(request.version, request.maps);
      return null;
    case "useAtRestKey":
      engine.useAtRestKey(request.key);
      return null;
    case "resealAtRest":
      return engine.resealAtRest(request.after, request.limit);
    case "retireOlderAtRestKeys":
      engine.retireOlderAtRestKeys();
      return null;
    case "close":
      await engine.close();
      return null;
    default:
      return unreachable(request, "execution worker: unknown request");
  }
}

/** The versions every reply carries. */
function versions(engine: ExecutionEngine): { appliedVersion: number; committedVersion: number } {
  return { appliedVersion: engine.appliedVersion, committedVersion: engine.committedVersion };
}

/**
 * Posts `message`. Nothing is transferred: a batch's packed write sets (pack.ts) are copied by
 * structured clone; a snapshot read's buffers (`SnapshotRows`) are SharedArrayBuffers, shared.
 *
 * Detaching an ArrayBuffer for the first time in an isolate invalidates V8's ArrayBuffer-detaching
 * protector, and every optimized function of the isolate that reads or writes typed arrays is
 * deoptimized and compiled again, with the detached checks from then on. A follower's first
 * snapshot did exactly that when its rows were transferred (the KV apply path, lmdb-js and the
 * scan recompiled on V8's threads: docs/performance.md "A follower's first snapshot"); a
 * leader's worker lost the protector at its first batch answer, whose two buffers were
 * transferred. Copied, the worker never detaches a buffer and keeps the faster typed-array
 * accesses (docs/performance.md "The leader's execution thread, session 16" has the figures);
 * the copy is one memcpy of a batch's write-set bytes.
 */
function post(port: MessagePort, message: WorkerMessage): void {
  port.postMessage(message);
}
