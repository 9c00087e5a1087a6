import { contract, map, method, t } from "treaty/contract";
const publicMessages = map<number, string>("messages", { key: "number", public: true });
const writeArgs = { id: t.integer({ minimum: 0 }), msg: t.string() };
export default contract({
  w: method({ mode: "readwrite", auth: "users", args: writeArgs, description: "x", run: () => null, }),
});
