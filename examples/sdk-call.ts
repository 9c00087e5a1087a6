/**
 * The SDK in one short script (the README's example): call the `log` contract with a typed
 * client, read the message back, wait for the commit and verify the receipt offline against the
 * pinned service key.
 *
 *   npx treaty dev                      # in another terminal: writes workspace/*.json
 *   node dist/examples/sdk-call.js [workspace/service.json] [workspace/user0.json]
 *
 * An app imports the same names from "treaty/sdk"; this file imports them by relative path so
 * it runs from any build folder of the repository.
 */
import { readFileSync } from "node:fs";
import type logContract from "../contracts/examples/log/index.js";
import { Client, fromKeyFile, isTreatyError, parseServiceFile } from "../sdk/index.js";

const [servicePath = "workspace/service.json", keyPath = "workspace/user0.json"] = process.argv.slice(2);

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}

async function main(): Promise<void> {
  // The service file pins the service identity: receipts must verify against this key.
  const { serviceKey, nodes } = parseServiceFile(readJson(servicePath));
  const key = fromKeyFile(readJson(keyPath));
  const client = new Client({ nodes, serviceKey, key });

  // Argument and result types come from the contract's own TypeScript.
  const log = client.contract<typeof logContract>("log");
  const id = Math.floor(Math.random() * 1_000_000);
  const { txid } = await log.writePrivate({ id, msg: `hello from the SDK at ${new Date().toISOString()}` });
  console.log(`wrote private message ${id} as ${key.id.slice(0, 12)}… in transaction ${txid}`);

  const { result } = await log.readPrivate({ id });
  console.log(`read it back: "${result.msg}"`);

  await client.waitForCommit(txid!);
  console.log(`transaction ${txid} is committed`);

  const { verified } = await client.receipt(txid!);
  console.log(
    `receipt verified against the pinned service key: ${verified.kind} transaction ${verified.txid}, ` +
      `covered by signature ${verified.signedBy} of node ${verified.nodeId.slice(0, 12)}…`,
  );
}

main().catch((err: unknown) => {
  console.error(isTreatyError(err) ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
});
