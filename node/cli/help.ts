/**
 * Help texts of the `treaty` CLI: the command list, whole or for one group (`treaty contract`,
 * `treaty ledger`, ...: the first words that several commands, or one multi-word command, share).
 */
import type { Command } from "./command.js";

/** The groups: every proper prefix of a command path, e.g. `["contract"]`, `["ledger"]`. */
export function commandGroups(commands: readonly Command[]): string[][] {
  const seen = new Map<string, string[]>();
  for (const command of commands) {
    for (let n = 1; n < command.path.length; n++) {
      const prefix = command.path.slice(0, n);
      seen.set(prefix.join(" "), prefix);
    }
  }
  return [...seen.values()];
}

/** The commands under `group` (all of them for `[]`). */
export function commandsIn(commands: readonly Command[], group: readonly string[]): Command[] {
  return commands.filter((c) => c.path.length > group.length && group.every((word, i) => c.path[i] === word));
}

/** The group that `argv` starts with (longest first), or undefined. */
export function findGroup(commands: readonly Command[], argv: readonly string[]): string[] | undefined {
  let best: string[] | undefined;
  for (const group of commandGroups(commands)) {
    const matches = group.every((word, i) => argv[i] === word);
    if (matches && (best === undefined || group.length > best.length)) best = group;
  }
  return best;
}

/** The list of commands (of one group, when given) with their summaries. */
export function helpText(commands: readonly Command[], group: readonly string[] = []): string {
  const listed = commandsIn(commands, group);
  const width = Math.max(...listed.map((c) => c.path.join(" ").length));
  const lines = listed.map((c) => `  treaty ${c.path.join(" ").padEnd(width)}  ${c.summary}`);
  const head =
    group.length === 0
      ? ["Treaty: a confidential consortium ledger for TypeScript contracts.", "", "Commands:"]
      : [`Usage: treaty ${group.join(" ")} <command> [flags]`, "", "Commands:"];
  return [...head, ...lines, "", "Run `treaty <command> --help` for a command's flags."].join("\n");
}
