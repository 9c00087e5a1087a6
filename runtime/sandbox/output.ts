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
