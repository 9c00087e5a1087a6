/**
 * The one host-side check of what leaves the sandbox. Everything a contract produces crosses
 * into the host as JSON text (results inside the InvokeOutcome, event data, KV values), and
 * every such text passes `checkJsonText` before the host parses it or hands it on. The check is
 * a single iterative pass over the text (no recursion, so no hostile shape can overflow the
 * host's stack while checking) with hard bounds:
 *
 * - bytes: the UTF-8 size, against the caller's cap (`maxValueBytes`, `maxResultBytes`);
 * - depth: at most `MAX_VALUE_DEPTH` nested arrays/objects (`ValueTooDeep`);
 * - count: at most `MAX_VALUE_NODES` values in one text and `MAX_OBJECT_KEYS` keys in one object
 *   (`ValueTooLarge`);
 * - shape: well-formed JSON text without lone surrogates (`ContractFault`).
 *
 * Why hard depth and count bounds: a value that passes here is then structured-cloned to the
 * node's main thread, msgpack-encoded into the ledger and JSON-encoded into HTTP answers, all of
 * which recurse; a value deep enough to overflow any of them after the KV applied it wedged the
 * node (issue 9). Bounded here, nothing downstream can fail on shape.
 */
import { TreatyError } from "../../sdk/errors.js";

/** Deepest nesting of arrays and objects in one value leaving the sandbox. */
export const MAX_VALUE_DEPTH = 64;
/** Most values (scalars, arrays, objects, keys not counted) in one value leaving the sandbox. */
export const MAX_VALUE_NODES = 262_144;
/** Most keys in one object: the ledger's MessagePack codec writes object sizes in 16 bits. */
export const MAX_OBJECT_KEYS = 65_535;

/** A value's name in messages, or what makes it (called only when a message is made). */
type Label = string | (() => string);

function nameOf(label: Label): string {
  return typeof label === "string" ? label : label();
}

/** Matches a lone surrogate (with the `u` flag a valid pair is one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks `text` (JSON produced by the contract) and returns the parsed value. `what` names the
 * value in messages (`result`, `emit("x") data`, `kvSet("m") value`), or makes that name: a
 * function is called only when a message needs it (the hot kvSet path builds no label). Throws TreatyError:
 * `ValueTooLarge` over `maxBytes` UTF-8 bytes or `MAX_VALUE_NODES` values, `ValueTooDeep` over
 * `maxDepth` (default MAX_VALUE_DEPTH) levels, `ContractFault` when it is not JSON text.
 */
export function checkJsonText(
  text: string,
  what: Label,
  maxBytes: number,
  maxDepth: number = MAX_VALUE_DEPTH,
): unknown {
  const bytes = utf8Length(text);
  if (bytes > maxBytes) throw tooLarge(what, `${bytes} bytes, the limit is ${maxBytes}`);
  scanStructure(text, what, maxDepth);
  if (LONE_SURROGATE.test(text)) throw notJson(what, "not valid Unicode (lone surrogate)");
  try {
    return JSON.parse(text);
  } catch {
    throw notJson(what, "not JSON text");
  }
}

/** UTF-8 size of `text` without allocating (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * One pass over the structure: depth of brackets outside strings, and a count of values (every
 * opening bracket, and every scalar start where a value is expected; object keys are not values). Malformed text is
 * left to JSON.parse, which runs only once the bounds hold.
 */
function scanStructure(text: string, what: Label, maxDepth: number): void {
  let depth = 0;
  let nodes = 0;
  let inString = false;
  let expectValue = true;
  // Whether each open container is an object (after `,` an object expects a key, not a value).
  const inObject: boolean[] = [false];
  // Keys (colons) seen in each open object.
  const keyCounts: number[] = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next unit; a quote ends the string.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    switch (c) {
      case 0x5b: // [
      case 0x7b: // {
        depth++;
        nodes++;
        if (depth > maxDepth) {
          throw new TreatyError(
            "ValueTooDeep",
            `${nameOf(what)}: nested deeper than ${maxDepth} levels of arrays and objects`,
          );
        }
        inObject[depth] = c === 0x7b;
        keyCounts[depth] = 0;
        expectValue = c === 0x5b;
        break;
      case 0x5d: // ]
      case 0x7d: // }
        if (depth > 0) depth--;
        expectValue = false;
        break;
      case 0x2c: // ,
        expectValue = depth > 0 && inObject[depth] !== true;
        break;
      case 0x3a: // :
        expectValue = true;
        keyCounts[depth] = (keyCounts[depth] ?? 0) + 1;
        if (keyCounts[depth]! > MAX_OBJECT_KEYS)
          throw tooLarge(what, `an object with more than ${MAX_OBJECT_KEYS} keys`);
        break;
      case 0x22: // "
        inString = true;
        if (expectValue) nodes++;
        expectValue = false;
        break;
      case 0x20:
      case 0x09:
      case 0x0a:
      case 0x0d:
        break;
      default:
        if (expectValue) nodes++;
        expectValue = false;
    }
    if (nodes > MAX_VALUE_NODES) throw tooLarge(what, `more than ${MAX_VALUE_NODES} values`);
  }
}

function tooLarge(what: Label, why: string): TreatyError {
  return new TreatyError("ValueTooLarge", `${nameOf(what)}: ${why}`);
}

function notJson(what: Label, why: string): TreatyError {
  return new TreatyError("ContractFault", `${nameOf(what)}: ${why}`);
}

/**
 * `checkJsonText` for a caller that needs no parsed value (a KV value is stored as the text it
 * is): throws exactly what `checkJsonText` throws, and returns nothing. One pass over the text
 * (`isPlainJson`) accepts well-formed JSON within the bounds without building a value; any text it
 * does not accept goes through `checkJsonText`, which then names the problem. The pass is strict
 * (it accepts only what JSON.parse accepts, within the same bounds), so the result is the same.
 */
export function checkJsonValueText(
  text: string,
  what: Label,
  maxBytes: number,
  maxDepth: number = MAX_VALUE_DEPTH,
): void {
  if (isPlainJson(text, maxBytes, maxDepth)) return;
  checkJsonText(text, what, maxBytes, maxDepth);
}

/** Whether `c` is JSON whitespace (space, tab, line feed, carriage return). */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/**
 * True when `text` is one JSON value (RFC 8259, as JSON.parse reads it) with no lone surrogate,
 * at most `maxBytes` UTF-8 bytes, `maxDepth` levels, MAX_VALUE_NODES values and MAX_OBJECT_KEYS
 * keys in any object. False for anything else, including texts JSON.parse would take but that
 * break a bound: the caller then runs the full check for its message. Iterative, no recursion.
 */
export function isPlainJson(text: string, maxBytes: number, maxDepth: number): boolean {
  const n = text.length;
  // Every UTF-16 unit is at least one UTF-8 byte: a text this long cannot fit.
  if (n > maxBytes) return false;
  // UTF-8 bytes beyond one per UTF-16 unit (only strings hold non-ASCII characters).
  let extra = 0;
  let nodes = 0;
  let depth = 0;
  // Per open container: 1 for an object, 0 for an array; and the keys of each open object.
  const objects: number[] = [];
  const keys: number[] = [];
  let i = 0;
  // What the grammar expects next: a value, or what may follow a value (`,`, `]`, `}` or the end).
  let expectValue = true;
  for (;;) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (expectValue) {
      if (i >= n) return false;
      let c = text.charCodeAt(i);
      if (++nodes > MAX_VALUE_NODES) return false;
      if (c === 0x5b || c === 0x7b) {
        // [ or {
        if (++depth > maxDepth) return false;
        const isObject = c === 0x7b ? 1 : 0;
        objects.push(isObject);
        keys.push(0);
        i++;
        while (i < n && isSpace(text.charCodeAt(i))) i++;
        if (i >= n) return false;
        c = text.charCodeAt(i);
        if (c === (isObject === 1 ? 0x7d : 0x5d)) {
          // An empty container.
          objects.pop();
          keys.pop();
          depth--;
          i++;
          expectValue = false;
          continue;
        }
        if (isObject === 1) {
          // The first key.
          const end = scanString(text, i);
          if (end < 0) return false;
          extra += stringExtra;
          keys[keys.length - 1] = 1;
          i = end;
          while (i < n && isSpace(text.charCodeAt(i))) i++;
          if (text.charCodeAt(i) !== 0x3a) return false;
          i++;
        }
        continue;
      }
      if (c === 0x22) {
        const end = scanString(text, i);
        if (end < 0) return false;
        extra += stringExtra;
        i = end;
      } else if (c === 0x2d || isDigit(c)) {
        const end = scanNumber(text, i);
        if (end < 0) return false;
        i = end;
      } else if (text.startsWith("true", i)) i += 4;
      else if (text.startsWith("false", i)) i += 5;
      else if (text.startsWith("null", i)) i += 4;
      else return false;
      expectValue = false;
      continue;
    }
    // After a value.
    if (depth === 0) {
      if (i !== n) return false;
      break;
    }
    const c = text.charCodeAt(i);
    const isObject = objects[depth - 1] === 1;
    if (c === 0x2c) {
      i++;
      if (isObject) {
        while (i < n && isSpace(text.charCodeAt(i))) i++;
        const end = scanString(text, i);
        if (end < 0) return false;
        extra += stringExtra;
        const count = keys[depth - 1]! + 1;
        if (count > MAX_OBJECT_KEYS) return false;
        keys[depth - 1] = count;
        i = end;
        while (i < n && isSpace(text.charCodeAt(i))) i++;
        if (text.charCodeAt(i) !== 0x3a) return false;
        i++;
      }
      expectValue = true;
      continue;
    }
    if (c !== (isObject ? 0x7d : 0x5d)) return false;
    objects.pop();
    keys.pop();
    depth--;
    i++;
  }
  return n + extra <= maxBytes;
}

/** Set by `scanString`: the UTF-8 bytes of the string it scanned beyond one per UTF-16 unit. */
let stringExtra = 0;

/**
 * Scans the JSON string starting at `start` (a quote): returns the index after its closing quote,
 * or -1 when it is not a well-formed JSON string or holds a lone surrogate. Sets `stringExtra`.
 */
function scanString(text: string, start: number): number {
  if (text.charCodeAt(start) !== 0x22) return -1;
  const n = text.length;
  let extra = 0;
  let i = start + 1;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      stringExtra = extra;
      return i + 1;
    }
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      const e = text.charCodeAt(i + 1);
      if (e === 0x75) {
        // A \u escape and four hex digits: six ASCII characters (an escaped lone surrogate is
        // JSON, as JSON.parse reads it).
        if (
          !isHexDigit(text.charCodeAt(i + 2)) ||
          !isHexDigit(text.charCodeAt(i + 3)) ||
          !isHexDigit(text.charCodeAt(i + 4)) ||
          !isHexDigit(text.charCodeAt(i + 5))
        )
          return -1;
        i += 6;
        continue;
      }
      if (
        e !== 0x22 &&
        e !== 0x5c &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      )
        return -1;
      i += 2;
      continue;
    }
    if (c < 0x80) {
      // One byte.
    } else if (c < 0x800) extra += 1;
    else if (c >= 0xd800 && c <= 0xdfff) {
      // Only a high surrogate followed by a low one (one code point, 4 bytes).
      const next = text.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return -1;
      extra += 2;
      i += 2;
      continue;
    } else extra += 2;
    i++;
  }
  return -1;
}

/** Scans a JSON number at `start`: the index after it, or -1 when malformed. */
function scanNumber(text: string, start: number): number {
  let i = start;
  if (text.charCodeAt(i) === 0x2d) i++;
  const first = text.charCodeAt(i);
  if (first === 0x30) i++;
  else if (first >= 0x31 && first <= 0x39) {
    i++;
    while (isDigit(text.charCodeAt(i))) i++;
  } else return -1;
  if (text.charCodeAt(i) === 0x2e) {
    i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}
