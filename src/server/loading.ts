/**
 * Words for a database that is still loading: the server's progress lines
 * on stderr, and the `LOADING` error every request gets meanwhile (as Redis
 * answers `-LOADING Redis is loading the dataset in memory`).
 *
 * @module
 */

import type { LoadProgress } from "../api/database.ts";
import { LoadingError } from "../errors.ts";

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** `1,234,567`: counts people read at a glance. */
function count(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Read rate in MB/s over the phase so far (at `"done"`, over the whole open). */
function rate(p: LoadProgress): string {
  return p.phaseMs <= 0 ? "-" : (p.bytes / 1e6 / (p.phaseMs / 1000)).toFixed(1);
}

/** How far a phase has come, e.g. `log: 120,000 records, 41.2 of 76.0 MB (54%)`. */
function where(p: LoadProgress): string {
  const noun = p.phase === "snapshot" ? "items" : "records";
  const of = p.totalBytes > 0 ? ` of ${mb(p.totalBytes)} MB (${Math.floor(100 * p.bytes / p.totalBytes)}%)` : " MB";
  return `${p.phase}: ${count(p.records)} ${noun}, ${mb(p.bytes)}${of}`;
}

/**
 * One line for the server's log (stderr): how far loading has come, or —
 * at `"done"` — what it loaded and how long it took.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressLine } from "./loading.ts";
 * const p = { phase: "log" as const, records: 120_000, bytes: 41_200_000, totalBytes: 76_000_000, elapsedMs: 5_000,
 *   phaseMs: 5_000, snapshotItems: 0, logRecords: 120_000 };
 * assert.equal(progressLine(p), "cyberdb: loading log: 120,000 records, 41.2 of 76.0 MB (54%), 8.2 MB/s, 5.0 s");
 * ```
 */
export function progressLine(p: LoadProgress): string {
  if (p.phase === "done") {
    return `cyberdb: loaded ${count(p.snapshotItems)} snapshot items and ${count(p.logRecords)} log records ` +
      `(${mb(p.bytes)} MB, ${rate(p)} MB/s) in ${seconds(p.elapsedMs)} s`;
  }
  return `cyberdb: loading ${where(p)}, ${rate(p)} MB/s, ${seconds(p.elapsedMs)} s`;
}

/**
 * The `LOADING` error a request gets while the database loads: how far it
 * is, and to retry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadingError } from "./loading.ts";
 * const e = loadingError(null);
 * assert.equal(e.code, "LOADING");
 * assert.match(e.message, /retry/);
 * ```
 */
export function loadingError(p: LoadProgress | null): LoadingError {
  const far = p === null || p.phase === "done" ? "" : ` (${where(p)} after ${seconds(p.elapsedMs)} s)`;
  return new LoadingError(
    `The server is still loading its data${far}: retry in a moment; GET /health answers 200 once it is ready`,
  );
}
