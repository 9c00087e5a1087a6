/**
 * The interpreter of governance scenario files (test/scenarios/governance/*.txt). A scenario
 * drives a real `ExecutionEngine` (in-memory KV, real QuickJS sandbox, the real default
 * constitution) the way a leader does: every write is one call in one batch at the next seqno,
 * proposals go through the leader's main-thread preparation (prepare.ts: real compiles), and
 * after each write the runner reacts like a node to what changed (loads contracts, applies
 * limits). Output is deterministic: identities come from their names, times and seeds from seqnos,
 * and every id is printed by its alias (m0, u1, p2, ...).
 *
 * Commands (names: m* sign as members, u* as users; keys are derived from the name):
 *   engine decided=<n>                 before genesis: keep only n decided proposals
 *   genesis members=m0,m1 [users=u0] [contracts=counter:counter-v1] [open]
 *   propose m0 <action or [actions]>   JSON; strings "pk:u1", "id:u1", "ek:m1" (an x25519
 *                                      encryption key), "files:<fixture>", "code:<measurement
 *                                      alias>" are replaced by their values
 *   propose-raw m0 <args JSON>         the body's args as sent (malformed proposals)
 *   vote m1 p1 for|against | withdraw m0 p1
 *   exec m0 <method> <args JSON>       a governance call that skips the leader's preparation
 *   replay m0                          sends m0's last request again, same nonce
 *   call u0 <contract> <method> [args] | read u0 <contract> <method> [args]
 *   node n1 pending <measurement alias> [old]
 *                                      a node asks to join (the join path's internal entry; with
 *                                      `old`, a node of a version before session 21: its record
 *                                      lacks `features`)
 *   proposal p1 | proposals | members | users | contracts | service | limits | nodes | nodecode
 *   constitution
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { assert } from "../../sdk/assert.js";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { type KeyPair, keyId, keyPairFromPrivate } from "../../sdk/keys.js";
import { sha256 } from "../../runtime/crypto.js";
import { resolveLimits } from "../../runtime/sandbox/limits.js";
import { defaultConstitutionFolder, readContractFolder } from "../../node/gov/contract-folder.js";
import { buildContractRecord } from "../../node/gov/contracts.js";
import { GOV_CONTRACT } from "../../node/gov/engine.js";
import { prepareProposal } from "../../node/gov/prepare.js";
import {
  type BallotsRecord,
  type CompiledCode,
  type ConstitutionRecord,
  type ContractRecord,
  type MemberRecord,
  type NodeRecord,
  OWN_NODE_FEATURES,
  type ProposalRecord,
  readTableValue,
  SINGLETON_KEY,
  type ServiceRecord,
  tableKey,
  GOV,
} from "../../node/gov/tables.js";
import { publicWriteSet } from "../../node/genesis.js";
import { ExecutionEngine } from "../../node/execution/engine.js";
import type { ExecCall, ExecResult } from "../../node/execution/protocol.js";
import { fixtureFiles } from "./fixtures.js";

const VIEW = 1;
const EPOCH_MS = 1_750_000_000_000;

/** Runs scenario commands one at a time against one engine. `close()` releases it. */

let defaultConstitutionRecord: ConstitutionRecord | undefined;

/**
 * The default constitution (contracts/constitution of this package) compiled on this thread, once
 * per process, for the genesis state a scenario builds in process. A node's genesis compiles it
 * in a compiler thread instead (node/genesis.ts).
 */
function defaultConstitution(): ConstitutionRecord {
  if (defaultConstitutionRecord === undefined) {
    const { digest, bundle, source } = buildContractRecord(
      readContractFolder(defaultConstitutionFolder()),
      1,
    );
    defaultConstitutionRecord = { digest, bundle, source };
  }
  return defaultConstitutionRecord;
}

export class GovScenario {
  #engine: ExecutionEngine;
  readonly #keys = new Map<string, KeyPair>();
  /** Printed names of hex ids: identities, proposals, measurements, digests. */
  readonly #aliases = new Map<string, string>();
  readonly #proposals: string[] = [];
  readonly #lastCall = new Map<string, ExecCall>();
  readonly #loaded = new Map<string, string>();
  #limits = "";
  #nonce = 0;

  private constructor(engine: ExecutionEngine) {
    this.#engine = engine;
  }

  static async create(): Promise<GovScenario> {
    return new GovScenario(await ExecutionEngine.open({ kvPath: null }));
  }

  close(): Promise<void> {
    return this.#engine.close();
  }

  /** The engine the scenario drives (for tests that look at its state between commands). */
  get engine(): ExecutionEngine {
    return this.#engine;
  }

  /** The id of the identity named `name` (m0, u1, n2, ...). */
  id(name: string): string {
    return this.#key(name).id;
  }

  /** Executes one command line; returns its output lines ("ok" when it prints nothing). */
  async run(line: string): Promise<string[]> {
    const [command, ...rest] = splitCommand(line);
    const arg = (i: number) => {
      const value = rest[i];
      assert(value !== undefined, `${command}: argument ${i + 1} is missing`);
      return value;
    };
    switch (command) {
      case "engine": {
        // A fresh engine with other retention bounds (before genesis).
        const decided = /^decided=(\d+)$/.exec(arg(0));
        assert(decided !== null, "engine: expected decided=<n>");
        await this.#engine.close();
        this.#engine = await ExecutionEngine.open({
          kvPath: null,
          retention: { decidedProposals: Number(decided[1]) },
        });
        return ["ok"];
      }
      case "genesis":
        await this.#genesis(rest);
        return ["ok"];
      case "propose": {
        const parsed = JSON.parse(arg(1)) as unknown;
        const actions = this.#substitute(Array.isArray(parsed) ? parsed : [parsed]);
        return this.#propose(arg(0), { actions });
      }
      case "propose-raw":
        return this.#propose(arg(0), this.#substitute(JSON.parse(arg(1))));
      case "vote":
        return this.#write(arg(0), "vote", { proposalId: this.#proposalId(arg(1)), vote: arg(2) });
      case "withdraw":
        return this.#write(arg(0), "withdraw", { proposalId: this.#proposalId(arg(1)) });
      case "exec":
        return this.#write(arg(0), arg(1), this.#substitute(JSON.parse(arg(2))));
      case "replay": {
        const last = this.#lastCall.get(arg(0));
        assert(last !== undefined, `replay: ${arg(0)} sent nothing yet`);
        return this.#render(await this.#batch(last));
      }
      case "call":
      case "read": {
        const call = this.#call(arg(0), arg(1), arg(2), JSON.parse(rest[3] ?? "{}"));
        const result = command === "read" ? this.#engine.read(call) : await this.#batch(call);
        return result.ok ? [`result ${JSON.stringify(result.result)}`] : [this.#error(result.error)];
      }
      case "node":
        return this.#node(arg(0), arg(1), arg(2), rest[3] === "old");
      default:
        return this.#show(command!, rest);
    }
  }

  async #genesis(args: readonly string[]): Promise<void> {
    const options = new Map(args.map((a) => a.split("=") as [string, string | undefined]));
    const rows: Array<{ map: string; key: string; value: unknown }> = [];
    for (const name of (options.get("members") ?? "").split(",").filter(Boolean)) {
      const key = this.#key(name);
      const member: MemberRecord = { curve: "ed25519", publicKey: toHex(key.publicKey), status: "active" };
      rows.push({ map: GOV.members, key: key.id, value: member });
    }
    for (const name of (options.get("users") ?? "").split(",").filter(Boolean)) {
      const key = this.#key(name);
      rows.push({
        map: GOV.users,
        key: key.id,
        value: { curve: "ed25519", publicKey: toHex(key.publicKey) },
      });
    }
    for (const spec of (options.get("contracts") ?? "").split(",").filter(Boolean)) {
      const [name, fixture] = spec.split(":") as [string, string];
      rows.push({ map: GOV.contracts, key: name, value: buildContractRecord(fixtureFiles(fixture), 1) });
    }
    const constitution = defaultConstitution();
    this.#aliases.set(constitution.digest, "constitution/default");
    rows.push({ map: GOV.constitution, key: SINGLETON_KEY, value: constitution });
    const service: ServiceRecord = {
      status: options.has("open") ? "open" : "opening",
      identity: toHex(this.#key("service").publicKey),
      recoveryThreshold: 1,
    };
    rows.push({ map: GOV.service, key: SINGLETON_KEY, value: service });
    const measurement = this.#measurement("mA");
    const founder: NodeRecord = {
      publicKey: toHex(this.#key("n0").publicKey),
      status: "trusted",
      measurement,
      features: OWN_NODE_FEATURES,
    };
    rows.push({ map: GOV.nodes, key: this.#key("n0").id, value: founder });
    rows.push({ map: GOV.nodeCode, key: measurement, value: { platform: "virtual" } });
    this.#engine.apply([{ version: 1, writeSet: publicWriteSet(rows) }]);
    await this.#react();
  }

  async #propose(who: string, bodyArgs: unknown): Promise<string[]> {
    let args: unknown;
    try {
      args = await prepareProposal(bodyArgs, (files) => compiled(files));
    } catch (err) {
      const e = err as { code?: string; message: string };
      return [this.#error({ code: e.code ?? "Error", message: e.message })];
    }
    return this.#write(who, "propose", args);
  }

  async #write(who: string, method: string, args: unknown): Promise<string[]> {
    const call = this.#call(who, GOV_CONTRACT, method, args);
    this.#lastCall.set(who, call);
    return this.#render(await this.#batch(call));
  }

  /** One call in one batch at the next seqno; then react like a node to what changed. */
  async #batch(call: ExecCall): Promise<ExecResult> {
    const seqno = this.#engine.appliedVersion + 1;
    const [result] = this.#engine.executeBatch(VIEW, seqno, [{ ...call, timeMs: EPOCH_MS + seqno }]);
    assert(result !== undefined, "one result");
    if (result.ok) await this.#react();
    // A worker refills its spare QuickJS instances between requests; so does the scenario.
    await this.#engine.ready();
    return result;
  }

  #render(result: ExecResult): string[] {
    if (!result.ok) return [this.#error(result.error)];
    const { proposalId, state } = result.result as { proposalId: string; state: string };
    if (!this.#aliases.has(proposalId)) {
      this.#proposals.push(proposalId);
      this.#aliases.set(proposalId, `p${this.#proposals.length}`);
    }
    return [`${this.#alias(proposalId)} ${state}`];
  }

  /** What a node does on commit: load changed contracts, apply changed limits. */
  async #react(): Promise<void> {
    const wanted = new Map(this.#rows<ContractRecord>(GOV.contracts));
    for (const name of [...this.#loaded.keys()]) {
      if (!wanted.has(name)) {
        this.#engine.unloadContract(name);
        this.#loaded.delete(name);
      }
    }
    for (const [name, record] of wanted) {
      if (this.#loaded.get(name) === record.digest) continue;
      await this.#engine.loadContract(name, record.bundle);
      this.#loaded.set(name, record.digest);
    }
    const limits = this.#row<unknown>(GOV.limits, SINGLETON_KEY);
    const text = JSON.stringify(limits ?? {});
    if (text !== this.#limits) {
      this.#limits = text;
      await this.#engine.setLimits(resolveLimits(limits ?? {}));
    }
  }

  async #node(name: string, status: string, measurementAlias: string, old: boolean): Promise<string[]> {
    const key = this.#key(name);
    const record: NodeRecord = {
      publicKey: toHex(key.publicKey),
      status: status as NodeRecord["status"],
      measurement: this.#measurement(measurementAlias),
      ...(!old && { features: OWN_NODE_FEATURES }),
    };
    const seqno = this.#engine.appliedVersion + 1;
    this.#engine.apply([
      { version: seqno, writeSet: publicWriteSet([{ map: GOV.nodes, key: key.id, value: record }]) },
    ]);
    return ["ok"];
  }

  #show(command: string, args: readonly string[]): string[] {
    const lines: string[] = [];
    switch (command) {
      case "proposal": {
        const id = this.#proposalId(args[0]!);
        const p = this.#row<ProposalRecord>(GOV.proposals, id);
        if (p === undefined) return ["none"];
        const ballots = this.#row<BallotsRecord>(GOV.ballots, id) ?? {};
        lines.push(`${this.#alias(id)} ${p.state} by ${this.#alias(p.proposer)}`);
        lines.push(`actions ${p.actions.map((a) => a.name).join(" ")}`);
        const cast = Object.entries(ballots)
          .map(([member, b]) => `${this.#alias(member)}=${b}`)
          .sort();
        lines.push(`ballots ${cast.join(" ") || "-"}`);
        lines.push(`created ${p.createdTxid}${p.decidedTxid ? ` decided ${p.decidedTxid}` : ""}`);
        if (p.error) lines.push(`error ${p.error.code}: ${this.#scrub(p.error.message)}`);
        return lines;
      }
      case "proposals":
        for (const id of this.#proposals) {
          const p = this.#row<ProposalRecord>(GOV.proposals, id);
          if (p !== undefined)
            lines.push(`${this.#alias(id)} ${p.state} ${p.actions.map((a) => a.name).join(",")}`);
        }
        break;
      case "members":
        for (const [id, m] of this.#rows<MemberRecord>(GOV.members))
          lines.push(`${this.#alias(id)} ${m.status}`);
        break;
      case "users":
        for (const [id, u] of this.#rows<{ data?: unknown }>(GOV.users))
          lines.push(`${this.#alias(id)}${u.data ? ` ${JSON.stringify(u.data)}` : ""}`);
        break;
      case "contracts":
        for (const [name, c] of this.#rows<ContractRecord>(GOV.contracts))
          lines.push(`${name} v${c.version} ${Object.keys(c.source).join(",")}`);
        break;
      case "service": {
        const s = this.#row<ServiceRecord>(GOV.service, SINGLETON_KEY)!;
        lines.push(
          `${s.status} recoveryThreshold=${s.recoveryThreshold}${s.autoTrustNodes === undefined ? "" : ` autoTrustNodes=${s.autoTrustNodes}`}`,
        );
        break;
      }
      case "limits":
        lines.push(JSON.stringify(this.#row<unknown>(GOV.limits, SINGLETON_KEY) ?? null));
        break;
      case "nodes":
        for (const [id, n] of this.#rows<NodeRecord>(GOV.nodes))
          lines.push(`${this.#alias(id)} ${n.status} ${this.#alias(n.measurement)}`);
        break;
      case "nodecode":
        for (const [measurement] of this.#rows<unknown>(GOV.nodeCode)) lines.push(this.#alias(measurement));
        break;
      case "constitution": {
        const c = this.#row<ConstitutionRecord>(GOV.constitution, SINGLETON_KEY)!;
        lines.push(this.#alias(c.digest));
        break;
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
    return lines.length === 0 ? ["(none)"] : lines.sort();
  }

  #call(who: string, contract: string, method: string, args: unknown): ExecCall {
    const key = this.#key(who);
    const role = who.startsWith("m") ? "member" : "user";
    this.#nonce++;
    return {
      contract,
      method,
      args,
      caller: { id: key.id, role },
      nonce: `nonce-${this.#nonce}`,
      createdMs: EPOCH_MS,
      timeMs: EPOCH_MS,
      seed: sha256(utf8.encode(`seed-${this.#nonce}`)),
    };
  }

  /** Replaces "pk:x", "id:x", "ek:x", "files:x" and "code:x" strings (see the module comment). */
  #substitute(value: unknown): unknown {
    if (typeof value === "string") {
      const [kind, name] = value.split(/:(.*)/s) as [string, string | undefined];
      if (name === undefined) return value;
      if (kind === "pk") return toHex(this.#key(name).publicKey);
      if (kind === "id") return this.#key(name).id;
      if (kind === "ek") return toHex(x25519.getPublicKey(sha256(utf8.encode(`treaty-scenario-ek:${name}`))));
      if (kind === "files") {
        const files = fixtureFiles(name);
        if (name.startsWith("constitution/")) {
          // Remember the digest so `constitution` prints the variant's name.
          this.#aliases.set(compiled(files).digest, name);
        }
        return files;
      }
      if (kind === "code") return this.#measurement(name);
      return value;
    }
    if (Array.isArray(value)) return value.map((v) => this.#substitute(v));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.#substitute(v)]));
    }
    return value;
  }

  #key(name: string): KeyPair {
    let key = this.#keys.get(name);
    if (key === undefined) {
      key = keyPairFromPrivate("ed25519", sha256(utf8.encode(`treaty-scenario:${name}`)));
      this.#keys.set(name, key);
      this.#aliases.set(key.id, name);
      assert(keyId(key) === key.id, "scenario keys are identities");
    }
    return key;
  }

  #measurement(alias: string): string {
    const hex = toHex(sha256(utf8.encode(`measurement:${alias}`)));
    this.#aliases.set(hex, alias);
    return hex;
  }

  #proposalId(alias: string): string {
    const match = /^p(\d+)$/.exec(alias);
    if (match === null) return alias;
    const id = this.#proposals[Number(match[1]) - 1];
    assert(id !== undefined, `no proposal ${alias}`);
    return id;
  }

  #alias(hex: string): string {
    return this.#aliases.get(hex) ?? (/^[0-9a-f]{64}$/.test(hex) ? `${hex.slice(0, 8)}…` : hex);
  }

  /** A message with every known id replaced by its alias. */
  #scrub(message: string): string {
    return message.replace(/[0-9a-f]{64}/g, (hex) => this.#alias(hex));
  }

  #rows<T>(map: string): Array<[string, T]> {
    return this.#engine.scan(map).map(([k, v]) => [utf8.decode(k), readTableValue<T>(v)]);
  }

  #row<T>(map: string, key: string): T | undefined {
    const value = this.#engine.get(map, tableKey(key));
    return value === undefined ? undefined : readTableValue<T>(value);
  }

  #error(error: { code: string; message: string }): string {
    return `error ${error.code}: ${this.#scrub(error.message)}`;
  }
}

const compiledByFiles = new Map<string, CompiledCode>();

/** Compiles contract files once per process (scenarios propose the same fixtures again and again). */
function compiled(files: Readonly<Record<string, string>>): CompiledCode {
  const key = JSON.stringify(files);
  let code = compiledByFiles.get(key);
  if (code === undefined) {
    const { digest, bundle } = buildContractRecord(files, 1);
    code = { digest, bundle };
    compiledByFiles.set(key, code);
  }
  return code;
}

/** Splits a command line: words, with the JSON rest of the line kept whole from the first `{` or `[`. */
function splitCommand(line: string): string[] {
  const words: string[] = [];
  let rest = line.trim();
  while (rest.length > 0) {
    if (rest.startsWith("{") || rest.startsWith("[")) {
      words.push(rest);
      break;
    }
    const space = rest.search(/\s/);
    if (space < 0) {
      words.push(rest);
      break;
    }
    words.push(rest.slice(0, space));
    rest = rest.slice(space).trimStart();
  }
  return words;
}
