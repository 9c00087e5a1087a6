/**
 * The constitution's place in the runtime. The constitution is a contract like any other
 * (compiled by the same compiler, run in the same sandbox), loaded PRIVILEGED under the reserved
 * name `gov`, so its local map `public:x` is the governance table `public:gov.x`. Ordinary
 * contracts can never load as `gov` (`checkContractName` refuses it) and can never call it (it is
 * not in the runtime's contract table): only the governance engine reaches it, through
 * `ContractRuntime.executeConstitution`.
 *
 * Its three methods have rising authority, enforced by the host (the TxHost of the call), not
 * by the guest's good manners:
 * - `validate(proposal)`: no state at all; every KV access is `MapAccessDenied`;
 * - `resolve(proposal, ballots)`: read-only (`ReadonlyViolation` on a write);
 * - `apply(proposal)`: read-write, public maps only (governance stays auditable from the public
 *   ledger, as in CCF).
 *
 * Limits: the constitution always runs with at least `GOVERNANCE_FLOOR` (field by field), so
 * `set_runtime_limits` can starve contracts but never governance itself (CCF: "governance always
 * gets at least the default values").
 */
import { TreatyError } from "../../sdk/errors.js";
import type { ContractManifest, MethodMode } from "../sandbox/abi.js";
import { DEFAULT_LIMITS, type SandboxLimits } from "../sandbox/limits.js";

/** The reserved name the constitution runs under (its maps are `public:gov.*`). */
export const CONSTITUTION_NAME = "gov";

/** What a constitution method may do with the KV. */
export type StateAccess = "none" | "read" | "write";

/** The constitution's entry points: the mode each must declare and the access the host grants. */
export const CONSTITUTION_METHODS: Readonly<
  Record<"validate" | "resolve" | "apply", { readonly mode: MethodMode; readonly access: StateAccess }>
> = Object.freeze({
  validate: Object.freeze({ mode: "readonly", access: "none" }),
  resolve: Object.freeze({ mode: "readonly", access: "read" }),
  apply: Object.freeze({ mode: "readwrite", access: "write" }),
});

/** One of `validate`, `resolve`, `apply`. */
export type ConstitutionMethod = keyof typeof CONSTITUTION_METHODS;

/**
 * The least the constitution ever runs with (every field but the heap, which the QuickJS
 * instances share with the contracts: any heap the limits allow runs the default constitution).
 */
export const GOVERNANCE_FLOOR: Readonly<Omit<SandboxLimits, "heapBytes">> = Object.freeze({
  stackBytes: DEFAULT_LIMITS.stackBytes,
  executionBudget: DEFAULT_LIMITS.executionBudget,
  wallClockMs: DEFAULT_LIMITS.wallClockMs,
  maxKeyBytes: DEFAULT_LIMITS.maxKeyBytes,
  maxValueBytes: DEFAULT_LIMITS.maxValueBytes,
  maxResultBytes: DEFAULT_LIMITS.maxResultBytes,
  maxArgsBytes: DEFAULT_LIMITS.maxArgsBytes,
  maxEvents: DEFAULT_LIMITS.maxEvents,
});

/** The limits the constitution runs with under `limits`: each field at least the floor. */
export function governanceLimits(limits: SandboxLimits): SandboxLimits {
  const out: Record<string, number> = { ...limits };
  for (const key of Object.keys(GOVERNANCE_FLOOR) as (keyof typeof GOVERNANCE_FLOOR)[]) {
    out[key] = Math.max(limits[key], GOVERNANCE_FLOOR[key]);
  }
  return Object.freeze(out as unknown as SandboxLimits);
}

/**
 * Checks that a manifest is a constitution's: `validate` and `resolve` readonly, `apply`
 * readwrite, each callable by members (the engine calls them on behalf of the member whose
 * proposal or ballot is being processed). Other methods are allowed (helpers for auditors) but
 * never called by the node. Throws TreatyError `InvalidContract` naming the method otherwise.
 */
export function checkConstitutionManifest(manifest: ContractManifest): void {
  for (const [name, expected] of Object.entries(CONSTITUTION_METHODS)) {
    const method = Object.hasOwn(manifest.methods, name) ? manifest.methods[name] : undefined;
    if (method === undefined) {
      throw new TreatyError(
        "InvalidContract",
        `not a constitution: it must export the methods validate, resolve and apply (missing ${name})`,
      );
    }
    if (method.mode !== expected.mode) {
      throw new TreatyError(
        "InvalidContract",
        `not a constitution: ${name} must be ${expected.mode}, it is ${method.mode}`,
      );
    }
    if (method.auth !== "members" && method.auth !== "users_and_members") {
      throw new TreatyError(
        "InvalidContract",
        `not a constitution: ${name} must admit members (auth "members"), it has auth "${method.auth}"`,
      );
    }
  }
}
