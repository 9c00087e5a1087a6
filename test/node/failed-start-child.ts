/**
 * Child process of failed-start.test.ts: starts a node from the config file given as the first
 * argument, expecting the start to fail, prints one JSON line `{code, message}` with the error
 * (or `{started: true}` when it did start, then stops it), and does nothing else. The process
 * must then exit by itself: a worker thread (verify pool, execution worker, compiler) or a handle
 * (server, socket, timer) left behind by the failed start keeps it alive, which the test catches.
 *
 * Second argument `no-transport`: the node-to-node transport cannot be built (as NATS refusing
 * the connection), a failure in `#open` after the execution worker started. `serve-fails`: the
 * committed-event feed does not start, a failure inside `#serve` after its timers started.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseConfig } from "../../node/config.js";
import { silentLogger } from "../../node/log.js";
import { NodeEvents } from "../../node/events/index.js";
import { realRuntime } from "../../node/main.js";
import { type NodeRuntime, TreatyNode } from "../../node/service.js";
import { TreatyError } from "../../sdk/errors.js";

const [configPath, mode] = process.argv.slice(2);
const config = parseConfig(JSON.parse(readFileSync(configPath!, "utf8")), dirname(configPath!));
const runtime: NodeRuntime = {
  ...realRuntime(config, silentLogger),
  ...(mode === "no-transport" && {
    transport: async () => {
      throw new TreatyError("Unavailable", "test: no transport");
    },
  }),
};
if (mode === "serve-fails") {
  NodeEvents.prototype.start = () => {
    throw new TreatyError("Internal", "test: the event feed does not start");
  };
}
try {
  const node = await TreatyNode.start(config, runtime);
  console.log(JSON.stringify({ started: true }));
  await node.stop();
} catch (err) {
  const { code, message } = err as { code?: unknown; message?: unknown };
  console.log(JSON.stringify({ code, message }));
}
