/**
 * docs/identities.md ("EIP-712 typed data", "Wallet members"): a dapp signs Treaty requests
 * with MetaMask's `eth_signTypedData_v4` (any EIP-1193 provider), or with ethers; a member
 * recorded by address governs with the same signer. test/node/ethereum-typed.test.ts runs the
 * same flow with ethers.
 */
import type { HDNodeWallet } from "ethers";
import {
  actions,
  Client,
  Governance,
  type PublicKey,
  type TreatyTypedData,
  type WalletSigner,
} from "treaty/sdk";

/** What MetaMask injects as `window.ethereum` (EIP-1193), as far as signing needs it. */
export interface Eip1193Provider {
  request(args: { method: string; params: unknown[] }): Promise<unknown>;
}

// #region metamask
export function metaMaskSigner(ethereum: Eip1193Provider, address: string): WalletSigner {
  return {
    address,
    signTypedData: async (data: TreatyTypedData) =>
      (await ethereum.request({
        method: "eth_signTypedData_v4",
        params: [address, JSON.stringify(data)],
      })) as string,
  };
}
// #endregion metamask

// #region ethers
export function ethersSigner(wallet: HDNodeWallet): WalletSigner {
  return {
    address: wallet.address,
    // ethers takes the types without EIP712Domain (it derives the domain type itself).
    signTypedData: (data) =>
      wallet.signTypedData(data.domain, { TreatyRequest: [...data.types.TreatyRequest] }, data.message),
  };
}
// #endregion ethers

export async function governAsWallet(
  nodes: string[],
  serviceKey: PublicKey,
  signer: WalletSigner,
  appKey: PublicKey,
) {
  // #region member
  const client = new Client({ nodes, serviceKey, wallet: signer });
  const gov = new Governance(client, signer); // a member recorded by address (set_member {address})
  const { proposalId } = await gov.propose([actions.setUser(appKey, { name: "app" })]);
  await gov.vote(proposalId, "for"); // then the other members vote
  // #endregion member
  return proposalId;
}
