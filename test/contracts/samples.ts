/**
 * Helpers for the sample contract tests: run one scenario against the source contract and
 * against its compiled bundle (under node:vm), so each sample is also checked as an artifact.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { CallResult, Invokable, TestContract } from "../../contracts/testing/index.js";
import { loadBundle, testContract } from "../../contracts/testing/index.js";
import { compileContract, findPackageRoot, formatDiagnostic } from "../../runtime/compiler/index.js";

const bundles = new Map<string, string>();

/** The compiled bundle of sample `name` (contracts/examples/<name>), compiled once per process. */
export function sampleBundle(name: string): string {
  const cached = bundles.get(name);
  if (cached !== undefined) return cached;
  const result = compileContract(join(findPackageRoot(), "contracts", "examples", name));
  if (!result.ok) assert.fail(result.diagnostics.map(formatDiagnostic).join("\n"));
  bundles.set(name, result.bundle);
  return result.bundle;
}

/** A call result without `cause` (which differs between source and bundle by realm). */
export function comparable(result: CallResult): unknown {
  if (result.ok) return result;
  const { cause: _cause, ...rest } = result;
  return rest;
}

/**
 * Runs `scenario` against the source contract and its bundle; both must give the same results
 * and leave the same state.
 */
export function sameAsBundle<C extends Invokable>(
  name: string,
  source: C,
  scenario: (c: TestContract) => CallResult[],
): void {
  const fromSource = testContract(source as Invokable, { name });
  const fromBundle = testContract(loadBundle(sampleBundle(name)), { name });
  assert.deepEqual(fromBundle.manifest, fromSource.manifest);
  assert.deepEqual(scenario(fromBundle).map(comparable), scenario(fromSource).map(comparable));
  assert.deepEqual(fromBundle.state.dump(), fromSource.state.dump());
}
