/** The registry of `treaty` subcommands. Add a command by importing it here. */
import type { Command } from "./command.js";
import { CONTRACT_COMMANDS } from "./contract.js";
import { devCommand } from "./dev.js";
import { GOV_COMMANDS } from "./gov.js";
import { GOV_READ_COMMANDS } from "./gov-read.js";
import { initCommand } from "./init.js";
import { keygenCommand } from "./keygen.js";
import { LEDGER_COMMANDS } from "./ledger.js";
import { nodeStartCommand } from "./node.js";
import { callCommand } from "./call.js";
import { eventsCommand } from "./events.js";
import { receiptCommand } from "./receipt.js";
import { recoveryShareCommand } from "./recovery.js";
import { statusCommand } from "./status.js";
import { testCommand } from "./test.js";

export const COMMANDS: readonly Command[] = [
  initCommand,
  testCommand,
  devCommand,
  keygenCommand,
  nodeStartCommand,
  ...LEDGER_COMMANDS,
  ...CONTRACT_COMMANDS,
  callCommand,
  eventsCommand,
  statusCommand,
  receiptCommand,
  ...GOV_COMMANDS,
  ...GOV_READ_COMMANDS,
  recoveryShareCommand,
];
