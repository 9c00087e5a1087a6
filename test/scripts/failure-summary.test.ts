/**
 * scripts/failure-summary.mjs, the reporter `npm test` ends with off a terminal: after the TAP
 * stream, every failed test again with its file, its suites and its error, and nothing when all
 * passed. Run on real `node --test` child runs of fixture files written to a temp dir.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { withTempDir } from "../support/temp-dir.js";

const REPORTER = join(findPackageRoot(), "scripts", "failure-summary.mjs");

const FAILING = `import { describe, test } from "node:test";
import assert from "node:assert/strict";
describe("outer suite", () => {
  test("passes", () => {});
  describe("inner suite", () => {
    test("compares", () => assert.equal(1, 2, "one is not two"));
  });
});
test("throws at the top", () => { throw new Error("boom"); });
test("throws with a cause", () => {
  throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:9") });
});
`;

const PASSING = `import { test } from "node:test";
test("passes", () => {});
`;

/** `node --test` on `files` (name → source) with TAP and the summary on stdout, as npm test runs. */
function runWithSummary(files: Record<string, string>): Promise<{ status: number | null; stdout: string }> {
  return withTempDir("treaty-summary-", (dir) => {
    const paths = Object.entries(files).map(([name, source]) => {
      const path = join(dir, name);
      writeFileSync(path, source);
      return path;
    });
    const run = spawnSync(
      process.execPath,
      [
        "--test",
        "--test-concurrency=2",
        "--test-reporter=tap",
        "--test-reporter-destination=stdout",
        `--test-reporter=${REPORTER}`,
        "--test-reporter-destination=stdout",
        ...paths,
      ],
      // Without NODE_TEST_CONTEXT: a `node --test` started inside a test would report to this run.
      { encoding: "utf8", cwd: dir, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
    );
    return { status: run.status, stdout: run.stdout };
  });
}

describe("the failure summary after the TAP stream", () => {
  it("lists each failed test once, with its file, its suites, its error and its causes, after the totals", async () => {
    const { status, stdout } = await runWithSummary({ "a.test.mjs": FAILING, "b.test.mjs": PASSING });
    assert.equal(status, 1);
    const summary = stdout.slice(stdout.indexOf("# duration_ms"));
    assert.match(summary, /# 3 failed tests:/);
    const listed = [...summary.matchAll(/^# not ok: (.*)\n# {3}in (.*)$/gm)].map((m) => [m[1], m[2]]);
    assert.deepEqual(listed.map(([path]) => path).sort(), [
      "outer suite › inner suite › compares",
      "throws at the top",
      "throws with a cause",
    ]);
    for (const [, file] of listed) assert.match(file ?? "", /a\.test\.mjs$/);
    assert.match(summary, /one is not two/);
    assert.match(summary, /Error: boom/);
    assert.match(
      summary,
      /TypeError: fetch failed\n(# {3}.*\n)*# {3}caused by: Error: connect ECONNREFUSED 127\.0\.0\.1:9\n/,
    );
  });

  it("prints nothing more when every test passed", async () => {
    const { status, stdout } = await runWithSummary({ "b.test.mjs": PASSING, "c.test.mjs": PASSING });
    assert.equal(status, 0);
    assert.doesNotMatch(stdout, /failed test|# not ok:/);
  });
});
