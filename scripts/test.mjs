#!/usr/bin/env node
// Runs every test file under Deno, Bun and Node, one runtime after another,
// and fails when any runtime fails. `node scripts/test.mjs deno bun` limits the
// runtimes; `--file tests/x_test.ts` limits the files. Each runtime's output
// is passed through as it comes (a runtime takes minutes; a silent runner
// looks hung) and also kept, to read the counts from its runner's summary.
// Prints a closing line `tests: N passed, N failed` summed over the runtimes.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);

const argv = process.argv.slice(2);
const files = [];
const runtimes = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--file") files.push(argv[++i]);
  else runtimes.push(argv[i]);
}
const chosen = runtimes.length ? runtimes : ["deno", "bun", "node"];
const testFiles = files.length ? files : readdirSync(join(root, "tests"))
  .filter((f) => f.endsWith("_test.ts"))
  .sort()
  .map((f) => join("tests", f));

const commands = {
  deno: [bin("deno"), ["test", "-A", "--quiet", ...testFiles]],
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
function run(cmd, args, env) {
  return new Promise((resolve) => {
    const stdout = [];
    const stderr = [];
    const done = (status) =>
      resolve({ status, out: Buffer.concat([...stdout, Buffer.from("\n"), ...stderr]).toString("utf8") });
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    const through = (kept) => (chunk) => {
      kept.push(chunk);
      process.stdout.write(chunk);
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

const failedRuntimes = [];
let pass = 0;
let fail = 0;
for (const runtime of chosen) {
  const [cmd, args] = commands[runtime] ?? [];
  if (!cmd) {
    console.error(`Unknown runtime ${JSON.stringify(runtime)}: use deno, bun or node.`);
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
