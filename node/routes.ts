/**
 * The node's HTTP API. Endpoints are declared as data in one place (method, path, handler); the
 * handlers translate between HTTP and the node and hold no logic of their own beyond that.
 *
 *   POST /app/<contract>/<method>   call a contract → {result, txid, status, events}; readonly
 *                                   calls at the consistency of `x-treaty-consistency` (node/reads/),
 *                                   or with `?at=<txid>` at that committed state (node/history/)
 *   GET  /app/events                committed public events as Server-Sent Events (node/events/)
 *   GET  /app/openapi.json          OpenAPI 3.1 from the deployed contracts' manifests
 *   GET  /node/status | /node/network | /node/metrics
 *   GET  /node/tx?txid=v.s          → {txid, status}
 *   GET  /node/receipt?txid=v.s     → a receipt (sdk/receipt.ts format)
 *   GET  /node/consistency, ...     proofs (node/http/proof-routes.ts)
 *   GET  /node/transactions         the latest entries (node/http/explorer-routes.ts)
 *   GET  /console                   the console (node/http/console-routes.ts)
 *   POST /node/join                 a new node asks to join (node/join.ts)
 *
 * Writes that reach a follower are forwarded to the leader over the node-to-node transport, before
 * the follower checks their signature (the leader admits them), and answered through the
 * follower; reads run where they arrive.
 */
import { toHex } from "../sdk/bytes.js";
import { TreatyError } from "../sdk/errors.js";
import {
  CONTENT_JSON,
  HEADER_CONSISTENCY,
  HEADER_TXID,
  READ_CONSISTENCIES,
  type ReadConsistency,
} from "../sdk/request.js";
import { parseTxId } from "../sdk/receipt.js";
import { type AdmissionContext, admit } from "./admission.js";
import { callSeed } from "./call-seeds.js";
import { admitBearer, hasBearer, jwtVerifierFor } from "./auth/bearer.js";
import type { ExecCall } from "./execution/service.js";
import { addGovRoutes } from "./gov/routes.js";
import { addRecoveryShareRoutes, serviceEndorsementChain } from "./recovery/routes.js";
import { GOV, type NodeRecord } from "./gov/tables.js";
import { addConsoleRoutes } from "./http/console-routes.js";
import { addExplorerRoutes } from "./http/explorer-routes.js";
import { addProofRoutes } from "./http/proof-routes.js";
import { type HttpRequest, type HttpResponse, Router } from "./http/server.js";
import type { Counter, Histogram } from "./metrics.js";
import { OpenApiCache } from "./openapi.js";
import type { TreatyNode } from "./service.js";
import { PLATFORM } from "./attestation.js";
import { ownRole, tableRole } from "./roles.js";
import { JOIN_PATH } from "./join.js";
import { addWritePhase, renderWritePhases, stageTotals } from "./stage-times.js";
import { EVENTS_PATH } from "./events/index.js";
import { historicalAnswer } from "./history/answer.js";
import { TREATY_VERSION } from "./service.js";
import { clientApiStatus } from "./tls/serve.js";
import { answerChallenge, signAnswer } from "./reads/signed-answer.js";

/** Adds the node's endpoints to `router` (the HTTP server may already be listening on it). */
export function buildRouter(node: TreatyNode, router: Router = new Router()): Router {
  const metrics = node.metrics;
  const calls = metrics.counter("treaty_app_calls_total", "Contract calls by outcome code");
  const latency = metrics.histogram(
    "treaty_app_call_seconds",
    "Contract call latency on this node",
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  metrics.gauge(
    "treaty_commit_seqno",
    "Last committed seqno",
    () => node.replica.consensus.status().commitSeqno,
  );
  metrics.gauge("treaty_last_seqno", "Last seqno in the ledger", () => node.ledger.lastSeqno);
  metrics.gauge("treaty_view", "Current view", () => node.replica.consensus.status().view);
  metrics.gauge(
    "treaty_execution_restarts",
    "Execution worker restarts (watchdog)",
    () => node.execution.stats().restarts,
  );
  metrics.family(
    "treaty_execution_requests_total",
    "Requests posted to the execution worker, by op (batch, apply, commit, read, snapshotRows...)",
    "counter",
    "op",
    () => node.execution.stats().requests,
  );
  metrics.family(
    "treaty_gov_load_failures_total",
    "Failed loads of committed governance changes on this node (first tries and retries), by load: contract, constitution, limits",
    "counter",
    "load",
    () => node.loadRetries.stats().failures,
  );
  metrics.gauge(
    "treaty_gov_loads_failing",
    "Contract, constitution or limits loads failing on this node now, each retried with backoff",
    () => node.loadRetries.stats().failing,
  );
  metrics.gauge(
    "treaty_verify_restarts",
    "Signature-check worker restarts (crashed or hung; node/verify/)",
    () => node.verifier.stats().restarts,
  );
  metrics.gauge(
    "treaty_verify_pending",
    "Signature checks queued or in flight",
    () => node.verifier.stats().pendingJobs,
  );
  metrics.family(
    "treaty_verify_total",
    "Signature-check batches sent to the worker threads, and checks made on the main thread (below saturation: no worker busy, few checks waiting)",
    "counter",
    "kind",
    (): Record<string, number> => {
      const stats = node.verifier.stats();
      return { batches: stats.batches, inlineChecks: stats.inlineChecks };
    },
  );
  metrics.family(
    "treaty_transport_dropped_total",
    "Node-to-node frames dropped, by reason (forged, replayed, malformed, ...)",
    "counter",
    "reason",
    () => node.transportStats()?.dropped ?? {},
  );
  metrics.family(
    "treaty_forwarded_total",
    "Requests forwarded to the leader, and the transport requests that carried them (batched per turn)",
    "counter",
    "kind",
    () => ({ ...node.forwardStats() }),
  );
  metrics.family(
    "treaty_transport_frames_total",
    "Node-to-node frames sent and accepted",
    "counter",
    "direction",
    (): Record<string, number> => {
      const stats = node.transportStats();
      return stats === undefined ? {} : { sent: stats.sent, received: stats.received };
    },
  );
  metrics.family(
    "treaty_stage_seconds_total",
    "Main-thread time by write-path stage (node/stage-times.ts); executionCalls is a count",
    "counter",
    "stage",
    stageTotals,
  );
  metrics.rendered(() =>
    renderWritePhases(
      "treaty_write_phase_seconds",
      "Wall time of the leader's writes by phase (node/stage-times.ts WritePhase)",
    ),
  );
  metrics.family(
    "treaty_consensus_elections_total",
    "Elections and pre-votes this node started",
    "counter",
    "kind",
    () => {
      const stats = node.replica.consensus.stats();
      return { preVote: stats.preVotesStarted, election: stats.electionsStarted };
    },
  );
  metrics.family(
    "treaty_consensus_rejected_total",
    "Consensus messages rejected, by reason",
    "counter",
    "reason",
    () => node.replica.consensus.stats().rejected,
  );

  metrics.gauge(
    "treaty_snapshot_in_flight",
    "Snapshot reads and file writes in progress on this node (node/snapshot/snapshots.ts inFlight)",
    () => node.snapshots.inFlight(),
  );
  metrics.gauge(
    "treaty_snapshot_stride_entries",
    "Snapshot points lie past multiples of this seqno count: snapshots.everyEntries, doubled per doubling of the newest snapshot past snapshots.strideBytes",
    () => node.snapshots.stride().entries,
  );
  metrics.family(
    "treaty_snapshot_points_total",
    "Snapshot points this node reached: taken, or skipped because its previous snapshot was still being taken",
    "counter",
    "outcome",
    () => node.snapshots.points(),
  );
  metrics.family(
    "treaty_snapshot_events_total",
    "Install-snapshot on this node: offers sent, installs requested, installed and aborted, bytes fetched, chunks served",
    "counter",
    "event",
    () => {
      const c = node.replica.consensus.stats();
      return {
        offered: c.snapshotsOffered,
        requested: c.snapshotInstallsRequested,
        installed: c.snapshotsInstalled,
        aborted: c.snapshotsAborted,
        ...node.replica.snapshotStats(),
      };
    },
  );

  metrics.family(
    "treaty_jwt_tokens_total",
    "JWT bearer tokens by outcome: verified (signature checked), cached (no check), refused",
    "counter",
    "outcome",
    () => {
      const { verified, cacheHits, refused } = jwtVerifierFor(node.gov).stats();
      return { verified, cached: cacheHits, refused };
    },
  );

  const callMetrics: AppCallMetrics = {
    calls,
    countOk: calls.bind({ code: "ok" }),
    latency,
    governanceMayLag: () => node.governanceMayLag(),
  };
  // Made once per router: `appCall` is the call's one async function (its metrics included), not
  // a closure made per call (V8 drops a per-call closure's optimized code at every major GC and
  // compiles it again: docs/performance.md, "Hot closures recompiled after every major GC").
  const callContract = (req: HttpRequest): Promise<HttpResponse> => appCall(node, req, callMetrics);

  const openApi = new OpenApiCache();
  addRecoveryShareRoutes(router, node.gov);
  addConsoleRoutes(addExplorerRoutes(router, node));
  return addProofRoutes(addGovRoutes(router, node), node)
    .add("POST", "/app/:contract/:method", callContract)
    .add("GET", EVENTS_PATH, node.events.handler)
    .add("GET", "/app/openapi.json", () => ({
      raw: {
        contentType: CONTENT_JSON,
        bytes: openApi.json(node.manifests, node.manifestsVersion, TREATY_VERSION),
      },
    }))
    .add("GET", "/node/status", () => ({ body: status(node) }))
    .add("GET", "/node/network", () => ({ body: network(node) }))
    .add("POST", JOIN_PATH, (req) => node.admitJoin(req))
    .add("GET", "/node/metrics", () => ({
      raw: { contentType: "text/plain; version=0.0.4", bytes: metrics.render() },
    }))
    .add("GET", "/node/tx", async (req) => {
      const txid = req.query.get("txid");
      const { view, seqno } = parseTxId(txid);
      const waitMs = txWaitMs(req.query.get("wait"));
      // Committed as far as this node has folded the commit (TreatyNode.txStatus).
      let status = node.txStatus(view, seqno);
      // A long poll: a transaction not decided yet is answered once this node's folded commit
      // point reaches it, or after `wait` ms, whichever comes first.
      if (waitMs > 0 && (status === "Pending" || status === "Unknown")) {
        await node.reads.commitReached(seqno, waitMs);
        status = node.txStatus(view, seqno);
      }
      return { body: { txid, status } };
    })
    .add("GET", "/node/receipt", (req) => {
      const commit = node.committedSeqno;
      const receipt = node.ledger.receipt(req.query.get("txid") ?? "", commit);
      const chain = serviceEndorsementChain(node.gov, toHex(node.serviceKey.publicKey));
      return { body: chain.length === 0 ? receipt : { ...receipt, serviceEndorsements: chain } };
    });
}

/** What `appCall` counts and asks, made once per router (not a closure per request). */
interface AppCallMetrics {
  readonly calls: Counter;
  /** `calls` with the `ok` label, bound once. */
  readonly countOk: () => void;
  readonly latency: Histogram;
  /** `node.governanceMayLag` as a function. */
  readonly governanceMayLag: () => boolean;
}

/**
 * Runs one contract call and counts it (by outcome code) with its latency. One async function for
 * the call and its metrics: a wrapper awaiting it would add a promise and a hop per request.
 */
async function appCall(node: TreatyNode, req: HttpRequest, metrics: AppCallMetrics): Promise<HttpResponse> {
  const started = performance.now();
  let failed: string | null = null;
  try {
    const { contract, method } = req.params as { contract: string; method: string };
    const manifest = node.manifests.get(contract);
    if (!manifest) throw node.contractUnavailable(contract);
    const declared = Object.hasOwn(manifest.methods, method) ? manifest.methods[method] : undefined;
    if (!declared) throw new TreatyError("UnknownMethod", `${contract}: no method ${JSON.stringify(method)}`);
    // A follower hands a write to the leader unverified: the leader admits it in full anyway
    // (docs/ARCHITECTURE.md, "A follower forwards writes before admission").
    if (declared.mode !== "readonly" && node.replica.consensus.leaderView() === null)
      return await node.forwardToLeader(req);
    const consistency = parseConsistency(req.headers[HEADER_CONSISTENCY]);
    const challenge = answerChallenge(req.headers, declared.mode);
    const now = node.runtime.now();
    const handlerStarted = performance.now();
    const admission: AdmissionContext = {
      serviceId: node.serviceId,
      gov: node.gov,
      nowMs: now,
      freshnessWindowMs: node.config.requests.freshnessWindowMs,
      verifier: node.verifier,
      governanceMayLag: metrics.governanceMayLag,
    };
    const admitted = hasBearer(req.headers)
      ? await admitBearer(admission, req.path, req.headers, req.body)
      : await admit(admission, req.path, req.headers, req.body);
    if (admitted.caller?.role !== "member" && node.gov.service()?.status !== "open") {
      throw new TreatyError("ServiceNotOpen", "the service is not open yet: members must open it first");
    }
    // Two literals rather than a spread of an optional field (a copy of an intermediate object per
    // call); `createdMs` is absent, not undefined, when the body has none.
    const createdMs = admitted.body.createdMs;
    const nonce = admitted.body.nonce ?? null;
    const call: ExecCall =
      createdMs === undefined
        ? {
            contract,
            method,
            args: admitted.body.args,
            caller: admitted.caller,
            nonce,
            timeMs: now,
            seed: callSeed(),
          }
        : {
            contract,
            method,
            args: admitted.body.args,
            caller: admitted.caller,
            nonce,
            createdMs,
            timeMs: now,
            seed: callSeed(),
          };
    const at = req.query.get("at");
    if (at !== null) {
      if (declared.mode !== "readonly")
        throw new TreatyError("InvalidArgs", "at: only readonly methods run at a past txid");
      const commit = node.committedSeqno;
      return {
        body: await historicalAnswer(node.history, node.ledger, commit, call, at),
        headers: { [HEADER_TXID]: at },
      };
    }
    if (declared.mode === "readonly") {
      const answer = await node.reads.read(call, consistency);
      const signedAnswer =
        challenge === undefined
          ? undefined
          : signAnswer({
              signer: node.signer,
              serviceId: node.serviceId,
              path: req.path,
              body: req.body,
              challenge,
              consistency,
              answer,
            });
      return {
        body: { ...answer, ...(signedAnswer && { signedAnswer }) },
        headers: { [HEADER_TXID]: answer.txid },
      };
    }
    if (admitted.caller === null) {
      throw new TreatyError("Forbidden", `${contract}.${method} changes state: it needs a signed request`);
    }
    // Leadership moved during admission.
    if (node.replica.consensus.leaderView() === null) return await node.forwardToLeader(req);
    const kind = admitted.caller.role === "member" ? "member" : "user";
    const submitted = performance.now();
    addWritePhase("admission", submitted - handlerStarted);
    const result = await node.sequencer.submit(call, kind, admitted.requestDigest);
    addWritePhase("handler", performance.now() - handlerStarted);
    if (!result.ok) {
      throw new TreatyError(
        result.error.code,
        result.error.message,
        result.error.txid ? { txid: result.error.txid } : undefined,
      );
    }
    // The txid is `${view}.${seqno}` of the seqno the result carries: only its view is read back.
    const view = Number(result.txid.slice(0, result.txid.indexOf(".")));
    const status = node.txStatus(view, result.seqno);
    return {
      body: { result: result.result, txid: result.txid, status, events: result.events },
      headers: { [HEADER_TXID]: result.txid },
    };
  } catch (err) {
    failed = err instanceof TreatyError ? err.code : "Internal";
    throw err;
  } finally {
    if (failed === null) metrics.countOk();
    else metrics.calls.inc({ code: failed });
    metrics.latency.observe((performance.now() - started) / 1000);
  }
}

/** Longest `wait` of a `/node/tx` long poll, ms. */
export const MAX_TX_WAIT_MS = 10_000;

/** The `wait` query parameter of `/node/tx`: absent means 0 (answer at once). */
function txWaitMs(wait: string | null): number {
  if (wait === null) return 0;
  const ms = /^\d{1,5}$/.test(wait) ? Number(wait) : Number.NaN;
  if (!(ms <= MAX_TX_WAIT_MS))
    throw new TreatyError("MalformedRequest", `wait: expected an integer 0..${MAX_TX_WAIT_MS} (ms)`);
  return ms;
}

/** The `x-treaty-consistency` header: absent means `committed`. */
function parseConsistency(value: string | string[] | undefined): ReadConsistency {
  if (value === undefined) return "committed";
  if (typeof value === "string" && (READ_CONSISTENCIES as readonly string[]).includes(value)) {
    return value as ReadConsistency;
  }
  throw new TreatyError(
    "MalformedRequest",
    `${HEADER_CONSISTENCY}: expected one of ${READ_CONSISTENCIES.join(", ")}, got ${JSON.stringify(String(value)).slice(0, 80)}`,
  );
}

function status(node: TreatyNode) {
  const s = node.replica.consensus.status();
  const progress = node.lifecycle.progress;
  return {
    nodeId: node.identity.id,
    phase: progress.phase,
    progress,
    role: ownRole(s, node.gov.node(node.identity.id)),
    view: s.view,
    leader: s.leader,
    // The commit point this node has folded (what its Committed answers go by).
    commitSeqno: node.committedSeqno,
    lastSeqno: node.ledger.lastSeqno,
    serviceKey: { curve: node.serviceKey.curve, publicKey: toHex(node.serviceKey.publicKey) },
    serviceId: node.serviceId,
    clientApi: clientApiStatus(node),
    serviceStatus: node.gov.service()?.status ?? "unknown",
    version: TREATY_VERSION,
    platform: PLATFORM,
    measurement: node.measurement,
  };
}

function network(node: TreatyNode) {
  const s = node.replica.consensus.status();
  return {
    leader: s.leader,
    view: s.view,
    config: s.config,
    nodes: node.gov
      .rows<NodeRecord>(GOV.nodes)
      .map(([id, n]) => ({ nodeId: id, status: n.status, role: tableRole(s, id, n), url: n.url ?? null })),
  };
}
