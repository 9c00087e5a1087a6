import { ContractError, contract, map, method, t } from "treaty/contract";

const balances = map<string, number>("balances"); // private: encrypted in the ledger

export default contract({
  deposit: method({
    mode: "readwrite",
    auth: "members",
    args: { account: t.string(), amount: t.integer({ minimum: 1 }) },
    run: ({ account, amount }) => balances.set(account, (balances.get(account) ?? 0) + amount),
  }),
  balance: method({
    mode: "readonly",
    auth: "members",
    args: { account: t.string() },
    returns: t.object({ balance: t.integer() }),
    run: ({ account }) => {
      const balance = balances.get(account);
      if (balance === undefined) throw new ContractError("AccountNotFound", `no account ${account}`);
      return { balance };
    },
  }),
});
