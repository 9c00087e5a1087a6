/**
 * `treaty receipt <txid>`: fetches a committed transaction's receipt from a running node and
 * prints it (the JSON `verifyReceipt` takes, to keep or hand to an auditor). With `--verify` it
 * also checks the receipt offline against the service key, pinned by `--service` (or, with a
 * warning, the key the node itself reports), and prints `{"receipt", "verified"}`; a receipt that
 * does not verify prints `{"error": {"code": "ReceiptInvalid", ...}}` and exits 1.
 * (`treaty ledger receipt` builds receipts from a data dir instead, with no node running.)
 */
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { parseTxId, type Receipt, type VerifiedReceipt, verifyReceipt } from "../../sdk/receipt.js";
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.js";
import {
  fetchJson,
  printJsonTo,
  processRemoteIo,
  REMOTE_FLAGS,
  REMOTE_USAGE,
  type RemoteIo,
  type RemoteTarget,
  remoteTarget,
  reportingErrors,
  serviceKeyOf,
} from "./status.js";

const RECEIPT_USAGE = `Usage: treaty receipt <txid> [--verify] [--wait] [--node <url>] [--service <file>] [--timeout <ms>]

Prints the receipt of transaction <txid> ("view.seqno") as JSON. A transaction that is not
committed yet has no receipt (TxNotCommitted): --wait waits for the commit first.
Exit codes: 0 ok, 1 no receipt or it does not verify, 2 usage.
  --verify            also verify it offline against the service key and print
                      {"receipt": ..., "verified": {...}}; pin the key with --service
  --wait              wait until the transaction is committed (up to --timeout)
${REMOTE_USAGE}`;

const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 500;

/** `treaty receipt` with its output going to `io`. */
export async function runReceipt(argv: string[], io: RemoteIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...REMOTE_FLAGS,
    verify: { type: "boolean", default: false },
    wait: { type: "boolean", default: false },
  });
  if (positionals.length !== 1) throw new UsageError("expected <txid>");
  const txid = positionals[0]!;
  try {
    parseTxId(txid, "<txid>");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const target = remoteTarget(values, io);
  return reportingErrors("receipt", io, async () => {
    if (values.wait) await waitCommitted(target, txid);
    const receipt = await fetchJson<Receipt>(target, `/node/receipt?txid=${encodeURIComponent(txid)}`);
    if (!values.verify) {
      printJsonTo(io, receipt);
      return EXIT_OK;
    }
    const serviceKey = await serviceKeyOf(target, io, "receipt");
    const verified = verifyReceipt(receipt, serviceKey, { txid });
    printJsonTo(io, {
      receipt,
      verified: { ...verifiedJson(verified), serviceKeyPinned: target.service !== undefined },
    });
    return EXIT_OK;
  });
}

/** What a verified receipt proves, with bytes as hex. */
function verifiedJson(v: VerifiedReceipt) {
  return {
    txid: v.txid,
    kind: v.kind,
    entryDigest: toHex(v.entryDigest),
    requestDigest: v.requestDigest === null ? null : toHex(v.requestDigest),
    root: toHex(v.root),
    treeSize: v.treeSize,
    signedBy: v.signedBy,
    signedAtMs: v.signedAtMs,
    nodeId: v.nodeId,
  };
}

/** Polls `/node/tx` until Committed; TxNotCommitted when Invalid, Timeout after the deadline. */
async function waitCommitted(target: RemoteTarget, txid: string): Promise<void> {
  const deadline = Date.now() + target.timeoutMs;
  let pollMs = FIRST_POLL_MS;
  for (;;) {
    const { status } = await fetchJson<{ status: string }>(
      target,
      `/node/tx?txid=${encodeURIComponent(txid)}`,
    );
    if (status === "Committed") return;
    if (status === "Invalid")
      throw new TreatyError("TxNotCommitted", `transaction ${txid} is Invalid: it will never commit`);
    if (Date.now() > deadline)
      throw new TreatyError("Timeout", `transaction ${txid} still ${status} after ${target.timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
  }
}

export const receiptCommand: Command = {
  path: ["receipt"],
  summary: "fetch (and verify) a transaction's receipt from a running node",
  usage: RECEIPT_USAGE,
  run: (argv) => runReceipt(argv, processRemoteIo),
};
