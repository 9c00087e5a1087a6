/**
 * How a node asking the service (node/join.ts `pollJoin`, under `joinService`, `becomeMember`
 * and `learnRetired`) waits and logs while no node can answer: a restarted member of a
 * multi-node service asks at start, when there is often no leader yet. Busy (5xx) and unreachable
 * nodes are asked again after a wait that doubles from `pollMs` up to 16 × `pollMs`, back to
 * `pollMs` once a node answers; such a streak is logged at info once, then at debug, with an info
 * line again every 30 s while it lasts. Waits and time are injected: no timing in the test.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { becomeMember, joinService } from "../../node/join.js";
import { createLogger } from "../../node/log.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair } from "../../sdk/keys.js";

const identity = generateKeyPair("ed25519");
const serviceKey = generateKeyPair("ed25519");
const POLL_MS = 300;

type Answer = "busy" | "unreachable" | "pending" | "waiting" | "member";

/** Join options over a scripted service and a simulated clock; `waits` and `lines` record. */
function scripted(answers: readonly Answer[]) {
  let i = 0;
  let clockMs = 0;
  const waits: number[] = [];
  const lines: { level: string; msg: string; retries?: number }[] = [];
  const fake = async (): Promise<Response> => {
    const answer = answers[Math.min(i++, answers.length - 1)]!;
    switch (answer) {
      case "unreachable":
        throw new TypeError("fetch failed");
      case "busy":
        return Response.json({ error: { code: "Unavailable", message: "no leader" } }, { status: 503 });
      case "pending":
        return Response.json({ status: "pending", waitingFor: "a vote" });
      case "waiting":
        return Response.json({ status: "trusted", member: false });
      case "member":
        return Response.json({ status: "trusted", member: true });
    }
  };
  const options = {
    nodes: ["http://a", "http://b"],
    serviceKey,
    identity,
    args: { publicKey: "00", measurement: "00", url: "http://self" },
    now: () => clockMs,
    logger: createLogger({
      level: "debug",
      write: (line) => {
        lines.push(JSON.parse(line) as { level: string; msg: string });
      },
    }),
    pollMs: POLL_MS,
    fetch: fake as typeof fetch,
    sleep: async (ms: number) => {
      waits.push(ms);
      clockMs += ms;
    },
  };
  return { options, waits, lines, asked: () => i };
}

const retryLines = (lines: readonly { level: string; msg: string }[]) =>
  lines.filter((l) => /retrying/.test(l.msg)).map((l) => `${l.level} ${l.msg}`);

describe("asking the service while no node answers", () => {
  it("doubles the wait after each busy or unreachable answer, up to 16 × pollMs, and starts again at pollMs after an answer", async () => {
    const busy: Answer[] = Array.from({ length: 7 }, (_, i) => (i % 3 === 2 ? "unreachable" : "busy"));
    const { options, waits, asked } = scripted([...busy, "waiting", "busy", "busy", "member"]);
    await becomeMember(options);
    assert.equal(asked(), 11);
    assert.deepEqual(
      waits.map((ms) => ms / POLL_MS),
      [1, 2, 4, 8, 16, 16, 16, 1, 1, 2],
    );
  });

  it("logs a streak of busy and unreachable answers at info once, then at debug, and again every 30 s", async () => {
    const { options, lines } = scripted([...Array<Answer>(40).fill("busy"), "unreachable", "member"]);
    await becomeMember(options);
    const said = retryLines(lines);
    assert.equal(said.length, 41, "each retry is logged");
    // 300 + 600 + ... + 4800 (9,300 ms), then 4,800 each: the 30 s mark is passed at the 10th retry.
    const infos = said.flatMap((line, i) => (line.startsWith("info") ? [i] : []));
    assert.deepEqual(infos, [0, 10, 17, 24, 31, 38]);
    assert.equal(said[0], "info join: service busy, retrying");
    assert.equal(said[40], "debug join: node unreachable, retrying");
    assert.ok(lines.some((l) => l.level === "info" && l.retries === 11));
  });

  it("starts a new streak (logged at info) after an answer", async () => {
    const { options, lines } = scripted(["busy", "busy", "waiting", "busy", "member"]);
    await becomeMember(options);
    assert.deepEqual(retryLines(lines), [
      "info join: service busy, retrying",
      "debug join: service busy, retrying",
      "info join: service busy, retrying",
    ]);
  });

  it("keeps polling a pending join at pollMs, and still gives up at its timeout", async () => {
    const { options, waits } = scripted(["pending", "pending", "busy", "pending", "member"]);
    await becomeMember(options);
    assert.deepEqual(waits, [POLL_MS, POLL_MS, POLL_MS, POLL_MS]);
    const forever = scripted(["busy"]);
    await assert.rejects(joinService({ ...forever.options, timeoutMs: 60_000 }), (err) =>
      isTreatyError(err, "Timeout"),
    );
    const waited = forever.waits.reduce((a, b) => a + b, 0);
    assert.ok(waited >= 60_000 && waited < 60_000 + 16 * POLL_MS, `${waited} ms`);
  });
});
