/**
 * One shape for every `treaty` subcommand. A command parses its own flags (node:util
 * parseArgs), prints JSON or text on stdout, diagnostics on stderr, and returns its exit code:
 * 0 success, 1 the operation failed (bad contract, failed call, invalid ledger), 2 usage error.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { TreatyError } from "../../sdk/errors.js";

export interface Command {
  /** Words after `treaty`, e.g. `["contract", "build"]`. */
  readonly path: readonly string[];
  readonly summary: string;
  /** Full help text, shown by `--help`. */
  readonly usage: string;
  run(argv: string[]): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** parseArgs with strict checking; unknown flags or missing values become UsageErrors. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  argv: string[],
  options: T,
  allowPositionals = true,
): {
  values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>["values"];
  positionals: string[];
} {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true }) as never;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Prints a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints an error as `{error: {code, message}}` JSON on stdout (scripts parse stdout). */
export function printError(err: unknown): void {
  if (err instanceof TreatyError) printJson(err.toJSON());
  else printJson({ error: { code: "Internal", message: err instanceof Error ? err.message : String(err) } });
}
