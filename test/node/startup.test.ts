/**
 * A restarting node answers `/node/status` while it replays its ledger, with its phase and
 * progress, and refuses app and governance calls meanwhile with a retryable, coded 503; once
 * it serves, the same calls work. The replay is held with the runtime's replay hook, so the
 * test sees the phase without depending on how long a replay takes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { Progress } from "../../node/lifecycle.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { pollFor } from "../support/poll.js";

interface StatusAnswer {
  readonly status: number;
  readonly json: {
    readonly phase?: string;
    readonly progress?: Progress;
    readonly nodeId?: string;
    readonly serviceId?: string;
    readonly role?: string;
    readonly error?: { readonly code: string; readonly message: string };
  };
}

async function get(url: string): Promise<StatusAnswer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, json: (await response.json()) as StatusAnswer["json"] };
}

/** Polls `check` until it answers; an error (the node is not listening yet) counts as "not yet". */
const until = <T>(what: string, check: () => Promise<T | undefined>) =>
  pollFor(what, check, { timeoutMs: 30_000 });

describe("node start-up phases", () => {
  let net: TestNode;
  let lastSeqno: number;

  before(async () => {
    net = await startTestNode();
    const log = net.client().contract<typeof logContract>("log");
    for (let id = 1; id <= 5; id++) await log.writePublic({ id, msg: `message ${id}` });
    lastSeqno = await net.settled();
  });
  after(() => net?.dispose());

  it("a serving node reports phase serving", async () => {
    const { status, json } = await get(`${net.url}/node/status`);
    assert.equal(status, 200);
    assert.equal(json.phase, "serving");
    assert.deepEqual(json.progress, { phase: "serving" });
  });

  it("answers /node/status during replay with its progress, and 503 Unavailable to calls", async () => {
    const seen: Progress[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const restarting = net.restart({
      replayHook: async (progress) => {
        seen.push(progress);
        await held;
      },
    });
    try {
      const during = await until("the restarting node to report its replay", async () => {
        const answer = await get(`${net.url}/node/status`);
        return answer.json.phase === "replaying" ? answer : undefined;
      });
      assert.equal(during.status, 200);
      assert.equal(during.json.serviceId, net.node.serviceId);
      const progress = during.json.progress!;
      assert.equal(progress.phase, "replaying");
      assert.equal(progress.step, "ledger", "the first pass verifies the ledger");
      assert.equal(progress.total, lastSeqno);
      assert.ok(
        typeof progress.done === "number" && progress.done >= 0 && progress.done <= lastSeqno,
        "done is a count of entries",
      );
      assert.deepEqual(seen.at(-1), progress, "the status is the progress the replay reached");

      const call = await net.post("/app/log/readPublic", JSON.stringify({ args: { id: 1 } }), {
        "content-type": "application/json",
      });
      assert.equal(call.status, 503);
      assert.equal(call.code, "Unavailable");
      assert.match(
        (call.json as { error: { message: string } }).error.message,
        /^the node is replaying its ledger \(ledger: \d+ of \d+\): retry shortly$/,
      );
      const gov = await get(`${net.url}/gov/members`);
      assert.equal(gov.status, 503);
      assert.equal(gov.json.error?.code, "Unavailable");
    } finally {
      release();
      await restarting;
    }
    assert.deepEqual(
      [...new Set(seen.map((p) => p.step))],
      ["ledger"],
      "the start-up pass over the ledger reports its progress (the log and governance views load only a bounded tail)",
    );
    for (const step of ["ledger"]) {
      const last = seen.filter((p) => p.step === step).at(-1)!;
      assert.equal(last.done, last.total, `${step}: the pass ends with done = total`);
    }
    const after = await get(`${net.url}/node/status`);
    assert.equal(after.json.phase, "serving");
    assert.equal(after.json.role, "leader");
    const log = net.client().contract<typeof logContract>("log");
    assert.deepEqual((await log.readPublic({ id: 5 })).result, { msg: "message 5" });
  });
});
