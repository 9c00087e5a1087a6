/**
 * The compiler's checks for what the sandbox would refuse only at run time (checks.ts): one
 * test per mistake, each asserting the code, the position and that the message names the fix,
 * and that TypeScript's own less helpful diagnostic at the same place is gone.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type CompileResult,
  ContractCompiler,
  type Diagnostic,
  formatDiagnostic,
} from "../../runtime/compiler/index.js";

const compiler = new ContractCompiler();
const HEADER = 'import { ContractError, contract, map, method, now, randomInt, t } from "treaty/contract";\n';

/** A contract whose method `m` runs `body` (an expression), with `top` before it. */
function withMethod(body: string, top = "", spec = 'mode: "readonly", auth: "users"'): string {
  return `${HEADER}${top}\nexport default contract({ m: method({ ${spec}, run: () => ${body} }) });\n`;
}

function compile(source: string): CompileResult {
  return compiler.compile({ files: { "index.ts": source } });
}

/** The only diagnostic of `source`, which must have `code`. */
function only(source: string, code: string): Diagnostic {
  const result = compile(source);
  if (result.ok) assert.fail(`expected ${code}, the contract compiled`);
  assert.deepEqual(
    result.diagnostics.map((d) => d.code),
    [code],
    result.diagnostics.map(formatDiagnostic).join("\n"),
  );
  return result.diagnostics[0]!;
}

function compiles(source: string): void {
  const result = compile(source);
  if (!result.ok) assert.fail(result.diagnostics.map(formatDiagnostic).join("\n"));
}

describe("compile-time sandbox checks", () => {
  it("Date: ForbiddenGlobal naming now()", () => {
    const d = only(withMethod("Date.now()"), "ForbiddenGlobal");
    assert.equal(d.line, 3);
    assert.equal(d.column, 83); // at `Date`
    assert.match(d.message, /^Date is not available in contracts .*use now\(\) from "treaty\/contract"/);
    assert.equal(only(withMethod("new Date(0).getTime()"), "ForbiddenGlobal").message, d.message);
    // Type positions run nothing, a local named Date is not the global, and now() is the fix.
    compiles(withMethod("(0 as unknown as Date | null) === null"));
    compiles(withMethod("Date.now()", "const Date = { now: () => now() };"));
    compiles(withMethod("now()"));
  });

  it("Math.random: ForbiddenGlobal naming randomInt/randomBytes", () => {
    const d = only(withMethod("Math.random()"), "ForbiddenGlobal");
    assert.match(d.message, /^Math\.random is not available .*use randomInt\(max\), randomBytes\(n\)/);
    compiles(withMethod("Math.floor(randomInt(6))"));
  });

  it("timers, console and Node globals: ForbiddenGlobal instead of TypeScript's @types/node hint", () => {
    const timer = only(withMethod("setTimeout(() => 1, 10)"), "ForbiddenGlobal");
    assert.match(timer.message, /^setTimeout is not available in contracts \(there are no timers\)/);
    const log = only(withMethod("console.log(1)"), "ForbiddenGlobal");
    assert.match(log.message, /return the data from the method, or emit\(name, data\)/);
    const proc = only(withMethod("process.env"), "ForbiddenGlobal");
    assert.match(proc.message, /^process is a Node\.js global/);
    assert.ok(!proc.message.includes("@types/node"));
  });

  it("eval and the Function constructor: ForbiddenGlobal", () => {
    assert.match(
      only(withMethod('eval("1")'), "ForbiddenGlobal").message,
      /^eval is not available.*write the code itself/,
    );
    assert.match(
      only(withMethod('new Function("return 1")()'), "ForbiddenGlobal").message,
      /Function constructor is disabled/,
    );
    // `instanceof Function` works in the sandbox.
    compiles(withMethod("(() => 1) instanceof Function"));
  });

  it("WeakRef: ForbiddenGlobal", () => {
    const d = only(withMethod("new WeakRef({}).deref() !== undefined"), "ForbiddenGlobal");
    assert.match(d.message, /^WeakRef is not available in contracts .*keep a plain reference/);
  });

  it("an async run: AsyncMethod at run", () => {
    const d = only(
      withMethod("1", "", 'mode: "readwrite", auth: "users"').replace("run: () =>", "run: async () =>"),
      "AsyncMethod",
    );
    assert.equal(d.column, 73); // at `run`
    assert.match(d.message, /^run must be synchronous: .*remove async\/await/);
    // A method body returning a Promise is the same mistake.
    only(withMethod('Promise.resolve("later")'), "AsyncMethod");
    const shorthand = `${HEADER}export default contract({ m: method({ mode: "readonly", auth: "users", async run() { return 1; } }) });\n`;
    only(shorthand, "AsyncMethod");
  });

  it("a reserved ContractError code: ReservedErrorCode naming an alternative", () => {
    const source = withMethod('{ throw new ContractError("Unavailable", "down"); }');
    const d = only(source, "ReservedErrorCode");
    assert.equal(d.column, 109); // at the code literal
    assert.match(
      d.message,
      /^ContractError code "Unavailable" is reserved by Treaty.*e\.g\. "UnavailableError"/,
    );
    const invalid = only(withMethod('{ throw new ContractError("not-found", "x"); }'), "InvalidErrorCode");
    assert.match(invalid.message, /must match|codes match .*e\.g\. "NotFound"/);
    compiles(withMethod('{ throw new ContractError("ServiceDown", "down"); }'));
  });

  it('import "node:fs": ForbiddenImport, without TypeScript\'s @types/node hint', () => {
    for (const line of ['import "node:fs";', 'import { readFileSync } from "node:fs";']) {
      const d = only(`${line}\n${withMethod("1")}`, "ForbiddenImport");
      assert.equal(d.line, 1);
      assert.match(
        d.message,
        /^import "node:fs" is not allowed: contracts may import only "treaty\/contract" and their own files/,
      );
    }
  });

  it('a number-keyed map without { key: "number" }: NumberKeyOption with the fix', () => {
    const d = only(
      withMethod("feed.get(1) ?? null", 'const feed = map<number, string>("feed");'),
      "NumberKeyOption",
    );
    assert.equal(d.line, 2);
    assert.equal(d.column, 14);
    assert.match(
      d.message,
      /^a map with number keys needs \{ key: "number" \} .*map<number, V>\("feed", \{ key: "number" \}\)/,
    );
    only(withMethod("1", 'const feed = map<number, string>("feed", { public: true });'), "NumberKeyOption");
    compiles(withMethod("1", 'const feed = map<number, string>("feed", { key: "number", public: true });'));
    const tuple = only(
      withMethod("1", 'const moves = map<[string, number], string>("moves");'),
      "NumberKeyOption",
    );
    assert.match(tuple.message, /map<\[string, number\], V>\("moves", \{ key: \["string", "number"\] \}\)/);
    compiles(
      withMethod("1", 'const moves = map<[string, number], string>("moves", { key: ["string", "number"] });'),
    );
  });

  it('auth "anyone" on a readwrite method: AnyoneReadwrite naming the policies to use', () => {
    const d = only(
      withMethod("1", "", 'mode: "readwrite", auth: "anyone", args: { x: t.string() }'),
      "AnyoneReadwrite",
    );
    assert.equal(d.column, 58);
    assert.match(d.message, /readonly methods only: use auth "users", "members" or "users_and_members"/);
    assert.ok(!d.message.includes("MethodSpec"), "no type dump");
  });
});
