/**
 * `parseStrictJson`: JSON.parse for untrusted request bodies, refusing what JSON.parse quietly
 * accepts: a key repeated in one object (JSON.parse keeps the last one, so a signed body could
 * say two things: `{"nonce": "a...", "nonce": "b..."}`) and nesting deeper than
 * `MAX_JSON_NESTING` (the same bound as MessagePack bodies, sdk/codec.ts). One iterative pass
 * checks both before JSON.parse runs; it never recurses, so no input can overflow the stack.
 */
import { TreatyError } from "./errors.js";

/** Keys of one object checked by a linear search before a Set takes over. */
const SMALL_OBJECT_KEYS = 16;

/** Deepest nesting of arrays and objects accepted in a JSON body (as in MessagePack bodies). */
export const MAX_JSON_NESTING = 64;

/**
 * Scratch state of the one pass, kept between calls (a call runs to its end before another can
 * start, and starts from `depth` and `keys` 0): a request body is parsed with no allocation of its
 * own beyond JSON.parse's, where per-object key lists and a string per key cost about 0.5 KB a
 * request. The lists are written by index below `depth` and `keys`, never shortened (shortening
 * an array gives up its storage).
 *
 * - `open[d]` (d < depth): for the container open at depth d, the index in `keyAt` of its first
 *   key, or -1 for an array;
 * - `keyAt[k]`, `keyEnd[k]` (k < keys): the k-th key of the open objects, as the text between its
 *   quotes (`keyAt` is its first character), or `keyAt` -1 and the key in `keyText[k]` when it
 *   has an escape (JSON.parse decoded it);
 * - `sets[d]`: the keys of the object open at depth d once it has more than SMALL_OBJECT_KEYS.
 * An object records at most SMALL_OBJECT_KEYS keys in the lists, so they never hold more than
 * MAX_JSON_NESTING × SMALL_OBJECT_KEYS whatever the text.
 */
const open: number[] = [];
const keyAt: number[] = [];
const keyEnd: number[] = [];
const keyText: (string | undefined)[] = [];
const sets: (Set<string> | undefined)[] = [];
let depth = 0;
let keys = 0;
/** Whether a call left strings in `keyText` or `sets` (cleared once it ends). */
let holdsStrings = false;

/**
 * Parses `text`. Throws TreatyError `MalformedEncoding` (naming `what`) for a duplicated key or
 * nesting deeper than MAX_JSON_NESTING, and JSON.parse's SyntaxError for text that is not JSON.
 */
export function parseStrictJson(text: string, what: string): unknown {
  depth = 0;
  keys = 0;
  try {
    checkKeys(text, what);
  } finally {
    if (holdsStrings) {
      // No key strings kept past the call.
      keyText.fill(undefined);
      sets.fill(undefined);
      holdsStrings = false;
    }
  }
  return JSON.parse(text);
}

/** The key check (see parseStrictJson): throws for a repeated key or too deep a nesting. */
function checkKeys(text: string, what: string): void {
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          i++;
          escaped = true;
        } else if (d === 0x22) break;
        else if (d < 0x20) escaped = true; // invalid in JSON: JSON.parse decides, as for escapes
      }
      if (expectKey) {
        expectKey = false;
        let decoded: string | undefined;
        if (escaped || i >= text.length) {
          // An escape or a control character: the key is what JSON.parse makes of it.
          let key: unknown;
          try {
            key = JSON.parse(text.slice(start, i + 1));
          } catch {
            return; // malformed: JSON.parse reports it
          }
          if (typeof key !== "string") continue;
          decoded = key;
        }
        if (repeated(text, start + 1, i, decoded)) {
          const key = decoded ?? text.slice(start + 1, i);
          throw new TreatyError(
            "MalformedEncoding",
            `${what}: key ${JSON.stringify(key.slice(0, 80))} appears twice in one object`,
          );
        }
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (depth >= MAX_JSON_NESTING) {
        throw new TreatyError("MalformedEncoding", `${what}: nested deeper than ${MAX_JSON_NESTING} levels`);
      }
      open[depth] = c === 0x7b ? keys : -1;
      sets[depth] = undefined;
      depth++;
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth > 0) {
        depth--;
        const first = open[depth]!;
        if (first !== -1) keys = first; // the object's keys are done with
      }
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = depth > 0 && open[depth - 1] !== -1;
    }
  }
}

/**
 * Whether the key at text[at, end) (or `decoded`, when it had an escape) is already a key of the
 * innermost open object; records it as one either way.
 */
function repeated(text: string, at: number, end: number, decoded: string | undefined): boolean {
  const set = sets[depth - 1];
  if (set !== undefined) {
    const key = decoded ?? text.slice(at, end);
    if (set.has(key)) return true;
    set.add(key);
    return false;
  }
  const first = open[depth - 1]!;
  for (let k = first; k < keys; k++) {
    const otherAt = keyAt[k]!;
    if (decoded === undefined && otherAt !== -1) {
      if (keyEnd[k]! - otherAt === end - at && sameText(text, otherAt, at, end - at)) return true;
    } else if (
      (decoded ?? text.slice(at, end)) === (otherAt === -1 ? keyText[k] : text.slice(otherAt, keyEnd[k]))
    ) {
      return true;
    }
  }
  if (keys - first < SMALL_OBJECT_KEYS) {
    keyAt[keys] = decoded === undefined ? at : -1;
    keyEnd[keys] = end;
    keyText[keys] = decoded;
    if (decoded !== undefined) holdsStrings = true;
    keys++;
    return false;
  }
  // A large object: its keys move to a Set (hashing beats a linear search from here).
  const all = new Set<string>();
  for (let k = first; k < keys; k++) all.add(keyAt[k] === -1 ? keyText[k]! : text.slice(keyAt[k], keyEnd[k]));
  all.add(decoded ?? text.slice(at, end));
  sets[depth - 1] = all;
  holdsStrings = true;
  return false;
}

/** Whether text[a, a + length) and text[b, b + length) are the same characters. */
function sameText(text: string, a: number, b: number, length: number): boolean {
  for (let j = 0; j < length; j++) if (text.charCodeAt(a + j) !== text.charCodeAt(b + j)) return false;
  return true;
}
