/**
 * docs/http.md ("Examples with curl"): the SDK signs a call and hands the exact body and headers
 * to curl. Writes body.json in the current folder and prints curl's -H flags:
 *
 *   node dist/docs/examples/sign-request.js [workspace/service.json] [workspace/user0.json] > headers.txt
 */
// #region sign
import { readFileSync, writeFileSync } from "node:fs";
import { fromKeyFile, keyId, parseServiceFile, signRequest } from "treaty/sdk";

const [servicePath = "workspace/service.json", keyPath = "workspace/user0.json"] = process.argv.slice(2);
const { serviceKey } = parseServiceFile(JSON.parse(readFileSync(servicePath, "utf8")));
const key = fromKeyFile(JSON.parse(readFileSync(keyPath, "utf8")));
const req = signRequest(key, keyId(serviceKey), "/app/log/writePublic", { id: 1, msg: "hello" });
writeFileSync("body.json", req.body);
console.log(Object.entries(req.headers).map(([k, v]) => `-H "${k}: ${v}"`).join(" "));
// #endregion sign
