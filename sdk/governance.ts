/**
 * Governance helpers: how a member runs the consortium from code. A `Governance` wraps a `Client`
 * (which node, which pinned service) and a member's key: it signs proposals, ballots and
 * withdrawals as `/gov/...` requests and reads the governance tables. `actions` builds each
 * action of the default constitution with its argument types. Browser-safe: no node:* imports.
 *
 * The rules themselves live in the constitution on the network, not here: this module never
 * decides whether a proposal is valid or accepted; it only sends what the member asks and reports
 * what the service answers (`ProposalInvalid`, `ProposalNotOpen`, `Forbidden`, ... as
 * `TreatyError`s with the node's code and message).
 *
 * @example
 *   const gov = new Governance(new Client({ nodes, serviceKey }), member0);
 *   const { proposalId } = await gov.propose([actions.setUser(newUser)]);
 *   await new Governance(client, member1).vote(proposalId, "for");
 *   const final = await gov.waitForFinal(proposalId); // final.state === "Accepted"
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, toHex, utf8 } from "./bytes.js";
import type { Client } from "./client.js";
import { encodeCanonical } from "./codec.js";
import { isTreatyError, TreatyError } from "./errors.js";
import { signWalletRequest, type WalletSigner } from "./ethereum.js";
import type { Curve, KeyPair, PublicKey } from "./keys.js";
import { type SignedRequest, signRequest } from "./request.js";

/** Where a proposal is in its life. Every state but `Open` is final. */
export type ProposalState = "Open" | "Accepted" | "Rejected" | "Withdrawn" | "Failed" | "Dropped";

/** The final proposal states: once there, a proposal never changes again. */
export const FINAL_STATES: readonly ProposalState[] = Object.freeze([
  "Accepted",
  "Rejected",
  "Withdrawn",
  "Failed",
  "Dropped",
]);

/** A member's ballot. While a proposal is open, a member's later ballot replaces its earlier one. */
export type Vote = "for" | "against";

/** The identity arguments of `set_member` and `set_user`: hex public key and its curve. */
export interface IdentityArgs {
  /** The public key in hex, as in the `publicKey` field of a `treaty keygen` key file. */
  readonly publicKey: string;
  /** Default "ed25519". */
  readonly curve?: Curve;
  /** Free-form JSON kept with the identity (e.g. an organisation name). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * `set_user` or `set_member` for an Ethereum wallet: its address (0x, 40 lowercase hex digits) is
 * its id. A wallet member takes no `encryptionKey`: it holds no recovery share.
 */
export interface WalletArgs {
  readonly address: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * `set_jwt_issuer` arguments: a trusted JWT issuer (its tokens' `iss`), the audience(s) a token
 * must name, and its public signature keys as a JWKS (RSA, EC P-256/P-384 or Ed25519 JWKs, each
 * with a unique `kid`; no private members). A new proposal for the same issuer replaces them.
 */
export interface JwtIssuerArgs {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  readonly jwks: { readonly keys: readonly Readonly<Record<string, unknown>>[] };
  readonly data?: Readonly<Record<string, unknown>>;
}

/** `set_member` arguments: an identity plus the x25519 key (hex) recovery shares are sealed to. */
export interface MemberArgs extends IdentityArgs {
  readonly encryptionKey?: string;
}

/**
 * Sandbox limits a `set_runtime_limits` action may change (any subset). Mirrors the runtime's
 * `SandboxLimits`; the constitution checks each value's range.
 */
export interface RuntimeLimits {
  readonly heapBytes?: number;
  readonly stackBytes?: number;
  readonly executionBudget?: number;
  readonly wallClockMs?: number;
  readonly maxKeyBytes?: number;
  readonly maxValueBytes?: number;
  readonly maxResultBytes?: number;
  readonly maxArgsBytes?: number;
  readonly maxEvents?: number;
}

/** Source files of a contract or constitution: path relative to the folder root → TypeScript text. */
export type SourceFiles = Readonly<Record<string, string>>;

/** The arguments of every action of the default constitution, by action name. */
export interface ActionArgs {
  set_member: MemberArgs | WalletArgs;
  remove_member: { readonly id: string };
  set_user: IdentityArgs | WalletArgs;
  remove_user: { readonly id: string };
  set_jwt_issuer: JwtIssuerArgs;
  remove_jwt_issuer: { readonly issuer: string };
  deploy_contract: { readonly name: string; readonly files: SourceFiles };
  remove_contract: { readonly name: string };
  set_constitution: { readonly files: SourceFiles };
  add_node_code: { readonly measurement: string };
  remove_node_code: { readonly measurement: string };
  trust_node: { readonly id: string };
  retire_node: { readonly id: string };
  transition_service_to_open: Readonly<Record<string, never>>;
  set_recovery_threshold: { readonly threshold: number };
  set_auto_trust_nodes: { readonly enabled: boolean };
  trigger_ledger_rekey: Record<string, never>;
  rotate_member_key: {
    readonly id: string;
    readonly publicKey: string;
    readonly curve?: Curve;
    readonly encryptionKey?: string;
  };
  set_runtime_limits: { readonly limits: RuntimeLimits };
}

/** The name of an action of the default constitution. */
export type ActionName = keyof ActionArgs;

/** One action of the default constitution, typed by name. */
export type GovAction = {
  readonly [N in ActionName]: { readonly name: N; readonly args: ActionArgs[N] };
}[ActionName];

/**
 * Any action, for constitutions that define actions of their own; the constitution checks it.
 * `GovAction`s are `Action`s.
 */
export interface Action {
  readonly name: string;
  readonly args: unknown;
}

/** A proposal as members write it (and as `treaty propose` reads it from a file). */
export interface Proposal {
  readonly actions: readonly Action[];
}

/** What a proposal, a ballot or a withdrawal returns: the proposal's state after that transaction. */
export interface ProposalResult {
  readonly proposalId: string;
  readonly state: ProposalState;
  /** The transaction that recorded it ("view.seqno"): `client.waitForCommit(txid)` waits for it. */
  readonly txid: string;
}

/** One row of `proposals()`: ballots are counted, actions named. */
export interface ProposalSummary {
  readonly proposalId: string;
  /** The proposing member's id. */
  readonly proposer: string;
  readonly state: ProposalState;
  readonly actions: readonly { readonly name: string }[];
  readonly ballots: { readonly for: number; readonly against: number };
}

/** A proposal in full (`proposal(id)`). */
export interface ProposalDetail {
  readonly proposalId: string;
  readonly proposer: string;
  readonly state: ProposalState;
  /** The actions as proposed; those that carry files also give the digest of their compiled code. */
  readonly actions: readonly (Action & { readonly digest?: string })[];
  /** Member id → that member's current ballot. */
  readonly ballots: Readonly<Record<string, Vote>>;
  /** The transaction that created the proposal. */
  readonly createdTxid: string;
  /** The transaction that moved it to its final state (absent while Open). */
  readonly decidedTxid?: string;
  /** Why it Failed (apply threw) or was Dropped. */
  readonly error?: { readonly code: string; readonly message: string };
  /** The proposer's and voters' names (`data.name`, else `data.org`; null without one), by id. */
  readonly names?: Readonly<Record<string, string | null>>;
}

/** One key a proposal would set or delete (`dryRun`); `old`/`new` are null when absent. */
export interface TableChange {
  /** The governance table: `members`, `users`, `contracts`, `constitution`, `nodes`, `limits`... */
  readonly table: string;
  readonly key: string;
  /** Code records (contracts, constitution) show `digest`, `version`, `bundleBytes` and `files`. */
  readonly old: unknown;
  readonly new: unknown;
}

/** What a proposal would do if accepted now (`dryRun`). Nothing of it is recorded. */
export interface DryRunReport {
  /** False when apply would fail: the proposal would then be recorded Failed with `error`. */
  readonly applies: boolean;
  readonly error?: { readonly code: string; readonly message: string };
  /** Every governance table key apply would write, with the values before and after. */
  readonly changes: readonly TableChange[];
}

/**
 * A member as the service records it: a key (`id` is the `keyId` of its public key) or an
 * Ethereum wallet (`address`, which is also its `id`).
 */
export type MemberInfo = {
  readonly id: string;
  /** `data.name`, else `data.org`, when a string; else null. */
  readonly name: string | null;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly status: string;
} & (
  | { readonly curve: Curve; readonly publicKey: string; readonly encryptionKey?: string }
  | { readonly address: string }
);

/** A user as the service records it: a key, or an Ethereum wallet by `address` (its `id`). */
export type UserInfo = {
  readonly id: string;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly status?: string;
} & ({ readonly curve: Curve; readonly publicKey: string } | { readonly address: string });

/** A deployed contract: `version` grows by one with every upgrade; `digest` is its bundle's SHA-256. */
export interface ContractInfo {
  readonly name: string;
  readonly version: number;
  readonly digest: string;
}

/** A deployed contract with the sources it was compiled from. */
export interface ContractDetail extends ContractInfo {
  readonly source: SourceFiles;
}

/** The constitution in force: its digest and its source. */
export interface ConstitutionInfo {
  readonly digest: string;
  readonly source: SourceFiles;
}

/** A node of the service: `pending` until trusted by governance, `retired` once retired. */
export interface NodeInfo {
  readonly id: string;
  readonly status: "pending" | "trusted" | "retiring" | "retired";
  readonly measurement: string;
  readonly url: string | null;
  /**
   * What the node's code announced when its record was made (`nonceLog`: it reads the one-row
   * replay protection); empty for a node of a version before session 21 (docs/deploy.md), and
   * absent when a node of such a version answers.
   */
  readonly features?: readonly string[];
}

/** The service record: `opening` until members vote `transition_service_to_open`. */
export interface ServiceInfo {
  readonly status: "opening" | "open" | "recovering";
  /** The service identity public key (hex). */
  readonly identity: string;
  readonly recoveryThreshold: number;
  /** Joining nodes are trusted without a `trust_node` vote (a development policy). */
  readonly autoTrustNodes: boolean;
}

/** Options of `waitForFinal`. */
export interface WaitOptions {
  /** Give up after this long with a `Timeout` TreatyError (default 30 s). */
  readonly timeoutMs?: number;
  /** First poll interval; it doubles up to 500 ms (default 20). */
  readonly pollMs?: number;
  /** Also wait until the deciding transaction is committed (default true). */
  readonly committed?: boolean;
}

const MAX_POLL_MS = 500;

function identity(who: PublicKey | IdentityArgs, data?: Readonly<Record<string, unknown>>): IdentityArgs {
  // Copy only the public fields: a KeyPair passed here must never carry its private key along.
  if (typeof who.publicKey !== "string") {
    const key = who as PublicKey;
    return { publicKey: toHex(key.publicKey), curve: key.curve, ...(data !== undefined && { data }) };
  }
  const args = who as IdentityArgs;
  const kept = data ?? args.data;
  return {
    publicKey: args.publicKey,
    ...(args.curve !== undefined && { curve: args.curve }),
    ...(kept !== undefined && { data: kept }),
  };
}

/**
 * Builders for every action of the default constitution, typed by their arguments. They only
 * shape data: the constitution validates the arguments when the proposal is made.
 *
 * A member or user is given either as a key (a `PublicKey` or `KeyPair`: only the curve and
 * public key are used) or as `IdentityArgs` with the hex public key of its key file.
 *
 * @example
 *   const proposal = [
 *     actions.setMember(newMember, { org: "Contoso" }),
 *     actions.setUser({ publicKey: keyFile.publicKey, curve: keyFile.curve }),
 *     actions.deployContract("escrow", { "index.ts": source }),
 *     actions.transitionServiceToOpen(),
 *   ];
 */
export const actions = Object.freeze({
  /** `set_member`: add a member (or update its data/encryption key). */
  setMember(
    who: PublicKey | MemberArgs,
    data?: Readonly<Record<string, unknown>>,
    encryptionKey?: string,
  ): GovAction {
    const args: MemberArgs = identity(who, data);
    const key = encryptionKey ?? (who as MemberArgs).encryptionKey;
    return { name: "set_member", args: key === undefined ? args : { ...args, encryptionKey: key } };
  },
  /**
   * `rotate_member_key`: member `id` signs with a new key from now on (its id becomes the new
   * key's id; data and ballots' history stay); optionally with a new encryption key. Recovery
   * shares are issued again, so no share stays sealed to a retired key.
   */
  rotateMemberKey(id: string, newKey: PublicKey, encryptionKey?: string): GovAction {
    return {
      name: "rotate_member_key",
      args: {
        id,
        publicKey: toHex(newKey.publicKey),
        curve: newKey.curve,
        ...(encryptionKey !== undefined && { encryptionKey }),
      },
    };
  },
  /** `remove_member`: remove the member with this id; the majority is counted without it from then on. */
  removeMember(id: string): GovAction {
    return { name: "remove_member", args: { id } };
  },
  /**
   * `set_member` for an Ethereum wallet, recorded by address: it proposes, votes and withdraws
   * with EIP-191 or EIP-712 signed requests (`new Governance(client, walletSigner)`). It holds no
   * recovery share (it has no encryption key), and `rotate_member_key` does not apply to it.
   */
  setWalletMember(address: string, data?: Readonly<Record<string, unknown>>): GovAction {
    return {
      name: "set_member",
      args: { address: address.toLowerCase(), ...(data !== undefined && { data }) },
    };
  },
  /** `set_user`: add a user (or update its data). */
  setUser(who: PublicKey | IdentityArgs, data?: Readonly<Record<string, unknown>>): GovAction {
    return { name: "set_user", args: identity(who, data) };
  },
  /**
   * `set_user` for an Ethereum wallet, recorded by address: it calls with EIP-191 or EIP-712
   * signed requests (a `Client` with `wallet`, docs/identities.md), and `caller().id` is its
   * address.
   */
  setWalletUser(address: string, data?: Readonly<Record<string, unknown>>): GovAction {
    return {
      name: "set_user",
      args: { address: address.toLowerCase(), ...(data !== undefined && { data }) },
    };
  },
  /** `remove_user`: remove the user with this id. */
  removeUser(id: string): GovAction {
    return { name: "remove_user", args: { id } };
  },
  /**
   * `set_jwt_issuer`: trust bearer tokens from `issuer` for `audience`, signed by a key of `jwks`
   * (embedded in the proposal: nodes never fetch keys). A later proposal for the same issuer
   * refreshes its keys; tokens signed by a dropped key are refused from then on.
   */
  setJwtIssuer(
    issuer: string,
    audience: string | readonly string[],
    jwks: JwtIssuerArgs["jwks"],
    data?: Readonly<Record<string, unknown>>,
  ): GovAction {
    return {
      name: "set_jwt_issuer",
      args: { issuer, audience, jwks, ...(data !== undefined && { data }) },
    };
  },
  /** `remove_jwt_issuer`: stop trusting bearer tokens from `issuer`. */
  removeJwtIssuer(issuer: string): GovAction {
    return { name: "remove_jwt_issuer", args: { issuer } };
  },
  /**
   * `deploy_contract`: deploy contract `name` from its source files, or upgrade it (a new version;
   * its state is kept). The constitution compiles the sources and rejects the proposal on errors.
   */
  deployContract(name: string, files: SourceFiles): GovAction {
    return { name: "deploy_contract", args: { name, files: { ...files } } };
  },
  /** `remove_contract`: stop serving contract `name` (its state stays in the ledger). */
  removeContract(name: string): GovAction {
    return { name: "remove_contract", args: { name } };
  },
  /** `set_constitution`: replace the constitution; every other open proposal is Dropped. */
  setConstitution(files: SourceFiles): GovAction {
    return { name: "set_constitution", args: { files: { ...files } } };
  },
  /** `add_node_code`: allow nodes running code with this measurement (hex) to join. */
  addNodeCode(measurement: string): GovAction {
    return { name: "add_node_code", args: { measurement } };
  },
  /** `remove_node_code`: no longer allow this code measurement. */
  removeNodeCode(measurement: string): GovAction {
    return { name: "remove_node_code", args: { measurement } };
  },
  /** `trust_node`: trust a pending node (it receives the service secrets and joins consensus). */
  trustNode(id: string): GovAction {
    return { name: "trust_node", args: { id } };
  },
  /** `retire_node`: remove a node from consensus. */
  retireNode(id: string): GovAction {
    return { name: "retire_node", args: { id } };
  },
  /** `transition_service_to_open`: let users call contracts. */
  transitionServiceToOpen(): GovAction {
    return { name: "transition_service_to_open", args: {} };
  },
  /**
   * `trigger_ledger_rekey`: a new ledger secret version encrypts private writes from then on
   * (older versions stay readable); recovery shares are issued again.
   */
  triggerLedgerRekey(): GovAction {
    return { name: "trigger_ledger_rekey", args: {} };
  },
  /**
   * `set_recovery_threshold`: how many members' shares recover the service; at most the share
   * holders (active members with an encryption key), else the proposal fails `ThresholdTooHigh`.
   */
  setRecoveryThreshold(threshold: number): GovAction {
    return { name: "set_recovery_threshold", args: { threshold } };
  },
  /**
   * `set_auto_trust_nodes`: the service's trust policy for joining nodes. With `true`, whichever
   * node leads trusts a node that asks to join (and runs allowed code) without a vote: for
   * development networks only.
   */
  setAutoTrustNodes(enabled: boolean): GovAction {
    return { name: "set_auto_trust_nodes", args: { enabled } };
  },
  /** `set_runtime_limits`: change sandbox limits (the fields given; the others stay). */
  setRuntimeLimits(limits: RuntimeLimits): GovAction {
    return { name: "set_runtime_limits", args: { limits: { ...limits } } };
  },
});

/**
 * Checks that `value` has the shape of a proposal, `{actions: [{name, args}, ...]}`, before it is
 * sent. Throws `ProposalInvalid` naming the field. Action names and arguments are left to the
 * constitution on the service, which owns the action table (a new constitution may add actions).
 *
 * @example
 *   const proposal = checkProposal(JSON.parse(text)); // from a proposal file
 */
export function checkProposal(value: unknown): Proposal {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TreatyError("ProposalInvalid", "proposal: expected an object {actions: [{name, args}]}");
  for (const key of Object.keys(value))
    if (key !== "actions") throw new TreatyError("ProposalInvalid", `proposal.${key}: unknown field`);
  const list = (value as { actions?: unknown }).actions;
  if (!Array.isArray(list) || list.length === 0)
    throw new TreatyError("ProposalInvalid", "proposal.actions: expected a non-empty array of {name, args}");
  for (const [i, action] of list.entries()) {
    if (action === null || typeof action !== "object" || Array.isArray(action))
      throw new TreatyError("ProposalInvalid", `proposal.actions[${i}]: expected an object {name, args}`);
    const a = action as Record<string, unknown>;
    for (const key of Object.keys(a))
      if (key !== "name" && key !== "args")
        throw new TreatyError("ProposalInvalid", `proposal.actions[${i}].${key}: unknown field`);
    if (typeof a.name !== "string" || a.name.length === 0)
      throw new TreatyError("ProposalInvalid", `proposal.actions[${i}].name: expected a non-empty string`);
  }
  return {
    actions: list.map((a: { name: string; args?: unknown }) => ({ name: a.name, args: a.args ?? {} })),
  };
}

/**
 * A member's view of governance on one service. Reads need only the client; writes (propose,
 * vote, withdraw) are signed by `member`: an active member's key, or the `WalletSigner` of a
 * member recorded by address (otherwise the service answers `Forbidden`). Requests use the
 * client's nodes, pinned service and retry rules: a retried write resends the same signed bytes,
 * so it can never be recorded twice.
 *
 * Ownership: holds references to `client` and `member`; never copies the private key.
 *
 * @example
 *   const gov = new Governance(client, member0);
 *   const { proposalId } = await gov.propose([actions.transitionServiceToOpen()]);
 *   await gov.vote(proposalId, "for");
 *   console.log((await gov.waitForFinal(proposalId)).state); // "Accepted" once a majority voted for
 */
export class Governance {
  /** The client requests go through (its nodes, pinned service key and retry rules). */
  readonly client: Client;
  readonly #key: KeyPair | WalletSigner | undefined;

  constructor(client: Client, member?: KeyPair | WalletSigner) {
    this.client = client;
    this.#key = member;
  }

  /** The signing member's id (a wallet's is its lowercase address), or undefined for a read-only Governance. */
  get memberId(): string | undefined {
    const key = this.#key;
    if (key === undefined) return undefined;
    return "address" in key ? key.address.toLowerCase() : key.id;
  }

  /** A request to `path` signed by the member. */
  #sign(key: KeyPair | WalletSigner, path: string, args: unknown): Promise<SignedRequest> {
    return "address" in key
      ? signWalletRequest(key, this.client.serviceId, path, args)
      : Promise.resolve(signRequest(key, this.client.serviceId, path, args));
  }

  /**
   * Proposes `actions` (an array, or a whole `Proposal`). Proposing does not vote: the proposer
   * votes like everyone else. The state returned is usually "Open"; a constitution that accepts
   * without votes may return "Accepted" at once. Throws `ProposalInvalid` (or `CompileError` for
   * a contract that does not compile) with the constitution's message.
   * @example
   *   const { proposalId, state } = await gov.propose([actions.removeUser(userId)]);
   */
  async propose(proposal: readonly Action[] | Proposal): Promise<ProposalResult> {
    const list = isActionList(proposal) ? proposal : proposal.actions;
    const actions = list.map((a) => ({ name: a.name, args: a.args }));
    // The node names a proposal after the transaction that records it (node/gov/engine.ts).
    const idOf = (txid: string) =>
      toHex(sha256(concatBytes(utf8.encode(`${txid}\n${this.memberId}\n`), encodeCanonical(actions))));
    return this.#write("/gov/proposals", { actions }, idOf);
  }

  /**
   * Runs a proposal against the service's current state as if it were accepted now, and
   * returns what it would change, recording nothing (no proposal, no ledger entry): the
   * constitution's validate (a refusal throws `ProposalInvalid`, a contract that does not
   * compile `CompileError`, as `propose` would), then its apply in a sub-transaction that is
   * thrown away. Needs a member key; any node answers.
   * @example
   *   const { applies, changes } = await gov.dryRun([actions.setUser(appKey, { name: "App" })]);
   *   // changes: [{ table: "users", key: "<id>", old: null, new: { curve, publicKey, data } }]
   */
  async dryRun(proposal: readonly Action[] | Proposal): Promise<DryRunReport> {
    if (this.#key === undefined)
      throw new TypeError("Governance: a dry run needs a member key: new Governance(client, key)");
    const list = isActionList(proposal) ? proposal : proposal.actions;
    const args = { actions: list.map((a) => ({ name: a.name, args: a.args })) };
    return this.client.post<DryRunReport>(await this.#sign(this.#key, "/gov/proposals/dry-run", args));
  }

  /**
   * Votes on an open proposal. A later ballot of the same member replaces its earlier one while the
   * proposal is open. Returns the state after this ballot ("Accepted" when it was the deciding
   * one: the actions were applied in the same transaction). Throws `ProposalNotOpen` on a decided
   * proposal and `UnknownProposal` on an unknown id.
   * @example
   *   const { state } = await gov.vote(proposalId, "against");
   */
  async vote(proposalId: string, vote: Vote): Promise<ProposalResult> {
    if (vote !== "for" && vote !== "against")
      throw new TypeError(`vote: expected "for" or "against", got ${JSON.stringify(vote)}`);
    return this.#write(`${proposalPath(proposalId)}/ballots`, { vote }, () => proposalId);
  }

  /**
   * Withdraws an open proposal (only its proposer may). Throws `Forbidden` for another member,
   * `ProposalNotOpen` once decided.
   * @example
   *   await gov.withdraw(proposalId); // {state: "Withdrawn", ...}
   */
  async withdraw(proposalId: string): Promise<ProposalResult> {
    return this.#write(`${proposalPath(proposalId)}/withdraw`, {}, () => proposalId);
  }

  /** Every proposal with its state and ballot counts. */
  async proposals(): Promise<ProposalSummary[]> {
    return (await this.client.get<{ proposals: ProposalSummary[] }>("/gov/proposals")).proposals;
  }

  /** One proposal in full; `UnknownProposal` for an unknown id. */
  async proposal(proposalId: string): Promise<ProposalDetail> {
    return this.client.get<ProposalDetail>(proposalPath(proposalId));
  }

  /** The members. */
  async members(): Promise<MemberInfo[]> {
    return (await this.client.get<{ members: MemberInfo[] }>("/gov/members")).members;
  }

  /** The users. */
  async users(): Promise<UserInfo[]> {
    return (await this.client.get<{ users: UserInfo[] }>("/gov/users")).users;
  }

  /** The trusted JWT issuers with their audiences and keys (`set_jwt_issuer`). */
  async jwtIssuers(): Promise<JwtIssuerArgs[]> {
    return (await this.client.get<{ issuers: JwtIssuerArgs[] }>("/gov/jwt_issuers")).issuers;
  }

  /** The deployed contracts with their versions and digests. */
  async contracts(): Promise<ContractInfo[]> {
    return (await this.client.get<{ contracts: ContractInfo[] }>("/gov/contracts")).contracts;
  }

  /** One deployed contract with its sources; `UnknownContract` when none has this name. */
  async contract(name: string): Promise<ContractDetail> {
    return this.client.get<ContractDetail>(`/gov/contracts/${encodeURIComponent(name)}`);
  }

  /** The constitution in force. */
  constitution(): Promise<ConstitutionInfo> {
    return this.client.get<ConstitutionInfo>("/gov/constitution");
  }

  /** The nodes with their trust status. */
  async nodes(): Promise<NodeInfo[]> {
    return (await this.client.get<{ nodes: NodeInfo[] }>("/gov/nodes")).nodes;
  }

  /** The service record (status, identity, recovery threshold). */
  service(): Promise<ServiceInfo> {
    return this.client.get<ServiceInfo>("/gov/service");
  }

  /** The sandbox limits in force. */
  limits(): Promise<Required<RuntimeLimits>> {
    return this.client.get<Required<RuntimeLimits>>("/gov/limits");
  }

  /**
   * Polls until the proposal is in a final state and returns it; by default also waits until the
   * deciding transaction is committed, so what it did can no longer be rolled back. Throws
   * `Timeout` after `timeoutMs`, `UnknownProposal` for an unknown id.
   * @example
   *   const { state, error } = await gov.waitForFinal(proposalId, { timeoutMs: 10_000 });
   */
  async waitForFinal(proposalId: string, options: WaitOptions = {}): Promise<ProposalDetail> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let pollMs = options.pollMs ?? 20;
    for (;;) {
      let detail: ProposalDetail;
      try {
        detail = await this.proposal(proposalId);
      } catch (err) {
        // Reads serve committed state: until the proposal's transaction commits, it is unknown.
        if (!isTreatyError(err, "UnknownProposal") || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        continue;
      }
      if (FINAL_STATES.includes(detail.state)) {
        if ((options.committed ?? true) && detail.decidedTxid !== undefined) {
          await this.client.waitForCommit(detail.decidedTxid, {
            timeoutMs: Math.max(1, deadline - Date.now()),
          });
        }
        return detail;
      }
      if (Date.now() > deadline)
        throw new TreatyError(
          "Timeout",
          `proposal ${proposalId}: still ${detail.state} after ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  }

  /**
   * Sends a signed governance write. A `Replay` answer means an earlier attempt of these same
   * bytes ran (its answer was lost, e.g. a node slower than the HTTP timeout, and the client
   * resent): once that attempt's transaction is committed (`TxNotCommitted` when it never will),
   * the proposal it touched (`proposalIdOf` its txid) is read back instead of failing.
   */
  async #write(path: string, args: unknown, proposalIdOf: (txid: string) => string): Promise<ProposalResult> {
    if (this.#key === undefined)
      throw new TypeError(
        "Governance: proposals, ballots and withdrawals need a member key: new Governance(client, key)",
      );
    try {
      return await this.client.post<ProposalResult>(await this.#sign(this.#key, path, args));
    } catch (err) {
      const txid = isTreatyError(err, "Replay") ? err.details?.txid : undefined;
      if (typeof txid !== "string") throw err;
      const proposalId = proposalIdOf(txid);
      const deadline = Date.now() + REPLAY_LOOKUP_MS;
      // Reads serve committed state, and the first attempt's transaction may not have committed
      // yet: read before it does and a ballot's proposal still shows as Open (TxNotCommitted when
      // it never will).
      await this.client.waitForCommit(txid, { timeoutMs: REPLAY_LOOKUP_MS });
      for (;;) {
        try {
          return { proposalId, state: (await this.proposal(proposalId)).state, txid };
        } catch (lookup) {
          // Another node may answer the read, whose commit point is behind this one's.
          if (!isTreatyError(lookup, "UnknownProposal") || Date.now() > deadline) throw lookup;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
  }
}

/** How long a replayed write waits for its proposal to show on the answering node. */
const REPLAY_LOOKUP_MS = 30_000;

function isActionList(value: readonly Action[] | Proposal): value is readonly Action[] {
  return Array.isArray(value);
}

function proposalPath(proposalId: string): string {
  if (typeof proposalId !== "string" || proposalId.length === 0)
    throw new TypeError(`proposalId: expected a non-empty string, got ${JSON.stringify(proposalId)}`);
  return `/gov/proposals/${encodeURIComponent(proposalId)}`;
}
