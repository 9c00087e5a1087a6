/** `treaty dev`: a local network in one command (see node/dev.ts). */
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.js";

export const devCommand: Command = {
  path: ["dev"],
  summary: "run a local Treaty network (default 3 nodes) until Ctrl-C",
  usage: `Usage: treaty dev [--nodes N] [--port BASE] [--workspace DIR]

Starts a local network with the sample contracts (log, bank, meter) deployed and the service
open, and keeps it running until Ctrl-C. Node i serves HTTP on BASE+i.
  --nodes N          1 to 7 (default 3)
  --port BASE        first HTTP port (default 8000)
  --workspace DIR    keys, service.json and node data (default ./workspace); reused if present
With nats-server installed each node is its own process; otherwise all run in this process.`,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        nodes: { type: "string", default: "3" },
        port: { type: "string", default: "8000" },
        workspace: { type: "string", default: "workspace" },
      },
      false,
    );
    const nodes = Number(values.nodes);
    const basePort = Number(values.port);
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 7) throw new UsageError("--nodes: expected 1 to 7");
    if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65535 - nodes)
      throw new UsageError("--port: expected a TCP port");
    const say = (line: string) => process.stdout.write(`${line}\n`);
    const { devInstructions, startDevNetwork } = await import("../dev.js"); // heavy: see node.ts
    const network = await startDevNetwork({ nodes, basePort, workspace: values.workspace, say });
    say(devInstructions(values.workspace, network.urls));
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    say("stopping...");
    await network.stop();
    return EXIT_OK;
  },
};
