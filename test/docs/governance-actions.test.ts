/**
 * docs/governance.md's "Actions of the default constitution" table is the constitution's: every
 * action it lists is one the constitution knows and the other way round, and every code of its
 * "fails when applied with" column is what that action's `apply` fails with in a state that
 * calls for it (run here under treaty/testing, over seeded governance tables). A code the table
 * names that the action never gives, or one the action gives that the table leaves out, fails.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import constitution from "../../contracts/constitution/index.js";
import { ACTIONS } from "../../contracts/constitution/actions.js";
import {
  type MemberRecord,
  members,
  nodeCode,
  nodes,
  service,
  users,
} from "../../contracts/constitution/tables.js";
import { member, namedPublicKey, testConstitution } from "../../contracts/testing/index.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { fromHex } from "../../sdk/bytes.js";
import { keyId } from "../../sdk/keys.js";

const ROOT = findPackageRoot();

/** The table's rows: action → the codes of its "fails when applied with" column. */
function actionRows(): Map<string, Set<string>> {
  const text = readFileSync(join(ROOT, "docs", "governance.md"), "utf8");
  const section = text.split(/^## /m).find((s) => s.startsWith("Actions of the default constitution\n"));
  assert.ok(section, 'docs/governance.md has "## Actions of the default constitution"');
  const rows = new Map<string, Set<string>>();
  for (const line of section.split("\n")) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const name = /^`([a-z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (name === undefined || cells.length !== 6) continue;
    rows.set(name, new Set([...cells[4]!.matchAll(/`([A-Z][A-Za-z]+)`/g)].map((m) => m[1]!)));
  }
  return rows;
}

const key = (name: string) => namedPublicKey(name);
const idOf = (name: string) => keyId({ curve: "ed25519", publicKey: fromHex(key(name)) });
const ENCRYPTION = "2ea8acbdded76cd4a9151109b9173c311e2ab92941e2c36afc43aee9d460357f";
const WALLET = `0x${"ab".repeat(20)}`;
const MEASUREMENT = "c".repeat(64);
const NODE = "d".repeat(64);

type Gov = ReturnType<typeof testConstitution>;

/** A key member under its real id, optionally a recovery share holder. */
function keyMember(c: Gov, name: string, holder = false): void {
  const record: MemberRecord = {
    curve: "ed25519",
    publicKey: key(name),
    ...(holder && { encryptionKey: ENCRYPTION }),
    status: "active",
  };
  c.map(members).set(idOf(name), record);
}

function openService(c: Gov, recoveryThreshold: number): void {
  c.map(service).set("current", { status: "open", identity: "f".repeat(64), recoveryThreshold });
}

function node(c: Gov, id: string, status: "pending" | "trusted", allowed: boolean): void {
  c.map(nodes).set(id, { publicKey: "0".repeat(64), status, measurement: MEASUREMENT });
  if (allowed) c.map(nodeCode).set(MEASUREMENT, { platform: "virtual" });
}

/** [action, code, the state before, the action's args]: one per (action, code) the code gives. */
const CASES: ReadonlyArray<readonly [string, string, (c: Gov) => void, unknown]> = [
  [
    "set_member",
    "RoleConflict",
    (c) => c.map(users).set(idOf("u"), { curve: "ed25519", publicKey: key("u") }),
    { publicKey: key("u") },
  ],
  [
    "set_member",
    "RecoveryShareHolders",
    (c) => {
      openService(c, 2);
      keyMember(c, "a", true);
      keyMember(c, "b", true);
    },
    { publicKey: key("a") }, // drops a's encryptionKey: 1 holder left, threshold 2
  ],
  ["remove_member", "NoSuchMember", (c) => keyMember(c, "a"), { id: idOf("nobody") }],
  ["remove_member", "LastMember", (c) => keyMember(c, "a"), { id: idOf("a") }],
  [
    "remove_member",
    "RecoveryShareHolders",
    (c) => {
      openService(c, 2);
      keyMember(c, "a", true);
      keyMember(c, "b", true);
      keyMember(c, "c");
    },
    { id: idOf("a") },
  ],
  ["set_user", "RoleConflict", (c) => keyMember(c, "a"), { publicKey: key("a") }],
  ["remove_user", "NoSuchUser", () => {}, { id: idOf("nobody") }],
  ["remove_jwt_issuer", "NoSuchIssuer", () => {}, { issuer: "https://login.example.com" }],
  ["remove_contract", "NoSuchContract", () => {}, { name: "escrow" }],
  ["remove_node_code", "NoSuchNodeCode", () => {}, { measurement: MEASUREMENT }],
  ["trust_node", "NoSuchNode", () => {}, { id: NODE }],
  ["trust_node", "NodeNotPending", (c) => node(c, NODE, "trusted", true), { id: NODE }],
  ["trust_node", "CodeNotAllowed", (c) => node(c, NODE, "pending", false), { id: NODE }],
  ["retire_node", "NoSuchNode", () => {}, { id: NODE }],
  ["retire_node", "NodeNotTrusted", (c) => node(c, NODE, "pending", true), { id: NODE }],
  ["retire_node", "LastNode", (c) => node(c, NODE, "trusted", true), { id: NODE }],
  ["transition_service_to_open", "AlreadyOpen", (c) => openService(c, 1), {}],
  [
    "set_recovery_threshold",
    "ThresholdTooHigh",
    (c) => {
      openService(c, 1);
      keyMember(c, "a", true);
      keyMember(c, "b");
    },
    { threshold: 2 },
  ],
  ["rotate_member_key", "NoSuchMember", () => {}, { id: idOf("nobody"), publicKey: key("new") }],
  [
    "rotate_member_key",
    "RoleConflict",
    (c) => {
      keyMember(c, "a");
      c.map(users).set(idOf("u"), { curve: "ed25519", publicKey: key("u") });
    },
    { id: idOf("a"), publicKey: key("u") },
  ],
  [
    "rotate_member_key",
    "WalletMember",
    (c) => c.map(members).set(WALLET, { address: WALLET, status: "active" }),
    { id: WALLET, publicKey: key("new") },
  ],
];

describe("docs/governance.md: the actions of the default constitution", () => {
  it("lists every action the constitution knows, and no other", () => {
    assert.deepEqual([...actionRows().keys()].sort(), Object.keys(ACTIONS).sort());
  });

  it("names, for each action, exactly the codes its apply fails with", () => {
    const documented = [...actionRows()].flatMap(([name, codes]) =>
      [...codes].map((code) => `${name} ${code}`),
    );
    assert.deepEqual(documented.sort(), CASES.map(([name, code]) => `${name} ${code}`).sort());
  });

  for (const [name, code, before, args] of CASES) {
    it(`${name} fails with ${code}`, () => {
      const c = testConstitution(constitution);
      before(c);
      const proposal = { proposalId: "p1", proposer: idOf("a"), actions: [{ name, args }] };
      const valid = c.call("validate", { proposal }, { caller: member("a") });
      assert.deepEqual(valid.ok && valid.result, { valid: true }, JSON.stringify(valid));
      const applied = c.call("apply", { proposal }, { caller: member("a") });
      assert.equal(applied.ok ? "applied" : applied.error.code, code, JSON.stringify(applied));
    });
  }
});
