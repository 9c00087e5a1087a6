/**
 * Reading governance state from the shell: `treaty members | users | contracts | limits` (and
 * `treaty nodes`, in gov.ts, which also filters by status), as JSON like the rest of the CLI, through the SDK's read-only `Governance` (no key needed).
 * Members carry their `name` (from their `data`) next to their 64-hex id.
 */
import type { Governance } from "../../sdk/governance.js";
import type { Command } from "./command.js";
import { EXIT_OK, parseFlags, UsageError } from "./command.js";
import { answer, governance, govTarget } from "./gov.js";
import {
  printJsonTo,
  processRemoteIo,
  REMOTE_FLAGS,
  REMOTE_USAGE,
  type RemoteIo,
  reportingErrors,
} from "./status.js";

interface Table {
  readonly name: string;
  readonly summary: string;
  readonly shape: string;
  read(gov: Governance): Promise<unknown>;
}

const TABLES: readonly Table[] = [
  {
    name: "members",
    summary: "list the members (id, name, key, data)",
    shape: `{"members": [{"id", "name", "curve", "publicKey", "encryptionKey"?, "data"?, "status"}]} ("name" is
data.name, else data.org, else null; a wallet member has "address" instead of "curve" and "publicKey")`,
    read: async (gov) => ({ members: await gov.members() }),
  },
  {
    name: "users",
    summary: "list the users (id, key, data)",
    shape: `{"users": [{"id", "curve", "publicKey", "data"?}]} (a wallet user has "address" instead of "curve" and
"publicKey")`,
    read: async (gov) => ({ users: await gov.users() }),
  },
  {
    name: "contracts",
    summary: "list the deployed contracts (name, version, digest)",
    shape: `{"contracts": [{"name", "version", "digest"}]} (\`treaty contract build <dir>\` prints the
digest of a folder, to compare)`,
    read: async (gov) => ({ contracts: await gov.contracts() }),
  },
  {
    name: "limits",
    summary: "show the sandbox limits in force",
    shape: `{"heapBytes", "stackBytes", "executionBudget", "wallClockMs", ...} (governance's values, the
node's defaults for the rest)`,
    read: (gov) => gov.limits(),
  },
];

/** `treaty <table>` with its output going to `io`. */
async function runRead(table: Table, argv: string[], io: RemoteIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, REMOTE_FLAGS);
  if (positionals.length > 0) throw new UsageError(`treaty ${table.name} takes no arguments`);
  const target = govTarget(values, io);
  return reportingErrors(table.name, io, async () => {
    const gov = await governance(target, io, table.name, undefined);
    printJsonTo(io, await answer(target, table.read(gov)));
    return EXIT_OK;
  });
}

/** `treaty members|users|contracts|limits` with their output going to `io` (for tests). */
export function runGovRead(name: string, argv: string[], io: RemoteIo): Promise<number> {
  const table = TABLES.find((t) => t.name === name);
  if (table === undefined) throw new UsageError(`no governance table ${name}`);
  return runRead(table, argv, io);
}

/** The read commands, for the registry (node/cli/commands.ts). */
export const GOV_READ_COMMANDS: readonly Command[] = TABLES.map((table) => ({
  path: [table.name],
  summary: table.summary,
  usage: `Usage: treaty ${table.name} [--node <url>] [--service <file>] [--timeout <ms>]

Prints ${table.shape}.
Exit codes: 0 ok, 1 the request failed (its {"error": {"code", "message"}} is printed), 2 usage.
${REMOTE_USAGE}`,
  run: (argv: string[]) => runRead(table, argv, processRemoteIo),
}));
