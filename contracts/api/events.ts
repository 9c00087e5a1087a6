/**
 * Events: named JSON records a method attaches to its transaction's outcome, for apps that
 * watch a contract. The node delivers them with the call's result; events the contract declares
 * public (`contract(methods, {events})`) are also recorded in clear in the ledger with the
 * transaction, streamed on `/app/events` and exported (docs/integration.md).
 *
 * Runs inside QuickJS and in Node.
 */
import { ApiError } from "./errors.js";
import { host } from "./host.js";
import { jsonProblem } from "./json.js";
import { EVENT_NAME } from "./manifest-rules.js";

/**
 * Records event `name` with `data` (JSON-compatible; omitted means null). Throws
 * ApiError(ContractFault) for a bad name (/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/) or data JSON
 * cannot carry; the host may refuse more events than its limit.
 * @example emit("transfer", { from, to, amount });
 */
export function emit(name: string, data: unknown = null): void {
  if (typeof name !== "string" || !EVENT_NAME.test(name)) {
    throw new ApiError(
      "ContractFault",
      `emit(name): expected a name matching ${String(EVENT_NAME)}, got ${JSON.stringify(String(name))}`,
    );
  }
  const problem = jsonProblem(data, "data");
  if (problem !== undefined) throw new ApiError("ContractFault", `emit("${name}"): ${problem}`);
  host().emit(name, JSON.stringify(data));
}
