/**
 * Shared set-up for sandbox tests: small limits (so limit hits are fast), one engine, a
 * GuestHost over an in-memory map that records what it was asked, and a `call` helper.
 */
import type { GuestHost } from "../../runtime/sandbox/abi.js";
import { QuickJsEngine } from "../../runtime/sandbox/engine.js";
import { resolveLimits, type SandboxLimits } from "../../runtime/sandbox/limits.js";
import { ContractSandbox } from "../../runtime/sandbox/sandbox.js";

/** Limits small enough that every limit is hit in well under a second. */
export const TEST_LIMITS: SandboxLimits = resolveLimits({
  heapBytes: 24 * 1024 * 1024,
  stackBytes: 64 * 1024,
  executionBudget: 300_000,
  wallClockMs: 30_000,
});

let engine: Promise<QuickJsEngine> | undefined;

/** One engine per test process. */
export function testEngine(): Promise<QuickJsEngine> {
  engine ??= QuickJsEngine.create({ spareInstances: 2 });
  return engine;
}

/** A sandbox for `bundle` under `limits` (a function, so tests can change limits later). */
export async function sandboxFor(
  bundle: string,
  limits: () => SandboxLimits = () => TEST_LIMITS,
  clock?: () => number,
): Promise<ContractSandbox> {
  const eng = await testEngine();
  await eng.ready(limits().heapBytes);
  return ContractSandbox.create(bundle, {
    engine: eng,
    limits,
    name: "test",
    ...(clock === undefined ? {} : { clock }),
  });
}

/** A GuestHost over a Map, recording writes; hooks let a test make it refuse or crash. */
export class MapHost implements GuestHost {
  readonly data = new Map<string, string>();
  readonly writes: string[] = [];
  readonly events: { name: string; dataJson: string }[] = [];
  onSet: ((map: string, key: string) => void) | undefined;

  kvGet(map: string, key: string): string | undefined {
    return this.data.get(`${map}/${key}`);
  }
  kvHas(map: string, key: string): boolean {
    return this.data.has(`${map}/${key}`);
  }
  kvSet(map: string, key: string, value: string): void {
    this.onSet?.(map, key);
    this.writes.push(`${map}/${key}`);
    this.data.set(`${map}/${key}`, value);
  }
  kvDelete(map: string, key: string): void {
    this.writes.push(`-${map}/${key}`);
    this.data.delete(`${map}/${key}`);
  }
  kvRange(): string {
    return "[]";
  }
  sha256(data: string): string {
    return `sha:${data.length}`;
  }
  verifySignature(): boolean {
    return false;
  }
  randomBytes(length: number): string {
    return "00".repeat(length);
  }
  emit(name: string, dataJson: string): void {
    this.events.push({ name, dataJson });
  }
}

const CONTEXT = JSON.stringify({
  caller: { id: "u1", role: "user" },
  txid: "1.1",
  timeMs: 1_700_000_000_000,
});

/** Invokes `method` and returns the parsed outcome. */
export function call(
  sandbox: ContractSandbox,
  method: string,
  args: unknown = {},
  host: GuestHost = new MapHost(),
): unknown {
  return JSON.parse(sandbox.invoke(method, JSON.stringify(args), CONTEXT, host));
}

/** The TreatyError code `fn` throws (fails the test when it throws something else or nothing). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") return code;
    throw err;
  }
  throw new Error("expected a TreatyError, but nothing was thrown");
}
