/**
 * Live-data benchmark (issue 11): what the change feed, counters and
 * versions cost, each as a ratio against an anchor measured in the same
 * run, in interleaved rounds.
 *
 * - **fanout**: 1,000 WebSocket watchers (`client.watch`) on one server
 *   (ours on Deno and on Bun, `--memory`), writers offering ~10k
 *   `dict.set`/s (the issue's rate; then 1k/s and 100/s, where a 2-core
 *   machine can deliver everything): delivery latency (the writer's timestamp in the value →
 *   the watcher's clock at receipt), messages delivered per second, and
 *   the writers' throughput against the same server with no watchers;
 *   side by side with redis-server: `PUBLISH` to 1,000 `SUBSCRIBE`rs, and
 *   `SET` with keyspace notifications to 1,000 subscribers of
 *   `__keyevent@0__:set`. Targets: writers keep ≥ 0.7x, p99 < 50 ms,
 *   delivered messages/s ≥ 0.5x Redis `PUBLISH`.
 * - **increment**: 50 clients `increment` one counter over the WebSocket
 *   vs Redis `INCR` (ioredis), 1 call in flight each. Target ≥ 0.7x.
 * - **versions**: dict set/get and table insert/get of this engine vs the
 *   engine before versions existed (commit 74cfcc8, unpacked outside the
 *   repository), alternating rounds in one process; memory per entry;
 *   and dict.set while a watch is open (the feed's ring records every
 *   commit then). Target ≤ 10% slower.
 * - **expiry**: a million keys of a durable database (`sync: "interval"`)
 *   expire at the same moment (its `clock` jumps past them) while a
 *   writer on a `setTimeout(0)` chain sets 16 keys of another dict per
 *   turn: the longest gap between its turns until the background expirer
 *   has removed (and logged) every key, against the longest gap in the
 *   300 ms before. Target: below the snapshot target of `log_bench`, 50 ms.
 *
 * The watchers live in child processes (`bench/live_watchers.ts`, 250
 * sockets each by default, `LIVE_WATCHER_PROCS` to change) of the bench's
 * own runtime; the writers in the bench process. Every process shares the
 * machine's cores, so the bench also reports the CPU time each side used.
 *
 * Redis columns need Debian's redis-server (`apt-get install -y
 * redis-server`); without it they are skipped, and the bench says so.
 *
 * ```sh
 * node scripts/bench.mjs --file bench/live_bench.ts                 # Deno and Bun
 * node scripts/bench.mjs deno --file bench/live_bench.ts --only versions
 * BENCH_SCALE=0.3 deno run -A --v8-flags=--expose-gc bench/live_bench.ts   # shorter rounds
 * # the fan-out of older code alongside (servers and watchers run from there, same anchors, same rounds):
 * git archive 7c22ad4 | tar -x -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/
 * LIVE_BEFORE=/tmp/before LIVE_BEFORE_LABEL=7c22ad4 node scripts/bench.mjs deno --file bench/live_bench.ts --only fanout
 * ```
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { setImmediate } from "node:timers";
import { connect } from "../client.ts";
import { Database } from "../mod.ts";
import {
  type Case,
  compare,
  currentSection,
  emitSectionResult,
  forceGc,
  formatBytes,
  formatRate,
  formatRatio,
  freePort,
  measureMemory,
  median,
  pairedRatio,
  printTable,
  progress,
  type Result,
  runSections,
  runtimeInfo,
  scaled,
  shuffled,
  verdict,
  writerStall,
} from "./harness.ts";

const root = new URL("..", import.meta.url).pathname;
const SCALE = Number(process.env.BENCH_SCALE ?? 1) || 1;
const PASSWORD = "bench";
const REDIS_MISSING =
  "redis-server is not installed: `apt-get install -y redis-server` (Debian) to get the Redis columns";

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

interface Proc {
  pid: number;
  stop(): Promise<void>;
}

/** Starts a process and resolves once its output matches `ready`. */
function startProcess(
  cmd: string,
  args: string[],
  ready: RegExp,
  env: Record<string, string> = {},
  cwd = root,
): Promise<Proc> {
  const child = spawn(cmd, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let out = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out.slice(-2000)}`)), 30_000);
    const check = (b: unknown) => {
      if (out.length < 100_000) out += b;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({
          pid: child.pid!,
          stop: async () => {
            try {
              process.kill(child.pid!, "SIGTERM");
            } catch { /* gone */ }
            await exited;
          },
        });
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.once("error", (e) => reject(e));
    exited.then(() => reject(new Error(`${cmd} exited:\n${out.slice(-2000)}`)));
  });
}

/** Whether `redis-server` can be run here. */
function haveRedis(): boolean {
  const r = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  return r.status === 0;
}

async function startRedis(): Promise<{ port: number; proc: Proc }> {
  const port = await freePort();
  const proc = await startProcess("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    // Keyspace notifications for SET ("E": keyevent channels, "$": string commands).
    "--notify-keyspace-events",
    "E$",
    // Subscribers that fall behind are not disconnected during a round (the default soft limit is 8 MB for 60 s).
    "--client-output-buffer-limit",
    "pubsub 0 0 0",
  ], /Ready to accept connections/);
  return { port, proc };
}

/** Our server on `runtime`, from the checkout at `dir` (this one, or LIVE_BEFORE's). */
async function startOurs(runtime: "deno" | "bun", dir = root): Promise<{ port: number; proc: Proc }> {
  const port = await freePort();
  const [cmd, pre] = runtime === "deno"
    ? [`${root}node_modules/.bin/deno`, ["run", "-A", "--no-lock", "server.ts"]]
    : [`${root}node_modules/.bin/bun`, ["run", "server.ts"]];
  // LIVE_PROFILE=<dir>: Bun servers (and, under Bun, the watchers) write a CPU profile (and its markdown summary) there.
  const prof = process.env.LIVE_PROFILE && runtime === "bun"
    ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.LIVE_PROFILE}`]
    : [];
  const proc = await startProcess(
    cmd,
    [...prof, ...pre, "--port", String(port), "--memory", "--password", PASSWORD],
    /cyberdb listening/,
    {},
    dir,
  );
  return { port, proc };
}

/** CPU time (user + system) a process has used, in ms, from /proc (Linux); NaN elsewhere. */
function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command; clock ticks of 10 ms.
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

function selfRuntimeCommand(file: string): [string, string[]] {
  const rt = runtimeInfo().name;
  if (rt === "deno") return [process.execPath, ["run", "-A", "--no-lock", file]];
  // LIVE_PROFILE=<dir>: Bun children (the watchers) write CPU profiles there too.
  const prof = process.env.LIVE_PROFILE
    ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.LIVE_PROFILE}`]
    : [];
  if (rt === "bun") return [process.execPath, [...prof, "run", file]];
  return [process.execPath, [...process.execArgv, file]];
}

// ---------------------------------------------------------------------------
// Latency histograms (the same buckets as live_watchers.ts)
// ---------------------------------------------------------------------------

const HIST_BASE_MS = 0.01;
const HIST_GROWTH = 1.02;

/** The latency at quantile `q` of a merged histogram (bucket → count), as the bucket's upper bound. */
function histQuantile(hist: Map<number, number>, q: number): number {
  let total = 0;
  for (const n of hist.values()) total += n;
  if (total === 0) return NaN;
  const want = q * total;
  let seen = 0;
  for (const b of [...hist.keys()].sort((x, y) => x - y)) {
    seen += hist.get(b)!;
    if (seen >= want) return HIST_BASE_MS * HIST_GROWTH ** (b + 1);
  }
  return NaN;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}

// ---------------------------------------------------------------------------
// Watcher children
// ---------------------------------------------------------------------------

interface WatcherReport {
  count: number;
  hist: [number, number][];
  errors: string[];
  cpuMs: number;
}

/** One child process holding some watchers, driven over its stdin/stdout. */
class WatcherProc {
  #child: ReturnType<typeof spawn>;
  #waiting: ((line: string) => void)[] = [];
  #lines: string[] = [];
  #exited: Promise<void>;
  #log = "";

  /** Watchers of `env`, run from the checkout at `dir` (its client, for LIVE_BEFORE). */
  constructor(env: Record<string, string>, dir = root) {
    const [cmd, args] = selfRuntimeCommand(`${dir}bench/live_watchers.ts`);
    this.#child = spawn(cmd, args, {
      cwd: dir,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    this.#exited = new Promise((r) => this.#child.once("exit", () => r()));
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      const w = this.#waiting.shift();
      if (w) w(line);
      else this.#lines.push(line);
    });
    this.#child.stderr!.on("data", (b) => {
      if (this.#log.length < 20_000) this.#log += b;
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  #next(timeoutMs = 120_000): Promise<string> {
    // A line that came before anyone asked (a child ready before its turn) is kept for the next ask.
    if (this.#lines.length > 0) return Promise.resolve(this.#lines.shift()!);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`A watcher process did not answer:\n${this.#log.slice(-2000)}`)),
        timeoutMs,
      );
      this.#waiting.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
      this.#exited.then(() => reject(new Error(`A watcher process exited:\n${this.#log.slice(-2000)}`)));
    });
  }

  async ready(): Promise<void> {
    const line = await this.#next();
    if (line !== "ready") throw new Error(`A watcher process said ${JSON.stringify(line)}:\n${this.#log}`);
  }

  async reset(): Promise<void> {
    const answer = this.#next();
    this.#child.stdin!.write("reset\n");
    await answer;
  }

  async report(): Promise<WatcherReport> {
    const answer = this.#next();
    this.#child.stdin!.write("report\n");
    return JSON.parse(await answer);
  }

  async quit(): Promise<void> {
    this.#child.stdin!.write("quit\n");
    const t = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#exited;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------------------
// Section "fanout"
// ---------------------------------------------------------------------------

const WATCHERS = Number(process.env.LIVE_WATCHERS ?? 1000);
const WATCHER_PROCS = Number(process.env.LIVE_WATCHER_PROCS ?? 4);
const WRITERS = 50;
/** Offered write rates (writes/s in total); the first is the issue's. */
const RATES = (process.env.LIVE_RATES ?? "10000,1000,100").split(",").map(Number);
const FAN_ROUND_MS = Math.max(500, Math.round(2000 * SCALE));
const FAN_ROUNDS = 3;
/** After the writers stop: wait at most this long for the messages in flight. */
const DRAIN_MS = 10_000;

/** One writer connection: `write()` sends one timestamped write and resolves when it is acknowledged. */
interface Writer {
  write(i: number): Promise<unknown>;
  close(): Promise<unknown>;
}

/** A contender of the fan-out: a server, its writers, and (maybe) its watchers. */
interface FanTarget {
  name: string;
  /** The anchor group: the same server kind with no watchers. */
  group: string;
  watched: boolean;
  serverPid: number;
  writers: Writer[];
  watchers: WatcherProc[];
}

interface FanSample {
  writes: number;
  windowMs: number;
  writeLat: number[];
  deliveredInWindow: number;
  delivered: number;
  drainMs: number;
  hist: Map<number, number>;
  errors: string[];
  serverCpuMs: number;
  watcherCpuMs: number;
  writerCpuMs: number;
}

function clock(): number {
  return performance.timeOrigin + performance.now();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ourWriters(port: number): Promise<Writer[]> {
  return await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    const c = await connect(`ws://127.0.0.1:${port}`, { password: PASSWORD });
    const d = await c.getDict("live");
    return { write: (i: number) => d.set(`k${w}_${i % 16}`, clock()), close: () => c.close() };
  }));
}

async function redisWriters(port: number, mode: "publish" | "keyevent"): Promise<Writer[]> {
  const { Redis } = await import("ioredis");
  return await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
    await r.connect();
    return {
      // keyevent: the key carries the timestamp (the notification's message is the key's name).
      write: mode === "publish"
        ? () => r.publish("live", String(clock()))
        : (i: number) => r.set(`live:${w}:${i}:${clock()}`, "v"),
      close: () => r.quit(),
    };
  }));
}

async function openWatchers(env: Record<string, string>, dir = root): Promise<WatcherProc[]> {
  const procs: WatcherProc[] = [];
  for (let p = 0; p < WATCHER_PROCS; p++) {
    const n = Math.floor(WATCHERS / WATCHER_PROCS) + (p < WATCHERS % WATCHER_PROCS ? 1 : 0);
    procs.push(new WatcherProc({ ...env, LW_COUNT: String(n) }, dir));
  }
  // One at a time: 1,000 handshakes at once would time some out on a loaded machine.
  for (const p of procs) await p.ready();
  return procs;
}

/** One round: writers paced at `rate` writes/s in total for FAN_ROUND_MS, then the drain. */
async function fanRound(t: FanTarget, rate: number): Promise<FanSample> {
  await Promise.all(t.watchers.map((w) => w.reset()));
  const perWriter = rate / t.writers.length;
  const interval = 1000 / perWriter;
  const writeLat: number[] = [];
  let writes = 0;
  const cpu0 = procCpuMs(t.serverPid);
  const wcpu0 = t.watchers.reduce((s, w) => s + procCpuMs(w.pid), 0);
  const me0 = process.cpuUsage();
  const start = performance.now();
  const end = start + FAN_ROUND_MS;
  await Promise.all(t.writers.map(async (w, wi) => {
    // Staggered starts, then an absolute schedule: a late write is sent at once (catching up).
    let due = start + (wi / t.writers.length) * interval;
    for (let i = 0;; i++) {
      let now = performance.now();
      if (now >= end) return;
      if (due > now) {
        await sleep(due - now);
        now = performance.now();
        if (now >= end) return;
      }
      const t0 = performance.now();
      await w.write(i);
      writeLat.push(performance.now() - t0);
      writes++;
      due += interval;
    }
  }));
  const windowMs = performance.now() - start;
  const serverCpuMs = procCpuMs(t.serverPid) - cpu0;
  const watcherCpuMs = t.watchers.reduce((s, w) => s + procCpuMs(w.pid), 0) - wcpu0;
  const me1 = process.cpuUsage(me0);
  const writerCpuMs = (me1.user + me1.system) / 1000;
  let deliveredInWindow = 0;
  let delivered = 0;
  let drainMs = 0;
  const hist = new Map<number, number>();
  const errors: string[] = [];
  if (t.watched) {
    const expected = writes * WATCHERS;
    const count = async () => (await Promise.all(t.watchers.map((w) => w.report()))).reduce((s, r) => s + r.count, 0);
    deliveredInWindow = await count();
    // Wait for what is still in flight (it counts for latency, not for the window's rate).
    const drainStart = performance.now();
    let last = deliveredInWindow;
    let lastMoved = drainStart;
    while (last < expected && performance.now() - drainStart < DRAIN_MS && performance.now() - lastMoved < 1000) {
      await sleep(50);
      const n = await count();
      if (n > last) lastMoved = performance.now();
      last = n;
    }
    drainMs = performance.now() - drainStart;
    for (const r of await Promise.all(t.watchers.map((w) => w.report()))) {
      delivered += r.count;
      for (const [b, n] of r.hist) hist.set(b, (hist.get(b) ?? 0) + n);
      errors.push(...r.errors);
    }
  }
  return {
    writes,
    windowMs,
    writeLat,
    deliveredInWindow,
    delivered,
    drainMs,
    hist,
    errors,
    serverCpuMs,
    watcherCpuMs,
    writerCpuMs,
  };
}

/** LIVE_ONLY=deno,bun,redis,keyevent: run some of the fan-out's servers (profiling, debugging). */
function wanted(name: string): boolean {
  const only = (process.env.LIVE_ONLY ?? "").split(",").filter(Boolean);
  return only.length === 0 || only.includes(name);
}

async function sectionFanout(): Promise<void> {
  const info = runtimeInfo();
  const redisOk = haveRedis();
  console.log(
    `\n### fanout — client runtime ${info.label}; ${WATCHERS} watchers in ${WATCHER_PROCS} processes, ${WRITERS} writers, ` +
      `${FAN_ROUND_MS} ms rounds × ${FAN_ROUNDS}\n`,
  );
  if (!redisOk) console.log(`Redis columns skipped: ${REDIS_MISSING}.\n`);
  const stops: (() => Promise<void>)[] = [];
  const targets: FanTarget[] = [];
  try {
    for (const rt of ["deno", "bun"] as const) {
      if (!wanted(rt)) continue;
      // LIVE_BEFORE=<dir>: also the code unpacked there (server and watchers), watched, against this anchor.
      const before = process.env.LIVE_BEFORE ? process.env.LIVE_BEFORE.replace(/\/?$/, "/") : null;
      const runs: [boolean, string][] = [
        [false, root],
        [true, root],
        ...(before ? [[true, before] as [boolean, string]] : []),
      ];
      for (const [watched, dir] of runs) {
        const s = await startOurs(rt, dir);
        stops.push(s.proc.stop);
        // The collection exists before anyone watches it.
        const c = await connect(`ws://127.0.0.1:${s.port}`, { password: PASSWORD });
        await c.createDict("live");
        await c.close();
        const label = rt === "deno" ? "Deno server" : "Bun server";
        progress(`fanout: ${label}${watched ? `, opening ${WATCHERS} watchers` : ""}`);
        const watchers = watched
          ? await openWatchers({
            LW_KIND: "ours",
            LW_URL: `ws://127.0.0.1:${s.port}`,
            LW_PASSWORD: PASSWORD,
            LW_NAME: "live",
          }, dir)
          : [];
        for (const w of watchers) stops.push(() => w.quit());
        const writers = await ourWriters(s.port);
        stops.push(async () => void await Promise.all(writers.map((w) => w.close())));
        targets.push({
          name: `${label}${dir === root ? "" : ` (${process.env.LIVE_BEFORE_LABEL ?? "before"})`}, ${
            watched ? `${WATCHERS} watchers` : "no watchers"
          }`,
          group: label,
          watched,
          serverPid: s.proc.pid,
          writers,
          watchers,
        });
      }
    }
    if (redisOk) {
      for (const mode of ["publish", "keyevent"] as const) {
        if (!wanted(mode === "publish" ? "redis" : "keyevent")) continue;
        for (const watched of [false, true]) {
          const r = await startRedis();
          stops.push(r.proc.stop);
          const label = mode === "publish" ? "Redis PUBLISH" : "Redis SET + keyevent";
          progress(`fanout: ${label}${watched ? `, opening ${WATCHERS} subscribers` : ""}`);
          const watchers = watched
            ? await openWatchers({
              LW_KIND: "redis",
              LW_PORT: String(r.port),
              LW_NAME: mode === "publish" ? "live" : "__keyevent@0__:set",
            })
            : [];
          for (const w of watchers) stops.push(() => w.quit());
          const writers = await redisWriters(r.port, mode);
          stops.push(async () => void await Promise.all(writers.map((w) => w.close())));
          targets.push({
            name: `${label}, ${watched ? `${WATCHERS} subscribers` : "no subscribers"}`,
            group: label,
            watched,
            serverPid: r.proc.pid,
            writers,
            watchers,
          });
        }
      }
    }
    // Warm-up: a short round per target at the lowest rate.
    for (const t of targets) await fanRound(t, Math.min(...RATES));
    for (const rate of RATES) {
      const samples = new Map<FanTarget, FanSample[]>(targets.map((t) => [t, []]));
      for (let r = 0; r < FAN_ROUNDS; r++) {
        for (let j = 0; j < targets.length; j++) {
          const t = targets[(j + r) % targets.length];
          samples.get(t)!.push(await fanRound(t, rate));
        }
        progress(`fanout ${rate}/s: round ${r + 1}/${FAN_ROUNDS}`);
      }
      fanTable(rate, targets, samples);
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

function fanTable(rate: number, targets: FanTarget[], samples: Map<FanTarget, FanSample[]>): void {
  const writeRate = (s: FanSample) => s.writes / s.windowMs * 1000;
  const deliveredRate = (s: FanSample) => s.deliveredInWindow / s.windowMs * 1000;
  /** Median over rounds of the per-round ratio (round r of both ran in the same rotation). */
  const paired = (a: FanSample[], b: FanSample[], f: (s: FanSample) => number) =>
    median(a.map((s, i) => f(s) / f(b[i])));
  const publish = targets.find((t) => t.group === "Redis PUBLISH" && t.watched);
  const rows: string[][] = [];
  for (const t of targets) {
    const ss = samples.get(t)!;
    const anchor = targets.find((a) => a.group === t.group && !a.watched)!;
    const writesVs = t.watched ? paired(ss, samples.get(anchor)!, writeRate) : NaN;
    const hist = new Map<number, number>();
    for (const s of ss) for (const [b, n] of s.hist) hist.set(b, (hist.get(b) ?? 0) + n);
    const wl = ss.flatMap((s) => s.writeLat).sort((a, b) => a - b);
    const deliveredVsRedis = t.watched && publish ? paired(ss, samples.get(publish)!, deliveredRate) : NaN;
    const p99 = histQuantile(hist, 0.99);
    const totalWrites = ss.reduce((s, x) => s + x.writes, 0);
    const totalDelivered = ss.reduce((s, x) => s + x.delivered, 0);
    const errors = ss.flatMap((s) => s.errors);
    const cpu = (f: (s: FanSample) => number) => median(ss.map((s) => f(s) / s.windowMs * 100)).toFixed(0) + "%";
    const isOurs = !t.group.startsWith("Redis");
    rows.push([
      t.name,
      formatRate(median(ss.map(writeRate))),
      fmtMs(pct(wl, 0.5)) + " / " + fmtMs(pct(wl, 0.99)),
      t.watched ? formatRatio(writesVs) + (isOurs ? ` (${verdict(writesVs, 0.7)})` : "") : "anchor",
      t.watched ? formatRate(median(ss.map(deliveredRate))) : "",
      t.watched
        ? (t === publish
          ? "anchor"
          : formatRatio(deliveredVsRedis) + (isOurs ? ` (${verdict(deliveredVsRedis, 0.5)})` : ""))
        : "",
      t.watched ? fmtMs(histQuantile(hist, 0.5)) : "",
      t.watched ? fmtMs(p99) + (isOurs ? (p99 < 50 ? " (met)" : " (MISSED)") : "") : "",
      t.watched ? `${(totalDelivered / Math.max(1, totalWrites * WATCHERS) * 100).toFixed(1)}%` : "",
      t.watched ? fmtMs(median(ss.map((s) => s.drainMs))) : "",
      cpu((s) => s.serverCpuMs),
      t.watched ? cpu((s) => s.watcherCpuMs) : "",
      cpu((s) => s.writerCpuMs),
      errors.length ? `${errors.length}: ${errors[0].slice(0, 80)}` : "",
    ]);
  }
  console.log(`\n#### offered ${formatRate(rate)} writes (${WRITERS} writers, 1 write in flight each)\n`);
  printTable(
    [
      "server",
      "writes/s",
      "write p50 / p99",
      "writes vs no watchers",
      "delivered msgs/s",
      "delivered vs Redis PUBLISH",
      "delivery p50",
      "delivery p99",
      "delivered",
      "drain",
      "server CPU",
      "watchers CPU",
      "writers CPU",
      "watch errors",
    ],
    rows,
    [
      "left",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "left",
    ],
  );
}

// ---------------------------------------------------------------------------
// Section "increment"
// ---------------------------------------------------------------------------

const INC_CLIENTS = 50;
const INC_ROUND_MS = Math.max(300, Math.round(1500 * SCALE));
const INC_ROUNDS = 3;

interface IncTarget {
  name: string;
  conns: { inc(): Promise<unknown>; close(): Promise<unknown> }[];
  read(): Promise<number>;
}

async function sectionIncrement(): Promise<void> {
  const info = runtimeInfo();
  const redisOk = haveRedis();
  console.log(
    `\n### increment — client runtime ${info.label}; ${INC_CLIENTS} clients, 1 call in flight each, one counter, ` +
      `${INC_ROUND_MS} ms rounds × ${INC_ROUNDS}\n`,
  );
  if (!redisOk) console.log(`Redis column skipped: ${REDIS_MISSING}.\n`);
  const stops: (() => Promise<void>)[] = [];
  const targets: IncTarget[] = [];
  try {
    if (redisOk) {
      const r = await startRedis();
      stops.push(r.proc.stop);
      const { Redis } = await import("ioredis");
      const conns = await Promise.all(Array.from({ length: INC_CLIENTS }, async () => {
        const c = new Redis({ port: r.port, host: "127.0.0.1", lazyConnect: true });
        await c.connect();
        return { inc: () => c.incr("counter"), close: () => c.quit() };
      }));
      const reader = new Redis({ port: r.port, host: "127.0.0.1" });
      stops.push(async () => void await reader.quit());
      targets.push({ name: "Redis INCR (ioredis)", conns, read: async () => Number(await reader.get("counter")) });
    }
    for (const rt of ["deno", "bun"] as const) {
      const s = await startOurs(rt);
      stops.push(s.proc.stop);
      const admin = await connect(`ws://127.0.0.1:${s.port}`, { password: PASSWORD });
      await admin.createDict("c");
      const counter = await admin.getDict<number>("c");
      stops.push(async () => void await admin.close());
      const conns = await Promise.all(Array.from({ length: INC_CLIENTS }, async () => {
        const c = await connect(`ws://127.0.0.1:${s.port}`, { password: PASSWORD });
        const d = await c.getDict<number>("c");
        return { inc: () => d.increment("counter"), close: () => c.close() };
      }));
      targets.push({
        name: `${rt === "deno" ? "Deno" : "Bun"} server, WebSocket increment`,
        conns,
        read: async () => (await counter.get("counter")) ?? 0,
      });
    }
    const round = async (t: IncTarget) => {
      const lat: number[] = [];
      let ops = 0;
      const start = performance.now();
      const end = start + INC_ROUND_MS;
      await Promise.all(t.conns.map(async (c) => {
        while (performance.now() < end) {
          const t0 = performance.now();
          await c.inc();
          lat.push(performance.now() - t0);
          ops++;
        }
      }));
      return { ops, ms: performance.now() - start, lat };
    };
    const done = new Map<IncTarget, number>(targets.map((t) => [t, 0]));
    for (const t of targets) done.set(t, done.get(t)! + (await round(t)).ops); // warm-up
    const samples = new Map<IncTarget, { ops: number; ms: number; lat: number[] }[]>(targets.map((t) => [t, []]));
    for (let r = 0; r < INC_ROUNDS; r++) {
      for (let j = 0; j < targets.length; j++) {
        const t = targets[(j + r) % targets.length];
        const s = await round(t);
        done.set(t, done.get(t)! + s.ops);
        samples.get(t)!.push(s);
      }
      progress(`increment: round ${r + 1}/${INC_ROUNDS}`);
    }
    const redis = redisOk ? targets[0] : null;
    const rate = (s: { ops: number; ms: number }) => s.ops / s.ms * 1000;
    const rows: string[][] = [];
    for (const t of targets) {
      const ss = samples.get(t)!;
      const lat = ss.flatMap((s) => s.lat).sort((a, b) => a - b);
      const ratio = redis && t !== redis ? median(ss.map((s, i) => rate(s) / rate(samples.get(redis)![i]))) : NaN;
      const final = await t.read();
      rows.push([
        t.name,
        formatRate(median(ss.map(rate))),
        fmtMs(pct(lat, 0.5)),
        fmtMs(pct(lat, 0.99)),
        t === redis ? "anchor" : redis ? formatRatio(ratio) : "skipped",
        t === redis || !redis ? "" : verdict(ratio, 0.7),
        final === done.get(t) ? `exact (${final})` : `WRONG: ${final} ≠ ${done.get(t)}`,
      ]);
    }
    printTable(
      ["server", "increments/s", "p50", "p99", "ours/Redis", "target ≥ 0.7x", "final counter"],
      rows,
      ["left", "right", "right", "right", "right", "left", "left"],
    );
    for (const t of targets) await Promise.all(t.conns.map((c) => c.close()));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// Section "versions": this engine vs the engine at 74cfcc8
// ---------------------------------------------------------------------------

/** The last commit of main before the live-data work (versions, expiry, the feed). */
const BEFORE_COMMIT = "74cfcc8";
const BEFORE_DIR = process.env.CYBERDB_BEFORE ?? "/tmp/cyberdb-before";
const VER_DICT_N = scaled(250_000);
const VER_ROWS = scaled(200_000);

/**
 * The engine as it was at BEFORE_COMMIT, unpacked (git archive) into
 * BEFORE_DIR outside the repository, with a symlink to our node_modules:
 * nothing of it is tracked or committed.
 */
function ensureBefore(): string {
  if (!existsSync(`${BEFORE_DIR}/mod.ts`)) {
    mkdirSync(BEFORE_DIR, { recursive: true });
    const r = spawnSync("sh", ["-c", `git -C "${root}" archive ${BEFORE_COMMIT} | tar -x -C "${BEFORE_DIR}"`], {
      encoding: "utf8",
    });
    if (r.status !== 0 || !existsSync(`${BEFORE_DIR}/mod.ts`)) {
      throw new Error(
        `Could not unpack commit ${BEFORE_COMMIT} into ${BEFORE_DIR} (${r.stderr.trim().slice(0, 300)}): ` +
          `the versions section needs the repository's history (a full clone), or CYBERDB_BEFORE=<dir of that commit>`,
      );
    }
  }
  if (!existsSync(`${BEFORE_DIR}/node_modules`)) symlinkSync(`${root}node_modules`, `${BEFORE_DIR}/node_modules`);
  return BEFORE_DIR;
}

type AnyDb = { createDict(name: string): AnyDict; createTable(schema: unknown): AnyTable; drop(name: string): void };
// deno-lint-ignore no-explicit-any
type AnyDict = any;
// deno-lint-ignore no-explicit-any
type AnyTable = any;

async function sectionVersions(): Promise<void> {
  const dir = ensureBefore();
  const before = await import(`${dir}/mod.ts`) as { Database: { open(): Promise<AnyDb> } };
  const info = runtimeInfo();
  console.log(
    `\n### versions — ${info.label}; this engine vs commit ${BEFORE_COMMIT} (before versions), one process, ` +
      `alternating rounds\n`,
  );
  const dbs: [string, AnyDb][] = [["now", await Database.open() as unknown as AnyDb], [
    BEFORE_COMMIT,
    await before.Database.open(),
  ]];
  const keys = Array.from({ length: VER_DICT_N }, (_, i) => "k:" + i.toString(36));
  const vals = Array.from({ length: VER_DICT_N }, (_, i) => (i % 3 === 0 ? "v" + i.toString(36) : i * 7));
  const order = shuffled(VER_DICT_N, 99);
  const rowOrder = shuffled(VER_ROWS, 7);
  const names = Array.from(
    { length: VER_ROWS },
    (_, i) => "n" + ((i * 2654435761) >>> 0).toString(36).slice(0, 1 + (i % 7)),
  );
  let seq = 0;
  const schema = (name: string) => ({
    name,
    columns: [
      { name: "id", type: "Int64", primaryKey: true },
      { name: "name", type: "Utf8" },
      { name: "age", type: "Int32" },
    ],
  });
  const fillDict = (db: AnyDb) => {
    const d = db.createDict(`d${seq++}`);
    for (let i = 0; i < VER_DICT_N; i++) d.set(keys[i], vals[i]);
    return d;
  };
  const fillTable = (db: AnyDb) => {
    const t = db.createTable(schema(`t${seq++}`));
    for (let i = 0; i < VER_ROWS; i++) t.insert({ id: i, name: names[i], age: i % 100 });
    return t;
  };
  const kept = new Map<string, { d?: AnyDict; t?: AnyTable }>(dbs.map(([n]) => [n, {}]));
  const setCases: Case<unknown>[] = dbs.map(([n, db]) => ({
    name: n,
    ops: VER_DICT_N,
    setup: () => db.createDict(`d${seq++}`),
    run: (d: AnyDict) => {
      for (let i = 0; i < VER_DICT_N; i++) d.set(keys[i], vals[i]);
      return d.size;
    },
    teardown: (d: AnyDict) => {
      const k = kept.get(n)!;
      if (k.d) db.drop(k.d.name);
      k.d = d;
    },
  }));
  const getCases: Case<unknown>[] = dbs.map(([n]) => ({
    name: n,
    ops: VER_DICT_N,
    run: () => {
      const d = kept.get(n)!.d;
      let sum = 0;
      for (let i = 0; i < VER_DICT_N; i++) {
        const v = d.get(keys[order[i]]);
        sum += typeof v === "number" ? v : v.length;
      }
      return sum;
    },
  }));
  const insertCases: Case<unknown>[] = dbs.map(([n, db]) => ({
    name: n,
    ops: VER_ROWS,
    setup: () => db.createTable(schema(`t${seq++}`)),
    run: (t: AnyTable) => {
      for (let i = 0; i < VER_ROWS; i++) t.insert({ id: i, name: names[i], age: i % 100 });
      return t.count();
    },
    teardown: (t: AnyTable) => {
      const k = kept.get(n)!;
      if (k.t) db.drop(k.t.name);
      k.t = t;
    },
  }));
  const tableGetCases: Case<unknown>[] = dbs.map(([n]) => ({
    name: n,
    ops: VER_ROWS,
    run: () => {
      const t = kept.get(n)!.t;
      let sum = 0;
      for (let i = 0; i < VER_ROWS; i++) {
        const r = t.get(rowOrder[i]);
        sum += r.age + r.name.length;
      }
      return sum;
    },
  }));
  const rows: string[][] = [];
  // `target`: false for a row that measures something besides versions (it gets "info").
  const line = (what: string, [mine, anchor]: Result[], target = true) => {
    if (!Object.is(mine.checksum, anchor.checksum)) {
      throw new Error(`Checksums differ for ${what}: ${mine.checksum} vs ${anchor.checksum}`);
    }
    const ratio = pairedRatio(mine, anchor);
    rows.push([
      what,
      formatRate(mine.opsPerSec),
      formatRate(anchor.opsPerSec),
      formatRatio(ratio),
      `${((1 - ratio) * 100).toFixed(1)}%`,
      target ? verdict(ratio, 0.9) : "info (not the versions' cost)",
      `${(mine.spread * 100).toFixed(0)}% / ${(anchor.spread * 100).toFixed(0)}%`,
    ]);
  };
  const opts = { warmup: 2, rounds: 9 };
  line(`dict.set (${VER_DICT_N} new string keys)`, compare(setCases, opts));
  progress("versions: dict.set");
  // The feed records commits only while someone watches (and a minute after): a database of its own,
  // with a subscriber to another collection open, so the ring records every set and nobody reads it.
  const watched = await Database.open();
  watched.createDict("other");
  const stopWatching = watched.subscribe(() => {}, { collections: ["other"] });
  const watchedCases: Case<unknown>[] = [
    { ...setCases[0], setup: () => watched.createDict(`d${seq++}`), teardown: (d: AnyDict) => watched.drop(d.name) },
    setCases[1],
  ];
  // Not the versions' cost the target is about: what keeping a ring of recent commits for watchers costs a write.
  line(`dict.set, a watch open (the feed records)`, compare(watchedCases, opts), false);
  stopWatching();
  await watched.close();
  progress("versions: dict.set, watched");
  line(`dict.get (${VER_DICT_N} hits, random order)`, compare(getCases, { ...opts, gcBetween: false }));
  progress("versions: dict.get");
  line(`table.insert (${VER_ROWS} rows)`, compare(insertCases, opts));
  progress("versions: table.insert");
  line(`table.get by key (${VER_ROWS} random hits)`, compare(tableGetCases, { ...opts, gcBetween: false }));
  progress("versions: table.get");
  for (const [n, db] of dbs) {
    const k = kept.get(n)!;
    if (k.d) db.drop(k.d.name);
    if (k.t) db.drop(k.t.name);
  }
  // Memory: bytes kept alive per entry, each engine building the same data (one measurement each, alternated twice).
  const mem = new Map<string, { dict: number[]; table: number[] }>(dbs.map(([n]) => [n, { dict: [], table: [] }]));
  for (let r = 0; r < 2; r++) {
    for (const [n, db] of r % 2 ? [...dbs].reverse() : dbs) {
      let d: AnyDict;
      const md = measureMemory(VER_DICT_N, () => (d = fillDict(db)), (x) => x.size);
      db.drop(d.name);
      let t: AnyTable;
      const mt = measureMemory(VER_ROWS, () => (t = fillTable(db)), (x) => x.count());
      db.drop(t.name);
      mem.get(n)!.dict.push(md.bytesPerItem);
      mem.get(n)!.table.push(mt.bytesPerItem);
    }
  }
  progress("versions: memory");
  const [nowName, beforeName] = dbs.map(([n]) => n);
  const memRow = (what: string, f: (m: { dict: number[]; table: number[] }) => number[]) => {
    // The smallest positive reading: a collection that ran during the build can leave one at 0 or below.
    const least = (xs: number[]) => Math.min(...xs.filter((x) => x > 0));
    const a = least(f(mem.get(nowName)!));
    const b = least(f(mem.get(beforeName)!));
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      rows.push([what, "—", "—", "—", "", "n/a (the heap could not be measured here)", ""]);
      return;
    }
    const diff = a - b;
    rows.push([
      what,
      formatBytes(a),
      formatBytes(b),
      formatRatio(a / b),
      `${diff < 0 ? "−" : "+"}${formatBytes(Math.abs(diff))}`,
      "info",
      "",
    ]);
  };
  memRow(`memory per dict entry (${VER_DICT_N} entries)`, (m) => m.dict);
  memRow(`memory per table row (${VER_ROWS} rows)`, (m) => m.table);
  printTable(
    [
      "benchmark",
      "now",
      `before (${BEFORE_COMMIT})`,
      "now / before",
      "slower by",
      "target ≤ 10% slower",
      "spread (now / before)",
    ],
    rows,
    ["left", "right", "right", "right", "right", "left", "right"],
  );
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Section "expiry": a million keys expiring at once, against a writer
// ---------------------------------------------------------------------------

const EXPIRY_KEYS = scaled(1_000_000);
const EXPIRY_ROUNDS = 3;
/** The writer-stall target of log_bench's snapshot section, which the issue names for expiry too. */
const STALL_TARGET_MS = 50;
/** Keys the expirer removes per log record (src/api/expirer.ts). */
const EXPIRY_BATCH = 500;

async function sectionExpiry(): Promise<void> {
  const info = runtimeInfo();
  console.log(`\n### expiry — ${info.label}; ${EXPIRY_KEYS} keys expiring at once, ${EXPIRY_ROUNDS} rounds\n`);
  const stalls: number[] = [];
  const before: number[] = [];
  const took: number[] = [];
  for (let round = 0; round < EXPIRY_ROUNDS; round++) {
    const dir = mkdtempSync(join(os.tmpdir(), "cyberdb-expiry-"));
    const clock = { now: Date.now() };
    try {
      const db = await Database.open({
        dir,
        sync: "interval",
        snapshotInterval: 0,
        snapshotWalBytes: 0,
        clock: () => clock.now,
      });
      const sessions = db.createDict("sessions");
      const w = db.createDict("w");
      for (let b = 0; b < EXPIRY_KEYS; b += 10_000) {
        for (let i = b; i < Math.min(EXPIRY_KEYS, b + 10_000); i++) sessions.set(`s:${i}`, i, { expireIn: 60_000 });
        await new Promise((r) => setImmediate(r));
      }
      await db.flush();
      forceGc();
      const base = db.lsn;
      let sets = 0;
      const write = () => {
        for (let k = 0; k < 16; k++) w.set(k, sets++);
      };
      // Every LSN after `base` is one of the writer's sets or one removal record of the expirer.
      const removals = Math.ceil(EXPIRY_KEYS / EXPIRY_BATCH);
      const stall = await writerStall(write, 300, async () => {
        clock.now += 61_000; // every session expires now
        const deadline = Date.now() + 300_000;
        while (db.lsn - base - sets < removals) {
          if (Date.now() > deadline) throw new Error(`The expirer did not finish: ${db.lsn - base - sets} records`);
          await sleep(2);
        }
      });
      await db.flush();
      await db.close();
      // Removed, not just hidden: a clock from before the expiry sees none of them either.
      const again = await Database.open({ dir, clock: () => 0 });
      assert(again.getDict("sessions").size === 0, "every expired key was removed and logged");
      await again.close();
      progress(
        `expiry ${round}: ${EXPIRY_KEYS} keys removed in ${
          stall.duration.toFixed(0)
        } ms; writer ticks ${stall.count}, ` +
          `max gap ${stall.max.toFixed(1)} ms (from +${stall.at.toFixed(0)} ms), p99 ${stall.p99.toFixed(1)} ms; ` +
          `before it max ${stall.before.toFixed(1)} ms`,
      );
      stalls.push(stall.max);
      before.push(stall.before);
      took.push(stall.duration);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const stall = median(stalls);
  printTable(
    ["benchmark", "mine", "anchor", "anchor value", "target", "result"],
    [
      [
        `longest writer stall while ${EXPIRY_KEYS} keys expire at once (median of ${EXPIRY_ROUNDS}; each ${
          stalls.map((x) => x.toFixed(1)).join(" / ")
        } ms)`,
        `${stall.toFixed(1)} ms`,
        "longest tick gap before the expiry",
        `${median(before).toFixed(1)} ms`,
        `< ${STALL_TARGET_MS} ms`,
        stall < STALL_TARGET_MS ? "met" : verdict(stall, STALL_TARGET_MS, false),
      ],
      [
        `time until every expired key is removed and logged`,
        `${(median(took) / 1000).toFixed(2)} s`,
        "—",
        `${formatRate(EXPIRY_KEYS / (median(took) / 1000))} keys`,
        "—",
        "info",
      ],
    ],
    ["left", "right", "left", "right", "left", "left"],
  );
}

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`Check failed: ${what}`);
}

const SECTIONS = ["versions", "increment", "fanout", "expiry"] as const;
const only = (process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean);

async function runSection(name: string): Promise<void> {
  if (name === "versions") await sectionVersions();
  else if (name === "increment") await sectionIncrement();
  else if (name === "fanout") await sectionFanout();
  else if (name === "expiry") await sectionExpiry();
  else throw new Error(`Unknown section ${JSON.stringify(name)}: use ${SECTIONS.join(", ")}`);
}

const section = currentSection();
if (section) {
  await runSection(section);
  if (process.env.BENCH_SECTION_CHILD) emitSectionResult({});
} else {
  const info = runtimeInfo();
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`# live_bench — ${info.label}; load average at start ${load}`);
  const chosen = only.length ? SECTIONS.filter((s) => only.includes(s)) : [...SECTIONS];
  runSections(import.meta.url, chosen);
  const loadEnd = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`\nload average at the end ${loadEnd}`);
}
