/**
 * Durability for a Database: lock the directory, recover (newest valid
 * snapshot, then the log replayed through the operation table), then log
 * every committed write and take snapshots on a timer, by log size and on
 * close.
 *
 * ```
 *  <dir>/LOCK                          held while open
 *  <dir>/wal/<20-digit first LSN>.wal  log segments
 *  <dir>/snapshots/<20-digit LSN>.snap the newest snapshot and the one before it
 * ```
 *
 * Two snapshot generations are kept, and the log back to the older one, so
 * that a damaged newest snapshot can be replaced by the previous one plus
 * the log (Redis keeps one RDB; we keep the fallback).
 *
 * @module
 */

import { decodeRange, encode } from "../codec.ts";
import { CorruptionError, CyberDBError } from "../errors.ts";
import type { DatabaseOptions, Persistence } from "../engine/database.ts";
import type { Engine, LogEntry } from "../engine/engine.ts";
import { execute, executeAtomic } from "../ops/mod.ts";
import {
  capture,
  type Capture,
  install,
  type LoadedSnapshot,
  readSnapshot,
  snapshotLsn,
  writeSnapshot,
} from "../snapshot/snapshot.ts";
import { defaultStorage } from "../storage/mod.ts";
import { joinPath } from "../storage/paths.ts";
import type { Storage, StorageLock } from "../storage/types.ts";
import type { WalCodec, WalRecord } from "./codec.ts";
import { recoverWal } from "./recover.ts";
import type { WalWriter } from "./writer.ts";

/** The WAL codec over the project's codec, so log values round-trip like every other. */
const codec: WalCodec = { encode, decode: decodeRange };

const DEFAULT_SNAPSHOT_INTERVAL = 900_000;
const DEFAULT_SNAPSHOT_WAL_BYTES = 64 * 1024 * 1024;

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}

function ms(t0: number): string {
  return `${(now() - t0).toFixed(0)} ms`;
}

/**
 * Opens (or creates) the durable state of a database in `options.dir` and
 * wires `engine` to it. On failure nothing stays locked.
 *
 * @example
 * ```ts
 * import { Engine } from "../engine/engine.ts";
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
  await storage.mkdir(dir);
  const lock = await storage.lock(joinPath(dir, "LOCK"));
  try {
    const t0 = now();
    const base = await loadSnapshot(engine, storage, dir, log);
    const afterLsn = base.snapshot?.lsn ?? 0;
    let replayed = 0;
    const wal = await recoverWal(storage, dir, {
      afterLsn,
      repair: options.repair,
      codec,
      onRecord: (record) => {
        replay(engine, record);
        replayed++;
      },
      logger: (line) => log(`cyberdb: ${line}`),
      sync: options.sync ?? "interval",
      flushInterval: options.flushInterval ?? 1000,
      segmentBytes: options.segmentBytes,
      onError: (e) => {
        // A write or fsync failed: acknowledge nothing more, in memory included.
        engine.closedReason = `the write-ahead log failed: ${e instanceof Error ? e.message : String(e)}; ` +
          "reopen the database to recover its durable state";
        log(`cyberdb: ${engine.closedReason}`);
      },
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
    const durable = new Durable(engine, storage, dir, lock, wal.writer, wal.nextLsn - 1, afterLsn, options, log);
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
    await lock.release();
    throw e;
  }
}

/** Loads the newest snapshot that checks out into `engine`, reporting damaged ones. */
async function loadSnapshot(
  engine: Engine,
  storage: Storage,
  dir: string,
  log: (line: string) => void,
): Promise<{ snapshot: LoadedSnapshot | null; damaged: CorruptionError | null; names: string[] }> {
  const t0 = now();
  const snapDir = joinPath(dir, "snapshots");
  const listed = await storage.list(snapDir);
  for (const name of listed) {
    // A crash during a snapshot leaves its temp file behind; it was never valid.
    if (name.endsWith(".snap.tmp")) await storage.remove(joinPath(snapDir, name));
  }
  const snaps = listed.filter((n) => snapshotLsn(n) !== null).sort().reverse();
  let damaged: CorruptionError | null = null;
  const names: string[] = [];
  for (const name of snaps) {
    try {
      const snapshot = await readSnapshot(storage, joinPath(snapDir, name), `snapshots/${name}`);
      install(engine, snapshot);
      log(`cyberdb: loaded snapshot ${name}: ${snapshot.collections.length} collections, ${snapshot.items} items, ${ms(t0)}`);
      return { snapshot, damaged, names };
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      damaged ??= e;
      names.push(name);
      log(`cyberdb: ${e.message} — trying an older snapshot`);
    }
  }
  return { snapshot: null, damaged, names };
}

/** Applies one log record through the operation table, as it was applied before the crash. */
function replay(engine: Engine, record: WalRecord): void {
  try {
    if ("ops" in record) executeAtomic(engine, record.ops);
    else execute(engine, record.op, record.args);
  } catch (e) {
    // Every logged write succeeded once; failing now means the files disagree.
    throw new CorruptionError(
      `Log record ${record.lsn} cannot be replayed (${e instanceof CyberDBError ? e.message : String(e)}): ` +
        "the log does not match the snapshot before it; open with { repair: true } only if you accept losing the records from there on",
      { cause: e },
    );
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
  #due = false;
  #timer: ReturnType<typeof setInterval> | null = null;

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
    engine.setJournal((entries) => this.#append(entries));
    this.#manual = options.sync === "manual";
    const every = options.snapshotInterval ?? DEFAULT_SNAPSHOT_INTERVAL;
    if (every > 0) {
      this.#timer = setInterval(() => {
        if (this.#lsn > this.#snapshotLsn) this.#trigger();
      }, every);
      // A timer must not keep a process alive that has nothing else to do.
      storage.unrefTimer?.(this.#timer);
    }
  }

  #append(entries: LogEntry[]): void {
    const lsn = this.#lsn + 1;
    const record: WalRecord = entries.length === 1
      ? { lsn, op: entries[0].op, args: entries[0].args }
      : { lsn, ops: entries };
    this.#walBytes += this.#writer.append(record);
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
    this.#enqueue(cap).catch((e) => this.#log(`cyberdb: snapshot failed: ${e instanceof Error ? e.message : e}`));
  }

  get unsynced(): boolean {
    return this.#writer.unsynced;
  }

  flush(): Promise<void> {
    // The common case: no promise layer of our own on the group-commit path.
    if (!this.#due) return this.#writer.flush();
    // Captured before the flush starts: the state the flush makes durable.
    const cap = this.#capture();
    this.#walBytes = 0;
    this.#due = false;
    return this.#writer.flush().then(() => this.#background(cap));
  }

  snapshot(): Promise<void> {
    return this.#enqueue(null);
  }

  #enqueue(cap: Capture | null): Promise<void> {
    const run = this.#chain.then(() => this.#snapshot(cap));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #snapshot(pre: Capture | null): Promise<void> {
    this.#snapshotting = true;
    try {
      const t0 = now();
      // Synchronous: the captured state is exactly the state at this LSN.
      const cap = pre ?? this.#capture();
      if (pre === null) this.#walBytes = 0;
      const { path, bytes } = await writeSnapshot(this.#storage, this.#dir, cap);
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
      const removed = older.length > 0 ? await this.#writer.removeSegmentsUpTo(older[0]) : [];
      this.#log(
        `cyberdb: snapshot ${path} at LSN ${cap.lsn}: ${bytes} bytes in ${ms(t0)}` +
          (removed.length ? `, removed ${removed.length} covered log segments` : ""),
      );
    } finally {
      this.#snapshotting = false;
    }
    // The log may have grown past the limit while this snapshot was written.
    if (this.#walLimit > 0 && this.#walBytes >= this.#walLimit && this.#engine.closedReason === null) this.#trigger();
  }

  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    let clean = false;
    try {
      await this.#chain;
      const failed = this.#engine.closedReason?.startsWith("the write-ahead log failed");
      if (!failed) {
        await this.#writer.flush();
        if (this.#lsn > this.#snapshotLsn) await this.snapshot();
        clean = true;
      }
    } finally {
      // Whatever failed above, the log is closed and the lock released:
      // every write is in the log, so a reopen recovers it.
      this.#engine.setJournal(null);
      try {
        await this.#writer.close();
        // Only behind a snapshot of everything: the next open then skips
        // every segment by name (see WalWriter.seal).
        if (clean && this.#snapshotLsn === this.#lsn) await this.#writer.seal();
      } finally {
        await this.#lock.release();
      }
    }
  }
}
