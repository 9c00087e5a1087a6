/**
 * `Client`: what an app uses to call contracts on a Treaty network. It signs each request with
 * the caller's key, sends it to a node, retries safely (the same signed bytes, so the same nonce:
 * a retry can never execute twice), waits for commit and fetches receipts verified offline
 * against the pinned service identity. Uses the platform `fetch`: runs in Node and browsers.
 *
 * @example
 *   const client = new Client({ nodes: ["http://127.0.0.1:8000"], serviceKey, key: user });
 *   const { result, txid } = await client.call("log", "writePrivate", { id: 1, msg: "hello" });
 *   await client.waitForCommit(txid);
 *   const receipt = await client.receipt(txid); // verified, or throws ReceiptInvalid
 */
import type { ArgsOf, MethodsOf, ResultOf } from "../contracts/api/contract.js";
import { fromHex } from "./bytes.js";
import { decode } from "./codec.js";
import { type ErrorBody, TreatyError } from "./errors.js";
import { type KeyPair, keyId, type PublicKey } from "./keys.js";
import { type Receipt, type VerifiedReceipt, verifyReceipt } from "./receipt.js";
import {
  type BodyEncoding,
  CONTENT_MSGPACK,
  type SignedRequest,
  signRequest,
  unsignedRequest,
} from "./request.js";

export type TxStatus = "Unknown" | "Pending" | "Committed" | "Invalid";

/**
 * A typed client for a contract whose default export has type `C`: one async function per
 * method, with the argument and result types of the contract's own TypeScript.
 * @example
 *   import type logContract from "./contracts/log/index.js";
 *   const log = client.contract<typeof logContract>("log");
 *   const { txid } = await log.writePrivate({ id: 1, msg: "hi" }); // args type-checked
 */
export type ContractClient<C> = {
  readonly [K in keyof MethodsOf<C>]: (args: ArgsOf<C, K>) => Promise<CallResult<ResultOf<C, K>>>;
};

export interface ClientOptions {
  /** Node base URLs; requests go to the first that answers. */
  readonly nodes: readonly string[];
  /** The pinned service identity public key (from service.json): requests bind its id, receipts verify against it. */
  readonly serviceKey: PublicKey;
  /** The caller's key pair; omit for anonymous readonly calls. */
  readonly key?: KeyPair;
  readonly encoding?: BodyEncoding;
  /** Attempts per request on network errors and 503s (default 5), with exponential backoff from `backoffMs` (default 50). */
  readonly retries?: number;
  readonly backoffMs?: number;
  readonly fetch?: typeof fetch;
}

export interface CallResult<R = unknown> {
  readonly result: R;
  /** `view.seqno`; absent for readonly calls. */
  readonly txid?: string;
  /** What the call `emit`ted, in order (a failed call emits nothing: it throws instead). */
  readonly events: readonly ContractEvent[];
}

/** One event a contract emitted: `emit(name, data)`. */
export interface ContractEvent {
  readonly name: string;
  readonly data: unknown;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly role: string;
  readonly view: number;
  readonly commitSeqno: number;
  readonly serviceKey: { readonly curve: string; readonly publicKey: string };
  readonly version: string;
  readonly [key: string]: unknown;
}

export class Client {
  readonly serviceId: string;
  private readonly options: ClientOptions;
  private readonly fetchImpl: typeof fetch;
  private preferred = 0;

  constructor(options: ClientOptions) {
    if (options.nodes.length === 0) throw new TypeError("nodes: at least one node URL is required");
    this.options = options;
    this.serviceId = keyId(options.serviceKey);
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Calls `contract.method(args)`: signed when the client has a key, unsigned otherwise. */
  async call<R = unknown>(contract: string, method: string, args: unknown = {}): Promise<CallResult<R>> {
    const path = `/app/${encodeURIComponent(contract)}/${encodeURIComponent(method)}`;
    const request = this.options.key
      ? signRequest(this.options.key, this.serviceId, path, args, {
          encoding: this.options.encoding ?? "json",
        })
      : unsignedRequest(path, args, this.options.encoding ?? "json");
    return this.post<CallResult<R>>(request);
  }

  /** A typed client for contract `name` (see `ContractClient`). */
  contract<C>(name: string): ContractClient<C> {
    return new Proxy(
      {},
      {
        get: (_target, method) =>
          typeof method === "string" ? (args: unknown) => this.call(name, method, args) : undefined,
      },
    ) as ContractClient<C>;
  }

  /** Sends an already signed request (e.g. a governance ballot built by `sdk/governance`). */
  post<T>(request: SignedRequest): Promise<T> {
    return this.send<T>(request.path, { method: "POST", body: request.body, headers: request.headers });
  }

  /** Commit status of a transaction id as the node sees it. */
  async txStatus(txid: string): Promise<TxStatus> {
    const body = await this.get<{ status: TxStatus }>(`/node/tx?txid=${encodeURIComponent(txid)}`);
    return body.status;
  }

  /**
   * Polls until `txid` is Committed (resolves) or Invalid (throws `TxNotCommitted`); throws
   * `Timeout` after `timeoutMs` (default 30 s).
   */
  async waitForCommit(txid: string, { timeoutMs = 30_000, pollMs = 20 } = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.txStatus(txid);
      if (status === "Committed") return;
      if (status === "Invalid")
        throw new TreatyError(
          "TxNotCommitted",
          `transaction ${txid} is Invalid: it will never commit; resubmit it`,
        );
      if (Date.now() > deadline)
        throw new TreatyError("Timeout", `transaction ${txid} still ${status} after ${timeoutMs} ms`);
      await sleep(pollMs);
      pollMs = Math.min(pollMs * 2, 500);
    }
  }

  /**
   * The receipt of a committed transaction, verified offline against the pinned service key.
   * Throws `TxNotCommitted` while it is not committed yet, `ReceiptInvalid` when it does not verify.
   */
  async receipt(txid: string): Promise<{ receipt: Receipt; verified: VerifiedReceipt }> {
    const receipt = await this.get<Receipt>(`/node/receipt?txid=${encodeURIComponent(txid)}`);
    return { receipt, verified: verifyReceipt(receipt, this.options.serviceKey, { txid }) };
  }

  /** The node's status. */
  status(): Promise<NodeStatus> {
    return this.get<NodeStatus>("/node/status");
  }

  /** A GET on any node endpoint, with the same retry rules. */
  get<T>(path: string): Promise<T> {
    return this.send<T>(path, { method: "GET" });
  }

  private async send<T>(
    path: string,
    init: { method: string; body?: Uint8Array; headers?: Readonly<Record<string, string>> },
  ): Promise<T> {
    const attempts = this.options.retries ?? 5;
    let backoff = this.options.backoffMs ?? 50;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const base = this.options.nodes[(this.preferred + attempt) % this.options.nodes.length]!;
      let response: Response;
      try {
        response = await this.fetchImpl(base + path, {
          method: init.method,
          headers: { accept: CONTENT_MSGPACK, ...init.headers },
          ...(init.body !== undefined && { body: init.body as Uint8Array<ArrayBuffer> }),
        });
      } catch (err) {
        lastError = new TreatyError("Unavailable", `${base}: ${(err as Error).message}`);
        await sleep(backoff);
        backoff *= 2;
        continue;
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      const contentType = response.headers.get("content-type") ?? "";
      const value = contentType.includes(CONTENT_MSGPACK)
        ? decode(bytes, "response")
        : parseJson(bytes, response.status);
      if (response.ok) {
        this.preferred = (this.preferred + attempt) % this.options.nodes.length;
        return value as T;
      }
      const error = (value as ErrorBody).error ?? { code: "Internal", message: `HTTP ${response.status}` };
      lastError = new TreatyError(error.code, error.message, error.details);
      // A replay means an earlier attempt of this very request executed: surface it, never resend.
      if (response.status !== 503) break;
      await sleep(backoff);
      backoff *= 2;
    }
    throw lastError;
  }
}

/** Reads a service.json (as written by `treaty dev`): the pinned service key and node URLs. */
export function parseServiceFile(value: unknown): { serviceKey: PublicKey; nodes: string[] } {
  const v = value as { serviceKey?: { curve?: string; publicKey?: string }; nodes?: unknown };
  if (!v?.serviceKey?.publicKey || v.serviceKey.curve !== "ed25519" || !Array.isArray(v.nodes)) {
    throw new TreatyError(
      "MalformedRequest",
      "service file: expected {serviceKey: {curve, publicKey}, nodes: [url...]}",
    );
  }
  return {
    serviceKey: { curve: "ed25519", publicKey: fromHex(v.serviceKey.publicKey, "serviceKey.publicKey") },
    nodes: v.nodes.map(String),
  };
}

/** A JSON answer; a proxy's HTML error page or a truncated body is MalformedEncoding, not a SyntaxError. */
function parseJson(bytes: Uint8Array, status: number): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new TreatyError("MalformedEncoding", `response (HTTP ${status}): not valid JSON`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
