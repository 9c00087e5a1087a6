/**
 * Child process of genesis-compile.test.ts: prints one JSON line `{typescript, answered}` where
 * `typescript` lists the files of the `typescript` package in this (main) thread's CommonJS module
 * cache, and `answered` is whether a call to a genesis contract was answered. TypeScript is
 * CommonJS, so importing it from anywhere on this thread (ESM `import` included) puts it in that
 * cache; a worker thread has a cache of its own.
 *
 * Argument `genesis`: starts a node with a new service (startTestNode: genesis with the sample
 * contracts and the default constitution), calls one of its contracts, then reports and stops it.
 * Argument `load-compiler`: imports the contract compiler and reports (the check's control: the
 * cache does show TypeScript once this thread loads it).
 */
import { createRequire } from "node:module";

const mode = process.argv[2];

function typescriptFiles(): string[] {
  return Object.keys(createRequire(import.meta.url).cache).filter((path) =>
    /[\\/]node_modules[\\/]typescript[\\/]/.test(path),
  );
}

if (mode === "load-compiler") {
  await import("../../runtime/compiler/index.js");
  console.log(JSON.stringify({ typescript: typescriptFiles(), answered: false }));
} else if (mode === "genesis") {
  const { startTestNode } = await import("../support/node.js");
  const net = await startTestNode();
  try {
    const answer = await net.client().call("log", "writePrivate", { id: 1, msg: "hello" });
    console.log(JSON.stringify({ typescript: typescriptFiles(), answered: answer !== undefined }));
  } finally {
    await net.dispose();
  }
} else {
  throw new Error(`genesis-compile-child: unknown mode ${String(mode)}`);
}
