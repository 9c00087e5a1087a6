/**
 * The node's HTTP layer alone (node/http/server.ts: node:http, the body read, routing, the
 * answer's encoding and `end`), as the leader runs it for a signed write, with the request's
 * decode (content type, body parse, signing headers) and nothing after it: the handler answers at
 * once, as a write's would after its commit. The client is a child process on raw sockets (a
 * fixed request's bytes written, the answer's head scanned for its length), so its cost stays out
 * of the server's figures.
 *
 *   node dist/bench/http-server.js [--requests 100000] [--warmup 20000] [--connections 64] [--rounds 3]
 *
 * Prints, per round, the server's main-thread CPU per request (/proc) and its process CPU per
 * request (every thread: V8's GC helpers and libuv included).
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { parseArgs } from "node:util";
import { bodyEncoding } from "../node/admission.js";
import { startHttpServer, Router } from "../node/http/server.js";
import { silentLogger } from "../node/log.js";
import {
  CONTENT_JSON,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  HEADER_TXID,
  parseBody,
  parseSignatureHeader,
} from "../sdk/request.js";

const MESSAGE = "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.";
const CLOCK_TICKS_PER_SECOND = 100;

/** The bytes of one signed `log.writePublic` request as bench:network sends it (signature not checked here). */
function requestBytes(port: number): Buffer {
  const body = JSON.stringify({
    args: { id: 20_000_123, msg: MESSAGE },
    nonce: "0190f3c2a4b16f1c2d3e4f5a6b7c8d9e",
    createdMs: Date.now(),
  });
  const head = [
    "POST /app/log/writePublic HTTP/1.1",
    "accept: application/json",
    `content-type: ${CONTENT_JSON}`,
    `${HEADER_CALLER}: ${"a1".repeat(32)}`,
    `${HEADER_SIGNATURE}: ${Buffer.alloc(64, 7).toString("base64url")}`,
    `host: 127.0.0.1:${port}`,
    `content-length: ${Buffer.byteLength(body)}`,
    "Connection: keep-alive",
  ].join("\r\n");
  return Buffer.from(`${head}\r\n\r\n${body}`);
}

/** The client: `connections` sockets, each sending the next request once its answer is whole. */
async function client(port: number, connections: number, requests: number): Promise<void> {
  const bytes = requestBytes(port);
  let sent = 0;
  let answered = 0;
  await new Promise<void>((resolve, reject) => {
    for (let c = 0; c < connections; c++) {
      const socket = connect(port, "127.0.0.1");
      socket.setNoDelay(true);
      let pending: Buffer = Buffer.alloc(0);
      const next = () => {
        if (sent < requests) {
          sent++;
          socket.write(bytes);
        } else socket.end();
      };
      socket.on("connect", next);
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        for (;;) {
          const headEnd = pending.indexOf("\r\n\r\n");
          if (headEnd === -1) return;
          const head = pending.subarray(0, headEnd).toString("latin1");
          if (!head.startsWith("HTTP/1.1 200")) {
            reject(new Error(`answer: ${head}`));
            return;
          }
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
          if (pending.length < headEnd + 4 + length) return;
          pending = pending.subarray(headEnd + 4 + length);
          answered++;
          if (answered === requests) resolve();
          next();
        }
      });
    }
  });
}

function mainThreadTicks(): number {
  const line = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function server(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: "string", default: "100000" },
      warmup: { type: "string", default: "20000" },
      connections: { type: "string", default: "64" },
      rounds: { type: "string", default: "3" },
    },
  });
  const requests = Number(values.requests);
  const connections = Number(values.connections);
  let seqno = 1000;
  const router = new Router().add("POST", "/app/:contract/:method", async (req) => {
    const body = parseBody(req.body, bodyEncoding(req.headers));
    const caller = req.headers[HEADER_CALLER];
    const signature = req.headers[HEADER_SIGNATURE];
    if (typeof caller !== "string" || typeof signature !== "string" || body.nonce === undefined)
      throw new Error("the bench's request lost a part");
    parseSignatureHeader(signature);
    const txid = `2.${seqno++}`;
    return { body: { result: null, txid, status: "Pending", events: [] }, headers: { [HEADER_TXID]: txid } };
  });
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    router,
    maxBodyBytes: 1 << 20,
    logger: silentLogger,
  });
  const run = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const child = fork(new URL(import.meta.url).pathname, [
        "--client",
        String(http.port),
        String(connections),
        String(count),
      ]);
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`client exited ${code}`))));
    });
  await run(Number(values.warmup));
  for (let round = 1; round <= Number(values.rounds); round++) {
    const ticks = mainThreadTicks();
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run(requests);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const mainMicros = ((mainThreadTicks() - ticks) * 1e6) / CLOCK_TICKS_PER_SECOND / requests;
    const processMicros = (used.user + used.system) / requests;
    console.log(
      `round ${round}: ${Math.round(requests / seconds)} requests/s; server CPU per request: main thread ${mainMicros.toFixed(1)} µs, process ${processMicros.toFixed(1)} µs`,
    );
  }
  await http.close();
}

if (process.argv[2] === "--client") {
  await client(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
  process.exit(0);
} else await server();
