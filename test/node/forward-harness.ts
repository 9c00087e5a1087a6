/**
 * A raw-forward harness for tests of the follower -> leader forwarding path: sends forwarded
 * requests to a leader exactly as an authenticated, trusted node's transport carries them (the
 * node's own `MemoryTransport`, captured when the node starts), or as an attacker on the network
 * would (frames published on the `MemoryNetwork` under any label).
 *
 * @example
 *   const { network, ... } = memoryNodes({ ... });
 *   const transports = captureTransports(network); // before the nodes start
 *   const answer = await forwardRaw(transports, follower, leader, { method, url, headers, body });
 */
import type { TreatyNode } from "../../node/service.js";
import type { MemoryNetwork, MemoryTransport } from "../../node/transport/memory.js";
import { decode, encode } from "../../sdk/codec.js";
import { isTreatyError, type TreatyError } from "../../sdk/errors.js";
import type { KeyPair } from "../../sdk/keys.js";
import { signRequest } from "../../sdk/request.js";

/** Records every transport `network` creates from now on, by node id (the latest per id). */
export function captureTransports(network: MemoryNetwork): Map<string, MemoryTransport> {
  const transports = new Map<string, MemoryTransport>();
  const create = network.createTransport.bind(network);
  network.createTransport = (options) => {
    const transport = create(options);
    transports.set(options.nodeId, transport);
    return transport;
  };
  return transports;
}

/** A forwarded HTTP request as a follower sends it (node/forward-batch.ts, the single form). */
export interface RawForward {
  readonly method: unknown;
  readonly url: unknown;
  readonly headers: unknown;
  readonly body: unknown;
  readonly committed?: unknown;
}

/** A signed contract write (`POST /app/<contract>/<method>`) as a follower forwards it. */
export function signedWrite(
  key: KeyPair,
  serviceId: string,
  path: string,
  args: unknown,
  committed?: unknown,
): RawForward {
  const { body, headers } = signRequest(key, serviceId, path, args);
  const request = { method: "POST", url: path, headers: { ...headers }, body };
  return committed === undefined ? request : { ...request, committed };
}

/**
 * Sends `payload` (a value to encode, or bytes sent as they are) from `from` to `to` through
 * `from`'s own transport: authenticated as `from`, as a trusted node's forward is. Resolves with
 * the decoded answer; rejects with the coded error the leader answered (or the transport's).
 */
export async function forwardRaw(
  transports: ReadonlyMap<string, MemoryTransport>,
  from: TreatyNode,
  to: TreatyNode,
  payload: unknown,
  timeoutMs = 10_000,
): Promise<unknown> {
  const transport = transports.get(from.identity.id);
  if (transport === undefined) throw new Error(`no captured transport for ${from.identity.id}`);
  const bytes = payload instanceof Uint8Array ? payload : encode(payload);
  return decode<unknown>(await transport.request(to.identity.id, bytes, timeoutMs), "test answer");
}

/** A settled outcome: the value, or the coded error (anything else is rethrown). */
export type Outcome<T> = { readonly ok: T } | { readonly error: TreatyError };

export function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (ok) => ({ ok }),
    (err: unknown) => {
      if (isTreatyError(err)) return { error: err };
      throw err;
    },
  );
}

/** The error code of an outcome, or "ok". */
export function codeOf(settled: Outcome<unknown>): string {
  return "error" in settled ? settled.error.code : "ok";
}

/** A forwarded request's answer `{status, body, headers}` (as the leader encodes it). */
export interface ForwardAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/** The error code in an answer's body (`{error: {code}}`), or "ok" for a 2xx answer. */
export function answerCode(answer: unknown): string {
  const { status, body } = answer as ForwardAnswer;
  if (status >= 200 && status < 300) return "ok";
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === "string" ? code : `status ${status}`;
}
