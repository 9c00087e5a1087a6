/**
 * The verify batch encoding (node/verify/protocol.ts): any mix of key and wallet jobs decodes to
 * the same jobs, in order, from one buffer.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EIP191_SCHEME, EIP712_SCHEME } from "../../sdk/ethereum.js";
import { CURVES } from "../../sdk/keys.js";
import { decodeJobs, encodeJobs } from "../../node/verify/protocol.js";
import type { VerifyJob } from "../../node/verify/index.js";

const bytes = (max: number) => fc.uint8Array({ maxLength: max });

const keyJob: fc.Arbitrary<VerifyJob> = fc.record({
  kind: fc.constant("key" as const),
  key: fc.record({ curve: fc.constantFrom(...CURVES), publicKey: bytes(65) }),
  input: bytes(300),
  signature: bytes(70),
});

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
    ? [job.kind, job.key.curve, [...job.key.publicKey], [...job.input], [...job.signature]]
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
});
