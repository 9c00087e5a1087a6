/**
 * A NATS cluster for integration tests: N real nats-servers on loopback ports joined by routes
 * (full mesh), each with client TLS (client certificates required), route TLS, and the same
 * accounts block, as a consortium would run them (one server per organisation). Server `i` is
 * named `s<i>` and serves its monitoring API (for `routes(i)`) on its own port.
 *
 * Ownership: the caller must `dispose()` it; it stops every server and removes their temp dirs.
 */
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { freePorts } from "./cluster.js";
import type { CertificateFiles } from "./nats-pki.js";

export interface NatsClusterOptions {
  readonly servers: number;
  /** The CA every server and client trusts, and each server's certificate (by index). */
  readonly caFile: string;
  readonly serverCertificate: (index: number) => CertificateFiles;
  /** The CA file(s) server `i` trusts on routes (default `caFile`). */
  readonly routeCaFile?: (index: number) => string;
  /** The `accounts { ... }` block (users, nkeys, permissions), the same on every server. */
  readonly accounts: string;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** `nats://127.0.0.1:<port>` of each server. */
  readonly urls: readonly string[];
  /**
   * Stops server `i` and starts it again routed to `peers` (default: all) and presenting
   * `routeCertificate` on routes (default: its server certificate). NATS servers gossip routes,
   * so leaving a peer out is not enough to cut a route: a route certificate the peer does not
   * trust is (the peer refuses it, and this server refuses the peer's).
   */
  restart(
    index: number,
    options?: { peers?: readonly number[]; routeCertificate?: CertificateFiles },
  ): Promise<void>;
  /** The server ids server `i` has a route to right now (its /routez). */
  routes(index: number): Promise<string[]>;
  dispose(): Promise<void>;
}

export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsCluster> {
  const n = options.servers;
  const ports = await freePorts(n * 3);
  const clientPort = (i: number) => ports[i]!;
  const routePort = (i: number) => ports[n + i]!;
  const monitorPort = (i: number) => ports[2 * n + i]!;
  const all = Array.from({ length: n }, (_, i) => i);
  const tlsBlock = (files: CertificateFiles, caFile: string) =>
    [
      `cert_file: ${JSON.stringify(files.certFile)}`,
      `key_file: ${JSON.stringify(files.keyFile)}`,
      `ca_file: ${JSON.stringify(caFile)}`,
      "verify: true",
      "timeout: 2",
    ].join("\n    ");
  const extra = (i: number, peers: readonly number[], routeCertificate?: CertificateFiles) => {
    const own = options.serverCertificate(i);
    const routeCa = options.routeCaFile?.(i) ?? options.caFile;
    return [
      `server_name: s${i}`,
      `http: "127.0.0.1:${monitorPort(i)}"`,
      `tls {\n    ${tlsBlock(own, options.caFile)}\n}`,
      "cluster {",
      "  name: treaty-test",
      `  listen: "127.0.0.1:${routePort(i)}"`,
      `  routes: [${peers
        .filter((p) => p !== i)
        .map((p) => JSON.stringify(`nats-route://127.0.0.1:${routePort(p)}`))
        .join(", ")}]`,
      `  tls {\n    ${tlsBlock(routeCertificate ?? own, routeCa)}\n  }`,
      "}",
      options.accounts,
    ].join("\n");
  };
  const servers: NatsServer[] = [];
  const dispose = async () => {
    await Promise.all(servers.map((s) => s.dispose()));
  };
  try {
    // One at a time: a server's routes to not-yet-started peers are retried, never fatal.
    for (const i of all)
      servers.push(await startNatsServer({ port: clientPort(i), extraConfig: extra(i, all) }));
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    async restart(index, { peers = all, routeCertificate } = {}) {
      await servers[index]!.stop();
      await servers[index]!.start({ extraConfig: extra(index, peers, routeCertificate) });
    },
    async routes(index) {
      const response = await fetch(`http://127.0.0.1:${monitorPort(index)}/routez`, {
        signal: AbortSignal.timeout(5000),
      });
      const body = (await response.json()) as { routes?: { remote_name?: string; remote_id?: string }[] };
      return (body.routes ?? []).map((r) => r.remote_name ?? r.remote_id ?? "?").sort();
    },
    dispose,
  };
}
