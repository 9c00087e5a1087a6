/**
 * Moving a snapshot's bytes between nodes for install-snapshot (docs/consensus.md,
 * "Install-snapshot"). The consensus core only exchanges metadata; this module moves the bytes:
 *
 * - `SnapshotSource` (any node, used when it leads): tells the core about the latest usable
 *   snapshot of the `SnapshotPort` (`offerSnapshot`) and serves it in chunks, reading its file
 *   at the first chunk request;
 * - `SnapshotFetcher` (a follower asked to install): pulls the chunks from the leader one
 *   request at a time, each within the transport's message cap, into one buffer of the
 *   announced size, then checks the whole against the announced SHA-256 before anyone uses it.
 *
 * Pull, not push: the follower asks for the next offset, so a lost or duplicated message costs
 * one retried request and never a corrupt buffer, and memory is one snapshot on each side. A
 * transfer that stops half-way (leader change, timeout) is kept and resumed by the next attempt
 * when the source serves the same snapshot (same seqno and digest). The digest only guards the
 * transfer: the snapshot itself is verified by `SnapshotPort.install` against the pinned service
 * identity.
 */
import { decode, encode } from "../../sdk/codec.js";
import { equalBytes, toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { sha256 } from "../../runtime/crypto.js";
import type { ConsensusNode } from "../consensus/node.js";
import type { Logger } from "../log.js";
import type { NodeId, Transport } from "../transport/types.js";
import { digestSliced, nextTurn } from "./format.js";
import type { SnapshotPort } from "./port.js";

/** Bytes of snapshot per chunk: well within the transport's ~1 MiB message cap with framing. */
export const SNAPSHOT_CHUNK_BYTES = 512 * 1024;
/** Largest snapshot a follower accepts to buffer (the announced size is checked first). */
export const MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024 * 1024;
/** How long one chunk request may take, and how many failed requests in a row end a transfer. */
export const SNAPSHOT_CHUNK_TIMEOUT_MS = 10_000;
export const SNAPSHOT_CHUNK_ATTEMPTS = 5;
/** Progress is logged at most this often while a transfer runs. */
const PROGRESS_LOG_MS = 2_000;

/** A follower's request for `bytes[offset, offset + SNAPSHOT_CHUNK_BYTES)` of snapshot `seqno`. */
interface ChunkRequest {
  readonly kind: "snapshotChunk";
  readonly seqno: number;
  readonly offset: number;
}

/** The answer: one chunk, with what identifies the whole (checked against the first chunk). */
interface Chunk {
  readonly seqno: number;
  readonly view: number;
  readonly size: number;
  readonly digest: Uint8Array;
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** Whether a decoded node-to-node request asks for a snapshot chunk. */
export function isSnapshotChunkRequest(request: unknown): boolean {
  return (
    typeof request === "object" &&
    request !== null &&
    (request as { kind?: unknown }).kind === "snapshotChunk"
  );
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A snapshot's bytes and their digest, as served. */
interface Content {
  readonly bytes: Uint8Array;
  readonly digest: Uint8Array;
}

/**
 * A snapshot this node offers, or will once the core accepts it. Its content is read at the
 * first chunk request and kept while it is the one offered.
 */
interface Offer {
  readonly seqno: number;
  readonly view: number;
  content: Promise<Content> | undefined;
}

/**
 * The sending side. `refresh` is called on the node's clock: when the port has a newer snapshot it
 * is offered to the core by its seqno and view, which the port knows without reading the file.
 * The file, which may hold the whole state, is read and hashed only when a follower asks for its
 * first chunk: every node offers its latest snapshot, and most are never asked. Only the latest
 * is served; a follower still fetching an older one is answered `NotFound` and starts over with
 * the next offer.
 */
export class SnapshotSource {
  /** Accepted by the core: what chunk requests are served from. */
  #offered: Offer | undefined;
  /** Newer than `#offered`, not accepted by the core yet (offered again on the next refresh). */
  #candidate: Offer | undefined;
  /** A read of a snapshot whose view the port does not know (one at a time). */
  #reading: Promise<void> | undefined;

  constructor(
    private readonly port: SnapshotPort,
    private readonly logger: Logger,
  ) {}

  /**
   * Offers the port's latest snapshot to `consensus` when it is newer than the one offered. Only
   * seqnos and the view are compared and offered: nothing is read, unless the port does not know
   * the snapshot's view (one it did not write and whose entry its ledger does not hold), which
   * only the file tells. Then the file is read (`readLatest`, off the main thread) and hashed in
   * 1 MiB slices between turns of the event loop (format.ts `digestSliced`), kept for the chunks,
   * and offered; the promise resolves once that is done (the clock does not wait for it; tests
   * do). A failed read is logged and retried on the next refresh.
   */
  refresh(consensus: Pick<ConsensusNode, "offerSnapshot">): Promise<void> {
    const seqno = this.port.latestSeqno();
    if (seqno === 0 || (this.#offered !== undefined && seqno <= this.#offered.seqno))
      return Promise.resolve();
    if (this.#candidate === undefined || this.#candidate.seqno < seqno) {
      const view = this.port.latestView();
      if (view === undefined) return this.#readToOffer(consensus, seqno);
      this.#candidate = { seqno, view, content: undefined };
    }
    this.#offer(consensus, this.#candidate);
    return Promise.resolve();
  }

  #readToOffer(consensus: Pick<ConsensusNode, "offerSnapshot">, seqno: number): Promise<void> {
    if (this.#reading !== undefined) return this.#reading;
    const reading = this.#readLatest().then(
      (read) => {
        if (read === undefined) return;
        const { seqno, view, ...content } = read;
        this.#candidate = { seqno, view, content: Promise.resolve(content) };
        this.#offer(consensus, this.#candidate);
      },
      (err: unknown) => this.logger.warn("could not read the latest snapshot to offer it", { seqno, err }),
    );
    this.#reading = reading.finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #readLatest(): Promise<(Content & { seqno: number; view: number }) | undefined> {
    const latest = await this.port.readLatest();
    if (latest === undefined) return undefined;
    // Hashed in slices between turns of the event loop (WebCrypto's digest would copy the bytes).
    const digest = await digestSliced([latest.bytes], nextTurn);
    return { seqno: latest.seqno, view: latest.view, bytes: latest.bytes, digest };
  }

  /**
   * The offered snapshot's content, read now; NotFound when the port's latest is no longer that
   * snapshot (replaced before the read).
   */
  async #read(offer: Offer): Promise<Content> {
    const read = await this.#readLatest();
    if (read?.seqno !== offer.seqno || read.view !== offer.view) {
      throw new TreatyError(
        "NotFound",
        `snapshot ${offer.seqno}: replaced by ${read?.seqno ?? "none"} before it was read`,
        { view: offer.view, readView: read?.view },
      );
    }
    this.logger.info("offered snapshot read for a transfer", { seqno: read.seqno, bytes: read.bytes.length });
    return { bytes: read.bytes, digest: read.digest };
  }

  #offer(consensus: Pick<ConsensusNode, "offerSnapshot">, offer: Offer): void {
    if (this.#offered !== undefined && offer.seqno <= this.#offered.seqno) return;
    if (!consensus.offerSnapshot(offer.seqno, offer.view)) return;
    this.#offered = offer;
    this.#candidate = undefined;
    this.logger.info("snapshot offered to lagging followers", { seqno: offer.seqno, view: offer.view });
  }

  /**
   * Serves one chunk request (already decoded); the first request for the offered snapshot reads
   * it (the others wait for that read). @throws TreatyError `MalformedRequest` for a bad request,
   * `NotFound` when the snapshot asked for is not the one served, or the port no longer has it.
   */
  async serveChunk(request: unknown): Promise<Uint8Array> {
    const r = request as Partial<ChunkRequest>;
    if (!isCount(r.seqno) || !isCount(r.offset)) {
      throw new TreatyError("MalformedRequest", "snapshot chunk request: expected {seqno, offset}");
    }
    const offered = this.#offered;
    if (offered === undefined || offered.seqno !== r.seqno) {
      throw new TreatyError(
        "NotFound",
        `snapshot ${r.seqno}: not served here (latest ${offered?.seqno ?? "none"})`,
      );
    }
    offered.content ??= this.#read(offered);
    let content: Content;
    try {
      content = await offered.content;
    } catch (err) {
      // A snapshot replaced before its read stays unreadable (the next refresh offers the newer
      // one); after any other failure the next request reads again.
      if (!(err instanceof TreatyError && err.code === "NotFound")) offered.content = undefined;
      throw err;
    }
    if (r.offset > content.bytes.length) {
      throw new TreatyError(
        "MalformedRequest",
        `snapshot chunk request: offset beyond ${content.bytes.length}`,
      );
    }
    const chunk: Chunk = {
      seqno: offered.seqno,
      view: offered.view,
      size: content.bytes.length,
      digest: content.digest,
      offset: r.offset,
      bytes: content.bytes.subarray(r.offset, r.offset + SNAPSHOT_CHUNK_BYTES),
    };
    return encode(chunk);
  }
}

/** A transfer in progress (kept between attempts to resume it). */
interface Transfer {
  readonly seqno: number;
  readonly view: number;
  readonly digest: Uint8Array;
  readonly buffer: Uint8Array;
  received: number;
}

/** Options of a fetcher; the defaults are the constants above. */
export interface FetcherOptions {
  readonly transport: Transport;
  readonly logger: Logger;
  readonly now: () => number;
  readonly maxSnapshotBytes?: number;
  readonly chunkTimeoutMs?: number;
  readonly chunkAttempts?: number;
}

/** The receiving side: see the module comment. One transfer at a time. */
export class SnapshotFetcher {
  #partial: Transfer | undefined;
  #fetching = false;

  constructor(private readonly o: FetcherOptions) {}

  /**
   * Fetches snapshot `seqno` (in `view`) from `leader` and returns its bytes once they match the
   * announced digest. @throws TreatyError `SnapshotInvalid` when the source's answers are
   * inconsistent (size, digest, view, offsets) or the bytes do not match; `Unavailable` when
   * requests keep failing (the partial transfer is kept for the next attempt); `NotFound` when
   * the source no longer serves it.
   */
  async fetch(leader: NodeId, seqno: number, view: number): Promise<Uint8Array> {
    if (this.#fetching) throw new TreatyError("Conflict", "a snapshot transfer is already running");
    this.#fetching = true;
    try {
      return await this.#fetch(leader, seqno, view);
    } finally {
      this.#fetching = false;
    }
  }

  async #fetch(leader: NodeId, seqno: number, view: number): Promise<Uint8Array> {
    const { logger, now } = this.o;
    if (this.#partial !== undefined && this.#partial.seqno !== seqno) this.#partial = undefined;
    const started = now();
    let lastLog = started;
    let failures = 0;
    let resumedFrom = this.#partial?.received;
    for (;;) {
      const partial = this.#partial;
      const offset = partial?.received ?? 0;
      if (partial !== undefined && offset === partial.buffer.length) break;
      let chunk: Chunk;
      try {
        chunk = await this.#request(leader, seqno, offset);
        failures = 0;
      } catch (err) {
        if (err instanceof TreatyError && (err.code === "NotFound" || err.code === "SnapshotInvalid"))
          throw err;
        failures++;
        if (failures >= (this.o.chunkAttempts ?? SNAPSHOT_CHUNK_ATTEMPTS)) {
          throw new TreatyError(
            "Unavailable",
            `snapshot ${seqno}: ${failures} chunk requests failed in a row`,
            {
              received: offset,
            },
          );
        }
        continue;
      }
      this.#accept(chunk, seqno, view, resumedFrom);
      resumedFrom = undefined;
      const p = this.#partial;
      if (p === undefined) continue; // the source's bytes changed since the kept part: from 0
      if (offset === 0) {
        logger.info("snapshot transfer started", { seqno, from: leader, bytes: p.buffer.length });
      }
      if (now() - lastLog >= PROGRESS_LOG_MS) {
        lastLog = now();
        logger.info("snapshot transfer progress", {
          seqno,
          received: p.received,
          bytes: p.buffer.length,
          percent: Math.floor((100 * p.received) / Math.max(1, p.buffer.length)),
        });
      }
    }
    const done = this.#partial!;
    this.#partial = undefined;
    if (!equalBytes(sha256(done.buffer), done.digest)) {
      throw new TreatyError("SnapshotInvalid", `snapshot ${seqno}: bytes do not match the announced digest`);
    }
    logger.info("snapshot transfer complete", {
      seqno,
      bytes: done.buffer.length,
      ms: Math.round(now() - started),
      digest: toHex(done.digest),
    });
    return done.buffer;
  }

  /** One chunk request; malformed answers are the source's fault (SnapshotInvalid). */
  async #request(leader: NodeId, seqno: number, offset: number): Promise<Chunk> {
    const request: ChunkRequest = { kind: "snapshotChunk", seqno, offset };
    const answer = await this.o.transport.request(
      leader,
      encode(request),
      this.o.chunkTimeoutMs ?? SNAPSHOT_CHUNK_TIMEOUT_MS,
    );
    let chunk: Partial<Chunk>;
    try {
      chunk = decode<Partial<Chunk>>(answer, "snapshot chunk");
    } catch {
      throw new TreatyError("SnapshotInvalid", `snapshot ${seqno}: undecodable chunk`);
    }
    if (
      !isCount(chunk.seqno) ||
      !isCount(chunk.view) ||
      !isCount(chunk.size) ||
      !isCount(chunk.offset) ||
      !(chunk.digest instanceof Uint8Array) ||
      !(chunk.bytes instanceof Uint8Array)
    ) {
      throw new TreatyError("SnapshotInvalid", `snapshot ${seqno}: malformed chunk`);
    }
    return chunk as Chunk;
  }

  /** Checks a chunk against the transfer (starting or resuming it) and copies it in. */
  #accept(chunk: Chunk, seqno: number, view: number, resumedFrom: number | undefined): void {
    const invalid = (why: string) => new TreatyError("SnapshotInvalid", `snapshot ${seqno}: ${why}`);
    if (chunk.seqno !== seqno || chunk.view !== view)
      throw invalid(`the source sent ${chunk.view}.${chunk.seqno}`);
    let partial = this.#partial;
    if (
      partial !== undefined &&
      (partial.buffer.length !== chunk.size || !equalBytes(partial.digest, chunk.digest))
    ) {
      // The source serves other bytes under this seqno than the ones we started with.
      if (resumedFrom === undefined) throw invalid("size or digest changed during the transfer");
      this.#partial = undefined;
      partial = undefined;
      if (chunk.offset !== 0) return; // ask again from the start
    }
    if (partial === undefined) {
      const max = this.o.maxSnapshotBytes ?? MAX_SNAPSHOT_BYTES;
      if (chunk.size === 0 || chunk.size > max)
        throw invalid(`announced size ${chunk.size} outside 1..${max}`);
      if (chunk.digest.length !== 32) throw invalid("the digest is not a SHA-256");
      if (chunk.offset !== 0) throw invalid(`first chunk at offset ${chunk.offset}`);
      partial = { seqno, view, digest: chunk.digest, buffer: new Uint8Array(chunk.size), received: 0 };
      this.#partial = partial;
    } else if (resumedFrom !== undefined) {
      this.o.logger.info("snapshot transfer resumed", {
        seqno,
        received: partial.received,
        bytes: chunk.size,
      });
    }
    if (chunk.offset !== partial.received)
      throw invalid(`chunk at ${chunk.offset}, expected ${partial.received}`);
    const expected = Math.min(SNAPSHOT_CHUNK_BYTES, chunk.size - chunk.offset);
    if (chunk.bytes.length !== expected)
      throw invalid(`chunk of ${chunk.bytes.length} bytes, expected ${expected}`);
    partial.buffer.set(chunk.bytes, chunk.offset);
    partial.received += chunk.bytes.length;
  }

  /** Bytes received of the transfer in progress or kept for resuming (0 when none). */
  get pendingBytes(): number {
    return this.#partial?.received ?? 0;
  }
}
