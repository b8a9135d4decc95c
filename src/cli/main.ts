/**
 * The `cyberdb` command's subcommands other than `serve` (which `cli.ts`
 * hands to `server.ts`): `cli`, `check`, `repair`, `dump`, `load`, `stats`,
 * `help`. Each resolves to an exit status:
 *
 * ```
 *   0  done (check: nothing damaged)
 *   1  failed: the server or the database said no (the error is printed with its code),
 *      check found damage, repair did not cut, load stopped
 *   2  not run: a bad command line, no database in the directory, a lock held by a server
 * ```
 *
 * @module
 */

import { open as openFile, rename, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { Database } from "../api/database.ts";
import type { Client } from "../client/client.ts";
import { quote } from "../core/value.ts";
import { CyberDBError, ValidationError } from "../errors.ts";
import { basename, joinPath } from "../storage/paths.ts";
import { defaultStorage } from "../storage/mod.ts";
import type { Storage } from "../storage/types.ts";
import { toJsonValue } from "../wire/json.ts";
import { applyRepair, checkDatabase, describePlan, formatReport, planRepair } from "./check.ts";
import { connectTo, isUrl, serverUrl } from "./connect.ts";
import { databaseEndpoint, dump, engineEndpoint, load, sessionEndpoint } from "./dump.ts";
import { historyPath } from "./history.ts";
import { formatError, runOnce, runRepl } from "./repl.ts";
import { expectDatabase, lockForCommand, readState } from "./state.ts";
import { formatStats, readHealth, readStats } from "./stats.ts";
import { parseArg } from "./values.ts";

/** Where a command reads and writes, and its environment. */
export interface Io {
  /** Standard input. */
  stdin: Readable;
  /** Standard output. */
  stdout: Writable;
  /** Standard error. */
  stderr: Writable;
  /** Whether stdin and stdout are a terminal (the REPL's prompt, completion and history; repair's question). */
  interactive: boolean;
  /** Environment variables. */
  env: Record<string, string | undefined>;
}

/**
 * The overview printed by `cyberdb help`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { USAGE } from "./main.ts";
 * assert.match(USAGE, /^ {2}check <dir> /m);
 * ```
 */
export const USAGE = `Usage: cyberdb <command> [arguments]

  serve [flags]               run the server (the flags of server.ts: --port --dir --password …; serve --help)
  cli <url> [op [args…]]      a REPL on a server; with an op, run it once: cyberdb cli 127.0.0.1:9980 dict.get d k
  check <dir>                 read every snapshot and log record; report damage with file and offset
  repair <dir> [--yes]        cut the log at the first bad record (says what, asks, backs up what it cuts)
  dump <dir|url> [-o FILE]    every collection as JSON lines, values tagged losslessly
  load <dir|url> [FILE]       load a dump (FILE or stdin); refuses existing names unless --replace
  stats <url>                 collections, kinds and sizes
  help [command]              this, or one command's details

A <url> is http://, https://, ws://, wss:// or a bare host:port (http://); the password comes
from --password or CYBERDB_PASSWORD. Exit status: 0 done, 1 failed (check: damage found), 2 not run.`;

const HELP: Record<string, string> = {
  cli:
    `Usage: cyberdb cli <url> [--password P] [--json] [op [args…]]   (the flags may also follow the args; -- ends them)

Without an op: a REPL. Type an op and its arguments (dict.get d k), help, help OP, exit.
On a terminal: Tab completes op names and collection names; history is kept in
$CYBERDB_HISTORY, else $XDG_STATE_HOME/cyberdb/history, else ~/.local/state/cyberdb/history
(CYBERDB_HISTORY= turns it off). Piped in, lines run in order; the exit status is 1 if any failed.

With an op: run it once, print the answer, exit 0 (1 on an error, printed as "(error) CODE: message").

Arguments: JSON with the HTTP API's tags ({"$bigint":"1"} {"$bytes":"AQI="} {"$date":"…"} {"$num":"NaN"}),
12n for a bigint (also inside JSON, as are NaN and Infinity: [1, 2n, NaN]), anything else a string:
dict1 is "dict1", 1 is a number, '"1"' (shell quotes) the string "1".
Answers print readably (12n, -0, ISO dates, <bytes 01ff>), or as tagged JSON with --json.`,
  check: `Usage: cyberdb check <dir> [--force]

Reads every snapshot and every record of every log segment of the database in <dir>, writing nothing,
and reports each problem as "DAMAGED <file> at byte <offset>: <what>". Then says whether the database
opens. Exit status 0 when nothing is damaged (a torn tail left by a crash is not damage: open cuts it),
1 when something is, 2 when it cannot check. Takes the directory's LOCK while it reads, so it refuses
to run beside a server (--force reads anyway: the newest records may then look torn).`,
  repair: `Usage: cyberdb repair <dir> [--yes] [--backup DIR]

Cuts the log where Database.open({ repair: true }) would: at the first bad record, or the first record
that cannot be replayed, dropping later segments. Prints exactly what goes (bytes, records, the last LSN
kept), then asks (on a terminal), or cuts only with --yes. The cut bytes are first copied to --backup
(default <dir>/repair/<time>/), with a README.txt saying where they came from. Never runs beside a server.`,
  dump: `Usage: cyberdb dump <dir|url> [-o FILE] [--password P] [--force]

Writes every collection as JSON lines: a first line, per collection a header line (tables with their
schema and indexes) and one line per entry, element or row, and an end line with the counts. Values are
tagged as in the HTTP API's JSON, so nothing is lost. From a directory it reads as open does, writing
nothing (--force: beside a running server); from a server it reads each collection in pages of 1000.`,
  load: `Usage: cyberdb load <dir|url> [FILE] [--replace] [--password P]

Loads a dump from FILE (or stdin: held in memory to check it first). Every line is checked before
anything is written; collections the target already has are refused unless --replace (drop and load).
A <dir> is opened as a database (created if missing); it must not be open in a server.`,
  stats: `Usage: cyberdb stats <url> [--password P] [--json]

The server's health, last LSN, and each collection with its kind and size. Uses the server's db.stats
op when it has one; otherwise computes the summary from db.collections and the sizes (and says so).`,
  serve: `Usage: cyberdb serve [flags]   (the flags of server.ts; cyberdb serve --help lists them)`,
};

type FlagKind = "boolean" | "string";

/** Flags parsed from argv, and the positional arguments. */
interface Parsed {
  flags: Record<string, string | boolean>;
  positionals: string[];
}

/**
 * Splits `argv` into flags (`--name value`, `--name=value`, booleans) and
 * positionals. After `stopAfter` positionals only the command's own long
 * flags (`--password`, `--json`) are still flags and everything else is
 * positional (so `cli <url> list.get l -1` keeps its `-1`); after `--`
 * everything is.
 */
function parseFlags(
  argv: readonly string[],
  spec: Record<string, FlagKind>,
  stopAfter = Infinity,
): Parsed {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const aliases: Record<string, string> = { "-o": "out", "-y": "yes", "-h": "help" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-" || /^-\d/.test(a) || (positionals.length >= stopAfter && !ownFlag(a, spec))) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = aliases[a] ?? (eq < 0 ? a.slice(2) : a.slice(2, eq));
    const kind = spec[name] ?? (name === "help" ? "boolean" : undefined);
    if (kind === undefined || (!a.startsWith("--") && aliases[a] === undefined)) {
      throw new ValidationError(`Unknown flag ${quote(a)}: see cyberdb help`);
    }
    if (kind === "boolean") {
      flags[name] = true;
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ValidationError(`Flag --${name} needs a value`);
    flags[name] = value;
  }
  return { flags, positionals };
}

/** Whether `a` is one of the command's long flags (`--name` or `--name=value`). */
function ownFlag(a: string, spec: Record<string, FlagKind>): boolean {
  const m = /^--([a-z][a-z-]*)(=|$)/.exec(a);
  return m !== null && m[1] in spec;
}

/**
 * Runs one `cyberdb` command (not `serve`) and resolves to its exit status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import process from "node:process";
 * import { PassThrough } from "node:stream";
 * import { runCommand } from "./main.ts";
 * const stdout = new PassThrough();
 * let text = "";
 * stdout.on("data", (b) => (text += b));
 * const io = { stdin: process.stdin, stdout, stderr: stdout, interactive: false, env: {} };
 * assert.equal(await runCommand(["help"], io), 0);
 * assert.match(text, /^Usage: cyberdb <command>/);
 * assert.equal(await runCommand(["check"], io), 2); // no directory given
 * ```
 */
export async function runCommand(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  const out = (s: string) => void io.stdout.write(s + "\n");
  const err = (s: string) => void io.stderr.write(s + "\n");
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    const topic = rest[0];
    out(topic !== undefined && HELP[topic] !== undefined ? HELP[topic] : USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    err(`Unknown command ${quote(command)}.\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest, io, out, err);
  } catch (e) {
    err(formatError(e));
    return 1;
  }
}

type Command = (
  argv: readonly string[],
  io: Io,
  out: (s: string) => void,
  err: (s: string) => void,
) => Promise<number>;

/** Parses a command's flags; on a bad command line prints why and the command's help. */
function parseOrUsage(
  argv: readonly string[],
  spec: Record<string, FlagKind>,
  command: string,
  err: (s: string) => void,
  minPositionals: number,
  stopAfter?: number,
): Parsed | null {
  try {
    const p = parseFlags(argv, spec, stopAfter);
    if (p.flags.help) return p;
    if (p.positionals.length < minPositionals) throw new ValidationError(`cyberdb ${command} needs more arguments`);
    return p;
  } catch (e) {
    err(`${e instanceof Error ? e.message : String(e)}\n\n${HELP[command]}`);
    return null;
  }
}

function password(p: Parsed, io: Io): string | undefined {
  const given = typeof p.flags.password === "string" ? p.flags.password : io.env.CYBERDB_PASSWORD;
  return given === "" ? undefined : given;
}

const COMMANDS: Record<string, Command> = {
  async cli(argv, io, out, err) {
    const p = parseOrUsage(argv, { password: "string", json: "boolean" }, "cli", err, 1, 2);
    if (p === null) return 2;
    if (p.flags.help) return out(HELP.cli), 0;
    const [raw, op, ...words] = p.positionals;
    let args: unknown[] = [];
    try {
      serverUrl(raw);
      args = words.map((w) => parseArg(w));
    } catch (e) {
      err(formatError(e));
      return 2;
    }
    const client = await connectTo(raw, password(p, io));
    try {
      const json = p.flags.json === true;
      if (op !== undefined) return await runOnce(client, op, args, out, err, { json });
      const label = new URL(serverUrl(raw)).host;
      const repl = { input: io.stdin, output: io.stdout, interactive: io.interactive };
      return await runRepl(client, { ...repl, historyFile: historyPath(io.env) }, { json, label });
    } finally {
      await client.close();
    }
  },

  async check(argv, _io, out, err) {
    const p = parseOrUsage(argv, { force: "boolean" }, "check", err, 1);
    if (p === null) return 2;
    if (p.flags.help) return out(HELP.check), 0;
    const dir = p.positionals[0];
    const opened = await openDir(dir, "check", p.flags.force === true, err);
    if (opened === null) return 2;
    try {
      out(`Checking ${dir}${p.flags.force ? " (--force: beside whatever holds its LOCK)" : ""}`);
      const report = await checkDatabase(opened.storage, dir);
      for (const l of formatReport(report)) out(l);
      return report.damaged ? 1 : 0;
    } finally {
      await opened.release();
    }
  },

  async repair(argv, io, out, err) {
    const p = parseOrUsage(argv, { yes: "boolean", backup: "string" }, "repair", err, 1);
    if (p === null) return 2;
    if (p.flags.help) return out(HELP.repair), 0;
    const dir = p.positionals[0];
    const opened = await openDir(dir, "repair", false, err);
    if (opened === null) return 2;
    try {
      const report = await checkDatabase(opened.storage, dir);
      for (const l of formatReport(report)) out(l);
      const plan = await planRepair(opened.storage, dir, report);
      if (plan === null) {
        out(
          report.open.failure === null
            ? "Nothing to repair: the log opens as it is" +
              (report.damaged ? " (the damage above is in files open does not need; check says which)" : "")
            : "Nothing repair can cut fixes this: see the error above",
        );
        return report.open.failure === null ? 0 : 1;
      }
      out("");
      for (const l of describePlan(plan)) out(l);
      if (!p.flags.yes) {
        const yes = io.interactive && await ask(io, "Cut it? Type yes to cut, anything else to stop: ");
        if (!yes) {
          out("Nothing was changed. To cut, run again with --yes (after copying the directory somewhere safe).");
          return 1;
        }
      }
      const backup = typeof p.flags.backup === "string"
        ? p.flags.backup
        : joinPath(dir, "repair", new Date().toISOString().replace(/[:.]/g, "-"));
      const files = await applyRepair(opened.storage, dir, plan, backup);
      out(`Backed up the cut bytes to ${backup}/ (${files.map((f) => basename(f)).join(", ")}).`);
      out(`Cut ${plan.cut.file} at byte ${plan.cut.offset}.`);
      const after = await readState(opened.storage, dir);
      if (after.failure !== null) {
        err(`(error) ${after.failure.error.code}: still damaged after the cut: ${after.failure.error.message}`);
        return 1;
      }
      out(`The database now opens at LSN ${after.lsn} with ${after.engine.collections.size} collections.`);
      return 0;
    } finally {
      await opened.release();
    }
  },

  async dump(argv, io, out, err) {
    const p = parseOrUsage(argv, { out: "string", password: "string", force: "boolean" }, "dump", err, 1);
    if (p === null) return 2;
    if (p.flags.help) return out(HELP.dump), 0;
    const source = p.positionals[0];
    const sink = await lineSink(typeof p.flags.out === "string" ? p.flags.out : null, io);
    let written = false;
    try {
      if (isUrl(source)) {
        const client = await connectTo(source, password(p, io));
        try {
          await dump(sessionEndpoint(client), sink.write);
        } finally {
          await client.close();
        }
      } else {
        const opened = await openDir(source, "dump", p.flags.force === true, err);
        if (opened === null) return 2;
        try {
          const state = await readState(opened.storage, source);
          if (state.failure !== null) {
            throw new ValidationError(
              `${state.failure.error.message.replace(/;.*$/, "")}: cyberdb check ${source} says more`,
            );
          }
          await dump(engineEndpoint(state.engine), sink.write);
        } finally {
          await opened.release();
        }
      }
      await sink.close();
      written = true;
    } finally {
      // A dump that failed leaves no file behind: -o FILE appears only whole.
      if (!written) await sink.abort();
    }
    return 0;
  },

  async load(argv, io, out, err) {
    const p = parseOrUsage(argv, { replace: "boolean", password: "string" }, "load", err, 1);
    if (p === null) return 2;
    if (p.flags.help) return out(HELP.load), 0;
    const [target, file] = p.positionals;
    if ((file === undefined || file === "-") && io.interactive) {
      err(`cyberdb load reads the dump from a file or a pipe: cyberdb load ${target} dump.jsonl\n\n${HELP.load}`);
      return 2;
    }
    const lines = await lineSource(file === undefined || file === "-" ? null : file, io);
    const options = { replace: p.flags.replace === true };
    let counts;
    if (isUrl(target)) {
      const client = await connectTo(target, password(p, io));
      try {
        counts = await load(sessionEndpoint(client), lines, options);
      } finally {
        await client.close();
      }
    } else {
      // Opened (and created) only once the dump checked out.
      let db: Database | null = null;
      const open = async () => databaseEndpoint(db = await Database.open({ dir: target, sync: "manual" }));
      try {
        counts = await load(open, lines, options);
      } finally {
        await (db as Database | null)?.close();
      }
    }
    err(`Loaded ${counts.collections} collections, ${counts.entries} entries into ${target}.`);
    return 0;
  },

  async stats(argv, io, out, err) {
    const p = parseOrUsage(argv, { password: "string", json: "boolean" }, "stats", err, 1);
    if (p === null) return 2;
    if (p.flags.help) return out(HELP.stats), 0;
    const raw = p.positionals[0];
    try {
      serverUrl(raw);
    } catch (e) {
      err(formatError(e));
      return 2;
    }
    const client: Client = await connectTo(raw, password(p, io));
    try {
      const [stats, health] = await Promise.all([readStats(client), readHealth(serverUrl(raw))]);
      if (p.flags.json) out(JSON.stringify(toJsonValue({ health, ...stats })));
      else for (const l of [`server       ${serverUrl(raw)}`, ...formatStats(stats, health)]) out(l);
      return 0;
    } finally {
      await client.close();
    }
  },
};

/** The directory's storage, checked to hold a database, under its LOCK unless `force`; `null` (printed why) when not. */
async function openDir(
  dir: string,
  command: string,
  force: boolean,
  err: (s: string) => void,
): Promise<{ storage: Storage; release(): Promise<void> } | null> {
  const storage = await defaultStorage({ dir });
  try {
    await expectDatabase(storage, dir);
    const lock = await lockForCommand(storage, dir, command, force);
    return { storage, release: async () => await lock?.release() };
  } catch (e) {
    if (!(e instanceof CyberDBError)) throw e;
    err(formatError(e));
    return null;
  }
}

/** Asks a yes/no question on the terminal. */
async function ask(io: Io, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stdout, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
    return answer.trim().toLowerCase() === "yes";
  } finally {
    rl.close();
  }
}

/**
 * Where dump lines go, in chunks: stdout, or a file written under a temp
 * name and renamed into place once whole and fsynced (`close`), so that a
 * dump that fails (`abort`) never leaves a partial file that looks like one.
 */
async function lineSink(
  path: string | null,
  io: Io,
): Promise<{ write(l: string): Promise<void>; close(): Promise<void>; abort(): Promise<void> }> {
  const temp = path === null ? null : `${path}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  const file = temp === null ? null : await openFile(temp, "wx");
  let buffered: string[] = [];
  let size = 0;
  const flush = async () => {
    const chunk = buffered.join("");
    buffered = [];
    size = 0;
    if (chunk === "") return;
    if (file !== null) await file.write(chunk);
    else if (!io.stdout.write(chunk)) await new Promise((r) => io.stdout.once("drain", r));
  };
  return {
    async write(l: string) {
      buffered.push(l, "\n");
      size += l.length + 1;
      if (size >= 1 << 20) await flush();
    },
    async close() {
      await flush();
      if (file !== null) {
        await file.sync();
        await file.close();
        await rename(temp!, path!);
      }
    },
    async abort() {
      if (file === null) return;
      await file.close().catch(() => {});
      await rm(temp!, { force: true });
    },
  };
}

/** The dump's lines, readable twice: a file is read again; stdin is held in memory. */
async function lineSource(path: string | null, io: Io): Promise<() => AsyncIterable<string>> {
  if (path !== null) {
    const handle = await openFile(path, "r"); // fails now, with the path, if it cannot be read
    await handle.close();
    return () => readLines(path);
  }
  const chunks: string[] = [];
  io.stdin.setEncoding("utf8");
  for await (const chunk of io.stdin) chunks.push(chunk as string);
  const lines = chunks.join("").split("\n");
  if (lines.at(-1) === "") lines.pop();
  return async function* () {
    yield* lines;
  };
}

async function* readLines(path: string): AsyncGenerator<string> {
  const handle = await openFile(path, "r");
  try {
    const rl = createInterface({ input: handle.createReadStream({ encoding: "utf8" }), crlfDelay: Infinity });
    for await (const l of rl) yield l;
  } finally {
    await handle.close().catch(() => {});
  }
}
