/**
 * Committed events of one node (issue 14): the feed read from committed ledger entries, the
 * `/app/events` stream over it, and the optional JetStream export. `TreatyNode` owns one and
 * hands it each commit.
 */
import type { Ledger } from "../../runtime/ledger/ledger.js";
import type { Handler } from "../http/server.js";
import type { Logger } from "../log.js";
import { DEFAULT_EVENTS_CONFIG, type EventsConfig } from "./config.js";
import { EventFeed } from "./feed.js";
import { JetStreamExport } from "./jetstream.js";
import { eventStreamHandler } from "./stream.js";

export { EVENTS_PATH } from "./stream.js";

export interface NodeEventsOptions {
  readonly ledger: Ledger;
  readonly config: EventsConfig | undefined;
  readonly isLeader: () => boolean;
  readonly logger: Logger;
}

export class NodeEvents {
  readonly feed: EventFeed;
  /** The `GET /app/events` handler. */
  readonly handler: Handler;
  /** The JetStream export, when configured. */
  readonly export: JetStreamExport | null;

  constructor(options: NodeEventsOptions) {
    const config = options.config ?? DEFAULT_EVENTS_CONFIG;
    this.feed = new EventFeed({ ledger: options.ledger });
    this.handler = eventStreamHandler(this.feed, options.ledger, config);
    this.export =
      config.jetstream === null
        ? null
        : new JetStreamExport({
            config: config.jetstream,
            feed: this.feed,
            isLeader: options.isLeader,
            logger: options.logger,
          });
  }

  /** The node committed through `toSeqno`. */
  onCommit(toSeqno: number): void {
    this.feed.onCommit(toSeqno);
  }

  start(): void {
    this.export?.start();
  }

  async stop(): Promise<void> {
    this.feed.close();
    await this.export?.stop();
  }
}
