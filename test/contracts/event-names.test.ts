/**
 * The one rule for event names (contracts/api/manifest-rules.ts `EVENT_NAME`) and what it
 * guarantees where a name becomes NATS subject tokens (node/events/jetstream.ts `eventSubject`):
 * every segment of an accepted name is one non-empty token with no wildcard and no whitespace.
 * `emit`, declared events and `/app/events?name=` apply it (test/contracts/sandbox-parity,
 * test/compiler/compiler, test/node/committed-events; the export in
 * test/integration/jetstream-export).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EVENT_NAME, eventNameProblem, invalidEventName } from "../../contracts/api/manifest-rules.js";
import { eventSubject } from "../../node/events/jetstream.js";

/** Names an attacker or a careless author might try, none of which is an event name. */
const HOSTILE_EVENT_NAMES: readonly string[] = [
  "",
  "a..b",
  "a.",
  ".a",
  "a...",
  "a.*",
  "*",
  "a.>",
  ">",
  "a.b*",
  "a b",
  "a\tb",
  "a\n",
  "a\r\nb",
  "a.\u0000",
  "1abc",
  "_a",
  "a/b",
  "é",
  "a".repeat(65),
  `${"a.".repeat(32)}b`,
];

describe("event names", () => {
  it("refuses empty segments, wildcards, whitespace and names over 64 characters", () => {
    for (const name of HOSTILE_EVENT_NAMES) {
      assert.equal(EVENT_NAME.test(name), false, JSON.stringify(name));
      assert.match(invalidEventName(name) ?? "", /^event name .* is invalid \(at most 64 characters/);
      assert.match(eventNameProblem(name) ?? "", /is invalid/);
    }
    for (const value of [undefined, null, 7, ["a"], { toString: () => "a" }]) {
      assert.match(invalidEventName(value) ?? "", /^event name \w+ is invalid/);
    }
    assert.match(invalidEventName("x".repeat(100_000)) ?? "", /^event name "x{80}" is invalid/);
  });

  it("accepts dot-separated non-empty segments", () => {
    for (const name of [
      "a",
      "posted",
      "order.created",
      "v2.paid",
      "a.1",
      "a._",
      "ns:x-y.z_1",
      "a".repeat(64),
    ]) {
      assert.equal(invalidEventName(name), undefined, name);
      assert.equal(eventNameProblem(name), undefined, name);
    }
    assert.match(
      eventNameProblem("constructor") ?? "",
      /reserved/,
      "declared events keep the reserved names out",
    );
  });

  it("makes each segment of an accepted name one valid subject token", () => {
    // Every short string over an alphabet of separators, wildcards and word characters.
    const alphabet = ["a", "1", ".", "*", ">", " ", "_", ":", "-"];
    let accepted = 0;
    const visit = (name: string): void => {
      if (name.length > 0 && EVENT_NAME.test(name)) {
        accepted++;
        const tokens = eventSubject("treaty.events", { contract: "board", name }).split(".");
        assert.deepEqual(tokens, ["treaty", "events", "board", ...name.split(".")], name);
        for (const token of tokens) assert.match(token, /^[^\s*>.]+$/, `${JSON.stringify(name)}: ${token}`);
      }
      if (name.length < 5) for (const c of alphabet) visit(name + c);
    };
    visit("");
    assert.ok(accepted > 1000, `${accepted} names checked`);
  });

  it("publishes a name an older version recorded with each empty token written _", () => {
    assert.equal(eventSubject("p", { contract: "c", name: "a..b" }), "p.c.a._.b");
    assert.equal(eventSubject("p", { contract: "c", name: "a." }), "p.c.a._");
  });
});
