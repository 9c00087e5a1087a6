/**
 * The node's wallet signature check (runtime/crypto.ts `recoverWalletAddress`, libsecp256k1 in
 * WebAssembly) gives the answers of the portable one (sdk/ethereum.ts `recoverSigner`, noble) on
 * every input: genuine signatures, each kind of hostile one (wrong `v`, high `s`, zero or
 * out-of-range `r`/`s`, an `r` that is no x coordinate, wrong lengths) and random bytes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { Wallet } from "ethers";
import fc from "fast-check";
import { recoverWalletAddress } from "../../runtime/crypto.js";
import { concatBytes, fromHex, toHex } from "../../sdk/bytes.js";
import { ethereumAddress, personalMessageHash, recoverSigner } from "../../sdk/ethereum.js";

const N = secp256k1.Point.Fn.ORDER;
const P = secp256k1.Point.Fp.ORDER;

function bytes32(value: bigint): Uint8Array {
  return fromHex(value.toString(16).padStart(64, "0"));
}

/** `r ‖ s ‖ v` by a fresh key over `hash` (low s, v 27/28), and the key's address. */
function genuine(hash: Uint8Array, secretKey: Uint8Array): { signature: Uint8Array; address: string } {
  const recovered = secp256k1.sign(hash, secretKey, { prehash: false, format: "recovered" });
  return {
    signature: concatBytes(recovered.subarray(1), new Uint8Array([27 + recovered[0]!])),
    address: ethereumAddress(secp256k1.getPublicKey(secretKey)),
  };
}

function withParts(signature: Uint8Array, parts: { r?: bigint; s?: bigint; v?: number }): Uint8Array {
  const out = new Uint8Array(signature);
  if (parts.r !== undefined) out.set(bytes32(parts.r), 0);
  if (parts.s !== undefined) out.set(bytes32(parts.s), 32);
  if (parts.v !== undefined) out[64] = parts.v;
  return out;
}

function same(hash: Uint8Array, signature: Uint8Array): string | undefined {
  const fast = recoverWalletAddress(hash, signature);
  assert.equal(fast, recoverSigner(hash, signature), `hash ${toHex(hash)} signature ${toHex(signature)}`);
  return fast;
}

const secretKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => {
  const d = BigInt(`0x${toHex(k)}`);
  return d > 0n && d < N;
});
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("wallet signature recovery: libsecp256k1 and noble agree", () => {
  it("recovers the signer of an ethers personal_sign signature (v 27/28 and 0/1)", async () => {
    const wallet = Wallet.createRandom();
    const text = "Treaty request\nservice: ab\npath: /app/x\nbody-sha256: 00";
    const signature = fromHex((await wallet.signMessage(text)).slice(2));
    const hash = personalMessageHash(text);
    assert.equal(same(hash, signature), wallet.address.toLowerCase());
    const zeroOne = withParts(signature, { v: signature[64]! - 27 });
    assert.equal(same(hash, zeroOne), wallet.address.toLowerCase());
  });

  it("genuine signatures recover their signer; every hostile variant recovers it on neither path", () => {
    fc.assert(
      fc.property(secretKey, hash32, (key, hash) => {
        const { signature, address } = genuine(hash, key);
        const r = BigInt(`0x${toHex(signature.subarray(0, 32))}`);
        const s = BigInt(`0x${toHex(signature.subarray(32, 64))}`);
        const v = signature[64]!;
        assert.equal(same(hash, signature), address);
        // Wrong recovery id: recovers another key (or none), never the signer.
        assert.notEqual(same(hash, withParts(signature, { v: v === 27 ? 28 : 27 })), address);
        // The high-s twin (n - s with the other recovery id) is a valid ECDSA signature by the same
        // key: refused (EIP-2) on both paths.
        assert.equal(same(hash, withParts(signature, { s: N - s, v: v === 27 ? 28 : 27 })), undefined);
        assert.equal(same(hash, withParts(signature, { s: N - s })), undefined);
        // Recovery ids 2/3 (r + n as x) and other v bytes are refused.
        for (const bad of [2, 3, 26, 29, 30, 31, 255])
          assert.equal(same(hash, withParts(signature, { v: bad })), undefined);
        // Zero and out-of-range r and s.
        for (const bad of [0n, N, N + 1n, P, 2n ** 256n - 1n]) {
          assert.equal(same(hash, withParts(signature, { r: bad })), undefined);
          assert.equal(same(hash, withParts(signature, { s: bad })), undefined);
        }
        assert.equal(same(hash, withParts(signature, { r })), address);
        // Another hash: another key.
        const other = new Uint8Array(hash);
        other[0]! ^= 1;
        assert.notEqual(same(other, signature), address);
      }),
      { numRuns: 40 },
    );
  });

  it("agree on single-byte changes to a genuine signature and on random bytes", () => {
    const key = secp256k1.utils.randomSecretKey();
    fc.assert(
      fc.property(hash32, fc.nat({ max: 64 }), fc.integer({ min: 1, max: 255 }), (hash, index, delta) => {
        const { signature } = genuine(hash, key);
        const mutated = new Uint8Array(signature);
        mutated[index] = (mutated[index]! + delta) & 0xff;
        same(hash, mutated);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(
        hash32,
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.constantFrom(0, 1, 27, 28),
        (hash, rs, v) => {
          same(hash, concatBytes(rs, new Uint8Array([v])));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reduce a hash not below the group order the same way (mod n)", () => {
    const key = secp256k1.utils.randomSecretKey();
    for (const value of [0n, 1n, N - 1n, N, N + 1n, 2n ** 256n - 1n]) {
      const hash = bytes32(value);
      const { signature, address } = genuine(hash, key);
      assert.equal(same(hash, signature), address, `hash ${value}`);
    }
    // A hash and the same hash plus n are one message representative: a signature over one
    // recovers the same key from the other, on both paths.
    const { signature, address } = genuine(bytes32(5n), key);
    assert.equal(same(bytes32(N + 5n), signature), address);
  });

  it("refuses malformed lengths on both paths without throwing", () => {
    const hash = new Uint8Array(32).fill(7);
    const { signature } = genuine(hash, secp256k1.utils.randomSecretKey());
    for (const bad of [
      new Uint8Array(0),
      signature.subarray(0, 64),
      concatBytes(signature, new Uint8Array(1)),
    ])
      assert.equal(same(hash, bad), undefined);
    assert.equal(recoverWalletAddress(hash.subarray(0, 31), signature), undefined);
    assert.equal(recoverWalletAddress(new Uint8Array(33), signature), undefined);
  });
});
