/**
 * The client side of the client API's TLS, for Node (the SDK stays portable and takes any
 * `fetch`): a fetch that trusts exactly one service certificate (no system CAs), and a way to
 * obtain that certificate from a node when only the service key is pinned (a joining node, or a
 * service.json from before certificates), checked against the key.
 *
 * Host names are not checked: the pinned service certificate is the trust anchor and every
 * certificate it issued is a node of that service, whatever address reached it (as CCF clients).
 */
import { X509Certificate } from "node:crypto";
import { Agent, request as httpsRequest } from "node:https";
import { connect } from "node:tls";
import { equalBytes } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";

/**
 * A `fetch` for `https:` node URLs that accepts only certificates issued by `serviceCertificate`
 * (PEM); `http:` URLs (a node configured for plain HTTP) go to the platform fetch. A node
 * whose certificate the service did not issue fails the request with a TypeError, as fetch does
 * for network failures, whose `cause` says why.
 *
 * @example
 *   import { pinnedFetch } from "treaty/tls";
 *   const { serviceKey, nodes, serviceCertificate } = parseServiceFile(json);
 *   const client = new Client({ nodes, serviceKey, key, fetch: pinnedFetch(serviceCertificate!) });
 */
export function pinnedFetch(serviceCertificate: string): typeof fetch {
  const ca = new X509Certificate(serviceCertificate).toString();
  const agent = new Agent({
    ca,
    keepAlive: true,
    minVersion: "TLSv1.3",
    checkServerIdentity: () => undefined,
  });
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== "https:") return globalThis.fetch(input, init);
    return httpsFetch(url, init ?? {}, agent);
  };
}

/**
 * A `fetch` that accepts any certificate on `https:` URLs: for a CLI without a pinned service
 * (it warns), and for recovery shares (a recovering node serves a provisional certificate until
 * the recovered service endorses it).
 */
export function unpinnedFetch(): typeof fetch {
  const agent = new Agent({ rejectUnauthorized: false, keepAlive: true, minVersion: "TLSv1.3" });
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== "https:") return globalThis.fetch(input, init);
    return httpsFetch(url, init ?? {}, agent);
  };
}

/**
 * A `fetch` pinned by the service key alone: on the first `https:` request it obtains the
 * service certificate from the node's TLS chain (`serviceCertificateOf`, checked against
 * `serviceKey`), then behaves as `pinnedFetch` with it. A node the key did not endorse (or one
 * still serving its provisional certificate) fails the request like a network error (TypeError),
 * so callers that retry unreachable nodes retry it.
 */
export function keyPinnedFetch(serviceKey: PublicKey): typeof fetch {
  let pinned: Promise<typeof fetch> | undefined;
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== "https:") return globalThis.fetch(input, init);
    pinned ??= serviceCertificateOf(url.origin, serviceKey).then(pinnedFetch);
    const attempt = pinned;
    let pinnedFetchImpl: typeof fetch;
    try {
      pinnedFetchImpl = await attempt;
    } catch (err) {
      if (pinned === attempt) pinned = undefined;
      throw new TypeError("fetch failed", { cause: err });
    }
    return pinnedFetchImpl(input, init);
  };
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

/** One request over node:https, answered as a WHATWG Response (body read whole). */
function httpsFetch(url: URL, init: RequestInit, agent: Agent): Promise<Response> {
  return new Promise((resolve, reject) => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const headers = new Headers(init.headers);
    const req = httpsRequest(
      url,
      { method: init.method ?? "GET", headers: Object.fromEntries(headers), agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined)
              responseHeaders.set(name, Array.isArray(value) ? value.join(", ") : value);
          }
          const status = res.statusCode ?? 502;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(
            new Response(body, { status, statusText: res.statusMessage ?? "", headers: responseHeaders }),
          );
        });
        res.on("error", (err) => reject(new TypeError("fetch failed", { cause: err })));
      },
    );
    const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => signal?.removeEventListener("abort", onAbort));
    req.on("error", (err) =>
      reject(signal?.aborted ? signal.reason : new TypeError("fetch failed", { cause: err })),
    );
    const body = init.body;
    if (body === undefined || body === null) req.end();
    else if (typeof body === "string" || body instanceof Uint8Array) req.end(body);
    else if (body instanceof ArrayBuffer) req.end(new Uint8Array(body));
    else {
      req.destroy();
      reject(new TypeError("pinnedFetch: body must be a string or bytes"));
    }
  });
}
