/**
 * The transport's wire format (pure functions, no keys). Two frame versions share one shape:
 *
 *   frame  = msgpack [headerBytes: bin, body: bin, auth: bin]
 *   header = msgpack {v: 1 | 2, svc, from, to, ep, sid: bin(16), ctr, k, c, re?}
 *
 *   v1 (signed): auth = ed25519 signature (64 bytes) by the sender's identity key over
 *                "treaty/transport/v1\0" || u32be(len(headerBytes)) || headerBytes || body
 *   v2 (MAC):    c = true:  body = AES-256-GCM ciphertext, auth = its 16-byte tag
 *                           (associated data: headerBytes)
 *                c = false: auth = HMAC-SHA256 (32 bytes) over
 *                           "treaty/transport/v2\0" || u32be(len(headerBytes)) || headerBytes || body
 *                both under keys only the two nodes can derive (node/transport/channel.ts)
 *
 * The authenticator covers the exact header and body bytes as they travel; a receiver checks
 * those bytes and never re-encodes anything. The header is its own byte string so that it can
 * also be the associated data of an encrypted body. Decoding is strict (exact key set, types,
 * ranges, the authenticator's length for the version and flag): anything else is malformed.
 */
import { concatBytes, setU32BE, utf8 } from "../../sdk/bytes.js";
import { decode, decodeViews, encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { GCM_TAG_BYTES } from "./crypto.js";
import type { NodeId } from "./types.js";

/** What a frame carries: a one-way message, a request, or the response to a request. */
export const FrameKind = { Message: 0, Request: 1, Response: 2 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Signed frames: what every earlier version sends and accepts. */
export const SIGNED_FRAME_VERSION = 1;
/** MAC frames: sent only to a peer whose session id advertises them (`advertisesMacFrames`). */
export const MAC_FRAME_VERSION = 2;
export type FrameVersion = typeof SIGNED_FRAME_VERSION | typeof MAC_FRAME_VERSION;
export const SESSION_ID_BYTES = 16;
export const SIGNATURE_BYTES = 64;
/** The HMAC-SHA256 of a clear MAC frame (a confidential one carries the GCM tag, `GCM_TAG_BYTES`). */
export const HMAC_BYTES = 32;

/**
 * A session id ends with these 8 bytes when its node accepts MAC frames (version 2): the one
 * place a signed (version 1) header can carry the claim, since version 1 decoders accept any 16
 * bytes there and nothing else. The first 8 bytes stay random. A session id of an earlier version
 * is 16 random bytes, so it carries the marker by chance with probability 2^-64.
 */
export const MAC_FRAMES_MARKER = Uint8Array.from([0x74, 0x72, 0x65, 0x61, 0x74, 0x79, 0x02, 0x6d]);
const MARKER_OFFSET = SESSION_ID_BYTES - MAC_FRAMES_MARKER.length;

/** True when the session id `sid` says its node accepts MAC frames. */
export function advertisesMacFrames(sid: Uint8Array): boolean {
  if (sid.length !== SESSION_ID_BYTES) return false;
  for (let i = 0; i < MAC_FRAMES_MARKER.length; i++) {
    if (sid[MARKER_OFFSET + i] !== MAC_FRAMES_MARKER[i]) return false;
  }
  return true;
}

/** `sessionId`'s first 8 bytes followed by the marker (a copy; `sessionId` is 16 bytes). */
export function withMacFramesMarker(sessionId: Uint8Array): Uint8Array {
  const sid = new Uint8Array(sessionId);
  sid.set(MAC_FRAMES_MARKER, MARKER_OFFSET);
  return sid;
}

/**
 * Bytes a frame adds around its payload, as an upper bound: the header (ids are bounded, so it
 * stays under ~400 bytes), the signature, the AES-GCM tag, the response wrapper and msgpack
 * framing. `MAX_MESSAGE_BYTES + FRAME_OVERHEAD_BYTES` is NATS's default max_payload (1 MiB).
 */
export const FRAME_OVERHEAD_BYTES = 1024;
export const MAX_MESSAGE_BYTES = 1024 * 1024 - FRAME_OVERHEAD_BYTES;

const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
export const MAX_NODE_ID_CHARS = 128;
export const MAX_SERVICE_ID_CHARS = 64;

/** A node id usable as a subject token (see `NodeId`). */
export function isValidNodeId(value: unknown): value is NodeId {
  return typeof value === "string" && value.length <= MAX_NODE_ID_CHARS && ID_PATTERN.test(value);
}

/** A service id usable as a subject token: 1..64 characters from `[A-Za-z0-9_-]`. */
export function isValidServiceId(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_SERVICE_ID_CHARS && ID_PATTERN.test(value);
}

/** The default first subject token(s) of every Treaty subject. */
export const DEFAULT_SUBJECT_PREFIX = "treaty";
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const MAX_SUBJECT_PREFIX_CHARS = 128;

/** A subject prefix: one or more `[A-Za-z0-9_-]` tokens joined by dots (no wildcards). */
export function isValidSubjectPrefix(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_SUBJECT_PREFIX_CHARS && PREFIX_PATTERN.test(value);
}

/**
 * The subject a node receives on: `<prefix>.<serviceId>.node.<nodeId>` (prefix default
 * `treaty`). Ids and prefix must be valid. A node publishes only to `<prefix>.<serviceId>.node.*`
 * and subscribes only to its own subject (the NATS permissions in docs/deploy.md).
 */
export function nodeSubject(
  serviceId: string,
  nodeId: NodeId,
  prefix: string = DEFAULT_SUBJECT_PREFIX,
): string {
  return `${prefix}.${serviceId}.node.${nodeId}`;
}

/** The authenticated header of every frame. */
export interface FrameHeader {
  /** 1: signed by the sender's identity key; 2: authenticated by a key the two nodes share. */
  readonly v: FrameVersion;
  readonly svc: string;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's session epoch (monotonic across the sender's restarts). */
  readonly ep: number;
  /** The sender's random session id. */
  readonly sid: Uint8Array;
  /** Strictly increasing within the session, from 1. */
  readonly ctr: number;
  readonly k: FrameKind;
  /** True when the body is AES-256-GCM ciphertext (always for requests and responses). */
  readonly c: boolean;
  /** For responses: the `ctr` of the request answered. */
  readonly re?: number;
}

/** A frame split into its parts; `headerBytes` and `body` are the exact bytes received. */
export interface DecodedFrame {
  readonly header: FrameHeader;
  readonly headerBytes: Uint8Array;
  readonly body: Uint8Array;
  /** The signature (v1), GCM tag (v2, confidential) or HMAC (v2, clear). */
  readonly auth: Uint8Array;
}

/** Encodes a header with a fixed key order (the bytes are signed as they are, never rebuilt). */
export function encodeHeader(header: FrameHeader): Uint8Array {
  const { v, svc, from, to, ep, sid, ctr, k, c, re } = header;
  return encode(
    re === undefined
      ? { v, svc, from, to, ep, sid, ctr, k, c }
      : { v, svc, from, to, ep, sid, ctr, k, c, re },
  );
}

const SIGNING_DOMAIN = utf8.encode("treaty/transport/v1\0");
const MAC_DOMAIN = utf8.encode("treaty/transport/v2\0");

/** The bytes a v1 frame's signature covers. */
export function signedBytes(headerBytes: Uint8Array, body: Uint8Array): Uint8Array {
  return concatBytes(SIGNING_DOMAIN, u32be(headerBytes.length), headerBytes, body);
}

/** The first bytes a clear v2 frame's HMAC covers; `headerBytes` and `body` follow them. */
export function macPrefix(headerBytes: Uint8Array): Uint8Array {
  return concatBytes(MAC_DOMAIN, u32be(headerBytes.length));
}

function u32be(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  setU32BE(bytes, 0, value);
  return bytes;
}

export function encodeFrame(headerBytes: Uint8Array, body: Uint8Array, auth: Uint8Array): Uint8Array {
  return encode([headerBytes, body, auth]);
}

/** The authenticator length a frame with this version and confidentiality flag must carry. */
export function authBytes(v: FrameVersion, confidential: boolean): number {
  if (v === SIGNED_FRAME_VERSION) return SIGNATURE_BYTES;
  return confidential ? GCM_TAG_BYTES : HMAC_BYTES;
}

/**
 * Splits and validates a frame; undefined for anything malformed (never a throw). `headerBytes`,
 * `body` and `auth` are views into `bytes`, not copies (a frame is opened at once: a
 * confidential body is decrypted into a buffer of its own, a clear one copied once by the channel).
 */
export function decodeFrame(bytes: Uint8Array): DecodedFrame | undefined {
  const outer = decodeOrUndefined(bytes, decodeViews);
  if (!Array.isArray(outer) || outer.length !== 3) return undefined;
  const [headerBytes, body, auth] = outer as unknown[];
  if (
    !(headerBytes instanceof Uint8Array) ||
    !(body instanceof Uint8Array) ||
    !(auth instanceof Uint8Array)
  ) {
    return undefined;
  }
  const header = parseHeader(decodeOrUndefined(headerBytes, decode));
  if (header === undefined || auth.length !== authBytes(header.v, header.c)) return undefined;
  return { header, headerBytes, body, auth };
}

function decodeOrUndefined(bytes: Uint8Array, decoder: typeof decode): unknown {
  try {
    return decoder(bytes, "transport frame");
  } catch (err) {
    if (isTreatyError(err, "MalformedEncoding")) return undefined;
    throw err;
  }
}

const HEADER_KEYS = new Set(["v", "svc", "from", "to", "ep", "sid", "ctr", "k", "c", "re"]);

function parseHeader(value: unknown): FrameHeader | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    return undefined;
  }
  const h = value as Record<string, unknown>;
  const keys = Object.keys(h);
  // A loop, not `some` with an arrow made per call (its optimized code is lost at every major GC).
  for (let i = 0; i < keys.length; i++) if (!HEADER_KEYS.has(keys[i]!)) return undefined;
  const { v, svc, from, to, ep, sid, ctr, k, c, re } = h;
  if (v !== SIGNED_FRAME_VERSION && v !== MAC_FRAME_VERSION) return undefined;
  if (!isValidServiceId(svc) || !isValidNodeId(from) || !isValidNodeId(to)) return undefined;
  if (!isCount(ep, 0) || !isCount(ctr, 1)) return undefined;
  if (!(sid instanceof Uint8Array) || sid.length !== SESSION_ID_BYTES) return undefined;
  if (k !== FrameKind.Message && k !== FrameKind.Request && k !== FrameKind.Response) return undefined;
  if (typeof c !== "boolean") return undefined;
  // Requests and responses carry forwarded user data: they are never accepted in clear.
  if (k !== FrameKind.Message && !c) return undefined;
  if (k === FrameKind.Response ? !isCount(re, 1) : re !== undefined) return undefined;
  if (keys.length !== (re === undefined ? 9 : 10)) return undefined;
  const header: FrameHeader = { v, svc, from, to, ep, sid, ctr, k, c };
  return re === undefined ? header : { ...header, re: re as number };
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min;
}
