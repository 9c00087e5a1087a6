/**
 * The SDK's pauses between attempts, with mocked timers: exponential after failures, started
 * again from `backoffMs` at the first answer that leadership moved (NotLeader, OutcomeUnknown).
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { Client } from "../../sdk/client.js";
import { generateKeyPair } from "../../sdk/keys.js";

const service = generateKeyPair("ed25519");

type Answer = "networkError" | "NotLeader" | "OutcomeUnknown" | "ok";

/** A client over two fake nodes answering `answers` in turn; `sent()` counts requests so far. */
function clientAnswering(answers: Answer[]) {
  let sent = 0;
  const fetch = (async () => {
    const answer = answers[sent++];
    assert.ok(answer !== undefined, "no more requests expected");
    if (answer === "networkError") throw new TypeError("fetch failed");
    if (answer === "ok") return Response.json({ role: "leader" });
    return Response.json({ error: { code: answer, message: "leadership moved" } }, { status: 503 });
  }) as typeof globalThis.fetch;
  const client = new Client({
    nodes: ["http://a.test", "http://b.test"],
    serviceKey: { curve: service.curve, publicKey: service.publicKey },
    fetch,
    backoffMs: 50,
    retries: 10,
  });
  return { client, sent: () => sent };
}

/** Lets the client's promise chain run up to its next pause (timers are mocked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("Client retry pauses", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
  afterEach(() => mock.timers.reset());

  it("doubles the pause after each network error", async () => {
    const { client, sent } = clientAnswering(["networkError", "networkError", "networkError", "ok"]);
    const status = client.status();
    await settle();
    assert.equal(sent(), 1);
    for (const [pause, count] of [
      [50, 2],
      [100, 3],
      [200, 4],
    ] as const) {
      mock.timers.tick(pause - 1);
      await settle();
      assert.equal(sent(), count - 1, `still waiting before ${pause} ms`);
      mock.timers.tick(1);
      await settle();
      assert.equal(sent(), count);
    }
    assert.deepEqual(await status, { role: "leader" });
  });

  for (const moved of ["OutcomeUnknown", "NotLeader"] as const) {
    it(`restarts from backoffMs at the first ${moved} (the next node can take the request), then doubles again`, async () => {
      const { client, sent } = clientAnswering([
        "networkError",
        "networkError",
        "networkError",
        moved,
        moved,
        "ok",
      ]);
      const status = client.status();
      await settle();
      for (const pause of [50, 100, 200]) {
        mock.timers.tick(pause);
        await settle();
      }
      assert.equal(sent(), 4, `the fourth request was answered ${moved}`);
      mock.timers.tick(49);
      await settle();
      assert.equal(sent(), 4);
      mock.timers.tick(1);
      await settle();
      assert.equal(sent(), 5, "resent after backoffMs, not after the 400 ms the failures had grown to");
      mock.timers.tick(99);
      await settle();
      assert.equal(sent(), 5, "a second answer in a row does not restart the pause again");
      mock.timers.tick(1);
      await settle();
      assert.equal(sent(), 6);
      assert.deepEqual(await status, { role: "leader" });
    });
  }
});
