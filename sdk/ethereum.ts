/**
 * Ethereum wallets as Treaty callers: requests signed with EIP-191 `personal_sign` or EIP-712
 * `eth_signTypedData_v4`. Browser-safe (noble).
 *
 * The wallet signs the service, the path and the SHA-256 of the exact body bytes; the node
 * recovers the signer's address from the signature and treats the request as from that address,
 * a user or member recorded by governance under its address. With `personal_sign` the wallet
 * signs a text readable in its prompt:
 *
 *     Treaty request
 *     service: <serviceId>
 *     path: <path>
 *     body-sha256: <hex>
 *
 * With EIP-712 it signs a `TreatyRequest {path, bodySha256, nonce, createdMs}` in the domain
 * `{name: "Treaty", version: "1", salt: 0x<serviceId>}` (`treatyTypedData`; docs/identities.md
 * spells it out for dapps).
 *
 * The body carries `nonce` and `createdMs` as in every signed request, so replays are refused
 * by the same nonce table; the service id in the text (or the domain's salt) makes a signature
 * for another service useless here.
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
import { type TypedData, type TypedField, typedDataDigest, typedDataSigningInput } from "./eip712.js";
import { TreatyError } from "./errors.js";
import type { KeyPair } from "./keys.js";
import {
  CONTENT_JSON,
  CONTENT_MSGPACK,
  encodeBody,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  freshBody,
  type RequestOptions,
  type RequestBody,
  type SignedRequest,
} from "./request.js";

/** Request header naming the signature scheme; absent means Treaty's own (sdk/request.ts). */
export const HEADER_SIGNATURE_SCHEME = "x-treaty-signature-scheme";
export const EIP191_SCHEME = "eip191";
export const EIP712_SCHEME = "eip712";

/** The wallet signature schemes a node accepts in `x-treaty-signature-scheme`. */
export type WalletScheme = typeof EIP191_SCHEME | typeof EIP712_SCHEME;

export function isWalletScheme(value: unknown): value is WalletScheme {
  return value === EIP191_SCHEME || value === EIP712_SCHEME;
}

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
  return walletSigningHash(EIP191_SCHEME, utf8.encode(text));
}

/**
 * The address whose key made a 65-byte `r ‖ s ‖ v` signature (`v` 27/28, or 0/1) over the
 * 32-byte `hash`, or undefined when the signature is malformed, has a high `s` (EIP-2) or
 * recovers no key.
 */
export function recoverSigner(hash: Uint8Array, signature: Uint8Array): string | undefined {
  if (signature.length !== 65) return undefined;
  const v = signature[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  try {
    const compact = signature.subarray(0, 64);
    if (secp256k1.Signature.fromBytes(compact, "compact").hasHighS()) return undefined;
    const recovered = concatBytes(new Uint8Array([recovery]), compact);
    return ethereumAddress(secp256k1.recoverPublicKey(recovered, hash, { prehash: false }));
  } catch {
    return undefined;
  }
}

/** The address that signed `text` with `personal_sign` (see `recoverSigner`). */
export function recoverPersonalSigner(text: string, signature: Uint8Array): string | undefined {
  return recoverSigner(personalMessageHash(text), signature);
}

/** The EIP-712 type of a Treaty request, as `eth_signTypedData_v4` takes it. */
export const TREATY_TYPES = Object.freeze({
  EIP712Domain: Object.freeze([
    { name: "name", type: "string" },
    { name: "version", type: "string" },
    { name: "salt", type: "bytes32" },
  ] as const satisfies readonly TypedField[]),
  TreatyRequest: Object.freeze([
    { name: "path", type: "string" },
    { name: "bodySha256", type: "bytes32" },
    { name: "nonce", type: "string" },
    { name: "createdMs", type: "uint64" },
  ] as const satisfies readonly TypedField[]),
});

/** The typed data a wallet signs for a Treaty request (`eth_signTypedData_v4`'s parameter). */
export interface TreatyTypedData extends TypedData {
  readonly types: typeof TREATY_TYPES;
  readonly primaryType: "TreatyRequest";
  readonly domain: { readonly name: "Treaty"; readonly version: "1"; readonly salt: string };
  readonly message: {
    readonly path: string;
    readonly bodySha256: string;
    readonly nonce: string;
    readonly createdMs: number;
  };
}

/**
 * The EIP-712 typed data of a request (what `walletTypedRequest` hands the wallet): the domain binds the service (its id is the salt; no
 * `chainId`, since a Treaty service is on no chain and wallets refuse a domain whose chainId is
 * not the selected network's), the message the path, the SHA-256 of the exact body bytes and,
 * for the wallet's prompt, the body's `nonce` and `createdMs` (MalformedRequest without them).
 */
export function treatyTypedData(
  serviceId: string,
  path: string,
  body: Uint8Array,
  parsed: Pick<RequestBody, "nonce" | "createdMs">,
): TreatyTypedData {
  if (!/^[0-9a-f]{64}$/.test(serviceId))
    throw new TypeError(`serviceId: expected 64 lowercase hex digits, got ${serviceId.slice(0, 80)}`);
  if (parsed.nonce === undefined)
    throw new TreatyError("MalformedRequest", "body.nonce: required in a signed request");
  if (parsed.createdMs === undefined)
    throw new TreatyError("MalformedRequest", "body.createdMs: required in a signed request");
  return {
    types: TREATY_TYPES,
    primaryType: "TreatyRequest",
    domain: { name: "Treaty", version: "1", salt: `0x${serviceId}` },
    message: {
      path,
      bodySha256: `0x${toHex(sha256(body))}`,
      nonce: parsed.nonce,
      createdMs: parsed.createdMs,
    },
  };
}

/**
 * What a wallet signed for a request under `scheme` (the `personal_sign` text's UTF-8, or EIP-712's
 * `0x1901 ‖ domain separator ‖ message hash`) and the address that signed it (undefined when the
 * signature recovers none; see `recoverSigner`). `parsed` is the body decoded from `body`.
 */
export function recoverWalletSigner(
  scheme: WalletScheme,
  serviceId: string,
  path: string,
  body: Uint8Array,
  parsed: RequestBody,
  signature: Uint8Array,
): { readonly signedBytes: Uint8Array; readonly signer: string | undefined } {
  const signedBytes = walletSignedBytes(scheme, serviceId, path, body, parsed);
  return { signedBytes, signer: recoverSigner(walletSigningHash(scheme, signedBytes), signature) };
}

/** What a wallet signs for a request under `scheme` (see `recoverWalletSigner`). */
export function walletSignedBytes(
  scheme: WalletScheme,
  serviceId: string,
  path: string,
  body: Uint8Array,
  parsed: RequestBody,
): Uint8Array {
  return scheme === EIP191_SCHEME
    ? utf8.encode(walletRequestText(serviceId, path, body))
    : typedDataSigningInput(treatyTypedData(serviceId, path, body, parsed));
}

/** The 32-byte hash a wallet signature under `scheme` is over, from the bytes it signed. */
export function walletSigningHash(scheme: WalletScheme, signedBytes: Uint8Array): Uint8Array {
  if (scheme !== EIP191_SCHEME) return keccak_256(signedBytes);
  const prefix = utf8.encode(`\x19Ethereum Signed Message:\n${signedBytes.length}`);
  return keccak_256(concatBytes(prefix, signedBytes));
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
 * An Ethereum wallet that signs requests: `signTypedData` (EIP-712, `eth_signTypedData_v4`) when
 * given, else `signText` (EIP-191 `personal_sign`); each resolves with the 0x-hex signature.
 *
 * @example
 *   // ethers
 *   const signer: WalletSigner = {
 *     address: wallet.address,
 *     signTypedData: (d) => wallet.signTypedData(d.domain, { TreatyRequest: [...d.types.TreatyRequest] }, d.message),
 *   };
 *   // MetaMask
 *   const signer: WalletSigner = {
 *     address,
 *     signTypedData: (d) => ethereum.request({ method: "eth_signTypedData_v4", params: [address, JSON.stringify(d)] }),
 *   };
 */
export interface WalletSigner {
  readonly address: string;
  readonly signText?: (text: string) => Promise<string>;
  readonly signTypedData?: (data: TreatyTypedData) => Promise<string>;
}

/** Encodes the body and sets the wallet headers around the signature `sign` makes over it. */
async function walletSigned(
  scheme: WalletScheme,
  address: string,
  path: string,
  args: unknown,
  options: RequestOptions,
  sign: (body: Uint8Array, parsed: RequestBody) => Promise<string>,
): Promise<SignedRequest> {
  const caller = address.toLowerCase();
  if (!isEthereumAddress(caller))
    throw new TypeError(`address: expected 0x and 40 hex digits, got ${address}`);
  const encoding = options.encoding ?? "json";
  const parsed = freshBody(args, options);
  const body = encodeBody(parsed, encoding);
  const signature = await sign(body, parsed);
  return {
    path,
    body,
    headers: {
      "content-type": encoding === "json" ? CONTENT_JSON : CONTENT_MSGPACK,
      [HEADER_CALLER]: caller,
      [HEADER_SIGNATURE]: signature,
      [HEADER_SIGNATURE_SCHEME]: scheme,
    },
  };
}

/**
 * Builds a request signed by an Ethereum wallet with EIP-191: `signText` is the wallet's
 * `personal_sign` (ethers `signMessage`, MetaMask `personal_sign`).
 */
export function walletRequest(
  signText: (text: string) => Promise<string>,
  address: string,
  serviceId: string,
  path: string,
  args: unknown,
  options: RequestOptions = {},
): Promise<SignedRequest> {
  return walletSigned(EIP191_SCHEME, address, path, args, options, (body) =>
    signText(walletRequestText(serviceId, path, body)),
  );
}

/**
 * Builds a request signed by an Ethereum wallet with EIP-712: `signTypedData` signs the
 * `treatyTypedData` of the request (MetaMask `eth_signTypedData_v4`, ethers `signTypedData`).
 *
 * @example
 *   const sign = (d: TreatyTypedData) =>
 *     ethereum.request({ method: "eth_signTypedData_v4", params: [address, JSON.stringify(d)] });
 *   const request = await walletTypedRequest(sign, address, serviceId, "/app/log/writePublic", { id: 1, msg: "hi" });
 */
export function walletTypedRequest(
  signTypedData: (data: TreatyTypedData) => Promise<string>,
  address: string,
  serviceId: string,
  path: string,
  args: unknown,
  options: RequestOptions = {},
): Promise<SignedRequest> {
  return walletSigned(EIP712_SCHEME, address, path, args, options, (body, parsed) =>
    signTypedData(treatyTypedData(serviceId, path, body, parsed)),
  );
}

/**
 * Builds a request signed by `wallet`: EIP-712 when it can sign typed data, else EIP-191.
 *
 * @example
 *   const request = await signWalletRequest(signer, client.serviceId, "/gov/proposals", { actions });
 */
export function signWalletRequest(
  wallet: WalletSigner,
  serviceId: string,
  path: string,
  args: unknown,
  options: RequestOptions = {},
): Promise<SignedRequest> {
  if (wallet.signTypedData !== undefined)
    return walletTypedRequest(wallet.signTypedData, wallet.address, serviceId, path, args, options);
  if (wallet.signText !== undefined)
    return walletRequest(wallet.signText, wallet.address, serviceId, path, args, options);
  throw new TypeError("wallet: needs signTypedData (EIP-712) or signText (EIP-191)");
}

/**
 * A secp256k1 key pair (`treaty keygen --curve secp256k1`) used as an Ethereum wallet: its
 * address is the key's Ethereum address, and it signs typed data and texts as a wallet does
 * (`r ‖ s ‖ v`, `v` 27/28, low `s`). For scripts and the CLI's `--wallet`; in a page, use the
 * user's own wallet (MetaMask) instead.
 *
 * @example
 *   const gov = new Governance(client, keyWallet(fromKeyFile(keyFile))); // a member by address
 */
export function keyWallet(key: KeyPair): Required<WalletSigner> {
  if (key.curve !== "secp256k1")
    throw new TypeError(`key: an Ethereum wallet key is secp256k1, got ${key.curve}`);
  const sign = (hash: Uint8Array) => {
    // noble's "recovered" format is recovery ‖ r ‖ s (s already low); Ethereum's is r ‖ s ‖ 27 + recovery.
    const recovered = secp256k1.sign(hash, key.privateKey, { prehash: false, format: "recovered" });
    return `0x${toHex(concatBytes(recovered.subarray(1), new Uint8Array([27 + recovered[0]!])))}`;
  };
  return {
    address: ethereumAddress(key.publicKey),
    signText: async (text) => sign(personalMessageHash(text)),
    signTypedData: async (data) => sign(typedDataDigest(data)),
  };
}
