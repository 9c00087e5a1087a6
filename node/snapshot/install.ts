/**
 * The host side of install-snapshot, as the replica uses it: offering this node's latest
 * snapshot to its consensus core, serving it to followers, and fetching, verifying and loading
 * one when the core asks (see node/snapshot/transfer.ts for the transfer itself). Verification
 * before use is `SnapshotPort.install`'s: against the pinned service identity, nothing loaded
 * when anything does not check.
 */
import type { ConsensusNode } from "../consensus/node.js";
import type { SnapshotInstall } from "../consensus/types.js";
import type { Logger } from "../log.js";
import type { Transport } from "../transport/types.js";
import type { SnapshotPort } from "./port.js";
import { SnapshotFetcher, SnapshotSource } from "./transfer.js";

/** The port is asked for a newer snapshot every this many ticks (about a second). */
export const SNAPSHOT_REFRESH_TICKS = 20;

/** See the module comment. */
export class SnapshotInstaller {
  readonly #port: SnapshotPort;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #source: SnapshotSource;
  readonly #fetcher: SnapshotFetcher;
  #ticks = 0;
  readonly #stats = { failedAttempts: 0, bytesFetched: 0, chunksServed: 0 };

  constructor(o: {
    readonly port: SnapshotPort;
    readonly transport: Transport;
    readonly logger: Logger;
    readonly now: () => number;
  }) {
    this.#port = o.port;
    this.#logger = o.logger;
    this.#now = o.now;
    this.#source = new SnapshotSource(o.port, o.logger);
    this.#fetcher = new SnapshotFetcher({ transport: o.transport, logger: o.logger, now: o.now });
  }

  /** On the node's clock: offers a newer snapshot of the port to the core now and then. */
  tick(consensus: ConsensusNode): void {
    // Not awaited: a read (when the port does not know the view) runs off the main thread, then
    // offers (refresh logs failures).
    if (this.#ticks++ % SNAPSHOT_REFRESH_TICKS === 0) void this.#source.refresh(consensus);
  }

  /** Serves one decoded chunk request (see `SnapshotSource.serveChunk`). */
  async serveChunk(request: unknown): Promise<Uint8Array> {
    const chunk = await this.#source.serveChunk(request);
    this.#stats.chunksServed++;
    return chunk;
  }

  /**
   * Fetches the snapshot the core asked for from its leader and loads it through the port.
   * Resolves with what the port loaded. @throws TreatyError from the transfer (`Unavailable`,
   * `NotFound`, `SnapshotInvalid`) or from the port's verification (`SnapshotInvalid`).
   */
  async install(request: SnapshotInstall): Promise<{ readonly seqno: number; readonly view: number }> {
    const { seqno, view } = request.snapshot;
    const started = this.#now();
    try {
      const bytes = await this.#fetcher.fetch(request.leader, seqno, view);
      this.#stats.bytesFetched += bytes.length;
      const loaded = await this.#port.install(bytes);
      this.#logger.info("snapshot installed", {
        seqno: loaded.seqno,
        view: loaded.view,
        from: request.leader,
        bytes: bytes.length,
        ms: Math.round(this.#now() - started),
      });
      return loaded;
    } catch (err) {
      this.#stats.failedAttempts++;
      throw err;
    }
  }

  /** Counters of this process: failed install attempts, bytes fetched, chunks served. */
  stats(): Readonly<Record<string, number>> {
    return { ...this.#stats };
  }
}
