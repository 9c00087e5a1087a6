/** The registry of `treaty` subcommands. Add a command by importing it here. */
import type { Command } from "./command.js";
import { keygenCommand } from "./keygen.js";
import { LEDGER_COMMANDS } from "./ledger.js";

export const COMMANDS: readonly Command[] = [keygenCommand, ...LEDGER_COMMANDS];
