/**
 * The client side of the client API's TLS, for Node (the SDK stays portable and takes any
 * `fetch`): a fetch that trusts exactly one service certificate (no system CAs), and a way to
 * obtain that certificate from a node when only the service key is pinned (a joining node, or a
 * service.json from before certificates), checked against the key.
 *
 * Each fetch here is `fetchOverTransport` over a node:https transport (sdk/transport.ts) with
 * the pinned agent: a `Client` given one sends through that transport directly (no WHATWG
 * Request and Response per call), and code calling it as a `fetch` gets a `Response`. Either
 * way the requests go through the same agent, so the same certificate checks. Those read an
 * answer whole; `streamingFetch`, for answers that do not end (Server-Sent Events), is a plain
 * node:http(s) request over an agent with the same checks whose body streams.
 *
 * Host names are not checked: the pinned service certificate is the trust anchor and every
 * certificate it issued is a node of that service, whatever address reached it (as CCF clients).
 */
import { X509Certificate } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { connect } from "node:tls";
import { equalBytes } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import { fetchOverTransport, nodeTransport, type Transport } from "../../sdk/transport.js";

/**
 * A `fetch` for `https:` node URLs that accepts only certificates issued by `serviceCertificate`
 * (PEM); `http:` URLs (a node configured for plain HTTP) go over plain node:http. A node
 * whose certificate the service did not issue fails the request with a TypeError, as fetch does
 * for network failures, whose `cause` says why (a `Client` given this fetch: `Unavailable`, and
 * the next node is tried).
 *
 * @example
 *   import { pinnedFetch } from "treaty/tls";
 *   const { serviceKey, nodes, serviceCertificate } = parseServiceFile(json);
 *   const client = new Client({ nodes, serviceKey, key, fetch: pinnedFetch(serviceCertificate!) });
 */
export function pinnedFetch(serviceCertificate: string): typeof fetch {
  return fetchOverTransport(withPlainHttp(pinnedTransport(serviceCertificate)));
}

/**
 * A `fetch` that accepts any certificate on `https:` URLs: for a CLI without a pinned service
 * (it warns), and for recovery shares (a recovering node serves a provisional certificate until
 * the recovered service endorses it).
 */
export function unpinnedFetch(): typeof fetch {
  const agent = new Agent({ rejectUnauthorized: false, keepAlive: true, minVersion: "TLSv1.3" });
  return fetchOverTransport(withPlainHttp(nodeTransport(httpsRequest, agent, "https:")));
}

/**
 * A `fetch` pinned by the service key alone: on the first `https:` request it obtains the
 * service certificate from the node's TLS chain (`serviceCertificateOf`, checked against
 * `serviceKey`), then behaves as `pinnedFetch` with it. A node the key did not endorse (or one
 * still serving its provisional certificate) fails the request like a network error (TypeError),
 * so callers that retry unreachable nodes retry it; the next request tries to pin again.
 */
export function keyPinnedFetch(serviceKey: PublicKey): typeof fetch {
  let pinned: Transport | undefined;
  let pinning: Promise<Transport> | undefined;
  const pin = async (url: string): Promise<Transport> => {
    const target = new URL(url);
    if (target.protocol !== "https:") throw new TypeError(`${url}: not an https URL`);
    pinning ??= serviceCertificateOf(target.origin, serviceKey).then(
      (certificate) => (pinned = pinnedTransport(certificate)),
    );
    const attempt = pinning;
    try {
      return await attempt;
    } catch (err) {
      if (pinning === attempt) pinning = undefined;
      throw err;
    }
  };
  const secure: Transport = (url, request) =>
    pinned !== undefined ? pinned(url, request) : pin(url).then((transport) => transport(url, request));
  return fetchOverTransport(withPlainHttp(secure));
}

/** node:https requests that accept only certificates issued by `serviceCertificate` (PEM). */
function pinnedTransport(serviceCertificate: string): Transport {
  return nodeTransport(httpsRequest, pinnedAgent(serviceCertificate), "https:");
}

/** An https agent that accepts only certificates issued by `serviceCertificate` (PEM). */
function pinnedAgent(serviceCertificate: string): Agent {
  const ca = new X509Certificate(serviceCertificate).toString();
  return new Agent({ ca, keepAlive: true, minVersion: "TLSv1.3", checkServerIdentity: () => undefined });
}

/** Whom a `streamingFetch` trusts on `https:` URLs. */
export type StreamTrust =
  | { readonly serviceCertificate: string }
  | { readonly serviceKey: PublicKey }
  | "unpinned";

/**
 * A `fetch` whose answer bodies stream as they arrive, for answers that do not end: `GET
 * /app/events` (Server-Sent Events), e.g. as `watchEvents({fetch})` or `treaty events`. The
 * fetches above read an answer whole, so a stream through them never yields. On `https:` URLs it
 * trusts what `pinnedFetch` (`{serviceCertificate}`), `keyPinnedFetch` (`{serviceKey}`) or
 * `unpinnedFetch` (`"unpinned"`) trust; `http:` URLs go over plain node:http. GET requests
 * without a body only. A failed connection or a refused certificate rejects with
 * `TypeError("fetch failed")` whose `cause` says why; an abort, also while the body streams,
 * with the signal's reason.
 */
export function streamingFetch(trust: StreamTrust): typeof fetch {
  const plain = new HttpAgent({ keepAlive: true });
  let secure: Agent | undefined =
    trust === "unpinned"
      ? new Agent({ rejectUnauthorized: false, keepAlive: true, minVersion: "TLSv1.3" })
      : "serviceCertificate" in trust
        ? pinnedAgent(trust.serviceCertificate)
        : undefined;
  const agentFor = async (url: URL): Promise<HttpAgent> => {
    if (url.protocol === "http:") return plain;
    if (url.protocol !== "https:") throw new TypeError(`${url.href}: not an http(s) URL`);
    if (secure === undefined && trust !== "unpinned" && "serviceKey" in trust) {
      // Pinned by the key alone: the certificate it issued, from the node's chain (checked).
      try {
        secure = pinnedAgent(await serviceCertificateOf(url.origin, trust.serviceKey));
      } catch (err) {
        throw new TypeError("fetch failed", { cause: err });
      }
    }
    return secure!;
  };
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    if ((init?.method ?? "GET") !== "GET" || (init?.body ?? null) !== null)
      throw new TypeError("streamingFetch: GET requests without a body only");
    const agent = await agentFor(url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers = Object.fromEntries(new Headers(init?.headers));
    return new Promise<Response>((resolve, reject) => {
      const failed = (err: unknown) =>
        reject(signal?.aborted ? signal.reason : new TypeError("fetch failed", { cause: err }));
      const request = send(url, { headers, agent, ...(signal !== undefined && { signal }) }, (answer) => {
        const status = answer.statusCode ?? 0;
        if (status < 200 || status > 599) {
          answer.destroy();
          failed(new Error(`unsupported HTTP status ${status}`));
          return;
        }
        const answerHeaders = new Headers();
        for (const [name, value] of Object.entries(answer.headers)) {
          if (typeof value === "string") answerHeaders.append(name, value);
          else if (value !== undefined) for (const one of value) answerHeaders.append(name, one);
        }
        const nullBody = status === 204 || status === 205 || status === 304;
        if (nullBody) answer.resume();
        const body = nullBody ? null : (Readable.toWeb(answer) as ReadableStream<Uint8Array>);
        resolve(new Response(body, { status, headers: answerHeaders }));
      });
      request.once("error", failed);
      request.end();
    });
  };
}

/**
 * `http:` URLs over plain node:http (a node configured for plain HTTP); every other URL goes to
 * `secure`, which sends `https:` URLs only (whatever the letter case of the scheme).
 */
function withPlainHttp(secure: Transport): Transport {
  const plain = nodeTransport(httpRequest, new HttpAgent({ keepAlive: true }), "http:");
  return (url, request) => (isHttpUrl(url) ? plain(url, request) : secure(url, request));
}

function isHttpUrl(url: string): boolean {
  if (url.startsWith("http://")) return true;
  if (url.startsWith("https://")) return false;
  return URL.canParse(url) && new URL(url).protocol === "http:";
}

/**
 * The service certificate a node at `url` presents in its chain, once checked to be the
 * self-signed certificate of `serviceKey` and the issuer of the node's own certificate. The TLS
 * handshake proves the node holds its certificate's key; no request is sent. Throws TreatyError
 * `Forbidden` when the node is not endorsed by `serviceKey`, `Unavailable` when unreachable.
 */
export async function serviceCertificateOf(
  url: string,
  serviceKey: PublicKey,
  timeoutMs = 10_000,
): Promise<string> {
  const target = new URL(url);
  const chain = await new Promise<X509Certificate[]>((resolve, reject) => {
    const socket = connect({
      host: target.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(target.port || 443),
      rejectUnauthorized: false, // checked below, against the pinned key
      minVersion: "TLSv1.3",
      servername: undefined,
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("TLS handshake timed out")));
    socket.once("secureConnect", () => {
      const certs: X509Certificate[] = [];
      let cert = socket.getPeerCertificate(true);
      for (let i = 0; i < 4 && cert?.raw !== undefined; i++) {
        certs.push(new X509Certificate(cert.raw));
        if (cert.issuerCertificate === undefined || cert.issuerCertificate === cert) break;
        cert = cert.issuerCertificate;
      }
      socket.destroy();
      resolve(certs);
    });
    socket.once("error", (err) =>
      reject(new TreatyError("Unavailable", `${url}: TLS connection failed (${err.message})`)),
    );
  });
  const [leaf, ...rest] = chain;
  const service = rest.find((c) => isServiceCertificate(c, serviceKey));
  if (leaf === undefined || service === undefined || !leaf.verify(service.publicKey) || leaf.ca)
    throw new TreatyError(
      "Forbidden",
      `${url}: the node's certificate is not endorsed by the pinned service key`,
    );
  return service.toString();
}

/** True when `cert` is a self-signed CA certificate for exactly `serviceKey`. */
export function isServiceCertificate(cert: X509Certificate, serviceKey: PublicKey): boolean {
  if (serviceKey.curve !== "ed25519" || !cert.ca || cert.publicKey.asymmetricKeyType !== "ed25519")
    return false;
  const jwk = cert.publicKey.export({ format: "jwk" });
  const raw = new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
  return equalBytes(raw, serviceKey.publicKey) && cert.verify(cert.publicKey);
}
