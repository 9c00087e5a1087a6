/**
 * The form in which write sets and seeds cross between the main thread and the execution
 * worker: a batch's results (worker to main, `packBatch`), an apply's items (main to worker,
 * `packItems`) and a batch's seeds (main to worker, `packCalls`).
 *
 * Structured clone serializes every object, array and view of a write set one by one (a signed
 * write's: the contract's write and its nonce row), and gives every `Uint8Array` an
 * ArrayBuffer of its own on both sides, each allocated and later swept by the GC; a view even
 * clones the whole buffer under it, so a write set decoded in place from a received message
 * carried that message along. So write sets cross as bytes: each one's two parts in the form a
 * ledger entry carries them (runtime/ledger/entry.ts `encodeWrites`), back to back in one fresh
 * buffer with two lengths per write set (`EncodedWriteSets`). The buffers are owned by the message
 * alone: the main thread transfers an apply's and a batch's seeds; the worker posts a batch's
 * answer copied, so its isolate never detaches an ArrayBuffer (serve.ts `post`).
 *
 * A batch's write sets (`encodeWriteSets`): the worker writes them in the entry's form, and the
 * main thread keeps them as those bytes (`EncodedWriteSet`): the leader's ledger copies them into
 * the entry, and nothing on the main thread makes the write set's objects, which lived until the
 * KV commit (the journal) and in the ledger's recent entries, long enough to be promoted by the
 * scavenger (docs/performance.md "Main-thread GC pauses, session 18").
 *
 * An apply's write sets (`packItems`): a follower's come from its ledger as the entry's own bytes
 * (`Ledger.writeSetAt`: the public part, the opened private writes), checked there, and are
 * copied into the message once; the worker decodes them into the objects its KV applies (keys and
 * values views of the transferred buffer). Before, the main thread decoded each entry into
 * objects and packed them again as numbers over a byte buffer, which the worker rebuilt
 * (docs/performance.md "A follower's apply takes the entry's bytes", session 20).
 */
import { assert } from "../../sdk/assert.js";
import { encode } from "../../sdk/codec.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import { decodeWrites, EncodedWriteSet, encodeWrites, writesToWire } from "../../runtime/ledger/entry.js";
import { writeWrites } from "../../runtime/ledger/entry-write.js";
import type { CallerInfo } from "../../runtime/sandbox/abi.js";
import type { ExecCall, ExecResult, VersionedWriteSet } from "./protocol.js";

/**
 * A result as `PackedBatch` carries it: a successful one without its write set, or, for the
 * common write (`result` null, no events, no claims digest, txid `${view}.${seqno}`), just its
 * seqno: structured clone serializes an object field by field on one thread and rebuilds it on
 * the other (~3 µs a result for both together, measured with v8.serialize/deserialize; ~0.5 for
 * a number).
 */
export type WireResult =
  | (Omit<Extract<ExecResult, { ok: true }>, "writeSet"> & { readonly writeSet: null })
  | Extract<ExecResult, { ok: false }>
  | number;

/**
 * Write sets as a ledger entry carries them (runtime/ledger/entry.ts `encodeWrites`): for each, in
 * order, its public part's bytes then its private writes' bytes, back to back in `bytes`;
 * `lengths` holds the two lengths of each.
 */
export interface EncodedWriteSets {
  readonly lengths: Int32Array;
  readonly bytes: Uint8Array;
}

/** A batch's results as they cross from the worker to the main thread. */
export interface PackedBatch {
  /** The view of the batch's txids (`${view}.${seqno}`), for the results sent as a seqno. */
  readonly view: number;
  /** The results, in order; a successful one has `writeSet: null` here (it is in `writeSets`). */
  readonly results: readonly WireResult[];
  /** The write sets of the successful results, in order. */
  readonly writeSets: EncodedWriteSets;
}

/** Where `encodeWriteSets` writes, reused: its result is a copy of the bytes written. */
let encodeScratch = new Uint8Array(16 * 1024);

/**
 * `writeSets` in the entry's form, checked as the ledger checks a write set it encodes (sorted,
 * each map in its part: assertions); they are not modified. The bytes are one fresh buffer sized
 * to them (a view of a larger one would be cloned whole by postMessage).
 */
export function encodeWriteSets(writeSets: readonly WriteSet[]): EncodedWriteSets {
  const lengths = new Int32Array(2 * writeSets.length);
  let offset = 0;
  for (let i = 0; i < writeSets.length; i++) {
    const writeSet = writeSets[i]!;
    // Each copied before the next call: encodeWrites reuses its buffer.
    const publicBytes = encodeWrites(writeSet.public, true);
    offset = placeEncoded(publicBytes, offset);
    lengths[2 * i] = publicBytes.length;
    const privateBytes = encodeWrites(writeSet.private, false);
    offset = placeEncoded(privateBytes, offset);
    lengths[2 * i + 1] = privateBytes.length;
  }
  return { lengths, bytes: encodeScratch.slice(0, offset) };
}

function placeEncoded(part: Uint8Array, offset: number): number {
  if (offset + part.length > encodeScratch.length) {
    const bigger = new Uint8Array(Math.max(2 * encodeScratch.length, offset + part.length));
    bigger.set(encodeScratch.subarray(0, offset));
    encodeScratch = bigger;
  }
  encodeScratch.set(part, offset);
  return offset + part.length;
}

/**
 * The write sets `encodeWriteSets` encoded, each as views of `encoded.bytes`. Throws
 * AssertionFailure when the lengths do not cover the bytes (a bug: both come from one encoding).
 */
export function decodeWriteSets(encoded: EncodedWriteSets): EncodedWriteSet[] {
  const { lengths, bytes } = encoded;
  assert(lengths.length % 2 === 0, "unpack: two lengths per write set");
  const out = new Array<EncodedWriteSet>(lengths.length / 2);
  let offset = 0;
  for (let i = 0; i < out.length; i++) {
    const publicLength = lengths[2 * i]!;
    const privateLength = lengths[2 * i + 1]!;
    assert(
      publicLength > 0 && privateLength > 0 && publicLength + privateLength <= bytes.length - offset,
      "unpack: a write set within the bytes",
    );
    const publicEnd = offset + publicLength;
    const end = publicEnd + privateLength;
    out[i] = new EncodedWriteSet(bytes.subarray(offset, publicEnd), bytes.subarray(publicEnd, end));
    offset = end;
  }
  assert(offset === bytes.length, "unpack: the write sets cover the bytes");
  return out;
}

/**
 * `results` of a batch run in `view` packed, and the buffers it owns (to transfer); `results` is
 * not modified.
 */
export function packBatch(
  results: readonly ExecResult[],
  view: number,
): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  const writeSets: WriteSet[] = [];
  const wire = results.map((result): WireResult => {
    if (!result.ok) return result;
    writeSets.push(result.writeSet);
    // Written out rather than spread: one fixed shape (a spread built a hidden class per result).
    const { seqno, txid, result: value, events, claimsDigest } = result;
    if (value === null && events.length === 0 && claimsDigest === undefined && txid === `${view}.${seqno}`)
      return seqno;
    return claimsDigest === undefined
      ? { ok: true, seqno, txid, result: value, writeSet: null, events }
      : { ok: true, seqno, txid, result: value, writeSet: null, events, claimsDigest };
  });
  const encoded = encodeWriteSets(writeSets);
  return {
    batch: { view, results: wire, writeSets: encoded },
    transfer: [encoded.lengths.buffer as ArrayBuffer, encoded.bytes.buffer as ArrayBuffer],
  };
}

/**
 * The results `packBatch` packed, each write set an `EncodedWriteSet` (views of one buffer).
 * Takes over `batch` (its result objects become the returned results).
 */
export function unpackBatch(batch: PackedBatch): ExecResult[] {
  const writeSets = decodeWriteSets(batch.writeSets);
  const { view } = batch;
  let next = 0;
  const results = batch.results.map((wire): ExecResult => {
    if (typeof wire === "number") {
      assert(next < writeSets.length, "unpack: one write set per successful result");
      return {
        ok: true,
        seqno: wire,
        txid: `${view}.${wire}`,
        result: null,
        writeSet: writeSets[next++]!,
        events: [],
      };
    }
    const result = wire as ExecResult;
    if (result.ok) {
      assert(next < writeSets.length, "unpack: one write set per successful result");
      (result as { writeSet: WriteSet | null }).writeSet = writeSets[next++]!;
    }
    return result;
  });
  assert(next === writeSets.length, "unpack: one write set per successful result");
  return results;
}

/** An apply's items as they cross from the main thread to the worker. */
export interface PackedItems {
  readonly versions: readonly number[];
  /** Each item's write set in the entry's form, as a batch's write sets (`encodeWriteSets`). */
  readonly writeSets: EncodedWriteSets;
}

/**
 * `items` packed, and the buffers it owns (to transfer); `items` is not modified. A write set in
 * the entry's form (`EncodedWriteSet`: a follower's replicated entries, `Ledger.writeSetAt`) is
 * copied as it is, once; one of objects (a replay from the ledger's stored entries, a test) is
 * encoded here without a check, so a malformed one reaches the worker, whose decode and KV apply
 * refuse it as `LedgerCorrupt`, as they always did.
 */
export function packItems(items: readonly VersionedWriteSet[]): {
  items: PackedItems;
  transfer: ArrayBuffer[];
} {
  // Loops, not `map` with an arrow: an arrow made per call loses its optimized code after a major
  // GC (docs/performance.md "Hot closures recompiled after every major GC").
  const versions: number[] = new Array(items.length);
  const parts: Uint8Array[] = new Array(2 * items.length);
  const lengths = new Int32Array(2 * items.length);
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const { version, writeSet } = items[i]!;
    versions[i] = version;
    const encoded = writeSet instanceof EncodedWriteSet;
    const publicBytes = encoded ? writeSet.publicBytes : uncheckedWrites(writeSet.public);
    const privateBytes = encoded ? writeSet.privateBytes : uncheckedWrites(writeSet.private);
    parts[2 * i] = publicBytes;
    parts[2 * i + 1] = privateBytes;
    lengths[2 * i] = publicBytes.length;
    lengths[2 * i + 1] = privateBytes.length;
    total += publicBytes.length + privateBytes.length;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < parts.length; i++) {
    bytes.set(parts[i]!, offset);
    offset += parts[i]!.length;
  }
  return {
    items: { versions, writeSets: { lengths, bytes } },
    transfer: [lengths.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer],
  };
}

/** `writes` in the entry's form, unchecked (see `packItems`): a copy of its own. */
function uncheckedWrites(writes: readonly MapWrites[]): Uint8Array {
  return (writeWrites(writes) ?? encode(writesToWire(writes))).slice();
}

/**
 * The items `packItems` packed, write sets decoded as objects whose keys and values are views of
 * the packed bytes, checked as a ledger entry's are (`decodeWrites`); TreatyError LedgerCorrupt
 * naming the version when one is malformed (then no item of the apply reaches the KV, and the
 * reply's applied version says so: the service forgets them all), AssertionFailure when the
 * lengths do not cover the bytes (a bug: both come from one pack).
 */
export function unpackItems(packed: PackedItems): VersionedWriteSet[] {
  const { versions } = packed;
  const writeSets = decodeWriteSets(packed.writeSets);
  assert(writeSets.length === versions.length, "unpack: one write set per version");
  const items: VersionedWriteSet[] = new Array(versions.length);
  for (let i = 0; i < items.length; i++) {
    const version = versions[i]!;
    const { publicBytes, privateBytes } = writeSets[i]!;
    items[i] = {
      version,
      writeSet: {
        public: decodeWrites(publicBytes, version, "public"),
        private: decodeWrites(privateBytes, version, "private"),
      },
    };
  }
  return items;
}

/**
 * A call as a batch request carries it (`packCalls`): its fields in a fixed order, the caller as
 * its id and role when it is exactly `{id, role}` (else the caller object or null, and no role),
 * `createdMs` undefined when absent, and the seed as its length (the seeds lie in call order in
 * the request's buffer). Structured clone writes an object's every key and rebuilds the object
 * field by field: on 25 signed calls, v8.serialize ~1.5 → ~0.6 µs and deserialize ~2.3 → ~1.6
 * µs per call as arrays.
 */
export type WireCall = readonly [
  contract: string,
  method: string,
  args: unknown,
  caller: string | CallerInfo | null,
  role: string | undefined,
  nonce: string | null,
  createdMs: number | undefined,
  timeMs: number,
  seedLength: number,
];

/**
 * A batch's calls as they cross to the worker: `wire` with the seeds copied into one fresh
 * buffer (to transfer with the request), or, when a seed is not a Uint8Array (a caller's bug,
 * which the worker reports as such), the calls as they are in `calls` and no buffer.
 */
export type PackedCalls =
  | { readonly wire: WireCall[]; readonly calls: null; readonly buffer: ArrayBuffer }
  | { readonly wire: null; readonly calls: ExecCall[]; readonly buffer: null };

/**
 * The calls of a batch request in their wire form with their seeds copied into one fresh buffer,
 * to be transferred with the request: structured clone gives every seed an ArrayBuffer of its own
 * on both sides (measured on one MessagePort, 32 calls per batch: ~1.2 µs per call less to send
 * and receive), and writes and rebuilds every object key (see WireCall). `calls` and their seeds
 * are not modified.
 */
export function packCalls(calls: readonly ExecCall[]): PackedCalls {
  let total = 0;
  for (const call of calls) {
    if (!(call.seed instanceof Uint8Array)) return { wire: null, calls: calls.slice(), buffer: null };
    total += call.seed.length;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  const wire = calls.map((call): WireCall => {
    const { contract, method, args, caller, nonce, createdMs, timeMs, seed } = call;
    bytes.set(seed, offset);
    offset += seed.length;
    return plainCaller(caller)
      ? [contract, method, args, caller.id, caller.role, nonce, createdMs, timeMs, seed.length]
      : [contract, method, args, caller, undefined, nonce, createdMs, timeMs, seed.length];
  });
  return { wire, calls: null, buffer: bytes.buffer as ArrayBuffer };
}

/** True when `caller` is exactly `{id, role}` with string fields (a JWT caller has more). */
function plainCaller(caller: CallerInfo | null): caller is CallerInfo & { id: string; role: string } {
  if (caller === null || typeof caller.id !== "string" || typeof caller.role !== "string") return false;
  let keys = 0;
  for (const key in caller) {
    if (!Object.hasOwn(caller, key) || (key !== "id" && key !== "role")) return false;
    keys++;
  }
  return keys === 2 && Object.getPrototypeOf(caller) === Object.prototype;
}

/**
 * The calls `packCalls` put in `wire`, seeds as views of `seeds` (the request's buffer): equal to
 * the calls packed, `createdMs` absent where it was. Asserts that the seeds cover the buffer.
 */
export function unpackCalls(wire: readonly WireCall[], seeds: Uint8Array): ExecCall[] {
  let offset = 0;
  // A loop, not a `map` arrow made per batch (see `packItems`).
  const calls = new Array<ExecCall>(wire.length);
  for (let i = 0; i < wire.length; i++) {
    const [contract, method, args, callerField, role, nonce, createdMs, timeMs, seedLength] = wire[i]!;
    assert(seedLength >= 0 && seedLength <= seeds.length - offset, "unpack: a seed within the bytes");
    const seed = seeds.subarray(offset, offset + seedLength);
    offset += seedLength;
    const caller =
      role === undefined ? (callerField as CallerInfo | null) : ({ id: callerField, role } as CallerInfo);
    // Two fixed shapes: `createdMs` stays absent when it was.
    calls[i] =
      createdMs === undefined
        ? { contract, method, args, caller, nonce, timeMs, seed }
        : { contract, method, args, caller, nonce, createdMs, timeMs, seed };
  }
  assert(offset === seeds.length, "unpack: the seeds cover the bytes");
  return calls;
}
