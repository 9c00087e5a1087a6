/**
 * The console page (served by every node at /console; built by scripts/build-web.mjs). Plain DOM,
 * no framework: each tab is a function that fetches what it shows and renders it.
 *
 * Trust: the page talks to the node that served it (and reads the others' status over CORS), but
 * verifies receipts itself against the service key the user pinned; a key file the user loads
 * stays in this module's memory (`state.key`) and signs requests here.
 */
import {
  Client,
  fromKeyFile,
  Governance,
  type KeyPair,
  keyId,
  parsePublicKey,
  parseServiceFile,
  type ProposalSummary,
  type PublicKey,
  type Receipt,
  verifyReceipt,
} from "../sdk/index.js";

interface State {
  serviceKey: PublicKey | undefined;
  pinned: boolean;
  key: KeyPair | undefined;
}

const state: State = { serviceKey: undefined, pinned: false, key: undefined };
const origin = window.location.origin;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`console: no element #${id}`);
  return el;
}
const input = (id: string) => $(id) as HTMLInputElement | HTMLTextAreaElement;

/** An element with text content (never HTML: everything shown comes from the network). */
function el(tag: string, text = "", className = ""): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = text;
  if (className) e.className = className;
  return e;
}

function row(cells: readonly (string | HTMLElement)[]): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (typeof cell === "string") td.textContent = cell;
    else td.append(cell);
    tr.append(td);
  }
  return tr;
}

function show(target: HTMLElement, value: unknown, ok = true): void {
  target.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  target.className = ok ? "ok" : "bad";
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
}

function client(): Client {
  if (state.serviceKey === undefined) throw new Error("the service key is not known yet");
  return new Client({
    nodes: [origin],
    serviceKey: state.serviceKey,
    ...(state.key !== undefined && { key: state.key }),
    retries: 2,
  });
}

const governance = () => new Governance(client(), state.key);

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = (await response.json()) as T & { error?: { code: string; message: string } };
  if (!response.ok) throw body.error ?? new Error(`HTTP ${response.status}`);
  return body;
}

// --- identity: the pinned service key and the user's key ---------------------------------------

function setPinned(pinned: boolean, key: PublicKey): void {
  state.serviceKey = key;
  state.pinned = pinned;
  const badge = $("pin-state");
  badge.textContent = pinned ? `pinned ${keyId(key).slice(0, 16)}…` : `unpinned (from this node) ${keyId(key).slice(0, 16)}…`;
  badge.className = `badge ${pinned ? "ok" : ""}`;
}

function pinService(): void {
  try {
    setPinned(true, parseServiceFile(JSON.parse(input("service-file").value)).serviceKey);
  } catch (err) {
    $("pin-state").textContent = `not pinned: ${errorText(err)}`;
    $("pin-state").className = "badge bad";
  }
}

function loadKey(): void {
  const badge = $("key-state");
  try {
    state.key = fromKeyFile(JSON.parse(input("key-file").value));
    input("key-file").value = ""; // the private key is not left in the page's form
    badge.textContent = `signing as ${state.key.id.slice(0, 16)}… (${state.key.curve})`;
    badge.className = "badge ok";
  } catch (err) {
    state.key = undefined;
    badge.textContent = `key not loaded: ${errorText(err)}`;
    badge.className = "badge bad";
  }
}

function forgetKey(): void {
  state.key = undefined;
  $("key-state").textContent = "no key: calls are unsigned";
  $("key-state").className = "badge";
}

// --- nodes ---------------------------------------------------------------------------------------

interface Status {
  nodeId: string;
  phase: string;
  role: string;
  view: number;
  commitSeqno: number;
  lastSeqno: number;
  serviceId: string;
  serviceStatus: string;
  serviceKey: { curve: string; publicKey: string };
}

async function refreshNodes(): Promise<void> {
  const status = await getJson<Status>(`${origin}/node/status`);
  if (state.serviceKey === undefined)
    setPinned(false, parsePublicKey(status.serviceKey.curve, status.serviceKey.publicKey, "serviceKey"));
  $("service-line").textContent = `service ${status.serviceId.slice(0, 16)}… · ${status.serviceStatus}`;
  const info = $("service-info");
  info.replaceChildren();
  for (const [k, v] of [
    ["Service id", status.serviceId],
    ["Service status", status.serviceStatus],
    ["This node", status.nodeId],
  ] as const)
    info.append(el("dt", k), el("dd", v));
  const network = await getJson<{ leader: string | null; nodes: { nodeId: string; status: string; url: string | null }[] }>(
    `${origin}/node/network`,
  );
  const body = $("nodes").querySelector("tbody")!;
  body.replaceChildren();
  await Promise.all(
    network.nodes.map(async (n) => {
      const tr = row([el("span", `${n.nodeId.slice(0, 12)}…`, "mono"), n.url ?? "—", n.status, "…", "…", "", "", ""]);
      tr.dataset.node = n.nodeId;
      body.append(tr);
      const cells = tr.querySelectorAll("td");
      if (n.url === null) return;
      try {
        const s = await getJson<Status>(`${n.url}/node/status`);
        cells[3]!.textContent = s.role;
        cells[4]!.textContent = s.phase;
        cells[5]!.textContent = String(s.view);
        cells[6]!.textContent = String(s.commitSeqno);
        cells[7]!.textContent = String(s.lastSeqno);
      } catch (err) {
        cells[3]!.textContent = "unreachable";
        cells[4]!.textContent = errorText(err);
        cells[3]!.className = "bad";
      }
    }),
  );
}

// --- transactions --------------------------------------------------------------------------------

async function refreshTransactions(): Promise<void> {
  const list = await getJson<{ transactions: { txid: string; kind: string; status: string; timeMs: number }[] }>(
    `${origin}/node/transactions?limit=50`,
  );
  const body = $("transactions").querySelector("tbody")!;
  body.replaceChildren(
    ...list.transactions.map((tx) => {
      const verify = el("button", "receipt") as HTMLButtonElement;
      verify.disabled = tx.status !== "Committed";
      verify.addEventListener("click", () => {
        input("receipt-txid").value = tx.txid;
        selectTab("receipts");
        void fetchReceipt();
      });
      return row([el("span", tx.txid, "mono"), tx.kind, tx.status, new Date(tx.timeMs).toISOString(), verify]);
    }),
  );
}

// --- receipts ------------------------------------------------------------------------------------

async function fetchReceipt(): Promise<void> {
  const txid = input("receipt-txid").value.trim();
  try {
    const receipt = await getJson<Receipt>(`${origin}/node/receipt?txid=${encodeURIComponent(txid)}`);
    input("receipt-json").value = JSON.stringify(receipt, null, 2);
    verifyPastedReceipt();
  } catch (err) {
    show($("receipt-result"), errorText(err), false);
  }
}

/** Verifies the receipt in the text area offline and shows its Merkle path. */
function verifyPastedReceipt(): void {
  const out = $("receipt-result");
  out.replaceChildren();
  let receipt: Receipt;
  try {
    receipt = JSON.parse(input("receipt-json").value) as Receipt;
    if (state.serviceKey === undefined) throw new Error("no service key to verify against");
    const verified = verifyReceipt(receipt, state.serviceKey);
    const verdict = el(
      "p",
      `✔ verified: ${verified.txid} (${verified.kind}) is in the tree of ${verified.treeSize} entries signed at ${verified.signedBy} by node ${verified.nodeId.slice(0, 12)}…, endorsed by the ${state.pinned ? "pinned" : "unpinned"} service key`,
      "ok",
    );
    verdict.id = "receipt-verdict";
    out.append(verdict);
  } catch (err) {
    const verdict = el("p", `✘ ${errorText(err)}`, "bad");
    verdict.id = "receipt-verdict";
    out.append(verdict);
    return;
  }
  const path = el("table");
  path.append(row(["leaf", `seqno ${receipt.leaf.seqno} (index ${receipt.leaf.seqno - 1}), entry digest`, receipt.leaf.entryDigest]));
  receipt.proof.forEach((hash, level) => path.append(row([`level ${level + 1}`, "sibling", hash])));
  path.append(row(["root", `tree size ${receipt.signature.treeSize}`, receipt.signature.root]));
  out.append(el("h3", "Merkle path (leaf upward)"), path);
}

// --- contracts -----------------------------------------------------------------------------------

interface Operation {
  operationId: string;
  summary?: string;
  "x-treaty-mode": string;
  "x-treaty-auth": unknown;
  requestBody: { content: { "application/json": { schema: { properties: { args: unknown } } } } };
}

const operations = new Map<string, Operation>();

async function refreshContracts(): Promise<void> {
  const doc = await getJson<{ paths: Record<string, { post?: Operation }> }>(`${origin}/app/openapi.json`);
  operations.clear();
  const list = $("contracts");
  list.replaceChildren();
  const table = el("table");
  table.append(row(["Method", "Mode", "Auth", "Description"]));
  for (const [path, { post }] of Object.entries(doc.paths)) {
    // Contract methods only: the fixed routes (/app/events, /app/openapi.json) are GETs.
    if (!path.startsWith("/app/") || post === undefined) continue;
    operations.set(post.operationId, post);
    table.append(row([el("span", post.operationId, "mono"), post["x-treaty-mode"], JSON.stringify(post["x-treaty-auth"]), post.summary ?? ""]));
  }
  list.append(table);
  const select = $("call-method") as HTMLSelectElement;
  const selected = select.value;
  select.replaceChildren(...[...operations.keys()].map((id) => Object.assign(el("option", id), { value: id })));
  if (operations.has(selected)) select.value = selected;
  showShape();
}

function showShape(): void {
  const op = operations.get(($("call-method") as HTMLSelectElement).value);
  $("call-shape").textContent =
    op === undefined ? "" : `args: ${JSON.stringify(op.requestBody.content["application/json"].schema.properties.args, null, 2)}`;
}

async function callMethod(): Promise<void> {
  const out = $("call-result");
  try {
    const [contract, method] = ($("call-method") as HTMLSelectElement).value.split(".") as [string, string];
    const result = await client().call(contract, method, JSON.parse(input("call-args").value));
    show(out, result);
  } catch (err) {
    show(out, errorText(err), false);
  }
}

// --- governance ----------------------------------------------------------------------------------

async function refreshGovernance(): Promise<void> {
  const gov = governance();
  const [proposals, constitution] = await Promise.all([gov.proposals(), gov.constitution()]);
  const body = $("proposals").querySelector("tbody")!;
  body.replaceChildren(...proposals.map(proposalRow));
  $("constitution").textContent = Object.entries(constitution.source)
    .map(([file, text]) => `// ${file} (constitution ${constitution.digest.slice(0, 16)}…)\n${text}`)
    .join("\n\n");
}

function proposalRow(p: ProposalSummary): HTMLTableRowElement {
  const buttons = el("span");
  if (p.state === "Open") {
    for (const [label, act] of [
      ["vote for", () => governance().vote(p.proposalId, "for")],
      ["vote against", () => governance().vote(p.proposalId, "against")],
      ["withdraw", () => governance().withdraw(p.proposalId)],
    ] as const) {
      const b = el("button", label);
      b.dataset.action = label;
      b.addEventListener("click", () => void governanceAction(act));
      buttons.append(b);
    }
  }
  const tr = row([
    el("span", `${p.proposalId.slice(0, 12)}…`, "mono"),
    `${p.proposer.slice(0, 12)}…`,
    p.actions.map((a) => a.name).join(", "),
    p.state,
    String(p.ballots.for),
    String(p.ballots.against),
    buttons,
  ]);
  tr.dataset.proposal = p.proposalId;
  tr.dataset.state = p.state;
  return tr;
}

async function governanceAction(act: () => Promise<unknown>): Promise<void> {
  const out = $("governance-result");
  try {
    if (state.key === undefined) throw new Error("load a member's key file first");
    const result = await act();
    show(out, result);
    // Governance reads serve committed state: the change shows once its transaction commits.
    const txid = (result as { txid?: unknown } | null)?.txid;
    if (typeof txid === "string") await client().waitForCommit(txid);
  } catch (err) {
    show(out, errorText(err), false);
  }
  await refreshGovernance().catch(() => {});
}

function propose(): Promise<void> {
  return governanceAction(() => governance().propose(JSON.parse(input("proposal-actions").value)));
}

// --- tabs and start-up ---------------------------------------------------------------------------

const REFRESH: Record<string, () => Promise<void>> = {
  nodes: refreshNodes,
  transactions: refreshTransactions,
  receipts: async () => {},
  contracts: refreshContracts,
  governance: refreshGovernance,
};

function selectTab(name: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>("nav button"))
    b.classList.toggle("active", b.dataset.tab === name);
  for (const section of document.querySelectorAll<HTMLElement>("section.tab"))
    section.hidden = section.id !== `tab-${name}`;
  REFRESH[name]!().catch((err: unknown) => {
    $("service-line").textContent = `${name}: ${errorText(err)}`;
  });
}

function on(id: string, handler: () => unknown): void {
  $(id).addEventListener("click", () => void handler());
}

for (const b of document.querySelectorAll<HTMLButtonElement>("nav button"))
  b.addEventListener("click", () => selectTab(b.dataset.tab!));
on("pin-service", pinService);
on("load-key", loadKey);
on("forget-key", forgetKey);
on("refresh-nodes", refreshNodes);
on("refresh-transactions", refreshTransactions);
on("fetch-receipt", fetchReceipt);
on("verify-receipt", verifyPastedReceipt);
on("call", callMethod);
on("refresh-proposals", refreshGovernance);
on("propose", propose);
$("call-method").addEventListener("change", showShape);
selectTab("nodes");
