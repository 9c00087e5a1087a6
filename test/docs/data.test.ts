/**
 * The data examples of docs/ (JSON and YAML blocks) are what the code accepts: the receipt of
 * docs/receipts.md verifies against the service key the page gives, the proposal of
 * docs/governance.md passes the SDK's check, and its node config parses. (The `/node/status`
 * example is checked against a running node in test/node/observability.test.ts.)
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../node/config.js";
import { toHex } from "../../sdk/bytes.js";
import { checkProposal } from "../../sdk/governance.js";
import { generateKeyPair, parsePublicKey } from "../../sdk/keys.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { fencedBlocks } from "../support/snippets.js";

const ROOT = findPackageRoot();
const doc = (name: string) => readFileSync(join(ROOT, "docs", name), "utf8");
const blocks = (name: string, lang: string) => fencedBlocks(doc(name)).filter((b) => b.lang === lang);

describe("data examples in docs/", () => {
  it("receipts.md: the example receipt verifies against the example service key", () => {
    const [receipt] = blocks("receipts.md", "json");
    const key = /Service identity public key: `([0-9a-f]{64})`/.exec(doc("receipts.md"));
    assert.ok(receipt && key);
    const verified = verifyReceipt(JSON.parse(receipt.text), parsePublicKey("ed25519", key[1]!, "key"), {
      txid: "2.3",
    });
    assert.deepEqual([verified.txid, verified.kind, verified.signedBy], ["2.3", "member", "2.6"]);
  });

  it("governance.md: the example proposal passes checkProposal", () => {
    const [proposal] = blocks("governance.md", "json");
    assert.ok(proposal);
    const checked = checkProposal(JSON.parse(proposal.text));
    assert.deepEqual(
      checked.actions.map((a) => a.name),
      ["set_user", "transition_service_to_open"],
    );
  });

  it("governance.md: the genesis config parses, with real keys for the placeholders", () => {
    const [config] = blocks("governance.md", "yaml");
    assert.ok(config);
    const filled = config.text.replace(/<[^>]+'s publicKey>/g, () => toHex(generateKeyPair().publicKey));
    const parsed = parseConfig(parseYaml(filled), "/tmp");
    assert.equal(parsed.genesis?.members.length, 2);
    assert.equal(parsed.genesis?.open, false);
    assert.deepEqual(parsed.nats?.servers, ["nats://nats.example:4222"]);
  });
});
