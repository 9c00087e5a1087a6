/**
 * The `treaty/tls` fetches (node/tls/client.ts) against stub nodes: a `Client` given one sends
 * through its node:https transport (no WHATWG Request or Response per call) with the pinned
 * agent, so a node presenting a certificate the pinned service did not issue (another service's,
 * a provisional one) is refused before any request is sent, and like a refused connection or an
 * answer cut off, moves the client on to the next node. Called as a `fetch`, they still answer
 * a `Response` and fail as fetch does.
 */
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { afterEach, describe, it } from "node:test";
import {
  nodeTlsCredentials,
  provisionalTlsCredentials,
  serviceCertificate,
  type TlsCredentials,
} from "../../node/tls/certificates.js";
import { keyPinnedFetch, pinnedFetch, unpinnedFetch } from "../../node/tls/client.js";
import { utf8 } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair, keyId } from "../../sdk/keys.js";
import { HEADER_CALLER, HEADER_SIGNATURE, parseSignatureHeader, verifyRequest } from "../../sdk/request.js";
import { type Seen, stubServers } from "../support/stub-server.js";

const service = generateKeyPair("ed25519");
const serviceKey = { curve: service.curve, publicKey: service.publicKey };
const certificate = serviceCertificate(service);
const user = generateKeyPair("ed25519");

/** A node's credentials, issued by `issuer` (default: the pinned service). */
function credentials(issuer: KeyPair = service): TlsCredentials {
  return nodeTlsCredentials({
    serviceKey: issuer,
    nodeKey: generateKeyPair(),
    validFromMs: Date.now() - 60_000,
    validToMs: Date.now() + 3600_000,
    host: "127.0.0.1",
  });
}

const stubs = stubServers();
/** A stub node over https with `tls` (plain http without) answering with `answer`. */
const serve = (tls: TlsCredentials | undefined, answer: (req: Seen, res: ServerResponse) => void) =>
  stubs.serve(answer, tls);
const restore: (() => void)[] = [];

afterEach(async () => {
  for (const undo of restore.splice(0)) undo();
  await stubs.closeAll();
});

/** Answers `{role: "Leader", node: name}` as JSON. */
const leader =
  (name: string) =>
  (_req: Seen, res: ServerResponse): void => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ role: "Leader", node: name }));
  };

/** A URL nothing listens on (a server opened and closed). */
const closedPort = () => stubs.closedUrl(credentials());

/** Makes the platform `fetch` and the `Response` constructor throw (restored after the test). */
function forbidFetchAndResponse(): void {
  const { fetch, Response } = globalThis;
  restore.push(() => Object.assign(globalThis, { fetch, Response }));
  globalThis.fetch = (() => {
    throw new Error("the platform fetch was called");
  }) as typeof globalThis.fetch;
  globalThis.Response = function NoResponse() {
    throw new Error("a WHATWG Response was built");
  } as unknown as typeof globalThis.Response;
}

describe("the treaty/tls fetches given to a Client", () => {
  it("a pinned call goes over node:https straight from the transport: signed bytes, decoded answers", async () => {
    const node = await serve(credentials(), (req, res) => {
      res.writeHead(200, { "content-type": "application/msgpack" });
      res.end(encode({ result: { echoed: req.url }, txid: "2.7", status: "Pending", events: [] }));
    });
    forbidFetchAndResponse();
    const client = new Client({ nodes: [node.url], serviceKey, key: user, fetch: pinnedFetch(certificate) });
    const answer = await client.call("log", "writePublic", { id: 1, msg: "über" });
    assert.deepEqual(answer, {
      result: { echoed: "/app/log/writePublic" },
      txid: "2.7",
      status: "Pending",
      events: [],
    });
    const [req] = node.seen;
    assert.equal(req!.method, "POST");
    assert.equal(req!.headers.accept, "application/msgpack");
    assert.equal(req!.headers["content-length"], String(req!.body.length));
    assert.equal(req!.headers[HEADER_CALLER], user.id);
    const signature = parseSignatureHeader(String(req!.headers[HEADER_SIGNATURE]));
    assert.equal(verifyRequest(user, keyId(serviceKey), "/app/log/writePublic", req!.body, signature), true);
    assert.deepEqual(JSON.parse(utf8.decode(req!.body)).args, { id: 1, msg: "über" });
    // A GET of a long answer in many chunks, by each fetch.
    const long = await serve(credentials(), (_req, res) => {
      res.writeHead(200, { "content-type": "application/msgpack" });
      const bytes = encode({ role: "Leader", filler: "x".repeat(300_000) });
      for (let at = 0; at < bytes.length; at += 1000) res.write(bytes.subarray(at, at + 1000));
      res.end();
    });
    for (const fetch of [pinnedFetch(certificate), keyPinnedFetch(serviceKey), unpinnedFetch()]) {
      const status = await new Client({ nodes: [long.url], serviceKey, fetch }).status();
      assert.equal((status.filler as string).length, 300_000);
    }
    assert.deepEqual(
      long.seen.map((r) => [r.method, r.headers["content-length"], r.body.length]),
      [
        ["GET", undefined, 0],
        ["GET", undefined, 0],
        ["GET", undefined, 0],
      ],
    );
  });

  it("another service's node, a provisional certificate, a refused connection or a cut-off answer: the next node", async () => {
    const impostor = await serve(credentials(generateKeyPair()), leader("impostor"));
    const provisional = await serve(
      provisionalTlsCredentials(generateKeyPair(), Date.now(), "127.0.0.1"),
      leader("provisional"),
    );
    const dead = await closedPort();
    const cutting = await serve(credentials(), (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      res.write("{");
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const good = await serve(credentials(), leader("good"));
    forbidFetchAndResponse();
    const nodes = [impostor.url, provisional.url, dead, cutting.url, good.url];
    for (const fetch of [pinnedFetch(certificate), keyPinnedFetch(serviceKey)]) {
      const client = new Client({ nodes, serviceKey, fetch, retries: nodes.length });
      assert.equal((await client.status()).node, "good");
    }
    assert.equal(impostor.seen.length, 0, "refused at the handshake: no request reached it");
    assert.equal(provisional.seen.length, 0);
    assert.equal(cutting.seen.length, 2);
    assert.equal(good.seen.length, 2);
    // Alone, each refusal is Unavailable, saying why; a key-pinned fetch that pinned the service
    // from a good node refuses the impostor too. The scheme's letter case changes nothing.
    const byKey = keyPinnedFetch(serviceKey);
    await new Client({ nodes: [good.url], serviceKey, fetch: byKey }).status();
    const refusals: [string, typeof fetch, RegExp][] = [
      [impostor.url, pinnedFetch(certificate), /certificate/],
      [impostor.url.replace("https:", "HTTPS:"), pinnedFetch(certificate), /certificate/],
      [impostor.url, keyPinnedFetch(serviceKey), /not endorsed by the pinned service key/],
      [provisional.url, keyPinnedFetch(serviceKey), /not endorsed by the pinned service key/],
      [impostor.url, byKey, /certificate/],
      [cutting.url, pinnedFetch(certificate), /cut off|aborted|socket hang up/],
    ];
    for (const [url, fetch, why] of refusals) {
      const client = new Client({ nodes: [url], serviceKey, fetch, retries: 1 });
      await assert.rejects(
        client.status(),
        (err: unknown) => isTreatyError(err, "Unavailable") && why.test(err.message),
        url,
      );
    }
    assert.equal(impostor.seen.length, 0);
    // Unpinned (a CLI without a service file): any certificate is accepted, as documented.
    const unpinned = new Client({ nodes: [impostor.url], serviceKey, fetch: unpinnedFetch() });
    assert.equal((await unpinned.status()).node, "impostor");
  });

  it("http: URLs go over plain node:http; an unknown scheme is refused, never sent another way", async () => {
    const plain = await serve(undefined, leader("plain"));
    forbidFetchAndResponse();
    for (const fetch of [pinnedFetch(certificate), keyPinnedFetch(serviceKey), unpinnedFetch()]) {
      assert.equal((await new Client({ nodes: [plain.url], serviceKey, fetch }).status()).node, "plain");
      const odd = new Client({ nodes: ["ftp://127.0.0.1:1"], serviceKey, fetch, retries: 1 });
      await assert.rejects(odd.status(), (err: unknown) => isTreatyError(err, "Unavailable"));
    }
    assert.equal(plain.seen.length, 3);
  });
});

describe("the treaty/tls fetches called as fetch", () => {
  it("answer a Response: status, every header, the body; any fetch body and a Request", async () => {
    const node = await serve(credentials(), (req, res) => {
      if (req.url === "/empty") {
        res.writeHead(204);
        res.end();
        return;
      }
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.writeHead(201, { "content-type": "application/json", "x-treaty-test": "yes" });
      res.end(
        JSON.stringify({
          method: req.method,
          type: req.headers["content-type"],
          body: utf8.decode(req.body),
        }),
      );
    });
    for (const fetch of [pinnedFetch(certificate), keyPinnedFetch(serviceKey)]) {
      const response = await fetch(`${node.url}/echo`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "hello",
      });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get("x-treaty-test"), "yes");
      assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
      assert.deepEqual(await response.json(), { method: "POST", type: "text/plain", body: "hello" });
      const bytes = await fetch(new URL(`${node.url}/echo`), {
        method: "PUT",
        body: utf8.encode("bytes") as Uint8Array<ArrayBuffer>,
      });
      assert.deepEqual(await bytes.json(), { method: "PUT", body: "bytes" }, "no content type");
      const form = await fetch(
        new Request(`${node.url}/echo`, { method: "POST", body: new URLSearchParams({ a: "1" }) }),
      );
      assert.deepEqual(await form.json(), {
        method: "POST",
        type: "application/x-www-form-urlencoded;charset=UTF-8",
        body: "a=1",
      });
      const empty = await fetch(`${node.url}/empty`);
      assert.equal(empty.status, 204);
      assert.equal(empty.body, null);
    }
  });

  it("a Client given a wrapper around one (as the CLI passes) calls the wrapper, with the same checks", async () => {
    const good = await serve(credentials(), leader("good"));
    const impostor = await serve(credentials(generateKeyPair()), leader("impostor"));
    const pinned = pinnedFetch(certificate);
    let calls = 0;
    const wrapper = ((input: string | URL | Request, init?: RequestInit) => {
      calls++;
      return pinned(input, { ...init, signal: AbortSignal.timeout(10_000) });
    }) as typeof fetch;
    const client = new Client({ nodes: [impostor.url, good.url], serviceKey, fetch: wrapper, retries: 2 });
    assert.equal((await client.status()).node, "good");
    assert.equal(calls, 2);
    assert.equal(impostor.seen.length, 0);
  });

  it("fail as fetch does: a TypeError with the cause for a refused certificate, the reason on abort", async () => {
    const impostor = await serve(credentials(generateKeyPair()), leader("impostor"));
    const slow = await serve(credentials(), () => undefined); // never answers
    for (const fetch of [pinnedFetch(certificate), keyPinnedFetch(serviceKey)]) {
      await assert.rejects(fetch(`${impostor.url}/node/status`), (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.equal(err.message, "fetch failed");
        assert.ok((err as { cause?: unknown }).cause instanceof Error);
        return true;
      });
    }
    const fetch = pinnedFetch(certificate);
    const controller = new AbortController();
    const pending = fetch(`${slow.url}/node/status`, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("stop")), 50);
    await assert.rejects(pending, /stop/);
    await assert.rejects(
      fetch(`${slow.url}/node/status`, { signal: AbortSignal.abort(new Error("early")) }),
      /early/,
    );
    assert.equal(impostor.seen.length, 0);
    assert.equal(slow.seen.length, 1, "the aborted-before-sending request never left");
  });
});
