import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileContract } from "../dist/runtime/compiler/index.js";
import { ContractRuntime } from "../dist/runtime/executor.js";
import { KvStore } from "../dist/runtime/kv/store.js";
const MESSAGE = "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.";
const runtime = await ContractRuntime.create();
const dir = mkdtempSync(join(tmpdir(), "treaty-variants-"));
const store = KvStore.open(dir);
const seed = new Uint8Array(32).fill(1);
const caller = { id: "bench-user", role: "user" };
const res = {};
for (const v of ["noop", "args", "setonly", "full"]) {
  const c = compileContract(new URL(`./v/${v}`, import.meta.url).pathname);
  if (!c.ok) throw new Error(JSON.stringify(c.diagnostics).slice(0, 500));
  await runtime.ready();
  runtime.load(v, c.bundle);
}
const one = (v, i) => {
  const args = v === "noop" || v === "setonly" ? {} : { id: i % 10000, msg: MESSAGE };
  const o = runtime.execute({ contract: v, method: "w", args, caller, txid: null, timeMs: 1.7e12, seed }, store.begin());
  if (!o.ok) throw new Error(`${v}: ${o.error.code} ${o.error.message}`);
};
for (let round = 0; round < 5; round++) {
  for (const v of ["noop", "args", "setonly", "full"]) {
    for (let i = 0; i < 3000; i++) one(v, i);
    const t = performance.now();
    const N = 20000;
    for (let i = 0; i < N; i++) one(v, i);
    const us = ((performance.now() - t) * 1000) / N;
    (res[v] ??= []).push(us);
  }
}
for (const [v, a] of Object.entries(res)) { a.sort((x, y) => x - y); console.log(v.padEnd(8), "µs/call min", a[0].toFixed(1), "median", a[2].toFixed(1)); }
runtime.dispose(); await store.close(); rmSync(dir, { recursive: true, force: true });
