import { contract, map, method, t } from "treaty/contract";
const publicMessages = map<number, string>("messages", { key: "number", public: true });
const writeArgs = { id: t.integer({ minimum: 0 }), msg: t.string() };
export default contract({
  w: method({ mode: "readwrite", auth: "users", args: {}, description: "x", run: () => publicMessages.set(7, "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes."), }),
});
