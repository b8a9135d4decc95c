/**
 * Builds the browser bundle of `client.ts` served at `GET /client.js`: one
 * self-contained ES module, made in memory by esbuild on first request.
 *
 * @module
 */

/**
 * Bundles `client.ts` (and msgpackr) into one minified ES module.
 *
 * @example
 * ```ts ignore
 * const js = await buildClientBundle();
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
    write: false,
    legalComments: "none",
    logLevel: "silent",
  });
  // Deno keeps esbuild's child process alive otherwise.
  await esbuild.stop?.();
  return result.outputFiles[0].text;
}
