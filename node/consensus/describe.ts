/**
 * One-line, stable, human-readable renderings of consensus data, for logs, simulator traces and
 * scenario files (where output is reviewed as diffs, so the format must not drift).
 */
import { toHex } from "../../sdk/bytes.js";
import type { Entry, LogBase, Message, Ready } from "./types.js";

const PRINTABLE = /^[\x20-\x7e]*$/;

/** A payload as short text: printable ASCII in quotes, otherwise hex; long ones are elided. */
export function describePayload(payload: Uint8Array, maxBytes = 16): string {
  const shown = payload.subarray(0, maxBytes);
  const more = payload.length > maxBytes ? `..+${payload.length - maxBytes}` : "";
  let text = "";
  for (const b of shown) text += String.fromCharCode(b);
  return PRINTABLE.test(text) ? `"${text}"${more}` : `0x${toHex(shown)}${more}`;
}

/** `view.seqno` plus `sig`, `config=[..]` and the payload, e.g. `2.5 sig "x"`. */
export function describeEntry(e: Entry): string {
  const parts = [`${e.view}.${e.seqno}`];
  if (e.signature) parts.push("sig");
  if (e.config !== undefined) parts.push(`config=[${e.config.join(",")}]`);
  if (e.payload.length > 0 || (!e.signature && e.config === undefined))
    parts.push(describePayload(e.payload));
  return parts.join(" ");
}

/** A snapshot's metadata: `2.7 config=[a,b,c]`. */
export function describeSnapshot(s: LogBase): string {
  return `${s.view}.${s.seqno} config=[${s.config?.nodes.join(",") ?? ""}]`;
}

/** `a->b append v=2 prev=1.3 commit=3 [2.4 sig, 2.5 "x"]` and similar for every message type. */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to}`;
  switch (m.type) {
    case "append": {
      const entries = m.entries.length === 0 ? "" : ` [${m.entries.map(describeEntry).join(", ")}]`;
      const read = m.readRound === undefined ? "" : ` read=${m.readRound}`;
      return `${head} append v=${m.view} prev=${m.prevView}.${m.prevSeqno} commit=${m.commitSeqno}${read}${entries}`;
    }
    case "appendResponse": {
      const read = m.readRound === undefined ? "" : ` read=${m.readRound}`;
      return m.success
        ? `${head} ack v=${m.view} match=${m.seqno}${read}`
        : `${head} nack v=${m.view} rejected=${m.seqno} hint=${m.hintView}.${m.hintSeqno}${read}`;
    }
    case "requestVote":
      return `${head} ${m.preVote ? "prevote" : "vote"} v=${m.view} last=${m.lastView}.${m.lastSeqno}${m.transfer ? " transfer" : ""}`;
    case "voteResponse":
      return `${head} ${m.preVote ? "prevote" : "vote"}-${m.granted ? "granted" : "refused"} v=${m.view}`;
    case "timeoutNow":
      return `${head} timeout-now v=${m.view}`;
    case "installSnapshot":
      return `${head} snapshot v=${m.view} at=${describeSnapshot(m.snapshot)}`;
  }
}

/** A Ready as indented lines (empty parts omitted), as printed in scenario files. */
export function describeReady(id: string, rd: Ready): string[] {
  const lines: string[] = [];
  if (rd.softState !== null) {
    const s = rd.softState;
    lines.push(`${id}: ${s.role} v=${s.view} leader=${s.leader ?? "-"}`);
  }
  if (rd.hardState !== null) {
    const h = rd.hardState;
    lines.push(`${id}: persist hard v=${h.view} vote=${h.votedFor ?? "-"} commit=${h.commitSeqno}`);
  }
  if (rd.truncateFromSeqno !== null) lines.push(`${id}: persist truncate from ${rd.truncateFromSeqno}`);
  if (rd.entries.length > 0) lines.push(`${id}: persist [${rd.entries.map(describeEntry).join(", ")}]`);
  if (rd.committed !== null)
    lines.push(`${id}: committed ${rd.committed.fromSeqno}..${rd.committed.toSeqno}`);
  for (const m of rd.messages) lines.push(`${id}: send ${describeMessage(m)}`);
  for (const r of rd.reads)
    lines.push(r.seqno === null ? `${id}: read ${r.id} failed` : `${id}: read ${r.id} at ${r.seqno}`);
  if (rd.installSnapshot !== null)
    lines.push(
      `${id}: install snapshot ${describeSnapshot(rd.installSnapshot.snapshot)} from ${rd.installSnapshot.leader}`,
    );
  return lines;
}
