// The docs stay true to the code: docs/ops.md is what scripts/op_reference.ts
// makes of the operation table today, and every link between README.md and
// docs/*.md points at a file that exists and, with #anchor, at a heading it has.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { root } from "./server_process.ts";
import { COMMAND, opReference, OUTPUT } from "../scripts/op_reference.ts";
import { OPS } from "../src/ops/mod.ts";

/** README.md and every docs/*.md, repo-relative. */
function markdownFiles(): string[] {
  return ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
}

/** The text outside fenced code blocks and inline code spans: where links and headings live. */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a markdown file's headings (a repeated heading gets -1, -2, … as on GitHub). */
function anchors(file: string): Set<string> {
  const text = readFileSync(join(root, file), "utf8").replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, "");
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The relative link targets of a markdown file: `[text](target)`, web addresses left out. */
function links(file: string): string[] {
  const text = prose(readFileSync(join(root, file), "utf8"));
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/i.test(t));
}

describe("docs", () => {
  it(`${OUTPUT} is generated from the operation table and up to date`, () => {
    const want = opReference();
    const have = existsSync(join(root, OUTPUT)) ? readFileSync(join(root, OUTPUT), "utf8") : "";
    assert.ok(
      have === want,
      `${OUTPUT} is not what the operation table (src/ops/) says today: run \`${COMMAND}\` and commit the result`,
    );
    for (const name of OPS.keys()) {
      assert.ok(want.split("\n").some((l) => l.startsWith(`| \`${name}\` `)), `${name} is missing from ${OUTPUT}`);
    }
  });

  it("every link between the README and docs/ reaches a file, and a heading when it names one", () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      for (const target of links(file)) {
        const [path, anchor] = target.split("#", 2);
        const to = path === "" ? file : relative(root, normalize(join(root, dirname(file), path)));
        if (!existsSync(join(root, to))) {
          broken.push(`${file}: ${target} (no file ${to})`);
        } else if (anchor !== undefined && to.endsWith(".md") && !anchors(to).has(anchor)) {
          broken.push(`${file}: ${target} (${to} has no heading #${anchor})`);
        }
      }
    }
    assert.deepEqual(broken, [], `Broken links:\n${broken.join("\n")}`);
  });

  it("every page of docs/ is reachable from the README", () => {
    const reached = new Set<string>(["README.md"]);
    const queue = ["README.md"];
    while (queue.length > 0) {
      const file = queue.shift()!;
      for (const target of links(file)) {
        const path = target.split("#")[0];
        if (path === "" || !path.endsWith(".md")) continue;
        const to = relative(root, normalize(join(root, dirname(file), path)));
        if (!reached.has(to) && existsSync(join(root, to))) {
          reached.add(to);
          queue.push(to);
        }
      }
    }
    const orphans = markdownFiles().filter((f) => !reached.has(f));
    assert.deepEqual(orphans, [], `Pages no link from README.md leads to: ${orphans.join(", ")}`);
  });

  it("slugs are GitHub's", () => {
    assert.equal(slug("Security: what the server guarantees"), "security-what-the-server-guarantees");
    assert.equal(slug("Deno KV (Deno Deploy, or any Deno program)"), "deno-kv-deno-deploy-or-any-deno-program");
    assert.equal(slug("The `cyberdb` command"), "the-cyberdb-command");
  });
});
