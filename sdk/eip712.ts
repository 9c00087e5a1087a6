/**
 * EIP-712 typed-data hashing (what `eth_signTypedData_v4` signs), for structs whose fields are
 * atomic: `string`, `bytes32` and `uint64`, the only types Treaty's request type uses. A struct
 * field, an array or another atomic type is refused with a TypeError rather than hashed wrongly.
 * Browser-safe (noble). Checked against ethers' `TypedDataEncoder` in test/sdk/eip712.test.ts.
 *
 *   hashStruct(s) = keccak256(typeHash ‖ encodeData(s)),  typeHash = keccak256("Name(type name,…)")
 *   digest        = keccak256(0x19 0x01 ‖ hashStruct(domain) ‖ hashStruct(message))
 *
 * @example
 *   const digest = typedDataDigest({ types, primaryType: "Mail", domain, message });
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { concatBytes, fromHex, utf8 } from "./bytes.js";

/** The atomic field types this encoder supports. */
export type TypedFieldType = "string" | "bytes32" | "uint64";

export interface TypedField {
  readonly name: string;
  readonly type: TypedFieldType;
}

/** A value of a typed field: a string for `string`, 0x-hex for `bytes32`, a number for `uint64`. */
export type TypedValue = string | number;

/** The `eth_signTypedData_v4` payload: the types (EIP712Domain included), domain and message. */
export interface TypedData {
  readonly types: Readonly<Record<string, readonly TypedField[]>>;
  readonly primaryType: string;
  readonly domain: Readonly<Record<string, TypedValue>>;
  readonly message: Readonly<Record<string, TypedValue>>;
}

const MAX_UINT64 = (1n << 64n) - 1n;

function encodeField(field: TypedField, value: TypedValue | undefined, where: string): Uint8Array {
  const path = `${where}.${field.name}`;
  switch (field.type) {
    case "string":
      if (typeof value !== "string") throw new TypeError(`${path}: expected a string`);
      return keccak_256(utf8.encode(value));
    case "bytes32":
      if (typeof value !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(value))
        throw new TypeError(`${path}: expected 0x and 64 hex digits`);
      return fromHex(value.slice(2).toLowerCase(), path);
    case "uint64": {
      if (
        typeof value !== "number" ||
        !Number.isSafeInteger(value) ||
        value < 0 ||
        BigInt(value) > MAX_UINT64
      )
        throw new TypeError(`${path}: expected a non-negative safe integer`);
      const word = new Uint8Array(32);
      new DataView(word.buffer).setBigUint64(24, BigInt(value));
      return word;
    }
    default:
      throw new TypeError(`${path}: type ${String((field as TypedField).type)} is not supported`);
  }
}

/** `Name(type1 name1,type2 name2)`: the type's encoding, whose keccak-256 is its type hash. */
export function encodeType(name: string, fields: readonly TypedField[]): string {
  return `${name}(${fields.map((f) => `${f.type} ${f.name}`).join(",")})`;
}

/** keccak256(typeHash ‖ each field's 32-byte encoding), fields in the type's order. */
export function hashStruct(
  name: string,
  fields: readonly TypedField[],
  value: Readonly<Record<string, TypedValue>>,
): Uint8Array {
  const extra = Object.keys(value).filter((key) => !fields.some((f) => f.name === key));
  if (extra.length > 0) throw new TypeError(`${name}.${extra[0]}: not a field of ${name}`);
  return keccak_256(
    concatBytes(
      keccak_256(utf8.encode(encodeType(name, fields))),
      ...fields.map((f) => encodeField(f, value[f.name], name)),
    ),
  );
}

/** The 66 bytes a wallet signs the keccak-256 of: 0x19 0x01 ‖ domain separator ‖ message hash. */
export function typedDataSigningInput(data: TypedData): Uint8Array {
  const domainFields = data.types.EIP712Domain;
  const messageFields = data.types[data.primaryType];
  if (domainFields === undefined) throw new TypeError("types.EIP712Domain: required");
  if (messageFields === undefined || data.primaryType === "EIP712Domain")
    throw new TypeError(`types.${data.primaryType}: the primary type is not defined`);
  return concatBytes(
    new Uint8Array([0x19, 0x01]),
    hashStruct("EIP712Domain", domainFields, data.domain),
    hashStruct(data.primaryType, messageFields, data.message),
  );
}

/** The EIP-712 digest of typed data: keccak-256 of `typedDataSigningInput`. */
export function typedDataDigest(data: TypedData): Uint8Array {
  return keccak_256(typedDataSigningInput(data));
}
