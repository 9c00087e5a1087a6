/**
 * The execution service's data types and the messages between the node's main thread and the
 * execution worker. Everything here crosses a `postMessage` (structured clone): plain objects,
 * arrays, `Uint8Array`s. At most one request running contract calls is in flight, with applies
 * and commits pipelined around it (service.ts); every reply carries the worker's applied and
 * committed versions, so the main thread always knows where the KV stands.
 *
 * The progress slots (`PROGRESS_*`) live on a SharedArrayBuffer the worker updates around every
 * contract call and after every slice of a snapshot read: the watchdog reads them to tell a
 * stalled call from a slow batch (and a stalled snapshot read from a long one), and to know
 * which call to blame when the worker has to be killed.
 */
import { AssertionFailure } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import type { PackedBatch, PackedItems, WireCall } from "./pack.js";
import type { ContractEvent } from "../../runtime/executor/host.js";
import type { ResealCursor } from "../../runtime/kv/sealed-backend.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import type { CallerInfo, ContractManifest } from "../../runtime/sandbox/abi.js";
import type { SandboxLimits } from "../../runtime/sandbox/limits.js";
import type { ConstitutionRecord } from "../gov/tables.js";
import type { Retention } from "./retention.js";
import type { SnapshotRows } from "../snapshot/rows.js";

/** One call as the node decided it (everything here is recorded in the ledger). */
export interface ExecCall {
  readonly contract: string;
  readonly method: string;
  /** The decoded JSON arguments. */
  readonly args: unknown;
  /** The authenticated caller, or null for an unsigned or internal call. */
  readonly caller: CallerInfo | null;
  /** The signed request's nonce (null for unsigned or internal calls): replay protection. */
  readonly nonce: string | null;
  /**
   * The signed request's `createdMs` (always set with `nonce`: a call with a nonce and no valid
   * `createdMs` fails with MalformedRequest): part of the request's identity in the nonce table
   * (node/execution/nonces.ts), orders nonces for pruning, and a call older than the retention is
   * refused.
   */
  readonly createdMs?: number;
  /** The node's recorded clock for this call, ms since the epoch. */
  readonly timeMs: number;
  /** The recorded randomness seed (at least 16 bytes). */
  readonly seed: Uint8Array;
}

/** The error of a failed call. `txid` is set for `Replay`: the transaction that used the nonce. */
export interface ExecError {
  readonly code: string;
  readonly message: string;
  readonly txid?: string;
}

/**
 * What one call produced. A successful readwrite call has the seqno and txid it was given and
 * its write set (already applied to the KV at version `seqno`); a failed call wrote nothing.
 * A read (`ExecutionService.read`) has the version it read at as seqno, txid "" and an empty
 * write set.
 */
export type ExecResult =
  | {
      readonly ok: true;
      readonly seqno: number;
      readonly txid: string;
      readonly result: unknown;
      readonly writeSet: WriteSet;
      readonly events: readonly ContractEvent[];
      /** The claims digest the call bound (`setClaimsDigest`), hex; absent when none. */
      readonly claimsDigest?: string;
    }
  | { readonly ok: false; readonly error: ExecError };

/** One applied-but-uncommitted version, as the ledger holds it. */
export interface VersionedWriteSet {
  readonly version: number;
  readonly writeSet: WriteSet;
}

/** Slot of the index (in the request's `calls`) of the call running now, -1 between calls. */
export const PROGRESS_RUNNING = 0;
/** Slot of the number of calls started since the worker started (wraps at 2^31). */
export const PROGRESS_STARTED = 1;
/**
 * Slot of the number of snapshot-read slices done since the worker started (wraps at 2^31): a
 * snapshot read's deadline is on this progress, not on its total time (service.ts).
 */
export const PROGRESS_SNAPSHOT_SLICES = 2;
/** Int32 slots in the progress buffer. */
export const PROGRESS_SLOTS = 3;

/** What the main thread hands a new worker (`workerData`). */
export interface WorkerInit {
  readonly kvPath: string | null;
  readonly atRestKey?: Uint8Array;
  /** At-rest keys of an unfinished re-seal: they only open values. */
  readonly olderAtRestKeys?: readonly Uint8Array[];
  readonly limits: SandboxLimits;
  readonly retention: Retention;
  /** The node's code measurement (EngineOptions.measurement). */
  readonly measurement?: string;
  /** `PROGRESS_SLOTS` Int32 slots; see PROGRESS_RUNNING / PROGRESS_STARTED / PROGRESS_SNAPSHOT_SLICES. */
  readonly progress: SharedArrayBuffer;
}

/** Requests from the main thread; `id` pairs each with its reply. */
export type Request =
  | { readonly id: number; readonly op: "load"; readonly name: string; readonly bundle: string }
  | { readonly id: number; readonly op: "unload"; readonly name: string }
  | { readonly id: number; readonly op: "constitution"; readonly record: ConstitutionRecord }
  | { readonly id: number; readonly op: "setLimits"; readonly limits: SandboxLimits }
  | {
      readonly id: number;
      readonly op: "batch";
      readonly view: number;
      readonly firstSeqno: number;
      readonly calls: readonly ExecCall[];
    }
  | {
      readonly id: number;
      readonly op: "read";
      readonly call: ExecCall;
      /** The version to read at (committed..applied), or undefined for the applied version. */
      readonly version: number | undefined;
    }
  | { readonly id: number; readonly op: "apply"; readonly items: readonly VersionedWriteSet[] }
  | { readonly id: number; readonly op: "commit"; readonly version: number }
  | { readonly id: number; readonly op: "rollback"; readonly version: number }
  | { readonly id: number; readonly op: "get"; readonly map: string; readonly key: Uint8Array }
  | { readonly id: number; readonly op: "scan"; readonly map: string; readonly limit: number | undefined }
  | { readonly id: number; readonly op: "committedMaps"; readonly prefix: string }
  | { readonly id: number; readonly op: "snapshotRows"; readonly version: number }
  | {
      readonly id: number;
      readonly op: "installState";
      readonly version: number;
      readonly maps: readonly MapWrites[];
    }
  | { readonly id: number; readonly op: "useAtRestKey"; readonly key: Uint8Array }
  | {
      readonly id: number;
      readonly op: "resealAtRest";
      readonly after: ResealCursor | null;
      readonly limit: number;
    }
  | { readonly id: number; readonly op: "retireOlderAtRestKeys" }
  | { readonly id: number; readonly op: "close" };

/**
 * A request as posted to the worker: an apply's items cross packed (pack.ts `packItems`, unpacked
 * by the worker), every other request as it is. Any of them may carry `applyFirst`.
 */
export type PostedRequest = (
  | Exclude<Request, { readonly op: "apply" | "batch" }>
  | { readonly id: number; readonly op: "apply"; readonly items: PackedItems }
  | Extract<Request, { readonly op: "batch" }>
  | {
      readonly id: number;
      readonly op: "batch";
      readonly view: number;
      readonly firstSeqno: number;
      /** The calls in their wire form (pack.ts `packCalls`), seeds in `seeds` (transferred). */
      readonly wire: readonly WireCall[];
      readonly seeds: Uint8Array;
    }
) & {
  /**
   * Versions of empty write sets (signature entries, ExecutionService.applyEmpty) the worker
   * applies, in order, before the request itself, as an `apply` sent just before it would: they
   * have no message of their own. If applying them fails, the request fails with that error and
   * does not run.
   */
  readonly applyFirst?: readonly number[];
};

/** The operation names. */
export type Op = Request["op"];

/** What each operation's reply carries. */
export interface ReplyValues {
  load: ContractManifest;
  unload: boolean;
  constitution: null;
  setLimits: null;
  batch: ExecResult[];
  read: ExecResult;
  apply: null;
  commit: null;
  rollback: null;
  get: Uint8Array | undefined;
  scan: Array<[Uint8Array, Uint8Array]>;
  committedMaps: { version: number; maps: MapWrites[] };
  /**
   * Its buffers are SharedArrayBuffers the worker never writes again: shared, neither copied nor
   * transferred (serve.ts `post`: no ArrayBuffer detached in the worker).
   */
  snapshotRows: SnapshotRows | null;
  installState: null;
  useAtRestKey: null;
  resealAtRest: ResealCursor | null;
  retireOlderAtRestKeys: null;
  close: null;
}

/** An error as it crosses the thread boundary (see `toWireError` / `fromWireError`). */
export interface WireError {
  /** `treaty`: a TreatyError (expected failure); `assert`: a broken invariant; `other`: a bug. */
  readonly kind: "treaty" | "assert" | "other";
  readonly code: string;
  readonly message: string;
}

/** The answer to one request. */
export type ReplyMessage =
  | {
      readonly kind: "reply";
      readonly id: number;
      readonly ok: true;
      readonly value: ReplyValues[Op];
      readonly appliedVersion: number;
      readonly committedVersion: number;
      /**
       * A batch's service time in the worker, ms of wall time: from the moment the worker starts
       * the batch (after the requests before it) until its reply is handed to `postMessage`
       * (results packed). Not the queueing before it, nor the crossing of the reply, nor the
       * main thread's delay in taking it (the round trip the sequencer times has all three).
       */
      readonly serviceMs?: number;
      /**
       * When the worker started the batch (with `serviceMs`), ms since the epoch at sub-ms
       * precision (`performance.timeOrigin + performance.now()`, comparable across the process's
       * threads): the service splits the round trip into the request's wait to start, the
       * service time and the reply's wait to be taken (node/stage-times.ts).
       */
      readonly startedAtMs?: number;
      /**
       * A batch's results in their packed form (pack.ts); `value` is then null and the receiver
       * takes the results from `unpackBatch(batch)`.
       */
      readonly batch?: PackedBatch;
    }
  | {
      readonly kind: "reply";
      readonly id: number;
      readonly ok: false;
      readonly error: WireError;
      readonly appliedVersion: number;
      readonly committedVersion: number;
    };

/**
 * Messages from the worker. `replies` carries answers made in one turn of the worker's event
 * loop, in the order they were made, as one message (serve.ts: the value-less answers of
 * applies, commits and rollbacks, e.g. every commit a paced KV write made durable, followed by
 * the answer with a value that was made next, if any: a batch after a commit).
 */
export type WorkerMessage =
  | { readonly kind: "ready"; readonly appliedVersion: number; readonly committedVersion: number }
  | ReplyMessage
  | { readonly kind: "replies"; readonly replies: readonly ReplyMessage[] }
  | { readonly kind: "fatal"; readonly error: WireError };

/** Flattens a thrown value for `postMessage`, keeping its kind and code. */
export function toWireError(error: unknown): WireError {
  if (error instanceof TreatyError) return { kind: "treaty", code: error.code, message: error.message };
  if (error instanceof AssertionFailure) return { kind: "assert", code: "Internal", message: error.message };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { kind: "other", code: "Internal", message };
}

/**
 * Rebuilds the error on the main thread: a TreatyError with its code, an AssertionFailure (a bug
 * in whoever broke the invariant: the node stops), or a plain Error.
 */
export function fromWireError(error: WireError): Error {
  switch (error.kind) {
    case "treaty":
      return new TreatyError(error.code, error.message);
    case "assert":
      return new AssertionFailure(error.message);
    case "other":
      return new Error(`execution worker: ${error.message}`);
  }
}
