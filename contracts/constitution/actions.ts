/**
 * The action table of the default constitution: one entry per action, each with `parse` (checks
 * the arguments with no state access, naming the field; runs in `validate` and again in `apply`)
 * and `apply` (carries the action out against the governance tables, read-write). An apply that
 * finds the state does not allow the action throws a ContractError: the node then records the
 * proposal Failed and discards every write of its apply.
 */
import { ContractError } from "treaty/contract";
import * as check from "./checks.js";
import { parseJwtIssuer } from "./jwt-issuers.js";
import {
  activeMemberCount,
  CURRENT,
  constitution,
  contracts,
  type LimitsRecord,
  type MemberRecord,
  members,
  nodeCode,
  nodes,
  recoveryShareHolderCount,
  rekey,
  jwtIssuers,
  service,
  type UserRecord,
  users,
  limits as limitsTable,
} from "./tables.js";

/** Code the node compiled from an action's `files` (deploy_contract, set_constitution). */
export interface CompiledCode {
  readonly digest: string;
  readonly bundle: string;
}

/** What apply knows besides the arguments. */
export interface ApplyContext {
  readonly proposalId: string;
  readonly proposer: string;
  /** The compiled code of this action, when it carries files. */
  readonly code: CompiledCode | undefined;
}

/** One entry of the table. `apply` receives what `parse` returned for the same arguments. */
export interface Action {
  /** Checked arguments; throws check.Invalid naming the field under `path`. */
  parse(args: unknown, path: string): unknown;
  /** Carries the action out; throws ContractError when the current state refuses it. */
  apply(parsed: unknown, context: ApplyContext): void;
}

/** Builds an entry whose `apply` is typed by what its `parse` returns. */
function action<A>(
  parse: (args: unknown, path: string) => A,
  apply: (parsed: A, context: ApplyContext) => void,
): Action {
  return { parse, apply: (parsed, context) => apply(parsed as A, context) };
}

function identity(args: unknown, path: string, extra: readonly string[]) {
  const a = check.object(args, path, ["publicKey"], ["curve", "data", ...extra]);
  const curve = check.curve(a.curve, `${path}.curve`);
  const publicKey = check.publicKey(a.publicKey, `${path}.publicKey`, curve);
  const data = a.data === undefined ? undefined : check.data(a.data, `${path}.data`);
  return { a, curve, publicKey, data, id: check.keyId(curve, publicKey) };
}

/** Arguments naming an Ethereum wallet (`{address}`) rather than a key (`{publicKey}`). */
function isWallet(args: unknown): boolean {
  return args !== null && typeof args === "object" && "address" in args;
}

/** The checked address and data of a wallet user or member. */
function wallet(a: Record<string, unknown>, path: string) {
  const address = check.ethereumAddress(a.address, `${path}.address`);
  return { address, data: a.data === undefined ? undefined : check.data(a.data, `${path}.data`) };
}

function code(context: ApplyContext): CompiledCode {
  if (context.code === undefined)
    throw new ContractError("MissingCode", "the node did not hand over the compiled code of this action");
  return context.code;
}

/**
 * Limits a proposal may set, with the ranges the runtime accepts (runtime/sandbox/limits.ts):
 * checked here so a bad value is refused when proposed, not when applied.
 */
const LIMIT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  heapBytes: [20 * 1024 * 1024, 1024 * 1024 * 1024],
  stackBytes: [16 * 1024, 256 * 1024],
  executionBudget: [10_000, 1e12],
  wallClockMs: [1, 600_000],
  maxKeyBytes: [1, 1721],
  // runtime/sandbox/limits.ts: below MAX_TX_WRITE_BYTES (960 KiB) less 2 KiB, so a value at the
  // cap always fits one ledger entry.
  maxValueBytes: [1, 980_992],
  maxResultBytes: [1, 64 * 1024 * 1024],
  maxArgsBytes: [1, 64 * 1024 * 1024],
  maxEvents: [0, 100_000],
};

const MAX_RECOVERY_THRESHOLD = 100;

/**
 * Runs a change to the members and refuses it (RecoveryShareHolders) when it takes a recovery
 * share holder away so that fewer holders remain than the recovery threshold: the next share
 * round could not be issued and, with the old round's holder gone, the service might never be
 * recovered. Lower the threshold first, in the same proposal or before. A change that adds no
 * holder and takes none (or a service below its threshold already, not made worse) passes.
 */
function keepingRecoverable(change: () => void): void {
  const before = recoveryShareHolderCount();
  change();
  const after = recoveryShareHolderCount();
  const threshold = service.get(CURRENT)?.recoveryThreshold;
  if (threshold !== undefined && after < before && after < threshold)
    throw new ContractError(
      "RecoveryShareHolders",
      `this leaves ${after} recovery share holder(s) (active members with an encryptionKey), fewer than the recovery threshold ${threshold}: lower the threshold first (set_recovery_threshold)`,
    );
}

export const ACTIONS: Readonly<Record<string, Action>> = Object.freeze({
  set_member: action(
    (args, path) => {
      if (isWallet(args)) {
        // An Ethereum wallet: recorded by address, which is also its id. It has no encryption
        // key, so it holds no recovery share (docs/identities.md, "Wallet members").
        const a = check.object(args, path, ["address"], ["data", "encryptionKey"]);
        if (a.encryptionKey !== undefined)
          check.fail(
            `${path}.encryptionKey`,
            "a wallet member holds no recovery share (its share could not be submitted with a wallet signature); make a key member the recovery member",
          );
        const { address, data } = wallet(a, path);
        const record: MemberRecord = { address, ...(data !== undefined && { data }), status: "active" };
        return { id: address, record };
      }
      const { a, id, curve, publicKey, data } = identity(args, path, ["encryptionKey"]);
      const encryptionKey =
        a.encryptionKey === undefined
          ? undefined
          : check.encryptionKey(a.encryptionKey, `${path}.encryptionKey`);
      const record: MemberRecord = {
        curve,
        publicKey,
        ...(encryptionKey !== undefined && { encryptionKey }),
        ...(data !== undefined && { data }),
        status: "active",
      };
      return { id, record };
    },
    ({ id, record }) => {
      if (users.has(id))
        throw new ContractError("RoleConflict", `${id} is a user; remove_user first to make it a member`);
      keepingRecoverable(() => members.set(id, record));
    },
  ),
  remove_member: action(
    (args, path) => check.callerId(check.object(args, path, ["id"]).id, `${path}.id`),
    (id) => {
      if (!members.has(id)) throw new ContractError("NoSuchMember", `no member ${id}`);
      if (activeMemberCount() <= 1)
        throw new ContractError("LastMember", `${id} is the last active member: the service needs one`);
      keepingRecoverable(() => members.delete(id));
    },
  ),
  rotate_member_key: action(
    (args, path) => {
      const a = check.object(args, path, ["id", "publicKey"], ["curve", "encryptionKey"]);
      const curve = check.curve(a.curve, `${path}.curve`);
      const publicKey = check.publicKey(a.publicKey, `${path}.publicKey`, curve);
      return {
        id: check.callerId(a.id, `${path}.id`),
        curve,
        publicKey,
        newId: check.keyId(curve, publicKey),
        encryptionKey:
          a.encryptionKey === undefined
            ? undefined
            : check.encryptionKey(a.encryptionKey, `${path}.encryptionKey`),
      };
    },
    ({ id, curve, publicKey, newId, encryptionKey }) => {
      const record = members.get(id);
      if (record === undefined) throw new ContractError("NoSuchMember", `no member ${id}`);
      if (!("curve" in record))
        throw new ContractError(
          "WalletMember",
          `member ${id} is a wallet, recorded by its address: it has no key to rotate (set_member the new identity, then remove_member this one)`,
        );
      if (users.has(newId)) throw new ContractError("RoleConflict", `${newId} is a user`);
      if (newId !== id && members.has(newId))
        throw new ContractError("RoleConflict", `${newId} is already a member`);
      const { encryptionKey: previous, ...rest } = record;
      const key = encryptionKey ?? previous;
      members.delete(id);
      members.set(newId, { ...rest, curve, publicKey, ...(key !== undefined && { encryptionKey: key }) });
    },
  ),
  set_user: action(
    (args, path) => {
      if (isWallet(args)) {
        // An Ethereum wallet: recorded by address, which is also its id.
        const a = check.object(args, path, ["address"], ["data"]);
        const { address, data } = wallet(a, path);
        const record: UserRecord = { address, ...(data !== undefined && { data }) };
        return { id: address, record };
      }
      const { id, curve, publicKey, data } = identity(args, path, []);
      const record: UserRecord = { curve, publicKey, ...(data !== undefined && { data }) };
      return { id, record };
    },
    ({ id, record }) => {
      if (members.has(id))
        throw new ContractError("RoleConflict", `${id} is a member; remove_member first to make it a user`);
      users.set(id, record);
    },
  ),
  remove_user: action(
    (args, path) => check.callerId(check.object(args, path, ["id"]).id, `${path}.id`),
    (id) => {
      if (!users.has(id)) throw new ContractError("NoSuchUser", `no user ${id}`);
      users.delete(id);
    },
  ),
  set_jwt_issuer: action(parseJwtIssuer, (record) => {
    // A new proposal for the same issuer replaces its audience and keys (a key refresh): nodes
    // drop every token verified with the old record.
    jwtIssuers.set(record.issuer, record);
  }),
  remove_jwt_issuer: action(
    (args, path) =>
      check.string(
        check.object(args, path, ["issuer"]).issuer,
        `${path}.issuer`,
        /^[\x21-\x7e]{1,256}$/,
        "an issuer",
      ),
    (issuer) => {
      if (!jwtIssuers.has(issuer))
        throw new ContractError("NoSuchIssuer", `no JWT issuer ${JSON.stringify(issuer)}`);
      jwtIssuers.delete(issuer);
    },
  ),
  deploy_contract: action(
    (args, path) => {
      const a = check.object(args, path, ["name", "files"]);
      return {
        name: check.contractName(a.name, `${path}.name`),
        files: check.files(a.files, `${path}.files`),
      };
    },
    ({ name, files }, context) => {
      const { digest, bundle } = code(context);
      const version = (contracts.get(name)?.version ?? 0) + 1;
      contracts.set(name, { version, digest, bundle, source: files });
    },
  ),
  remove_contract: action(
    (args, path) => check.contractName(check.object(args, path, ["name"]).name, `${path}.name`),
    (name) => {
      if (!contracts.has(name))
        throw new ContractError("NoSuchContract", `no contract ${JSON.stringify(name)}`);
      contracts.delete(name);
    },
  ),
  set_constitution: action(
    (args, path) => check.files(check.object(args, path, ["files"]).files, `${path}.files`),
    (files, context) => {
      const { digest, bundle } = code(context);
      constitution.set(CURRENT, { digest, bundle, source: files });
    },
  ),
  add_node_code: action(
    (args, path) =>
      check.measurement(check.object(args, path, ["measurement"]).measurement, `${path}.measurement`),
    (measurement) => nodeCode.set(measurement, { platform: "virtual" }),
  ),
  remove_node_code: action(
    (args, path) =>
      check.measurement(check.object(args, path, ["measurement"]).measurement, `${path}.measurement`),
    (measurement) => {
      if (!nodeCode.has(measurement))
        throw new ContractError("NoSuchNodeCode", `measurement ${measurement} is not allowed anyway`);
      nodeCode.delete(measurement);
    },
  ),
  trust_node: action(
    (args, path) => check.id(check.object(args, path, ["id"]).id, `${path}.id`),
    (id) => {
      const node = nodes.get(id);
      if (node === undefined) throw new ContractError("NoSuchNode", `no node ${id} asked to join`);
      if (node.status !== "pending")
        throw new ContractError("NodeNotPending", `node ${id} is ${node.status}, not pending`);
      if (!nodeCode.has(node.measurement))
        throw new ContractError(
          "CodeNotAllowed",
          `node ${id} runs code ${node.measurement}, which is not allowed (add_node_code first)`,
        );
      nodes.set(id, { ...node, status: "trusted" });
    },
  ),
  retire_node: action(
    (args, path) => check.id(check.object(args, path, ["id"]).id, `${path}.id`),
    (id) => {
      const node = nodes.get(id);
      if (node === undefined) throw new ContractError("NoSuchNode", `no node ${id}`);
      if (node.status !== "trusted")
        throw new ContractError("NodeNotTrusted", `node ${id} is ${node.status}, not trusted`);
      let trusted = 0;
      for (const [, other] of nodes.range()) if (other.status === "trusted") trusted++;
      if (trusted <= 1) throw new ContractError("LastNode", `node ${id} is the last trusted node`);
      nodes.set(id, { ...node, status: "retiring" });
    },
  ),
  transition_service_to_open: action(
    (args, path) => {
      check.object(args ?? {}, path, []);
      return null;
    },
    () => {
      const current = service.get(CURRENT);
      if (current === undefined) throw new ContractError("NoService", "the service record is missing");
      if (current.status === "open") throw new ContractError("AlreadyOpen", "the service is already open");
      service.set(CURRENT, { ...current, status: "open" });
    },
  ),
  trigger_ledger_rekey: action(
    (args, path) => {
      check.object(args ?? {}, path, []);
      return null;
    },
    () => {
      rekey.set(CURRENT, { requests: (rekey.get(CURRENT)?.requests ?? 0) + 1 });
    },
  ),
  set_recovery_threshold: action(
    (args, path) =>
      check.integer(
        check.object(args, path, ["threshold"]).threshold,
        `${path}.threshold`,
        1,
        MAX_RECOVERY_THRESHOLD,
      ),
    (threshold) => {
      const current = service.get(CURRENT);
      if (current === undefined) throw new ContractError("NoService", "the service record is missing");
      // k of n shares recover the service, and only members with an encryption key hold one.
      const holders = recoveryShareHolderCount();
      if (threshold > holders) {
        throw new ContractError(
          "ThresholdTooHigh",
          `threshold ${threshold} is more than the ${holders} recovery share holder(s) (active members with an encryptionKey)`,
        );
      }
      service.set(CURRENT, { ...current, recoveryThreshold: threshold });
    },
  ),
  set_auto_trust_nodes: action(
    (args, path) => check.boolean(check.object(args, path, ["enabled"]).enabled, `${path}.enabled`),
    (enabled) => {
      const current = service.get(CURRENT);
      if (current === undefined) throw new ContractError("NoService", "the service record is missing");
      service.set(CURRENT, { ...current, autoTrustNodes: enabled });
    },
  ),
  set_runtime_limits: action(
    (args, path) => {
      const given = check.object(
        check.object(args, path, ["limits"]).limits,
        `${path}.limits`,
        [],
        Object.keys(LIMIT_RANGES),
      );
      const out: LimitsRecord = {};
      for (const [key, value] of Object.entries(given)) {
        const [min, max] = LIMIT_RANGES[key]!;
        out[key] = check.integer(value, `${path}.limits.${key}`, min, max);
      }
      if (Object.keys(out).length === 0) check.fail(`${path}.limits`, "expected at least one limit");
      return out;
    },
    (changes) => {
      limitsTable.set(CURRENT, { ...(limitsTable.get(CURRENT) ?? {}), ...changes });
    },
  ),
});
