/**
 * Durability for a Database: lock the directory, recover (newest valid
 * snapshot, then the log replayed through the operation table), then log
 * every committed write and take snapshots on a timer, by log size and on
 * close.
 *
 * ```
 *  <dir>/LOCK                          held while open
 *  <dir>/HISTORY                       the history id (see history.ts)
 *  <dir>/wal/<20-digit first LSN>.wal  log segments
 *  <dir>/snapshots/<20-digit LSN>.snap the newest snapshot and the one before it
 * ```
 *
 * Two snapshot generations are kept, and the log back to the older one, so
 * that a damaged newest snapshot can be replaced by the previous one plus
 * the log (Redis keeps one RDB; we keep the fallback).
 *
 * ## When the disk refuses the log
 *
 * A failed write or fsync (disk full, read-only, I/O error) stops the log
 * writer; the database then refuses every write up front with that
 * `StorageError` (`engine.storageError`, `db.storageError`), before the write
 * changes anything, and keeps serving reads — Redis's MISCONF stance, never
 * PostgreSQL's PANIC, because memory holds everything and a restart would
 * only lose time. In the background it retries (100 ms, doubling to 5 s)
 * until the disk takes the log again, then accepts writes:
 *
 * - `"interval"` and `"manual"` acknowledged the writes when they were
 *   applied: they stay in memory and in the writer's buffer, and the retry
 *   cuts the failed segment back to its last fsynced size and writes them
 *   again. Nothing acknowledged is lost; `flush()` rejects meanwhile.
 * - `"always"` told the writers of the failed batch that it failed (their
 *   `flush()` rejected): those writes must never appear. Memory is rolled
 *   back to the durable state — rebuilt from the snapshot and the log up to
 *   the last fsynced LSN and moved into the same collection objects, so
 *   handles keep working — and the writer discards them.
 *
 * Files removed under the running database are checked for once per fsync,
 * before anything is acknowledged (two `stat`s): the open segment must still
 * be the file at its path, and LOCK must still be ours. A removed log is
 * re-based: a snapshot of memory (which holds every write) makes everything
 * durable again, a new segment starts, and the held acknowledgements go out
 * — rather than refusing writes until a restart that would find no log. A
 * removed or replaced LOCK means another process may own the directory now:
 * every write is refused until this database is closed and reopened.
 *
 * `close()` with the log stopped tries once more; if acknowledged writes
 * still cannot be written it rejects with a `StorageError` saying how many
 * are lost (a server exits 1), otherwise it closes cleanly. The lock is
 * always released.
 *
 * @module
 */

import { decodeRecordRange, encode } from "../wire/codec.ts";
import { encodeOpRecordInto, releaseInto } from "../wire/fast_encode.ts";
import { CorruptionError, CyberDBError, StorageError } from "../errors.ts";
import {
  type DatabaseOptions,
  type DurabilityCounters,
  type FeedHooks,
  FSYNC_BUCKETS,
  type LoadProgress,
  type Persistence,
} from "./options.ts";
import { Engine, type LogEntry, type State } from "../core/engine.ts";
import { execute, executeAtomic, type Op, OPS } from "../ops/mod.ts";
import {
  type Capture,
  capture,
  install,
  type LoadedSnapshot,
  readSnapshot,
  restore,
  snapshotLsn,
  writeSnapshot,
} from "../snapshot/snapshot.ts";
import { defaultStorage } from "../storage/default.ts";
import { joinPath } from "../storage/paths.ts";
import { type Scheduler, systemScheduler } from "../storage/scheduler.ts";
import type { Storage, StorageLock } from "../storage/types.ts";
import type { WalCodec, WalRecord } from "../log/codec.ts";
import { readWal } from "../log/reader.ts";
import { recoverWal } from "../log/recover.ts";
import type { WalFailureKind, WalWriter } from "../log/writer.ts";
import { HISTORY_FILE, newHistoryId, readHistoryId, removeHistoryId, saveHistoryId } from "./history.ts";

/** The WAL codec over the project's codec, so log values round-trip like every other. */
const codec: WalCodec = { encode, decode: decodeRecordRange, encodeOpInto: encodeOpRecordInto, release: releaseInto };

const DEFAULT_SNAPSHOT_INTERVAL = 900_000;
const DEFAULT_SNAPSHOT_WAL_BYTES = 64 * 1024 * 1024;
/** Retry delays after a storage failure: the first, doubling up to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}

function ms(t0: number): string {
  return `${(now() - t0).toFixed(0)} ms`;
}

/**
 * With `onProgress`, recovery yields to the event loop after about this much
 * work, so a server (or a progress display) in the process runs meanwhile.
 * A timer costs up to 4 ms (nested timers are clamped): about 8% at most.
 */
const YIELD_MS = 50;
/** Progress is told about this often while a phase runs. */
const PROGRESS_MS = 1000;

/**
 * One turn of the event loop with I/O served in between: a timer.
 * (`setImmediate` and `MessageChannel` are cheaper, but Deno runs them
 * without polling I/O, so a server would not answer.) Never the database's
 * Scheduler: a virtual one would never fire.
 */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Follows an open through its phases: tells `onProgress` when a phase
 * starts, about once a second while it runs and at the end, and makes the
 * readers yield to the event loop every {@linkcode YIELD_MS} — only when
 * someone follows (`onProgress`), so a plain open runs at full speed.
 */
class LoadTracker {
  readonly #t0 = now();
  readonly #report: ((p: LoadProgress) => void) | undefined;
  #told = now();
  #yielded = now();
  #phaseStart = now();
  snapshotItems = 0;
  snapshotBytes = 0;
  logRecords = 0;
  logBytes = 0;

  constructor(report: ((p: LoadProgress) => void) | undefined) {
    this.#report = report;
  }

  /** Milliseconds since the open started. */
  get elapsed(): number {
    return now() - this.#t0;
  }

  /** A phase starts. */
  start(phase: "snapshot" | "log", totalBytes: number): undefined {
    this.#phaseStart = now();
    this.#tell(phase, 0, 0, totalBytes);
    return undefined;
  }

  /** Work was done; resolves after a turn of the event loop when it is time for one (only with `onProgress`). */
  step(phase: "snapshot" | "log", records: number, bytes: number, totalBytes: number): Promise<void> | undefined {
    if (this.#report === undefined) return undefined;
    const t = now();
    if (t - this.#told >= PROGRESS_MS) this.#tell(phase, records, bytes, totalBytes);
    if (t - this.#yielded < YIELD_MS) return undefined;
    return turn().then(() => void (this.#yielded = now()));
  }

  /** The open is done. */
  done(): void {
    const bytes = this.snapshotBytes + this.logBytes;
    this.#phaseStart = this.#t0;
    this.#tell("done", this.snapshotItems + this.logRecords, bytes, bytes);
  }

  #tell(phase: LoadProgress["phase"], records: number, bytes: number, totalBytes: number): void {
    this.#told = now();
    if (this.#report === undefined) return;
    const progress: LoadProgress = {
      phase,
      records,
      bytes,
      totalBytes,
      elapsedMs: Math.round(this.elapsed),
      phaseMs: Math.round(now() - this.#phaseStart),
      snapshotItems: this.snapshotItems,
      logRecords: phase === "log" ? records : this.logRecords,
    };
    // A callback that throws must not fail the open.
    try {
      this.#report(progress);
    } catch { /* the caller's own affair */ }
  }
}

function emptyCounters(): DurabilityCounters {
  return {
    walBytes: 0,
    walBytesSinceSnapshot: 0,
    fsync: { count: 0, seconds: 0, buckets: new Array(FSYNC_BUCKETS.length + 1).fill(0) },
    snapshot: null,
    snapshots: { written: 0, failed: 0 },
    recovery: { ms: 0, snapshotItems: 0, logRecords: 0, bytes: 0 },
  };
}

/** Counts one fsync of `seconds` into the histogram. */
function countFsync(c: DurabilityCounters, seconds: number): void {
  const f = c.fsync;
  f.count++;
  f.seconds += seconds;
  let i = 0;
  while (i < FSYNC_BUCKETS.length && seconds > FSYNC_BUCKETS[i]) i++;
  f.buckets[i]++;
}

/**
 * Opens (or creates) the durable state of a database in `options.dir` and
 * wires `engine` to it. On failure nothing stays locked.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { openPersistence } from "./persistence.ts";
 * const p = await openPersistence(new Engine(), { storage: new MemoryStorage(), dir: "db" });
 * await p.close();
 * ```
 */
export async function openPersistence(engine: Engine, options: DatabaseOptions): Promise<Persistence> {
  // With a dir and no storage, a durable store or a clear error: never memory that looks durable.
  const storage = options.storage ?? await defaultStorage({ dir: options.dir });
  const dir = options.dir ?? "cyberdb";
  const log = options.logger ?? (() => {});
  // One scheduler for every timer of this database: the writer's and ours.
  const scheduler = options.scheduler ?? systemScheduler((timer) => storage.unrefTimer?.(timer));
  await storage.mkdir(dir);
  const lock = await storage.lock(joinPath(dir, "LOCK"));
  let kept: string | null;
  try {
    kept = await readHistoryId(storage, dir, log);
  } catch (e) {
    await lock.release();
    throw e;
  }
  // While recovering nothing counts as expired: the log holds every removal.
  engine.replaying = true;
  try {
    const t0 = now();
    const tracker = new LoadTracker(options.onProgress);
    // Told at once, so that a server has progress to show from the start.
    tracker.start("snapshot", 0);
    const counters = emptyCounters();
    const base = await loadSnapshot(engine, storage, dir, log, undefined, tracker);
    const afterLsn = base.snapshot?.lsn ?? 0;
    if (base.snapshot !== null) {
      counters.snapshot = { lsn: afterLsn, at: Date.now(), durationMs: null, bytes: base.bytes, written: false };
    }
    engine.lsn = afterLsn;
    let replayed = 0;
    const replayer = new Replayer(engine);
    // The writer exists before the Durable that handles its failures; none can happen before.
    let durable: Durable | null = null;
    const wal = await recoverWal(storage, dir, {
      afterLsn,
      repair: options.repair,
      codec,
      onRecord: (record) => {
        replayer.apply(record);
        replayed++;
      },
      onProgress: (p) => {
        tracker.logRecords = p.records;
        tracker.logBytes = p.bytes;
        // The reader's first call, before any record, starts the phase.
        if (p.records === 0 && p.bytes === 0) return tracker.start("log", p.totalBytes);
        return tracker.step("log", p.records, p.bytes, p.totalBytes);
      },
      onFsync: (seconds) => countFsync(counters, seconds),
      logger: (line) => log(`cyberdb: ${line}`),
      sync: options.sync ?? "interval",
      flushInterval: options.flushInterval ?? 1000,
      segmentBytes: options.segmentBytes,
      preallocate: options.preallocate,
      onError: (e, kind) => durable?.walFailed(e, kind),
      // "always" rolls memory back before telling the writers of a failed batch.
      holdWaiters: options.sync === "always",
      verify: () => durable?.verifyLock() ?? Promise.resolve(null),
      scheduler,
      onSynced: (lsn) => durable?.synced(lsn),
    }).catch((e) => {
      // Without a usable snapshot the log had to start at LSN 1; say why it cannot.
      if (base.damaged !== null && e instanceof CorruptionError) {
        throw new CorruptionError(`${base.damaged.message}; and the log cannot replace it: ${e.message}`, {
          file: base.damaged.file,
          offset: base.damaged.offset,
          cause: e,
        });
      }
      throw e;
    });
    // Recovered without them: set damaged snapshots aside (never deleted, kept
    // for inspection) so that retention keeps the valid fallback instead.
    for (const name of base.names) {
      const snapDir = joinPath(dir, "snapshots");
      await storage.rename(joinPath(snapDir, name), joinPath(snapDir, `${name}.damaged`));
      await storage.syncDir(snapDir);
      log(`cyberdb: moved the damaged snapshot ${name} to ${name}.damaged`);
    }
    if (replayed > 0 || wal.segments.length > 0) {
      log(`cyberdb: replayed ${replayed} log records from ${wal.segments.length} segments; opened in ${ms(t0)}`);
    }
    engine.lsn = wal.nextLsn - 1;
    engine.replaying = false;
    counters.recovery = {
      ms: Math.round(tracker.elapsed),
      snapshotItems: tracker.snapshotItems,
      logRecords: replayed,
      bytes: tracker.snapshotBytes + tracker.logBytes,
    };
    tracker.logRecords = replayed;
    tracker.done();
    durable = new Durable(engine, storage, dir, lock, wal.writer, wal.nextLsn - 1, afterLsn, options, log, scheduler);
    durable.counters = counters;
    // A repair cuts records that were on disk, which a watcher may have seen:
    // the LSNs after them will name other writes. (A torn tail held only
    // records that never reached the disk, which only a watch that took the
    // history file away can have seen.)
    const repaired = wal.cut !== null && !wal.cut.torn;
    if (kept !== null && repaired) {
      log("cyberdb: the repair cut records a watcher may have seen: a new history (resuming watchers reset)");
    }
    if (kept !== null && !repaired) durable.historyId = kept;
    else {
      // A new history, on disk before anyone can see a commit of it.
      durable.historyId = newHistoryId();
      await saveHistoryId(storage, dir, durable.historyId);
    }
    // Replayed records are durable but only in the log: snapshot them now, in
    // the background, so that the next open (after a crash, too) loads them
    // instead of replaying the same log again (PostgreSQL's end-of-recovery
    // checkpoint). Captured before open returns, so the snapshot holds exactly
    // the recovered state in every sync mode. Like every snapshot by log
    // size, `snapshotWalBytes: 0` turns it off.
    if (replayed > 0 && (options.snapshotWalBytes ?? DEFAULT_SNAPSHOT_WAL_BYTES) > 0) durable.snapshotInBackground();
    return durable;
  } catch (e) {
    engine.setJournal(null);
    engine.replaying = false;
    await lock.release();
    throw e;
  }
}

/**
 * Loads the newest snapshot that checks out into `engine`, reporting damaged
 * ones. With `upTo`, only snapshots at or below that LSN count, and
 * leftover temp files are not touched (a running database rebuilding its
 * durable state, whose own snapshot may be in progress). With `upTo:
 * Infinity` it writes nothing at all: how `cyberdb check` and `dump` read a
 * directory exactly as open would, without changing it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../core/engine.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { loadSnapshot } from "./persistence.ts";
 * const base = await loadSnapshot(new Engine(), new MemoryStorage(), "db", console.log, Infinity);
 * assert.equal(base.snapshot, null); // no snapshot yet: the log alone rebuilds the state
 * ```
 */
export async function loadSnapshot(
  engine: Engine,
  storage: Storage,
  dir: string,
  log: (line: string) => void,
  upTo?: number,
  tracker?: LoadTracker,
): Promise<{ snapshot: LoadedSnapshot | null; damaged: CorruptionError | null; names: string[]; bytes: number }> {
  const t0 = now();
  const snapDir = joinPath(dir, "snapshots");
  const listed = await storage.list(snapDir);
  for (const name of listed) {
    // A crash during a snapshot leaves its temp file behind; it was never valid.
    if (upTo === undefined && name.endsWith(".snap.tmp")) await storage.remove(joinPath(snapDir, name));
  }
  const snaps = listed.filter((n) => {
    const lsn = snapshotLsn(n);
    return lsn !== null && (upTo === undefined || lsn <= upTo);
  }).sort().reverse();
  let damaged: CorruptionError | null = null;
  const names: string[] = [];
  for (const name of snaps) {
    try {
      const path = joinPath(snapDir, name);
      const bytes = tracker === undefined ? 0 : (await storage.size(path)) ?? 0;
      tracker?.start("snapshot", bytes);
      const snapshot = await readSnapshot(storage, path, `snapshots/${name}`, {
        onProgress: tracker && ((p) => tracker.step("snapshot", p.items, p.bytes, p.totalBytes)),
      });
      install(engine, snapshot);
      if (tracker !== undefined) {
        tracker.snapshotItems = snapshot.items;
        tracker.snapshotBytes = bytes;
      }
      log(
        `cyberdb: loaded snapshot ${name}: ${snapshot.collections.length} collections, ${snapshot.items} items, ${
          ms(t0)
        }`,
      );
      return { snapshot, damaged, names, bytes };
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      damaged ??= e;
      names.push(name);
      log(`cyberdb: ${e.message} — trying an older snapshot`);
    }
  }
  return { snapshot: null, damaged, names, bytes: 0 };
}

/**
 * Applies one log record through the operation table, as it was applied
 * before the crash; a record that cannot be applied is `CorruptionError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../core/engine.ts";
 * import { execute } from "../ops/mod.ts";
 * import { replay } from "./persistence.ts";
 * const engine = new Engine();
 * replay(engine, { lsn: 1, op: "db.createDict", args: ["d"] });
 * replay(engine, { lsn: 2, ops: [{ op: "dict.set", args: ["d", "k", 1] }] });
 * assert.equal(execute(engine, "dict.get", ["d", "k"]), 1);
 * assert.equal(engine.lsn, 2);
 * ```
 */
export function replay(engine: Engine, record: WalRecord): void {
  new Replayer(engine).apply(record);
}

/**
 * Replays a log in order, as {@linkcode replay} does record by record, but
 * looks the op up and resolves its collection once per run of records with
 * the same op and collection (a log is mostly such runs: a loop of
 * `dict.set` on one dict), instead of once per record as `execute` does.
 * The op itself runs as always, with its own checks. Database-level ops and
 * transactions (which may create or drop collections) take the general
 * path and forget what was resolved.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../core/engine.ts";
 * import { execute } from "../ops/mod.ts";
 * import { Replayer } from "./persistence.ts";
 * const engine = new Engine();
 * const replayer = new Replayer(engine);
 * replayer.apply({ lsn: 1, op: "db.createDict", args: ["d"] });
 * replayer.apply({ lsn: 2, op: "dict.set", args: ["d", "a", 1] });
 * replayer.apply({ lsn: 3, op: "dict.set", args: ["d", "b", 2] }); // "d" and dict.set already resolved
 * assert.equal(execute(engine, "dict.size", ["d"]), 2);
 * ```
 */
export class Replayer {
  readonly #engine: Engine;
  /** The op name last looked up, and its entry (`null`: not a collection op). */
  #name: string | null = null;
  #op: Op<unknown> | null = null;
  /** The collection name last resolved, and its state (`null`: none held). */
  #collection: unknown = undefined;
  #state: State | null = null;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** Applies one record; a record that cannot be applied is `CorruptionError`. */
  apply(record: WalRecord): void {
    const engine = this.#engine;
    // The record commits with its own LSN, so entries get back the versions they had.
    engine.lsn = record.lsn - 1;
    try {
      if (!("ops" in record) && this.#applyOne(record.op, record.args)) return;
      this.#state = null;
      if ("ops" in record) executeAtomic(engine, record.ops);
      else execute(engine, record.op, record.args);
    } catch (e) {
      this.#state = null;
      // Every logged write succeeded once; failing now means the files disagree.
      throw new CorruptionError(
        `Log record ${record.lsn} cannot be replayed (${e instanceof CyberDBError ? e.message : String(e)}): ` +
          "the log does not match the snapshot before it; open with { repair: true } only if you accept losing the records from there on",
        { cause: e },
      );
    }
  }

  /** Runs a collection op through what is resolved already; `false` leaves it to `execute`. */
  #applyOne(name: string, args: unknown[]): boolean {
    let op = this.#op;
    if (name !== this.#name) {
      const found = OPS.get(name);
      op = found !== undefined && found.kind !== "db" ? found : null;
      this.#name = name;
      this.#op = op;
    }
    if (op === null || !Array.isArray(args) || args.length < op.arity[0] || args.length > op.arity[1]) return false;
    let state = this.#state;
    if (state === null || args[0] !== this.#collection || state.kind !== op.kind || state.dropped) {
      state = this.#engine.resolve(args[0], op.kind as State["kind"]);
      this.#collection = args[0];
      this.#state = state;
    }
    op.run(this.#engine, state, args);
    return true;
  }
}

class Durable implements Persistence {
  #engine: Engine;
  #storage: Storage;
  #dir: string;
  #lock: StorageLock;
  #writer: WalWriter;
  #lsn: number;
  #snapshotLsn: number;
  #walBytes = 0;
  #walLimit: number;
  #log: (line: string) => void;
  #chain: Promise<void> = Promise.resolve();
  #snapshotting = false;
  #manual: boolean;
  #always: boolean;
  #due = false;
  #scheduler: Scheduler;
  #every: number; // the snapshot interval (0: none)
  #timer: unknown = null; // the snapshot interval's, from #scheduler
  #closing = false;
  // Recovery from a storage failure: the running retry loop, its pending
  // backoff (to cut short on close), and whether memory must first go back
  // to the durable state ("always").
  #recovery: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #rollbackDue = false;
  #feed: FeedHooks | null = null;
  /** What `db.stats()` and the server's metrics read (set by openPersistence). */
  counters: DurabilityCounters = emptyCounters();
  /** The directory's history id (set by openPersistence). */
  historyId = "";
  #historyReleased = false;
  #releasing: Promise<void> | null = null;

  constructor(
    engine: Engine,
    storage: Storage,
    dir: string,
    lock: StorageLock,
    writer: WalWriter,
    lsn: number,
    snapshotLsn: number,
    options: DatabaseOptions,
    log: (line: string) => void,
    scheduler: Scheduler,
  ) {
    this.#engine = engine;
    this.#storage = storage;
    this.#dir = dir;
    this.#lock = lock;
    this.#writer = writer;
    this.#lsn = lsn;
    // The LSN of the snapshot loaded, not the LSN recovered: records replayed
    // from the log past it are not in any snapshot yet.
    this.#snapshotLsn = snapshotLsn;
    this.#walLimit = options.snapshotWalBytes ?? DEFAULT_SNAPSHOT_WAL_BYTES;
    this.#log = log;
    engine.setJournal((lsn, entries) => this.#append(lsn, entries), (lsn, op, args) => this.#appendOp(lsn, op, args));
    this.#manual = options.sync === "manual";
    this.#always = options.sync === "always";
    this.#scheduler = scheduler;
    this.#every = options.snapshotInterval ?? DEFAULT_SNAPSHOT_INTERVAL;
    this.#armInterval();
  }

  /** Sets the snapshot interval's next timer, each one after the last ran (a one-shot chain). */
  #armInterval(): void {
    if (this.#every <= 0 || this.#closing) return;
    this.#timer = this.#scheduler.setTimeout(() => {
      this.#timer = null;
      if (this.#lsn > this.#snapshotLsn) this.#trigger();
      this.#armInterval();
    }, this.#every);
    // A timer must not keep a process alive that has nothing else to do.
    this.#scheduler.unref?.(this.#timer);
  }

  #append(lsn: number, entries: LogEntry[]): void {
    const bytes = entries.length === 1
      ? this.#writer.appendOp(lsn, entries[0].op, entries[0].args)
      : this.#writer.append({ lsn, ops: entries });
    this.#appended(lsn, bytes);
  }

  /** A single write: encoded straight into the writer's buffer. */
  #appendOp(lsn: number, op: string, args: unknown[]): void {
    this.#appended(lsn, this.#writer.appendOp(lsn, op, args));
  }

  #appended(lsn: number, bytes: number): void {
    this.#walBytes += bytes;
    this.counters.walBytes += bytes;
    this.counters.walBytesSinceSnapshot = this.#walBytes;
    this.#lsn = lsn;
    if (this.#walLimit > 0 && this.#walBytes >= this.#walLimit && !this.#snapshotting) this.#trigger();
  }

  /**
   * An automatic snapshot is due (by size or timer). In `"manual"` mode the
   * memory holds writes not yet flushed, which a snapshot now would make
   * durable behind the user's back: it waits for the next `flush()` and
   * captures exactly what that flush makes durable.
   */
  #trigger(): void {
    if (this.#manual) this.#due = true;
    else this.#background(null);
  }

  /** Snapshots the current state in the background (after a recovery that replayed records). */
  snapshotInBackground(): void {
    this.#background(this.#capture());
  }

  /**
   * Captures the state at the current LSN and starts a new log segment at
   * the next one, so that the segments before it hold only records this
   * snapshot covers: recovery skips them by name, and retention removes
   * them whole.
   */
  #capture(): Capture {
    const cap = capture(this.#engine, this.#lsn);
    this.#writer.rotate();
    return cap;
  }

  /** A snapshot nobody awaits: failures are logged, and the next one retries. */
  #background(cap: Capture | null): void {
    this.#snapshotting = true;
    this.#enqueue(() => this.#snapshot(cap)).catch((e) =>
      this.#log(`cyberdb: snapshot failed: ${e instanceof Error ? e.message : e}`)
    );
  }

  get unsynced(): boolean {
    return this.#writer.unsynced;
  }

  get durableLsn(): number {
    return this.#writer.syncedLsn;
  }

  get storageKind(): string {
    return this.#storage.kind;
  }

  setFeedHooks(hooks: FeedHooks | null): void {
    this.#feed = hooks;
  }

  /** The log is durable up to `lsn` (told by the writer after each fsync). */
  synced(lsn: number): void {
    try {
      this.#feed?.durable(lsn);
    } catch { /* the feed never breaks the log */ }
  }

  async readLog(
    afterLsn: number,
    untilLsn: number,
    onRecord: (lsn: number, entries: LogEntry[]) => void,
  ): Promise<number | null> {
    if (untilLsn <= afterLsn) return null;
    // Records still in the writer's buffer are not in the files yet: wait for
    // them (the next write, on the sync mode's schedule) — except in
    // "manual", whose records reach the disk only when the user flushes.
    if (untilLsn > this.#writer.syncedLsn && !this.#manual) await this.#writer.durable();
    let last: number | null = null;
    await readWal(this.#storage, this.#dir, {
      afterLsn,
      untilLsn,
      codec,
      onRecord: (record) => {
        last = record.lsn;
        onRecord(record.lsn, "ops" in record ? record.ops : [{ op: record.op, args: record.args }]);
      },
    });
    return last;
  }

  flush(): Promise<void> {
    // The common case: no promise layer of our own on the group-commit path.
    if (!this.#due) return this.#writer.flush();
    // Captured before the flush starts: the state the flush makes durable.
    const cap = this.#capture();
    this.#walBytes = this.counters.walBytesSinceSnapshot = 0;
    this.#due = false;
    return this.#writer.flush().then(() => this.#background(cap));
  }

  snapshot(): Promise<void> {
    return this.#enqueue(() => this.#snapshot(null));
  }

  /** Runs `task` after every snapshot (and rollback, rebase) queued before it. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(task);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #snapshot(pre: Capture | null, rebase = false): Promise<void> {
    this.#snapshotting = true;
    try {
      const t0 = now();
      // Synchronous: the captured state is exactly the state at this LSN.
      const cap = pre ?? this.#capture();
      if (pre === null) this.#walBytes = this.counters.walBytesSinceSnapshot = 0;
      // In "always" a snapshot must not make durable a write whose fsync then
      // fails: its writer is told so and it is rolled back. So wait for the
      // fsync that covers the capture (a removed log, rebased, has none).
      if (this.#always && !rebase) await this.#writer.flush();
      let written;
      try {
        written = await writeSnapshot(this.#storage, this.#dir, cap);
      } catch (e) {
        this.counters.snapshots.failed++;
        throw e;
      }
      const { path, bytes } = written;
      this.counters.snapshots.written++;
      this.counters.snapshot = {
        lsn: cap.lsn,
        at: Date.now(),
        durationMs: Math.round(now() - t0),
        bytes,
        written: true,
      };
      this.#snapshotLsn = Math.max(this.#snapshotLsn, cap.lsn);
      const snapDir = joinPath(this.#dir, "snapshots");
      const older = (await this.#storage.list(snapDir))
        .map((n) => snapshotLsn(n))
        .filter((l): l is number => l !== null && l < cap.lsn)
        .sort((a, b) => b - a);
      // Keep the previous snapshot and the log back to it: the fallback.
      for (const lsn of older.slice(1)) {
        await this.#storage.remove(joinPath(snapDir, `${String(lsn).padStart(20, "0")}.snap`));
      }
      if (older.length > 1) await this.#storage.syncDir(snapDir);
      if (rebase) this.#writer.rebased(cap.lsn);
      const removed = older.length > 0 ? await this.#writer.removeSegmentsUpTo(older[0]) : [];
      this.#log(
        `cyberdb: snapshot ${path} at LSN ${cap.lsn}: ${bytes} bytes in ${ms(t0)}` +
          (removed.length ? `, removed ${removed.length} covered log segments` : ""),
      );
    } finally {
      this.#snapshotting = false;
    }
    // The log may have grown past the limit while this snapshot was written.
    if (
      this.#walLimit > 0 && this.#walBytes >= this.#walLimit && this.#engine.closedReason === null &&
      this.#engine.storageError === null
    ) this.#trigger();
  }

  /**
   * The log writer stopped: refuse writes with its error from now on, and
   * start recovering in the background (unless the LOCK is lost: then no
   * write is ever safe again in this process).
   */
  walFailed(error: StorageError, kind: WalFailureKind): void {
    // Logged once per condition, not once per retry.
    if (this.#engine.storageError?.message !== error.message) this.#log(`cyberdb: ${error.message}`);
    this.#engine.storageError = error;
    if (kind === "lock") return;
    if (this.#closing) {
      // No recovery loop any more: nobody would release held waiters.
      this.#writer.rejectWaiters();
      return;
    }
    if (kind === "io" && this.#always && this.#writer.unsynced) this.#rollbackDue = true;
    if (this.#recovery === null) {
      this.#recovery = this.#recoverLoop().finally(() => (this.#recovery = null));
    }
  }

  /**
   * The LOCK check the writer runs before acknowledging: `null` while the
   * lock file is still the one this database created.
   */
  async verifyLock(): Promise<StorageError | null> {
    if (this.#lock.held === undefined || (await this.#lock.held())) return null;
    const path = joinPath(this.#dir, "LOCK");
    return new StorageError(
      `The lock file ${
        quotePath(path)
      } was removed or replaced while this database had it open, so another process may ` +
        `have opened the directory; writes are refused from now on — stop any other process using ${
          quotePath(this.#dir)
        }, ` +
        "then close this database and open it again",
    );
  }

  /** Retries until the log works again (or the database closes), with a bounded backoff. */
  async #recoverLoop(): Promise<void> {
    let delay = 0; // the first attempt at once: "always" must roll back without waiting
    while (!this.#closing) {
      if (delay > 0) await this.#pause(delay);
      if (this.#closing) return;
      const failure = this.#writer.failure;
      if (failure === null || failure.kind === "lock") return;
      try {
        await this.#recoverOnce(failure.kind);
        this.#engine.storageError = null;
        this.#log("cyberdb: the disk accepts the log again; writes are accepted");
        return;
      } catch (e) {
        const now = this.#writer.failure?.error ?? asStorageError(e);
        if (now.message !== this.#engine.storageError?.message) this.#log(`cyberdb: ${now.message}`);
        this.#engine.storageError = now;
      }
      delay = delay === 0 ? RETRY_FIRST_MS : Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /** Sleeps `ms` on an unref'd timer; close() cuts it short. */
  #pause(ms: number): Promise<void> {
    const scheduler = this.#scheduler;
    return new Promise((resolve) => {
      const timer = scheduler.setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      scheduler.unref?.(timer);
      this.#wake = () => {
        scheduler.clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  /** One attempt to get the log working again; rejects while the disk still refuses. */
  async #recoverOnce(kind: WalFailureKind): Promise<void> {
    if (kind === "removed") {
      // Memory holds every write: a snapshot of it replaces the lost log.
      await this.#enqueue(() => this.#snapshot(capture(this.#engine, this.#lsn), true));
      return;
    }
    if (this.#rollbackDue) {
      // The failed batch's writers hear about it once their writes are gone
      // from memory — or, if the durable state cannot be read back yet, now.
      // Not queued behind snapshots: one may be waiting for the very fsync
      // that failed (in "always" a snapshot waits for it before writing, so it
      // can never write the state being rolled back).
      await this.#rollBack().finally(() => this.#writer.rejectWaiters());
      this.#rollbackDue = false;
    }
    this.#writer.rejectWaiters();
    await this.#writer.recover();
  }

  /**
   * `"always"`: memory holds writes whose writers were told they failed.
   * Rebuilds the durable state (the newest snapshot at or below the last
   * fsynced LSN, plus the log up to it) and moves it into the live
   * collection objects, then drops the undone records from the writer.
   */
  async #rollBack(): Promise<void> {
    const upTo = this.#writer.syncedLsn;
    const undone = (this.#writer.lastLsn ?? upTo) - upTo;
    if (undone <= 0) return;
    const scratch = new Engine();
    scratch.replaying = true;
    const base = await loadSnapshot(scratch, this.#storage, this.#dir, () => {}, upTo);
    const scratchReplayer = new Replayer(scratch);
    const wal = await readWal(this.#storage, this.#dir, {
      afterLsn: base.snapshot?.lsn ?? 0,
      untilLsn: upTo,
      codec,
      onRecord: (record) => scratchReplayer.apply(record),
    });
    const reached = Math.max(base.snapshot?.lsn ?? 0, wal.lastLsn ?? 0);
    if (reached < upTo) {
      throw new StorageError(
        `The durable state cannot be rebuilt to roll back ${undone} failed writes: the log ends at LSN ${reached}, not ${upTo}; ` +
          "writes stay refused — close the database and open it again",
      );
    }
    restore(this.#engine, scratch);
    this.#writer.discard();
    this.#lsn = this.#writer.lastLsn ?? upTo;
    this.#engine.lsn = this.#lsn;
    try {
      this.#feed?.rewound(this.#lsn);
    } catch { /* the feed never breaks the log */ }
    this.#log(`cyberdb: rolled memory back to LSN ${upTo}, the last durable write: ${undone} failed writes undone`);
  }

  /** Whether writes that were acknowledged are not on disk (so closing now loses them). */
  #lost(kind: WalFailureKind): number {
    // A removed log took everything since the last snapshot with it.
    if (kind === "removed") return this.#lsn - this.#snapshotLsn;
    // "always" acknowledged nothing that was not fsynced.
    if (this.#always) return 0;
    return (this.#writer.lastLsn ?? 0) - this.#writer.syncedLsn;
  }

  get historyReleased(): boolean {
    return this.#historyReleased;
  }

  releaseHistory(): Promise<void> {
    this.#releasing ??= removeHistoryId(this.#storage, this.#dir).then(
      () => void (this.#historyReleased = true),
      (e) => {
        // Tried again by the next watch; meanwhile watches see durable commits only.
        this.#releasing = null;
        this.#log(
          `cyberdb: removing ${HISTORY_FILE} failed (${e instanceof Error ? e.message : e}); watches wait for fsyncs`,
        );
        throw e;
      },
    );
    return this.#releasing;
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#timer !== null) this.#scheduler.clearTimeout(this.#timer);
    this.#timer = null;
    this.#wake?.();
    let clean = false;
    // Every commit made is on disk: the next open may continue this history.
    let whole = false;
    let discarded = false;
    let lost: StorageError | null = null;
    try {
      await this.#recovery;
      // Waiters held for a rollback the loop did not get to.
      this.#writer.rejectWaiters();
      await this.#chain;
      if (this.#writer.failure === null) await this.#writer.flush().catch(() => {}); // a failure is handled below
      const failed = this.#writer.failure;
      if (failed !== null && failed.kind !== "lock") {
        // One more try. What "always" failed to write was never acknowledged:
        // drop it (memory is going away) and only cut the segment back.
        if (failed.kind === "io" && this.#always && this.#writer.unsynced) {
          this.#writer.discard();
          this.#rollbackDue = false;
          discarded = true;
        }
        await this.#recoverOnce(failed.kind).catch(() => {});
      }
      const failure = this.#writer.failure;
      if (failure === null) {
        whole = !discarded;
        // After a discard, memory still holds the failed writes: no snapshot
        // of it. The log is whole up to the last acknowledged write. The
        // snapshot only spares the next open a replay: if it fails, nothing
        // is lost, so closing still succeeds (and says why in the log).
        if (!discarded && this.#lsn > this.#snapshotLsn) {
          await this.snapshot().then(() => (clean = true), (e) =>
            this.#log(
              `cyberdb: the snapshot at close failed (${e instanceof Error ? e.message : e}); ` +
                "every write is in the log, and the next open replays it",
            ));
        } else clean = !discarded;
      } else {
        const n = this.#lost(failure.kind);
        if (n > 0) {
          lost = new StorageError(
            `Closed with ${n} acknowledged write(s) that could not be made durable and may be lost ` +
              "(the directory keeps every write before them): " +
              failure.error.message.split(" — ")[0],
            { cause: failure.error },
          );
        }
      }
    } finally {
      // Whatever failed above, the log is closed and the lock released.
      this.#engine.setJournal(null);
      try {
        // Everything acknowledged was flushed above, or is counted in `lost`:
        // closing the segment (or sealing the log) failing loses nothing more.
        await this.#writer.close().catch(() => {});
        // Only behind a snapshot of everything: the next open then skips
        // every segment by name (see WalWriter.seal).
        if (clean && this.#snapshotLsn === this.#lsn) {
          await this.#writer.seal().catch((e) =>
            this.#log(`cyberdb: sealing the log at close failed: ${e instanceof Error ? e.message : e}`)
          );
        }
        // Last: the next open continues this history only if everything before is on disk.
        await this.#releasing?.catch(() => {}); // a removal under way must not undo the file written below
        if (whole && this.#historyReleased) {
          await saveHistoryId(this.#storage, this.#dir, this.historyId).catch((e) =>
            this.#log(
              `cyberdb: keeping the history id at close failed (${e instanceof Error ? e.message : e}); ` +
                "the next open starts a new history (resuming watchers reset)",
            )
          );
        }
      } finally {
        await this.#lock.release();
      }
    }
    if (lost !== null) throw lost;
  }
}

function asStorageError(e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  return new StorageError(
    `Recovering from a storage failure failed: ${
      e instanceof Error ? e.message : String(e)
    }; writes stay refused (retried automatically)`,
    { cause: e },
  );
}

function quotePath(path: string): string {
  return JSON.stringify(path.length > 120 ? path.slice(0, 117) + "..." : path);
}
