/**
 * Runs `body` (an ES module's source) in a child `node --allow-natives-syntax` and returns the
 * JSON its last stdout line holds: V8's `%` intrinsics (whether code is still optimized, say)
 * exist only behind that flag, which the test process itself does not set.
 */
import { execFileSync } from "node:child_process";

export function runWithNatives(body: string): unknown {
  const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", body], {
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").at(-1)!);
}
