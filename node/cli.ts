#!/usr/bin/env node
/**
 * `treaty`: the command-line entry point. Each subcommand lives in node/cli/<group>.ts and is
 * registered in COMMANDS below; this file only dispatches and prints help.
 */
import { TreatyError } from "../sdk/errors.js";
import { type Command, EXIT_FAILED, EXIT_USAGE, UsageError } from "./cli/command.js";
import { COMMANDS } from "./cli/commands.js";
import { findGroup, helpText } from "./cli/help.js";

function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const command of COMMANDS) {
    const matches = command.path.every((word, i) => argv[i] === word);
    if (matches && (best === undefined || command.path.length > best.path.length)) best = command;
  }
  return best && { command: best, rest: argv.slice(best.path.length) };
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    process.stdout.write(`${helpText(COMMANDS)}\n`);
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    // `treaty contract`, `treaty contract --help`: list the group's commands.
    const group = findGroup(COMMANDS, argv);
    const rest = argv.slice(group?.length ?? 0);
    if (group && (rest[0] === "--help" || rest[0] === "-h")) {
      process.stdout.write(`${helpText(COMMANDS, group)}\n`);
      return 0;
    }
    const what =
      group && rest.length === 0
        ? `treaty ${group.join(" ")}: expected a command`
        : `treaty: unknown command "${argv.join(" ")}"`;
    process.stderr.write(`${what}\n\n${helpText(COMMANDS, group)}\n`);
    return EXIT_USAGE;
  }
  if (found.rest.includes("--help") || found.rest.includes("-h")) {
    process.stdout.write(`${found.command.usage}\n`);
    return 0;
  }
  try {
    return await found.command.run(found.rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `treaty ${found.command.path.join(" ")}: ${err.message}\n\n${found.command.usage}\n`,
      );
      return EXIT_USAGE;
    }
    if (err instanceof TreatyError) {
      process.stderr.write(`treaty ${found.command.path.join(" ")}: ${err.code}: ${err.message}\n`);
      return EXIT_FAILED;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
