import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import {
  encodeLeafData,
  endorsementMessage,
  formatTxId,
  parseTxId,
  type Receipt,
  signedRootMessage,
  verifyReceipt,
} from "../../sdk/receipt.js";
import { verifySignature } from "../../runtime/crypto.js";
import { buildFixtureLedger, SERVICE, signerFor, testKey } from "../ledger/fixtures.js";

/** The example of docs/receipts.md: txid 2.3 (a member transaction) covered by the signature at 2.6. */
const EXAMPLE: Receipt = {
  version: 1,
  txid: "2.3",
  leaf: {
    view: 2,
    seqno: 3,
    kind: "member",
    entryDigest: "ec3e35698d408cea57094c2cd82a899844797d43591705cdac6aabb3511cd609",
    requestDigest: "ff14e14c208d414590558c2e333a73da13828df7df2988dacc7f817e6aa5f995",
  },
  proof: [
    "c248b8f515b29e1dc84caa1ccebbfae797b4f4d401c6c183b4dc11214667bcee",
    "804204836093f134d0f1a79bcde6a2a7bd9b0b27bdea3b57e8fb5fc270f43880",
    "a986aac907aeb887cce0d3839fcf6a937280ba0dbcd6265f25d115c9c2738a8e",
  ],
  signature: {
    view: 2,
    seqno: 6,
    treeSize: 5,
    root: "129eec6d4ecda0b1549ae72f911af9fd89fc700e440f6d22a2d27ac4635b36c3",
    timeMs: 1700000002004,
    signature:
      "324f651a44da60ee4865d9179635a7b10c548e348b7ad591923c8050686a33e7fec7fb2a27f242fe565e043c89b618076ac429081644b6b1e58bf58af32e4507",
  },
  node: {
    id: "2b1660d178285f5d9353c0296a95e1892d3467d720feb120fbd9ee6f046081b1",
    curve: "ed25519",
    publicKey: "2f3ce1aa8963f5ba47b204f6752caf6968381c834714d199f07ad08e9bd1db41",
    endorsement: {
      validFromMs: 1700000000000,
      validToMs: 1731536000000,
      signature:
        "c640cbeab4f18e8386fff26a766046d9e972ba8f74139621054adc3dfdcdd157190e28ef5d6555b2e1439d84706f5a8a1e127f19ac7210a76c6df1234e06ce03",
    },
  },
};
const EXAMPLE_SERVICE_KEY = "5820d2a81821fd04643762563526af9695254e4b2f7877adcb489587764f27e3";
const EXAMPLE_LEAF_DATA =
  "010000000000000002000000000000000302ec3e35698d408cea57094c2cd82a899844797d43591705cdac6aabb3511cd609ff14e14c208d414590558c2e333a73da13828df7df2988dacc7f817e6aa5f995";
const EXAMPLE_LEAF_HASH = "783b60d2a36c73f7aa6051feed6ed384f4d7f96c2c0a0b23b13067aa0140b06c";
const EXAMPLE_ROOT_MESSAGE =
  "7472656174792f7369676e65642d726f6f742f763100000000000000000200000000000000060000000000000005129eec6d4ecda0b1549ae72f911af9fd89fc700e440f6d22a2d27ac4635b36c30000018bcfe56fd4";
const EXAMPLE_ENDORSEMENT_MESSAGE =
  "7472656174792f6e6f64652d656e646f7273656d656e742f7631002b1660d178285f5d9353c0296a95e1892d3467d720feb120fbd9ee6f046081b1202f3ce1aa8963f5ba47b204f6752caf6968381c834714d199f07ad08e9bd1db410000018bcfe568000000019327969400";

const serviceKey: PublicKey = { curve: "ed25519", publicKey: fromHex(EXAMPLE_SERVICE_KEY) };

function invalid(field: RegExp | string) {
  return (err: unknown) => {
    assert.ok(isTreatyError(err, "ReceiptInvalid"), `expected ReceiptInvalid, got ${String(err)}`);
    const named = String(err.details?.field);
    if (typeof field === "string") assert.equal(named, field, err.message);
    else assert.match(named, field, err.message);
    assert.ok(err.message.startsWith(`${named}: `), err.message);
    return true;
  };
}

/** The example as plain mutable JSON. */
interface Editable {
  [key: string]: unknown;
  leaf: Record<string, unknown> & { entryDigest: string; requestDigest: string };
  proof: string[];
  signature: Record<string, unknown> & { root: string; signature: string; timeMs: number };
  node: Record<string, unknown> & {
    id: string;
    publicKey: string;
    endorsement?: Record<string, unknown> & { signature: string };
  };
}

/** A deep copy of the example with one change. */
function tampered(edit: (r: Editable) => void): unknown {
  const copy = structuredClone(EXAMPLE) as unknown as Editable;
  edit(copy);
  return copy;
}

function flipHex(hex: string, at = 0): string {
  const i = at % hex.length;
  return hex.slice(0, i) + (hex[i] === "0" ? "1" : "0") + hex.slice(i + 1);
}

describe("receipt known answers (docs/receipts.md example)", () => {
  it("the example receipt verifies against the pinned service key, noble and node:crypto alike", () => {
    const verified = verifyReceipt(EXAMPLE, serviceKey);
    assert.equal(verified.txid, "2.3");
    assert.equal(verified.kind, "member");
    assert.equal(verified.signedBy, "2.6");
    assert.equal(verified.signedAtMs, 1700000002004);
    assert.equal(verified.nodeId, EXAMPLE.node.id);
    assert.equal(toHex(verified.root), EXAMPLE.signature.root);
    assert.deepEqual(verifyReceipt(EXAMPLE, serviceKey, { verify: verifySignature }), verified);
  });

  it("the byte layouts match the documented hex", () => {
    const leaf = encodeLeafData({
      view: 2,
      seqno: 3,
      kind: "member",
      entryDigest: fromHex(EXAMPLE.leaf.entryDigest),
      requestDigest: fromHex(EXAMPLE.leaf.requestDigest!),
    });
    assert.equal(toHex(leaf), EXAMPLE_LEAF_DATA);
    const signed = { ...EXAMPLE.signature, root: fromHex(EXAMPLE.signature.root) };
    assert.equal(toHex(signedRootMessage(signed)), EXAMPLE_ROOT_MESSAGE);
    const endorsed = {
      nodeId: EXAMPLE.node.id,
      publicKey: fromHex(EXAMPLE.node.publicKey),
      validFromMs: EXAMPLE.node.endorsement.validFromMs,
      validToMs: EXAMPLE.node.endorsement.validToMs,
    };
    assert.equal(toHex(endorsementMessage(endorsed)), EXAMPLE_ENDORSEMENT_MESSAGE);
  });

  it("an independent verifier written from the docs alone accepts the example", () => {
    // What a verifier in another language does: only SHA-256 and Ed25519, no Treaty code.
    const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
    const u64 = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return b;
    };
    const hex = (h: string) => Buffer.from(h, "hex");
    const kindCode = ["user", "member", "governance", "signature", "internal"].indexOf(EXAMPLE.leaf.kind) + 1;
    const leafData = Buffer.concat([
      Buffer.from([1]),
      u64(EXAMPLE.leaf.view),
      u64(EXAMPLE.leaf.seqno),
      Buffer.from([kindCode]),
      hex(EXAMPLE.leaf.entryDigest),
      EXAMPLE.leaf.requestDigest === null ? Buffer.alloc(32) : hex(EXAMPLE.leaf.requestDigest),
    ]);
    assert.equal(leafData.toString("hex"), EXAMPLE_LEAF_DATA);
    let r = sha(Buffer.from([0]), leafData);
    assert.equal(r.toString("hex"), EXAMPLE_LEAF_HASH);
    // RFC 9162 2.1.3.2.
    let fn = EXAMPLE.leaf.seqno - 1;
    let sn = EXAMPLE.signature.treeSize - 1;
    for (const p of EXAMPLE.proof.map(hex)) {
      if (fn % 2 === 1 || fn === sn) {
        r = sha(Buffer.from([1]), p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      } else {
        r = sha(Buffer.from([1]), r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    assert.equal(sn, 0);
    assert.equal(r.toString("hex"), EXAMPLE.signature.root);
    const ed25519 = (raw: Buffer) =>
      createPublicKey({
        key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]),
        format: "der",
        type: "spki",
      });
    const rootMessage = Buffer.concat([
      Buffer.from("treaty/signed-root/v1\0"),
      u64(EXAMPLE.signature.view),
      u64(EXAMPLE.signature.seqno),
      u64(EXAMPLE.signature.treeSize),
      r,
      u64(EXAMPLE.signature.timeMs),
    ]);
    assert.ok(
      nodeVerify(null, rootMessage, ed25519(hex(EXAMPLE.node.publicKey)), hex(EXAMPLE.signature.signature)),
    );
    const nodeId = createHash("sha256")
      .update(Buffer.concat([Buffer.from("ed25519\0"), hex(EXAMPLE.node.publicKey)]))
      .digest("hex");
    assert.equal(nodeId, EXAMPLE.node.id);
    const endorsementMsg = Buffer.concat([
      Buffer.from("treaty/node-endorsement/v1\0"),
      hex(nodeId),
      Buffer.from([32]),
      hex(EXAMPLE.node.publicKey),
      u64(EXAMPLE.node.endorsement.validFromMs),
      u64(EXAMPLE.node.endorsement.validToMs),
    ]);
    assert.ok(
      nodeVerify(
        null,
        endorsementMsg,
        ed25519(hex(EXAMPLE_SERVICE_KEY)),
        hex(EXAMPLE.node.endorsement.signature),
      ),
    );
  });

  it("the fixture ledger still produces exactly the documented example", () => {
    const { ledger } = buildFixtureLedger({ transactions: 5, signEvery: 5 });
    assert.deepEqual(ledger.receipt("2.3", ledger.lastSeqno), EXAMPLE);
    assert.equal(toHex(SERVICE.publicKey), EXAMPLE_SERVICE_KEY);
  });
});

describe("receipt tampering: every field is covered, and the error names it", () => {
  /** [what, path to the field, new value (from the old one), the field the error must name]. */
  const cases: [string, string[], (old: never) => unknown, string][] = [
    ["version", ["version"], () => 2, "receipt.version"],
    ["txid", ["txid"], () => "2.4", "receipt.txid"],
    ["leaf.view", ["leaf", "view"], () => 1, "receipt.txid"],
    ["leaf.kind", ["leaf", "kind"], () => "user", "receipt.proof"],
    ["leaf.kind unknown", ["leaf", "kind"], () => "admin", "receipt.leaf.kind"],
    ["leaf.entryDigest", ["leaf", "entryDigest"], (h: string) => flipHex(h, 5), "receipt.proof"],
    ["leaf.requestDigest", ["leaf", "requestDigest"], (h: string) => flipHex(h, 7), "receipt.proof"],
    ["leaf.requestDigest removed", ["leaf", "requestDigest"], () => null, "receipt.proof"],
    [
      "leaf.requestDigest zeros",
      ["leaf", "requestDigest"],
      () => "00".repeat(32),
      "receipt.leaf.requestDigest",
    ],
    ["proof[1]", ["proof", "1"], (h: string) => flipHex(h, 63), "receipt.proof"],
    ["proof dropped", ["proof"], (p: string[]) => p.slice(0, -1), "receipt.proof"],
    ["proof extended", ["proof"], (p: string[]) => [...p, EXAMPLE.signature.root], "receipt.proof"],
    ["proof reordered", ["proof"], (p: string[]) => [...p].reverse(), "receipt.proof"],
    ["proof element not hex", ["proof", "0"], () => "zz", "receipt.proof[0]"],
    ["signature.view", ["signature", "view"], () => 3, "receipt.signature.signature"],
    ["signature.view before the leaf", ["signature", "view"], () => 1, "receipt.signature.view"],
    ["signature.seqno", ["signature", "seqno"], () => 7, "receipt.signature.treeSize"],
    ["signature.treeSize", ["signature", "treeSize"], () => 4, "receipt.signature.treeSize"],
    ["signature.root", ["signature", "root"], (h: string) => flipHex(h, 11), "receipt.proof"],
    ["signature.timeMs", ["signature", "timeMs"], (t: number) => t + 1, "receipt.signature.signature"],
    ["signature.timeMs outside validity", ["signature", "timeMs"], () => 1, "receipt.signature.timeMs"],
    [
      "signature.signature",
      ["signature", "signature"],
      (h: string) => flipHex(h, 3),
      "receipt.signature.signature",
    ],
    ["node.id", ["node", "id"], (h: string) => flipHex(h, 0), "receipt.node.id"],
    ["node.curve", ["node", "curve"], () => "p256", "receipt.node.id"],
    ["node.curve unknown", ["node", "curve"], () => "rsa", "receipt.node.curve"],
    ["node.publicKey", ["node", "publicKey"], (h: string) => flipHex(h, 9), "receipt.node.id"],
    [
      "endorsement.validFromMs",
      ["node", "endorsement", "validFromMs"],
      () => 0,
      "receipt.node.endorsement.signature",
    ],
    [
      "endorsement.validToMs",
      ["node", "endorsement", "validToMs"],
      () => 2 ** 50,
      "receipt.node.endorsement.signature",
    ],
    [
      "endorsement.signature",
      ["node", "endorsement", "signature"],
      (h: string) => flipHex(h, 1),
      "receipt.node.endorsement.signature",
    ],
    ["endorsement missing", ["node", "endorsement"], () => undefined, "receipt.node.endorsement"],
  ];
  for (const [what, path, change, field] of cases) {
    it(what, () => {
      const receipt = tampered((r) => {
        let parent = r as Record<string, unknown>;
        for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
        const key = path.at(-1)!;
        parent[key] = change(parent[key] as never);
      });
      assert.throws(() => verifyReceipt(receipt, serviceKey), invalid(field));
    });
  }

  it("leaf.seqno with a matching txid", () => {
    const receipt = tampered((r) => {
      r.leaf.seqno = 4;
      r.txid = "2.4";
    });
    assert.throws(() => verifyReceipt(receipt, serviceKey), invalid("receipt.proof"));
  });

  it("a signature placed before the leaf", () => {
    const receipt = tampered((r) => {
      r.signature.seqno = 3;
      r.signature.treeSize = 2;
    });
    assert.throws(() => verifyReceipt(receipt, serviceKey), invalid("receipt.signature.seqno"));
  });

  it("any change to any hex character or number anywhere in the receipt is refused", () => {
    const paths: (string | number)[][] = [];
    const walk = (value: unknown, path: (string | number)[]) => {
      if (typeof value === "string" || typeof value === "number") paths.push(path);
      else if (value !== null && typeof value === "object")
        for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k]);
    };
    walk(EXAMPLE, []);
    assert.ok(paths.length >= 20);
    fc.assert(
      fc.property(
        fc.constantFrom(...paths),
        fc.nat(),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (path, at, delta) => {
          const copy = structuredClone(EXAMPLE) as unknown as Record<string | number, unknown>;
          let parent = copy;
          for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
          const key = path.at(-1)!;
          const value = parent[key];
          parent[key] = typeof value === "number" ? value + delta : flipHex(value as string, at);
          assert.throws(
            () => verifyReceipt(copy, serviceKey),
            (err) => isTreatyError(err, "ReceiptInvalid"),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a receipt from a node the pinned service did not endorse is refused", () => {
    const rogueService = testKey("rogue-service");
    const { ledger } = buildFixtureLedger({
      transactions: 3,
      signEvery: 3,
      signer: signerFor(testKey("rogue-node"), rogueService),
      serviceKey: rogueService,
    });
    const receipt = ledger.receipt("2.1", ledger.lastSeqno);
    assert.equal(verifyReceipt(receipt, rogueService).txid, "2.1");
    assert.throws(() => verifyReceipt(receipt, serviceKey), invalid("receipt.node.endorsement.signature"));
  });

  it("checks the expected txid and request digest when asked", () => {
    const digest = fromHex(EXAMPLE.leaf.requestDigest!);
    assert.equal(verifyReceipt(EXAMPLE, serviceKey, { txid: "2.3", requestDigest: digest }).seqno, 3);
    assert.throws(() => verifyReceipt(EXAMPLE, serviceKey, { txid: "2.4" }), invalid("receipt.txid"));
    assert.throws(
      () => verifyReceipt(EXAMPLE, serviceKey, { requestDigest: new Uint8Array(32) }),
      invalid("receipt.leaf.requestDigest"),
    );
  });

  it("hostile shapes are ReceiptInvalid, never a crash", () => {
    const hostile: unknown[] = [
      null,
      undefined,
      42,
      "receipt",
      [],
      {},
      { ...EXAMPLE, leaf: null },
      { ...EXAMPLE, leaf: [] },
      { ...EXAMPLE, proof: "abc" },
      { ...EXAMPLE, proof: [null] },
      { ...EXAMPLE, proof: ["a".repeat(2000)] },
      { ...EXAMPLE, signature: { ...EXAMPLE.signature, seqno: "6" } },
      { ...EXAMPLE, signature: { ...EXAMPLE.signature, treeSize: Number.NaN } },
      { ...EXAMPLE, signature: { ...EXAMPLE.signature, timeMs: -1 } },
      { ...EXAMPLE, leaf: { ...EXAMPLE.leaf, seqno: 2 ** 60 } },
      { ...EXAMPLE, node: { ...EXAMPLE.node, publicKey: "AB" } },
      { ...EXAMPLE, node: { ...EXAMPLE.node, publicKey: "" } },
    ];
    for (const value of hostile)
      assert.throws(
        () => verifyReceipt(value, serviceKey),
        (err) => isTreatyError(err, "ReceiptInvalid"),
      );
  });
});

describe("txids", () => {
  it("format and parse view.seqno, refusing anything else", () => {
    assert.equal(formatTxId(2, 15), "2.15");
    assert.deepEqual(parseTxId("2.15"), { view: 2, seqno: 15 });
    assert.deepEqual(parseTxId("0.1"), { view: 0, seqno: 1 });
    for (const bad of [
      "2.0",
      "02.1",
      "2.01",
      "2",
      "2.15.1",
      "-1.2",
      "1.2 ",
      "a.b",
      "",
      2.15,
      null,
      "99999999999999999.1",
    ]) {
      assert.throws(
        () => parseTxId(bad),
        (err) => isTreatyError(err, "MalformedRequest"),
        String(bad),
      );
    }
  });
});

describe("receipt verification is browser-safe", () => {
  it("sdk/receipt and everything it imports use no node:* modules and no Buffer", () => {
    const seen = new Set<string>();
    const visit = (url: URL) => {
      if (seen.has(url.href)) return;
      seen.add(url.href);
      // Code only: comments may mention Buffer ("no Buffer").
      const source = readFileSync(url, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "");
      assert.doesNotMatch(source, /from\s+["']node:|require\(|\bBuffer\b|process\./, url.pathname);
      for (const match of source.matchAll(/from\s+["'](\.[^"']+)["']/g)) visit(new URL(match[1]!, url));
    };
    visit(new URL("../../sdk/receipt.js", import.meta.url));
    assert.ok([...seen].some((u) => u.endsWith("/sdk/merkle.js")));
    assert.ok([...seen].some((u) => u.endsWith("/sdk/keys.js")));
  });
});
