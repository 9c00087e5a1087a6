/**
 * The node side of signed answers (sdk/signed-answer.ts): when a readonly call carries a
 * challenge, the node signs a statement of the question and its answer with its identity key
 * and attaches its endorsement by the service identity.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64Url, toBase64Url, toHex } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import { sign } from "../../sdk/keys.js";
import {
  type AnswerStatement,
  answerSigningInput,
  HEADER_ANSWER_CHALLENGE,
  MAX_CHALLENGE_BYTES,
  MIN_CHALLENGE_BYTES,
  type SignedAnswer,
} from "../../sdk/signed-answer.js";
import type { NodeSigner } from "../../runtime/ledger/signature.js";
import type { ReadAnswer } from "./service.js";

/**
 * The challenge a request carries, or undefined (no signed answer asked). MalformedRequest when
 * malformed, or on a readwrite method (refused before it runs: a write's proof is its receipt).
 */
export function answerChallenge(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  mode: "readonly" | "readwrite",
): Uint8Array | undefined {
  const value = headers[HEADER_ANSWER_CHALLENGE];
  if (value === undefined) return undefined;
  if (mode !== "readonly")
    throw new TreatyError(
      "MalformedRequest",
      `${HEADER_ANSWER_CHALLENGE}: only readonly calls have signed answers (a write's proof is its receipt)`,
    );
  let bytes: Uint8Array | undefined;
  try {
    if (typeof value === "string" && value.length <= 2 * MAX_CHALLENGE_BYTES) bytes = fromBase64Url(value);
  } catch {
    bytes = undefined;
  }
  if (bytes === undefined || bytes.length < MIN_CHALLENGE_BYTES || bytes.length > MAX_CHALLENGE_BYTES)
    throw new TreatyError(
      "MalformedRequest",
      `${HEADER_ANSWER_CHALLENGE}: expected ${MIN_CHALLENGE_BYTES} to ${MAX_CHALLENGE_BYTES} bytes in base64url`,
    );
  return bytes;
}

/** Signs `answer` to the request (`path`, `body`, `challenge`) as `signer`'s node. */
export function signAnswer(input: {
  readonly signer: NodeSigner;
  readonly serviceId: string;
  readonly path: string;
  readonly body: Uint8Array;
  readonly challenge: Uint8Array;
  readonly consistency: string;
  readonly answer: ReadAnswer;
}): SignedAnswer {
  const { signer, answer } = input;
  if (answer.status !== "Committed" && answer.status !== "Pending")
    throw new TreatyError("Internal", `a read answered with status ${answer.status}`);
  const statement: AnswerStatement = {
    v: 1,
    serviceId: input.serviceId,
    nodeId: signer.key.id,
    path: input.path,
    requestDigest: sha256(input.body),
    challenge: input.challenge,
    consistency: input.consistency,
    txid: answer.txid,
    status: answer.status,
    result: answer.result,
    events: answer.events,
  };
  const bytes = encode(statement);
  const e = signer.endorsement;
  return {
    statement: toBase64Url(bytes),
    signature: toBase64Url(sign(signer.key, answerSigningInput(bytes))),
    node: {
      nodeId: e.nodeId,
      curve: e.curve,
      publicKey: toHex(e.publicKey),
      validFromMs: e.validFromMs,
      validToMs: e.validToMs,
      endorsement: toHex(e.signature),
    },
  };
}
