/**
 * Requests a follower forwards to its leader travel in batches. Every frame between two nodes is
 * sealed and ed25519-signed by the sender and verified by the receiver (~150 µs of CPU for the
 * pair), so one frame per forwarded request both ways made a write sent to a follower cost the
 * two nodes ~300 µs more than one sent to the leader. The requests forwarded to the same leader
 * in one event-loop turn (the HTTP requests parsed together) now share one transport request, and
 * their answers one response.
 *
 * Wire form: a lone request keeps the single form (`{method, url, headers, body}`, answered by
 * the encoded response). Two or more travel as `{batch: [single, ...]}` and are answered by
 * `{answers: [{ok: response} | {error: {code, message}}, ...]}` in the same order. The leader
 * serves the items concurrently, each exactly as if it had come alone, and answers once the last
 * one is answered (they arrived together and run through the same sequencer batches).
 *
 * A leader that does not know the batch form (an older node during a rolling upgrade) refuses it
 * as a whole with `MalformedRequest` before serving any item: the items are then sent one by one,
 * and that leader gets single forms from then on.
 */
import { decode, encode } from "../sdk/codec.js";
import { isTreatyError, TreatyError } from "../sdk/errors.js";

/** At most this many requests in one batch (a larger turn's worth goes in several). */
export const FORWARD_BATCH_MAX_ITEMS = 64;
/** A batch stops growing at this many payload bytes; a larger request goes alone. */
export const FORWARD_BATCH_MAX_BYTES = 256 * 1024;

/** Sends one transport request to `leader` and resolves with its response. */
export type SendRequest = (leader: string, payload: Uint8Array) => Promise<Uint8Array>;

interface Item {
  readonly payload: Uint8Array;
  readonly resolve: (answer: Uint8Array) => void;
  readonly reject: (err: unknown) => void;
}

/** The follower's side: collects a turn's forwarded requests per leader and sends them together. */
export class ForwardBatcher {
  readonly #queues = new Map<string, Item[]>();
  /** Leaders that refused the batch form: they get single requests. */
  readonly #singlesOnly = new Set<string>();
  #scheduled = false;
  /** Requests forwarded, and transport requests that carried them (their ratio: the batching). */
  readonly stats = { requests: 0, sends: 0 };

  constructor(private readonly send: SendRequest) {}

  /** Forwards one encoded single-form request; resolves with the leader's encoded answer to it. */
  forward(leader: string, payload: Uint8Array): Promise<Uint8Array> {
    this.stats.requests += 1;
    if (this.#singlesOnly.has(leader) || payload.length > FORWARD_BATCH_MAX_BYTES)
      return this.#send(leader, payload);
    return new Promise<Uint8Array>((resolve, reject) => {
      const queue = this.#queues.get(leader);
      if (queue === undefined) this.#queues.set(leader, [{ payload, resolve, reject }]);
      else queue.push({ payload, resolve, reject });
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
      this.#send(leader, item.payload).then(item.resolve, item.reject);
      return;
    }
    this.#send(leader, encode({ batch: items.map((item) => item.payload) })).then(
      (response) => settleAnswers(items, response, leader),
      (err: unknown) => {
        if (isTreatyError(err) && err.code === "MalformedRequest") {
          // Refused whole, nothing served: an older leader. Single forms from now on.
          this.#singlesOnly.add(leader);
          for (const item of items) this.#send(leader, item.payload).then(item.resolve, item.reject);
          return;
        }
        for (const item of items) item.reject(err);
      },
    );
  }

  #send(leader: string, payload: Uint8Array): Promise<Uint8Array> {
    this.stats.sends += 1;
    return this.send(leader, payload);
  }
}

/** Splits a turn's items into batches within the item and byte bounds. */
function cut(items: readonly Item[]): Item[][] {
  const batches: Item[][] = [];
  let current: Item[] = [];
  let bytes = 0;
  for (const item of items) {
    if (
      current.length === FORWARD_BATCH_MAX_ITEMS ||
      (current.length > 0 && bytes + item.payload.length > FORWARD_BATCH_MAX_BYTES)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.payload.length;
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
    if (answer?.ok instanceof Uint8Array) item.resolve(answer.ok);
    else if (typeof answer?.error?.code === "string" && typeof answer.error.message === "string")
      item.reject(new TreatyError(answer.error.code.slice(0, 64), answer.error.message.slice(0, 1024)));
    else
      item.reject(new TreatyError("Internal", `leader ${leader} answered a forwarded batch item malformed`));
  });
}

/**
 * The leader's side: the items of a `{batch}` payload (null when `request`, decoded, is anything
 * else). MalformedRequest when the batch is not a list of 2 to FORWARD_BATCH_MAX_ITEMS byte strings.
 */
export function batchItems(request: unknown): Uint8Array[] | null {
  if (!isBatch(request)) return null;
  const { batch } = request;
  if (
    !Array.isArray(batch) ||
    batch.length < 2 ||
    batch.length > FORWARD_BATCH_MAX_ITEMS ||
    !batch.every((item) => item instanceof Uint8Array)
  ) {
    throw new TreatyError(
      "MalformedRequest",
      `forwarded batch: expected 2 to ${FORWARD_BATCH_MAX_ITEMS} encoded requests`,
    );
  }
  return batch as Uint8Array[];
}

/**
 * The leader's side: decodes every item and serves it concurrently (`serveOne` gets the decoded
 * request), and encodes their answers in order. An item that does not decode, or is itself a
 * batch, is answered MalformedRequest; its batch-mates are served all the same.
 */
export async function serveBatch(
  items: readonly Uint8Array[],
  serveOne: (request: unknown) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const answers = await Promise.all(
    items.map(async (payload) => {
      try {
        const request = decode<unknown>(payload, "forwarded request");
        if (isBatch(request))
          throw new TreatyError("MalformedRequest", "forwarded batch: an item is itself a batch");
        return { ok: await serveOne(request) };
      } catch (err) {
        return {
          error: isTreatyError(err)
            ? { code: err.code, message: err.message }
            : { code: "Internal", message: "the leader failed to serve a forwarded request" },
        };
      }
    }),
  );
  return encode({ answers });
}

function isBatch(request: unknown): request is { batch: unknown } {
  return request !== null && typeof request === "object" && "batch" in request;
}
