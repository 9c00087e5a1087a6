/**
 * The console and the browser SDK in a real headless Chromium (Debian's, driven by
 * playwright-core) against a 3-node `treaty dev` network over a real nats-server: the page shows
 * the nodes, verifies a receipt offline (and refuses a tampered one), calls `log.writePrivate` as
 * user0, and member0 proposes and votes a `set_user` to acceptance, all signed in the page. The
 * key files never leave the page (no request carries a private key). The bundled SDK, imported
 * by a page, verifies a receipt there. CORS: a page on an origin the nodes do not allow cannot
 * read their answers; another node's console (allowed by `treaty dev`) can.
 *
 * Screenshots of each step go to test-artifacts/console/.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import type * as Sdk from "../../sdk/index.js";
import { generateKeyPair, toKeyFile } from "../../sdk/keys.js";
import { type DevNetwork, startDevNetwork } from "../../node/dev.js";
import { freePortRange } from "../support/cluster.js";

const ARTIFACTS = join(findPackageRoot(), "test-artifacts", "console");
const CHROMIUM = "/usr/bin/chromium";
/** As the machine's notes advise: no background traffic to a closed network, no sandbox as root. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const STEP_TIMEOUT_MS = 60_000;

describe("console in headless Chromium, 3-node dev network", { timeout: 300_000 }, () => {
  let workspace: string;
  let network: DevNetwork;
  let browser: Browser;
  let page: Page;
  let step = 0;
  /** Every request the console page made (URL, headers, body). */
  const sent: { url: string; headers: string; body: Buffer }[] = [];

  const shot = async (name: string) => {
    step += 1;
    await page.screenshot({
      path: join(ARTIFACTS, `${String(step).padStart(2, "0")}-${name}.png`),
      fullPage: true,
    });
  };
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's locator, not the DOM; rendered text keeps cells apart
  const text = (selector: string) => page.locator(selector).innerText();

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), "treaty-console-"));
    network = await startDevNetwork({
      nodes: 3,
      basePort: await freePortRange(3),
      workspace,
      say: () => {},
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("request", (request) => {
      sent.push({
        url: request.url(),
        headers: JSON.stringify(request.headers()),
        body: request.postDataBuffer() ?? Buffer.alloc(0),
      });
    });
  });

  after(async () => {
    await browser?.close();
    await network?.stop();
    rmSync(workspace, { recursive: true, force: true });
  });

  it("shows the service's nodes with their roles", async () => {
    await page.goto(`${network.urls[0]}/console`);
    // Every node's row gets its role from that node's own /node/status (over CORS for the others).
    await page.waitForFunction(() => {
      const roles = [...document.querySelectorAll("#nodes tbody tr td:nth-child(4)")].map(
        (td) => td.textContent,
      );
      return (
        roles.length === 3 && roles.includes("leader") && roles.filter((r) => r === "follower").length === 2
      );
    });
    assert.match(await text("#service-line"), /open/);
    for (const url of network.urls)
      assert.match(await text("#nodes"), new RegExp(url.replaceAll(".", "\\.")));
    await shot("nodes");
  });

  let txid = "";

  it("calls log.writePrivate as user0, signed in the page", async () => {
    await page.fill("#service-file", readFileSync(join(workspace, "service.json"), "utf8"));
    await page.click("#pin-service");
    assert.match(await text("#pin-state"), /^pinned /);
    await page.fill("#key-file", readFileSync(join(workspace, "user0.json"), "utf8"));
    await page.click("#load-key");
    assert.match(await text("#key-state"), /^signing as /);
    assert.equal(await page.inputValue("#key-file"), "", "the private key does not stay in the form");

    await page.click("nav button[data-tab=contracts]");
    await page.waitForSelector("#call-method option[value='log.writePrivate']", { state: "attached" });
    await page.selectOption("#call-method", "log.writePrivate");
    assert.match(await text("#call-shape"), /"msg"/, "the method's argument shape is shown");
    await page.fill("#call-args", JSON.stringify({ id: 7, msg: "from the browser" }));
    await page.click("#call");
    await page.waitForFunction(() => document.querySelector("#call-result")?.textContent?.includes('"txid"'));
    const answer = JSON.parse(await text("#call-result")) as { txid: string };
    txid = answer.txid;
    assert.match(txid, /^\d+\.\d+$/);
    await shot("call");

    // The value is really there: read it back through the same form (a signed readonly call).
    await page.selectOption("#call-method", "log.readPrivate");
    await page.fill("#call-args", JSON.stringify({ id: 7 }));
    await page.click("#call");
    await page.waitForFunction(() =>
      document.querySelector("#call-result")?.textContent?.includes("from the browser"),
    );
  });

  it("verifies the call's receipt offline and refuses a tampered one", async () => {
    await page.click("nav button[data-tab=receipts]");
    await page.fill("#receipt-txid", txid);
    // The receipt exists once the write is committed: fetch until it verifies.
    await page.waitForFunction(
      async () => {
        (document.querySelector("#fetch-receipt") as HTMLButtonElement).click();
        await new Promise((r) => setTimeout(r, 300));
        return document.querySelector("#receipt-verdict")?.textContent?.startsWith("✔");
      },
      undefined,
      { polling: 500 },
    );
    assert.match(
      await text("#receipt-verdict"),
      new RegExp(`verified: ${txid.replace(".", "\\.")} \\(user\\).*pinned`),
    );
    assert.match(await text("#receipt-result"), /Merkle path/);
    await shot("receipt-verified");

    const receipt = JSON.parse(await page.inputValue("#receipt-json")) as { signature: { root: string } };
    const root = receipt.signature.root;
    receipt.signature.root = (root[0] === "0" ? "1" : "0") + root.slice(1);
    await page.fill("#receipt-json", JSON.stringify(receipt));
    await page.click("#verify-receipt");
    assert.match(await text("#receipt-verdict"), /^✘ ReceiptInvalid/);
    await shot("receipt-tampered");
  });

  it("lists recent transactions with their status", async () => {
    await page.click("nav button[data-tab=transactions]");
    // The row whose Txid cell is exactly the txid: another row's time ("…02.190Z") may contain it.
    const rowSelector = `#transactions tbody tr:has(td:first-child > span:text-is("${txid}"))`;
    await page.waitForSelector(rowSelector);
    const row = await text(rowSelector);
    assert.match(row, /user\s+Committed/);
    await shot("transactions");
  });

  it("member0 proposes set_user and votes it to acceptance, signed in the page", async () => {
    await page.click("#forget-key");
    await page.fill("#key-file", readFileSync(join(workspace, "member0.json"), "utf8"));
    await page.click("#load-key");
    await page.click("nav button[data-tab=governance]");
    await page.waitForFunction(() => (document.querySelector("#constitution")?.textContent ?? "").length > 0);

    const newUser = toKeyFile(generateKeyPair("ed25519"));
    const proposal = [{ name: "set_user", args: { publicKey: newUser.publicKey, curve: newUser.curve } }];
    await page.fill("#proposal-actions", JSON.stringify(proposal));
    await page.click("#propose");
    await page.waitForFunction(() =>
      document.querySelector("#governance-result")?.textContent?.includes("proposalId"),
    );
    const { proposalId, state } = JSON.parse(await text("#governance-result")) as {
      proposalId: string;
      state: string;
    };
    assert.equal(state, "Open");
    const row = `#proposals tbody tr[data-proposal="${proposalId}"]`;
    await page.waitForSelector(`${row} button[data-action="vote for"]`);
    await shot("proposal-open");

    await page.click(`${row} button[data-action="vote for"]`);
    await page.waitForFunction(() =>
      document.querySelector("#governance-result")?.textContent?.includes("Accepted"),
    );
    await page.waitForSelector(`${row}[data-state="Accepted"]`);
    await shot("proposal-accepted");

    // The service now knows the user: its governance table says so on any node.
    const users = (await (await fetch(`${network.urls[2]}/gov/users`)).json()) as {
      users: { publicKey: string }[];
    };
    assert.ok(users.users.some((u) => u.publicKey === newUser.publicKey));
  });

  it("the key files loaded in the page never leave it: no request carries a private key", () => {
    assert.ok(
      sent.some((r) => r.body.length > 0),
      "the page sent signed requests",
    );
    for (const file of ["user0.json", "member0.json"]) {
      const { privateKey } = JSON.parse(readFileSync(join(workspace, file), "utf8")) as {
        privateKey: string;
      };
      const raw = Buffer.from(privateKey, "hex");
      const forms = [privateKey, raw.toString("base64"), raw.toString("base64url")];
      for (const r of sent) {
        assert.ok(!r.body.includes(raw), `${file}'s private key in the body sent to ${r.url}`);
        for (const form of forms)
          assert.ok(
            !r.url.includes(form) && !r.headers.includes(form) && !r.body.includes(form),
            `${file}'s private key sent to ${r.url}`,
          );
      }
    }
  });

  it("the bundled SDK, imported by a page, verifies a receipt there (and refuses a tampered one)", async () => {
    const service = JSON.parse(readFileSync(join(workspace, "service.json"), "utf8")) as unknown;
    const outcome = await page.evaluate(
      async ({ txid, service, bundle }) => {
        const sdk = (await import(bundle)) as typeof Sdk;
        const { serviceKey } = sdk.parseServiceFile(service);
        const receipt = await (await fetch(`/node/receipt?txid=${txid}`)).json();
        const verified = sdk.verifyReceipt(receipt, serviceKey, { txid });
        receipt.leaf.entryDigest = `${receipt.leaf.entryDigest[0] === "0" ? "1" : "0"}${receipt.leaf.entryDigest.slice(1)}`;
        let tampered = "accepted";
        try {
          sdk.verifyReceipt(receipt, serviceKey, { txid });
        } catch (err) {
          tampered = (err as { code: string }).code;
        }
        return { txid: verified.txid, kind: verified.kind, tampered };
      },
      { txid, service, bundle: "/console/treaty-sdk.js" },
    );
    assert.deepEqual(outcome, { txid, kind: "user", tampered: "ReceiptInvalid" });
  });

  it("CORS: a page on an origin the nodes do not allow cannot read them; another node's console can", async () => {
    const stranger = await servePage("<!doctype html><title>elsewhere</title>");
    try {
      const other = await browser.newPage();
      await other.goto(stranger.url);
      const fromStranger = await other.evaluate(async (url) => {
        try {
          await (await fetch(`${url}/node/status`)).json();
          return "read";
        } catch (err) {
          return (err as Error).name;
        }
      }, network.urls[0]!);
      assert.equal(fromStranger, "TypeError", "the browser withholds the answer");

      // node 1's console is an origin treaty dev allows on every node.
      await other.goto(`${network.urls[1]}/console`);
      const fromConsole = await other.evaluate(async (url) => {
        const status = (await (await fetch(`${url}/node/status`)).json()) as { nodeId: string };
        return typeof status.nodeId;
      }, network.urls[0]!);
      assert.equal(fromConsole, "string");
      await other.close();
    } finally {
      await stranger.close();
    }
  });
});

/** A one-page HTTP server on its own loopback origin. */
async function servePage(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
