/**
 * Write sets as bytes, and the one shape check every write set passes before it touches state.
 * Browser-safe (sdk/ and runtime/kv/limits only) so offline ledger audit can reuse it.
 *
 * Wire format (MessagePack through sdk/codec.ts, the same per-part layout as the ledger's `p`):
 *
 *   writeSet  = { public: part, private: part }
 *   part      = [[map, [[key, value | nil], ...]], ...]     maps sorted, keys sorted bytewise
 *
 * The check is strict so that equal changes always have equal bytes: maps sorted by JS string
 * order and unique, keys strictly ascending bytewise, no empty map entries, each map in its own
 * domain (`public:` prefix or not), names valid and keys within KEY_BYTES_LIMIT.
 */
import { decode, encode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import { checkMapName, compareBytes, KEY_BYTES_LIMIT, showMap } from "./limits.js";
import { isPublicMap, type MapWrites, type WriteSet } from "./types.js";

/** How to report a malformed write set: the field path prefix and the error code. */
export interface WriteSetCheckOptions {
  /** Prefix of field paths in messages (default `writeSet`). */
  readonly field?: string;
  /** Error code (default `MalformedEncoding`; the ledger passes `LedgerCorrupt`). */
  readonly code?: "MalformedEncoding" | "LedgerCorrupt";
}

/** The empty write set (a transaction that changed nothing). */
export const EMPTY_WRITE_SET: WriteSet = Object.freeze({
  public: Object.freeze([]) as readonly MapWrites[],
  private: Object.freeze([]) as readonly MapWrites[],
});

/** True when the write set changes nothing. */
export function isEmptyWriteSet(writeSet: WriteSet): boolean {
  return writeSet.public.length === 0 && writeSet.private.length === 0;
}

/**
 * Encodes a write set. The input must already be well-formed (it comes from `KvTx.writeSet()` or
 * `decodeWriteSet`); a malformed one is a bug and throws TreatyError from the same check as
 * decoding, so bad bytes are never produced. The returned bytes are owned by the caller.
 */
export function encodeWriteSet(writeSet: WriteSet): Uint8Array {
  checkWriteSet(writeSet, { field: "writeSet", code: "MalformedEncoding" });
  return owned(encode({ public: partToWire(writeSet.public), private: partToWire(writeSet.private) }));
}

/**
 * Decodes and checks a write set. Hostile bytes never crash: invalid MessagePack or a wrong shape
 * throws TreatyError (`options.code`, default MalformedEncoding) naming the offending field.
 * Byte arrays in the result are views into a fresh copy owned by the caller.
 */
export function decodeWriteSet(bytes: Uint8Array, options: WriteSetCheckOptions = {}): WriteSet {
  const field = options.field ?? "writeSet";
  const code = options.code ?? "MalformedEncoding";
  const wire = decodeAs(bytes, field, code);
  if (!isPlainObject(wire)) throw new TreatyError(code, `${field}: expected a map {public, private}`);
  const keys = Object.keys(wire);
  if (keys.length !== 2 || !Object.hasOwn(wire, "public") || !Object.hasOwn(wire, "private")) {
    throw new TreatyError(code, `${field}: expected exactly the fields public and private`);
  }
  const writeSet: WriteSet = {
    public: partFromWire(wire.public, `${field}.public`, code),
    private: partFromWire(wire.private, `${field}.private`, code),
  };
  checkWriteSet(writeSet, { field, code });
  return writeSet;
}

/** Encodes one part (public or private) of a write set, for callers that seal parts apart; fresh bytes. */
export function encodeMapWrites(part: readonly MapWrites[], domain: "public" | "private"): Uint8Array {
  checkPart(part, domain, `writeSet.${domain}`, "MalformedEncoding");
  return owned(encode(partToWire(part)));
}

/** Decodes one part encoded by `encodeMapWrites`; errors as `decodeWriteSet`. */
export function decodeMapWrites(
  bytes: Uint8Array,
  domain: "public" | "private",
  options: WriteSetCheckOptions = {},
): MapWrites[] {
  const field = options.field ?? `writeSet.${domain}`;
  const code = options.code ?? "MalformedEncoding";
  const part = partFromWire(decodeAs(bytes, field, code), field, code);
  checkPart(part, domain, field, code);
  return part;
}

/**
 * Checks that `value` is a well-formed write set (see the module comment). Throws TreatyError
 * naming the first bad field; never throws anything else, whatever `value` is.
 */
export function checkWriteSet(value: unknown, options: WriteSetCheckOptions = {}): asserts value is WriteSet {
  const field = options.field ?? "writeSet";
  const code = options.code ?? "MalformedEncoding";
  if (value === null || typeof value !== "object") {
    throw new TreatyError(code, `${field}: expected {public, private}`);
  }
  const ws = value as { public?: unknown; private?: unknown };
  checkPart(ws.public, "public", `${field}.public`, code);
  checkPart(ws.private, "private", `${field}.private`, code);
}

/**
 * Map names `checkMapName` accepted lately: a name's validity never changes, and every write set
 * a node applies names the same few maps, each checked (a regular expression and a UTF-8 encode)
 * on every write set otherwise. Bounded: cleared when full.
 */
const VALID_MAP_NAMES = new Set<string>();
const VALID_MAP_NAMES_KEPT = 1024;

function checkPart(
  part: unknown,
  domain: "public" | "private",
  field: string,
  code: string,
): asserts part is readonly MapWrites[] {
  if (!Array.isArray(part)) throw new TreatyError(code, `${field}: expected an array of map writes`);
  let previous: string | undefined;
  for (let i = 0; i < part.length; i++) {
    const entry: unknown = part[i];
    if (entry === null || typeof entry !== "object") {
      throw new TreatyError(code, `${field}[${i}]: expected {map, writes}`);
    }
    const { map, writes } = entry as { map?: unknown; writes?: unknown };
    if (typeof map !== "string" || !VALID_MAP_NAMES.has(map)) {
      const name = checkMapName(map);
      if ("error" in name) throw new TreatyError(code, `${field}[${i}].map: ${name.error}`);
      if (VALID_MAP_NAMES.size >= VALID_MAP_NAMES_KEPT) VALID_MAP_NAMES.clear();
      VALID_MAP_NAMES.add(map as string);
    }
    const mapName = map as string;
    if (isPublicMap(mapName) !== (domain === "public")) {
      throw new TreatyError(
        code,
        `${field}[${i}].map: ${showMap(mapName)} does not belong in the ${domain} part`,
      );
    }
    if (previous !== undefined && !(previous < mapName)) {
      throw new TreatyError(code, `${field}[${i}].map: ${showMap(mapName)} is out of order or repeated`);
    }
    previous = mapName;
    if (!Array.isArray(writes) || writes.length === 0) {
      throw new TreatyError(code, `${field}[${i}].writes: expected a non-empty array of [key, value | null]`);
    }
    let previousKey: Uint8Array | undefined;
    for (let j = 0; j < writes.length; j++) {
      const pair: unknown = writes[j];
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        !(pair[0] instanceof Uint8Array) ||
        !(pair[1] === null || pair[1] instanceof Uint8Array)
      ) {
        throw new TreatyError(code, `${field}[${i}].writes[${j}]: expected [key bytes, value bytes | null]`);
      }
      const key = pair[0];
      if (key.length > KEY_BYTES_LIMIT) {
        throw new TreatyError(
          code,
          `${field}[${i}].writes[${j}]: key of map ${showMap(mapName)} is ${key.length} bytes, max ${KEY_BYTES_LIMIT}`,
        );
      }
      if (previousKey !== undefined && compareBytes(previousKey, key) >= 0) {
        throw new TreatyError(code, `${field}[${i}].writes[${j}]: key is out of order or repeated`);
      }
      previousKey = key;
    }
  }
}

function decodeAs(bytes: Uint8Array, field: string, code: string): unknown {
  try {
    return decode(bytes, field);
  } catch (err) {
    if (code === "MalformedEncoding") throw err;
    throw new TreatyError(code, err instanceof Error ? err.message : `${field}: not valid MessagePack`);
  }
}

function partToWire(part: readonly MapWrites[]): unknown[] {
  return part.map((m) => [m.map, m.writes.map(([key, value]) => [key, value])]);
}

/** Wire arrays to MapWrites; the full check happens afterwards in checkPart. */
function partFromWire(wire: unknown, field: string, code: string): MapWrites[] {
  if (!Array.isArray(wire)) throw new TreatyError(code, `${field}: expected an array of map writes`);
  const out: MapWrites[] = [];
  for (let i = 0; i < wire.length; i++) {
    const item: unknown = wire[i];
    if (!Array.isArray(item) || item.length !== 2 || !Array.isArray(item[1])) {
      throw new TreatyError(code, `${field}[${i}]: expected [map, writes]`);
    }
    const writes: [Uint8Array, Uint8Array | null][] = [];
    const list = item[1] as unknown[];
    for (let j = 0; j < list.length; j++) {
      const pair: unknown = list[j];
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TreatyError(code, `${field}[${i}].writes[${j}]: expected [key bytes, value bytes | null]`);
      }
      writes.push([plain(pair[0]), pair[1] === null ? null : plain(pair[1])] as [
        Uint8Array,
        Uint8Array | null,
      ]);
    }
    out.push({ map: item[0] as string, writes });
  }
  return out;
}

/** A plain copy: the codec's output may be a view into its reusable buffer. */
function owned(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/** A plain Uint8Array view of decoded binary (msgpackr yields Buffers in Node). */
function plain<T>(value: T): T | Uint8Array {
  if (value instanceof Uint8Array && value.constructor !== Uint8Array) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}
