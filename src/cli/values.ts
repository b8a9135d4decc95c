/**
 * Values on the command line: how `cyberdb cli` reads the arguments typed
 * after an op name, and how it prints answers.
 *
 * Reading an argument (one shell word in one-shot mode, one token of a REPL
 * line):
 *
 * ```
 *   1  -0  2.5  true  null    JSON: a number, a boolean, null
 *   "123"  "a b"              JSON strings (in a shell: '"123"')
 *   {"a": [1, 2]}  [1, 2]     JSON objects and arrays
 *   {"$bigint":"1"}           the HTTP API's JSON tags: $bigint $bytes $date $num $undefined $obj
 *   12n  -5n                  a bigint
 *   [1, 2n, NaN, -Infinity]   inside JSON too, bigints and NaN/±Infinity as answers print them
 *   dict1  a-key  NaN         anything else: the bare word as a string
 *   'it''s'                   (REPL) single quotes: always a string, nothing inside is special
 * ```
 *
 * A word that starts like JSON (`{`, `[` or `"`) must be JSON: a typo there
 * is an error, never a string that was meant to be an object.
 *
 * Printing is readable by default — strings quoted, `12n`, `-0`, `NaN`,
 * dates as bare ISO text (`2024-02-29T12:00:00.000Z`), binary as
 * `<bytes 0102ff>` — and lossless with `--json`: one line of tagged JSON
 * per answer, the same tags the arguments take.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";
import { quote } from "../core/value.ts";
import { fromJsonValue, toJsonValue } from "../wire/json.ts";

/** One argument of a REPL line: its text, and whether it was single-quoted (then it is a string as is). */
export interface Token {
  /** The text (without the quotes of a single-quoted token). */
  text: string;
  /** Single-quoted: a literal string. */
  literal: boolean;
}

/**
 * Splits a REPL line into tokens: whitespace separates them, except inside
 * JSON brackets and strings, and inside single quotes (`''` is a quote).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenize } from "./values.ts";
 * const t = tokenize(`dict.set d 'a key' {"x": [1, 2]}`);
 * assert.deepEqual(t.map((x) => x.text), ["dict.set", "d", "a key", '{"x": [1, 2]}']);
 * assert.equal(t[2].literal, true);
 * ```
 */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && /\s/.test(line[i])) i++;
    if (i >= n) break;
    if (line[i] === "'") {
      let text = "";
      i++;
      for (;;) {
        if (i >= n) throw new ValidationError(`Unclosed single quote in ${quote(line)}: close it with '`);
        if (line[i] === "'") {
          if (line[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += line[i++];
      }
      out.push({ text, literal: true });
      continue;
    }
    const start = i;
    let depth = 0;
    let inString = false;
    while (i < n) {
      const c = line[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") depth = Math.max(0, depth - 1);
      else if (depth === 0 && /\s/.test(c)) break;
      i++;
    }
    out.push({ text: line.slice(start, i), literal: false });
  }
  return out;
}

/**
 * Reads one argument: JSON (with the HTTP API's tags), `12n` as a bigint,
 * anything else as the string itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArg } from "./values.ts";
 * assert.equal(parseArg("1"), 1);
 * assert.equal(parseArg("12n"), 12n);
 * assert.equal(parseArg("dict1"), "dict1");
 * assert.equal(parseArg('"123"'), "123");
 * assert.deepEqual(parseArg('{"$bytes":"AQI="}'), new Uint8Array([1, 2]));
 * assert.deepEqual(parseArg('{"a": [1, 2n, NaN], "s": "3n"}'), { a: [1, 2n, NaN], s: "3n" }); // as the REPL prints it
 * ```
 */
export function parseArg(text: string, literal = false): unknown {
  if (literal) return text;
  if (/^[+-]?\d+n$/.test(text) && text.length <= 22) return BigInt(text.replace(/n$/, ""));
  let json: unknown;
  try {
    json = JSON.parse(/^\s*[{[]/.test(text) ? readableTagged(text) : text);
  } catch (e) {
    if (/^[\s]*[{["]/.test(text)) {
      throw new ValidationError(
        `Argument ${quote(text)} starts like JSON but is not JSON (${(e as Error).message}): fix it, or ` +
          "wrap it in single quotes to pass it as a string",
      );
    }
    return text;
  }
  return fromJsonValue(json);
}

/**
 * JSON text with the readable forms the REPL prints outside strings —
 * bigints (`12n`, `-5n`) and `NaN`, `Infinity`, `-Infinity` — replaced by
 * their tags, so that an answer printed as `{"a": [1, 2n, NaN]}` can be
 * typed back in as it is.
 */
function readableTagged(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    const m = /^(-?\d+n|NaN|-?Infinity)/.exec(text.slice(i, i + 24));
    if (m !== null && !/[\w.]/.test(text[i - 1] ?? "") && !/[\w.]/.test(text[i + m[0].length] ?? "")) {
      out += m[0].endsWith("n") ? `{"$bigint":"${m[0].slice(0, -1)}"}` : `{"$num":"${m[0]}"}`;
      i += m[0].length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

/** Options of {@linkcode formatValue}. */
export interface FormatOptions {
  /** Lossless tagged JSON on one line instead of the readable form. */
  json?: boolean;
  /** Widest line before a container is printed over several lines (default 100). */
  width?: number;
}

/**
 * Prints a value: readable (`12n`, `-0`, ISO dates, `<bytes 0102>`) or, with
 * `json`, as one line of tagged JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatValue } from "./values.ts";
 * assert.equal(formatValue({ n: 1n, b: new Uint8Array([1, 255]), z: -0 }), '{"n": 1n, "b": <bytes 01ff>, "z": -0}');
 * assert.equal(formatValue(new Date(0)), "1970-01-01T00:00:00.000Z");
 * assert.equal(formatValue(1n, { json: true }), '{"$bigint":"1"}');
 * assert.equal(formatValue(undefined), "undefined");
 * ```
 */
export function formatValue(value: unknown, options: FormatOptions = {}): string {
  if (options.json) return JSON.stringify(toJsonValue(value));
  const width = options.width ?? 100;
  return readable(value, 0, width);
}

/** Binary longer than this is shown by its first bytes and its length. */
const MAX_HEX_BYTES = 256;

function atom(v: unknown): string | null {
  switch (typeof v) {
    case "undefined":
      return "undefined";
    case "bigint":
      return `${v}n`;
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return String(v);
    case "object": {
      if (v === null) return "null";
      if (v instanceof Uint8Array) {
        let hex = "";
        for (const b of v.subarray(0, MAX_HEX_BYTES)) hex += b.toString(16).padStart(2, "0");
        return v.length > MAX_HEX_BYTES ? `<bytes ${hex}… (${v.length} bytes)>` : `<bytes ${hex}>`;
      }
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
      return null;
    }
    default:
      return String(v);
  }
}

/**
 * The readable form: on one line when it fits `width`, otherwise one entry
 * per line, indented by two spaces per level.
 */
function readable(v: unknown, indent: number, width: number): string {
  const a = atom(v);
  if (a !== null) return a;
  const entries: [string | null, unknown][] = Array.isArray(v)
    ? v.map((x) => [null, x])
    : Object.keys(v as object).map((k) => [k, (v as Record<string, unknown>)[k]]);
  const open = Array.isArray(v) ? "[" : "{";
  const close = Array.isArray(v) ? "]" : "}";
  if (entries.length === 0) return open + close;
  const one = entries.map(([k, x]) => (k === null ? "" : `${JSON.stringify(k)}: `) + readable(x, 0, Infinity));
  const line = `${open}${one.join(", ")}${close}`;
  if (indent + line.length <= width && !line.includes("\n")) return line;
  const pad = " ".repeat(indent + 2);
  const many = entries.map(([k, x]) =>
    pad + (k === null ? "" : `${JSON.stringify(k)}: `) + readable(x, indent + 2, width)
  );
  return `${open}\n${many.join(",\n")}\n${" ".repeat(indent)}${close}`;
}
