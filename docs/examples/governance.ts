/**
 * docs/governance.md ("Walk-through with the SDK"), as a function of what an app would load:
 * the service file, two members' key files, the key of a new user and a contract's source.
 * test/docs/examples.test.ts runs it against a node whose genesis has the members alice and bob.
 */
// #region sdk
import { actions, Client, fromKeyFile, Governance, parseServiceFile } from "treaty/sdk";
// #endregion sdk
import type { PublicKey } from "treaty/sdk";

export async function walkthrough(
  serviceJson: string,
  aliceKeyJson: string,
  bobKeyJson: string,
  appKey: PublicKey,
  escrowSource: string,
): Promise<void> {
  // #region sdk
  const { serviceKey, nodes } = parseServiceFile(JSON.parse(serviceJson));
  const client = new Client({ nodes, serviceKey });
  const alice = new Governance(client, fromKeyFile(JSON.parse(aliceKeyJson)));
  const bob = new Governance(client, fromKeyFile(JSON.parse(bobKeyJson)));

  // A member or user is given by a key (only its curve and public key are used) or by
  // {publicKey, curve?} from a key file.
  const { proposalId } = await alice.propose([
    actions.setUser(appKey, { org: "Contoso" }),
    actions.deployContract("escrow", { "index.ts": escrowSource }),
  ]);
  await alice.vote(proposalId, "for");
  const { state } = await bob.vote(proposalId, "for"); // "Accepted": applied in this very transaction

  const decided = await alice.waitForFinal(proposalId); // final state, deciding tx committed
  console.log(decided.state, decided.ballots, decided.error);

  await alice.propose([actions.transitionServiceToOpen()]);
  console.log(await alice.members(), await alice.contracts(), await alice.service());
  // #endregion sdk
  if (state !== "Accepted") throw new Error(`expected the second ballot to accept, got ${state}`);
}
