/**
 * The service endorsement chain for `treaty ledger verify`: across a disaster recovery the
 * ledger holds entries signed by nodes of the lost service (endorsed by its identity) and, after
 * the recovery entry, by nodes of the new service. The recovery entry records the new identity
 * endorsed by the previous one (`public:gov.serviceEndorsements`, signed over
 * `serviceEndorsementMessage`). Starting from the pinned identity, each endorsement signed by an
 * identity already established establishes the next, so the whole ledger verifies against the
 * original key, as receipts do (sdk/receipt.ts). Nothing here trusts who wrote the row: only the
 * endorsing identity's signature counts.
 */
import { toHex, utf8 } from "../../sdk/bytes.js";
import { type PublicKey, verify } from "../../sdk/keys.js";
import { serviceEndorsementMessage } from "../../sdk/receipt.js";
import type { ServiceEndorsement } from "../../sdk/receipt.js";
import { corrupt, type DecodedEntry, decodeEntry, decodePublicWrites } from "../../runtime/ledger/entry.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import type { LedgerRecord } from "../../runtime/ledger/store.js";
import type { ServiceIdentities } from "../../runtime/ledger/verify.js";
import { GOV } from "../gov/tables.js";
import { endorsementChain } from "../recovery/endorsement-chain.js";

interface Endorsement {
  readonly identity: Uint8Array;
  readonly endorsedBy: string;
  readonly signature: Uint8Array;
  readonly seqno: number;
}

/** See the module comment. One per audit. */
export class EndorsementChain implements ServiceIdentities {
  /** Established identities (hex, ed25519), in the order they were established. */
  readonly #trusted = new Map<string, PublicKey>();
  /** Endorsements seen before their endorser was established (re-checked as the chain grows). */
  #waiting: Endorsement[] = [];

  /** The identities established so far, oldest (the pinned one) first, hex. */
  get identities(): string[] {
    return [...this.#trusted.keys()];
  }

  keyFor(named: PublicKey, pinned: PublicKey, seqno: number): PublicKey {
    if (this.#trusted.size === 0) this.#trust(pinned);
    const key = this.#trusted.get(toHex(named.publicKey));
    if (key === undefined || key.curve !== named.curve)
      throw corrupt(
        seqno,
        "signature.service",
        `service key ${toHex(named.publicKey)} is neither the pinned service identity nor one it endorsed (directly or through recorded endorsements) before this signature`,
      );
    return key;
  }

  observe(entry: DecodedEntry, seqno: number): void {
    for (const { map, writes } of decodePublicWrites(entry)) {
      if (map !== GOV.serviceEndorsements) continue;
      for (const [key, value] of writes) {
        if (value === null) continue;
        this.#waiting.push(parseEndorsement(key, value, seqno));
      }
    }
    if (this.#trusted.size > 0) this.#settle();
  }

  #trust(key: PublicKey): void {
    this.#trusted.set(toHex(key.publicKey), key);
    this.#settle();
  }

  /** Establishes every waiting identity whose endorser is established; a forged link is corrupt. */
  #settle(): void {
    for (let progress = true; progress; ) {
      progress = false;
      for (const link of this.#waiting) {
        const by = this.#trusted.get(link.endorsedBy);
        if (by === undefined) continue;
        if (!verify(by, serviceEndorsementMessage(link.identity), link.signature))
          throw corrupt(
            link.seqno,
            "gov.serviceEndorsements",
            `the endorsement of ${toHex(link.identity)} is not signed by ${link.endorsedBy}`,
          );
        this.#waiting = this.#waiting.filter((l) => l !== link);
        this.#trusted.set(toHex(link.identity), { curve: "ed25519", publicKey: link.identity });
        progress = true;
        break;
      }
    }
  }
}

/**
 * The `serviceEndorsements` chain that `treaty ledger receipt | consistency` attach, as the node
 * does (node/recovery/routes.ts): the links recorded in `records` (the entries up to the commit
 * point), leading to the last identity endorsed, oldest first; empty when the ledger records no
 * recovery. For a ledger that starts after a snapshot, `before` is the snapshot's public state
 * (its seqno and maps): the links recorded before it are rows there. Links are parsed, not
 * verified: the verifier checks each signature from the pinned key. Throws LedgerCorrupt for a
 * malformed link.
 */
export function recordedEndorsementChain(
  records: Iterable<LedgerRecord>,
  before?: { readonly seqno: number; readonly state: readonly MapWrites[] },
): ServiceEndorsement[] {
  const links = new Map<string, { endorsedBy: string; signature: string }>();
  let latest: string | undefined;
  const add = (maps: readonly MapWrites[], seqno: number) => {
    for (const { map, writes } of maps) {
      if (map !== GOV.serviceEndorsements) continue;
      for (const [key, value] of writes) {
        if (value === null) continue;
        const link = parseEndorsement(key, value, seqno);
        latest = toHex(link.identity);
        links.set(latest, { endorsedBy: link.endorsedBy, signature: toHex(link.signature) });
      }
    }
  };
  if (before !== undefined) {
    add(before.state, before.seqno);
    // A state holds its rows in key order, not in the order they were recorded: the last identity
    // endorsed is the one no other link names as its endorser.
    const endorsers = new Set([...links.values()].map((l) => l.endorsedBy));
    latest = [...links.keys()].find((identity) => !endorsers.has(identity));
  }
  for (const record of records)
    add(decodePublicWrites(decodeEntry(record.bytes, record.seqno)), record.seqno);
  return latest === undefined ? [] : endorsementChain(latest, (identity) => links.get(identity));
}

function parseEndorsement(key: Uint8Array, value: Uint8Array, seqno: number): Endorsement {
  const bad = (why: string) => corrupt(seqno, "gov.serviceEndorsements", why);
  const identity = hexBytes(utf8.decode(key), 32);
  if (identity === undefined) throw bad("the key is not a 32-byte hex identity");
  let record: { endorsedBy?: unknown; signature?: unknown };
  try {
    record = JSON.parse(utf8.decode(value)) as typeof record;
  } catch {
    throw bad("the value is not JSON");
  }
  const by = typeof record?.endorsedBy === "string" ? hexBytes(record.endorsedBy, 32) : undefined;
  const signature = typeof record?.signature === "string" ? hexBytes(record.signature, 64) : undefined;
  if (by === undefined || signature === undefined)
    throw bad("expected {endorsedBy: 32 bytes hex, signature: 64 bytes hex}");
  return { identity, endorsedBy: toHex(by), signature, seqno };
}

function hexBytes(text: string, length: number): Uint8Array | undefined {
  if (text.length !== length * 2 || !/^[0-9a-f]*$/.test(text)) return undefined;
  return Uint8Array.from(Buffer.from(text, "hex"));
}
