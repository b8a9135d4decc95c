// The npm package as a stranger gets it: `npm pack` (which builds dist/ as
// prepack), the tarball installed into a fresh project in the temp
// directory, and the quick starts run there by package name, on the runtime
// under test — plain `node` (no tsx), `bun`, `deno run` (through the
// project's node_modules and through an `npm:` specifier) — with a server
// started from the package as a process, the browser bundle it serves,
// `instanceof` across entry points, a page's bundle of the browser-safe
// entry points, and the .d.ts checked by tsc and by `deno check`.
//
// Packing and installing take ~15 s, so they happen once per version of the
// package's sources: the installed project is kept in the temp directory
// under a hash of everything the tarball is made from, and the runs on the
// other runtimes (scripts/test.mjs runs them one after another) reuse it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { listeningUrl, runtime } from "./server_process.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const FIXTURES = join(ROOT, "tests", "fixtures", "npm_consumer");
const PACKAGE = "@cyberdb/core";
/** Bumped when what the cache holds changes shape. */
const CACHE_LAYOUT = "1";
/** Cached projects unused for this long are removed (another run may be using a newer one). */
const STALE_MS = 6 * 60 * 60 * 1000;

interface Outcome {
  code: number | string;
  out: string;
}

/** Runs a command to its end (bounded by `timeout`); never rejects. */
function run(cmd: string, args: string[], cwd: string, timeout = 120_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    let out = "";
    child.stdout!.on("data", (b) => (out += b));
    child.stderr!.on("data", (b) => (out += b));
    const timer = setTimeout(() => {
      out += `\n[killed after ${timeout} ms]`;
      child.kill("SIGKILL");
    }, timeout);
    child.once("error", (e) => {
      clearTimeout(timer);
      resolve({ code: "spawn-error", out: `${out}\n${e.message}` });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, out });
    });
  });
}

function ok(r: Outcome, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.out.slice(-4000)}`);
  return r.out;
}

/** How runtime `rt` runs a JavaScript file: argv before the file. */
function runner(rt: "deno" | "bun" | "node"): [string, string[]] {
  if (rt === "deno") return [join(ROOT, "node_modules/.bin/deno"), ["run", "-A"]];
  if (rt === "bun") return [join(ROOT, "node_modules/.bin/bun"), ["run"]];
  return [process.execPath, []]; // only asked for under Node
}

/** Every file the tarball is made from, repo-relative, sorted. */
function packageInputs(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir)).flatMap((name) => {
      const p = join(dir, name);
      return statSync(join(ROOT, p)).isDirectory() ? walk(p) : [p];
    });
  const top = readdirSync(ROOT).filter((f) => f.endsWith(".ts") || f.endsWith(".md") || f === "LICENSE");
  return [...top, "package.json", "deno.json", "scripts/build.mjs", ...walk("src")].sort();
}

function inputsHash(): string {
  const h = createHash("sha256").update(`${CACHE_LAYOUT}\n`);
  for (const f of packageInputs()) h.update(`${f}\n`).update(readFileSync(join(ROOT, f))).update("\n");
  return h.digest("hex").slice(0, 16);
}

/** What `npm pack --json` said about the tarball. */
interface Packed {
  filename: string;
  files: { path: string }[];
}

/**
 * The installed consumer project for the current sources: built now (pack,
 * then install into a fresh project) unless a run before this one left it.
 * Built beside its final place and renamed into it, so a half-built project
 * is never found.
 */
async function consumerProject(): Promise<{ dir: string; packed: Packed }> {
  const base = join(tmpdir(), "cyberdb-npm-consumer-");
  const dir = `${base}${inputsHash()}`;
  const ready = join(dir, "packed.json");
  if (!existsSync(ready)) {
    const building = mkdtempSync(`${dir}.tmp-`);
    try {
      const pack = ok(await run("npm", ["pack", "--json", "--pack-destination", building], ROOT, 300_000), "npm pack");
      // The prepack build prints to stdout too; the JSON is the last thing.
      const packed = (JSON.parse(pack.slice(pack.search(/^\[/m))) as Packed[])[0];
      writeFileSync(
        join(building, "package.json"),
        JSON.stringify({ name: "consumer", private: true, type: "module" }),
      );
      ok(
        await run(
          "npm",
          ["install", "--prefer-offline", "--no-audit", "--no-fund", `./${packed.filename}`],
          building,
          300_000,
        ),
        "npm install of the tarball",
      );
      writeFileSync(join(building, "packed.json"), JSON.stringify(packed));
      try {
        renameSync(building, dir);
      } catch (e) {
        // Another run built the same sources at the same time: use its copy.
        if (!existsSync(ready)) throw e;
      }
    } finally {
      rmSync(building, { recursive: true, force: true });
    }
    for (const old of readdirSync(tmpdir())) {
      const p = join(tmpdir(), old);
      if (!p.startsWith(base) || p === dir) continue;
      try {
        if (Date.now() - statSync(p).mtimeMs > STALE_MS) rmSync(p, { recursive: true, force: true });
      } catch { /* removed meanwhile */ }
    }
  }
  const now = new Date();
  utimesSync(dir, now, now); // in use: not stale
  return { dir, packed: JSON.parse(readFileSync(ready, "utf8")) };
}

/** A server started from the installed package as its own process, stopped by its pid. */
async function packageServer(
  rt: "deno" | "bun" | "node",
  cwd: string,
  password: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const [cmd, pre] = runner(rt);
  const entry = join("node_modules", PACKAGE, "dist", "server.js");
  const args = [...pre, entry, "--memory", "--host", "127.0.0.1", "--port", "0", "--password", password];
  const child: ChildProcess = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await listeningUrl(child, () => "The packaged server", 60_000);
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

describe(`the npm package, installed from its tarball, on ${runtime()}`, () => {
  const rt = runtime();
  let project: string;
  let packed: Packed;
  /** This run's scripts and data, inside the project so that its node_modules resolve. */
  let scratch: string;

  before(async () => {
    ({ dir: project, packed } = await consumerProject());
    scratch = mkdtempSync(join(project, `run-${rt}-`));
    for (const f of readdirSync(FIXTURES)) cpSync(join(FIXTURES, f), join(scratch, f));
  });

  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("ships compiled JavaScript with .d.ts for every export, no TypeScript sources", () => {
    const files = new Set(packed.files.map((f) => f.path));
    const manifest = JSON.parse(readFileSync(join(project, "node_modules", PACKAGE, "package.json"), "utf8"));
    const targets: string[] = [];
    for (const [sub, target] of Object.entries(manifest.exports as Record<string, unknown>)) {
      if (sub === "./package.json") continue;
      const t = target as { types: string; default: string };
      assert.match(t.default, /^\.\/dist\/.*\.js$/, `${sub} points at JavaScript`);
      assert.match(t.types, /^\.\/dist\/.*\.d\.ts$/, `${sub} has types`);
      targets.push(t.default, t.types);
    }
    for (const sub of [".", "./client", "./server", "./arrow", "./storage", "./browser", "./cloudflare"]) {
      assert.ok(sub in manifest.exports, `exports has ${sub}`);
    }
    for (const t of [...targets, manifest.main, manifest.types]) {
      assert.ok(files.has(t.replace(/^\.\//, "")), `the tarball holds ${t}`);
    }
    const sources = [...files].filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    assert.deepEqual(sources, [], "no .ts sources (Node cannot run them)");
    assert.ok(files.has("LICENSE") && files.has("README.md"));
    assert.deepEqual([...files].filter((f) => /^(tests|bench|examples|scripts)\//.test(f)), []);
    assert.equal(manifest.dependencies.esbuild, undefined, "esbuild is for building, not a dependency");
  });

  it(`runs the embedded quick start (dict, list, table on disk; storage; arrow; server) by package name`, async () => {
    const [cmd, pre] = runner(rt);
    const data = join(scratch, "data");
    const out = ok(await run(cmd, [...pre, join(scratch, "embedded.mjs"), data], project), "embedded.mjs");
    assert.match(out, /embedded quick start ok/);
  });

  it("serves from the package as a process; the client quick start and the served browser bundle work against it", async () => {
    const server = await packageServer(rt, project, "123456");
    try {
      const [cmd, pre] = runner(rt);
      const script = join(scratch, "client.mjs");
      const out = ok(await run(cmd, [...pre, script, server.url, "123456", scratch], project), "client.mjs");
      assert.match(out, /client quick start ok/);
    } finally {
      await server.stop();
    }
  });

  it("bundles for the browser from the installed package: @cyberdb/core, /client, /storage, /browser, /cloudflare", async () => {
    const esbuild = await import("esbuild");
    const result = await esbuild.build({
      entryPoints: [join(scratch, "browser_app.mjs")],
      absWorkingDir: project,
      bundle: true,
      format: "esm",
      platform: "browser",
      minify: true,
      write: false,
      logLevel: "silent",
    });
    await esbuild.stop?.();
    assert.deepEqual(result.errors, []);
    const code = result.outputFiles[0].text;
    assert.doesNotMatch(code, /\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\brequire\s*\(\s*["']node:/);
    assert.match(code, /CyberDBObject/);
  });

  // One type check per runtime's run, each from its own angle.
  if (rt === "node") {
    it("type-checks a TypeScript consumer against the package's .d.ts with tsc (strict, no skipLibCheck)", async () => {
      const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
      ok(await run(process.execPath, [tsc, "-p", join(scratch, "tsconfig.json")], scratch), "tsc");
    });
  }
  if (rt === "deno") {
    it("imports the package through npm: specifiers, and deno check accepts the TypeScript consumer", async () => {
      const source = readFileSync(join(scratch, "embedded.mjs"), "utf8");
      const npm = source.replaceAll(`from "${PACKAGE}`, `from "npm:${PACKAGE}`);
      assert.notEqual(npm, source);
      writeFileSync(join(scratch, "embedded_npm.mjs"), npm);
      const [cmd, pre] = runner("deno");
      const data = join(scratch, "npm-data");
      const out = ok(await run(cmd, [...pre, join(scratch, "embedded_npm.mjs"), data], project), "npm: specifiers");
      assert.match(out, /embedded quick start ok/);
      ok(await run(cmd, ["check", join(scratch, "typed.ts")], project), "deno check");
    });
  }
  if (rt === "bun") {
    it("runs the TypeScript consumer with Bun", async () => {
      const [cmd, pre] = runner("bun");
      const out = ok(await run(cmd, [...pre, join(scratch, "typed.ts")], project), "bun typed.ts");
      assert.match(out, /typed consumer ok/);
    });
  }
});
