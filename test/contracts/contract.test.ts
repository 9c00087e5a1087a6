import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ApiError,
  type ArgsOf,
  ContractError,
  caller,
  contract,
  currentMethod,
  map,
  method,
  type MethodsOf,
  now,
  type ResultOf,
  t,
  txid,
} from "../../contracts/api/index.js";
import { member, testContract, user } from "../../contracts/testing/index.js";

const ctx = (callerValue: { id: string; role: string } | null = { id: "alice", role: "user" }) =>
  JSON.stringify({ caller: callerValue, txid: "1.1", timeMs: 1000 });

const notes = map<string, string>("notes");

const sample = contract({
  echo: method({
    mode: "readonly",
    auth: "anyone",
    args: { text: t.string(), times: t.optional(t.integer({ minimum: 1, maximum: 3 })) },
    description: "Repeats text.",
    run: ({ text, times }) => ({ text: text.repeat(times ?? 1) }),
  }),
  whoami: method({
    mode: "readonly",
    auth: "users_and_members",
    run: () => ({ caller: caller(), txid: txid(), now: now(), method: currentMethod() }),
  }),
  membersOnly: method({ mode: "readwrite", auth: "members", run: () => "ok" }),
  usersOnly: method({ mode: "readwrite", auth: "users", run: () => undefined }),
  fail: method({
    mode: "readonly",
    auth: "anyone",
    run: (): number => {
      throw new ContractError("Nope", "not today");
    },
  }),
  crash: method({
    mode: "readonly",
    auth: "anyone",
    run: () => {
      throw new TypeError("bug");
    },
  }),
  asyncMethod: method({ mode: "readonly", auth: "anyone", run: async () => 1 }),
  // biome-ignore lint/suspicious/noThenProperty: a thenable result is exactly what this case tests.
  thenable: method({ mode: "readonly", auth: "anyone", run: () => ({ then: () => 1 }) }),
  badResult: method({ mode: "readonly", auth: "anyone", run: () => ({ rows: [{ at: new Map() }] }) }),
  nanResult: method({ mode: "readonly", auth: "anyone", run: () => Number.NaN }),
  noteSet: method({
    mode: "readwrite",
    auth: "users",
    args: { text: t.string() },
    run: ({ text }) => notes.set("n", text),
  }),
  noteSneakyWrite: method({ mode: "readonly", auth: "users", run: () => notes.set("n", "sneaky") }),
});

describe("contract(): describe", () => {
  it("describes every method as data, names sorted", () => {
    const manifest = JSON.parse(sample.describe());
    assert.deepEqual(Object.keys(manifest.methods), Object.keys(manifest.methods).sort());
    assert.deepEqual(manifest.methods.echo, {
      mode: "readonly",
      auth: "anyone",
      args: {
        type: "object",
        properties: {
          text: { type: "string" },
          times: { type: "number", integer: true, minimum: 1, maximum: 3 },
        },
        optional: ["times"],
      },
      description: "Repeats text.",
    });
    assert.deepEqual(manifest.methods.membersOnly, {
      mode: "readwrite",
      auth: "members",
      args: { type: "object", properties: {} },
    });
  });

  it("refuses malformed declarations when described (deploy), or at once for mode and auth", () => {
    const invalid = (fn: () => unknown, pattern: RegExp) =>
      assert.throws(
        fn,
        (err: unknown) =>
          err instanceof ApiError && err.code === "InvalidContract" && pattern.test(err.message),
      );
    invalid(
      () => method({ mode: "write" as "readonly", auth: "users", run: () => 1 }),
      /mode must be "readonly" or "readwrite"/,
    );
    invalid(
      () => method({ mode: "readonly", auth: "everyone" as "users", run: () => 1 }),
      /auth must be anyone, users/,
    );
    invalid(
      // @ts-expect-error: anyone may only call readonly methods
      () => method({ mode: "readwrite", auth: "anyone", run: () => 1 }),
      /"anyone" is allowed for readonly methods only/,
    );
    invalid(
      () => method({ mode: "readonly", auth: "users", run: 5 as unknown as () => 1 }),
      /run must be a function/,
    );
    invalid(() => contract({}).describe(), /at least one method/);
    invalid(
      () => contract({ "bad-name": method({ mode: "readonly", auth: "users", run: () => 1 }) }).describe(),
      /method name "bad-name" must match/,
    );
    invalid(
      () => contract({ x: { mode: "readonly" } as never }).describe(),
      /"x" must be declared with method/,
    );
    invalid(
      () =>
        contract({
          x: method({
            mode: "readonly",
            auth: "users",
            args: { type: "bogus" } as unknown as ReturnType<typeof t.string>,
            run: () => 1,
          }),
        }).describe(),
      /method "x": args.type: unknown shape type "bogus"/,
    );
    invalid(
      () =>
        contract({
          x: method({
            mode: "readonly",
            auth: "users",
            args: 5 as unknown as ReturnType<typeof t.string>,
            run: () => 1,
          }),
        }).describe(),
      /args must be a shape or a record of shapes/,
    );
    invalid(
      () =>
        contract({
          x: method({ mode: "readonly", auth: "users", description: "d".repeat(2000), run: () => 1 }),
        }).describe(),
      /description must be a string of at most 1024/,
    );
  });

  it("refuses more than 256 methods and names that are Object.prototype properties", () => {
    const invalid = (fn: () => unknown, pattern: RegExp) =>
      assert.throws(
        fn,
        (err: unknown) =>
          err instanceof ApiError && err.code === "InvalidContract" && pattern.test(err.message),
      );
    const m = () => method({ mode: "readonly", auth: "users", run: () => 1 });
    const many = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`m${i}`, m()]));
    assert.equal(Object.keys(JSON.parse(contract(many(256)).describe()).methods).length, 256);
    invalid(() => contract(many(257)).describe(), /at most 256 methods/);
    for (const name of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
      invalid(() => contract({ [name]: m() }).describe(), new RegExp(`method name "${name}" is reserved`));
    }
    // A computed key makes an own property named __proto__: refused by name.
    invalid(() => contract({ ["__proto__"]: m() }).describe(), /method name "__proto__" is reserved/);
    // A literal `__proto__:` sets the prototype instead: the method would vanish, so it is refused.
    invalid(
      () =>
        contract({ __proto__: m(), ok: m() } as unknown as Record<string, ReturnType<typeof m>>).describe(),
      /expected a plain object literal/,
    );
  });
});

describe("contract(): invoke", () => {
  const outcome = (method: string, args: string, context = ctx()) =>
    JSON.parse(sample.invoke(method, args, context));

  it("refuses unknown methods, including Object.prototype names", () => {
    for (const name of ["nope", "toString", "__proto__", "constructor"]) {
      assert.deepEqual(outcome(name, "{}"), {
        ok: false,
        error: { code: "UnknownMethod", message: `unknown method ${JSON.stringify(name)}` },
      });
    }
  });

  it("checks the auth policy against the caller's role before the args", () => {
    assert.equal(outcome("membersOnly", "not json", ctx({ id: "a", role: "user" })).error.code, "Forbidden");
    assert.match(
      outcome("membersOnly", "{}", ctx({ id: "a", role: "user" })).error.message,
      /may be called by members only/,
    );
    assert.match(
      outcome("usersOnly", "{}", ctx({ id: "m", role: "member" })).error.message,
      /may be called by users only/,
    );
    assert.match(outcome("usersOnly", "{}", ctx(null)).error.message, /requires a signed caller/);
    assert.match(
      outcome("whoami", "{}", ctx({ id: "n", role: "node" })).error.message,
      /users and members only/,
    );
    assert.deepEqual(outcome("echo", '{"text":"a"}', ctx(null)), { ok: true, result: { text: "a" } });
    assert.equal(outcome("membersOnly", "{}", ctx({ id: "m", role: "member" })).result, "ok");
  });

  it("validates args before running, naming the field", () => {
    assert.deepEqual(outcome("echo", "{", ctx(null)).error, {
      code: "InvalidArgs",
      message: "args: not valid JSON",
    });
    assert.deepEqual(outcome("echo", '{"text":"a","times":"ten"}').error, {
      code: "InvalidArgs",
      message: 'args.times: expected an integer, got "ten"',
    });
    assert.deepEqual(outcome("echo", '{"text":"a","times":9}').error, {
      code: "InvalidArgs",
      message: "args.times: expected a number ≤ 3, got 9",
    });
    assert.deepEqual(outcome("echo", "{}").error, { code: "InvalidArgs", message: "args.text: required" });
    assert.deepEqual(outcome("usersOnly", '{"x":1}').error, {
      code: "InvalidArgs",
      message: "args.x: unexpected property",
    });
  });

  it("turns ContractError into an error outcome and undefined into null", () => {
    assert.deepEqual(outcome("fail", "{}"), { ok: false, error: { code: "Nope", message: "not today" } });
    assert.deepEqual(outcome("usersOnly", "{}"), { ok: true, result: null });
  });

  it("lets other exceptions propagate (the sandbox reports them)", () => {
    assert.throws(() => sample.invoke("crash", "{}", ctx()), /bug/);
  });

  it("refuses Promises and thenables: methods are synchronous", () => {
    for (const name of ["asyncMethod", "thenable"]) {
      const error = outcome(name, "{}").error;
      assert.equal(error.code, "ContractFault");
      assert.match(
        error.message,
        new RegExp(`method "${name}" returned a Promise: contract methods must be synchronous`),
      );
    }
  });

  it("refuses results JSON cannot carry, naming the path", () => {
    assert.deepEqual(outcome("badResult", "{}").error, {
      code: "ResultNotEncodable",
      message: "result.rows[0].at: a Map is not JSON (only plain objects and arrays are)",
    });
    assert.deepEqual(outcome("nanResult", "{}").error, {
      code: "ResultNotEncodable",
      message: "result: NaN is not JSON",
    });
  });

  it("throws on a malformed context (a host bug)", () => {
    for (const bad of [
      "{}",
      "null",
      '{"caller":{"id":1,"role":"user"},"txid":null,"timeMs":1}',
      '{"caller":null,"txid":null,"timeMs":"x"}',
    ]) {
      assert.throws(() => sample.invoke("echo", '{"text":"a"}', bad), /malformed invoke context/);
    }
  });

  it("with the caller's role beside the context, checks auth with it and parses the context only when asked", () => {
    const echo = JSON.parse(sample.invoke("echo", '{"text":"a"}', "{}", ""));
    assert.deepEqual(echo, { ok: true, result: { text: "a" } });
    assert.throws(() => sample.invoke("whoami", "{}", "{}", "user"), /malformed invoke context/);
    const context = JSON.stringify({ caller: { id: "bob", role: "member" }, txid: "2.7", timeMs: 9 });
    assert.deepEqual(JSON.parse(sample.invoke("whoami", "{}", context, "member")), {
      ok: true,
      result: { caller: { id: "bob", role: "member" }, txid: "2.7", now: 9, method: "whoami" },
    });
    const refused = (role: string) => JSON.parse(sample.invoke("usersOnly", "{}", ctx(), role)).error;
    assert.deepEqual(refused(""), {
      code: "Forbidden",
      message: 'method "usersOnly" requires a signed caller',
    });
    assert.equal(refused("member").code, "Forbidden");
    assert.deepEqual(JSON.parse(sample.invoke("usersOnly", "{}", ctx(null), "user")), {
      ok: true,
      result: null,
    });
    for (const bad of ["admin", "User", 5, null]) {
      assert.throws(
        () => sample.invoke("echo", '{"text":"a"}', ctx(), bad as string),
        /malformed caller role/,
      );
    }
  });

  it("gives methods their call context, and none outside a call", () => {
    const c = testContract(sample, { name: "sample", startTimeMs: 5000 });
    const r = c.call("whoami", {}, { caller: member("m1") });
    assert.deepEqual(r.ok && r.result, {
      caller: { id: "m1", role: "member" },
      txid: null,
      now: 5000,
      method: "whoami",
    });
    for (const fn of [caller, txid, now, currentMethod]) {
      assert.throws(
        fn,
        (err: unknown) =>
          err instanceof ApiError && /only available while a contract method runs/.test(err.message),
      );
    }
  });

  it("rejects writes in readonly methods before they reach the host", () => {
    const c = testContract(sample, { name: "sample" });
    const r = c.call("noteSneakyWrite", {}, { caller: user("u") });
    assert.equal(!r.ok && r.error.code, "ReadonlyViolation");
    assert.equal(c.state.get("notes", "n"), undefined);
    assert.equal(c.call("noteSet", { text: "hi" }, { caller: user("u") }).ok, true);
    assert.equal(c.state.get("notes", "n"), "hi");
  });
});

describe("type helpers", () => {
  it("derive args, results and modes from the contract value (compile-time checks)", () => {
    type M = MethodsOf<typeof sample>;
    const args: ArgsOf<typeof sample, "echo"> = { text: "x", times: 2 };
    const result: ResultOf<typeof sample, "echo"> = { text: "xx" };
    const none: ResultOf<typeof sample, "usersOnly"> = null;
    const mode: M["echo"]["mode"] = "readonly";
    const auth: M["membersOnly"]["auth"] = "members";
    // @ts-expect-error: times must be a number
    const wrong: ArgsOf<typeof sample, "echo"> = { text: "x", times: "2" };
    // @ts-expect-error: echo is readonly
    const wrongMode: M["echo"]["mode"] = "readwrite";
    // @ts-expect-error: not a method of the contract
    const missing: M["nope"] = undefined;
    assert.ok(args && result && none === null && mode && auth && wrong && wrongMode && missing === undefined);
  });

  it("returns: published in the manifest, checked on every result, and against run's type", () => {
    const counted = t.object({ n: t.integer() });
    const c = contract({
      fits: method({ mode: "readonly", auth: "users", returns: counted, run: () => ({ n: 2 }) }),
      breaks: method({
        mode: "readonly",
        auth: "users",
        returns: counted,
        run: () => ({ n: 1.5 }) as { n: number }, // the type fits; the value does not
      }),
      untyped: method({ mode: "readonly", auth: "users", run: () => 1 }),
    });
    const manifest = JSON.parse(c.describe()) as { methods: Record<string, { returns?: unknown }> };
    assert.deepEqual(manifest.methods.fits?.returns, {
      type: "object",
      properties: { n: { type: "number", integer: true } },
    });
    assert.equal(Object.hasOwn(manifest.methods.untyped!, "returns"), false);
    assert.deepEqual(JSON.parse(c.invoke("fits", "{}", ctx())), { ok: true, result: { n: 2 } });
    assert.deepEqual(JSON.parse(c.invoke("breaks", "{}", ctx())), {
      ok: false,
      error: {
        code: "ContractFault",
        message: 'method "breaks" broke its returns shape: result.n: expected an integer, got 1.5',
      },
    });
    const typed: ResultOf<typeof c, "fits"> = { n: 1 };
    assert.equal(typed.n, 1);
    contract({
      // @ts-expect-error: run returns a number, the returns shape says string
      wrong: method({ mode: "readonly", auth: "users", returns: t.string(), run: () => 3 }),
    });
    assert.throws(
      () =>
        contract({
          bad: method({ mode: "readonly", auth: "users", returns: { type: "date" } as never, run: () => 1 }),
        }).describe(),
      /method "bad": returns\.type: unknown shape type "date"/,
    );
  });

  it("writes the outcome text exactly as JSON.stringify({ok: true, result}) would", () => {
    const results: unknown[] = [
      null,
      undefined,
      0,
      -0,
      1e21,
      'a "quoted" é 😀 \u2028',
      [],
      {},
      { a: [1, { b: null }], "": "x", __proto__x: true },
      [null, "", false],
    ];
    const c = contract({
      give: method({
        mode: "readonly",
        auth: "anyone",
        args: { i: t.integer() },
        run: ({ i }) => results[i],
      }),
    });
    results.forEach((result, i) => {
      const text = c.invoke("give", JSON.stringify({ i }), ctx(null));
      assert.equal(
        text,
        JSON.stringify({ ok: true, result: result === undefined ? null : result }),
        `result ${i}`,
      );
    });
  });

  it("caller() is one frozen copy per call, the same however often it is asked", () => {
    const seen: unknown[] = [];
    const c = contract({
      who: method({
        mode: "readonly",
        auth: "users",
        run: () => {
          const first = caller();
          seen.push(first);
          assert.equal(caller(), first);
          assert.ok(Object.isFrozen(first));
          return first;
        },
      }),
    });
    assert.deepEqual(JSON.parse(c.invoke("who", "{}", ctx())), {
      ok: true,
      result: { id: "alice", role: "user" },
    });
    assert.deepEqual(JSON.parse(c.invoke("who", "{}", ctx({ id: "bob", role: "user" }))), {
      ok: true,
      result: { id: "bob", role: "user" },
    });
    assert.notEqual(seen[0], seen[1]);
  });
});
