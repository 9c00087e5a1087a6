/**
 * Requests a follower forwards to its leader travel in batches. Every frame between two nodes has
 * a fixed cost (sealed and authenticated by the sender, opened by the receiver, one NATS message:
 * ~150 µs of CPU for the pair when frames were all ed25519-signed, less with MAC frames,
 * node/transport/README.md), so one frame per forwarded request both ways made a write sent to a
 * follower cost the two nodes ~300 µs more than one sent to the leader. The requests forwarded to
 * the same leader in one event-loop turn (the HTTP requests parsed together) now share one
 * transport request, and their answers one response.
 *
 * Wire forms (msgpack, sdk/codec.ts):
 * - single: a lone request is `{method, url, headers, body}`, answered by the encoded
 *   `{status, body, headers}`;
 * - items: two or more travel as `{items: [request, ...]}` and are answered by
 *   `{answers: [{ok: {status, body, headers}} | {error: {code, message}}, ...]}` in the same
 *   order: one encode and one decode per batch each way, not one per item nested in another;
 * - batch (the previous form, still served for followers of the previous version):
 *   `{batch: [encoded single, ...]}` answered by `{answers: [{ok: encoded answer} | {error}]}`.
 * The leader serves the items concurrently, each exactly as if it had come alone (full admission:
 * signature, freshness, nonce, caller), and answers once the last one is answered: they arrived
 * together, run through the same sequencer batches, and finish together (measured: the first and
 * last answers of a batch ~3 µs apart on average at 64 in flight, 6 ms at 256 against a 367 ms
 * round trip), so answering each on its own would mostly add frames.
 *
 * An item that waits for its commit point (`committed`, see `forwardedCommitWait`: at most
 * 2 s, and only for a point within the leader's log) delays its batch-mates' answers, not their
 * admission or execution: they are served concurrently. A forwarder sets every item's point to
 * its own folded one, so honest batch-mates wait alike.
 *
 * A leader that does not know the items form (an older node during a rolling upgrade) refuses it
 * as a whole with `MalformedRequest` before serving any item: the items are then sent one by one,
 * and that leader gets single forms from then on.
 */
import { decode, encode } from "../sdk/codec.js";
import { isTreatyError, TreatyError } from "../sdk/errors.js";
import type { ResponseSink } from "./http/server.js";

/** At most this many requests in one batch (a larger turn's worth goes in several). */
export const FORWARD_BATCH_MAX_ITEMS = 64;
/** A batch stops growing at this many request bytes; a larger request goes alone. */
export const FORWARD_BATCH_MAX_BYTES = 256 * 1024;

/** What the leader's router needs of a forwarded HTTP request. */
export interface ForwardedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /**
   * The forwarding node's folded commit point (`TreatyNode.committedSeqno`): the leader admits
   * the request once its own reached it (bounded), so what the follower answered Committed is
   * in the leader's governance view too. Absent from older nodes. A leader refuses one that is
   * not a seqno or lies beyond its log (`forwardedCommitWait`).
   */
  readonly committed?: number;
}

/** The leader's answer to one forwarded request (as the follower decodes it: unchecked). */
export interface ForwardedAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/** Sends one transport request to `leader` and resolves with its response. */
export type SendRequest = (leader: string, payload: Uint8Array) => Promise<Uint8Array>;

interface Item {
  readonly request: ForwardedRequest;
  readonly bytes: number;
  readonly resolve: (answer: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** The follower's side: collects a turn's forwarded requests per leader and sends them together. */
export class ForwardBatcher {
  readonly #queues = new Map<string, Item[]>();
  /** Leaders that refused the items form: they get single requests. */
  readonly #singlesOnly = new Set<string>();
  #scheduled = false;
  /** Requests forwarded, and transport requests that carried them (their ratio: the batching). */
  readonly stats = { requests: 0, sends: 0 };

  constructor(private readonly send: SendRequest) {}

  /**
   * Forwards one request; resolves with the leader's decoded answer to it (the caller checks its
   * shape), rejects with the item's coded error or the transport's.
   */
  forward(leader: string, request: ForwardedRequest): Promise<unknown> {
    this.stats.requests += 1;
    const bytes = requestBytes(request);
    if (this.#singlesOnly.has(leader) || bytes > FORWARD_BATCH_MAX_BYTES)
      return this.#sendOne(leader, request);
    return new Promise<unknown>((resolve, reject) => {
      const item = { request, bytes, resolve, reject };
      const queue = this.#queues.get(leader);
      if (queue === undefined) this.#queues.set(leader, [item]);
      else queue.push(item);
      if (!this.#scheduled) {
        this.#scheduled = true;
        // setImmediate runs after the poll phase: every request parsed in this turn is queued.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const queues = [...this.#queues];
    this.#queues.clear();
    for (const [leader, items] of queues) {
      for (const batch of cut(items)) this.#sendBatch(leader, batch);
    }
  }

  #sendBatch(leader: string, items: readonly Item[]): void {
    if (items.length === 1) {
      const [item] = items as [Item];
      this.#sendOne(leader, item.request).then(item.resolve, item.reject);
      return;
    }
    this.#send(leader, encode({ items: items.map((item) => item.request) })).then(
      (response) => settleAnswers(items, response, leader),
      (err: unknown) => {
        if (isTreatyError(err) && err.code === "MalformedRequest") {
          // Refused whole, nothing served: an older leader. Single forms from now on.
          this.#singlesOnly.add(leader);
          for (const item of items) this.#sendOne(leader, item.request).then(item.resolve, item.reject);
          return;
        }
        for (const item of items) item.reject(err);
      },
    );
  }

  async #sendOne(leader: string, request: ForwardedRequest): Promise<unknown> {
    return decode<unknown>(await this.#send(leader, encode(request)), "forwarded response");
  }

  #send(leader: string, payload: Uint8Array): Promise<Uint8Array> {
    this.stats.sends += 1;
    return this.send(leader, payload);
  }
}

/** A request's share of a batch's bytes: its body, target and headers (encoding overhead aside). */
function requestBytes(request: ForwardedRequest): number {
  let bytes = request.body.length + request.method.length + request.url.length;
  for (const name in request.headers) bytes += name.length + request.headers[name]!.length;
  return bytes;
}

/** Splits a turn's items into batches within the item and byte bounds. */
function cut(items: readonly Item[]): Item[][] {
  const batches: Item[][] = [];
  let current: Item[] = [];
  let bytes = 0;
  for (const item of items) {
    if (
      current.length === FORWARD_BATCH_MAX_ITEMS ||
      (current.length > 0 && bytes + item.bytes > FORWARD_BATCH_MAX_BYTES)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function settleAnswers(items: readonly Item[], response: Uint8Array, leader: string): void {
  let answers: unknown;
  try {
    answers = decode<{ answers?: unknown }>(response, "forwarded batch answer").answers;
  } catch (err) {
    for (const item of items) item.reject(err);
    return;
  }
  if (!Array.isArray(answers) || answers.length !== items.length) {
    const err = new TreatyError("Internal", `leader ${leader} answered a forwarded batch malformed`);
    for (const item of items) item.reject(err);
    return;
  }
  items.forEach((item, i) => {
    const answer = answers[i] as { ok?: unknown; error?: { code?: unknown; message?: unknown } } | null;
    if (typeof answer?.ok === "object" && answer.ok !== null) item.resolve(answer.ok);
    else if (typeof answer?.error?.code === "string" && typeof answer.error.message === "string")
      item.reject(new TreatyError(answer.error.code.slice(0, 64), answer.error.message.slice(0, 1024)));
    else
      item.reject(new TreatyError("Internal", `leader ${leader} answered a forwarded batch item malformed`));
  });
}

/** What `forwardedCommitWait` needs of a leading node: its log's end and its folded commit point. */
export interface LeaderCommitView {
  /** The last seqno in this leader's log (its ledger's `lastSeqno`). */
  readonly lastSeqno: number;
  /** This node's folded commit point (`TreatyNode.committedSeqno`). */
  readonly folded: number;
}

/**
 * The leader's side: the commit point a forwarded request must wait for before it is admitted
 * (its `committed` field: the forwarder's folded commit point), or null when there is nothing to
 * wait for (absent, as from a node of the previous version; already folded; or `leader` null:
 * this node does not lead). MalformedRequest when `committed` is present and not a seqno (a
 * non-negative safe integer), or, on a leader, lies beyond `leader.lastSeqno`: a leader's log
 * holds every committed entry, so an honest forwarder's commit point never passes its end, and
 * waiting for such a point could only wait out the bound while holding a serving slot.
 */
export function forwardedCommitWait(request: object, leader: LeaderCommitView | null): number | null {
  if (!("committed" in request)) return null;
  const committed: unknown = (request as { committed?: unknown }).committed;
  if (committed === undefined) return null;
  if (typeof committed !== "number" || !Number.isSafeInteger(committed) || committed < 0) {
    throw new TreatyError(
      "MalformedRequest",
      `forwarded request: committed: expected a seqno (a non-negative safe integer), got ${describeValue(committed)}`,
    );
  }
  if (leader === null || committed <= leader.folded) return null;
  if (committed > leader.lastSeqno) {
    throw new TreatyError(
      "MalformedRequest",
      `forwarded request: committed: ${committed} is beyond this leader's log (last seqno ${leader.lastSeqno}); no node can have committed it`,
    );
  }
  return committed;
}

/**
 * The leader's side: a forwarded request routed to a streaming endpoint (`/app/events`: each node
 * serves its own streams, no follower forwards one) is refused with MalformedRequest, after
 * `stream` is opened on a sink that is already closed, so the handler releases whatever it
 * reserved for it (an event stream's slot: one of `events.maxStreams`, which would otherwise stay
 * taken for good and soon refuse every client's stream).
 */
export function refuseForwardedStream(stream: { open(sink: ResponseSink): void }): never {
  stream.open(CLOSED_SINK);
  throw new TreatyError(
    "MalformedRequest",
    "forwarded request: a streaming endpoint is served by each node, not forwarded",
  );
}

/** A sink whose client already left: writes go nowhere, close listeners run at once. */
const CLOSED_SINK: ResponseSink = {
  write: () => 0,
  buffered: 0,
  drained: () => Promise.resolve(),
  end: () => undefined,
  closed: true,
  onClose: (listener) => listener(),
};

/** A short description of a hostile value for an error message (never its whole text). */
function describeValue(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return `a string ${JSON.stringify(value.slice(0, 32))}`;
  if (value === null) return "null";
  if (value instanceof Uint8Array) return "a byte string";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}

/**
 * The leader's side: the requests of an `{items}` payload (null when `request`, decoded, is
 * anything else). MalformedRequest when the items are not a list of 2 to FORWARD_BATCH_MAX_ITEMS
 * maps; each item's own shape is its server's to check (`serveItems`).
 */
export function forwardedItems(request: unknown): unknown[] | null {
  return listOf<unknown>(request, "items", isMap, "requests {method, url, headers, body}");
}

/**
 * The leader's side: serves every item of an `{items}` payload concurrently (`serveOne` gets the
 * decoded request and resolves with its answer `{status, body, headers}`) and encodes their
 * answers in order, in one pass. An item that is itself a batch is answered MalformedRequest; a
 * failed item is answered with its coded error (a non-Treaty error as Internal, without its
 * message); its batch-mates are served all the same.
 */
export function serveItems(
  items: readonly unknown[],
  serveOne: (request: unknown) => Promise<ForwardedAnswer>,
): Promise<Uint8Array> {
  return answerEach(items, (request) => serveOne(notNested(request, "items")));
}

/**
 * The leader's side: the items of a `{batch}` payload, the previous version's form (null when
 * `request`, decoded, is anything else). MalformedRequest when the batch is not a list of 2 to
 * FORWARD_BATCH_MAX_ITEMS byte strings.
 */
export function batchItems(request: unknown): Uint8Array[] | null {
  return listOf<Uint8Array>(request, "batch", (item) => item instanceof Uint8Array, "encoded requests");
}

/**
 * The leader's side of the `{batch}` form: decodes every item and serves it concurrently
 * (`serveOne` gets the decoded request), and encodes their answers in order. An item that does
 * not decode, or is itself a batch, is answered MalformedRequest; its batch-mates are served all
 * the same.
 */
export function serveBatch(
  items: readonly Uint8Array[],
  serveOne: (request: unknown) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  return answerEach(items, (payload) =>
    serveOne(notNested(decode<unknown>(payload, "forwarded request"), "batch")),
  );
}

/** `request[key]` when it is a list of 2 to FORWARD_BATCH_MAX_ITEMS items that pass `isItem`. */
function listOf<T>(
  request: unknown,
  key: "items" | "batch",
  isItem: (item: unknown) => boolean,
  what: string,
) {
  if (!hasKey(request, key)) return null;
  const list = request[key];
  if (
    !Array.isArray(list) ||
    list.length < 2 ||
    list.length > FORWARD_BATCH_MAX_ITEMS ||
    !list.every(isItem)
  ) {
    throw new TreatyError(
      "MalformedRequest",
      `forwarded ${key}: expected 2 to ${FORWARD_BATCH_MAX_ITEMS} ${what}`,
    );
  }
  return list as T[];
}

/** Serves every item concurrently; encodes `{answers}` in order, a failure as its coded error. */
async function answerEach<T>(items: readonly T[], serve: (item: T) => Promise<unknown>): Promise<Uint8Array> {
  const answers = await Promise.all(
    items.map(async (item) => {
      try {
        return { ok: await serve(item) };
      } catch (err) {
        return { error: codedError(err) };
      }
    }),
  );
  return encode({ answers });
}

/** `request`, unless it is itself a batch (MalformedRequest: batches do not nest). */
function notNested(request: unknown, form: "items" | "batch"): unknown {
  if (hasKey(request, "batch") || hasKey(request, "items"))
    throw new TreatyError("MalformedRequest", `forwarded ${form}: an item is itself a batch`);
  return request;
}

function codedError(err: unknown): { code: string; message: string } {
  return isTreatyError(err)
    ? { code: err.code, message: err.message }
    : { code: "Internal", message: "the leader failed to serve a forwarded request" };
}

/** A decoded msgpack map (a plain object: not a list, byte string or null). */
function isMap(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function hasKey<K extends string>(request: unknown, key: K): request is Record<K, unknown> {
  return request !== null && typeof request === "object" && key in request;
}
