/**
 * `/app/openapi.json` is unauthenticated: it is rendered from the checked manifests once per
 * change of the deployed contracts, not per request, and its size follows the manifests' bounds.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OpenApiCache, shapeToSchema, UTF16_LENGTHS } from "../../node/openapi.js";
import { MAX_MANIFEST_BYTES, parseManifestJson } from "../../runtime/compiler/index.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";

/** The document's method paths (it always adds the fixed routes /app/events and /app/openapi.json). */
const methodPaths = (json: string): string[] =>
  Object.keys(JSON.parse(json).paths)
    .filter((p) => p.split("/").length === 4)
    .sort();

const entry = { mode: "readonly", auth: "anyone", args: { type: "object", properties: {} } };

function manifestWith(methods: number, description = ""): ContractManifest {
  return parseManifestJson(
    JSON.stringify({
      methods: Object.fromEntries(
        Array.from({ length: methods }, (_, i) => [`m${i}`, { ...entry, description }]),
      ),
    }),
  );
}

describe("OpenApiCache", () => {
  it("renders once per version of the manifests", () => {
    const cache = new OpenApiCache();
    const manifests = new Map([["a", manifestWith(2)]]);
    const first = cache.json(manifests, 1, "0.1.0");
    assert.deepEqual(methodPaths(first), ["/app/a/m0", "/app/a/m1"]);
    // Same version: the very same text, even if the map was touched without a version bump.
    manifests.set("b", manifestWith(1));
    assert.equal(cache.json(manifests, 1, "0.1.0"), first);
    const second = cache.json(manifests, 2, "0.1.0");
    assert.notEqual(second, first);
    assert.deepEqual(methodPaths(second), ["/app/a/m0", "/app/a/m1", "/app/b/m0"]);
  });

  it("stays within a small multiple of the manifests' bound per contract", () => {
    // The largest manifest the host accepts: 256 methods with 1024-character descriptions.
    const manifest = manifestWith(256, "d".repeat(1024));
    const text = new OpenApiCache().json(new Map([["big", manifest]]), 1, "0.1.0");
    assert.ok(JSON.stringify(manifest).length <= MAX_MANIFEST_BYTES);
    assert.equal(methodPaths(text).length, 256);
    assert.ok(text.length < 2 * MAX_MANIFEST_BYTES, `${text.length} bytes`);
  });

  it("says that a string schema's lengths count UTF-16 code units, as the node does", () => {
    // "😀" is 2 units and 1 code point: a bare JSON Schema minLength 2 would refuse what the node accepts.
    assert.deepEqual(shapeToSchema({ type: "string", minLength: 2, maxLength: 8 }), {
      type: "string",
      minLength: 2,
      maxLength: 8,
      description: UTF16_LENGTHS,
    });
    assert.deepEqual(shapeToSchema({ type: "string", pattern: "^a" }), { type: "string", pattern: "^a" });
  });
});
