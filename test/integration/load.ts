/**
 * A steady signed write load against a cluster, and the read-back check that goes with it.
 *
 * Each writer loops: a fresh `log.writePublic {id, msg}` request (unique id and message), sent
 * with the SDK `Client` (its retries and node rotation), then `Client.waitForCommit` on the txid.
 * Only a write whose `waitForCommit` resolved is recorded as committed: those are the writes the
 * service promised to keep, whatever happens to nodes afterwards. Failures (a leader dying
 * mid-call, a transaction that became Invalid, a timeout) are counted by error code and the
 * writer moves on to a new id.
 *
 * Requests are signed through node:crypto (`signFast`, byte-identical to the SDK's noble
 * signature, ~15x cheaper) so the client leaves the two cores to the nodes.
 *
 * Ownership: `stop()` must be awaited before the cluster is disposed; it lets every writer finish
 * its current write (including its commit wait) and returns the report.
 */
import { toBase64Url } from "../../sdk/bytes.js";
import type { CallResult } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import type { KeyPair } from "../../sdk/keys.js";
import {
  CONTENT_JSON,
  encodeBody,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  newNonce,
  type SignedRequest,
  signingInput,
} from "../../sdk/request.js";
import { signFast } from "../../runtime/ledger/signature.js";
import type { Cluster, ClusterNode } from "../support/cluster.js";

/** A write the service acknowledged as committed. */
export interface CommittedWrite {
  readonly id: number;
  readonly msg: string;
  readonly txid: string;
  /** `Date.now()` when its commit was observed. */
  readonly committedAtMs: number;
}

export interface LoadReport {
  readonly attempted: number;
  readonly committed: readonly CommittedWrite[];
  /** Failed writes by error code (their outcome is unknown: they may or may not have committed). */
  readonly failures: Readonly<Record<string, number>>;
}

export interface WriteLoad {
  /** Writes acknowledged as committed so far. */
  committedCount(): number;
  /**
   * Resolves once `count` more writes (than when called) are acknowledged as committed; rejects
   * after `timeoutMs` (default 30 s) with the failures so far.
   */
  waitForMoreCommits(count: number, timeoutMs?: number): Promise<void>;
  /** Stops the writers after their current write; resolves with the report. */
  stop(): Promise<LoadReport>;
}

export interface WriteLoadOptions {
  /** Concurrent writers (default 4). */
  readonly writers?: number;
  /** First message id (default 1); ids then count up, one per attempt. */
  readonly firstId?: number;
  /** Node URLs the writers send to (default: every node of the cluster). */
  readonly nodes?: readonly string[];
  /** A short label in every message, to tell loads apart. */
  readonly label?: string;
}

/** Pause after a failed write, so a writer does not spin while the cluster has no leader. */
const FAILURE_PAUSE_MS = 100;
const COMMIT_TIMEOUT_MS = 30_000;

/**
 * Builds a signed request exactly as `sdk/request.signRequest` does, with the fast signer (and
 * `nonce` when given, else the SDK's `newNonce()`).
 */
export function fastSignedRequest(
  key: KeyPair,
  serviceId: string,
  path: string,
  args: unknown,
  nonce: string = newNonce(),
): SignedRequest {
  const body = encodeBody({ args, nonce, createdMs: Date.now() }, "json");
  return {
    path,
    body,
    headers: {
      "content-type": CONTENT_JSON,
      [HEADER_CALLER]: key.id,
      [HEADER_SIGNATURE]: toBase64Url(signFast(key, signingInput(serviceId, path, body))),
    },
  };
}

/** Starts the load at once; see the module comment. */
export function startWriteLoad(cluster: Cluster, options: WriteLoadOptions = {}): WriteLoad {
  const label = options.label ?? "load";
  const committed: CommittedWrite[] = [];
  const failures: Record<string, number> = {};
  let nextId = options.firstId ?? 1;
  let attempted = 0;
  let stopping = false;
  const waiters = new Set<() => void>();

  const writer = async () => {
    const client = cluster.client(cluster.user, options.nodes ? { nodes: options.nodes } : {});
    while (!stopping) {
      const id = nextId++;
      attempted++;
      const msg = `${label} ${id} ${newNonce().slice(0, 8)}`;
      try {
        const request = fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/writePublic", {
          id,
          msg,
        });
        const { txid } = await client.post<CallResult>(request);
        if (txid === undefined) throw new Error("a write answered without a txid");
        await client.waitForCommit(txid, { timeoutMs: COMMIT_TIMEOUT_MS });
        committed.push({ id, msg, txid, committedAtMs: Date.now() });
        for (const wake of waiters) wake();
      } catch (err) {
        const code = isTreatyError(err) ? err.code : err instanceof Error ? err.name : "unknown";
        failures[code] = (failures[code] ?? 0) + 1;
        await new Promise((resolve) => setTimeout(resolve, FAILURE_PAUSE_MS));
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.writers ?? 4 }, writer));

  return {
    committedCount: () => committed.length,
    waitForMoreCommits(count, timeoutMs = 30_000) {
      const target = committed.length + count;
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (committed.length < target) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `only ${committed.length - (target - count)} of ${count} more writes committed within ${timeoutMs} ms; failures ${JSON.stringify(failures)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      stopping = true;
      await running;
      return { attempted, committed: [...committed], failures: { ...failures } };
    },
  };
}

/**
 * Reads every write back from `node` (`log.readPublic`, signed, 16 in flight) and returns the
 * ones that are missing or differ, as `id: expected ... got ...` lines (empty when all match).
 */
export async function readBack(
  cluster: Cluster,
  node: ClusterNode,
  writes: readonly CommittedWrite[],
): Promise<string[]> {
  const client = cluster.client(cluster.user, { nodes: [node.url] });
  const problems: string[] = [];
  let next = 0;
  const reader = async () => {
    while (next < writes.length) {
      const write = writes[next++]!;
      const request = fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/readPublic", {
        id: write.id,
      });
      try {
        const { result } = await client.post<CallResult<{ msg: string }>>(request);
        if (result.msg !== write.msg)
          problems.push(
            `${write.id}: expected ${JSON.stringify(write.msg)}, got ${JSON.stringify(result.msg)}`,
          );
      } catch (err) {
        problems.push(`${write.id} (txid ${write.txid}): ${String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  return problems;
}
