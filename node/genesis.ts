/**
 * Genesis: the first ledger entry of a new service. It writes the initial governance tables
 * (members, users, contracts compiled from their folders, the default constitution, the service
 * record, the founding node, trusted) and the first configuration, all in clear, so every later node and
 * auditor can see how the service began.
 */
import { toHex } from "../sdk/bytes.js";
import type { MapWrites, WriteSet } from "../runtime/kv/types.js";
import type { TransactionInput } from "../runtime/ledger/ledger.js";
import { checkContractName } from "../runtime/executor.js";
import type { GenesisConfig } from "./config.js";
import { identityRows } from "./genesis-identities.js";
import {
  GOV,
  type NodeRecord,
  SINGLETON_KEY,
  type ServiceRecord,
  tableKey,
  tableValue,
} from "./gov/tables.js";
import { CONFIG_KEY, CONFIG_MAP } from "./replica.js";

export interface GenesisInput {
  readonly genesis: GenesisConfig;
  readonly nodeId: string;
  readonly nodePublicKey: Uint8Array;
  readonly serviceKey: Uint8Array;
  readonly measurement: string;
  readonly nodeUrl: string;
  readonly timeMs: number;
}

/** Sorted public write set from rows (maps by name, keys bytewise). */
export function publicWriteSet(rows: ReadonlyArray<{ map: string; key: string; value: unknown }>): WriteSet {
  const byMap = new Map<string, Array<readonly [Uint8Array, Uint8Array | null]>>();
  for (const { map, key, value } of rows) {
    if (!byMap.has(map)) byMap.set(map, []);
    byMap.get(map)!.push([tableKey(key), value === null ? null : tableValue(value)]);
  }
  const compare = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);
  const maps: MapWrites[] = [...byMap.keys()].sort().map((map) => ({
    map,
    writes: byMap.get(map)!.sort(([a], [b]) => compare(a, b)),
  }));
  return { public: maps, private: [] };
}

/** The genesis transaction. Throws CompileError / MalformedRequest / InvalidContract on bad config. */
export async function genesisTransaction(input: GenesisInput): Promise<TransactionInput> {
  // Loaded here, not at module load: the contract compiler pulls in TypeScript (9 MB of
  // JavaScript), which every node process would otherwise parse at start-up for nothing.
  const { buildContractRecord, defaultConstitution, readContractFolder } = await import("./gov/contracts.js");
  const { genesis } = input;
  const rows: Array<{ map: string; key: string; value: unknown }> = [];
  const identities = identityRows(genesis.members, genesis.users);
  for (const [id, record] of identities.members) rows.push({ map: GOV.members, key: id, value: record });
  for (const [id, record] of identities.users) rows.push({ map: GOV.users, key: id, value: record });
  for (const c of genesis.contracts) {
    checkContractName(c.name);
    rows.push({ map: GOV.contracts, key: c.name, value: buildContractRecord(readContractFolder(c.path), 1) });
  }
  rows.push({ map: GOV.constitution, key: SINGLETON_KEY, value: defaultConstitution() });
  const service: ServiceRecord = {
    status: genesis.open ? "open" : "opening",
    identity: toHex(input.serviceKey),
    recoveryThreshold: 1,
    autoTrustNodes: genesis.autoTrustNodes,
  };
  rows.push({ map: GOV.service, key: SINGLETON_KEY, value: service });
  const node: NodeRecord = {
    publicKey: toHex(input.nodePublicKey),
    status: "trusted",
    measurement: input.measurement,
    url: input.nodeUrl,
  };
  rows.push({ map: GOV.nodes, key: input.nodeId, value: node });
  rows.push({ map: GOV.nodeCode, key: input.measurement, value: { platform: "virtual" } });
  rows.push({ map: CONFIG_MAP, key: CONFIG_KEY, value: [input.nodeId] });
  return {
    kind: "internal",
    writeSet: publicWriteSet(rows),
    meta: { timeMs: input.timeMs, contract: null, method: "genesis", callerId: null },
  };
}
