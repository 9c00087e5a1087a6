/**
 * Committed events as an async iterator over `GET /app/events` (Server-Sent Events), using
 * `fetch` streaming only (browser-safe, no node:*). The iterator remembers the id of the last
 * event it yielded and, when a stream ends or fails (a node stopped, a leader changed), it
 * reconnects to the next node with `after=<that id>`: every node serves the same committed
 * sequence, so the caller sees each committed event once, in commit order, without gaps.
 *
 * Example:
 * ```ts
 * const stop = new AbortController();
 * for await (const event of watchEvents({ nodes: [url], contract: "bank", names: ["transfer"], signal: stop.signal })) {
 *   console.log(event.txid, event.name, event.data); // fetch its receipt with /node/receipt?txid=
 * }
 * ```
 */

/** One committed public event (`id` is its position `<txid>/<index>`, the resume token). */
export interface StreamedEvent<
  E extends { readonly name: string; readonly data: unknown } = {
    readonly name: string;
    readonly data: unknown;
  },
> {
  readonly id: string;
  readonly txid: string;
  readonly index: number;
  readonly contract: string;
  readonly name: E["name"];
  readonly data: E["data"];
}

export interface WatchEventsOptions {
  /** Node URLs, tried in turn after a failure. */
  readonly nodes: readonly string[];
  readonly contract?: string;
  readonly names?: readonly string[];
  /** Start after this position (`<txid>` or `<txid>/<index>`; `"0"`: from the start). Absent: from now. */
  readonly after?: string;
  /** Stops the iteration (the iterator then returns). */
  readonly signal?: AbortSignal;
  /** Wait before reconnecting, doubled up to `maxRetryMs` while nodes keep failing (default 200). */
  readonly retryMs?: number;
  /** The longest wait before reconnecting (default 2000). Both: finite numbers ≥ 0, else a TypeError. */
  readonly maxRetryMs?: number;
  /** Called with each connection failure (for logging); the iterator keeps retrying. */
  readonly onError?: (err: unknown, node: string) => void;
  readonly fetch?: typeof fetch;
}

/**
 * Yields committed public events in commit order, forever (until `signal` aborts or the caller
 * breaks out), reconnecting as described above. A node's refusal of the request itself (a
 * malformed `after`, an unknown position: HTTP 4xx) is thrown as an Error naming the node's code.
 */
export async function* watchEvents<
  E extends { readonly name: string; readonly data: unknown } = {
    readonly name: string;
    readonly data: unknown;
  },
>(options: WatchEventsOptions): AsyncGenerator<StreamedEvent<E>, void, undefined> {
  if (options.nodes.length === 0) throw new TypeError("nodes: at least one node URL is required");
  // NaN would make every wait 1 ms: reconnecting to failing nodes in a tight loop.
  for (const field of ["retryMs", "maxRetryMs"] as const) {
    const ms = options[field];
    if (ms !== undefined && !(Number.isFinite(ms) && ms >= 0))
      throw new TypeError(`${field}: expected a finite number of ms ≥ 0, got ${String(ms)}`);
  }
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  let after = options.after;
  let node = 0;
  let delayMs = options.retryMs ?? 200;
  const signal = options.signal;
  while (!signal?.aborted) {
    const base = options.nodes[node % options.nodes.length]!;
    const url = new URL("/app/events", base);
    if (options.contract !== undefined) url.searchParams.set("contract", options.contract);
    for (const name of options.names ?? []) url.searchParams.append("name", name);
    if (after !== undefined) url.searchParams.set("after", after);
    let yielded = false;
    try {
      const response = await fetchImpl(url, {
        headers: { accept: "text/event-stream" },
        ...(signal !== undefined && { signal }),
      });
      if (response.status >= 400 && response.status < 500) {
        const body = (await response.json().catch(() => ({}))) as {
          error?: { code?: string; message?: string };
        };
        throw new EventStreamRefused(body.error?.code ?? String(response.status), body.error?.message ?? "");
      }
      if (!response.ok || response.body === null) throw new Error(`${base}: HTTP ${response.status}`);
      for await (const frame of sseFrames(response.body)) {
        if (frame.data === undefined || frame.id === undefined) continue;
        const parsed = JSON.parse(frame.data) as Omit<StreamedEvent<E>, "id">;
        after = frame.id;
        yielded = true;
        yield { id: frame.id, ...parsed };
      }
    } catch (err) {
      if (err instanceof EventStreamRefused) throw err;
      if (signal?.aborted) return;
      options.onError?.(err, base);
    }
    if (yielded) delayMs = options.retryMs ?? 200;
    node++;
    await sleep(delayMs, signal);
    delayMs = Math.min(delayMs * 2, options.maxRetryMs ?? 2000);
  }
}

/** A node refused the stream request itself (4xx): retrying elsewhere would not help. */
export class EventStreamRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
    this.name = "EventStreamRefused";
  }
}

interface SseFrame {
  id?: string;
  data?: string;
}

/** Parses an SSE body (text/event-stream) into frames; `:` comments and `retry:` are skipped. */
export async function* sseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let frame: SseFrame = {};
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") {
          if (frame.data !== undefined || frame.id !== undefined) yield frame;
          frame = {};
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") frame.id = value;
          else if (field === "data")
            frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
        }
        newline = buffer.indexOf("\n");
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
