/**
 * The snapshot body built the plain way, straight from docs/snapshots.md: the canonical msgpack
 * of every field, the private maps' write set sealed with AES-256-GCM under nonce
 * `u64be(seqno) || ff ff ff ff` and aad `"treaty.snapshot" || u64be(seqno)`. The reference the
 * tests hold node/snapshot/format.ts's sliced encoder (and rows.ts's encoder) to, byte for byte.
 */
import { encode, encodeCanonical } from "../../sdk/codec.js";
import { writesToWire } from "../../runtime/ledger/entry.js";
import { type LedgerSecret, sealPrivate } from "../../runtime/ledger/secrets.js";
import { SNAPSHOT_FORMAT_VERSION, type SnapshotState } from "../../node/snapshot/format.js";

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 2 ** 32));
  view.setUint32(4, n % 2 ** 32);
  return out;
}

/** The body bytes of `state`, its private maps sealed with `secret`. */
export function referenceBody(state: SnapshotState, secret: LedgerSecret): Uint8Array {
  const seqno = u64be(state.seqno);
  const nonce = new Uint8Array([...seqno, 0xff, 0xff, 0xff, 0xff]);
  const aad = new Uint8Array([...new TextEncoder().encode("treaty.snapshot"), ...seqno]);
  const sealed =
    state.private.length === 0 ? null : sealPrivate(secret, nonce, encode(writesToWire(state.private)), aad);
  return encodeCanonical({
    format: SNAPSHOT_FORMAT_VERSION,
    seqno: state.seqno,
    view: state.view,
    frontier: [...state.frontier],
    views: state.views.map((v) => [v.view, v.startSeqno]),
    config: state.config === null ? null : { seqno: state.config.seqno, nodes: [...state.config.nodes] },
    public: encode(writesToWire(state.public)),
    secret: sealed === null ? 0 : secret.version,
    private: sealed,
  });
}
