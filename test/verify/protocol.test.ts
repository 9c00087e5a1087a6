/**
 * The verify batch encoding (node/verify/protocol.ts): any mix of key and wallet jobs decodes to
 * the same jobs, in order, from one buffer; a key job's `inputPrefix ‖ input` decodes as one
 * `input`, and checks the same as the joined bytes (`checkJob`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EIP191_SCHEME, EIP712_SCHEME } from "../../sdk/ethereum.js";
import { utf8 } from "../../sdk/bytes.js";
import { CURVES, generateKeyPair, sign } from "../../sdk/keys.js";
import { signingInput } from "../../sdk/request.js";
import { sha256 } from "../../runtime/crypto.js";
import { decodeJobs, encodeJobs } from "../../node/verify/protocol.js";
import { checkJob, type VerifyJob } from "../../node/verify/index.js";

const bytes = (max: number) => fc.uint8Array({ maxLength: max });

const keyJob: fc.Arbitrary<VerifyJob> = fc.record(
  {
    kind: fc.constant("key" as const),
    key: fc.record({ curve: fc.constantFrom(...CURVES), publicKey: bytes(65) }),
    inputPrefix: bytes(120),
    input: bytes(300),
    signature: bytes(70),
  },
  { requiredKeys: ["kind", "key", "input", "signature"] },
);

const walletJob: fc.Arbitrary<VerifyJob> = fc.record({
  kind: fc.constant("wallet" as const),
  scheme: fc.constantFrom(EIP191_SCHEME, EIP712_SCHEME),
  address: fc.string({ maxLength: 50 }),
  signed: bytes(300),
  signature: bytes(70),
});

/** A job's fields as plain values (decoded parts are views into the batch buffer). */
function plain(job: VerifyJob): unknown {
  return job.kind === "key"
    ? [
        job.kind,
        job.key.curve,
        [...job.key.publicKey],
        [...(job.inputPrefix ?? []), ...job.input],
        [...job.signature],
      ]
    : [job.kind, job.scheme, job.address, [...job.signed], [...job.signature]];
}

describe("verify batch encoding", () => {
  it("decodes every job of a batch, in order", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(keyJob, walletJob), { maxLength: 20 }), (jobs) => {
        assert.deepEqual(decodeJobs(encodeJobs(jobs)).map(plain), jobs.map(plain));
      }),
      { numRuns: 500 },
    );
  });

  it("signs a key job over its prefix and input joined, on a worker as on the calling thread", () => {
    const signer = generateKeyPair("ed25519");
    const whole = signingInput("ab".repeat(32), "/app/log/write", utf8.encode('{"args":{}}'));
    const signature = sign(signer, whole);
    const key = { curve: signer.curve, publicKey: signer.publicKey };
    for (const cut of [0, 1, 40, whole.length - 1, whole.length]) {
      const job: VerifyJob = {
        kind: "key",
        key,
        inputPrefix: whole.subarray(0, cut),
        input: whole.subarray(cut),
        signature,
      };
      const [decoded] = decodeJobs(encodeJobs([job]));
      assert.deepEqual(checkJob(job), sha256(whole), `cut at ${cut}`);
      assert.deepEqual(checkJob(decoded!), sha256(whole), `cut at ${cut}, decoded`);
    }
    // The prefix is signed too: a job without it, or with another, does not verify.
    assert.equal(checkJob({ kind: "key", key, input: whole.subarray(40), signature }), null);
    assert.equal(
      checkJob({ kind: "key", key, inputPrefix: new Uint8Array(40), input: whole.subarray(40), signature }),
      null,
    );
  });
});
