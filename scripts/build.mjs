#!/usr/bin/env node
// Builds dist/, what the npm package ships: every entry point compiled to
// JavaScript with its .d.ts beside it, one output file per source module
// (`npm run build`; `npm pack` and `npm publish` run it as prepack).
//
// Why tsc, and unbundled: Node 20 cannot run .ts, and a consumer needs .d.ts,
// which only tsc writes; keeping one .js per module (not a bundle per entry)
// means that `@cyberdb/core` and `@cyberdb/core/client` share one errors.js,
// so `instanceof KeyNotFoundError` holds whichever entry point a value came
// through, and a consumer's bundler still bundles and tree-shakes it like any
// ES module package. `--rewriteRelativeImportExtensions` turns the sources'
// `./x.ts` imports into `./x.js`. `--noCheck`: the sources are type-checked by
// `deno check` against Deno's and Bun's globals, which tsc does not know; the
// JSR slow-types check (tests/package_test.ts) already keeps every export
// explicitly typed, so the declarations need no inference from a checker.
//
// The entry points are deno.json's `exports` (one list, which JSR publishes
// too), plus cli.ts — the `cyberdb` command — when it exists.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");

const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** Repo-relative sources of every entry point, in deno.json's order. */
const entries = Object.values(denoJson.exports).map((p) => p.replace(/^\.\//, ""));
// The CLI: cli.ts compiled to dist/cli.js, which package.json's "bin"
// launcher (bin/cyberdb.mjs) runs when no cli.ts is beside it, as in the
// package (checked below).
const CLI = "cli.ts";
entries.push(CLI);

rmSync(dist, { recursive: true, force: true });
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const flags = [
  "--target",
  "ES2022", // Node 20: `using` declarations are lowered, #private fields kept
  "--module",
  "NodeNext",
  "--moduleResolution",
  "NodeNext",
  "--lib",
  "ES2023,DOM,DOM.Iterable,ESNext.Disposable",
  "--types",
  "node",
  "--declaration",
  "--noCheck",
  "--allowImportingTsExtensions",
  "--rewriteRelativeImportExtensions",
  "--skipLibCheck",
  "--newLine",
  "lf",
  "--rootDir",
  root,
  "--outDir",
  dist,
];
const r = spawnSync(process.execPath, [tsc, ...flags, ...entries.map((e) => join(root, e))], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) {
  console.error(`build: tsc failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript but not in the .d.ts
// (microsoft/TypeScript#61037): left as they are, the declarations import
// "./x.ts", which tsc resolves to x.d.ts but Deno (an `npm:` consumer) and
// older TypeScript do not. The specifiers tsc writes are plain string
// literals after `from ` or inside `import(`, so a pattern finds them all.
const TS_SPECIFIER = /(\bfrom\s+|\bimport\(\s*)(["'])(\.{1,2}\/[^"'\n]*?)\.ts\2/g;
function declarations(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? declarations(p) : p.endsWith(".d.ts") ? [p] : [];
  });
}
for (const file of declarations(dist)) {
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(TS_SPECIFIER, (_, lead, q, path) => `${lead}${q}${path}.js${q}`);
  if (fixed !== text) writeFileSync(file, fixed);
}

// Every file package.json points at must now exist, or the package is broken.
const targets = [];
const walk = (v) => typeof v === "string" ? targets.push(v) : Object.values(v ?? {}).forEach(walk);
walk(pkg.exports);
walk(pkg.bin);
targets.push(pkg.main, pkg.types);
const missing = [...new Set(targets)].filter((t) => t.startsWith("./dist/") && !existsSync(join(root, t)));
if (missing.length) {
  console.error(`build: package.json names files the build did not write: ${missing.join(", ")}`);
  process.exit(1);
}
const launcher = pkg.bin?.cyberdb;
if (
  launcher === undefined || !existsSync(join(root, launcher)) ||
  !readFileSync(join(root, launcher), "utf8").includes("dist/cli.js")
) {
  console.error(
    `build: package.json "bin" needs { "cyberdb": <a launcher that runs dist/cli.js> }, e.g. ./bin/cyberdb.mjs`,
  );
  process.exit(1);
}
for (const bin of Object.values(pkg.bin ?? {})) chmodSync(join(root, bin), 0o755);
console.log(`build: dist/ written from ${entries.join(", ")}`);
