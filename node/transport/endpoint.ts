/**
 * Everything a transport does except moving bytes: peers, counters, handlers, requests and
 * responses, state, all on top of one `SecureChannel`. `NatsTransport` and `MemoryTransport` are
 * thin adapters that implement `publishFrame` / `releaseLink` and feed `receiveFrame`, so the two
 * cannot differ in what they accept.
 */
import { assert, unreachable } from "../../sdk/assert.js";
import { decode, encode } from "../../sdk/codec.js";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";
import { secureRandomBytes } from "../../runtime/crypto.js";
import { type OpenedFrame, SecureChannel } from "./channel.js";
import { FRAME_OVERHEAD_BYTES, FrameKind, MAX_MESSAGE_BYTES, SESSION_ID_BYTES } from "./frame.js";
import {
  type ConnectionState,
  type DropReason,
  type MessageHandler,
  type NodeId,
  type PeerInfo,
  RECEIVE_DROP_REASONS,
  type RequestHandler,
  SEND_DROP_REASONS,
  type Transport,
  type TransportOptions,
  type TransportStats,
} from "./types.js";

const DEFAULT_MAX_PENDING_REQUESTS = 1024;
const DEFAULT_MAX_SERVING_REQUESTS = 256;
/** Upper bound for the request limits: a bound on every queue, even a configured one. */
const MAX_REQUEST_LIMIT = 1_000_000;
/** setTimeout's largest delay. */
const MAX_TIMEOUT_MS = 2_147_483_647;
/** Error fields carried back to a requester are truncated to these lengths. */
const MAX_ERROR_CODE_CHARS = 64;
const MAX_ERROR_MESSAGE_CHARS = 1024;

interface PendingRequest {
  readonly to: NodeId;
  readonly resolve: (response: Uint8Array) => void;
  readonly reject: (error: TreatyError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

type MutableStats = { -readonly [K in keyof Omit<TransportStats, "dropped">]: number };

/**
 * The shared implementation of `Transport`. Subclasses own the link: they call `setState` as it
 * changes and `receiveFrame` for every frame that arrives on the node's subject.
 */
export abstract class TransportEndpoint implements Transport {
  readonly serviceId: string;
  readonly nodeId: NodeId;
  readonly maxMessageBytes: number;
  /** Frames above this size are dropped unread: the payload cap plus the frame overhead. */
  readonly maxFrameBytes: number;
  protected readonly channel: SecureChannel;
  private readonly maxPendingRequests: number;
  private readonly maxServingRequests: number;
  private currentState: ConnectionState = "connecting";
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private messageHandler: MessageHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private readonly pending = new Map<number, PendingRequest>();
  private serving = 0;
  private closing: Promise<void> | undefined;
  private readonly counters: MutableStats = {
    sent: 0,
    bytesSent: 0,
    received: 0,
    bytesReceived: 0,
    requestsSent: 0,
    requestsServed: 0,
    requestsTimedOut: 0,
  };
  private readonly dropped = Object.fromEntries(
    [...SEND_DROP_REASONS, ...RECEIVE_DROP_REASONS].map((reason) => [reason, 0]),
  ) as Record<DropReason, number>;

  /** Validates the options; throws `MalformedRequest` naming the first bad one. */
  protected constructor(options: TransportOptions) {
    this.maxMessageBytes = limit(
      options.maxMessageBytes,
      MAX_MESSAGE_BYTES,
      MAX_MESSAGE_BYTES,
      "maxMessageBytes",
    );
    this.maxPendingRequests = limit(
      options.maxPendingRequests,
      DEFAULT_MAX_PENDING_REQUESTS,
      MAX_REQUEST_LIMIT,
      "maxPendingRequests",
    );
    this.maxServingRequests = limit(
      options.maxServingRequests,
      DEFAULT_MAX_SERVING_REQUESTS,
      MAX_REQUEST_LIMIT,
      "maxServingRequests",
    );
    this.maxFrameBytes = this.maxMessageBytes + FRAME_OVERHEAD_BYTES;
    this.channel = new SecureChannel({
      serviceId: options.serviceId,
      nodeId: options.nodeId,
      identity: options.identity,
      sessionEpoch: options.sessionEpoch,
      sessionId: options.sessionId ?? secureRandomBytes(SESSION_ID_BYTES),
      maxFrameBytes: this.maxFrameBytes,
    });
    this.serviceId = this.channel.serviceId;
    this.nodeId = this.channel.nodeId;
    for (const peer of options.peers ?? []) this.channel.addPeer(peer);
  }

  /** Hands one frame to the network; false when the link cannot take it now. */
  protected abstract publishFrame(to: NodeId, frame: Uint8Array): boolean;
  /** Releases the link (connection, subscription). Called once, after the state became "closed". */
  protected abstract releaseLink(): Promise<void>;

  state(): ConnectionState {
    return this.currentState;
  }

  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  addPeer(peer: PeerInfo): void {
    this.channel.addPeer(peer);
  }

  removePeer(id: NodeId): void {
    this.channel.removePeer(id);
    for (const [ctr, request] of this.pending) {
      if (request.to === id)
        this.settle(ctr)?.reject(new TreatyError("Unavailable", `request to ${id}: peer removed`));
    }
  }

  peers(): NodeId[] {
    return this.channel.peerIds();
  }

  highestSessionEpoch(id: NodeId): number | undefined {
    return this.channel.highestSessionEpoch(id);
  }

  send(to: NodeId, message: Uint8Array): void {
    checkPayload(message, this.maxMessageBytes, "message");
    this.transmit(to, FrameKind.Message, message, false);
  }

  sendConfidential(to: NodeId, message: Uint8Array): void {
    checkPayload(message, this.maxMessageBytes, "message");
    this.transmit(to, FrameKind.Message, message, true);
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      checkPayload(payload, this.maxMessageBytes, "payload");
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
        throw new TreatyError(
          "MalformedRequest",
          `timeoutMs: expected an integer from 1 to ${MAX_TIMEOUT_MS}, got ${String(timeoutMs)}`,
        );
      }
      if (this.currentState === "closed")
        throw new TreatyError("Unavailable", `request to ${to}: transport closed`);
      if (!this.channel.hasPeer(to)) throw new TreatyError("Unavailable", `request to ${to}: unknown peer`);
      if (this.currentState !== "connected")
        throw new TreatyError("Unavailable", `request to ${to}: link ${this.currentState}`);
      if (this.pending.size >= this.maxPendingRequests) {
        throw new TreatyError(
          "Unavailable",
          `request to ${to}: ${this.maxPendingRequests} requests already pending`,
        );
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const { frame, ctr } = this.channel.seal(to, FrameKind.Request, payload, true);
    const response = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.settle(ctr) === undefined) return;
        this.counters.requestsTimedOut += 1;
        reject(new TreatyError("Timeout", `request to ${to}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      // Registered before publishing, so even a synchronous network finds it.
      this.pending.set(ctr, { to, resolve, reject, timer });
    });
    if (this.publishFrame(to, frame)) {
      this.countSent(frame);
      this.counters.requestsSent += 1;
    } else {
      this.dropped.disconnected += 1;
      this.settle(ctr)?.reject(new TreatyError("Unavailable", `request to ${to}: link cannot send`));
    }
    return response;
  }

  stats(): TransportStats {
    return { ...this.counters, dropped: { ...this.dropped } };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.setState("closed");
      await this.releaseLink();
    })();
    return this.closing;
  }

  /**
   * Moves to `next` and tells listeners. Entering "closed" fails every pending request; a closed
   * transport never leaves "closed".
   */
  protected setState(next: ConnectionState): void {
    if (this.currentState === next || this.currentState === "closed") return;
    this.currentState = next;
    if (next === "closed") {
      for (const [ctr, { to }] of [...this.pending]) {
        this.settle(ctr)?.reject(new TreatyError("Unavailable", `request to ${to}: transport closed`));
      }
    }
    for (const listener of [...this.stateListeners]) callOutside(() => listener(next));
  }

  /** Processes one frame from the network. Never throws for any bytes. */
  protected receiveFrame(frame: Uint8Array): void {
    if (this.currentState === "closed") {
      this.dropped.closed += 1;
      return;
    }
    const opened = this.channel.open(frame);
    if (!opened.ok) {
      this.dropped[opened.reason] += 1;
      return;
    }
    switch (opened.kind) {
      case FrameKind.Message:
        this.deliverMessage(opened, frame.length);
        break;
      case FrameKind.Request:
        this.serveRequest(opened, frame.length);
        break;
      case FrameKind.Response:
        this.completeRequest(opened, frame.length);
        break;
      default:
        unreachable(opened.kind, "frame kinds are checked by decodeFrame");
    }
  }

  private deliverMessage(opened: OpenedFrame, frameBytes: number): void {
    const handler = this.messageHandler;
    if (handler === undefined) {
      this.dropped.noHandler += 1;
      return;
    }
    this.countReceived(frameBytes);
    callOutside(() => handler(opened.from, opened.body, { confidential: opened.confidential }));
  }

  private serveRequest(opened: OpenedFrame, frameBytes: number): void {
    this.countReceived(frameBytes);
    const { from, ctr } = opened;
    const handler = this.requestHandler;
    if (handler === undefined) {
      this.respond(from, ctr, errorBody("Unavailable", `${this.nodeId} serves no requests`));
      return;
    }
    if (this.serving >= this.maxServingRequests) {
      this.respond(
        from,
        ctr,
        errorBody("Unavailable", `${this.nodeId} is serving ${this.maxServingRequests} requests already`),
      );
      return;
    }
    this.serving += 1;
    Promise.resolve()
      .then(() => handler(from, opened.body))
      .then(
        (result) => {
          if (!(result instanceof Uint8Array))
            return errorBody("Internal", "request handler returned no bytes");
          if (result.length > this.maxMessageBytes) {
            return errorBody(
              "PayloadTooLarge",
              `response: ${result.length} bytes exceeds maxMessageBytes ${this.maxMessageBytes}`,
            );
          }
          return encode({ ok: result });
        },
        (err: unknown) =>
          isTreatyError(err)
            ? errorBody(String(err.code), err.message)
            : errorBody("Internal", "request handler failed"),
      )
      .then((body) => {
        this.serving -= 1;
        this.counters.requestsServed += 1;
        this.respond(from, ctr, body);
      });
  }

  private respond(to: NodeId, requestCtr: number, body: Uint8Array): void {
    this.transmit(to, FrameKind.Response, body, true, requestCtr);
  }

  private completeRequest(opened: OpenedFrame, frameBytes: number): void {
    const re = opened.re;
    assert(re !== undefined, "response frames carry re (checked by decodeFrame)");
    if (this.pending.get(re)?.to !== opened.from) {
      this.dropped.unexpectedResponse += 1;
      return;
    }
    this.countReceived(frameBytes);
    const request = this.settle(re);
    assert(request !== undefined, "pending request found above");
    const outcome = parseResponse(opened.body, opened.from);
    if (outcome instanceof TreatyError) request.reject(outcome);
    else request.resolve(outcome);
  }

  /** Seals and publishes; returns false (and counts why) when the frame was not sent. */
  private transmit(
    to: NodeId,
    kind: FrameKind,
    body: Uint8Array,
    confidential: boolean,
    re?: number,
  ): boolean {
    if (this.currentState === "closed") {
      this.dropped.closed += 1;
      return false;
    }
    if (!this.channel.hasPeer(to)) {
      this.dropped.unknownPeer += 1;
      return false;
    }
    if (this.currentState !== "connected") {
      this.dropped.disconnected += 1;
      return false;
    }
    const { frame } = this.channel.seal(to, kind, body, confidential, re);
    if (!this.publishFrame(to, frame)) {
      this.dropped.disconnected += 1;
      return false;
    }
    this.countSent(frame);
    return true;
  }

  /** Removes a pending request and its timer; undefined when it was already settled. */
  private settle(ctr: number): PendingRequest | undefined {
    const request = this.pending.get(ctr);
    if (request === undefined) return undefined;
    this.pending.delete(ctr);
    clearTimeout(request.timer);
    return request;
  }

  private countSent(frame: Uint8Array): void {
    this.counters.sent += 1;
    this.counters.bytesSent += frame.length;
  }

  private countReceived(frameBytes: number): void {
    this.counters.received += 1;
    this.counters.bytesReceived += frameBytes;
  }
}

function limit(value: number | undefined, fallback: number, max: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new TreatyError(
      "MalformedRequest",
      `${field}: expected an integer from 1 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

function checkPayload(payload: Uint8Array, maxBytes: number, field: string): void {
  if (!(payload instanceof Uint8Array))
    throw new TreatyError("MalformedRequest", `${field}: expected a Uint8Array`);
  if (payload.length > maxBytes) {
    throw new TreatyError(
      "PayloadTooLarge",
      `${field}: ${payload.length} bytes exceeds maxMessageBytes ${maxBytes}`,
    );
  }
}

function errorBody(code: string, message: string): Uint8Array {
  return encode({
    error: { code: code.slice(0, MAX_ERROR_CODE_CHARS), message: message.slice(0, MAX_ERROR_MESSAGE_CHARS) },
  });
}

/** The response body: `{ok: bytes}` or `{error: {code, message}}`; anything else is an error itself. */
function parseResponse(body: Uint8Array, from: NodeId): Uint8Array | TreatyError {
  let value: unknown;
  try {
    value = decode(body, `response from ${from}`);
  } catch (err) {
    if (isTreatyError(err)) return err;
    throw err;
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const { ok, error } = value as { ok?: unknown; error?: unknown };
    if (ok instanceof Uint8Array && error === undefined) return ok;
    if (ok === undefined && error !== null && typeof error === "object") {
      const { code, message } = error as { code?: unknown; message?: unknown };
      if (typeof code === "string" && typeof message === "string") {
        return new TreatyError(
          code.slice(0, MAX_ERROR_CODE_CHARS),
          message.slice(0, MAX_ERROR_MESSAGE_CHARS),
          { from },
        );
      }
    }
  }
  return new TreatyError(
    "MalformedEncoding",
    `response from ${from}: expected {ok} or {error: {code, message}}`,
  );
}

/**
 * Runs node code (handlers, listeners) so that its exceptions cannot unwind into the transport or
 * the NATS client: they are rethrown from a fresh task and surface as uncaught exceptions, the way
 * a broken invariant stops the node.
 */
function callOutside(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
