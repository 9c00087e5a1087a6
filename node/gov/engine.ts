/**
 * The proposal engine: host code that runs a governance call (`propose`, `vote`, `withdraw`)
 * inside the execution worker, in the call's own transaction, after the call's nonce was
 * recorded (same replay protection, same seqno assignment as any call). The rules come from the
 * constitution; the engine owns what no constitution may change:
 *
 * - only active members propose, vote and withdraw (`Forbidden`), and only the proposer
 *   withdraws; a member has at most MAX_OPEN_PROPOSALS Open proposals (`TooManyProposals`,
 *   open-proposals.ts);
 * - proposals and ballots live in `public:gov.proposals` / `public:gov.ballots`, in clear, and
 *   only the engine writes them; a proposal's id is hex SHA-256 over the creating txid, the
 *   proposer and the canonical encoding of its actions (unique, since txids are);
 * - the life cycle: validate (no state) when proposed, resolve (read-only) on creation and on
 *   every ballot, apply (read-write) in the SAME transaction as the deciding ballot;
 * - apply runs in a sub-transaction (`ChildTx`): if it throws or exhausts a limit, or breaks a
 *   host invariant (below), its writes are discarded and the proposal is recorded Failed with the
 *   error, together with the ballot that decided it;
 * - an accepted proposal that changed the constitution drops every other Open proposal, since
 *   their meaning may have changed.
 *
 * Code is checked before it is recorded: when a proposal is created, every bundle it carries
 * (deploy_contract, set_constitution) is loaded in a throwaway sandbox (`inspect`) and its
 * manifest checked, so a version that cannot load is refused (ProposalInvalid) and never voted on.
 *
 * Host invariants checked on apply's writes: apply may not write proposals or ballots; a
 * constitution record must be a loadable constitution whose digest is the SHA-256 of its bundle,
 * and one that members can vote out again (`#probeReplaceable`: a constitution that can never
 * be replaced would brick governance for good);
 * a contract record must carry a valid name, a positive version, a digest matching its bundle
 * and a bundle that loads; limits must be limits the runtime accepts. So no constitution can
 * leave the nodes with state they cannot run.
 *
 * The constitution is loaded lazily, by digest, from the transaction's own view of
 * `public:gov.constitution`: a new constitution takes effect for the very next governance call,
 * and a rollback of the KV brings the previous one back on the next call.
 */
import { assert } from "../../sdk/assert.js";
import { concatBytes, toHex, utf8 } from "../../sdk/bytes.js";
import { encodeCanonical } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import { sha256 } from "../../runtime/crypto.js";
import { checkContractName } from "../../runtime/executor/runtime.js";
import type { CallOutcome, ConstitutionCall } from "../../runtime/executor/runtime.js";
import type { ConstitutionMethod } from "../../runtime/executor/constitution.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { resolveLimits } from "../../runtime/sandbox/limits.js";
import type { ExecCall } from "../execution/protocol.js";
import { ChildTx } from "./child-tx.js";
import type { DryRunReport } from "../../sdk/governance.js";
import { tableChanges } from "./dry-run.js";
import { recordDecided } from "./decided.js";
import { closedProposal, openedProposal } from "./open-proposals.js";
import {
  type Ballot,
  type BallotsRecord,
  type CompiledCode,
  type ConstitutionRecord,
  GOV,
  type MemberRecord,
  type ProposalAction,
  type ProposalRecord,
  type ProposalState,
  readTableValue,
  SINGLETON_KEY,
  tableKey,
  tableValue,
} from "./tables.js";

/** The reserved contract name of governance calls (`ExecCall.contract`). */
export const GOV_CONTRACT = "gov";

/** The governance calls the engine serves (a dry run is served by `dryRun`, as a read). */
export type GovMethod = "propose" | "vote" | "withdraw";

/** The method name of a dry run (`ExecCall.method` of a read with contract `gov`). */
export const DRY_RUN_METHOD = "dryRun";

/** `propose` arguments, as the leader prepared them (prepare.ts): actions plus their compiled code. */
export interface ProposeArgs {
  readonly actions: readonly ProposalAction[];
  /** One entry per action: its compiled code, or null. */
  readonly code: readonly (CompiledCode | null)[];
}

export interface VoteArgs {
  readonly proposalId: string;
  readonly vote: Ballot;
}

export interface WithdrawArgs {
  readonly proposalId: string;
}

/** What every governance call returns: the proposal and its state after the transaction. */
export interface GovResult {
  readonly proposalId: string;
  readonly state: ProposalState;
}

export type GovOutcome =
  | { readonly ok: true; readonly result: GovResult }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** What the engine needs from the contract runtime (ContractRuntime implements it). */
export interface ConstitutionRuntime {
  loadConstitution(bundle: string): unknown;
  /** The checked manifest of code, read in a throwaway sandbox (ContractRuntime.inspect). */
  inspect(bundle: string, kind: "contract" | "constitution"): unknown;
  executeConstitution(call: ConstitutionCall, tx: KvTx): CallOutcome;
}

const PROPOSAL_ID = /^[0-9a-f]{64}$/;
/** Longest description or error message recorded from the constitution. */
const MAX_MESSAGE_CHARS = 1024;
const ALLOWED_APPLY_PREFIX = "public:gov.";
const ENGINE_TABLES: readonly string[] = [
  GOV.proposals,
  GOV.ballots,
  GOV.decided,
  GOV.decidedCount,
  GOV.openProposals,
];

/** Context of one governance call. */
interface Call {
  readonly tx: KvTx;
  readonly txid: string;
  readonly member: string;
  readonly exec: ExecCall;
}

/** See the module comment. One per execution engine; holds the runtime by reference. */
export class ProposalEngine {
  readonly #runtime: ConstitutionRuntime;
  readonly #keepDecided: number;
  #loadedDigest: string | undefined;

  /** `options.decidedProposals`: decided proposals kept in the live tables (decided.ts). */
  constructor(runtime: ConstitutionRuntime, options: { readonly decidedProposals: number }) {
    this.#runtime = runtime;
    this.#keepDecided = options.decidedProposals;
  }

  /** Digest of the constitution loaded now (undefined before the first load). */
  get loadedDigest(): string | undefined {
    return this.#loadedDigest;
  }

  /**
   * Loads a constitution ahead of need (after a restart, or when one was committed). Throws
   * TreatyError `InvalidContract` / `Unavailable` from the runtime; the previous one stays then.
   */
  preload(record: ConstitutionRecord): void {
    if (record.digest === this.#loadedDigest) return;
    this.#runtime.loadConstitution(record.bundle);
    this.#loadedDigest = record.digest;
  }

  /**
   * Runs one governance call in `tx` as transaction `txid`. Expected failures come back as
   * `{ok: false}` (the caller abandons `tx`); bugs and storage failures are thrown.
   */
  execute(exec: ExecCall, txid: string, tx: KvTx): GovOutcome {
    try {
      const member = this.#member(tx, exec);
      const call: Call = { tx, txid, member, exec };
      switch (exec.method) {
        case "propose":
          return { ok: true, result: this.#propose(call) };
        case "vote":
          return { ok: true, result: this.#vote(call) };
        case "withdraw":
          return { ok: true, result: this.#withdraw(call) };
        default:
          throw new TreatyError(
            "UnknownMethod",
            `gov: no method ${JSON.stringify(String(exec.method)).slice(0, 80)} (propose, vote, withdraw)`,
          );
      }
    } catch (err) {
      if (err instanceof TreatyError) return { ok: false, error: { code: err.code, message: err.message } };
      throw err;
    }
  }

  /**
   * Runs a proposal (`exec.args` as prepare.ts builds it) against the state `tx` reads, as if
   * it were accepted: the caller must be an active member, validate must accept it (else
   * `ProposalInvalid`, as for `propose`), then apply runs in a sub-transaction that is abandoned,
   * under the host invariants of a real apply. Returns what apply would write (or why it would
   * fail). Writes nothing to `tx`; the caller abandons `tx` too, so nothing is recorded.
   */
  dryRun(exec: ExecCall, tx: KvTx): { ok: true; result: DryRunReport } | Extract<GovOutcome, { ok: false }> {
    try {
      const member = this.#member(tx, exec);
      // The txid the proposal would get is unknown: the next version, in view 0.
      const call: Call = { tx, txid: `0.${tx.readVersion + 1}`, member, exec };
      const args = parseProposeArgs(exec.args);
      this.#ensureConstitution(tx);
      const view = this.#validate(call, args);
      const child = new ChildTx(tx);
      const applied = this.#constitution(call, "apply", { proposal: withCode(view, args.code) }, child);
      const failure = !applied.ok
        ? prefixed("apply", applied.error)
        : this.#checkApplyWrites(call, child, true);
      if (failure !== undefined) return { ok: true, result: { applies: false, error: failure, changes: [] } };
      return {
        ok: true,
        result: { applies: true, changes: tableChanges(child.writeSet(), (m, k) => tx.get(m, k)) },
      };
    } catch (err) {
      if (err instanceof TreatyError) return { ok: false, error: { code: err.code, message: err.message } };
      throw err;
    }
  }

  #propose(call: Call): GovResult {
    const args = parseProposeArgs(call.exec.args);
    this.#ensureConstitution(call.tx);
    const view = this.#validate(call, args);
    const record: ProposalRecord = {
      proposer: call.member,
      actions: args.actions,
      code: args.code,
      state: "Open",
      createdTxid: call.txid,
    };
    openedProposal(call.tx, call.member);
    call.tx.set(GOV.proposals, tableKey(view.proposalId), tableValue(record));
    return this.#decide(call, view.proposalId, record, {});
  }

  /** The proposal's id and view; throws ProposalInvalid unless the constitution's validate accepts it. */
  #validate(call: Call, args: ProposeArgs): ProposalView {
    const proposalId = toHex(
      sha256(concatBytes(utf8.encode(`${call.txid}\n${call.member}\n`), encodeCanonical(args.actions))),
    );
    const view = { proposalId, proposer: call.member, actions: args.actions };
    const validated = this.#constitution(call, "validate", { proposal: view }, call.tx);
    if (!validated.ok) throw constitutionError("validate", validated.error);
    const verdict = validated.result as { valid?: unknown; description?: unknown } | null;
    if (verdict?.valid === false) {
      throw new TreatyError(
        "ProposalInvalid",
        clip(String(verdict.description ?? "refused by the constitution")),
      );
    }
    if (verdict?.valid !== true) {
      throw new TreatyError(
        "ContractFault",
        `constitution validate(): expected {valid: true} or {valid: false, description}, got ${describe(verdict)}`,
      );
    }
    this.#inspectCode(args);
    return view;
  }

  /**
   * Every piece of code a proposal carries must load: read its manifest in the sandbox (the only
   * place contract code runs) and check it, so a version no node can serve is refused here,
   * before anything is recorded. ProposalInvalid names the action; Unavailable (no QuickJS
   * instance ready) fails the call, to be retried.
   */
  #inspectCode(args: ProposeArgs): void {
    args.code.forEach((code, i) => {
      if (code === null) return;
      const kind = args.actions[i]!.name === "set_constitution" ? "constitution" : "contract";
      try {
        this.#runtime.inspect(code.bundle, kind);
      } catch (err) {
        if (err instanceof TreatyError && err.code !== "Unavailable") {
          throw new TreatyError("ProposalInvalid", clip(`actions[${i}].args.files: ${err.message}`));
        }
        throw err;
      }
    });
  }

  #vote(call: Call): GovResult {
    const { proposalId, vote } = parseVoteArgs(call.exec.args);
    const record = this.#openProposal(call.tx, proposalId);
    this.#ensureConstitution(call.tx);
    const key = tableKey(proposalId);
    const stored = call.tx.get(GOV.ballots, key);
    // A later ballot of the same member replaces its earlier one while the proposal is open.
    const ballots: Record<string, Ballot> = {
      ...(stored === undefined ? {} : readTableValue<BallotsRecord>(stored)),
      [call.member]: vote,
    };
    call.tx.set(GOV.ballots, key, tableValue(ballots));
    return this.#decide(call, proposalId, record, ballots);
  }

  #withdraw(call: Call): GovResult {
    const { proposalId } = parseWithdrawArgs(call.exec.args);
    const record = this.#openProposal(call.tx, proposalId);
    if (record.proposer !== call.member) {
      throw new TreatyError("Forbidden", `proposal ${proposalId}: only its proposer may withdraw it`);
    }
    return this.#finish(call, proposalId, record, "Withdrawn");
  }

  /** Resolves the proposal with `ballots`; applies it when accepted. */
  #decide(call: Call, proposalId: string, record: ProposalRecord, ballots: BallotsRecord): GovResult {
    const view = { proposalId, proposer: record.proposer, actions: record.actions };
    const resolved = this.#constitution(call, "resolve", { proposal: view, ballots }, call.tx);
    if (!resolved.ok) {
      return this.#finish(call, proposalId, record, "Failed", prefixed("resolve", resolved.error));
    }
    const outcome = resolved.result;
    if (outcome === "Open") return { proposalId, state: "Open" };
    if (outcome === "Rejected") return this.#finish(call, proposalId, record, "Rejected");
    if (outcome !== "Accepted") {
      return this.#finish(call, proposalId, record, "Failed", {
        code: "ContractFault",
        message: `constitution resolve(): expected "Open", "Accepted" or "Rejected", got ${describe(outcome)}`,
      });
    }
    const child = new ChildTx(call.tx);
    const applied = this.#constitution(call, "apply", { proposal: withCode(view, record.code) }, child);
    if (!applied.ok) {
      return this.#finish(call, proposalId, record, "Failed", prefixed("apply", applied.error));
    }
    const broken = this.#checkApplyWrites(call, child, true);
    if (broken !== undefined) return this.#finish(call, proposalId, record, "Failed", broken);
    const constitutionChanged = child.maps().includes(GOV.constitution);
    child.commitTo();
    const result = this.#finish(call, proposalId, record, "Accepted");
    if (constitutionChanged) this.#dropOpenProposals(call, proposalId);
    return result;
  }

  #finish(
    call: Call,
    proposalId: string,
    record: ProposalRecord,
    state: ProposalState,
    error?: { code: string; message: string },
  ): GovResult {
    const final: ProposalRecord = {
      ...record,
      state,
      decidedTxid: call.txid,
      ...(error !== undefined && { error: { code: error.code, message: clip(error.message) } }),
    };
    call.tx.set(GOV.proposals, tableKey(proposalId), tableValue(final));
    closedProposal(call.tx, record.proposer);
    recordDecided(call.tx, seqnoOf(call.txid), proposalId, this.#keepDecided);
    return { proposalId, state };
  }

  /** The constitution changed: every other Open proposal was written for another rule book. */
  #dropOpenProposals(call: Call, by: string): void {
    const open: Array<[string, ProposalRecord]> = [];
    for (const [key, value] of call.tx.range(GOV.proposals)) {
      const record = readTableValue<ProposalRecord>(value);
      const id = utf8.decode(key);
      if (record.state === "Open" && id !== by) open.push([id, record]);
    }
    for (const [id, record] of open) {
      this.#finish(call, id, record, "Dropped", {
        code: "ConstitutionChanged",
        message: `the constitution changed (proposal ${by}) while this proposal was open`,
      });
    }
  }

  /** Host invariants over apply's writes (see the module comment); the first problem found. */
  #checkApplyWrites(
    call: Call,
    child: ChildTx,
    probeConstitution: boolean,
  ): { code: string; message: string } | undefined {
    const refuse = (message: string) => ({ code: "InvalidContract", message: `apply: ${message}` });
    for (const { map, writes } of child.writeSet().public) {
      if (!map.startsWith(ALLOWED_APPLY_PREFIX) || ENGINE_TABLES.includes(map)) {
        return refuse(`the constitution may not write ${map}`);
      }
      for (const [keyBytes, valueBytes] of writes) {
        const key = utf8.decode(keyBytes);
        const value = valueBytes === null ? null : readTableValue<unknown>(valueBytes);
        try {
          if (map === GOV.limits && value !== null) resolveLimits(value);
          if (map === GOV.contracts && value !== null) {
            checkContractName(key);
            checkCode(value, `contract ${key}`);
            const version = (value as { version?: unknown }).version;
            if (!Number.isSafeInteger(version) || (version as number) < 1)
              return refuse(`contract ${key}: version must be a positive integer`);
            // Whatever bundle apply wrote must load on every node (prefixed: "contract x: ...").
            this.#inspectRecord(key, value as { bundle: string });
          }
          if (map === GOV.constitution) {
            if (key !== SINGLETON_KEY || value === null)
              return refuse(`the constitution table holds exactly the key "${SINGLETON_KEY}"`);
            checkCode(value, "constitution");
            this.preload(value as ConstitutionRecord);
            if (probeConstitution) {
              const refusal = this.#probeReplaceable(call, value as ConstitutionRecord, child);
              if (refusal !== undefined) return refuse(refusal);
            }
          }
        } catch (err) {
          // No QuickJS instance ready to load a new constitution: a passing condition, so the
          // whole call fails (retry) rather than the proposal.
          if (err instanceof TreatyError && err.code !== "Unavailable") return refuse(err.message);
          throw err;
        }
      }
    }
    if (child.writeSet().private.length > 0) return refuse("the constitution may not write private maps");
    return undefined;
  }

  /** A contract record's bundle loads (inspect); InvalidContract naming the contract otherwise. */
  #inspectRecord(name: string, record: { readonly bundle: string }): void {
    try {
      this.#runtime.inspect(record.bundle, "contract");
    } catch (err) {
      if (err instanceof TreatyError && err.code !== "Unavailable") {
        throw new TreatyError("InvalidContract", `contract ${name}: ${err.message}`);
      }
      throw err;
    }
  }

  /**
   * The escape hatch: members must always be able to vote their way out of a constitution. So a
   * new one is accepted only if, asked about a proposal to replace it (by itself), its validate
   * accepts it, its resolve accepts it once every active member voted for, and its apply carries
   * it out (in a throwaway sub-transaction, within the host's rules). Runs the just-loaded
   * constitution; returns why it fails the test, or undefined.
   */
  #probeReplaceable(call: Call, record: ConstitutionRecord, tx: KvTx): string | undefined {
    const view = {
      proposalId: record.digest,
      proposer: call.member,
      actions: [{ name: "set_constitution", args: { files: record.source } }],
    };
    const failed = (method: string, outcome: CallOutcome) =>
      `the new constitution could not be replaced: on a set_constitution proposal its ${method}() ${
        outcome.ok
          ? `answers ${describe(outcome.result)}`
          : `fails with ${outcome.error.code}: ${outcome.error.message}`
      }`;
    const validated = this.#constitution(call, "validate", { proposal: view }, tx);
    if (!validated.ok || (validated.result as { valid?: unknown } | null)?.valid !== true) {
      return failed("validate", validated);
    }
    const ballots: Record<string, Ballot> = {};
    for (const [key, value] of tx.range(GOV.members)) {
      if (readTableValue<MemberRecord>(value).status === "active") ballots[utf8.decode(key)] = "for";
    }
    const resolved = this.#constitution(call, "resolve", { proposal: view, ballots }, tx);
    if (!resolved.ok || resolved.result !== "Accepted") return failed("resolve (all members for)", resolved);
    const code = { digest: record.digest, bundle: record.bundle };
    const proposal = { ...view, actions: [{ ...view.actions[0]!, code }] };
    const dryRun = new ChildTx(tx);
    const applied = this.#constitution(call, "apply", { proposal }, dryRun);
    if (!applied.ok) return failed("apply", applied);
    const broken = this.#checkApplyWrites(call, dryRun, false);
    if (broken === undefined) return undefined;
    return `the new constitution could not be replaced: on a set_constitution proposal its apply() breaks a rule (${broken.message.replace(/^apply: /, "")})`;
  }

  /** The caller's member id; Forbidden unless it is an active member in this transaction's view. */
  #member(tx: KvTx, exec: ExecCall): string {
    const caller = exec.caller;
    if (caller === null || caller.role !== "member") {
      throw new TreatyError("Forbidden", "governance: only members may propose, vote or withdraw");
    }
    const stored = tx.get(GOV.members, tableKey(caller.id));
    const member = stored === undefined ? undefined : readTableValue<MemberRecord>(stored);
    if (member?.status !== "active") {
      throw new TreatyError("Forbidden", `governance: ${caller.id} is not an active member`);
    }
    return caller.id;
  }

  #openProposal(tx: KvTx, proposalId: string): ProposalRecord {
    const stored = tx.get(GOV.proposals, tableKey(proposalId));
    if (stored === undefined) throw new TreatyError("UnknownProposal", `no proposal ${proposalId}`);
    const record = readTableValue<ProposalRecord>(stored);
    if (record.state !== "Open") {
      throw new TreatyError("ProposalNotOpen", `proposal ${proposalId} is ${record.state}, not Open`);
    }
    return record;
  }

  /** Loads the constitution this transaction sees, unless it is the one loaded. */
  #ensureConstitution(tx: KvTx): void {
    const stored = tx.get(GOV.constitution, tableKey(SINGLETON_KEY));
    if (stored === undefined)
      throw new TreatyError("Unavailable", "governance: the service has no constitution");
    const record = readTableValue<ConstitutionRecord>(stored);
    try {
      this.preload(record);
    } catch (err) {
      if (err instanceof TreatyError && err.code !== "Unavailable") {
        throw new TreatyError("Unavailable", `governance: the constitution does not load (${err.message})`);
      }
      throw err;
    }
  }

  #constitution(call: Call, method: ConstitutionMethod, args: unknown, tx: KvTx): CallOutcome {
    return this.#runtime.executeConstitution(
      {
        method,
        args,
        caller: { id: call.member, role: "member" },
        txid: call.txid,
        timeMs: call.exec.timeMs,
        seed: call.exec.seed,
      },
      tx,
    );
  }
}

/** What the constitution sees of a proposal. */
interface ProposalView {
  readonly proposalId: string;
  readonly proposer: string;
  readonly actions: readonly ProposalAction[];
}

/** The view `apply` gets: actions that carry files also carry their compiled code. */
function withCode(view: ProposalView, code: readonly (CompiledCode | null)[]) {
  return {
    ...view,
    actions: view.actions.map((action, i) => {
      const compiled = code[i];
      return compiled ? { ...action, code: { digest: compiled.digest, bundle: compiled.bundle } } : action;
    }),
  };
}

/** Checks `{actions, code}` as prepare.ts builds it; ProposalInvalid names the field. */
export function parseProposeArgs(value: unknown): ProposeArgs {
  const args = value as Partial<ProposeArgs> | null;
  if (
    args === null ||
    typeof args !== "object" ||
    !Array.isArray(args.actions) ||
    !Array.isArray(args.code)
  ) {
    throw new TreatyError("ProposalInvalid", "args: expected {actions: [{name, args}]}");
  }
  if (args.code.length !== args.actions.length) {
    throw new TreatyError("ProposalInvalid", "args.code: one entry per action");
  }
  args.actions.forEach((action, i) => {
    if (action === null || typeof action !== "object" || typeof action.name !== "string") {
      throw new TreatyError("ProposalInvalid", `actions[${i}]: expected {name, args}`);
    }
    const code = args.code![i];
    if (code !== null && (typeof code?.digest !== "string" || typeof code?.bundle !== "string")) {
      throw new TreatyError("ProposalInvalid", `args.code[${i}]: expected {digest, bundle} or null`);
    }
  });
  return { actions: args.actions, code: args.code };
}

function parseVoteArgs(value: unknown): VoteArgs {
  const args = value as Partial<VoteArgs> | null;
  const proposalId = parseProposalId(args);
  if (args!.vote !== "for" && args!.vote !== "against") {
    throw new TreatyError(
      "InvalidArgs",
      `args.vote: expected "for" or "against", got ${describe(args!.vote)}`,
    );
  }
  return { proposalId, vote: args!.vote };
}

function parseWithdrawArgs(value: unknown): WithdrawArgs {
  return { proposalId: parseProposalId(value as Partial<WithdrawArgs> | null) };
}

function parseProposalId(args: { proposalId?: unknown } | null): string {
  if (args === null || typeof args !== "object")
    throw new TreatyError("InvalidArgs", "args: expected an object");
  const id = args.proposalId;
  if (typeof id !== "string") throw new TreatyError("InvalidArgs", "args.proposalId: expected a proposal id");
  if (!PROPOSAL_ID.test(id)) {
    throw new TreatyError("UnknownProposal", `no proposal ${describe(id)} (ids are 64 hex digits)`);
  }
  return id;
}

/** A code record (contract or constitution) whose digest must be the SHA-256 of its bundle. */
function checkCode(value: unknown, what: string): void {
  const record = value as { digest?: unknown; bundle?: unknown; source?: unknown } | null;
  if (record === null || typeof record !== "object" || typeof record.bundle !== "string") {
    throw new TreatyError("InvalidContract", `${what}: expected {digest, bundle, source}`);
  }
  if (record.digest !== toHex(sha256(utf8.encode(record.bundle)))) {
    throw new TreatyError("InvalidContract", `${what}: digest is not the SHA-256 of the bundle`);
  }
  if (record.source === null || typeof record.source !== "object") {
    throw new TreatyError("InvalidContract", `${what}: source must be the files it was compiled from`);
  }
}

/** A failure of a constitution call that refuses the whole request (validate). */
function constitutionError(
  method: ConstitutionMethod,
  error: { code: string; message: string },
): TreatyError {
  const { code, message } = prefixed(method, error);
  return new TreatyError(code, message);
}

function prefixed(method: ConstitutionMethod, error: { code: string; message: string }) {
  return { code: error.code, message: clip(`constitution ${method}(): ${error.message}`) };
}

function clip(message: string): string {
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message;
}

function describe(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  text ??= String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** The seqno of txid `view.seqno` (the engine's own txids: assert). */
function seqnoOf(txid: string): number {
  const seqno = Number(txid.slice(txid.indexOf(".") + 1));
  assert(Number.isSafeInteger(seqno) && seqno > 0, "a txid is view.seqno");
  return seqno;
}
