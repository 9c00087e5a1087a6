/**
 * The benchmarks' HTTP client: plain `node:http` requests over a caller's keep-alive `Agent`
 * (no SDK in the measured path, so the numbers are the node's, not the client's).
 *
 * The client shares the machine's cores with the nodes (and etcd), so it is kept cheap: each
 * request's head is handed to node:http as a ready list of header lines (no per-header
 * `setHeader` validation, no WHATWG URL parse of every target: the origin's host and port are
 * parsed once), and the answer's chunks are joined once, without a string decoder. Every
 * request, Treaty's and etcd's alike, goes through `send`. Measured against a stub server (256
 * in flight): ~90 → ~57 µs of client CPU per request.
 */
import { type Agent, request as httpRequest } from "node:http";
import type { SignedRequest } from "../sdk/request.js";

interface Origin {
  readonly hostname: string;
  readonly port: number;
  /** The `Host` header's value. */
  readonly host: string;
}

/** Parsed origins (`http://host:port`) by their text: a bench talks to a handful. */
const origins = new Map<string, Origin>();

function originOf(text: string): Origin {
  let origin = origins.get(text);
  if (origin === undefined) {
    const url = new URL(text);
    if (url.protocol !== "http:") throw new TypeError(`${text}: the bench client speaks plain http only`);
    origin = { hostname: url.hostname, port: Number(url.port || 80), host: url.host };
    origins.set(text, origin);
  }
  return origin;
}

/** One HTTP request over `agent`; resolves with the status and the answer's text. */
export function send(
  agent: Agent,
  url: string,
  method: string,
  body: Uint8Array | string | undefined,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; text: string }> {
  const lines: string[] = [];
  for (const name in headers) {
    // The length is declared from the body itself.
    if (name.toLowerCase() !== "content-length") lines.push(name, headers[name]!);
  }
  return sendLines(agent, url, method, body, lines);
}

/** POSTs a signed call to the node at `base` (a JSON answer, the body's length up front). */
export function postSigned(
  agent: Agent,
  base: string,
  request: SignedRequest,
): Promise<{ status: number; text: string }> {
  const lines: string[] = ["accept", "application/json"];
  for (const name in request.headers) lines.push(name, request.headers[name]!);
  return sendLines(agent, base + request.path, "POST", request.body, lines);
}

/** `send` with the headers as a list of names and values, without `host` or `content-length`. */
function sendLines(
  agent: Agent,
  url: string,
  method: string,
  body: Uint8Array | string | undefined,
  lines: string[],
): Promise<{ status: number; text: string }> {
  // `http://host:port/path?query`: the origin ends at the first `/` after the scheme's `//`.
  const pathAt = url.indexOf("/", url.indexOf("//") + 2);
  const origin = originOf(pathAt === -1 ? url : url.slice(0, pathAt));
  const path = pathAt === -1 ? "/" : url.slice(pathAt);
  lines.push("host", origin.host);
  // The head is written before node:http sees the body: its length is declared here (a POST
  // without one would go chunked).
  if (body !== undefined)
    lines.push("content-length", String(typeof body === "string" ? Buffer.byteLength(body) : body.length));
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      hostname: origin.hostname,
      port: origin.port,
      path,
      method,
      agent,
      headers: lines,
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          text: chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Opens `count` keep-alive connections of `agent` before a run's clock starts, spread round robin
 * over `urls` (a cheap GET each, all at once, so each takes a connection of its own): a client
 * that has been talking to a service has its connections, and a run that opened them as it went
 * timed TCP setup and each connection's first request on both ends. Treaty's and etcd's runs
 * both open theirs this way (bench/network.ts).
 */
export async function openConnections(agent: Agent, urls: readonly string[], count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      send(agent, urls[i % urls.length]!, "GET", undefined).then(({ status, text }) => {
        if (status !== 200)
          throw new Error(`${urls[i % urls.length]}: HTTP ${status} opening a connection: ${text}`);
      }),
    ),
  );
}
