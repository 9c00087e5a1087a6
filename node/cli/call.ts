/**
 * `treaty call <contract> <method>`: one signed (or, without `--key`, unsigned) call to a running
 * node through the SDK `Client`, so the CLI exercises exactly the path apps use. Prints
 * `{"result", "txid", "status", "events"}` (for a readonly call, the txid of the state it read at
 * the `--consistency` asked); with `--wait` it first waits until that txid is committed and names
 * on stderr the `treaty receipt` command that proves it. A refused or failed call prints the
 * node's `{"error": {code, message, details?}}` and exits 1.
 */
import { Client } from "../../sdk/client.js";
import { READ_CONSISTENCIES, type ReadConsistency } from "../../sdk/request.js";
import { TreatyError } from "../../sdk/errors.js";
import { parseStrictJson } from "../../sdk/strict-json.js";
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
                   [--consistency committed|linearizable|latest] [--at <txid>] [--msgpack]
                   [--node <url>] [--service <file>] [--timeout <ms>]

Calls <contract>.<method> on a running node and prints
{"result": ..., "txid": "view.seqno", "status": "Pending" | "Committed", "events": [{"name",
"data"}, ...]}: for a write, the transaction it made and what it emitted; for a readonly method,
the last entry of the state it read. A write whose earlier attempt had already executed prints
"replayed": true and no result. Exit codes: 0 ok, 1 the call failed or was refused (the node's
{"error": {"code", "message"}} is printed), 2 usage.
  --args JSON         the arguments as JSON (default {}); @file reads them from a file
  --key <file>        the caller's key file (from \`treaty keygen\`); without it the call is
                      unsigned, which only readonly methods open to anyone accept
  --wait              wait until the txid is committed ("status": "Committed"); stderr
                      then names the \`treaty receipt\` command for this txid
  --consistency <c>   what a readonly method reads: committed (default: committed state only),
                      linearizable (committed, and as new as every write committed before the
                      call), latest (the node's freshest state, possibly Pending); see docs/http.md
  --at <txid>         run a readonly method at the state as of this committed txid; the
                      answer adds "receipt", the receipt of that txid (the node must keep
                      that state: history.windowEntries in its config)
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
    consistency: { type: "string" },
    at: { type: "string" },
  });
  if (positionals.length !== 2) throw new UsageError("expected <contract> <method>");
  const [contract, method] = positionals as [string, string];
  const args = values.args === undefined ? {} : parseArgsFlag(values.args);
  const key = values.key === undefined ? undefined : readKeyFile(values.key);
  const consistency = values.consistency;
  if (consistency !== undefined && !(READ_CONSISTENCIES as readonly string[]).includes(consistency)) {
    throw new UsageError(`--consistency: expected one of ${READ_CONSISTENCIES.join(", ")}`);
  }
  const target = remoteTarget(values, io);
  return reportingErrors("call", io, async () => {
    const client = new Client({
      nodes: [target.node],
      serviceKey: await serviceKeyOf(target, io, "call"),
      ...(key !== undefined && { key }),
      encoding: values.msgpack ? "msgpack" : "json",
      retries: CLI_RETRIES,
      fetch: target.fetch,
      ...(consistency !== undefined && { consistency: consistency as ReadConsistency }),
    });
    const answer = await client.call(
      contract,
      method,
      args,
      values.at === undefined ? {} : { at: values.at },
    );
    let status = answer.status;
    if (values.wait) {
      await client.waitForCommit(answer.txid, { timeoutMs: target.timeoutMs });
      status = "Committed";
      // The txid to prove is this one (not the signature transaction that commits it).
      const receipt = [
        `treaty receipt ${answer.txid} --verify`,
        ...(values.node !== undefined ? [`--node ${values.node}`] : []),
        ...(values.service !== undefined ? [`--service ${values.service}`] : []),
      ];
      io.err(`treaty call: committed; its receipt: ${receipt.join(" ")}\n`);
    }
    printJsonTo(
      io,
      answer.replayed
        ? { txid: answer.txid, replayed: true, ...(status !== undefined && { status }) }
        : {
            result: answer.result,
            txid: answer.txid,
            ...(status !== undefined && { status }),
            events: answer.events,
            ...(answer.receipt !== undefined && { receipt: answer.receipt }),
          },
    );
    return EXIT_OK;
  });
}

/** `--args`: inline JSON, or `@path` to read the JSON from a file. */
function parseArgsFlag(text: string): unknown {
  if (text.startsWith("@")) return readJsonFlag(text.slice(1), "--args");
  try {
    return parseStrictJson(text, "--args");
  } catch (err) {
    // Nested too deep or a key twice: the same refusal a node gives such a body.
    if (err instanceof TreatyError) throw new UsageError(err.message);
    throw new UsageError(`--args: not valid JSON (${(err as Error).message})`);
  }
}

export const callCommand: Command = {
  path: ["call"],
  summary: "call a contract method on a running node",
  usage: CALL_USAGE,
  run: (argv) => runCall(argv, processRemoteIo),
};
