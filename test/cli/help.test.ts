/**
 * `treaty --help`, every group's `--help` (`treaty contract --help` lists `build` and `call`) and
 * every command's `--help`, spawned as a user would run them; and `treaty node start`'s flags
 * that do not go together (usage errors before anything starts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COMMANDS } from "../../node/cli/commands.js";
import { UsageError } from "../../node/cli/command.js";
import { commandGroups, commandsIn } from "../../node/cli/help.js";
import { nodeStartCommand } from "../../node/cli/node.js";
import { treaty } from "../support/cli.js";

const GROUPS = commandGroups(COMMANDS);

describe("treaty --help", { concurrency: true }, () => {
  it("has the groups the README uses", () => {
    const names = GROUPS.map((g) => g.join(" ")).sort();
    for (const group of ["constitution", "contract", "ledger", "node"])
      assert.ok(names.includes(group), group);
  });

  it("the top level lists every command", async () => {
    const run = await treaty("--help");
    assert.equal(run.code, 0, run.stderr);
    for (const command of COMMANDS) assert.ok(run.stdout.includes(`treaty ${command.path.join(" ")} `));
  });

  for (const group of GROUPS) {
    const name = group.join(" ");
    it(`treaty ${name} --help lists its commands and nothing else`, async () => {
      const run = await treaty(...group, "--help");
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: treaty ${name} <command>`));
      const listed = commandsIn(COMMANDS, group);
      assert.ok(listed.length > 0);
      for (const command of listed) {
        assert.match(
          run.stdout,
          new RegExp(`^  treaty ${command.path.join(" ")} +${escapeRegExp(command.summary)}$`, "m"),
        );
      }
      const lines = run.stdout.split("\n").filter((line) => line.startsWith("  treaty "));
      assert.equal(lines.length, listed.length);
    });

    it(`treaty ${name} alone or with an unknown word is a usage error that lists the group`, async () => {
      const bare = await treaty(...group);
      assert.equal(bare.code, 2);
      assert.match(bare.stderr, new RegExp(`^treaty ${name}: expected a command`));
      const unknown = await treaty(...group, "bogus");
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, new RegExp(`^treaty: unknown command "${name} bogus"`));
      for (const command of commandsIn(COMMANDS, group))
        assert.ok(unknown.stderr.includes(`treaty ${command.path.join(" ")} `), command.path.join(" "));
    });
  }

  for (const command of COMMANDS) {
    const name = command.path.join(" ");
    it(`treaty ${name} --help prints its usage`, async () => {
      const run = await treaty(...command.path, "--help");
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stdout.startsWith(`Usage: treaty ${name}`), run.stdout);
      assert.equal(run.stdout, `${command.usage}\n`);
    });
  }

  it("every flag a command's help explains is in its synopsis (the Usage lines)", () => {
    for (const command of COMMANDS) {
      const [synopsis, ...rest] = command.usage.split("\n\n");
      const explained = [...rest.join("\n\n").matchAll(/^ {2}(--[a-z][a-z-]*)(?: \| (--[a-z][a-z-]*))?/gm)]
        .flatMap((m) => [m[1]!, m[2]])
        .filter((flag): flag is string => flag !== undefined);
      for (const flag of explained)
        assert.match(synopsis!, new RegExp(`${flag}(?![a-z-])`), `treaty ${command.path.join(" ")} ${flag}`);
    }
  });

  it("treaty recovery share --help says what --service pins: the lost service, TLS unchecked", () => {
    const usage = COMMANDS.find((c) => c.path.join(" ") === "recovery share")!.usage;
    assert.match(usage, /--service <file> +the LOST service's service\.json: pins its identity/);
    assert.match(usage, /TLS is not checked/);
    assert.doesNotMatch(usage, /for https nodes\s+the TLS certificate/);
  });

  it("an unknown command outside any group lists everything", async () => {
    const run = await treaty("frobnicate");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^treaty: unknown command "frobnicate"/);
    for (const command of COMMANDS) assert.ok(run.stderr.includes(`treaty ${command.path.join(" ")} `));
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("treaty node start: flags that do not go together", () => {
  for (const [argv, why] of [
    [["--join", "service.json", "--recover", "copy"], /--join and --recover exclude each other/],
    [["--recover-snapshot", "snapshot-1.committed"], /--recover-snapshot goes with --recover/],
    [[], /--config <file> is required/],
  ] as const) {
    it(`${argv.join(" ") || "(no flags)"}: a usage error, before anything starts`, async () => {
      const config = argv.length === 0 ? [] : ["--config", "node.json"];
      await assert.rejects(nodeStartCommand.run([...config, ...argv]), (err: unknown) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.match(err.message, why);
        return true;
      });
    });
  }
});
