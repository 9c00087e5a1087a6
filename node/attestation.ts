/**
 * Node attestation, virtual platform. On a TEE the node's code measurement comes from a hardware
 * report (SEV-SNP, TDX) verified against the vendor's chain; here, as in CCF's "virtual" mode,
 * the measurement is the SHA-256 of the node's own code files, and the report is only the node's
 * claim: it lets governance allow-list code versions and tests exercise the join path, but it
 * gives no security. The verifier interface is the seam where a hardware platform plugs in.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { toHex, utf8 } from "../sdk/bytes.js";
import { sha256 } from "../runtime/crypto.js";

export const PLATFORM = "virtual";

let cached: string | undefined;

/**
 * The measurement of this node's code: SHA-256 over the sorted (path, SHA-256 of content) of
 * every compiled `.js` file of the runtime, node and sdk folders. Computed once per process.
 */
export function codeMeasurement(): string {
  if (cached !== undefined) return cached;
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const lines: string[] = [];
  for (const folder of ["runtime", "node", "sdk", "contracts/api"]) {
    const walk = (dir: string) => {
      for (const name of readdirSync(dir).sort()) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith(".js"))
          lines.push(`${relative(root, path)} ${toHex(sha256(readFileSync(path)))}`);
      }
    };
    walk(join(root, folder));
  }
  cached = toHex(sha256(utf8.encode(lines.join("\n"))));
  return cached;
}
