/**
 * Flag handling shared by the commands that act as an identity on a running node (`treaty call`,
 * the governance commands): reading the `--key` file, and how hard a CLI retries. The node,
 * service and timeout flags (`REMOTE_FLAGS`, `remoteTarget`) live in `status.ts` with the rest of
 * the remote plumbing.
 */
import { readFileSync } from "node:fs";
import { fromKeyFile, type KeyPair } from "../../sdk/keys.js";
import { UsageError } from "./command.js";

/** Attempts per request on network errors and 503s: a CLI user would rather see the error soon. */
export const CLI_RETRIES = 3;

/**
 * Reads a key file (from `treaty keygen`) named by `flag`; UsageError naming the flag when the
 * file is missing, not JSON or not a valid key file. The returned pair holds the private key:
 * the caller owns it and must not print or log it.
 */
export function readKeyFile(path: string, flag = "--key"): KeyPair {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path} (${(err as Error).message})`);
  }
  try {
    return fromKeyFile(JSON.parse(text));
  } catch (err) {
    throw new UsageError(`${flag}: ${path}: ${(err as Error).message}`);
  }
}
