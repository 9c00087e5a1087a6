/**
 * docs/http.md's claims that no other test asserts, against a real node: every endpoint of its
 * table answers its method and a 404 NotFound to any other ("a known path with another HTTP
 * method is 404 NotFound too"), as do unknown paths; receipt refusals carry `details.seqno` and
 * `details.txid`; `/node/metrics` is Prometheus text 0.0.4; errors come as MessagePack when
 * `accept` asks for it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decode } from "../../sdk/codec.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { startTestNode, type TestNode } from "../support/node.js";

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;

/** The rows of the endpoint table at the top of docs/http.md: method and path (query cut off). */
function documentedEndpoints(): { method: string; path: string }[] {
  const text = readFileSync(join(findPackageRoot(), "docs", "http.md"), "utf8");
  const table = text.slice(0, text.indexOf("\n## "));
  return [...table.matchAll(/^\| `([A-Z]+)` \| `([^`?]+)[^`]*` \|/gm)].map((m) => ({
    method: m[1]!,
    path: m[2]!,
  }));
}

describe("docs/http.md against a node", () => {
  let net: TestNode;
  before(async () => {
    net = await startTestNode();
  });
  after(async () => {
    await net?.dispose();
  });

  /** The error code of an answer (JSON), or undefined when the answer is not an error. */
  async function errorCode(response: Response): Promise<string | undefined> {
    // An event stream (`GET /app/events`) never ends: its head is the answer.
    if (response.headers.get("content-type") === "text/event-stream") {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    try {
      return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      return undefined;
    }
  }

  it("every endpoint of the table answers its method, and 404 NotFound to any other", async () => {
    const endpoints = documentedEndpoints();
    assert.ok(endpoints.length >= 14, `only ${endpoints.length} endpoints found`);
    // One path per pattern: a deployed readonly method for `/app/<contract>/<method>`.
    const paths = new Map<string, Set<string>>();
    for (const { method, path } of endpoints) {
      const concrete = path.replace("<contract>/<method>", "log/readPublic");
      paths.set(concrete, (paths.get(concrete) ?? new Set()).add(method));
    }
    for (const [path, methods] of paths) {
      for (const method of METHODS) {
        const response = await fetch(`${net.url}${path}`, {
          method,
          ...(method !== "GET" && { body: "{}", headers: { "content-type": "application/json" } }),
        });
        const code = await errorCode(response);
        if (methods.has(method)) {
          assert.ok(response.status !== 404 || code !== "NotFound", `${method} ${path} is served`);
        } else {
          assert.deepEqual([response.status, code], [404, "NotFound"], `${method} ${path}`);
        }
      }
    }
    for (const path of ["/nothing/here", "/node", "/node/status/extra", "/app/openapi.json/x"]) {
      const response = await fetch(`${net.url}${path}`);
      assert.deepEqual([response.status, await errorCode(response)], [404, "NotFound"], path);
    }
  });

  it("receipt refusals carry details.seqno and details.txid", async () => {
    for (const path of ["/node/receipt", "/node/receipt/cose"]) {
      const response = await fetch(`${net.url}${path}?txid=2.999999`, {
        headers: { accept: "application/json" },
      });
      assert.equal(response.status, 404, path);
      const { error } = (await response.json()) as { error: { code: string; details?: unknown } };
      assert.equal(error.code, "TxNotFound", path);
      assert.deepEqual(error.details, { seqno: 999999, txid: "2.999999" }, path);
    }
  });

  it("/node/metrics is Prometheus text format 0.0.4", async () => {
    const response = await fetch(`${net.url}/node/metrics`, { headers: { accept: "application/msgpack" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4");
    assert.match(await response.text(), /^# (HELP|TYPE) treaty_/m);
  });

  it("errors come as MessagePack when accept asks for it, JSON otherwise", async () => {
    const packed = await fetch(`${net.url}/node/tx?txid=x`, { headers: { accept: "application/msgpack" } });
    assert.equal(packed.status, 400);
    assert.match(packed.headers.get("content-type") ?? "", /^application\/msgpack/);
    const body = decode(new Uint8Array(await packed.arrayBuffer()), "answer") as { error: { code: string } };
    assert.equal(body.error.code, "MalformedRequest");
    const plain = await fetch(`${net.url}/node/tx?txid=x`);
    assert.match(plain.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(await errorCode(plain), "MalformedRequest");
  });
});
