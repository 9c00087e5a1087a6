/**
 * Ethereum wallets as Treaty callers (EIP-191 `personal_sign`). Browser-safe (noble).
 *
 * A wallet signs a short text naming the service, the path and the SHA-256 of the exact body
 * bytes; the node recovers the signer's address from the signature and treats the request as
 * from that address, a user (or member) recorded by governance under its address. The text is
 * readable in a wallet's signing prompt:
 *
 *     Treaty request
 *     service: <serviceId>
 *     path: <path>
 *     body-sha256: <hex>
 *
 * The body carries `nonce` and `createdMs` as in every signed request, so replays are refused
 * by the same nonce table; the service id in the text makes a signature for another service
 * useless here.
 *
 * @example
 *   // MetaMask: (text) => ethereum.request({ method: "personal_sign", params: [text, address] })
 *   const request = await walletRequest(wallet.signMessage.bind(wallet), wallet.address, serviceId, path, args);
 *   await fetch(node + request.path, { method: "POST", body: request.body, headers: request.headers });
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { concatBytes, fromHex, toHex, utf8 } from "./bytes.js";
import { TreatyError } from "./errors.js";
import {
  type BodyEncoding,
  CONTENT_JSON,
  CONTENT_MSGPACK,
  encodeBody,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  newNonce,
  type SignedRequest,
} from "./request.js";

/** Request header naming the signature scheme; absent means Treaty's own (sdk/request.ts). */
export const HEADER_SIGNATURE_SCHEME = "x-treaty-signature-scheme";
export const EIP191_SCHEME = "eip191";

/** An Ethereum address as Treaty records it: `0x` and 40 lowercase hex digits. */
export function isEthereumAddress(value: unknown): value is string {
  return typeof value === "string" && /^0x[0-9a-f]{40}$/.test(value);
}

/** The address of a secp256k1 public key (33-byte compressed or 65-byte uncompressed). */
export function ethereumAddress(publicKey: Uint8Array): string {
  const point = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return `0x${toHex(keccak_256(point.subarray(1)).subarray(12))}`;
}

/** The text a wallet signs for a request (see the module comment). */
export function walletRequestText(serviceId: string, path: string, body: Uint8Array): string {
  return `Treaty request\nservice: ${serviceId}\npath: ${path}\nbody-sha256: ${toHex(sha256(body))}`;
}

/** EIP-191 version 0x45: keccak-256 of "\x19Ethereum Signed Message:\n" ‖ length ‖ message. */
export function personalMessageHash(text: string): Uint8Array {
  const message = utf8.encode(text);
  return keccak_256(concatBytes(utf8.encode(`\x19Ethereum Signed Message:\n${message.length}`), message));
}

/**
 * The address that signed `text` with `personal_sign`, from a 65-byte `r ‖ s ‖ v` signature
 * (`v` 27/28, or 0/1), or undefined when the signature is malformed, has a high `s` (EIP-2) or
 * recovers no key.
 */
export function recoverPersonalSigner(text: string, signature: Uint8Array): string | undefined {
  if (signature.length !== 65) return undefined;
  const v = signature[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  try {
    const compact = signature.subarray(0, 64);
    if (secp256k1.Signature.fromBytes(compact, "compact").hasHighS()) return undefined;
    const recovered = concatBytes(new Uint8Array([recovery]), compact);
    return ethereumAddress(
      secp256k1.recoverPublicKey(recovered, personalMessageHash(text), { prehash: false }),
    );
  } catch {
    return undefined;
  }
}

/** A `0x`-hex 65-byte signature header; MalformedRequest otherwise. */
export function parseWalletSignature(value: string): Uint8Array {
  if (!/^0x[0-9a-fA-F]{130}$/.test(value))
    throw new TreatyError(
      "MalformedRequest",
      `${HEADER_SIGNATURE}: expected a 65-byte 0x-hex wallet signature`,
    );
  return fromHex(value.slice(2).toLowerCase(), HEADER_SIGNATURE);
}

/**
 * Builds a request signed by an Ethereum wallet: `signText` is the wallet's `personal_sign`
 * (ethers `signMessage`, MetaMask `personal_sign`), resolving with the 0x-hex signature.
 */
export async function walletRequest(
  signText: (text: string) => Promise<string>,
  address: string,
  serviceId: string,
  path: string,
  args: unknown,
  options: { encoding?: BodyEncoding; nonce?: string; createdMs?: number } = {},
): Promise<SignedRequest> {
  const caller = address.toLowerCase();
  if (!isEthereumAddress(caller))
    throw new TypeError(`address: expected 0x and 40 hex digits, got ${address}`);
  const encoding = options.encoding ?? "json";
  const body = encodeBody(
    { args, nonce: options.nonce ?? newNonce(), createdMs: options.createdMs ?? Date.now() },
    encoding,
  );
  const signature = await signText(walletRequestText(serviceId, path, body));
  return {
    path,
    body,
    headers: {
      "content-type": encoding === "json" ? CONTENT_JSON : CONTENT_MSGPACK,
      [HEADER_CALLER]: caller,
      [HEADER_SIGNATURE]: signature,
      [HEADER_SIGNATURE_SCHEME]: EIP191_SCHEME,
    },
  };
}
