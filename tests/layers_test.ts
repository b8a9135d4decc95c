// The house rules of DESIGN §1, enforced: each folder of src/ is one layer,
// imports point only to the layers below (the table), there is no cycle,
// the pure layers touch no runtime global and no I/O, and the client entry
// point never reaches the engine (it stays browser-safe and small).
//
//   entry points   mod.ts  client.ts  server.ts  arrow.ts  storage.ts  browser.ts  cloudflare.ts  cli.ts
//   cli/                                           the cyberdb command: REPL, check/repair, dump/load, stats
//   browser/                                       tabs of a web app reach the worker's database
//   cloudflare/                                    Durable Object, Worker, hibernating sockets, alarms
//   server/  client/  arrow/                       the faces
//   api/                                           Database, CyberDict, CyberList, Table
//   durable/                                       lock, recovery, replay, snapshot scheduling
//   snapshot/  log/                                file formats: snapshots, the write-ahead log
//   ops/                                           THE operation table
//   wire/  storage/                                codec, JSON tags, protocol · the Storage seam
//   core/                                          state, values, schema, columns, queries (pure)
//   errors.ts                                      every error class
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { root } from "./server_process.ts";

/** Which layers each layer may import (besides itself and errors.ts). */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  wire: ["core"],
  storage: [],
  ops: ["core"],
  log: ["storage"],
  snapshot: ["core", "wire", "storage", "log"],
  durable: ["core", "ops", "wire", "storage", "log", "snapshot"],
  api: ["core", "ops", "storage", "durable"],
  arrow: ["core", "wire", "api"],
  server: ["core", "ops", "wire", "api", "arrow"],
  client: ["core", "wire", "ops"],
  browser: ["core", "wire", "ops", "storage", "api", "server", "client"],
  cloudflare: ["core", "wire", "api", "storage", "server"],
  cli: ["core", "wire", "ops", "storage", "log", "snapshot", "durable", "api", "client"],
};

/** Layers whose code must do no I/O and name no runtime global. */
const PURE = ["core", "ops", "api", "wire"];

/** What the client's import closure may reach: no engine, no files. */
const CLIENT_MAY_REACH =
  /^src\/(client|wire|core\/(value|schema|column_type|query|query_builder|live_query)|ops\/signatures|errors)\b/;

const SRC = join(root, "src");

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Code lines only: comments (and with them the JSDoc examples) left out. */
function code(file: string): string {
  return readFileSync(file, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .filter((l) => !/^\s*\/\//.test(l))
    .join("\n");
}

/** The repo-relative files `file` imports; type-only imports (erased at run time) only `withTypes`. */
function imports(file: string, withTypes = false): string[] {
  const out: string[] = [];
  const text = code(file);
  const re =
    /(?:^|\n)\s*(import|export)\s+(type\s+)?[^"';]*?from\s+["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;
  for (const m of text.matchAll(re)) {
    if (m[2] !== undefined && !withTypes) continue;
    const spec = m[3] ?? m[4];
    out.push(relative(root, normalize(join(dirname(file), spec))).replaceAll("\\", "/"));
  }
  return out;
}

function layerOf(path: string): string {
  const m = /^src\/([^/]+)\//.exec(path);
  return m ? m[1] : path; // errors.ts, entry points
}

const FILES = walk(SRC).map((f) => relative(root, f).replaceAll("\\", "/"));
const GRAPH = new Map(FILES.map((f) => [f, imports(join(root, f))]));
/** With type-only imports too: a type from a layer above is a wrong-way dependency all the same. */
const TYPE_GRAPH = new Map(FILES.map((f) => [f, imports(join(root, f), true)]));

describe("layers (DESIGN §1)", () => {
  it("every folder of src/ is a known layer", () => {
    const layers = new Set(FILES.map(layerOf).filter((l) => l !== "src/errors.ts"));
    for (const l of layers) {
      assert.ok(l in ALLOWED, `src/${l}/ is in no layer: add it to ALLOWED and to the layout in docs/internals.md`);
    }
  });

  it("imports (type-only ones too) point only downward", () => {
    const wrong: string[] = [];
    for (const [file, deps] of TYPE_GRAPH) {
      const from = layerOf(file);
      for (const dep of deps) {
        const to = layerOf(dep);
        if (to === from || dep === "src/errors.ts") continue;
        if (!(ALLOWED[from] ?? []).includes(to)) wrong.push(`${file} -> ${dep}`);
      }
    }
    assert.deepEqual(wrong, [], "imports against the layer table");
  });

  it("there is no import cycle", () => {
    const state = new Map<string, "open" | "done">();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") {
        cycles.push([...path.slice(path.indexOf(f)), f].join(" -> "));
        return;
      }
      state.set(f, "open");
      for (const d of GRAPH.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, "done");
    };
    for (const f of FILES) visit(f, []);
    assert.deepEqual(cycles, []);
  });

  it("the pure layers do no I/O and name no runtime global", () => {
    for (const file of FILES.filter((f) => PURE.includes(layerOf(f)))) {
      const text = code(join(root, file));
      assert.ok(!/\b(Deno|Bun)\.[A-Za-z]/.test(text), `${file} names a runtime global`);
      assert.ok(!/\bprocess\.[a-z]/.test(text), `${file} reads process`);
      assert.ok(!/["']node:/.test(text), `${file} imports a node: module`);
    }
  });

  it("runtime globals appear only in the runtime glue files", () => {
    // deno_kv.ts: the Deno KV storage, Deno-only like deno.ts.
    const glue = /^src\/((storage|server)\/(deno|bun|node)|storage\/deno_kv)\.ts$/;
    for (const file of FILES.filter((f) => !glue.test(f))) {
      assert.ok(!/\b(Deno|Bun)\.[A-Za-z]/.test(code(join(root, file))), `${file} names Deno./Bun. outside the glue`);
    }
  });

  it("client.ts reaches neither the engine nor any I/O (browser-safe)", () => {
    const seen = new Set<string>();
    const todo = imports(join(root, "client.ts"));
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...(GRAPH.get(f) ?? []));
    }
    const beyond = [...seen].filter((f) => !CLIENT_MAY_REACH.test(f));
    assert.deepEqual(beyond, [], "modules the client bundle would carry that it must not");
  });
});
