#!/usr/bin/env node
// The browser builds, from what tsc wrote to dist/ (so they are type-checked like the rest):
//   dist/web/treaty-sdk.js        `treaty/sdk` as one ES module for pages (`import {...} from ".../treaty-sdk.js"`)
//   dist/web/console/             the console each node serves at /console: index.html, style.css,
//                                 app.js (imports the SDK from /console/treaty-sdk.js: one copy)
// platform "browser" makes any Node-only import in the SDK a build error.
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const common = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  logLevel: "warning",
};
mkdirSync("dist/web/console", { recursive: true });
await build({ ...common, entryPoints: ["dist/sdk/index.js"], outfile: "dist/web/treaty-sdk.js" });
copyFileSync("dist/web/treaty-sdk.js", "dist/web/console/treaty-sdk.js");

/** The console's imports of the SDK resolve to the bundle served beside it. */
const sdkFromNode = {
  name: "sdk-from-node",
  setup(b) {
    b.onResolve({ filter: /\/sdk\/index\.js$/ }, () => ({ path: "/console/treaty-sdk.js", external: true }));
  },
};
await build({
  ...common,
  entryPoints: ["dist/console/app.js"],
  outfile: "dist/web/console/app.js",
  plugins: [sdkFromNode],
});
for (const file of ["index.html", "style.css"]) copyFileSync(`console/${file}`, `dist/web/console/${file}`);
