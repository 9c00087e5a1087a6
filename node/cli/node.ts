/** `treaty node start`: runs one node from a config file. */
import { runNode } from "../main.js";
import { type Command, parseFlags, UsageError } from "./command.js";

export const nodeStartCommand: Command = {
  path: ["node", "start"],
  summary: "run a node from a config file (JSON or YAML)",
  usage: `Usage: treaty node start --config <file>

Runs a Treaty node until SIGINT/SIGTERM. With an empty data folder and a "genesis" section the
node creates a new service; otherwise it reopens its ledger. Logs are JSON lines on stderr.
Exit codes: 0 clean stop, 1 fatal error, 2 usage error.`,
  async run(argv) {
    const { values } = parseFlags(argv, { config: { type: "string" } }, false);
    if (!values.config) throw new UsageError("--config <file> is required");
    return runNode(values.config);
  },
};
