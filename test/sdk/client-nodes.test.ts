/**
 * What docs/http.md says of the SDK's Client, over scripted nodes: it sends each request to the
 * node that last answered (the next one only when that one fails), so `waitForCommit` and the
 * request after it go to the same node; `waitForCommit` throws `TxNotCommitted` for an Invalid
 * txid and `Timeout` once its `timeoutMs` has passed with the txid still undecided.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair } from "../../sdk/keys.js";

const service = generateKeyPair("ed25519");

/** A client over nodes a and b; `answer(url)` answers each request, `asked` lists them. */
function scripted(answer: (url: string) => Response) {
  const asked: string[] = [];
  const fetch = (async (input: string | URL | Request) => {
    const url = String(input);
    asked.push(url);
    return answer(url);
  }) as typeof globalThis.fetch;
  const client = new Client({
    nodes: ["http://a.test", "http://b.test"],
    serviceKey: { curve: service.curve, publicKey: service.publicKey },
    fetch,
    backoffMs: 1,
  });
  return { client, asked };
}

describe("Client: which node, and waitForCommit's outcomes", () => {
  it("stays on the node that last answered, and moves on only when it fails", async () => {
    let aDown = true;
    const { client, asked } = scripted((url) => {
      if (url.startsWith("http://a.test") && aDown) throw new TypeError("fetch failed");
      if (url.includes("/node/tx")) return Response.json({ status: "Committed" });
      return Response.json({ role: url.startsWith("http://a.test") ? "a" : "b" });
    });
    assert.deepEqual(await client.status(), { role: "b" });
    aDown = false; // a is back, but b answered last: the client stays there
    await client.waitForCommit("2.7");
    assert.deepEqual(await client.status(), { role: "b" });
    assert.deepEqual(asked, [
      "http://a.test/node/status",
      "http://b.test/node/status",
      "http://b.test/node/tx?txid=2.7&wait=2000",
      "http://b.test/node/status",
    ]);
  });

  it("waitForCommit: TxNotCommitted for an Invalid txid, Timeout past timeoutMs while Pending", async () => {
    const invalid = scripted(() => Response.json({ status: "Invalid" }));
    await assert.rejects(invalid.client.waitForCommit("2.7"), (err: unknown) =>
      isTreatyError(err, "TxNotCommitted"),
    );
    const pending = scripted(() => Response.json({ status: "Pending" }));
    await assert.rejects(pending.client.waitForCommit("2.7", { timeoutMs: 0 }), (err: unknown) => {
      assert.ok(isTreatyError(err, "Timeout"), String(err));
      assert.match(err.message, /transaction 2\.7 still Pending after 0 ms/);
      return true;
    });
  });
});

describe("Client.contract: the typed client of docs/contracts.md", () => {
  it("calls the method it is asked for, and is not thenable (awaiting it gives the client)", async () => {
    const { client, asked } = scripted(() => Response.json({ result: { balance: 3 }, events: [] }));
    const bank = client.contract<typeof import("../../contracts/examples/bank/index.js").default>("bank");
    const { result } = await bank.balance({});
    assert.deepEqual(result, { balance: 3 });
    assert.deepEqual(asked, ["http://a.test/app/bank/balance"]);
    // A `then` would make `await bank` (or an async factory returning it) call it as a method:
    // a request to /app/bank/then, and an await that never settles.
    assert.equal((bank as { then?: unknown }).then, undefined);
    const factory = async () =>
      client.contract<typeof import("../../contracts/examples/bank/index.js").default>("bank");
    const made = await factory();
    assert.equal(typeof made.balance, "function");
    // Nor does it turn Object.prototype's names (never method names) into requests.
    assert.throws(() => `${made as object}`, TypeError);
    assert.equal((made as { constructor?: unknown }).constructor, undefined);
    assert.deepEqual(asked, ["http://a.test/app/bank/balance"]);
  });
});
