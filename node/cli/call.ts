/**
 * `treaty call <contract> <method>`: one signed (or, without `--key`, unsigned) call to a running
 * node through the SDK `Client`, so the CLI exercises exactly the path apps use. Prints
 * `{"result", "txid", "events"}` (no txid for readonly calls); with `--wait` it also waits until the
 * transaction is committed and adds `"status": "Committed"`. A refused or failed call prints
 * the node's `{"error": {code, message, details?}}` and exits 1 (e.g. a Replay names the
 * original txid in `details`).
 */
import { Client } from "../../sdk/client.js";
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.js";
import { CLI_RETRIES, readKeyFile } from "./options.js";
import {
  printJsonTo,
  processRemoteIo,
  REMOTE_FLAGS,
  REMOTE_USAGE,
  type RemoteIo,
  readJsonFlag,
  remoteTarget,
  reportingErrors,
  serviceKeyOf,
} from "./status.js";

const CALL_USAGE = `Usage: treaty call <contract> <method> [--args JSON | --args @file] [--key <file>] [--wait]
                   [--msgpack] [--node <url>] [--service <file>] [--timeout <ms>]

Calls <contract>.<method> on a running node and prints {"result": ..., "txid": "view.seqno",
"events": [{"name", "data"}, ...]} (readonly methods return no txid). Exit codes: 0 ok, 1 the call failed or was refused (the
node's {"error": {"code", "message"}} is printed), 2 usage.
  --args JSON         the arguments as JSON (default {}); @file reads them from a file
  --key <file>        the caller's key file (from \`treaty keygen\`); without it the call is
                      unsigned, which only readonly methods open to anyone accept
  --wait              wait until the transaction is committed ("status": "Committed")
  --msgpack           send the request body as MessagePack instead of JSON
${REMOTE_USAGE}`;

/** `treaty call` with its output going to `io`. */
export async function runCall(argv: string[], io: RemoteIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...REMOTE_FLAGS,
    args: { type: "string" },
    key: { type: "string" },
    wait: { type: "boolean", default: false },
    msgpack: { type: "boolean", default: false },
  });
  if (positionals.length !== 2) throw new UsageError("expected <contract> <method>");
  const [contract, method] = positionals as [string, string];
  const args = values.args === undefined ? {} : parseArgsFlag(values.args);
  const key = values.key === undefined ? undefined : readKeyFile(values.key);
  const target = remoteTarget(values, io);
  return reportingErrors("call", io, async () => {
    const client = new Client({
      nodes: [target.node],
      serviceKey: await serviceKeyOf(target, io, "call"),
      ...(key !== undefined && { key }),
      encoding: values.msgpack ? "msgpack" : "json",
      retries: CLI_RETRIES,
      fetch: target.fetch,
    });
    const { result, txid, events } = await client.call(contract, method, args);
    if (txid === undefined) {
      if (values.wait) io.err("treaty call: --wait: a readonly call has no transaction to wait for\n");
      printJsonTo(io, { result, events });
      return EXIT_OK;
    }
    if (values.wait) {
      await client.waitForCommit(txid, { timeoutMs: target.timeoutMs });
      printJsonTo(io, { result, txid, events, status: "Committed" });
    } else {
      printJsonTo(io, { result, txid, events });
    }
    return EXIT_OK;
  });
}

/** `--args`: inline JSON, or `@path` to read the JSON from a file. */
function parseArgsFlag(text: string): unknown {
  if (text.startsWith("@")) return readJsonFlag(text.slice(1), "--args");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--args: not valid JSON (${(err as Error).message})`);
  }
}

export const callCommand: Command = {
  path: ["call"],
  summary: "call a contract method on a running node",
  usage: CALL_USAGE,
  run: (argv) => runCall(argv, processRemoteIo),
};
