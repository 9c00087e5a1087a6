/**
 * "Committed" includes the node's governance reactions: a node answers Committed for a
 * transaction only once it has acted on every governance change committed up to it, contract
 * loads included. So "propose install (or upgrade) → vote → waitForCommit → call" on one node
 * runs the new code, whichever node it is (leader or follower).
 *
 * The same holds for the other reactions in the execution worker: sandbox limits and the
 * constitution.
 *
 * Deterministic: a node's contract load is held (its `execution.loadContract` for the contract
 * under test waits until the test releases it; `setLimits` and `loadConstitution` likewise), so
 * the node folds the commit while its reaction to it is still running. A load that fails is made
 * to fail the same way (the hook rejects once released), or on every attempt until the test
 * repairs it (`breakWorker`). Failed loads are retried after 20 ms doubling to 200 ms here
 * (`loadRetryDelays`; a node's default is 1 s to 5 min, node/gov/load-retry.ts).
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TreatyNode } from "../../node/service.js";
import { readContractFolder } from "../../node/gov/contract-folder.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";
import { actions, type GovAction, Governance } from "../../sdk/governance.js";
import { logNetwork } from "../support/memory-nodes.js";
import { until } from "../support/poll.js";

const net = logNetwork("treaty-committed-reactions-", {
  runtime: { loadRetryDelays: { baseMs: 20, maxMs: 200 } },
});
const { member, user } = net;

const seqnoOf = (txid: string) => Number(txid.split(".")[1]);

/** A contract whose readonly `version` and readwrite `stamp` both answer `tag`. */
function versioned(tag: string): Record<string, string> {
  return {
    "index.ts": `import { contract, map, method } from "treaty/contract";
const stamps = map<string, string>("stamps", { public: true });
export default contract({
  version: method({ mode: "readonly", auth: "users", run: () => ${JSON.stringify(tag)} }),
  stamp: method({
    mode: "readwrite",
    auth: "users",
    run: () => {
      stamps.set("last", ${JSON.stringify(tag)});
      return ${JSON.stringify(tag)};
    },
  }),
});
`,
  };
}

interface Hold {
  /** Resolves once the node started loading the contract (its reaction is under way). */
  readonly entered: Promise<void>;
  /** Lets the load go ahead. */
  release(): void;
}

type Held = "loadContract" | "setLimits" | "loadConstitution";

/**
 * Holds `node`'s next call of its execution worker's `method` (for `loadContract`, of contract
 * `name` only): it starts only after `release()`. With `failWith`, it fails with that error once
 * released instead (a bundle governance accepted that this node cannot load).
 */
function holdWorker(node: TreatyNode, method: Held, name?: string, failWith?: TreatyError): Hold {
  const execution = node.execution as unknown as Record<Held, (...args: unknown[]) => Promise<unknown>>;
  const original = execution[method];
  let entered!: () => void;
  const enteredP = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  execution[method] = async function (this: unknown, ...args: unknown[]) {
    if (name !== undefined && args[0] !== name) return original.apply(this, args);
    entered();
    await gate;
    execution[method] = original;
    if (failWith !== undefined) throw failWith;
    return original.apply(this, args);
  };
  return {
    entered: enteredP,
    release() {
      release();
    },
  };
}

interface Breakage {
  /** Calls of the method (of `name`) so far, failed or not. */
  readonly attempts: number;
  /** Resolves once the `n`th call has started (fails after 60 s). */
  attempted(n: number): Promise<void>;
  /** Calls from now on fail (`true`) or run (`false`). */
  broken: boolean;
  /** Calls from now on wait for `release()` before they fail or run. */
  hold(): void;
  release(): void;
  /** Puts the original method back. */
  restore(): void;
}

/**
 * Makes every call of `node`'s execution worker's `method` (for `loadContract`, of contract `name`
 * only) fail with `error` while `broken` (a load that keeps failing: governance accepted the
 * code, this node cannot load it), and counts the calls: the node's retries show up here.
 */
function breakWorker(node: TreatyNode, method: Held, name: string | undefined, error: TreatyError): Breakage {
  const execution = node.execution as unknown as Record<Held, (...args: unknown[]) => Promise<unknown>>;
  const original = execution[method];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let gate: Promise<void> | null = null;
  let open: () => void = () => {};
  const breakage: Breakage = {
    attempts: 0,
    broken: true,
    attempted(n) {
      if (breakage.attempts >= n) return Promise.resolve();
      // Resolved by the nth call itself (no poll: a test acts before the next retry can start);
      // bounded like `until`, so a node that never retries fails the test instead of hanging it.
      let timer!: NodeJS.Timeout;
      return Promise.race([
        new Promise<void>((resolve) => waiters.push({ n, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out waiting for call ${n} of ${method}`)), 60_000);
        }),
      ]).finally(() => clearTimeout(timer));
    },
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = null;
      open();
    },
    restore() {
      execution[method] = original;
      breakage.release();
    },
  };
  execution[method] = async function (this: unknown, ...args: unknown[]) {
    if (name !== undefined && args[0] !== name) return original.apply(this, args);
    (breakage as { attempts: number }).attempts++;
    for (const w of waiters.filter((w) => w.n <= breakage.attempts)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    if (gate !== null) await gate;
    if (breakage.broken) throw error;
    return original.apply(this, args);
  };
  return breakage;
}

describe("Committed includes the governance reactions (contract loads, limits, constitution)", () => {
  let leader: TreatyNode;
  let follower: TreatyNode;
  const clientOf = (node: TreatyNode, key = member) => net.client(node, key);

  /** Proposes `action` on the leader and votes it through: the deciding ballot's txid. */
  async function decide(action: GovAction): Promise<string> {
    const gov = new Governance(clientOf(leader), member);
    const { proposalId } = await gov.propose([action]);
    const decided = await gov.vote(proposalId, "for");
    assert.equal(decided.state, "Accepted");
    return decided.txid;
  }

  /** Calls `name` on `node` and checks it is refused InvalidContract; returns the error. */
  async function refusedInvalid(node: TreatyNode, name: string): Promise<Error> {
    const refused = await clientOf(node, user)
      .call(name, "version", {})
      .catch((err: unknown) => err);
    assert.ok(isTreatyError(refused, "InvalidContract"), `expected InvalidContract, got ${String(refused)}`);
    return refused;
  }

  /**
   * The contract developer's flow on `node`, started while `node`'s load is held: wait for the
   * decision's Committed through the SDK, then call `name` (a readonly and a readwrite method).
   * Settles with the two results, or with the first error.
   */
  function waitThenCall(node: TreatyNode, txid: string, name: string): Promise<unknown> {
    const client = clientOf(node, user);
    return clientOf(node)
      .waitForCommit(txid)
      .then(async () => {
        const read = await client.call(name, "version", {});
        const written = await client.call(name, "stamp", {});
        return [read.result, written.result];
      })
      .catch((err: unknown) => err);
  }

  /**
   * Holds `node`'s load of `name`, decides `action`, and checks that `node` answers Pending for
   * the decision until the load ran, then Committed, and that the caller who waited for it then
   * gets `tag` from both methods.
   */
  async function committedServes(
    node: TreatyNode,
    name: string,
    action: GovAction,
    tag: string,
  ): Promise<void> {
    const hold = holdWorker(node, "loadContract", name);
    try {
      const txid = await decide(action);
      const flow = waitThenCall(node, txid, name);
      await hold.entered;
      // The node folded the decision (its governance view has the new record) and its reaction
      // is running: the decision is not Committed on this node yet.
      assert.ok(node.gov.seqno >= seqnoOf(txid), "the load starts once the decision is folded");
      assert.equal(await clientOf(node).txStatus(txid), "Pending", "Committed while the load runs");
      assert.ok(node.committedSeqno < seqnoOf(txid));
      hold.release();
      const outcome = await flow;
      assert.ok(!(outcome instanceof Error), `the call after Committed failed: ${String(outcome)}`);
      assert.deepEqual(outcome, [tag, tag]);
      assert.equal(await clientOf(node).txStatus(txid), "Committed");
    } finally {
      hold.release();
    }
  }

  before(async () => {
    [leader, follower] = await net.start();
  });
  after(() => net.stop());

  it("the leader: an install is Committed once the contract is loaded, and the call after it runs", async () => {
    await committedServes(leader, "alpha", actions.deployContract("alpha", versioned("alpha-1")), "alpha-1");
  });

  it("the leader: an upgrade is Committed once the new code is loaded, and the call runs it", async () => {
    await committedServes(leader, "alpha", actions.deployContract("alpha", versioned("alpha-2")), "alpha-2");
  });

  it("a follower: an install is Committed there once it loaded the contract, and the call runs", async () => {
    await committedServes(follower, "beta", actions.deployContract("beta", versioned("beta-1")), "beta-1");
  });

  it("a follower: an upgrade is Committed there once it loaded the new code, and the call runs it", async () => {
    await committedServes(follower, "beta", actions.deployContract("beta", versioned("beta-2")), "beta-2");
  });

  it("a contract removed and deployed again with the same code is served again", async () => {
    let txid = await decide(actions.removeContract("beta"));
    await clientOf(follower).waitForCommit(txid);
    const gone = await clientOf(follower, user)
      .call("beta", "version", {})
      .catch((err: unknown) => err);
    assert.ok(isTreatyError(gone, "UnknownContract"), `expected UnknownContract, got ${String(gone)}`);
    txid = await decide(actions.deployContract("beta", versioned("beta-2")));
    await clientOf(follower).waitForCommit(txid);
    assert.equal((await clientOf(follower, user).call("beta", "version", {})).result, "beta-2");
  });

  it("a write forwarded by a follower that answered Committed waits for the leader's load", async () => {
    // The follower loads at once; the leader's load is held. The follower's Committed is the
    // leader's cue: the forwarded write must run the new code, not fail UnknownContract.
    const hold = holdWorker(leader, "loadContract", "gamma");
    const commitReached = leader.reads.commitReached;
    try {
      const txid = await decide(actions.deployContract("gamma", versioned("gamma-1")));
      await hold.entered;
      await clientOf(follower).waitForCommit(txid);
      assert.ok(leader.committedSeqno < seqnoOf(txid), "the leader's reaction is held");
      let waiting!: () => void;
      const leaderWaits = new Promise<void>((resolve) => {
        waiting = resolve;
      });
      leader.reads.commitReached = function (this: typeof leader.reads, seqno, timeoutMs) {
        waiting();
        return commitReached.call(this, seqno, timeoutMs);
      };
      const outcome = clientOf(follower, user)
        .call("gamma", "stamp", {})
        .then(
          (answer) => answer.result,
          (err: unknown) => err,
        );
      await Promise.race([leaderWaits, outcome]);
      hold.release();
      assert.equal(await outcome, "gamma-1");
    } finally {
      leader.reads.commitReached = commitReached;
      hold.release();
    }
  });

  for (const [what, method, action] of [
    ["new sandbox limits are applied", "setLimits", () => actions.setRuntimeLimits({ maxEvents: 99 })],
    [
      "a new constitution is loaded",
      "loadConstitution",
      () => {
        const files = readContractFolder(resolve(findPackageRoot(), "contracts/constitution"));
        // The default constitution under another digest.
        return actions.setConstitution({ ...files, "index.ts": `${files["index.ts"]}\n// v2\n` });
      },
    ],
  ] as const) {
    it(`a follower answers Committed once ${what} in its execution worker`, async () => {
      const held = holdWorker(follower, method);
      try {
        const txid = await decide(action());
        await held.entered;
        assert.ok(follower.gov.seqno >= seqnoOf(txid));
        assert.equal(await clientOf(follower).txStatus(txid), "Pending");
        const committed = clientOf(follower).waitForCommit(txid);
        held.release();
        await committed;
        assert.ok(follower.committedSeqno >= seqnoOf(txid));
        // The worker took it in: the next call runs (and sees the change).
        const { result } = await clientOf(follower, user).call("alpha", "version", {});
        assert.equal(result, "alpha-2");
      } finally {
        held.release();
      }
    });
  }

  it("a load that fails does not hold the commit point; calls are refused InvalidContract, not run on old code", async () => {
    const broken = new TreatyError("InvalidContract", "the bundle does not load (test)");
    // An install that fails to load on the follower, every time it is tried.
    const breakage = breakWorker(follower, "loadContract", "delta", broken);
    try {
      let txid = await decide(actions.deployContract("delta", versioned("delta-1")));
      await clientOf(follower).waitForCommit(txid);
      const refused = await refusedInvalid(follower, "delta");
      assert.match(refused.message, /did not load on this node.*does not load \(test\)/);

      // A working version loads; then an upgrade that fails to load leaves no old code running.
      breakage.broken = false;
      txid = await decide(actions.deployContract("delta", versioned("delta-2")));
      await clientOf(follower).waitForCommit(txid);
      await until("the follower to serve delta-2", () => follower.manifests.has("delta"));
      assert.equal((await clientOf(follower, user).call("delta", "version", {})).result, "delta-2");
      breakage.broken = true;
      txid = await decide(actions.deployContract("delta", versioned("delta-3")));
      await clientOf(follower).waitForCommit(txid);
      await refusedInvalid(follower, "delta");
      // The nodes that loaded it serve it.
      await clientOf(leader).waitForCommit(txid);
      assert.equal((await clientOf(leader, user).call("delta", "version", {})).result, "delta-3");

      // The follower keeps trying (with backoff), and keeps refusing calls while it fails.
      const before = breakage.attempts;
      await breakage.attempted(before + 2);
      assert.ok(follower.loadRetries.attempts("contract:delta") >= 2);
      await refusedInvalid(follower, "delta");
      const metrics = follower.metrics.render();
      assert.match(metrics, /treaty_gov_load_failures_total\{load="contract"\} [1-9]/);
      assert.match(metrics, /treaty_gov_loads_failing 1/);
    } finally {
      breakage.restore();
    }
    // Once the cause is gone, a retry loads the code governance committed: no new deploy needed.
    await until("the follower's retry to load delta-3", () => follower.manifests.has("delta"));
    assert.equal((await clientOf(follower, user).call("delta", "version", {})).result, "delta-3");
    assert.equal(follower.loadRetries.attempts("contract:delta"), 0);
    assert.match(follower.metrics.render(), /treaty_gov_loads_failing 0/);

    // The next deploy replaces the code as usual.
    const txid = await decide(actions.deployContract("delta", versioned("delta-4")));
    await clientOf(follower).waitForCommit(txid);
    assert.equal((await clientOf(follower, user).call("delta", "version", {})).result, "delta-4");
  });

  it("a load that fails once (the worker restarting) is retried: the node serves the contract without a new deploy, and the retry holds no commit point", async () => {
    const restarting = new TreatyError("Unavailable", "execution worker: restarted while loading (test)");
    const breakage = breakWorker(follower, "loadContract", "epsilon", restarting);
    try {
      const txid = await decide(actions.deployContract("epsilon", versioned("epsilon-1")));
      await breakage.attempted(1);
      // The retry starts only once the first attempt failed; it is held and will succeed.
      breakage.hold();
      breakage.broken = false;
      await breakage.attempted(2);
      // The failed load released the commit point: the decision is Committed here while the
      // retry runs, and calls are refused until it loads.
      await clientOf(follower).waitForCommit(txid);
      assert.ok(follower.committedSeqno >= seqnoOf(txid));
      const refused = await refusedInvalid(follower, "epsilon");
      assert.match(refused.message, /restarted while loading \(test\)/);
      // Writes after the decision commit while the retry is held: it holds no commit point.
      const { txid: later } = await clientOf(leader, user).call("log", "writePublic", { id: 7, msg: "x" });
      await clientOf(follower).waitForCommit(later);
      breakage.release();
      await until("the follower's retry to load epsilon", () => follower.manifests.has("epsilon"));
      assert.equal(breakage.attempts, 2, "one retry, then none");
    } finally {
      breakage.restore();
    }
    const client = clientOf(follower, user);
    assert.equal((await client.call("epsilon", "version", {})).result, "epsilon-1");
    assert.equal((await client.call("epsilon", "stamp", {})).result, "epsilon-1");
  });

  it("limits that fail to apply on a node are retried until they apply", async () => {
    const breakage = breakWorker(
      follower,
      "setLimits",
      undefined,
      new TreatyError("Unavailable", "worker (test)"),
    );
    try {
      const txid = await decide(actions.setRuntimeLimits({ maxEvents: 98 }));
      await breakage.attempted(1);
      breakage.broken = false;
      // Committed once the failed attempt ended, not when the retry ran.
      await clientOf(follower).waitForCommit(txid);
      await breakage.attempted(2);
      await until("the limits retry to end", () => follower.loadRetries.attempts("limits") === 0);
      assert.equal(follower.loadRetries.stats().failing, 0);
      assert.ok(follower.loadRetries.stats().failures.limits >= 1);
    } finally {
      breakage.restore();
    }
  });

  it("a contract removed while its load fails is no longer retried", async () => {
    const breakage = breakWorker(
      follower,
      "loadContract",
      "zeta",
      new TreatyError("InvalidContract", "no (test)"),
    );
    try {
      let txid = await decide(actions.deployContract("zeta", versioned("zeta-1")));
      await clientOf(follower).waitForCommit(txid);
      await breakage.attempted(2);
      txid = await decide(actions.removeContract("zeta"));
      await clientOf(follower).waitForCommit(txid);
      assert.equal(follower.loadRetries.attempts("contract:zeta"), 0);
      const gone = await clientOf(follower, user)
        .call("zeta", "version", {})
        .catch((err: unknown) => err);
      assert.ok(isTreatyError(gone, "UnknownContract"), `expected UnknownContract, got ${String(gone)}`);
    } finally {
      breakage.restore();
    }
  });
});
