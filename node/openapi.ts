/**
 * `GET /app/openapi.json`: an OpenAPI 3.1 document of the whole `/app` API: one operation per
 * deployed method, generated from the contracts' manifests (their declared argument and result
 * shapes, modes and auth policies; readonly methods also take `?at=<txid>`, node/history/), plus
 * the fixed routes `GET /app/events` (node/events/) and `GET /app/openapi.json` itself, so any
 * language can generate a client. Shapes map one to one onto JSON Schema, except that a string
 * shape's lengths count UTF-16 code units (JavaScript's `length`: "😀" is 2) where JSON Schema
 * counts code points: such a schema says so in its `description`. A method without a `returns`
 * shape has an untyped result (`{}`: any JSON value).
 *
 * The route is unauthenticated, so it must stay cheap and bounded: each manifest is bounded
 * (runtime/compiler/manifest.ts: 1 MiB, 256 methods), and the JSON text is rendered once per
 * change of the deployed contracts (`OpenApiCache`), not per request.
 */
import type { ContractManifest, Shape } from "../runtime/sandbox/abi.js";
import { EVENT_NAME } from "../contracts/api/manifest-rules.js";

type JsonSchema = Record<string, unknown>;

/** What a string schema with lengths says of them (the node counts `s.length`). */
export const UTF16_LENGTHS =
  "minLength and maxLength count UTF-16 code units (JavaScript's string length), not code points";

export function shapeToSchema(shape: Shape): JsonSchema {
  switch (shape.type) {
    case "string":
      return {
        type: "string",
        ...pick(shape, ["minLength", "maxLength", "pattern", "enum"]),
        ...((shape.minLength !== undefined || shape.maxLength !== undefined) && {
          description: UTF16_LENGTHS,
        }),
      };
    case "number":
      return { type: shape.integer ? "integer" : "number", ...pick(shape, ["minimum", "maximum"]) };
    case "boolean":
    case "null":
      return { type: shape.type };
    case "array":
      return { type: "array", items: shapeToSchema(shape.items), ...pick(shape, ["maxItems"]) };
    case "object": {
      const optional = new Set(shape.optional ?? []);
      return {
        type: "object",
        properties: Object.fromEntries(
          Object.entries(shape.properties).map(([k, v]) => [k, shapeToSchema(v)]),
        ),
        required: Object.keys(shape.properties).filter((k) => !optional.has(k)),
        additionalProperties: false,
      };
    }
    case "record":
      return { type: "object", additionalProperties: shapeToSchema(shape.values) };
    case "union":
      return { anyOf: shape.anyOf.map(shapeToSchema) };
    case "any":
      return {};
  }
}

function pick(source: object, keys: readonly string[]): JsonSchema {
  const out: JsonSchema = {};
  for (const key of keys) {
    const value = (source as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The events a call emitted, in order. */
const EVENTS = {
  type: "array",
  items: { type: "object", properties: { name: { type: "string" }, data: {} }, required: ["name", "data"] },
};

const TXID = { type: "string", pattern: "^[0-9]+\\.[0-9]+$" };

/** The query parameter of a historical query (node/history/). */
const AT = {
  name: "at",
  in: "query",
  required: false,
  description:
    "Run at the state as of this committed txid (docs/integration.md#historical-queries); the answer then carries `receipt`. Outside the node's history window: HistoryUnavailable (410)",
  schema: TXID,
};

const CONSISTENCY = {
  name: "x-treaty-consistency",
  in: "header",
  required: false,
  description:
    "committed (default): committed state only; linearizable: also every write committed before the call; latest: pending state too (docs/http.md)",
  schema: { type: "string", enum: ["committed", "linearizable", "latest"] },
};

const ERROR = {
  description: "A coded error",
  content: {
    "application/json": {
      schema: {
        type: "object",
        properties: {
          error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } } },
        },
      },
    },
  },
};

export function openApiDocument(
  manifests: ReadonlyMap<string, ContractManifest>,
  version: string,
): JsonSchema {
  const paths: Record<string, unknown> = {};
  for (const name of [...manifests.keys()].sort()) {
    const manifest = manifests.get(name)!;
    for (const method of Object.keys(manifest.methods).sort()) {
      const m = manifest.methods[method]!;
      paths[`/app/${name}/${method}`] = {
        post: {
          operationId: `${name}.${method}`,
          summary: m.description ?? `${name}.${method}`,
          tags: [name],
          "x-treaty-mode": m.mode,
          "x-treaty-auth": m.auth,
          ...(m.mode === "readonly" && { parameters: [CONSISTENCY, AT] }),
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    args: shapeToSchema(m.args),
                    nonce: { type: "string", pattern: "^[0-9a-f]{32,64}$" },
                    createdMs: { type: "integer", minimum: 0 },
                  },
                  required: ["args"],
                },
              },
            },
          },
          responses: {
            "200": {
              description:
                m.mode === "readonly"
                  ? "The result, the txid of the state it read and that state's status"
                  : "The result and the transaction id (Pending until committed)",
              headers: {
                "x-treaty-txid": { description: "The txid of the answer's body", schema: { type: "string" } },
              },
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    properties: {
                      // Typed where the contract declares `returns`; any JSON value otherwise.
                      result: m.returns === undefined ? {} : shapeToSchema(m.returns),
                      txid: TXID,
                      status: { type: "string", enum: ["Pending", "Committed"] },
                      events: EVENTS,
                      ...(m.mode === "readonly" && {
                        receipt: {
                          type: "object",
                          description: "With `?at=` only: the receipt of `txid` (docs/receipts.md)",
                        },
                      }),
                    },
                    required: ["result", "txid", "status", "events"],
                  },
                },
              },
            },
            default: ERROR,
          },
        },
      };
    }
  }
  Object.assign(paths, FIXED_PATHS);
  return {
    openapi: "3.1.0",
    info: { title: "Treaty application API", version },
    components: {
      securitySchemes: {
        treatySignature: {
          type: "apiKey",
          in: "header",
          name: "x-treaty-signature",
          description: "Signature over the request (see docs/http.md); with x-treaty-caller",
        },
        jwtBearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "A token from an issuer trusted by set_jwt_issuer, for methods with x-treaty-auth jwt or users_and_jwt (see docs/identities.md)",
        },
      },
    },
    paths,
  };
}

/** The `/app` routes that do not depend on the deployed contracts (node/routes.ts). */
const FIXED_PATHS = {
  "/app/events": {
    get: {
      operationId: "treaty.events",
      summary:
        "Committed public events as Server-Sent Events, in commit order, resumable (docs/integration.md#the-committed-event-stream-get-appevents)",
      tags: ["treaty"],
      parameters: [
        {
          name: "contract",
          in: "query",
          required: false,
          description: "Only this contract's events",
          schema: { type: "string" },
        },
        {
          name: "name",
          in: "query",
          required: false,
          description:
            "Only these event names (repeatable, at most 32; each an event name, else InvalidArgs)",
          schema: { type: "array", items: { type: "string", pattern: EVENT_NAME.source }, maxItems: 32 },
          style: "form",
          explode: true,
        },
        {
          name: "after",
          in: "query",
          required: false,
          description:
            "Resume after this txid (all its events) or this event (`<txid>/<index>`); `0`: from the start of the ledger; absent: from the node's commit point. A txid of another view at that seqno is TxNotFound (404)",
          schema: { type: "string", pattern: "^(0|[0-9]+\\.[0-9]+(/[0-9]+)?)$" },
        },
        {
          name: "Last-Event-ID",
          in: "header",
          required: false,
          description: "As `after` (what EventSource resends when it reconnects); wins over `after`",
          schema: { type: "string" },
        },
      ],
      responses: {
        "200": {
          description:
            "An endless stream of `id: <txid>/<index>` + `data: {txid, index, contract, name, data}` frames, with `: keepalive` comments when idle",
          content: { "text/event-stream": { schema: { type: "string" } } },
        },
        "503": { ...ERROR, description: "Unavailable: the node already serves its most event streams" },
        default: ERROR,
      },
    },
  },
  "/app/openapi.json": {
    get: {
      operationId: "treaty.openapi",
      summary: "This document",
      tags: ["treaty"],
      responses: {
        "200": {
          description: "OpenAPI 3.1",
          content: { "application/json": { schema: { type: "object" } } },
        },
      },
    },
  },
};

/** The JSON text of the document, rendered again only when the manifests' version changes. */
export class OpenApiCache {
  #version = -1;
  #json = "";

  /** The document for `manifests` at `version` (bumped on every change of the map). */
  json(manifests: ReadonlyMap<string, ContractManifest>, version: number, treatyVersion: string): string {
    if (version !== this.#version) {
      this.#json = JSON.stringify(openApiDocument(manifests, treatyVersion));
      this.#version = version;
    }
    return this.#json;
  }
}
