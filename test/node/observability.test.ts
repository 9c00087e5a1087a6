/**
 * `/node/metrics` and `/app/openapi.json` of a running node, scraped over HTTP: every metric
 * family docs/http.md lists is exposed in the Prometheus text format and moves with traffic; the
 * OpenAPI document describes every deployed method's arguments and results as the contracts
 * declare them, and real answers fit those schemas.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { validate } from "../../contracts/api/shapes.js";
import { compileContract, findPackageRoot } from "../../runtime/compiler/index.js";
import { sandboxManifest } from "../support/manifest.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";
import { shapeToSchema } from "../../node/openapi.js";
import { startTestNode, type TestNode } from "../support/node.js";

const ROOT = findPackageRoot();
const SAMPLES = ["log", "bank", "meter"] as const;

interface Family {
  help: string;
  type: string;
  /** `name{labels}` -> value, samples of this family (histograms: _bucket, _sum, _count). */
  samples: Map<string, number>;
}

/** Parses the Prometheus text format strictly: HELP and TYPE before samples, numeric values. */
function parseMetrics(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: { name: string; family: Family } | undefined;
  assert.ok(text.endsWith("\n"));
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-z_]+) (.+)$/.exec(line);
    if (help) {
      assert.ok(!families.has(help[1]!), `family ${help[1]} twice`);
      current = { name: help[1]!, family: { help: help[2]!, type: "", samples: new Map() } };
      families.set(help[1]!, current.family);
      continue;
    }
    const type = /^# TYPE ([a-z_]+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      assert.equal(type[1], current?.name, line);
      current!.family.type = type[2]!;
      continue;
    }
    const sample = /^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${JSON.stringify(line)}`);
    assert.ok(current && sample[1]!.startsWith(current.name), `${sample[1]} outside its family`);
    current.family.samples.set(`${sample[1]}${sample[2] ?? ""}`, Number(sample[3]));
  }
  return families;
}

/** The families docs/http.md lists under `GET /node/metrics`. */
function documentedFamilies(): string[] {
  const doc = readFileSync(join(ROOT, "docs/http.md"), "utf8");
  const start = doc.indexOf("`GET /node/metrics`");
  const paragraph = doc.slice(start, doc.indexOf("\n\n", start));
  return [...paragraph.matchAll(/`(treaty_[a-z_]+)/g)].map((m) => m[1]!).sort();
}

describe("a running node's metrics and OpenAPI document", () => {
  let net: TestNode;
  before(async () => {
    net = await startTestNode();
  });
  after(async () => {
    await net?.dispose();
  });

  const scrape = async () => {
    const response = await fetch(`${net.url}/node/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    return parseMetrics(await response.text());
  };

  it("exposes every documented family, and the values move with traffic", async () => {
    await net.settled();
    const before = await scrape();
    assert.deepEqual([...before.keys()].sort(), documentedFamilies());
    for (const [name, family] of before) assert.ok(family.type !== "" && family.help !== "", name);

    const client = net.client();
    const writes = 3;
    let txid = "";
    for (let i = 0; i < writes; i++)
      ({ txid } = await client.call("log", "writePrivate", { id: 100 + i, msg: `m${i}` }));
    await client.waitForCommit(txid); // reads see committed state
    await client.call("log", "readPrivate", { id: 100 });
    await assert.rejects(client.call("log", "readPrivate", { id: 999 }), /MessageNotFound|no message/);
    await net.settled();
    const later = await scrape();

    const calls = (f: Map<string, Family>, code: string) =>
      f.get("treaty_app_calls_total")!.samples.get(`treaty_app_calls_total{code="${code}"}`) ?? 0;
    assert.equal(calls(later, "ok") - calls(before, "ok"), writes + 1);
    assert.equal(calls(later, "MessageNotFound") - calls(before, "MessageNotFound"), 1);

    const histogram = (f: Map<string, Family>) => f.get("treaty_app_call_seconds")!.samples;
    const count = (f: Map<string, Family>) => histogram(f).get("treaty_app_call_seconds_count")!;
    assert.equal(count(later) - count(before), writes + 2);
    assert.equal(histogram(later).get('treaty_app_call_seconds_bucket{le="+Inf"}'), count(later));
    const buckets = [...histogram(later)].filter(([k]) => k.includes("_bucket")).map(([, v]) => v);
    assert.deepEqual(
      buckets,
      [...buckets].sort((a, b) => a - b),
      "buckets are cumulative",
    );
    assert.ok(
      histogram(later).get("treaty_app_call_seconds_sum")! >
        histogram(before).get("treaty_app_call_seconds_sum")!,
    );

    const gauge = (f: Map<string, Family>, name: string) => f.get(name)!.samples.get(name)!;
    assert.ok(gauge(later, "treaty_last_seqno") >= gauge(before, "treaty_last_seqno") + writes);
    assert.equal(gauge(later, "treaty_commit_seqno"), gauge(later, "treaty_last_seqno"));
    assert.equal(gauge(later, "treaty_last_seqno"), net.node.ledger.lastSeqno);
    assert.ok(gauge(later, "treaty_view") >= 1);
    assert.equal(gauge(later, "treaty_execution_restarts"), 0);
    assert.equal(gauge(later, "treaty_verify_restarts"), 0);
    assert.equal(gauge(later, "treaty_gov_loads_failing"), 0, "every committed contract loaded");
    assert.equal(gauge(later, "treaty_verify_pending"), 0, "every signed write's check was answered");
    const verify = (f: Map<string, Family>, kind: string) =>
      f.get("treaty_verify_total")!.samples.get(`treaty_verify_total{kind="${kind}"}`)!;
    const checks = (f: Map<string, Family>) => verify(f, "batches") + verify(f, "inlineChecks");
    assert.ok(checks(later) > checks(before), "the writes' checks are counted");
    assert.equal(verify(later, "inlineChecks"), net.node.verifier.stats().inlineChecks);
    assert.equal(verify(later, "batches"), net.node.verifier.stats().batches);
  });

  it("answers /node/status with the fields docs/http.md shows", async () => {
    const status = (await (await fetch(`${net.url}/node/status`)).json()) as Record<string, unknown>;
    const http = readFileSync(join(ROOT, "docs/http.md"), "utf8");
    const start = http.indexOf("`GET /node/status`:");
    const example = JSON.parse(
      http.slice(http.indexOf("```json\n", start) + 8, http.indexOf("```\n", start + 30)),
    );
    assert.deepEqual(Object.keys(status).sort(), Object.keys(example as object).sort());
    assert.deepEqual(Object.keys(status.serviceKey as object).sort(), ["curve", "publicKey"]);
  });

  it("describes every deployed method's arguments and results as the contracts declare them", async () => {
    const doc = (await (await fetch(`${net.url}/app/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, { post: Record<string, unknown> }>;
    };
    assert.equal(doc.openapi, "3.1.0");
    const expected: string[] = [];
    for (const name of SAMPLES) {
      const compiled = compileContract(join(ROOT, "contracts/examples", name));
      assert.ok(compiled.ok);
      const manifest: ContractManifest = await sandboxManifest(compiled.bundle);
      for (const [method, m] of Object.entries(manifest.methods)) {
        const path = `/app/${name}/${method}`;
        expected.push(path);
        const op = doc.paths[path]?.post as {
          "x-treaty-mode": string;
          "x-treaty-auth": string;
          requestBody: { content: { "application/json": { schema: { properties: { args: unknown } } } } };
          responses: {
            "200": {
              content: {
                "application/json": { schema: { properties: Record<string, unknown>; required: string[] } };
              };
            };
          };
        };
        assert.ok(op, path);
        assert.deepEqual([op["x-treaty-mode"], op["x-treaty-auth"]], [m.mode, m.auth], path);
        assert.deepEqual(
          op.requestBody.content["application/json"].schema.properties.args,
          shapeToSchema(m.args),
          path,
        );
        const answer = op.responses["200"].content["application/json"].schema;
        assert.deepEqual(
          answer.properties.result,
          m.returns === undefined ? {} : shapeToSchema(m.returns),
          path,
        );
        assert.deepEqual(answer.required, ["result", "txid", "status", "events"], path);
      }
    }
    // Besides the methods: the fixed /app routes (checked against the router below).
    assert.deepEqual(Object.keys(doc.paths).sort(), [...expected, "/app/events", "/app/openapi.json"].sort());
    // The log sample declares its read results: typed in the document, and real answers fit.
    assert.deepEqual(
      doc.paths["/app/log/readPrivate"]!.post.responses,
      doc.paths["/app/log/readPublic"]!.post.responses,
    );
    const read = (
      doc.paths["/app/log/readPrivate"]!.post as {
        responses: { "200": { content: Record<string, { schema: { properties: { result: unknown } } }> } };
      }
    ).responses["200"].content["application/json"]!.schema.properties.result;
    assert.deepEqual(read, {
      type: "object",
      properties: { msg: { type: "string" } },
      required: ["msg"],
      additionalProperties: false,
    });
    const client = net.client();
    const written = await client.call("log", "writePublic", { id: 7, msg: "typed" });
    await client.waitForCommit(written.txid); // reads see committed state
    const { result } = await client.call("log", "readPublic", { id: 7 });
    assert.equal(
      validate({ type: "object", properties: { msg: { type: "string" } } }, result, "result"),
      undefined,
    );
  });

  it("documents every /app route the router serves, and only those", async () => {
    const doc = (await (await fetch(`${net.url}/app/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string }[]; "x-treaty-mode"?: string }>>;
    };
    const served = net.node.endpoints
      .map((e) => e.split(" ") as [string, string])
      .filter(([, pattern]) => pattern.startsWith("/app/"));
    assert.ok(served.length >= 3, served.join(", "));
    const fits = (pattern: string, path: string): boolean => {
      const want = pattern.split("/");
      const got = path.split("/");
      return want.length === got.length && want.every((seg, i) => seg.startsWith(":") || seg === got[i]);
    };
    for (const [method, pattern] of served) {
      const documented = Object.entries(doc.paths).filter(
        ([path, ops]) => fits(pattern, path) && Object.hasOwn(ops, method.toLowerCase()),
      );
      assert.ok(documented.length > 0, `${method} ${pattern} is served but not in /app/openapi.json`);
    }
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        assert.ok(
          served.some(([m, pattern]) => m.toLowerCase() === method && fits(pattern, path)),
          `${method} ${path} is in /app/openapi.json but not served`,
        );
      }
    }
    // Historical queries (?at=) are offered on readonly methods only.
    for (const [path, ops] of Object.entries(doc.paths)) {
      const op = ops.post;
      if (op === undefined) continue;
      const names = (op.parameters ?? []).map((p) => p.name);
      assert.equal(names.includes("at"), op["x-treaty-mode"] === "readonly", path);
    }
    assert.deepEqual(
      doc.paths["/app/events"]!.get!.parameters!.map((p) => p.name),
      ["contract", "name", "after", "Last-Event-ID"],
    );
  });
});
