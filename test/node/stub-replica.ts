/**
 * A Replica over a stubbed core and ledger, without a transport or an execution worker: for tests
 * of how the replica drives the core (what it steps, when it takes a Ready, when it acknowledges).
 * The stubs hold only what the test's path touches; the replica stopping fails the test.
 */
import assert from "node:assert/strict";
import type { ConsensusNode } from "../../node/consensus/node.js";
import type { ExecutionService } from "../../node/execution/service.js";
import { silentLogger } from "../../node/log.js";
import { Replica, type ReplicaOptions } from "../../node/replica.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";

export function stubReplica(
  consensus: Partial<ConsensusNode>,
  ledger: Partial<Ledger> = {},
  options: Partial<ReplicaOptions> = {},
): Replica {
  return new Replica({
    consensus: consensus as ConsensusNode,
    ledger: ledger as Ledger,
    execution: { setRequestHook: () => undefined } as unknown as ExecutionService,
    transport: null,
    hardStatePath: "/nonexistent/hard-state.json",
    logger: silentLogger,
    onCommit: () => undefined,
    onRoleChange: () => undefined,
    onFatal: (err) => assert.fail(`the replica stopped: ${String(err)}`),
    ...options,
  });
}
