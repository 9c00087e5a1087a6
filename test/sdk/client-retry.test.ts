/**
 * The SDK's pauses between attempts, with mocked timers: none within a pass over the nodes,
 * exponential between passes, started again from `backoffMs` with a fresh pass at the first
 * answer that leadership moved (NotLeader, OutcomeUnknown).
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { Client } from "../../sdk/client.js";
import { generateKeyPair } from "../../sdk/keys.js";

const service = generateKeyPair("ed25519");

type Answer = "networkError" | "deadline" | "NotLeader" | "OutcomeUnknown" | "ok";

/** A client over two fake nodes answering `answers` in turn; `sent()` counts requests so far. */
function clientAnswering(answers: Answer[], retries = 10) {
  let sent = 0;
  const fetch = (async () => {
    const answer = answers[sent++];
    assert.ok(answer !== undefined, "no more requests expected");
    if (answer === "networkError") throw new TypeError("fetch failed");
    // What a fetch with a deadline throws (AbortSignal.timeout's reason, the CLI's --timeout).
    if (answer === "deadline") throw new DOMException("no answer within 300 ms", "TimeoutError");
    if (answer === "ok") return Response.json({ role: "leader" });
    return Response.json({ error: { code: answer, message: "leadership moved" } }, { status: 503 });
  }) as typeof globalThis.fetch;
  const client = new Client({
    nodes: ["http://a.test", "http://b.test"],
    serviceKey: { curve: service.curve, publicKey: service.publicKey },
    fetch,
    backoffMs: 50,
    retries,
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

  it("tries the next node at once after a network error, and pauses, doubling, once every node failed", async () => {
    const { client, sent } = clientAnswering([
      "networkError",
      "networkError",
      "networkError",
      "networkError",
      "networkError",
      "networkError",
      "ok",
    ]);
    const status = client.status();
    await settle();
    assert.equal(sent(), 2, "the second node was tried without a pause");
    for (const [pause, before, after] of [
      [50, 2, 4],
      [100, 4, 6],
      [200, 6, 7],
    ] as const) {
      mock.timers.tick(pause - 1);
      await settle();
      assert.equal(sent(), before, `still waiting before ${pause} ms`);
      mock.timers.tick(1);
      await settle();
      assert.equal(sent(), after, `a pass over both nodes after the ${pause} ms pause`);
    }
    assert.deepEqual(await status, { role: "leader" });
  });

  for (const moved of ["OutcomeUnknown", "NotLeader"] as const) {
    it(`starts a fresh pass, and the backoff from backoffMs, at the first ${moved}`, async () => {
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
      assert.equal(sent(), 2);
      mock.timers.tick(50);
      await settle();
      assert.equal(sent(), 5, `the request answered ${moved} went at once to the next node`);
      mock.timers.tick(49);
      await settle();
      assert.equal(sent(), 5, "a second answer in a row ends the pass: a pause");
      mock.timers.tick(1);
      await settle();
      assert.equal(sent(), 6, "of backoffMs, not of the 100 ms the failures had grown to");
      assert.deepEqual(await status, { role: "leader" });
    });
  }

  for (const retries of [0, 1]) {
    it(`retries: ${retries} makes one attempt and rejects with its error`, async () => {
      const { client, sent } = clientAnswering(["networkError"], retries);
      await assert.rejects(client.status(), (err: unknown) => {
        assert.ok(err instanceof Error && "code" in err && err.code === "Unavailable", String(err));
        return true;
      });
      assert.equal(sent(), 1);
    });
  }

  it("a request its fetch gave up on at a deadline is Timeout, as ClientOptions.retries says", async () => {
    const { client, sent } = clientAnswering(["deadline"], 1);
    await assert.rejects(client.status(), (err: unknown) => {
      assert.ok(err instanceof Error && "code" in err && err.code === "Timeout", String(err));
      assert.equal(err.message, "http://a.test: no answer within 300 ms");
      return true;
    });
    assert.equal(sent(), 1);
  });

  it("refuses a backoffMs or outcomeTimeoutMs that is not a finite number ≥ 0", () => {
    for (const field of ["backoffMs", "outcomeTimeoutMs"] as const)
      for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY])
        assert.throws(
          () => new Client({ nodes: ["http://a.test"], serviceKey: service, [field]: ms }),
          (err: unknown) =>
            err instanceof TypeError &&
            err.message.startsWith(`${field}: expected a finite number of ms ≥ 0`),
        );
  });

  it("refuses a retries that is not an integer ≥ 0", () => {
    for (const retries of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      assert.throws(
        () => clientAnswering([], retries),
        (err: unknown) => err instanceof TypeError && /retries: expected an integer ≥ 0/.test(err.message),
      );
  });
});
