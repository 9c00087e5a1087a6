/**
 * `Client`: what an app uses to call contracts on a Treaty network. It signs each request with
 * the caller's key, sends it to a node, retries safely (the same signed bytes, so the same nonce:
 * a retry can never execute twice), waits for commit and fetches receipts verified offline
 * against the pinned service identity. Runs in Node and browsers: it sends through the platform
 * `fetch`, or in Node, to `http:` node URLs, through node:http (sdk/transport.ts: less than half
 * the CPU per call), unless `ClientOptions.fetch` is given (the `treaty/tls` ones send through
 * node:https the same way).
 *
 * A write whose outcome is unknown (`OutcomeUnknown`: the leader changed while a follower had
 * forwarded it, or the connection broke) is resent, same bytes, until a node answers with its
 * txid, or with `Replay` naming the txid of the earlier attempt that did execute (returned as a
 * success with `replayed: true`), or with a definite refusal.
 *
 * @example
 *   const client = new Client({ nodes: ["http://127.0.0.1:8000"], serviceKey, key: user });
 *   const { result, txid } = await client.call("log", "writePrivate", { id: 1, msg: "hello" });
 *   await client.waitForCommit(txid);
 *   const receipt = await client.receipt(txid); // verified, or throws ReceiptInvalid
 *   const read = await client.call("log", "readPrivate", { id: 1 }, { consistency: "linearizable" });
 */
import type { ArgsOf, EventsOf, MethodsOf, ResultOf } from "../contracts/api/contract.js";
import { fromHex } from "./bytes.js";
import { decode } from "./codec.js";
import { signWalletRequest, type WalletSigner } from "./ethereum.js";
import { bearerRequest, tokenOf } from "./bearer.js";
import {
  type ErrorBody,
  type ErrorCode,
  isTreatyError,
  noAnswerError,
  RETRYABLE_CODES,
  TreatyError,
} from "./errors.js";
import { type KeyPair, keyId, type PublicKey } from "./keys.js";
import { type Receipt, type VerifiedReceipt, verifyReceipt } from "./receipt.js";
import { defaultTransport, type Transport, type TransportAnswer, transportOf } from "./transport.js";
import {
  HEADER_ANSWER_CHALLENGE,
  newChallenge,
  type SignedAnswer,
  verifySignedAnswer,
} from "./signed-answer.js";
import {
  type BodyEncoding,
  CONTENT_MSGPACK,
  HEADER_CONSISTENCY,
  type ReadConsistency,
  type SignedRequest,
  signRequestAsync,
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
 *   // events: the contract's declared events as a union {name, data} (EventsOf), narrowed by name
 */
export type ContractClient<C> = {
  readonly [K in keyof MethodsOf<C>]: (
    args: ArgsOf<C, K>,
  ) => Promise<CallResult<ResultOf<C, K>, EventsOf<C>>>;
};

export interface ClientOptions {
  /** Node base URLs; requests go to the first that answers. */
  readonly nodes: readonly string[];
  /** The pinned service identity public key (from service.json): requests bind its id, receipts verify against it. */
  readonly serviceKey: PublicKey;
  /** The caller's key pair; omit for anonymous readonly calls. */
  readonly key?: KeyPair;
  /**
   * Or an Ethereum wallet (a user or member recorded by address): requests are signed with its
   * `eth_signTypedData_v4` when it has `signTypedData` (EIP-712), else its `personal_sign`
   * (sdk/ethereum.ts `WalletSigner`). E.g. `{address: wallet.address, signText: (t) => wallet.signMessage(t)}`.
   */
  readonly wallet?: WalletSigner;
  /**
   * Or a JWT bearer token from an issuer the service trusts (sdk/bearer.ts), or a function that
   * returns a current one (called per request, e.g. to refresh an OIDC ID token). Over TLS only.
   */
  readonly bearerToken?: string | (() => string | Promise<string>);
  /** The body of `call` requests: `"json"` (default) or `"msgpack"`; answers are asked for as MessagePack either way. */
  readonly encoding?: BodyEncoding;
  /**
   * Attempts per request on network errors and 503 Unavailable/NotLeader/ServiceNotOpen (default
   * 5; 0 and 1 both mean one attempt, no retry); `OutcomeUnknown` is resent until `outcomeTimeoutMs`.
   * A request that gets no answer fails as `Timeout` when its `fetch` gave up at a deadline (a
   * TimeoutError, e.g. `AbortSignal.timeout`), else as `Unavailable`. A failed attempt moves on to the next
   * node at once until every node has failed since the last pause; then the client pauses, with
   * exponential backoff from `backoffMs` (default 50, at most 1 s). The first NotLeader or
   * OutcomeUnknown answer (leadership moved) starts a fresh pass and restarts the backoff from
   * `backoffMs`: the next node can likely take the request now. `retries`, `backoffMs` and
   * `outcomeTimeoutMs` outside their ranges (an integer ≥ 0; finite numbers ≥ 0) are a TypeError.
   */
  readonly retries?: number;
  readonly backoffMs?: number;
  /**
   * How long to keep resending a request answered `OutcomeUnknown` (default 60 s, well inside
   * the nodes' freshness window, beyond which a resend could no longer learn the outcome).
   */
  readonly outcomeTimeoutMs?: number;
  /** Consistency of readonly calls unless a call says otherwise (default: the node's, `committed`). */
  readonly consistency?: ReadConsistency;
  /**
   * Sends every request through this `fetch` (e.g. `treaty/tls` `pinnedFetch`). A `treaty/tls`
   * fetch carries its node:https transport (sdk/transport.ts `fetchOverTransport`): the client
   * sends through that directly, the same requests without a WHATWG Request and Response per
   * call. Default: node:http for `http:` URLs in Node (sdk/transport.ts), the platform `fetch`
   * otherwise.
   */
  readonly fetch?: typeof fetch;
}

/** Per-call options of `Client.call`. */
export interface CallOptions {
  /** Consistency of a readonly call (see `ReadConsistency`); ignored by readwrite calls. */
  readonly consistency?: ReadConsistency;
  /**
   * Readonly calls: ask the node to sign its answer (sdk/signed-answer.ts) and verify it against
   * the pinned service key; the result then comes from the signed statement, and the call throws
   * `ReceiptInvalid` when the answer is not signed as asked (e.g. a readwrite method: its proof
   * is its receipt).
   */
  readonly signedAnswer?: boolean;
  /**
   * Run a readonly method at the state as of this committed txid (`?at=`); the answer carries
   * the txid's `receipt` (check it with `verifyReceipt`). Refused with HistoryUnavailable when
   * the state is outside the node's history window.
   */
  readonly at?: string;
}

/** `E`: the contract's declared events (`EventsOf<C>`) for a typed client, else any event. */
export interface CallResult<R = unknown, E extends ContractEvent = ContractEvent> {
  /** The method's result; `undefined` when `replayed` (the earlier attempt's result is not kept). */
  readonly result: R;
  /** `view.seqno`: the transaction a write produced, or the last entry of the state a read observed. */
  readonly txid: string;
  /** `Committed`, or `Pending` (a write not yet committed, or a `latest` read of pending state). */
  readonly status?: TxStatus;
  /** The request had already executed (an earlier attempt whose answer was lost): `txid` is its. */
  readonly replayed?: true;
  /** A historical read (`at`): the receipt of that txid, proving the state it read is in the ledger. */
  readonly receipt?: Receipt;
  /** What the call `emit`ted, in order (a failed call emits nothing: it throws instead). */
  readonly events: readonly E[];
  /** With `CallOptions.signedAnswer`: the verified signed answer, to keep or show to others. */
  readonly signedAnswer?: SignedAnswer;
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
  private readonly transport: Transport;
  private preferred = 0;

  constructor(options: ClientOptions) {
    if (options.nodes.length === 0) throw new TypeError("nodes: at least one node URL is required");
    if (options.retries !== undefined && !(Number.isSafeInteger(options.retries) && options.retries >= 0))
      throw new TypeError(`retries: expected an integer ≥ 0, got ${String(options.retries)}`);
    // NaN would never pass a deadline (OutcomeUnknown resent forever) nor make a pause.
    for (const field of ["backoffMs", "outcomeTimeoutMs"] as const) {
      const ms = options[field];
      if (ms !== undefined && !(Number.isFinite(ms) && ms >= 0))
        throw new TypeError(`${field}: expected a finite number of ms ≥ 0, got ${String(ms)}`);
    }
    this.options = options;
    this.serviceId = keyId(options.serviceKey);
    this.transport = options.fetch === undefined ? defaultTransport() : transportOf(options.fetch);
  }

  /**
   * Calls `contract.method(args)`: signed when the client has a key, unsigned otherwise. A
   * `Replay` answer to a resend is the earlier attempt's success: `{txid, replayed: true}` (its
   * result and events were in the lost answer: `result` is undefined and `events` empty).
   */
  async call<R = unknown>(
    contract: string,
    method: string,
    args: unknown = {},
    options: CallOptions = {},
  ): Promise<CallResult<R>> {
    const path = `/app/${encodeURIComponent(contract)}/${encodeURIComponent(method)}`;
    const encoding = this.options.encoding ?? "json";
    const wallet = this.options.wallet;
    const request = this.options.key
      ? await signRequestAsync(this.options.key, this.serviceId, path, args, { encoding })
      : wallet !== undefined
        ? await signWalletRequest(wallet, this.serviceId, path, args, { encoding })
        : this.options.bearerToken !== undefined
          ? bearerRequest(await tokenOf(this.options.bearerToken), path, args, { encoding })
          : unsignedRequest(path, args, encoding);
    const consistency = options.consistency ?? this.options.consistency;
    const challenge = options.signedAnswer === true ? newChallenge() : undefined;
    const headers = {
      ...request.headers,
      ...(consistency !== undefined && { [HEADER_CONSISTENCY]: consistency }),
      ...(challenge !== undefined && { [HEADER_ANSWER_CHALLENGE]: challenge }),
    };
    try {
      const target =
        options.at === undefined ? request.path : `${request.path}?at=${encodeURIComponent(options.at)}`;
      const answer = await this.send<CallResult<R>>(target, {
        method: "POST",
        body: request.body,
        headers,
      });
      if (challenge === undefined) return answer;
      if (answer.signedAnswer === undefined)
        throw new TreatyError(
          "ReceiptInvalid",
          `${path}: the node did not sign its answer (readwrite methods have receipts instead)`,
        );
      const statement = verifySignedAnswer(answer.signedAnswer, {
        serviceKey: this.options.serviceKey,
        path: request.path,
        body: request.body,
        challenge,
      });
      return {
        result: statement.result as R,
        txid: statement.txid,
        status: statement.status,
        events: statement.events,
        signedAnswer: answer.signedAnswer,
      };
    } catch (err) {
      // The nonce is this request's own (fresh per call): whoever sent these bytes first, it ran.
      const txid = isTreatyError(err, "Replay") ? err.details?.txid : undefined;
      if (typeof txid === "string") return { result: undefined as R, txid, replayed: true, events: [] };
      throw err;
    }
  }

  /**
   * A typed client for contract `name` (see `ContractClient`). It is not thenable: its `then`
   * is undefined, so `await`ing it, or returning it from an async function, gives the client
   * itself (a `then` method would be called by the promise machinery, sending a request and
   * leaving the await pending for ever). Call a contract method named `then` with `call`. Nor
   * are the names of `Object.prototype` methods, which no contract method may have: `String(c)`
   * sends no `toString` request.
   */
  contract<C>(name: string): ContractClient<C> {
    return new Proxy(
      {},
      {
        get: (_target, method) =>
          typeof method === "string" && method !== "then" && !(method in Object.prototype)
            ? (args: unknown) => this.call(name, method, args)
            : undefined,
      },
    ) as ContractClient<C>;
  }

  /** Sends an already signed request (e.g. a governance ballot built by `sdk/governance`). */
  post<T>(request: SignedRequest): Promise<T> {
    return this.send<T>(request.path, { method: "POST", body: request.body, headers: request.headers });
  }

  /**
   * Commit status of a transaction id as the node sees it. With `waitMs` (at most 10,000), a
   * node answers a Pending or Unknown transaction once its commit point reaches it, or after
   * `waitMs`, whichever comes first (a long poll).
   */
  async txStatus(txid: string, { waitMs = 0 } = {}): Promise<TxStatus> {
    const wait = waitMs > 0 ? `&wait=${Math.floor(waitMs)}` : "";
    const body = await this.get<{ status: TxStatus }>(`/node/tx?txid=${encodeURIComponent(txid)}${wait}`);
    return body.status;
  }

  /**
   * Resolves once `txid` is Committed, throws `TxNotCommitted` once it is Invalid, and `Timeout`
   * after `timeoutMs` (default 30 s). It long-polls `/node/tx` (up to 2 s per request), so it
   * returns as soon as the node sees the commit; an answer that comes back undecided sooner
   * than it asked (a node that does not hold long polls, or holds too many) is polled again
   * after a backoff from `pollMs` (default 20 ms) up to 500 ms.
   */
  async waitForCommit(txid: string, { timeoutMs = 30_000, pollMs = 20 } = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const waitMs = Math.max(0, Math.min(deadline - Date.now(), LONG_POLL_MS));
      const asked = Date.now();
      const status = await this.txStatus(txid, { waitMs });
      if (status === "Committed") return;
      if (status === "Invalid")
        throw new TreatyError(
          "TxNotCommitted",
          `transaction ${txid} is Invalid: it will never commit; resubmit it`,
        );
      if (Date.now() >= deadline)
        throw new TreatyError("Timeout", `transaction ${txid} still ${status} after ${timeoutMs} ms`);
      if (Date.now() - asked < waitMs / 2) {
        await sleep(pollMs);
        pollMs = Math.min(pollMs * 2, 500);
      }
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
    const attempts = Math.max(1, this.options.retries ?? 5);
    const nodes = this.options.nodes.length;
    let backoff = this.options.backoffMs ?? 50;
    let lastError: unknown;
    /** Set at the first OutcomeUnknown: resends until then do not count as attempts. */
    let outcomeDeadline: number | undefined;
    /** Set at the first NotLeader or OutcomeUnknown: the pass and backoff restarted then. */
    let leadershipMoved = false;
    /** Attempts that failed since the last pause: one pass over the nodes goes without one. */
    let failedInPass = 0;
    /** After a failed attempt: on to the next node at once, or pause once every node has failed. */
    const next = async (): Promise<void> => {
      if (++failedInPass < nodes) return;
      failedInPass = 0;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    };
    let sent = 0;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const node = (this.preferred + sent++) % nodes;
      const base = this.options.nodes[node]!;
      let response: TransportAnswer;
      try {
        response = await this.transport(base + path, {
          method: init.method,
          headers: { accept: CONTENT_MSGPACK, ...init.headers },
          ...(init.body !== undefined && { body: init.body }),
        });
      } catch (err) {
        // No answer (Timeout past the caller's fetch deadline, as waitForCommit's own deadline
        // is; else Unavailable): retried either way, the request may not have reached a node.
        lastError = noAnswerError(base, err);
        await next();
        continue;
      }
      const { bytes, contentType } = response;
      const value = contentType.includes(CONTENT_MSGPACK)
        ? decode(bytes, "response")
        : parseJson(bytes, response.status);
      if (response.status >= 200 && response.status < 300) {
        this.preferred = node;
        return value as T;
      }
      const error = (value as ErrorBody).error ?? { code: "Internal", message: `HTTP ${response.status}` };
      lastError = new TreatyError(error.code, error.message, error.details);
      // Only the infrastructure's "did not execute" answers are retried (a contract cannot produce
      // them: the node maps reserved codes, see sdk/errors.ts); a replay means an earlier attempt
      // of this very request executed: surface it, never resend.
      if (response.status !== 503) break;
      if (error.code === "OutcomeUnknown") {
        // Only a resend of these same bytes can tell whether they ran: keep asking, for a while.
        outcomeDeadline ??= Date.now() + (this.options.outcomeTimeoutMs ?? 60_000);
        if (Date.now() >= outcomeDeadline) break;
        attempt--;
      } else if (!RETRYABLE_CODES.includes(error.code as ErrorCode)) break;
      if (!leadershipMoved && (error.code === "OutcomeUnknown" || error.code === "NotLeader")) {
        // The first answer that leadership moved: a live node held the request until it knew
        // (nodes wait for a new leader during an election), so the next node can likely take it
        // now. A fresh pass starts, and the backoff from the base rather than from one grown by
        // the failures before (after a leader's crash those would add up to a second).
        leadershipMoved = true;
        failedInPass = 0;
        backoff = this.options.backoffMs ?? 50;
      }
      await next();
    }
    throw lastError;
  }
}

/**
 * Reads a service.json (as written by `treaty dev`): the pinned service key, node URLs and, for
 * services serving TLS, the service certificate (PEM) to pin (in Node: `treaty/tls`
 * `pinnedFetch`, passed as `ClientOptions.fetch`; a browser trusts what its platform trusts).
 */
export function parseServiceFile(value: unknown): {
  serviceKey: PublicKey;
  nodes: string[];
  serviceCertificate?: string;
} {
  const v = value as {
    serviceKey?: { curve?: string; publicKey?: string };
    nodes?: unknown;
    serviceCertificate?: unknown;
  };
  if (!v?.serviceKey?.publicKey || v.serviceKey.curve !== "ed25519" || !Array.isArray(v.nodes)) {
    throw new TreatyError(
      "MalformedRequest",
      "service file: expected {serviceKey: {curve, publicKey}, nodes: [url...]}",
    );
  }
  const cert = v.serviceCertificate;
  if (
    cert !== undefined &&
    (typeof cert !== "string" ||
      !/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/.test(cert))
  )
    throw new TreatyError(
      "MalformedRequest",
      "service file: serviceCertificate: expected one PEM certificate",
    );
  return {
    serviceKey: { curve: "ed25519", publicKey: fromHex(v.serviceKey.publicKey, "serviceKey.publicKey") },
    nodes: v.nodes.map(String),
    ...(cert !== undefined && { serviceCertificate: cert }),
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

/** Longest `/node/tx` long poll `waitForCommit` asks for, ms: well inside common HTTP timeouts. */
const LONG_POLL_MS = 2_000;

/** Longest pause between two attempts of one request. */
const MAX_BACKOFF_MS = 1_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
