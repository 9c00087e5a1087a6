import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { connect } from "@nats-io/transport-node";
import { natsServerPath, startNatsServer } from "../../node/nats-server.js";

describe("node/nats-server.ts", () => {
  it("finds the nats-server binary", () => {
    assert.match(natsServerPath(), /\/nats-server$/);
  });

  it("starts, stops, restarts on the same port, and cleans up its temp dir", async () => {
    const server = await startNatsServer({ jetstream: true, maxPayloadBytes: 128 * 1024 });
    try {
      assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(server.running());
      const nc = await connect({ servers: server.url });
      assert.equal(nc.info?.max_payload, 128 * 1024);
      assert.equal(nc.info?.jetstream, true);
      await nc.close();
      await server.stop();
      assert.equal(server.running(), false);
      await assert.rejects(connect({ servers: server.url, reconnect: false }));
      await server.start();
      assert.ok(server.running());
      const again = await connect({ servers: server.url });
      assert.equal(again.info?.port, server.port);
      await again.close();
      await assert.rejects(server.start(), /already running/);
    } finally {
      await server.dispose();
    }
    assert.equal(existsSync(server.dir), false);
    assert.equal(server.running(), false);
    await server.dispose();
    await assert.rejects(server.start(), /disposed/);
  });
});
