import assert from "node:assert/strict";
import { describe, it } from "node:test";
import log from "../../contracts/examples/log/index.js";
import { member, testContract, user } from "../../contracts/testing/index.js";

const alice = { caller: user("alice") };

describe("sample: log", () => {
  it("writes and reads private and public messages by id", () => {
    const c = testContract(log, { name: "log" });
    assert.ok(c.call("writePrivate", { id: 1, msg: "secret" }, alice).ok);
    assert.ok(c.call("writePublic", { id: 1, msg: "hello" }, alice).ok);
    assert.deepEqual(c.call("readPrivate", { id: 1 }, alice), {
      ok: true,
      result: { msg: "secret" },
      events: [],
      writes: [],
      txid: null,
    });
    const pub = c.call("readPublic", { id: 1 }, alice);
    assert.deepEqual(pub.ok && pub.result, { msg: "hello" });
    assert.ok(c.call("writePrivate", { id: 1, msg: "replaced" }, alice).ok);
    assert.deepEqual(c.state.entries("messages", "number"), [[1, "replaced"]]);
    assert.deepEqual(c.state.entries("public:messages", "number"), [[1, "hello"]]);
  });

  it("writes one key per call, as a write set", () => {
    const c = testContract(log, { name: "log" });
    const r = c.call("writePublic", { id: 42, msg: "m" }, alice);
    assert.ok(r.ok);
    assert.deepEqual(
      r.writes.map((w) => [w.map, w.deleted, w.value]),
      [["public:messages", false, "m"]],
    );
    assert.equal(r.txid, "1.1");
  });

  it("answers MessageNotFound for an unknown id, InvalidArgs for a bad one", () => {
    const c = testContract(log, { name: "log" });
    const missing = c.call("readPrivate", { id: 7 }, alice);
    assert.deepEqual(!missing.ok && missing.error, {
      code: "MessageNotFound",
      message: "no message with id 7",
    });
    const bad = c.callJson("writePrivate", '{"id":"seven","msg":"x"}', alice);
    assert.deepEqual(!bad.ok && bad.error, {
      code: "InvalidArgs",
      message: 'args.id: expected an integer, got "seven"',
    });
    const negative = c.call("readPublic", { id: -1 }, alice);
    assert.equal(!negative.ok && negative.error.code, "InvalidArgs");
  });

  it("lets users write and read; members and anonymous callers are refused", () => {
    const c = testContract(log, { name: "log" });
    for (const options of [{ caller: member("m") }, {}]) {
      const r = c.call("writePrivate", { id: 1, msg: "x" }, options);
      assert.equal(!r.ok && r.error.code, "Forbidden");
      assert.equal(!c.call("readPublic", { id: 1 }, options).ok, true);
    }
  });
});
