/**
 * How `Client` sends one HTTP request: through `fetch` (browsers, a `fetch` passed in the client's
 * options, `https:` URLs), or in Node, for `http:` URLs, straight through node:http over a
 * keep-alive agent. Node's `fetch` (undici: web streams for the body and the answer, a clone of
 * every request) is the larger part of an SDK client's CPU per signed call; with WebCrypto
 * signing, node:http brought a call from ~1,080 to ~135 µs on the bench machine (a local server
 * answering like a node, CHANGELOG). The bytes on the wire are the same request either way.
 *
 * A `fetch` built by `fetchOverTransport` (the `treaty/tls` ones: node:https with the pinned
 * agent) carries its transport, and a `Client` given such a fetch sends through that transport
 * directly, skipping the WHATWG Request and Response the fetch would build around each call.
 *
 * node:http is reached through `process.getBuiltinModule` (Node 20.16+): nothing here imports a
 * Node module, so browser bundles are unchanged and simply never take that path.
 */
import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from "node:http";

/** A request as `Client` sends it. */
export interface TransportRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** Aborts the request (it rejects with the signal's reason); `Client` passes none. */
  readonly signal?: AbortSignal;
}

/**
 * What came back: the status, the answer's content type ("" when none), all its headers (names
 * in lower case; a repeated header as a list where HTTP keeps them apart, e.g. set-cookie) and
 * its bytes.
 */
export interface TransportAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly bytes: Uint8Array;
}

/** Sends one request; rejects on a network failure (no answer), as `fetch` does. */
export type Transport = (url: string, request: TransportRequest) => Promise<TransportAnswer>;

/** The transport over a `fetch` implementation. */
export function fetchTransport(fetchImpl: typeof fetch): Transport {
  return async (url, request) => {
    const response = await fetchImpl(url, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined && { body: request.body as Uint8Array<ArrayBuffer> }),
      ...(request.signal !== undefined && { signal: request.signal }),
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    let headers: Record<string, string | string[]> | undefined;
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      // Built when asked for: `Client` reads the content type only.
      get headers() {
        headers ??= headerRecord(response.headers);
        return headers;
      },
      bytes,
    };
  };
}

/** `headers` as a record (a name given more than once, e.g. set-cookie, as a list). */
function headerRecord(headers: Headers): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const earlier = record[name];
    record[name] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
  }
  return record;
}

/** Where a `fetch` built by `fetchOverTransport` keeps its transport. */
const TRANSPORT = Symbol.for("treaty.transport");

/**
 * A `fetch` over `transport`: it takes what `fetch` takes (a URL or a Request, any body `fetch`
 * accepts, an AbortSignal) and answers a `Response` with the body read whole. It follows no
 * redirect, and its `statusText` is "". A network failure rejects with `TypeError("fetch
 * failed")` whose `cause` says why; an abort rejects with the signal's reason. The function
 * carries `transport`: `Client` (and `transportOf`) sends through it directly.
 */
export function fetchOverTransport(transport: Transport): typeof fetch {
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // The Request constructor applies fetch's rules: method, headers, any kind of body.
    const request = new Request(input, init);
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    if (signal?.aborted) throw signal.reason;
    const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer());
    let answer: TransportAnswer;
    try {
      answer = await transport(request.url, {
        method: request.method,
        headers: Object.fromEntries(request.headers),
        ...(body !== undefined && { body }),
        ...(signal !== undefined && { signal }),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new TypeError("fetch failed", { cause: err });
    }
    const { status } = answer;
    if (status < 200 || status > 599)
      throw new TypeError("fetch failed", { cause: new Error(`unsupported HTTP status ${status}`) });
    const headers = new Headers();
    for (const name in answer.headers) {
      const value = answer.headers[name];
      if (typeof value === "string") headers.append(name, value);
      else if (value !== undefined) for (const one of value) headers.append(name, one);
    }
    const nullBody = status === 204 || status === 205 || status === 304;
    return new Response(nullBody ? null : (answer.bytes as Uint8Array<ArrayBuffer>), { status, headers });
  };
  return Object.assign(fetchImpl, { [TRANSPORT]: transport }) as typeof fetch;
}

/**
 * How `Client` sends through `fetchImpl`: the transport it carries when `fetchOverTransport`
 * built it (a wrapper around such a fetch carries none, and is called as a fetch), otherwise
 * `fetchTransport(fetchImpl)`.
 */
export function transportOf(fetchImpl: typeof fetch): Transport {
  return (fetchImpl as { [TRANSPORT]?: Transport })[TRANSPORT] ?? fetchTransport(fetchImpl);
}

/**
 * How long a request may wait for its answer (its head or more of its body) before it fails as
 * a network error: undici's `fetch` defaults (headersTimeout, bodyTimeout), kept here.
 */
export const NODE_HTTP_IDLE_TIMEOUT_MS = 300_000;

type NodeHttp = typeof import("node:http");

/** node:http when this runs in Node (or a runtime providing it the same way), else undefined. */
function nodeHttp(): NodeHttp | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const http = proc?.getBuiltinModule?.("node:http") as NodeHttp | undefined;
  return typeof http?.request === "function" && typeof http.Agent === "function" ? http : undefined;
}

/**
 * The default transport: node:http for `http:` URLs where available (one keep-alive agent per
 * transport, i.e. per client), `globalThis.fetch` for everything else.
 */
export function defaultTransport(): Transport {
  const viaFetch = fetchTransport(globalThis.fetch.bind(globalThis));
  const http = nodeHttp();
  if (http === undefined) return viaFetch;
  const viaHttp = nodeTransport(http.request, new http.Agent({ keepAlive: true }), "http:");
  return (url, request) => (url.startsWith("http://") ? viaHttp(url, request) : viaFetch(url, request));
}

interface Origin {
  readonly hostname: string;
  readonly port: number;
  readonly host: string;
}

/**
 * Requests through node:http's or node:https's `request` over `agent` (its TLS options, e.g. a
 * pinned `ca`, apply to every connection), for URLs of `protocol` only: any other URL is
 * refused (a TypeError), never sent another way.
 */
export function nodeTransport(
  request: (options: RequestOptions) => ClientRequest,
  agent: Agent,
  protocol: "http:" | "https:",
): Transport {
  const defaultPort = protocol === "https:" ? 443 : 80;
  // Parsed origins by their text: a client talks to a handful of nodes.
  const origins = new Map<string, Origin>();
  const originOf = (text: string): Origin => {
    let origin = origins.get(text);
    if (origin === undefined) {
      const url = new URL(text);
      if (url.protocol !== protocol) throw new TypeError(`${text}: not an ${protocol.slice(0, -1)} URL`);
      const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
      origin = { hostname, port: Number(url.port || defaultPort), host: url.host };
      if (origins.size >= 64) origins.clear();
      origins.set(text, origin);
    }
    return origin;
  };
  return (url, sent) =>
    new Promise<TransportAnswer>((resolve, reject) => {
      const signal = sent.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let req: ClientRequest;
      try {
        // `http(s)://host:port/path?query`: the origin ends at the first `/` after `//`.
        const pathAt = url.indexOf("/", 8);
        const origin = originOf(pathAt === -1 ? url : url.slice(0, pathAt));
        // The head as a list of names and values: node:http writes it as given (still checking
        // each name and value), with no per-header bookkeeping.
        const lines: string[] = ["host", origin.host];
        for (const name in sent.headers) {
          const lower = name.toLowerCase();
          if (lower !== "host" && lower !== "content-length") lines.push(name, sent.headers[name]!);
        }
        if (sent.body !== undefined) lines.push("content-length", String(sent.body.length));
        const options: RequestOptions = {
          hostname: origin.hostname,
          port: origin.port,
          path: pathAt === -1 ? "/" : url.slice(pathAt),
          method: sent.method,
          agent,
          headers: lines,
        };
        req = request(options);
      } catch (err) {
        reject(err);
        return;
      }
      if (signal !== undefined) {
        const onAbort = () =>
          req.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
        signal.addEventListener("abort", onAbort, { once: true });
        req.once("close", () => signal.removeEventListener("abort", onAbort));
      }
      req.setTimeout(NODE_HTTP_IDLE_TIMEOUT_MS, () =>
        req.destroy(new Error(`no answer for ${NODE_HTTP_IDLE_TIMEOUT_MS} ms`)),
      );
      req.on("error", reject);
      req.on("response", (res: IncomingMessage) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        res.on("data", (chunk: Uint8Array) => {
          chunks.push(chunk);
          size += chunk.length;
        });
        res.on("error", reject);
        res.on("aborted", () => reject(new Error("the answer was cut off")));
        res.on("end", () => {
          let bytes: Uint8Array;
          if (chunks.length === 1) bytes = chunks[0]!;
          else {
            bytes = new Uint8Array(size);
            let at = 0;
            for (const chunk of chunks) {
              bytes.set(chunk, at);
              at += chunk.length;
            }
          }
          const headers = res.headers;
          const type = headers["content-type"];
          resolve({ status: res.statusCode ?? 0, contentType: type ?? "", headers, bytes });
        });
      });
      req.end(sent.body);
    });
}
