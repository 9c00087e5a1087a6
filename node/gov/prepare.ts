/**
 * What the leader does with a proposal on its main thread, before the proposal engine sees it:
 *
 * - checks the envelope `{actions: [{name, args}]}` (ProposalInvalid naming the field) and that
 *   everything in it is plain JSON data (a MessagePack body could carry binary);
 * - compiles the `files` of `deploy_contract` and `set_constitution` actions (CompileError with
 *   the diagnostics; the TypeScript compiler is far too heavy for the transaction path, and the
 *   node runs it on its compiler thread so consensus keeps its heartbeats). Compiling runs no
 *   contract code: whether the bundle loads, and what its manifest says (for a constitution:
 *   that it IS one), is checked by the proposal engine in the sandbox (engine.ts `inspect`);
 * - checks that the public keys of `set_member`, `set_user` and `rotate_member_key` are points
 *   on their curve, that their x25519 `encryptionKey`s are not of small order (a share sealed to
 *   one cannot be issued: sdk/recovery.ts `encryptionKeyProblem`), and that the keys of a
 *   `set_jwt_issuer` JWKS import as public keys of their algorithm (node/auth/jwks.ts), which
 *   the sandbox cannot do (it has no curve arithmetic), so the constitution need only check
 *   format.
 *
 * The result is the `propose` call's arguments: the actions as written plus the compiled code.
 * The constitution still validates every action (names, argument shapes) in the transaction.
 */
import { TreatyError } from "../../sdk/errors.js";
import { checkJwtIssuerKeys } from "../auth/jwks.js";
import { parsePublicKey } from "../../sdk/keys.js";
import { fromHex } from "../../sdk/bytes.js";
import { encryptionKeyProblem } from "../../sdk/recovery.js";
import type { ProposeArgs } from "./engine.js";
import type { CompiledCode, ProposalAction } from "./tables.js";

/** Most actions in one proposal (the default constitution has the same cap). */
export const MAX_ACTIONS = 64;
const MAX_DEPTH = 32;

/**
 * Compiles contract files: the node's compiler thread (compiler-thread.ts); anything with the
 * same contract (CompileError with diagnostics in `details`) in tests.
 */
export type Compile = (files: Readonly<Record<string, string>>) => Promise<CompiledCode> | CompiledCode;

/**
 * Checks and prepares a proposal's `args` (the signed body's `args`). Throws TreatyError
 * `ProposalInvalid` or `CompileError`, each naming the action (`actions[1].args.files: ...`).
 */
export async function prepareProposal(args: unknown, compile: Compile): Promise<ProposeArgs> {
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    throw new TreatyError("ProposalInvalid", "args: expected a proposal {actions: [{name, args}]}");
  }
  for (const key of Object.keys(args)) {
    if (key !== "actions") throw new TreatyError("ProposalInvalid", `args.${key}: unknown field`);
  }
  const list = (args as { actions?: unknown }).actions;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TreatyError("ProposalInvalid", "actions: expected a non-empty array of {name, args}");
  }
  if (list.length > MAX_ACTIONS) {
    throw new TreatyError("ProposalInvalid", `actions: at most ${MAX_ACTIONS} actions per proposal`);
  }
  const actions: ProposalAction[] = [];
  const code: (CompiledCode | null)[] = [];
  for (const [i, item] of (list as unknown[]).entries()) {
    const at = `actions[${i}]`;
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new TreatyError("ProposalInvalid", `${at}: expected an object {name, args}`);
    }
    for (const key of Object.keys(item)) {
      if (key !== "name" && key !== "args")
        throw new TreatyError("ProposalInvalid", `${at}.${key}: unknown field`);
    }
    const { name, args: actionArgs = {} } = item as { name?: unknown; args?: unknown };
    if (typeof name !== "string" || name.length === 0 || name.length > 128) {
      throw new TreatyError("ProposalInvalid", `${at}.name: expected an action name`);
    }
    checkPlainJson(actionArgs, `${at}.args`, 0);
    checkIdentityKey(name, actionArgs, at);
    await checkJwtIssuerKeys(name, actionArgs, at);
    actions.push({ name, args: actionArgs });
    code.push(await compileAction(name, actionArgs, at, compile));
  }
  return { actions, code };
}

/** The compiled code of a deploy_contract / set_constitution action (null for the others). */
async function compileAction(
  name: string,
  args: unknown,
  at: string,
  compile: Compile,
): Promise<CompiledCode | null> {
  if (name !== "deploy_contract" && name !== "set_constitution") return null;
  const files = (args as { files?: unknown } | null)?.files;
  // Malformed files are the constitution's to report (with its message); nothing to compile.
  if (files === null || typeof files !== "object" || Array.isArray(files)) return null;
  if (!Object.values(files).every((text) => typeof text === "string")) return null;
  let compiled: CompiledCode;
  try {
    compiled = await compile(files as Record<string, string>);
  } catch (err) {
    if (err instanceof TreatyError) {
      throw new TreatyError(err.code, `${at}.args.files: ${err.message}`, err.details);
    }
    throw err;
  }
  return compiled;
}

const HEX = /^[0-9a-fA-F]+$/;
const KEY_HEX_DIGITS: Readonly<Record<string, number>> = { ed25519: 64, p256: 66, secp256k1: 66 };

/** The actions whose args carry an identity key: `{publicKey, curve?, encryptionKey?}`. */
const KEY_ACTIONS: ReadonlySet<string> = new Set(["set_member", "set_user", "rotate_member_key"]);

/**
 * A well-formed `publicKey` of set_member/set_user/rotate_member_key must also be a point on its
 * curve (a member rotated to a key no signature verifies under could never sign again), and a
 * well-formed `encryptionKey` a usable x25519 key.
 */
function checkIdentityKey(name: string, args: unknown, at: string): void {
  if (!KEY_ACTIONS.has(name)) return;
  const {
    publicKey,
    curve = "ed25519",
    encryptionKey,
  } = (args ?? {}) as { publicKey?: unknown; curve?: unknown; encryptionKey?: unknown };
  // Shapes are the constitution's to check and report; only well-formed keys are checked here.
  if (typeof encryptionKey === "string" && encryptionKey.length === 64 && HEX.test(encryptionKey)) {
    const problem = encryptionKeyProblem(fromHex(encryptionKey));
    if (problem !== undefined)
      throw new TreatyError("ProposalInvalid", `${at}.args.encryptionKey: ${problem}`);
  }
  if (typeof curve !== "string" || typeof publicKey !== "string" || !HEX.test(publicKey)) return;
  if (publicKey.length !== KEY_HEX_DIGITS[curve]) return;
  try {
    parsePublicKey(curve, publicKey.toLowerCase(), `${at}.args.publicKey`);
  } catch (err) {
    if (err instanceof TreatyError) throw new TreatyError("ProposalInvalid", err.message);
    throw err;
  }
}

/** Plain JSON only: no binary, no non-finite numbers, bounded depth. */
function checkPlainJson(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH)
    throw new TreatyError("ProposalInvalid", `${path}: nested deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TreatyError("ProposalInvalid", `${path}: not a finite number`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      checkPlainJson(item, `${path}[${i}]`, depth + 1);
    });
    return;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) checkPlainJson(item, `${path}.${key}`, depth + 1);
    return;
  }
  throw new TreatyError(
    "ProposalInvalid",
    `${path}: expected JSON data, got ${value instanceof Uint8Array ? "binary" : typeof value}`,
  );
}
