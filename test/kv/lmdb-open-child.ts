/**
 * Child process of lmdb-check.test.ts: opens the LMDB store of kind `kv` (LmdbBackend, as the
 * execution worker does) or `ledger` (openLedgerStore on a directory holding `ledger.mdb`) in the
 * directory given, reads every row, commits one write and closes, then prints one JSON line:
 * `{rows}` when all of that worked, `{code, message}` for the error otherwise. A store that
 * crashes LMDB kills this process by a signal instead, which the test reports.
 */
import { mapRef } from "../../runtime/kv/backend.js";
import { LmdbBackend } from "../../runtime/kv/lmdb-backend.js";
import { openLedgerStore } from "../../runtime/ledger/open-store.js";

const [kind, dir] = process.argv.slice(2);
try {
  let rows = 0;
  if (kind === "kv") {
    const backend = LmdbBackend.open(dir!);
    try {
      for (const name of backend.mapNames()) rows += backend.scan(mapRef(name), {}, false, 1_000_000).length;
      await backend.persist(backend.committedVersion + 1, [
        { map: mapRef("child"), key: Uint8Array.of(1), value: Uint8Array.of(2) },
      ]);
    } finally {
      await backend.close();
    }
  } else {
    const store = openLedgerStore(dir!);
    try {
      for (let seqno = store.baseSeqno + 1; seqno <= store.lastSeqno; seqno++) {
        if (store.get(seqno) !== undefined) rows++;
      }
      store.append([{ seqno: store.lastSeqno + 1, view: 1, bytes: Uint8Array.of(7) }]);
    } finally {
      await store.close();
    }
  }
  console.log(JSON.stringify({ rows }));
} catch (err) {
  const { code, message } = err as { code?: unknown; message?: unknown };
  console.log(JSON.stringify({ code, message }));
}
