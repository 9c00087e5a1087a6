/**
 * Ledger secrets: the versioned symmetric keys that encrypt the private part of every ledger
 * entry. Version 1 is made at genesis; governance rekeys by adding a higher version, and old
 * versions stay to read old entries. Sealing secrets for members (recovery) is another module's
 * job; this one never writes a secret anywhere, and a `LedgerSecret` prints as "[redacted]" in
 * JSON and `util.inspect`, so a log line cannot leak it by accident.
 *
 * Encryption is AES-256-GCM with a key derived from the secret by HKDF-SHA256 (empty salt, info
 * `treaty/ledger-entry/v1`), so the same secret can later key other purposes without key reuse.
 * The sealed form is `nonce (12) || ciphertext || tag (16)`.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { concatBytes, fromHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";

export const LEDGER_SECRET_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const ENTRY_KEY_INFO = "treaty/ledger-entry/v1";
/** The cipher options of every seal and open: one object, not one per entry (node:crypto only reads it). */
const GCM_OPTIONS = { authTagLength: TAG_BYTES } as const;

/** One version of the ledger secret. Holds the raw key; hand it only to sealing code. */
export class LedgerSecret {
  readonly version: number;
  readonly #key: Uint8Array;
  #entryKey: Uint8Array | undefined;
  #entryKeyObject: KeyObject | undefined;

  /** Throws TreatyError MalformedRequest when `version` is not a positive integer or `key` not 32 bytes. */
  constructor(version: number, key: Uint8Array) {
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new TreatyError(
        "MalformedRequest",
        `ledger secret version: expected a positive integer, got ${String(version)}`,
      );
    }
    if (!(key instanceof Uint8Array) || key.length !== LEDGER_SECRET_BYTES) {
      throw new TreatyError(
        "MalformedRequest",
        `ledger secret ${version} key: expected ${LEDGER_SECRET_BYTES} bytes`,
      );
    }
    this.version = version;
    this.#key = new Uint8Array(key); // a copy, also when `key` is a Buffer
  }

  /** A copy of the raw secret, for the code that seals it for members. */
  exportKey(): Uint8Array {
    return this.#key.slice();
  }

  /** The AES-256-GCM key for ledger entries, derived once. */
  entryKey(): Uint8Array {
    this.#entryKey ??= new Uint8Array(hkdfSync("sha256", this.#key, new Uint8Array(0), ENTRY_KEY_INFO, 32));
    return this.#entryKey;
  }

  /**
   * `entryKey()` as a KeyObject, made once: a cipher keyed by it skips importing the raw key
   * (~3 µs of each entry's seal or open, on every entry a node writes or reads).
   */
  entryKeyObject(): KeyObject {
    this.#entryKeyObject ??= createSecretKey(this.entryKey());
    return this.#entryKeyObject;
  }

  toJSON(): { version: number; key: string } {
    return { version: this.version, key: "[redacted]" };
  }

  [inspect.custom](): string {
    return `LedgerSecret { version: ${this.version}, key: [redacted] }`;
  }
}

/** A fresh secret of `version` from `random` (the caller's CSPRNG). */
export function generateLedgerSecret(version: number, random: (length: number) => Uint8Array): LedgerSecret {
  return new LedgerSecret(version, random(LEDGER_SECRET_BYTES));
}

/**
 * The set of known secret versions. The highest *active* version encrypts new entries; every
 * known version decrypts. A rekey adds its version inactive when its entry is appended (so a
 * follower can read the entries after it) and activates it once that entry is committed (so a
 * rolled-back rekey never encrypts anything).
 */
export class LedgerSecrets {
  readonly #byVersion = new Map<number, LedgerSecret>();
  readonly #inactive = new Set<number>();

  constructor(secrets: Iterable<LedgerSecret> = []) {
    for (const secret of secrets) this.add(secret);
  }

  /**
   * Adds a version. An inactive version may be replaced (its rekey was rolled back and made
   * again). Throws TreatyError Conflict when an active version is already known.
   */
  add(secret: LedgerSecret, options: { active?: boolean } = {}): void {
    if (this.#byVersion.has(secret.version) && !this.#inactive.has(secret.version)) {
      throw new TreatyError("Conflict", `ledger secret version ${secret.version} is already known`);
    }
    this.#byVersion.set(secret.version, secret);
    if (options.active === false) this.#inactive.add(secret.version);
    else this.#inactive.delete(secret.version);
  }

  /** Makes a known version usable for new entries; false when it is not known. */
  activate(version: number): boolean {
    if (!this.#byVersion.has(version)) return false;
    this.#inactive.delete(version);
    return true;
  }

  get(version: number): LedgerSecret | undefined {
    return this.#byVersion.get(version);
  }

  /** The highest active version, or undefined when there is none. */
  get current(): LedgerSecret | undefined {
    let best: LedgerSecret | undefined;
    for (const secret of this.#byVersion.values())
      if (!this.#inactive.has(secret.version) && (best === undefined || secret.version > best.version))
        best = secret;
    return best;
  }

  /** Every known version, active or not, ascending. */
  get versions(): number[] {
    return [...this.#byVersion.keys()].sort((a, b) => a - b);
  }

  /** The active versions, ascending. */
  get activeVersions(): number[] {
    return this.versions.filter((v) => !this.#inactive.has(v));
  }
}

/**
 * AES-256-GCM: returns `nonce || ciphertext || tag`. `nonce` must be 12 bytes and never reused with
 * this secret. With `into` at least `NONCE_BYTES + plaintext.length + TAG_BYTES` long, the result
 * is written there and a view of it returned (a caller that copies it at once saves an array).
 */
export function sealPrivate(
  secret: LedgerSecret,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  into?: Uint8Array,
): Uint8Array {
  if (nonce.length !== NONCE_BYTES) throw new TypeError(`nonce: expected ${NONCE_BYTES} bytes`);
  const cipher = createCipheriv("aes-256-gcm", secret.entryKeyObject(), nonce, GCM_OPTIONS);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const size = NONCE_BYTES + body.length + final.length + TAG_BYTES;
  if (into === undefined || into.length < size) return concatBytes(nonce, body, final, cipher.getAuthTag());
  const out = into.subarray(0, size);
  out.set(nonce, 0);
  out.set(body, NONCE_BYTES);
  out.set(final, NONCE_BYTES + body.length);
  out.set(cipher.getAuthTag(), size - TAG_BYTES);
  return out;
}

/**
 * Opens what `sealPrivate` made. Throws TreatyError DecryptionFailed when the bytes are too short,
 * were altered, or the associated data or secret differ. `what` names the entry in the message.
 */
export function openPrivate(
  secret: LedgerSecret,
  sealed: Uint8Array,
  aad: Uint8Array,
  what = "entry",
): Uint8Array {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) {
    throw new TreatyError("DecryptionFailed", `${what}: private part is shorter than nonce and tag`);
  }
  try {
    const decipher = createDecipheriv(
      "aes-256-gcm",
      secret.entryKeyObject(),
      sealed.subarray(0, NONCE_BYTES),
      GCM_OPTIONS,
    );
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    const tail = decipher.final();
    // GCM's final() returns no bytes: the plaintext is `body`, a buffer of its own (viewed as a
    // plain Uint8Array rather than copied again).
    if (tail.length === 0) return new Uint8Array(body.buffer, body.byteOffset, body.length);
    return concatBytes(body, tail);
  } catch {
    throw new TreatyError(
      "DecryptionFailed",
      `${what}: private part does not decrypt with ledger secret version ${secret.version} (altered bytes or wrong secret)`,
    );
  }
}

/**
 * Parses a ledger secrets file (what an operator hands to `treaty ledger verify`): JSON
 * `{"version": 1, "key": "<64 hex>"}`, an array of those, or `{"secrets": [...]}`.
 * Throws TreatyError MalformedRequest naming the offending field.
 */
export function parseLedgerSecrets(value: unknown): LedgerSecret[] {
  const list = Array.isArray(value)
    ? value
    : value !== null && typeof value === "object" && Array.isArray((value as { secrets?: unknown }).secrets)
      ? (value as { secrets: unknown[] }).secrets
      : [value];
  if (list.length === 0)
    throw new TreatyError("MalformedRequest", "ledger secrets: expected at least one secret");
  return list.map((item, i) => {
    const field = `ledger secrets[${i}]`;
    if (item === null || typeof item !== "object")
      throw new TreatyError("MalformedRequest", `${field}: expected an object`);
    const { version, key } = item as { version?: unknown; key?: unknown };
    if (typeof version !== "number")
      throw new TreatyError("MalformedRequest", `${field}.version: expected a number`);
    if (typeof key !== "string")
      throw new TreatyError("MalformedRequest", `${field}.key: expected a hex string`);
    let bytes: Uint8Array;
    try {
      bytes = fromHex(key, `${field}.key`);
    } catch (err) {
      throw new TreatyError("MalformedRequest", (err as Error).message);
    }
    return new LedgerSecret(version, bytes);
  });
}
