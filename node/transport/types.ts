/**
 * The node-to-node transport as the rest of the node sees it: one interface, two
 * implementations (`NatsTransport` over a real nats-server, `MemoryTransport` in process), one
 * conformance suite (`test/transport/conformance.ts`) that both pass.
 *
 * Every frame on the wire is authenticated as the sender node's (signed by its identity key, or,
 * between nodes that both speak MAC frames, a MAC / AES-GCM tag under a key only the two nodes
 * derive from their identity keys) and bound to the service, sender, receiver, the sender's
 * session and a per-session counter, so forged, replayed, re-targeted or tampered frames are
 * dropped and counted, never thrown into the node. Confidential payloads (consensus messages,
 * forwarded user requests, ledger secret deliveries) are also encrypted between the two nodes.
 * The wire format, the threat model and the replay rule are in `node/transport/README.md`.
 */
import type { KeyPair, PublicKey } from "../../sdk/keys.js";

/**
 * A node's name on the wire: 1..128 characters from `[A-Za-z0-9_-]`, because it becomes a NATS
 * subject token (node ids in Treaty are `keyId`s: 64 hex characters).
 */
export type NodeId = string;

/** A peer the transport accepts frames from and may send frames to. */
export interface PeerInfo {
  readonly id: NodeId;
  /** The peer's ed25519 node identity key (as trusted by governance). */
  readonly publicKey: PublicKey;
  /**
   * Frames from sessions with an epoch below this are rejected as stale. A node that persists
   * `highestSessionEpoch(id)` hands it back here after its own restart, so that an attacker cannot
   * replay a peer's old session to a freshly started receiver. Default 0.
   */
  readonly minSessionEpoch?: number;
}

/** Where the transport's link to the network stands. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

/** What the receiver learns about a delivered message besides its bytes. */
export interface MessageMeta {
  /** True when the payload travelled encrypted (`sendConfidential`). */
  readonly confidential: boolean;
}

/**
 * Receives one authenticated message. Called synchronously from the transport's receive path, in
 * the order the sender sent (per sender). It must not throw: an exception is a bug in the node,
 * and the transport rethrows it outside its own stack (an uncaught exception, as for `assert`).
 * `message` is the handler's to keep: the transport never reuses or modifies it.
 */
export type MessageHandler = (from: NodeId, message: Uint8Array, meta: MessageMeta) => void;

/**
 * Serves one request (always confidential on the wire). The resolved bytes go back to the caller;
 * a thrown `TreatyError` reaches the caller with its code and message; any other exception reaches
 * it as `Internal` with no details (host errors never leak to other nodes).
 */
export type RequestHandler = (from: NodeId, payload: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** Why an outgoing message was not handed to the network. */
export const SEND_DROP_REASONS = ["unknownPeer", "disconnected", "closed"] as const;

/**
 * Why an incoming frame was rejected. In the order they are checked: the cheap structural checks
 * come first and the signature or MAC is checked only for frames that could be accepted.
 * `badSignature` covers both: a signature (signed frames) or a MAC / GCM tag (MAC frames) that
 * does not check.
 */
export const RECEIVE_DROP_REASONS = [
  "oversize",
  "malformed",
  "wrongService",
  "wrongReceiver",
  "unknownSender",
  "staleSession",
  "replay",
  "badSignature",
  "decryptFailed",
  "noHandler",
  "unexpectedResponse",
] as const;

export type SendDropReason = (typeof SEND_DROP_REASONS)[number];
export type ReceiveDropReason = (typeof RECEIVE_DROP_REASONS)[number];
export type DropReason = SendDropReason | ReceiveDropReason;

/** Counters since the transport started. A snapshot: later traffic does not change it. */
export interface TransportStats {
  /** Frames handed to the network (messages, requests and responses). */
  readonly sent: number;
  readonly bytesSent: number;
  /** Frames accepted (authenticated, fresh, decrypted). */
  readonly received: number;
  readonly bytesReceived: number;
  readonly requestsSent: number;
  readonly requestsServed: number;
  readonly requestsTimedOut: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** Options every transport takes. The entry point (node/main) owns all of them. */
export interface TransportOptions {
  /** The service (network) this node belongs to: 1..64 characters from `[A-Za-z0-9_-]`. */
  readonly serviceId: string;
  readonly nodeId: NodeId;
  /**
   * The node identity key pair (ed25519): signs frames and, converted to x25519, derives the keys
   * that encrypt frames and authenticate MAC frames.
   */
  readonly identity: KeyPair;
  /**
   * This start's session epoch: a safe integer strictly greater than every epoch this identity
   * used before (the node persists it before starting the transport, e.g.
   * `max(Date.now(), persisted + 1)`). Receivers reject frames from any older epoch once they have
   * seen a newer one.
   */
  readonly sessionEpoch: number;
  /**
   * 16 random bytes naming this session; fresh on every start (defaults to the CSPRNG). The
   * transport keeps the first 8 and replaces the last 8 by the marker that advertises MAC frames
   * (node/transport/README.md, "Mixed versions").
   */
  readonly sessionId?: Uint8Array;
  readonly peers?: readonly PeerInfo[];
  /** Largest payload `send`, `request` or a response may carry. Default and maximum: `MAX_MESSAGE_BYTES`. */
  readonly maxMessageBytes?: number;
  /** Outstanding `request` calls allowed at once; more fail with `Unavailable`. Default 1024. */
  readonly maxPendingRequests?: number;
  /** Requests this node serves at once; more are answered `Unavailable`. Default 256. */
  readonly maxServingRequests?: number;
}

/**
 * A node's authenticated link to the other nodes of its service.
 *
 * Ownership: the transport owns its connection, subscription and timers; `close()` releases all of
 * them. Payload bytes handed to `send`/`request` are read synchronously and may be reused after the
 * call returns; bytes handed to handlers belong to the handler.
 */
export interface Transport {
  readonly serviceId: string;
  readonly nodeId: NodeId;
  /** The payload cap in effect (see `TransportOptions.maxMessageBytes`). */
  readonly maxMessageBytes: number;

  state(): ConnectionState;
  /** Calls `listener` on every state change; returns a function that removes it. */
  onStateChange(listener: (state: ConnectionState) => void): () => void;

  /**
   * Trusts `peer` (replacing an earlier key for the same id). Throws `MalformedRequest` for an
   * invalid id or key, or for the node's own id.
   */
  addPeer(peer: PeerInfo): void;
  /** Stops sending to and accepting from `id`; its pending requests fail with `Unavailable`. */
  removePeer(id: NodeId): void;
  peers(): NodeId[];
  /** The newest session epoch accepted from `id` (for the node to persist), if any. */
  highestSessionEpoch(id: NodeId): number | undefined;

  /**
   * Fire-and-forget, authenticated, in clear. Never throws for network conditions (unknown peer,
   * disconnected, closed: dropped and counted); throws `PayloadTooLarge` when `message` exceeds
   * `maxMessageBytes` and `MalformedRequest` when it is not a Uint8Array.
   */
  send(to: NodeId, message: Uint8Array): void;
  /** As `send`, but the payload is encrypted for `to` (AES-256-GCM under an x25519-derived key). */
  sendConfidential(to: NodeId, message: Uint8Array): void;
  /** Sets the one handler for incoming messages (replacing any earlier one). */
  onMessage(handler: MessageHandler): void;

  /**
   * Sends `payload` encrypted to `to` and resolves with its handler's response. Rejects with
   * `Timeout` after `timeoutMs`, `Unavailable` when the peer is unknown, the link is down, the
   * transport is closed or too many requests are pending, `PayloadTooLarge`, or the code the
   * remote handler threw.
   */
  request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Sets the one handler that serves requests (replacing any earlier one). */
  onRequest(handler: RequestHandler): void;

  stats(): TransportStats;
  /** Stops receiving, fails pending requests with `Unavailable`, releases everything. Idempotent. */
  close(): Promise<void>;
}
