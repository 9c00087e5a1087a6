/**
 * What bench:network does with the node's answer to one signed write (bench/network.ts
 * `writeRun`), as the SDK's Client does (sdk/client.ts): the same signed bytes are sent again
 * after a 503 that says the write did not run (`NotLeader`: leadership moved; `Unavailable`: a
 * transient refusal) or that it may have run (`OutcomeUnknown`: the leader changed while a
 * follower had forwarded it). A resend of a write that did run is answered `Replay` (409) naming
 * the txid of the attempt that ran: that txid is the write's. Everything else ends the run.
 */
import type { ErrorBody } from "../sdk/errors.js";

/** The 503 codes a write is sent again after; each is counted apart in the report. */
export const RESENT_CODES = ["NotLeader", "OutcomeUnknown", "Unavailable"] as const;
export type ResentCode = (typeof RESENT_CODES)[number];

export type WriteAnswer =
  /** The write's txid: answered now, or (`replayed`) by an earlier attempt of the same bytes. */
  | { readonly kind: "txid"; readonly txid: string; readonly replayed: boolean }
  /** Send the same bytes again. */
  | { readonly kind: "resend"; readonly code: ResentCode }
  | { readonly kind: "failed"; readonly message: string };

/**
 * Classifies the answer (`status`, JSON `text`) to attempt `attempt` (1 = first send) of a write.
 * A `Replay` to the first send is a failure: the bench's nonces are fresh, so only an earlier
 * attempt of the same request can have used it.
 */
export function classifyWriteAnswer(status: number, text: string, attempt: number): WriteAnswer {
  const failed = (why: string): WriteAnswer => ({ kind: "failed", message: `HTTP ${status}: ${why}` });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return failed(text);
  }
  if (status === 200) {
    const txid = (body as { txid?: unknown } | null)?.txid;
    return typeof txid === "string" ? { kind: "txid", txid, replayed: false } : failed(`no txid in ${text}`);
  }
  const error = (body as Partial<ErrorBody> | null)?.error;
  const resend = resentCode(status, error);
  if (resend !== undefined) return { kind: "resend", code: resend };
  const replayOf = error?.details?.txid;
  if (status === 409 && error?.code === "Replay" && attempt > 1 && typeof replayOf === "string")
    return { kind: "txid", txid: replayOf, replayed: true };
  return failed(text);
}

/**
 * The code to send a request again for (any signed call, reads too), or undefined: a 503 whose
 * error body (`text` as JSON, or its parsed `error`) names one of RESENT_CODES.
 */
export function resentCode(
  status: number,
  answer: string | ErrorBody["error"] | undefined,
): ResentCode | undefined {
  if (status !== 503) return undefined;
  let error = answer;
  if (typeof answer === "string") {
    try {
      error = (JSON.parse(answer) as Partial<ErrorBody> | null)?.error;
    } catch {
      return undefined;
    }
  }
  const code = (error as ErrorBody["error"] | undefined)?.code;
  return RESENT_CODES.includes(code as ResentCode) ? (code as ResentCode) : undefined;
}
