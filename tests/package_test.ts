// Package hygiene, checked on every run: the published surface lints clean,
// `deno publish --dry-run` passes (no slow types, license present, no
// warnings), the browser-safe entry points reach no node: module, and the
// server run from a URL (as from jsr:) serves the prebuilt client bundle.
// The npm package is tests/npm_package_test.ts's.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { CLIENT_BUNDLE } from "../src/cloudflare/client_bundle.ts";
import { listeningUrl, runtime } from "./server_process.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");

function run(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(deno, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 120_000,
  });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** The entry points a browser or a Worker imports. */
const BROWSER_SAFE = ["mod.ts", "client.ts", "storage.ts", "browser.ts", "cloudflare.ts"];

/**
 * The `node:` modules the entry's module graph imports as code (statically
 * or by a literal dynamic import), each as "node:x <- file"; `typeof
 * import("node:fs")` in a type does not count, it is gone at run time.
 */
function nodeImports(entry: string): string[] {
  const r = run(["info", "--json", entry]);
  assert.equal(r.code, 0, r.out);
  const graph = JSON.parse(r.out.slice(0, r.out.lastIndexOf("}") + 1)) as {
    modules: { specifier: string; dependencies?: { specifier: string; code?: unknown }[] }[];
  };
  return graph.modules.flatMap((m) =>
    (m.dependencies ?? []).filter((d) => d.code !== undefined && d.specifier.startsWith("node:"))
      .map((d) => `${d.specifier} <- ${m.specifier.replace(`file://${root}`, "")}`)
  );
}

/**
 * Serves the files `deno publish` would publish over HTTP (as JSR serves
 * them, with TypeScript's media type), runs server.ts from there with Deno
 * and hands its URL to `use`. The bare specifiers are mapped as JSR does
 * (to npm: specifiers of package.json's ranges); the packages that only
 * Node's glue or the Arrow route load are stubbed with modules that throw
 * when evaluated (nothing big is downloaded), and esbuild with one that
 * loads but cannot build, so that a server that tried to bundle client.ts
 * from the URL would answer /client.js with an error.
 */
async function servedFromUrl(use: (url: string) => Promise<void>): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const published = (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).publish.include as string[])
    .map((glob) => {
      const [prefix, suffix] = glob.split("**/*");
      return (p: string) => (suffix === undefined ? p === glob : p.startsWith(prefix) && p.endsWith(suffix));
    });
  const files = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^\//, "");
    if (!published.some((ok) => ok(path)) || !existsSync(join(root, path))) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": path.endsWith(".ts") ? "application/typescript" : "application/json" });
    res.end(await readFile(join(root, path)));
  });
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  // A Deno cache of this test's own, kept between runs for the npm packages; the files served change per run.
  const denoDir = join(tmpdir(), "cyberdb-jsr-deno-dir");
  rmSync(join(denoDir, "remote"), { recursive: true, force: true });
  const work = join(denoDir, "work");
  mkdirSync(work, { recursive: true });
  const stub = (name: string) => `data:text/javascript,throw new Error("${name} is not for a server run from a URL")`;
  const npm = (name: string) => `npm:${name}@${pkg.dependencies[name]}`;
  writeFileSync(
    join(work, "import_map.json"),
    JSON.stringify({
      imports: {
        "hono": npm("hono"),
        "hono/": `npm:/hono@${pkg.dependencies.hono}/`,
        "msgpackr": npm("msgpackr"),
        "msgpackr/": `npm:/msgpackr@${pkg.dependencies.msgpackr}/`,
        ...Object.fromEntries(["apache-arrow", "@hono/node-server", "@hono/node-ws", "ws"].map((n) => [n, stub(n)])),
        // Loads (as it would from npm), but building fails: the server must not try.
        "esbuild": `data:text/javascript,export function build() { throw new Error("No bundling from a URL"); }`,
      },
    }),
  );
  const child = spawn(deno, [
    "run",
    "-A",
    `--reload=${origin}`,
    "--import-map=import_map.json",
    `${origin}/server.ts`,
    "--memory",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
  ], { cwd: work, env: { ...process.env, DENO_DIR: denoDir, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await use(await listeningUrl(child, () => `${origin}/server.ts`));
  } finally {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
    await new Promise((resolve) => files.close(resolve));
  }
}

describe("package", () => {
  it("deno doc --lint is clean for every entry point", () => {
    const entries = ["mod.ts", "client.ts", "arrow.ts"].filter((f) => existsSync(join(root, f)));
    const r = run(["doc", "--lint", ...entries]);
    assert.equal(r.code, 0, r.out);
  });

  // The same deno program whatever runtime runs this file (and ~15 s): run once, from Deno's run.
  if (runtime() === "deno") {
    it("deno publish --dry-run passes without a warning", () => {
      const r = run(["publish", "--dry-run", "--allow-dirty"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Success Dry run complete/);
      assert.doesNotMatch(r.out, /warning/i, "publish warns");
    });
  }

  for (const entry of BROWSER_SAFE) {
    it(`${entry} reaches no node: module at run time (JSR serves it to browsers and Workers)`, () => {
      assert.deepEqual(nodeImports(entry), []);
    });
  }

  it("the check above sees node: imports where they are (server.ts)", () => {
    const found = nodeImports("server.ts");
    assert.ok(found.includes("node:url <- src/server/bundle.ts"), found.join("\n"));
  });

  // Deno is the runtime that runs a server from a jsr: or https URL.
  if (runtime() === "deno") {
    it("a server run from an http URL (as from jsr:) serves the prebuilt client bundle", async () => {
      await servedFromUrl(async (url) => {
        const res = await fetch(`${url}/client.js`);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), CLIENT_BUNDLE);
      });
    });
  }

  it("deno.json's tasks call no node_modules/.bin command by name (deno task would run it as JavaScript)", () => {
    // denoland/deno#27114: with node_modules present, `deno task` resolves a
    // bare command through node_modules/.bin and runs what it finds there
    // with Deno, as JavaScript: the `deno` and `bun` that npm installs are
    // native binaries, so `deno run …` in a task fails. By path they run.
    const bin = new Set(readdirSync(join(root, "node_modules", ".bin")));
    assert.ok(bin.has("deno") && bin.has("bun"), "npm installed deno and bun");
    const tasks = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).tasks as Record<string, string>;
    const bare = Object.entries(tasks).flatMap(([name, script]) =>
      script.split(/&&|\|\||;|\|/).map((part) => part.trim().split(/\s+/).find((w) => !/^\w+=/.test(w)) ?? "")
        .filter((command) => bin.has(command)).map((command) => `${name}: ${command}`)
    );
    assert.deepEqual(bare, []);
  });

  it("every npm script has a deno task of the same name (deno task would otherwise run package.json's)", () => {
    const tasks = Object.keys(JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).tasks);
    const scripts = Object.keys(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts);
    // prepack is npm's hook, not a command for people.
    assert.deepEqual(scripts.filter((s) => s !== "prepack" && !tasks.includes(s)), []);
  });

  if (runtime() === "deno") {
    it("deno task start serves after npm install", async () => {
      const child = spawn(deno, ["task", "start", "--memory", "--host", "127.0.0.1", "--port", "0"], {
        cwd: root,
        env: { ...process.env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const exited = new Promise<number | string>((resolve) => child.once("exit", (c, sig) => resolve(c ?? sig ?? -1)));
      try {
        const url = await listeningUrl(child, () => "deno task start");
        assert.equal((await (await fetch(`${url}/health`)).json()).status, "ok");
      } finally {
        // deno task passes the signal on to the server it started.
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
    });
  }

  it("package-lock.json has every platform's optional packages, in a form npm 10 and 11 both leave as it is", () => {
    // `npm install` on a fresh clone must not rewrite the lockfile: each
    // optional dependency (esbuild's, workerd's, deno's, bun's binaries for
    // every platform) needs its entry whatever platform wrote the file, and
    // npm 11's "libc" field is one npm 10 drops on install.
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")).packages as Record<
      string,
      { optionalDependencies?: Record<string, string>; libc?: unknown }
    >;
    /** Where node resolves `name` from the package at `from` (its own node_modules, then its parents'). */
    const resolve = (from: string, name: string): string | undefined => {
      for (let base = from;; base = base.slice(0, Math.max(0, base.lastIndexOf("/node_modules/")))) {
        const p = `${base ? `${base}/` : ""}node_modules/${name}`;
        if (lock[p]) return p;
        if (!base) return undefined;
      }
    };
    const missing = Object.entries(lock).flatMap(([path, entry]) =>
      Object.keys(entry.optionalDependencies ?? {}).filter((dep) => resolve(path, dep) === undefined)
        .map((dep) => `${path || "(root)"} -> ${dep}`)
    );
    assert.deepEqual(missing, []);
    assert.ok(resolve("", "@esbuild/darwin-arm64") && resolve("", "@deno/win32-x64"), "other platforms' binaries");
    assert.deepEqual(Object.keys(lock).filter((p) => lock[p].libc !== undefined), []);
  });

  it("LICENSE is MIT", () => {
    assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License/);
  });
});
