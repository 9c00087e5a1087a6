/**
 * A small HTTP layer over node:http: a router with `:param` segments, a body size cap enforced
 * while reading, JSON or MessagePack responses by the `Accept` header, and one error shape
 * `{error: {code, message}}` with the status from `status.ts`. Handlers never see raw sockets;
 * a handler that throws a non-Treaty error yields a 500 `Internal` without a stack trace.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { AssertionFailure } from "../../sdk/assert.js";
import { concatBytes } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import { CONTENT_JSON, CONTENT_MSGPACK } from "../../sdk/request.js";
import type { Logger } from "../log.js";
import type { TlsCredentials } from "../tls/certificates.js";
import { type CorsPolicy, corsHeaders, isPreflight, NO_CORS, preflight } from "./cors.js";
import { httpStatus } from "./status.js";

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Uint8Array;
  /** Path parameters (`:name` segments), decoded; read-only (frozen, and shared, for a plain target). */
  readonly params: Readonly<Record<string, string>>;
}

export interface HttpResponse {
  readonly status?: number;
  /** Encoded as JSON or MessagePack per the request's Accept header. */
  readonly body?: unknown;
  /** Sent as is (e.g. Prometheus text); takes precedence over `body`. */
  readonly raw?: { readonly contentType: string; readonly bytes: Uint8Array | string };
  /** Extra response headers: never `content-type` (set from `body`/`raw`) nor a CORS header. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * A long-lived response (Server-Sent Events): after the head is sent, `open` writes to the
   * sink until it ends it or the client leaves. Takes precedence over `raw` and `body`.
   */
  readonly stream?: { readonly contentType: string; open(sink: ResponseSink): void };
}

/** Where a streaming handler writes (see `HttpResponse.stream`). */
export interface ResponseSink {
  /** Writes `chunk`; returns the bytes this client has not taken yet (the socket's buffer). */
  write(chunk: string): number;
  /** Bytes buffered for this client. */
  readonly buffered: number;
  /** Resolves once the buffer drained, or the client left. */
  drained(): Promise<void>;
  /** Ends the response (`destroy`: drop the connection at once, e.g. a client too slow to keep up). */
  end(destroy?: boolean): void;
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

export type Handler = (request: HttpRequest) => Promise<HttpResponse> | HttpResponse;

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  /** Per segment: the parameter it names (`:name`), or null for a literal segment. */
  readonly params: readonly (string | null)[];
  readonly handler: Handler;
}

/** A route that matched a request: its handler and the request's path parameters. */
interface Match {
  readonly handler: Handler;
  readonly params: Readonly<Record<string, string>>;
}

/** Plain-target matches a Router keeps (see Router#plainMatches), and the longest path kept. */
const PLAIN_MATCH_CACHE_LIMIT = 1024;
const PLAIN_MATCH_MAX_PATH = 256;

/** A request as it arrived, before routing (from HTTP, or forwarded by another node). */
export interface RawRequest {
  readonly method: string;
  /** Path and query, e.g. `/node/tx?txid=2.5`. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Uint8Array;
}

/**
 * Routes by method and path pattern (`/app/:contract/:method`). First match wins; adding a route
 * with the same method and pattern as an earlier one replaces it (a node answers
 * `/node/status` before its full API is built).
 */
export class Router {
  #gate: ((path: string) => void) | null = null;

  /**
   * Runs `gate(path)` before routing every request: it throws (a TreatyError) to refuse one,
   * e.g. `Unavailable` while the node is not ready to serve it.
   */
  setGate(gate: ((path: string) => void) | null): void {
    this.#gate = gate;
  }

  /**
   * Called with every AssertionFailure a handler throws (a broken invariant: the node must stop,
   * see node/main.ts). The request itself is answered 500 `Internal`.
   */
  onBrokenInvariant: ((error: AssertionFailure) => void) | undefined;

  /**
   * Routes and runs `request`; never throws or rejects: failures become `{error}` responses. Not
   * an async function: a handler's own promise carries the answer (one promise fewer per request).
   */
  dispatch(request: RawRequest, logger: Logger): Promise<HttpResponse> {
    const fail = (err: unknown): HttpResponse => this.failure(err, logger, request.url);
    try {
      const answer = this.run(request.method, request.url, request.headers, request.body);
      return answer instanceof Promise ? answer.then(undefined, fail) : Promise.resolve(answer);
    } catch (err) {
      return Promise.resolve(fail(err));
    }
  }

  /**
   * Routes a request (its fields as arguments: no object per request for them) and runs its
   * handler: the handler's answer as it gives it (a promise or not).
   * Throws (or the promise rejects) with what the handler threw, or a TreatyError for a request
   * no route takes; `failure` turns either into the response to send.
   */
  run(
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    body: Uint8Array,
  ): Promise<HttpResponse> | HttpResponse {
    if (this.routes.length === 0) throw new TreatyError("Unavailable", "the node is starting: retry shortly");
    // A plain target's match is kept under the target itself (see #plainMatches): a hit needs no
    // split of the target, and its query is the shared empty one.
    let path: string;
    let query: URLSearchParams;
    let found = this.#plainMatches.get(method)?.get(url);
    if (found !== undefined) {
      path = url;
      query = NO_QUERY;
      this.#gate?.(path);
    } else {
      let plainPath: boolean;
      ({ path, query, plainPath } = splitTarget(url));
      this.#gate?.(path);
      const matched =
        plainPath && path.length <= PLAIN_MATCH_MAX_PATH
          ? this.#matchPlain(method, path)
          : this.match(method, path);
      if (matched === undefined) throw new TreatyError("NotFound", `no endpoint ${path}`);
      if (matched === "method-not-allowed")
        throw new TreatyError("NotFound", `${method} is not supported on ${path}`);
      found = matched;
    }
    return found.handler({
      method,
      path,
      query,
      headers,
      body,
      params: found.params,
    });
  }

  /** The response for what `run` threw (or rejected with) for the request to `url`. */
  failure(err: unknown, logger: Logger, url: string | undefined): HttpResponse {
    if (err instanceof AssertionFailure) this.onBrokenInvariant?.(err);
    return errorResponse(err, logger, url);
  }

  private readonly routes: Route[] = [];

  /**
   * Matches of plain paths (splitTarget: a path of `[A-Za-z0-9_-]` segments, with no query or a
   * plain one), by method, then path: the hot `POST /app/<contract>/<method>` is matched once per
   * path, not split, decoded and compared against every route per request, and so is a long poll's
   * `GET /node/tx?txid=...` (the first lookup, by the whole target, misses it: its path is found
   * here after the split). Only matches are kept (their params
   * frozen, as they are shared), of paths up to PLAIN_MATCH_MAX_PATH characters, at most
   * PLAIN_MATCH_CACHE_LIMIT (then it starts afresh), and the cache is emptied whenever the routes
   * change.
   */
  readonly #plainMatches = new Map<string, Map<string, Match>>();
  #plainMatchCount = 0;

  #matchPlain(method: string, path: string): Match | "method-not-allowed" | undefined {
    let byPath = this.#plainMatches.get(method);
    const hit = byPath?.get(path);
    if (hit !== undefined) return hit;
    const found = this.match(method, path);
    if (typeof found !== "object") return found;
    if (this.#plainMatchCount >= PLAIN_MATCH_CACHE_LIMIT) {
      this.#plainMatches.clear();
      this.#plainMatchCount = 0;
      byPath = undefined;
    }
    if (byPath === undefined) {
      byPath = new Map();
      this.#plainMatches.set(method, byPath);
    }
    const shared: Match = { handler: found.handler, params: Object.freeze(found.params) };
    byPath.set(path, shared);
    this.#plainMatchCount++;
    return shared;
  }

  #routesChanged(): void {
    this.#plainMatches.clear();
    this.#plainMatchCount = 0;
  }

  /** Removes every route (the node answers Unavailable until new ones are added). */
  clear(): this {
    this.routes.length = 0;
    this.#routesChanged();
    return this;
  }

  /** Every route as `METHOD /pattern` (e.g. `POST /app/:contract/:method`), in match order. */
  endpoints(): string[] {
    return this.routes.map((r) => `${r.method} /${r.segments.join("/")}`);
  }

  add(method: string, pattern: string, handler: Handler): this {
    const segments = pattern.split("/").filter(Boolean);
    const params = segments.map((seg) => (seg.startsWith(":") ? seg.slice(1) : null));
    const route = { method, segments, params, handler };
    const same = this.routes.findIndex(
      (r) => r.method === method && r.segments.join("/") === route.segments.join("/"),
    );
    if (same === -1) this.routes.push(route);
    else this.routes[same] = route;
    this.#routesChanged();
    return this;
  }

  match(method: string, path: string): Match | "method-not-allowed" | undefined {
    const parts = path.split("/").filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      const { segments, params: names } = route;
      if (segments.length !== parts.length) continue;
      // Segment by segment, in order: a parameter is decoded (a malformed one throws) before a
      // later literal segment is compared.
      let params: Record<string, string> | undefined;
      let ok = true;
      for (let i = 0; i < segments.length; i++) {
        const name = names[i];
        if (name !== null && name !== undefined) {
          params ??= {};
          params[name] = decodeSegment(parts[i]!);
        } else if (segments[i] !== parts[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params: params ?? {} };
    }
    return pathMatched ? "method-not-allowed" : undefined;
  }
}

/** The query of every target without one: shared by all their requests, so it refuses changes. */
class EmptyQuery extends URLSearchParams {
  override append(): void {
    throw new TypeError("a request's query is read-only");
  }
  override delete(): void {
    throw new TypeError("a request's query is read-only");
  }
  override set(): void {
    throw new TypeError("a request's query is read-only");
  }
  override sort(): void {
    throw new TypeError("a request's query is read-only");
  }
}
const NO_QUERY: URLSearchParams = new EmptyQuery();

/** A request target of only `/`-separated `[A-Za-z0-9_-]` segments: its own path, with no query. */
const PLAIN_TARGET = /^(?:\/[A-Za-z0-9_-]+)+$/;

/**
 * A query (after the `?`) of characters the WHATWG URL parser keeps as they are in a query: no
 * character it percent-encodes (controls, space, quotes, `<`, `>`, non-ASCII), strips (tab, line
 * breaks) or ends the query at (`#`), so its `searchParams` are `new URLSearchParams` of the text.
 */
const PLAIN_QUERY = /^[A-Za-z0-9._~=&%+,:-]*$/;

/**
 * The path and query of a request target (`/node/tx?txid=2.5`), as the WHATWG URL parser gives
 * them, and whether the path is plain (only `[A-Za-z0-9_-]` segments: the router keeps its match).
 * A plain target (the hot `POST /app/<contract>/<method>`) is its own path and needs no parse; a
 * plain path with a plain query (a commit watch's `GET /node/tx?txid=2.5`) is split at its `?`.
 */
export function splitTarget(target: string): { path: string; query: URLSearchParams; plainPath: boolean } {
  if (PLAIN_TARGET.test(target)) return { path: target, query: NO_QUERY, plainPath: true };
  const mark = target.indexOf("?");
  if (mark > 0) {
    const path = target.slice(0, mark);
    const search = target.slice(mark + 1);
    if (PLAIN_TARGET.test(path) && PLAIN_QUERY.test(search))
      return { path, query: new URLSearchParams(search), plainPath: true };
  }
  const url = new URL(target, "http://treaty");
  return { path: url.pathname, query: url.searchParams, plainPath: false };
}

/** A path segment, percent-decoded; a malformed escape (`%`, `%zz`, bad UTF-8) is MalformedRequest. */
function decodeSegment(segment: string): string {
  if (!segment.includes("%")) return segment; // nothing to decode (and nothing malformed)
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TreatyError(
      "MalformedRequest",
      `path segment ${JSON.stringify(segment.slice(0, 80))}: malformed percent-encoding`,
    );
  }
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly router: Router;
  readonly maxBodyBytes: number;
  readonly logger: Logger;
  /** Which other origins' pages may call this node (node/http/cors.ts); none by default. */
  readonly cors?: CorsPolicy;
  /** Serve HTTPS (TLS 1.3) with these credentials; swap them later with `setTlsCredentials`. */
  readonly tls?: TlsCredentials;
  /** The URL to publish instead of `scheme://host:port` (node/config.ts `http.advertiseUrl`). */
  readonly advertiseUrl?: string;
}

export interface RunningHttpServer {
  readonly url: string;
  readonly port: number;
  /** Replaces the TLS certificate for new connections (a node once endorsed); no-op over plain HTTP. */
  setTlsCredentials(credentials: TlsCredentials): void;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    void handle(options, req, res);
  };
  const tls = options.tls;
  const server: Server =
    tls === undefined
      ? createServer({ keepAlive: true }, listener)
      : createHttpsServer({ keepAlive: true, ...tls, minVersion: "TLSv1.3" }, listener);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = tls === undefined ? "http" : "https";
  return {
    url:
      options.advertiseUrl ??
      `${scheme}://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`,
    port,
    setTlsCredentials: (credentials) => {
      if (tls !== undefined) (server as HttpsServer).setSecureContext({ ...credentials });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Answers one request. Written with callbacks rather than `async`/`await` (one promise per
 * request, from the router): this runs for every request, and each await or promise it saves is
 * main-thread time and garbage on the write path.
 */
function handle(options: HttpServerOptions, req: IncomingMessage, res: ServerResponse): void {
  const headers = req.headers;
  const accept = headers.accept;
  const wantsMsgpack = accept?.includes(CONTENT_MSGPACK) === true;
  const method = req.method ?? "GET";
  const cors = options.cors ?? NO_CORS;
  if (isPreflight(method, headers)) {
    const answer = preflight(cors, headers);
    send(res, answer instanceof TreatyError ? errorResponse(answer, options.logger) : answer, wantsMsgpack);
    req.resume();
    return;
  }
  const allowOrigin = headers.origin === undefined ? undefined : corsHeaders(cors, headers);
  readBody(req, options.maxBodyBytes, (err, body) => {
    if (err !== null) {
      send(res, errorResponse(err, options.logger, req.url), wantsMsgpack, allowOrigin);
      req.destroy();
      return;
    }
    void answer(options, res, method, req.url ?? "/", headers, body, wantsMsgpack, allowOrigin);
  });
}

/**
 * Routes `request`, awaits its handler and sends the answer. One async function rather than the
 * router's `dispatch` and a `.then`: the handler's promise is awaited once, with no promise of
 * the router's in between and no closures made per request.
 */
async function answer(
  options: HttpServerOptions,
  res: ServerResponse,
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Uint8Array,
  wantsMsgpack: boolean,
  allowOrigin: Readonly<Record<string, string>> | undefined,
): Promise<void> {
  let response: HttpResponse;
  try {
    response = await options.router.run(method, url, headers, body);
  } catch (err) {
    response = options.router.failure(err, options.logger, url);
  }
  send(res, response, wantsMsgpack, allowOrigin);
}

/** The error response for `err`: its code and status, or a 500 without host details. */
export function errorResponse(err: unknown, logger: Logger, path?: string): HttpResponse {
  if (err instanceof TreatyError) return { status: httpStatus(err.code), body: err.toJSON() };
  logger.error("http handler failed", { path, err });
  const internal = new TreatyError("Internal", "internal error (see the node's log)");
  return { status: 500, body: internal.toJSON() };
}

const NO_BODY = new Uint8Array(0);

/**
 * Reads the body (at most `maxBytes`) and calls `done` once: with the error, or with the body in
 * a buffer of its own (never a view of memory shared with anything else). node:http hands each
 * body chunk over in a buffer of its own already (the parser copies it out of the socket's read
 * buffer), so a one-chunk body (the usual request) is used in place, not copied again; chunks
 * are joined into one fresh buffer.
 */
function readBody(
  req: IncomingMessage,
  maxBytes: number,
  done: (err: unknown, body: Uint8Array) => void,
): void {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) {
    done(
      new TreatyError("PayloadTooLarge", `body: ${declared} bytes exceeds the ${maxBytes}-byte limit`),
      NO_BODY,
    );
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  req.on("data", (chunk: Buffer) => {
    if (settled) return;
    size += chunk.length;
    if (size > maxBytes) {
      settled = true;
      done(new TreatyError("PayloadTooLarge", `body: exceeds the ${maxBytes}-byte limit`), NO_BODY);
      req.removeAllListeners("data");
      req.resume();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (settled) return;
    settled = true;
    done(null, chunks.length === 1 ? ownedBytes(chunks[0]!) : concatBytes(...chunks));
  });
  req.on("error", (err) => {
    if (settled) return;
    settled = true;
    done(err, NO_BODY);
  });
}

/** `chunk` as a plain Uint8Array: a view when it spans a buffer of its own, else a copy. */
export function ownedBytes(chunk: Uint8Array): Uint8Array {
  return chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length
    ? new Uint8Array(chunk.buffer, 0, chunk.length)
    : new Uint8Array(chunk);
}

function send(
  res: ServerResponse,
  response: HttpResponse,
  wantsMsgpack: boolean,
  extraHeaders?: Readonly<Record<string, string>>,
): void {
  if (res.headersSent) return;
  if (response.stream) {
    res.writeHead(response.status ?? 200, {
      "content-type": response.stream.contentType,
      "cache-control": "no-cache",
      ...response.headers,
    });
    res.flushHeaders();
    response.stream.open(streamSink(res));
    return;
  }
  let contentType: string;
  let bytes: Uint8Array | string;
  if (response.status === 204) {
    res.writeHead(204, headerList(null, response.headers, extraHeaders));
    res.end();
    return;
  }
  if (response.raw) {
    ({ contentType, bytes } = response.raw);
  } else if (wantsMsgpack) {
    contentType = CONTENT_MSGPACK;
    bytes = encode(response.body ?? null);
  } else {
    contentType = CONTENT_JSON;
    bytes = JSON.stringify(response.body ?? null);
  }
  const headers = headerList(contentType, response.headers, extraHeaders);
  // A declared length: node:http otherwise sends a head written before the body chunked (head,
  // size line, body, CRLF and terminating chunk go to the socket as five parts) and the client
  // parses the chunks. With it a string body is joined to the head: one part (and the empty one
  // `end` always adds). Not `write` then `end()`: `write` corks the socket too, and `end` still
  // adds the empty part behind the buffered one.
  headers.push("content-length", String(typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.length));
  res.writeHead(response.status ?? 200, headers);
  res.end(bytes);
}

/**
 * A response's headers as node:http's flat `[name, value, ...]` list (no intermediate object per
 * response). The handler's headers and the CORS headers never name the same header, nor
 * `content-type` (see `HttpResponse.headers`).
 */
function headerList(
  contentType: string | null,
  handlerHeaders: Readonly<Record<string, string>> | undefined,
  extraHeaders: Readonly<Record<string, string>> | undefined,
): string[] {
  const list: string[] = contentType === null ? [] : ["content-type", contentType];
  if (handlerHeaders !== undefined) for (const name in handlerHeaders) list.push(name, handlerHeaders[name]!);
  if (extraHeaders !== undefined) for (const name in extraHeaders) list.push(name, extraHeaders[name]!);
  return list;
}

function streamSink(res: ServerResponse): ResponseSink {
  let closed = false;
  res.once("close", () => {
    closed = true;
  });
  return {
    write: (chunk) => {
      if (!closed) res.write(chunk);
      return res.writableLength;
    },
    get buffered() {
      return res.writableLength;
    },
    drained: () =>
      closed || res.writableLength === 0
        ? Promise.resolve()
        : new Promise((resolve) => {
            const done = () => {
              res.off("drain", done);
              res.off("close", done);
              resolve();
            };
            res.once("drain", done);
            res.once("close", done);
          }),
    end: (destroy = false) => {
      if (destroy) res.destroy();
      else res.end();
    },
    get closed() {
      return closed;
    },
    onClose: (listener) => {
      if (closed) listener();
      else res.once("close", listener);
    },
  };
}
