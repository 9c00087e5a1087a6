import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromBase64Url, utf8 } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, sign } from "../../sdk/keys.js";
import {
  HEADER_SIGNATURE,
  newNonce,
  parseBody,
  parseSignatureHeader,
  signingInput,
  signRequest,
  signRequestAsync,
  verifyRequest,
} from "../../sdk/request.js";

const service = "a".repeat(64);

describe("signed requests", () => {
  const key = generateKeyPair();

  for (const encoding of ["json", "msgpack"] as const) {
    it(`signs exact ${encoding} bytes bound to service and path`, () => {
      const req = signRequest(key, service, "/app/log/writePrivate", { id: 1, msg: "hi" }, { encoding });
      const sig = parseSignatureHeader(req.headers[HEADER_SIGNATURE]!);
      assert.equal(verifyRequest(key, service, req.path, req.body, sig), true);
      assert.equal(verifyRequest(key, "b".repeat(64), req.path, req.body, sig), false, "other service");
      assert.equal(verifyRequest(key, service, "/app/log/writePublic", req.body, sig), false, "other method");
      const tampered = new Uint8Array(req.body);
      tampered[tampered.length - 2]! ^= 1;
      assert.equal(verifyRequest(key, service, req.path, tampered, sig), false, "tampered body");
      const body = parseBody(req.body, encoding);
      assert.deepEqual(body.args, { id: 1, msg: "hi" });
      assert.match(body.nonce!, /^[0-9a-f]{44}$/);
    });
  }

  it("newNonce: the time first, then 128 random bits, so one caller's nonces sort as made", () => {
    const before = Date.now();
    const nonces = Array.from({ length: 200 }, () => newNonce());
    const after = Date.now();
    assert.equal(new Set(nonces).size, nonces.length, "unique");
    for (const nonce of nonces) {
      assert.match(nonce, /^[0-9a-f]{44}$/);
      const ms = Number.parseInt(nonce.slice(0, 12), 16);
      assert.ok(ms >= before && ms <= after, `time prefix ${ms} within [${before}, ${after}]`);
    }
    const sorted = [...nonces].sort();
    for (let i = 1; i < nonces.length; i++)
      assert.ok(nonces[i]!.slice(0, 12) >= nonces[i - 1]!.slice(0, 12), "time prefixes never go back");
    assert.deepEqual(
      sorted.map((n) => n.slice(0, 12)),
      nonces.map((n) => n.slice(0, 12)),
      "byte order is time order",
    );
    // The node's check (parseBody) accepts it.
    const body = parseBody(
      utf8.encode(JSON.stringify({ args: null, nonce: nonces[0], createdMs: after })),
      "json",
    );
    assert.equal(body.nonce, nonces[0]);
  });

  it("signRequestAsync builds signRequest's request (the Client's path)", async () => {
    for (const curve of ["ed25519", "p256"] as const) {
      const signer = generateKeyPair(curve);
      for (const encoding of ["json", "msgpack"] as const) {
        const options = { encoding, nonce: "c".repeat(32), createdMs: 1_700_000_000_000 };
        const args = { id: 7, msg: "same bytes" };
        const expected = signRequest(signer, service, "/app/log/writePublic", args, options);
        const actual = await signRequestAsync(signer, service, "/app/log/writePublic", args, options);
        assert.deepEqual(actual, expected, `${curve} ${encoding}`);
      }
    }
  });

  it("rejects malformed bodies with messages naming the field", () => {
    const cases: Array<[Uint8Array, "json" | "msgpack", RegExp]> = [
      [utf8.encode("{not json"), "json", /body: not valid JSON/],
      [utf8.encode("[1,2]"), "json", /body: expected an object/],
      [utf8.encode('{"args":{},"nonce":"xyz"}'), "json", /body\.nonce/],
      [utf8.encode('{"args":{},"createdMs":-1}'), "json", /body\.createdMs/],
      [utf8.encode('{"args":{},"extra":1}'), "json", /body\.extra: unknown field/],
      [new Uint8Array([0xc1]), "msgpack", /body: not valid MessagePack/],
      [encode("just a string"), "msgpack", /body: expected an object/],
    ];
    for (const [bytes, encoding, message] of cases) {
      assert.throws(
        () => parseBody(bytes, encoding),
        (e) => isTreatyError(e) && message.test(e.message),
      );
    }
  });

  it("refuses a body naming a key twice in either encoding, though its signature verifies", () => {
    const nonceA = "a".repeat(32);
    const nonceB = "b".repeat(32);
    const str = (text: string): number[] =>
      text.length < 32
        ? [0xa0 + text.length, ...utf8.encode(text)]
        : [0xd9, text.length, ...utf8.encode(text)];
    const bodies = {
      json: utf8.encode(`{"args":{},"nonce":"${nonceA}","nonce":"${nonceB}"}`),
      msgpack: new Uint8Array([
        0x83,
        ...str("args"),
        0x80,
        ...str("nonce"),
        ...str(nonceA),
        ...str("nonce"),
        ...str(nonceB),
      ]),
    };
    for (const [encoding, body] of Object.entries(bodies) as ["json" | "msgpack", Uint8Array][]) {
      const path = "/app/log/writePublic";
      const sig = sign(key, signingInput(service, path, body));
      assert.equal(verifyRequest(key, service, path, body, sig), true, encoding);
      assert.throws(
        () => parseBody(body, encoding),
        (e) => isTreatyError(e, "MalformedEncoding") && /"nonce" appears twice/.test(e.message),
        encoding,
      );
    }
  });

  it("rejects signature headers that are not 64 bytes of base64url", () => {
    for (const bad of ["", "!!!", "AAAA", "A".repeat(200)]) {
      assert.throws(
        () => parseSignatureHeader(bad),
        (e) => isTreatyError(e, "MalformedRequest"),
      );
    }
    assert.equal(fromBase64Url("A".repeat(86)).length, 64);
  });
});

describe("client answers", () => {
  it("a non-JSON answer is MalformedEncoding, not a SyntaxError", async () => {
    const { Client } = await import("../../sdk/client.js");
    const key = generateKeyPair();
    const client = new Client({
      nodes: ["http://node.invalid"],
      serviceKey: key,
      fetch: async () =>
        new Response("<html>bad gateway</html>", { status: 502, headers: { "content-type": "text/html" } }),
    });
    await assert.rejects(
      client.status(),
      (e) => isTreatyError(e, "MalformedEncoding") && /HTTP 502/.test(e.message),
    );
  });
});
