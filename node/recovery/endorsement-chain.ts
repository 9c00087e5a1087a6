/**
 * The chain of service endorsements that leads to a service identity: each identity a disaster
 * recovery made, endorsed by the one before it (`public:gov.serviceEndorsements`), oldest
 * first. Receipts and consistency proofs carry it (sdk/receipt.ts `serviceEndorsements`) so that
 * what a recovered service signed verifies against the original identity. The node reads the
 * links from its governance view (node/recovery/routes.ts); the offline CLI from the ledger's
 * entries (node/cli/ledger-identities.ts). Nothing here checks a signature: verifiers do.
 */
import type { ServiceEndorsement } from "../../sdk/receipt.js";
import type { ServiceEndorsementRecord } from "../gov/tables.js";

/** The link that endorsed `identity` (hex), if any. */
export type EndorsementLookup = (
  identity: string,
) => Pick<ServiceEndorsementRecord, "endorsedBy" | "signature"> | undefined;

/** The chain that leads to `identity` (hex), oldest first: empty for a service never recovered. */
export function endorsementChain(identity: string, lookup: EndorsementLookup): ServiceEndorsement[] {
  const chain: ServiceEndorsement[] = [];
  const seen = new Set<string>();
  for (let key = identity; !seen.has(key); ) {
    seen.add(key);
    const link = lookup(key);
    if (link === undefined) break;
    chain.unshift({ publicKey: key, endorsedBy: link.endorsedBy, signature: link.signature });
    key = link.endorsedBy;
  }
  return chain;
}
