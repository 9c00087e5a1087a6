/**
 * The one place a node meets the real world: wall clock, CSPRNG, structured logs on stderr,
 * NATS, signals. Everything below receives these as a `NodeRuntime`.
 */
import { randomBytes, randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AssertionFailure } from "../sdk/assert.js";
import { isTreatyError } from "../sdk/errors.js";
import { toHex } from "../sdk/bytes.js";
import { parseServiceFile } from "../sdk/client.js";
import { loadConfig, type NodeConfig } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import { natsTlsOptions, readNatsCredentials } from "./nats-config.js";
import { NodeRetired, type NodeRuntime, TreatyNode } from "./service.js";
import { NatsTransport } from "./transport/nats.js";

/**
 * Exit status of a node that stopped because stored state turned out damaged while it ran
 * (`LedgerCorrupt`: an LMDB page of the KV, a ledger entry), and of a start that found stored
 * state damaged (the LMDB start-up check, the ledger, or a data folder an earlier such stop marked
 * damaged, node/damage-marker.ts): a restart would meet the same damage (EX_IOERR in sysexits.h).
 * docs/deploy.md, "Damaged LMDB files".
 */
export const EXIT_STATE_DAMAGED = 74;

/**
 * Exit status of a node that stopped because governance retired it (its own record in its
 * committed state is `retired`, found at start or while catching up; the `NodeRetired` log
 * line names it): 0, the status of a clean stop, so a supervisor that restarts on failure
 * (systemd `Restart=on-failure`) leaves it down. docs/deploy.md, "Adding and retiring a node".
 */
export const EXIT_RETIRED = 0;

/** How long a process whose node failed to start may take to end by itself. */
const FAILED_START_EXIT_MS = 1000;

/** The production runtime for `config`. */
export function realRuntime(
  config: NodeConfig,
  logger: Logger = createLogger({ level: config.logLevel }),
): NodeRuntime {
  return {
    now: Date.now,
    randomBytes: (length) => new Uint8Array(randomBytes(length)),
    env: (name) => process.env[name],
    rng: { nextInt: (max) => randomInt(max) },
    logger,
    transport:
      config.nats === null
        ? null
        : ({ serviceId, identity, sessionEpoch }) => {
            const nats = config.nats!;
            const tls = natsTlsOptions(nats);
            const credentials = readNatsCredentials(nats, "nats");
            return NatsTransport.connect({
              servers: [...nats.servers],
              subjectPrefix: nats.subjectPrefix,
              ...(tls !== undefined && { tls }),
              ...(credentials !== undefined && { credentials }),
              serviceId,
              nodeId: identity.id,
              identity,
              sessionEpoch,
            });
          },
  };
}

/**
 * Exit status of a node that stopped on a broken invariant (`assert`: a bug) or an uncaught
 * exception: a restart would likely meet it again (EX_SOFTWARE in sysexits.h).
 */
export const EXIT_BROKEN_INVARIANT = 70;

/** The exit status of a node stopped by fatal error `err` (`TreatyNode.onFatal`). */
export function fatalExitStatus(err: unknown): number {
  if (err instanceof AssertionFailure) return EXIT_BROKEN_INVARIANT;
  if (isTreatyError(err, "LedgerCorrupt")) return EXIT_STATE_DAMAGED;
  return 1;
}

/**
 * Runs a node until SIGINT, SIGTERM or SIGHUP (clean stop, exit 0), until it finds governance
 * retired it (at start or while catching up: `EXIT_RETIRED`, 0) or a fatal error (exit 1;
 * `EXIT_BROKEN_INVARIANT`, 70, for a broken invariant; `EXIT_STATE_DAMAGED`, 74, for stored
 * state found damaged, which also marks the data folder damaged). A broken invariant (`assert`)
 * anywhere stops the process: it is a bug, and continuing could corrupt the ledger. A start that
 * finds stored state damaged (`LedgerCorrupt`: the LMDB start-up check, the ledger, a data folder
 * marked damaged) prints it on stderr and returns 74; other failed starts throw.
 */
export async function runNode(
  configFile: string,
  joinServiceFile?: string,
  recoverFrom?: { readonly ledgerDir: string; readonly snapshotFile?: string | undefined },
): Promise<number> {
  let config = loadConfig(configFile);
  if (recoverFrom !== undefined) {
    const { ledgerDir, snapshotFile } = recoverFrom;
    const recover = {
      ledgerDir: resolve(ledgerDir),
      ...(snapshotFile !== undefined && { snapshotFile: resolve(snapshotFile) }),
    };
    config = { ...config, genesis: null, join: null, recover };
  }
  if (joinServiceFile !== undefined) {
    const { serviceKey, nodes } = parseServiceFile(JSON.parse(readFileSync(joinServiceFile, "utf8")));
    config = { ...config, genesis: null, join: { nodes, serviceKey: toHex(serviceKey.publicKey) } };
  }
  const runtime = realRuntime(config);
  let node: TreatyNode;
  try {
    node = await TreatyNode.start(config, runtime);
  } catch (err) {
    // A failed start can leave a NATS client's first dial behind (it cannot be cancelled, e.g.
    // after a TLS handshake the server refused): end the process shortly after the CLI has
    // printed the error and set the exit code, instead of lingering.
    setTimeout(() => process.exit(), FAILED_START_EXIT_MS).unref();
    // Stored state found damaged at start (the LMDB start-up check, the ledger, or a data folder
    // marked damaged by an earlier fail-stop, node/damage-marker.ts): the same status as that
    // stop, so a supervisor that does not restart on 74 keeps it down rather than retrying.
    if (isTreatyError(err, "LedgerCorrupt")) {
      process.stderr.write(`treaty node start: ${err.code}: ${err.message}\n`);
      return EXIT_STATE_DAMAGED;
    }
    // Retired by governance (the node logged the `NodeRetired` line): not a failure to retry.
    if (err instanceof NodeRetired) return EXIT_RETIRED;
    throw err;
  }
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      void node.stop().finally(() => resolve(code));
    };
    node.onFatal((err) => stop(fatalExitStatus(err)));
    node.onRetired(() => stop(EXIT_RETIRED));
    // SIGHUP too: a closed terminal sends it to `treaty dev`'s node processes as well.
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => stop(0));
    process.on("uncaughtException", (err) => {
      runtime.logger.error(
        err instanceof AssertionFailure ? "invariant broken: stopping" : "uncaught exception: stopping",
        { err },
      );
      process.exit(EXIT_BROKEN_INVARIANT);
    });
  });
}
