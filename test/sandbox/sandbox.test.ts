/**
 * The sandbox's lifecycle: loading, host refusals and crashes, metering, limits changing,
 * instance replacement after a host stack overflow, and handle hygiene over many calls.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { TreatyError } from "../../sdk/errors.js";
import { FUEL_PER_POLL, resolveLimits, type SandboxLimits } from "../../runtime/sandbox/limits.js";
import { ContractSandbox } from "../../runtime/sandbox/sandbox.js";
import { guestBundle } from "./guest.js";
import { call, codeOf, MapHost, sandboxFor, TEST_LIMITS, testEngine } from "./harness.js";

const WORKER = guestBundle(
  {
    ok: '() => "fine"',
    echo: "(args) => args",
    write:
      '(args, ctx, host) => { host.kvSet("m", args.key, JSON.stringify(args.value)); return host.kvGet("m", args.key); }',
    swallow:
      '(args, ctx, host) => { try { host.kvSet("m", "k", "1"); } catch (e) { return "swallowed " + e.name; } return "wrote"; }',
    spin: "(args) => { let x = 0; for (let i = 0; i < args.n; i++) x += i; return x; }",
    churn: `(args, ctx, host) => {
      const parts = [];
      for (let i = 0; i < 20; i++) parts.push({ i, s: "v" + i, a: [i, i * 2] });
      host.kvSet("m", "k" + (args.i % 7), JSON.stringify(parts));
      if (args.i % 5 === 0) throw new Error("every fifth call fails");
      return host.kvGet("m", "k" + (args.i % 7)).length;
    }`,
    bomb: "() => { const f = () => f() + 1; return f(); }",
    roundTrip:
      '(args, ctx, host) => { host.kvSet("m", args.s, JSON.stringify(args.s)); return JSON.parse(host.kvGet("m", args.s)); }',
    setRaw:
      "(args, ctx, host) => { host.kvSet(args.map, args.key, args.value); return host.kvHas(args.map, args.key); }",
    badArgs: `(args, ctx, host) => {
      const tries = [() => host.kvSet(1, "k", "v"), () => host.kvGet("m", null), () => host.kvSet("m", "k"), () => host.emit("e", {})];
      return tries.map((f) => { try { f(); return "no error"; } catch (e) { return e.name + ": " + e.message; } });
    }`,
    depth: "() => { let n = 0; const f = () => { n++; f(); }; try { f(); } catch (e) {} return n; }",
  },
  { moduleLevel: "const big = []; for (let i = 0; i < 50; i++) big.push({ i });" },
);

describe("loading a bundle", () => {
  const cases: [string, string][] = [
    ["a syntax error", "(function () { return function __treatyContract() { return { ; }; }; })()"],
    ["a script that is not a factory", "42"],
    ["a factory returning nothing", "(function () { return function () { return undefined; }; })()"],
    [
      "describe() throwing",
      "(function () { return function () { return { describe() { throw new Error('no'); } }; }; })()",
    ],
    [
      "describe() returning a number",
      "(function () { return function () { return { describe() { return 1; } }; }; })()",
    ],
    ["a loop at the top level", "(function () { for (;;) {} })()"],
    [
      "an allocation bomb at the top level",
      "(function () { const a = []; for (;;) a.push(new Float64Array(1e5)); })()",
    ],
    [
      "a dynamic import at the top level",
      "(function () { import('x'); return function () { return { describe() { return '{}'; } }; }; })()",
    ],
    ["a host call at the top level", "(function () { __treatyHost.kvGet('m', 'k'); })()"],
    ["a top-level write to globalThis", "(function () { globalThis.x = 1; return function () {}; })()"],
  ];
  for (const [name, bundle] of cases) {
    it(`refuses ${name} with InvalidContract`, async () => {
      const engine = await testEngine();
      await engine.ready(TEST_LIMITS.heapBytes);
      const code = codeOf(() =>
        ContractSandbox.create(bundle, { engine, limits: () => TEST_LIMITS, name: "bad" }),
      );
      assert.equal(code, "InvalidContract");
    });
  }

  it("returns the manifest text describe() gave", async () => {
    const sandbox = await sandboxFor(guestBundle({ ok: '() => "fine"' }));
    try {
      assert.deepEqual(JSON.parse(sandbox.manifestJson), {
        methods: { ok: { mode: "readwrite", auth: "users_and_members", args: { type: "any" } } },
      });
    } finally {
      sandbox.dispose();
    }
  });

  it("is Unavailable while no QuickJS instance is ready, and works once one is", async () => {
    const engine = await testEngine();
    await engine.ready(TEST_LIMITS.heapBytes);
    while (engine.take(TEST_LIMITS.heapBytes) !== undefined) {
      // drain the pool
    }
    const create = () => ContractSandbox.create(WORKER, { engine, limits: () => TEST_LIMITS, name: "w" });
    assert.equal(codeOf(create), "Unavailable");
    await engine.ready(TEST_LIMITS.heapBytes);
    const sandbox = create();
    assert.deepEqual(call(sandbox, "ok"), { ok: true, result: "fine" });
    sandbox.dispose();
    assert.equal(
      codeOf(() => call(sandbox, "ok")),
      "Unavailable",
    );
  });
});

describe("the host side of a call", () => {
  it("passes values through the ABI both ways", async () => {
    const sandbox = await sandboxFor(WORKER);
    const host = new MapHost();
    try {
      assert.deepEqual(call(sandbox, "write", { key: "k1", value: { n: 1, s: "é🙂" } }, host), {
        ok: true,
        result: JSON.stringify({ n: 1, s: "é🙂" }),
      });
      assert.deepEqual(host.writes, ["m/k1"]);
      const args = { a: [1, "two", null, true], nested: { deep: { deeper: "x".repeat(1000) } } };
      assert.deepEqual(call(sandbox, "echo", args), { ok: true, result: args });
    } finally {
      sandbox.dispose();
    }
  });

  it("a host refusal is fatal for the call even when the contract catches it", async () => {
    const sandbox = await sandboxFor(WORKER);
    const host = new MapHost();
    host.onSet = () => {
      throw new TreatyError("ReadonlyViolation", "kvSet: a readonly method cannot write");
    };
    try {
      assert.equal(
        codeOf(() => call(sandbox, "swallow", {}, host)),
        "ReadonlyViolation",
      );
      assert.deepEqual(call(sandbox, "swallow"), { ok: true, result: "wrote" });
    } finally {
      sandbox.dispose();
    }
  });

  it("a host bug reaches the caller as it is, never the contract, and the next call works", async () => {
    const sandbox = await sandboxFor(WORKER);
    const host = new MapHost();
    const bug = new Error("storage exploded");
    host.onSet = () => {
      throw bug;
    };
    try {
      assert.throws(
        () => call(sandbox, "swallow", {}, host),
        (err) => err === bug,
      );
      assert.deepEqual(call(sandbox, "swallow"), { ok: true, result: "wrote" });
    } finally {
      sandbox.dispose();
    }
  });
});

describe("metering", () => {
  it("burns the same fuel for the same call in fresh contexts", async () => {
    const fuel: number[] = [];
    for (let i = 0; i < 2; i++) {
      const sandbox = await sandboxFor(WORKER);
      call(sandbox, "spin", { n: 100_000 });
      fuel.push(sandbox.stats().lastCallFuel);
      sandbox.dispose();
    }
    assert.ok(fuel[0]! >= 10 * FUEL_PER_POLL, `fuel ${fuel[0]}`);
    assert.equal(fuel[0], fuel[1]);
  });

  it("on a reused context the same call differs by at most one poll", async () => {
    const sandbox = await sandboxFor(WORKER);
    try {
      const fuel = [0, 1, 2, 3].map(() => {
        call(sandbox, "spin", { n: 77_777 });
        return sandbox.stats().lastCallFuel;
      });
      assert.ok(Math.max(...fuel) - Math.min(...fuel) <= FUEL_PER_POLL, fuel.join());
    } finally {
      sandbox.dispose();
    }
  });

  it("charges host calls for the bytes they move", async () => {
    const sandbox = await sandboxFor(WORKER);
    try {
      call(sandbox, "write", { key: "k", value: "x" });
      const small = sandbox.stats().lastCallFuel;
      call(sandbox, "write", { key: "k", value: "x".repeat(50_000) });
      // Both directions are charged (in and out); one poll of slack for where the polls fall.
      assert.ok(
        sandbox.stats().lastCallFuel - small >= 2 * 45_000 - FUEL_PER_POLL,
        `${small} → ${sandbox.stats().lastCallFuel}`,
      );
    } finally {
      sandbox.dispose();
    }
  });

  it("stops at the wall-clock deadline (injected clock), with ExecutionLimit", async () => {
    let now = 0;
    const limits = resolveLimits({ ...TEST_LIMITS, executionBudget: 1e12, wallClockMs: 10 });
    // Every read of the clock moves it 1 ms: a call gets about ten interrupt polls.
    const sandbox = await sandboxFor(
      WORKER,
      () => limits,
      () => now++,
    );
    try {
      assert.throws(
        () => call(sandbox, "spin", { n: 1e12 }),
        (err) =>
          err instanceof TreatyError && err.code === "ExecutionLimit" && /wall-clock/.test(err.message),
      );
      assert.deepEqual(call(sandbox, "ok"), { ok: true, result: "fine" });
    } finally {
      sandbox.dispose();
    }
  });
});

describe("limits changing", () => {
  it("moves to an instance with the new heap cap once one is ready", async () => {
    let limits: SandboxLimits = TEST_LIMITS;
    const sandbox = await sandboxFor(WORKER, () => limits);
    try {
      assert.equal(sandbox.stats().instances, 1);
      limits = resolveLimits({ ...TEST_LIMITS, heapBytes: 32 * 1024 * 1024 });
      const engine = await testEngine();
      engine.target(limits.heapBytes);
      await engine.ready(limits.heapBytes);
      assert.deepEqual(call(sandbox, "ok"), { ok: true, result: "fine" });
      assert.equal(sandbox.stats().instances, 2);
      // The new cap holds: an allocation bomb now fills 32 MiB before MemoryLimit.
      assert.equal(
        codeOf(() => call(sandbox, "echo", "x".repeat(20 * 1024 * 1024))),
        "MemoryLimit",
      );
      assert.ok(sandbox.stats().wasmBytes > 24 * 1024 * 1024);
    } finally {
      sandbox.dispose();
      const engine = await testEngine();
      engine.target(TEST_LIMITS.heapBytes);
    }
  });

  it("applies a new stack cap from the next call", async () => {
    let limits: SandboxLimits = TEST_LIMITS;
    const sandbox = await sandboxFor(WORKER, () => limits);
    try {
      const deep = call(sandbox, "depth") as { result: number };
      limits = resolveLimits({ ...TEST_LIMITS, stackBytes: 16 * 1024 });
      const shallow = call(sandbox, "depth") as { result: number };
      assert.ok(shallow.result * 3 < deep.result, `${deep.result} → ${shallow.result}`);
      assert.equal(sandbox.stats().boots, 1);
      assert.equal(
        codeOf(() => call(sandbox, "bomb")),
        "StackLimit",
      );
    } finally {
      sandbox.dispose();
    }
  });
});

describe("host stack overflow", () => {
  /** Runs `fn` under `depth` extra host frames. */
  function atDepth(depth: number, fn: () => unknown): unknown {
    return depth === 0 ? fn() : [atDepth(depth - 1, fn)][0];
  }

  function maxDepth(): number {
    let depth = 0;
    const probe = (): number => {
      depth++;
      return [probe()][0]!;
    };
    try {
      probe();
    } catch {
      // RangeError: the host stack is full
    }
    return depth;
  }

  it("a V8 stack overflow at any host depth ends in a coded error and the next call works", async () => {
    const engine = await testEngine();
    const sandbox = await sandboxFor(WORKER);
    try {
      const limit = maxDepth();
      const outcomes = new Set<string>();
      for (let margin = 40; margin <= 4000; margin = Math.ceil(margin * 1.15)) {
        try {
          atDepth(limit - margin, () => call(sandbox, "bomb"));
          outcomes.add("ok");
        } catch (err) {
          outcomes.add(err instanceof TreatyError ? err.code : "host RangeError outside the sandbox");
        }
        await engine.ready(TEST_LIMITS.heapBytes);
        assert.deepEqual(call(sandbox, "ok"), { ok: true, result: "fine" });
      }
      assert.ok(outcomes.has("StackLimit"), [...outcomes].join());
      assert.ok(!outcomes.has("ok"));
      // The overflow inside QuickJS's C code was met at least once: its instance was replaced.
      assert.ok(sandbox.stats().instances > 1, `instances ${sandbox.stats().instances}`);
    } finally {
      sandbox.dispose();
    }
  });
});

describe("handle hygiene", () => {
  it("thousands of calls (a fifth of them failing) leave QuickJS memory flat", async () => {
    const sandbox = await sandboxFor(WORKER);
    try {
      const host = new MapHost();
      const run = (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          try {
            call(sandbox, "churn", { i }, host);
          } catch (err) {
            assert.ok(err instanceof TreatyError && err.code === "ContractFault");
          }
        }
      };
      run(0, 200);
      const warm = sandbox.memoryUsage()!;
      const wasm = sandbox.stats().wasmBytes;
      run(200, 3200);
      const end = sandbox.memoryUsage()!;
      assert.equal(sandbox.stats().boots, 1);
      assert.equal(sandbox.stats().wasmBytes, wasm);
      assert.ok(end.objects <= warm.objects + 20, `objects ${warm.objects} → ${end.objects}`);
      assert.ok(end.usedBytes <= warm.usedBytes + 16 * 1024, `bytes ${warm.usedBytes} → ${end.usedBytes}`);
    } finally {
      sandbox.dispose();
    }
  });
});

describe("strings cross the boundary exactly", () => {
  it("any UTF-16 string (U+0000, lone surrogates, astral) reaches the host and comes back unchanged", async () => {
    const sandbox = await sandboxFor(WORKER);
    const units = fc.array(
      fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 0xd800, 0xdfff, 0xfeff)),
      { maxLength: 40 },
    );
    try {
      fc.assert(
        fc.property(units, (codes) => {
          const s = String.fromCharCode(...codes);
          const host = new MapHost();
          assert.deepEqual(call(sandbox, "roundTrip", { s }, host), { ok: true, result: s });
          assert.deepEqual(host.writes, [`m/${s}`]);
        }),
        { numRuns: 300 },
      );
    } finally {
      sandbox.dispose();
    }
  });

  it("several string arguments arrive exactly, whether they take the length-prefixed or the JSON form", async () => {
    const sandbox = await sandboxFor(WORKER);
    const text = fc
      .array(
        fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 0x3a, 0x5b, 0x31, 0xd83d, 0xde00)),
        {
          maxLength: 20,
        },
      )
      .map((codes) => String.fromCharCode(...codes));
    try {
      fc.assert(
        fc.property(text, text, text, (map, key, value) => {
          let set: [string, string, string] | undefined;
          let has: [string, string] | undefined;
          const host = new MapHost();
          host.kvSet = (...args) => {
            set = args;
          };
          host.kvHas = (...args) => {
            has = args;
            return true;
          };
          assert.deepEqual(call(sandbox, "setRaw", { map, key, value }, host), { ok: true, result: true });
          // Compared by code units: a surrogate pair split across two arguments stays split.
          assert.deepEqual(set, [map, key, value]);
          assert.deepEqual(has, [map, key]);
        }),
        { numRuns: 300 },
      );
      // A high surrogate ending one argument and a low one starting the next.
      const host = new MapHost();
      let set: string[] = [];
      host.kvSet = (...args) => {
        set = args;
      };
      call(sandbox, "setRaw", { map: "m\ud83d", key: "\ude00k", value: "1:2:" }, host);
      assert.deepEqual(set, ["m\ud83d", "\ude00k", "1:2:"]);
    } finally {
      sandbox.dispose();
    }
  });

  it("arguments of the wrong type are the guest's TypeError, naming the parameter", async () => {
    const sandbox = await sandboxFor(WORKER);
    try {
      assert.deepEqual(call(sandbox, "badArgs", {}, new MapHost()), {
        ok: true,
        result: [
          "TypeError: __treatyHost.kvSet: map must be a string, got number",
          "TypeError: __treatyHost.kvGet: key must be a string, got null",
          "TypeError: __treatyHost.kvSet: value must be a string, got null",
          "TypeError: __treatyHost.emit: dataJson must be a string, got object",
        ],
      });
    } finally {
      sandbox.dispose();
    }
  });
});
