/** `treaty dev`: a local network in one command (see node/dev.ts). */
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.js";

const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export const devCommand: Command = {
  path: ["dev"],
  summary: "run a local Treaty network (default 3 nodes) until Ctrl-C",
  usage: `Usage: treaty dev [--nodes N] [--port BASE] [--workspace DIR] [--in-process]

Starts a local network with the sample contracts (log, bank, meter) deployed and the service
open, and keeps it running until Ctrl-C (SIGINT), SIGTERM or SIGHUP, which stop every node and
the nats-server, also during start-up. Node i serves HTTP on BASE+i.
  --nodes N          1 to 7 (default 3)
  --port BASE        first HTTP port (default 8000)
  --workspace DIR    keys, service.json and node data (default ./workspace); reused if present:
                     every node with data restarts (even beyond --nodes), then they elect a leader
  --in-process       run every node in this process on the in-memory transport, even with
                     nats-server installed (what happens without it)
With nats-server installed each node is its own process; otherwise all run in this process.`,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        nodes: { type: "string", default: "3" },
        port: { type: "string", default: "8000" },
        workspace: { type: "string", default: "workspace" },
        "in-process": { type: "boolean", default: false },
      },
      false,
    );
    const nodes = Number(values.nodes);
    const basePort = Number(values.port);
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 7) throw new UsageError("--nodes: expected 1 to 7");
    if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65535 - nodes)
      throw new UsageError("--port: expected a TCP port");
    // After SIGHUP the terminal may be gone: progress lines must not stop the clean-up.
    process.stdout.on("error", () => undefined);
    const say = (line: string) => {
      try {
        process.stdout.write(`${line}\n`);
      } catch {
        // the terminal is gone
      }
    };
    // Ctrl-C, `kill`, or the terminal closing (SIGHUP) stop the network, also during start-up.
    const stopping = new AbortController();
    const stop = () => stopping.abort();
    for (const name of STOP_SIGNALS) process.on(name, stop);
    try {
      const { devInstructions, startDevNetwork } = await import("../dev.js"); // heavy: see node.ts
      let network: Awaited<ReturnType<typeof startDevNetwork>>;
      try {
        network = await startDevNetwork({
          nodes,
          basePort,
          workspace: values.workspace,
          inProcess: values["in-process"],
          say,
          signal: stopping.signal,
        });
      } catch (err) {
        if (!stopping.signal.aborted) throw err;
        say("stopped during start-up");
        return EXIT_OK;
      }
      say(devInstructions(values.workspace, network.urls));
      if (!stopping.signal.aborted)
        await new Promise<void>((resolve) => stopping.signal.addEventListener("abort", () => resolve()));
      say("stopping...");
      await network.stop();
    } finally {
      for (const name of STOP_SIGNALS) process.off(name, stop);
    }
    return EXIT_OK;
  },
};
