/**
 * How committed events live in the ledger. When a call emits events its contract declares
 * public, the leader's execution adds one write to the reserved public map `public:treaty.events`
 * (key `last`, overwritten by each such transaction) holding `{contract, events: [{name, data}]}`
 * as JSON. So the events travel inside the transaction's ledger entry, in clear, covered by its
 * Merkle leaf and receipt; every node finds them by decoding its own committed entries (the
 * ledger is the source of truth), while the KV keeps one row whatever the history.
 *
 * Events the contract does not declare public are never recorded: they go back to the caller
 * with the call's result only (docs/integration.md, "Confidentiality"). A contract that declares
 * events must declare every event it emits, so the SDK's types for them are exact.
 */
import { utf8 } from "../../sdk/bytes.js";
import { indexOfBytes } from "../../runtime/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { ContractEvent } from "../../runtime/executor/host.js";
import type { KvTx, MapWrites } from "../../runtime/kv/types.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";
import { validate } from "../../contracts/api/shapes.js";
import { CLAIMS_EVENT } from "../../contracts/api/events.js";
import { decodeEntry, decodePublicWrites } from "../../runtime/ledger/entry.js";

/** The reserved public map that carries a transaction's public events. */
export const EVENTS_MAP = "public:treaty.events";
const EVENTS_KEY = utf8.encode("last");
const EVENTS_MAP_BYTES = utf8.encode(EVENTS_MAP);
/** What `eventsOfEntry` gives an entry without events (most), shared: nothing made per entry. */
const NO_EVENTS: readonly CommittedEvent[] = Object.freeze([]);

/** One committed public event, at its place in commit order: (seqno, index). */
export interface CommittedEvent {
  readonly txid: string;
  readonly seqno: number;
  /** Position among the transaction's public events, from 0. */
  readonly index: number;
  readonly contract: string;
  readonly name: string;
  readonly data: unknown;
}

/**
 * Checks `events` against the contract's declarations and records the public ones in `tx`. A
 * contract that declares no events may emit any (all private). Returns a coded failure for the
 * call (ContractFault: an undeclared event of a contract that declares events, data that does
 * not fit the declared shape; the store's refusal of an oversized value) or undefined.
 */
export function recordPublicEvents(
  tx: KvTx,
  contract: string,
  manifest: ContractManifest | undefined,
  events: readonly ContractEvent[],
): { code: string; message: string } | undefined {
  const declared = manifest?.events;
  if (declared === undefined || events.length === 0) return undefined;
  const recorded: ContractEvent[] = [];
  for (const event of events) {
    const declaration = Object.hasOwn(declared, event.name) ? declared[event.name] : undefined;
    if (declaration === undefined) {
      return {
        code: "ContractFault",
        message: `event ${JSON.stringify(event.name)} is not declared (a contract that declares events declares all of them)`,
      };
    }
    const problem = validate(declaration.data, event.data, `event ${event.name}.data`);
    if (problem !== undefined) return { code: "ContractFault", message: problem };
    if (declaration.public) recorded.push({ name: event.name, data: event.data });
  }
  if (recorded.length === 0) return undefined;
  try {
    tx.set(EVENTS_MAP, EVENTS_KEY, utf8.encode(JSON.stringify({ contract, events: recorded })));
  } catch (err) {
    if (err instanceof TreatyError) return { code: err.code, message: `events: ${err.message}` };
    throw err;
  }
  return undefined;
}

/**
 * The public events recorded in committed entry `bytes` at `seqno` (none for most entries: then
 * a shared empty array). With
 * `publicWrites` (the entry's, decoded already: the ledger's recent entries) the events map is
 * looked up among them; without, a byte search skips entries that cannot hold the map before
 * anything is decoded. The entry was checked when it was appended; a malformed record is
 * LedgerCorrupt.
 */
export function eventsOfEntry(
  bytes: Uint8Array,
  seqno: number,
  view: number,
  publicWrites?: readonly MapWrites[],
): readonly CommittedEvent[] {
  let writes: MapWrites | undefined;
  if (publicWrites !== undefined) {
    for (let i = 0; i < publicWrites.length && writes === undefined; i++)
      if (publicWrites[i]!.map === EVENTS_MAP) writes = publicWrites[i];
    if (writes === undefined) return NO_EVENTS;
  } else {
    if (indexOfBytes(bytes, EVENTS_MAP_BYTES) === -1) return NO_EVENTS;
    writes = decodePublicWrites(decodeEntry(bytes, seqno)).find((m: MapWrites) => m.map === EVENTS_MAP);
  }
  const value = writes?.writes[0]?.[1];
  if (value === undefined || value === null) return NO_EVENTS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(value));
  } catch {
    throw new TreatyError("LedgerCorrupt", `entry ${seqno}: ${EVENTS_MAP} is not JSON`, { seqno });
  }
  const record = parsed as { contract?: unknown; events?: unknown };
  if (typeof record.contract !== "string" || !Array.isArray(record.events))
    throw new TreatyError("LedgerCorrupt", `entry ${seqno}: ${EVENTS_MAP} is malformed`, { seqno });
  const txid = `${view}.${seqno}`;
  const contract = record.contract;
  return (record.events as { name?: unknown; data?: unknown }[]).map((e, index) => {
    if (typeof e?.name !== "string")
      throw new TreatyError("LedgerCorrupt", `entry ${seqno}: ${EVENTS_MAP} event ${index} has no name`, {
        seqno,
      });
    return { txid, seqno, index, contract, name: e.name, data: e.data ?? null };
  });
}

/**
 * Splits the reserved claims event (`setClaimsDigest`, contracts/api/events.ts) from a call's
 * events: at most one, a 64-hex string. Returns the other events and the digest, or a coded
 * failure for the call.
 */
export function takeClaimsDigest(
  events: readonly ContractEvent[],
):
  | { events: readonly ContractEvent[]; claimsDigest: string | undefined }
  | { code: string; message: string } {
  if (!events.some((e) => e.name === CLAIMS_EVENT)) return { events, claimsDigest: undefined };
  const claims = events.filter((e) => e.name === CLAIMS_EVENT);
  if (claims.length > 1) return { code: "ContractFault", message: "setClaimsDigest: at most once per call" };
  const digest = claims[0]!.data;
  if (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest))
    return { code: "ContractFault", message: "setClaimsDigest: expected 64 lowercase hex characters" };
  return { events: events.filter((e) => e.name !== CLAIMS_EVENT), claimsDigest: digest };
}
