/**
 * `treaty call | status | receipt` (and the deadline of `treaty events`, a governance command and
 * `treaty recovery share`) against a real node: a few runs of the built CLI as a user
 * would spawn it (exit codes, stdout JSON, stderr warnings), and the rest in-process through
 * the commands' `run*` functions with captured output.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import { generateKeyPair, toKeyFile } from "../../sdk/keys.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { runCall } from "../../node/cli/call.js";
import { UsageError } from "../../node/cli/command.js";
import { runEvents } from "../../node/cli/events.js";
import { runProposals } from "../../node/cli/gov.js";
import { runReceipt } from "../../node/cli/receipt.js";
import { runStatus } from "../../node/cli/status.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { runInProcess, treaty } from "../support/cli.js";

/** A loopback port that was just free: bound once by us, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Runs `body` with the URL of a node that accepts connections and never answers (a TCP server
 * that reads nothing and writes nothing), then closes it and every connection it took.
 */
async function withSilentNode(body: (url: string) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = silent.address() as { port: number };
    await body(`http://127.0.0.1:${port}`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
}

describe("treaty call | status | receipt", () => {
  let net: TestNode;
  let dir: string;
  let userKey: string;
  let memberKey: string;
  let serviceFile: string;

  before(async () => {
    net = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), "treaty-cli-node-"));
    userKey = join(dir, "user0.json");
    writeFileSync(userKey, JSON.stringify(toKeyFile(net.user)));
    memberKey = join(dir, "member0.json");
    writeFileSync(memberKey, JSON.stringify(toKeyFile(net.member)));
    serviceFile = join(dir, "service.json");
    writeFileSync(serviceFile, JSON.stringify(net.serviceFile));
  });
  after(async () => {
    await net?.dispose();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("spawned: call --wait, then receipt --verify with the pinned service file", async () => {
    const call = await treaty(
      "call",
      "log",
      "writePublic",
      "--args",
      '{"id": 1, "msg": "from the CLI"}',
      "--key",
      userKey,
      "--service",
      serviceFile,
      "--wait",
    );
    assert.equal(call.code, 0, call.stderr);
    const { result, txid, status } = JSON.parse(call.stdout) as {
      result: unknown;
      txid: string;
      status: string;
    };
    assert.equal(result, null);
    assert.match(txid, /^[0-9]+\.[0-9]+$/);
    assert.equal(status, "Committed");
    // stderr names the receipt command for this very txid.
    assert.equal(
      call.stderr,
      `treaty call: committed; its receipt: treaty receipt ${txid} --verify --service ${serviceFile}\n`,
    );

    const receipt = await treaty("receipt", txid, "--verify", "--service", serviceFile);
    assert.equal(receipt.code, 0, receipt.stderr);
    const printed = JSON.parse(receipt.stdout) as {
      receipt: unknown;
      verified: { txid: string; kind: string; serviceKeyPinned: boolean };
    };
    assert.deepEqual(
      { txid: printed.verified.txid, kind: printed.verified.kind, pinned: printed.verified.serviceKeyPinned },
      { txid, kind: "user", pinned: true },
    );
    // What the CLI printed verifies on its own with the SDK.
    assert.equal(verifyReceipt(printed.receipt, net.serviceKey, { txid }).txid, txid);
  });

  it("spawned: status, a refused call (exit 1, error JSON) and a usage error (exit 2)", async () => {
    const status = await treaty("status", "--node", net.url);
    assert.equal(status.code, 0, status.stderr);
    const body = JSON.parse(status.stdout) as { nodeId: string; role: string; serviceStatus: string };
    assert.deepEqual(
      { nodeId: body.nodeId, role: body.role, serviceStatus: body.serviceStatus },
      { nodeId: net.node.identity.id, role: "leader", serviceStatus: "open" },
    );

    const refused = await treaty(
      "call",
      "log",
      "writePublic",
      "--args",
      '{"id": 2, "msg": "x"}',
      "--node",
      net.url,
    );
    assert.equal(refused.code, 1);
    assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, "Forbidden");
    assert.match(refused.stderr, /not pinned/);
    assert.match(refused.stderr, /Forbidden/);

    const usage = await treaty("call", "log", "--node", net.url);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /expected <contract> <method>/);
    assert.match(usage.stderr, /Usage: treaty call/);

    const help = await treaty("receipt", "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: treaty receipt <txid>/);
  });

  it("call: readwrite and readonly results, MessagePack bodies, args from a file", async () => {
    const argsFile = join(dir, "args.json");
    writeFileSync(argsFile, JSON.stringify({ id: 3, msg: "from a file" }));
    const write = await runInProcess(
      runCall,
      "log",
      "writePrivate",
      "--args",
      `@${argsFile}`,
      "--key",
      userKey,
      "--service",
      serviceFile,
      "--msgpack",
      "--wait",
    );
    assert.equal(write.code, 0, write.stderr);
    assert.deepEqual(Object.keys(write.json).sort(), ["events", "result", "status", "txid"]);
    assert.equal(write.json.status, "Committed");
    // Every level shows a committed write.
    const readAt = (consistency: string) =>
      runInProcess(
        runCall,
        "log",
        "readPrivate",
        "--args",
        '{"id": 3}',
        "--key",
        userKey,
        "--service",
        serviceFile,
        "--consistency",
        consistency,
      );
    const latest = await readAt("latest");
    assert.equal(latest.code, 0, latest.stderr);
    assert.deepEqual(latest.json.result, { msg: "from a file" });
    const read = await readAt("linearizable");
    assert.equal(read.code, 0, read.stderr);
    assert.deepEqual(read.json.result, { msg: "from a file" });
    assert.equal(read.json.status, "Committed");
    await assert.rejects(
      runInProcess(runCall, "log", "readPrivate", "--service", serviceFile, "--consistency", "strong"),
      (err: unknown) =>
        err instanceof UsageError &&
        /--consistency: expected one of committed, linearizable, latest/.test(err.message),
    );
    assert.deepEqual(read.json.events, []);
  });

  it("call: unsigned calls reach readonly `anyone` methods only", async () => {
    const tariff = { bands: [{ startHour: 0, centsPerKwh: 30 }] };
    const set = await runInProcess(
      runCall,
      "meter",
      "setTariff",
      "--args",
      JSON.stringify(tariff),
      "--key",
      memberKey,
      "--service",
      serviceFile,
      "--wait",
    );
    assert.equal(set.code, 0, set.stderr);
    const anonymous = await runInProcess(runCall, "meter", "tariff", "--service", serviceFile);
    assert.equal(anonymous.code, 0, anonymous.stderr);
    assert.deepEqual((anonymous.json.result as { bands: unknown }).bands, tariff.bands);
    const bill = await runInProcess(runCall, "meter", "myBill", "--service", serviceFile);
    assert.equal(bill.code, 1);
    assert.equal((bill.json.error as { code: string }).code, "Forbidden");
  });

  it("call: a contract's error exits 1 with its code; --wait on a readonly call waits for the state it read", async () => {
    const missing = await runInProcess(
      runCall,
      "log",
      "readPublic",
      "--args",
      '{"id": 999}',
      "--key",
      userKey,
      "--service",
      serviceFile,
      "--wait",
    );
    assert.equal(missing.code, 1);
    assert.equal((missing.json.error as { code: string }).code, "MessageNotFound");
    const found = await runInProcess(
      runCall,
      "log",
      "readPublic",
      "--args",
      '{"id": 1}',
      "--key",
      userKey,
      "--service",
      serviceFile,
      "--wait",
    );
    assert.equal(found.code, 0, found.stderr);
    assert.equal(found.json.status, "Committed");
    assert.match(String(found.json.txid), /^[0-9]+\.[0-9]+$/);
  });

  it("call: usage errors name the flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["log", "writePublic", "--args", "{not json"], /--args: not valid JSON/],
      [["log", "writePublic", "--args", "@/nonexistent/args.json"], /--args: cannot read/],
      [["log", "writePublic", "--key", "/nonexistent/key.json"], /--key: cannot read/],
      [["log", "writePublic", "--key", serviceFile], /--key: .*key file/],
      [["log", "writePublic", "--service", userKey], /--service: service file/],
      [["log", "writePublic"], /--node <url> is required/],
      [["log", "writePublic", "--node", "ftp://example"], /--node: expected an http/],
      [
        ["log", "writePublic", "--node", net.url, "--timeout", "soon"],
        /--timeout: expected a positive integer/,
      ],
      [["log", "writePublic", "--node", net.url, "--bogus"], /bogus/],
    ];
    for (const [argv, message] of cases) {
      await assert.rejects(runInProcess(runCall, ...argv), (err: unknown) => {
        assert.ok(err instanceof UsageError, `${argv.join(" ")}: ${String(err)}`);
        assert.match(err.message, message);
        return true;
      });
    }
  });

  it("call and status: an unreachable node exits 1 with Unavailable", async () => {
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const status = await runInProcess(runStatus, "--node", closed, "--timeout", "2000");
    assert.equal(status.code, 1);
    assert.equal((status.json.error as { code: string }).code, "Unavailable");
    const call = await runInProcess(
      runCall,
      "log",
      "readPublic",
      "--args",
      '{"id": 1}',
      "--node",
      closed,
      "--service",
      serviceFile,
      "--timeout",
      "2000",
    );
    assert.equal(call.code, 1);
    assert.equal((call.json.error as { code: string }).code, "Unavailable");
  });

  it("status: a node that accepts but never answers times out (exit 1, Timeout)", async () => {
    await withSilentNode(async (node) => {
      const status = await runInProcess(runStatus, "--node", node, "--timeout", "300");
      assert.equal(status.code, 1);
      assert.equal((status.json.error as { code: string }).code, "Timeout");
      assert.match(status.stderr, /no answer within 300 ms/);
    });
  });

  it("call, a governance command and recovery share time out as status does (exit 1, Timeout)", {
    timeout: 60_000,
  }, async () => {
    // One code for one failure: the SDK Client's requests (call, governance) and recovery
    // share's own fetches report a node past --timeout as status, receipt and events do.
    await withSilentNode(async (node) => {
      const remote = ["--node", node, "--service", serviceFile, "--timeout", "300"];
      const call = await runInProcess(runCall, "log", "readPublic", "--args", '{"id": 1}', ...remote);
      const proposals = await runInProcess(runProposals, ...remote);
      for (const [name, run] of [
        ["call", call],
        ["proposals", proposals],
      ] as const) {
        assert.equal(run.code, 1, name);
        assert.equal((run.json.error as { code: string }).code, "Timeout", `${name}: ${run.stderr}`);
        assert.match(run.stderr, new RegExp(`Timeout: ${node}: no answer within 300 ms`), name);
      }
      const memberFile = join(dir, "member-encryption.json");
      const keygen = await treaty("keygen", "--encryption", "--out", memberFile);
      assert.equal(keygen.code, 0, keygen.stderr);
      const share = await treaty("recovery", "share", "--key", memberFile, ...remote);
      assert.equal(share.code, 1, share.stderr);
      assert.equal((JSON.parse(share.stdout) as { error: { code: string } }).error.code, "Timeout");
      assert.match(share.stderr, new RegExp(`Timeout: ${node}: no answer within 300 ms`));
    });
  });

  it("events: a node that accepts but never answers is given up after --timeout", {
    timeout: 60_000,
  }, async () => {
    await withSilentNode(async (node) => {
      // The first failure reported stops the command (it would resume on the next node forever).
      const stop = new AbortController();
      const err: string[] = [];
      const io = {
        out: () => undefined,
        err: (text: string) => {
          err.push(text);
          stop.abort();
        },
        fetch: globalThis.fetch,
      };
      const code = await runEvents(["--node", node, "--timeout", "300"], io, stop.signal);
      assert.equal(code, 0);
      assert.match(err.join(""), /no answer within 300 ms; resuming/);
    });
  });

  it("receipt: the plain receipt, an uncommitted or unknown txid, and a mismatched service key", async () => {
    const write = await runInProcess(
      runCall,
      "log",
      "writePublic",
      "--args",
      '{"id": 5, "msg": "r"}',
      "--key",
      userKey,
      "--service",
      serviceFile,
    );
    const txid = write.json.txid as string;
    const waited = await runInProcess(runReceipt, txid, "--wait", "--service", serviceFile);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(waited.json.txid, txid);
    verifyReceipt(waited.json, net.serviceKey, { txid });

    const unpinned = await runInProcess(runReceipt, txid, "--verify", "--node", net.url);
    assert.equal(unpinned.code, 0);
    assert.equal((unpinned.json.verified as { serviceKeyPinned: boolean }).serviceKeyPinned, false);
    assert.match(unpinned.stderr, /not pinned/);

    const unknown = await runInProcess(runReceipt, "2.999999", "--service", serviceFile);
    assert.equal(unknown.code, 1);
    assert.ok(["TxNotFound", "TxNotCommitted"].includes((unknown.json.error as { code: string }).code));

    const wrongService = join(dir, "wrong-service.json");
    writeFileSync(
      wrongService,
      JSON.stringify({
        serviceKey: { curve: "ed25519", publicKey: toHex(generateKeyPair().publicKey) },
        nodes: [net.url],
      }),
    );
    const mismatched = await runInProcess(runReceipt, txid, "--verify", "--service", wrongService);
    assert.equal(mismatched.code, 1);
    assert.equal((mismatched.json.error as { code: string }).code, "ReceiptInvalid");

    await assert.rejects(runInProcess(runReceipt, "not-a-txid", "--service", serviceFile), UsageError);
    await assert.rejects(runInProcess(runReceipt, "--service", serviceFile), UsageError);
  });
});
