// A test reporter that prints nothing until the run ends, then every failed test again: its
// file, its name within its suites and the first lines of its error. The TAP stream of a long
// run can be cut (a CI log shows only its tail); this summary is the last thing printed.
// Used by scripts/run-tests.mjs beside the TAP reporter.

const ERROR_LINES = 12;

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
    const message = String(error?.cause?.stack ?? error?.cause ?? error?.message ?? error);
    failures.push({ file: file ?? "(unknown file)", path, message });
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failed test${failures.length === 1 ? "" : "s"}:\n`;
  for (const { file, path, message } of failures) {
    yield `# not ok: ${path}\n#   in ${file}\n`;
    for (const line of message.split("\n").slice(0, ERROR_LINES)) yield `#   ${line}\n`;
  }
}
