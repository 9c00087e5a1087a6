/**
 * `treaty events`: follows `GET /app/events` through the SDK's `watchEvents`, printing one JSON
 * line per committed public event; it resumes on another node of `--service` (or the same one)
 * after a disconnect, without gaps or duplicates.
 */
import { EventStreamRefused, watchEvents } from "../../sdk/events.js";
import { type Command, EXIT_FAILED, EXIT_OK, parseFlags, UsageError } from "./command.js";
import { processRemoteIo, REMOTE_FLAGS, REMOTE_USAGE, type RemoteIo, remoteTarget } from "./status.js";

const EVENTS_USAGE = `Usage: treaty events [--contract <name>] [--name <event>]... [--after <txid>[/<index>] | --from-start]
                     [--count <n>] [--node <url>] [--service <file>] [--timeout <ms>]

Follows the service's committed public events (the events contracts declare public) in commit
order and prints one JSON line per event: {"id": "<txid>/<index>", "txid", "index", "contract",
"name", "data"}. Fetch an event's receipt with \`treaty receipt <txid>\`. When a node goes away it
resumes after the last printed id on the next node of --service (or retries --node). Runs until
interrupted, or until --count events were printed. --timeout bounds the wait for a node to
answer (then the next is tried); the stream itself has no deadline. Exit codes: 0 ok, 1 the
node refused the request (its {"error"} code is printed on stderr), 2 usage.
  --contract <name>   only this contract's events
  --name <event>      only events with this name (repeatable)
  --after <position>  start after this txid (or this event, <txid>/<index>); default: now
  --from-start        start at the beginning of the ledger
  --count <n>         stop after n events
${REMOTE_USAGE}`;

/** `treaty events` with its output going to `io`; `signal` stops it (tests). */
export async function runEvents(argv: string[], io: RemoteIo, signal?: AbortSignal): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      ...REMOTE_FLAGS,
      contract: { type: "string" },
      name: { type: "string", multiple: true },
      after: { type: "string" },
      "from-start": { type: "boolean", default: false },
      count: { type: "string" },
    },
    false,
  );
  if (values.after !== undefined && values["from-start"])
    throw new UsageError("--after and --from-start exclude each other");
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 1))
    throw new UsageError("--count: expected a positive integer");
  const target = remoteTarget(values, io);
  const nodes = [target.node, ...(target.service?.nodes ?? []).filter((n) => n !== target.node)];
  const after = values["from-start"] ? "0" : values.after;
  let printed = 0;
  try {
    for await (const event of watchEvents({
      nodes,
      ...(values.contract !== undefined && { contract: values.contract }),
      names: values.name ?? [],
      ...(after !== undefined && { after }),
      ...(signal !== undefined && { signal }),
      fetch: target.stream,
      onError: (err, node) => io.err(`treaty events: ${node}: ${String(err)}; resuming\n`),
    })) {
      io.out(`${JSON.stringify(event)}\n`);
      printed++;
      if (printed === count) break;
    }
  } catch (err) {
    if (!(err instanceof EventStreamRefused)) throw err;
    io.err(`treaty events: ${err.message}\n`);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}

export const eventsCommand: Command = {
  path: ["events"],
  summary: "follow the committed public events of a running service",
  usage: EVENTS_USAGE,
  run: (argv) => runEvents(argv, processRemoteIo),
};
