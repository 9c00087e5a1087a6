/**
 * The `nats` section of a node's config: which NATS servers, how to reach them securely, and the
 * subject prefix. Validated here with messages that name the field; relative file paths resolve
 * against the config file's folder. The same `tls` and `credentials` fields secure the JetStream
 * export of events (`events.jetstream`, node/events/config.ts): `parseNatsSecurity` reads them for
 * both sections, naming the section in every message. The credential files are read at start-up
 * (`readNatsCredentials`): by the entry point for `nats`, by the export's constructor (during the
 * node's start) for `events.jetstream`.
 */
import { readFileSync } from "node:fs";
import { TreatyError } from "../sdk/errors.js";
import { bad, known, object, string } from "./config-fields.js";
import { DEFAULT_SUBJECT_PREFIX, isValidSubjectPrefix, MAX_SUBJECT_PREFIX_CHARS } from "./transport/frame.js";
import type { NatsCredentials, NatsTlsOptions } from "./transport/nats-connect.js";

/** How a connection to NATS is secured: the `tls` and `credentials` fields of a section. */
export interface NatsSecurity {
  /** TLS to the servers; null: plain TCP (loopback development only). */
  readonly tls: {
    readonly caFile: string | null;
    readonly certFile: string | null;
    readonly keyFile: string | null;
  } | null;
  /** How the node authenticates; null: no credentials. */
  readonly credentials:
    | { readonly nkeySeedFile: string }
    | { readonly credsFile: string }
    | { readonly user: string; readonly passwordFile: string }
    | null;
}

export interface NatsConfig extends NatsSecurity {
  /** The servers of the NATS cluster this node may connect to (it fails over between them). */
  readonly servers: readonly string[];
  /** First token(s) of every subject this service uses. Default `treaty`. */
  readonly subjectPrefix: string;
}

/** The fields `parseNatsSecurity` reads. */
export const NATS_SECURITY_FIELDS = ["tls", "credentials"] as const;

/** Validates `nats` (an object or null); `path` resolves a file path field. */
export function parseNatsConfig(
  value: unknown,
  path: (v: unknown, field: string) => string,
): NatsConfig | null {
  if (value === undefined || value === null) return null;
  const o = object(value, "nats");
  known(o, "nats", ["servers", "subjectPrefix", ...NATS_SECURITY_FIELDS]);
  const servers = natsServers(o.servers, "nats.servers");
  const subjectPrefix = subjectPrefixField(o.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX, "nats.subjectPrefix");
  return { servers, subjectPrefix, ...parseNatsSecurity(o, "nats", path) };
}

/**
 * Validates the `tls` and `credentials` fields of `o`, the config section `section` (`nats`,
 * `events.jetstream`); every message names `<section>.tls...` or `<section>.credentials...`.
 */
export function parseNatsSecurity(
  o: Record<string, unknown>,
  section: string,
  path: (v: unknown, field: string) => string,
): NatsSecurity {
  let tls: NatsSecurity["tls"] = null;
  if (o.tls !== undefined && o.tls !== null) {
    const t = object(o.tls, `${section}.tls`);
    known(t, `${section}.tls`, ["caFile", "certFile", "keyFile"]);
    const file = (field: "caFile" | "certFile" | "keyFile") =>
      t[field] === undefined ? null : path(t[field], `${section}.tls.${field}`);
    tls = { caFile: file("caFile"), certFile: file("certFile"), keyFile: file("keyFile") };
    if ((tls.certFile === null) !== (tls.keyFile === null))
      throw bad(`${section}.tls`, "certFile and keyFile together (or neither)", o.tls);
  }
  return { tls, credentials: parseCredentials(o.credentials, section, path) };
}

/** A non-empty list of NATS server URLs (`nats://` or `tls://`), as `field`. */
export function natsServers(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length === 0)
    throw bad(field, "a non-empty array of nats:// or tls:// URLs", value);
  return value.map((s, i) => {
    if (typeof s !== "string" || !/^(nats|tls):\/\/[^\s]+$/.test(s))
      throw bad(`${field}[${i}]`, "a nats:// or tls:// URL", s);
    return s;
  });
}

/** A NATS subject prefix (`isValidSubjectPrefix`), as `field`. */
export function subjectPrefixField(value: unknown, field: string): string {
  if (!isValidSubjectPrefix(value))
    throw bad(
      field,
      `dot-separated tokens of [A-Za-z0-9_-], at most ${MAX_SUBJECT_PREFIX_CHARS} characters (no wildcards)`,
      value,
    );
  return value;
}

function parseCredentials(
  value: unknown,
  section: string,
  path: (v: unknown, field: string) => string,
): NatsSecurity["credentials"] {
  if (value === undefined || value === null) return null;
  const c = object(value, `${section}.credentials`);
  known(c, `${section}.credentials`, ["nkeySeedFile", "credsFile", "user", "passwordFile"]);
  const kinds = [c.nkeySeedFile, c.credsFile, c.user].filter((v) => v !== undefined).length;
  if (kinds !== 1)
    throw bad(
      `${section}.credentials`,
      "exactly one of nkeySeedFile, credsFile, or user with passwordFile",
      value,
    );
  if (c.nkeySeedFile !== undefined)
    return { nkeySeedFile: path(c.nkeySeedFile, `${section}.credentials.nkeySeedFile`) };
  if (c.credsFile !== undefined) return { credsFile: path(c.credsFile, `${section}.credentials.credsFile`) };
  return {
    user: string(c.user, `${section}.credentials.user`),
    passwordFile: path(c.passwordFile, `${section}.credentials.passwordFile`),
  };
}

/** The connection's TLS options for `config` (undefined: no TLS asked). */
export function natsTlsOptions(config: NatsSecurity): NatsTlsOptions | undefined {
  if (config.tls === null) return undefined;
  const { caFile, certFile, keyFile } = config.tls;
  return {
    ...(caFile !== null && { caFile }),
    ...(certFile !== null && { certFile }),
    ...(keyFile !== null && { keyFile }),
  };
}

/**
 * Reads the credential files `config`, the config section `section` (`nats`,
 * `events.jetstream`), names. Throws `MalformedRequest` naming the field when a file cannot be
 * read or does not hold what it should (an nkey user seed starts with `SU`).
 */
export function readNatsCredentials(config: NatsSecurity, section: string): NatsCredentials | undefined {
  const c = config.credentials;
  if (c === null) return undefined;
  if ("nkeySeedFile" in c) {
    const seed = readText(c.nkeySeedFile, `${section}.credentials.nkeySeedFile`).trim();
    if (!/^SU[A-Z2-7]{56}$/.test(seed))
      throw new TreatyError(
        "MalformedRequest",
        `config ${section}.credentials.nkeySeedFile: ${c.nkeySeedFile} does not hold an nkey user seed (SU...)`,
      );
    return { kind: "nkey", seed: new TextEncoder().encode(seed) };
  }
  if ("credsFile" in c) {
    const creds = readText(c.credsFile, `${section}.credentials.credsFile`);
    if (!creds.includes("-----BEGIN NATS USER JWT-----") || !creds.includes("-----BEGIN USER NKEY SEED-----"))
      throw new TreatyError(
        "MalformedRequest",
        `config ${section}.credentials.credsFile: ${c.credsFile} is not a NATS .creds file (user JWT and seed)`,
      );
    return { kind: "creds", creds: new TextEncoder().encode(creds) };
  }
  const password = readText(c.passwordFile, `${section}.credentials.passwordFile`).replace(/\r?\n$/, "");
  if (password.length === 0)
    throw new TreatyError(
      "MalformedRequest",
      `config ${section}.credentials.passwordFile: ${c.passwordFile} is empty`,
    );
  return { kind: "password", user: c.user, password };
}

function readText(file: string, field: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new TreatyError(
      "MalformedRequest",
      `config ${field}: cannot read ${file} (${(err as Error).message})`,
    );
  }
}
