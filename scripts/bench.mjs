#!/usr/bin/env node
// Runs every bench/*_bench.ts under Deno and Bun (one runtime after another,
// one process per file), streams their output, then prints every table again
// together at the end.
//
//   node scripts/bench.mjs                                  all benches, deno + bun
//   node scripts/bench.mjs deno --file bench/engine_bench.ts
//   node scripts/bench.mjs bun node --scale 0.1             quick smoke run (BENCH_SCALE)
//   node scripts/bench.mjs --only dict,get                  sections (BENCH_ONLY), if the bench has them
//
// Runtimes: deno (`deno run -A --unstable-kv --v8-flags=--expose-gc`), bun (`bun run`),
// node (`node --expose-gc --import tsx`, opt-in). Exit code 1 if any run fails.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);

const argv = process.argv.slice(2);
const files = [];
const runtimes = [];
const env = { ...process.env, NO_COLOR: "1" };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--file") files.push(argv[++i]);
  else if (a === "--scale") env.BENCH_SCALE = argv[++i];
  else if (a === "--only") env.BENCH_ONLY = argv[++i];
  else if (a === "-h" || a === "--help") {
    console.log(
      "usage: node scripts/bench.mjs [deno] [bun] [node] [--file bench/x_bench.ts]... [--scale F] [--only a,b]",
    );
    process.exit(0);
  } else runtimes.push(a);
}
const chosen = runtimes.length ? runtimes : ["deno", "bun"];
const benchFiles = files.length
  ? files.map((f) => relative(root, resolve(process.cwd(), f)))
  : readdirSync(join(root, "bench"))
    .filter((f) => f.endsWith("_bench.ts"))
    .sort()
    .map((f) => join("bench", f));

const commands = {
  // --unstable-kv: edge_kv_bench.ts opens Deno KV (Deno.openKv is behind that flag in Deno 2.x).
  deno: (f) => [bin("deno"), ["run", "-A", "--unstable-kv", "--no-lock", "--v8-flags=--expose-gc", f]],
  bun: (f) => [bin("bun"), ["run", "./" + f]],
  node: (f) => [process.execPath, ["--expose-gc", "--import", "tsx", f]],
};
for (const r of chosen) {
  if (!commands[r]) {
    console.error(`Unknown runtime ${JSON.stringify(r)}: use deno, bun or node.`);
    process.exit(2);
  }
}
if (benchFiles.length === 0) {
  console.error("No bench/*_bench.ts files found.");
  process.exit(2);
}

/** Runs one command, echoing its output live; resolves with stdout and the exit code. */
function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b) => {
      out += b;
      process.stdout.write(b);
    });
    child.stderr.on("data", (b) => process.stderr.write(b));
    child.on("error", (e) => resolve({ out: out + `\n${e.message}\n`, code: 127 }));
    child.on("close", (code, signal) => resolve({ out, code: code ?? (signal ? 128 : 1) }));
  });
}

/** Keeps markdown headings, tables and their caption lines from a bench's stdout. */
function tablesOf(out) {
  const keep = [];
  let inTable = false;
  for (const line of out.split("\n")) {
    if (line.startsWith("|")) {
      if (!inTable && keep.length && keep[keep.length - 1] !== "") keep.push("");
      inTable = true;
      keep.push(line);
    } else {
      if (inTable) keep.push("");
      inTable = false;
      if (line.startsWith("#")) keep.push(line, "");
    }
  }
  return keep.join("\n").replace(/\n{3,}/g, "\n\n").trim();
}

const summary = [];
const failed = [];
for (const runtime of chosen) {
  for (const f of benchFiles) {
    const [cmd, args] = commands[runtime](f);
    console.log(`\n=== ${runtime}: ${f} ===`);
    const started = Date.now();
    const { out, code } = await run(cmd, args);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const ok = code === 0;
    console.log(`=== ${runtime}: ${f} ${ok ? "ok" : `FAILED (exit ${code})`} in ${secs} s ===`);
    if (!ok) failed.push(`${runtime} ${f}`);
    summary.push(
      `#### ${runtime}: ${f}${ok ? "" : " — FAILED"} (${secs} s)\n\n${tablesOf(out) || "(no table printed)"}`,
    );
  }
}

console.log("\n==================== tables ====================\n");
console.log(summary.join("\n\n"));
console.log("");
if (failed.length) {
  console.log(`Failed: ${failed.join(", ")}`);
  process.exit(1);
}
