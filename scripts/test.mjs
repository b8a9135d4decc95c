#!/usr/bin/env node
// Runs every test file under Deno, Bun and Node, one runtime after another,
// and fails when any runtime fails. `node scripts/test.mjs deno bun` limits the
// runtimes; `--file tests/x_test.ts` limits the files. Each runtime's output
// is passed through as it comes (a runtime takes minutes; a silent runner
// looks hung) and also kept, to read the counts from its runner's summary.
// Prints a closing line `tests: N passed, N failed` summed over the runtimes.
//
// A whole run starts with the gate (the house rules of DESIGN §1, checked
// rather than hoped for): deno lint, deno fmt --check, deno doc --lint of
// every entry point, every JSDoc example type-checked and run (deno test
// --doc). `node scripts/test.mjs gate` runs only the gate; naming runtimes
// or files leaves it out.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);

const argv = process.argv.slice(2);
const files = [];
const runtimes = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--file") files.push(argv[++i]);
  else runtimes.push(argv[i]);
}
const chosen = runtimes.length ? runtimes : files.length ? ["deno", "bun", "node"] : ["gate", "deno", "bun", "node"];
const testFiles = files.length ? files : readdirSync(join(root, "tests"))
  .filter((f) => f.endsWith("_test.ts"))
  .sort()
  .map((f) => join("tests", f));

// --unstable-kv: Deno 2.x keeps Deno.openKv (DenoKvStorage) behind that flag.
const commands = {
  deno: [bin("deno"), ["test", "-A", "--unstable-kv", "--quiet", ...testFiles]],
  bun: [bin("bun"), ["test", "--timeout", "300000", ...testFiles.map((f) => "./" + f)]],
  node: [process.execPath, ["--import", "tsx", "--test", "--test-reporter", "spec", ...testFiles]],
};

// Pulls "passed"/"failed" counts out of each runner's own summary.
function counts(runtime, out) {
  const num = (re) => {
    const m = out.match(re);
    return m ? Number(m[1]) : 0;
  };
  if (runtime === "deno") {
    const m = out.match(/(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/);
    return m ? { pass: Number(m[2] ?? m[1]), fail: Number(m[4] ?? m[3]) } : { pass: 0, fail: 0 };
  }
  if (runtime === "bun") return { pass: num(/^\s*(\d+) pass$/m), fail: num(/^\s*(\d+) fail$/m) };
  return { pass: num(/^[#ℹ] pass (\d+)$/m), fail: num(/^[#ℹ] fail (\d+)$/m) };
}

// Runs one runtime's test command, writing its stdout and stderr through to
// our stdout as they arrive; resolves to its exit status (null if it could
// not start or died of a signal) and what it printed, stdout then stderr
// (kept apart so that a runner's summary lines are never cut by the other
// stream, whatever the interleaving on screen).
function run(cmd, args, env, quiet = false) {
  return new Promise((resolve) => {
    const stdout = [];
    const stderr = [];
    const done = (status) =>
      resolve({ status, out: Buffer.concat([...stdout, Buffer.from("\n"), ...stderr]).toString("utf8") });
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    // quiet: keep the output for the caller, print nothing.
    const through = (kept) => (chunk) => {
      kept.push(chunk);
      if (!quiet) process.stdout.write(chunk);
    };
    child.stdout.on("data", through(stdout));
    child.stderr.on("data", through(stderr));
    child.on("error", (err) => {
      through(stderr)(Buffer.from(`Could not run ${cmd}: ${err.message}\n`));
      done(null);
    });
    child.on("close", (status) => done(status));
  });
}

/** The entry points: what users import. */
const ENTRIES = ["mod.ts", "client.ts", "server.ts", "arrow.ts", "storage.ts", "browser.ts", "cloudflare.ts"];

/** Every module under src/, repo-relative. */
function sources(dir = join(root, "src")) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [relative(root, p)] : [];
  });
}

/**
 * `deno doc --lint` without the `private-type-ref` findings about Hono's own
 * types (our app's options and result are Hono's `UpgradeWebSocket` and
 * `Hono`): a type from another package is that package's to document
 * (denoland/deno#27364), and re-exporting it would lint Hono's sources.
 */
const FOREIGN_TYPES = /references private type '(Hono|UpgradeWebSocket)'/;
function docLintFindings(out) {
  return out.split(/\n(?=error\[)/).filter((block) => /^error\[/.test(block) && !FOREIGN_TYPES.test(block));
}

/**
 * The gate's steps: [name, args of deno, how to judge the output (default:
 * the exit status)]. Each step's output is shown only when it fails (the doc
 * lint's: only the findings that count).
 */
const GATE = [
  ["deno lint", ["lint"]],
  ["deno fmt --check", ["fmt", "--check"]],
  ["deno doc --lint (entry points)", ["doc", "--lint", ...ENTRIES], (r) => docLintFindings(r.out).length === 0],
  // Examples of the Bun glue import Bun's server helpers, which load only under Bun.
  ["JSDoc examples type-checked and run", [
    "test",
    "-A",
    "--unstable-kv", // DenoKvStorage's examples open Deno KV
    "--doc",
    "--quiet",
    ...ENTRIES,
    ...sources().filter((f) => f !== "src/server/bun.ts"),
  ]],
];

/** Runs the gate; returns whether every step passed. */
async function gate() {
  let ok = true;
  for (const [name, args, judge] of GATE) {
    console.log(`--- ${name}`);
    const r = await run(bin("deno"), args, { ...process.env, NO_COLOR: "1" }, true);
    const passed = judge ? judge(r) : r.status === 0;
    if (!passed) process.stdout.write(judge ? docLintFindings(r.out).join("\n") + "\n" : r.out);
    console.log(`--- ${name}: ${passed ? "ok" : "FAILED"}`);
    ok &&= passed;
  }
  return ok;
}

const failedRuntimes = [];
let pass = 0;
let fail = 0;
for (const runtime of chosen) {
  if (runtime === "gate") {
    console.log(`\n=== gate: lint, format, docs, examples ===`);
    const started = Date.now();
    const ok = await gate();
    console.log(`=== gate: ${ok ? "ok" : "FAILED"} (${((Date.now() - started) / 1000).toFixed(1)} s) ===`);
    if (!ok) failedRuntimes.push("gate");
    continue;
  }
  const [cmd, args] = commands[runtime] ?? [];
  if (!cmd) {
    console.error(`Unknown runtime ${JSON.stringify(runtime)}: use gate, deno, bun or node.`);
    process.exit(2);
  }
  console.log(`\n=== ${runtime}: ${testFiles.length} test files ===`);
  const started = Date.now();
  const r = await run(cmd, args, { ...process.env, CYBERDB_TEST_RUNTIME: runtime, NO_COLOR: "1" });
  const c = counts(runtime, r.out);
  pass += c.pass;
  fail += c.fail;
  const ok = r.status === 0;
  console.log(
    `=== ${runtime}: ${ok ? "ok" : "FAILED"} (${c.pass} passed, ${c.fail} failed, ${
      ((Date.now() - started) / 1000).toFixed(1)
    } s) ===`,
  );
  if (!ok) failedRuntimes.push(runtime);
}
console.log("");
if (failedRuntimes.length) console.log(`Failed on: ${failedRuntimes.join(", ")}`);
console.log(`tests: ${pass} passed, ${fail + (failedRuntimes.length && !fail ? 1 : 0)} failed`);
process.exit(failedRuntimes.length ? 1 : 0);
