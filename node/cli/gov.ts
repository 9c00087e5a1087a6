/**
 * The governance commands: members run the consortium from the shell.
 *
 *   treaty propose <file>                    a proposal file {"actions": [{name, args}]}
 *   treaty vote <id> --for|--against         a ballot (a later one replaces the earlier)
 *   treaty withdraw <id>                     the proposer takes its proposal back
 *   treaty proposals | proposal <id>         read proposals (and wait for a decision)
 *   treaty deploy <contract-dir>             propose deploy_contract from a folder's .ts files
 *   treaty nodes [--status pending]          the service's nodes and their trust status
 *   treaty trust <node-id>                   propose trust_node for a pending node
 *   treaty constitution show | propose <dir> read or propose the constitution
 *
 * Each goes through the SDK's `Governance` (sdk/governance.ts), so the CLI takes exactly the path
 * apps take. Output is JSON on stdout; a refused or failed request prints the node's
 * `{"error": {code, message}}` and exits 1; bad flags exit 2. The node, service and timeout flags
 * are those of `treaty call` (status.ts); the key flag is options.ts's.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Client } from "../../sdk/client.js";
import { TreatyError } from "../../sdk/errors.js";
import {
  type Action,
  actions,
  checkProposal,
  FINAL_STATES,
  Governance,
  type NodeInfo,
  type ProposalResult,
  type ProposalState,
  type SourceFiles,
} from "../../sdk/governance.js";
import { keyWallet, type WalletSigner } from "../../sdk/ethereum.js";
import type { KeyPair } from "../../sdk/keys.js";
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.js";
import { readKeyFile } from "./options.js";
import { readContractFolder } from "../gov/contract-folder.js";
import {
  printJsonTo,
  processRemoteIo,
  REMOTE_FLAGS,
  REMOTE_USAGE,
  type RemoteIo,
  type RemoteTarget,
  readJsonFlag,
  remoteTarget,
  reportingErrors,
  serviceKeyOf,
} from "./status.js";

const KEY_USAGE = `  --key <file>        the member's key file (from \`treaty keygen\`); required
  --wallet            sign as the Ethereum address of the --key file (a secp256k1 key), with EIP-712:
                      for a member recorded by address (set_member {address})`;
const WAIT_USAGE = `  --wait              wait until the transaction is committed ("status": "Committed")`;
const EXIT_USAGE_TEXT = `Exit codes: 0 ok, 1 the node refused or the request failed (its {"error": {"code",
"message"}} is printed), 2 usage. Without --node, requests go to the nodes of --service in turn
(the first that answers); nodes that are down or electing a leader are retried for about 1.5 s.`;

const WRITE_FLAGS = {
  ...REMOTE_FLAGS,
  key: { type: "string" },
  wallet: { type: "boolean", default: false },
  wait: { type: "boolean", default: false },
} as const;

/**
 * Attempts per governance request on network errors and 503s (NotLeader while the nodes elect a
 * leader, Unavailable): with the SDK's doubling backoff, about 1.5 s in all. Resending is safe: a
 * retry resends the same signed bytes, so a ballot or proposal can never be recorded twice.
 */
const GOV_RETRIES = 6;

/** The parsed remote flags (`--node`, `--service`, `--timeout`). */
export type RemoteValues = {
  node?: string | undefined;
  service?: string | undefined;
  timeout?: string | undefined;
};

/** The remote target plus every node a request may go to, in order. */
interface GovTarget extends RemoteTarget {
  readonly nodes: readonly string[];
}

/**
 * Resolves the remote flags. Without --node, requests go to the nodes of --service in turn (the
 * first that answers), so one node down or a leader election does not fail a member's ballot.
 */
export function govTarget(values: RemoteValues, io: RemoteIo): GovTarget {
  const target = remoteTarget(values, io);
  const nodes =
    values.node === undefined && target.service !== undefined
      ? target.service.nodes.map((url) => url.replace(/\/+$/, ""))
      : [target.node];
  return { ...target, nodes };
}

/** A `Governance` over the target's nodes: signing with `key` for writes, read-only without. */
export async function governance(
  target: GovTarget,
  io: RemoteIo,
  command: string,
  key: KeyPair | WalletSigner | undefined,
): Promise<Governance> {
  // Writes bind the service id into the signature: the key must be the pinned one (or a warning
  // says it is not). Reads sign and verify nothing, so the node's own answer is enough for them.
  const serviceKey = await serviceKeyOf(target, io, command, { warnUnpinned: key !== undefined });
  const client = new Client({ nodes: target.nodes, serviceKey, retries: GOV_RETRIES, fetch: target.fetch });
  return new Governance(client, key);
}

/**
 * Awaits an SDK request; an answer that is not JSON (a proxy's error page, a hostile host) becomes
 * a `MalformedEncoding` TreatyError instead of a crash.
 */
export async function answer<T>(target: RemoteTarget, request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (err) {
    if (err instanceof SyntaxError)
      throw new TreatyError("MalformedEncoding", `${target.node}: the answer is not JSON (${err.message})`);
    throw err;
  }
}

function requireKey(values: { key?: string | undefined; wallet?: boolean }): KeyPair | WalletSigner {
  if (values.key === undefined) throw new UsageError("--key <member key file> is required");
  const key = readKeyFile(values.key);
  if (values.wallet !== true) return key;
  if (key.curve !== "secp256k1")
    throw new UsageError(
      `--wallet: ${values.key} is a ${key.curve} key; an Ethereum wallet key is secp256k1`,
    );
  return keyWallet(key);
}

/** Sends one write and prints its result (after its commit with --wait). */
async function write(
  command: string,
  argv: { values: { key?: string | undefined; wallet?: boolean; wait?: boolean } & RemoteValues },
  io: RemoteIo,
  send: (gov: Governance) => Promise<ProposalResult>,
): Promise<number> {
  const key = requireKey(argv.values);
  const target = govTarget(argv.values, io);
  return reportingErrors(command, io, async () => {
    const gov = await governance(target, io, command, key);
    const result = await answer(target, send(gov));
    const printed = { proposalId: result.proposalId, state: result.state, txid: result.txid };
    if (argv.values.wait) {
      await answer(target, gov.client.waitForCommit(result.txid, { timeoutMs: target.timeoutMs }));
      printJsonTo(io, { ...printed, status: "Committed" });
    } else {
      printJsonTo(io, printed);
    }
    return EXIT_OK;
  });
}

const DRY_RUN_USAGE = `  --dry-run           record nothing: run the proposal against the current state as if it
                      were accepted and print {"applies", "error"?, "changes": [{"table", "key",
                      "old", "new"}]} (the constitution's validate and apply; code records show
                      digest, version, bundleBytes and files)`;

const PROPOSE_USAGE = `Usage: treaty propose <file> --key <member key> [--wallet] [--wait] [--dry-run] [--node <url>]
                      [--service <file>] [--timeout <ms>]

Proposes the actions in <file>, a JSON proposal {"actions": [{"name": "...", "args": {...}}]},
signed by the member's key, and prints {"proposalId", "state", "txid"}. Proposing does not vote:
the proposer votes with \`treaty vote\` like every other member. The state is "Open" until the
constitution decides ("Accepted" at once if it accepts without votes).
${EXIT_USAGE_TEXT}
${KEY_USAGE}
${WAIT_USAGE}
${DRY_RUN_USAGE}
${REMOTE_USAGE}`;

/** `treaty propose` with its output going to `io`. */
export async function runPropose(argv: string[], io: RemoteIo): Promise<number> {
  const parsed = parseFlags(argv, { ...WRITE_FLAGS, "dry-run": { type: "boolean", default: false } });
  if (parsed.positionals.length !== 1) throw new UsageError("expected <file>");
  const value = readJsonFlag(parsed.positionals[0]!, "<file>");
  if (parsed.values["dry-run"]) return dryRun("propose", parsed, io, checkProposal(value).actions);
  return write("propose", parsed, io, async (gov) => gov.propose(checkProposal(value)));
}

/** Prints what `proposal` would change (Governance.dryRun); records nothing. */
async function dryRun(
  command: string,
  argv: { values: { key?: string | undefined; wallet?: boolean; wait?: boolean } & RemoteValues },
  io: RemoteIo,
  proposal: readonly Action[],
): Promise<number> {
  if (argv.values.wait) throw new UsageError("--dry-run records nothing: there is nothing to --wait for");
  const key = requireKey(argv.values);
  const target = govTarget(argv.values, io);
  return reportingErrors(command, io, async () => {
    const gov = await governance(target, io, command, key);
    printJsonTo(io, await answer(target, gov.dryRun(proposal)));
    return EXIT_OK;
  });
}

const VOTE_USAGE = `Usage: treaty vote <proposal-id> --for|--against --key <member key> [--wallet] [--wait] [--node <url>]
                   [--service <file>] [--timeout <ms>]

Casts the member's ballot on an open proposal and prints {"proposalId", "state", "txid"}: the
state after this ballot ("Accepted" when it was the deciding vote: the actions were applied in
the same transaction). While the proposal is open, a member's later ballot replaces its earlier
one. A decided proposal answers ProposalNotOpen.
${EXIT_USAGE_TEXT}
  --for | --against   the ballot (exactly one)
${KEY_USAGE}
${WAIT_USAGE}
${REMOTE_USAGE}`;

/** `treaty vote` with its output going to `io`. */
export async function runVote(argv: string[], io: RemoteIo): Promise<number> {
  const parsed = parseFlags(argv, {
    ...WRITE_FLAGS,
    for: { type: "boolean", default: false },
    against: { type: "boolean", default: false },
  });
  if (parsed.positionals.length !== 1) throw new UsageError("expected <proposal-id>");
  if (parsed.values.for === parsed.values.against)
    throw new UsageError("expected exactly one of --for and --against");
  const id = parsed.positionals[0]!;
  const vote = parsed.values.for ? "for" : "against";
  return write("vote", parsed, io, (gov) => gov.vote(id, vote));
}

const WITHDRAW_USAGE = `Usage: treaty withdraw <proposal-id> --key <member key> [--wallet] [--wait] [--node <url>]
                       [--service <file>] [--timeout <ms>]

Withdraws an open proposal (only its proposer may) and prints {"proposalId", "state":
"Withdrawn", "txid"}.
${EXIT_USAGE_TEXT}
${KEY_USAGE}
${WAIT_USAGE}
${REMOTE_USAGE}`;

/** `treaty withdraw` with its output going to `io`. */
export async function runWithdraw(argv: string[], io: RemoteIo): Promise<number> {
  const parsed = parseFlags(argv, WRITE_FLAGS);
  if (parsed.positionals.length !== 1) throw new UsageError("expected <proposal-id>");
  const id = parsed.positionals[0]!;
  return write("withdraw", parsed, io, (gov) => gov.withdraw(id));
}

const STATES: readonly ProposalState[] = ["Open", ...FINAL_STATES];

const PROPOSALS_USAGE = `Usage: treaty proposals [--state <state>] [--node <url>] [--service <file>] [--timeout <ms>]

Lists the proposals: {"proposals": [{"proposalId", "proposer", "state", "actions": [{"name"}],
"ballots": {"for": n, "against": n}}]}.
${EXIT_USAGE_TEXT}
  --state <state>     only proposals in this state (${STATES.join(", ")})
${REMOTE_USAGE}`;

/** `treaty proposals` with its output going to `io`. */
export async function runProposals(argv: string[], io: RemoteIo): Promise<number> {
  const { values } = parseFlags(argv, { ...REMOTE_FLAGS, state: { type: "string" } }, false);
  const state = values.state;
  if (state !== undefined && !STATES.includes(state as ProposalState))
    throw new UsageError(`--state: expected one of ${STATES.join(", ")}, got "${state}"`);
  const target = govTarget(values, io);
  return reportingErrors("proposals", io, async () => {
    const gov = await governance(target, io, "proposals", undefined);
    const all = await answer(target, gov.proposals());
    printJsonTo(io, { proposals: state === undefined ? all : all.filter((p) => p.state === state) });
    return EXIT_OK;
  });
}

const PROPOSAL_USAGE = `Usage: treaty proposal <proposal-id> [--wait] [--node <url>] [--service <file>] [--timeout <ms>]

Prints one proposal in full: {"proposalId", "proposer", "state", "actions", "ballots":
{<memberId>: "for"|"against"}, "names": {<memberId>: name|null}, "createdTxid", "decidedTxid"?,
"error"?} ("names": the proposer's and voters' data.name, else data.org, else null).
${EXIT_USAGE_TEXT}
  --wait              wait until the proposal is decided (any state but Open) and the deciding
                      transaction is committed, up to --timeout
${REMOTE_USAGE}`;

/** `treaty proposal` with its output going to `io`. */
export async function runProposal(argv: string[], io: RemoteIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...REMOTE_FLAGS,
    wait: { type: "boolean", default: false },
  });
  if (positionals.length !== 1) throw new UsageError("expected <proposal-id>");
  const id = positionals[0]!;
  const target = govTarget(values, io);
  return reportingErrors("proposal", io, async () => {
    const gov = await governance(target, io, "proposal", undefined);
    const detail = values.wait
      ? await answer(target, gov.waitForFinal(id, { timeoutMs: target.timeoutMs }))
      : await answer(target, gov.proposal(id));
    printJsonTo(io, detail);
    return EXIT_OK;
  });
}

/** Reads a folder's .ts sources (the loader genesis uses: one definition of "a contract folder"). */
async function sourceFolder(dir: string, what: string): Promise<SourceFiles> {
  let files: Record<string, string>;
  try {
    files = readContractFolder(dir);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
  if (Object.keys(files).length === 0) throw new UsageError(`${what}: no .ts files in ${dir}`);
  return files;
}

/** Proposes one action, or with --print only prints the proposal. */
async function proposeOne(
  command: string,
  parsed: {
    values: {
      key?: string | undefined;
      wallet?: boolean;
      wait?: boolean;
      print?: boolean;
      "dry-run"?: boolean;
    } & RemoteValues;
  },
  io: RemoteIo,
  action: Action,
): Promise<number> {
  if (parsed.values.print) {
    printJsonTo(io, { actions: [action] });
    return EXIT_OK;
  }
  if (parsed.values["dry-run"] === true) return dryRun(command, parsed, io, [action]);
  return write(command, parsed, io, (gov) => gov.propose([action]));
}

const PRINT_USAGE = `  --print             print the proposal {"actions": [...]} instead of sending it (to review it,
                      or to send it later with \`treaty propose\`); needs no --key or --node`;

const DEPLOY_USAGE = `Usage: treaty deploy <contract-dir> [--name <name>] --key <member key> [--wallet] [--wait] [--print] [--dry-run]
                     [--node <url>] [--service <file>] [--timeout <ms>]

Proposes deploy_contract with the .ts files of <contract-dir> (tests and node_modules left out)
and prints {"proposalId", "state", "txid"}. A new name deploys version 1; an existing name
upgrades the contract to the next version, keeping its state, once the proposal is accepted.
The constitution compiles the sources: a contract that does not compile is refused at once
(CompileError, with the diagnostics).
${EXIT_USAGE_TEXT}
  --name <name>       the contract's name (default: the folder's name)
${KEY_USAGE}
${WAIT_USAGE}
${PRINT_USAGE}
${DRY_RUN_USAGE}
${REMOTE_USAGE}`;

/** `treaty deploy` with its output going to `io`. */
export async function runDeploy(argv: string[], io: RemoteIo): Promise<number> {
  const parsed = parseFlags(argv, {
    ...WRITE_FLAGS,
    name: { type: "string" },
    print: { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
  });
  if (parsed.positionals.length !== 1) throw new UsageError("expected <contract-dir>");
  const dir = parsed.positionals[0]!;
  const name = parsed.values.name ?? basename(resolve(dir));
  if (name.length === 0) throw new UsageError("--name: expected a contract name");
  const files = await sourceFolder(dir, "<contract-dir>");
  return proposeOne("deploy", parsed, io, actions.deployContract(name, files));
}

const NODE_STATUSES: readonly NodeInfo["status"][] = ["pending", "trusted", "retiring", "retired"];

const NODES_USAGE = `Usage: treaty nodes [--status <status>] [--node <url>] [--service <file>] [--timeout <ms>]

Lists the service's nodes with their trust status: {"nodes": [{"id", "status", "measurement",
"url", "features"}]}. A "pending" node asked to join and waits for members to trust it (unless
the service trusts joiners automatically): propose that with \`treaty trust <id>\`. "features"
is what the node's code announced (["nonceLog"] from session 21 on, [] for older nodes).
${EXIT_USAGE_TEXT}
  --status <status>   only nodes in this status (${NODE_STATUSES.join(", ")})
${REMOTE_USAGE}`;

/** `treaty nodes` with its output going to `io`. */
export async function runNodes(argv: string[], io: RemoteIo): Promise<number> {
  const { values } = parseFlags(argv, { ...REMOTE_FLAGS, status: { type: "string" } }, false);
  const status = values.status;
  if (status !== undefined && !NODE_STATUSES.includes(status as NodeInfo["status"]))
    throw new UsageError(`--status: expected one of ${NODE_STATUSES.join(", ")}, got "${status}"`);
  const target = govTarget(values, io);
  return reportingErrors("nodes", io, async () => {
    const gov = await governance(target, io, "nodes", undefined);
    const all = await answer(target, gov.nodes());
    printJsonTo(io, { nodes: status === undefined ? all : all.filter((n) => n.status === status) });
    return EXIT_OK;
  });
}

const TRUST_USAGE = `Usage: treaty trust <node-id> --key <member key> [--wallet] [--wait] [--print] [--node <url>]
                    [--service <file>] [--timeout <ms>]

Proposes trust_node for a pending node (its id from \`treaty nodes --status pending\`) and prints
{"proposalId", "state", "txid"}; members then vote on it. Once accepted, the node receives the
service secrets, catches up with the ledger and becomes a voting member.
${EXIT_USAGE_TEXT}
${KEY_USAGE}
${WAIT_USAGE}
${PRINT_USAGE}
${REMOTE_USAGE}`;

/** `treaty trust` with its output going to `io`. */
export async function runTrust(argv: string[], io: RemoteIo): Promise<number> {
  const parsed = parseFlags(argv, { ...WRITE_FLAGS, print: { type: "boolean", default: false } });
  if (parsed.positionals.length !== 1) throw new UsageError("expected <node-id>");
  return proposeOne("trust", parsed, io, actions.trustNode(parsed.positionals[0]!));
}

const CONSTITUTION_SHOW_USAGE = `Usage: treaty constitution show [--out <dir>] [--force] [--node <url>] [--service <file>]
                                [--timeout <ms>]

Prints the constitution in force: {"digest", "source": {<path>: <text>}}. With --out, writes its
source files into <dir> instead (to edit and propose with \`treaty constitution propose\`) and
prints {"digest", "out", "files": [<path>...]}.
${EXIT_USAGE_TEXT}
  --out <dir>         write the source files here (the folder must be empty or new)
  --force             write into a non-empty folder, overwriting files of the same name
${REMOTE_USAGE}`;

/** `treaty constitution show` with its output going to `io`. */
export async function runConstitutionShow(argv: string[], io: RemoteIo): Promise<number> {
  const { values } = parseFlags(
    argv,
    { ...REMOTE_FLAGS, out: { type: "string" }, force: { type: "boolean", default: false } },
    false,
  );
  const out = values.out;
  if (out !== undefined && !values.force && existsSync(out) && readdirSync(out).length > 0)
    throw new UsageError(`--out: ${out} is not empty (use --force to write into it)`);
  const target = govTarget(values, io);
  return reportingErrors("constitution show", io, async () => {
    const gov = await governance(target, io, "constitution show", undefined);
    const constitution = await answer(target, gov.constitution());
    if (out === undefined) {
      printJsonTo(io, constitution);
      return EXIT_OK;
    }
    const files = writeSourceFiles(out, constitution.source);
    printJsonTo(io, { digest: constitution.digest, out: resolve(out), files });
    return EXIT_OK;
  });
}

/**
 * Writes source files (path → text) under `dir`. The paths come from the network: each must be a
 * plain relative path inside `dir` (no "..", no absolute path, no backslash), else nothing is
 * written and a MalformedEncoding TreatyError names it.
 */
function writeSourceFiles(dir: string, source: unknown): string[] {
  if (source === null || typeof source !== "object" || Array.isArray(source))
    throw new TreatyError("MalformedEncoding", "constitution.source: expected {<path>: <text>}");
  const entries = Object.entries(source as Record<string, unknown>);
  for (const [path, text] of entries) {
    const segments = path.split("/");
    const safe =
      typeof text === "string" &&
      path.length > 0 &&
      path.length <= 1024 &&
      !path.includes("\\") &&
      !path.includes("\0") &&
      segments.every((s) => s !== "" && s !== "." && s !== "..");
    if (!safe)
      throw new TreatyError("MalformedEncoding", `constitution.source: unsafe file ${JSON.stringify(path)}`);
  }
  const root = resolve(dir);
  for (const [path, text] of entries) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text as string);
  }
  return entries.map(([path]) => path).sort();
}

const CONSTITUTION_PROPOSE_USAGE = `Usage: treaty constitution propose <dir> --key <member key> [--wallet] [--wait] [--print] [--dry-run]
                                   [--node <url>] [--service <file>] [--timeout <ms>]

Proposes set_constitution with the .ts files of <dir> and prints {"proposalId", "state",
"txid"}. Once accepted, the new constitution decides every later proposal, and every other
proposal still open is Dropped (its meaning may have changed).
${EXIT_USAGE_TEXT}
${KEY_USAGE}
${WAIT_USAGE}
${PRINT_USAGE}
${DRY_RUN_USAGE}
${REMOTE_USAGE}`;

/** `treaty constitution propose` with its output going to `io`. */
export async function runConstitutionPropose(argv: string[], io: RemoteIo): Promise<number> {
  const parsed = parseFlags(argv, {
    ...WRITE_FLAGS,
    print: { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
  });
  if (parsed.positionals.length !== 1) throw new UsageError("expected <dir>");
  const files = await sourceFolder(parsed.positionals[0]!, "<dir>");
  return proposeOne("constitution propose", parsed, io, actions.setConstitution(files));
}

function command(
  path: readonly string[],
  summary: string,
  usage: string,
  run: (argv: string[], io: RemoteIo) => Promise<number>,
): Command {
  return { path, summary, usage, run: (argv) => run(argv, processRemoteIo) };
}

/** The governance commands, for the registry (node/cli/commands.ts). */
export const GOV_COMMANDS: readonly Command[] = [
  command(["propose"], "propose governance actions from a JSON file (member)", PROPOSE_USAGE, runPropose),
  command(["vote"], "vote for or against an open proposal (member)", VOTE_USAGE, runVote),
  command(["withdraw"], "withdraw your open proposal (member)", WITHDRAW_USAGE, runWithdraw),
  command(["proposals"], "list governance proposals", PROPOSALS_USAGE, runProposals),
  command(["proposal"], "show one proposal (and wait for its decision)", PROPOSAL_USAGE, runProposal),
  command(
    ["deploy"],
    "propose deploying or upgrading a contract from a folder (member)",
    DEPLOY_USAGE,
    runDeploy,
  ),
  command(["nodes"], "list the service's nodes and their trust status", NODES_USAGE, runNodes),
  command(["trust"], "propose trusting a pending node (member)", TRUST_USAGE, runTrust),
  command(
    ["constitution", "show"],
    "show the constitution in force",
    CONSTITUTION_SHOW_USAGE,
    runConstitutionShow,
  ),
  command(
    ["constitution", "propose"],
    "propose a new constitution from a folder (member)",
    CONSTITUTION_PROPOSE_USAGE,
    runConstitutionPropose,
  ),
];
