/**
 * Joining a service. A new node proves it holds its identity key (a signed request, as apps
 * sign theirs) and presents its code measurement; the leader records it as pending, and once
 * governance (a `trust_node` vote, or the service's `autoTrustNodes` policy) trusts it, the node's next poll receives the
 * service secrets it needs (ledger secrets, the service identity key, its own endorsement),
 * sealed to its identity key: x25519 between the sealing node's and the joiner's keys, HKDF,
 * AES-256-GCM. The joiner pins the service identity key and checks that the sealing node is
 * endorsed by it, so a host in the middle can neither read the secrets nor feed it a fake
 * service. The secrets never cross NATS, and never in clear.
 */
import { fromHex, toHex, utf8 } from "../sdk/bytes.js";
import { TreatyError } from "../sdk/errors.js";
import { type KeyFile, type KeyPair, keyId, type PublicKey, verify } from "../sdk/keys.js";
import { endorsementMessage } from "../sdk/receipt.js";
import { signRequest } from "../sdk/request.js";
import type { Logger } from "./log.js";
import {
  aeadOpen,
  aeadSeal,
  deriveAeadKey,
  x25519PrivateKey,
  x25519SharedSecret,
} from "./transport/crypto.js";

export const JOIN_PATH = "/node/join";
const PENDING_LOG_EVERY_MS = 30_000;

/**
 * What a node needs to serve a service: kept in `secrets.json` (sealed storage on a TEE).
 * `atRestKey` is node-local (it seals this node's KV on disk) and is never sent to other nodes.
 */
export interface NodeSecrets {
  readonly atRestKey?: string;
  /** At-rest keys of a re-seal not finished yet (node/secrets/at-rest-rekey.ts); node-local. */
  readonly olderAtRestKeys?: readonly string[];
  /** The ledger secret version the at-rest key was made for (rotated when a rekey commits). */
  readonly atRestKeyFor?: number;
  readonly serviceKey: KeyFile;
  readonly ledgerSecrets: ReadonlyArray<{ readonly version: number; readonly key: string }>;
  readonly endorsement: {
    readonly validFromMs: number;
    readonly validToMs: number;
    readonly signature: string;
  };
  /** Identities (ed25519 hex) of the service before disaster recoveries, oldest first. */
  readonly previousServiceKeys?: readonly string[];
}

/** The joiner's request arguments (inside a signed request body). */
export interface JoinArgs {
  readonly publicKey: string;
  readonly measurement: string;
  readonly url: string;
  /**
   * What the joiner's code announces (NodeRecord.features: node/gov/tables.ts NODE_FEATURES); the
   * leader records it with the node. Absent from a node of an older version; a leader of an older
   * version ignores it (and records the node without it).
   */
  readonly features?: readonly string[];
  /** Set once the node runs with its secrets: it may now be added to the consensus configuration. */
  readonly ready?: boolean;
}

/** Features a join request may announce, at most, and the longest name (bounds the record). */
export const MAX_JOIN_FEATURES = 16;
export const MAX_FEATURE_LENGTH = 64;

export interface PeerDescription {
  readonly id: string;
  readonly publicKey: string;
  readonly url: string | null;
}

/** Why a pending node waits, when the service does not trust joiners automatically. */
export function trustVoteReason(nodeId: string): string {
  return `waiting for members to trust node ${nodeId} (proposal trust_node)`;
}

/** The leader's answer: pending (with what it waits for), or trusted with the sealed secrets. */
export type JoinResponse =
  | { readonly status: "pending"; readonly waitingFor?: string }
  | {
      readonly status: "trusted";
      readonly nodes: readonly PeerDescription[];
      readonly sealed: SealedSecrets;
      /** Whether the node is in the consensus configuration (a voting member) yet. */
      readonly member: boolean;
    };

export interface SealedSecrets {
  /** The sealing node, with its endorsement by the service identity. */
  readonly sealer: {
    readonly id: string;
    readonly publicKey: string;
    readonly endorsement: {
      readonly validFromMs: number;
      readonly validToMs: number;
      readonly signature: string;
    };
  };
  readonly nonce: string;
  readonly ciphertext: string;
}

function info(sealerId: string, joinerId: string): Uint8Array {
  return utf8.encode(`treaty/join-secrets/v1|${sealerId}|${joinerId}`);
}

/** Seals `secrets` for the joiner (leader side). */
export function sealSecrets(
  sealer: KeyPair,
  sealerEndorsement: SealedSecrets["sealer"]["endorsement"],
  joiner: PublicKey,
  secrets: NodeSecrets,
  randomBytes: (length: number) => Uint8Array,
): SealedSecrets {
  const shared = x25519SharedSecret(x25519PrivateKey(sealer), joiner.publicKey);
  if (shared === undefined)
    throw new TreatyError("MalformedRequest", "publicKey: not usable for key agreement");
  const nonce = randomBytes(12);
  const aad = info(sealer.id, keyId(joiner));
  const key = deriveAeadKey(shared, nonce, aad);
  return {
    sealer: { id: sealer.id, publicKey: toHex(sealer.publicKey), endorsement: sealerEndorsement },
    nonce: toHex(nonce),
    ciphertext: toHex(aeadSeal(key, nonce, aad, utf8.encode(JSON.stringify(secrets)))),
  };
}

/**
 * Opens sealed secrets (joiner side) after checking that the sealing node is endorsed by the
 * pinned service key. Throws TreatyError `Forbidden` (unendorsed sealer) or `DecryptionFailed`.
 */
export function openSecrets(
  joiner: KeyPair,
  serviceKey: PublicKey,
  sealed: SealedSecrets,
  nowMs: number,
): NodeSecrets {
  const sealerKey = fromHex(sealed.sealer.publicKey, "sealer.publicKey");
  const e = sealed.sealer.endorsement;
  const endorsed =
    keyId({ curve: "ed25519", publicKey: sealerKey }) === sealed.sealer.id &&
    e.validFromMs <= nowMs &&
    nowMs <= e.validToMs &&
    verify(
      serviceKey,
      endorsementMessage({
        nodeId: sealed.sealer.id,
        publicKey: sealerKey,
        validFromMs: e.validFromMs,
        validToMs: e.validToMs,
      }),
      fromHex(e.signature, "sealer.endorsement.signature"),
    );
  if (!endorsed)
    throw new TreatyError(
      "Forbidden",
      "join: the sealing node is not endorsed by the pinned service identity",
    );
  const shared = x25519SharedSecret(x25519PrivateKey(joiner), sealerKey);
  const nonce = fromHex(sealed.nonce, "sealed.nonce");
  const aad = info(sealed.sealer.id, joiner.id);
  const plain =
    shared &&
    aeadOpen(deriveAeadKey(shared, nonce, aad), nonce, aad, fromHex(sealed.ciphertext, "sealed.ciphertext"));
  if (!plain)
    throw new TreatyError("DecryptionFailed", "join: the sealed secrets do not open with this node's key");
  return JSON.parse(utf8.decode(plain)) as NodeSecrets;
}

export interface JoinOptions {
  readonly nodes: readonly string[];
  readonly serviceKey: PublicKey;
  readonly identity: KeyPair;
  readonly args: JoinArgs;
  readonly now: () => number;
  readonly logger: Logger;
  /** Gives up after this long (default 5 minutes); progress is logged on every poll. */
  readonly timeoutMs?: number;
  /**
   * Wait between requests (default 300 ms). After a busy (5xx) or unreachable node the wait
   * doubles, up to RETRY_MAX_FACTOR × `pollMs` (4.8 s by default), until a node answers.
   */
  readonly pollMs?: number;
  /** How to wait `ms` between requests (default a timer; tests pass a simulated clock's). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Stops polling (the node is shutting down). */
  readonly cancelled?: () => boolean;
  /** Called on every pending answer with what the node waits for (for `/node/status`). */
  readonly onPending?: (waitingFor: string) => void;
  /**
   * How to reach the nodes (default the platform fetch): over TLS, one that checks their
   * certificates against `serviceKey` (node/tls/client.ts `keyPinnedFetch`).
   */
  readonly fetch?: typeof fetch;
}

/** Asks the service to admit this node and waits until it is trusted; returns its secrets and peers. */
export async function joinService(
  options: JoinOptions,
): Promise<{ secrets: NodeSecrets; nodes: readonly PeerDescription[] }> {
  const trusted = await pollJoin(options, (response) => response.status === "trusted");
  if (trusted.status !== "trusted")
    throw new TreatyError("Internal", "join: poll ended before the node was trusted");
  return {
    secrets: openSecrets(options.identity, options.serviceKey, trusted.sealed, options.now()),
    nodes: trusted.nodes,
  };
}

/**
 * Once the node runs with its secrets, asks the leader to add it to the consensus configuration
 * and waits until it is a voting member (a node joins the quorum only when it can take part in
 * it, so adding it never stalls a small service).
 */
export async function becomeMember(options: JoinOptions): Promise<void> {
  await pollJoin(
    { ...options, args: { ...options.args, ready: true } },
    (r) => r.status === "trusted" && r.member,
  );
}

/**
 * A restarted node that may have been retired while it was down or out of reach learns from the
 * service whether it is: its own ledger may end before the entry marking it `retired` (the
 * leader no longer replicates to a node once the configuration without it commits, and a node
 * down during its retirement never got even that). It asks as `becomeMember` does; the service
 * answers from its committed node table (`Forbidden` with `details.status` for a node no longer
 * `trusted`). Resolves "retired" once a node answers `retired` (a committed status no answer can
 * take back), "member" once one answers that this node is `trusted` and in the configuration;
 * keeps asking while the answer is `retiring` or no node answers. Rejects with `Unavailable`
 * once `cancelled`, or with any other refusal.
 */
export async function learnRetired(options: JoinOptions): Promise<"retired" | "member"> {
  let said = false;
  for (;;) {
    try {
      await becomeMember({ ...options, timeoutMs: options.timeoutMs ?? RETIRED_ASK_TIMEOUT_MS });
      return "member";
    } catch (err) {
      if (!(err instanceof TreatyError)) throw err;
      const status = err.details?.status;
      if (err.code === "Forbidden" && status === "retired") return "retired";
      if (!(err.code === "Forbidden" && status === "retiring") && err.code !== "Timeout") throw err;
      if (status === "retiring" && !said) {
        said = true;
        options.logger.info("retiring: waiting for the service to record this node retired");
      }
    }
    if (options.cancelled?.()) throw new TreatyError("Unavailable", "join: the node is stopping");
    await (options.sleep ?? sleep)(options.pollMs ?? RETIRED_ASK_EVERY_MS);
  }
}

/**
 * What a node not serving yet asks the service when it starts, from its own committed state:
 * its record's `status`, whether its ledger counts it in the consensus configuration (`member`),
 * its `join` config's nodes and the URLs the other nodes' committed records advertise (asked
 * when it has no `join` config).
 * - "retired": it may have been retired after its ledger's last entry (`learnRetired`): its record
 *   is `retiring` (out of the configuration, the entry marking it `retired` seldom reaches it),
 *   or `trusted` while its ledger counts it a member (retired while it was down: a leader no
 *   longer replicates to it). Not when it serves already (a leader replicates to it), nor with
 *   nobody to ask (a one-node service, whose configuration it is).
 * - "member": out of the configuration (admitted, stopped before it was added as a voter): it asks
 *   to become a voting member (`becomeMember`), as after its join, even while it serves (as a
 *   learner); a leader adds only nodes that ask, so a node that did not would never be a voter.
 * - "nobody": out of the configuration, not serving, with no `join` config and no other node's
 *   URL in its ledger (say it was trusted and stopped before any entry reached it): it can only
 *   wait.
 * - undefined: a member not in doubt; nothing to ask.
 */
export function startQuestion(state: {
  readonly status: string | undefined;
  readonly member: boolean;
  /** Serving already (a leader replicates to it): it is in that leader's configuration or learners. */
  readonly serving: boolean;
  readonly joinNodes: readonly string[] | undefined;
  readonly advertised: readonly string[];
}):
  | { readonly ask: "retired" | "member"; readonly nodes: readonly string[] }
  | { readonly ask: "nobody" }
  | undefined {
  const nodes = state.joinNodes ?? state.advertised;
  if (state.status === "retiring" || (state.status === "trusted" && state.member))
    return state.serving || nodes.length === 0 ? undefined : { ask: "retired", nodes };
  if (state.member) return undefined;
  if (nodes.length > 0) return { ask: "member", nodes };
  return state.serving ? undefined : { ask: "nobody" };
}

/** What a node `startQuestion` finds with nobody to ask waits for (logged, in `/node/status`). */
export const NOBODY_TO_ASK =
  "no join config and no other node's URL in its ledger to ask to be added: it waits for a leader to replicate to it (give it a join section to ask the service)";

/** One round of `learnRetired` asks for this long before it starts over. */
const RETIRED_ASK_TIMEOUT_MS = 60_000;
/** Wait between `learnRetired` rounds whose answer was `retiring`. */
const RETIRED_ASK_EVERY_MS = 1000;

/** The wait after busy or unreachable nodes doubles up to this many times `pollMs`. */
const RETRY_MAX_FACTOR = 16;

async function pollJoin(
  options: JoinOptions,
  done: (response: JoinResponse) => boolean,
): Promise<JoinResponse> {
  const deadline = options.now() + (options.timeoutMs ?? 300_000);
  const serviceId = keyId(options.serviceKey);
  const pollMs = options.pollMs ?? 300;
  let attempt = 0;
  let lastReason: string | undefined;
  let lastSaidMs = 0;
  // Busy (5xx) or unreachable answers in a row: a restarted member of a multi-node service asks
  // while there is often no leader yet, for seconds. The wait doubles and only the first of such
  // a streak (then one every PENDING_LOG_EVERY_MS) is logged at info, the others at debug.
  let failures = 0;
  let waitMs = pollMs;
  let lastRetrySaidMs = 0;
  const retrying = (msg: string, fields: Record<string, unknown>): void => {
    failures++;
    const say = failures === 1 || options.now() - lastRetrySaidMs >= PENDING_LOG_EVERY_MS;
    if (say) {
      lastRetrySaidMs = options.now();
      options.logger.info(msg, { ...fields, retries: failures });
    } else {
      options.logger.debug(msg, { ...fields, retries: failures });
    }
  };
  // An answer that the node must wait (for a vote, to be added as a voter): said when it
  // changes and again every so often, so an operator tailing the log sees it.
  const waiting = (reason: string, msg: string, base: string): void => {
    failures = 0;
    if (reason !== lastReason || options.now() - lastSaidMs >= PENDING_LOG_EVERY_MS) {
      options.logger.info(msg, { node: base });
      lastReason = reason;
      lastSaidMs = options.now();
    }
  };
  for (;;) {
    const base = options.nodes[attempt++ % options.nodes.length]!;
    try {
      const request = signRequest(options.identity, serviceId, JOIN_PATH, options.args);
      const response = await (options.fetch ?? fetch)(base + JOIN_PATH, {
        method: "POST",
        body: request.body as Uint8Array<ArrayBuffer>,
        headers: request.headers,
      });
      const body = (await response.json()) as
        | JoinResponse
        | { error: { code: string; message: string; details?: Record<string, unknown> } };
      if ("error" in body) {
        if (response.status < 500)
          throw new TreatyError(
            body.error.code,
            `join refused by ${base}: ${body.error.message}`,
            body.error.details,
          );
        retrying("join: service busy, retrying", { node: base, code: body.error.code });
      } else if (done(body)) {
        return body;
      } else if (body.status === "pending") {
        const waitingFor = body.waitingFor ?? trustVoteReason(options.identity.id);
        waiting(waitingFor, `pending: ${waitingFor}`, base);
        options.onPending?.(waitingFor);
      } else {
        waiting("member", "join: waiting to become a voting member", base);
      }
    } catch (err) {
      if (err instanceof TreatyError) throw err;
      retrying("join: node unreachable, retrying", { node: base, err });
    }
    if (options.now() > deadline) throw new TreatyError("Timeout", "join: gave up waiting for the service");
    if (options.cancelled?.()) throw new TreatyError("Unavailable", "join: the node is stopping");
    waitMs = failures <= 1 ? pollMs : Math.min(waitMs * 2, pollMs * RETRY_MAX_FACTOR);
    await (options.sleep ?? sleep)(waitMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
