/**
 * `log`: CCF's logging sample, the standard benchmark shape. Messages are kept by numeric id
 * in a private map (encrypted in the ledger) or a public one (in clear).
 *
 * - writePrivate / writePublic `{id, msg}` (users): store a message, replacing any earlier one;
 * - readPrivate / readPublic `{id}` (users): `{msg}`, or MessageNotFound.
 */
// #region docs
import { ContractError, contract, map, method, t } from "treaty/contract";

const privateMessages = map<number, string>("messages", { key: "number" });
const publicMessages = map<number, string>("messages", { key: "number", public: true });

const writeArgs = { id: t.integer({ minimum: 0 }), msg: t.string() };
const readArgs = { id: t.integer({ minimum: 0 }) };
const readResult = t.object({ msg: t.string() });

function read(messages: typeof privateMessages, id: number): { msg: string } {
  const msg = messages.get(id);
  if (msg === undefined) throw new ContractError("MessageNotFound", `no message with id ${id}`);
  return { msg };
}

export default contract({
  writePrivate: method({
    mode: "readwrite",
    auth: "users",
    args: writeArgs,
    description: "Stores a message under an id in the private (encrypted) map.",
    run: ({ id, msg }) => privateMessages.set(id, msg),
  }),
  writePublic: method({
    mode: "readwrite",
    auth: "users",
    args: writeArgs,
    description: "Stores a message under an id in the public map.",
    run: ({ id, msg }) => publicMessages.set(id, msg),
  }),
  readPrivate: method({
    mode: "readonly",
    auth: "users",
    args: readArgs,
    returns: readResult,
    description: "The private message with this id.",
    run: ({ id }) => read(privateMessages, id),
  }),
  readPublic: method({
    mode: "readonly",
    auth: "users",
    args: readArgs,
    returns: readResult,
    description: "The public message with this id.",
    run: ({ id }) => read(publicMessages, id),
  }),
});
// #endregion docs
