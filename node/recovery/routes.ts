/**
 * The recovery share endpoints, served from this node's committed governance view:
 *
 *   GET /gov/recovery                   → {round, threshold, holders, ledgerSecretVersions, serviceIdentity}
 *   GET /gov/recovery/shares/:memberId  → that member's sealed share (sdk/recovery.ts SealedShare)
 *
 * Shares are public (sealed to each member's encryption key); only their holder can open one.
 */
import { TreatyError } from "../../sdk/errors.js";
import type { SealedShare } from "../../sdk/recovery.js";
import type { ServiceEndorsement } from "../../sdk/receipt.js";
import { GOV, type ServiceEndorsementRecord, SINGLETON_KEY } from "../gov/tables.js";
import type { GovView } from "../gov/view.js";
import type { Router } from "../http/server.js";
import { endorsementChain } from "./endorsement-chain.js";
import type { RecoveryRecord } from "./shares.js";

/** Adds the share read endpoints to `router`. */
export function addRecoveryShareRoutes(router: Router, gov: GovView): Router {
  return router
    .add("GET", "/gov/recovery", async () => {
      const record = gov.row<RecoveryRecord>(GOV.recovery, SINGLETON_KEY);
      if (record === undefined)
        throw new TreatyError(
          "NotFound",
          "no recovery shares have been issued (the service is not open, or too few members have an encryption key)",
        );
      return {
        body: {
          round: record.round,
          threshold: record.threshold,
          holders: Object.keys(record.digests).sort(),
          ledgerSecretVersions: record.ledgerSecretVersions,
          serviceIdentity: record.serviceIdentity,
        },
      };
    })
    .add("GET", "/gov/recovery/shares/:memberId", async (req) => {
      const share = gov.row<SealedShare>(GOV.recoveryShares, req.params.memberId!);
      if (share === undefined)
        throw new TreatyError("NotFound", `member ${req.params.memberId}: holds no recovery share`);
      return { body: share };
    });
}

/**
 * The chain of service endorsements that leads to `identity` (hex), oldest first: empty for a
 * service never recovered. Receipts carry it (sdk/receipt.ts `serviceEndorsements`).
 */
export function serviceEndorsementChain(gov: GovView, identity: string): ServiceEndorsement[] {
  return endorsementChain(identity, (key) => gov.row<ServiceEndorsementRecord>(GOV.serviceEndorsements, key));
}
