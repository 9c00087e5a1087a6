/**
 * How `Client` sends one HTTP request: through `fetch` (browsers, a `fetch` passed in the client's
 * options, `https:` URLs), or in Node, for `http:` URLs, straight through node:http over a
 * keep-alive agent. Node's `fetch` (undici: web streams for the body and the answer, a clone of
 * every request) cost an SDK client ~570-650 µs of CPU per signed call on the bench machine
 * against a stub server, node:http ~220-275 (with WebCrypto signing). The bytes on the wire are
 * the same request either way.
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
}

/** What came back: the status, the answer's content type ("" when none) and its bytes. */
export interface TransportAnswer {
  readonly status: number;
  readonly contentType: string;
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
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, contentType: response.headers.get("content-type") ?? "", bytes };
  };
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
  const viaHttp = nodeHttpTransport(http, new http.Agent({ keepAlive: true }));
  return (url, request) => (url.startsWith("http://") ? viaHttp(url, request) : viaFetch(url, request));
}

interface Origin {
  readonly hostname: string;
  readonly port: number;
  readonly host: string;
}

/** node:http requests over `agent` (for `http:` URLs only). */
export function nodeHttpTransport(http: NodeHttp, agent: Agent): Transport {
  // Parsed origins by their text: a client talks to a handful of nodes.
  const origins = new Map<string, Origin>();
  const originOf = (text: string): Origin => {
    let origin = origins.get(text);
    if (origin === undefined) {
      const url = new URL(text);
      const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
      origin = { hostname, port: Number(url.port || 80), host: url.host };
      if (origins.size >= 64) origins.clear();
      origins.set(text, origin);
    }
    return origin;
  };
  return (url, request) =>
    new Promise<TransportAnswer>((resolve, reject) => {
      let req: ClientRequest;
      try {
        // `http://host:port/path?query`: the origin ends at the first `/` after `//`.
        const pathAt = url.indexOf("/", 7);
        const origin = originOf(pathAt === -1 ? url : url.slice(0, pathAt));
        // The head as a list of names and values: node:http writes it as given (still checking
        // each name and value), with no per-header bookkeeping.
        const lines: string[] = ["host", origin.host];
        for (const name in request.headers) {
          const lower = name.toLowerCase();
          if (lower !== "host" && lower !== "content-length") lines.push(name, request.headers[name]!);
        }
        if (request.body !== undefined) lines.push("content-length", String(request.body.length));
        const options: RequestOptions = {
          hostname: origin.hostname,
          port: origin.port,
          path: pathAt === -1 ? "/" : url.slice(pathAt),
          method: request.method,
          agent,
          headers: lines,
        };
        req = http.request(options);
      } catch (err) {
        reject(err);
        return;
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
          const type = res.headers["content-type"];
          resolve({ status: res.statusCode ?? 0, contentType: type ?? "", bytes });
        });
      });
      req.end(request.body);
    });
}
