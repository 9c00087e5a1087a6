/**
 * What every GuestHost implementation (runtime/sandbox/abi.ts) checks the same way: the sandbox
 * host (runtime/executor/host.ts) and the Node stand-in (contracts/testing) share these, so
 * authors' tests see the node's rules. Kept apart from abi.ts, which the contract compiler
 * type-checks contracts against and so imports nothing.
 */
import { TreatyError } from "../../sdk/errors.js";

/** Cap on entries per kvRange page. */
export const MAX_RANGE_PAGE = 1000;
/** Cap on one randomBytes request. */
export const MAX_RANDOM_BYTES = 1024;

/** `kvRange` options with the bounds still as encoded key strings. */
export interface RangeRequest {
  readonly from?: string;
  readonly to?: string;
  readonly reverse: boolean;
  readonly limit: number;
}

/** Parses `kvRange`'s options JSON; a malformed one is the contract's fault (ContractFault). */
export function parseRangeRequest(optionsJson: string): RangeRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(optionsJson);
  } catch {
    throw new TreatyError("ContractFault", "kvRange(options): not JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new TreatyError("ContractFault", "kvRange(options): expected an object");
  }
  const { from, to, reverse, limit, ...rest } = parsed as Record<string, unknown>;
  const stray = Object.keys(rest)[0];
  if (stray !== undefined)
    throw new TreatyError("ContractFault", `kvRange(options).${stray}: unknown option`);
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0 || limit > MAX_RANGE_PAGE) {
    throw new TreatyError(
      "ContractFault",
      `kvRange(options).limit: expected an integer from 0 to ${MAX_RANGE_PAGE}`,
    );
  }
  if (reverse !== undefined && typeof reverse !== "boolean") {
    throw new TreatyError("ContractFault", "kvRange(options).reverse: expected a boolean");
  }
  for (const [which, bound] of [
    ["from", from],
    ["to", to],
  ] as const) {
    if (bound !== undefined && typeof bound !== "string") {
      throw new TreatyError("ContractFault", `kvRange(options).${which}: expected a string key`);
    }
  }
  return {
    reverse: reverse === true,
    limit,
    ...(from !== undefined && { from: from as string }),
    ...(to !== undefined && { to: to as string }),
  };
}
