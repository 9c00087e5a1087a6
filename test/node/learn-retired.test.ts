/**
 * `learnRetired` (node/join.ts): a restarted node that may have been retired after its ledger's
 * last entry (`retiring` in its own committed state, or `trusted` in a configuration that may no
 * longer hold it) asks the service, which answers from its committed node table, until the
 * answer is `retired` or that it is a voting member. It keeps asking through `retiring` answers
 * and unreachable nodes, and never takes another refusal (or a stop) for a retirement.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { learnRetired, startQuestion } from "../../node/join.js";
import { silentLogger } from "../../node/log.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair } from "../../sdk/keys.js";

const identity = generateKeyPair("ed25519");
const serviceKey = generateKeyPair("ed25519");

/**
 * A fetch that answers each join request with the next of `answers`: a refusal with that status,
 * "member" (trusted and in the configuration), or null (unreachable).
 */
function scripted(answers: readonly (string | null)[]): { fetch: typeof fetch; asked: () => number } {
  let i = 0;
  const fake = async (): Promise<Response> => {
    const answer = answers[Math.min(i++, answers.length - 1)]!;
    if (answer === null) throw new TypeError("fetch failed");
    if (answer === "member") return Response.json({ status: "trusted", member: true });
    const error = { code: "Forbidden", message: `node: ${answer}`, details: { status: answer } };
    return new Response(JSON.stringify({ error }), { status: 403 });
  };
  return { fetch: fake as typeof fetch, asked: () => i };
}

const options = (f: typeof fetch, cancelled = () => false) => ({
  nodes: ["http://a", "http://b"],
  serviceKey,
  identity,
  args: { publicKey: "00", measurement: "00", url: "http://self" },
  now: Date.now,
  logger: silentLogger,
  pollMs: 1,
  fetch: f,
  cancelled,
});

describe("learnRetired", () => {
  it("keeps asking while the service says retiring or does not answer; resolves on retired", async () => {
    const { fetch, asked } = scripted(["retiring", null, "retiring", "retired"]);
    assert.equal(await learnRetired(options(fetch)), "retired");
    assert.equal(asked(), 4);
  });

  it("resolves member once the service counts this node a voting member", async () => {
    const { fetch, asked } = scripted([null, "member", "retired"]);
    assert.equal(await learnRetired(options(fetch)), "member");
    assert.equal(asked(), 2);
  });

  it("takes no other refusal for a retirement", async () => {
    const { fetch } = scripted(["trusted"]);
    await assert.rejects(learnRetired(options(fetch)), (e) => isTreatyError(e, "Forbidden"));
  });

  it("stops asking once cancelled", async () => {
    const { fetch } = scripted(["retiring"]);
    let calls = 0;
    await assert.rejects(learnRetired(options(fetch, () => ++calls > 3)), (e) =>
      isTreatyError(e, "Unavailable"),
    );
  });
});

describe("startQuestion: what a node asks the service when it starts", () => {
  const join = ["https://join"];
  const advertised = ["https://b", "https://c"];
  const ask = (
    status: string | undefined,
    member: boolean,
    joinNodes?: string[],
    others = advertised,
    serving = false,
  ) => startQuestion({ status, member, serving, joinNodes, advertised: others });

  it("asks whether it is retired when its ledger may end before its retirement", () => {
    assert.deepEqual(ask("retiring", false, join), { ask: "retired", nodes: join });
    assert.deepEqual(ask("retiring", true), { ask: "retired", nodes: advertised });
    assert.deepEqual(ask("trusted", true), { ask: "retired", nodes: advertised });
    assert.equal(ask("trusted", true, undefined, []), undefined, "a one-node service asks nobody");
    assert.equal(ask("trusted", true, join, advertised, true), undefined, "a leader replicates to it");
    assert.equal(ask("retiring", false, join, advertised, true), undefined);
  });

  it("asks to become a voting member when out of the configuration, with or without a join config", () => {
    assert.deepEqual(ask("trusted", false, join), { ask: "member", nodes: join });
    assert.deepEqual(ask("trusted", false), { ask: "member", nodes: advertised });
    // Its ledger may not hold its own record yet (or only as pending).
    assert.deepEqual(ask(undefined, false), { ask: "member", nodes: advertised });
    assert.deepEqual(ask("pending", false), { ask: "member", nodes: advertised });
    // A learner serves (a leader replicates to it) and is still no voter.
    assert.deepEqual(ask("trusted", false, undefined, advertised, true), {
      ask: "member",
      nodes: advertised,
    });
  });

  it("says when there is nobody to ask, and asks nothing of a member not in doubt", () => {
    assert.deepEqual(ask("trusted", false, undefined, []), { ask: "nobody" });
    assert.deepEqual(ask(undefined, false, undefined, []), { ask: "nobody" });
    assert.equal(
      ask("trusted", false, undefined, [], true),
      undefined,
      "not while a leader replicates to it",
    );
    assert.equal(ask(undefined, true), undefined);
    assert.equal(ask("pending", true), undefined);
  });
});
