/**
 * `bank`: accounts with confidential balances. Every balance lives in a private map (encrypted
 * in the ledger); only an account's owner can read it. Members mint money into accounts;
 * users open accounts and transfer between them. Amounts are positive safe integers (minor
 * units). Invariant: the sum of all balances equals the total supply (tests check it over
 * random operation sequences).
 */
import { ContractError, caller, contract, emit, map, method, now, t } from "treaty/contract";

interface Account {
  readonly balance: number;
  /** Transaction time of the opening, ms. */
  readonly openedAtMs: number;
}

/** Exported so tests can read it: `testContract(bank).map(accounts)`. */
export const accounts = map<string, Account>("accounts");
/** One key, "total": the sum of all balances. Private as well: the supply is confidential too. */
const supply = map<string, number>("supply");

const accountId = t.string({ minLength: 1, maxLength: 128 });
const amount = t.integer({ minimum: 1 });

/** The id of the authenticated caller (auth policies guarantee there is one). */
function callerId(): string {
  const who = caller();
  if (who === null) throw new ContractError("NoCaller", "this method needs an authenticated caller");
  return who.id;
}

function account(id: string): Account {
  const found = accounts.get(id);
  if (found === undefined) throw new ContractError("AccountNotFound", `no account ${JSON.stringify(id)}`);
  return found;
}

function totalSupply(): number {
  return supply.get("total") ?? 0;
}

function credit(id: string, current: Account, value: number): void {
  const balance = current.balance + value;
  if (!Number.isSafeInteger(balance))
    throw new ContractError("AmountTooLarge", "the balance would exceed 2^53 - 1");
  accounts.set(id, { ...current, balance });
}

export default contract({
  openAccount: method({
    mode: "readwrite",
    auth: "users",
    description: "Opens the caller's account with a zero balance.",
    run: () => {
      const id = callerId();
      if (accounts.has(id)) throw new ContractError("AccountExists", "the caller already has an account");
      accounts.set(id, { balance: 0, openedAtMs: now() });
      emit("accountOpened", { id });
      return { id };
    },
  }),
  mint: method({
    mode: "readwrite",
    auth: "members",
    args: { to: accountId, amount },
    description: "Creates money in an account (members only); the total supply grows by the amount.",
    run: ({ to, amount }) => {
      const total = totalSupply() + amount;
      if (!Number.isSafeInteger(total))
        throw new ContractError("AmountTooLarge", "the total supply would exceed 2^53 - 1");
      credit(to, account(to), amount);
      supply.set("total", total);
      emit("minted", { to, amount });
      return { supply: total };
    },
  }),
  transfer: method({
    mode: "readwrite",
    auth: "users",
    args: { to: accountId, amount, memo: t.optional(t.string({ maxLength: 256 })) },
    description: "Moves an amount from the caller's account to another account.",
    run: ({ to, amount, memo }) => {
      const from = callerId();
      if (to === from) throw new ContractError("SelfTransfer", "cannot transfer to the same account");
      const source = account(from);
      const target = account(to);
      if (source.balance < amount) {
        throw new ContractError("InsufficientFunds", `balance ${source.balance} is less than ${amount}`);
      }
      accounts.set(from, { ...source, balance: source.balance - amount });
      credit(to, target, amount);
      emit("transfer", memo === undefined ? { from, to, amount } : { from, to, amount, memo });
      return { balance: source.balance - amount };
    },
  }),
  balance: method({
    mode: "readonly",
    auth: "users",
    description: "The caller's own balance (no one else can read it).",
    run: () => ({ balance: account(callerId()).balance }),
  }),
  totalSupply: method({
    mode: "readonly",
    auth: "members",
    description: "The total supply (members only).",
    run: () => ({ supply: totalSupply() }),
  }),
});
