/**
 * `board`: a public notice board whose notices other systems follow. `post` stores a notice
 * and emits the declared public event `posted` (recorded in clear with the transaction, streamed
 * on /app/events and exported to JetStream); the poster's private `draft` note stays in a private
 * map and its private event `drafted` goes back to the caller only.
 */
// #region contract
import { contract, emit, event, map, method, setClaimsDigest, sha256, t } from "treaty/contract";

const notices = map<number, string>("notices", { key: "number", public: true });
const drafts = map<number, string>("drafts", { key: "number" }); // private: encrypted in the ledger

export default contract(
  {
    post: method({
      mode: "readwrite",
      auth: "users",
      args: { id: t.integer({ minimum: 0 }), text: t.string(), draft: t.optional(t.string()) },
      run: ({ id, text, draft }) => {
        notices.set(id, text);
        emit("posted", { id, text });
        if (draft !== undefined) {
          drafts.set(id, draft);
          emit("drafted", { id }); // private: returned to the caller, never recorded
        }
      },
    }),
    certify: method({
      mode: "readwrite",
      auth: "users",
      args: { id: t.integer({ minimum: 0 }) },
      description: "Certifies a notice: binds the digest of the certificate to this transaction.",
      run: ({ id }) => {
        const certificate = JSON.stringify({ board: "notices", id, text: notices.get(id) ?? null });
        setClaimsDigest(sha256(certificate)); // the transaction's receipt now proves this claim
        return { certificate };
      },
    }),
    read: method({
      mode: "readonly",
      auth: "anyone",
      args: { id: t.integer({ minimum: 0 }) },
      run: ({ id }) => ({ text: notices.get(id) ?? null }),
    }),
  },
  {
    events: {
      posted: event({ data: t.object({ id: t.integer(), text: t.string() }), public: true }),
      drafted: event({ data: t.object({ id: t.integer() }) }),
    },
  },
);
// #endregion contract
