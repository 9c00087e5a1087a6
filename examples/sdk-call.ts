/**
 * The SDK in one short script (the README embeds it): call the `log` contract with a typed
 * client, wait for the commit, read the message back and verify the receipt offline against the
 * pinned service key.
 *
 *   npx treaty dev                      # in another terminal: writes workspace/*.json
 *   node dist/examples/sdk-call.js [workspace/service.json] [workspace/user0.json]
 *
 * "treaty/sdk" resolves to this package's own build (Node's package self-reference), as it
 * would in an app that installed treaty.
 */
// #region readme
import { readFileSync } from "node:fs";
import { Client, fromKeyFile, parseServiceFile } from "treaty/sdk";
import type logContract from "../contracts/examples/log/index.js"; // the contract's own source

const [servicePath = "workspace/service.json", keyPath = "workspace/user0.json"] = process.argv.slice(2);
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));

// The service file pins the service identity: receipts must verify against this key.
const { serviceKey, nodes } = parseServiceFile(readJson(servicePath));
const client = new Client({ nodes, serviceKey, key: fromKeyFile(readJson(keyPath)) });
const log = client.contract<typeof logContract>("log"); // types come from the contract itself

const id = Math.floor(Math.random() * 1_000_000);
const { txid } = await log.writePrivate({ id, msg: "hello from the SDK" });
await client.waitForCommit(txid!); // reads see committed state (by default), so wait for it
const { result } = await log.readPrivate({ id }); // result: { msg: string }
const { verified } = await client.receipt(txid!); // verified offline against serviceKey
console.log(`message ${id} "${result.msg}" is in transaction ${txid}: receipt verified (${verified.kind})`);
// #endregion readme
