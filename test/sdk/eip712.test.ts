/**
 * EIP-712 hashing and Treaty's typed request against ethers (an implementation we did not write):
 * our digest is ethers' `TypedDataEncoder.hash` for the same data, and a signature made by
 * ethers' `Wallet.signTypedData` recovers to the wallet's address, and only over the same
 * service, path and body; a high-s twin is refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypedDataEncoder, verifyMessage, verifyTypedData, Wallet } from "ethers";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { hashStruct, type TypedData, typedDataDigest } from "../../sdk/eip712.js";
import {
  EIP191_SCHEME,
  EIP712_SCHEME,
  keyWallet,
  recoverSigner,
  recoverWalletSigner,
  type TreatyTypedData,
  treatyTypedData,
} from "../../sdk/ethereum.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { encodeBody, newNonce } from "../../sdk/request.js";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const SERVICE = "ab".repeat(32);

/** What `Wallet.signTypedData` takes: the types without EIP712Domain. */
const ethersTypes = (data: TypedData) =>
  Object.fromEntries(
    Object.entries(data.types)
      .filter(([name]) => name !== "EIP712Domain")
      .map(([name, fields]) => [name, fields.map((f) => ({ ...f }))]),
  );

const ethersSign = (wallet: Pick<Wallet, "signTypedData">, data: TreatyTypedData) =>
  wallet.signTypedData(data.domain, ethersTypes(data), data.message);

function request(args: unknown) {
  const parsed = { args, nonce: newNonce(), createdMs: 1_700_000_000_123 };
  return { parsed, body: encodeBody(parsed, "json") };
}

/** The same signature with s' = n - s and the other recovery bit (EIP-2 refuses it). */
function highS(signature: Uint8Array): Uint8Array {
  const out = signature.slice();
  const s = BigInt(`0x${toHex(signature.subarray(32, 64))}`);
  out.set(fromHex((SECP256K1_N - s).toString(16).padStart(64, "0")), 32);
  out[64] = signature[64] === 27 ? 28 : 27;
  return out;
}

describe("EIP-712 hashing", () => {
  it("matches ethers' TypedDataEncoder for Treaty requests with any text, body and time", () => {
    const cases = [
      { path: "/app/log/writePrivate", args: { id: 1, msg: "héllo ✓" }, createdMs: 0 },
      { path: "/gov/proposals", args: { actions: [] }, createdMs: Number.MAX_SAFE_INTEGER },
      { path: "", args: {}, createdMs: 1_733_000_000_000 },
    ];
    for (const c of cases) {
      const parsed = { args: c.args, nonce: newNonce(), createdMs: c.createdMs };
      const data = treatyTypedData(SERVICE, c.path, encodeBody(parsed, "msgpack"), parsed);
      assert.equal(
        `0x${toHex(typedDataDigest(data))}`,
        TypedDataEncoder.hash(data.domain, ethersTypes(data), data.message),
      );
      assert.equal(
        `0x${toHex(hashStruct("EIP712Domain", data.types.EIP712Domain, data.domain))}`,
        TypedDataEncoder.hashDomain(data.domain),
      );
    }
  });

  it("refuses what it does not encode: missing or extra fields, bad values, unsupported types", () => {
    const fields = [{ name: "a", type: "uint64" as const }];
    assert.throws(() => hashStruct("T", fields, {}), /T\.a: expected a non-negative safe integer/);
    assert.throws(() => hashStruct("T", fields, { a: -1 }), /T\.a/);
    assert.throws(() => hashStruct("T", fields, { a: 1, b: 2 }), /T\.b: not a field of T/);
    assert.throws(
      () => hashStruct("T", [{ name: "h", type: "bytes32" }], { h: "0x12" }),
      /T\.h: expected 0x and 64 hex digits/,
    );
    assert.throws(
      () => hashStruct("T", [{ name: "x", type: "address" as never }], { x: "0x00" }),
      /type address is not supported/,
    );
    const parsed = { nonce: newNonce(), createdMs: 1 };
    assert.throws(() => treatyTypedData("not-an-id", "/p", new Uint8Array(), parsed), TypeError);
    assert.throws(
      () => treatyTypedData(SERVICE, "/p", new Uint8Array(), { createdMs: 1 }),
      (err) => isTreatyError(err, "MalformedRequest"),
    );
  });
});

describe("EIP-712 signatures by ethers", () => {
  const wallet = Wallet.createRandom();
  const address = wallet.address.toLowerCase();

  it("recover the signing wallet's address, and only for the same service, path and body", async () => {
    const path = "/app/log/writePublic";
    const { parsed, body } = request({ id: 7, msg: "typed" });
    const signature = fromHex(
      (await ethersSign(wallet, treatyTypedData(SERVICE, path, body, parsed))).slice(2),
    );
    const recover = (service: string, p: string, b: Uint8Array, sig = signature) =>
      recoverWalletSigner(EIP712_SCHEME, service, p, b, parsed, sig).signer;
    assert.equal(recover(SERVICE, path, body), address);
    assert.notEqual(recover("cd".repeat(32), path, body), address, "another service");
    assert.notEqual(recover(SERVICE, "/app/log/writePrivate", body), address, "another path");
    const other = request({ id: 8, msg: "typed" }).body;
    assert.notEqual(recover(SERVICE, path, other), address, "another body");
    assert.notEqual(
      recoverWalletSigner(EIP712_SCHEME, SERVICE, path, body, { ...parsed, createdMs: 1 }, signature).signer,
      address,
      "another createdMs",
    );
    assert.notEqual(
      recoverWalletSigner(EIP191_SCHEME, SERVICE, path, body, parsed, signature).signer,
      address,
      "the same signature read as personal_sign",
    );
    assert.equal(recover(SERVICE, path, body, highS(signature)), undefined, "high s");
    const v01 = signature.slice();
    v01[64] = signature[64]! - 27;
    assert.equal(recover(SERVICE, path, body, v01), address, "v as 0/1");
    const badV = signature.slice();
    badV[64] = 29;
    assert.equal(recover(SERVICE, path, body, badV), undefined, "v out of range");
    assert.equal(recoverSigner(new Uint8Array(32), signature.subarray(0, 64)), undefined, "65 bytes only");
  });
});

describe("a secp256k1 key as a wallet (keyWallet)", () => {
  it("has the address ethers derives and signs what ethers verifies, low s", async () => {
    const key = generateKeyPair("secp256k1");
    const wallet = keyWallet(key);
    assert.equal(wallet.address, (await new Wallet(`0x${toHex(key.privateKey)}`).getAddress()).toLowerCase());
    const { parsed, body } = request({ id: 1 });
    const data = treatyTypedData(SERVICE, "/gov/proposals", body, parsed);
    for (let i = 0; i < 8; i++) {
      const typed = await wallet.signTypedData({ ...data, message: { ...data.message, createdMs: i } });
      assert.equal(
        verifyTypedData(
          data.domain,
          ethersTypes(data),
          { ...data.message, createdMs: i },
          typed,
        ).toLowerCase(),
        wallet.address,
      );
      assert.ok(BigInt(`0x${typed.slice(66, 130)}`) <= SECP256K1_N / 2n, "low s");
      assert.ok(typed.endsWith("1b") || typed.endsWith("1c"), "v is 27 or 28");
    }
    const text = "Treaty request\nservice: x";
    assert.equal(verifyMessage(text, await wallet.signText(text)).toLowerCase(), wallet.address);
    assert.throws(() => keyWallet(generateKeyPair("ed25519")), /secp256k1, got ed25519/);
  });
});
