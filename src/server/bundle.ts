/**
 * Builds the browser bundle of `client.ts` served at `GET /client.js`: one
 * self-contained ES module, made in memory by esbuild on first request.
 *
 * @module
 */

/**
 * Bundles `client.ts` (and msgpackr) into one minified ES module. Needs
 * esbuild (a devDependency) and client.ts on disk, so it runs in a checkout
 * of @cyberdb/core; a server run from the npm or JSR package serves the
 * prebuilt bundle instead (`npm run build:client` regenerates it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildClientBundle } from "@cyberdb/core/server";
 * const js = await buildClientBundle(); // what a server answers at GET /client.js
 * assert.doesNotMatch(js, /\bimport\b/); // self-contained: it imports nothing
 * const client = await import(`data:text/javascript,${encodeURIComponent(js)}`);
 * assert.equal(typeof client.connect, "function");
 * ```
 */
export async function buildClientBundle(): Promise<string> {
  const esbuild = await import("esbuild");
  const { fileURLToPath } = await import("node:url");
  const entry = fileURLToPath(new URL("../../client.ts", import.meta.url));
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    // Class names kept: a browser error reads KeyNotFoundError, not "He".
    keepNames: true,
    write: false,
    legalComments: "none",
    logLevel: "silent",
  });
  // Deno keeps esbuild's child process alive otherwise.
  await esbuild.stop?.();
  return result.outputFiles[0].text;
}
