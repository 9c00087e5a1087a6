/**
 * VerifierPool on real worker threads: hostile signatures get the same answer as on the main
 * thread (and when the pool checks them there itself, its inline rule), answers never cross between concurrent checks, a crashed or hung worker is replaced
 * (its checks fail with Unavailable, the queued ones are checked by its successor), the queue is
 * bounded, and close fails whatever is still waiting.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Wallet } from "ethers";
import { fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import {
  EIP191_SCHEME,
  EIP712_SCHEME,
  treatyTypedData,
  walletRequestText,
  walletSignedBytes,
} from "../../sdk/ethereum.js";
import type { RequestBody } from "../../sdk/request.js";
import { CURVES, generateKeyPair, type KeyPair, sign } from "../../sdk/keys.js";
import { sha256 } from "../../runtime/crypto.js";
import {
  checkJob,
  createVerifier,
  defaultVerifyWorkers,
  VerifierPool,
  type VerifyJob,
} from "../../node/verify/index.js";
import { silentLogger } from "../../node/log.js";

const HOOKED_WORKER = new URL("./fixtures/hooked-worker.js", import.meta.url);
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** A signed-request input; every job owns its bytes (the pool may transfer them). */
function input(text: string): Uint8Array {
  return utf8.encode(`treaty-request-v1\nservice\n/app/log/writePublic\n${text}`);
}

function keyJob(signer: KeyPair, message: Uint8Array, signature = sign(signer, message)): VerifyJob {
  return {
    kind: "key",
    key: { curve: signer.curve, publicKey: signer.publicKey },
    input: message,
    signature,
  };
}

/** The same ECDSA signature with s replaced by n - s (valid maths, refused as malleable). */
function highS(signature: Uint8Array, order: bigint): Uint8Array {
  const out = signature.slice();
  const s = BigInt(`0x${toHex(signature.subarray(32, 64))}`);
  out.set(fromHex((order - s).toString(16).padStart(64, "0")), 32);
  return out;
}

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index]! ^= 1;
  return out;
}

/** The pool's answer, or the rejection's code and message. */
async function outcome(promise: Promise<Uint8Array | null>): Promise<string> {
  try {
    const digest = await promise;
    return digest === null ? "invalid" : `valid ${toHex(digest)}`;
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    return `${code}: ${message}`;
  }
}

async function hostileJobs(): Promise<Array<{ name: string; valid: boolean; job: () => VerifyJob }>> {
  const cases: Array<{ name: string; valid: boolean; job: () => VerifyJob }> = [];
  for (const curve of CURVES) {
    const signer = generateKeyPair(curve);
    const other = generateKeyPair(curve);
    const message = input(`{"curve":"${curve}"}`);
    const signature = sign(signer, message);
    const add = (name: string, valid: boolean, job: () => VerifyJob) =>
      cases.push({ name: `${curve}: ${name}`, valid, job });
    add("valid", true, () => keyJob(signer, message.slice(), signature));
    add("one bit of the signature flipped", false, () =>
      keyJob(signer, message.slice(), flipBit(signature, 5)),
    );
    add("one bit of the message flipped", false, () => keyJob(signer, flipBit(message, 40), signature));
    add("another key's signature", false, () => keyJob(signer, message.slice(), sign(other, message)));
    add("63 bytes", false, () => keyJob(signer, message.slice(), signature.subarray(0, 63)));
    add("65 bytes", false, () => keyJob(signer, message.slice(), new Uint8Array([...signature, 0])));
    add("empty", false, () => keyJob(signer, message.slice(), new Uint8Array(0)));
    add("all zeros", false, () => keyJob(signer, message.slice(), new Uint8Array(64)));
    add("all ones", false, () => keyJob(signer, message.slice(), new Uint8Array(64).fill(0xff)));
    add("a truncated key", false, () => ({
      kind: "key",
      key: { curve, publicKey: signer.publicKey.subarray(1) },
      input: message.slice(),
      signature,
    }));
    add("the key read as another curve", false, () => ({
      kind: "key",
      key: { curve: curve === "ed25519" ? "p256" : "ed25519", publicKey: signer.publicKey },
      input: message.slice(),
      signature,
    }));
    if (curve !== "ed25519") {
      const order = curve === "p256" ? P256_N : SECP256K1_N;
      add("high s", false, () => keyJob(signer, message.slice(), highS(signature, order)));
    }
  }
  const wallet = Wallet.createRandom();
  const address = wallet.address.toLowerCase();
  const text = walletRequestText("ab".repeat(32), "/app/log/writePublic", utf8.encode('{"args":1}'));
  const signature = fromHex((await wallet.signMessage(text)).slice(2));
  const stranger = Wallet.createRandom().address.toLowerCase();
  const signed = utf8.encode(text);
  const wallet191 = (name: string, valid: boolean, job: Partial<VerifyJob & { kind: "wallet" }>) =>
    cases.push({
      name: `eip191: ${name}`,
      valid,
      job: () => ({ kind: "wallet", scheme: EIP191_SCHEME, address, signed, signature, ...job }),
    });
  wallet191("valid", true, {});
  wallet191("another address", false, { address: stranger });
  wallet191("another text", false, { signed: utf8.encode(`${text} `) });
  wallet191("read as EIP-712", false, { scheme: EIP712_SCHEME });
  wallet191("v = 29", false, { signature: new Uint8Array([...signature.subarray(0, 64), 29]) });
  wallet191("64 bytes", false, { signature: signature.subarray(0, 64) });
  wallet191("high s", false, {
    signature: new Uint8Array([
      ...highS(signature, SECP256K1_N).subarray(0, 64),
      signature[64] === 27 ? 28 : 27,
    ]),
  });
  wallet191("all zeros", false, { signature: new Uint8Array(65) });
  // EIP-712, signed by ethers' signTypedData.
  const body = utf8.encode('{"args":1,"nonce":"n1","createdMs":1}');
  const typed = treatyTypedData("ab".repeat(32), "/app/log/writePublic", body, { nonce: "n1", createdMs: 1 });
  const typedSignature = fromHex(
    (
      await wallet.signTypedData(
        typed.domain,
        { TreatyRequest: [...typed.types.TreatyRequest] },
        typed.message,
      )
    ).slice(2),
  );
  const typedSigned = walletSignedBytes(EIP712_SCHEME, "ab".repeat(32), "/app/log/writePublic", body, {
    nonce: "n1",
    createdMs: 1,
  } as RequestBody);
  const wallet712 = (name: string, valid: boolean, job: Partial<VerifyJob & { kind: "wallet" }>) =>
    cases.push({
      name: `eip712: ${name}`,
      valid,
      job: () => ({
        kind: "wallet",
        scheme: EIP712_SCHEME,
        address,
        signed: typedSigned,
        signature: typedSignature,
        ...job,
      }),
    });
  wallet712("valid", true, {});
  wallet712("another address", false, { address: stranger });
  wallet712("read as EIP-191", false, { scheme: EIP191_SCHEME });
  wallet712("another message", false, { signed: typedSigned.map((b, i) => (i === 40 ? b ^ 1 : b)) });
  return cases;
}

describe("VerifierPool", () => {
  it("starts its threads at the first check, or at once for the node (a follower is ready to lead)", async () => {
    const lazy = new VerifierPool({ workers: 2, logger: silentLogger });
    const node = createVerifier(2, silentLogger);
    try {
      assert.equal(lazy.stats().threads, 0);
      assert.equal(node.stats().threads, 2, "the node's verifier loaded its threads before any check");
      const signer = generateKeyPair("ed25519");
      const message = input("first");
      assert.equal(
        await outcome(node.verify(keyJob(signer, message.slice()))),
        `valid ${toHex(sha256(message))}`,
      );
      assert.equal(node.stats().restarts, 0);
    } finally {
      await lazy.close();
      await node.close();
    }
    assert.equal(node.stats().threads, 0);
  });

  it("answers every hostile signature as the main thread does, the digest with each valid one", async () => {
    const cases = await hostileJobs();
    const pool = new VerifierPool({ workers: 2, maxBatchJobs: 4, inlineMaxJobs: 0, logger: silentLogger });
    try {
      const answers = await Promise.all(cases.map(({ job }) => outcome(pool.verify(job()))));
      cases.forEach(({ name, valid, job }, i) => {
        const reference = job();
        const expected = checkJob(reference);
        assert.equal(expected !== null, valid, `${name}: the reference`);
        const digest = reference.kind === "key" ? sha256(reference.input) : sha256(reference.signed);
        assert.equal(answers[i], valid ? `valid ${toHex(digest)}` : "invalid", name);
      });
    } finally {
      await pool.close();
    }
  });

  it("answers every hostile signature the same when it checks them on the main thread", async () => {
    const cases = await hostileJobs();
    const pool = new VerifierPool({ workers: 1, logger: silentLogger });
    try {
      for (const { name, valid, job } of cases) {
        // One at a time, the worker idle: each is checked on this thread (the inline rule).
        const reference = job();
        const digest = reference.kind === "key" ? sha256(reference.input) : sha256(reference.signed);
        assert.equal(await outcome(pool.verify(job())), valid ? `valid ${toHex(digest)}` : "invalid", name);
      }
      assert.equal(pool.stats().inlineChecks, cases.length);
      assert.equal(pool.stats().batches, 0);
    } finally {
      await pool.close();
    }
  });

  it("checks on the main thread only when no worker holds a batch and at most inlineMaxJobs wait", async () => {
    const signer = generateKeyPair("ed25519");
    const pool = new VerifierPool({
      workers: 1,
      inlineMaxJobs: 2,
      stallMs: 1000,
      logger: silentLogger,
      workerUrl: HOOKED_WORKER,
    });
    const crash = input("CRASH");
    try {
      // The hooked worker dies on CRASH; this thread checks it as any other (a bad signature).
      const here = await Promise.all([
        outcome(pool.verify(keyJob(signer, crash.slice(), sign(signer, input("other"))))),
        outcome(pool.verify(keyJob(signer, crash.slice()))),
      ]);
      assert.deepEqual(here, ["invalid", `valid ${toHex(sha256(crash))}`]);
      assert.deepEqual([pool.stats().inlineChecks, pool.stats().batches, pool.stats().restarts], [2, 0, 0]);
      // Three in one turn: more than inlineMaxJobs, so they go to the worker, which crashes.
      const sent = await Promise.all(
        [input("a"), crash, input("b")].map((m) => outcome(pool.verify(keyJob(signer, m.slice())))),
      );
      const lost = "Unavailable: signature check: the verify worker crashed (exit code 70); try again";
      assert.deepEqual(sent, [lost, lost, lost]);
      assert.deepEqual([pool.stats().inlineChecks, pool.stats().batches, pool.stats().restarts], [2, 1, 1]);
      // One check while the worker holds a batch: it waits for a worker (here the hung one's
      // successor), not checked here.
      const hung = [input("HANG"), input("c"), input("d")].map((m) =>
        outcome(pool.verify(keyJob(signer, m.slice()))),
      );
      await new Promise((resolve) => setTimeout(resolve, 50)); // sent to the worker, which spins
      const behind = input("behind");
      const queued = outcome(pool.verify(keyJob(signer, behind.slice())));
      const stalled =
        "Unavailable: signature check: the verify worker finished no check for 1000 ms (hung); try again";
      assert.deepEqual(await Promise.all(hung), [stalled, stalled, stalled]);
      assert.equal(await queued, `valid ${toHex(sha256(behind))}`);
      assert.deepEqual([pool.stats().inlineChecks, pool.stats().batches, pool.stats().restarts], [2, 3, 2]);
      assert.equal(pool.stats().pendingJobs, 0);
    } finally {
      await pool.close();
    }
    assert.throws(() => new VerifierPool({ workers: 1, inlineMaxJobs: -1, logger: silentLogger }), {
      code: "InvalidArgs",
    });
  });

  it("never mixes answers between concurrent checks, across workers and batches", async () => {
    const signers = [
      generateKeyPair("ed25519"),
      generateKeyPair("p256"),
      generateKeyPair("ed25519"),
      generateKeyPair("secp256k1"),
    ];
    const pool = new VerifierPool({ workers: 2, maxBatchJobs: 5, inlineMaxJobs: 0, logger: silentLogger });
    try {
      const pending: Array<{ expected: string; answer: Promise<string> }> = [];
      for (let i = 0; i < 400; i++) {
        const signer = signers[i % signers.length]!;
        const message = input(`{"job":${i}}`);
        const valid = i % 3 !== 0;
        const signature = sign(signer, valid ? message : input(`{"job":${i + 1}}`));
        const expected = valid ? `valid ${toHex(sha256(message))}` : "invalid";
        pending.push({ expected, answer: outcome(pool.verify(keyJob(signer, message, signature))) });
        // Arrive in bursts of varied size, some while earlier batches are in flight.
        if (i % 7 === 3) await new Promise((resolve) => setImmediate(resolve));
      }
      const answers = await Promise.all(pending.map((p) => p.answer));
      for (const [i, answer] of answers.entries()) assert.equal(answer, pending[i]!.expected, `job ${i}`);
      assert.ok(pool.stats().batches >= 400 / 5, "batches are capped at maxBatchJobs");
      assert.equal(pool.stats().pendingJobs, 0);
    } finally {
      await pool.close();
    }
  });

  it("replaces a crashed worker: its checks fail with Unavailable, the queued ones are checked", async () => {
    const signer = generateKeyPair("ed25519");
    const pool = new VerifierPool({
      workers: 1,
      maxBatchJobs: 2,
      inlineMaxJobs: 0,
      logger: silentLogger,
      workerUrl: HOOKED_WORKER,
    });
    try {
      // Two jobs per batch, one batch in flight: [0, CRASH] is on the worker, 1 and 2 are queued.
      const messages = [0, 1, 2].map((i) => input(`{"around":${i}}`));
      const answers = await Promise.all([
        outcome(pool.verify(keyJob(signer, messages[0]!.slice()))),
        outcome(pool.verify(keyJob(signer, input("CRASH")))),
        ...messages.slice(1).map((m) => outcome(pool.verify(keyJob(signer, m.slice())))),
      ]);
      const lost = "Unavailable: signature check: the verify worker crashed (exit code 70); try again";
      assert.equal(answers[0], lost, "checked before the crash, but its answer was lost with the worker");
      assert.equal(answers[1], lost);
      assert.equal(answers[2], `valid ${toHex(sha256(messages[1]!))}`);
      assert.equal(answers[3], `valid ${toHex(sha256(messages[2]!))}`);
      const later = input("later");
      assert.equal(
        await outcome(pool.verify(keyJob(signer, later.slice()))),
        `valid ${toHex(sha256(later))}`,
      );
      assert.equal(pool.stats().restarts, 1);
      assert.equal(pool.stats().pendingJobs, 0);
    } finally {
      await pool.close();
    }
  });

  it("replaces a hung worker: its checks fail with Unavailable, later checks succeed", async () => {
    const signer = generateKeyPair("ed25519");
    const pool = new VerifierPool({
      workers: 1,
      stallMs: 1000,
      inlineMaxJobs: 0,
      logger: silentLogger,
      workerUrl: HOOKED_WORKER,
    });
    try {
      const hung = await outcome(pool.verify(keyJob(signer, input("HANG"))));
      assert.equal(
        hung,
        "Unavailable: signature check: the verify worker finished no check for 1000 ms (hung); try again",
      );
      const later = input("later");
      assert.equal(
        await outcome(pool.verify(keyJob(signer, later.slice()))),
        `valid ${toHex(sha256(later))}`,
      );
      assert.equal(pool.stats().restarts, 1);
    } finally {
      await pool.close();
    }
  });

  it("bounds the checks waiting: beyond maxPendingJobs, Unavailable at once", async () => {
    assert.throws(() => new VerifierPool({ workers: 0, logger: silentLogger }), { code: "InvalidArgs" });
    assert.deepEqual([1, 2, 3, 4, 8, 64].map(defaultVerifyWorkers), [1, 1, 1, 2, 4, 4]);
    const signer = generateKeyPair("ed25519");
    const pool = new VerifierPool({ workers: 1, maxPendingJobs: 3, logger: silentLogger });
    try {
      const messages = [0, 1, 2, 3].map((i) => input(`{"bounded":${i}}`));
      const answers = messages.map((m) => outcome(pool.verify(keyJob(signer, m.slice()))));
      assert.equal(
        await answers[3],
        "Unavailable: signature check: 3 requests are already waiting for theirs; try again",
      );
      for (let i = 0; i < 3; i++) assert.equal(await answers[i], `valid ${toHex(sha256(messages[i]!))}`);
      const after = input("after");
      assert.equal(
        await outcome(pool.verify(keyJob(signer, after.slice()))),
        `valid ${toHex(sha256(after))}`,
      );
    } finally {
      await pool.close();
    }
  });

  it("close fails the checks still waiting, and every later one, with Unavailable", async () => {
    const signer = generateKeyPair("ed25519");
    const pool = new VerifierPool({
      workers: 1,
      inlineMaxJobs: 0,
      logger: silentLogger,
      workerUrl: HOOKED_WORKER,
    });
    const inFlight = outcome(pool.verify(keyJob(signer, input("HANG"))));
    await new Promise((resolve) => setTimeout(resolve, 50)); // sent to the worker, which spins
    const queued = outcome(pool.verify(keyJob(signer, input("queued"))));
    await pool.close();
    const stopping = "Unavailable: signature check: the node is stopping";
    assert.equal(await inFlight, stopping);
    assert.equal(await queued, stopping);
    assert.equal(await outcome(pool.verify(keyJob(signer, input("after")))), stopping);
    assert.equal(pool.stats().pendingJobs, 0);
    await pool.close(); // idempotent
  });
});
