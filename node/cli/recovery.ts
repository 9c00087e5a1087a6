/**
 * `treaty recovery share`: a member's part in a disaster recovery. Fetches the member's sealed
 * share from a node waiting in RecoveryShares, opens it with the encryption key in the member's
 * key file, re-seals it to that node and submits it signed (sdk/recovery.ts
 * `submitRecoveryShare`). See docs/recovery.md.
 */
import { readFileSync } from "node:fs";
import { TreatyError } from "../../sdk/errors.js";
import { parsePublicKey } from "../../sdk/keys.js";
import { encryptionKeyFromFile, submitRecoveryShare } from "../../sdk/recovery.js";
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.js";
import { readKeyFile } from "./options.js";
import {
  fetchJson,
  printJsonTo,
  processRemoteIo,
  NODE_USAGE,
  REMOTE_FLAGS,
  TIMEOUT_USAGE,
  remoteTarget,
  reportingErrors,
} from "./status.js";

export const recoveryShareCommand: Command = {
  path: ["recovery", "share"],
  summary: "submit this member's recovery share to a recovering node",
  usage: `Usage: treaty recovery share --key <member key file> [--node <url>] [--service <file>] [--timeout <ms>]

Submits the member's recovery share to a node started with --recover that waits for shares
("state": "RecoveryShares" in /node/status). The share is opened locally with the encryption key
in the key file ("encryption" section, from \`treaty keygen --encryption\`), re-sealed to the
recovering node's key and sent in a request signed with the member key. Prints
{"received", "needed", "state"}: "Recovering" once the node has enough shares.
  --key <file>        the member's key file, with its encryption key; required
${NODE_USAGE}
  --service <file>    the LOST service's service.json: pins its identity, for which the share
                      request is signed (without it: the previousServiceKey the node reports in
                      /node/status, unpinned, and a warning says so). TLS is not checked: a
                      recovering node serves a provisional certificate no service endorses yet
${TIMEOUT_USAGE}
Exit codes: 0 accepted, 1 refused (InvalidRecoveryShare: not this member's share; DecryptionFailed:
the share is sealed to another encryption key) or the node failed, 2 usage.`,
  async run(argv) {
    const { values } = parseFlags(argv, { ...REMOTE_FLAGS, key: { type: "string" } }, false);
    if (!values.key) throw new UsageError("--key <member key file> is required");
    const member = readKeyFile(values.key);
    let encryption: ReturnType<typeof encryptionKeyFromFile>;
    try {
      encryption = encryptionKeyFromFile(JSON.parse(readFileSync(values.key, "utf8")));
    } catch (err) {
      throw new UsageError(`--key: ${(err as Error).message}`);
    }
    const io = processRemoteIo;
    // A recovering node serves a provisional certificate: no service endorses it yet, so TLS
    // cannot be pinned; as for the encryption key the share is sealed to, the operator's choice
    // of --node is what vouches for the node (docs/recovery.md).
    const target = remoteTarget(values, io, "unpinned");
    return reportingErrors("recovery share", io, async () => {
      let serviceKey = target.service?.serviceKey;
      if (serviceKey === undefined) {
        const status = await fetchJson<{ previousServiceKey?: { curve?: unknown; publicKey?: unknown } }>(
          target,
          "/node/status",
        );
        if (status.previousServiceKey === undefined)
          throw new TreatyError("Conflict", `${target.node}: not waiting for recovery shares`);
        serviceKey = parsePublicKey(
          status.previousServiceKey.curve,
          status.previousServiceKey.publicKey,
          "status.previousServiceKey",
        );
        io.err(
          `treaty recovery share: warning: no --service file: signing for the service ${status.previousServiceKey.publicKey} reported by ${target.node} (not pinned)\n`,
        );
      }
      const result = await submitRecoveryShare({
        node: target.node,
        member,
        encryption,
        serviceKey,
        fetch: target.fetch,
      });
      printJsonTo(io, result);
      return EXIT_OK;
    });
  },
};
