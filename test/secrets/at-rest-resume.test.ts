/**
 * A node stopped in the middle of an at-rest rekey (its secrets sealed with the new key current
 * and the old one in `olderAtRestKeys`, its KV still under the old key) serves every private
 * value at once on restart, finishes the re-seal, and then holds only the new key: the old key
 * opens none of its KV and is gone from its sealed secrets.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { createSealingProvider, type SealingProvider } from "../../node/secrets/sealing.js";
import { toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { readPrivateRows } from "./private-rows.js";

const random = (n: number) => new Uint8Array(randomBytes(n));

describe("at-rest rekey resumes after a stop", () => {
  let net: TestNode;
  let sealing: SealingProvider;
  before(async () => {
    net = await startTestNode();
    sealing = createSealingProvider(
      { provider: "virtual", keyFile: join(net.dir, "sealing.key"), keyEnv: null },
      net.dataDir,
      { randomBytes: random },
    );
  });
  after(async () => {
    await net?.dispose();
  });

  it("serves, finishes the re-seal and destroys the old key", async () => {
    const log = net.client().contract<typeof logContract>("log");
    for (let id = 0; id < 300; id++) await log.writePrivate({ id, msg: `secret ${id}` });
    await net.settled();
    await net.stop();

    // As if the node stopped right after step 1 of a rotation.
    const state = sealing.unseal()!;
    const oldKey = state.secrets!.atRestKey!;
    assert.ok((await readPrivateRows(net.dataDir, oldKey)) >= 300);
    const newKey = toHex(random(32));
    sealing.seal({ ...state, secrets: { ...state.secrets!, atRestKey: newKey, olderAtRestKeys: [oldKey] } });

    await net.restart();
    for (const id of [0, 150, 299])
      assert.deepEqual((await log.readPrivate({ id })).result, { msg: `secret ${id}` });
    await net.node.atRest.idle();
    assert.equal(net.node.atRest.rotations, 1);
    const resealed = sealing.unseal()!.secrets!;
    assert.equal(resealed.atRestKey, newKey);
    assert.equal(resealed.olderAtRestKeys, undefined);
    await net.stop();

    assert.ok((await readPrivateRows(net.dataDir, newKey)) >= 300);
    await assert.rejects(
      readPrivateRows(net.dataDir, oldKey),
      (err: unknown) => isTreatyError(err) && err.code === "LedgerCorrupt",
    );
  });
});
