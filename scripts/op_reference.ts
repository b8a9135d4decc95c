#!/usr/bin/env -S node --import tsx
/**
 * Writes docs/ops.md, the operation reference, from the operation table
 * (src/ops/): every op's name, kind, whether it writes and its arity come
 * from the table itself (`OPS`), how its answer leaves the engine from its
 * `answer`, and its arguments and description from the JSDoc above its entry
 * in `src/ops/*_ops.ts` (and db_stats.ts), which starts with the op's signature in backticks:
 *
 *   /** `dict.pop(key, fallback?)`: removes and returns the value; … → KeyNotFoundError. *\/
 *
 * The signature must agree with the table's arity (optional arguments end in
 * `?`, have a default `= x`, or are an options object whose every field is
 * optional), and every error class the text names must exist: otherwise this
 * fails, naming the op. `tests/docs_test.ts` fails when docs/ops.md is not
 * what this writes today.
 *
 *   node --import tsx scripts/op_reference.ts      (or: deno run -A scripts/op_reference.ts)
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as errors from "../src/errors.ts";
import { OPS } from "../src/ops/mod.ts";
import { ALL_ITEMS, NO_ANSWER, type Op } from "../src/ops/types.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The file this script writes, relative to the repository. */
export const OUTPUT = "docs/ops.md";

/** The command that rewrites {@linkcode OUTPUT}. */
export const COMMAND = "node --import tsx scripts/op_reference.ts";

/** The source files whose JSDoc documents the ops. */
const SOURCES = ["db_ops.ts", "db_stats.ts", "dict_ops.ts", "list_ops.ts", "table_ops.ts", "query_ops.ts"];

/** What the JSDoc says about one op. */
interface OpDoc {
  /** The parameters after the collection name, as written: `["key", "fallback?"]`. */
  params: string[];
  /** The text after the signature. */
  text: string;
  /** Where it was found, for messages. */
  where: string;
}

/** Splits `a, { b?, c? }, d` at the commas outside brackets. */
function splitParams(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of list) {
    if ("([{".includes(ch)) depth++;
    if (")]}".includes(ch)) depth--;
    if (ch === "," && depth === 0) {
      out.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (current.trim() !== "") out.push(current.trim());
  return out;
}

/** Whether a parameter as written may be left out. */
function isOptional(param: string): boolean {
  if (param.endsWith("?") || param.includes("=")) return true;
  const fields = /^\{(.*)\}$/.exec(param);
  return fields !== null && splitParams(fields[1]).every((f) => f.endsWith("?"));
}

/** The op docs of every `src/ops/*_ops.ts`, by op name. */
function readDocs(): Map<string, OpDoc> {
  const docs = new Map<string, OpDoc>();
  for (const file of SOURCES) {
    const source = readFileSync(join(root, "src/ops", file), "utf8");
    for (const m of source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export const \w+\s*=/g)) {
      const text = m[1].split("\n").map((l) => l.replace(/^\s*\*\s?/, "").trim()).filter(Boolean).join(" ");
      const sig = /^`([a-z]+\.[A-Za-z]+)(?:\((.*?)\))?`\s*[:.,]?\s*(.*)$/.exec(text);
      if (sig === null || !OPS.has(sig[1])) continue;
      const line = source.slice(0, m.index).split("\n").length;
      docs.set(sig[1], { params: splitParams(sig[2] ?? ""), text: sig[3], where: `src/ops/${file}:${line}` });
    }
  }
  return docs;
}

/** Error class name → its code, from src/errors.ts. */
function errorCodes(): Map<string, string> {
  const codes = new Map<string, string>();
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value !== "function" || !(value.prototype instanceof errors.CyberDBError)) continue;
    codes.set(name, new (value as new (m: string) => errors.CyberDBError)("").code);
  }
  return codes;
}

/** Checks that a doc's signature agrees with the op's arity; returns the wire arguments. */
function wireArgs(op: Op<unknown>, doc: OpDoc): string[] {
  const args = op.kind === "db" ? doc.params : ["name", ...doc.params];
  const required = args.filter((a) => !isOptional(a)).length;
  const [min, max] = op.arity;
  if (required !== min || args.length !== max) {
    throw new Error(
      `The JSDoc of ${op.name} (${doc.where}) gives it ${required} to ${args.length} arguments, ` +
        `the operation table ${min} to ${max}: make its signature say what the op takes`,
    );
  }
  return args;
}

/** The error codes an op's text names (`KeyNotFoundError` → `KEY_NOT_FOUND`). */
function namedErrors(op: Op<unknown>, doc: OpDoc, codes: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [, name] of doc.text.matchAll(/\b([A-Z][A-Za-z]*Error)\b/g)) {
    const code = codes.get(name);
    if (code === undefined) {
      throw new Error(`The JSDoc of ${op.name} (${doc.where}) names ${name}, which src/errors.ts does not export`);
    }
    if (!found.includes(code)) found.push(code);
  }
  return found;
}

/** A sentence: capital first letter, a full stop at the end. */
function sentence(text: string): string {
  const t = text.trim().replace(/[.;,:]$/, "");
  return t === "" ? "" : `${t[0].toUpperCase()}${t.slice(1)}.`;
}

/** How the answer leaves the engine, when the op's `answer` changes it. */
function answerNote(op: Op<unknown>): string {
  if (op.answer === NO_ANSWER) return " Over the wire the answer is `null` (embedded, a handle).";
  if (op.answer === ALL_ITEMS) return " Over the wire, an array (embedded, an iterator).";
  return "";
}

/** Escapes a table cell. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

const KINDS: [Op<unknown>["kind"], string, string][] = [
  ["db", "Database", "Database-level operations take no collection name first: their arguments are as listed."],
  ["dict", "Dicts", "The first argument is the dict's name."],
  ["list", "Lists", "The first argument is the list's name; an index may be negative (it counts from the end)."],
  [
    "table",
    "Tables",
    "The first argument is the table's name; `pk` is a primary key. A unique index refuses a row whose indexed value " +
    "another row holds with `DUPLICATE_KEY` (`insert`, `insertMany`, `update`, `patch`, `upsert`), and nothing changes.",
  ],
];

/** The markdown of the reference, before formatting. */
function markdown(): string {
  const docs = readDocs();
  const codes = errorCodes();
  const ops = [...OPS.values()];
  const undocumented = ops.filter((op) => !docs.has(op.name)).map((op) => op.name);
  if (undocumented.length > 0) {
    throw new Error(
      `No JSDoc starting with the signature in backticks for ${undocumented.join(", ")} in src/ops/*_ops.ts: ` +
        "document each op as /** `kind.method(arg, optional?)`: what it does. */",
    );
  }
  const out: string[] = [
    `<!-- Written by scripts/op_reference.ts from the operation table (src/ops/); do not edit. Regenerate: ${COMMAND} -->`,
    "",
    "# Operation reference",
    "",
    `Every operation of the database: ${ops.length} of them, in one table (\`src/ops/\`) that the embedded API, the wire ` +
    "and the write-ahead log share. A method call on a dict, list or table runs the operation of the same name " +
    "(`dict.set(k, v)` runs `dict.set`); a request on the [wire](wire.md) names it with its arguments, the collection's " +
    'name first: `{ "op": "dict.set", "args": ["todos", "t1", 1] }`; and the log records the writes the same way.',
    "",
    "An argument marked `?` may be left out, and so may one with a default (`= -1`). **Writes** are logged, take one LSN " +
    "each (see [Live data](live.md)), and may be refused while the disk refuses writes. Answers that are arrays can be " +
    "asked for in batches ([streamed answers](wire.md#streamed-answers)).",
    "",
    "Any operation may also fail with these codes (the error classes are in [the embedded API](embedded.md#errors)):",
    "",
    "- `PROTOCOL`: no operation has that name.",
    "- `VALIDATION`: the wrong number of arguments, or an argument of the wrong type or out of its range; nothing changes.",
    "- `NOT_FOUND`: no collection has that name; `WRONG_KIND`: the collection is of another kind.",
    "- `CLOSED`: the database is closed (or the server is shutting down).",
    "- `STORAGE` (writes only): the disk refuses writes; reads go on (see [Durability](durability.md#when-the-disk-fails)).",
    "- Over the wire: `AUTH`, `TOO_LARGE`, `CONNECTION` (see the [wire protocol](wire.md)).",
  ];
  for (const [kind, title, intro] of KINDS) {
    out.push(
      "",
      `## ${title}`,
      "",
      intro,
      "",
      "| Operation | Arguments | Writes | What it does | Errors |",
      "|---|---|---|---|---|",
    );
    for (const op of ops.filter((o) => o.kind === kind)) {
      const doc = docs.get(op.name)!;
      const args = wireArgs(op, doc).map((a) => `\`${a}\``).join(", ");
      const text = sentence(doc.text) + answerNote(op);
      const errs = namedErrors(op, doc, codes).map((c) => `\`${c}\``).join(", ");
      out.push(`| \`${op.name}\` | ${cell(args)} | ${op.write ? "yes" : ""} | ${cell(text.trim())} | ${errs} |`);
    }
  }
  return out.join("\n") + "\n";
}

/**
 * The reference as docs/ops.md holds it: the markdown, formatted by
 * `deno fmt` (so that formatting the docs leaves it as it is).
 */
export function opReference(): string {
  const deno = join(root, "node_modules", ".bin", "deno");
  const r = spawnSync(deno, ["fmt", "--ext", "md", "-"], {
    cwd: root,
    input: markdown(),
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (r.status !== 0) throw new Error(`deno fmt failed on the operation reference: ${r.stderr}`);
  return r.stdout;
}

if (import.meta.main ?? process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(join(root, OUTPUT), opReference());
  console.log(`Wrote ${OUTPUT}`);
}
