/**
 * Shared helpers for every `bench/*_bench.ts`: timing with warmup and
 * interleaved rounds, median / best-of-N, ratio and rate formatting, markdown
 * tables, runtime detection and heap measurement after a forced GC.
 *
 * Benchmarks on this project run on small, noisy machines (2 cores, shared),
 * so absolute times mean little. Every figure a benchmark reports is a ratio
 * against an anchor measured in the same process, in interleaved rounds
 * (A, B, C, A, B, C, …), so that drift in machine speed hits every contender
 * alike.
 *
 * Runtime globals (`Deno`, `Bun`) are read only inside function bodies, at
 * call time, so this module imports cleanly anywhere.
 *
 * @example
 * ```ts
 * import { compare, formatRate, printTable } from "./harness.ts";
 * const [mine, anchor] = compare([
 *   { name: "mine", ops: 1e6, run: () => work() },
 *   { name: "Map", ops: 1e6, run: () => mapWork() },
 * ]);
 * printTable(["case", "ops/s"], [["mine", formatRate(mine.opsPerSec)]]);
 * ```
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { prng } from "../tests/fixtures/prng.ts";
import { createServer } from "node:net";

// ---------------------------------------------------------------------------
// Writer stalls
// ---------------------------------------------------------------------------

/** What {@linkcode writerStall} saw of a writer's turns. */
export interface Stall {
  /** The longest gap (ms) between two consecutive ticks overlapping `during`. */
  max: number;
  /** Where that gap began, in ms after `during` started (negative: just before it). */
  at: number;
  /** The 99th percentile of those gaps (ms). */
  p99: number;
  /** How many gaps overlapped `during`. */
  count: number;
  /** The longest gap in the `baselineMs` before `during` (ms): the machine's own jitter. */
  before: number;
  /** How long `during` took (ms). */
  duration: number;
}

/**
 * How long a writer had to wait while `during` ran: `tick` runs on a
 * `setTimeout(0)` chain (one call per turn of the event loop) for
 * `baselineMs`, through `during()`, and 50 ms after it; the answer is the
 * longest gap between consecutive ticks that overlaps `during`, against the
 * longest gap before it. What the snapshot and expiry targets measure.
 *
 * @example
 * ```ts
 * import { writerStall } from "./harness.ts";
 * const s = await writerStall(() => {}, 100, () => new Promise((r) => setTimeout(r, 20)));
 * s.max >= 0; // true
 * ```
 */
export async function writerStall(tick: () => void, baselineMs: number, during: () => Promise<void>): Promise<Stall> {
  const ticks: number[] = [];
  let stop = false;
  let stopped!: () => void;
  const finished = new Promise<void>((resolve) => (stopped = resolve));
  const turn = () => {
    ticks.push(now());
    tick();
    if (stop) stopped();
    else setTimeout(turn, 0);
  };
  setTimeout(turn, 0);
  await new Promise((resolve) => setTimeout(resolve, baselineMs));
  const s0 = now();
  await during();
  const s1 = now();
  await new Promise((resolve) => setTimeout(resolve, 50));
  stop = true;
  await finished;
  let max = 0;
  let at = 0;
  let before = 0;
  const gaps: number[] = [];
  for (let i = 1; i < ticks.length; i++) {
    const gap = ticks[i] - ticks[i - 1];
    if (ticks[i] > s0 && ticks[i - 1] < s1) {
      if (gap > max) {
        max = gap;
        at = ticks[i - 1] - s0;
      }
      gaps.push(gap);
    } else if (ticks[i] <= s0) before = Math.max(before, gap);
  }
  if (gaps.length === 0) throw new Error("No writer tick ran while it was measured.");
  gaps.sort((a, b) => a - b);
  const p99 = gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.99))];
  return { max, at, p99, count: gaps.length, before, duration: s1 - s0 };
}

// ---------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------

/** Which runtime runs this process, and its version. */
export interface RuntimeInfo {
  /** `"deno"`, `"bun"` or `"node"`. */
  name: "deno" | "bun" | "node";
  /** The runtime's own version, e.g. `"2.5.0"`. */
  version: string;
  /** The JavaScript engine and its version, e.g. `"V8 13.0"` or `"JavaScriptCore"`. */
  engine: string;
  /** `"deno 2.5.0 (V8 13.0)"`. */
  label: string;
}

/**
 * Detects the runtime at call time.
 *
 * @example
 * ```ts
 * console.log(runtimeInfo().label); // "bun 1.3.0 (JavaScriptCore)"
 * ```
 */
export function runtimeInfo(): RuntimeInfo {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  let name: RuntimeInfo["name"];
  let version: string;
  let engine: string;
  if (g.Deno?.version?.deno) {
    name = "deno";
    version = String(g.Deno.version.deno);
    engine = `V8 ${g.Deno.version.v8}`;
  } else if (g.Bun?.version) {
    name = "bun";
    version = String(g.Bun.version);
    engine = "JavaScriptCore";
  } else {
    name = "node";
    version = process.versions.node;
    engine = `V8 ${process.versions.v8}`;
  }
  return { name, version, engine, label: `${name} ${version} (${engine})` };
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

/**
 * Blocks for a moment after a forced GC. V8 sweeps concurrently after
 * `gc()` returns; measured right away, a 5 ms query took 35-60 ms on Deno
 * while background threads (on a 2-core machine) finished that work. The
 * pause lets every contender start from a quiet heap.
 */
function settle(ms = SETTLE_MS): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const SETTLE_MS = 50;

/**
 * Forces full garbage collections (`passes` of them, default 2) where the
 * runtime allows it, then pauses while the collector's background work
 * finishes, and says whether it could: Bun always (`Bun.gc(true)`); Deno and Node only when
 * started with `--expose-gc` (`deno run --v8-flags=--expose-gc`,
 * `node --expose-gc`).
 *
 * @example
 * ```ts
 * if (!forceGc()) console.warn("memory figures are approximate");
 * ```
 */
export function forceGc(passes = 2): boolean {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Bun?.gc) {
    for (let i = 0; i < passes; i++) g.Bun.gc(true);
    settle();
    return true;
  }
  if (typeof g.gc === "function") {
    // Twice by default: the first pass may only run finalizers / clear weak refs.
    for (let i = 0; i < passes; i++) g.gc();
    settle();
    return true;
  }
  return false;
}

/**
 * Bytes of JS heap in use, after a forced GC when possible
 * (`process.memoryUsage().heapUsed`).
 *
 * @example
 * ```ts
 * const before = heapUsed();
 * ```
 */
export function heapUsed(): number {
  forceGc();
  return process.memoryUsage().heapUsed;
}

/**
 * Bytes held by live JS values, including ArrayBuffer backing stores, after a
 * forced GC: on V8 (Deno, Node) `heapUsed + external`, because V8 keeps
 * typed-array memory outside its heap; on Bun `heapUsed` alone, which already
 * counts it (Bun's `external` is a subset of `heapUsed`, measured). So a
 * columnar store built on typed arrays is charged for its buffers everywhere.
 *
 * @example
 * ```ts
 * const before = liveBytes();
 * const keep = build();
 * const grown = liveBytes() - before;
 * ```
 */
export function liveBytes(): number {
  forceGc();
  const m = process.memoryUsage();
  return runtimeInfo().name === "bun" ? m.heapUsed : m.heapUsed + m.external;
}

/** What {@link measureMemory} found. */
export interface MemoryResult {
  /** Heap growth in bytes, kept alive by the built value. */
  bytes: number;
  /** `bytes / count`. */
  bytesPerItem: number;
  /** Whether a GC could be forced (if not, figures include garbage). */
  gcForced: boolean;
  /** Whatever `check` returned for the built value (a checksum). */
  check: number;
}

/**
 * Bytes kept alive by what `build()` returns, per item: forced GC,
 * {@link liveBytes}, build, forced GC, {@link liveBytes}. `check(built)` runs while the value is
 * still reachable, so the engine cannot drop it early; its result is returned.
 *
 * @example
 * ```ts
 * const m = measureMemory(1e6, () => makeRows(1e6), (rows) => rows.length);
 * console.log(m.bytesPerItem);
 * ```
 */
export function measureMemory<T>(
  count: number,
  build: () => T,
  check: (built: T) => number,
): MemoryResult {
  const gcForced = forceGc();
  const before = liveBytes();
  let built: T | undefined = build();
  const after = liveBytes();
  const c = check(built);
  built = undefined;
  forceGc();
  const bytes = Math.max(0, after - before);
  return { bytes, bytesPerItem: bytes / count, gcForced, check: c };
}

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

/** Milliseconds, high resolution. */
export function now(): number {
  return performance.now();
}

/** One contender in {@link compare} (or alone in {@link measure}). */
export interface Case<S = unknown> {
  /** Shown in tables. */
  name: string;
  /** Operations done by one `run` call (for ops/s). */
  ops: number;
  /** Untimed; builds fresh state for one `run` (a new table, a filled map). */
  setup?: () => S;
  /** Timed; does `ops` operations on the state and returns a checksum. */
  run: (state: S) => number;
  /** Untimed; releases the state after a run. */
  teardown?: (state: S) => void;
  /** Untimed warm-up calls (own setup each); defaults to the options'. */
  warmup?: number;
  /**
   * Replaces the full-size warm-up calls: a cheaper untimed run (say 5% of
   * the rows) that is enough to get the code compiled when one full call
   * would take seconds.
   */
  warmupRun?: () => void;
  /** At most this many timed calls for this case (for slow anchors); defaults to all rounds. */
  maxRounds?: number;
}

/** Timing options. */
export interface MeasureOptions {
  /** Untimed calls before the timed rounds (default 1). */
  warmup?: number;
  /** Timed rounds; each contender runs once per round (default 5). */
  rounds?: number;
  /** Stop adding rounds after this many ms in total, once `minRounds` ran (default Infinity). */
  budgetMs?: number;
  /** Rounds that run whatever the budget (default 3). */
  minRounds?: number;
  /** Force a GC before each timed call, so a previous case's garbage is not billed here (default true). */
  gcBetween?: boolean;
}

/** The timing of one contender. */
export interface Result {
  /** The case's name. */
  name: string;
  /** Operations per timed call. */
  ops: number;
  /** Milliseconds per timed call, in run order. */
  samples: number[];
  /** The round of each sample (same index as `samples`), for {@link pairedRatio}. */
  rounds: number[];
  /** Median of the samples, ms. */
  medianMs: number;
  /** Fastest sample, ms. */
  bestMs: number;
  /** `ops / median`, per second. */
  opsPerSec: number;
  /** `ops / best`, per second. */
  bestOpsPerSec: number;
  /** Spread: (slowest - fastest) / median. */
  spread: number;
  /** The checksum every timed call returned (they must agree). */
  checksum: number;
}

/** Median of numbers (mean of the middle two for even counts). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function once<S>(c: Case<S>, gc: boolean): { ms: number; sum: number } {
  const state = c.setup ? c.setup() : (undefined as S);
  if (gc) forceGc(1);
  const t0 = now();
  const sum = c.run(state);
  const ms = now() - t0;
  c.teardown?.(state);
  return { ms, sum };
}

function summarize(c: { name: string; ops: number }, samples: number[], rounds: number[], checksum: number): Result {
  const med = median(samples);
  const best = Math.min(...samples);
  const worst = Math.max(...samples);
  return {
    name: c.name,
    ops: c.ops,
    samples,
    rounds,
    medianMs: med,
    bestMs: best,
    opsPerSec: c.ops / (med / 1000),
    bestOpsPerSec: c.ops / (best / 1000),
    spread: (worst - best) / med,
    checksum,
  };
}

/** The checksum each case returned first, and a check that every later call returns the same. */
function checksums(cases: readonly { name: string }[]) {
  const sums: (number | undefined)[] = cases.map(() => undefined);
  const note = (i: number, sum: number) => {
    if (sums[i] === undefined) sums[i] = sum;
    else if (!Object.is(sums[i], sum)) {
      throw new Error(
        `Checksum of "${cases[i].name}" changed from ${
          sums[i]
        } to ${sum}: the benchmark must do the same work every call.`,
      );
    }
  };
  return { sums, note };
}

/**
 * Times contenders in interleaved rounds after warm-up: every round runs each
 * case once (order rotated each round), so slow drifts of the machine touch
 * all of them. Throws if a case's checksum changes between calls (work that
 * was skipped or is non-deterministic).
 *
 * @example
 * ```ts
 * const [a, b] = compare([caseA, caseB], { rounds: 5 });
 * console.log(formatRatio(a.opsPerSec / b.opsPerSec));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function compare(cases: readonly Case<any>[], options: MeasureOptions = {}): Result[] {
  const warmup = options.warmup ?? 1;
  const rounds = options.rounds ?? 5;
  const minRounds = Math.min(options.minRounds ?? 3, rounds);
  const budget = options.budgetMs ?? Infinity;
  const gc = options.gcBetween ?? true;
  const { sums, note } = checksums(cases);
  for (let i = 0; i < cases.length; i++) {
    const w = cases[i].warmup ?? warmup;
    for (let k = 0; k < w; k++) {
      const small = cases[i].warmupRun;
      if (small) small();
      else once(cases[i], false);
    }
  }
  const samples: number[][] = cases.map(() => []);
  const roundOf: number[][] = cases.map(() => []);
  const started = now();
  for (let r = 0; r < rounds; r++) {
    if (r >= minRounds && now() - started > budget) break;
    for (let j = 0; j < cases.length; j++) {
      const i = (j + r) % cases.length;
      if (samples[i].length >= (cases[i].maxRounds ?? Infinity)) continue;
      const { ms, sum } = once(cases[i], gc);
      samples[i].push(ms);
      roundOf[i].push(r);
      note(i, sum);
    }
  }
  return cases.map((c, i) => summarize(c, samples[i], roundOf[i], sums[i] ?? NaN));
}

/**
 * Throughput of `mine` relative to `anchor` (> 1: mine is faster), robust to
 * a noisy machine: the median over rounds in which both ran of the per-round
 * ratio, since the two calls of one round ran back to back under the same
 * load. Falls back to the ratio of medians when they share no round.
 *
 * @example
 * ```ts
 * const [mine, map] = compare([mineCase, mapCase]);
 * console.log(formatRatio(pairedRatio(mine, map)));
 * ```
 */
export function pairedRatio(mine: Result, anchor: Result): number {
  const ratios: number[] = [];
  for (let a = 0; a < mine.rounds.length; a++) {
    const b = anchor.rounds.indexOf(mine.rounds[a]);
    if (b < 0) continue;
    ratios.push((anchor.samples[b] / anchor.ops) / (mine.samples[a] / mine.ops));
  }
  return ratios.length ? median(ratios) : mine.opsPerSec / anchor.opsPerSec;
}

/**
 * Times one case: warm-up, then `rounds` timed calls.
 *
 * @example
 * ```ts
 * const r = measure({ name: "sum", ops: 1e6, run: () => sum(1e6) });
 * ```
 */
// deno-lint-ignore no-explicit-any
export function measure(c: Case<any>, options: MeasureOptions = {}): Result {
  return compare([c], options)[0];
}

/**
 * One contender in {@link compareAsync}: like {@link Case}, but `setup`,
 * `run` and `teardown` may be async (I/O, fsync, concurrent writers). Only
 * `run` is timed, from its call until its promise settles.
 */
export interface AsyncCase<S = unknown> {
  /** Shown in tables. */
  name: string;
  /** Operations done by one `run` call (for ops/s). */
  ops: number;
  /** Untimed; builds fresh state for one `run` (opens a database, creates a file). */
  setup?: () => S | Promise<S>;
  /** Timed; does `ops` operations on the state and resolves to a checksum. */
  run: (state: S) => Promise<number>;
  /** Untimed; releases the state after a run (closes, removes files). */
  teardown?: (state: S) => void | Promise<void>;
  /** Untimed warm-up calls (setup, run, teardown); defaults to the options'. */
  warmup?: number;
  /** At most this many timed calls for this case; defaults to all rounds. */
  maxRounds?: number;
}

async function onceAsync<S>(c: AsyncCase<S>, gc: boolean): Promise<{ ms: number; sum: number }> {
  const state = c.setup ? await c.setup() : (undefined as S);
  if (gc) forceGc(1);
  const t0 = now();
  const sum = await c.run(state);
  const ms = now() - t0;
  await c.teardown?.(state);
  return { ms, sum };
}

/**
 * {@link compare} for asynchronous work: warm-up, then interleaved rounds
 * (order rotated each round), a forced GC before each timed call, checksums
 * that must not change. Cases run one at a time, never concurrently.
 *
 * @example
 * ```ts
 * const [durable, raw] = await compareAsync([
 *   { name: "db", ops: 1000, setup: openDb, run: writeAll, teardown: closeDb },
 *   { name: "raw", ops: 1000, setup: openFile, run: appendAll, teardown: closeFile },
 * ], { rounds: 7 });
 * console.log(formatRatio(pairedRatio(durable, raw)));
 * ```
 */
// deno-lint-ignore no-explicit-any
export async function compareAsync(cases: readonly AsyncCase<any>[], options: MeasureOptions = {}): Promise<Result[]> {
  const warmup = options.warmup ?? 1;
  const rounds = options.rounds ?? 5;
  const minRounds = Math.min(options.minRounds ?? 3, rounds);
  const budget = options.budgetMs ?? Infinity;
  const gc = options.gcBetween ?? true;
  const { sums, note } = checksums(cases);
  for (const c of cases) {
    for (let k = 0; k < (c.warmup ?? warmup); k++) await onceAsync(c, false);
  }
  const samples: number[][] = cases.map(() => []);
  const roundOf: number[][] = cases.map(() => []);
  const started = now();
  for (let r = 0; r < rounds; r++) {
    if (r >= minRounds && now() - started > budget) break;
    for (let j = 0; j < cases.length; j++) {
      const i = (j + r) % cases.length;
      if (samples[i].length >= (cases[i].maxRounds ?? Infinity)) continue;
      const { ms, sum } = await onceAsync(cases[i], gc);
      samples[i].push(ms);
      roundOf[i].push(r);
      note(i, sum);
    }
  }
  return cases.map((c, i) => summarize(c, samples[i], roundOf[i], sums[i] ?? NaN));
}

// ---------------------------------------------------------------------------
// Sections in their own processes
// ---------------------------------------------------------------------------

const RESULT_MARK = "@@bench-section-result ";

/**
 * The section this process must run (`BENCH_SECTION`): set by
 * {@link runSections} for its children (with `BENCH_SECTION_CHILD=1`, so they
 * answer with {@link emitSectionResult}), or by hand to run one section alone.
 */
export function currentSection(): string | undefined {
  return process.env.BENCH_SECTION || undefined;
}

/** Hands a child section's results (any JSON) to the parent {@link runSections}. */
export function emitSectionResult(result: unknown): void {
  console.log(RESULT_MARK + JSON.stringify(result));
}

/**
 * The command line that runs `file` again on this very runtime, with the
 * flags the bench runner uses (forced GC available).
 */
function selfCommand(file: string): [string, string[]] {
  const rt = runtimeInfo().name;
  if (rt === "deno") {
    return [process.execPath, ["run", "-A", "--unstable-kv", "--no-lock", "--v8-flags=--expose-gc", file]];
  }
  if (rt === "bun") return [process.execPath, ["run", file]];
  return [process.execPath, [...process.execArgv, file]];
}

/**
 * Runs each section of a benchmark file in a fresh process of the same
 * runtime (same file, `BENCH_SECTION=<name>`) and returns what each child
 * passed to {@link emitSectionResult}, in order. Measured, not assumed: on
 * this project's machines a process that has built and dropped a few 1M-row
 * stores runs everything after it 3–8x slower (Map included), so sections that
 * share a process disturb each other's figures. Children's stderr (progress)
 * passes through; their other stdout is echoed.
 *
 * @example
 * ```ts
 * const section = currentSection();
 * if (section) emitSectionResult(runOne(section));
 * else console.log(runSections(import.meta.url, ["a", "b"]));
 * ```
 */
export function runSections<T = unknown>(moduleUrl: string, sections: readonly string[]): T[] {
  const file = moduleUrl.startsWith("file:") ? fileURLToPath(moduleUrl) : moduleUrl;
  const out: T[] = [];
  for (const section of sections) {
    const [cmd, args] = selfCommand(file);
    const r = spawnSync(cmd, args, {
      env: { ...process.env, BENCH_SECTION: section, BENCH_SECTION_CHILD: "1" },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 64 * 1024 * 1024,
    });
    let result: T | undefined;
    for (const line of (r.stdout ?? "").split("\n")) {
      if (line.startsWith(RESULT_MARK)) result = JSON.parse(line.slice(RESULT_MARK.length));
      else if (line.trim()) console.log(line);
    }
    if (r.status !== 0 || result === undefined) {
      throw new Error(
        `Section "${section}" failed (exit ${r.status}${
          r.error ? `, ${r.error.message}` : ""
        }); run it alone with BENCH_SECTION=${section}.`,
      );
    }
    out.push(result);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------

/**
 * A small, fast, seeded PRNG (mulberry32): same seed, same numbers, on every
 * runtime. Returns floats in [0, 1). The tests' own (tests/fixtures/prng.ts).
 *
 * @example
 * ```ts
 * const rand = rng(42);
 * const x = Math.floor(rand() * 100);
 * ```
 */
export const rng: (seed: number) => () => number = prng;

/**
 * A seeded permutation of `0..n-1` (Fisher–Yates), for looking keys up in an
 * order unrelated to insertion order.
 *
 * @example
 * ```ts
 * const order = shuffled(1_000_000, 7);
 * ```
 */
export function shuffled(n: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rand = rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/** A cheap string checksum term: length plus first char code. */
export function strSum(s: string | undefined | null): number {
  return s == null ? -1 : s.length + s.charCodeAt(0);
}

/**
 * Scales a size by the `BENCH_SCALE` environment variable (default 1), so
 * `BENCH_SCALE=0.05 node scripts/bench.mjs` gives a quick smoke run. Never
 * below `min`.
 *
 * @example
 * ```ts
 * const N = scaled(1_000_000); // 1e6, or 5e4 with BENCH_SCALE=0.05
 * ```
 */
export function scaled(n: number, min = 1000): number {
  const raw = process.env.BENCH_SCALE;
  const f = raw ? Number(raw) : 1;
  if (!Number.isFinite(f) || f <= 0) return n;
  return Math.max(min, Math.round(n * f));
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/**
 * A rate with an SI suffix: `12.3 M/s`, `845 k/s`.
 *
 * @example
 * ```ts
 * formatRate(12_345_678); // "12.3 M/s"
 * ```
 */
export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return "—";
  if (perSec >= 1e9) return `${(perSec / 1e9).toFixed(2)} G/s`;
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(perSec >= 1e8 ? 0 : perSec >= 1e7 ? 1 : 2)} M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(perSec >= 1e5 ? 0 : perSec >= 1e4 ? 1 : 2)} k/s`;
  return `${perSec.toFixed(1)} /s`;
}

/**
 * A ratio as `0.45x`, `2.10x`, `12x`.
 *
 * @example
 * ```ts
 * formatRatio(2.1049); // "2.10x"
 * ```
 */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return "—";
  if (r >= 100) return `${r.toFixed(0)}x`;
  if (r >= 10) return `${r.toFixed(1)}x`;
  return `${r.toFixed(2)}x`;
}

/**
 * Bytes, with binary units: `96 B`, `1.5 KiB`, `312 MiB`.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let u = 0;
  while (Math.abs(n) >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)} ${units[u]}`;
}

/**
 * How a measured ratio stands against a target, for result columns:
 * `met` or `missed by 23%` (the shortfall relative to the target).
 * `higherIsBetter: false` for memory-style ratios.
 *
 * @example
 * ```ts
 * verdict(0.25, 0.33); // "MISSED by 24%"
 * ```
 */
export function verdict(ratio: number, target: number, higherIsBetter = true): string {
  if (!Number.isFinite(ratio)) return "n/a";
  const ok = higherIsBetter ? ratio >= target : ratio <= target;
  if (ok) return "met";
  const short = higherIsBetter ? (target - ratio) / target : (ratio - target) / target;
  return `MISSED by ${(short * 100).toFixed(0)}%`;
}

/** Column alignment for {@link markdownTable}. */
export type Align = "left" | "right";

/**
 * A padded GitHub markdown table. Numbers are right-aligned by default when
 * `align` is not given (any column whose cells all start with a digit).
 *
 * @example
 * ```ts
 * console.log(markdownTable(["a", "b"], [["x", "1"]]));
 * ```
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly Align[],
): string {
  const cols = headers.length;
  const al: Align[] = [];
  for (let c = 0; c < cols; c++) {
    al[c] = align?.[c] ?? (rows.length > 0 && rows.every((r) => /^[-~≈0-9.]/.test(r[c] ?? "")) ? "right" : "left");
  }
  const width = headers.map((h, c) => Math.max(3, h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const pad = (s: string, c: number) => (al[c] === "right" ? s.padStart(width[c]) : s.padEnd(width[c]));
  const line = (cells: readonly string[]) => `| ${cells.map((s, c) => pad(s ?? "", c)).join(" | ")} |`;
  const rule = `|${
    width.map((w, c) => (al[c] === "right" ? "-".repeat(w + 1) + ":" : ":" + "-".repeat(w + 1))).join("|")
  }|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/**
 * Prints {@link markdownTable} to stdout with a blank line around it.
 *
 * @example
 * ```ts
 * printTable(["case", "ops/s"], [["Map.set", "30 M/s"]]);
 * ```
 */
export function printTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly Align[],
): void {
  console.log(`\n${markdownTable(headers, rows, align)}\n`);
}

/**
 * A line of progress on stderr (so stdout stays just the tables).
 *
 * @example
 * ```ts
 * progress("dict set: 3 rounds done");
 * ```
 */
export function progress(msg: string): void {
  console.error(`  · ${msg}`);
}

// ---------------------------------------------------------------------------
// Report rows shared by every *_bench.ts
// ---------------------------------------------------------------------------

/** One row of a bench's printed table (JSON, so a child process can hand it over). */
export interface ReportLine {
  what: string;
  mine: string;
  anchor: string;
  anchorValue: string;
  /** A ratio (formatted when printed) or a ready string such as "—". */
  ratio: number | string;
  target: string;
  result: string;
  spread: string;
}

/** What one section process hands back to the parent. */
export interface SectionResult {
  lines: ReportLine[];
  notes: string[];
}

/**
 * A report row with a figure and no anchor or target: information only.
 *
 * @example
 * ```ts
 * lines.push(infoLine("snapshot total time", "1.20 s"));
 * ```
 */
export function infoLine(what: string, mine: string): ReportLine {
  return { what, mine, anchor: "—", anchorValue: "", ratio: "—", target: "—", result: "info", spread: "" };
}

/** Throws unless two contenders did the same work (equal checksums). */
export function sameChecksum(a: Result, b: Result): void {
  if (!Object.is(a.checksum, b.checksum)) {
    throw new Error(
      `Checksums differ: "${a.name}" ${a.checksum} vs "${b.name}" ${b.checksum}; the contenders did not do the same work.`,
    );
  }
}

/** The markdown table of report lines, in the column layout every bench prints. */
export function reportTable(lines: readonly ReportLine[]): string {
  return markdownTable(
    ["benchmark", "CyberDB", "anchor", "anchor", "ratio", "target", "result", "spread (mine / anchor)"],
    lines.map((
      l,
    ) => [
      l.what,
      l.mine,
      l.anchor,
      l.anchorValue,
      typeof l.ratio === "number" ? formatRatio(l.ratio) : l.ratio,
      l.target,
      l.result,
      l.spread,
    ]),
    ["left", "right", "left", "right", "right", "left", "left", "right"],
  );
}

/**
 * A scratch directory for a bench's files on the repository's own disk
 * (`<repo>/.tmp`, never tmpfs, so fsync costs what it costs): the one named
 * by the environment variable `envName` (a parent process's), or a new one
 * that this process owns and should remove.
 *
 * @example
 * ```ts
 * const { dir, owned } = scratchDir("MY_BENCH_DIR", "my-bench-");
 * const path = freshPath(dir, "db");
 * if (owned) removePath(dir);
 * ```
 */
export function scratchDir(envName: string, prefix: string): { dir: string; owned: boolean } {
  const given = process.env[envName];
  if (given) return { dir: given, owned: false };
  const parent = fileURLToPath(new URL("../.tmp", import.meta.url));
  mkdirSync(parent, { recursive: true });
  return { dir: mkdtempSync(join(parent, prefix)), owned: true };
}

let pathSeq = 0;

/**
 * A fresh, not yet existing path under `base` (pid and a counter in its name).
 *
 * @example
 * ```ts
 * const dir = freshPath("/tmp/bench", "db"); // "/tmp/bench/db-4242-0"
 * ```
 */
export function freshPath(base: string, prefix: string): string {
  return join(base, `${prefix}-${process.pid}-${pathSeq++}`);
}

/**
 * Removes a file or directory tree; a missing one is fine.
 *
 * @example
 * ```ts
 * removePath("/tmp/bench/db-4242-0");
 * ```
 */
export function removePath(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** A free TCP port on 127.0.0.1 (bound, read and released), for a server the bench starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
