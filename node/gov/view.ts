/**
 * The node's in-memory view of the committed governance tables (`public:gov.*`), derived from
 * committed ledger entries only: a caller is authorised, a contract version runs, a node is
 * trusted once the transaction that said so is committed, never on a pending one that a view
 * change could still drop. Public parts are in clear, so no secret is needed to build it.
 */
import { assert } from "../../sdk/assert.js";
import { utf8 } from "../../sdk/bytes.js";
import { indexOfBytes } from "../../runtime/bytes.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { decodeEntry, decodePublicWrites } from "../../runtime/ledger/entry.js";
import type { LedgerRecord } from "../../runtime/ledger/store.js";
import { CONFIG_KEY, CONFIG_MAP } from "../replica.js";
import { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from "../../runtime/sandbox/limits.js";
import {
  type BallotsRecord,
  type ConstitutionRecord,
  type ContractRecord,
  GOV,
  type MemberRecord,
  type NodeRecord,
  type ProposalRecord,
  readTableValue,
  SINGLETON_KEY,
  type ServiceRecord,
  type UserRecord,
} from "./tables.js";

export const GOV_PREFIX = "public:gov.";

const GOV_PREFIX_BYTES = utf8.encode(GOV_PREFIX);
const CONFIG_MAP_BYTES = utf8.encode(CONFIG_MAP);
/** The tables an entry that writes no governance table touches (`applyCommitted`): none, shared. */
const NO_TABLES: ReadonlySet<string> = new Set<string>();

/**
 * False when an entry's public part (`DecodedEntry.publicBytes`) certainly writes nothing the view
 * folds in: neither a `public:gov.*` map's name nor the configuration map's is among its bytes (a
 * map name lies in the part as its UTF-8 bytes). True may still be a key or value holding those
 * bytes: decode and fold. Most entries are a contract's writes, and a leader's are not decoded at
 * all (runtime/ledger/entry.ts `EncodedWriteSet`): this search spares it decoding them at commit.
 */
export function mayWriteGov(publicBytes: Uint8Array): boolean {
  return (
    indexOfBytes(publicBytes, GOV_PREFIX_BYTES) !== -1 || indexOfBytes(publicBytes, CONFIG_MAP_BYTES) !== -1
  );
}

/** True for a map the view folds in: a governance table or the configuration map. */
function foldsMap(writes: MapWrites): boolean {
  return writes.map === CONFIG_MAP || writes.map.startsWith(GOV_PREFIX);
}

/** What changed in one committed entry, so the node can react (reload contracts, peers...). */
export interface GovChange {
  readonly seqno: number;
  readonly tables: ReadonlySet<string>;
}

export class GovView {
  readonly #tables = new Map<string, Map<string, unknown>>();
  #seqno = 0;
  #config: readonly string[] | null = null;

  /** Seqno of the last entry folded in. */
  get seqno(): number {
    return this.#seqno;
  }

  /**
   * Starts an empty view from committed state at `seqno` (a restart: the execution KV's
   * committed `public:gov.*` maps and configuration) instead of folding every entry since
   * seqno 1. Returns the tables it filled.
   */
  loadState(seqno: number, maps: readonly MapWrites[]): Set<string> {
    assert(
      this.#seqno === 0 && this.#tables.size === 0 && this.#config === null,
      "loadState starts an empty view",
    );
    this.#seqno = seqno;
    return this.applyWrites(maps);
  }

  /**
   * Replaces the whole view by `maps` at `seqno` (a snapshot was installed). Returns the tables
   * that held rows before or hold rows now.
   */
  replaceState(seqno: number, maps: readonly MapWrites[]): Set<string> {
    const before = new Set(this.#tables.keys());
    if (this.#config !== null) before.add(CONFIG_MAP);
    this.#tables.clear();
    this.#config = null;
    this.#seqno = 0;
    const touched = this.loadState(seqno, maps);
    for (const table of before) touched.add(table);
    return touched;
  }

  /** Folds a committed entry in (entries must come in seqno order). Returns the tables it touched. */
  applyEntry(record: LedgerRecord): GovChange {
    const { seqno } = record;
    return {
      seqno,
      tables: this.applyCommitted(seqno, decodePublicWrites(decodeEntry(record.bytes, seqno))),
    };
  }

  /**
   * `applyEntry` for a caller that has the entry's public writes decoded already; returns the
   * tables it touched. An entry that writes no table the view folds (most: a contract's writes)
   * makes nothing: the shared empty set, not a set and a change record per committed entry.
   */
  applyCommitted(seqno: number, writes: readonly MapWrites[]): ReadonlySet<string> {
    this.#seqno = seqno;
    return writes.some(foldsMap) ? this.applyWrites(writes) : NO_TABLES;
  }

  /** Folds public writes in; returns the names of the governance tables they touched. */
  applyWrites(writes: readonly MapWrites[]): Set<string> {
    const touched = new Set<string>();
    for (const { map, writes: kvs } of writes) {
      if (map === CONFIG_MAP) {
        const value = kvs.find(([key]) => utf8.decode(key) === CONFIG_KEY)?.[1];
        if (value) this.#config = readTableValue<string[]>(value);
        touched.add(map);
        continue;
      }
      if (!map.startsWith(GOV_PREFIX)) continue;
      touched.add(map);
      const table = this.#tables.get(map) ?? new Map<string, unknown>();
      this.#tables.set(map, table);
      for (const [key, value] of kvs) {
        const k = utf8.decode(key);
        if (value === null) table.delete(k);
        else table.set(k, readTableValue(value));
      }
    }
    return touched;
  }

  /** Every row of a table, sorted by key. */
  rows<T>(map: string): Array<[string, T]> {
    return [...(this.#tables.get(map) ?? new Map<string, unknown>())].sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    ) as Array<[string, T]>;
  }

  /**
   * True when some row of `map` passes `test`: no sorted copy of the table, for a check that runs
   * at every commit before anything needs `rows` (the leader's retirement follow-up).
   */
  someRow<T>(map: string, test: (value: T) => boolean): boolean {
    const table = this.#tables.get(map);
    if (table === undefined) return false;
    for (const value of table.values()) if (test(value as T)) return true;
    return false;
  }

  row<T>(map: string, key: string): T | undefined {
    return this.#tables.get(map)?.get(key) as T | undefined;
  }

  member(id: string): MemberRecord | undefined {
    return this.row<MemberRecord>(GOV.members, id);
  }

  user(id: string): UserRecord | undefined {
    return this.row<UserRecord>(GOV.users, id);
  }

  contract(name: string): ContractRecord | undefined {
    return this.row<ContractRecord>(GOV.contracts, name);
  }

  node(id: string): NodeRecord | undefined {
    return this.row<NodeRecord>(GOV.nodes, id);
  }

  service(): ServiceRecord | undefined {
    return this.row<ServiceRecord>(GOV.service, SINGLETON_KEY);
  }

  constitution(): ConstitutionRecord | undefined {
    return this.row<ConstitutionRecord>(GOV.constitution, SINGLETON_KEY);
  }

  proposal(id: string): ProposalRecord | undefined {
    return this.row<ProposalRecord>(GOV.proposals, id);
  }

  /** The ballots cast on a proposal (member id → ballot); empty when none. */
  ballots(id: string): BallotsRecord {
    return this.row<BallotsRecord>(GOV.ballots, id) ?? {};
  }

  /**
   * The sandbox limits governance set, completed with the defaults. A committed record the
   * runtime refuses cannot come from governance (the proposal engine checks it before apply
   * commits), so it is reported as the defaults rather than thrown.
   */
  limits(): SandboxLimits {
    const row = this.row<unknown>(GOV.limits, SINGLETON_KEY);
    if (row === undefined) return DEFAULT_LIMITS;
    try {
      return resolveLimits(row);
    } catch {
      return DEFAULT_LIMITS;
    }
  }

  /** The committed consensus configuration (node ids), or null before the first one. */
  config(): readonly string[] | null {
    return this.#config;
  }
}
