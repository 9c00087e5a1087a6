import assert from "node:assert/strict";
import { createPublicKey, verify as opensslVerify } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 as nobleSha256, sha512 } from "@noble/hashes/sha2.js";
import { ed25519Verifier, sha256, verifySignature } from "../../runtime/crypto.js";
import { fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import {
  CURVES,
  fromKeyFile,
  generateKeyPair,
  type KeyPair,
  keyId,
  parsePublicKey,
  sign,
  signAsync,
  toKeyFile,
  verify,
} from "../../sdk/keys.js";

/**
 * A signature by `key`'s holder whose R is the identity point (S = k·a, k = H(R ‖ A ‖ M)):
 * [S]B = R + [k]A holds, so OpenSSL accepts it; libsodium refuses every small-order R.
 */
function identityRSignature(key: KeyPair, message: Uint8Array): Uint8Array {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const R = fromHex("0100000000000000000000000000000000000000000000000000000000000000");
  const { scalar } = ed25519.utils.getExtendedPublicKey(key.privateKey);
  const digest = sha512(new Uint8Array([...R, ...key.publicKey, ...message]));
  let k = 0n;
  for (let i = 63; i >= 0; i--) k = (k << 8n) | BigInt(digest[i]!);
  const S = ((k % L) * scalar) % L;
  const out = new Uint8Array(64);
  out.set(R);
  for (let i = 0; i < 32; i++) out[32 + i] = Number((S >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe("keys", () => {
  for (const curve of CURVES) {
    describe(curve, () => {
      const key = generateKeyPair(curve);
      const message = utf8.encode("treaty request bytes");
      const signature = sign(key, message);

      it("signs and verifies identically with noble and node:crypto", () => {
        assert.equal(signature.length, 64);
        assert.equal(verify(key, message, signature), true);
        assert.equal(verifySignature(key, message, signature), true);
      });

      it("both paths reject every single-bit mutation of message, signature and key", () => {
        fc.assert(
          fc.property(
            fc.constantFrom("message", "signature", "publicKey"),
            fc.nat(),
            fc.integer({ min: 0, max: 7 }),
            (part, index, bit) => {
              const m = new Uint8Array(message);
              const s = new Uint8Array(signature);
              const p = new Uint8Array(key.publicKey);
              const target = part === "message" ? m : part === "signature" ? s : p;
              target[index % target.length]! ^= 1 << bit;
              const mutated = { curve, publicKey: p };
              assert.equal(verify(mutated, m, s), verifySignature(mutated, m, s));
              assert.equal(verify(mutated, m, s), false);
            },
          ),
          { numRuns: 40 },
        );
      });

      it("both paths agree on hostile inputs (never throw)", () => {
        const hostile: Array<[Uint8Array, Uint8Array]> = [
          [key.publicKey, new Uint8Array(0)],
          [key.publicKey, new Uint8Array(64)],
          [key.publicKey, new Uint8Array(64).fill(0xff)],
          [new Uint8Array(0), signature],
          [new Uint8Array(key.publicKey.length), signature],
          [new Uint8Array(key.publicKey.length + 1), signature],
          [new Uint8Array(key.publicKey.length).fill(0xff), signature],
        ];
        for (const [publicKey, sig] of hostile) {
          const k = { curve, publicKey };
          assert.equal(verify(k, message, sig), false);
          assert.equal(verifySignature(k, message, sig), false);
        }
      });

      it("key files round-trip and reject mismatched keys", () => {
        const file = toKeyFile(key);
        const back = fromKeyFile(JSON.parse(JSON.stringify(file)));
        assert.equal(back.id, key.id);
        assert.equal(back.id, keyId(key));
        const other = generateKeyPair(curve);
        assert.throws(
          () => fromKeyFile({ ...file, privateKey: toHex(other.privateKey) }),
          (e) => isTreatyError(e, "MalformedRequest"),
        );
        assert.throws(
          () => fromKeyFile({ ...file, publicKey: "zz" }),
          (e) => isTreatyError(e, "MalformedRequest"),
        );
      });
    });
  }

  it("rejects high-S ECDSA signatures on both paths (no malleability)", () => {
    const orders = {
      p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
      secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
    };
    for (const curve of ["p256", "secp256k1"] as const) {
      const key = generateKeyPair(curve);
      const message = utf8.encode("malleable?");
      const sig = sign(key, message);
      const s = BigInt(`0x${toHex(sig.subarray(32))}`);
      const highS = fromHex((orders[curve] - s).toString(16).padStart(64, "0"));
      const mangled = new Uint8Array([...sig.subarray(0, 32), ...highS]);
      assert.equal(verify(key, message, mangled), false, `${curve} noble`);
      assert.equal(verifySignature(key, message, mangled), false, `${curve} node`);
    }
  });

  it("ed25519 matches the RFC 8032 test vector 1", () => {
    const key = fromKeyFile({
      curve: "ed25519",
      privateKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    });
    const sig = sign(key, new Uint8Array(0));
    assert.equal(
      toHex(sig),
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
  });

  it("node-side sha256 gives noble's bytes, as a plain 32-byte Uint8Array", () => {
    assert.equal(toHex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(
      toHex(sha256("€ and ü")),
      toHex(nobleSha256(utf8.encode("€ and ü"))),
      "strings hash as UTF-8",
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const digest = sha256(data);
        assert.equal(Object.getPrototypeOf(digest), Uint8Array.prototype);
        assert.equal(digest.length, 32);
        assert.deepEqual(digest, nobleSha256(data));
      }),
      { numRuns: 300 },
    );
  });

  describe("ed25519 on the node: libsodium first, OpenSSL's answers", () => {
    const ED25519_SPKI = fromHex("302a300506032b6570032100");
    /** What OpenSSL alone (node:crypto, as before libsodium) answers. */
    const openssl = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
      try {
        const key = createPublicKey({
          key: Buffer.from([...ED25519_SPKI, ...publicKey]),
          format: "der",
          type: "spki",
        });
        return opensslVerify(null, message, key, signature);
      } catch {
        return false;
      }
    };
    // ed25519's group order L, little-endian: S + L is the non-canonical twin of S.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const addL = (s: Uint8Array): Uint8Array => {
      let n = 0n;
      for (let i = 31; i >= 0; i--) n = (n << 8n) | BigInt(s[i]!);
      n += L;
      const out = new Uint8Array(32);
      for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
      return out;
    };
    // Small-order points (identity, order 2, 4, 8, with and without the sign bit) and
    // non-canonical encodings (y = p, y = p + 1): libsodium refuses them all as keys.
    const odd = [
      "0100000000000000000000000000000000000000000000000000000000000000",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0000000000000000000000000000000000000000000000000000000000000080",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ].map((hex) => fromHex(hex));

    it("checks with libsodium in this process (sodium-native loads)", () => {
      assert.equal(ed25519Verifier(), "libsodium+openssl");
    });

    it("answers what OpenSSL answers, but accepts nothing under a small-order key", () => {
      const key = generateKeyPair("ed25519");
      const message = utf8.encode("treaty request bytes");
      const signature = sign(key, message);
      const cases: Array<[string, Uint8Array, Uint8Array, Uint8Array]> = [
        ["valid", key.publicKey, message, signature],
        ["empty message", key.publicKey, new Uint8Array(0), sign(key, new Uint8Array(0))],
        [
          "S + L",
          key.publicKey,
          message,
          new Uint8Array([...signature.subarray(0, 32), ...addL(signature.subarray(32))]),
        ],
        ["other message", key.publicKey, utf8.encode("other"), signature],
        ["R the identity, by the key's holder", key.publicKey, message, identityRSignature(key, message)],
      ];
      for (const point of odd) {
        // R a small-order point, S zero: [S]B = R + [k]A holds whenever [k]A is the identity.
        for (const r of odd)
          cases.push([
            `key ${toHex(point)} R ${toHex(r)}`,
            point,
            message,
            new Uint8Array([...r, ...new Uint8Array(32)]),
          ]);
        cases.push([`key ${toHex(point)}, a real signature`, point, message, signature]);
      }
      let forgeriesRefused = 0;
      for (const [what, publicKey, m, sig] of cases) {
        const smallOrder = odd.some((p) => toHex(p) === toHex(publicKey));
        const answer = verifySignature({ curve: "ed25519", publicKey }, m, sig);
        if (smallOrder) {
          assert.equal(answer, false, what);
          assert.equal(verify({ curve: "ed25519", publicKey }, m, sig), false, `${what} (sdk)`);
          if (openssl(publicKey, m, sig)) forgeriesRefused++;
        } else assert.equal(answer, openssl(publicKey, m, sig), what);
      }
      // OpenSSL accepts some of these (the identity key with R the identity and S zero, for any
      // message): forgeries without a private key, refused here.
      assert.ok(forgeriesRefused > 0, "some forgery under a small-order key passes OpenSSL");
      // libsodium refuses a small-order R; OpenSSL takes this one, made with the private key:
      // only the OpenSSL fallback keeps the answer.
      assert.equal(verifySignature(key, message, identityRSignature(key, message)), true);
    });
  });

  it("parsePublicKey names the field", () => {
    assert.throws(() => parsePublicKey("rsa", "00", "caller"), /caller\.curve/);
    assert.throws(() => parsePublicKey("ed25519", "00", "caller"), /caller: not a valid ed25519 public key/);
  });

  it("parsePublicKey refuses small-order ed25519 keys (a proposal cannot register one)", () => {
    for (const hex of [
      "0100000000000000000000000000000000000000000000000000000000000000",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    ])
      assert.throws(
        () => parsePublicKey("ed25519", hex, "args.publicKey"),
        (err: unknown) =>
          isTreatyError(err) && err.code === "MalformedRequest" && /small-order/.test(err.message),
        hex,
      );
    const key = generateKeyPair("ed25519");
    assert.deepEqual(parsePublicKey("ed25519", toHex(key.publicKey)).publicKey, key.publicKey);
  });

  describe("signAsync", () => {
    /**
     * Runs `body` with `globalThis.crypto.subtle` replaced by `subtle` (none when undefined, as
     * in a browser page that is not a secure context; `getRandomValues` stays), then puts it back.
     */
    async function withCrypto(subtle: unknown, body: () => Promise<void>): Promise<void> {
      const descriptor = Object.getOwnPropertyDescriptor(globalThis, "crypto")!;
      const real = globalThis.crypto;
      const getRandomValues = real.getRandomValues.bind(real);
      const replacement = subtle === undefined ? { getRandomValues } : { subtle, getRandomValues };
      Object.defineProperty(globalThis, "crypto", { value: replacement, configurable: true });
      try {
        await body();
      } finally {
        Object.defineProperty(globalThis, "crypto", descriptor);
      }
    }

    it("signs ed25519 through WebCrypto, the same bytes as sign", async () => {
      const subtle = globalThis.crypto.subtle;
      let webCryptoSigns = 0;
      const counting = {
        importKey: subtle.importKey.bind(subtle),
        sign: (...args: Parameters<SubtleCrypto["sign"]>) => {
          webCryptoSigns++;
          return subtle.sign(...args);
        },
      };
      await withCrypto(counting, async () => {
        const key = generateKeyPair("ed25519");
        for (const length of [0, 1, 31, 64, 300, 5000]) {
          const message = crypto.getRandomValues(new Uint8Array(length));
          assert.deepEqual(await signAsync(key, message), sign(key, message), `${length} bytes`);
        }
      });
      assert.equal(webCryptoSigns, 6);
    });

    it("ECDSA keys sign as sign does", async () => {
      for (const curve of ["p256", "secp256k1"] as const) {
        const key = generateKeyPair(curve);
        const message = utf8.encode(`a message for ${curve}`);
        const signature = await signAsync(key, message);
        assert.deepEqual(signature, sign(key, message));
        assert.equal(verify(key, message, signature), true);
      }
    });

    it("falls back to sign where WebCrypto has no Ed25519, and asks that platform once", async () => {
      let imports = 0;
      const unsupported = {
        importKey: () => {
          imports++;
          return Promise.reject(new DOMException("Unrecognized algorithm name", "NotSupportedError"));
        },
        sign: () => Promise.reject(new Error("not to be called")),
      };
      await withCrypto(unsupported, async () => {
        for (let i = 0; i < 3; i++) {
          const key = generateKeyPair("ed25519");
          const message = utf8.encode(`message ${i}`);
          assert.deepEqual(await signAsync(key, message), sign(key, message));
        }
      });
      assert.equal(imports, 1);
      const key = generateKeyPair("ed25519");
      const message = utf8.encode("no crypto.subtle");
      await withCrypto(undefined, async () => {
        assert.deepEqual(await signAsync(key, message), sign(key, message));
      });
    });

    it("falls back to sign when WebCrypto fails to sign", async () => {
      const subtle = globalThis.crypto.subtle;
      const failing = {
        importKey: subtle.importKey.bind(subtle),
        sign: () => Promise.reject(new DOMException("operation failed", "OperationError")),
      };
      await withCrypto(failing, async () => {
        const key = generateKeyPair("ed25519");
        const message = utf8.encode("signed by noble");
        assert.deepEqual(await signAsync(key, message), sign(key, message));
      });
    });
  });
});
