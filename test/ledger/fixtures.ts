/**
 * Shared fixtures for ledger tests: keys, secrets, write sets and a small ledger with every
 * entry kind, signatures every few entries, and private data.
 */
import { createHash } from "node:crypto";
import { utf8 } from "../../sdk/bytes.js";
import { decode, encode } from "../../sdk/codec.js";
import { type KeyPair, keyPairFromPrivate, type PublicKey } from "../../sdk/keys.js";
import { contentDigest } from "../../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { LedgerSecret, LedgerSecrets } from "../../runtime/ledger/secrets.js";
import { endorseNode, type NodeSigner, nodeSigner } from "../../runtime/ledger/signature.js";
import { type LedgerRecord, type LedgerStore, MemoryLedgerStore } from "../../runtime/ledger/store.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";

/** Deterministic key pair from a label (tests only). */
export function testKey(label: string): KeyPair {
  return keyPairFromPrivate("ed25519", createHash("sha256").update(`treaty-test-key:${label}`).digest());
}

export const SERVICE = testKey("service");
export const NODE = testKey("node-1");
export const VALID_FROM_MS = 1_700_000_000_000;
export const VALID_TO_MS = VALID_FROM_MS + 365 * 24 * 3600 * 1000;

/** A signer for `node`, endorsed by `service` for the test validity window. */
export function signerFor(node: KeyPair = NODE, service: KeyPair = SERVICE): NodeSigner {
  return nodeSigner(node, endorseNode(service, node, VALID_FROM_MS, VALID_TO_MS), service);
}

export const SECRET_KEY = new Uint8Array(32).fill(0x5a);
export function testSecrets(): LedgerSecrets {
  return new LedgerSecrets([new LedgerSecret(1, SECRET_KEY)]);
}

/** Deterministic "random" bytes (a counter through SHA-256), so failures reproduce. */
export function testRandom(seed = "random"): (length: number) => Uint8Array {
  let counter = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 32) {
      const block = createHash("sha256").update(`${seed}:${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    }
    return out;
  };
}

const bytes = (text: string) => utf8.encode(text);

/** Marker that must never appear in clear in any entry: the private values carry it. */
export const PRIVATE_MARKER = "SECRET-BALANCE";

/** A write set with public and private maps, different per `i`. */
export function writeSetFor(i: number): WriteSet {
  const pub: MapWrites[] = [
    {
      map: "public:bank.accounts",
      writes: [
        [bytes(`acct-${i}`), bytes(`{"owner":"user-${i}"}`)],
        [bytes(`acct-${i}-old`), null],
      ],
    },
  ];
  const priv: MapWrites[] = [
    { map: "bank.balances", writes: [[bytes(`acct-${i}`), bytes(`${PRIVATE_MARKER}-${i * 100}`)]] },
  ];
  return { public: pub, private: i % 3 === 2 ? [] : priv };
}

const KINDS = ["user", "user", "member", "governance", "internal"] as const;

/** The i-th transaction of the fixture ledger: kinds rotate; every third has no private part. */
export function txFor(i: number): TransactionInput {
  const kind = KINDS[i % KINDS.length]!;
  const hasRequest = kind !== "internal";
  return {
    kind,
    writeSet: writeSetFor(i),
    meta: {
      timeMs: VALID_FROM_MS + 1000 + i,
      contract: kind === "internal" ? null : kind === "governance" ? "constitution" : "bank",
      method: kind === "internal" ? null : `method${i % 4}`,
      callerId: hasRequest ? `caller-${i % 3}` : null,
    },
    seed: i % 3 === 2 ? null : createHash("sha256").update(`seed ${i}`).digest(),
    requestDigest: hasRequest ? createHash("sha256").update(`request ${i}`).digest() : null,
  };
}

export interface FixtureLedger {
  readonly ledger: Ledger;
  readonly store: LedgerStore;
  readonly signer: NodeSigner;
  /** Seqnos of the transactions appended (not signatures), in order. */
  readonly txSeqnos: number[];
}

/**
 * A ledger of `transactions` transactions in view 2, with a signature after every `signEvery`
 * transactions and, when `signLast`, a final one; persisted in batches of 7.
 */
export function buildFixtureLedger(options: {
  transactions: number;
  signEvery: number;
  signLast?: boolean;
  store?: LedgerStore;
  residentLevel?: number;
  signer?: NodeSigner;
  serviceKey?: PublicKey;
}): FixtureLedger {
  const store = options.store ?? new MemoryLedgerStore();
  const signer = options.signer ?? signerFor();
  const ledger = Ledger.open({
    store,
    secrets: testSecrets(),
    random: testRandom(),
    serviceKey: options.serviceKey ?? SERVICE,
    ...(options.residentLevel !== undefined ? { residentLevel: options.residentLevel } : {}),
  });
  const txSeqnos: number[] = [];
  for (let i = 0; i < options.transactions; i++) {
    txSeqnos.push(ledger.appendTransaction(2, txFor(i)).seqno);
    if ((i + 1) % options.signEvery === 0) ledger.appendSignature(2, signer, VALID_FROM_MS + 2000 + i);
    if (ledger.lastSeqno % 7 === 0) ledger.persist();
  }
  if (options.signLast && ledger.unsignedCount > 0) ledger.appendSignature(2, signer, VALID_FROM_MS + 5000);
  ledger.persist();
  return { ledger, store, signer, txSeqnos };
}

/** All records of a store, as an array (copies of the bytes, safe to edit). */
export function recordsOf(store: LedgerStore): LedgerRecord[] {
  return [...store.range(1)].map((r) => ({ seqno: r.seqno, view: r.view, bytes: new Uint8Array(r.bytes) }));
}

/** The outer map of an entry, with its parts. */
export interface OuterEntry {
  h: Uint8Array;
  p: Uint8Array;
  x: Uint8Array | null;
  s: Uint8Array | null;
  d: Uint8Array;
}

/**
 * Edits an entry the way a careful attacker would: change parts, then recompute the content
 * digest so the entry is self-consistent (only the Merkle root and signatures can catch it).
 */
export function forgeEntry(bytes: Uint8Array, edit: (outer: OuterEntry) => void): Uint8Array {
  const outer = decode<OuterEntry>(bytes);
  edit(outer);
  outer.d = contentDigest(outer.h, outer.p, outer.x, outer.s);
  return encode({ h: outer.h, p: outer.p, x: outer.x, s: outer.s, d: outer.d });
}

/**
 * A read-only store over any list of records, gaps and disorder included: how a damaged disk
 * looks to the code that reads it.
 */
export function storeOf(records: readonly LedgerRecord[]): LedgerStore {
  return {
    lastSeqno: records.at(-1)?.seqno ?? 0,
    baseSeqno: 0,
    rebase() {
      throw new Error("read-only test store");
    },
    append() {
      throw new Error("read-only test store");
    },
    truncate() {
      throw new Error("read-only test store");
    },
    get: (seqno) => records.find((r) => r.seqno === seqno),
    *range(fromSeqno, toSeqno = Number.MAX_SAFE_INTEGER) {
      for (const r of records) if (r.seqno >= fromSeqno && r.seqno <= toSeqno) yield r;
    },
    close: async () => {},
  };
}
