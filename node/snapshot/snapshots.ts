/**
 * Snapshots on one node: when to take one, writing it, completing it with its evidence, and
 * installing one (the `SnapshotPort` replication uses). docs/snapshots.md describes the whole.
 *
 * When: at a committed signature S such that a multiple of the stride's entries lies in (P, S], or
 * the recorded time of S enters a new period of the stride's ms after P's (P = the signature before
 * S); the stride is `everyEntries` / `everyMs`, doubled per doubling past `strideBytes` of the
 * newest snapshot whose evidence is in the ledger at S (schedule.ts). All of it depends only on
 * the ledger, so every node picks the same seqnos and — the body being deterministic — writes the
 * same bytes; the leader alone records the evidence, and every node completes its own file with
 * it. A node takes one snapshot at a time: a point reached while its previous snapshot is still
 * being read or written is skipped there (counted, `points`), which the stride makes rare.
 *
 * Ordering: the replica calls `beforeCommit(from, to)` before it asks the KV to commit the range;
 * a snapshot point S in it makes the KV commit S first and pin its state there (the KV's request
 * queue and commit sequence are ordered, so the pin sees exactly S: take.ts), then the replica
 * commits the rest, which goes on while the pinned state is read in slices.
 *
 * Files: every write (pending, committed, installed) goes through one queue and is asynchronous
 * (files.ts: written and fsynced on libuv's thread pool), so the main thread goes on serving
 * consensus and commits while a file of the whole state reaches the disk. A snapshot counts as
 * written (`#pending`) or usable (`latestSeqno`, `latest`) only once its file is durable.
 */
import { TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import { formatTxId } from "../../sdk/receipt.js";
import type { Ledger, LedgerBase } from "../../runtime/ledger/ledger.js";
import type { LedgerSecrets } from "../../runtime/ledger/secrets.js";
import type { ExecutionService } from "../execution/service.js";
import type { Logger } from "../log.js";
import { configOf } from "../replica.js";
import { evidenceOf, type EvidenceRecord } from "./evidence.js";
import {
  type BodyParts,
  bodyDigest,
  decodeBody,
  decodeFile,
  encodeFileParts,
  openBody,
  partsLength,
  type SnapshotState,
} from "./format.js";
import type { SnapshotFiles } from "./files.js";
import type { SnapshotPort } from "./port.js";
import { verifySnapshot } from "./verify.js";
import { baseOf } from "./restart.js";
import { takeSnapshotBody } from "./take.js";
import {
  isSnapshotPoint,
  type SignatureAt,
  type SnapshotSchedule,
  type Stride,
  strideAfter,
} from "./schedule.js";

export interface SnapshotsOptions {
  readonly ledger: Ledger;
  readonly execution: ExecutionService;
  readonly secrets: LedgerSecrets;
  /** The pinned service identity, then earlier ones (after disaster recoveries). */
  readonly serviceKeys: readonly PublicKey[];
  readonly files: SnapshotFiles;
  readonly schedule: SnapshotSchedule;
  readonly logger: Logger;
  readonly isLeader: () => boolean;
  /** Leader: appends the evidence transaction (resolves once it is in the ledger). */
  readonly recordEvidence: (record: EvidenceRecord) => Promise<unknown>;
  /** After an install loaded the KV and the ledger: the node rebuilds what it derives from them. */
  readonly onInstalled: (seqno: number) => Promise<void>;
}

/**
 * Evidence entries remembered for the stride (`#scanEvidence`): the stride at a signature reads the
 * newest at or before it, and one commit never spans more than a few.
 */
const EVIDENCE_KEPT = 8;

/** The newest committed snapshot: its file's bytes, and the view of its point. */
type LatestSnapshot = { readonly seqno: number; readonly view: number; readonly bytes: Uint8Array };

/** A written snapshot waiting for its evidence to commit. */
interface Pending {
  readonly seqno: number;
  readonly view: number;
  readonly body: BodyParts;
  readonly digest: Uint8Array;
}

export class Snapshots implements SnapshotPort {
  readonly #o: SnapshotsOptions;
  #pending: Pending | undefined;
  #work: Promise<void> = Promise.resolve();
  /** File writes, one at a time in the order asked (files.ts: they must not overlap). */
  #files: Promise<void> = Promise.resolve();
  /**
   * Snapshot reads (from the point's KV commit to the body) and file writes started and not yet
   * done (`inFlight`).
   */
  #inFlight = 0;
  /** Seqno of the snapshot being read and written (from its point's commit until its pending file is durable). */
  #taking: number | undefined;
  /** Snapshot points reached: taken, or skipped because a snapshot was still being taken. */
  readonly #points = { taken: 0, skipped: 0 };
  /** The newest evidence entries in the ledger (their seqnos and snapshot sizes), ascending, through `#evidenceScanned`. */
  readonly #evidence: { readonly at: number; readonly bytes: number }[] = [];
  #evidenceScanned = 0;
  /** Highest seqno scanned for evidence. */
  #scanned = 0;
  /** Seqno of the newest committed snapshot file (0: none). */
  #latest: number;
  /** The view of snapshot `#latest` when known without reading its file. */
  #latestView: { readonly seqno: number; readonly view: number } | undefined;

  constructor(options: SnapshotsOptions) {
    this.#o = options;
    this.#latest = options.files.list("committed").at(-1) ?? 0;
    const pending = options.files.list("pending").at(-1);
    if (pending !== undefined) {
      const bytes = options.files.read(pending, "pending");
      try {
        const { body } = decodeFile(bytes!);
        this.#pending = {
          seqno: pending,
          view: decodeBody(body).view,
          body: [body],
          digest: bodyDigest(body),
        };
      } catch {
        options.files.remove(pending, "pending");
      }
    }
  }

  /** Whether signature `seqno`, in a range handed to `beforeCommit`, is a snapshot point (see the module comment). */
  #isPoint(seqno: number): boolean {
    const previous = this.#o.ledger.lastSignatureAtOrBefore(seqno - 1);
    return isSnapshotPoint(this.#strideAt(seqno), this.#signatureAt(previous), this.#signatureAt(seqno));
  }

  /** The stride at the newest committed seqno this node has looked at (the `treaty_snapshot_stride_entries` gauge). */
  stride(): Stride {
    return this.#strideAt(this.#evidenceScanned);
  }

  /** The stride at seqno `seqno`: after the newest snapshot whose evidence is in the ledger by then. */
  #strideAt(seqno: number): Stride {
    let bytes = 0;
    for (let i = this.#evidence.length - 1; i >= 0; i--) {
      if (this.#evidence[i]!.at <= seqno) {
        bytes = this.#evidence[i]!.bytes;
        break;
      }
    }
    return strideAfter(this.#o.schedule, bytes);
  }

  #signatureAt(seqno: number): SignatureAt {
    return { seqno, timeMs: seqno === 0 ? undefined : this.#o.ledger.entry(seqno)?.header.meta.timeMs };
  }

  /**
   * Notes the evidence entries among the internal entries in (`#evidenceScanned`, `upTo`], each
   * read once, in commit order. The ledger's internal index drops evidence entries once its
   * compaction (a commit checkpoint behind the commit point) passes them; every commit scans here
   * first (`beforeCommit`), and so does the node's start (`started`), when the index holds its
   * whole ledger.
   */
  #scanEvidence(upTo: number): void {
    if (upTo <= this.#evidenceScanned) return;
    const found: { at: number; bytes: number }[] = [];
    for (const at of this.#o.ledger.internalSeqnosDownFrom(upTo)) {
      if (at <= this.#evidenceScanned) break;
      const entry = this.#o.ledger.entry(at);
      const record = entry === undefined ? undefined : evidenceOf(entry);
      if (record !== undefined) found.push({ at, bytes: record.bytes });
    }
    this.#evidence.push(...found.reverse());
    if (this.#evidence.length > EVIDENCE_KEPT)
      this.#evidence.splice(0, this.#evidence.length - EVIDENCE_KEPT);
    this.#evidenceScanned = upTo;
  }

  /**
   * At the node's start (before its first commit or compaction): notes the snapshot evidence in
   * its ledger through its committed seqno `seqno`, so the stride is known at once.
   */
  started(seqno: number): void {
    this.#scanEvidence(seqno);
  }

  /** Replica hook: a snapshot at the last point in (from, to], taken before the KV commits past it. */
  beforeCommit(fromSeqno: number, toSeqno: number): void {
    const { ledger, execution } = this.#o;
    this.#scanEvidence(toSeqno);
    let point: number | undefined;
    for (let s = ledger.lastSignatureAtOrBefore(toSeqno); s >= fromSeqno && s > 0; ) {
      if (s > (this.#pending?.seqno ?? 0) && s > this.#latestSeqno() && this.#isPoint(s)) {
        point = s;
        break;
      }
      s = ledger.lastSignatureAtOrBefore(s - 1);
      if (ledger.base !== undefined && s < ledger.base.seqno) break;
    }
    if (point === undefined || point <= execution.committedVersion) return;
    if (this.#taking !== undefined) {
      this.#points.skipped++;
      this.#o.logger.warn("snapshot point skipped: the previous snapshot is still being taken", {
        seqno: point,
        taking: this.#taking,
      });
      return;
    }
    const seqno = point;
    const state = this.#stateAt(seqno);
    void execution.commit(seqno).catch(() => undefined);
    const taken = takeSnapshotBody(execution, state, () => this.#o.secrets.current);
    this.#inFlight++;
    this.#points.taken++;
    this.#taking = seqno;
    this.#work = this.#work
      .then(async () => {
        const read = await taken;
        if (read === undefined) return; // the KV moved on (a restart replay), or no secret: skip this point
        await this.#write(seqno, state.view, read.body, read.digest);
      })
      .catch((err: unknown) => this.#o.logger.warn("could not write a snapshot", { seqno, err }))
      .finally(() => {
        this.#inFlight--;
        this.#taking = undefined;
      });
  }

  /** What the snapshot at `seqno` holds besides the KV (read now: the ledger may move on). */
  #stateAt(seqno: number): Omit<SnapshotState, "public" | "private"> {
    const { ledger } = this.#o;
    let config: SnapshotState["config"] = null;
    for (const s of ledger.internalSeqnosDownFrom(seqno)) {
      const nodes = configOf(ledger.get(s)!);
      if (nodes !== undefined) {
        config = { seqno: s, nodes: [...nodes].sort() };
        break;
      }
    }
    config ??= ledger.base?.config ?? null;
    return {
      seqno,
      view: ledger.get(seqno)?.view ?? ledger.base!.view,
      frontier: ledger.tree.frontier(seqno),
      views: ledger.viewStarts().filter((v) => v.startSeqno <= seqno),
      config,
    };
  }

  /** Runs `write` after the file writes asked before it; a failure is the caller's (the queue goes on). */
  #fileWrite(write: () => Promise<void>): Promise<void> {
    this.#inFlight++;
    const done = this.#files.then(write).finally(() => this.#inFlight--);
    this.#files = done.catch(() => undefined);
    return done;
  }

  async #write(seqno: number, view: number, body: BodyParts, digest: Uint8Array): Promise<void> {
    await this.#fileWrite(async () => {
      // An install (or a completed snapshot) at or above this point made it useless meanwhile.
      if (seqno <= this.#latest) return;
      await this.#o.files.writePending(seqno, encodeFileParts(body, null));
    });
    if (seqno <= this.#latest) return;
    this.#pending = { seqno, view, body, digest };
    this.#o.logger.info("snapshot written", { seqno, bytes: partsLength(body) });
    // Its evidence may have committed while the KV was being read: look again.
    const scanned = this.#scanned;
    this.#scanned = seqno;
    this.onCommit(seqno + 1, scanned);
    if (this.#o.isLeader()) {
      this.#o
        .recordEvidence({ seqno, digest, bytes: partsLength(body) })
        .catch((err: unknown) => this.#o.logger.warn("could not record snapshot evidence", { seqno, err }));
    }
  }

  /**
   * Committed range hook: an evidence transaction for the pending snapshot completes it with the
   * evidence receipt (covered by a committed signature, since commits end at signatures).
   */
  onCommit(fromSeqno: number, toSeqno: number): void {
    const { ledger } = this.#o;
    let seqno = Math.max(fromSeqno, this.#scanned + 1);
    for (; seqno <= toSeqno; seqno++) {
      const pending = this.#pending;
      if (pending === undefined) break;
      // The ledger keeps the recent entries decoded (and checked when they were stored):
      // `entry` looks them up instead of decoding and hashing every committed entry again.
      const entry = ledger.entry(seqno);
      if (entry === undefined || entry.header.kind !== "internal") continue;
      const evidence = evidenceOf(entry);
      if (evidence === undefined || evidence.seqno !== pending.seqno) continue;
      if (Buffer.compare(evidence.digest, pending.digest) !== 0) {
        this.#o.logger.warn("snapshot evidence names another digest: this node's snapshot is not usable", {
          seqno: pending.seqno,
        });
        continue;
      }
      const record = ledger.get(seqno);
      if (record === undefined) continue;
      this.#complete(pending, record.bytes, formatTxId(record.view, seqno), toSeqno);
    }
    this.#scanned = Math.max(this.#scanned, toSeqno);
  }

  #complete(pending: Pending, entry: Uint8Array, txid: string, committed: number): void {
    const { ledger, files } = this.#o;
    try {
      // The proofs are read now (the ledger moves on); the file is written in the background.
      const receipt = ledger.receipt(txid, committed);
      const consistency = ledger.tree.consistencyProof(pending.seqno, receipt.signature.treeSize);
      const parts = encodeFileParts(pending.body, { entry, receipt, consistency });
      this.#pending = undefined;
      // The pending file holds the body already: only its end changes (files.ts).
      const complete = async () => {
        if (await files.completePending(pending.seqno, encodeFileParts(pending.body, null), parts)) return;
        await files.writeCommitted(pending.seqno, parts);
      };
      this.#fileWrite(complete).then(
        () => {
          if (pending.seqno > this.#latest) {
            this.#latest = pending.seqno;
            this.#latestView = { seqno: pending.seqno, view: pending.view };
          }
          this.#o.logger.info("snapshot usable (evidence committed)", {
            seqno: pending.seqno,
            evidence: txid,
          });
        },
        (err: unknown) =>
          this.#o.logger.warn("could not write a snapshot completed with its evidence", {
            seqno: pending.seqno,
            err,
          }),
      );
    } catch (err) {
      this.#o.logger.warn("could not complete a snapshot with its evidence", { seqno: pending.seqno, err });
    }
  }

  #latestSeqno(): number {
    return this.#latest;
  }

  /** Waits for snapshot reads and file writes in flight (tests, stop). */
  async settled(): Promise<void> {
    await this.#work;
    await this.#files;
  }

  /**
   * Snapshot reads and file writes in progress (0: none): a snapshot's work runs beside the
   * writes for seconds at a large state (the KV's rows on the execution thread, the body's
   * sealing and hashing on the main thread, the file on libuv's pool), so a benchmark waits for 0
   * before it measures (bench/network.ts). A snapshot written and waiting for its evidence to
   * commit is not in progress (nothing runs for it until then).
   */
  inFlight(): number {
    return this.#inFlight;
  }

  /** Snapshot points reached on this node: taken, and skipped while the previous snapshot was being taken. */
  points(): { readonly taken: number; readonly skipped: number } {
    return { ...this.#points };
  }

  /** Seqno of the newest committed snapshot file (0: none), without reading it. */
  latestSeqno(): number {
    return this.#latestSeqno();
  }

  /** SnapshotPort.latestView: from this node's own snapshot, else from the ledger. */
  latestView(): number | undefined {
    const seqno = this.#latestSeqno();
    if (seqno === 0) return undefined;
    if (this.#latestView?.seqno === seqno) return this.#latestView.view;
    const { ledger } = this.#o;
    return ledger.base?.seqno === seqno ? ledger.base.view : ledger.get(seqno)?.view;
  }

  /** The newest committed snapshot file, read on this thread (tests); the node uses `readLatest`. */
  latest(): LatestSnapshot | undefined {
    const seqno = this.#latestSeqno();
    return seqno === 0 ? undefined : this.#described(seqno, this.#o.files.read(seqno, "committed"));
  }

  /** `latest`, its file read off the main thread (SnapshotPort.readLatest). */
  async readLatest(): Promise<LatestSnapshot | undefined> {
    const seqno = this.#latestSeqno();
    return seqno === 0
      ? undefined
      : this.#described(seqno, await this.#o.files.readAsync(seqno, "committed"));
  }

  #described(seqno: number, bytes: Uint8Array | undefined): LatestSnapshot | undefined {
    if (bytes === undefined) return undefined;
    // The view is known for a snapshot this node wrote since it started: no decoding of the state.
    const known = this.#latestView?.seqno === seqno ? this.#latestView.view : undefined;
    return { seqno, view: known ?? decodeBody(decodeFile(bytes).body).view, bytes };
  }

  /**
   * The state of the newest kept committed snapshot at or below `seqno` that verifies, or
   * undefined: where a history engine (node/history/) starts instead of seqno 1.
   */
  stateAtOrBelow(seqno: number): SnapshotState | undefined {
    const kept = this.#o.files.list("committed").filter((s) => s <= seqno);
    for (const s of kept.sort((a, b) => b - a)) {
      const bytes = this.#o.files.read(s, "committed");
      if (bytes === undefined) continue;
      try {
        return this.verify(bytes).state;
      } catch {
        // a file that no longer verifies is skipped, as at restart
      }
    }
    return undefined;
  }

  /**
   * Verifies `bytes` and opens its private part; throws SnapshotInvalid (nothing loaded). Shared
   * by `install` and the restart path.
   */
  verify(bytes: Uint8Array): { state: SnapshotState; base: LedgerBase } {
    const { body } = verifySnapshot(bytes, this.#o.serviceKeys);
    const state = openBody(body, this.#o.secrets.get(body.secretVersion));
    return { state, base: baseOf(body) };
  }

  async install(bytes: Uint8Array): Promise<{ readonly seqno: number; readonly view: number }> {
    const { state, base } = this.verify(bytes);
    const { ledger, execution, files } = this.#o;
    if (state.seqno <= execution.committedVersion || state.seqno <= ledger.persistedSeqno) {
      throw new TreatyError(
        "Conflict",
        `snapshot at seqno ${state.seqno}: this node already holds state up to seqno ${Math.max(execution.committedVersion, ledger.persistedSeqno)}`,
      );
    }
    // Durable first, so a restart after a crash in between finishes the install from the file.
    await this.#fileWrite(() => files.writeCommitted(state.seqno, [bytes]));
    if (state.seqno > this.#latest) {
      this.#latest = state.seqno;
      this.#latestView = { seqno: state.seqno, view: state.view };
    }
    this.#pending = undefined;
    await execution.installState(state.seqno, [...state.public, ...state.private]);
    ledger.rebase(base);
    this.#scanned = state.seqno;
    await this.#o.onInstalled(state.seqno);
    this.#o.logger.info("snapshot installed", { seqno: state.seqno, view: state.view });
    return { seqno: state.seqno, view: state.view };
  }
}
