/**
 * Private state at rest: a backend decorator that seals the values of private maps (names not
 * starting with `public:`) with AES-256-GCM before they reach the disk, and opens them on the way
 * back. The host and its disk are untrusted (DESIGN.md's trust model); the ledger already
 * encrypts private writes, and this keeps the node's materialized state equally unreadable.
 *
 * Sealed value = nonce (12 random bytes) || ciphertext || tag (16), with the map name and key as
 * associated data, so a value moved to another key or map fails to open (LedgerCorrupt). Keys
 * stay in clear because range scans need their order: contracts should not put secrets in keys
 * (docs/contracts.md says so). The key is node-local (never replicated), from the node's sealed
 * secrets; losing it means rebuilding the KV from the ledger.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { concatBytes } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { BatchWrite, CommittedBackend, MapRef, Row, ScanBounds } from "./backend.js";
import { isPublicMap } from "./types.js";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const AT_REST_KEY_BYTES = 32;

function aad(map: MapRef, key: Uint8Array): Uint8Array {
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, map.bytes.length);
  return concatBytes(length, map.bytes, key);
}

export class SealedBackend implements CommittedBackend {
  /** `key` must be AT_REST_KEY_BYTES long (KvStore.open checks it before opening the disk). */
  constructor(
    private readonly inner: CommittedBackend,
    private readonly key: Uint8Array,
  ) {}

  get committedVersion(): number {
    return this.inner.committedVersion;
  }

  get(map: MapRef, key: Uint8Array): Uint8Array | undefined {
    const value = this.inner.get(map, key);
    return value === undefined || isPublicMap(map.name) ? value : this.#open(map, key, value);
  }

  scan(map: MapRef, bounds: ScanBounds, reverse: boolean, limit: number): Row[] {
    const rows = this.inner.scan(map, bounds, reverse, limit);
    return isPublicMap(map.name)
      ? rows
      : rows.map((row) => ({ key: row.key, value: this.#open(map, row.key, row.value) }));
  }

  mapNames(): string[] {
    return this.inner.mapNames();
  }

  persist(version: number, writes: readonly BatchWrite[]): Promise<void> {
    return this.inner.persist(
      version,
      writes.map((w) =>
        w.value === null || isPublicMap(w.map.name) ? w : { ...w, value: this.#seal(w.map, w.key, w.value) },
      ),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #seal(map: MapRef, key: Uint8Array, value: Uint8Array): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(map, key));
    return concatBytes(nonce, cipher.update(value), cipher.final(), cipher.getAuthTag());
  }

  #open(map: MapRef, key: Uint8Array, sealed: Uint8Array): Uint8Array {
    try {
      if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new Error("too short");
      const decipher = createDecipheriv("aes-256-gcm", this.key, sealed.subarray(0, NONCE_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(aad(map, key));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return concatBytes(
        decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      );
    } catch {
      throw new TreatyError(
        "LedgerCorrupt",
        `kv map ${map.name}: a stored private value does not open with this node's at-rest key`,
      );
    }
  }
}
