/**
 * Admission with its signature checks on the verify worker pool: every hostile request gets the
 * same coded error as with checks on the main thread (in the same order of checks: a request that
 * is both badly signed and stale is BadSignature), and concurrent admissions each get their own
 * caller and request digest, never another request's.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Wallet } from "ethers";
import { toBase64Url, utf8 } from "../../sdk/bytes.js";
import {
  EIP191_SCHEME,
  EIP712_SCHEME,
  HEADER_SIGNATURE_SCHEME,
  TREATY_TYPES,
  walletRequest,
  walletSignedBytes,
  walletTypedRequest,
} from "../../sdk/ethereum.js";
import { generateKeyPair, type KeyPair, sign } from "../../sdk/keys.js";
import {
  CONTENT_JSON,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  newNonce,
  parseBody,
  type SignedRequest,
  signingInput,
  signRequest,
} from "../../sdk/request.js";
import { toHex } from "../../sdk/bytes.js";
import { sha256 } from "../../runtime/crypto.js";
import { type AdmissionContext, admit, signingPrefix } from "../../node/admission.js";
import { admitBearer } from "../../node/auth/bearer.js";
import { GovView } from "../../node/gov/view.js";
import { GOV } from "../../node/gov/tables.js";
import { silentLogger } from "../../node/log.js";
import { inlineVerifier, type SignatureVerifier, VerifierPool } from "../../node/verify/index.js";

const SERVICE_ID = "ab".repeat(32);
const PATH = "/app/log/writePublic";
const NOW_MS = 1_700_000_000_000;
const WINDOW_MS = 60_000;

const user = generateKeyPair("ed25519");
const member = generateKeyPair("p256");
const stranger = generateKeyPair("ed25519");
const wallet = Wallet.createRandom();
const walletAddress = wallet.address.toLowerCase();

function govView(): GovView {
  const row = (key: string, value: unknown) =>
    [utf8.encode(key), utf8.encode(JSON.stringify(value))] as const;
  const gov = new GovView();
  gov.applyWrites([
    {
      map: GOV.members,
      writes: [row(member.id, { curve: "p256", publicKey: toHex(member.publicKey), status: "active" })],
    },
    {
      map: GOV.users,
      writes: [
        row(user.id, { curve: "ed25519", publicKey: toHex(user.publicKey) }),
        row(walletAddress, { address: walletAddress }),
      ],
    },
  ]);
  return gov;
}

function signed(
  signer: KeyPair,
  body: Record<string, unknown>,
  path = PATH,
  callerId = signer.id,
): SignedRequest {
  const bytes = utf8.encode(JSON.stringify(body));
  return {
    path,
    body: bytes,
    headers: {
      "content-type": CONTENT_JSON,
      [HEADER_CALLER]: callerId,
      [HEADER_SIGNATURE]: toBase64Url(sign(signer, signingInput(SERVICE_ID, path, bytes))),
    },
  };
}

function fresh(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { args: { id: 1, msg: "m" }, nonce: newNonce(), createdMs: NOW_MS, ...extra };
}

/** The admission's outcome as a string: the error code, or the caller and request digest. */
async function outcome(
  verifier: SignatureVerifier,
  request: SignedRequest,
  governanceMayLag?: () => boolean,
): Promise<string> {
  const ctx: AdmissionContext = {
    serviceId: SERVICE_ID,
    gov: govView(),
    nowMs: NOW_MS,
    freshnessWindowMs: WINDOW_MS,
    verifier,
    ...(governanceMayLag && { governanceMayLag }),
  };
  try {
    const admitted = await admit(ctx, PATH, request.headers, request.body);
    const digest = admitted.requestDigest === null ? "-" : toHex(admitted.requestDigest);
    return `ok ${admitted.caller?.id ?? "anyone"} ${digest}`;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** secp256k1's group order: `n - s` is the high-s twin of a signature's `s`. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** `request` with its wallet signature (`0x` + r ‖ s ‖ v in hex) changed by `change`. */
function withWalletSignature(
  request: SignedRequest,
  change: (parts: { r: string; s: bigint; v: number }) => { r: string; s: bigint; v: number } | string,
): SignedRequest {
  const hex = (request.headers[HEADER_SIGNATURE] as string).slice(2);
  const changed = change({
    r: hex.slice(0, 64),
    s: BigInt(`0x${hex.slice(64, 128)}`),
    v: Number.parseInt(hex.slice(128), 16),
  });
  const value =
    typeof changed === "string"
      ? changed
      : `0x${changed.r}${changed.s.toString(16).padStart(64, "0")}${changed.v.toString(16).padStart(2, "0")}`;
  return { ...request, headers: { ...request.headers, [HEADER_SIGNATURE]: value } };
}

function walletDigestOf(request: SignedRequest): string {
  const scheme = request.headers[HEADER_SIGNATURE_SCHEME] === EIP712_SCHEME ? EIP712_SCHEME : EIP191_SCHEME;
  return toHex(
    sha256(walletSignedBytes(scheme, SERVICE_ID, PATH, request.body, parseBody(request.body, "json"))),
  );
}

function digestOf(request: SignedRequest): string {
  return toHex(sha256(signingInput(SERVICE_ID, PATH, request.body)));
}

async function hostileCases(): Promise<Array<{ name: string; request: SignedRequest; expected: string }>> {
  const good = signed(user, fresh());
  const { [HEADER_SIGNATURE]: _signature, ...callerOnly } = good.headers;
  const walletGood = await walletRequest(
    (text) => wallet.signMessage(text),
    walletAddress,
    SERVICE_ID,
    PATH,
    { id: 2 },
    { createdMs: NOW_MS },
  );
  const otherWallet = Wallet.createRandom();
  const walletForged = await walletRequest(
    (text) => otherWallet.signMessage(text),
    walletAddress,
    SERVICE_ID,
    PATH,
    { id: 3 },
    { createdMs: NOW_MS },
  );
  const signTyped = (signer: typeof wallet) => (d: Parameters<Parameters<typeof walletTypedRequest>[0]>[0]) =>
    signer.signTypedData(d.domain, { TreatyRequest: [...TREATY_TYPES.TreatyRequest] }, d.message);
  const typedGood = await walletTypedRequest(
    signTyped(wallet),
    walletAddress,
    SERVICE_ID,
    PATH,
    { id: 4 },
    {
      createdMs: NOW_MS,
    },
  );
  const typedForged = await walletTypedRequest(
    signTyped(otherWallet),
    walletAddress,
    SERVICE_ID,
    PATH,
    { id: 5 },
    { createdMs: NOW_MS },
  );
  const strangerWallet = Wallet.createRandom();
  const strangerAddress = strangerWallet.address.toLowerCase();
  const unknownWallet = await walletRequest(
    (text) => strangerWallet.signMessage(text),
    strangerAddress,
    SERVICE_ID,
    PATH,
    { id: 6 },
    { createdMs: NOW_MS },
  );
  const otherV = (v: number) => (v === 27 ? 28 : 27);
  const memberGood = signed(member, fresh());
  const elsewhere = signed(user, fresh(), "/app/log/other");
  const stale = signed(user, fresh({ createdMs: NOW_MS - 2 * WINDOW_MS }));
  const staleForged = signed(stranger, fresh({ createdMs: NOW_MS - 2 * WINDOW_MS }), PATH, user.id);
  return [
    {
      name: "unsigned",
      request: { path: PATH, body: utf8.encode('{"args":1}'), headers: {} },
      expected: "ok anyone -",
    },
    { name: "a user's good request", request: good, expected: `ok ${user.id} ${digestOf(good)}` },
    {
      name: "a member's good request (p256)",
      request: memberGood,
      expected: `ok ${member.id} ${digestOf(memberGood)}`,
    },
    {
      name: "a wallet's good request",
      request: walletGood,
      expected: `ok ${walletAddress} ${toHex(sha256(utf8.encode(`Treaty request\nservice: ${SERVICE_ID}\npath: ${PATH}\nbody-sha256: ${toHex(sha256(walletGood.body))}`)))}`,
    },
    { name: "caller header only", request: { ...good, headers: callerOnly }, expected: "MalformedRequest" },
    {
      name: "unknown signature scheme",
      request: { ...good, headers: { ...good.headers, [HEADER_SIGNATURE_SCHEME]: "rsa" } },
      expected: "MalformedRequest",
    },
    { name: "unknown caller", request: signed(stranger, fresh()), expected: "UnknownCaller" },
    {
      name: "signed by another key",
      request: signed(stranger, fresh(), PATH, user.id),
      expected: "BadSignature",
    },
    { name: "signed for another path", request: { ...elsewhere, path: PATH }, expected: "BadSignature" },
    {
      name: "signed for another service",
      request: signRequest(user, "cd".repeat(32), PATH, 1, { createdMs: NOW_MS }),
      expected: "BadSignature",
    },
    {
      name: "a key user's request under the wallet scheme",
      request: {
        ...good,
        headers: {
          ...good.headers,
          [HEADER_SIGNATURE_SCHEME]: EIP191_SCHEME,
          [HEADER_SIGNATURE]: `0x${"11".repeat(65)}`,
        },
      },
      expected: "BadSignature",
    },
    {
      name: "a wallet user's request under the Treaty scheme",
      request: signed(user, fresh(), PATH, walletAddress),
      expected: "BadSignature",
    },
    { name: "a wallet request signed by another wallet", request: walletForged, expected: "BadSignature" },
    {
      name: "a wallet's good request with v 0/1",
      request: withWalletSignature(walletGood, (p) => ({ ...p, v: p.v - 27 })),
      expected: `ok ${walletAddress} ${walletDigestOf(walletGood)}`,
    },
    {
      name: "a wallet's good request with the wrong v",
      request: withWalletSignature(walletGood, (p) => ({ ...p, v: otherV(p.v) })),
      expected: "BadSignature",
    },
    {
      name: "a wallet's good request with v 29",
      request: withWalletSignature(walletGood, (p) => ({ ...p, v: 29 })),
      expected: "BadSignature",
    },
    {
      name: "a wallet's good request as its high-s twin (valid ECDSA, refused by EIP-2)",
      request: withWalletSignature(walletGood, (p) => ({ ...p, s: SECP256K1_N - p.s, v: otherV(p.v) })),
      expected: "BadSignature",
    },
    {
      name: "a wallet signature with s = 0",
      request: withWalletSignature(walletGood, (p) => ({ ...p, s: 0n })),
      expected: "BadSignature",
    },
    {
      name: "a wallet signature with r = 0",
      request: withWalletSignature(walletGood, (p) => ({ ...p, r: "00".repeat(32) })),
      expected: "BadSignature",
    },
    {
      name: "a wallet signature of 64 bytes",
      request: withWalletSignature(walletGood, (p) => `0x${p.r}${p.s.toString(16).padStart(64, "0")}`),
      expected: "MalformedRequest",
    },
    {
      name: "a wallet signature of 66 bytes",
      request: withWalletSignature(walletGood, (p) => `0x${p.r}${p.s.toString(16).padStart(64, "0")}1b00`),
      expected: "MalformedRequest",
    },
    {
      name: "a wallet's good EIP-712 request",
      request: typedGood,
      expected: `ok ${walletAddress} ${walletDigestOf(typedGood)}`,
    },
    { name: "an EIP-712 request signed by another wallet", request: typedForged, expected: "BadSignature" },
    {
      name: "an EIP-191 signature sent as EIP-712",
      request: {
        ...walletGood,
        headers: { ...walletGood.headers, [HEADER_SIGNATURE_SCHEME]: EIP712_SCHEME },
      },
      expected: "BadSignature",
    },
    { name: "a wallet that is not a user or member", request: unknownWallet, expected: "UnknownCaller" },
    {
      name: "garbage signature",
      request: { ...good, headers: { ...good.headers, [HEADER_SIGNATURE]: "!!" } },
      expected: "MalformedRequest",
    },
    { name: "no nonce", request: signed(user, { args: 1, createdMs: NOW_MS }), expected: "MalformedRequest" },
    {
      name: "no createdMs",
      request: signed(user, { args: 1, nonce: newNonce() }),
      expected: "MalformedRequest",
    },
    { name: "stale", request: stale, expected: "StaleRequest" },
    { name: "stale and badly signed", request: staleForged, expected: "BadSignature" },
    { name: "body not JSON", request: signed(user, fresh()), expected: "MalformedRequest" },
  ].map((c) =>
    c.name === "body not JSON" ? { ...c, request: { ...c.request, body: utf8.encode("{not json") } } : c,
  );
}

describe("admission through the verify pool", () => {
  let pool: VerifierPool;
  before(() => {
    pool = new VerifierPool({ workers: 2, maxBatchJobs: 3, logger: silentLogger });
  });
  after(async () => {
    await pool.close();
  });

  it("gives every hostile request the same coded error as checks on the main thread", async () => {
    const inline = inlineVerifier();
    for (const { name, request, expected } of await hostileCases()) {
      assert.equal(await outcome(inline, request), expected, `${name} (main thread)`);
      assert.equal(await outcome(pool, request), expected, `${name} (pool)`);
    }
  });

  it("refuses unknown callers before any signature check, however many there are", async () => {
    // A verifier that counts: an unknown caller must cost no check (no curve work, no state).
    let checks = 0;
    const inline = inlineVerifier();
    const counting: SignatureVerifier = {
      verify: (job) => {
        checks++;
        return inline.verify(job);
      },
      close: () => inline.close(),
      stats: () => inline.stats(),
    };
    const forger = Wallet.createRandom();
    for (let i = 0; i < 200; i++) {
      const address = `0x${i.toString(16).padStart(40, "0")}`;
      const request = await walletRequest(
        (text) => forger.signMessage(text),
        address,
        SERVICE_ID,
        PATH,
        { id: i },
        { createdMs: NOW_MS },
      );
      assert.equal(await outcome(counting, request), "UnknownCaller", address);
    }
    assert.equal(await outcome(counting, signed(stranger, fresh())), "UnknownCaller");
    assert.equal(checks, 0);
    // A registered address is checked (and a forgery refused) once per request.
    const forged = await walletRequest(
      (text) => forger.signMessage(text),
      walletAddress,
      SERVICE_ID,
      PATH,
      1,
      {
        createdMs: NOW_MS,
      },
    );
    assert.equal(await outcome(counting, forged), "BadSignature");
    assert.equal(checks, 1);
  });

  it("gives concurrent admissions their own answers", async () => {
    const kinds = ["user", "member", "forged", "stale", "unknown"] as const;
    const cases = Array.from({ length: 300 }, (_, i) => {
      const kind = kinds[i % kinds.length]!;
      const body = fresh({ args: { id: i } });
      switch (kind) {
        case "user": {
          const request = signed(user, body);
          return { request, expected: `ok ${user.id} ${digestOf(request)}` };
        }
        case "member": {
          const request = signed(member, body);
          return { request, expected: `ok ${member.id} ${digestOf(request)}` };
        }
        case "forged":
          return {
            request: signed(stranger, body, PATH, i % 2 === 0 ? user.id : member.id),
            expected: "BadSignature",
          };
        case "stale":
          return {
            request: signed(user, { ...body, createdMs: NOW_MS + 2 * WINDOW_MS }),
            expected: "StaleRequest",
          };
        default: // "unknown"
          return { request: signed(stranger, body), expected: "UnknownCaller" };
      }
    });
    const answers = await Promise.all(cases.map(({ request }) => outcome(pool, request)));
    for (const [i, answer] of answers.entries()) assert.equal(answer, cases[i]!.expected, `request ${i}`);
  });

  it("refuses an unknown caller with Unavailable, not UnknownCaller, while governance may lag", async () => {
    const inline = inlineVerifier();
    let asked = 0;
    const lagging = () => {
      asked++;
      return true;
    };
    assert.equal(await outcome(inline, signed(stranger, fresh()), lagging), "Unavailable");
    assert.equal(await outcome(inline, signed(stranger, fresh()), () => false), "UnknownCaller");
    // Known callers never ask (the question is for the refusal path only).
    const good = signed(user, fresh());
    assert.equal(await outcome(inline, good, lagging), `ok ${user.id} ${digestOf(good)}`);
    assert.equal(asked, 1);
  });

  it("refuses a token of an unknown issuer with Unavailable, not UnknownIssuer, while governance may lag", async () => {
    const part = (value: unknown) => toBase64Url(utf8.encode(JSON.stringify(value)));
    const token = `${part({ alg: "ES256", kid: "k1" })}.${part({ iss: "https://idp.example.test", sub: "s" })}.AAAA`;
    const headers = { "content-type": CONTENT_JSON, authorization: `Bearer ${token}` };
    const body = utf8.encode(JSON.stringify(fresh()));
    const codeOf = async (governanceMayLag: () => boolean) => {
      const ctx: AdmissionContext = {
        serviceId: SERVICE_ID,
        gov: govView(),
        nowMs: NOW_MS,
        freshnessWindowMs: WINDOW_MS,
        verifier: inlineVerifier(),
        governanceMayLag,
      };
      return admitBearer(ctx, PATH, headers, body).then(
        () => "ok",
        (err: { code?: string }) => err.code,
      );
    };
    assert.equal(await codeOf(() => true), "Unavailable");
    assert.equal(await codeOf(() => false), "UnknownIssuer");
  });
});

describe("signingPrefix", () => {
  it("followed by the body is signingInput's bytes, whatever the service, path and body", () => {
    const services = [SERVICE_ID, "cd".repeat(32), "é-service"];
    const paths = ["/app/log/write", "/app/log/read", "/app/x/y", "/gov/proposals", "/app/é/ü"];
    for (const serviceId of services)
      for (const path of paths)
        for (const body of [new Uint8Array(0), utf8.encode('{"args":{}}'), new Uint8Array(300).fill(7)]) {
          const prefix = signingPrefix(serviceId, path);
          assert.deepEqual(
            Uint8Array.from([...prefix, ...body]),
            signingInput(serviceId, path, body),
            `${serviceId} ${path}`,
          );
          // Encoded once per service and path: the same shared bytes every time.
          assert.equal(signingPrefix(serviceId, path), prefix);
        }
  });
});
