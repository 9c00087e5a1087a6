/**
 * The field validators of the node config (node/config.ts and the sections it delegates to:
 * node/nats-config.ts, node/events/config.ts). Each takes the value and its dotted field path
 * and throws `MalformedRequest` naming that field: `config http.port: expected an integer from
 * 0 to 65535, got "80"`.
 */
import { TreatyError } from "../sdk/errors.js";

/** The one error shape of a config field that does not hold what it should. */
export function bad(field: string, expected: string, got: unknown): TreatyError {
  return new TreatyError(
    "MalformedRequest",
    `config ${field}: expected ${expected}, got ${JSON.stringify(got) ?? "nothing"}`,
  );
}

export function object(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(field, "an object", v);
  return v as Record<string, unknown>;
}

/** An absent section reads as an empty one (every field takes its default). */
export function optionalObject(v: unknown, field: string): Record<string, unknown> {
  return v === undefined ? {} : object(v, field);
}

export function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw bad(field, "an array", v);
  return v;
}

export function string(v: unknown, field: string): string {
  if (typeof v !== "string" || v.length === 0) throw bad(field, "a non-empty string", v);
  return v;
}

export function stringArray(v: unknown, field: string): string[] {
  return array(v, field).map((item, i) => string(item, `${field}[${i}]`));
}

export function boolean(v: unknown, field: string): boolean {
  if (typeof v !== "boolean") throw bad(field, "true or false", v);
  return v;
}

export function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw bad(field, `an integer from ${min} to ${max}`, v);
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, options: readonly T[]): T {
  if (!options.includes(v as T)) throw bad(field, `one of ${options.join(", ")}`, v);
  return v as T;
}

export function hex32(v: unknown, field: string): string {
  if (typeof v !== "string" || !/^[0-9a-fA-F]{64}$/.test(v)) throw bad(field, "32 bytes in hex", v);
  return v.toLowerCase();
}

/** Unknown keys are refused: a misspelt `tls` field must not silently mean "no TLS". */
export function known(o: Record<string, unknown>, field: string, keys: readonly string[]): void {
  for (const key of Object.keys(o))
    if (!keys.includes(key)) throw bad(`${field}.${key}`, `one of the fields ${keys.join(", ")}`, key);
}
