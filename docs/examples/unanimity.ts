/**
 * docs/governance.md ("Upgrading the constitution"): the default constitution's `resolve` rule
 * changed to unanimity, as a function of the counts `resolve` computes. The test checks the
 * "was:" comments against contracts/constitution/index.ts.
 */
export function resolveUnanimous(
  electorate: number,
  votesFor: number,
  votesAgainst: number,
): "Open" | "Accepted" | "Rejected" {
  // #region rule
  if (votesFor === electorate) return "Accepted"; // was: votesFor * 2 > electorate
  if (votesAgainst > 0) return "Rejected";        // was: (electorate - votesAgainst) * 2 <= electorate
  // #endregion rule
  return "Open";
}
