/**
 * `checkMapKeys`: the MessagePack counterpart of sdk/strict-json.ts for untrusted bodies. A
 * decoder keeps one value per key, so a map that names a key twice (`{nonce: a, nonce: b}`), or
 * two keys the decoder turns into one property, lets signed bytes say two things: the signer may
 * read one value and the node another. Refused, each with a message naming the key:
 *
 * - a key that is not a string (JSON bodies have only string keys; msgpackr would turn the
 *   integer 1 and the string "1" into one property);
 * - a key that is not valid UTF-8 (decoders replace bad bytes, so two different keys could
 *   decode to the same string);
 * - the key `__proto__` (msgpackr renames it to `__proto_`, so the node would read another key
 *   than the one signed);
 * - a key twice in one map.
 *
 * One iterative pass over the bytes with an explicit stack: no input can overflow the call stack,
 * and the work is linear in the input. Run it on bytes that already decoded (sdk/codec.ts
 * `decodeStrict`): truncation and bad headers are reported by the decoder, not here.
 */

const keyText = new TextDecoder("utf-8", { fatal: true });

/** A container being walked: items left (a map has two per entry) and the keys it named. */
interface Frame {
  remaining: number;
  readonly keys: Set<string> | null;
}

/** Throws an Error naming the offending key (sdk/codec.ts makes it a coded TreatyError). */
export function checkMapKeys(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Frame[] = [];
  let pos = 0;
  const need = (n: number): void => {
    if (pos + n > bytes.length) throw new Error("truncated");
  };
  const uint = (size: 1 | 2 | 4): number => {
    need(size);
    const v = size === 1 ? view.getUint8(pos) : size === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += size;
    return v;
  };
  do {
    const top = stack[stack.length - 1];
    const isKey = top !== undefined && top.keys !== null && top.remaining % 2 === 0;
    need(1);
    const b = bytes[pos++]!;
    // Strings: their length, and the text when the item is a map key.
    let strLength = -1;
    if (b >= 0xa0 && b <= 0xbf) strLength = b - 0xa0;
    else if (b === 0xd9) strLength = uint(1);
    else if (b === 0xda) strLength = uint(2);
    else if (b === 0xdb) strLength = uint(4);
    if (isKey) {
      if (strLength < 0) throw new Error(`a map key is not a string (type byte 0x${b.toString(16)})`);
      need(strLength);
      let key: string;
      try {
        key = keyText.decode(bytes.subarray(pos, pos + strLength));
      } catch {
        throw new Error("a map key is not valid UTF-8");
      }
      const shown = JSON.stringify(key.slice(0, 80));
      if (key === "__proto__") throw new Error(`the key ${shown} is not allowed`);
      if (top!.keys!.has(key)) throw new Error(`key ${shown} appears twice in one map`);
      top!.keys!.add(key);
    }
    let container: Frame | undefined;
    if (strLength >= 0) skip(strLength);
    else if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // fixint, nil, booleans: the type byte is the whole item
    } else if (b >= 0x80 && b <= 0x8f) container = { remaining: 2 * (b - 0x80), keys: new Set() };
    else if (b >= 0x90 && b <= 0x9f) container = { remaining: b - 0x90, keys: null };
    else if (b === 0xdc || b === 0xdd) container = { remaining: uint(b === 0xdc ? 2 : 4), keys: null };
    else if (b === 0xde || b === 0xdf)
      container = { remaining: 2 * uint(b === 0xde ? 2 : 4), keys: new Set() };
    else if (b >= 0xc4 && b <= 0xc6) skip(uint(b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4));
    else if (b >= 0xc7 && b <= 0xc9) skip(uint(b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4) + 1);
    else if (b === 0xca || b === 0xcb) skip(b === 0xca ? 4 : 8);
    else if (b >= 0xcc && b <= 0xd3) skip(1 << ((b - 0xcc) % 4));
    else if (b >= 0xd4 && b <= 0xd8) skip((1 << (b - 0xd4)) + 1);
    else throw new Error(`type byte 0x${b.toString(16)} is not MessagePack`);
    if (container !== undefined && container.remaining > 0) {
      stack.push(container);
      continue;
    }
    // The item is complete: count it against its container, and close every container it filled.
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      frame.remaining--;
      if (frame.remaining > 0) break;
      stack.pop();
    }
  } while (stack.length > 0);

  function skip(n: number): void {
    need(n);
    pos += n;
  }
}
