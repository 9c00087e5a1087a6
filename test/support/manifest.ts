import { ContractRuntime } from "../../runtime/executor/runtime.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";

/** The manifest of a compiled bundle as a node reads it: in the QuickJS sandbox, checked by the host. */
export async function sandboxManifest(bundle: string): Promise<ContractManifest> {
  const runtime = await ContractRuntime.create({ spareInstances: 1 });
  try {
    return runtime.inspect(bundle, "contract");
  } finally {
    runtime.dispose();
  }
}
