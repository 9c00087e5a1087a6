/** The registry of `treaty` subcommands. Add a command by importing it here. */
import type { Command } from "./command.js";
import { CONTRACT_COMMANDS } from "./contract.js";
import { devCommand } from "./dev.js";
import { GOV_COMMANDS } from "./gov.js";
import { keygenCommand } from "./keygen.js";
import { LEDGER_COMMANDS } from "./ledger.js";
import { nodeStartCommand } from "./node.js";
import { callCommand } from "./call.js";
import { receiptCommand } from "./receipt.js";
import { recoveryShareCommand } from "./recovery.js";
import { statusCommand } from "./status.js";

export const COMMANDS: readonly Command[] = [
  devCommand,
  keygenCommand,
  nodeStartCommand,
  ...LEDGER_COMMANDS,
  ...CONTRACT_COMMANDS,
  callCommand,
  statusCommand,
  receiptCommand,
  ...GOV_COMMANDS,
  recoveryShareCommand,
];
