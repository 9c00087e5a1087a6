/**
 * `watchEvents`' options as docs/integration.md and sdk/events.ts state them, over scripted
 * nodes (a fetch that answers each request in turn): `contract` and `names` filter the request,
 * `after` starts it, a failed node is reported to `onError` and the next node is asked to resume
 * after the last id yielded, a node's 4xx refusal is thrown as `EventStreamRefused` with the
 * node's code, and `signal` ends the iteration. The stream against real nodes across a leader
 * kill is test/integration/events.
 */
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { EventStreamRefused, type StreamedEvent, watchEvents } from "../../sdk/events.js";

/** An SSE body of these events (`id: <txid>/<index>`), with a comment line as a heartbeat. */
function sse(events: readonly { txid: string; index: number; name: string }[]): Response {
  const text = events
    .map(
      (e) =>
        `: heartbeat\nid: ${e.txid}/${e.index}\ndata: ${JSON.stringify({ ...e, contract: "board", data: { n: e.index } })}\n\n`,
    )
    .join("");
  return new Response(text, { headers: { "content-type": "text/event-stream" } });
}

describe("watchEvents", () => {
  // The timeouts only turn a watcher that never stops into a failure.
  it("filters, resumes on the next node after the last id, reports failures, and throws a refusal", {
    timeout: 20_000,
  }, async () => {
    const asked: string[] = [];
    const answers: (() => Response)[] = [
      () => {
        throw new TypeError("fetch failed");
      },
      () =>
        sse([
          { txid: "3.42", index: 0, name: "posted" },
          { txid: "3.42", index: 1, name: "posted" },
        ]),
      () => Response.json({ error: { code: "TxNotFound", message: "no 3.42 here" } }, { status: 404 }),
    ];
    const fetch = (async (input: string | URL | Request) => {
      asked.push(String(input));
      const answer = answers.shift();
      assert.ok(answer !== undefined, "no more requests expected");
      return answer();
    }) as typeof globalThis.fetch;
    const failures: string[] = [];
    const seen: StreamedEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of watchEvents({
          nodes: ["http://a.test", "http://b.test"],
          contract: "board",
          names: ["posted", "edited"],
          after: "3.41",
          retryMs: 1,
          maxRetryMs: 1,
          onError: (_err, node) => failures.push(node),
          fetch,
        })) {
          seen.push(event);
        }
      })(),
      (err: unknown) => {
        assert.ok(err instanceof EventStreamRefused, String(err));
        assert.equal(err.code, "TxNotFound");
        return true;
      },
    );
    assert.deepEqual(asked, [
      "http://a.test/app/events?contract=board&name=posted&name=edited&after=3.41",
      "http://b.test/app/events?contract=board&name=posted&name=edited&after=3.41",
      "http://a.test/app/events?contract=board&name=posted&name=edited&after=3.42%2F1",
    ]);
    assert.deepEqual(failures, ["http://a.test"], "the failed node, reported once");
    assert.deepEqual(
      seen.map((e) => [e.id, e.txid, e.index, e.contract, e.name]),
      [
        ["3.42/0", "3.42", 0, "board", "posted"],
        ["3.42/1", "3.42", 1, "board", "posted"],
      ],
    );
  });

  it("ends when its signal aborts, while it waits to reconnect", { timeout: 20_000 }, async () => {
    // Mocked timers: the hour's wait never passes by itself, so only the signal can end it (and
    // a wait that ignored the signal fails this test at its timeout without holding the process).
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const stop = new AbortController();
      let asked = 0;
      const fetch = (async () => {
        asked++;
        // The node fails; the watcher then waits before the next attempt: abort meanwhile.
        setImmediate(() => stop.abort());
        throw new TypeError("fetch failed");
      }) as typeof globalThis.fetch;
      const seen: StreamedEvent[] = [];
      for await (const event of watchEvents({
        nodes: ["http://a.test"],
        retryMs: 3_600_000,
        signal: stop.signal,
        fetch,
      })) {
        seen.push(event);
      }
      assert.equal(asked, 1);
      assert.deepEqual(seen, []);
    } finally {
      mock.timers.reset();
    }
  });

  it("refuses a retryMs or maxRetryMs that is not a finite number ≥ 0, before asking any node", async () => {
    let asked = 0;
    const fetch = (async () => {
      asked++;
      throw new TypeError("fetch failed");
    }) as typeof globalThis.fetch;
    for (const field of ["retryMs", "maxRetryMs"] as const)
      for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY])
        await assert.rejects(
          watchEvents({ nodes: ["http://a.test"], fetch, [field]: ms }).next(),
          (err: unknown) =>
            err instanceof TypeError &&
            err.message.startsWith(`${field}: expected a finite number of ms ≥ 0`),
        );
    assert.equal(asked, 0);
  });
});
