/**
 * What a node serves on its client port (config `http.tls`, `http.advertiseUrl`): HTTPS with a
 * provisional self-signed certificate from the moment the port is bound, replaced by the
 * certificate the service key endorses as soon as the node holds the service secrets (at once on
 * a restart or at genesis, after the join otherwise). Plain HTTP only when the config says so.
 */
import type { KeyPair } from "../../sdk/keys.js";
import type { HttpServerOptions } from "../http/server.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../log.js";
import { nodeTlsCredentials, provisionalTlsCredentials, type TlsCredentials } from "./certificates.js";

/** The `startHttpServer` options for the client port: TLS credentials and the advertised URL. */
export function clientTlsOptions(
  config: NodeConfig,
  identity: KeyPair,
  nowMs: number,
  logger: Logger,
): Pick<HttpServerOptions, "tls" | "advertiseUrl"> {
  const advertise = config.http.advertiseUrl === null ? {} : { advertiseUrl: config.http.advertiseUrl };
  if (!config.http.tls) {
    logger.warn(
      "client API over plain HTTP (config http.tls: false): requests and answers cross the network in clear",
    );
    return advertise;
  }
  const host =
    config.http.advertiseUrl === null ? config.http.host : new URL(config.http.advertiseUrl).hostname;
  return { ...advertise, tls: provisionalTlsCredentials(identity, nowMs, host) };
}

/** The node's certificate endorsed by the service key, valid as long as its endorsement. */
export function endorsedTlsCredentials(
  serviceKey: KeyPair,
  identity: KeyPair,
  secrets: { readonly endorsement: { readonly validFromMs: number; readonly validToMs: number } },
  nodeUrl: string,
): TlsCredentials {
  return nodeTlsCredentials({
    serviceKey,
    nodeKey: identity,
    validFromMs: secrets.endorsement.validFromMs,
    validToMs: secrets.endorsement.validToMs,
    host: new URL(nodeUrl).hostname,
  });
}

/** `/node/status` `clientApi`: the published URL, whether it is TLS, and the certificate to pin. */
export function clientApiStatus(node: {
  readonly url: string;
  readonly config: NodeConfig;
  readonly serviceCertificate: string;
}): { url: string; tls: boolean; serviceCertificate: string } {
  return { url: node.url, tls: node.config.http.tls, serviceCertificate: node.serviceCertificate };
}
