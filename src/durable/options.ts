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
