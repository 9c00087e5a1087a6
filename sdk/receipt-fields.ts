/**
 * Field checks shared by the receipt and proof verifiers: each failure is TreatyError
 * ReceiptInvalid naming the field.
 */
import { fromHex } from "./bytes.js";
import { TreatyError } from "./errors.js";
import { HASH_BYTES } from "./merkle.js";

export function invalid(field: string, why: string): never {
  throw new TreatyError("ReceiptInvalid", `${field}: ${why}`, { field });
}

export function object(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    invalid(field, "expected an object");
  return value as Record<string, unknown>;
}

export function string(value: unknown, field: string): string {
  if (typeof value !== "string") invalid(field, "expected a string");
  return value;
}

export function count(value: unknown, field: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    invalid(field, `expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function bytes(value: unknown, field: string): Uint8Array {
  if (typeof value !== "string" || value.length > 1024 || !/^([0-9a-f]{2})*$/.test(value)) {
    invalid(field, "expected lowercase hex");
  }
  return fromHex(value, field);
}

export function hash(value: unknown, field: string): Uint8Array {
  const out = bytes(value, field);
  if (out.length !== HASH_BYTES) invalid(field, `expected ${HASH_BYTES} bytes, got ${out.length}`);
  return out;
}
