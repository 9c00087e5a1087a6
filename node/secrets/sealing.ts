/**
 * Sealing: where a node keeps its secrets between runs. The secrets are the node's identity
 * key, the service identity key, the ledger secrets, the node's endorsement and the at-rest key
 * of its KV (`SealedState`). None of them is ever written in clear.
 *
 * - `memory` (the default): nothing is kept. A stopped node's secrets are gone; on restart it
 *   rejoins the service with a fresh identity (trusted again by its code measurement and
 *   governance) and is sent the current secrets sealed to that identity, as any joiner is.
 * - `virtual` (development, single operator): the state is sealed with AES-256-GCM under a
 *   32-byte key that lives outside the data folder (a key file or an environment variable
 *   named in the config). A data folder without its key cannot be opened and yields nothing.
 *
 * On a TEE, hardware sealing (SEV-SNP's derived keys, SGX sealing) is a third provider with this
 * interface: `seal` and `unseal` with a key the platform derives from the code measurement, so
 * the host never sees it.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import { fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KeyFile } from "../../sdk/keys.js";
import type { NodeSecrets } from "../join.js";
import { readJsonFile, writeDurable } from "../state-file.js";
import { aeadOpen, aeadSeal, deriveAeadKey, GCM_NONCE_BYTES } from "../transport/crypto.js";

/** Everything a node seals: its identity and, once it is part of a service, the service secrets. */
export interface SealedState {
  readonly identity: KeyFile;
  readonly secrets?: NodeSecrets;
}

/** Where a node's secrets survive a restart (or not). */
export interface SealingProvider {
  readonly kind: "memory" | "virtual";
  /**
   * What an earlier run sealed in this data folder; undefined when nothing was (always, for
   * `memory`). Throws TreatyError SealingKeyMissing (sealed state, no key) or DecryptionFailed
   * (a different key, or altered bytes).
   */
  unseal(): SealedState | undefined;
  /** Seals `state`, replacing what was sealed before. */
  seal(state: SealedState): void;
}

/** The `sealing` section of a node config. */
export type SealingConfig =
  | { readonly provider: "memory" }
  | { readonly provider: "virtual"; readonly keyFile: string | null; readonly keyEnv: string | null };

export const SEALING_KEY_BYTES = 32;
/** The sealed state's file in a data folder. */
export const SEALED_FILE = "sealed.json";
const FORMAT = "treaty-sealed/v1";
const AAD = utf8.encode("treaty/sealed-node-state/v1");

/** Keeps nothing: a restarted node rejoins. */
export class MemorySealing implements SealingProvider {
  readonly kind = "memory";
  unseal(): undefined {
    return undefined;
  }
  seal(): void {}
}

/** Seals under an operator-held key outside the data folder (see the module comment). */
export class VirtualSealing implements SealingProvider {
  readonly kind = "virtual";
  readonly #file: string;
  readonly #key: () => Uint8Array | undefined;
  readonly #createKey: (() => Uint8Array) | undefined;
  readonly #what: string;
  readonly #randomBytes: (length: number) => Uint8Array;

  /**
   * `key` reads the sealing key (undefined when absent); `createKey` (key files only) makes one
   * the first time something is sealed; `what` names the key's source in errors.
   */
  constructor(options: {
    dataDir: string;
    key: () => Uint8Array | undefined;
    createKey?: () => Uint8Array;
    what: string;
    randomBytes: (length: number) => Uint8Array;
  }) {
    this.#file = join(options.dataDir, SEALED_FILE);
    this.#key = options.key;
    this.#createKey = options.createKey;
    this.#what = options.what;
    this.#randomBytes = options.randomBytes;
  }

  unseal(): SealedState | undefined {
    const sealed = readJsonFile<{ format?: unknown; nonce?: unknown; ciphertext?: unknown }>(this.#file);
    if (sealed === undefined) return undefined;
    if (sealed.format !== FORMAT || typeof sealed.nonce !== "string" || typeof sealed.ciphertext !== "string")
      throw new TreatyError("LedgerCorrupt", `${this.#file}: not a ${FORMAT} file`);
    const key = this.#key();
    if (key === undefined)
      throw new TreatyError(
        "SealingKeyMissing",
        `${this.#file}: sealed with a key from ${this.#what}, which is missing; without it this data folder cannot be opened`,
      );
    const nonce = fromHex(sealed.nonce, "sealed.nonce");
    const plain = aeadOpen(
      deriveAeadKey(key, nonce, AAD),
      nonce,
      AAD,
      fromHex(sealed.ciphertext, "sealed.ciphertext"),
    );
    if (plain === undefined)
      throw new TreatyError(
        "DecryptionFailed",
        `${this.#file}: does not open with the key from ${this.#what} (another key, or altered bytes)`,
      );
    return JSON.parse(utf8.decode(plain)) as SealedState;
  }

  seal(state: SealedState): void {
    const key = this.#key() ?? this.#createKey?.();
    if (key === undefined) throw new TreatyError("SealingKeyMissing", `sealing: no key in ${this.#what}`);
    mkdirSync(dirname(this.#file), { recursive: true });
    const nonce = this.#randomBytes(GCM_NONCE_BYTES);
    const ciphertext = aeadSeal(
      deriveAeadKey(key, nonce, AAD),
      nonce,
      AAD,
      utf8.encode(JSON.stringify(state)),
    );
    writeDurable(
      this.#file,
      `${JSON.stringify({ format: FORMAT, provider: "virtual", nonce: toHex(nonce), ciphertext: toHex(ciphertext) })}\n`,
    );
  }
}

/** Parses a sealing key: 64 hex characters (surrounding whitespace ignored). */
export function parseSealingKey(text: string, what: string): Uint8Array {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new TreatyError(
      "MalformedRequest",
      `${what}: expected ${SEALING_KEY_BYTES} bytes as 64 hex characters`,
    );
  return fromHex(hex, what);
}

/** True when `path` is `dir` or inside it. */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * The provider a config names. `env` reads an environment variable (only an entry point may);
 * `randomBytes` makes nonces and, for a key file that does not exist yet, the key.
 */
export function createSealingProvider(
  config: SealingConfig,
  dataDir: string,
  runtime: {
    readonly env?: (name: string) => string | undefined;
    readonly randomBytes: (length: number) => Uint8Array;
  },
): SealingProvider {
  if (config.provider === "memory") return new MemorySealing();
  if (config.keyEnv !== null) {
    const name = config.keyEnv;
    return new VirtualSealing({
      dataDir,
      what: `environment variable ${name}`,
      randomBytes: runtime.randomBytes,
      key: () => {
        const value = runtime.env?.(name);
        return value === undefined || value === "" ? undefined : parseSealingKey(value, name);
      },
    });
  }
  const file = config.keyFile;
  if (file === null)
    throw new TreatyError("MalformedRequest", "sealing: a virtual provider needs keyFile or keyEnv");
  return new VirtualSealing({
    dataDir,
    what: `key file ${file}`,
    randomBytes: runtime.randomBytes,
    key: () => (existsSync(file) ? parseSealingKey(readFileSync(file, "utf8"), file) : undefined),
    createKey: () => {
      const key = runtime.randomBytes(SEALING_KEY_BYTES);
      mkdirSync(dirname(file), { recursive: true });
      writeDurable(file, `${toHex(key)}\n`);
      return key;
    },
  });
}
