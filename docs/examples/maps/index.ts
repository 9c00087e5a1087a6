/** The map declarations of docs/contracts.md ("State: typed maps"), in a contract that uses them. */
import { contract, map, method, now, t } from "treaty/contract";

// #region maps
interface Account { balance: number }
const accounts = map<string, Account>("accounts");                          // private
const feed = map<number, string>("feed", { key: "number", public: true });   // public
// #endregion maps

// #region transfers
interface Transfer { to: string; atMs: number }
// One entry per (product, sequence number): all transfers of a product are one prefix range.
const transfers = map<[string, number], Transfer>("transfers", { key: ["string", "number"] });

function ship(productId: string, to: string): number {
  const last = transfers.range({ prefix: [productId], reverse: true, limit: 1 }).next().value; // [[id, seq], t] | undefined
  const seq = last === undefined ? 0 : last[0][1] + 1;
  transfers.set([productId, seq], { to, atMs: now() });
  return seq;
}

function history(productId: string): Transfer[] {
  const out: Transfer[] = [];
  for (const [, transfer] of transfers.range({ prefix: [productId] })) out.push(transfer); // in seq order
  return out;
}
// #endregion transfers

export default contract({
  open: method({
    mode: "readwrite",
    auth: "users",
    args: { id: t.string(), note: t.string() },
    run: ({ id, note }) => {
      accounts.set(id, { balance: 0 });
      const [last] = feed.keys({ reverse: true, limit: 1 });
      feed.set(last === undefined ? 0 : last + 1, note);
    },
  }),
  account: method({
    mode: "readonly",
    auth: "users",
    args: { id: t.string() },
    run: ({ id }) => accounts.get(id) ?? null,
  }),
  feed: method({
    mode: "readonly",
    auth: "users",
    run: () => feed.values(),
  }),
  ship: method({
    mode: "readwrite",
    auth: "users",
    args: { productId: t.string(), to: t.string() },
    run: ({ productId, to }) => ship(productId, to),
  }),
  history: method({
    mode: "readonly",
    auth: "users",
    args: { productId: t.string() },
    run: ({ productId }) => history(productId),
  }),
});
