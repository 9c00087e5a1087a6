/** docs/contracts.md ("Typed clients"): types derived from the bank sample, checked by the build. */
// #region types
import type { ArgsOf, MethodsOf, ResultOf } from "treaty/contract";
import type bank from "../../contracts/examples/bank/index.js";
type Transfer = ArgsOf<typeof bank, "transfer">;   // { to: string; amount: number; memo?: string }
type Balance = ResultOf<typeof bank, "balance">;   // { balance: number }
type Modes = MethodsOf<typeof bank>["transfer"]["mode"]; // "readwrite"
// #endregion types

// #region client
import type { Client } from "treaty/sdk";
async function pay(client: Client): Promise<number> {
  const bankClient = client.contract<typeof bank>("bank"); // one function per method, typed
  const { txid } = await bankClient.transfer({ to: "bob", amount: 5 }); // { to: 5 } fails to compile
  await client.waitForCommit(txid);
  const { result } = await bankClient.balance({}); // result: { balance: number }
  return result.balance;
}
// #endregion client
export { pay };

/** The comment in `pay`: an argument of the wrong type does not compile. */
export function wrongArgs(client: Client): unknown {
  // @ts-expect-error `to` is a string
  return client.contract<typeof bank>("bank").transfer({ to: 5, amount: 5 });
}

/** Compile-time checks that the comments above say what the types are. */
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
export const checks: [
  Equal<Transfer, { to: string; amount: number; memo?: string }>,
  Equal<Balance, { balance: number }>,
  Equal<Modes, "readwrite">,
] = [true, true, true];
