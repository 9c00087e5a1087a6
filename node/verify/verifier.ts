/**
 * Signature checks of signed requests behind one small interface, so where they run is the
 * node's choice and not admission's: on the calling thread (`inlineVerifier`), or on a pool of
 * worker threads beside the main thread (pool.ts). Both answer with `checkJob`, the one
 * definition of what a valid request signature is.
 */
import { concatBytes } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { type WalletScheme, walletSigningHash } from "../../sdk/ethereum.js";
import type { PublicKey } from "../../sdk/keys.js";
import { recoverWalletAddress, sha256, verifySignature } from "../../runtime/crypto.js";

/** One signature to check, with everything needed to check it (no shared state). */
export type VerifyJob =
  /**
   * A Treaty-signed request: `signature` by `key` over `inputPrefix ‖ input` (sdk/request.ts
   * `signingInput`; no prefix: over `input` alone). Admission passes the request's body as
   * `input` and the part before it (cached per service and path) as `inputPrefix`, so the signed
   * bytes are joined once, where the job is encoded for a worker (protocol.ts `encodeJobs`),
   * not first in a buffer of their own.
   */
  | {
      readonly kind: "key";
      readonly key: PublicKey;
      readonly inputPrefix?: Uint8Array;
      readonly input: Uint8Array;
      readonly signature: Uint8Array;
    }
  /**
   * A wallet request: `signature` under `scheme` over `signed` (sdk/ethereum.ts
   * `walletSignedBytes`: the EIP-191 text's UTF-8, or EIP-712's `0x1901 ‖ domain ‖ message`)
   * must recover `address`.
   */
  | {
      readonly kind: "wallet";
      readonly scheme: WalletScheme;
      readonly address: string;
      readonly signed: Uint8Array;
      readonly signature: Uint8Array;
    };

/** Checks signatures; see `verify`. */
export interface SignatureVerifier {
  /**
   * Resolves with the SHA-256 of the signed bytes (the request digest a receipt records) when
   * the signature is valid, or null when it is not. Rejects only with TreatyError `Unavailable`
   * when the check could not run (too many waiting, the verifier closed, its worker was lost);
   * a retry may succeed. Neither `job.input` nor `job.inputPrefix` may change until it settles.
   */
  verify(job: VerifyJob): Promise<Uint8Array | null>;
  /** Fails every check not answered yet with `Unavailable` and releases threads. Idempotent. */
  close(): Promise<void>;
  /** Counters for metrics. */
  stats(): VerifierStats;
}

export interface VerifierStats {
  /** Worker threads replaced after a crash or a stall. */
  readonly restarts: number;
  /** Checks queued or in flight now. */
  readonly pendingJobs: number;
  /** Batches sent to worker threads so far. */
  readonly batches: number;
  /** Checks made on the calling thread so far (every check of the on-thread verifier). */
  readonly inlineChecks: number;
  /** Worker threads running now (0 for the on-thread verifier). */
  readonly threads: number;
}

/**
 * The digest of `job`'s signed bytes if its signature is valid, else null. Never throws. A
 * wallet signature is valid when libsecp256k1 recovers `job.address` from it
 * (runtime/crypto.ts `recoverWalletAddress`: the answers of sdk/ethereum.ts `recoverSigner`, about
 * a fifth of its cost, for a genuine and a forged signature alike).
 */
export function checkJob(job: VerifyJob): Uint8Array | null {
  if (job.kind === "key") {
    const input = job.inputPrefix === undefined ? job.input : concatBytes(job.inputPrefix, job.input);
    return verifySignature(job.key, input, job.signature) ? sha256(input) : null;
  }
  return recoverWalletAddress(walletSigningHash(job.scheme, job.signed), job.signature) === job.address
    ? sha256(job.signed)
    : null;
}

/** Checks on the calling thread, at once (`requests.verifyWorkers: 0`, and before a node serves). */
export function inlineVerifier(): SignatureVerifier {
  let closed = false;
  let checks = 0;
  return {
    verify(job) {
      if (closed)
        return Promise.reject(new TreatyError("Unavailable", "signature check: the node is stopping"));
      checks++;
      return Promise.resolve(checkJob(job));
    },
    close() {
      closed = true;
      return Promise.resolve();
    },
    stats: () => ({ restarts: 0, pendingJobs: 0, batches: 0, inlineChecks: checks, threads: 0 }),
  };
}
