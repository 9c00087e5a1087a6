/**
 * docs/identities.md ("Ethereum wallets"): a member adds a wallet user by address, and the app
 * calls as that wallet, each request signed with `personal_sign` (here an ethers wallet; in a
 * page, the user's MetaMask signer). test/node/ethereum.test.ts runs the same flow.
 */
import type { Wallet } from "ethers";
import { actions, Client, type Governance, type PublicKey } from "treaty/sdk";

export async function callAsWallet(gov: Governance, nodes: string[], serviceKey: PublicKey, wallet: Wallet) {
  // #region wallet
  await gov.propose([actions.setWalletUser(wallet.address, { name: "dana" })]); // then members vote
  const client = new Client({
    nodes,
    serviceKey,
    wallet: { address: wallet.address, signText: (text) => wallet.signMessage(text) },
  });
  // #endregion wallet
  return client.call("log", "writePrivate", { id: 1, msg: "from a wallet" });
}
