/**
 * The secure channel: turns payloads into authenticated (and, when confidential, encrypted)
 * frames and frames back into authenticated payloads, enforcing the binding and replay rules.
 * Synchronous and free of I/O, so both transports share it and it can be tested byte for byte.
 *
 * Authentication (node/transport/README.md, "Frame authentication"):
 * - Signed frames (version 1): an ed25519 signature by the sender's identity key. What every
 *   earlier version sends; always accepted.
 * - MAC frames (version 2): an AES-256-GCM tag (confidential) or an HMAC-SHA256 (clear) under
 *   keys derived, per sender session and direction, from the x25519 secret of the two nodes'
 *   identity keys and bound to the service, sender, receiver, epoch and session id. Only the two
 *   nodes can compute them. A node sends them to a peer only once it accepted a frame from that
 *   peer's current session whose session id advertises them (`advertisesMacFrames`): before
 *   that, and to nodes of earlier versions, it signs. So between two nodes of this version only
 *   what one sends before it has heard from the other's session is signed (typically one frame).
 *
 * Replay rule (per sender, bounded state: one record per sender id; both versions alike):
 * - A sender's frames carry `(ep, sid, ctr)`: the session epoch handed in by the node (strictly
 *   greater on each start), a random session id, and a counter that starts at 1 and strictly
 *   increases within the session.
 * - The receiver remembers, per sender, the newest session it accepted and the highest counter
 *   in it. A frame is fresh when its epoch is newer than that session (a restart: the record is
 *   replaced), or when it belongs to that same session (`ep` and `sid` equal) with a higher
 *   counter. An older epoch, or the same epoch with another session id, is `staleSession`; a
 *   counter at or below the highest is `replay`. So once a newer session was seen, no frame of an
 *   older one is ever accepted again, and a frame reordered behind a later one is dropped (the
 *   transport is lossy by contract; consensus retransmits).
 * - The record is updated only after the signature or MAC (and decryption) succeeded, so forged
 *   frames cannot move it. It survives `removePeer`, so re-adding a peer does not reopen its old
 *   sessions; only a receiver restart forgets it, which `PeerInfo.minSessionEpoch` covers.
 */
import { concatBytes, equalBytes, setU64BE, utf8 } from "../../sdk/bytes.js";
import { assert } from "../../sdk/assert.js";
import { encode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KeyPair } from "../../sdk/keys.js";
import { verifySignature } from "../../runtime/crypto.js";
import type { KeyObject } from "node:crypto";
import {
  aeadOpen,
  aeadOpenDetached,
  aeadSeal,
  aeadSealDetached,
  deriveAeadKey,
  deriveSecretKeys,
  ed25519Signer,
  GCM_NONCE_BYTES,
  hmacSha256,
  hmacSha256Verify,
  isUsableEd25519PublicKey,
  type Signer,
  x25519PrivateKey,
  x25519SharedSecret,
} from "./crypto.js";
import {
  advertisesMacFrames,
  type DecodedFrame,
  decodeFrame,
  encodeFrame,
  encodeHeader,
  FRAME_OVERHEAD_BYTES,
  type FrameHeader,
  type FrameKind,
  isValidNodeId,
  isValidServiceId,
  MAC_FRAME_VERSION,
  macPrefix,
  SESSION_ID_BYTES,
  SIGNED_FRAME_VERSION,
  signedBytes,
  withMacFramesMarker,
} from "./frame.js";
import type { NodeId, PeerInfo, ReceiveDropReason } from "./types.js";

/** Most peers one node trusts at once; far above any consortium, it bounds the peer table. */
export const MAX_PEERS = 4096;
/** Sender records kept (current and removed peers); the oldest removed ones are forgotten first. */
export const MAX_REMEMBERED_SENDERS = 2 * MAX_PEERS;

/** Everything the channel needs to know about this node. */
export interface ChannelOptions {
  readonly serviceId: string;
  readonly nodeId: NodeId;
  readonly identity: KeyPair;
  readonly sessionEpoch: number;
  /**
   * 16 bytes naming this session. Unless `macFrames` is false, its last 8 bytes are replaced by
   * `MAC_FRAMES_MARKER` (so the first 8 should be random): the session id advertises MAC frames.
   */
  readonly sessionId: Uint8Array;
  /** Frames above this many bytes are dropped unread (`oversize`). */
  readonly maxFrameBytes: number;
  /**
   * Default true. False: the channel speaks version 1 only, as nodes before MAC frames did: it
   * signs every frame, does not advertise MAC frames (peers sign what they send it) and drops
   * MAC frames as `malformed`. Tests use it as a node of the previous version.
   */
  readonly macFrames?: boolean;
}

/** A frame ready for the network and the counter it consumed. */
export interface SealedFrame {
  readonly frame: Uint8Array;
  readonly ctr: number;
}

/** An accepted frame. `body` is the plaintext payload. */
export interface OpenedFrame {
  readonly ok: true;
  readonly from: NodeId;
  readonly kind: FrameKind;
  readonly confidential: boolean;
  /** This frame's counter: the id a response refers to. */
  readonly ctr: number;
  readonly re: number | undefined;
  readonly body: Uint8Array;
}

/** A rejected frame and why. */
export interface RejectedFrame {
  readonly ok: false;
  readonly reason: ReceiveDropReason;
}

/** The two keys of one sender session and direction for MAC frames (version 2). */
interface MacKeys {
  /** AES-256-GCM, for confidential frames (nonce: the frame's counter). */
  readonly aead: KeyObject;
  /** HMAC-SHA256, for clear frames. */
  readonly mac: KeyObject;
}

interface Peer {
  readonly info: PeerInfo;
  readonly sharedSecret: Uint8Array;
  /** Keys for frames we send to this peer in our current session, each derived on first use. */
  sendKey: KeyObject | undefined;
  sendMacKeys: MacKeys | undefined;
}

interface SenderSession {
  readonly epoch: number;
  readonly sessionId: Uint8Array;
  highestCtr: number;
  /** Keys for this session's confidential signed frames and its MAC frames, derived on first use. */
  receiveKey: KeyObject | undefined;
  receiveMacKeys: MacKeys | undefined;
}

const KEY_LABEL = utf8.encode("treaty/transport/v1 aes-256-gcm\0");
const MAC_KEYS_LABEL = utf8.encode("treaty/transport/v2 aes-256-gcm hmac-sha256\0");

/**
 * One node's end of the authenticated channel to its peers. Not thread-safe (nothing in Node is);
 * `seal` and `open` run to completion without awaiting.
 */
export class SecureChannel {
  readonly serviceId: string;
  readonly nodeId: NodeId;
  readonly sessionEpoch: number;
  readonly maxFrameBytes: number;
  private readonly sessionId: Uint8Array;
  private readonly macFrames: boolean;
  private readonly signer: Signer;
  private readonly dhKey: KeyObject;
  private readonly peerTable = new Map<NodeId, Peer>();
  private readonly senders = new Map<NodeId, SenderSession>();
  private counter = 0;

  /** Throws `MalformedRequest` naming the option when an option is invalid. */
  constructor(options: ChannelOptions) {
    if (!isValidServiceId(options.serviceId)) {
      throw new TreatyError(
        "MalformedRequest",
        `serviceId: expected 1..64 characters from [A-Za-z0-9_-], got ${JSON.stringify(options.serviceId)}`,
      );
    }
    if (!isValidNodeId(options.nodeId)) {
      throw new TreatyError(
        "MalformedRequest",
        `nodeId: expected 1..128 characters from [A-Za-z0-9_-], got ${JSON.stringify(options.nodeId)}`,
      );
    }
    const identity = options.identity as Partial<KeyPair> | undefined;
    if (
      identity?.curve !== "ed25519" ||
      !(identity.privateKey instanceof Uint8Array) ||
      identity.privateKey.length !== 32
    ) {
      throw new TreatyError(
        "MalformedRequest",
        "identity: expected an ed25519 key pair (node identity keys are ed25519)",
      );
    }
    if (!Number.isSafeInteger(options.sessionEpoch) || options.sessionEpoch < 0) {
      throw new TreatyError(
        "MalformedRequest",
        `sessionEpoch: expected a non-negative safe integer, got ${String(options.sessionEpoch)}`,
      );
    }
    if (!(options.sessionId instanceof Uint8Array) || options.sessionId.length !== SESSION_ID_BYTES) {
      throw new TreatyError("MalformedRequest", `sessionId: expected ${SESSION_ID_BYTES} bytes`);
    }
    assert(
      Number.isSafeInteger(options.maxFrameBytes) && options.maxFrameBytes > FRAME_OVERHEAD_BYTES,
      "maxFrameBytes above the frame overhead",
    );
    this.serviceId = options.serviceId;
    this.nodeId = options.nodeId;
    this.sessionEpoch = options.sessionEpoch;
    this.macFrames = options.macFrames ?? true;
    this.sessionId = this.macFrames
      ? withMacFramesMarker(options.sessionId)
      : new Uint8Array(options.sessionId);
    this.maxFrameBytes = options.maxFrameBytes;
    this.signer = ed25519Signer(options.identity);
    this.dhKey = x25519PrivateKey(options.identity);
  }

  /** Trusts `peer`, replacing an earlier entry. Throws `MalformedRequest` naming the bad field. */
  addPeer(peer: PeerInfo): void {
    if (!isValidNodeId(peer?.id)) {
      throw new TreatyError(
        "MalformedRequest",
        `peer.id: expected 1..128 characters from [A-Za-z0-9_-], got ${JSON.stringify(peer?.id)}`,
      );
    }
    if (peer.id === this.nodeId)
      throw new TreatyError("MalformedRequest", `peer.id: ${peer.id} is this node itself`);
    const key = peer.publicKey;
    if (
      key?.curve !== "ed25519" ||
      !(key.publicKey instanceof Uint8Array) ||
      !isUsableEd25519PublicKey(key.publicKey)
    ) {
      throw new TreatyError(
        "MalformedRequest",
        `peer.publicKey: expected a valid ed25519 public key for ${peer.id}`,
      );
    }
    const minEpoch = peer.minSessionEpoch ?? 0;
    if (!Number.isSafeInteger(minEpoch) || minEpoch < 0) {
      throw new TreatyError(
        "MalformedRequest",
        `peer.minSessionEpoch: expected a non-negative safe integer for ${peer.id}`,
      );
    }
    if (!this.peerTable.has(peer.id) && this.peerTable.size >= MAX_PEERS) {
      throw new TreatyError("MalformedRequest", `peer.id: cannot trust more than ${MAX_PEERS} peers`);
    }
    const sharedSecret = x25519SharedSecret(this.dhKey, key.publicKey);
    if (sharedSecret === undefined) {
      throw new TreatyError("MalformedRequest", `peer.publicKey: low-order key for ${peer.id}`);
    }
    const info: PeerInfo = {
      id: peer.id,
      publicKey: { curve: "ed25519", publicKey: new Uint8Array(key.publicKey) },
      minSessionEpoch: minEpoch,
    };
    this.peerTable.set(peer.id, { info, sharedSecret, sendKey: undefined, sendMacKeys: undefined });
    // Cached receive keys came from the previous key's shared secret; derive them again on use.
    const known = this.senders.get(peer.id);
    if (known !== undefined) {
      known.receiveKey = undefined;
      known.receiveMacKeys = undefined;
    }
  }

  /** Forgets `id`'s key (its replay record stays: see the module comment). */
  removePeer(id: NodeId): void {
    this.peerTable.delete(id);
  }

  hasPeer(id: NodeId): boolean {
    return this.peerTable.has(id);
  }

  peerIds(): NodeId[] {
    return [...this.peerTable.keys()];
  }

  /** The newest session epoch accepted from `id`, if any. */
  highestSessionEpoch(id: NodeId): number | undefined {
    return this.senders.get(id)?.epoch;
  }

  /** This session's id as it travels (with the MAC frames marker unless `macFrames` is false). */
  get ownSessionId(): Uint8Array {
    return new Uint8Array(this.sessionId);
  }

  /**
   * True when frames to `to` go as MAC frames: this channel speaks them and the newest session
   * it accepted from `to` advertised them. Otherwise they are signed.
   */
  sendsMacFramesTo(to: NodeId): boolean {
    const known = this.senders.get(to);
    return this.macFrames && known !== undefined && advertisesMacFrames(known.sessionId);
  }

  /**
   * Builds the frame carrying `body` to the trusted peer `to` (asserted: callers check `hasPeer`),
   * a MAC frame when `sendsMacFramesTo(to)`, a signed one otherwise. Each call consumes one
   * counter value, returned as `ctr`. `body` is copied, never retained.
   */
  seal(to: NodeId, kind: FrameKind, body: Uint8Array, confidential: boolean, re?: number): SealedFrame {
    const peer = this.peerTable.get(to);
    assert(peer !== undefined, "seal: callers check hasPeer first");
    assert(this.counter < Number.MAX_SAFE_INTEGER, "session counter exhausted");
    this.counter += 1;
    const mac = this.sendsMacFramesTo(to);
    const header: FrameHeader = {
      v: mac ? MAC_FRAME_VERSION : SIGNED_FRAME_VERSION,
      svc: this.serviceId,
      from: this.nodeId,
      to,
      ep: this.sessionEpoch,
      sid: this.sessionId,
      ctr: this.counter,
      k: kind,
      c: confidential,
      ...(re === undefined ? {} : { re }),
    };
    const headerBytes = encodeHeader(header);
    let frame: Uint8Array;
    if (mac) {
      peer.sendMacKeys ??= this.deriveMacKeys(
        peer.sharedSecret,
        this.nodeId,
        to,
        this.sessionEpoch,
        this.sessionId,
      );
      if (confidential) {
        const { ciphertext, tag } = aeadSealDetached(
          peer.sendMacKeys.aead,
          nonceFor(this.counter),
          headerBytes,
          body,
        );
        frame = encodeFrame(headerBytes, ciphertext, tag);
      } else {
        const tag = hmacSha256(peer.sendMacKeys.mac, [macPrefix(headerBytes), headerBytes, body]);
        frame = encodeFrame(headerBytes, body, tag);
      }
    } else {
      let payload = body;
      if (confidential) {
        peer.sendKey ??= this.deriveKey(
          peer.sharedSecret,
          this.nodeId,
          to,
          this.sessionEpoch,
          this.sessionId,
        );
        payload = aeadSeal(peer.sendKey, nonceFor(this.counter), headerBytes, body);
      }
      frame = encodeFrame(headerBytes, payload, this.signer(signedBytes(headerBytes, payload)));
    }
    assert(
      frame.length <= this.maxFrameBytes,
      "sealed frame within maxFrameBytes (payload size is checked by callers)",
    );
    return { frame, ctr: this.counter };
  }

  /** Authenticates and opens a frame. Never throws for any input bytes. */
  open(frame: Uint8Array): OpenedFrame | RejectedFrame {
    if (frame.length > this.maxFrameBytes) return reject("oversize");
    const decoded = decodeFrame(frame);
    if (decoded === undefined) return reject("malformed");
    const { header } = decoded;
    if (header.v === MAC_FRAME_VERSION && !this.macFrames) return reject("malformed");
    if (header.svc !== this.serviceId) return reject("wrongService");
    if (header.to !== this.nodeId) return reject("wrongReceiver");
    const peer = this.peerTable.get(header.from);
    if (peer === undefined) return reject("unknownSender");
    const known = this.senders.get(header.from);
    const freshness = checkFreshness(header, known, peer.info.minSessionEpoch ?? 0);
    if (freshness !== undefined) return reject(freshness);
    const sameSession = known !== undefined && known.epoch === header.ep;
    // The body handed on is always a buffer of its own (handlers keep views into it): the
    // plaintext of a confidential frame, or a copy of a clear one (decodeFrame gives views).
    let body: Uint8Array;
    let receiveKey = sameSession ? known.receiveKey : undefined;
    let receiveMacKeys = sameSession ? known.receiveMacKeys : undefined;
    if (header.v === MAC_FRAME_VERSION) {
      receiveMacKeys ??= this.deriveMacKeys(
        peer.sharedSecret,
        header.from,
        this.nodeId,
        header.ep,
        header.sid,
      );
      const opened = openMacFrame(receiveMacKeys, decoded);
      if (opened === undefined) return reject("badSignature");
      body = opened;
    } else {
      if (
        !verifySignature(peer.info.publicKey, signedBytes(decoded.headerBytes, decoded.body), decoded.auth)
      ) {
        return reject("badSignature");
      }
      if (header.c) {
        receiveKey ??= this.deriveKey(peer.sharedSecret, header.from, this.nodeId, header.ep, header.sid);
        const plain = aeadOpen(receiveKey, nonceFor(header.ctr), decoded.headerBytes, decoded.body);
        if (plain === undefined) return reject("decryptFailed");
        body = plain;
      } else {
        body = new Uint8Array(decoded.body);
      }
    }
    if (sameSession) {
      known.highestCtr = header.ctr;
      known.receiveKey = receiveKey;
      known.receiveMacKeys = receiveMacKeys;
    } else {
      this.rememberSender(header.from, {
        epoch: header.ep,
        sessionId: header.sid,
        highestCtr: header.ctr,
        receiveKey,
        receiveMacKeys,
      });
    }
    return {
      ok: true,
      from: header.from,
      kind: header.k,
      confidential: header.c,
      ctr: header.ctr,
      re: header.re,
      body,
    };
  }

  private rememberSender(id: NodeId, session: SenderSession): void {
    this.senders.delete(id);
    if (this.senders.size >= MAX_REMEMBERED_SENDERS) {
      let evicted = false;
      for (const candidate of this.senders.keys()) {
        if (!this.peerTable.has(candidate)) {
          this.senders.delete(candidate);
          evicted = true;
          break;
        }
      }
      assert(evicted, "more remembered senders than peers, so a removed one can be evicted");
    }
    this.senders.set(id, session);
  }

  private deriveKey(
    shared: Uint8Array,
    from: NodeId,
    to: NodeId,
    epoch: number,
    sessionId: Uint8Array,
  ): KeyObject {
    return deriveAeadKey(
      shared,
      sessionId,
      concatBytes(KEY_LABEL, encode([this.serviceId, from, to, epoch])),
    );
  }

  /** The MAC frame keys of `from`'s session `(epoch, sessionId)` towards `to`. */
  private deriveMacKeys(
    shared: Uint8Array,
    from: NodeId,
    to: NodeId,
    epoch: number,
    sessionId: Uint8Array,
  ): MacKeys {
    const [aead, mac] = deriveSecretKeys(
      shared,
      sessionId,
      concatBytes(MAC_KEYS_LABEL, encode([this.serviceId, from, to, epoch])),
      2,
    );
    assert(aead !== undefined && mac !== undefined, "two keys derived");
    return { aead, mac };
  }
}

/** The plaintext of an authentic MAC frame (a buffer of its own), or undefined. */
function openMacFrame(keys: MacKeys, decoded: DecodedFrame): Uint8Array | undefined {
  const { header, headerBytes, body, auth } = decoded;
  if (header.c) return aeadOpenDetached(keys.aead, nonceFor(header.ctr), headerBytes, body, auth);
  if (!hmacSha256Verify(keys.mac, [macPrefix(headerBytes), headerBytes, body], auth)) return undefined;
  return new Uint8Array(body);
}

function checkFreshness(
  header: FrameHeader,
  known: SenderSession | undefined,
  minEpoch: number,
): ReceiveDropReason | undefined {
  if (header.ep < minEpoch) return "staleSession";
  if (known === undefined || header.ep > known.epoch) return undefined;
  if (header.ep < known.epoch || !equalBytes(header.sid, known.sessionId)) return "staleSession";
  return header.ctr > known.highestCtr ? undefined : "replay";
}

/**
 * Reused by every frame: node:crypto reads an IV through its ArrayBuffer, so a fresh 12-byte
 * array (kept inside V8's heap) got a backing store of its own per frame, for the GC to sweep.
 * Every caller hands the nonce straight to a cipher, which copies it.
 */
const nonceScratch = new Uint8Array(GCM_NONCE_BYTES);

/**
 * 4 zero bytes then the counter as a 64-bit big-endian integer: unique per key (one key per
 * session and direction). Valid until the next call.
 */
function nonceFor(counter: number): Uint8Array {
  setU64BE(nonceScratch, 4, counter);
  return nonceScratch;
}

function reject(reason: ReceiveDropReason): RejectedFrame {
  return { ok: false, reason };
}
