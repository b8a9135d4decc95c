// Every command the README prints works as printed (issue 13, item 2). The
// README's fenced blocks are run in order, twice, in a fresh directory and
// against a real server process (this runtime's server.ts, --password 123456,
// on a free port: "127.0.0.1:9980" in a block becomes that port):
//
// - ```ts blocks as scripts on the runtime under test, their imports of
//   "@cyberdb/core…" pointed at this repository's entry points. A line
//   `expr; // → value` is checked: the script fails unless expr deep-equals
//   value. Running twice proves that the examples run again on their own data
//   (get-or-create). Under Deno they are type-checked first.
// - ```sh blocks line by line through /bin/sh (a `\` continues a line); the
//   `# …` lines right under a command are its output (`…` matches anything).
// - ```sh norun blocks (installs, the long-running server, the whole test
//   suite) are not run here: they were checked by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { root, runtime, startServer } from "./server_process.ts";

/** One fenced block of the README. */
interface Block {
  lang: string;
  run: boolean;
  code: string;
  /** The README line of the block's first code line. */
  line: number;
}

/** The fenced blocks of a markdown text: ```lang [norun]. */
function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (open === null) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].startsWith("```")) end++;
    const flags = open[2].trim().split(/\s+/);
    out.push({
      lang: open[1],
      run: !flags.includes("norun"),
      code: lines.slice(start, end).join("\n"),
      line: start + 1,
    });
    i = end;
  }
  return out;
}

/** A shell command and the output printed under it (`# …` lines), if any. */
interface Command {
  text: string;
  expected: string[];
  line: number;
}

/** The commands of a sh block: `\`-continued lines joined, comments after a command kept as its output. */
function commands(block: Block): Command[] {
  const out: Command[] = [];
  const lines = block.code.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      assert.ok(out.length > 0, `README.md:${block.line + i}: output comes before any command`);
      out[out.length - 1].expected.push(line.replace(/^# ?/, ""));
      continue;
    }
    let text = line;
    const at = block.line + i;
    while (text.endsWith("\\") && i + 1 < lines.length) text = text.slice(0, -1) + lines[++i];
    out.push({ text, expected: [], line: at });
  }
  return out;
}

/** Whether `actual` is `expected`, where `…` stands for anything. */
function matches(actual: string, expected: string): boolean {
  const re = expected.split("…").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[\\s\\S]*");
  return new RegExp(`^${re}$`).test(actual);
}

/** The entry points of this package by import name, from deno.json's exports. */
function entryPoints(): Map<string, string> {
  const exports = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports as Record<string, string>;
  return new Map(
    Object.entries(exports).map(([k, v]) => [`@cyberdb/core${k.slice(1)}`, pathToFileURL(join(root, v)).href]),
  );
}

/** A ts block as a script: imports pointed at the repository, the port replaced, `// →` lines checked. */
function script(block: Block, port: number): string {
  const entries = entryPoints();
  const lines = block.code.split("\n").map((line, i) => {
    line = line.replace(/(["'])(@cyberdb\/core[^"']*)\1/g, (_all, q, name) => {
      const to = entries.get(name);
      assert.ok(to, `README.md:${block.line + i}: ${name} is not an entry point of the package (deno.json exports)`);
      return `${q}${to}${q}`;
    }).replaceAll("127.0.0.1:9980", `127.0.0.1:${port}`);
    const check = /^(\s*)(.+?);\s*\/\/ → (.+)$/.exec(line);
    if (check === null) return line;
    const [, indent, expr, value] = check;
    const where = JSON.stringify(`README.md:${block.line + i}: ${expr}`);
    return `${indent}__readmeExpect((${expr}), (${value}), ${where});`;
  });
  return `import { deepStrictEqual as __readmeExpect } from "node:assert";\n${lines.join("\n")}\n`;
}

/** How to run a TypeScript file on the runtime under test. */
function tsCommand(file: string): [string, string[]] {
  const rt = runtime();
  if (rt === "deno") return [join(root, "node_modules/.bin/deno"), ["run", "-A", file]];
  if (rt === "bun") return [join(root, "node_modules/.bin/bun"), ["run", file]];
  // Under Deno or Bun, process.execPath is not node.
  return [runtime() === "node" ? process.execPath : "node", ["--import", "tsx", file]];
}

/** Runs a process to its end (killed after `timeout` ms); its status and output. */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeout = 30_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeout} ms)`;
      try {
        process.kill(child.pid!, "SIGKILL");
      } catch { /* gone */ }
    }, timeout);
    child.on("error", (e) => (stderr += String(e)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

const README = readFileSync(join(root, "README.md"), "utf8");

describe("README", () => {
  it("marks every block it does not run, and keeps the test command CI runs", () => {
    for (const b of blocks(README)) {
      assert.ok(
        !b.run || b.lang === "ts" || b.lang === "sh",
        `README.md:${b.line}: a \`\`\`${b.lang} block cannot be run: make it ts or sh, or mark it \`\`\`${b.lang} norun`,
      );
    }
    assert.ok(blocks(README).some((b) => b.lang === "sh" && b.code.includes("npm install && npm test")));
  });

  it(`runs its code blocks as printed, twice, on ${runtime()} against a real server`, async () => {
    mkdirSync(join(root, ".tmp"), { recursive: true });
    // Inside the repository, so that scripts find its node_modules and deno.json as a project's would.
    const work = mkdtempSync(join(root, ".tmp", "readme-"));
    const server = await startServer(["--password", "123456", "--dir", join(work, "server-data")]);
    let stopped: number | string = -1;
    try {
      const runnable = blocks(README).filter((b) => b.run);
      assert.ok(runnable.some((b) => b.lang === "ts") && runnable.some((b) => b.lang === "sh"));
      const files = runnable.map((b) => b.lang === "ts" ? join(work, `block_${b.line}.ts`) : "");
      runnable.forEach((b, i) => b.lang === "ts" && writeFileSync(files[i], script(b, server.port)));
      if (runtime() === "deno") {
        const r = await run(join(root, "node_modules/.bin/deno"), ["check", ...files.filter(Boolean)], work, 50_000);
        assert.equal(r.code, 0, `The README's TypeScript does not type-check:\n${r.stdout}\n${r.stderr}`);
      }
      for (const pass of [1, 2]) {
        for (const [i, b] of runnable.entries()) {
          if (b.lang === "ts") {
            const [cmd, args] = tsCommand(files[i]);
            const r = await run(cmd, args, work);
            assert.equal(
              r.code,
              0,
              `README.md:${b.line}: the block failed on run ${pass}:\n${r.stdout}\n${r.stderr}\n--- as run:\n${
                readFileSync(files[i], "utf8")
              }\n--- server:\n${server.output()}`,
            );
            continue;
          }
          for (const c of commands(b)) {
            const text = c.text.replaceAll("127.0.0.1:9980", `127.0.0.1:${server.port}`);
            const r = await run("/bin/sh", ["-c", text], work);
            assert.equal(
              r.code,
              0,
              `README.md:${c.line}: \`${text}\` failed on run ${pass}:\n${r.stdout}\n${r.stderr}`,
            );
            if (c.expected.length > 0) {
              assert.ok(
                matches(r.stdout.trim(), c.expected.join("\n").trim()),
                `README.md:${c.line}: \`${text}\` printed\n${r.stdout}\nbut the README shows\n${c.expected.join("\n")}`,
              );
            }
          }
        }
      }
    } finally {
      stopped = await server.stop();
      rmSync(work, { recursive: true, force: true });
    }
    assert.equal(stopped, 0, `The server did not stop cleanly:\n${server.output()}`);
  });
});
