/**
 * bench/http.ts `openConnections`: the connections a run's requests use are open before its clock
 * starts, spread over the given URLs, and later requests reuse them. Real node:http servers on
 * loopback count the connections they accept.
 */
import assert from "node:assert/strict";
import { Agent, createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, it } from "node:test";
import { openConnections, send } from "../../bench/http.js";

const servers: Server[] = [];
const agents: Agent[] = [];

/** A server answering every request with `status`; `connections()` counts those it accepted. */
async function countingServer(status = 200): Promise<{ url: string; connections: () => number }> {
  let accepted = 0;
  const server = createServer((_req, res) => {
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(status === 200 ? "ok" : "no");
  });
  server.on("connection", () => accepted++);
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, connections: () => accepted };
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  agents.push(agent);
  return agent;
}

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.destroy();
  await Promise.all(
    servers.splice(0).map((s) => new Promise<void>((done) => s.close(() => done()).closeAllConnections())),
  );
});

describe("openConnections", () => {
  it("opens the count asked for, round robin over the URLs, and later requests reuse them", async () => {
    const a = await countingServer();
    const b = await countingServer();
    const agent = keepAliveAgent();
    await openConnections(agent, [`${a.url}/node/status`, `${b.url}/health`], 5);
    assert.equal(a.connections(), 3);
    assert.equal(b.connections(), 2);
    await Promise.all([1, 2, 3].map(() => send(agent, `${a.url}/x`, "GET", undefined)));
    await Promise.all([1, 2].map(() => send(agent, `${b.url}/y`, "GET", undefined)));
    assert.equal(a.connections(), 3);
    assert.equal(b.connections(), 2);
  });

  it("fails naming the URL when a server does not answer 200", async () => {
    const refusing = await countingServer(503);
    await assert.rejects(
      openConnections(keepAliveAgent(), [`${refusing.url}/node/status`], 2),
      (err: Error) => err.message.includes(`${refusing.url}/node/status: HTTP 503`),
    );
  });
});
