/**
 * Events: named JSON records a method attaches to its transaction's outcome, for apps that
 * watch a contract. The node delivers them with the call's result; events the contract declares
 * public (`contract(methods, {events})`) are also recorded in clear in the ledger with the
 * transaction, streamed on `/app/events` and exported (docs/integration.md).
 *
 * Runs inside QuickJS and in Node.
 */
import type { Shape } from "../../runtime/sandbox/abi.js";
import { ApiError } from "./errors.js";
import { host } from "./host.js";
import { jsonProblem } from "./json.js";
import { invalidEventName } from "./manifest-rules.js";
import { validate } from "./shapes.js";

/** The events a contract declares, by name: what `emit` checks data against. */
export type DeclaredEvents = Readonly<Record<string, { readonly data: Shape }>>;

/**
 * The declarations of the contract whose method is running, when it declares events (set by
 * `invoke` around each call; this module is shared by every call of a sandbox, so it must not
 * outlive one).
 */
let declared: DeclaredEvents | undefined;

/** Sets (or, with undefined, clears) the declarations `emit` checks against; `invoke` calls it. */
export function useDeclaredEvents(events: DeclaredEvents | undefined): void {
  declared = events;
}

/**
 * Records event `name` with `data` (JSON-compatible; omitted means null). Throws
 * ApiError(ContractFault) for a bad name (`EVENT_NAME`: a letter, then letters, digits, `_`, `:`,
 * `-` and dots between non-empty segments, at most 64 characters), data JSON
 * cannot carry, or, in a contract that declares events, an event it does not declare or data
 * that does not fit the declared shape; the host may refuse more events than its limit.
 *
 * The declared shape is checked here, in the sandbox, on the call's fuel: a `pattern` that
 * backtracks badly on the data ends the call with ExecutionLimit. The node checks the events
 * again after the call (node/events/record.ts), outside the sandbox, and would otherwise be
 * the first to run such a pattern, with no fuel to stop it.
 * @example emit("transfer", { from, to, amount });
 */
export function emit(name: string, data: unknown = null): void {
  const invalid = invalidEventName(name);
  if (invalid !== undefined) throw new ApiError("ContractFault", `emit(name): ${invalid}`);
  const problem = jsonProblem(data, "data");
  if (problem !== undefined) throw new ApiError("ContractFault", `emit("${name}"): ${problem}`);
  if (declared !== undefined && name !== CLAIMS_EVENT) {
    const declaration = Object.hasOwn(declared, name) ? declared[name] : undefined;
    if (declaration === undefined) {
      throw new ApiError(
        "ContractFault",
        `event ${JSON.stringify(name)} is not declared (a contract that declares events declares all of them)`,
      );
    }
    const misfit = validate(declaration.data, data, `event ${name}.data`);
    if (misfit !== undefined) throw new ApiError("ContractFault", misfit);
  }
  host().emit(name, JSON.stringify(data));
}

/** The reserved event name that carries `setClaimsDigest` to the host. */
export const CLAIMS_EVENT = "treaty:claims";

/**
 * Binds an application claims digest (32 bytes as 64 hex characters, e.g. `sha256(claim)`) to
 * this transaction: the node records it in the transaction's ledger header and Merkle leaf, so
 * the transaction's receipt proves it (CCF's claims digest; docs/receipts.md). At most once per
 * call; the host fails the call (ContractFault) otherwise or for a malformed digest.
 * @example setClaimsDigest(sha256(JSON.stringify(certificate)));
 */
export function setClaimsDigest(digest: string): void {
  if (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest)) {
    throw new ApiError("ContractFault", "setClaimsDigest(digest): expected 64 lowercase hex characters");
  }
  emit(CLAIMS_EVENT, digest);
}
