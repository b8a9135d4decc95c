/**
 * What the server counts about itself, and `GET /metrics` in the Prometheus
 * text exposition format (version 0.0.4), plus the `--verbose` lines.
 *
 * The hot path — one observation per answered request — touches only
 * preallocated typed arrays: the op's slot comes from a `Map` lookup, its
 * latency goes into a fixed bucket, and nothing is allocated unless the
 * request failed (outcomes other than `ok` are counted per error code in a
 * small map per op). Everything about the database (LSN, items, log bytes,
 * fsyncs, snapshots, recovery) is read from `db.stats()` and the
 * database's durability counters when scraped, never counted twice.
 *
 * ```
 *   request ──► Executor ──► Monitor.op(slot, t0, error, source)
 *                               ├─► Metrics: ok[slot]++ | errors[slot][code]++,
 *                               │            buckets[slot * B + bucket(seconds)]++, sum[slot] += seconds
 *                               └─► --verbose: one line per failed op
 *   GET /metrics ──► Metrics.render({ connections, loading, db, … }) ──► text/plain; version=0.0.4
 * ```
 *
 * @module
 */

import { type Database, FSYNC_BUCKETS, latencyBuckets } from "../api/database.ts";
import { OPS } from "../ops/mod.ts";
import { quote } from "../core/value.ts";
import type { WireError } from "../wire/protocol.ts";

/** The upper bounds (seconds) of the op latency histogram's buckets (`+Inf` is added). */
export const OP_BUCKETS: readonly number[] = latencyBuckets(0.00001, 10);

/**
 * Op labels besides the op table's names: an atomic batch, an Arrow
 * export, a watch opened, and any name that is not an op (never the name
 * a client sent: labels must stay a small fixed set).
 */
export const EXTRA_OPS = ["atomic", "arrow", "watch", "unknown"] as const;

/** How a request reached the server. */
export type Transport = "http" | "ws" | "sse";

/** Where a request came from, for `--verbose` lines. */
export interface Source {
  /** `"http"` or `"ws"`. */
  readonly transport: Transport;
  /** The peer's address. */
  readonly peer: string;
}

/** The monotonic clock, looked up on first use (never at import). */
let clock: { now(): number } | null = null;

/**
 * Milliseconds on a monotonic clock (`performance.now()`, else `Date.now()`).
 *
 * @example
 * ```ts
 * import { now } from "./metrics.ts";
 * const t0 = now();
 * const seconds = (now() - t0) / 1000;
 * ```
 */
export function now(): number {
  clock ??= globalThis.performance ?? Date;
  return clock.now();
}

/** The bucket of `seconds` among `bounds` (the last index: above them all). */
function bucketOf(bounds: readonly number[], seconds: number): number {
  let i = 0;
  while (i < bounds.length && seconds > bounds[i]) i++;
  return i;
}

/**
 * The server's counters: ops by name and outcome, op latency histograms,
 * bytes in and out, connections opened.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 * const m = new Metrics();
 * m.observe(m.slot("dict.get"), 0.0003, null);
 * m.observe(m.slot("dict.get"), 0.002, "KEY_NOT_FOUND");
 * m.observe(m.slot("no.such.op"), 0.00001, "PROTOCOL"); // counted as op="unknown"
 * const text = m.render({ connections: { http: 0, ws: 0, sse: 0 }, loading: false, db: null });
 * assert.match(text, /^cyberdb_ops_total\{op="dict\.get",outcome="ok"\} 1$/m);
 * assert.match(text, /^cyberdb_ops_total\{op="dict\.get",outcome="KEY_NOT_FOUND"\} 1$/m);
 * assert.match(text, /^cyberdb_op_duration_seconds_count\{op="dict\.get"\} 2$/m);
 * assert.match(text, /^cyberdb_ops_total\{op="unknown",outcome="PROTOCOL"\} 1$/m);
 * ```
 */
export class Metrics {
  readonly #names: readonly string[];
  readonly #index: Map<string, number>;
  readonly #unknown: number;
  readonly #ok: Float64Array;
  readonly #errors: (Map<string, number> | null)[];
  /** Per op, `OP_BUCKETS.length + 1` counts (not cumulative). */
  readonly #buckets: Float64Array;
  readonly #sum: Float64Array;
  readonly #width = OP_BUCKETS.length + 1;
  readonly #started = Date.now();
  /** Bytes of request bodies and frames received, by transport. */
  readonly received: Record<"http" | "ws", number> = { http: 0, ws: 0 };
  /** Bytes of answer bodies, frames and events sent, by transport. */
  readonly sent: Record<Transport, number> = { http: 0, ws: 0, sse: 0 };
  /** Connections opened since start (HTTP requests are not connections here). */
  readonly opened: Record<"ws" | "sse", number> = { ws: 0, sse: 0 };
  /** Wrong or missing passwords, and refusals of throttled peers. */
  authFailures = 0;

  /** Counters for every op of the op table and {@linkcode EXTRA_OPS}. */
  constructor() {
    this.#names = [...OPS.keys(), ...EXTRA_OPS];
    this.#index = new Map(this.#names.map((n, i) => [n, i]));
    this.#unknown = this.#index.get("unknown")!;
    const n = this.#names.length;
    this.#ok = new Float64Array(n);
    this.#errors = new Array(n).fill(null);
    this.#buckets = new Float64Array(n * this.#width);
    this.#sum = new Float64Array(n);
  }

  /** The slot of an op name; anything else is `"unknown"`. */
  slot(op: unknown): number {
    return (typeof op === "string" ? this.#index.get(op) : undefined) ?? this.#unknown;
  }

  /** The op label of `slot`. */
  label(slot: number): string {
    return this.#names[slot] ?? "unknown";
  }

  /** Counts one answered request of op `slot`: its latency, and `null` (ok) or its error code. */
  observe(slot: number, seconds: number, code: string | null): void {
    if (code === null) this.#ok[slot]++;
    else {
      const map = this.#errors[slot] ??= new Map();
      map.set(code, (map.get(code) ?? 0) + 1);
    }
    this.#buckets[slot * this.#width + bucketOf(OP_BUCKETS, seconds)]++;
    this.#sum[slot] += seconds;
  }

  /** The Prometheus text of every metric; see docs/operating.md for each. */
  render(state: MetricsState): string {
    const out = new Lines();
    this.#renderOps(out);
    out.metric("cyberdb_connections", "gauge", "Connections open now, by transport (http: requests in flight).");
    for (const t of ["http", "ws", "sse"] as const) {
      out.sample("cyberdb_connections", { transport: t }, state.connections[t]);
    }
    out.metric("cyberdb_connections_total", "counter", "Connections opened since the server started, by transport.");
    for (const t of ["ws", "sse"] as const) out.sample("cyberdb_connections_total", { transport: t }, this.opened[t]);
    out.metric("cyberdb_bytes_received_total", "counter", "Bytes of request bodies and WebSocket frames received.");
    for (const t of ["http", "ws"] as const) {
      out.sample("cyberdb_bytes_received_total", { transport: t }, this.received[t]);
    }
    out.metric("cyberdb_bytes_sent_total", "counter", "Bytes of answer bodies, WebSocket frames and events sent.");
    for (const t of ["http", "ws", "sse"] as const) {
      out.sample("cyberdb_bytes_sent_total", { transport: t }, this.sent[t]);
    }
    out.simple(
      "cyberdb_auth_failures_total",
      "counter",
      "Requests refused for a wrong or missing password.",
      this.authFailures,
    );
    out.simple(
      "cyberdb_uptime_seconds",
      "gauge",
      "Seconds since the server started.",
      (Date.now() - this.#started) / 1000,
    );
    out.simple(
      "cyberdb_loading",
      "gauge",
      "1 while the database is still loading (requests get LOADING), else 0.",
      state.loading ? 1 : 0,
    );
    if (state.db !== null && !state.db.closed) renderDatabase(out, state.db);
    return out.text();
  }

  #renderOps(out: Lines): void {
    out.metric("cyberdb_ops_total", "counter", 'Requests answered, by op and outcome ("ok" or the error code).');
    for (let i = 0; i < this.#names.length; i++) {
      if (this.#ok[i] > 0) out.sample("cyberdb_ops_total", { op: this.#names[i], outcome: "ok" }, this.#ok[i]);
      for (const [code, n] of this.#errors[i] ?? []) {
        out.sample("cyberdb_ops_total", { op: this.#names[i], outcome: code }, n);
      }
    }
    out.metric(
      "cyberdb_op_duration_seconds",
      "histogram",
      "Seconds from a request's start until its answer was ready, by op.",
    );
    for (let i = 0; i < this.#names.length; i++) {
      const base = i * this.#width;
      let count = 0;
      for (let b = 0; b < this.#width; b++) count += this.#buckets[base + b];
      if (count === 0) continue;
      histogram(
        out,
        "cyberdb_op_duration_seconds",
        { op: this.#names[i] },
        OP_BUCKETS,
        this.#buckets.subarray(base, base + this.#width),
        this.#sum[i],
      );
    }
  }
}

/** What {@linkcode Metrics.render} reads besides its own counters. */
export interface MetricsState {
  /** Connections open now, by transport. */
  connections: Record<Transport, number>;
  /** Whether the database is still loading. */
  loading: boolean;
  /** The database, once loaded. */
  db: Database | null;
}

/** The database's metrics: from `db.stats()` and its durability counters. */
function renderDatabase(out: Lines, db: Database): void {
  const s = db.stats();
  out.simple("cyberdb_lsn", "gauge", "The LSN of the last committed write.", s.lsn);
  out.simple("cyberdb_durable_lsn", "gauge", "The LSN up to which every write is on disk.", s.durableLsn);
  out.metric("cyberdb_collections", "gauge", "Collections, by kind.");
  for (const k of ["dict", "list", "table"] as const) {
    out.sample("cyberdb_collections", { kind: k }, s.kinds[k].collections);
  }
  out.metric("cyberdb_items", "gauge", "Dict entries, list elements and table rows, by kind.");
  for (const k of ["dict", "list", "table"] as const) out.sample("cyberdb_items", { kind: k }, s.kinds[k].items);
  out.metric("cyberdb_data_approx_bytes", "gauge", "About how many bytes the data takes encoded (sampled), by kind.");
  for (const k of ["dict", "list", "table"] as const) {
    out.sample("cyberdb_data_approx_bytes", { kind: k }, s.kinds[k].approxBytes);
  }
  out.simple("cyberdb_watchers", "gauge", "Watches and subscriptions open on the change feed.", s.watchers);
  out.simple(
    "cyberdb_storage_error",
    "gauge",
    "1 while the disk refuses the log (writes are refused), else 0.",
    s.storageError === null ? 0 : 1,
  );
  const c = db.durabilityCounters;
  if (c === null) return;
  out.simple(
    "cyberdb_wal_bytes_total",
    "counter",
    "Bytes appended to the write-ahead log since the database opened.",
    c.walBytes,
  );
  out.simple(
    "cyberdb_wal_bytes_since_snapshot",
    "gauge",
    "Bytes appended to the log since the last snapshot started.",
    c.walBytesSinceSnapshot,
  );
  out.metric("cyberdb_fsync_duration_seconds", "histogram", "Seconds each fsync of the write-ahead log took.");
  histogram(out, "cyberdb_fsync_duration_seconds", {}, FSYNC_BUCKETS, c.fsync.buckets, c.fsync.seconds);
  out.metric("cyberdb_snapshots_total", "counter", "Snapshots written since the database opened, by outcome.");
  out.sample("cyberdb_snapshots_total", { outcome: "ok" }, c.snapshots.written);
  out.sample("cyberdb_snapshots_total", { outcome: "error" }, c.snapshots.failed);
  if (c.snapshot !== null) {
    out.simple(
      "cyberdb_snapshot_age_seconds",
      "gauge",
      "Seconds since the newest snapshot was completed (or loaded at open).",
      Math.max(0, (Date.now() - c.snapshot.at) / 1000),
    );
    out.simple("cyberdb_snapshot_lsn", "gauge", "The LSN the newest snapshot holds everything up to.", c.snapshot.lsn);
    out.simple("cyberdb_snapshot_bytes", "gauge", "The size of the newest snapshot in bytes.", c.snapshot.bytes);
    if (c.snapshot.durationMs !== null) {
      out.simple(
        "cyberdb_snapshot_duration_seconds",
        "gauge",
        "Seconds the last snapshot written took.",
        c.snapshot.durationMs / 1000,
      );
    }
  }
  out.simple(
    "cyberdb_recovery_seconds",
    "gauge",
    "Seconds opening the database took (snapshot load and log replay).",
    c.recovery.ms / 1000,
  );
  out.simple(
    "cyberdb_recovery_records",
    "gauge",
    "Snapshot items and log records loaded when the database opened.",
    c.recovery.snapshotItems + c.recovery.logRecords,
  );
}

/** Writes a histogram's `_bucket` (cumulative, `+Inf` last), `_sum` and `_count` samples. */
function histogram(
  out: Lines,
  name: string,
  labels: Record<string, string>,
  bounds: readonly number[],
  counts: ArrayLike<number>,
  sum: number,
): void {
  let cumulative = 0;
  for (let b = 0; b <= bounds.length; b++) {
    cumulative += counts[b];
    out.sample(`${name}_bucket`, { ...labels, le: b < bounds.length ? String(bounds[b]) : "+Inf" }, cumulative);
  }
  out.sample(`${name}_sum`, labels, sum);
  out.sample(`${name}_count`, labels, cumulative);
}

/** A label value escaped as the text format wants (backslash, double quote, newline). */
function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** A sample value: integers as they are, floats in full, non-finite ones as the format spells them. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** The lines of an exposition, built up in order. */
class Lines {
  #lines: string[] = [];

  metric(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Record<string, string>, value: number): void {
    const keys = Object.keys(labels);
    const l = keys.length === 0 ? "" : `{${keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",")}}`;
    this.#lines.push(`${name}${l} ${formatValue(value)}`);
  }

  simple(name: string, type: "counter" | "gauge", help: string, value: number): void {
    this.metric(name, type, help);
    this.sample(name, {}, value);
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}

/** Longest piece of a value or message in a `--verbose` line. */
const VERBOSE_VALUE = 120;
const VERBOSE_MESSAGE = 300;
/** Arguments of an op shown in a `--verbose` line. */
const VERBOSE_ARGS = 4;

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 3) + "..." : s;
}

/**
 * Counts every answered request into {@linkcode Metrics} and, with
 * `verbose`, writes one line per connection, refused password and failed
 * op (values and messages cut short).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Monitor, now } from "./metrics.ts";
 * const lines: string[] = [];
 * const monitor = new Monitor({ verbose: (line) => lines.push(line) });
 * const t0 = now();
 * monitor.op(monitor.metrics.slot("dict.get"), ["users", "x".repeat(10_000)], t0, { code: "NOT_FOUND", message: "No dict" },
 *   { transport: "ws", peer: "127.0.0.1" });
 * assert.equal(lines.length, 1);
 * assert.ok(lines[0].length < 600); // the value is cut short
 * assert.match(lines[0], /dict\.get\("users", "xxx.*\) failed with NOT_FOUND: No dict/);
 * ```
 */
export class Monitor {
  /** The counters behind `/metrics`. */
  readonly metrics: Metrics = new Metrics();
  readonly #verbose: ((line: string) => void) | null;

  /** `verbose` receives the `--verbose` lines; without it only the counters run. */
  constructor(options: { verbose?: (line: string) => void } = {}) {
    this.#verbose = options.verbose ?? null;
  }

  /** Whether `--verbose` lines are written. */
  get verbose(): boolean {
    return this.#verbose !== null;
  }

  /** One answered request of op `slot`, started at `t0` (see {@linkcode now}); `error` when it failed. */
  op(slot: number, args: unknown, t0: number, error: WireError | null, source?: Source): void {
    this.metrics.observe(slot, (now() - t0) / 1000, error === null ? null : error.code);
    if (error !== null && this.#verbose !== null) {
      const where = source === undefined ? "" : ` ${source.transport} ${source.peer}`;
      this.#verbose(
        `cyberdb:${where} ${this.#name(slot, args)} failed with ${error.code}: ${clip(error.message, VERBOSE_MESSAGE)}`,
      );
    }
  }

  #name(slot: number, args: unknown): string {
    const label = this.metrics.label(slot);
    if (!Array.isArray(args)) return args === undefined ? label : `${label} ${quote(args, VERBOSE_VALUE)}`;
    // Each argument quoted short, at most a few of them: a line never grows with the request.
    const shown = args.slice(0, VERBOSE_ARGS).map((a) => quote(a)).join(", ");
    return `${label}(${shown}${args.length > VERBOSE_ARGS ? `, … ${args.length - VERBOSE_ARGS} more` : ""})`;
  }

  /** A connection opened or closed (`--verbose` only; the gauges are read from the transports). */
  connection(transport: Transport, peer: string, event: string): void {
    if (transport !== "http" && event === "opened") this.metrics.opened[transport]++;
    this.#verbose?.(`cyberdb: ${transport} ${peer} ${clip(event, VERBOSE_MESSAGE)}`);
  }

  /** A password was refused. */
  authFailed(peer: string, message: string): void {
    this.metrics.authFailures++;
    this.#verbose?.(`cyberdb: auth refused for ${peer}: ${clip(message, VERBOSE_MESSAGE)}`);
  }
}
