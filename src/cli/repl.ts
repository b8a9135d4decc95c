/**
 * `cyberdb cli <url>`: a REPL on a running server, or one op run once.
 *
 * A line is an op of the operation table and its arguments, as the wire
 * names them — `dict.get d k`, `table.query users {"limit": 5}` — read by
 * {@linkcode tokenize} and {@linkcode parseArg}; the answer is printed by
 * {@linkcode formatValue}, an error as `(error) CODE: message`. Besides
 * ops: `help`, `help <op>`, `exit` / `quit` (or Ctrl-D).
 *
 * On a terminal: a prompt, Tab completion of op names and then of the
 * collection names of the op's kind ({@linkcode complete}), and history
 * (see `history.ts`). Fed by a pipe: no prompt and no history; each line's
 * answer in order, and the exit status is 1 when any line failed.
 *
 * @module
 */

import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { Session } from "../client/client.ts";
import type { CollectionInfo } from "../core/engine.ts";
import { CyberDBError } from "../errors.ts";
import { type OpName, SIGNATURES } from "../ops/signatures.ts";
import { addHistory, HISTORY_LINES, loadHistory } from "./history.ts";
import { formatValue, parseArg, tokenize } from "./values.ts";

/** Words the REPL takes besides op names. */
const COMMANDS = ["help", "exit", "quit"];

/** `db.*` ops whose first argument is a collection of this kind (`null`: any kind). */
const DB_TARGET: Record<string, CollectionInfo["kind"] | null> = {
  "db.getDict": "dict",
  "db.getList": "list",
  "db.getTable": "table",
  "db.drop": null,
};

/**
 * Tab completion of a REPL line, in `node:readline`'s completer shape
 * (`[candidates, the word they complete]`): the first word from the op
 * names and `help`/`exit`/`quit`; the second from the collections of the
 * op's kind (any kind for `db.drop`, op names after `help`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { complete } from "./repl.ts";
 * assert.deepEqual(complete("dict.ge", []), [["dict.get", "dict.getEntry"], "dict.ge"]);
 * const cols = [{ name: "users", kind: "table" as const }, { name: "u2", kind: "dict" as const }];
 * assert.deepEqual(complete("table.get u", cols), [["users"], "u"]);
 * ```
 */
export function complete(line: string, collections: readonly CollectionInfo[]): [string[], string] {
  const words = line.trimStart().split(/\s+/);
  const word = words[words.length - 1];
  const pick = (all: Iterable<string>) => [...all].filter((c) => c.startsWith(word)).sort();
  if (words.length === 1) return [pick([...Object.keys(SIGNATURES), ...COMMANDS]), word];
  if (words.length !== 2) return [[], word];
  const op = words[0];
  if (op === "help") return [pick(Object.keys(SIGNATURES)), word];
  const kind = op in DB_TARGET ? DB_TARGET[op] : SIGNATURES[op as OpName]?.kind;
  if (kind === undefined || kind === "db") return [[], word];
  return [pick(collections.filter((c) => kind === null || c.kind === kind).map((c) => c.name)), word];
}

/**
 * The REPL's help: every op with its argument count, or one op's facts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "./repl.ts";
 * assert.match(helpText("dict.set"), /dict\.set: writes a dict; 3 to 4 arguments, the dict's name first/);
 * ```
 */
export function helpText(op?: string): string {
  if (op !== undefined) {
    const sig = SIGNATURES[op as OpName];
    if (sig === undefined) return `${JSON.stringify(op)} is not an op of this client's table (the server may know it)`;
    const [min, max] = sig.arity;
    const count = min === max ? `${min} argument${min === 1 ? "" : "s"}` : `${min} to ${max} arguments`;
    return `${op}: ${sig.write ? "writes" : "reads"} ${
      sig.kind === "db" ? "the database" : `a ${sig.kind}`
    }; ${count}` +
      (sig.kind === "db" ? "" : `, the ${sig.kind}'s name first`);
  }
  const lines = [
    'Type an op and its arguments: dict.get d k · dict.set d k {"a": [1, 2n]} · table.query t {"limit": 5}',
    "Arguments: JSON (where 2n, NaN, Infinity and the tags $bigint $bytes $date $num $undefined $obj work),",
    "12n, or a bare word as a string; 'single quotes' make a string of anything. Tab completes. help OP · exit",
    "",
  ];
  for (const kind of ["db", "dict", "list", "table"]) {
    const names = Object.keys(SIGNATURES).filter((n) => n.startsWith(`${kind}.`));
    lines.push(`${kind.padEnd(6)} ${names.map((n) => n.slice(kind.length + 1)).join(" ")}`);
  }
  return lines.join("\n");
}

/**
 * How an error is printed: its code and message, and for an `AUTH` error
 * where the command line takes the password (the client's own message
 * speaks of `connect()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthError, NotFoundError } from "@cyberdb/core";
 * import { formatError } from "./repl.ts";
 * assert.equal(formatError(new NotFoundError("No dict named \"d\"")), '(error) NOT_FOUND: No dict named "d"');
 * assert.match(formatError(new AuthError("Wrong password")), /CYBERDB_PASSWORD/);
 * ```
 */
export function formatError(e: unknown): string {
  if (e instanceof CyberDBError) {
    const hint = e.code === "AUTH" ? `\n${PASSWORD_HINT}` : "";
    return `(error) ${e.code}: ${e.message}${hint}`;
  }
  return `(error) ${e instanceof Error ? e.message : String(e)}`;
}

/** Where the command line takes the password from. */
const PASSWORD_HINT =
  "cyberdb takes the password from --password or the CYBERDB_PASSWORD environment variable (which keeps it " +
  "out of the shell history and the process list)";

/**
 * The ops of this client's table nearest to an unknown `op` (a typo, a
 * method under the wrong kind): at most three, closest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nearestOps } from "./repl.ts";
 * assert.deepEqual(nearestOps("dict.gt").slice(0, 1), ["dict.get"]);
 * assert.deepEqual(nearestOps("table.length"), ["list.length"]);
 * ```
 */
export function nearestOps(op: string): string[] {
  const method = op.slice(op.indexOf(".") + 1);
  const scored: [number, string][] = [];
  for (const name of Object.keys(SIGNATURES)) {
    let d = distance(op, name);
    // The same method under another kind (list.size → list.length is a typo; dict.len → dict.size a guess).
    if (name.endsWith(`.${method}`)) d = Math.min(d, 1);
    if (d <= 2) scored.push([d, name]);
  }
  return scored.sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1])).map(([, n]) => n)
    .filter((n, i, all) => all.indexOf(n) === i).slice(0, 3);
}

/** For the server's "unknown operation": the nearest ops, and where the list is. */
function unknownOpHint(e: unknown, op: string): string {
  if (!(e instanceof CyberDBError && e.code === "PROTOCOL" && /unknown op/i.test(e.message))) return "";
  if (op in SIGNATURES) return "";
  const near = nearestOps(op);
  return `\n${near.length > 0 ? `Did you mean ${near.join(", ")}? ` : ""}help (in the REPL) lists every op.`;
}

/** Levenshtein distance (op names are short). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** Where the REPL reads and writes. */
export interface ReplIo {
  /** Lines come from here. */
  input: Readable;
  /** Answers, errors and the prompt go here. */
  output: Writable;
  /** A terminal: prompt, completion and history. */
  interactive: boolean;
  /** The history file (`null`: none). Used only when interactive. */
  historyFile: string | null;
}

/** Options of {@linkcode runRepl} and {@linkcode runOnce}. */
export interface PrintOptions {
  /** Print answers as tagged JSON lines. */
  json?: boolean;
  /** The prompt's label, e.g. the server's host:port. */
  label?: string;
}

/**
 * Runs one op and prints its answer to `out`; resolves to the exit status
 * (0, or 1 when the op failed: the error went to `err`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * import { runOnce } from "./repl.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * const client = await connect(server.url);
 * const out: string[] = [];
 * assert.equal(await runOnce(client, "db.createDict", ["d"], (s) => out.push(s), (s) => out.push(s)), 0);
 * assert.equal(await runOnce(client, "dict.pop", ["d", "k"], (s) => out.push(s), (s) => out.push(s)), 1);
 * assert.match(out[1], /^\(error\) KEY_NOT_FOUND: /);
 * await client.close();
 * await server.close();
 * ```
 */
export async function runOnce(
  session: Session,
  op: string,
  args: unknown[],
  out: (line: string) => void,
  err: (line: string) => void,
  options: PrintOptions = {},
): Promise<number> {
  try {
    out(formatValue(await session.call(op, args), options));
    return 0;
  } catch (e) {
    err(formatError(e) + unknownOpHint(e, op));
    return 1;
  }
}

/**
 * The REPL: reads lines until the input ends or `exit`, runs each, prints
 * each answer. Resolves to the exit status: 0, or 1 when a line failed and
 * the input is not a terminal (a script learns that something went wrong).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PassThrough, Readable } from "node:stream";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * import { runRepl } from "./repl.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * const client = await connect(server.url);
 * const output = new PassThrough();
 * let text = "";
 * output.on("data", (b) => (text += b));
 * const input = Readable.from(["db.createDict d\n", "dict.set d k 5n\n", "dict.get d k\n"]);
 * assert.equal(await runRepl(client, { input, output, interactive: false, historyFile: null }), 0);
 * assert.equal(text, "null\nundefined\n5n\n"); // createDict, set, get
 * await client.close();
 * await server.close();
 * ```
 */
export async function runRepl(session: Session, io: ReplIo, options: PrintOptions = {}): Promise<number> {
  const print = (s: string) => void io.output.write(s + "\n");
  let collections: CollectionInfo[] = [];
  const refresh = async () => {
    try {
      collections = await session.collections();
    } catch { /* completion only */ }
  };
  const history = io.interactive ? await loadHistory(io.historyFile) : [];
  const rl = createInterface({
    input: io.input,
    output: io.interactive ? io.output : undefined,
    terminal: io.interactive,
    prompt: `${options.label ?? "cyberdb"}> `,
    historySize: HISTORY_LINES,
    // readline wants the newest first.
    ...(io.interactive
      ? { history: [...history].reverse(), completer: (line: string) => complete(line, collections) }
      : {}),
  });
  // Ctrl-C leaves, as Ctrl-D does.
  rl.on("SIGINT", () => rl.close());
  let failed = false;
  if (io.interactive) {
    await refresh();
    print(`Connected. Type help for the ops, Tab to complete, exit to leave.`);
    rl.prompt();
  }
  for await (const raw of rl) {
    const line = raw.trim();
    if (io.interactive) await addHistory(io.historyFile, line, history);
    if (line === "exit" || line === "quit") break;
    if (line !== "") {
      const ok = await runLine(session, line, print, options);
      failed ||= !ok;
      if (ok && io.interactive && /^db\.(create|drop)/.test(line)) await refresh();
    }
    if (io.interactive) rl.prompt();
  }
  rl.close();
  return failed && !io.interactive ? 1 : 0;
}

/** One REPL line: a command or an op; whether it succeeded. */
async function runLine(
  session: Session,
  line: string,
  print: (s: string) => void,
  options: PrintOptions,
): Promise<boolean> {
  let tokens;
  try {
    tokens = tokenize(line);
  } catch (e) {
    print(formatError(e));
    return false;
  }
  const [first, ...rest] = tokens;
  if (first.text === "help" || first.text === "?") {
    print(helpText(rest[0]?.text));
    return true;
  }
  let args: unknown[];
  try {
    args = rest.map((t) => parseArg(t.text, t.literal));
  } catch (e) {
    print(formatError(e));
    return false;
  }
  return (await runOnce(session, first.text, args, print, print, options)) === 0;
}
