/**
 * Hostile input against a real node over HTTP. Each case asserts the stable error code and
 * status, that nothing was written (the ledger did not grow, the message id the request tried
 * to write is still absent), and that the node keeps serving (a good write succeeds after it).
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fromBase64Url, toBase64Url, utf8 } from "../../sdk/bytes.js";
import type { Client } from "../../sdk/client.js";
import { encode } from "../../sdk/codec.js";
import { generateKeyPair, type KeyPair, keyId, sign } from "../../sdk/keys.js";
import {
  CONTENT_JSON,
  CONTENT_MSGPACK,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  newNonce,
  signingInput,
  signRequest,
} from "../../sdk/request.js";
import { parseTxId } from "../../sdk/receipt.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { type RawAnswer, startTestNode, type TestNode } from "../support/node.js";

const WRITE_PATH = "/app/log/writePublic";
const CONCURRENT_CONNECTIONS = 200;

describe("hostile input against one node", () => {
  let net: TestNode;
  let user: Client;
  let serviceId: string;
  let nextId = 1000;

  before(async () => {
    // The hostile fixture whose readonly methods try to write, deployed at genesis as `rowrite`.
    const readonlyWrite = join(findPackageRoot(), "test", "fixtures", "contracts", "readonly-write");
    net = await startTestNode({ extraContracts: [{ name: "rowrite", path: readonlyWrite }] });
    user = net.client();
    serviceId = keyId(net.serviceKey);
  });
  after(async () => {
    await net?.dispose();
  });

  /** Signs arbitrary body bytes for `path` as `signer`, claiming to be `callerId`. */
  function signedHeaders(
    signer: KeyPair,
    path: string,
    body: Uint8Array,
    contentType = CONTENT_JSON,
    callerId = signer.id,
  ): Record<string, string> {
    return {
      "content-type": contentType,
      [HEADER_CALLER]: callerId,
      [HEADER_SIGNATURE]: toBase64Url(sign(signer, signingInput(serviceId, path, body))),
    };
  }

  /** A fresh message id and a well-formed body writing it. */
  function writeBody(overrides: Record<string, unknown> = {}): { id: number; body: Record<string, unknown> } {
    const id = nextId++;
    return {
      id,
      body: { args: { id, msg: "hostile" }, nonce: newNonce(), createdMs: Date.now(), ...overrides },
    };
  }

  /**
   * Sends one hostile request and checks the whole contract of a refusal: status and code,
   * no ledger growth, the message `id` (if any) unwritten, and a good write succeeding after.
   */
  async function refused(
    send: () => Promise<RawAnswer>,
    status: number,
    code: string,
    id?: number,
  ): Promise<RawAnswer> {
    const lastSeqno = await net.settled();
    const answer = await send();
    assert.equal(answer.code, code, `answer ${JSON.stringify(answer.json)}`);
    assert.equal(answer.status, status);
    const message = (answer.json as { error: { message: unknown } }).error.message;
    assert.equal(typeof message, "string");
    assert.doesNotMatch(message as string, /\n\s+at /, "no stack traces in answers");
    assert.equal(net.node.ledger.lastSeqno, lastSeqno, "nothing was appended to the ledger");
    if (id !== undefined) {
      await assert.rejects(user.call("log", "readPublic", { id }), { code: "MessageNotFound" });
    }
    const good = await user.call("log", "writePublic", { id: nextId++, msg: "still serving" });
    assert.ok(good.txid !== undefined, "the node keeps serving");
    return answer;
  }

  it("malformed JSON", async () => {
    const body = utf8.encode('{"args": {"id": 1, "msg": "x"}, "nonce": ');
    await refused(
      () => net.post(WRITE_PATH, body, signedHeaders(net.user, WRITE_PATH, body)),
      400,
      "MalformedRequest",
    );
    const notUtf8 = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    await refused(
      () => net.post(WRITE_PATH, notUtf8, signedHeaders(net.user, WRITE_PATH, notUtf8)),
      400,
      "MalformedRequest",
    );
    const array = utf8.encode("[1, 2, 3]");
    await refused(
      () => net.post(WRITE_PATH, array, signedHeaders(net.user, WRITE_PATH, array)),
      400,
      "MalformedRequest",
    );
  });

  it("malformed MessagePack", async () => {
    const { id, body } = writeBody();
    const whole = encode(body);
    for (const bytes of [
      whole.subarray(0, whole.length - 3),
      new Uint8Array([...whole, 0x00]),
      new Uint8Array([0xc1]),
      new Uint8Array([0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
    ]) {
      await refused(
        () => net.post(WRITE_PATH, bytes, signedHeaders(net.user, WRITE_PATH, bytes, CONTENT_MSGPACK)),
        400,
        "MalformedEncoding",
        id,
      );
    }
  });

  it("wrong content type", async () => {
    const { id, body } = writeBody();
    const bytes = utf8.encode(JSON.stringify(body));
    await refused(
      () => net.post(WRITE_PATH, bytes, signedHeaders(net.user, WRITE_PATH, bytes, "text/plain")),
      415,
      "UnsupportedMediaType",
      id,
    );
  });

  it("missing or malformed envelope fields in a signed request", async () => {
    const cases: Array<Record<string, unknown>> = [
      { nonce: undefined },
      { createdMs: undefined },
      { nonce: "not-hex" },
      { nonce: "ab" },
      { createdMs: "yesterday" },
      { createdMs: -1 },
      { extra: true },
    ];
    for (const overrides of cases) {
      const { id, body } = writeBody(overrides);
      const bytes = utf8.encode(JSON.stringify(body));
      const answer = await refused(
        () => net.post(WRITE_PATH, bytes, signedHeaders(net.user, WRITE_PATH, bytes)),
        400,
        "MalformedRequest",
        id,
      );
      const field = Object.keys(overrides)[0]!;
      assert.match(
        (answer.json as { error: { message: string } }).error.message,
        new RegExp(`body\\.${field}`),
      );
    }
  });

  it("arguments of the wrong shape", async () => {
    const { body } = writeBody({ args: { id: "seven", msg: 7 } });
    const bytes = utf8.encode(JSON.stringify(body));
    await refused(
      () => net.post(WRITE_PATH, bytes, signedHeaders(net.user, WRITE_PATH, bytes)),
      400,
      "InvalidArgs",
    );
  });

  it("a huge body is refused with 413 before it is read", async () => {
    const { id } = writeBody();
    const answer = await refused(
      () =>
        new Promise<RawAnswer>((resolve, reject) => {
          // Declare 2 MiB and send none of it: the node must answer from the header alone.
          const req = httpRequest(`${net.url}${WRITE_PATH}`, {
            method: "POST",
            agent: false,
            headers: { "content-type": CONTENT_JSON, "content-length": String(2 << 20) },
          });
          req.on("response", (res) => {
            let text = "";
            res.setEncoding("utf8").on("data", (chunk: string) => {
              text += chunk;
            });
            res.on("end", () => {
              const json = JSON.parse(text) as { error: { code: string } };
              resolve({ status: res.statusCode ?? 0, json, code: json.error.code });
              req.destroy();
            });
          });
          req.on("error", reject);
          req.flushHeaders();
        }),
      413,
      "PayloadTooLarge",
      id,
    );
    assert.match((answer.json as { error: { message: string } }).error.message, /body/);
  });

  it("a huge streamed body (no content-length) is cut off and writes nothing", async () => {
    const lastSeqno = await net.settled();
    const status = await new Promise<number | "reset">((resolve) => {
      const req = httpRequest(`${net.url}${WRITE_PATH}`, {
        method: "POST",
        agent: false,
        headers: { "content-type": CONTENT_JSON, "transfer-encoding": "chunked" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      // The node may reset the connection while we still write: that is a refusal too.
      req.on("error", () => resolve("reset"));
      const chunk = new Uint8Array(64 * 1024).fill(0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 4 << 20) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    assert.ok(status === 413 || status === "reset", `expected 413 or a reset, got ${status}`);
    assert.equal(net.node.ledger.lastSeqno, lastSeqno);
    assert.ok((await user.call("log", "writePublic", { id: nextId++, msg: "after" })).txid !== undefined);
  });

  it("unknown contract, unknown method, unknown path", async () => {
    const { body } = writeBody();
    const bytes = utf8.encode(JSON.stringify(body));
    for (const [path, code] of [
      ["/app/nope/writePublic", "UnknownContract"],
      ["/app/log/nope", "UnknownMethod"],
      ["/app/log/constructor", "UnknownMethod"],
      ["/app/log/__proto__", "UnknownMethod"],
      ["/app/log/writePublic/extra", "NotFound"],
      ["/nothing/here", "NotFound"],
    ] as const) {
      await refused(() => net.post(path, bytes, signedHeaders(net.user, path, bytes)), 404, code);
    }
  });

  it("bad signature, a signature over another path, and a signature by another key", async () => {
    const { id, body } = writeBody();
    const bytes = utf8.encode(JSON.stringify(body));
    const headers = signedHeaders(net.user, WRITE_PATH, bytes);
    const signature = fromBase64Url(headers[HEADER_SIGNATURE]!);
    signature[10]! ^= 0x01;
    const bad = { ...headers, [HEADER_SIGNATURE]: toBase64Url(signature) };
    await refused(() => net.post(WRITE_PATH, bytes, bad), 401, "BadSignature", id);
    const otherPath = signedHeaders(net.user, "/app/log/writePrivate", bytes);
    await refused(() => net.post(WRITE_PATH, bytes, otherPath), 401, "BadSignature", id);
    // A valid signature by a key that is not the caller's: the caller id claims user0.
    const impostor = generateKeyPair();
    const mismatched = signedHeaders(impostor, WRITE_PATH, bytes, CONTENT_JSON, net.user.id);
    await refused(() => net.post(WRITE_PATH, bytes, mismatched), 401, "BadSignature", id);
    // The member's key with the user's id, and the user's signature with the member's id.
    const swapped = signedHeaders(net.member, WRITE_PATH, bytes, CONTENT_JSON, net.user.id);
    await refused(() => net.post(WRITE_PATH, bytes, swapped), 401, "BadSignature", id);
  });

  it("malformed authentication headers", async () => {
    const { id, body } = writeBody();
    const bytes = utf8.encode(JSON.stringify(body));
    const headers = signedHeaders(net.user, WRITE_PATH, bytes);
    const { [HEADER_SIGNATURE]: _signature, ...callerOnly } = headers;
    await refused(() => net.post(WRITE_PATH, bytes, callerOnly), 400, "MalformedRequest", id);
    for (const value of ["!!!", "", "AAAA", "A".repeat(4096)]) {
      await refused(
        () => net.post(WRITE_PATH, bytes, { ...headers, [HEADER_SIGNATURE]: value }),
        400,
        "MalformedRequest",
        id,
      );
    }
  });

  it("an unknown caller", async () => {
    const stranger = generateKeyPair();
    const { id, body } = writeBody();
    const bytes = utf8.encode(JSON.stringify(body));
    await refused(
      () => net.post(WRITE_PATH, bytes, signedHeaders(stranger, WRITE_PATH, bytes)),
      401,
      "UnknownCaller",
      id,
    );
    const nonsense = { ...signedHeaders(stranger, WRITE_PATH, bytes), [HEADER_CALLER]: "x".repeat(10_000) };
    await refused(() => net.post(WRITE_PATH, bytes, nonsense), 401, "UnknownCaller", id);
  });

  it("a replayed request is refused with 409 Replay naming the original txid", async () => {
    const id = nextId++;
    const request = signRequest(net.user, serviceId, WRITE_PATH, { id, msg: "once" });
    const first = await net.post(request.path, request.body, request.headers);
    assert.equal(first.status, 200);
    const { txid } = first.json as { txid: string };
    const answer = await refused(() => net.post(request.path, request.body, request.headers), 409, "Replay");
    assert.deepEqual((answer.json as { error: { details: unknown } }).error.details, { txid });
    // The same nonce and createdMs in a different request (new args, signed again) is a replay
    // as well: a request is (caller, createdMs, nonce).
    const { nonce, createdMs } = JSON.parse(utf8.decode(request.body)) as {
      nonce: string;
      createdMs: number;
    };
    const again = signRequest(net.user, serviceId, WRITE_PATH, { id, msg: "twice" }, { nonce, createdMs });
    await refused(() => net.post(again.path, again.body, again.headers), 409, "Replay");
    await user.waitForCommit(txid);
    assert.deepEqual((await user.call("log", "readPublic", { id })).result, { msg: "once" });
    // The caller re-signing its nonce with another createdMs makes another request, which runs.
    const other = nextId++;
    const later = signRequest(
      net.user,
      serviceId,
      WRITE_PATH,
      { id: other, msg: "later" },
      { nonce, createdMs: createdMs + 1 },
    );
    assert.equal((await net.post(later.path, later.body, later.headers)).status, 200);
  });

  it("a request created too long ago or too far in the future is stale", async () => {
    for (const skewMs of [-10 * 60_000, 10 * 60_000]) {
      const id = nextId++;
      const request = signRequest(
        net.user,
        serviceId,
        WRITE_PATH,
        { id, msg: "old" },
        { createdMs: Date.now() + skewMs },
      );
      await refused(() => net.post(request.path, request.body, request.headers), 400, "StaleRequest", id);
    }
  });

  it("a readonly method that tries to write fails and writes nothing", async () => {
    const unsigned = (method: string) =>
      net.post(`/app/rowrite/${method}`, JSON.stringify({ args: {} }), { "content-type": CONTENT_JSON });
    await refused(() => unsigned("write"), 500, "ReadonlyViolation");
    await refused(() => unsigned("rawWrite"), 500, "ReadonlyViolation");
    // The host refuses the write and the refusal is fatal for the call: catching it does not help.
    await refused(() => unsigned("writeAndCatch"), 500, "ReadonlyViolation");
    const read = await unsigned("read");
    assert.equal(read.status, 200);
    assert.equal((read.json as { result: unknown }).result, null);
  });

  it("bad txids on the node endpoints", async () => {
    for (const txid of ["", "x", "1", "1.0", "-1.2", "1.2.3", "99999999999999999.1"]) {
      for (const path of ["/node/tx", "/node/receipt"]) {
        const response = await fetch(`${net.url}${path}?txid=${encodeURIComponent(txid)}`);
        assert.equal(response.status, 400, `${path}?txid=${txid}`);
        assert.equal(((await response.json()) as { error: { code: string } }).error.code, "MalformedRequest");
      }
    }
    const future = await fetch(`${net.url}/node/receipt?txid=${encodeURIComponent("2.999999")}`);
    assert.equal(future.status, 404);
  });

  it(`${CONCURRENT_CONNECTIONS} concurrent connections are all answered`, async () => {
    const requests = Array.from({ length: CONCURRENT_CONNECTIONS }, (_, i) =>
      signRequest(net.user, serviceId, WRITE_PATH, { id: 100_000 + i, msg: `concurrent ${i}` }),
    );
    const answers = await Promise.all(
      requests.map(
        (request) =>
          new Promise<{ status: number; txid: string }>((resolve, reject) => {
            // One connection per request (no agent), all opened at once.
            const req = httpRequest(`${net.url}${request.path}`, {
              method: "POST",
              agent: false,
              headers: { ...request.headers, "content-length": String(request.body.length) },
            });
            req.on("response", (res) => {
              let text = "";
              res.setEncoding("utf8").on("data", (chunk: string) => {
                text += chunk;
              });
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, txid: (JSON.parse(text) as { txid: string }).txid }),
              );
            });
            req.on("error", reject);
            req.end(request.body);
          }),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      answers.map(() => 200),
    );
    assert.equal(new Set(answers.map((a) => a.txid)).size, CONCURRENT_CONNECTIONS);
    // Reads see committed state: wait for the last of the writes.
    const last = answers.reduce((a, b) => (parseTxId(a.txid).seqno > parseTxId(b.txid).seqno ? a : b));
    await user.waitForCommit(last.txid);
    for (const i of [0, CONCURRENT_CONNECTIONS / 2, CONCURRENT_CONNECTIONS - 1]) {
      const read = await user.call("log", "readPublic", { id: 100_000 + i });
      assert.deepEqual(read.result, { msg: `concurrent ${i}` });
      assert.equal(read.status, "Committed");
    }
  });
});
