/**
 * The options of a durable database and the seam between the public API
 * (`src/api/`) and durability (this layer): `Database.open` hands
 * {@linkcode DatabaseOptions} down and gets a {@linkcode Persistence} back.
 * Defined here, below both, so neither imports the other's module.
 *
 * @module
 */

import type { Scheduler } from "../storage/scheduler.ts";
import type { Storage } from "../storage/types.ts";
import type { LogEntry } from "../core/engine.ts";

import type { SyncMode } from "../log/writer.ts";

export type { SyncMode };

/** A sink for progress lines (recovery, snapshots, repairs). */
export type Logger = (line: string) => void;

/** Options of {@linkcode Database.open} and `Table.open`. */
export interface DatabaseOptions {
  /** The directory to persist to; without it (and without `storage`) the database lives in memory only. */
  dir?: string;
  /**
   * `"interval"` (default): the log is written at the end of each task and
   * fsynced every `flushInterval` ms — at most that much acknowledged work
   * is lost in a crash. `"always"`: `flush()` resolves once every write
   * before it is fsynced, and writes are group-committed at the end of each
   * task. `"manual"`: nothing is written until `flush()`.
   */
  sync?: SyncMode;
  /** Milliseconds between fsyncs in `"interval"` mode (default 1000). */
  flushInterval?: number;
  /** Milliseconds between automatic snapshots (default 900 000; 0 disables). */
  snapshotInterval?: number;
  /**
   * Write-ahead-log bytes after which a snapshot is taken (default 64 MiB).
   * A recovery that replayed log records also snapshots, in the background,
   * so the next open does not replay them again. 0 disables both.
   */
  snapshotWalBytes?: number;
  /** Log segments rotate once they would grow past this many bytes (default 64 MiB). */
  segmentBytes?: number;
  /**
   * Bytes of zeros the log keeps written ahead of its end, so that an fsync
   * overwrites allocated blocks instead of growing the file (default 1 MiB;
   * 0: plain appends). On ext4 that makes each fsync ~35% cheaper, for one
   * extra MiB written per MiB of log. Used by the file-system storages
   * (Node, Bun, Deno, OPFS), which skip it by themselves where it gains
   * nothing (tmpfs, btrfs, ZFS, …, told by `statfs`). See docs/durability.md.
   */
  preallocate?: number;
  /** The storage adapter; by default the one for this runtime (memory in browsers). */
  storage?: Storage;
  /** Cut the log at the first damaged record instead of failing with `CorruptionError`. */
  repair?: boolean;
  /**
   * The time source of expiry, in ms since the epoch (default `Date.now`):
   * pass a function of your own to test expiry without sleeping.
   */
  clock?: () => number;
  /** Receives one line per recovery/snapshot phase; quiet by default. */
  logger?: Logger;
  /**
   * Told how far opening a durable database has come: once when each phase
   * starts (`"snapshot"`, then `"log"`), about once a second while it runs,
   * and once at the end (`"done"`). With it, recovery also yields to the
   * event loop about every 50 ms (a few percent slower), so that a server
   * or a progress display in the same process runs meanwhile (a server
   * answers `LOADING`). Nothing is printed by the database itself: print
   * from here. A memory-only database does not call it.
   *
   * @example
   * ```ts
   * import { Database } from "@cyberdb/core";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const db = await Database.open({
   *   dir: "data",
   *   storage: new MemoryStorage(),
   *   onProgress: (p) => {
   *     const mb = (p.bytes / 1e6).toFixed(1);
   *     if (p.phase === "done") console.error(`loaded ${p.records} records (${mb} MB) in ${p.elapsedMs} ms`);
   *     else console.error(`loading ${p.phase}: ${p.records} records, ${mb} of ${(p.totalBytes / 1e6).toFixed(1)} MB`);
   *   },
   * });
   * await db.close();
   * ```
   */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * The clock and timers of the background work — the interval fsync, the
   * snapshot interval, the retry backoff after a disk failure (default: the
   * runtime's, never keeping an idle process alive). Pass a virtual one to
   * drive that work from a test, deterministically and without waiting.
   */
  scheduler?: Scheduler;
  /**
   * How many recent commits the change feed keeps in memory, so that a
   * watch can resume after an LSN without reading the log (default: the
   * last 10 000 commits, at most about 64 MiB of them). Older ones come
   * from the log on disk, when there is one.
   */
  watchBuffer?: WatchBuffer;
}

/** How far opening a durable database has come (see {@linkcode DatabaseOptions.onProgress}). */
export interface LoadProgress {
  /** `"snapshot"`: loading the newest snapshot; `"log"`: replaying the log after it; `"done"`: open. */
  phase: "snapshot" | "log" | "done";
  /**
   * Records loaded so far in this phase: items (dict entries, list
   * elements, table rows) of the snapshot, log records replayed; at `"done"`
   * both together.
   */
  records: number;
  /** Bytes read so far in this phase (at `"done"`: snapshot and log together). */
  bytes: number;
  /** Bytes this phase reads in all (the snapshot's size; the log's segments after it). */
  totalBytes: number;
  /** Milliseconds since opening started. */
  elapsedMs: number;
  /** Milliseconds since this phase started (at `"done"`: since opening started). */
  phaseMs: number;
  /** Items the snapshot held (known once its phase ended; 0 before, and without a snapshot). */
  snapshotItems: number;
  /** Log records replayed (0 until the log phase). */
  logRecords: number;
}

/**
 * What a durable database counts about itself, read by `db.stats()` and the
 * server's `/metrics`: live counters, never reset while the database is open.
 */
export interface DurabilityCounters {
  /** Bytes appended to the log since the database was opened. */
  walBytes: number;
  /** Bytes appended to the log since the last snapshot started (what `snapshotWalBytes` compares). */
  walBytesSinceSnapshot: number;
  /** fsyncs of the log: how many, their total seconds, and a histogram over {@linkcode FSYNC_BUCKETS}. */
  fsync: { count: number; seconds: number; buckets: number[] };
  /** The newest snapshot: written by this process, or loaded when it opened; `null` when there is none. */
  snapshot: SnapshotFacts | null;
  /** Snapshots written since open, and how many of them failed. */
  snapshots: { written: number; failed: number };
  /** What opening found and took. */
  recovery: RecoveryFacts;
}

/**
 * The upper bounds (seconds) of a latency histogram's buckets: the 1, 2.5, 5 series from `lo` up to `hi`, so every
 * latency histogram (fsyncs here, ops in the server's metrics) has one shape and Prometheus can line them up.
 *
 * @example The buckets from 1 ms to 10 ms
 * ```ts
 * import { latencyBuckets } from "./options.ts";
 * console.assert(latencyBuckets(0.001, 0.01).join() === "0.001,0.0025,0.005,0.01");
 * ```
 */
export function latencyBuckets(lo: number, hi: number): readonly number[] {
  const out: number[] = [];
  for (let exp = Math.round(Math.log10(lo)); out.length < 64; exp++) {
    for (const mantissa of [1, 2.5, 5]) {
      // toPrecision drops the binary noise of 2.5 * 10^-4 and friends, so the labels read 0.00025.
      const bound = Number((mantissa * 10 ** exp).toPrecision(3));
      if (bound > hi) return out;
      if (bound >= lo) out.push(bound);
    }
  }
  return out;
}

/** The upper bounds (seconds) of the fsync histogram's buckets; the last bucket is everything above. */
export const FSYNC_BUCKETS: readonly number[] = latencyBuckets(0.0001, 10);

/** One snapshot, as the stats tell it. */
export interface SnapshotFacts {
  /** The LSN it holds everything up to. */
  lsn: number;
  /** When it was completed (ms since the epoch); for one loaded at open, when the open loaded it. */
  at: number;
  /** How long writing it took, in ms (`null` for one loaded at open). */
  durationMs: number | null;
  /** Its size in bytes. */
  bytes: number;
  /** Whether this process wrote it (`false`: found on disk at open). */
  written: boolean;
}

/** What opening a durable database found and took. */
export interface RecoveryFacts {
  /** Milliseconds from the start of the open to ready. */
  ms: number;
  /** Items loaded from the snapshot. */
  snapshotItems: number;
  /** Log records replayed after it. */
  logRecords: number;
  /** Bytes read: the snapshot and the log together. */
  bytes: number;
}

/** The limits of the ring of recent commits the change feed keeps (`watchBuffer`). */
export interface WatchBuffer {
  /** At most this many commits (default 10 000). */
  commits?: number;
  /** At most about this many bytes of entries (default 64 MiB). */
  bytes?: number;
}

/**
 * What a durable database needs from its persistence layer
 * (`persistence.ts`), kept as an interface so that the public API does no
 * I/O itself and loads this layer only when a database has a directory.
 */
export interface Persistence {
  /** Resolves once every write logged so far is durable. */
  flush(): Promise<void>;
  /** Writes a snapshot now and drops the log segments it covers. */
  snapshot(): Promise<void>;
  /** Flushes, snapshots, releases the lock. */
  close(): Promise<void>;
  /** Whether writes were logged that are not yet durable. */
  readonly unsynced: boolean;
  /** The LSN up to which every write is on disk. */
  readonly durableLsn: number;
  /** What the database counts about its durability (a live object). */
  readonly counters: DurabilityCounters;
  /** The kind of the storage it writes to (`Storage.kind`). */
  readonly storageKind: string;
  /** The id of the directory's history of LSNs, kept in `<dir>/HISTORY` while it surely continues (see `durable/history.ts`). */
  readonly historyId: string;
  /**
   * Whether {@linkcode releaseHistory} is done: watches that are not
   * `durable` may then see commits before their fsync.
   */
  readonly historyReleased: boolean;
  /**
   * Removes the history file durably (once per open; see
   * `durable/history.ts`): called before the first watch that is not
   * `durable` may see a commit that is not on disk, since a crash could
   * then lose it and the LSNs after the restart would name other writes.
   * A clean close writes the file back.
   */
  releaseHistory(): Promise<void>;
  /** Attaches (or, with `null`, detaches) the change feed's hooks. */
  setFeedHooks(hooks: FeedHooks | null): void;
  /**
   * Reads the committed records after `afterLsn` and up to `untilLsn` back
   * from the log on disk, in order (what the change feed resumes from when
   * its memory no longer holds them). Resolves to the last LSN read, or
   * `null` when the log holds none of them; rejects when the log cannot be
   * read there (its segments were removed since, or are damaged).
   */
  readLog(
    afterLsn: number,
    untilLsn: number,
    onRecord: (lsn: number, entries: LogEntry[]) => void,
  ): Promise<number | null>;
}

/** What durability tells the change feed. */
export interface FeedHooks {
  /** Every write up to `lsn` is on disk now. */
  durable(lsn: number): void;
  /**
   * Memory was rolled back to `lsn` (`sync: "always"`, after a failed
   * fsync): the writes after it never happened, and their LSNs will be
   * taken again by new writes.
   */
  rewound(lsn: number): void;
}
