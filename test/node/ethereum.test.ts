/**
 * Ethereum wallets as users on a real node: a user recorded by address calls with EIP-191
 * signatures made by ethers (an implementation we did not write, as MetaMask's would be); the
 * contract sees the address as caller; a signature by another address, for another service,
 * or a replayed nonce is refused and changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Wallet } from "ethers";
import {
  EIP191_SCHEME,
  ethereumAddress,
  HEADER_SIGNATURE_SCHEME,
  isEthereumAddress,
  recoverPersonalSigner,
  walletRequest,
  walletRequestText,
} from "../../sdk/ethereum.js";
import { fromHex, toBase64Url } from "../../sdk/bytes.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair, keyId } from "../../sdk/keys.js";
import { HEADER_CALLER, HEADER_SIGNATURE } from "../../sdk/request.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("EIP-191 wallet signatures (ethers)", () => {
  it("recovers the address ethers signs with, and nothing else", async () => {
    const wallet = Wallet.createRandom();
    const text = walletRequestText("ab".repeat(32), "/app/log/readPublic", new Uint8Array([1, 2, 3]));
    const signature = fromHex((await wallet.signMessage(text)).slice(2));
    const address = wallet.address.toLowerCase();
    assert.ok(isEthereumAddress(address));
    assert.equal(recoverPersonalSigner(text, signature), address);
    assert.equal(ethereumAddress(fromHex(wallet.signingKey.compressedPublicKey.slice(2))), address);
    assert.notEqual(recoverPersonalSigner(`${text} `, signature), address, "another text");
    const highS = signature.slice();
    // s' = n - s: the same signature, malleated (EIP-2 refuses it).
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${Buffer.from(signature.subarray(32, 64)).toString("hex")}`);
    highS.set(fromHex((n - s).toString(16).padStart(64, "0")), 32);
    highS[64] = signature[64] === 27 ? 28 : 27;
    assert.equal(recoverPersonalSigner(text, highS), undefined);
    assert.equal(recoverPersonalSigner(text, signature.subarray(0, 64)), undefined, "65 bytes only");
  });
});

describe("a wallet user calls contracts", () => {
  let t: TestNode;
  const wallet = Wallet.createRandom();
  const address = wallet.address.toLowerCase();
  const signText = (text: string) => wallet.signMessage(text);

  before(async () => {
    t = await startTestNode();
    const gov = new Governance(t.client(t.member), t.member);
    const { proposalId } = await gov.propose([actions.setWalletUser(wallet.address, { name: "metamask" })]);
    await gov.vote(proposalId, "for");
    assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
  });
  after(() => t?.dispose());

  it("a call signed by the wallet runs as the wallet's address", async () => {
    const client = t.client(null, { wallet: { address: wallet.address, signText } });
    const { txid } = await client.call("log", "writePrivate", { id: 1, msg: "from a wallet" });
    await client.waitForCommit(txid);
    const read = await client.call("log", "readPrivate", { id: 1 });
    assert.deepEqual(read.result, { msg: "from a wallet" });
    const users = await t.client().get<Record<string, unknown>>(`/gov/users`);
    assert.ok(JSON.stringify(users).includes(address), "recorded under its address");
  });

  it("refuses another address, another service, a replayed nonce and a bad scheme, writing nothing", async () => {
    const before = await t.settled();
    const path = "/app/log/writePublic";
    const args = { id: 2, msg: "x" };
    const post = async (request: { body: Uint8Array; headers: Readonly<Record<string, string>> }) =>
      (await t.post(path, request.body, request.headers)).code;
    // Signed by another wallet, claiming to be ours.
    const other = Wallet.createRandom();
    const forged = await walletRequest(
      (text) => other.signMessage(text),
      wallet.address,
      t.node.serviceId,
      path,
      args,
    );
    assert.equal(await post(forged), "BadSignature");
    // Signed by our wallet, for another service.
    const elsewhere = await walletRequest(signText, wallet.address, keyId(generateKeyPair()), path, args);
    assert.equal(await post(elsewhere), "BadSignature");
    // An unknown address.
    const stranger = await walletRequest(
      (text) => other.signMessage(text),
      other.address,
      t.node.serviceId,
      path,
      args,
    );
    assert.equal(await post(stranger), "UnknownCaller");
    // Malformed signature and scheme.
    const good = await walletRequest(signText, wallet.address, t.node.serviceId, path, args);
    assert.equal(
      await post({ ...good, headers: { ...good.headers, [HEADER_SIGNATURE]: "0x1234" } }),
      "MalformedRequest",
    );
    assert.equal(
      await post({ ...good, headers: { ...good.headers, [HEADER_SIGNATURE_SCHEME]: "eip712x" } }),
      "MalformedRequest",
    );
    // A Treaty-scheme request cannot claim the wallet's id.
    const { [HEADER_SIGNATURE_SCHEME]: _scheme, ...treatyHeaders } = good.headers;
    assert.equal(_scheme, EIP191_SCHEME);
    assert.equal(
      await post({
        ...good,
        headers: { ...treatyHeaders, [HEADER_SIGNATURE]: toBase64Url(new Uint8Array(64)) },
      }),
      "BadSignature",
    );
    assert.equal(await t.settled(), before, "nothing was written");
    // The genuine request runs once; the same bytes again are a replay.
    const first = await t.post(path, good.body, good.headers);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(await post(good), "Replay");
    assert.equal(good.headers[HEADER_CALLER], address);
  });
});
