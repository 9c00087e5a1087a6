/**
 * `treaty status --node <url>`: prints a node's `/node/status` JSON. This module also holds what
 * the commands that talk to a running node share (`treaty call`, `treaty receipt`): the `--node`
 * / `--service` / `--timeout` flags, the pinned service key, a fetch with a deadline, and one
 * way to report a failed request (`{"error": {code, message}}` on stdout, a line on stderr,
 * exit 1). Only the SDK is imported, so these commands start fast.
 */
import { readFileSync } from "node:fs";
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { exchangeJson } from "../../sdk/json-exchange.js";
import { parsePublicKey, type PublicKey } from "../../sdk/keys.js";
import { parseServiceFile } from "../../sdk/client.js";
import { keyPinnedFetch, pinnedFetch, streamingFetch, unpinnedFetch } from "../tls/client.js";
import { type Command, EXIT_FAILED, EXIT_OK, parseFlags, UsageError } from "./command.js";

/** Where a remote command writes, and how it reaches the network (tests pass their own). */
export interface RemoteIo {
  out(text: string): void;
  err(text: string): void;
  readonly fetch: typeof fetch;
}

/** The process's streams and the platform fetch. */
export const processRemoteIo: RemoteIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  fetch: (input, init) => globalThis.fetch(input, init),
};

/** Default deadline of one HTTP request, and of a commit wait, ms. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The flags every remote command accepts (parseArgs options). */
export const REMOTE_FLAGS = {
  node: { type: "string" },
  service: { type: "string" },
  timeout: { type: "string" },
} as const;

/** The help lines of `--node` and `--timeout`, for commands that explain `--service` their own way. */
export const NODE_USAGE = "  --node <url>        the node to talk to (default: the first node in --service)";
export const TIMEOUT_USAGE = `  --timeout <ms>      deadline of each HTTP request and of a commit wait (default ${DEFAULT_TIMEOUT_MS}):
                      a request or wait past it fails with Timeout`;

export const REMOTE_USAGE = `${NODE_USAGE}
  --service <file>    service.json {serviceKey: {curve, publicKey}, nodes: [url...],
                      serviceCertificate?}: pins the service identity, and for https nodes
                      the TLS certificate (the file's serviceCertificate, or else the one the
                      node presents, checked against serviceKey); without it the key is taken
                      from the node's own /node/status and TLS is not checked, both unpinned,
                      and a warning says so
${TIMEOUT_USAGE}`;

/** The node, the pinned service file (if any) and the deadline chosen by the remote flags. */
export interface RemoteTarget {
  readonly node: string;
  readonly service:
    | {
        readonly serviceKey: PublicKey;
        readonly nodes: readonly string[];
        readonly serviceCertificate?: string;
      }
    | undefined;
  readonly timeoutMs: number;
  /** `io.fetch` with the deadline applied to every request. */
  readonly fetch: typeof fetch;
  /**
   * For an answer that streams (`treaty events`): the same trust as `fetch`, the body read as it
   * arrives; the deadline applies until the answer's head arrives, the stream then has none.
   */
  readonly stream: typeof fetch;
}

/** Resolves `--node`, `--service` and `--timeout`; UsageError on anything missing or malformed. */
export function remoteTarget(
  values: { node?: string | undefined; service?: string | undefined; timeout?: string | undefined },
  io: RemoteIo,
  tls: "pinned" | "unpinned" = "pinned",
): RemoteTarget {
  const timeoutMs =
    values.timeout === undefined ? DEFAULT_TIMEOUT_MS : positiveInteger(values.timeout, "--timeout");
  const service = values.service === undefined ? undefined : readServiceFile(values.service);
  const node = values.node ?? service?.nodes[0];
  if (node === undefined)
    throw new UsageError("--node <url> is required (or a --service file listing nodes)");
  let url: URL;
  try {
    url = new URL(node);
  } catch {
    throw new UsageError(`--node: expected an http(s) URL, got ${JSON.stringify(node)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`--node: expected an http(s) URL, got ${JSON.stringify(node)}`);
  let transport = io.fetch;
  let stream = io.fetch;
  if (url.protocol === "https:") {
    if (tls === "unpinned" || service === undefined) {
      if (tls === "pinned")
        io.err(`treaty: warning: no --service file: the TLS certificate of ${url.origin} is not checked\n`);
      transport = unpinnedFetch();
      stream = streamingFetch("unpinned");
    } else if (service.serviceCertificate !== undefined) {
      transport = pinnedFetch(service.serviceCertificate);
      stream = streamingFetch({ serviceCertificate: service.serviceCertificate });
    } else {
      transport = keyPinnedFetch(service.serviceKey);
      stream = streamingFetch({ serviceKey: service.serviceKey });
    }
  }
  return {
    node: node.replace(/\/+$/, ""),
    service,
    timeoutMs,
    fetch: (input, init) => transport(input, { ...init, signal: deadlineSignal(timeoutMs) }),
    stream: (input, init) => headWithin(timeoutMs, stream, input, init),
  };
}

/**
 * A signal that aborts after `ms` with a TimeoutError saying so, like `AbortSignal.timeout` but
 * with the message every remote command reports: the SDK's Client turns a TimeoutError into
 * `Timeout` with its message, as `noAnswer` does here, so `treaty call` and the governance
 * commands time out with the same code and words as `treaty status`.
 */
function deadlineSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  // Unref'd like AbortSignal.timeout's timer: a pending deadline does not hold the process open.
  setTimeout(() => controller.abort(timeoutError(ms)), ms).unref();
  return controller.signal;
}

function timeoutError(ms: number): DOMException {
  return new DOMException(`no answer within ${ms} ms`, "TimeoutError");
}

/**
 * `send(input, init)`, failing with a TimeoutError when the answer's head takes over `ms`; its
 * body then arrives without a deadline (`init.signal` still aborts it).
 */
async function headWithin(
  ms: number,
  send: typeof fetch,
  input: Parameters<typeof fetch>[0],
  init: RequestInit | undefined,
): Promise<Response> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(timeoutError(ms)), ms);
  const outer = init?.signal ?? undefined;
  try {
    return await send(input, {
      ...init,
      signal: outer === undefined ? deadline.signal : AbortSignal.any([outer, deadline.signal]),
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The service key to use: the pinned one from `--service`, otherwise the one the node reports in
 * `/node/status`, with a warning on stderr (a node vouching for itself proves nothing) unless
 * `warnUnpinned` is false (a read that signs and verifies nothing with the key).
 * Throws TreatyError (Unavailable, MalformedRequest, or the node's error) when the node fails.
 */
export async function serviceKeyOf(
  target: RemoteTarget,
  io: RemoteIo,
  command: string,
  { warnUnpinned = true }: { readonly warnUnpinned?: boolean } = {},
): Promise<PublicKey> {
  if (target.service !== undefined) return target.service.serviceKey;
  const status = await fetchJson<{ serviceKey?: { curve?: unknown; publicKey?: unknown } }>(
    target,
    "/node/status",
  );
  const key = parsePublicKey(status.serviceKey?.curve, status.serviceKey?.publicKey, "status.serviceKey");
  if (warnUnpinned)
    io.err(
      `treaty ${command}: warning: no --service file: using the service key ${status.serviceKey?.publicKey} ` +
        `reported by ${target.node}/node/status (not pinned)\n`,
    );
  return key;
}

/** GET `path` on the target node as JSON; a node error becomes its TreatyError (sdk/json-exchange). */
export function fetchJson<T>(target: RemoteTarget, path: string): Promise<T> {
  return exchangeJson<T>(target.fetch, target.node, path, {}, { noAnswer: (err) => noAnswer(target, err) });
}

/**
 * The TreatyError for a request that never got an answer (refused, reset, timed out): the cause's
 * words (ECONNREFUSED rather than "fetch failed"), and a timeout in `--timeout`'s words. An
 * AbortError is a timeout too: `target.fetch` replaces any signal with its deadline's.
 */
function noAnswer(target: RemoteTarget, err: unknown): TreatyError {
  const cause =
    err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return new TreatyError("Timeout", `${target.node}: no answer within ${target.timeoutMs} ms`);
  }
  return new TreatyError("Unavailable", `${target.node}: ${cause}`);
}

/**
 * Runs a remote command's body; a TreatyError becomes `{"error": {...}}` on stdout, a line on
 * stderr and exit 1. UsageErrors pass through (the CLI prints usage and exits 2).
 */
export async function reportingErrors(
  command: string,
  io: RemoteIo,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof TreatyError)) throw err;
    io.out(`${JSON.stringify(err.toJSON(), null, 2)}\n`);
    io.err(`treaty ${command}: ${err.code}: ${err.message}\n`);
    return EXIT_FAILED;
  }
}

/** Prints `value` as pretty JSON on stdout. */
export function printJsonTo(io: RemoteIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Reads a JSON file for a flag; UsageError naming the flag when it cannot. */
export function readJsonFlag(path: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path} (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${path} is not valid JSON (${(err as Error).message})`);
  }
}

function readServiceFile(path: string): ReturnType<typeof parseServiceFile> {
  try {
    const parsed = parseServiceFile(readJsonFlag(path, "--service"));
    // parseServiceFile checks the shape; the point must be a valid key too.
    parsePublicKey(parsed.serviceKey.curve, toHex(parsed.serviceKey.publicKey), "serviceKey.publicKey");
    return parsed;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--service: ${(err as Error).message}`);
  }
}

/** A positive integer flag value; UsageError otherwise. */
export function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(value))
    throw new UsageError(`${flag}: expected a positive integer, got "${text}"`);
  return value;
}

const STATUS_USAGE = `Usage: treaty status [--node <url>] [--service <file>] [--timeout <ms>]

Prints the node's status as JSON: its id and role, view, leader, commit and last seqno, the
service key and id, the service status (opening/open), version, platform and code measurement.
Exit codes: 0 ok, 1 the node did not answer or answered with an error, 2 usage.
${REMOTE_USAGE}`;

/** `treaty status` with its output going to `io`. */
export async function runStatus(argv: string[], io: RemoteIo): Promise<number> {
  const { values } = parseFlags(argv, REMOTE_FLAGS, false);
  const target = remoteTarget(values, io);
  return reportingErrors("status", io, async () => {
    printJsonTo(io, await fetchJson(target, "/node/status"));
    return EXIT_OK;
  });
}

export const statusCommand: Command = {
  path: ["status"],
  summary: "print a running node's status",
  usage: STATUS_USAGE,
  run: (argv) => runStatus(argv, processRemoteIo),
};
