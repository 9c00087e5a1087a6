/**
 * The console (console/, built into dist/web/ by `npm run build`), served by every node:
 *
 *   GET /console                    the page
 *   GET /console/<file>             its fixed set of files (script, style, the browser SDK)
 *
 * The files are read once, when the routes are added; nothing else on disk is reachable (the
 * names are a fixed list, not a path). The page may load only its own scripts and styles (CSP);
 * it may connect anywhere, since it talks to the service's other nodes.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TreatyError } from "../../sdk/errors.js";
import type { Router } from "./server.js";

/** Where `npm run build` writes the console (scripts/build-web.mjs). */
export const CONSOLE_DIR = fileURLToPath(new URL("../../web/console/", import.meta.url));

const FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "treaty-sdk.js": "text/javascript; charset=utf-8",
};

const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function addConsoleRoutes(router: Router, dir: string = CONSOLE_DIR): Router {
  const files = new Map<string, { contentType: string; bytes: Uint8Array }>();
  for (const [name, contentType] of Object.entries(FILES)) {
    const path = `${dir}/${name}`;
    if (existsSync(path)) files.set(name, { contentType, bytes: new Uint8Array(readFileSync(path)) });
  }
  const serve = (name: string) => {
    const file = files.get(name);
    if (file === undefined) {
      throw new TreatyError(
        "NotFound",
        Object.hasOwn(FILES, name)
          ? "the console is not built into this installation (npm run build builds it)"
          : `no console file ${JSON.stringify(name.slice(0, 80))}`,
      );
    }
    return { raw: file, headers: HEADERS };
  };
  return router
    .add("GET", "/console", () => serve("index.html"))
    .add("GET", "/console/:file", (req) => serve(req.params.file!));
}
