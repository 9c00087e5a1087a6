import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import { toKeyFile } from "../../sdk/keys.js";
import { verifyConsistencyProof } from "../../sdk/consistency.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { UsageError } from "../../node/cli/command.js";
import {
  runLedgerExport,
  runLedgerConsistency,
  runLedgerReceipt,
  runLedgerVerify,
} from "../../node/cli/ledger.js";
import { listChunkFiles } from "../../runtime/ledger/chunks.js";
import { LmdbLedgerStore, ledgerStoreDir } from "../../runtime/ledger/lmdb-store.js";
import { buildFixtureLedger, SECRET_KEY, SERVICE, testKey } from "./fixtures.js";
import { captureLedgerIo } from "../support/cli.js";

/** Captures what a command prints; a fake clock that advances 400 ms per reading. */
function captureIo() {
  let clock = 0;
  return captureLedgerIo(() => (clock += 400));
}

let root: string;
let dataDir: string;
let secretFile: string;
let serviceKeyFile: string;
let serviceFile: string;
let otherServiceFile: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "treaty-ledger-cli-"));
  dataDir = join(root, "node-data");
  const store = LmdbLedgerStore.open(ledgerStoreDir(dataDir));
  buildFixtureLedger({ transactions: 40, signEvery: 6, store });
  await store.close();
  secretFile = join(root, "secret.json");
  writeFileSync(secretFile, JSON.stringify({ version: 1, key: toHex(SECRET_KEY) }));
  serviceKeyFile = join(root, "service-key.json");
  const { privateKey: _omitted, ...publicPart } = toKeyFile(SERVICE);
  writeFileSync(serviceKeyFile, JSON.stringify(publicPart));
  // A service.json as `treaty dev` writes it: what members and apps hold.
  serviceFile = join(root, "service.json");
  writeFileSync(
    serviceFile,
    JSON.stringify({
      serviceKey: { curve: "ed25519", publicKey: toHex(SERVICE.publicKey) },
      nodes: ["http://127.0.0.1:1"],
    }),
  );
  otherServiceFile = join(root, "other-service.json");
  writeFileSync(
    otherServiceFile,
    JSON.stringify({
      serviceKey: { curve: "ed25519", publicKey: toHex(testKey("some-other-service").publicKey) },
      nodes: ["http://127.0.0.1:1"],
    }),
  );
});

after(() => rmSync(root, { recursive: true, force: true }));

describe("treaty ledger verify", () => {
  it("audits a data dir with a pinned service key (service.json, key file, hex or curve:hex) and a ledger secret", async () => {
    for (const key of [
      serviceFile,
      serviceKeyFile,
      toHex(SERVICE.publicKey),
      `ed25519:${toHex(SERVICE.publicKey)}`,
    ]) {
      const io = captureIo();
      const code = await runLedgerVerify([dataDir, "--service-key", key, "--ledger-secret", secretFile], io);
      assert.equal(code, 0, io.stdout + io.stderr);
      const report = io.json();
      assert.equal(report.ok, true);
      assert.equal(report.lastSeqno, 46);
      assert.equal(report.lastSignedSeqno, 42);
      assert.equal(report.unsignedTail, 4);
      assert.equal(report.decryptedEntries, report.privateEntries);
      assert.deepEqual((report.serviceKey as { pinned: boolean }).pinned, true);
      assert.doesNotMatch(io.stderr, /warning/);
    }
  });

  it("warns when the service identity is not pinned", async () => {
    const io = captureIo();
    assert.equal(await runLedgerVerify([dataDir, "--quiet"], io), 0);
    assert.match(io.stderr, /not pinned/);
  });

  it("fails with exit 1 and the first bad seqno for a ledger from another service", async () => {
    const io = captureIo();
    const other = toHex(testKey("some-other-service").publicKey);
    assert.equal(await runLedgerVerify([dataDir, "--service-key", other], io), 1);
    const { error } = io.json() as { error: { code: string; seqno: number; message: string } };
    assert.equal(error.code, "LedgerCorrupt");
    assert.equal(error.seqno, 7);
    assert.match(io.stderr, /^treaty ledger verify: LedgerCorrupt: /);
    // Pinned by another service's service.json: refused the same way.
    const pinned = captureIo();
    assert.equal(await runLedgerVerify([dataDir, "--service-key", otherServiceFile], pinned), 1);
    assert.equal((pinned.json().error as { code: string }).code, "LedgerCorrupt");
  });

  it("refuses bad arguments as usage errors, and missing ledgers as NotFound", async () => {
    await assert.rejects(runLedgerVerify([], captureIo()), UsageError);
    await assert.rejects(runLedgerVerify([dataDir, "--service-key", "nothex"], captureIo()), UsageError);
    await assert.rejects(
      runLedgerVerify([dataDir, "--ledger-secret", join(root, "none.json")], captureIo()),
      UsageError,
    );
    await assert.rejects(runLedgerVerify([dataDir, "--bogus"], captureIo()), UsageError);
    const io = captureIo();
    assert.equal(await runLedgerVerify([join(root, "missing")], io), 1);
    assert.equal((io.json().error as { code: string }).code, "NotFound");
  });
});

describe("treaty ledger export, then verify the chunks", () => {
  it("exports signed chunks that verify, and reports a damaged chunk's seqno", async () => {
    const out = join(root, "export");
    const io = captureIo();
    assert.equal(
      await runLedgerExport([dataDir, out, "--chunk-bytes", "4000"], io),
      0,
      io.stdout + io.stderr,
    );
    const result = io.json() as { lastExportedSeqno: number; unsignedTail: number; files: unknown[] };
    assert.equal(result.lastExportedSeqno, 42);
    assert.equal(result.unsignedTail, 4);
    assert.match(io.stderr, /4 entries after the last signature/);
    assert.ok(result.files.length > 1);

    const verified = captureIo();
    assert.equal(
      await runLedgerVerify([out, "--service-key", serviceKeyFile, "--ledger-secret", secretFile], verified),
      0,
    );
    assert.equal(verified.json().lastSignedSeqno, 42);
    assert.match(verified.json().source as string, /chunk file/);
    const files = listChunkFiles(out);
    const single = captureIo();
    assert.equal(
      await runLedgerVerify([files[0]!], single),
      0,
      "one chunk file from seqno 1 verifies on its own",
    );

    const bytes = readFileSync(files[0]!);
    bytes[bytes.length - 5]! ^= 0x10;
    writeFileSync(files[0]!, bytes);
    const damaged = captureIo();
    assert.equal(await runLedgerVerify(files, damaged), 1);
    const { error } = damaged.json() as { error: { code: string; seqno: number } };
    assert.equal(error.code, "LedgerCorrupt");
    assert.equal(error.seqno, Number(/ledger_1-(\d+)/.exec(files[0]!)![1]));
  });

  it("refuses bad export arguments", async () => {
    await assert.rejects(runLedgerExport([dataDir], captureIo()), UsageError);
    await assert.rejects(
      runLedgerExport([dataDir, join(root, "x"), "--chunk-bytes", "0"], captureIo()),
      UsageError,
    );
  });
});

describe("treaty ledger receipt", () => {
  it("prints a receipt that the SDK verifies against the service key", async () => {
    const io = captureIo();
    assert.equal(await runLedgerReceipt([dataDir, "2.9"], io), 0, io.stdout + io.stderr);
    const verified = verifyReceipt(io.json(), SERVICE);
    assert.equal(verified.txid, "2.9");
    assert.equal(verified.signedBy, "2.14");
  });

  it("refuses unsigned, uncommitted and unknown txids with exit 1", async () => {
    for (const [args, code] of [
      [["2.45"], "TxNotCommitted"],
      [["2.9", "--commit-seqno", "10"], "TxNotCommitted"],
      [["2.99"], "TxNotFound"],
      [["7.9"], "TxNotFound"],
      [["nine"], "MalformedRequest"],
    ] as const) {
      const io = captureIo();
      assert.equal(await runLedgerReceipt([dataDir, ...args], io), 1);
      assert.equal((io.json().error as { code: string }).code, code, args.join(" "));
      // The stderr line names the whole command, as every other command's does.
      assert.ok(io.stderr.startsWith(`treaty ledger receipt: ${code}: `), io.stderr);
    }
  });
});

describe("treaty ledger consistency", () => {
  it("prints a proof between two signed sizes that the SDK verifies", async () => {
    const io = captureIo();
    assert.equal(await runLedgerConsistency([dataDir, "13", "27"], io), 0, io.stdout + io.stderr);
    const proved = verifyConsistencyProof(io.json(), SERVICE);
    assert.equal(proved.from.txid, "2.14");
    assert.equal(proved.to.treeSize, 27);
  });

  it("refuses unsigned sizes with exit 1 and bad arguments as usage errors", async () => {
    const io = captureIo();
    assert.equal(await runLedgerConsistency([dataDir, "12", "27"], io), 1);
    assert.equal((io.json().error as { code: string }).code, "TxNotFound");
    await assert.rejects(runLedgerConsistency([dataDir, "13"], captureIo()), UsageError);
    await assert.rejects(runLedgerConsistency([dataDir, "0", "13"], captureIo()), UsageError);
  });
});

describe("a data dir marked damaged (DAMAGED.json)", () => {
  it("verify, export, receipt and consistency read its ledger and say it is marked; verify reports the marker", async () => {
    const marker = join(dataDir, "DAMAGED.json");
    writeFileSync(marker, "not a record");
    const warning = (command: string) =>
      `treaty ledger ${command}: warning: data folder ${dataDir} is marked damaged by ${marker}, which does not hold a readable damage record (not JSON: `;
    try {
      const verify = captureIo();
      assert.equal(await runLedgerVerify([dataDir, "--service-key", serviceKeyFile, "--quiet"], verify), 0);
      const report = verify.json() as { ok: boolean; damageMarker: { path: string; record: unknown } };
      assert.equal(report.ok, true);
      assert.equal(report.damageMarker.path, marker);
      assert.equal(report.damageMarker.record, null);
      assert.ok(verify.stderr.startsWith(warning("verify")), verify.stderr);
      assert.ok(verify.stderr.includes("A node refuses to start on it and a recovery refuses to read it"));

      const exported = captureIo();
      assert.equal(
        await runLedgerExport([dataDir, join(root, "export-marked")], exported),
        0,
        exported.stderr,
      );
      assert.ok(exported.stderr.startsWith(warning("export")), exported.stderr);
      const receipt = captureIo();
      assert.equal(await runLedgerReceipt([dataDir, "2.9"], receipt), 0);
      assert.equal(verifyReceipt(receipt.json(), SERVICE).txid, "2.9");
      assert.ok(receipt.stderr.startsWith(warning("receipt")), receipt.stderr);
      const proof = captureIo();
      assert.equal(await runLedgerConsistency([dataDir, "13", "27"], proof), 0);
      assert.ok(proof.stderr.startsWith(warning("consistency")), proof.stderr);
    } finally {
      rmSync(marker, { force: true });
    }
    // Without the marker: no warning, no field.
    const io = captureIo();
    assert.equal(await runLedgerVerify([dataDir, "--service-key", serviceKeyFile, "--quiet"], io), 0);
    assert.equal(io.json().damageMarker, undefined);
    assert.equal(io.stderr, "");
  });
});
