/**
 * The Database: named dicts, lists and tables in one engine, optionally
 * persisted to a directory through a write-ahead log and snapshots.
 *
 * @module
 */

import { type CyberDBError, type StorageError, ValidationError } from "../errors.ts";
import {
  ChangeStream,
  Feed,
  type FeedCursor,
  subscribeCursor,
  type SubscribeOptions,
  type WatchOptions,
} from "./feed.ts";
import type { Change } from "../core/change.ts";
import * as dbOps from "../ops/db_ops.ts";
import { dbStats } from "../ops/db_stats.ts";
import { answerOf, type Check, execute, executeAtomic, isWrite } from "../ops/mod.ts";
import { nextExpiry } from "../ops/dict_ops.ts";
import { Expirer } from "./expirer.ts";
import type { Op } from "../ops/types.ts";
import type { DatabaseOptions, DurabilityCounters, Persistence } from "../durable/options.ts";
import type { DatabaseStats, StatsFacts } from "../ops/db_stats.ts";
import { CyberDict } from "./dict.ts";
import { type CollectionInfo, type DictState, Engine, type ListState, type TableState } from "../core/engine.ts";
import { CyberList } from "./list.ts";
import type { TableSchema } from "../core/schema.ts";
import { setTableHostOpener, Table } from "./table.ts";
import { type Key, quote, type Value } from "../core/value.ts";

export type { CollectionInfo } from "../core/engine.ts";
export type {
  DatabaseOptions,
  DurabilityCounters,
  FeedHooks,
  LoadProgress,
  Logger,
  Persistence,
  RecoveryFacts,
  SnapshotFacts,
  SyncMode,
  WatchBuffer,
} from "../durable/options.ts";
export { FSYNC_BUCKETS, latencyBuckets } from "../durable/options.ts";
export type { DatabaseStats, KindStats, RecoveryStats, SnapshotStats, StatsFacts } from "../ops/db_stats.ts";
export type { SubscribeOptions, WatchOptions } from "./feed.ts";

const SYNC_MODES = new Set(["always", "interval", "manual"]);

function checkOptions(o: DatabaseOptions): void {
  if (typeof o !== "object" || o === null) {
    throw new ValidationError(`Database options ${quote(o)} are not an object: pass { dir?, sync?, ... }`);
  }
  if (o.dir !== undefined && (typeof o.dir !== "string" || o.dir === "")) {
    throw new ValidationError(
      `Option dir ${quote(o.dir)} is not a non-empty path: pass a directory path or leave it out`,
    );
  }
  if (o.sync !== undefined && !SYNC_MODES.has(o.sync)) {
    throw new ValidationError(`Option sync ${quote(o.sync)} is unknown: use "always", "interval" or "manual"`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== "function") {
    throw new ValidationError(
      `Option onProgress ${quote(o.onProgress)} is not a function: pass (progress) => void, or leave it out`,
    );
  }
  if (o.clock !== undefined && typeof o.clock !== "function") {
    throw new ValidationError(
      `Option clock ${quote(o.clock)} is not a function: pass () => milliseconds, or leave it out`,
    );
  }
  const s = o.scheduler as Record<string, unknown> | undefined;
  if (
    s !== undefined &&
    (typeof s !== "object" || s === null ||
      !["now", "setTimeout", "clearTimeout"].every((f) => typeof s[f] === "function"))
  ) {
    throw new ValidationError(
      `Option scheduler ${quote(s)} is not a Scheduler: pass { now, setTimeout, clearTimeout, unref? } or leave it out`,
    );
  }
  const wb = o.watchBuffer;
  if (wb !== undefined) {
    if (typeof wb !== "object" || wb === null || Array.isArray(wb)) {
      throw new ValidationError(`Option watchBuffer ${quote(wb)} is not an object: pass { commits?, bytes? }`);
    }
    for (const k of ["commits", "bytes"] as const) {
      const v = wb[k];
      if (v !== undefined && (typeof v !== "number" || !(v >= (k === "commits" ? 1 : 0)) || !Number.isFinite(v))) {
        throw new ValidationError(
          `Option watchBuffer.${k} ${quote(v)} is not a ${k === "commits" ? "positive" : "non-negative"} number`,
        );
      }
    }
  }
  for (const k of ["flushInterval", "snapshotInterval", "snapshotWalBytes", "segmentBytes", "preallocate"] as const) {
    const v = o[k];
    if (v !== undefined && (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v))) {
      throw new ValidationError(`Option ${k} ${quote(v)} is not a non-negative number: pass a number or leave it out`);
    }
  }
}

/**
 * An in-memory database of named dicts, lists and tables; with `dir`, every
 * write is logged and survives a crash (see docs/durability.md).
 * Reads and writes are synchronous; `flush()`, `snapshot()` and `close()`
 * are the asynchronous ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * await using db = await Database.open(); // { dir: "./data" } to persist
 * const d = db.createDict("dict1");
 * d.set("a", 1);
 * db.transaction(() => {
 *   d.set("b", 2);
 *   db.createList("list1", [1, 2, 3]);
 * });
 * assert.deepEqual(db.collections(), [{ name: "dict1", kind: "dict" }, { name: "list1", kind: "list" }]);
 * assert.throws(() =>
 *   db.transaction(() => {
 *     d.set("c", 3);
 *     throw new Error("changed my mind");
 *   }), /changed my mind/);
 * assert.equal(d.has("c"), false); // all or nothing
 * ```
 */
export class Database {
  #e = new Engine();
  #p: Persistence | null = null;
  #options: DatabaseOptions;
  #closing: Promise<void> | null = null;
  #expirer: Expirer;
  #feed!: Feed;
  /** When open() was called (ms since the epoch), for `stats().openedAt` and uptime. */
  #openedAt = Date.now();

  private constructor(options: DatabaseOptions) {
    this.#options = options;
    // One virtual scheduler in a test drives both timers and expiry; clock overrides it for expiry.
    const scheduler = options.scheduler;
    if (options.clock !== undefined) this.#e.clock = options.clock;
    else if (scheduler !== undefined) this.#e.clock = () => scheduler.now();
    this.#expirer = new Expirer(this.#e, scheduler);
  }

  /**
   * Opens a database: in memory when no `dir` (nor `storage`) is given,
   * otherwise persisted there, recovering whatever the directory holds.
   */
  static async open(options: DatabaseOptions = {}): Promise<Database> {
    checkOptions(options);
    const db = new Database({ ...options });
    if (options.dir !== undefined || options.storage !== undefined) {
      const { openPersistence } = await import("../durable/persistence.ts");
      db.#p = await openPersistence(db.#e, options);
    }
    // The feed listens from here on: what recovery replayed is history, read back from the log.
    db.#feed = new Feed(db.#e, db.#p, options.watchBuffer, options.scheduler);
    db.#e.facts = () => db.#facts() as unknown as Record<string, unknown>;
    // Expiry starts once the state is recovered: keys that expired meanwhile go first.
    db.#e.expiryScheduled = (at) => db.#expirer.arm(at);
    db.#expirer.arm(nextExpiry(db.#e));
    return db;
  }

  /**
   * The LSN of the last committed write (0 before any): every committed
   * call — a write, `insertMany`, a transaction, an atomic batch — takes
   * exactly one, also in memory; a rolled-back transaction, a refused write
   * or a read takes none. Entries carry the LSN of their last write as
   * their `version` (`getEntry`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const d = db.createDict("d"); // LSN 1
   * d.set("a", 1); // LSN 2
   * db.transaction(() => { d.set("b", 2); d.set("c", 3); }); // LSN 3
   * assert.equal(db.lsn, 3);
   * ```
   */
  get lsn(): number {
    return this.#e.lsn;
  }

  /**
   * The id of this database's history of LSNs: made at random when the
   * history starts (each memory-only open; a new directory; an open after
   * a crash that may have lost commits a watch saw before their fsync) and
   * kept in the directory (`<dir>/HISTORY`) while its LSNs surely continue.
   * An LSN means a write only together with it: a memory-only database
   * that restarts counts from 0 again under a new id. Pass it with `from` as
   * `watch({ from, history })` to resume safely across processes — another
   * history is then `ResetError`, never changes that do not follow.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database, ResetError } from "@cyberdb/core";
   * const db = await Database.open();
   * db.createDict("d").set("a", 1);
   * const seen = { history: db.historyId, from: db.lsn };
   * const other = await Database.open(); // a restart: a new history, LSNs from 0
   * other.createDict("d").set("b", 2);
   * assert.throws(() => other.watch(seen), ResetError);
   * ```
   */
  get historyId(): string {
    return this.#feed.history;
  }

  /**
   * Runs `ops` as one transaction after verifying `checks`
   * (check-and-set): each check names a dict key or table row and the
   * version it must have (`null`: must be absent). A failed check applies
   * nothing and throws `ConflictError`; otherwise every op runs, all or
   * none, and their results are returned in order.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConflictError, Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const d = db.createDict<number>("accounts");
   * d.set("ada", 100);
   * const seen = d.getEntry("ada")!;
   * db.atomic({
   *   checks: [{ collection: "accounts", key: "ada", version: seen.version }],
   *   ops: [{ op: "dict.set", args: ["accounts", "ada", seen.value - 30] }],
   * });
   * assert.equal(d.get("ada"), 70);
   * // The same check again is stale now: nothing happens.
   * assert.throws(() => db.atomic({
   *   checks: [{ collection: "accounts", key: "ada", version: seen.version }],
   *   ops: [{ op: "dict.set", args: ["accounts", "ada", 0] }],
   * }), ConflictError);
   * ```
   */
  atomic(batch: { checks?: readonly Check[]; ops: readonly { op: string; args: unknown[] }[] }): unknown[] {
    if (typeof batch !== "object" || batch === null) {
      throw new ValidationError(`atomic() takes { checks?, ops }, got ${quote(batch)}`);
    }
    const ops = batch.ops;
    return executeAtomic(this.#e, ops, batch.checks).map((r, i) => answerOf(ops[i].op, r));
  }

  /**
   * The change feed: an async iterator of `Change[]` batches, one per
   * commit (a transaction or an atomic batch is one batch, with its LSN),
   * each telling the effect of the write — a dict key set or deleted, the
   * whole row after a table write, a list op, a collection created or
   * dropped; expired keys come as deletes. `break` (or `return()`) stops
   * it; it ends when the database closes. Batches are delivered on a
   * microtask after the commit, never inside a write.
   *
   * Options: `collections` (only these; each must exist), `from` (resume
   * after this LSN: the commits after it come first, from memory or the log;
   * older than both → `ResetError`), `durable` (deliver a commit only once
   * it is on disk). A consumer that falls more than `watchBuffer` commits
   * behind gets `LaggedError` carrying the LSN to resume from. Bad options →
   * `ValidationError` (a `from` beyond `db.lsn` too) or `NotFoundError` (an
   * unknown collection), at once.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const users = db.createTable({
   *   name: "users",
   *   columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "name", type: "Utf8" }],
   * } as const);
   * const changes = db.watch({ collections: ["users"] });
   * users.insert({ id: 1, name: "Ada" });
   * db.transaction(() => {
   *   users.patch(1, { name: "Ada L." });
   *   users.delete(1);
   * });
   * const first = await changes.next();
   * assert.deepEqual(first.value, [
   *   { lsn: 2, collection: "users", kind: "table", type: "upsert", key: 1, row: { id: 1, name: "Ada" } },
   * ]);
   * const second = await changes.next(); // one batch: the transaction
   * assert.deepEqual(second.value.map((c: { type: string }) => c.type), ["upsert", "delete"]);
   * await changes.return();
   * ```
   */
  watch(options?: WatchOptions): ChangeStream {
    this.#e.checkOpen();
    return new ChangeStream(this.#feed.open(options));
  }

  /**
   * Calls `fn` with every batch of changes (see {@linkcode watch}), on a
   * microtask after each commit — never inside a write. Returns the
   * function that stops it. Takes the options of `watch`, and `onError`,
   * which receives the error that ends the subscription (`ResetError`);
   * an error `fn` throws is reported as an event listener's is, and the
   * subscription goes on.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open({ clock: () => 1_000 });
   * const d = db.createDict<number>("counters");
   * const seen: unknown[] = [];
   * const stop = db.subscribe((changes) => seen.push(...changes), { collections: ["counters"] });
   * d.increment("hits");
   * d.set("session", 7, { expireIn: 60_000 });
   * await Promise.resolve(); // delivered on a microtask
   * assert.deepEqual(seen, [
   *   { lsn: 2, collection: "counters", kind: "dict", type: "set", key: "hits", value: 1 },
   *   { lsn: 3, collection: "counters", kind: "dict", type: "set", key: "session", value: 7, expireAt: 61_000 },
   * ]);
   * stop();
   * ```
   */
  subscribe(fn: (changes: Change[]) => void, options?: SubscribeOptions): () => void {
    this.#e.checkOpen();
    if (typeof fn !== "function") {
      throw new ValidationError(`subscribe() takes a function, got ${quote(fn)}`);
    }
    const onError = (options as { onError?: unknown } | undefined)?.onError;
    if (onError !== undefined && typeof onError !== "function") {
      throw new ValidationError(`Subscribe option onError ${quote(onError)} is not a function`);
    }
    const cursor = this.#feed.open(options, ["collections", "from", "durable", "history", "onError"]);
    return subscribeCursor(cursor, fn, onError as ((e: CyberDBError) => void) | undefined);
  }

  /**
   * @internal A cursor on the change feed, for the server, which streams
   * it to clients: batches come uncopied (encode them, never change them).
   */
  watchCursor(options?: WatchOptions): FeedCursor {
    this.#e.checkOpen();
    return this.#feed.open(options);
  }

  /**
   * What the database can tell about itself, Redis's `INFO`: the LSN (and
   * how far it is on disk), collections and items by kind with an
   * approximate size, the sync mode and storage, log bytes and fsyncs, the
   * last snapshot, what opening took, uptime, watchers, and why writes are
   * refused if they are. Runs through the operation table (`db.stats`), so
   * a client's `stats()` answers the same shape. Cheap: sizes are sampled.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const db = await Database.open({ dir: "data", storage: new MemoryStorage() });
   * db.createDict("sessions", { a: "x".repeat(100) });
   * db.createList("queue", [1, 2, 3]);
   * const s = db.stats();
   * assert.equal(s.lsn, 2);
   * assert.deepEqual([s.collections, s.items], [2, 4]);
   * assert.equal(s.kinds.list.items, 3);
   * assert.ok(s.approxBytes > 100); // about the size of the data, encoded
   * assert.equal(s.storage, "memory");
   * assert.ok(s.wal !== null && s.wal.bytes > 0); // the log took both writes
   * await db.close();
   * ```
   */
  stats(): DatabaseStats {
    return this.#db(dbStats, []) as DatabaseStats;
  }

  /**
   * @internal The live counters of durability (log bytes, the fsync
   * histogram, snapshots, recovery), for the server's `/metrics`; `null`
   * in memory only.
   */
  get durabilityCounters(): DurabilityCounters | null {
    return this.#p?.counters ?? null;
  }

  /** The facts of `stats()` only the database knows (see the `db.stats` op). */
  #facts(): StatsFacts {
    const c = this.#p?.counters ?? null;
    const error = this.#e.storageError;
    return {
      durableLsn: this.#p === null ? this.#e.lsn : this.#p.durableLsn,
      historyId: this.#feed.history,
      sync: this.#options.sync ?? "interval",
      storage: this.#p === null ? null : this.#p.storageKind,
      wal: c === null ? null : { bytes: c.walBytes, bytesSinceSnapshot: c.walBytesSinceSnapshot },
      fsync: c === null ? null : { count: c.fsync.count, seconds: c.fsync.seconds },
      snapshot: c?.snapshot ? { ...c.snapshot } : null,
      snapshots: c === null ? null : { ...c.snapshots },
      recovery: c === null ? null : { ...c.recovery },
      openedAt: this.#openedAt,
      uptimeMs: Date.now() - this.#openedAt,
      watchers: this.#feed.watchers,
      storageError: error === null ? null : { code: error.code, message: error.message },
    };
  }

  /** The options this database was opened with. */
  get options(): Readonly<DatabaseOptions> {
    return this.#options;
  }

  #db(op: Op<Engine>, args: unknown[]): unknown {
    this.#e.checkOpen();
    return op.run(this.#e, this.#e, args);
  }

  /** Creates a dict, optionally filled from an object, a Map or `[key, value]` pairs. */
  createDict<V extends Value = Value>(
    name: string,
    init?: NoInfer<Iterable<readonly [Key, V]> | Record<string, V>>,
  ): CyberDict<V> {
    return new CyberDict<V>(
      this.#e,
      this.#db(dbOps.dbCreateDict, init === undefined ? [name] : [name, init]) as DictState,
    );
  }

  /** A handle to an existing dict (`NotFoundError`, `WrongKindError`). */
  getDict<V extends Value = Value>(name: string): CyberDict<V> {
    return new CyberDict<V>(this.#e, this.#db(dbOps.dbGetDict, [name]) as DictState);
  }

  /** Creates a list, optionally filled from an iterable. */
  createList<V extends Value = Value>(name: string, init?: NoInfer<Iterable<V>>): CyberList<V> {
    return new CyberList<V>(
      this.#e,
      this.#db(dbOps.dbCreateList, init === undefined ? [name] : [name, init]) as ListState,
    );
  }

  /** A handle to an existing list (`NotFoundError`, `WrongKindError`). */
  getList<V extends Value = Value>(name: string): CyberList<V> {
    return new CyberList<V>(this.#e, this.#db(dbOps.dbGetList, [name]) as ListState);
  }

  /** Creates a table from a schema (`SchemaError` when it is malformed). */
  createTable<const S extends TableSchema>(schema: S): Table<S> {
    return new Table<S>(this.#e, this.#db(dbOps.dbCreateTable, [schema]) as TableState, this);
  }

  /** A handle to an existing table; pass the schema type for typed rows. */
  getTable<S extends TableSchema = TableSchema>(name: string): Table<S> {
    return new Table<S>(this.#e, this.#db(dbOps.dbGetTable, [name]) as TableState, this);
  }

  /**
   * The dict `name`, created empty if there is none (get-or-create): code
   * that starts with it runs the same on a fresh and on a reopened database.
   * `WrongKindError` when a list or table has that name.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * await using db = await Database.open();
   * db.dict("visits").set("home", 1);
   * assert.equal(db.dict("visits").get("home"), 1); // the same dict, not a new one
   * ```
   */
  dict<V extends Value = Value>(name: string): CyberDict<V> {
    return new CyberDict<V>(this.#e, this.#db(dbOps.dbDict, [name]) as DictState);
  }

  /** The list `name`, created empty if there is none (get-or-create; see {@link Database.dict}). */
  list<V extends Value = Value>(name: string): CyberList<V> {
    return new CyberList<V>(this.#e, this.#db(dbOps.dbList, [name]) as ListState);
  }

  /**
   * The table `schema.name`, created from `schema` if there is none
   * (get-or-create). An existing table must have the same schema, or
   * `SchemaError` says how they differ (nothing is changed).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * await using db = await Database.open();
   * const schema = { name: "users", columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const;
   * db.table(schema).insert({ id: 1 });
   * assert.equal(db.table(schema).count(), 1);
   * ```
   */
  table<const S extends TableSchema>(schema: S): Table<S> {
    return new Table<S>(this.#e, this.#db(dbOps.dbTable, [schema]) as TableState, this);
  }

  /** Every collection's name and kind, sorted by name. */
  collections(): CollectionInfo[] {
    return this.#db(dbOps.dbCollections, []) as CollectionInfo[];
  }

  /** Drops a collection; returns whether it existed. Its handles stop working. */
  drop(name: string): boolean {
    return this.#db(dbOps.dbDrop, [name]) as boolean;
  }

  /**
   * Runs `fn` as one transaction: all its writes happen and are logged as
   * one record, or — if it throws — none does, and the error is rethrown.
   * `fn` must be synchronous; nested calls are savepoints.
   */
  transaction<T>(fn: (db: Database) => T): T {
    if (typeof fn !== "function") {
      throw new ValidationError(`transaction() takes a function, got ${quote(fn)}`);
    }
    return this.#e.transaction(() => fn(this));
  }

  /**
   * Runs one operation of the operation table by name — `"dict.set"`,
   * `"table.upsert"`, `"db.createList"`, … with the collection name first in
   * `args` — exactly as the server and log replay do. The result is plain
   * data: iterators come back as arrays, created collections as `null`.
   * With `{ stream: true }` an op that can answer batch by batch returns a
   * `Batches` (what the server streams); any other op answers as without it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * assert.equal(db.execute("db.createDict", ["d"]), null); // a created collection: null
   * db.execute("dict.set", ["d", "k", 1]);
   * assert.equal(db.execute("dict.get", ["d", "k"]), 1);
   * assert.deepEqual(db.execute("dict.keys", ["d"]), ["k"]); // an iterator: an array
   * assert.equal(db.getDict("d").get("k"), 1); // the same data as through the handles
   * ```
   */
  execute(op: string, args: unknown[], options: { stream?: boolean } = {}): unknown {
    return answerOf(op, execute(this.#e, op, args, options.stream === true));
  }

  /** Runs several operations as one transaction (all or none); returns their results. */
  executeAtomic(ops: readonly { op: string; args: unknown[] }[]): unknown[] {
    return executeAtomic(this.#e, ops).map((r, i) => answerOf(ops[i].op, r));
  }

  /** Whether the named operation can write (unknown names: `false`). */
  static isWrite(op: string): boolean {
    return isWrite(op);
  }

  /**
   * Resolves once every write made so far is durable (memory-only: at once).
   * Rejects with `StorageError` when the disk refused the log. In `"always"`
   * the writes of a failed batch are then rolled back: call `flush()` in the
   * same task as the writes it acknowledges (as the server does), since a
   * later call only covers writes the log still holds.
   */
  flush(): Promise<void> {
    try {
      this.#e.checkOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    // Not async: one promise layer less on the path every durable write awaits.
    return this.#p ? this.#p.flush() : Promise.resolve();
  }

  /**
   * Whether writes were made that are not yet on disk (always `false` in
   * memory). A server in `sync: "always"` holds every reply while this is
   * true, until the covering fsync, so nobody reads a write before it is
   * durable.
   */
  get unsynced(): boolean {
    return this.#p !== null && this.#p.unsynced;
  }

  /**
   * Why writes are refused right now, or `null` while they are accepted:
   * the disk refused the log (full, read-only, I/O error, files removed
   * under the database). While set, every write throws this `StorageError`
   * (code `STORAGE`) before changing anything, `flush()` rejects with it,
   * and reads keep working. The database retries in the background (100 ms,
   * doubling to 5 s) and clears it once the disk accepts the log again —
   * except after its LOCK was removed or replaced, which needs a reopen.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database, StorageError } from "@cyberdb/core";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const storage = new MemoryStorage();
   * const db = await Database.open({ dir: "data", storage });
   * const d = db.createDict("d");
   * const before = db.storageError;
   * assert.equal(before, null); // writes are accepted
   * storage.setFault({ readOnly: true }); // the disk turns read-only
   * d.set("k", 1);
   * await assert.rejects(db.flush(), StorageError);
   * const error = db.storageError;
   * if (error !== null) console.error(`read-only for now: ${error.message}`);
   * assert.equal(error?.code, "STORAGE");
   * assert.throws(() => d.set("k", 2), StorageError); // every write is refused...
   * assert.equal(d.get("k"), 1); // ...and reads keep working
   * storage.setFault(null); // retried in the background until the disk takes the log again
   * await db.close();
   * ```
   */
  get storageError(): StorageError | null {
    return this.#e.storageError;
  }

  /** Writes a snapshot now (memory-only: nothing to do). */
  async snapshot(): Promise<void> {
    this.#e.checkOpen();
    if (this.#p) await this.#p.snapshot();
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#e.closedReason !== null;
  }

  /**
   * Stops taking writes, flushes, snapshots and releases the directory.
   * Idempotent. When the disk refuses the log, it tries once more; if
   * acknowledged writes still cannot be written it rejects with a
   * `StorageError` saying how many are lost (the lock is released anyway).
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#e.closedReason = "close() was called";
      this.#expirer.stop();
      this.#feed.close();
      this.#closing = this.#p ? this.#p.close() : Promise.resolve();
    }
    return this.#closing;
  }

  /** `await using db = await Database.open()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// Table.open opens its own database: table.ts learns how from here, so it
// never imports this module back.
setTableHostOpener((options) => Database.open(options));
