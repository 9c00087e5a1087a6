import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { after, before, describe, it } from "node:test";
import { AssertionFailure } from "../../sdk/assert.js";
import { decode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import { request } from "node:http";
import {
  ownedBytes,
  Router,
  type RunningHttpServer,
  splitTarget,
  startHttpServer,
} from "../../node/http/server.js";
import { silentLogger } from "../../node/log.js";

describe("http layer", () => {
  let server: RunningHttpServer;
  const broken: string[] = [];
  before(async () => {
    const router = new Router()
      .add("GET", "/echo/:word", (req) => ({ body: { word: req.params.word, q: req.query.get("q") } }))
      .add("POST", "/size", (req) => ({ body: { bytes: req.body.length } }))
      .add("POST", "/owned", (req) => ({
        body: {
          plain: Object.getPrototypeOf(req.body) === Uint8Array.prototype,
          own: req.body.byteOffset === 0 && req.body.buffer.byteLength === req.body.length,
          sum: req.body.reduce((a, b) => a + b, 0),
        },
      }))
      .add("GET", "/fail", () => {
        throw new TreatyError("Forbidden", "no");
      })
      .add("GET", "/crash", () => {
        throw new Error("secret host detail");
      })
      .add("GET", "/broken", () => {
        throw new AssertionFailure("invariant broken: test");
      });
    router.onBrokenInvariant = (err) => broken.push(err.message);
    server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      router,
      maxBodyBytes: 1024,
      logger: silentLogger,
    });
  });
  after(() => server.close());

  it("routes with params and query, JSON by default and msgpack on request", async () => {
    const json = await fetch(`${server.url}/echo/h%C3%A9?q=1`);
    assert.deepEqual(await json.json(), { word: "hé", q: "1" });
    const packed = await fetch(`${server.url}/echo/x`, { headers: { accept: "application/msgpack" } });
    assert.equal(packed.headers.get("content-type"), "application/msgpack");
    assert.deepEqual(decode(new Uint8Array(await packed.arrayBuffer())), { word: "x", q: null });
  });

  it("declares each body's length (not chunked), in bytes for non-ASCII JSON and for msgpack", async () => {
    for (const accept of ["application/json", "application/msgpack"]) {
      const answer = await fetch(`${server.url}/echo/h%C3%A9%E2%82%AC`, { headers: { accept } });
      const body = new Uint8Array(await answer.arrayBuffer());
      assert.equal(answer.headers.get("transfer-encoding"), null, accept);
      assert.equal(answer.headers.get("content-length"), String(body.length), accept);
    }
    const error = await fetch(`${server.url}/fail`);
    assert.equal(error.headers.get("content-length"), String((await error.arrayBuffer()).byteLength));
  });

  it("a broken invariant in a handler is reported to the node (which stops) and answered 500", async () => {
    const answer = await fetch(`${server.url}/broken`);
    assert.equal(answer.status, 500);
    assert.equal(((await answer.json()) as { error: { code: string } }).error.code, "Internal");
    assert.deepEqual(broken, ["invariant broken: test"]);
  });

  it("a malformed percent-escape in a path parameter is MalformedRequest (400)", async () => {
    for (const path of ["/echo/%", "/echo/%zz", "/echo/%C3"]) {
      const answer = await fetch(`${server.url}${path}`);
      assert.equal(answer.status, 400, path);
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, "MalformedRequest");
    }
  });

  it("answers errors as {error: {code, message}} with the mapped status", async () => {
    const forbidden = await fetch(`${server.url}/fail`);
    assert.equal(forbidden.status, 403);
    assert.deepEqual(await forbidden.json(), { error: { code: "Forbidden", message: "no" } });
    const missing = await fetch(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, "NotFound");
    const crash = await fetch(`${server.url}/crash`);
    assert.equal(crash.status, 500);
    const text = await crash.text();
    assert.doesNotMatch(text, /secret host detail/);
  });

  it("hands a handler the body in a plain Uint8Array of its own, in one chunk or several", async () => {
    const bytes = Uint8Array.from({ length: 600 }, (_, i) => i % 251);
    const sum = bytes.reduce((a, b) => a + b, 0);
    const whole = await fetch(`${server.url}/owned`, { method: "POST", body: bytes });
    assert.deepEqual(await whole.json(), { plain: true, own: true, sum });
    // Streamed in three writes: node:http hands the body over in several chunks.
    const parts = [bytes.subarray(0, 100), bytes.subarray(100, 350), bytes.subarray(350)];
    const chunked = await new Promise<unknown>((resolve, reject) => {
      const req = request(`${server.url}/owned`, { method: "POST" }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(JSON.parse(text)));
      });
      req.on("error", reject);
      req.flushHeaders();
      let i = 0;
      const next = (): void => {
        if (i === parts.length) {
          req.end();
          return;
        }
        req.write(parts[i++]!, () => setTimeout(next, 20));
      };
      next();
    });
    assert.deepEqual(chunked, { plain: true, own: true, sum });
  });

  it("ownedBytes: a view of a buffer of its own, a copy of a shared one", () => {
    const own = new Uint8Array([1, 2, 3]);
    const view = ownedBytes(own);
    assert.equal(view.buffer, own.buffer);
    const pooled = Buffer.from("abc"); // from node's shared pool
    const copy = ownedBytes(pooled);
    assert.notEqual(copy.buffer, pooled.buffer);
    assert.equal(copy.buffer.byteLength, 3);
    assert.deepEqual([...copy], [97, 98, 99]);
  });

  it("caps request bodies and keeps serving", async () => {
    const big = await fetch(`${server.url}/size`, { method: "POST", body: new Uint8Array(4096) }).catch(
      () => undefined,
    );
    if (big) assert.equal(big.status, 413);
    const ok = await fetch(`${server.url}/size`, { method: "POST", body: new Uint8Array(10) });
    assert.deepEqual(await ok.json(), { bytes: 10 });
  });
});

describe("splitTarget", () => {
  // What each gives, or that it throws (an unparsable target such as `//`).
  const viaUrl = (target: string) => {
    try {
      const url = new URL(target, "http://treaty");
      return { path: url.pathname, query: [...url.searchParams] };
    } catch {
      return "throws";
    }
  };
  const split = (target: string) => {
    try {
      const { path, query } = splitTarget(target);
      return { path, query: [...query] };
    } catch {
      return "throws";
    }
  };

  it("gives what the WHATWG URL parser gives, for plain and other targets", () => {
    const targets = [
      "/app/log/writePublic",
      "/node/status",
      "/",
      "/app/openapi.json",
      "/node/tx?txid=2.5",
      "/node/tx?txid=2.5&x=a+b%20c",
      "/app/../node/status",
      "/app/./log/%2e%2e/x",
      "//evil/app",
      "/a//b",
      "/echo/h%C3%A9?q=1",
      "/app/log/write Public",
      "/app\\log",
      "/app/log/writePublic?",
      "/app/log/writePublic#frag",
      "/node/tx?txid=2.5&wait=1",
      "/node/tx?a=%zz&b=%C3%A9&c=%e9&+=+",
      "/node/tx?a=1#frag",
      "/node/tx?a=\t1\n",
      "/node/tx?a=<x>&b='\"",
      "/node/tx?a=é&b=\u{1F600}&c=\uD800",
      "/node/tx?=&&=x&y",
      "/node/tx??a=1",
      "/node/tx/?a=1",
      "/node/./tx?a=1",
      "/node/%74x?a=1",
      "/node/tx\\x?a=1",
      "/node/tx?a=1\u0000",
      "/node/tx ?a=1",
    ];
    for (const target of targets) assert.deepEqual(split(target), viaUrl(target), target);
  });

  it("a plain target's empty query reads as empty and refuses changes (it is shared)", () => {
    const { query } = splitTarget("/app/log/writePublic");
    assert.equal(query.get("at"), null);
    assert.equal(query.size, 0);
    assert.equal(query.toString(), "");
    assert.throws(() => query.append("at", "1"), TypeError);
    assert.throws(() => query.set("at", "1"), TypeError);
    assert.throws(() => query.delete("at"), TypeError);
    assert.throws(() => query.sort(), TypeError);
    assert.equal(splitTarget("/node/status").query.get("at"), null);
  });

  it("agrees with the URL parser on any target of path and query characters", () => {
    const chars = [..."abcXYZ019_-./%?&=+#\\ é~,:;'\"<>\t\n\u0000\u007f\uD800"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (picked) => {
        const target = `/${picked.join("")}`;
        assert.deepEqual(split(target), viaUrl(target));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("Router matches of plain targets", () => {
  const dispatch = async (router: Router, method: string, url: string) =>
    (await router.dispatch({ method, url, headers: {}, body: new Uint8Array(0) }, silentLogger)) as {
      status?: number;
      body?: unknown;
    };

  it("follow every change of the routes (a replaced route, cleared routes)", async () => {
    const router = new Router().add("GET", "/a/:x", (req) => ({ body: `first ${req.params.x}` }));
    assert.equal((await dispatch(router, "GET", "/a/b")).body, "first b");
    assert.equal((await dispatch(router, "GET", "/a/b")).body, "first b");
    router.add("GET", "/a/:x", (req) => ({ body: `second ${req.params.x}` }));
    assert.equal((await dispatch(router, "GET", "/a/b")).body, "second b");
    router.add("POST", "/a/:x", () => ({ body: "posted" }));
    assert.equal((await dispatch(router, "POST", "/a/b")).body, "posted");
    router.clear();
    assert.equal((await dispatch(router, "GET", "/a/b")).status, 503);
    router.add("GET", "/a/b", () => ({ body: "literal" }));
    assert.equal((await dispatch(router, "GET", "/a/b")).body, "literal");
    assert.equal((await dispatch(router, "POST", "/a/b")).status, 404);
  });

  it("hand every request the same params, which a handler cannot change", async () => {
    const router = new Router().add("GET", "/p/:x", (req) => {
      if (req.query.get("change") !== null) (req.params as Record<string, string>).x = "changed";
      return { body: req.params.x };
    });
    assert.equal((await dispatch(router, "GET", "/p/one")).body, "one");
    // A plain path with a query shares the match kept for its path: frozen, so the change fails.
    assert.equal((await dispatch(router, "GET", "/p/one?change=1")).status, 500);
    // A path that is not plain is matched afresh (its params are its own).
    assert.equal((await dispatch(router, "GET", "/p/%6Fne?change=1")).body, "changed");
    const frozen = new Router().add("GET", "/p/:x", (req) => {
      (req.params as Record<string, string>).x = "changed";
      return { body: req.params.x };
    });
    assert.equal((await dispatch(frozen, "GET", "/p/one")).status, 500, "a plain target's params are frozen");
    assert.equal((await dispatch(frozen, "GET", "/p/one")).status, 500);
    assert.equal((await dispatch(router, "GET", "/p/one")).body, "one");
  });

  it("answer only the very target they were kept for: other targets of the same route are parsed", async () => {
    const seen: unknown[] = [];
    const router = new Router().add("POST", "/app/:contract/:method", (req) => {
      seen.push({ path: req.path, query: [...req.query], params: { ...req.params } });
      return { body: "ok" };
    });
    const gated: string[] = [];
    router.setGate((path) => {
      gated.push(path);
      if (path === "/app/closed/m") throw new TreatyError("Unavailable", "closed");
    });
    assert.equal((await dispatch(router, "POST", "/app/c/m")).body, "ok");
    assert.equal((await dispatch(router, "POST", "/app/c/m")).body, "ok", "kept");
    // Hostile neighbours of the kept target: a query, a fragment, escapes, dot segments, empty
    // segments, a trailing slash. Each is routed as the URL parser reads it, never as /app/c/m.
    const targets = [
      "/app/c/m?nonce=1",
      "/app/c/m#x",
      "/app/%63/m",
      "/app/./c/m",
      "//app/c/m",
      "/app/c/m/",
      "/app/c/m?",
    ];
    for (const target of targets) {
      seen.length = 0;
      const answer = await dispatch(router, "POST", target);
      const { path, query } = splitTarget(target);
      if (answer.status === 404) continue; // a path that no route takes (the URL parser's reading)
      assert.equal(answer.body, "ok", target);
      const parts = path.split("/").filter(Boolean);
      assert.deepEqual(
        seen,
        [{ path, query: [...query], params: { contract: decodeURIComponent(parts[1]!), method: parts[2] } }],
        target,
      );
    }
    // The gate sees every request's path, kept or not, and refuses a kept one once it says so.
    gated.length = 0;
    await dispatch(router, "POST", "/app/c/m");
    assert.deepEqual(gated, ["/app/c/m"]);
    assert.equal((await dispatch(router, "POST", "/app/closed/m")).status, 503);
    assert.equal((await dispatch(router, "POST", "/app/closed/m")).status, 503);
  });

  it("route any number of distinct paths (the kept matches are bounded)", async () => {
    const router = new Router().add("POST", "/app/:contract/:method", (req) => ({
      body: `${req.params.contract}.${req.params.method}`,
    }));
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 2500; i += 7)
        assert.equal((await dispatch(router, "POST", `/app/c${i}/m${i % 13}`)).body, `c${i}.m${i % 13}`);
    const long = "x".repeat(300); // longer than any kept path: matched afresh each time
    for (let round = 0; round < 2; round++)
      assert.equal((await dispatch(router, "POST", `/app/${long}/m`)).body, `${long}.m`);
  });
});
