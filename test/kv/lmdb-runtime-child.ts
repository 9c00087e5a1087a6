/**
 * Child process of lmdb-runtime-damage.test.ts: opens the KV store (LmdbBackend) in the directory
 * given and does one thing with it, then prints one JSON line: `{rows}` when that worked,
 * `{code, message}` for the error otherwise. Modes: `get` reads every key of the fixture one by
 * one, `scan` reads every map as a range, `pin` scans every map in a pinned read transaction (as
 * snapshots do), `write` commits a batch over the whole key range. A store that crashes LMDB
 * kills this process by a signal instead, which the test reports; an unhandled rejection (lmdb-js
 * makes one for a failed commit) exits it with status 1.
 */
import { pathToFileURL } from "node:url";
import { mapRef } from "../../runtime/kv/backend.js";
import { LmdbBackend } from "../../runtime/kv/lmdb-backend.js";

const [mode, dir, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg);

/** The fixture's key of row `i` (lmdb-runtime-damage.test.ts). */
export function fixtureKey(i: number): { map: string; key: Buffer } {
  return { map: `map${i % 3}`, key: Buffer.from(`key-${String(i).padStart(6, "0")}`) };
}

// Run as a process (the test imports fixtureKey only).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let backend: LmdbBackend | undefined;
  try {
    backend = LmdbBackend.open(dir!);
    let count = 0;
    if (mode === "get") {
      for (let i = 0; i < rows; i++) {
        const { map, key } = fixtureKey(i);
        if (backend.get(mapRef(map), key) !== undefined) count++;
      }
    } else if (mode === "scan") {
      for (const name of backend.mapNames()) count += backend.scan(mapRef(name), {}, false, rows).length;
    } else if (mode === "pin") {
      const pinned = backend.pin();
      try {
        for (const name of pinned.mapNames())
          count += pinned.scan(mapRef(name), undefined, rows, { row: () => true });
      } finally {
        pinned.release();
      }
    } else {
      const writes = [];
      for (let i = 0; i < rows; i += 7) {
        const { map, key } = fixtureKey(i);
        writes.push({ map: mapRef(map), key, value: Buffer.alloc(50, 1) });
      }
      await backend.persist(backend.committedVersion + 1, writes);
      count = writes.length;
    }
    await backend.close();
    console.log(JSON.stringify({ rows: count }));
  } catch (err) {
    // The store is not closed: after a failed commit lmdb-js's close never resolves (measured;
    // the node bounds it: the execution worker's close has a deadline, then it is terminated).
    const { code, message } = err as { code?: unknown; message?: unknown };
    console.log(JSON.stringify({ code, message }));
  }
}
