/**
 * Messages between a VerifierPool (pool.ts) and its worker threads (serve.ts). One request
 * carries a batch of jobs; its reply answers every job of that batch by index, so answers
 * cannot cross between batches or between the requests whose jobs they carry.
 *
 * A batch travels as one buffer (`encodeJobs`), moved to the worker rather than cloned: the
 * structured clone of a job object graph cost the main thread about twice as much.
 */
import { assert } from "../../sdk/assert.js";
import { utf8 } from "../../sdk/bytes.js";
import { CURVES } from "../../sdk/keys.js";
import { EIP191_SCHEME, EIP712_SCHEME } from "../../sdk/ethereum.js";
import type { VerifyJob } from "./verifier.js";

/** `workerData` of a verify worker. */
export interface VerifyWorkerInit {
  /**
   * PROGRESS_SLOTS Int32 slots the pool's stall check reads: the worker sets PROGRESS_STARTED
   * once it serves, and increments PROGRESS_JOBS after each job, so a slow start or a slow batch
   * on a loaded machine is told from a hung worker.
   */
  readonly progress: SharedArrayBuffer;
}

/** Pool → worker: check the jobs encoded in `jobs` (encodeJobs). */
export interface VerifyRequest {
  readonly id: number;
  readonly jobs: Uint8Array;
}

/** Worker → pool: the answers of request `id`. */
export interface VerifyReply {
  readonly id: number;
  /** valid[i] is 1 when jobs[i]'s signature is valid, 0 when not. */
  readonly valid: Uint8Array;
  /** 32 bytes per job: the SHA-256 of jobs[i]'s signed bytes at i * 32 when valid, zeros when not. */
  readonly digests: Uint8Array;
  /** Microseconds the worker spent checking the batch. */
  readonly busyMicros: number;
}

/** Slot of `progress` counting finished jobs. */
export const PROGRESS_JOBS = 0;
/** Slot of `progress` the worker sets to 1 once it serves. */
export const PROGRESS_STARTED = 1;
export const PROGRESS_SLOTS = 2;
export const DIGEST_BYTES = 32;

const KIND_KEY = 0;
const KIND_WALLET = 1;
/** A wallet job's scheme, in its header's second byte. */
const WALLET_SCHEMES = [EIP191_SCHEME, EIP712_SCHEME] as const;
/** kind u8, curve (or wallet scheme) u8, then three u32 lengths (little-endian) of the parts that follow. */
const JOB_HEADER_BYTES = 14;

/**
 * Encodes jobs into one fresh buffer: per job a header (kind, curve, three lengths) and three
 * parts: key, signature, signed bytes for `key` jobs (`inputPrefix ‖ input`, joined here: the
 * only copy of a request's signed bytes on the main thread); address, signature, signed bytes
 * for `wallet`.
 */
export function encodeJobs(jobs: readonly VerifyJob[]): Uint8Array {
  // Two passes over the jobs, no per-job arrays: sizes first, then the bytes.
  let size = 0;
  for (const job of jobs) {
    size +=
      JOB_HEADER_BYTES +
      job.signature.length +
      (job.kind === "key"
        ? job.key.publicKey.length + (job.inputPrefix?.length ?? 0) + job.input.length
        : utf8.encode(job.address).length + job.signed.length);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const job of jobs) {
    const a = job.kind === "key" ? job.key.publicKey : utf8.encode(job.address);
    const b = job.signature;
    const prefix = job.kind === "key" ? job.inputPrefix : undefined;
    const c = job.kind === "key" ? job.input : job.signed;
    const cLength = (prefix?.length ?? 0) + c.length;
    out[at] = job.kind === "key" ? KIND_KEY : KIND_WALLET;
    const curve = job.kind === "key" ? CURVES.indexOf(job.key.curve) : WALLET_SCHEMES.indexOf(job.scheme);
    assert(curve >= 0, "verify: a job's key is on a known curve, a wallet's scheme known");
    out[at + 1] = curve;
    view.setUint32(at + 2, a.length, true);
    view.setUint32(at + 6, b.length, true);
    view.setUint32(at + 10, cLength, true);
    at += JOB_HEADER_BYTES;
    out.set(a, at);
    at += a.length;
    out.set(b, at);
    at += b.length;
    if (prefix !== undefined) {
      out.set(prefix, at);
      at += prefix.length;
    }
    out.set(c, at);
    at += c.length;
  }
  assert(at === size, "verify: a batch encodes to its computed size");
  return out;
}

/**
 * The jobs of an `encodeJobs` buffer, as views into it (nothing copied but the strings); a key
 * job's signed bytes come back whole, as its `input` (no `inputPrefix`).
 */
export function decodeJobs(bytes: Uint8Array): VerifyJob[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jobs: VerifyJob[] = [];
  let at = 0;
  while (at < bytes.length) {
    const kind = bytes[at]!;
    const curve = bytes[at + 1]!;
    const lengths = [
      view.getUint32(at + 2, true),
      view.getUint32(at + 6, true),
      view.getUint32(at + 10, true),
    ];
    at += JOB_HEADER_BYTES;
    const [a, b, c] = lengths.map((length) => {
      const part = bytes.subarray(at, at + length);
      at += length;
      return part;
    }) as [Uint8Array, Uint8Array, Uint8Array];
    if (kind === KIND_KEY) {
      jobs.push({ kind: "key", key: { curve: CURVES[curve]!, publicKey: a }, signature: b, input: c });
    } else {
      assert(kind === KIND_WALLET, "verify: a job kind the pool encodes");
      jobs.push({
        kind: "wallet",
        scheme: WALLET_SCHEMES[curve]!,
        address: utf8.decode(a),
        signature: b,
        signed: c,
      });
    }
  }
  assert(at === bytes.length, "verify: a batch decodes to its end");
  return jobs;
}
