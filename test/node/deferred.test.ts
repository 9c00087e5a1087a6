import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deferred } from "../../node/deferred.js";

describe("deferred", () => {
  test("each promise is settled by its own functions, once", async () => {
    const first = deferred<number>();
    const second = deferred<number>();
    assert.notEqual(first.resolve, second.resolve);
    assert.notEqual(first.reject, second.reject);
    second.reject(new Error("second"));
    first.resolve(1);
    first.resolve(2); // a promise settles once
    first.reject(new Error("late"));
    assert.equal(await first.promise, 1);
    await assert.rejects(second.promise, /second/);
  });

  test("a promise made while another is pending is independent of it", async () => {
    const outer = deferred<string>();
    const inner = deferred<string>();
    inner.resolve("inner");
    assert.equal(await inner.promise, "inner");
    let settled = false;
    void outer.promise.then(() => {
      settled = true;
    });
    await Promise.resolve();
    assert.equal(settled, false);
    outer.resolve("outer");
    assert.equal(await outer.promise, "outer");
  });
});
