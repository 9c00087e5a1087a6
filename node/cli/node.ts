/** `treaty node start`: runs one node from a config file. */
import { type Command, parseFlags, UsageError } from "./command.js";

export const nodeStartCommand: Command = {
  path: ["node", "start"],
  summary: "run a node from a config file (JSON or YAML)",
  usage: `Usage: treaty node start --config <file> [--join <service.json>]

Runs a Treaty node until SIGINT, SIGTERM or SIGHUP. With an empty data folder, a "genesis" section creates a
new service, and a "join" section (or --join) joins an existing one: the service file pins the
service identity key and lists node URLs to ask. Otherwise the node reopens its ledger.
Logs are JSON lines on stderr.
Exit codes: 0 clean stop, 1 fatal error, 2 usage error.`,
  async run(argv) {
    const { values } = parseFlags(argv, { config: { type: "string" }, join: { type: "string" } }, false);
    if (!values.config) throw new UsageError("--config <file> is required");
    // Loaded here, not at the top: the node pulls in the TypeScript compiler (~2 s to load),
    // which the other `treaty` commands must not pay for.
    const { runNode } = await import("../main.js");
    return runNode(values.config, values.join);
  },
};
