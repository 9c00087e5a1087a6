/**
 * Reads a client can trust, on a real 3-node network over nats-server:
 * - a write sent to a follower is answered with its txid in the body and `x-treaty-txid`;
 * - a linearizable read on a follower sees a write committed before it started;
 * - a write a follower forwarded to a leader that froze before answering ends `OutcomeUnknown`
 *   (not `NotLeader`: the leader may have run it), and a resend of the same bytes learns its txid;
 * - recorded histories of concurrent writes and reads at every consistency level, under a
 *   leader frozen with SIGSTOP, a nats-server outage and a leader killed with SIGKILL, pass the checker
 *   (test/linearizability/checker.ts): linearizable reads are linearizable, committed reads
 *   read exactly the committed state they name (no dirty read), and so do latest reads
 *   answered `Committed`. A few seeds here; `npm run
 *   check:linearizability -- --seeds 50` runs many more.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseTxId } from "../../sdk/receipt.js";
import { HEADER_TXID, signRequest } from "../../sdk/request.js";
import { type Cluster, startCluster } from "../support/cluster.js";
import { describeRun, runHistory } from "../linearizability/history.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
/** Seeds run in CI (each ~17 s: faults, then recovery and checks); more with `npm run check:linearizability`. */
const CI_SEEDS = [1, 2];

describe("read consistency on a 3-node network", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("a write answered through a follower carries its txid in the header; a linearizable follower read sees it", async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const request = signRequest(cluster.user, cluster.serviceId, "/app/log/writePublic", {
      id: 1,
      msg: "through a follower",
    });
    const response = await fetch(follower.url + request.path, {
      method: "POST",
      headers: request.headers,
      body: request.body as Uint8Array<ArrayBuffer>,
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { txid: string };
    assert.equal(response.headers.get(HEADER_TXID), body.txid);
    await cluster.client().waitForCommit(body.txid);

    const read = await cluster
      .client(cluster.user, { nodes: [follower.url] })
      .call<{ msg: string }>("log", "readPublic", { id: 1 }, { consistency: "linearizable" });
    assert.deepEqual(read.result, { msg: "through a follower" });
    assert.equal(read.status, "Committed");
    assert.ok(parseTxId(read.txid).seqno >= parseTxId(body.txid).seqno);
  });

  it("a forwarded write that got no answer is OutcomeUnknown; resending the same bytes settles it", async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const request = signRequest(cluster.user, cluster.serviceId, "/app/log/writePublic", {
      id: 2,
      msg: "forwarded to a frozen leader",
    });
    const send = async () => {
      const response = await fetch(follower.url + request.path, {
        method: "POST",
        headers: request.headers,
        body: request.body as Uint8Array<ArrayBuffer>,
      });
      return {
        status: response.status,
        json: (await response.json()) as {
          txid?: string;
          error?: { code: string; details?: { txid?: string } };
        },
      };
    };
    leader.pause();
    let first: Awaited<ReturnType<typeof send>>;
    try {
      // The follower forwards, the frozen leader never answers, a new leader is elected.
      first = await send();
    } finally {
      leader.resume();
    }
    assert.equal(first.status, 503);
    assert.equal(first.json.error?.code, "OutcomeUnknown");
    await cluster.waitForLeader();
    let txid: string | undefined;
    for (let attempt = 0; attempt < 20 && txid === undefined; attempt++) {
      const again = await send();
      if (again.status === 200) txid = again.json.txid;
      else if (again.json.error?.code === "Replay") txid = again.json.error.details?.txid;
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(txid !== undefined, "a resend learned the txid");
    await cluster.client().waitForCommit(txid);
    const read = await cluster
      .client()
      .call<{ msg: string }>("log", "readPublic", { id: 2 }, { consistency: "linearizable" });
    assert.equal(read.result.msg, "forwarded to a frozen leader");
    await cluster.waitForConvergence();
  });

  for (const seed of CI_SEEDS) {
    it(`seed ${seed}: a history under a leader freeze, a NATS outage and a leader kill passes the checker`, async (t) => {
      const run = await runHistory(cluster, { seed, durationMs: 9_000 });
      t.diagnostic(describeRun(run));
      assert.deepEqual(run.report.violations, [], describeRun(run));
      for (const level of ["committed", "linearizable", "latest"] as const) {
        assert.ok(run.report.reads[level] > 0, `${level} reads were recorded`);
      }
      assert.equal(run.faults.length, 6, "the freeze, the outage and the kill all happened");
      assert.deepEqual(cluster.crashes(), []);
    });
  }
});
