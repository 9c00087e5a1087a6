/**
 * The governance commands (node/cli/gov.ts) against a scripted fake node, in-process through the
 * commands' `run*` functions with captured output: flags and exit codes, the JSON printed, what
 * is sent, `--print`, `--wait`, and hostile answers (not JSON, unsafe constitution paths). Two
 * runs of the built CLI check the exit codes a shell sees. The real network is in e2e.test.ts.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { generateKeyPair, keyId, toKeyFile } from "../../sdk/keys.js";
import { HEADER_CALLER, HEADER_SIGNATURE, parseSignatureHeader, verifyRequest } from "../../sdk/request.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../../node/cli/command.js";
import {
  runConstitutionPropose,
  runConstitutionShow,
  runDeploy,
  runPropose,
  runProposal,
  runProposals,
  runVote,
  runWithdraw,
} from "../../node/cli/gov.js";
import type { RemoteIo } from "../../node/cli/status.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { type CapturedIo, captureIo, treaty } from "../support/cli.js";
import { fakeFetch, type SentRequest } from "../support/fake-node.js";

const NODE = "http://node.test";

type Sent = SentRequest;

type Route = (sent: Sent) => { status?: number; text?: string; json?: unknown };

const serviceKey = generateKeyPair("ed25519");
const serviceKeyJson = { curve: "ed25519", publicKey: toHex(serviceKey.publicKey) };
const serviceId = keyId(serviceKey);

/** Status answer of the fake node (its service key), then `route` for everything else. */
function fake(route: Route): CapturedIo & { sent: Sent[] } {
  const node = fakeFetch((request) =>
    request.path === "/node/status" ? { json: { nodeId: "n", serviceKey: serviceKeyJson } } : route(request),
  );
  return { ...captureIo(node.fetch), sent: node.sent };
}

const accepted: Route = () => ({ json: { proposalId: "p1", state: "Open", txid: "2.7" } });

describe("treaty governance commands (fake node)", () => {
  let dir: string;
  let keyFile: string;
  let serviceFile: string;
  const member = generateKeyPair("ed25519");

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "treaty-govcli-"));
    keyFile = join(dir, "member.json");
    writeFileSync(keyFile, JSON.stringify(toKeyFile(member)));
    serviceFile = join(dir, "service.json");
    writeFileSync(serviceFile, JSON.stringify({ serviceKey: serviceKeyJson, nodes: [NODE] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  };

  it("propose signs the file's actions for the pinned service and prints {proposalId, state, txid}", async () => {
    const f = fake(accepted);
    const proposal = { actions: [{ name: "remove_user", args: { id: "u1" } }] };
    const code = await runPropose(
      [file("p.json", proposal), "--key", keyFile, "--service", serviceFile],
      f.io,
    );
    assert.equal(code, EXIT_OK);
    assert.deepEqual(JSON.parse(f.out()), { proposalId: "p1", state: "Open", txid: "2.7" });
    assert.equal(f.err(), "", "a pinned service prints no warning");
    assert.equal(f.sent.length, 1);
    const [post] = f.sent;
    assert.equal(post!.path, "/gov/proposals");
    assert.equal(post!.headers[HEADER_CALLER], member.id);
    assert.ok(
      verifyRequest(
        member,
        serviceId,
        post!.path,
        post!.body!,
        parseSignatureHeader(post!.headers[HEADER_SIGNATURE]!),
      ),
    );
    assert.deepEqual((JSON.parse(utf8.decode(post!.body!)) as { args: unknown }).args, proposal);
  });

  it("without --service the key comes from the node, with a warning on stderr", async () => {
    const f = fake(accepted);
    const code = await runPropose(
      [file("p.json", { actions: [{ name: "x" }] }), "--key", keyFile, "--node", NODE],
      f.io,
    );
    assert.equal(code, EXIT_OK);
    assert.match(f.err(), /warning: no --service file/);
    assert.deepEqual(
      f.sent.map((s) => s.path),
      ["/node/status", "/gov/proposals"],
    );
  });

  it("a read takes the key the node reports without a warning (it signs and verifies nothing)", async () => {
    const f = fake(() => ({ json: { proposals: [] } }));
    assert.equal(await runProposals(["--node", NODE], f.io), EXIT_OK);
    assert.equal(f.err(), "");
    assert.deepEqual(
      f.sent.map((s) => s.path),
      ["/node/status", "/gov/proposals"],
    );
    const pinned = fake(() => ({ json: { proposals: [] } }));
    assert.equal(await runProposals(["--service", serviceFile], pinned.io), EXIT_OK);
    assert.deepEqual(
      pinned.sent.map((s) => s.path),
      ["/gov/proposals"],
      "a pinned key is not asked for",
    );
  });

  it("a malformed proposal file is ProposalInvalid (exit 1, JSON error) and nothing is proposed", async () => {
    const f = fake(accepted);
    const code = await runPropose(
      [file("bad.json", { actions: [{ nam: "x" }] }), "--key", keyFile, "--service", serviceFile],
      f.io,
    );
    assert.equal(code, EXIT_FAILED);
    const printed = JSON.parse(f.out()) as { error: { code: string; message: string } };
    assert.equal(printed.error.code, "ProposalInvalid");
    assert.match(printed.error.message, /actions\[0\]\.nam: unknown field/);
    assert.ok(f.sent.every((s) => s.path !== "/gov/proposals"));
  });

  it("usage errors: no file, unreadable or non-JSON file, no --key, bad key file, unknown flag", async () => {
    const f = fake(accepted);
    const usage = (argv: string[], message: RegExp) =>
      assert.rejects(
        runPropose(argv, f.io),
        (err: unknown) => err instanceof UsageError && message.test(String(err)),
      );
    const good = file("ok.json", { actions: [{ name: "x" }] });
    await usage(["--key", keyFile], /expected <file>/);
    await usage([join(dir, "missing.json"), "--key", keyFile], /<file>: cannot read/);
    await usage([file("text.json", "not json"), "--key", keyFile], /<file>: .* is not valid JSON/);
    await usage([good, "--node", NODE], /--key <member key file> is required/);
    await usage([good, "--key", file("k.json", { curve: "ed25519" }), "--node", NODE], /--key: /);
    await usage([good, "--key", keyFile, "--node", NODE, "--bogus"], /bogus/);
    await usage([good, "--key", keyFile], /--node <url> is required/);
    assert.equal(f.sent.length, 0);
  });

  it("vote needs exactly one of --for and --against; prints the new state; --wait waits for the commit", async () => {
    const f = fake((s) =>
      s.path.startsWith("/node/tx")
        ? { json: { txid: "2.8", status: "Committed" } }
        : { json: { proposalId: "p1", state: "Accepted", txid: "2.8" } },
    );
    for (const flags of [[], ["--for", "--against"]]) {
      await assert.rejects(
        runVote(["p1", ...flags, "--key", keyFile, "--service", serviceFile], f.io),
        /exactly one of --for and --against/,
      );
    }
    assert.equal(
      await runVote(["p1", "--against", "--key", keyFile, "--service", serviceFile], f.io),
      EXIT_OK,
    );
    assert.equal(
      await runVote(["p1", "--for", "--key", keyFile, "--service", serviceFile, "--wait"], f.io),
      EXIT_OK,
    );
    const outputs = f
      .out()
      .trim()
      .split(/\n(?=\{)/)
      .map((text) => JSON.parse(text) as Record<string, unknown>);
    assert.deepEqual(outputs, [
      { proposalId: "p1", state: "Accepted", txid: "2.8" },
      { proposalId: "p1", state: "Accepted", txid: "2.8", status: "Committed" },
    ]);
    const ballots = f.sent.filter((s) => s.method === "POST");
    assert.deepEqual(
      ballots.map((s) => [s.path, (JSON.parse(utf8.decode(s.body!)) as { args: unknown }).args]),
      [
        ["/gov/proposals/p1/ballots", { vote: "against" }],
        ["/gov/proposals/p1/ballots", { vote: "for" }],
      ],
    );
  });

  it("a refusal prints the node's error, names it on stderr and exits 1", async () => {
    const f = fake(() => ({
      status: 403,
      json: { error: { code: "Forbidden", message: "only the proposer may withdraw p1" } },
    }));
    const code = await runWithdraw(["p1", "--key", keyFile, "--service", serviceFile], f.io);
    assert.equal(code, EXIT_FAILED);
    assert.deepEqual(JSON.parse(f.out()), {
      error: { code: "Forbidden", message: "only the proposer may withdraw p1" },
    });
    assert.match(f.err(), /treaty withdraw: Forbidden: only the proposer/);
    assert.equal(f.sent.filter((s) => s.method === "POST")[0]!.path, "/gov/proposals/p1/withdraw");
  });

  it("an answer that is not JSON is MalformedEncoding (exit 1), not a crash", async () => {
    const f = fake(() => ({ status: 502, text: "<html>bad gateway</html>" }));
    assert.equal(await runProposals(["--node", NODE], f.io), EXIT_FAILED);
    assert.equal((JSON.parse(f.out()) as { error: { code: string } }).error.code, "MalformedEncoding");
  });

  it("an unreachable node is Unavailable (exit 1)", async () => {
    const io: RemoteIo = {
      out: () => undefined,
      err: () => undefined,
      fetch: async () => {
        throw new TypeError("fetch failed");
      },
    };
    assert.equal(await runProposals(["--service", serviceFile], io), EXIT_FAILED);
  });

  it("proposals lists, filtered by --state; an unknown state is a usage error", async () => {
    const list = [
      { proposalId: "a", state: "Open" },
      { proposalId: "b", state: "Accepted" },
    ];
    const f = fake(() => ({ json: { proposals: list } }));
    assert.equal(await runProposals(["--service", serviceFile, "--state", "Accepted"], f.io), EXIT_OK);
    assert.deepEqual(JSON.parse(f.out()), { proposals: [list[1]] });
    await assert.rejects(
      runProposals(["--node", NODE, "--state", "Pending"], f.io),
      /--state: expected one of/,
    );
    assert.ok(
      f.sent.every((s) => s.method === "GET"),
      "reads are never signed writes",
    );
  });

  it("proposal prints one proposal; --wait polls until it is decided and committed", async () => {
    let polls = 0;
    const f = fake((s) => {
      if (s.path.startsWith("/node/tx")) return { json: { status: "Committed" } };
      polls++;
      return {
        json:
          polls < 2
            ? { proposalId: "p1", state: "Open" }
            : { proposalId: "p1", state: "Rejected", decidedTxid: "3.1" },
      };
    });
    assert.equal(await runProposal(["p1", "--node", NODE, "--wait"], f.io), EXIT_OK);
    assert.deepEqual(JSON.parse(f.out()), { proposalId: "p1", state: "Rejected", decidedTxid: "3.1" });
    assert.equal(f.sent.at(-1)!.path, "/node/tx?txid=3.1&wait=2000");
    await assert.rejects(runProposal(["--node", NODE], f.io), /expected <proposal-id>/);
  });

  it("deploy --print shows the deploy_contract proposal for a folder's .ts sources (name from the folder)", async () => {
    const f = fake(accepted);
    const folder = join(findPackageRoot(), "contracts", "examples", "log");
    assert.equal(await runDeploy([folder, "--print"], f.io), EXIT_OK);
    const printed = JSON.parse(f.out()) as {
      actions: [{ name: string; args: { name: string; files: Record<string, string> } }];
    };
    assert.equal(printed.actions[0].name, "deploy_contract");
    assert.equal(printed.actions[0].args.name, "log");
    assert.equal(printed.actions[0].args.files["index.ts"], readFileSync(join(folder, "index.ts"), "utf8"));
    assert.equal(f.sent.length, 0, "--print sends nothing");
  });

  it("deploy proposes with --name; empty or missing folders are usage errors", async () => {
    const f = fake(accepted);
    const folder = join(dir, "escrow-src");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "index.ts"), "export default {};\n");
    writeFileSync(join(folder, "index.test.ts"), "tests are not deployed\n");
    assert.equal(
      await runDeploy([folder, "--name", "escrow", "--key", keyFile, "--service", serviceFile], f.io),
      EXIT_OK,
    );
    const { args } = JSON.parse(utf8.decode(f.sent[0]!.body!)) as { args: unknown };
    assert.deepEqual(args, {
      actions: [
        { name: "deploy_contract", args: { name: "escrow", files: { "index.ts": "export default {};\n" } } },
      ],
    });
    const empty = join(dir, "empty");
    mkdirSync(empty, { recursive: true });
    await assert.rejects(runDeploy([empty, "--key", keyFile, "--node", NODE], f.io), /no \.ts files/);
    await assert.rejects(
      runDeploy([join(dir, "nope"), "--key", keyFile, "--node", NODE], f.io),
      /<contract-dir>:/,
    );
  });

  it("constitution show prints it; --out writes its files, refusing a non-empty folder without --force", async () => {
    const source = { "index.ts": "// constitution\n", "actions/users.ts": "export {};\n" };
    const f = fake(() => ({ json: { digest: "c0ffee", source } }));
    assert.equal(await runConstitutionShow(["--node", NODE], f.io), EXIT_OK);
    assert.deepEqual(JSON.parse(f.out()), { digest: "c0ffee", source });
    const out = join(dir, "constitution");
    const g = fake(() => ({ json: { digest: "c0ffee", source } }));
    assert.equal(await runConstitutionShow(["--node", NODE, "--out", out], g.io), EXIT_OK);
    assert.deepEqual(JSON.parse(g.out()), { digest: "c0ffee", out, files: ["actions/users.ts", "index.ts"] });
    assert.equal(readFileSync(join(out, "actions", "users.ts"), "utf8"), "export {};\n");
    await assert.rejects(runConstitutionShow(["--node", NODE, "--out", out], g.io), /is not empty/);
    assert.equal(await runConstitutionShow(["--node", NODE, "--out", out, "--force"], g.io), EXIT_OK);
  });

  const unsafePaths = ["../escape.ts", "/etc/x.ts", "a/../../b.ts", "a\\..\\b.ts", "", "a//b.ts", "./a.ts"];
  for (const [i, unsafe] of unsafePaths.entries()) {
    it(`constitution show --out refuses the unsafe path ${JSON.stringify(unsafe)} and writes nothing`, async () => {
      const out = join(dir, `unsafe-${i}`);
      const f = fake(() => ({ json: { digest: "d", source: { "index.ts": "ok", [unsafe]: "x" } } }));
      assert.equal(await runConstitutionShow(["--node", NODE, "--out", out], f.io), EXIT_FAILED);
      assert.equal((JSON.parse(f.out()) as { error: { code: string } }).error.code, "MalformedEncoding");
      assert.ok(!existsSync(out), "nothing is written, not even the safe files");
      assert.ok(!existsSync(join(dir, "escape.ts")) && !existsSync(join(dir, "b.ts")));
    });
  }

  it("constitution propose sends set_constitution with the folder's files (--print shows it)", async () => {
    const folder = join(dir, "new-constitution");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "index.ts"), "// unanimity\n");
    const f = fake(accepted);
    assert.equal(await runConstitutionPropose([folder, "--print"], f.io), EXIT_OK);
    const expected = {
      actions: [{ name: "set_constitution", args: { files: { "index.ts": "// unanimity\n" } } }],
    };
    assert.deepEqual(JSON.parse(f.out()), expected);
    assert.equal(f.sent.length, 0);
    const g = fake(accepted);
    assert.equal(
      await runConstitutionPropose([folder, "--key", keyFile, "--service", serviceFile], g.io),
      EXIT_OK,
    );
    assert.deepEqual((JSON.parse(utf8.decode(g.sent[0]!.body!)) as { args: unknown }).args, expected);
  });
});

describe("treaty governance commands (built CLI)", () => {
  const run = treaty; // the built CLI, as a shell runs it

  it("--help exits 0 with the usage; a usage error exits 2 and says why", async () => {
    const help = await run("constitution", "propose", "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: treaty constitution propose <dir>/);
    const bad = await run("vote", "p1", "--for", "--against", "--key", "k.json", "--node", NODE);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /treaty vote: expected exactly one of --for and --against/);
  });
});
