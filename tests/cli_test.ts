// The `cyberdb` command as people run it: every command a real process on
// the runtime under test (`deno run -A cli.ts`, `bun run cli.ts`, `node
// --import tsx cli.ts`), against real server processes started by `cyberdb
// serve` on 127.0.0.1 port 0, and real database directories whose log
// segments the tests damage byte by byte. What runs in this process is only
// what a process cannot show: Tab completion and history (they need a
// terminal) and the pure helpers. Independent commands run side by side to
// keep the file well under a minute per runtime.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { PassThrough } from "node:stream";
import { type Client, connect } from "../client.ts";
import { Database, defineSchema, type Value } from "../mod.ts";
import { addHistory, HISTORY_LINES, historyPath, loadHistory } from "../src/cli/history.ts";
import { complete, helpText, nearestOps, runRepl } from "../src/cli/repl.ts";
import { formatValue, parseArg, tokenize } from "../src/cli/values.ts";
import { abandon, canon, dump, Machine, populate } from "./fixtures/durability_common.ts";
import { command, root, runtime, type ServerProcess, startServer, tempDir, webSocket } from "./server_process.ts";

const PASSWORD = "cli-test-pw";

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** The environment of a command: ours without any CYBERDB_* setting, history off, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("CYBERDB_")) env[k] = v;
  }
  return { ...env, NO_COLOR: "1", CYBERDB_HISTORY: "", ...extra };
}

/** Runs `cyberdb <args>` to its end (killed by its pid after `timeout` ms: a hang fails the test). */
function cyberdb(
  args: string[],
  options: { input?: string; env?: Record<string, string>; timeout?: number; exe?: [string, string[]] } = {},
): Promise<Run> {
  const [exe, base] = options.exe ?? command(runtime(), ["cli.ts"]);
  const child = spawn(exe, [...base, ...args], { cwd: root, env: cleanEnv(options.env), stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b) => (stdout += b));
  child.stderr.on("data", (b) => (stderr += b));
  child.stdin.on("error", () => {}); // a command that never reads stdin may exit before we finish writing
  child.stdin.end(options.input ?? "");
  return new Promise((resolve, reject) => {
    const timeout = options.timeout ?? 40_000;
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid!, "SIGKILL");
      } catch { /* gone */ }
      reject(new Error(`cyberdb ${args.join(" ")} did not end within ${timeout} ms:\n${stdout}\n${stderr}`));
    }, timeout);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

/** What a run printed, for assertion messages. */
function shown(r: Run): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** A port nothing listens on (one that was just free). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function connectTo(url: string, password?: string): Promise<Client> {
  return await connect(url, { ...(password ? { password } : {}), WebSocket: await webSocket() });
}

// ---- a database directory with a log to damage -------------------------------

/** `d` gets `k1..k20` = 1..20: LSN 1 creates it, LSN i+1 sets `k<i>`. */
const KEYS = 20;

/** Writes, without a close snapshot (a crash after the last fsync), a database whose log holds every record. */
async function logOnlyDatabase(dir: string): Promise<{ segment: string; frames: { offset: number; end: number }[] }> {
  const machine = new Machine();
  const db = await Database.open({
    storage: machine.process(),
    dir: "db",
    sync: "always",
    snapshotInterval: 0,
    snapshotWalBytes: 0,
  });
  const d = db.createDict<Value>("d");
  for (let i = 1; i <= KEYS; i++) d.set(`k${i}`, i);
  await db.flush();
  machine.crash();
  await abandon(db);
  await mkdir(join(dir, "wal"), { recursive: true });
  await mkdir(join(dir, "snapshots"), { recursive: true });
  const segments = machine.disk.paths().filter((p) => p.startsWith("db/wal/")).sort();
  assert.equal(segments.length, 1, "one segment");
  const bytes = machine.disk.peek(segments[0], { durable: true })!;
  const name = segments[0].slice("db/".length);
  await writeFile(join(dir, name), bytes);
  // The frames: u32 length | u32 CRC-32C | payload.
  const frames: { offset: number; end: number }[] = [];
  for (let o = 0; o < bytes.length;) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + o, 4).getUint32(0, true);
    frames.push({ offset: o, end: o + 8 + len });
    o += 8 + len;
  }
  assert.equal(frames.length, KEYS + 1);
  return { segment: name, frames };
}

async function copyDir(from: string, to: string): Promise<void> {
  for (const sub of ["wal", "snapshots"]) {
    await mkdir(join(to, sub), { recursive: true });
    for (const f of await readdir(join(from, sub))) await copyFile(join(from, sub, f), join(to, sub, f));
  }
}

/** The keys of `d` in the database at `dir`, opened as a user would. */
async function keysAt(dir: string): Promise<string[]> {
  const db = await Database.open({ dir });
  try {
    return [...db.getDict("d").keys()] as string[];
  } finally {
    await db.close();
  }
}

const firstKeys = (n: number) => Array.from({ length: n }, (_, i) => `k${i + 1}`);

// ---- the tests ----------------------------------------------------------------

describe("cyberdb (real processes)", () => {
  let tmp: { dir: string; remove(): Promise<void> };
  let server: ServerProcess;
  const env = { CYBERDB_PASSWORD: PASSWORD };

  before(async () => {
    tmp = await tempDir("cyberdb-cli-");
    // The server under test is `cyberdb serve`, with server.ts's flags.
    server = await startServer(["--dir", join(tmp.dir, "served"), "--password", PASSWORD], {
      entry: ["cli.ts", "serve"],
    });
  });

  after(async () => {
    await server?.stop();
    await tmp?.remove();
  });

  it("help, serve --help and the package's bin; an unknown command is exit 2", async () => {
    const node = runtime() === "node" ? process.execPath : "node";
    const [bin, serveHelp, unknown, bare] = await Promise.all([
      // What `npx cyberdb` runs in a checkout: bin/cyberdb.mjs on Node, loading cli.ts through tsx.
      cyberdb(["help"], { exe: [node, [join(root, "bin/cyberdb.mjs")]] }),
      cyberdb(["serve", "--help"]),
      cyberdb(["frobnicate"]),
      cyberdb([]),
    ]);
    assert.equal(bin.code, 0, shown(bin));
    for (
      const c of ["serve", "cli <url>", "check <dir>", "repair <dir>", "dump <dir|url>", "load <dir|url>", "stats"]
    ) {
      assert.ok(bin.stdout.includes(c), `help lists ${c}:\n${bin.stdout}`);
    }
    assert.match(bin.stdout, /CYBERDB_PASSWORD/);
    assert.equal(serveHelp.code, 0, shown(serveHelp));
    assert.match(serveHelp.stdout, /^Usage: cyberdb serve \[flags\]/);
    for (const f of ["--port", "--dir", "--password", "--sync", "--memory", "--repair"]) {
      assert.ok(serveHelp.stdout.includes(f), `serve --help lists ${f}`);
    }
    assert.equal(unknown.code, 2, shown(unknown));
    assert.match(unknown.stderr, /^Unknown command "frobnicate"/);
    assert.equal(bare.code, 2, shown(bare));
    assert.match(bare.stdout, /^Usage: cyberdb <command>/);
  });

  it("cli <url> OP ARGS runs one op and prints its answer readably (or as tagged JSON)", async () => {
    const client = await connectTo(server.http, PASSWORD);
    try {
      await client.call("db.createDict", ["one"]);
    } finally {
      await client.close();
    }
    const ws = server.ws;
    const set = await cyberdb(["cli", server.http, "dict.set", "one", "k", '{"a": [1, 2n, -0], "d": {"$date": 0}}'], {
      env,
    });
    assert.equal(set.code, 0, shown(set));
    const [readable, json, withFlag, bare] = await Promise.all([
      cyberdb(["cli", ws, "dict.get", "one", "k"], { env }),
      cyberdb(["cli", "--json", server.http, "dict.get", "one", "k"], { env }),
      // The password flag (and --json) may also follow the op's arguments; never needed on the command line.
      cyberdb(["cli", server.http, "dict.size", "one", "--password", PASSWORD]),
      // host:port without a scheme is http://
      cyberdb(["cli", `127.0.0.1:${server.port}`, "dict.get", "one", "missing"], { env }),
    ]);
    assert.equal(readable.code, 0, shown(readable));
    assert.equal(readable.stdout, '{"a": [1, 2n, -0], "d": 1970-01-01T00:00:00.000Z}\n');
    assert.equal(json.code, 0, shown(json));
    assert.deepEqual(JSON.parse(json.stdout), {
      a: [1, { $bigint: "2" }, { $num: "-0" }],
      d: { $date: "1970-01-01T00:00:00.000Z" },
    });
    assert.equal(withFlag.code, 0, shown(withFlag));
    assert.equal(withFlag.stdout, "1\n");
    assert.equal(bare.code, 0, shown(bare));
    assert.equal(bare.stdout, "undefined\n");
  });

  it("bad input: typed errors with clear messages and exit codes (1: refused, 2: not run)", async () => {
    const port = await closedPort();
    const lost = join(tmp.dir, "lost.jsonl");
    const [unknownOp, arity, badJson, wrongPw, noPw, unreachable, badUrl, notADb, noDump] = await Promise.all([
      cyberdb(["cli", server.http, "dict.gett", "one", "k"], { env }),
      cyberdb(["cli", server.http, "dict.get", "one"], { env }),
      cyberdb(["cli", server.http, "dict.set", "one", "k", "{oops"], { env }),
      cyberdb(["cli", server.http, "db.collections"], { env: { CYBERDB_PASSWORD: "not-it" } }),
      cyberdb(["cli", server.ws, "db.collections"]),
      cyberdb(["cli", `http://127.0.0.1:${port}`, "db.lsn"]),
      cyberdb(["cli", "ftp://127.0.0.1", "db.lsn"]),
      cyberdb(["check", join(tmp.dir, "nothing-here")]),
      cyberdb(["dump", `127.0.0.1:${port}`, "-o", lost]),
    ]);
    assert.equal(unknownOp.code, 1, shown(unknownOp));
    assert.match(unknownOp.stderr, /^\(error\) PROTOCOL: Unknown operation "dict\.gett"/);
    assert.match(unknownOp.stderr, /Did you mean dict\.get/);
    assert.equal(arity.code, 1, shown(arity));
    assert.match(arity.stderr, /^\(error\) VALIDATION: Operation "dict\.get" takes 2 to 3 arguments/);
    assert.equal(badJson.code, 2, shown(badJson));
    assert.match(badJson.stderr, /^\(error\) VALIDATION: Argument "\{oops" starts like JSON but is not JSON/);
    assert.equal(wrongPw.code, 1, shown(wrongPw));
    assert.match(wrongPw.stderr, /^\(error\) AUTH: Wrong password/);
    assert.match(wrongPw.stderr, /--password or the CYBERDB_PASSWORD environment variable/);
    assert.equal(noPw.code, 1, shown(noPw));
    assert.match(noPw.stderr, /^\(error\) AUTH: /);
    assert.equal(unreachable.code, 1, shown(unreachable));
    assert.match(unreachable.stderr, new RegExp(`^\\(error\\) CONNECTION: .*127\\.0\\.0\\.1:${port}`));
    assert.equal(badUrl.code, 2, shown(badUrl));
    assert.match(badUrl.stderr, /^\(error\) VALIDATION: "ftp:\/\/127\.0\.0\.1" is not a server URL/);
    assert.equal(notADb.code, 2, shown(notADb));
    assert.match(notADb.stderr, /^\(error\) VALIDATION: No database at /);
    assert.equal(noDump.code, 1, shown(noDump));
    assert.match(noDump.stderr, /^\(error\) CONNECTION: /);
    assert.deepEqual(await readdir(tmp.dir).then((names) => names.filter((n) => n.startsWith("lost"))), [], "no file");
    for (const r of [unknownOp, arity, badJson, wrongPw, noPw, unreachable, badUrl]) {
      assert.equal(r.stdout, "", `errors go to stderr:\n${shown(r)}`);
    }
  });

  it("cli <url> reads ops from a pipe: answers in order, errors inline, exit 1 if any failed", async () => {
    const input = [
      "db.createList piped",
      'list.extend piped [1, -0, NaN, 2n, {"$bytes": "AQI="}, {"$date": "2024-02-29T12:00:00.000Z"}]',
      "list.toArray piped",
      "  ",
      "help list.slice",
      "list.get piped 99",
      "list.apend piped 1",
      "dict.set d 'unclosed",
      "list.length piped",
      "exit",
      "db.drop piped",
    ].join("\n") + "\n";
    const r = await cyberdb(["cli", server.ws], { env, input });
    assert.equal(r.code, 1, shown(r));
    assert.equal(r.stderr, "");
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "null");
    assert.equal(lines[2], "[1, -0, NaN, 2n, <bytes 0102>, 2024-02-29T12:00:00.000Z]");
    assert.equal(lines[3], "list.slice: reads a list; 1 to 3 arguments, the list's name first");
    assert.match(lines[4], /^\(error\) INDEX_OUT_OF_RANGE: /);
    assert.match(lines[5], /^\(error\) PROTOCOL: Unknown operation "list\.apend"/);
    assert.match(lines[6], /^Did you mean list\.append/);
    assert.match(lines[7], /^\(error\) VALIDATION: Unclosed single quote/);
    assert.equal(lines[8], "6", "the line after the errors ran");
    assert.deepEqual(lines.slice(9), [""], "nothing after exit ran");
    const client = await connectTo(server.http, PASSWORD);
    try {
      assert.equal(await client.call("list.length", ["piped"]), 6, "db.drop after exit did not run");
    } finally {
      await client.close();
    }
  });

  it("stats <url>: health, LSN, and each collection with its kind and size", async () => {
    const client = await connectTo(server.http, PASSWORD);
    try {
      await client.call("db.createList", ["statsList", [1, 2, 3]]);
    } finally {
      await client.close();
    }
    const [text, json] = await Promise.all([
      cyberdb(["stats", server.http], { env }),
      cyberdb(["stats", "--json", `127.0.0.1:${server.port}`], { env }),
    ]);
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, /^server +http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(text.stdout, /^health +ok$/m);
    assert.match(text.stdout, /^lsn +\d+$/m);
    assert.match(text.stdout, /^statsList +list +3$/m);
    assert.equal(json.code, 0, shown(json));
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.health, "ok");
    assert.deepEqual(parsed.collections.find((c: { name: string }) => c.name === "statsList"), {
      name: "statsList",
      kind: "list",
      size: 3,
    });
  });

  it("dump → load → dump is exact for every value kind, from a directory and through a server", async () => {
    const src = join(tmp.dir, "dump-src");
    const target = join(tmp.dir, "dump-target");
    const file = join(tmp.dir, "dump.jsonl");
    const expireAt = Date.UTC(2100, 0, 1, 12, 0, 0, 345);
    {
      const db = await Database.open({ dir: src });
      populate(db); // every value type, collection kind and write op (the durability round trip's script)
      const extra = db.createDict<Value>("extras");
      db.execute("dict.set", ["extras", "expiring", "until 2100", { expireAt }]);
      extra.set("tagLike", { $bigint: "not a bigint", nested: [{ $date: "no" }] });
      extra.set("tagLike2", { $bytes: "AQI=" });
      const t = db.createTable(
        defineSchema(
          {
            name: "indexed",
            columns: [
              { name: "id", type: "Int32", primaryKey: true },
              { name: "email", type: "Utf8" },
              { name: "age", type: "Int32" },
            ],
          } as const,
        ),
      );
      t.insertMany([{ id: 1, email: "a@x", age: 30 }, { id: 2, email: "b@x", age: 30 }]);
      t.createIndex("email", { unique: true });
      t.createIndex("age");
      await db.close();
    }
    const dumped = await cyberdb(["dump", src, "-o", file]);
    assert.equal(dumped.code, 0, shown(dumped));
    const text = await readFile(file, "utf8");
    assert.match(text, /^\{"cyberdb":"dump","version":1\}\n/);
    assert.match(text, /\{"end":true,"collections":\d+,"entries":\d+\}\n$/);
    assert.ok(text.includes(`"expireAt":${expireAt}`), "the expiry is dumped exactly");
    assert.ok(text.includes('{"$obj":{"$bytes":"AQI="}}'), "a stored tag-like object is escaped");

    const memory = await startServer(["--memory"]);
    try {
      const [intoDir, intoServer] = await Promise.all([
        cyberdb(["load", target, file]),
        cyberdb(["load", `127.0.0.1:${memory.port}`], { input: text }), // host:port is a server
      ]);
      assert.equal(intoDir.code, 0, shown(intoDir));
      assert.match(intoDir.stderr, /^Loaded \d+ collections, \d+ entries into /);
      assert.equal(intoServer.code, 0, shown(intoServer));
      const [fromDir, fromServer, again, cut] = await Promise.all([
        cyberdb(["dump", target]),
        cyberdb(["dump", memory.ws]),
        // The target has those names now: refused, nothing loaded.
        cyberdb(["load", memory.http, file]),
        // A dump cut short (no end line) is refused before anything is written.
        cyberdb(["load", join(tmp.dir, "never-made")], { input: text.split("\n").slice(0, -3).join("\n") + "\n" }),
      ]);
      assert.equal(fromDir.code, 0, shown(fromDir));
      assert.equal(fromDir.stdout, text, "dump of the loaded directory: the same bytes");
      assert.equal(fromServer.code, 0, shown(fromServer));
      // Through a server the expiry is measured as a TTL: exact to the round trip.
      const expiry = /"expireAt":(\d+)/;
      const a = text.split("\n");
      const b = fromServer.stdout.split("\n");
      assert.equal(b.length, a.length);
      for (let i = 0; i < a.length; i++) {
        if (expiry.test(a[i])) {
          assert.ok(Math.abs(Number(expiry.exec(b[i])![1]) - expireAt) < 60_000, b[i]);
          assert.equal(b[i].replace(expiry, ""), a[i].replace(expiry, ""));
        } else assert.equal(b[i], a[i], `line ${i + 1} of the dump through a server`);
      }
      assert.equal(again.code, 1, shown(again));
      assert.match(
        again.stderr,
        /^\(error\) ALREADY_EXISTS: The target already has collections named .*nothing was loaded/,
      );
      assert.equal(cut.code, 1, shown(cut));
      assert.match(cut.stderr, /^\(error\) VALIDATION: The dump has no end line .*cut short; nothing was loaded/);
      await assert.rejects(stat(join(tmp.dir, "never-made", "wal")), "nothing was created for a refused dump");
    } finally {
      await memory.stop();
    }

    // The loaded database, opened as a user would, holds the same values, expiry and indexes.
    const fixed = Date.UTC(2030, 0, 1);
    const [x, y] = [
      await Database.open({ dir: src, clock: () => fixed }),
      await Database.open({ dir: target, clock: () => fixed }),
    ];
    try {
      assert.equal(canon(dump(y)), canon(dump(x)));
      assert.equal(y.getDict("extras").ttl("expiring"), expireAt - fixed);
      assert.deepEqual(y.getTable("indexed").indexes(), x.getTable("indexed").indexes());
      assert.deepEqual(y.getTable("indexed").indexes(), [{ column: "email", unique: true }, {
        column: "age",
        unique: false,
      }]);
    } finally {
      await x.close();
      await y.close();
    }
  });

  it("check: a healthy log is OK, a torn tail is not damage, a flipped byte is DAMAGED with file and offset", async () => {
    const healthy = join(tmp.dir, "healthy");
    const torn = join(tmp.dir, "torn");
    const damaged = join(tmp.dir, "damaged");
    const { segment, frames } = await logOnlyDatabase(healthy);
    await copyDir(healthy, torn);
    await copyDir(healthy, damaged);
    await truncate(join(torn, segment), frames.at(-1)!.end - 3);
    // Record 9 (k8) gets one bit flipped inside its payload.
    const bad = frames[8];
    const bytes = await readFile(join(damaged, segment));
    bytes[bad.offset + 12] ^= 0x10;
    await writeFile(join(damaged, segment), bytes);

    const [ok, tornRun, dmg] = await Promise.all([
      cyberdb(["check", healthy]),
      cyberdb(["check", torn]),
      cyberdb(["check", damaged]),
    ]);
    assert.equal(ok.code, 0, shown(ok));
    assert.match(ok.stdout, new RegExp(`^ok +${segment}: ${KEYS + 1} records, LSN 1\\.\\.${KEYS + 1}, `, "m"));
    assert.match(ok.stdout, new RegExp(`^Open: succeeds at LSN ${KEYS + 1}, 1 collections`, "m"));
    assert.match(ok.stdout, /^Result: OK$/m);

    assert.equal(tornRun.code, 0, shown(tornRun));
    assert.match(tornRun.stdout, new RegExp(`^torn +${segment} at byte ${frames.at(-1)!.offset}: `, "m"));
    assert.match(tornRun.stdout, /it cuts the torn tail first/);
    assert.match(tornRun.stdout, /^Result: OK$/m);

    assert.equal(dmg.code, 1, shown(dmg));
    assert.match(dmg.stdout, new RegExp(`^DAMAGED +${segment} at byte ${bad.offset}: checksum mismatch$`, "m"));
    assert.match(dmg.stdout, /^Open: fails/m);
    assert.match(dmg.stdout, /^Result: DAMAGED \(1 problem\); see what repair would cut: cyberdb repair /m);
    assert.deepEqual(await readFile(join(damaged, segment)), bytes, "check changes nothing");
  });

  it("repair: says what goes, cuts only with --yes, keeps the cut bytes; the database then opens with every record before the damage", async () => {
    const dir = join(tmp.dir, "to-repair");
    const { segment, frames } = await logOnlyDatabase(dir);
    const bad = frames[12]; // record 13 sets k12: k1..k11 survive
    const bytes = await readFile(join(dir, segment));
    bytes[bad.end - 1] ^= 0xff;
    await writeFile(join(dir, segment), bytes);

    const asked = await cyberdb(["repair", dir]); // stdin is no terminal: nobody to ask
    assert.equal(asked.code, 1, shown(asked));
    assert.match(
      asked.stdout,
      new RegExp(
        `^Cut ${segment} at byte ${bad.offset} \\(checksum mismatch\\): remove its last ${
          bytes.length - bad.offset
        } bytes`,
        "m",
      ),
    );
    assert.match(asked.stdout, /^Keeps every record up to LSN 12; the database opens at LSN 12\.$/m);
    assert.match(
      asked.stdout,
      /^Loses the damaged record\(s\) and 8 record\(s\) after them that still check out \(LSN 14\.\.21\)\.$/m,
    );
    assert.match(asked.stdout, /^Nothing was changed\. To cut, run again with --yes/m);
    assert.deepEqual(await readFile(join(dir, segment)), bytes, "no --yes: nothing cut");

    const cut = await cyberdb(["repair", dir, "--yes", "--backup", join(tmp.dir, "cut-bytes")]);
    assert.equal(cut.code, 0, shown(cut));
    assert.match(cut.stdout, new RegExp(`^Cut ${segment} at byte ${bad.offset}\\.$`, "m"));
    assert.match(cut.stdout, /^The database now opens at LSN 12 with 1 collections\.$/m);
    assert.equal((await stat(join(dir, segment))).size, bad.offset);
    const kept = await readFile(join(tmp.dir, "cut-bytes", `${segment.slice(4)}.from-byte-${bad.offset}`));
    assert.deepEqual(new Uint8Array(kept), new Uint8Array(bytes.subarray(bad.offset)), "the cut bytes are kept");
    assert.match(await readFile(join(tmp.dir, "cut-bytes", "README.txt"), "utf8"), /^Cut wal\//);
    assert.deepEqual(await keysAt(dir), firstKeys(11));
  });

  it("serve refuses a damaged log naming --repair; serve --repair cuts it (saying so) and serves what came before", async () => {
    const dir = join(tmp.dir, "serve-repair");
    const { segment, frames } = await logOnlyDatabase(dir);
    const bad = frames[5]; // record 6 sets k5: k1..k4 survive
    const bytes = await readFile(join(dir, segment));
    bytes[bad.offset + 9] ^= 0x01;
    await writeFile(join(dir, segment), bytes);

    const refused = await cyberdb(["serve", "--port", "0", "--dir", dir]);
    assert.equal(refused.code, 1, shown(refused));
    assert.match(refused.stderr, new RegExp(`is damaged at byte ${bad.offset}`));
    assert.match(refused.stderr, /start the server with --repair/);
    assert.ok(refused.stderr.includes(`cyberdb check ${dir}`), refused.stderr);
    assert.deepEqual(await readFile(join(dir, segment)), bytes, "refusing changes nothing");

    const repaired = await startServer(["--dir", dir, "--repair"], { entry: ["cli.ts", "serve"] });
    try {
      assert.match(repaired.output(), new RegExp(`Repair: truncated "${segment}" at byte ${bad.offset}`));
      const client = await connectTo(repaired.http);
      try {
        assert.deepEqual(await client.call("dict.keys", ["d"]), firstKeys(4));
      } finally {
        await client.close();
      }
      // The directory is the server's now: check and repair refuse to read beside it.
      const locked = await cyberdb(["check", dir]);
      assert.equal(locked.code, 2, shown(locked));
      assert.match(locked.stderr, /^\(error\) LOCKED: .*pass --force/);
    } finally {
      assert.equal(await repaired.stop(), 0);
    }
  });
});

describe("cyberdb cli: completion, history and values (in process)", () => {
  it("Tab completes op names, then the collections of the op's kind", () => {
    const cols = [
      { name: "users", kind: "table" as const },
      { name: "urls", kind: "dict" as const },
      { name: "queue", kind: "list" as const },
    ];
    assert.deepEqual(complete("dict.ge", cols), [["dict.get", "dict.getEntry"], "dict.ge"]);
    assert.deepEqual(complete("  he", cols), [["help"], "he"]);
    assert.ok(complete("", cols)[0].includes("table.query") && complete("", cols)[0].includes("exit"));
    assert.deepEqual(complete("table.get u", cols), [["users"], "u"]);
    assert.deepEqual(complete("dict.set u", cols), [["urls"], "u"]);
    assert.deepEqual(complete("list.append ", cols), [["queue"], ""]);
    assert.deepEqual(complete("db.drop u", cols), [["urls", "users"], "u"]);
    assert.deepEqual(complete("db.getTable ", cols), [["users"], ""]);
    assert.deepEqual(complete("help dict.sc", cols), [["dict.scan"], "dict.sc"]);
    assert.deepEqual(complete("dict.get urls k", cols), [[], "k"]);
    assert.deepEqual(complete("nosuch.op u", cols), [[], "u"]);
    assert.deepEqual(complete("db.lsn ", cols), [[], ""]);
  });

  it("on a terminal: Tab completes, answers print, and history is kept and read back", async () => {
    const server = await startServer(["--memory"]);
    const tmp = await tempDir("cyberdb-history-");
    const historyFile = join(tmp.dir, "state", "history");
    const client = await connectTo(server.http);
    try {
      await client.call("db.createDict", ["sessions"]);
      await client.call("dict.set", ["sessions", "s1", 7n]);
      // One REPL on a fake terminal: keys typed one chunk at a time, as a person types them.
      const session = async (keys: string[], expect: (RegExp | null)[]) => {
        const input = new PassThrough();
        const output = new PassThrough();
        let text = "";
        output.on("data", (b) => (text += b));
        const done = runRepl(client, { input, output, interactive: true, historyFile }, { label: "test" });
        const waitFor = async (re: RegExp) => {
          for (let i = 0; i < 500 && !re.test(text); i++) await new Promise((r) => setTimeout(r, 10));
          assert.match(text, re);
        };
        await waitFor(/test> /);
        for (let i = 0; i < keys.length; i++) {
          input.write(keys[i]);
          const want = expect[i];
          if (want) await waitFor(want);
        }
        assert.equal(await done, 0);
        return text;
      };
      // dict.ge<Tab> → dict.get (the common prefix of dict.get and dict.getEntry); sess<Tab> → sessions.
      await session(
        ["dict.ge", "\t", " sess", "\t", " s1", "\r", "exit\r"],
        [/dict\.ge/, /dict\.get/, /dict\.get sess/, /sessions/, /sessions s1/, /^7n\r?$/m, null],
      );
      assert.deepEqual(await loadHistory(historyFile), ["dict.get sessions s1", "exit"]);
      // A new REPL reads the file: up twice is the line before exit.
      const again = await session(["\x1b[A", "\x1b[A", "\r", "exit\r"], [
        null,
        /dict\.get sessions s1/,
        /^7n\r?$/m,
        null,
      ]);
      assert.equal(again.match(/^7n\r?$/gm)?.length, 1);
    } finally {
      await client.close();
      await server.stop();
      await tmp.remove();
    }
  });

  it("history: where it lives, off when CYBERDB_HISTORY is empty, trimmed to its last lines", async () => {
    assert.equal(historyPath({ CYBERDB_HISTORY: "/x/h" }), "/x/h");
    assert.equal(historyPath({ CYBERDB_HISTORY: "" }), null);
    assert.equal(historyPath({ XDG_STATE_HOME: "/s", HOME: "/h" }), "/s/cyberdb/history");
    assert.equal(historyPath({ HOME: "/h" }), "/h/.local/state/cyberdb/history");
    const tmp = await tempDir("cyberdb-history-");
    try {
      const path = join(tmp.dir, "h");
      const kept: string[] = [];
      for (let i = 0; i < 2 * HISTORY_LINES + 5; i++) await addHistory(path, `dict.get d k${i}`, kept);
      const lines = await loadHistory(path);
      assert.equal(lines.length, HISTORY_LINES);
      assert.equal(lines.at(-1), `dict.get d k${2 * HISTORY_LINES + 4}`);
      assert.ok((await readFile(path, "utf8")).split("\n").length <= 2 * HISTORY_LINES + 1, "the file is trimmed");
      if (process.platform !== "win32") assert.equal((await stat(path)).mode & 0o777, 0o600, "owner only");
    } finally {
      await tmp.remove();
    }
  });

  it("arguments read as typed, answers print readably and losslessly", () => {
    assert.deepEqual(tokenize(`table.query t {"where": {"a b": 1}} 'it''s' x`).map((t) => t.text), [
      "table.query",
      "t",
      '{"where": {"a b": 1}}',
      "it's",
      "x",
    ]);
    assert.equal(parseArg("12n"), 12n);
    assert.equal(parseArg("-0"), -0);
    assert.equal(parseArg("NaN"), "NaN", "bare words are strings");
    assert.equal(parseArg('"12"'), "12");
    assert.equal(parseArg("12", true), "12");
    assert.deepEqual(parseArg('{"a": [1, -2n, NaN, -Infinity], "s": "3n NaN"}'), {
      a: [1, -2n, NaN, -Infinity],
      s: "3n NaN",
    });
    assert.deepEqual(parseArg('{"$num": "NaN"}'), NaN);
    assert.throws(() => parseArg("[1,"), /starts like JSON but is not JSON/);
    const value = { n: 1n, z: -0, nan: NaN, b: new Uint8Array([0, 255]), d: new Date(0), a: ["x", null] };
    assert.equal(
      formatValue(value),
      '{"n": 1n, "z": -0, "nan": NaN, "b": <bytes 00ff>, "d": 1970-01-01T00:00:00.000Z, "a": ["x", null]}',
    );
    assert.deepEqual(parseArg(formatValue(value, { json: true })), value, "--json output reads back as it was");
    assert.match(
      formatValue(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, i]))),
      /^\{\n {2}"key0": 0,\n/,
    );
    assert.match(helpText(), /^Type an op/);
    assert.deepEqual(nearestOps("dict.gett").slice(0, 1), ["dict.get"]);
  });
});
