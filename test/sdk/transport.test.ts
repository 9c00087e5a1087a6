/**
 * The SDK client's default transport in Node (sdk/transport.ts): `http:` node URLs go through
 * node:http, never the platform `fetch`; the request on the wire is the signed request, answers
 * decode as before, and a refused connection or an answer cut off is a network error (the next
 * node is tried). `https:` URLs and a client's own `fetch` still go through fetch.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { fetchOverTransport, fetchTransport, transportOf } from "../../sdk/transport.js";
import { decode, encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, keyId } from "../../sdk/keys.js";
import { HEADER_CALLER, HEADER_SIGNATURE, parseSignatureHeader, verifyRequest } from "../../sdk/request.js";
import { stubServers } from "../support/stub-server.js";

const service = generateKeyPair("ed25519");
const serviceKey = { curve: service.curve, publicKey: service.publicKey };
const user = generateKeyPair("ed25519");

const stubs = stubServers();
const serve = stubs.serve;
let realFetch: typeof fetch | undefined;

afterEach(async () => {
  if (realFetch !== undefined) globalThis.fetch = realFetch;
  realFetch = undefined;
  await stubs.closeAll();
});

/** Makes the platform `fetch` fail the test if called (restored after each test). */
function forbidFetch(): void {
  realFetch = globalThis.fetch;
  globalThis.fetch = (() => {
    throw new Error("the platform fetch was called");
  }) as typeof fetch;
}

/** A port nothing listens on (a server opened and closed). */
const closedPort = () => stubs.closedUrl();

describe("Client transport (Node)", () => {
  it("sends a signed call over node:http, not fetch: the signed bytes, decoded answers", async () => {
    const node = await serve((req, res) => {
      const wantsMsgpack = req.headers.accept === "application/msgpack";
      const body = { result: { echoed: req.url }, txid: "2.7", status: "Pending", events: [] };
      res.writeHead(200, { "content-type": wantsMsgpack ? "application/msgpack" : "application/json" });
      res.end(wantsMsgpack ? encode(body) : JSON.stringify(body));
    });
    forbidFetch();
    const client = new Client({ nodes: [node.url], serviceKey, key: user });
    const answer = await client.call("log", "writePublic", { id: 1, msg: "über" });
    assert.deepEqual(answer, {
      result: { echoed: "/app/log/writePublic" },
      txid: "2.7",
      status: "Pending",
      events: [],
    });
    const [req] = node.seen;
    assert.equal(req!.method, "POST");
    assert.equal(req!.headers["content-type"], "application/json");
    assert.equal(req!.headers["content-length"], String(req!.body.length));
    assert.equal(req!.headers[HEADER_CALLER], user.id);
    const signature = parseSignatureHeader(String(req!.headers[HEADER_SIGNATURE]));
    assert.equal(verifyRequest(user, keyId(serviceKey), "/app/log/writePublic", req!.body, signature), true);
    assert.deepEqual(JSON.parse(utf8.decode(req!.body)).args, { id: 1, msg: "über" });
    // A GET, without a body; a long answer in many chunks.
    const long = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/msgpack" });
      const bytes = encode({ role: "Leader", filler: "x".repeat(300_000) });
      for (let at = 0; at < bytes.length; at += 1000) res.write(bytes.subarray(at, at + 1000));
      res.end();
    });
    const status = await new Client({ nodes: [long.url], serviceKey }).status();
    assert.equal(status.role, "Leader");
    assert.equal((status.filler as string).length, 300_000);
    assert.equal(long.seen[0]!.method, "GET");
    assert.equal(long.seen[0]!.headers["content-length"], undefined);
    assert.equal(long.seen[0]!.body.length, 0);
  });

  it("answers an error body as its TreatyError, and a refused connection or a cut-off answer moves on", async () => {
    const refusing = await serve((_req, res) => {
      res.writeHead(409, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "Replay", message: "nonce used" } }));
    });
    forbidFetch();
    await assert.rejects(
      new Client({ nodes: [refusing.url], serviceKey, key: user }).call("log", "writePublic", {}),
      (err: unknown) => isTreatyError(err) && err.code === "Replay",
    );
    const cutting = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      res.write("{");
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const good = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ role: "Leader" }));
    });
    const dead = await closedPort();
    const client = new Client({ nodes: [dead, cutting.url, good.url], serviceKey, retries: 3 });
    assert.equal((await client.status()).role, "Leader");
    assert.equal(cutting.seen.length, 1);
    assert.equal(good.seen.length, 1);
    const alone = new Client({ nodes: [dead], serviceKey, retries: 1 });
    await assert.rejects(alone.status(), (err: unknown) => isTreatyError(err) && err.code === "Unavailable");
  });

  it("uses fetch for https: URLs and for a client's own fetch", async () => {
    const urls: string[] = [];
    const stub = (async (input: string | URL | Request) => {
      urls.push(String(input));
      return new Response(decodeAndEncode({ role: "Leader" }), {
        headers: { "content-type": "application/msgpack" },
      });
    }) as typeof fetch;
    realFetch = globalThis.fetch;
    globalThis.fetch = stub;
    assert.equal((await new Client({ nodes: ["https://node.test"], serviceKey }).status()).role, "Leader");
    globalThis.fetch = realFetch;
    assert.equal(
      (await new Client({ nodes: ["http://node.test"], serviceKey, fetch: stub }).status()).role,
      "Leader",
    );
    assert.deepEqual(urls, ["https://node.test/node/status", "http://node.test/node/status"]);
  });
});

describe("fetchTransport, fetchOverTransport, transportOf", () => {
  it("a fetch over a transport answers its Response; a Client takes the transport, a wrapper is called as fetch", async () => {
    const stub = (async (_input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers({ "content-type": "application/json", "x-one": "1" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response(JSON.stringify({ method: init?.method, role: "Leader" }), { status: 200, headers });
    }) as typeof fetch;
    const viaFetch = fetchTransport(stub);
    const answer = await viaFetch("http://node.test/node/status", { method: "GET", headers: {} });
    assert.equal(answer.contentType, "application/json");
    assert.deepEqual(answer.headers, {
      "content-type": "application/json",
      "x-one": "1",
      "set-cookie": ["a=1", "b=2"],
    });
    const overTransport = fetchOverTransport(viaFetch);
    assert.equal(transportOf(overTransport), viaFetch, "a Client sends through the transport itself");
    assert.notEqual(transportOf(stub), viaFetch);
    const response = await overTransport("http://node.test/x", { method: "POST", body: "hi" });
    assert.equal(response.status, 200);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.deepEqual(await response.json(), { method: "POST", role: "Leader" });
    let wrapped = 0;
    const wrapper = ((input: string | URL | Request, init?: RequestInit) => {
      wrapped++;
      return overTransport(input, init);
    }) as typeof fetch;
    assert.equal(
      (await new Client({ nodes: ["http://node.test"], serviceKey, fetch: wrapper }).status()).role,
      "Leader",
    );
    assert.equal(wrapped, 1);
  });
});

/** MessagePack bytes of `value` (checked to decode back). */
function decodeAndEncode(value: unknown): Uint8Array<ArrayBuffer> {
  const bytes = encode(value);
  assert.deepEqual(decode(bytes), value);
  return new Uint8Array(bytes);
}
