/**
 * Genesis: the first ledger entry of a new service. It writes the initial governance tables
 * (members, users, contracts compiled from their folders, the default constitution, the service
 * record, the founding node, trusted) and the first configuration, all in clear, so every later node and
 * auditor can see how the service began. The contracts and the constitution compile in a compiler
 * thread (node/gov/compiler-thread.ts), as governance deploys do: the node's main thread never
 * loads TypeScript, which would otherwise stay in its heap (~15 MB) for the life of the process.
 */
import { toHex } from "../sdk/bytes.js";
import type { MapWrites, WriteSet } from "../runtime/kv/types.js";
import type { TransactionInput } from "../runtime/ledger/ledger.js";
import { checkContractName } from "../runtime/executor.js";
import type { GenesisConfig } from "./config.js";
import { identityRows } from "./genesis-identities.js";
import { CompilerThread } from "./gov/compiler-thread.js";
import { defaultConstitutionFolder, readContractFolder } from "./gov/contract-folder.js";
import {
  type CompiledCode,
  type ConstitutionRecord,
  type ContractRecord,
  GOV,
  type NodeRecord,
  OWN_NODE_FEATURES,
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

/** Compiles contract sources; rejects with CompileError (diagnostics in details) or Timeout. */
export type Compile = (files: Readonly<Record<string, string>>) => Promise<CompiledCode>;

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

/**
 * How long compiled code stays in `compiledBySource` after its last use, ms: a process that runs
 * several geneses (tests) starts the next within seconds; a genesis node runs one, and keeps none
 * of it past this.
 */
export const GENESIS_COMPILE_IDLE_MS = 60_000;
/** How many compiled codes `compiledBySource` keeps. */
const COMPILED_CACHE_ENTRIES = 32;

/**
 * Compiled code by its sources (their JSON text), for a process that runs several geneses
 * (tests): each would otherwise start a compiler thread and compile the same contracts and
 * constitution again (~6 s instead of ~1.3 to 1.9 s for a test node's start). Compiling is
 * deterministic, so a hit is what the thread would return. Holds at most COMPILED_CACHE_ENTRIES
 * (the oldest goes first), and nothing once GENESIS_COMPILE_IDLE_MS have passed without a use:
 * a genesis node never runs a second genesis, and the sources and bundles it compiled (65 KB of
 * heap for the default constitution alone, 535 KB with the three sample contracts: heapUsed
 * after a GC, held vs released) would otherwise
 * stay in its heap for its life. The release timer does not keep the process alive.
 */
class CompiledBySource {
  readonly #entries = new Map<string, CompiledCode>();
  #release: NodeJS.Timeout | undefined;

  get(key: string): CompiledCode | undefined {
    const code = this.#entries.get(key);
    if (code !== undefined) this.#used();
    return code;
  }

  set(key: string, code: CompiledCode): void {
    if (this.#entries.size >= COMPILED_CACHE_ENTRIES)
      this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, code);
    this.#used();
  }

  /** (Re)starts the idle window after which every entry is dropped. */
  #used(): void {
    clearTimeout(this.#release);
    this.#release = setTimeout(() => {
      this.#entries.clear();
      this.#release = undefined;
    }, GENESIS_COMPILE_IDLE_MS);
    this.#release.unref();
  }
}

const compiledBySource = new CompiledBySource();

/** Compiles through `compiler`, or answers from compiledBySource. */
async function compileCached(
  compiler: CompilerThread,
  files: Readonly<Record<string, string>>,
): Promise<CompiledCode> {
  const key = JSON.stringify(files);
  const cached = compiledBySource.get(key);
  if (cached !== undefined) return cached;
  const code = await compiler.compile(files);
  compiledBySource.set(key, code);
  return code;
}

/**
 * The genesis transaction. Throws CompileError / MalformedRequest / InvalidContract on bad config,
 * Timeout when a compile outlives the compiler thread's deadline (60 s). `compile` defaults to a
 * compiler thread for this call (its worker starts on the first compile that compiledBySource
 * does not answer) closed when the call returns.
 */
export async function genesisTransaction(input: GenesisInput, compile?: Compile): Promise<TransactionInput> {
  if (compile === undefined) {
    const compiler = new CompilerThread();
    try {
      return await genesisTransaction(input, (files) => compileCached(compiler, files));
    } finally {
      await compiler.close();
    }
  }
  const { genesis } = input;
  const rows: Array<{ map: string; key: string; value: unknown }> = [];
  const identities = identityRows(genesis.members, genesis.users);
  for (const [id, record] of identities.members) rows.push({ map: GOV.members, key: id, value: record });
  for (const [id, record] of identities.users) rows.push({ map: GOV.users, key: id, value: record });
  for (const c of genesis.contracts) {
    checkContractName(c.name);
    const source = readContractFolder(c.path);
    const { digest, bundle } = await compile(source);
    const record: ContractRecord = { version: 1, digest, bundle, source };
    rows.push({ map: GOV.contracts, key: c.name, value: record });
  }
  const constitution = readContractFolder(defaultConstitutionFolder());
  const { digest, bundle } = await compile(constitution);
  const constitutionRecord: ConstitutionRecord = { digest, bundle, source: constitution };
  rows.push({ map: GOV.constitution, key: SINGLETON_KEY, value: constitutionRecord });
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
    features: OWN_NODE_FEATURES,
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
