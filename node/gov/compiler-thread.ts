/**
 * Contract compilation off the node's main thread. The TypeScript compiler takes 0.3-2 s per
 * contract on this class of machine; on the main thread that would stall consensus (heartbeats,
 * votes) long enough to trigger elections. So a leader compiles governance code in a dedicated
 * worker thread, started on first use (TypeScript is loaded there, never on the main thread for
 * this) and restarted when a compile outlives its deadline (pathological types can take seconds
 * with no cancellation point inside TypeScript).
 */
import { Worker } from "node:worker_threads";
import { TreatyError } from "../../sdk/errors.js";
import type { CompiledCode } from "./tables.js";

/** A compile request and its answer across the thread boundary. */
export interface CompileRequest {
  readonly id: number;
  readonly files: Readonly<Record<string, string>>;
}
export type CompileReply =
  | { readonly id: number; readonly ok: true; readonly digest: string; readonly bundle: string }
  | {
      readonly id: number;
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly details?: Record<string, unknown>;
    };

const DEFAULT_DEADLINE_MS = 60_000;

interface Pending {
  readonly resolve: (code: CompiledCode) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** One compiler thread; compiles run one at a time, in order. Owned by the node (close it). */
export class CompilerThread {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #closed = false;

  constructor(private readonly deadlineMs = DEFAULT_DEADLINE_MS) {}

  /** Compiles contract `files`; rejects with CompileError (diagnostics in details) or Timeout. */
  compile(files: Readonly<Record<string, string>>, deadlineMs = this.deadlineMs): Promise<CompiledCode> {
    if (this.#closed) return Promise.reject(new TreatyError("Unavailable", "the compiler thread is closed"));
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<CompiledCode>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new TreatyError("Timeout", `compiling took longer than ${deadlineMs} ms`));
      }, deadlineMs);
      this.#pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, files } satisfies CompileRequest);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#fail(new TreatyError("Unavailable", "the compiler thread is closed"));
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./compiler-worker.js", import.meta.url));
    worker.unref();
    worker.on("message", (reply: CompileReply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve({ digest: reply.digest, bundle: reply.bundle });
      else pending.reject(new TreatyError(reply.code, reply.message, reply.details));
    });
    worker.on("error", (err) =>
      this.#fail(new TreatyError("Internal", `the compiler thread failed: ${err.message}`)),
    );
    worker.on("exit", () => {
      if (this.#worker === worker) this.#worker = undefined;
    });
    this.#worker = worker;
    return worker;
  }

  /** Fails every pending compile and drops the thread (the next compile starts a fresh one). */
  #fail(err: TreatyError): void {
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.#pending.clear();
    const worker = this.#worker;
    this.#worker = undefined;
    void worker?.terminate();
  }
}
