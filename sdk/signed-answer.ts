/**
 * Signed answers: a readonly call's answer signed by the node that ran it, stating the txid its
 * read observed, so a client (or anyone it shows the answer to) can tell what the answer is and
 * how fresh it is without trusting the channel. Browser-safe (noble, no node:*).
 *
 * The client asks by sending `x-treaty-answer-challenge: <16 to 64 random bytes, base64url>` with
 * a readonly call. The node answers as usual plus `signedAnswer: {statement, signature, node}`:
 * `statement` is the MessagePack encoding of `AnswerStatement` (the exact bytes signed, never
 * re-encoded to verify), `signature` the node key's signature over `ANSWER_DOMAIN || statement`,
 * and `node` the node's key with the service identity's endorsement of it (as in receipts).
 * A statement binds the question (the SHA-256 of the request body, the path, the challenge) to
 * the answer (result, events, txid, status, consistency).
 *
 * @example
 *   const r = await client.call("log", "readPrivate", { id: 1 }, { signedAnswer: true });
 *   r.signedAnswer; // verified; verifySignedAnswer(r.signedAnswer, ...) checks it again offline
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, equalBytes, fromBase64Url, toBase64Url, utf8 } from "./bytes.js";
import { decode } from "./codec.js";
import { bytes, count, invalid, object, string } from "./receipt-fields.js";
import { endorsementMessage } from "./receipt.js";
import { isCurve, keyId, type PublicKey, verify } from "./keys.js";

/** The request header that asks for a signed answer; its value is the client's fresh challenge. */
export const HEADER_ANSWER_CHALLENGE = "x-treaty-answer-challenge";
/** Prefix of every signed statement: a signature over one can never pass for another message. */
export const ANSWER_DOMAIN: Uint8Array = utf8.encode("treaty-signed-answer-v1\0");
export const MIN_CHALLENGE_BYTES = 16;
export const MAX_CHALLENGE_BYTES = 64;

/** What the node signs (MessagePack-encoded, keys in this order). */
export interface AnswerStatement {
  readonly v: 1;
  readonly serviceId: string;
  readonly nodeId: string;
  readonly path: string;
  /** SHA-256 of the request body bytes as the node received them. */
  readonly requestDigest: Uint8Array;
  readonly challenge: Uint8Array;
  readonly consistency: string;
  /** `view.seqno` of the last entry of the state the read observed. */
  readonly txid: string;
  readonly status: "Committed" | "Pending";
  readonly result: unknown;
  readonly events: readonly { readonly name: string; readonly data: unknown }[];
}

/** The `signedAnswer` field of an answer (JSON-safe: base64url and hex strings). */
export interface SignedAnswer {
  readonly statement: string;
  readonly signature: string;
  readonly node: {
    readonly nodeId: string;
    readonly curve: string;
    readonly publicKey: string;
    readonly validFromMs: number;
    readonly validToMs: number;
    /** The service identity's signature over the node's endorsement message (hex). */
    readonly endorsement: string;
  };
}

/** The bytes a node signs for `statement` (encoded). */
export function answerSigningInput(statement: Uint8Array): Uint8Array {
  return concatBytes(ANSWER_DOMAIN, statement);
}

/** A fresh challenge (base64url) from the platform's CSPRNG. */
export function newChallenge(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)));
}

/** What `verifySignedAnswer` checks the statement against: the question the client asked. */
export interface AnswerExpectation {
  readonly serviceKey: PublicKey;
  readonly path: string;
  /** The request body bytes the client sent. */
  readonly body: Uint8Array;
  /** The challenge header value the client sent. */
  readonly challenge: string;
  /** Checks the endorsement's validity at this time (default now). */
  readonly nowMs?: number;
}

/**
 * Verifies `value` as a signed answer to the question in `expect`, and returns its statement:
 * the result, events, txid, status and consistency the node vouches for. Throws TreatyError
 * `ReceiptInvalid` naming what failed (malformed field, endorsement not by the service key or
 * expired, bad signature, another question or service).
 */
export function verifySignedAnswer(value: unknown, expect: AnswerExpectation): AnswerStatement {
  const o = object(value, "signedAnswer");
  const node = object(o.node, "signedAnswer.node");
  const curve = string(node.curve, "signedAnswer.node.curve");
  if (!isCurve(curve)) invalid("signedAnswer.node.curve", `unknown curve ${JSON.stringify(curve)}`);
  const nodeKey: PublicKey = { curve, publicKey: bytes(node.publicKey, "signedAnswer.node.publicKey") };
  const nodeId = string(node.nodeId, "signedAnswer.node.nodeId");
  if (keyId(nodeKey) !== nodeId) invalid("signedAnswer.node.nodeId", "not the id of its public key");
  const validFromMs = count(node.validFromMs, "signedAnswer.node.validFromMs", 0);
  const validToMs = count(node.validToMs, "signedAnswer.node.validToMs", 0);
  const endorsed = endorsementMessage({ nodeId, publicKey: nodeKey.publicKey, validFromMs, validToMs });
  if (!verify(expect.serviceKey, endorsed, bytes(node.endorsement, "signedAnswer.node.endorsement")))
    invalid("signedAnswer.node.endorsement", "not signed by the pinned service key");
  const now = expect.nowMs ?? Date.now();
  if (now < validFromMs || now > validToMs)
    invalid("signedAnswer.node", "the node's endorsement is not valid at this time");
  const statementBytes = base64(o.statement, "signedAnswer.statement");
  if (!verify(nodeKey, answerSigningInput(statementBytes), base64(o.signature, "signedAnswer.signature")))
    invalid("signedAnswer.signature", "not the node's signature over the statement");
  let decoded: unknown;
  try {
    decoded = decode(statementBytes, "signedAnswer.statement");
  } catch {
    invalid("signedAnswer.statement", "not one MessagePack value");
  }
  const s = object(decoded, "signedAnswer.statement");
  const expectedDigest = sha256(expect.body);
  if (s.v !== 1) invalid("signedAnswer.statement.v", "expected version 1");
  if (s.serviceId !== keyId(expect.serviceKey))
    invalid("signedAnswer.statement.serviceId", "another service");
  if (s.nodeId !== nodeId) invalid("signedAnswer.statement.nodeId", "not the signing node");
  if (s.path !== expect.path) invalid("signedAnswer.statement.path", "another request path");
  if (!(s.requestDigest instanceof Uint8Array) || !equalBytes(s.requestDigest, expectedDigest))
    invalid("signedAnswer.statement.requestDigest", "another request body");
  const challenge = fromBase64Url(expect.challenge, "challenge");
  if (!(s.challenge instanceof Uint8Array) || !equalBytes(s.challenge, challenge))
    invalid("signedAnswer.statement.challenge", "another challenge (a replayed answer)");
  string(s.consistency, "signedAnswer.statement.consistency");
  if (!/^\d+\.\d+$/.test(string(s.txid, "signedAnswer.statement.txid")))
    invalid("signedAnswer.statement.txid", "expected view.seqno");
  if (s.status !== "Committed" && s.status !== "Pending")
    invalid("signedAnswer.statement.status", "expected Committed or Pending");
  if (!Array.isArray(s.events)) invalid("signedAnswer.statement.events", "expected an array");
  return s as unknown as AnswerStatement;
}

function base64(value: unknown, field: string): Uint8Array {
  if (typeof value !== "string" || value.length > 1 << 22) invalid(field, "expected base64url");
  try {
    return fromBase64Url(value, field);
  } catch {
    return invalid(field, "expected base64url");
  }
}
