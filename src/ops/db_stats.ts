/**
 * `db.stats`: what a database can tell about itself, Redis's `INFO` — the
 * same answer embedded (`db.stats()`), remotely (`client.stats()`) and over
 * the wire (`{ op: "db.stats", args: [] }`). The engine's part (LSN,
 * collections, items, approximate sizes) is computed here; durability, the
 * change feed and uptime are facts the layers above hand in through
 * `engine.facts` (see {@linkcode StatsFacts}).
 *
 * @module
 */

import type { Engine, Kind, State } from "../core/engine.ts";
import { op } from "./types.ts";

/** What `db.stats()` tells about the collections of one kind. */
export interface KindStats {
  /** How many collections of this kind exist. */
  collections: number;
  /** Their entries (dicts), elements (lists) or rows (tables), expired keys not yet removed included. */
  items: number;
  /** About how many bytes their keys and values take encoded (sampled; see {@linkcode DatabaseStats.approxBytes}). */
  approxBytes: number;
}

/** The last snapshot, as `db.stats()` tells it. */
export interface SnapshotStats {
  /** The LSN it holds everything up to. */
  lsn: number;
  /** When it was completed, in ms since the epoch (for one found at open: when the open loaded it). */
  at: number;
  /** How long writing it took, in ms (`null`: found on disk at open). */
  durationMs: number | null;
  /** Its size in bytes. */
  bytes: number;
  /** Whether this process wrote it. */
  written: boolean;
}

/** What opening the database took, as `db.stats()` tells it. */
export interface RecoveryStats {
  /** Milliseconds from the start of the open until it was ready. */
  ms: number;
  /** Items loaded from the snapshot. */
  snapshotItems: number;
  /** Log records replayed after it. */
  logRecords: number;
  /** Bytes read: snapshot and log together. */
  bytes: number;
}

/**
 * The facts only the layers above the engine know (durability, the change
 * feed, uptime), handed to `db.stats` through `engine.facts`.
 */
export interface StatsFacts {
  /** The LSN up to which every write is on disk (memory-only: the last LSN). */
  durableLsn: number;
  /** The id of the history the LSNs belong to (`db.historyId`; `""` for a bare engine). */
  historyId: string;
  /** The sync mode the database was opened with. */
  sync: "always" | "interval" | "manual";
  /** The kind of storage (`"deno"`, `"node"`, `"memory"`, `"deno-kv"`, `"opfs"`, `"durable-object"`), or `null` in memory only. */
  storage: string | null;
  /** The write-ahead log: bytes appended since open and since the last snapshot; `null` in memory only. */
  wal: { bytes: number; bytesSinceSnapshot: number } | null;
  /** fsyncs of the log since open: how many, and their total seconds; `null` in memory only. */
  fsync: { count: number; seconds: number } | null;
  /** The newest snapshot (written, or found at open), or `null`. */
  snapshot: SnapshotStats | null;
  /** Snapshots written since open and how many failed; `null` in memory only. */
  snapshots: { written: number; failed: number } | null;
  /** What the open took; `null` in memory only. */
  recovery: RecoveryStats | null;
  /** When the database was opened, in ms since the epoch. */
  openedAt: number;
  /** Milliseconds since it was opened. */
  uptimeMs: number;
  /** Watches and subscriptions open on the change feed. */
  watchers: number;
  /** Why writes are refused right now (the disk refused the log), or `null`. */
  storageError: { code: string; message: string } | null;
}

/**
 * The answer of `db.stats()` / `client.stats()` / the `db.stats` op: plain
 * data (numbers, strings, `null`), the same shape everywhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, type DatabaseStats } from "@cyberdb/core";
 * const db = await Database.open();
 * db.createDict("d", { a: 1, b: 2 });
 * const s: DatabaseStats = db.stats();
 * assert.equal(s.kinds.dict.items, 2);
 * assert.equal(s.storage, null); // memory only
 * ```
 */
export interface DatabaseStats extends StatsFacts {
  /** The LSN of the last committed write. */
  lsn: number;
  /** How many collections exist. */
  collections: number;
  /** Entries, elements and rows of every collection. */
  items: number;
  /**
   * About how many bytes the data takes encoded (keys and values, sampled:
   * up to 32 items of each collection, scaled to its size). A guide to how
   * much RAM and snapshot space the data needs, not a measure of the
   * process's memory.
   */
  approxBytes: number;
  /** The same, by kind of collection. */
  kinds: { dict: KindStats; list: KindStats; table: KindStats };
}

/** The facts of a bare engine (no database around it): in memory, just opened. */
function bareFacts(e: Engine): StatsFacts {
  return {
    durableLsn: e.lsn,
    historyId: "",
    sync: "interval",
    storage: null,
    wal: null,
    fsync: null,
    snapshot: null,
    snapshots: null,
    recovery: null,
    openedAt: 0,
    uptimeMs: 0,
    watchers: 0,
    storageError: null,
  };
}

/** Items sampled across all collections at most; fewer per collection when there are many. */
const SAMPLE_BUDGET = 4096;
/** Items sampled per collection at most. */
const SAMPLE_MAX = 32;
/** Nesting levels and elements per level an estimate looks at; the rest is extrapolated. */
const DEPTH = 6;
const WIDTH = 64;

/**
 * About how many bytes `v` takes encoded (MessagePack-like): cheap, bounded
 * in depth and width, never exact.
 */
function approxSize(v: unknown, depth = 0): number {
  switch (typeof v) {
    case "string":
      return v.length + 2;
    case "number":
    case "bigint":
      return 9;
    case "boolean":
      return 1;
  }
  if (v === null || v === undefined) return 1;
  if (v instanceof Uint8Array) return v.byteLength + 5;
  if (v instanceof Date) return 10;
  if (depth >= DEPTH) return 16;
  if (Array.isArray(v)) {
    const n = Math.min(v.length, WIDTH);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += approxSize(v[i], depth + 1);
    return 5 + (n === 0 ? 0 : sum * v.length / n);
  }
  if (typeof v === "object") {
    let sum = 0;
    let n = 0;
    let total = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      total++;
      if (n >= WIDTH) continue;
      n++;
      sum += k.length + 2 + approxSize((v as Record<string, unknown>)[k], depth + 1);
    }
    return 5 + (n === 0 ? 0 : sum * total / n);
  }
  return 1;
}

/** About how many bytes one collection's items take, from `per` items spread over it. */
function collectionBytes(s: State, per: number): number {
  let sum = 0;
  let seen = 0;
  let size: number;
  if (s.kind === "dict") {
    size = s.store.size;
    // The first items in insertion order: cheap, and enough for an estimate.
    for (const [k, v] of s.store.scan(0, per).entries) {
      sum += approxSize(k) + approxSize(v) + 9;
      seen++;
    }
  } else if (s.kind === "list") {
    size = s.items.length;
    const step = Math.max(1, Math.floor(size / per));
    for (let i = 0; i < size && seen < per; i += step, seen++) sum += approxSize(s.items[i]);
  } else {
    size = s.store.size;
    const { live, length } = s.store;
    const step = Math.max(1, Math.floor(length / per));
    for (let i = 0; i < length && seen < per; i += step) {
      if (live[i] !== 1) continue;
      sum += approxSize(s.store.row(i)) + 9;
      seen++;
    }
  }
  return seen === 0 ? 0 : Math.round(sum * size / seen);
}

function itemsOf(s: State): number {
  return s.kind === "list" ? s.items.length : s.store.size;
}

/**
 * Computes the stats of `e` (the engine's part, plus `e.facts` when set).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../core/engine.ts";
 * import { execute } from "./mod.ts";
 * import { engineStats } from "./db_stats.ts";
 * const e = new Engine();
 * execute(e, "db.createList", ["l", [1, 2, 3]]);
 * assert.equal(engineStats(e).kinds.list.items, 3);
 * ```
 */
export function engineStats(e: Engine): DatabaseStats {
  const kinds: Record<Kind, KindStats> = {
    dict: { collections: 0, items: 0, approxBytes: 0 },
    list: { collections: 0, items: 0, approxBytes: 0 },
    table: { collections: 0, items: 0, approxBytes: 0 },
  };
  const per = Math.max(1, Math.min(SAMPLE_MAX, Math.floor(SAMPLE_BUDGET / Math.max(1, e.collections.size))));
  let items = 0;
  let approxBytes = 0;
  for (const s of e.collections.values()) {
    const k = kinds[s.kind];
    const n = itemsOf(s);
    const bytes = collectionBytes(s, per);
    k.collections++;
    k.items += n;
    k.approxBytes += bytes;
    items += n;
    approxBytes += bytes;
  }
  const facts = e.facts === null ? bareFacts(e) : e.facts() as unknown as StatsFacts;
  return { lsn: e.lsn, collections: e.collections.size, items, approxBytes, kinds, ...facts };
}

/** `db.stats()`: what Redis INFO tells — LSN, collections and items by kind, approximate bytes, sync mode, storage, WAL and snapshot facts (see {@linkcode DatabaseStats}). */
export const dbStats = op<Engine>("db.stats", {
  run: (e) => engineStats(e),
});
