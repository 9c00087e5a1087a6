import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadBundle, testContract, user } from "../../contracts/testing/index.js";
import {
  type CompileResult,
  ContractCompiler,
  compileContract,
  type Diagnostic,
  findPackageRoot,
  formatDiagnostic,
  MAX_MANIFEST_BYTES,
  parseManifest,
  parseManifestJson,
} from "../../runtime/compiler/index.js";
import { isTreatyError } from "../../sdk/errors.js";
import { sandboxManifest } from "../support/manifest.js";

const root = findPackageRoot();
const compiler = new ContractCompiler();

/** Plain-object copy (manifests are null-prototype objects) for deepEqual. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

const HEADER = 'import { contract, method, t } from "treaty/contract";\n';
const TRIVIAL = `${HEADER}export default contract({ ping: method({ mode: "readonly", auth: "anyone", run: () => "pong" }) });\n`;

function diagnostics(result: CompileResult): readonly Diagnostic[] {
  if (result.ok) assert.fail("expected diagnostics, the contract compiled");
  for (const d of result.diagnostics) {
    assert.ok(!d.message.includes("__treaty_contract__"), `virtual root leaked: ${d.message}`);
    assert.ok(!d.message.includes(root), `package path leaked: ${d.message}`);
  }
  return result.diagnostics;
}

function bundleOf(result: CompileResult): string {
  if (!result.ok) assert.fail(result.diagnostics.map(formatDiagnostic).join("\n"));
  return result.bundle;
}

function compileIndex(source: string): CompileResult {
  return compiler.compile({ files: { "index.ts": source } });
}

describe("compileContract", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "treaty-compiler-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("compiles the samples to bundles whose digest is the SHA-256 of their bytes", async () => {
    for (const name of ["log", "bank", "meter"]) {
      const result = compileContract(join(root, "contracts", "examples", name));
      const bundle = bundleOf(result);
      assert.equal(result.ok && result.digest, createHash("sha256").update(bundle, "utf8").digest("hex"));
      assert.ok(Object.keys((await sandboxManifest(bundle)).methods).length > 0);
    }
  });

  it("is deterministic: same source, same bytes, across compilers and source forms", () => {
    const files = {
      "index.ts": `${HEADER}import { twice } from "./lib/math.js";\nexport default contract({ go: method({ mode: "readonly", auth: "anyone", args: { n: t.integer() }, run: ({ n }) => twice(n) }) });\n`,
      "lib/math.ts": "export const twice = (n: number): number => n * 2;\n",
    };
    const first = compiler.compile({ files });
    const again = compiler.compile({ files });
    const other = new ContractCompiler().compile({
      files: { "lib/math.ts": files["lib/math.ts"], "index.ts": files["index.ts"] },
    });
    mkdirSync(join(dir, "det", "lib"), { recursive: true });
    writeFileSync(join(dir, "det", "index.ts"), files["index.ts"]);
    writeFileSync(join(dir, "det", "lib", "math.ts"), files["lib/math.ts"]);
    const fromFolder = compiler.compile(join(dir, "det"));
    const digest = first.ok && first.digest;
    assert.ok(digest);
    for (const result of [again, other, fromFolder]) assert.equal(result.ok && result.digest, digest);
    const bundle = bundleOf(first);
    assert.ok(!bundle.includes(root) && !bundle.includes(dir) && !bundle.includes("__treaty_contract__"));
    assert.notEqual(bundleOf(compileIndex(TRIVIAL.replace("pong", "pang"))), bundleOf(compileIndex(TRIVIAL)));
  });

  it("reports type errors at file:line:col", () => {
    const result = compileIndex(
      `${HEADER}const count: number = "three";\nexport default contract({ ping: method({ mode: "readonly", auth: "anyone", run: () => count }) });\n`,
    );
    const [d] = diagnostics(result);
    assert.deepEqual(
      { ...d, message: "" },
      { file: "index.ts", line: 2, column: 7, code: "TS2322", message: "" },
    );
    assert.equal(formatDiagnostic(d!), "index.ts:2:7 Type 'string' is not assignable to type 'number'.");
  });

  it("reports syntax errors (and only them) with their position", () => {
    // broken.ts is not imported: files unreachable from index.ts are not compiled.
    bundleOf(
      compiler.compile({
        files: { "index.ts": TRIVIAL, "broken.ts": "export const x = ;\nconst y: number = 'no';\n" },
      }),
    );
    const reachable = compiler.compile({
      files: {
        "index.ts": `import "./broken.js";\n${TRIVIAL}`,
        "broken.ts": "export const x = ;\nconst y: number = 'no';\n",
      },
    });
    const [syntax, ...rest] = diagnostics(reachable);
    assert.equal(rest.length, 0);
    assert.equal(syntax!.file, "broken.ts");
    assert.equal(syntax!.line, 1);
    assert.equal(syntax!.column, 18);
    assert.equal(syntax!.code, "TS1109");
  });

  it("checks strictly, with ES2022 only: no DOM, no Node, no implicit any", () => {
    const document = diagnostics(
      compileIndex(`${HEADER}export const x = () => document;\n${TRIVIAL.slice(HEADER.length)}`),
    );
    assert.match(document[0]!.code, /^TS2(304|584)$/);
    assert.match(document[0]!.message, /Cannot find name 'document'/);
    // Names a Node or browser author reaches for get Treaty's message instead (checks.test.ts).
    for (const name of ["process", "Buffer", "setTimeout", "TextEncoder", "console", "fetch"]) {
      const result = compileIndex(
        `${HEADER}export const x = () => ${name};\n${TRIVIAL.slice(HEADER.length)}`,
      );
      const list = diagnostics(result);
      assert.equal(list.length, 1, name);
      assert.equal(list[0]!.code, "ForbiddenGlobal", name);
      assert.match(list[0]!.message, new RegExp(`^${name} is (not available in contracts|a Node.js global)`));
    }
    const implicitAny = compileIndex(
      `${HEADER}export function f(x) { return x; }\n${TRIVIAL.slice(HEADER.length)}`,
    );
    assert.equal(diagnostics(implicitAny)[0]!.code, "TS7006");
  });

  it("allows only treaty/contract and the contract's own files", () => {
    const cases: Array<[string, RegExp]> = [
      [
        'import { readFileSync } from "node:fs";',
        /import "node:fs" is not allowed: contracts may import only "treaty\/contract" and their own files/,
      ],
      ['import fs from "fs";', /import "fs" is not allowed/],
      ['import { x } from "lodash";', /import "lodash" is not allowed/],
      ['import { x } from "treaty/sdk";', /import "treaty\/sdk" is not allowed/],
      ['import { x } from "../outside.js";', /import "..\/outside.js": no such file in the contract folder/],
      ['import { x } from "./missing.js";', /import ".\/missing.js": no such file/],
      ['import { twice } from "./util.ts";', /write the .js extension/],
      ['export { x } from "node:os";', /import "node:os" is not allowed/],
      ['type S = import("node:fs").Stats;', /import "node:fs" is not allowed/],
      ['export const load = () => import("./util.js");', /dynamic import\(\) is not supported/],
      ['import fs = require("fs");', /import = require\(...\) is not supported/],
      ['/// <reference types="node" />', /triple-slash reference directives are not allowed/],
      ['/// <reference lib="dom" />', /triple-slash reference directives are not allowed/],
      ['declare module "evil" { export const x: number; }', /declare module "..." is not allowed/],
    ];
    for (const [line, message] of cases) {
      const result = compiler.compile({
        files: {
          "index.ts": `${line}\n${TRIVIAL}`,
          "util.ts": "export const twice = (n: number): number => n * 2;\n",
        },
      });
      const list = diagnostics(result);
      const found = list.find((d) => d.code === "ForbiddenImport");
      assert.ok(found, `${line}: ${list.map(formatDiagnostic).join("; ")}`);
      assert.match(found.message, message);
      assert.equal(found.file, "index.ts");
      assert.equal(found.line, 1);
      assert.ok(
        !list.some((d) => d.code === "TS2307"),
        "TypeScript's own unresolved-module errors are replaced",
      );
    }
    const exportEquals = compileIndex("const x = 1;\nexport = x;\n");
    assert.ok(
      diagnostics(exportEquals).some(
        (d) => d.code === "ForbiddenImport" && /export = is not supported/.test(d.message),
      ),
    );
  });

  it("refuses BigInt literals: BigInt operators cannot be metered", () => {
    const result = compileIndex(`const big = 10n ** 3n;\nexport const x = String(big);\n${TRIVIAL}`);
    const found = diagnostics(result).filter((d) => d.code === "BigIntNotSupported");
    assert.deepEqual(
      found.map((d) => [d.line, d.column]),
      [
        [1, 13],
        [1, 20],
      ],
    );
    assert.ok(compileIndex(`export const x = "10n";\n${TRIVIAL}`).ok, "a string is not a literal");
  });

  it("requires index.ts with a contract as its default export", () => {
    assert.deepEqual(diagnostics(compiler.compile({ files: { "main.ts": TRIVIAL } })), [
      { file: "index.ts", line: 1, column: 1, code: "MissingEntry", message: "a contract needs an index.ts" },
    ]);
    const noDefault = diagnostics(compileIndex(`${HEADER}export const c = 1;\n`));
    assert.equal(noDefault[0]!.code, "MissingDefaultExport");
    const wrongDefault = diagnostics(compileIndex(`${HEADER}\nexport default { describe: 1 };\n`));
    assert.deepEqual(
      { ...wrongDefault[0]!, message: "" },
      { file: "index.ts", line: 3, column: 1, code: "MissingDefaultExport", message: "" },
    );
    assert.equal(
      wrongDefault[0]!.message,
      'index.ts must export default contract({...}) from "treaty/contract"',
    );
  });

  it("bundles a multi-module folder; type-only modules are left out", () => {
    const folder = join(dir, "multi");
    mkdirSync(join(folder, "lib"), { recursive: true });
    writeFileSync(join(folder, "types.ts"), "export interface Point { x: number; y: number }\n");
    writeFileSync(
      join(folder, "lib", "index.ts"),
      'export { norm } from "./norm.js";\nexport const ORIGIN = { x: 0, y: 0 };\n',
    );
    writeFileSync(
      join(folder, "lib", "norm.ts"),
      'import type { Point } from "../types.js";\nexport const norm = (p: Point): number => Math.abs(p.x) + Math.abs(p.y);\n',
    );
    writeFileSync(join(folder, "notes.md"), "not a module\n");
    writeFileSync(
      join(folder, "index.ts"),
      `${HEADER}import { norm, ORIGIN } from "./lib";\nimport type { Point } from "./types.js";\nconst far: Point = { x: 3, y: -4 };\nexport default contract({ distance: method({ mode: "readonly", auth: "anyone", run: () => norm(far) - norm(ORIGIN) }) });\n`,
    );
    const bundle = bundleOf(compiler.compile(folder));
    const paths = [...bundle.matchAll(/^modules\["([^"]+)"\]/gm)].map((m) => m[1]);
    assert.deepEqual(
      paths.filter((p) => !p!.startsWith("treaty:")),
      ["index.ts", "lib/index.ts", "lib/norm.ts"],
    );
    assert.ok(paths.includes("treaty:contract/index.ts"));
    const c = testContract(loadBundle(bundle), { name: "multi" });
    const r = c.call("distance", {}, { caller: user("u") });
    assert.equal(r.ok && r.result, 7);
  });

  it("caps the source size and file count, and refuses bad paths", () => {
    const small = new ContractCompiler({ limits: { maxSourceBytes: 2000, maxFiles: 3 } });
    const big = diagnostics(small.compile({ files: { "index.ts": `${TRIVIAL}// ${"x".repeat(3000)}\n` } }));
    assert.deepEqual(
      big.map((d) => d.code),
      ["SourceTooLarge"],
    );
    assert.match(big[0]!.message, /contract source is \d+ bytes; the limit is 2000/);
    const many = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`f${i}.ts`, "export {};\n"]));
    assert.match(
      diagnostics(small.compile({ files: { ...many, "index.ts": TRIVIAL } }))[0]!.message,
      /5 files; the limit is 3/,
    );
    const folder = join(dir, "big");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "index.ts"), `import "./huge.js";\n${TRIVIAL}`);
    writeFileSync(join(folder, "huge.ts"), `export const s = "${"y".repeat(5000)}";\n`);
    assert.deepEqual(
      diagnostics(small.compile(folder)).map((d) => [d.file, d.code]),
      [["huge.ts", "SourceTooLarge"]],
    );
    const defaultCap = diagnostics(
      compiler.compile({ files: { "index.ts": `${TRIVIAL}// ${"z".repeat(1024 * 1024)}\n` } }),
    );
    assert.match(defaultCap[0]!.message, /the limit is 1048576/);
    for (const path of ["../x.ts", "/abs.ts", "a/./b.ts", "a//b.ts", "x.js", "sp ace.ts", ".hidden.ts"]) {
      const list = diagnostics(compiler.compile({ files: { "index.ts": TRIVIAL, [path]: "export {};" } }));
      assert.deepEqual(
        list.map((d) => [d.file, d.code]),
        [[path, "InvalidPath"]],
        path,
      );
    }
  });

  it("refuses missing folders and links that leave the folder", () => {
    assert.equal(diagnostics(compiler.compile(join(dir, "nope")))[0]!.code, "UnreadableSource");
    const folder = join(dir, "linked");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(dir, "secret.ts"), "export const secret = 1;\n");
    symlinkSync(join(dir, "secret.ts"), join(folder, "secret.ts"));
    writeFileSync(
      join(folder, "index.ts"),
      `import { secret } from "./secret.js";\n${HEADER}export default contract({ s: method({ mode: "readonly", auth: "anyone", run: () => secret }) });\n`,
    );
    const list = diagnostics(compiler.compile(folder));
    assert.ok(
      list.some(
        (d) =>
          d.file === "secret.ts" && d.code === "InvalidPath" && /outside the contract folder/.test(d.message),
      ),
    );
  });

  it("reports source nested too deeply for TypeScript, and compiles normally afterwards", () => {
    const before = compileIndex(TRIVIAL);
    const deep = [
      `export const x = ${"(".repeat(50_000)}1${")".repeat(50_000)};`,
      `export type T = ${"Array<".repeat(20_000)}string${">".repeat(20_000)};`,
    ];
    for (const line of deep) {
      assert.deepEqual(
        diagnostics(compileIndex(`${TRIVIAL}${line}\n`)).map((d) => d.code),
        ["SourceTooComplex"],
      );
    }
    const after = compileIndex(TRIVIAL);
    assert.equal(after.ok && after.digest, before.ok && before.digest);
  });

  it("finds the package root from a module URL, or says it cannot", () => {
    assert.equal(findPackageRoot(new URL("../../runtime/compiler/index.js", import.meta.url).href), root);
    assert.throws(
      () => findPackageRoot("file:///nonexistent/dir/x.js"),
      (err: unknown) => isTreatyError(err, "Internal"),
    );
  });
});

describe("manifests", () => {
  it("reads a bundle's manifest in the sandbox", async () => {
    const bundle = bundleOf(
      compileIndex(
        `${HEADER}export default contract({ add: method({ mode: "readwrite", auth: "users", args: { n: t.integer() }, description: "Adds.", run: ({ n }) => n }) });\n`,
      ),
    );
    assert.deepEqual(plain(await sandboxManifest(bundle)), {
      methods: {
        add: {
          mode: "readwrite",
          auth: "users",
          args: { type: "object", properties: { n: { type: "number", integer: true } } },
          description: "Adds.",
        },
      },
    });
  });

  it("refuses bundles that do not describe themselves", async () => {
    const invalid = async (bundle: string, pattern: RegExp) =>
      assert.rejects(
        () => sandboxManifest(bundle),
        (err: unknown) => isTreatyError(err, "InvalidContract") && pattern.test((err as Error).message),
      );
    await invalid("function (", /^bundle: /);
    await invalid("42", /must evaluate to a factory function/);
    await invalid(
      '(function () { return function () { return { describe: function () { return "{"; }, invoke: function () {} }; }; })()',
      /describe\(\) did not return JSON/,
    );
    await invalid("(function () { return function () { for (;;) {} }; })()", /ExecutionLimit/);
    const broken = bundleOf(
      compileIndex(
        `${HEADER}export default contract({ "bad-name": method({ mode: "readonly", auth: "anyone", run: () => 1 }) });\n`,
      ),
    );
    await invalid(broken, /method name "bad-name" must match/);
    const badEvent = bundleOf(
      compileIndex(
        `import { contract, event, method, t } from "treaty/contract";\nexport default contract({ ping: method({ mode: "readonly", auth: "anyone", run: () => 1 }) }, { events: { "a..b": event({ data: t.string(), public: true }) } });\n`,
      ),
    );
    await invalid(badEvent, /event name "a\.\.b" is invalid/);
  });

  it("checks manifest structure, naming the field", () => {
    const ok = {
      methods: { m: { mode: "readonly", auth: "anyone", args: { type: "object", properties: {} } } },
    };
    assert.deepEqual(plain(parseManifest(ok)), ok);
    const typed = { methods: { m: { ...ok.methods.m, returns: { type: "string" } } } };
    assert.deepEqual(plain(parseManifest(typed)), typed);
    const cases: Array<[unknown, RegExp]> = [
      [null, /^manifest: expected an object$/],
      [{ methods: {}, extra: 1 }, /^manifest\.extra: unexpected property$/],
      [{ methods: [] }, /^manifest\.methods: expected an object$/],
      [{ methods: {} }, /at least one method/],
      [{ methods: { "a b": ok.methods.m } }, /methods\["a b"\]: method name "a b" must match/],
      ...["a..b", "a.", ".a", "a.*", "a.>", "a b"].map((name): [unknown, RegExp] => [
        { ...ok, events: { [name]: { data: { type: "any" }, public: true } } },
        /^manifest\.events\[".*"\]: event name ".*" is invalid \(at most 64 characters/,
      ]),
      [
        { methods: { m: { ...ok.methods.m, mode: "write" } } },
        /methods\["m"\]\.mode: expected "readonly" or "readwrite"/,
      ],
      [
        { methods: { m: { ...ok.methods.m, auth: "all" } } },
        /\.auth: expected one of anyone, users, members, users_and_members/,
      ],
      [
        { methods: { m: { ...ok.methods.m, mode: "readwrite" } } },
        /\.auth: "anyone" is allowed for readonly methods only/,
      ],
      [{ methods: { m: { ...ok.methods.m, description: 5 } } }, /\.description: expected a string/],
      [{ methods: { m: { ...ok.methods.m, extra: true } } }, /methods\["m"\]\.extra: unexpected property/],
      [
        { methods: { m: { ...ok.methods.m, returns: { type: "date" } } } },
        /methods\["m"\]\.returns\.type: unknown shape type "date"/,
      ],
      [
        { methods: { m: { ...ok.methods.m, args: { type: "date" } } } },
        /methods\["m"\]\.args\.type: unknown shape type "date"/,
      ],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(
        () => parseManifest(value),
        (err: unknown) => isTreatyError(err, "InvalidContract") && pattern.test((err as Error).message),
        String(pattern),
      );
    }
  });

  describe("hard bounds on what describe() returns", () => {
    const entry = { mode: "readonly", auth: "anyone", args: { type: "object", properties: {} } };
    const manifestOf = (count: number, make = (i: number) => `m${i}`) =>
      JSON.stringify({
        methods: Object.fromEntries(Array.from({ length: count }, (_, i) => [make(i), entry])),
      });
    const refused = (text: string, pattern: RegExp) =>
      assert.throws(
        () => parseManifestJson(text),
        (err: unknown) => isTreatyError(err, "InvalidContract") && pattern.test((err as Error).message),
        String(pattern),
      );

    it("at most 256 methods (contract()'s cap), so 12,000 are refused", () => {
      assert.equal(Object.keys(parseManifestJson(manifestOf(256)).methods).length, 256);
      refused(manifestOf(257), /^manifest\.methods: 257 methods, at most 256 are allowed$/);
      refused(manifestOf(12_000), /12000 methods, at most 256/);
    });

    it("names: identifiers of at most 64 characters, never a property of Object.prototype", () => {
      assert.ok(parseManifestJson(manifestOf(1, () => "a".repeat(64))));
      refused(
        manifestOf(1, () => "a".repeat(65)),
        /must match/,
      );
      refused(
        manifestOf(1, () => "é"),
        /must match/,
      );
      for (const name of [
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "valueOf",
        "__defineGetter__",
      ]) {
        // JSON.parse keeps "__proto__" as an own key: the host must see it and refuse it.
        refused(
          manifestOf(1, () => name),
          new RegExp(`method name "${name}" is reserved`),
        );
      }
    });

    it("descriptions of at most 1024 characters", () => {
      const described = (description: string) =>
        JSON.stringify({ methods: { m: { ...entry, description } } });
      assert.equal(parseManifestJson(described("d".repeat(1024))).methods.m?.description?.length, 1024);
      refused(described("d".repeat(1025)), /methods\["m"\]\.description: longer than 1024 characters/);
    });

    it("shapes at most 32 levels deep", () => {
      // Built as text: JSON.stringify itself cannot nest 5,000 levels.
      const nested = (levels: number) =>
        `{"methods":{"m":{"mode":"readonly","auth":"anyone","args":${'{"type":"array","items":'.repeat(levels)}{"type":"null"}${"}".repeat(levels)}}}}`;
      assert.ok(parseManifestJson(nested(32)));
      refused(nested(33), /nested deeper than 32 levels/);
      // Far deeper than any walk could follow: refused by the depth bound, not a stack overflow.
      refused(nested(5_000), /nested deeper than 32 levels/);
    });

    it(`at most ${MAX_MANIFEST_BYTES} bytes in all, counted in UTF-8`, () => {
      const sized = (description: string) => JSON.stringify({ methods: { m: { ...entry, description } } });
      refused(`${" ".repeat(MAX_MANIFEST_BYTES)}{}`, /larger than 1048576 bytes/);
      // Fewer characters than the cap, more bytes: 400k three-byte characters.
      refused(sized("€".repeat(400_000)), /larger than 1048576 bytes/);
    });

    it("comes back as null-prototype objects holding only the checked fields", () => {
      const manifest = parseManifestJson(
        '{"methods":{"m":{"mode":"readonly","auth":"anyone","args":{"type":"object","properties":{"__proto__":{"type":"null"}}}}}}',
      );
      assert.equal(Object.getPrototypeOf(manifest), null);
      assert.equal(Object.getPrototypeOf(manifest.methods), null);
      assert.equal(Object.getPrototypeOf(manifest.methods.m), null);
      const args = manifest.methods.m!.args as { properties: Record<string, unknown> };
      assert.equal(Object.getPrototypeOf(args.properties), null);
      assert.deepEqual(Object.keys(args.properties), ["__proto__"]);
    });
  });
});
