/** `treaty node start`: runs one node from a config file. */
import { type Command, parseFlags, UsageError } from "./command.js";

export const nodeStartCommand: Command = {
  path: ["node", "start"],
  summary: "run a node from a config file (JSON or YAML)",
  usage: `Usage: treaty node start --config <file> [--join <service.json> | --recover <ledger> [--recover-snapshot <file>]]

Runs a Treaty node until SIGINT, SIGTERM or SIGHUP. With an empty data folder, a "genesis" section creates a
new service, and a "join" section (or --join) joins an existing one: the service file pins the
service identity key and lists node URLs to ask. "recover" (or --recover <ledger>, a surviving
node data folder or its ledger/ folder) starts a new service from a lost one's ledger: the node
waits in RecoveryShares until members submit enough shares (treaty recovery share), see
docs/recovery.md; --recover-snapshot names the committed snapshot to recover from (default: for a
ledger that starts after one, the newest usable one in the snapshots/ folder beside it).
Otherwise the node reopens its ledger.
Logs are JSON lines on stderr.
Exit codes: 0 clean stop, 1 failed start or another fatal error, 2 usage error, 70 a broken
invariant or an uncaught exception, 74 stored state found damaged (LedgerCorrupt): while running (the
data folder is then marked DAMAGED.json), or at start (a damaged LMDB file or ledger, or a data folder
holding that marker: restore the folder from a copy, or after checking delete the marker file;
docs/deploy.md, "Damaged LMDB files").`,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        config: { type: "string" },
        join: { type: "string" },
        recover: { type: "string" },
        "recover-snapshot": { type: "string" },
      },
      false,
    );
    if (!values.config) throw new UsageError("--config <file> is required");
    if (values.join !== undefined && values.recover !== undefined)
      throw new UsageError("--join and --recover exclude each other");
    if (values["recover-snapshot"] !== undefined && values.recover === undefined)
      throw new UsageError("--recover-snapshot goes with --recover");
    // Loaded here, not at the top: the node pulls in the TypeScript compiler (~2 s to load),
    // which the other `treaty` commands must not pay for.
    const { runNode } = await import("../main.js");
    const recover =
      values.recover === undefined
        ? undefined
        : { ledgerDir: values.recover, snapshotFile: values["recover-snapshot"] };
    return runNode(values.config, values.join, recover);
  },
};
