import { join } from "node:path";
import { fromHex } from "../../sdk/bytes.js";
import { isPublicMap } from "../../runtime/kv/types.js";
import { KvStore } from "../../runtime/kv/store.js";

/**
 * Opens a stopped node's KV (`<dataDir>/kv`) with the at-rest `key` (hex) and reads every private
 * row: how many opened. Reading with a key that no longer opens them throws.
 */
export async function readPrivateRows(dataDir: string, key: string): Promise<number> {
  const kv = KvStore.open(join(dataDir, "kv"), { atRestKey: fromHex(key, "key") });
  try {
    let rows = 0;
    for (const map of kv.knownMaps().filter((m) => !isPublicMap(m)))
      rows += [...kv.begin().range(map)].length;
    return rows;
  } finally {
    await kv.close();
  }
}
