// A test reporter that prints nothing until the run ends, then every failed test again: its
// file, its name within its suites, and the first lines of its error and of each of its causes.
// The TAP stream of a long run can be cut (a CI log shows only its tail); this summary is the
// last thing printed.
// Used by scripts/run-tests.mjs beside the TAP reporter.

/** Lines shown of each error in a failure's chain (the error, then its causes). */
const LINES_PER_ERROR = 8;

/** An error's first lines, then each cause's ("fetch failed" says why only in its cause). */
function describe(error) {
  const lines = [];
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause, depth++) {
    const text = String(e.stack ?? e.message ?? e)
      .split("\n")
      .slice(0, LINES_PER_ERROR);
    if (depth > 0) text[0] = `caused by: ${text[0]}`;
    lines.push(...text);
  }
  return lines;
}

export default async function* failureSummary(source) {
  const failures = [];
  /** Per file (files run concurrently), the tests and suites now open by nesting level. */
  const open = new Map();
  const openIn = (file) => open.get(file) ?? open.set(file, []).get(file);
  for await (const event of source) {
    if (event.type === "test:start") openIn(event.data.file)[event.data.nesting] = event.data.name;
    if (event.type !== "test:fail") continue;
    const { name, nesting, file, details } = event.data;
    const error = details?.error;
    // A suite fails when one of its tests does; the test itself is listed.
    if (error?.failureType === "subtestsFailed") continue;
    const path = [...openIn(file).slice(0, nesting), name].join(" › ");
    // The runner wraps what a test threw (ERR_TEST_FAILURE): the thrown error is its cause.
    const lines = describe(error?.cause ?? error);
    failures.push({ file: file ?? "(unknown file)", path, lines });
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failed test${failures.length === 1 ? "" : "s"}:\n`;
  for (const { file, path, lines } of failures) {
    yield `# not ok: ${path}\n#   in ${file}\n`;
    for (const line of lines) yield `#   ${line}\n`;
  }
}
