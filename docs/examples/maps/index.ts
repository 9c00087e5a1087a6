/** The map declarations of docs/contracts.md ("State: typed maps"), in a contract that uses them. */
import { contract, map, method, t } from "treaty/contract";

// #region maps
interface Account { balance: number }
const accounts = map<string, Account>("accounts");                          // private
const feed = map<number, string>("feed", { key: "number", public: true });   // public
// #endregion maps

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
});
