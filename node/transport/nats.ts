/**
 * The transport over a real nats-server (`@nats-io/transport-node` v3). One connection per node,
 * one subscription on the node's own subject `<prefix>.<serviceId>.node.<nodeId>`, and plain
 * `publish` for everything, requests and responses included: a NATS `request()` costs ~3x a
 * publish here (building-blocks §7) and its reply inbox would bypass our authentication.
 *
 * Reconnects: the client retries forever; while the link is down `state()` is "reconnecting" and
 * sends are dropped and counted (`disconnected`) instead of piling up in the client's buffer,
 * because consensus retransmits anyway. After a reconnect the client re-subscribes; we flush once
 * (so the server has the subscription) before reporting "connected" again.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { TreatyError } from "../../sdk/errors.js";
import { TransportEndpoint } from "./endpoint.js";
import { connectNats, type NatsCredentials, natsErrorText, type NatsTlsOptions } from "./nats-connect.js";
import { DEFAULT_SUBJECT_PREFIX, isValidSubjectPrefix, nodeSubject } from "./frame.js";
import type { NodeId, TransportOptions } from "./types.js";

/** Options of `NatsTransport.connect`: the common ones plus where and how to connect. */
export interface NatsTransportOptions extends TransportOptions {
  /**
   * nats-server URL(s), e.g. `nats://127.0.0.1:4222`, tried in the order given (list the
   * organisation's own server first); servers the cluster announces are added as fallbacks.
   */
  readonly servers: string | readonly string[];
  /** Time to give the first connection before failing with `Unavailable`. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Pause between reconnect attempts to one server. Default 250 ms. */
  readonly reconnectTimeWaitMs?: number;
  /** How long `close()` may spend flushing before it closes hard. Default 2000 ms. */
  readonly closeTimeoutMs?: number;
  /** First token(s) of every subject (`<prefix>.<serviceId>.node.<nodeId>`). Default `treaty`. */
  readonly subjectPrefix?: string;
  /**
   * TLS to the servers (files read by the NATS client): `caFile` pins the CA that signs the
   * servers' certificates; `certFile` and `keyFile` are this node's client certificate when
   * the servers require one (`verify: true`). Any field set makes TLS mandatory.
   */
  readonly tls?: NatsTlsOptions;
  /** How the node authenticates to the servers. Default: no credentials. */
  readonly credentials?: NatsCredentials;
}

export type { NatsCredentials, NatsTlsOptions } from "./nats-connect.js";

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_RECONNECT_TIME_WAIT_MS = 250;
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
const MAX_OPTION_MS = 600_000;

/** A `Transport` over NATS. Create one with `NatsTransport.connect`. */
export class NatsTransport extends TransportEndpoint {
  private readonly servers: string[];
  private readonly connectTimeoutMs: number;
  private readonly reconnectTimeWaitMs: number;
  private readonly closeTimeoutMs: number;
  private readonly subjectPrefix: string;
  private readonly tls: NatsTlsOptions | undefined;
  private readonly credentials: NatsCredentials | undefined;
  private connection: NatsConnection | undefined;
  private watcher: Promise<void> | undefined;
  /** Whether the server has our subscription right now (drives publish and `state`). */
  private linkUp = false;
  /** Bumped on every link change, so a late flush cannot report a link that went down since. */
  private linkGeneration = 0;

  private constructor(options: NatsTransportOptions) {
    super(options);
    const servers = typeof options.servers === "string" ? [options.servers] : [...(options.servers ?? [])];
    if (servers.length === 0 || servers.some((s) => typeof s !== "string" || s.length === 0)) {
      throw new TreatyError("MalformedRequest", "servers: expected one or more nats-server URLs");
    }
    this.servers = servers;
    this.connectTimeoutMs = optionMs(
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
      "connectTimeoutMs",
    );
    this.reconnectTimeWaitMs = optionMs(
      options.reconnectTimeWaitMs,
      DEFAULT_RECONNECT_TIME_WAIT_MS,
      "reconnectTimeWaitMs",
    );
    this.closeTimeoutMs = optionMs(options.closeTimeoutMs, DEFAULT_CLOSE_TIMEOUT_MS, "closeTimeoutMs");
    const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    if (!isValidSubjectPrefix(prefix)) {
      throw new TreatyError(
        "MalformedRequest",
        `subjectPrefix: expected dot-separated tokens of [A-Za-z0-9_-], got ${JSON.stringify(prefix)}`,
      );
    }
    this.subjectPrefix = prefix;
    this.tls = options.tls;
    this.credentials = options.credentials;
  }

  /**
   * Connects, subscribes to this node's subject and resolves once the server has the
   * subscription (state "connected"). Throws `MalformedRequest` for invalid options or when the
   * server's max_payload cannot carry `maxMessageBytes`, and `Unavailable` when no server answers
   * within `connectTimeoutMs`.
   */
  static async connect(options: NatsTransportOptions): Promise<NatsTransport> {
    const transport = new NatsTransport(options);
    await transport.open();
    return transport;
  }

  private async open(): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connectNats(
        {
          servers: this.servers,
          name: `treaty:${this.serviceId}:${this.nodeId}`,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.reconnectTimeWaitMs,
          noEcho: true,
          noRandomize: true,
        },
        {
          tls: this.tls,
          credentials: this.credentials,
          timeoutMs: this.connectTimeoutMs,
          serversField: "servers",
          section: "nats",
        },
      );
    } catch (err) {
      this.setState("closed");
      throw err;
    }
    const maxPayload = nc.info?.max_payload ?? 0;
    if (maxPayload < this.maxFrameBytes) {
      await nc.close();
      this.setState("closed");
      throw new TreatyError(
        "MalformedRequest",
        `maxMessageBytes: frames of up to ${this.maxFrameBytes} bytes exceed the server's max_payload ${maxPayload}`,
      );
    }
    this.connection = nc;
    nc.subscribe(nodeSubject(this.serviceId, this.nodeId, this.subjectPrefix), {
      callback: (err, msg) => {
        // An error here means the server ended our subscription (e.g. a permissions change):
        // without it the node is deaf, so the transport closes and says so.
        if (err !== null) void this.close();
        else this.receiveFrame(msg.data);
      },
    });
    this.watcher = this.watch(nc);
    void nc.closed().then(() => {
      this.linkUp = false;
      this.setState("closed");
    });
    try {
      await nc.flush();
    } catch (err) {
      await this.close();
      throw new TreatyError(
        "Unavailable",
        `servers: connection lost while subscribing (${natsErrorText(err)})`,
      );
    }
    if (this.state() !== "closed") {
      this.linkUp = true;
      this.setState("connected");
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
        case "staleConnection":
        case "forceReconnect":
          this.linkGeneration += 1;
          this.linkUp = false;
          this.setState("reconnecting");
          break;
        case "reconnect": {
          const generation = ++this.linkGeneration;
          nc.flush().then(
            () => {
              if (generation !== this.linkGeneration || nc.isClosed()) return;
              this.linkUp = true;
              this.setState("connected");
            },
            // The link dropped again before the flush: the next "reconnect" retries.
            () => undefined,
          );
          break;
        }
        default:
          break;
      }
    }
  }

  protected publishFrame(to: NodeId, frame: Uint8Array): boolean {
    const nc = this.connection;
    if (nc === undefined || !this.linkUp) return false;
    try {
      nc.publish(nodeSubject(this.serviceId, to, this.subjectPrefix), frame);
      return true;
    } catch {
      // The client refuses only when closed or draining: the frame is lost like any other.
      return false;
    }
  }

  protected async releaseLink(): Promise<void> {
    const nc = this.connection;
    if (nc === undefined) return;
    const wasUp = this.linkUp;
    this.linkUp = false;
    if (!nc.isClosed()) {
      if (wasUp) {
        // Drain sends what was published before close; a link that dies meanwhile must not hang us.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.closeTimeoutMs);
        });
        await Promise.race([nc.drain().catch(() => undefined), deadline]);
        clearTimeout(timer);
      }
      if (!nc.isClosed()) await nc.close();
    }
    await this.watcher;
  }
}

function optionMs(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > MAX_OPTION_MS) {
    throw new TreatyError(
      "MalformedRequest",
      `${field}: expected an integer from 1 to ${MAX_OPTION_MS}, got ${String(value)}`,
    );
  }
  return value;
}
