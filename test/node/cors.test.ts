/**
 * CORS and the console's static routes at the HTTP layer (the browser's side is in
 * test/console/): which origins get an allow header, preflights, config validation, and that the
 * console serves only its fixed files with a CSP.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseConfig } from "../../node/config.js";
import { addConsoleRoutes } from "../../node/http/console-routes.js";
import { Router, type RunningHttpServer, startHttpServer } from "../../node/http/server.js";
import { silentLogger } from "../../node/log.js";
import { isTreatyError } from "../../sdk/errors.js";

const ALLOWED = "https://console.example.org";

describe("CORS and console routes", () => {
  let server: RunningHttpServer;
  let consoleDir: string;
  before(async () => {
    consoleDir = mkdtempSync(join(tmpdir(), "treaty-console-files-"));
    writeFileSync(join(consoleDir, "index.html"), "<!doctype html><title>console</title>");
    writeFileSync(join(consoleDir, "app.js"), "export {};");
    writeFileSync(join(consoleDir, "secret.txt"), "not served");
    const router = addConsoleRoutes(
      new Router()
        .add("GET", "/node/status", () => ({ body: { ok: true } }))
        .add("POST", "/app/x/y", () => ({ body: 1 })),
      consoleDir,
    );
    server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      router,
      maxBodyBytes: 1024,
      logger: silentLogger,
      cors: { allowedOrigins: [ALLOWED] },
    });
  });
  after(async () => {
    await server.close();
    rmSync(consoleDir, { recursive: true, force: true });
  });

  it("names an allowed origin in its answers, and exposes the txid header", async () => {
    const answer = await fetch(`${server.url}/node/status`, { headers: { origin: ALLOWED } });
    assert.equal(answer.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(answer.headers.get("access-control-expose-headers"), "x-treaty-txid");
    assert.equal(answer.headers.get("vary"), "origin");
    // Errors too: the page must be able to read the error code.
    const missing = await fetch(`${server.url}/nowhere`, { headers: { origin: ALLOWED } });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("access-control-allow-origin"), ALLOWED);
  });

  it("gives another origin, or none, no CORS header at all", async () => {
    const cases: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: `${ALLOWED}:8443` },
      {},
    ];
    for (const headers of cases) {
      const answer = await fetch(`${server.url}/node/status`, { headers });
      assert.equal(answer.status, 200, "the request itself is served: browsers enforce CORS on the page");
      assert.equal(answer.headers.get("access-control-allow-origin"), null);
    }
  });

  it("answers a preflight for an allowed origin with the API's methods and headers; refuses others", async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/app/x/y`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, x-treaty-caller, x-treaty-signature",
        },
      });
    const ok = await preflight(ALLOWED);
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(ok.headers.get("access-control-allow-methods"), "GET, POST");
    for (const header of [
      "content-type",
      "x-treaty-caller",
      "x-treaty-signature",
      "x-treaty-signature-scheme",
      "x-treaty-consistency",
      "x-treaty-answer-challenge",
      "authorization",
    ])
      assert.ok(ok.headers.get("access-control-allow-headers")!.includes(header), header);
    assert.equal(ok.headers.get("access-control-allow-credentials"), null, "credentials are never allowed");

    const refused = await preflight("https://evil.example");
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get("access-control-allow-origin"), null);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "Forbidden");
    // A plain OPTIONS (not a preflight) routes as any other method would.
    assert.equal((await fetch(`${server.url}/node/status`, { method: "OPTIONS" })).status, 404);
  });

  it("serves the console's fixed files with a CSP, and nothing else from its folder", async () => {
    const page = await fetch(`${server.url}/console`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    assert.equal(
      (await fetch(`${server.url}/console/app.js`)).headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    for (const path of [
      "/console/secret.txt",
      "/console/..%2Fsecret.txt",
      "/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ]) {
      const answer = await fetch(`${server.url}${path}`);
      assert.equal(answer.status, 404, path);
      assert.doesNotMatch(await answer.text(), /not served/);
    }
    // A known file missing from this installation says how to get it.
    const style = await fetch(`${server.url}/console/style.css`);
    assert.equal(style.status, 404);
    assert.match(((await style.json()) as { error: { message: string } }).error.message, /npm run build/);
  });

  it("config: http.cors.allowedOrigins takes exact origins only", () => {
    const base = { dataDir: "data" };
    assert.deepEqual(parseConfig(base, "/tmp").http.cors.allowedOrigins, []);
    const config = parseConfig(
      { ...base, http: { cors: { allowedOrigins: [ALLOWED, "http://127.0.0.1:8000"] } } },
      "/tmp",
    );
    assert.deepEqual(config.http.cors.allowedOrigins, [ALLOWED, "http://127.0.0.1:8000"]);
    for (const bad of ["*", `${ALLOWED}/`, `${ALLOWED}/console`, "ftp://x.example", "console.example.org"]) {
      assert.throws(
        () => parseConfig({ ...base, http: { cors: { allowedOrigins: [bad] } } }, "/tmp"),
        (err) =>
          isTreatyError(err, "MalformedRequest") && err.message.includes("http.cors.allowedOrigins[0]"),
        bad,
      );
    }
  });
});
