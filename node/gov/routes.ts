/**
 * The governance HTTP API (`/gov/...`). Writes are signed requests from members; they are
 * admitted like `/app` writes (signature, freshness; replays stop at the nonce table in the
 * transaction), forwarded to the leader when they reach a follower, and run by the proposal
 * engine as `governance` entries through the sequencer:
 *
 *   POST /gov/proposals                  {args: {actions: [{name, args}]}} → {proposalId, state, txid}
 *   POST /gov/proposals/:id/ballots      {args: {vote: "for" | "against"}} → {proposalId, state, txid}
 *   POST /gov/proposals/:id/withdraw     {args: {}}                        → {proposalId, state, txid}
 *   POST /gov/proposals/dry-run          {args: {actions: [{name, args}]}} → {applies, error?, changes}
 *                                        (served as a read by any node: nothing is recorded)
 *
 * Reads are plain GETs served from this node's committed governance view (node/gov/view.ts,
 * the view that authorises callers): never a proposal state, ballot or row that a view change
 * could still roll back, so a member can act on what it reads. A write's own answer (its state
 * and txid) is the way to see it before it commits:
 *
 *   GET /gov/proposals | /gov/proposals/:id | /gov/members | /gov/users | /gov/jwt_issuers | /gov/contracts
 *   GET /gov/contracts/:name | /gov/constitution | /gov/nodes | /gov/service | /gov/limits
 */
import { randomBytes } from "node:crypto";
import { TreatyError } from "../../sdk/errors.js";
import { HEADER_TXID } from "../../sdk/request.js";
import { DEFAULT_LIMITS, resolveLimits } from "../../runtime/sandbox/limits.js";
import { admit } from "../admission.js";
import type { ExecCall } from "../execution/service.js";
import type { HttpRequest, HttpResponse, Router } from "../http/server.js";
import type { TreatyNode } from "../service.js";
import { DRY_RUN_METHOD, GOV_CONTRACT, type GovMethod } from "./engine.js";
import { prepareProposal } from "./prepare.js";
import {
  type BallotsRecord,
  type ConstitutionRecord,
  type ContractRecord,
  GOV,
  type JwtIssuerRecord,
  type MemberRecord,
  type NodeRecord,
  type ProposalRecord,
  SINGLETON_KEY,
  type ServiceRecord,
  type UserRecord,
} from "./tables.js";

/** Adds the `/gov` endpoints to `router`; returns it. */
export function addGovRoutes(router: Router, node: TreatyNode): Router {
  const write =
    (method: GovMethod, args: (req: HttpRequest, bodyArgs: unknown) => unknown) => (req: HttpRequest) =>
      governanceWrite(node, req, method, args);
  return router
    .add(
      "POST",
      "/gov/proposals",
      write("propose", (_req, bodyArgs) =>
        prepareProposal(bodyArgs, (files) => node.compiler.compile(files)),
      ),
    )
    .add("POST", "/gov/proposals/dry-run", (req) => governanceDryRun(node, req))
    .add(
      "POST",
      "/gov/proposals/:id/ballots",
      write("vote", (req, bodyArgs) => ({
        vote: onlyKeys(bodyArgs, ["vote"]).vote,
        proposalId: req.params.id,
      })),
    )
    .add(
      "POST",
      "/gov/proposals/:id/withdraw",
      write("withdraw", (req, bodyArgs) => {
        onlyKeys(bodyArgs ?? {}, []);
        return { proposalId: req.params.id };
      }),
    )
    .add("GET", "/gov/proposals", () => ({ body: { proposals: proposalList(node) } }))
    .add("GET", "/gov/proposals/:id", (req) => ({ body: proposalDetail(node, req.params.id!) }))
    .add("GET", "/gov/members", () => ({
      body: {
        members: table<MemberRecord>(node, GOV.members).map(([id, m]) => ({
          id,
          name: memberName(m),
          ...m,
        })),
      },
    }))
    .add("GET", "/gov/users", () => ({
      body: { users: table<UserRecord>(node, GOV.users).map(([id, u]) => ({ id, ...u })) },
    }))
    .add("GET", "/gov/jwt_issuers", () => ({
      body: { issuers: table<JwtIssuerRecord>(node, GOV.jwtIssuers).map(([, issuer]) => issuer) },
    }))
    .add("GET", "/gov/contracts", () => ({
      body: {
        contracts: table<ContractRecord>(node, GOV.contracts).map(([name, c]) => ({
          name,
          version: c.version,
          digest: c.digest,
        })),
      },
    }))
    .add("GET", "/gov/contracts/:name", (req) => {
      const name = req.params.name!;
      const c = row<ContractRecord>(node, GOV.contracts, name);
      if (c === undefined)
        throw new TreatyError("UnknownContract", `contract ${JSON.stringify(name)} is not deployed`);
      return { body: { name, version: c.version, digest: c.digest, source: c.source } };
    })
    .add("GET", "/gov/constitution", () => {
      const c = row<ConstitutionRecord>(node, GOV.constitution, SINGLETON_KEY);
      if (c === undefined) throw new TreatyError("NotFound", "the service has no constitution");
      return { body: { digest: c.digest, source: c.source } };
    })
    .add("GET", "/gov/nodes", () => ({
      body: {
        nodes: table<NodeRecord>(node, GOV.nodes).map(([id, n]) => ({
          id,
          status: n.status,
          measurement: n.measurement,
          url: n.url ?? null,
          // What the node's code announced (NODE_FEATURES); [] for a node of an older version.
          features: Array.isArray(n.features) ? n.features : [],
        })),
      },
    }))
    .add("GET", "/gov/service", () => {
      const s = row<ServiceRecord>(node, GOV.service, SINGLETON_KEY);
      if (s === undefined) throw new TreatyError("NotFound", "the service record is missing");
      return {
        body: {
          status: s.status,
          identity: s.identity,
          recoveryThreshold: s.recoveryThreshold,
          autoTrustNodes: s.autoTrustNodes === true,
        },
      };
    })
    .add("GET", "/gov/limits", () => {
      const set = row<unknown>(node, GOV.limits, SINGLETON_KEY);
      return { body: set === undefined ? DEFAULT_LIMITS : resolveLimits(set) };
    });
}

/**
 * Runs a proposal against this node's applied state without recording anything (see
 * ProposalEngine.dryRun): a signed member request like `POST /gov/proposals`, served by any node
 * as a read. Answers the DryRunReport: `{applies, error?, changes: [{table, key, old, new}]}`.
 */
async function governanceDryRun(node: TreatyNode, req: HttpRequest): Promise<HttpResponse> {
  const { admitted, now } = await admitMember(node, req);
  const call: ExecCall = {
    contract: GOV_CONTRACT,
    method: DRY_RUN_METHOD,
    args: await prepareProposal(admitted.body.args, (files) => node.compiler.compile(files)),
    caller: admitted.caller,
    nonce: null,
    timeMs: now,
    seed: new Uint8Array(randomBytes(32)),
  };
  const result = await node.execution.read(call);
  if (!result.ok) throw new TreatyError(result.error.code, result.error.message);
  return { body: result.result };
}

/** Admits a signed request from a member; Forbidden for anyone else. */
async function admitMember(node: TreatyNode, req: HttpRequest) {
  const now = node.runtime.now();
  const admitted = await admit(
    {
      serviceId: node.serviceId,
      gov: node.gov,
      nowMs: now,
      freshnessWindowMs: node.config.requests.freshnessWindowMs,
      verifier: node.verifier,
      governanceMayLag: () => node.governanceMayLag(),
    },
    req.path,
    req.headers,
    req.body,
  );
  if (admitted.caller === null) {
    throw new TreatyError("Forbidden", `${req.path}: governance writes need a request signed by a member`);
  }
  if (admitted.caller.role !== "member") {
    throw new TreatyError("Forbidden", `${req.path}: only members may propose, vote or withdraw`);
  }
  return { admitted: { ...admitted, caller: admitted.caller }, now };
}

/**
 * Runs a member's signed request as a governance call on the leader. A follower forwards it
 * before any admission, as it does `/app` writes: the leader admits it in full against its own
 * governance view (docs/ARCHITECTURE.md, "A follower forwards writes before admission").
 */
async function governanceWrite(
  node: TreatyNode,
  req: HttpRequest,
  method: GovMethod,
  buildArgs: (req: HttpRequest, bodyArgs: unknown) => unknown | Promise<unknown>,
): Promise<HttpResponse> {
  if (node.replica.consensus.status().role !== "Leader") return node.forwardToLeader(req);
  const { admitted, now } = await admitMember(node, req);
  // Leadership moved during admission (or the proposal's compile).
  if (node.replica.consensus.status().role !== "Leader") return node.forwardToLeader(req);
  const call: ExecCall = {
    contract: GOV_CONTRACT,
    method,
    args: await buildArgs(req, admitted.body.args),
    caller: admitted.caller,
    nonce: admitted.body.nonce ?? null,
    ...(admitted.body.createdMs !== undefined && { createdMs: admitted.body.createdMs }),
    timeMs: now,
    seed: new Uint8Array(randomBytes(32)),
  };
  const result = await node.sequencer.submit(call, "governance", admitted.requestDigest);
  if (!result.ok) {
    throw new TreatyError(
      result.error.code,
      result.error.message,
      result.error.txid ? { txid: result.error.txid } : undefined,
    );
  }
  return {
    body: { ...(result.result as object), txid: result.txid },
    headers: { [HEADER_TXID]: result.txid },
  };
}

function proposalList(node: TreatyNode) {
  const ballots = new Map(table<BallotsRecord>(node, GOV.ballots));
  return table<ProposalRecord>(node, GOV.proposals).map(([proposalId, p]) => {
    const cast = Object.values(ballots.get(proposalId) ?? {});
    return {
      proposalId,
      proposer: p.proposer,
      state: p.state,
      actions: p.actions.map((a) => ({ name: a.name })),
      ballots: {
        for: cast.filter((b) => b === "for").length,
        against: cast.filter((b) => b === "against").length,
      },
    };
  });
}

function proposalDetail(node: TreatyNode, proposalId: string) {
  const p = row<ProposalRecord>(node, GOV.proposals, proposalId);
  if (p === undefined) throw new TreatyError("UnknownProposal", `no proposal ${proposalId.slice(0, 80)}`);
  const ballots = row<BallotsRecord>(node, GOV.ballots, proposalId) ?? {};
  return {
    proposalId,
    proposer: p.proposer,
    state: p.state,
    // The digest of compiled code lets members check what they vote for against their own build.
    actions: p.actions.map((a, i) => {
      const code = p.code[i];
      return code ? { name: a.name, args: a.args, digest: code.digest } : { name: a.name, args: a.args };
    }),
    ballots,
    // Who is who: the members' names from their data, next to their 64-hex ids.
    names: memberNames(node, [p.proposer, ...Object.keys(ballots)]),
    createdTxid: p.createdTxid,
    ...(p.decidedTxid !== undefined && { decidedTxid: p.decidedTxid }),
    ...(p.error !== undefined && { error: p.error }),
  };
}

/**
 * A member's display name: `data.name`, else `data.org`, when a string; else null. Members
 * set it with `set_member`'s `data` (`{"name": "Acme"}`).
 */
export function memberName(member: Pick<MemberRecord, "data"> | undefined): string | null {
  const data = member?.data;
  const name = data?.name ?? data?.org;
  return typeof name === "string" ? name : null;
}

/** Id → name (or null) of each of `ids` (members no longer in the table included, as null). */
function memberNames(node: TreatyNode, ids: readonly string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const id of ids) out[id] ??= memberName(row<MemberRecord>(node, GOV.members, id));
  return out;
}

/** Every row of a governance table in this node's committed view, in key order. */
function table<T>(node: TreatyNode, map: string): Array<[string, T]> {
  return node.gov.rows<T>(map);
}

/** One row of a governance table in this node's committed view. */
function row<T>(node: TreatyNode, map: string, key: string): T | undefined {
  if (key.length === 0 || key.length > 256) return undefined;
  return node.gov.row<T>(map, key);
}

/** `value` as an object with no keys but `allowed`; InvalidArgs naming the stray one. */
function onlyKeys(value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TreatyError("InvalidArgs", "args: expected an object");
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new TreatyError("InvalidArgs", `args.${key}: unknown field`);
  }
  return value as Record<string, unknown>;
}
