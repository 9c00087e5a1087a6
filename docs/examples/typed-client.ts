/** docs/contracts.md ("Typed clients"): types derived from the bank sample, checked by the build. */
// #region types
import type { ArgsOf, MethodsOf, ResultOf } from "treaty/contract";
import type bank from "../../contracts/examples/bank/index.js";
type Transfer = ArgsOf<typeof bank, "transfer">;   // { to: string; amount: number; memo?: string }
type Balance = ResultOf<typeof bank, "balance">;   // { balance: number }
type Modes = MethodsOf<typeof bank>["transfer"]["mode"]; // "readwrite"
// #endregion types

/** Compile-time checks that the comments above say what the types are. */
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
export const checks: [
  Equal<Transfer, { to: string; amount: number; memo?: string }>,
  Equal<Balance, { balance: number }>,
  Equal<Modes, "readwrite">,
] = [true, true, true];
