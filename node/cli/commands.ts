/** The registry of `treaty` subcommands. Add a command by importing it here. */
import type { Command } from "./command.js";

export const COMMANDS: readonly Command[] = [];
