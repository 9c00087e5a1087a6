/**
 * Moving a snapshot's bytes between nodes for install-snapshot (docs/consensus.md,
 * "Install-snapshot"). The consensus core only exchanges metadata; this module moves the bytes:
 *
 * - `SnapshotSource` (any node, used when it leads): keeps the latest usable snapshot of the
 *   `SnapshotPort`, tells the core about it (`offerSnapshot`) and serves it in chunks;
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

/** The snapshot this node offers: the port's latest, with its digest (computed once). */
interface Offered {
  readonly seqno: number;
  readonly view: number;
  readonly bytes: Uint8Array;
  readonly digest: Uint8Array;
}

/**
 * The sending side. `refresh` is called on the node's clock: when the port has a newer snapshot
 * it is read and hashed off the main thread (the file may hold the whole state), then offered to
 * the core. Only the latest is served; a follower still fetching an older one is answered
 * `NotFound` and starts over with the next offer.
 */
export class SnapshotSource {
  #offered: Offered | undefined;
  /** Read and hashed, not accepted by the core yet (offered again on the next refresh). */
  #read: Offered | undefined;
  /** The read in progress (one at a time). */
  #reading: Promise<void> | undefined;

  constructor(
    private readonly port: SnapshotPort,
    private readonly logger: Logger,
  ) {}

  /**
   * Offers the port's latest snapshot to `consensus` when it is newer than the one offered. The
   * port's seqno is compared first: a snapshot already offered, or already read, is not read
   * again (it was read, whole, from disk on every refresh of every node, the largest cost of a
   * follower's clock). A newer one is read (`readLatest`, off the main thread) and hashed in
   * 1 MiB slices between turns of the event loop (format.ts `digestSliced`), then offered; the
   * promise resolves once that is done (the clock does not wait for it; tests do). A failed read
   * is logged and retried on the next refresh.
   */
  refresh(consensus: Pick<ConsensusNode, "offerSnapshot">): Promise<void> {
    const seqno = this.port.latestSeqno();
    if (seqno === 0 || (this.#offered !== undefined && seqno <= this.#offered.seqno))
      return Promise.resolve();
    if (this.#read !== undefined && this.#read.seqno >= seqno) {
      this.#offer(consensus, this.#read);
      return Promise.resolve();
    }
    if (this.#reading !== undefined) return this.#reading;
    const reading = this.#readLatest().then(
      (read) => {
        if (read !== undefined) this.#offer(consensus, read);
      },
      (err: unknown) => this.logger.warn("could not read the latest snapshot to offer it", { seqno, err }),
    );
    this.#reading = reading.finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #readLatest(): Promise<Offered | undefined> {
    const latest = await this.port.readLatest();
    if (latest === undefined) return undefined;
    // Hashed in slices between turns of the event loop (WebCrypto's digest would copy the bytes).
    const digest = await digestSliced([latest.bytes], nextTurn);
    return { seqno: latest.seqno, view: latest.view, bytes: latest.bytes, digest };
  }

  #offer(consensus: Pick<ConsensusNode, "offerSnapshot">, read: Offered): void {
    if (this.#offered !== undefined && read.seqno <= this.#offered.seqno) return;
    this.#read = read;
    if (!consensus.offerSnapshot(read.seqno, read.view)) return;
    this.#offered = read;
    this.#read = undefined;
    this.logger.info("snapshot offered to lagging followers", {
      seqno: read.seqno,
      view: read.view,
      bytes: read.bytes.length,
    });
  }

  /**
   * Serves one chunk request (already decoded). @throws TreatyError `MalformedRequest` for a bad
   * request, `NotFound` when the snapshot asked for is not the one served.
   */
  serveChunk(request: unknown): Uint8Array {
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
    if (r.offset > offered.bytes.length) {
      throw new TreatyError(
        "MalformedRequest",
        `snapshot chunk request: offset beyond ${offered.bytes.length}`,
      );
    }
    const chunk: Chunk = {
      seqno: offered.seqno,
      view: offered.view,
      size: offered.bytes.length,
      digest: offered.digest,
      offset: r.offset,
      bytes: offered.bytes.subarray(r.offset, r.offset + SNAPSHOT_CHUNK_BYTES),
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
