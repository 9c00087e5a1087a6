import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDataFile, renderDataFile } from "./datadriven.js";

const SAMPLE = `# a comment
cmd one
----
out 1
out 2

# between
cmd two
----
ok
`;

test("datadriven files parse into cases and render back unchanged", () => {
  const file = parseDataFile(SAMPLE);
  assert.deepEqual(
    file.cases.map((c) => [c.line, c.command, c.expected]),
    [
      [2, "cmd one", ["out 1", "out 2"]],
      [8, "cmd two", ["ok"]],
    ],
  );
  assert.equal(renderDataFile(file, [["out 1", "out 2"], ["ok"]]), SAMPLE);
  assert.equal(renderDataFile(file, [["new"], ["ok"]]), SAMPLE.replace("out 1\nout 2", "new"));
});

test("a command without its separator is an error naming the line", () => {
  assert.throws(() => parseDataFile("cmd\nno separator\n"), /line 1/);
});
