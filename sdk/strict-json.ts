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
 * Parses `text`. Throws TreatyError `MalformedEncoding` (naming `what`) for a duplicated key or
 * nesting deeper than MAX_JSON_NESTING, and JSON.parse's SyntaxError for text that is not JSON.
 */
export function parseStrictJson(text: string, what: string): unknown {
  // Keys seen in each open object (undefined for arrays): a plain list while short (a request
  // body's objects have a handful of keys: a linear search beats hashing, and nothing but the
  // list is allocated), a Set once it grows past SMALL_OBJECT_KEYS.
  const keys: (string[] | Set<string> | undefined)[] = [];
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
        const open = keys[keys.length - 1];
        let key: unknown;
        if (!escaped && i < text.length) {
          // Neither an escape nor a control character: the key is the text between the quotes.
          key = text.slice(start + 1, i);
        } else {
          try {
            key = JSON.parse(text.slice(start, i + 1));
          } catch {
            break; // malformed: JSON.parse below reports it
          }
        }
        if (open !== undefined && typeof key === "string") {
          if (Array.isArray(open) ? open.includes(key) : open.has(key)) {
            throw new TreatyError(
              "MalformedEncoding",
              `${what}: key ${JSON.stringify(key.slice(0, 80))} appears twice in one object`,
            );
          }
          if (!Array.isArray(open)) open.add(key);
          else if (open.length < SMALL_OBJECT_KEYS) open.push(key);
          else keys[keys.length - 1] = new Set(open).add(key);
        }
        expectKey = false;
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (keys.length >= MAX_JSON_NESTING) {
        throw new TreatyError("MalformedEncoding", `${what}: nested deeper than ${MAX_JSON_NESTING} levels`);
      }
      keys.push(c === 0x7b ? [] : undefined);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      keys.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = keys.length > 0 && keys[keys.length - 1] !== undefined;
    }
  }
  return JSON.parse(text);
}
