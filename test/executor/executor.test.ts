/**
 * ContractRuntime: loading, the order of checks, the namespacing and policy of the host side,
 * and the rule that a failed call writes nothing. Bundles are hand-written (test/sandbox/guest.ts);
 * compiled contracts are covered by fixtures.test.ts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { generateKeyPair, sign } from "../../sdk/keys.js";
import {
  type CallOutcome,
  type Caller,
  type ContractCall,
  ContractRuntime,
  EMPTY_WRITE_SET,
  resolveLimits,
} from "../../runtime/executor.js";
import type { GuestMethod } from "../sandbox/guest.js";
import { guestBundle } from "../sandbox/guest.js";
import { TEST_LIMITS } from "../sandbox/harness.js";
import { KvStore } from "../../runtime/kv/store.js";

const USER: Caller = { id: "user-1", role: "user" };
const MEMBER: Caller = { id: "member-1", role: "member" };
const NODE: Caller = { id: "node-1", role: "node" };
const SEED = new Uint8Array(32).fill(7);

const LIMITS = resolveLimits({
  ...TEST_LIMITS,
  maxArgsBytes: 4096,
  maxResultBytes: 4096,
  maxValueBytes: 2048,
  maxKeyBytes: 64,
  maxEvents: 3,
});

const BANK: Record<string, string | GuestMethod> = {
  deposit: `(args, ctx, host) => {
    const old = JSON.parse(host.kvGet("accounts", args.to) ?? "0");
    host.kvSet("accounts", args.to, JSON.stringify(old + args.amount));
    host.kvSet("public:audit", String(ctx.txid), JSON.stringify({ to: args.to, by: ctx.caller.id }));
    host.emit("deposited", JSON.stringify({ to: args.to, amount: args.amount }));
    return old + args.amount;
  }`,
  balance: {
    mode: "readonly",
    auth: "anyone",
    run: '(args, ctx, host) => JSON.parse(host.kvGet("accounts", args.who) ?? "0")',
  },
  context: { mode: "readonly", auth: "anyone", run: "(args, ctx) => ctx" },
  members: { auth: "members", run: '() => "members only"' },
  users: { auth: "users", run: '() => "users only"' },
  writeInReadonly: {
    mode: "readonly",
    auth: "anyone",
    run: '(a, c, host) => { host.kvSet("accounts", "x", "1"); }',
  },
  readMap: { mode: "readonly", auth: "anyone", run: '(args, c, host) => host.kvGet(args.map, "k") ?? null' },
  writeMap: '(args, c, host) => { host.kvSet(args.map, "k", "1"); return "written"; }',
  writeKey: '(args, c, host) => { host.kvSet("m", args.key, "1"); return "written"; }',
  writeValue: '(args, c, host) => { host.kvSet("m", "k", args.value); return "written"; }',
  writeThenFail:
    '(args, c, host) => { host.kvSet("m", "k", "1"); host.emit("e", "1"); throw { code: "Nope", message: "changed my mind" }; }',
  writeThenLoop: '(args, c, host) => { host.kvSet("m", "k", "1"); for (;;) {} }',
  writeThenThrow: '(args, c, host) => { host.kvSet("m", "k", "1"); throw new TypeError("oops"); }',
  writeThenBomb:
    '(args, c, host) => { host.kvSet("m", "k", "1"); const a = []; for (;;) a.push(new Float64Array(1e5)); }',
  emit: '(args, c, host) => { for (let i = 0; i < args.n; i++) host.emit(args.name ?? "e", args.data ?? "1"); return args.n; }',
  big: '(args) => "x".repeat(args.n)',
  random: "(args, c, host) => args.sizes.map((n) => host.randomBytes(n))",
  sha: "(args, c, host) => host.sha256(args.data, args.isHex)",
  verify: "(args, c, host) => host.verifySignature(args.curve, args.key, args.message, args.signature)",
  range: {
    mode: "readonly",
    auth: "anyone",
    run: '(args, c, host) => JSON.parse(host.kvRange(args.map ?? "list", JSON.stringify(args.options)))',
  },
  writeRead:
    '(args, c, host) => { for (const [k, v] of args.pairs) host.kvSet("m", k, v); return args.pairs.map(([k]) => host.kvGet("m", k) ?? null); }',
  writeScan:
    '(args, c, host) => { for (const [k, v] of args.pairs) host.kvSet("scan", k, v); return JSON.parse(host.kvRange("scan", JSON.stringify({ limit: 100 }))); }',
  setsThenFail:
    '(args, c, host) => { for (const k of args.keys) host.kvSet("gone", k, "1"); throw { code: "Nope", message: "after " + args.keys.length + " sets" }; }',
  setsThenBigKey:
    '(args, c, host) => { host.kvSet("gone", "a", "1"); host.kvSet("gone", "b", "2"); host.kvSet("gone", args.key, "3"); return "unreachable"; }',
  fill: '(args, c, host) => { for (const k of args.keys) host.kvSet("list", k, JSON.stringify(k)); host.kvDelete("list", args.drop); return args.keys.length; }',
};

function request(
  method: string,
  args: unknown = {},
  caller: Caller | null = USER,
  contract = "bank",
): ContractCall {
  return { contract, method, args, caller, txid: "2.17", timeMs: 1_700_000_000_000, seed: SEED };
}

function error(outcome: CallOutcome): string {
  assert.equal(outcome.ok, false, `expected a failure, got ${JSON.stringify(outcome)}`);
  assert.equal(outcome.writeSet, EMPTY_WRITE_SET);
  assert.deepEqual(outcome.events, []);
  return outcome.ok ? "" : outcome.error.code;
}

function result(outcome: CallOutcome): unknown {
  assert.ok(outcome.ok, `expected success, got ${JSON.stringify(outcome)}`);
  return outcome.result;
}

describe("ContractRuntime", () => {
  let runtime: ContractRuntime;
  // The real store, in memory: each successful call's write set is applied as the next version,
  // as the node does; a failed call's transaction is dropped.
  let kv: KvStore;
  const run = (call: ContractCall): CallOutcome => {
    const outcome = runtime.execute(call, kv.begin());
    if (outcome.ok) kv.apply(kv.appliedVersion + 1, outcome.writeSet);
    return outcome;
  };

  before(async () => {
    runtime = await ContractRuntime.create({ limits: LIMITS });
    runtime.load("bank", guestBundle(BANK));
    kv = KvStore.open(null);
  });
  after(async () => {
    runtime.dispose();
    await kv.close();
  });

  describe("loading", () => {
    for (const name of ["gov", "treaty", "Bank", "1bank", "", "b".repeat(65), "a.b", "a:b", "ba nk"]) {
      it(`refuses the contract name ${JSON.stringify(name)}`, async () => {
        await runtime.ready();
        assert.throws(() => runtime.load(name, guestBundle({ ok: '() => "ok"' })), {
          code: "InvalidContract",
        });
      });
    }

    const manifests: [string, unknown][] = [
      ["no methods", { methods: {} }],
      [
        "anyone on a readwrite method",
        { methods: { m: { mode: "readwrite", auth: "anyone", args: { type: "any" } } } },
      ],
      ["an unknown mode", { methods: { m: { mode: "write", auth: "users", args: { type: "any" } } } }],
      [
        "an unknown auth policy",
        { methods: { m: { mode: "readonly", auth: "everyone", args: { type: "any" } } } },
      ],
      [
        "a bad method name",
        { methods: { "bad name": { mode: "readonly", auth: "users", args: { type: "any" } } } },
      ],
      ["a bad shape", { methods: { m: { mode: "readonly", auth: "users", args: { type: "tuple" } } } }],
      ["a stray property", { methods: {}, extra: 1 }],
      ["not an object", [1, 2]],
    ];
    for (const [what, manifest] of manifests) {
      it(`refuses a manifest with ${what}`, async () => {
        await runtime.ready();
        const bundle = guestBundle({ m: '() => "ok"' }, { manifestJson: JSON.stringify(manifest) });
        assert.throws(() => runtime.load("broken", bundle), { code: "InvalidContract" });
      });
    }

    it("refuses a manifest that is not JSON", async () => {
      await runtime.ready();
      assert.throws(() => runtime.load("broken", guestBundle({ m: "() => 1" }, { manifestJson: "{nope" })), {
        code: "InvalidContract",
      });
      assert.equal(runtime.manifest("broken"), undefined);
    });

    it("upgrades in place, and keeps the old version when the new one fails", async () => {
      await runtime.ready();
      runtime.load(
        "versioned",
        guestBundle({ version: { mode: "readonly", auth: "anyone", run: "() => 1" } }),
      );
      await runtime.ready();
      runtime.load(
        "versioned",
        guestBundle({ version: { mode: "readonly", auth: "anyone", run: "() => 2" } }),
      );
      assert.equal(result(run(request("version", {}, null, "versioned"))), 2);
      await runtime.ready();
      assert.throws(() => runtime.load("versioned", "(function () { for (;;) {} })()"), {
        code: "InvalidContract",
      });
      assert.equal(result(run(request("version", {}, null, "versioned"))), 2);
      assert.deepEqual(runtime.contracts(), ["bank", "versioned"]);
      assert.equal(runtime.unload("versioned"), true);
      assert.equal(runtime.unload("versioned"), false);
      assert.equal(error(run(request("version", {}, null, "versioned"))), "UnknownContract");
    });

    it("exposes the checked manifest, frozen", () => {
      const manifest = runtime.manifest("bank")!;
      assert.equal(manifest.methods.balance!.mode, "readonly");
      assert.ok(Object.isFrozen(manifest) && Object.isFrozen(manifest.methods.balance));
    });
  });

  describe("a successful call", () => {
    it("returns the result, the namespaced write set and the events", () => {
      const outcome = run(request("deposit", { to: "alice", amount: 5 }));
      assert.ok(outcome.ok);
      assert.equal(outcome.result, 5);
      assert.deepEqual(
        outcome.writeSet.private.map((w) => [
          w.map,
          w.writes.map(([k, v]) => [utf8.decode(k), v && utf8.decode(v)]),
        ]),
        [["bank.accounts", [["alice", "5"]]]],
      );
      assert.deepEqual(
        outcome.writeSet.public.map((w) => [
          w.map,
          w.writes.map(([k, v]) => [utf8.decode(k), v && utf8.decode(v)]),
        ]),
        [["public:bank.audit", [["2.17", JSON.stringify({ to: "alice", by: "user-1" })]]]],
      );
      assert.deepEqual(outcome.events, [{ name: "deposited", data: { to: "alice", amount: 5 } }]);
      assert.equal(result(run(request("deposit", { to: "alice", amount: 2 }))), 7);
      assert.equal(result(run(request("balance", { who: "alice" }, null))), 7);
    });

    it("hands the contract the caller, txid and time the node decided", () => {
      assert.deepEqual(result(run(request("context", {}, MEMBER))), {
        caller: MEMBER,
        txid: "2.17",
        timeMs: 1_700_000_000_000,
      });
      assert.deepEqual(result(run({ ...request("context", {}, null), txid: null })), {
        caller: null,
        txid: null,
        timeMs: 1_700_000_000_000,
      });
    });
  });

  describe("the checks before invoking", () => {
    it("UnknownContract", () => {
      assert.equal(error(run(request("deposit", {}, USER, "nobody"))), "UnknownContract");
    });

    for (const method of ["nope", "__proto__", "constructor", "toString", "hasOwnProperty", ""]) {
      it(`UnknownMethod for ${JSON.stringify(method)}`, () => {
        assert.equal(error(run(request(method, {}, null))), "UnknownMethod");
      });
    }

    const table: [string, Caller | null, boolean][] = [
      ["deposit", null, false],
      ["deposit", USER, true],
      ["deposit", MEMBER, true],
      ["deposit", NODE, false],
      ["members", USER, false],
      ["members", MEMBER, true],
      ["members", null, false],
      ["users", USER, true],
      ["users", MEMBER, false],
      ["balance", null, true],
      ["balance", NODE, true],
    ];
    for (const [method, caller, allowed] of table) {
      it(`${method} by ${caller?.role ?? "an unsigned caller"}: ${allowed ? "allowed" : "Forbidden"}`, () => {
        const outcome = run(request(method, { to: "bob", amount: 1, who: "bob" }, caller));
        if (allowed) assert.ok(outcome.ok, JSON.stringify(outcome));
        else assert.equal(error(outcome), "Forbidden");
      });
    }

    it("PayloadTooLarge for arguments over the cap, checked after auth", () => {
      const huge = { to: "x".repeat(5000), amount: 1 };
      assert.equal(error(run(request("deposit", huge))), "PayloadTooLarge");
      assert.equal(error(run(request("deposit", huge, null))), "Forbidden");
      assert.equal(error(run(request("nope", huge, null))), "UnknownMethod");
    });

    it("InvalidArgs for arguments that are not JSON data", () => {
      assert.equal(error(run(request("deposit", 10n))), "InvalidArgs");
      assert.equal(error(run({ ...request("deposit"), args: undefined })), "InvalidArgs");
      assert.equal(error(run({ ...request("deposit"), args: () => 1 })), "InvalidArgs");
    });
  });

  describe("a failed call writes nothing", () => {
    for (const [method, code] of [
      ["writeThenFail", "Nope"],
      ["writeThenLoop", "ExecutionLimit"],
      ["writeThenThrow", "ContractFault"],
      ["writeThenBomb", "MemoryLimit"],
    ] as const) {
      it(`${method}: ${code}, then the next call works`, () => {
        const before = kv.appliedVersion;
        assert.equal(error(run(request(method))), code);
        assert.equal(kv.appliedVersion, before);
        assert.equal(result(run(request("balance", { who: "alice" }, null))), 7);
      });
    }

    it("a contract's own error keeps its code and message", () => {
      const outcome = run(request("writeThenFail"));
      assert.deepEqual(outcome.ok ? undefined : outcome.error, { code: "Nope", message: "changed my mind" });
    });
  });

  describe("the host's policy", () => {
    it("ReadonlyViolation for a write in a readonly method", () => {
      assert.equal(error(run(request("writeInReadonly", {}, null))), "ReadonlyViolation");
    });

    for (const map of [
      "other.accounts",
      "public:other.accounts",
      "public:gov.members",
      "public:treaty.nodes",
      "gov.members",
      "",
      "public:",
      "public:public:x",
      "a:b",
      "../x",
      "x".repeat(65),
      "accounts\u0000",
    ]) {
      it(`MapAccessDenied for the map ${JSON.stringify(map)} (read and write)`, () => {
        assert.equal(error(run(request("readMap", { map }, null))), "MapAccessDenied");
        assert.equal(error(run(request("writeMap", { map }))), "MapAccessDenied");
      });
    }

    it("maps are per contract: another contract's same-named map is its own", async () => {
      await runtime.ready();
      runtime.load("other", guestBundle(BANK));
      const outcome = run(request("deposit", { to: "alice", amount: 100 }, USER, "other"));
      assert.ok(outcome.ok);
      assert.deepEqual(
        outcome.writeSet.private.map((w) => w.map),
        ["other.accounts"],
      );
      assert.equal(result(run(request("balance", { who: "alice" }, null))), 7);
      runtime.unload("other");
    });

    it("KeyTooLarge and ValueTooLarge at the caps (UTF-8 bytes)", () => {
      assert.equal(result(run(request("writeKey", { key: "k".repeat(64) }))), "written");
      assert.equal(error(run(request("writeKey", { key: "é".repeat(33) }))), "KeyTooLarge");
      assert.equal(
        result(run(request("writeValue", { value: JSON.stringify("v".repeat(2046)) }))),
        "written",
      );
      assert.equal(
        error(run(request("writeValue", { value: JSON.stringify("v".repeat(2047)) }))),
        "ValueTooLarge",
      );
    });

    it("values must be JSON text, keys valid Unicode", () => {
      assert.equal(error(run(request("writeValue", { value: "{not json" }))), "ContractFault");
      assert.equal(error(run(request("writeKey", { key: "\ud800" }))), "ContractFault");
    });

    it("events: at most maxEvents, named, with JSON data within the value cap", () => {
      const outcome = run(request("emit", { n: 3 }));
      assert.ok(outcome.ok);
      assert.equal(outcome.events.length, 3);
      assert.equal(error(run(request("emit", { n: 4 }))), "PayloadTooLarge");
      for (const name of ["no spaces", "a..b", "a.", ".a", "a.*", "a.>", "*", ">", 7]) {
        assert.equal(error(run(request("emit", { n: 1, name }))), "ContractFault", String(name));
      }
      assert.ok(run(request("emit", { n: 1, name: "order.created" })).ok);
      assert.equal(error(run(request("emit", { n: 1, data: "{nope" }))), "ContractFault");
      assert.equal(
        error(run(request("emit", { n: 1, data: JSON.stringify("d".repeat(3000)) }))),
        "ValueTooLarge",
      );
    });

    it("PayloadTooLarge for a result over the cap", () => {
      assert.equal(result(run(request("big", { n: 4000 }))), "x".repeat(4000));
      assert.equal(error(run(request("big", { n: 5000 }))), "PayloadTooLarge");
    });
  });

  describe("limits", () => {
    it("setLimits applies from the next call", () => {
      assert.equal(result(run(request("big", { n: 4000 }))), "x".repeat(4000));
      runtime.setLimits(resolveLimits({ ...LIMITS, maxResultBytes: 100 }));
      try {
        assert.equal(error(run(request("big", { n: 4000 }))), "PayloadTooLarge");
        assert.equal(runtime.limits.maxResultBytes, 100);
      } finally {
        runtime.setLimits(LIMITS);
      }
      assert.equal(result(run(request("big", { n: 4000 }))), "x".repeat(4000));
    });
  });

  describe("host functions", () => {
    it("randomBytes: a deterministic stream from the seed, fresh for every call", () => {
      const first = result(run(request("random", { sizes: [5, 40, 0, 1024] }))) as string[];
      assert.deepEqual(
        first.map((h) => h.length),
        [10, 80, 0, 2048],
      );
      const again = result(run(request("random", { sizes: [5, 40, 0, 1024] })));
      assert.deepEqual(again, first);
      const whole = createHash("sha256")
        .update(SEED)
        .update(new Uint8Array([0, 0, 0, 0]))
        .digest("hex");
      assert.equal(first[0], whole.slice(0, 10));
      assert.equal(first[1]!.slice(0, 54), whole.slice(10));
      const other = result(
        run({ ...request("random", { sizes: [5] }), seed: new Uint8Array(32).fill(8) }),
      ) as string[];
      assert.notEqual(other[0], first[0]);
      assert.equal(error(run(request("random", { sizes: [1025] }))), "ContractFault");
      assert.equal(error(run(request("random", { sizes: [-1] }))), "ContractFault");
      assert.equal(error(run(request("random", { sizes: [1.5] }))), "ContractFault");
    });

    it("sha256 of text (UTF-8) and of hex, like node:crypto", () => {
      const text = "héllo 🙂";
      assert.equal(
        result(run(request("sha", { data: text, isHex: false }))),
        createHash("sha256").update(text, "utf8").digest("hex"),
      );
      assert.equal(
        result(run(request("sha", { data: "00ff10", isHex: true }))),
        createHash("sha256").update(Buffer.from("00ff10", "hex")).digest("hex"),
      );
      assert.equal(error(run(request("sha", { data: "xyz", isHex: true }))), "ContractFault");
    });

    it("verifySignature: true for a valid signature, false (never a throw) for anything else", () => {
      const key = generateKeyPair("ed25519");
      const message = utf8.encode("pay bob 5");
      const signature = sign(key, message);
      const args = {
        curve: "ed25519",
        key: toHex(key.publicKey),
        message: toHex(message),
        signature: toHex(signature),
      };
      assert.equal(result(run(request("verify", args))), true);
      const tampered = toHex(Uint8Array.from(signature, (b, i) => (i === 0 ? b ^ 1 : b)));
      assert.equal(result(run(request("verify", { ...args, signature: tampered }))), false);
      assert.equal(result(run(request("verify", { ...args, curve: "rsa" }))), false);
      assert.equal(result(run(request("verify", { ...args, key: "zz" }))), false);
      assert.equal(result(run(request("verify", { ...args, signature: "" }))), false);
    });

    it("kvRange: bytewise order, bounds, reverse, limit, own writes merged", () => {
      assert.equal(result(run(request("fill", { keys: ["b", "a", "d", "c", "e"], drop: "e" }))), 5);
      const keys = (options: unknown) =>
        (result(run(request("range", { options }, null))) as [string, string][]).map(([k]) => k);
      assert.deepEqual(keys({ limit: 10 }), ["a", "b", "c", "d"]);
      assert.deepEqual(keys({ limit: 2 }), ["a", "b"]);
      assert.deepEqual(keys({ from: "b", to: "d", limit: 10 }), ["b", "c"]);
      assert.deepEqual(keys({ reverse: true, limit: 3 }), ["d", "c", "b"]);
      assert.deepEqual(keys({ limit: 0 }), []);
      const page = result(run(request("range", { options: { limit: 1 } }, null)));
      assert.deepEqual(page, [["a", '"a"']]);
      for (const options of [
        {},
        { limit: 1001 },
        { limit: -1 },
        { limit: 1, extra: 1 },
        { limit: 1, from: 5 },
        { limit: 1, reverse: "yes" },
      ]) {
        assert.equal(
          error(run(request("range", { options }, null))),
          "ContractFault",
          JSON.stringify(options),
        );
      }
    });

    it("a call reads its own writes and scans them, ASCII or not, stored as the strings' UTF-8", () => {
      const pairs = [
        ["plain", '"ascii value"'],
        ["caf\u00e9", '"cr\u00e8me br\u00fbl\u00e9e"'],
        ["\ud83d\ude00", '"\ud83d\ude80"'],
        ["ctl\u0001\u007f", '{"a":[1,2,{"b":null}]}'],
        ["plain", '"overwritten"'],
      ];
      const outcome = run(request("writeRead", { pairs }));
      assert.deepEqual(result(outcome), [
        '"overwritten"',
        '"cr\u00e8me br\u00fbl\u00e9e"',
        '"\ud83d\ude80"',
        '{"a":[1,2,{"b":null}]}',
        '"overwritten"',
      ]);
      assert.ok(outcome.ok);
      const stored = outcome.writeSet.private.find(({ map }) => map === "bank.m")!.writes;
      const expected = new Map(pairs.map(([k, v]) => [k!, v!]));
      assert.equal(stored.length, expected.size);
      for (const [key, value] of stored) {
        const text = utf8.decode(key);
        assert.ok(expected.has(text), text);
        assert.deepEqual(key, utf8.encode(text));
        assert.deepEqual(value, utf8.encode(expected.get(text)!));
      }
      const scanned = result(
        run(
          request("writeScan", {
            pairs: [
              ["b", "2"],
              ["a", "1"],
              ["\u00e9", "3"],
            ],
          }),
        ),
      );
      assert.deepEqual(scanned, [
        ["a", "1"],
        ["b", "2"],
        ["\u00e9", "3"],
      ]);
    });

    it("a failure after several sets discards all of them", () => {
      assert.equal(error(run(request("setsThenFail", { keys: ["a", "b", "c"] }))), "Nope");
      assert.equal(error(run(request("setsThenBigKey", { key: "k".repeat(65) }))), "KeyTooLarge");
      assert.deepEqual(result(run(request("range", { map: "gone", options: { limit: 10 } }, null))), []);
    });
  });
});
