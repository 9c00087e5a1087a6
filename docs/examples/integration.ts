/**
 * docs/integration.md: an outside program that consumes the JetStream export of committed
 * events, fetches the receipt of each event's transaction and verifies it offline against the
 * pinned service key. test/integration/events.test.ts runs it against a real network.
 */
// #region consume
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parsePublicKey, verifyReceipt } from "treaty/sdk";

interface TreatyEvent {
  txid: string;
  index: number;
  contract: string;
  name: string;
  data: unknown;
}
// #endregion consume

/** Consumes `count` events of `stream`, proves each one's transaction, returns what it proved. */
export async function consumeAndProve(
  natsUrl: string,
  stream: string,
  nodeUrl: string,
  PINNED_SERVICE_KEY_HEX: string,
  count: number,
): Promise<{ id: string; event: TreatyEvent; signedBy: string }[]> {
  const proved: { id: string; event: TreatyEvent; signedBy: string }[] = [];
  // #region consume
  const serviceKey = parsePublicKey("ed25519", PINNED_SERVICE_KEY_HEX);
  const nc = await connect({ servers: natsUrl });
  // An ordered consumer replays the stream from its start (a durable consumer would resume).
  const messages = await (await jetstream(nc).consumers.get(stream)).consume();
  for await (const m of messages) {
    const event = m.json<TreatyEvent>();
    // The position <txid>/<index>: the stream's deduplication id, unique per event.
    const id = m.headers?.get("Nats-Msg-Id") ?? "";
    // Receipts exist once a signature covers the transaction: retry briefly until then.
    let receipt: unknown;
    for (let attempt = 0; receipt === undefined; attempt++) {
      const response = await fetch(`${nodeUrl}/node/receipt?txid=${event.txid}`);
      if (response.ok) receipt = await response.json();
      else if (attempt === 50) throw new Error(`no receipt for ${event.txid}: HTTP ${response.status}`);
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Offline from here: the receipt proves the transaction is in the service's ledger.
    const proof = verifyReceipt(receipt, serviceKey, { txid: event.txid });
    console.log(id, event.name, event.data, "signed by", proof.signedBy);
    proved.push({ id, event, signedBy: proof.signedBy });
    if (proved.length === count) break;
  }
  await nc.close();
  // #endregion consume
  return proved;
}
