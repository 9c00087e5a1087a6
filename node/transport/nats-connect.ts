/**
 * The first connection to a NATS cluster, secured as a config section asks (TLS files and
 * credentials), with a wall-clock deadline and a failure message an operator acts on. The one way
 * the node connects to NATS: the transport (the `nats` section) and the JetStream export of events
 * (the `events.jetstream` section) both use it, so both secure, bound and explain a connection
 * the same way, each naming its own section.
 */
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";
import { TreatyError } from "../../sdk/errors.js";

export interface NatsTlsOptions {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/**
 * NATS credentials, already read from their files (`readNatsCredentials`, at start): an nkey seed
 * (`SU...`, signs the server's nonce; the server knows only the public key), a `.creds` file
 * (user JWT + nkey seed, for operator/JWT-mode servers), or a user name and password.
 */
export type NatsCredentials =
  | { readonly kind: "nkey"; readonly seed: Uint8Array }
  | { readonly kind: "creds"; readonly creds: Uint8Array }
  | { readonly kind: "password"; readonly user: string; readonly password: string };

/** How `connectNats` secures, bounds and explains a connection. */
export interface NatsLinkOptions {
  /**
   * TLS to the servers (files read by the NATS client): `caFile` pins the CA that signs the
   * servers' certificates; `certFile` and `keyFile` are the client certificate when the servers
   * require one (`verify: true`). Any field set makes TLS mandatory.
   */
  readonly tls?: NatsTlsOptions | undefined;
  /** How the client authenticates. Default: no credentials. */
  readonly credentials?: NatsCredentials | undefined;
  /** The client's connect timeout per dial; the whole first connection gets 1 s more. */
  readonly timeoutMs: number;
  /** The field a failure names first, e.g. `servers` or `events.jetstream.servers`. */
  readonly serversField: string;
  /** The config section a failure points at: `check <section>.tls` / `<section>.credentials`. */
  readonly section: string;
}

/** Extra time `connectNats` gives the client's own connect timeout before giving up on it. */
const CONNECT_GRACE_MS = 1000;

/**
 * Connects with `options` (servers, name, reconnect policy...) secured by `link`. Throws
 * `Unavailable` `<serversField>: cannot connect to <servers> (<why>)`, where a refused
 * certificate or credential ends with `; check <section>.tls` or `; check <section>.credentials`.
 */
export async function connectNats(
  options: ConnectionOptions,
  link: NatsLinkOptions,
): Promise<NatsConnection> {
  const authenticator = authenticatorFor(link.credentials);
  try {
    return await connectWithin(
      {
        ...options,
        timeout: link.timeoutMs,
        ...(link.tls !== undefined && { tls: { ...link.tls } }),
        ...(authenticator !== undefined && { authenticator }),
      },
      link.timeoutMs,
    );
  } catch (err) {
    const servers = options.servers === undefined ? [] : [options.servers].flat();
    throw new TreatyError(
      "Unavailable",
      `${link.serversField}: cannot connect to ${servers.join(", ")} (${connectFailure(err, link.tls?.certFile !== undefined, link.section)})`,
    );
  }
}

/**
 * `connect` with a wall-clock deadline. The client's own `timeout` bounds each dial, but a
 * server that ends the TLS handshake after it (a client certificate it does not trust, under TLS
 * 1.3) can leave the client's first connection waiting for ever. A connection that completes
 * after the deadline is closed at once.
 */
async function connectWithin(options: ConnectionOptions, timeoutMs: number): Promise<NatsConnection> {
  const attempt = connect(options);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `no NATS handshake within ${timeoutMs + CONNECT_GRACE_MS} ms: a server that does not answer, or one that refused our TLS client certificate (e.g. one from another CA)`,
          ),
        ),
      timeoutMs + CONNECT_GRACE_MS,
    );
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (err) {
    attempt.then(
      (late) => void late.close().catch(() => undefined),
      () => undefined,
    );
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function authenticatorFor(credentials: NatsCredentials | undefined): Authenticator | undefined {
  if (credentials === undefined) return undefined;
  switch (credentials.kind) {
    case "nkey":
      return nkeyAuthenticator(credentials.seed);
    case "creds":
      return credsAuthenticator(credentials.creds);
    case "password":
      return usernamePasswordAuthenticator(credentials.user, credentials.password);
  }
}

/**
 * Why the first connection failed, in words an operator acts on: the client's own message, with
 * the cause chain (a TLS failure is a cause of the connection error). With a client certificate,
 * a bare `timeout` is named as a possible TLS refusal too: a server that refuses the certificate
 * after a TLS 1.3 handshake closes the socket, and the client, which retries the dial, reports
 * only its own connect timeout.
 */
function connectFailure(err: unknown, clientCertificate: boolean, section: string): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const text = natsErrorText(current);
    if (!parts.includes(text)) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  const all = parts.join(": ");
  if (/authorization violation|authentication/i.test(all)) return `${all}; check ${section}.credentials`;
  if (/certificate|self[- ]signed|tls|ssl|handshake|ECONNRESET/i.test(all))
    return `${all}; check ${section}.tls`;
  if (clientCertificate && /timeout/i.test(all))
    return `${all}: a server that does not answer, or one that refused our TLS client certificate (e.g. one from another CA); check ${section}.tls`;
  return all;
}

export function natsErrorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
