/**
 * `describe`, `it` and `assert` for contract tests, re-exported from `node:test` and
 * `node:assert/strict` with types declared here: a contract project type-checks its tests
 * against `treaty/testing` alone, without `@types/node` (its tsconfig has `types: []`).
 */
import nodeAssert from "node:assert/strict";
import * as nodeTest from "node:test";

/** A test or suite body; async bodies are awaited. */
export type TestBody = () => void | Promise<void>;

/** Declares a suite (node:test `describe`). */
export const describe: (name: string, body: TestBody) => void = (name, body) => {
  void nodeTest.describe(name, body);
};

/** Declares a test (node:test `it`). */
export const it: (name: string, body: TestBody) => void = (name, body) => {
  void nodeTest.it(name, body);
};

/** Runs `body` before the suite's tests, or after them. */
export const before: (body: TestBody) => void = (body) => nodeTest.before(body);
export const after: (body: TestBody) => void = (body) => nodeTest.after(body);

/** The assertions contract tests need (node:assert/strict). Each throws an AssertionError. */
export interface Assert {
  (value: unknown, message?: string): asserts value;
  ok(value: unknown, message?: string): asserts value;
  equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  notEqual(actual: unknown, expected: unknown, message?: string): void;
  deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  notDeepEqual(actual: unknown, expected: unknown, message?: string): void;
  match(value: string, pattern: RegExp, message?: string): void;
  throws(fn: () => unknown, expected?: RegExp | ((err: unknown) => boolean), message?: string): void;
  rejects(
    promise: Promise<unknown> | (() => Promise<unknown>),
    expected?: RegExp | ((err: unknown) => boolean),
    message?: string,
  ): Promise<void>;
  fail(message?: string): never;
}

/** node:assert/strict, typed by `Assert`. */
export const assert: Assert = nodeAssert as unknown as Assert;
