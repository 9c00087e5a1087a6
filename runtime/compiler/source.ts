/**
 * Reading a contract's source files, from a folder or from memory, with the caps that keep a
 * hostile or mistaken upload cheap to refuse: total size, file count, path shape. Only files
 * the compiler asks for (those reachable from index.ts) are read from a folder.
 */
import { readFileSync, realpathSync, statSync } from "node:fs";
import { join, sep } from "node:path";

/** A contract: a folder path, or files in memory keyed by relative path (entry `index.ts`). */
export type ContractSource = string | { readonly files: Readonly<Record<string, string>> };

/** Caps on what one contract may contain. */
export interface SourceLimits {
  /** Total UTF-8 bytes of the files read. */
  readonly maxSourceBytes: number;
  readonly maxFiles: number;
}

/** 1 MiB of source in at most 256 files: far beyond a real contract, small enough to refuse cheaply. */
export const DEFAULT_SOURCE_LIMITS: SourceLimits = { maxSourceBytes: 1024 * 1024, maxFiles: 256 };

/** The entry module of every contract. */
export const ENTRY = "index.ts";

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const MAX_PATH_CHARS = 256;

/** Why `path` is not an acceptable relative contract path, or undefined. */
export function pathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > MAX_PATH_CHARS)
    return `path must have 1 to ${MAX_PATH_CHARS} characters`;
  if (!path.endsWith(".ts")) return "only .ts files can be part of a contract";
  for (const segment of path.split("/")) {
    if (!SEGMENT.test(segment) || segment === "." || segment === "..") {
      return "path segments must match /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/ (relative, forward slashes, no . or ..)";
    }
  }
  return undefined;
}

/** A problem met while reading, reported by the compiler as a diagnostic on `file`. */
export interface SourceProblem {
  readonly file: string;
  readonly message: string;
  readonly code: "InvalidPath" | "SourceTooLarge" | "MissingEntry" | "UnreadableSource";
}

/**
 * Reads a contract's files on demand and keeps the totals. `read` returns undefined for a file
 * that does not exist (the compiler reports the import); problems accumulate in `problems`.
 */
export class SourceReader {
  readonly problems: SourceProblem[] = [];
  private readonly texts = new Map<string, string | undefined>();
  private totalBytes = 0;
  private readonly root: string | undefined;
  private readonly memory: ReadonlyMap<string, string> | undefined;

  constructor(
    source: ContractSource,
    private readonly limits: SourceLimits = DEFAULT_SOURCE_LIMITS,
  ) {
    if (typeof source === "string") {
      try {
        this.root = realpathSync(source);
        if (!statSync(this.root).isDirectory()) throw new Error("not a directory");
      } catch {
        this.root = undefined;
        this.problems.push({
          file: ENTRY,
          code: "UnreadableSource",
          message: `contract folder ${JSON.stringify(source)} is not a readable directory`,
        });
      }
    } else {
      const files = new Map<string, string>();
      let total = 0;
      for (const [path, text] of Object.entries(source.files)) {
        const problem = pathProblem(path);
        if (problem !== undefined) this.problems.push({ file: path, code: "InvalidPath", message: problem });
        else if (typeof text !== "string")
          this.problems.push({
            file: path,
            code: "UnreadableSource",
            message: "file content must be a string",
          });
        else {
          files.set(path, text);
          total += Buffer.byteLength(text, "utf8");
        }
      }
      if (files.size > limits.maxFiles) {
        this.problems.push({
          file: ENTRY,
          code: "SourceTooLarge",
          message: `contract has ${files.size} files; the limit is ${limits.maxFiles}`,
        });
      }
      if (total > limits.maxSourceBytes) {
        this.problems.push({
          file: ENTRY,
          code: "SourceTooLarge",
          message: `contract source is ${total} bytes; the limit is ${limits.maxSourceBytes}`,
        });
      }
      this.memory = files;
    }
  }

  /** The text of relative path `path`, or undefined when absent or refused. */
  read(path: string): string | undefined {
    if (this.texts.has(path)) return this.texts.get(path);
    const text = this.load(path);
    this.texts.set(path, text);
    return text;
  }

  /** True when `path` exists (without counting it against the caps). */
  exists(path: string): boolean {
    if (pathProblem(path) !== undefined) return false;
    if (this.memory !== undefined) return this.memory.has(path);
    if (this.root === undefined) return false;
    try {
      return statSync(join(this.root, path)).isFile();
    } catch {
      return false;
    }
  }

  private load(path: string): string | undefined {
    if (pathProblem(path) !== undefined) return undefined;
    if (this.memory !== undefined) return this.memory.get(path);
    if (this.root === undefined) return undefined;
    let text: string;
    try {
      const real = realpathSync(join(this.root, path));
      if (!real.startsWith(this.root + sep)) {
        this.problems.push({
          file: path,
          code: "InvalidPath",
          message: "file resolves (through a link) outside the contract folder",
        });
        return undefined;
      }
      // Check the size before reading, so a huge file is refused without loading it.
      const size = statSync(real).size;
      if (this.totalBytes + size > this.limits.maxSourceBytes) {
        this.problems.push({
          file: path,
          code: "SourceTooLarge",
          message: `contract source exceeds ${this.limits.maxSourceBytes} bytes`,
        });
        return undefined;
      }
      text = readFileSync(real, "utf8");
    } catch {
      return undefined;
    }
    this.totalBytes += Buffer.byteLength(text, "utf8");
    if (this.texts.size + 1 > this.limits.maxFiles) {
      this.problems.push({
        file: path,
        code: "SourceTooLarge",
        message: `contract has more than ${this.limits.maxFiles} files`,
      });
      return undefined;
    }
    if (this.totalBytes > this.limits.maxSourceBytes) {
      this.problems.push({
        file: path,
        code: "SourceTooLarge",
        message: `contract source exceeds ${this.limits.maxSourceBytes} bytes`,
      });
      return undefined;
    }
    return text;
  }
}
