/**
 * EIP-712 wallet requests and wallet members on a real node. ethers' `Wallet.signTypedData` (an
 * implementation we did not write, as MetaMask's `eth_signTypedData_v4` would be) signs
 * `treatyTypedData`; the node accepts the request as the wallet's address, and refuses a
 * signature by another address, for another service, path or body, a replay, a high-s twin and
 * malformed typed-data requests, writing nothing. A member recorded by address proposes, votes
 * and withdraws with wallet signatures, and its vote decides a proposal; what a wallet member
 * cannot be (a recovery share holder, a key to rotate) is refused with a code.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type HDNodeWallet, Wallet } from "ethers";
import { fromHex, toHex } from "../../sdk/bytes.js";
import {
  EIP712_SCHEME,
  HEADER_SIGNATURE_SCHEME,
  type TreatyTypedData,
  treatyTypedData,
  walletRequest,
  walletTypedRequest,
} from "../../sdk/ethereum.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair, keyId, toKeyFile } from "../../sdk/keys.js";
import {
  encodeBody,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  newNonce,
  type SignedRequest,
} from "../../sdk/request.js";
import { treaty } from "../support/cli.js";
import { startTestNode, type TestNode } from "../support/node.js";
import {
  type Eip1193Provider,
  ethersSigner,
  governAsWallet,
  metaMaskSigner,
} from "../../docs/examples/wallet-typed.js";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** ethers' typed-data signature (its types argument has no EIP712Domain). */
const signTyped = (wallet: HDNodeWallet) => ethersSigner(wallet).signTypedData!;

/**
 * Stands in for MetaMask's `window.ethereum`: takes the `eth_signTypedData_v4` JSON as MetaMask
 * does (a string it parses, EIP712Domain included) and signs it with ethers, so the payload
 * `metaMaskSigner` sends survives JSON as it is and names the domain type exactly.
 */
function walletProvider(wallet: HDNodeWallet): Eip1193Provider {
  return {
    request: async ({ method, params }) => {
      assert.equal(method, "eth_signTypedData_v4");
      const [address, json] = params as [string, string];
      assert.equal(address, wallet.address);
      const data = JSON.parse(json) as TreatyTypedData;
      const { EIP712Domain, ...types } = data.types;
      assert.deepEqual(EIP712Domain, [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "salt", type: "bytes32" },
      ]);
      assert.equal(data.primaryType, "TreatyRequest");
      return wallet.signTypedData(data.domain, { TreatyRequest: [...types.TreatyRequest] }, data.message);
    },
  };
}

/** The same signature with s' = n - s and the other recovery bit: valid math, refused by EIP-2. */
function highS(signatureHex: string): string {
  const signature = fromHex(signatureHex.slice(2));
  const s = BigInt(`0x${toHex(signature.subarray(32, 64))}`);
  signature.set(fromHex((SECP256K1_N - s).toString(16).padStart(64, "0")), 32);
  signature[64] = signature[64] === 27 ? 28 : 27;
  return `0x${toHex(signature)}`;
}

async function accepted(gov: Governance, action: Parameters<Governance["propose"]>[0]) {
  const { proposalId } = await gov.propose(action);
  await gov.vote(proposalId, "for");
  assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
}

describe("EIP-712 wallets and wallet members", () => {
  let t: TestNode;
  let keyMember: Governance;
  const user = Wallet.createRandom();
  const member = Wallet.createRandom();

  before(async () => {
    t = await startTestNode();
    keyMember = new Governance(t.client(t.member), t.member);
    await accepted(keyMember, [actions.setWalletUser(user.address, { name: "typed" })]);
  });
  after(() => t?.dispose());

  it("a call signed with ethers' signTypedData runs as the wallet's address", async () => {
    const client = t.client(null, { wallet: metaMaskSigner(walletProvider(user), user.address) });
    const opened = await client.call<{ id: string }>("bank", "openAccount", {});
    assert.equal(opened.result.id, user.address.toLowerCase(), "caller().id is the address");
    await client.waitForCommit(opened.txid);
    const read = await client.call("bank", "balance", {}, { consistency: "linearizable" });
    assert.deepEqual(read.result, { balance: 0 });
    // Over MessagePack too: the signature covers the exact body bytes, whatever their encoding.
    const msgpack = t.client(null, { wallet: ethersSigner(user), encoding: "msgpack" });
    assert.deepEqual((await msgpack.call("bank", "balance", {})).result, { balance: 0 });
  });

  it("refuses another address, service, path or body, a high s, malformed requests and a replay, writing nothing", async () => {
    const path = "/app/log/writePublic";
    const args = { id: 3, msg: "typed" };
    const sign = signTyped(user);
    const code = async (request: Pick<SignedRequest, "body" | "headers">, to = path) =>
      (await t.post(to, request.body, request.headers)).code;
    const good = await walletTypedRequest(sign, user.address, t.node.serviceId, path, args);
    assert.equal(good.headers[HEADER_SIGNATURE_SCHEME], EIP712_SCHEME);
    const before = await t.settled();

    const other = Wallet.createRandom();
    const forged = await walletTypedRequest(signTyped(other), user.address, t.node.serviceId, path, args);
    assert.equal(await code(forged), "BadSignature", "signed by another wallet");
    const stranger = await walletTypedRequest(signTyped(other), other.address, t.node.serviceId, path, args);
    assert.equal(await code(stranger), "UnknownCaller", "an unrecorded address");
    const elsewhere = await walletTypedRequest(sign, user.address, keyId(generateKeyPair()), path, args);
    assert.equal(await code(elsewhere), "BadSignature", "signed for another service");
    assert.equal(await code(good, "/app/log/writePrivate"), "BadSignature", "sent to another path");
    const otherBody = encodeBody(
      { args: { id: 4, msg: "typed" }, nonce: newNonce(), createdMs: Date.now() },
      "json",
    );
    assert.equal(await code({ ...good, body: otherBody }), "BadSignature", "with another body");
    const malleated = {
      ...good,
      headers: { ...good.headers, [HEADER_SIGNATURE]: highS(good.headers[HEADER_SIGNATURE]!) },
    };
    assert.equal(await code(malleated), "BadSignature", "high s");
    const personal = await walletRequest(
      (text) => user.signMessage(text),
      user.address,
      t.node.serviceId,
      path,
      args,
    );
    assert.equal(
      await code({ ...personal, headers: { ...personal.headers, [HEADER_SIGNATURE_SCHEME]: EIP712_SCHEME } }),
      "BadSignature",
      "a personal_sign signature presented as typed data",
    );
    // Malformed: the signature header, the scheme's spelling, a body without nonce/createdMs.
    for (const signature of [
      "0x1234",
      good.headers[HEADER_SIGNATURE]!.slice(2),
      `${good.headers[HEADER_SIGNATURE]}00`,
    ])
      assert.equal(
        await code({ ...good, headers: { ...good.headers, [HEADER_SIGNATURE]: signature } }),
        "MalformedRequest",
      );
    assert.equal(
      await code({ ...good, headers: { ...good.headers, [HEADER_SIGNATURE_SCHEME]: "EIP-712" } }),
      "MalformedRequest",
    );
    const noNonce = encodeBody({ args, createdMs: Date.now() }, "json");
    const typedNoNonce = treatyTypedData(t.node.serviceId, path, noNonce, {
      nonce: newNonce(),
      createdMs: Date.now(),
    });
    const unsignedNonce = {
      body: noNonce,
      headers: { ...good.headers, [HEADER_SIGNATURE]: await sign(typedNoNonce) },
    };
    const answer = await t.post(path, unsignedNonce.body, unsignedNonce.headers);
    assert.equal(answer.code, "MalformedRequest");
    assert.match(JSON.stringify(answer.json), /body\.nonce: required/);
    const stale = await walletTypedRequest(sign, user.address, t.node.serviceId, path, args, {
      createdMs: Date.now() - 3_600_000,
    });
    assert.equal(await code(stale), "StaleRequest");
    assert.equal(await t.settled(), before, "nothing was written");

    const first = await t.post(path, good.body, good.headers);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(await code(good), "Replay", "the same signed bytes again");
    assert.equal(good.headers[HEADER_CALLER], user.address.toLowerCase());
  });

  it("a member recorded by address proposes, votes (deciding) and withdraws with wallet signatures", async () => {
    const address = member.address.toLowerCase();
    await accepted(keyMember, [actions.setWalletMember(member.address, { name: "dao" })]);
    const listed = (await keyMember.members()).find((m) => m.id === address);
    assert.ok(listed !== undefined && "address" in listed && listed.address === address, "listed by address");
    assert.equal(listed.name, "dao");

    const typed = new Governance(t.client(null), ethersSigner(member));
    const personal = new Governance(t.client(null), {
      address: member.address,
      signText: (text) => member.signMessage(text),
    });
    assert.equal(typed.memberId, address);

    // Two members now: a strict majority is both. The wallet proposes (EIP-712) and votes first.
    const newUser = generateKeyPair();
    const proposalId = await governAsWallet([t.url], t.serviceKey, ethersSigner(member), newUser);
    await t.settled(); // governance reads serve committed state
    assert.equal((await typed.proposal(proposalId)).state, "Open");
    assert.equal((await keyMember.vote(proposalId, "for")).state, "Accepted");
    const detail = await typed.waitForFinal(proposalId);
    assert.equal(detail.proposer, address);
    assert.deepEqual(detail.ballots, { [address]: "for", [t.member.id]: "for" });
    assert.ok((await typed.users()).some((u) => u.id === newUser.id));

    // The key member proposes; the wallet's EIP-191 ballot is the deciding one.
    const removal = await keyMember.propose([actions.removeUser(newUser.id)]);
    assert.equal((await keyMember.vote(removal.proposalId, "for")).state, "Open");
    assert.equal((await personal.vote(removal.proposalId, "for")).state, "Accepted");

    // The wallet withdraws its own proposal, not the key member's.
    const mine = await personal.propose([actions.setUser(generateKeyPair())]);
    const theirs = await keyMember.propose([actions.setUser(generateKeyPair())]);
    await assert.rejects(typed.withdraw(theirs.proposalId), (err) => isTreatyError(err, "Forbidden"));
    assert.equal((await typed.withdraw(mine.proposalId)).state, "Withdrawn");
    await keyMember.withdraw(theirs.proposalId);

    // A member-only method of a contract sees the wallet as a member.
    const asMember = t.client(null, { wallet: ethersSigner(member) });
    assert.deepEqual((await asMember.call("bank", "totalSupply", {})).result, { supply: 0 });
  });

  it("refuses what a wallet member cannot be: a recovery share holder, a key to rotate, also a user", async () => {
    const address = member.address.toLowerCase();
    const typed = new Governance(t.client(null), ethersSigner(member));
    await assert.rejects(
      typed.propose([
        {
          name: "set_member",
          args: { address: Wallet.createRandom().address.toLowerCase(), encryptionKey: "11".repeat(32) },
        },
      ]),
      (err) =>
        isTreatyError(err, "ProposalInvalid") &&
        /encryptionKey: a wallet member holds no recovery share/.test(err.message),
    );
    await assert.rejects(
      typed.propose([{ name: "set_member", args: { address: member.address } }]),
      (err) =>
        isTreatyError(err, "ProposalInvalid") && /address: expected an Ethereum address/.test(err.message),
      "checksummed (mixed-case) addresses are refused: ids are lowercase",
    );
    const rotate = await typed.propose([actions.rotateMemberKey(address, generateKeyPair())]);
    await typed.vote(rotate.proposalId, "for");
    await keyMember.vote(rotate.proposalId, "for");
    const failed = await typed.waitForFinal(rotate.proposalId);
    assert.equal(failed.state, "Failed");
    assert.equal(failed.error?.code, "WalletMember");
    const asUser = await typed.propose([actions.setWalletUser(member.address)]);
    await typed.vote(asUser.proposalId, "for");
    await keyMember.vote(asUser.proposalId, "for");
    const conflict = await typed.waitForFinal(asUser.proposalId);
    assert.equal(conflict.state, "Failed");
    assert.equal(conflict.error?.code, "RoleConflict");
    // Removing the wallet member by its address works, and its signatures stop counting.
    const removal = await keyMember.propose([actions.removeMember(address)]);
    await keyMember.vote(removal.proposalId, "for");
    assert.equal((await typed.vote(removal.proposalId, "for")).state, "Accepted");
    await typed.waitForFinal(removal.proposalId);
    await assert.rejects(typed.propose([actions.setUser(generateKeyPair())]), (err) =>
      isTreatyError(err, "UnknownCaller"),
    );
  });

  it("the CLI signs as a wallet member with --wallet (a secp256k1 key file's address, EIP-712)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-wallet-cli-"));
    try {
      const keyFile = join(dir, "wallet.json");
      const made = await treaty("keygen", "--out", keyFile, "--curve", "secp256k1");
      assert.equal(made.code, 0, made.stderr);
      const { address } = JSON.parse(made.stdout) as { address: string };
      const { privateKey } = JSON.parse(readFileSync(keyFile, "utf8")) as { privateKey: string };
      const walletKey = new Wallet(`0x${privateKey}`);
      assert.equal(address, walletKey.address.toLowerCase(), "keygen prints the address ethers derives");
      await accepted(keyMember, [actions.setWalletMember(address)]);

      const proposal = join(dir, "proposal.json");
      writeFileSync(
        proposal,
        JSON.stringify({ actions: [actions.setUser(generateKeyPair(), { name: "by-cli" })] }),
      );
      const as = ["--key", keyFile, "--wallet", "--node", t.url];
      const proposed = await treaty("propose", proposal, ...as);
      assert.equal(proposed.code, 0, proposed.stderr);
      const { proposalId } = JSON.parse(proposed.stdout) as { proposalId: string };
      assert.equal((await keyMember.proposal(proposalId)).proposer, address);
      const voted = await treaty("vote", proposalId, "--for", ...as);
      assert.equal(voted.code, 0, voted.stderr);
      assert.equal((JSON.parse(voted.stdout) as { state: string }).state, "Open");
      assert.equal((await keyMember.vote(proposalId, "for")).state, "Accepted");

      // Without --wallet the same file signs as its Treaty key id, which is no member.
      const asKey = await treaty("vote", proposalId, "--for", "--key", keyFile, "--node", t.url);
      assert.equal(asKey.code, 1);
      assert.match(asKey.stdout, /UnknownCaller/);
      const memberFile = join(dir, "member.json");
      writeFileSync(memberFile, JSON.stringify(toKeyFile(t.member)));
      const notSecp = await treaty(
        "vote",
        proposalId,
        "--for",
        "--key",
        memberFile,
        "--wallet",
        "--node",
        t.url,
      );
      assert.equal(notSecp.code, 2);
      assert.match(notSecp.stderr, /--wallet: .* is a ed25519 key; an Ethereum wallet key is secp256k1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
