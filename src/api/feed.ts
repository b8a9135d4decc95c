/**
 * The change feed of one database (DESIGN §9): `db.watch()`,
 * `db.subscribe()`, and the cursors the server streams to its clients.
 *
 * One path: the feed is a commit listener of the engine, which calls it
 * with the very entries it has just handed to the journal that feeds the
 * write-ahead log — never a second account of what happened.
 *
 * ```
 *   engine commit (lsn, entries) ──► ring of recent commits (bounded: commits and bytes)
 *                                      │ slot = entries (+ primary keys of table writes);
 *                                      │ its changes are derived once, on first read, and shared
 *                                      ▼
 *   cursor (position, filter, durable) ── poll() ──► { lsn, changes } one batch per commit
 *       behind the ring's oldest slot:
 *         at open ("from")  → the log on disk (readWal), then the ring; older than both → ResetError
 *         while reading     → LaggedError (a consumer slower than the writers)
 * ```
 *
 * Costs: with nobody watching (no cursor, and none for a minute) the feed
 * is not even a commit listener — a commit costs it nothing, and a resume
 * from before reads the log. While somebody watches, a commit costs one
 * slot in the ring (the entries by reference, counted by a bounded-time
 * size estimate); changes are derived only for slots somebody reads, once,
 * however many read them. A cursor holds no copy of anything: a slow
 * consumer costs a number, and falls behind the ring instead of growing a
 * queue.
 *
 * Delivery is on a microtask after the commit — never inside a write —
 * and, for `durable` cursors, only up to the LSN the log has fsynced
 * (memory-only: at once).
 *
 * @module
 */

import { type Scheduler, systemScheduler } from "../storage/scheduler.ts";
import { ClosedError, type CyberDBError, LaggedError, NotFoundError, ResetError, ValidationError } from "../errors.ts";
import { approxBytes, type Change, changesOf, copyChange, pkOfSchema, Underivable } from "../core/change.ts";
import type { Engine, LogEntry } from "../core/engine.ts";
import type { Persistence, WatchBuffer } from "../durable/options.ts";
import { quote } from "../core/value.ts";
import { isHistoryId, newHistoryId } from "../durable/history.ts";

/** Options of `db.watch()` and `db.subscribe()`. */
export interface WatchOptions {
  /** Only changes to these collections (each must exist, unless `from` resumes an earlier watch). */
  collections?: readonly string[];
  /**
   * Resume after this LSN: every batch with a greater LSN is delivered,
   * first from memory or the log on disk. Default: `db.lsn` (from now on).
   */
  from?: number;
  /** Deliver a batch only once its write is on disk (memory-only: at once). Default `false`. */
  durable?: boolean;
  /**
   * The history `from` belongs to (`db.historyId` when that LSN was read).
   * When it is not this database's, `from` names another write than the
   * one seen here (a memory-only database restarted, a directory replaced):
   * `ResetError`. Without it, `from` is taken as this history's.
   */
  history?: string;
}

/** Options of {@linkcode Database.subscribe}: {@linkcode WatchOptions}, and where errors go. */
export interface SubscribeOptions extends WatchOptions {
  /**
   * Receives the error that ends the subscription (`ResetError` when
   * `from` is older than memory and the log hold, or when writes already
   * delivered were rolled back). Without it, the error is thrown on a
   * microtask of its own (an uncaught error, as from an event listener).
   */
  onError?: (error: CyberDBError) => void;
}

/** One commit's changes, as a cursor hands them out (shared: copy before handing to users). */
export interface FeedBatch {
  /** The commit's LSN. */
  lsn: number;
  /** Its changes, filtered; never empty. */
  changes: readonly Change[];
}

const DEFAULT_COMMITS = 10_000;
const DEFAULT_BYTES = 64 * 1024 * 1024;
/** Rounds of reading the log before a resuming cursor gives up on writers faster than the disk. */
const CATCH_UP_ROUNDS = 4;
/** Bytes a slot costs besides its entries' values. */
const SLOT_BYTES = 64;
/** How long the ring keeps recording after the last cursor closed, so that a client reconnecting finds its commits. */
const LINGER_MS = 60_000;
/** Nodes of a value the size estimate looks at (strings and binaries count whole at any depth it reaches). */
const SIZE_BUDGET = 8;

/**
 * Checks watch options; returns them normalised. `lsn` is the database's
 * LSN now, `exists` whether a collection exists now.
 */
function checkOptions(
  options: unknown,
  lsn: number,
  exists: (name: string) => boolean,
  allowed: readonly string[],
  history: string,
): { filter: Set<string> | null; from: number; durable: boolean } {
  if (options === undefined) return { filter: null, from: lsn, durable: false };
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ValidationError(
      `Watch options ${quote(options)} are not an object: pass { collections?, from?, durable? } or leave them out`,
    );
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw new ValidationError(
        `Watch option ${quote(k)} is unknown: use ${allowed.map((a) => quote(a)).join(", ")}`,
      );
    }
  }
  const from = o.from;
  if (from !== undefined && !(typeof from === "number" && Number.isSafeInteger(from) && from >= 0)) {
    throw new ValidationError(
      `Watch option from ${quote(from)} is not an LSN: pass a non-negative integer such as db.lsn, or leave it out`,
    );
  }
  checkHistory(o.history, from, history, lsn);
  if (from !== undefined && from > lsn) {
    throw new ValidationError(
      `Watch option from ${from} is beyond the last LSN ${lsn}: pass an LSN this database has reached (db.lsn)`,
    );
  }
  if (o.durable !== undefined && typeof o.durable !== "boolean") {
    throw new ValidationError(`Watch option durable ${quote(o.durable)} is not a boolean: pass true or false`);
  }
  let filter: Set<string> | null = null;
  const cols = o.collections;
  if (cols !== undefined) {
    if (!Array.isArray(cols) || cols.length === 0) {
      throw new ValidationError(
        `Watch option collections ${
          quote(cols)
        } is not a non-empty array of names: pass e.g. ["users"] or leave it out`,
      );
    }
    filter = new Set();
    for (const c of cols) {
      if (typeof c !== "string" || c === "") {
        throw new ValidationError(`Collection name ${quote(c)} in collections is not a non-empty string`);
      }
      // A resumed watch may name a collection dropped since: only a fresh one must name existing ones.
      if (from === undefined && !exists(c)) {
        throw new NotFoundError(
          `Cannot watch ${quote(c)}: no collection has that name; create it first, or leave it out of collections`,
        );
      }
      filter.add(c);
    }
  }
  return { filter, from: (from as number | undefined) ?? lsn, durable: o.durable === true };
}

/**
 * Checks the `history` a resume names against this database's: another
 * history's LSN says nothing about this one's writes (Redis's PSYNC with a
 * changed replication id forces a full resync, for the same reason).
 */
function checkHistory(given: unknown, from: unknown, history: string, lsn: number): void {
  if (given === undefined) return;
  if (!isHistoryId(given)) {
    throw new ValidationError(
      `Watch option history ${quote(given)} is not a history id: pass the historyId the LSN in from was read with`,
    );
  }
  if (from === undefined || given === history) return;
  throw new ResetError(
    `Cannot resume after LSN ${from} of history ${quote(given)}: this database's history is ${quote(history)} ` +
      "(it restarted without its data, or its directory was replaced), so its LSNs name other writes; " +
      `read the data again and watch from db.lsn (${lsn})`,
  );
}

/**
 * A position in a feed: what a consumer has read so far, what it wants
 * (collections, durability), and how it is told that more may be there.
 * Holds no changes of its own except, while resuming, those read back
 * from the log.
 *
 * @example
 * ```ts ignore
 * const cursor = db.openCursor({ collections: ["users"] });
 * for (;;) {
 *   const batch = cursor.poll();
 *   if (batch === null) await cursor.wait();
 *   else send(batch);
 * }
 * ```
 */
export class FeedCursor {
  /** The collections it wants, or `null` for all. */
  readonly filter: Set<string> | null;
  /** Whether it waits for the disk. */
  readonly durable: boolean;
  /** @internal The last LSN read from the ring or the log (the read position). */
  at: number;
  /** @internal Batches read back from the log, not yet taken. */
  backlog: FeedBatch[] = [];
  /** @internal Set while reading the log. */
  resuming = false;
  /** @internal The error that ended it. */
  error: CyberDBError | null = null;
  /** @internal Set once closed (by its consumer, or with the database). */
  closed = false;
  /** @internal Called on a microtask when more may be there. */
  onWake: (() => void) | null = null;
  #feed: Feed;
  #position: number;
  #waiters: (() => void)[] = [];

  /** The id of the history its LSNs belong to (`db.historyId`). */
  get history(): string {
    return this.#feed.history;
  }

  /** @internal Made by the feed. */
  constructor(feed: Feed, filter: Set<string> | null, from: number, durable: boolean) {
    this.#feed = feed;
    this.filter = filter;
    this.durable = durable;
    this.at = from;
    this.#position = from;
  }

  /**
   * The LSN up to which the consumer has seen everything it asked for: the
   * last batch taken, or a later commit when nothing after that batch
   * concerned it. Resuming with `from` equal to it loses nothing and
   * repeats nothing.
   */
  get position(): number {
    return this.#position;
  }

  /** @internal */
  set position(lsn: number) {
    this.#position = lsn;
  }

  /**
   * The next batch, or `null` when there is none yet (then {@linkcode wait}).
   * Throws the error that ended the cursor (`LaggedError`, `ResetError`),
   * and `ClosedError` once closed.
   */
  poll(): FeedBatch | null {
    return this.#feed.poll(this);
  }

  /** Resolves once {@linkcode poll} may have something new (or an error, or the end). */
  wait(): Promise<void> {
    if (this.closed || this.error !== null) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** @internal Wakes the waiters and the consumer's hook. */
  wake(): void {
    const waiters = this.#waiters;
    if (waiters.length > 0) {
      this.#waiters = [];
      for (const w of waiters) w();
    }
    this.onWake?.();
  }

  /** Stops it: the feed forgets it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.backlog = [];
    this.#feed.forget(this);
    this.wake();
  }
}

/**
 * The feed of one engine: the ring of recent commits and the cursors
 * reading it. Made by `Database.open`.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { execute } from "../ops/mod.ts";
 * import { Feed } from "./feed.ts";
 * const engine = new Engine();
 * const feed = new Feed(engine, null);
 * const cursor = feed.open({});
 * execute(engine, "db.createDict", ["d"]);
 * await cursor.wait();
 * cursor.poll(); // { lsn: 1, changes: [{ lsn: 1, collection: "d", kind: "db", type: "create", collectionKind: "dict" }] }
 * ```
 */
export class Feed {
  #e: Engine;
  #p: Persistence | null;
  #maxCommits: number;
  #maxBytes: number;
  // The ring: parallel circular arrays, slot i of LSN #first + ((i - #head) mod cap).
  #entries: (readonly LogEntry[] | undefined)[];
  #pks: ((string | undefined)[] | null)[];
  #sizes: number[];
  #changes: (Change[] | null)[];
  #head = 0;
  #count = 0;
  #first: number;
  #bytes = 0;
  /** The primary-key column of each table now (mirrored commit by commit). */
  #pk = new Map<string, string>();
  /**
   * For each name created or dropped since the ring started recording: the
   * key column of the table its first such event dropped (`undefined` when
   * that event was a create, or dropped something else). A resume reads the
   * log up to where the ring starts, which tells the events before.
   */
  #schemaEvents = new Map<string, string | undefined>();
  #cursors = new Set<FeedCursor>();
  /** Open cursors with `durable`: while there are any, commits not yet on disk stay in the ring. */
  #durableCursors = 0;
  #scheduled = false;
  #durableLsn: number;
  #closed = false;
  /** Reading the log is done by one cursor at a time: its memory stays bounded. */
  #reading: Promise<void> = Promise.resolve();
  /** Detaches the commit listener (attached only while the ring records). */
  #unlisten: (() => void) | null = null;
  /**
   * Whether the ring records commits: while any cursor is open, and for
   * {@linkcode LINGER_MS} after the last one closed. Otherwise the feed is
   * not even a commit listener: a commit costs it nothing. (A resume from
   * before it recorded reads the log, which holds every commit.)
   */
  #active = false;
  #linger: unknown = null;
  #scheduler: Scheduler;
  /** The id of the history of LSNs this feed serves (see `durable/history.ts`). */
  readonly history: string;

  /**
   * The feed of `engine`; `persistence` (or `null` in memory) tells
   * durability and reads the log; `scheduler` runs its one timer (a Durable
   * Object's alarm-backed one lets the object hibernate); `history` is the
   * id of the history its LSNs belong to (the directory's, or a new one).
   */
  constructor(
    engine: Engine,
    persistence: Persistence | null,
    buffer: WatchBuffer = {},
    scheduler: Scheduler = systemScheduler(),
    history: string = persistence?.historyId ?? newHistoryId(),
  ) {
    this.history = history;
    this.#e = engine;
    this.#scheduler = scheduler;
    this.#p = persistence;
    this.#maxCommits = Math.max(1, Math.floor(buffer.commits ?? DEFAULT_COMMITS));
    this.#maxBytes = Math.max(0, buffer.bytes ?? DEFAULT_BYTES);
    // Grown as commits come, up to the limit: an idle database keeps a small ring.
    this.#entries = [];
    this.#pks = [];
    this.#sizes = [];
    this.#changes = [];
    this.#first = engine.lsn + 1;
    this.#durableLsn = persistence?.durableLsn ?? engine.lsn;
    persistence?.setFeedHooks({
      durable: (lsn) => this.#durable(lsn),
      rewound: (lsn) => this.#rewound(lsn),
    });
  }

  /** The oldest LSN whose commit the ring still holds (the next LSN when it holds none). */
  get oldest(): number {
    return this.#active ? this.#first : this.#e.lsn + 1;
  }

  /** Cursors open now. */
  get watchers(): number {
    return this.#cursors.size;
  }

  /** The LSN a durable cursor may read up to. */
  #limit(durable: boolean): number {
    // Until the history file is gone, every cursor sees durable commits only (see durable/history.ts).
    const p = this.#p;
    return p !== null && (durable || !p.historyReleased) ? Math.min(this.#durableLsn, this.#e.lsn) : this.#e.lsn;
  }

  #resetKeys(): void {
    this.#pk.clear();
    for (const s of this.#e.collections.values()) {
      if (s.kind === "table") this.#pk.set(s.name, s.schema.names[s.schema.pk]);
    }
  }

  // --- the commit path: keep it cheap --------------------------------------

  #commit(lsn: number, entries: readonly LogEntry[]): void {
    let pks: (string | undefined)[] | null = null;
    let bytes = SLOT_BYTES;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const op = entry.op;
      const c0 = op.charCodeAt(0);
      if (c0 === 116 /* t */) {
        (pks ??= [])[i] = this.#pk.get(entry.args[0] as string);
      } else if (c0 === 100 /* d */ && op.charCodeAt(1) === 98 /* b */) {
        this.#schemaEvent(entry);
      }
      bytes += approxBytes(entry.args, SIZE_BUDGET);
    }
    this.#push(lsn, entries, pks, bytes);
    if (this.#cursors.size > 0) this.#schedule();
  }

  /** Mirrors creates and drops of tables, in commit order. */
  #schemaEvent(entry: LogEntry): void {
    const args = entry.args;
    if (entry.op === "db.createTable") {
      const def = args[0] as { name: string };
      const pk = pkOfSchema(def);
      if (pk !== undefined) this.#pk.set(def.name, pk);
      if (!this.#schemaEvents.has(def.name)) this.#schemaEvents.set(def.name, undefined);
    } else if (entry.op === "db.drop") {
      const name = args[0] as string;
      this.#pk.delete(name);
      if (!this.#schemaEvents.has(name)) this.#schemaEvents.set(name, args[2] as string | undefined);
    } else if (entry.op.startsWith("db.create")) {
      if (!this.#schemaEvents.has(args[0] as string)) this.#schemaEvents.set(args[0] as string, undefined);
    }
  }

  #push(lsn: number, entries: readonly LogEntry[], pks: (string | undefined)[] | null, bytes: number): void {
    if (this.#count === 0) this.#first = lsn;
    if (this.#count === this.#entries.length) {
      // Full: grow until the commit limit, then the oldest goes.
      if (this.#entries.length < this.#maxCommits || !this.#evictable()) this.#grow();
      else this.#evict();
    }
    const i = (this.#head + this.#count) % this.#entries.length;
    this.#entries[i] = entries;
    this.#pks[i] = pks;
    this.#sizes[i] = bytes;
    this.#changes[i] = null;
    this.#count++;
    this.#bytes += bytes;
    // The newest commit stays, however large: a resume from just before it must work.
    while (this.#bytes > this.#maxBytes && this.#count > 1 && this.#evictable()) this.#evict();
  }

  /**
   * Whether the oldest slot may go. Not while a durable cursor may still
   * need it, i.e. while it is not on disk yet: those commits are held by
   * the log writer's buffer until their fsync anyway, so keeping them here
   * too costs no more than what is already spent.
   */
  #evictable(): boolean {
    return this.#durableCursors === 0 || this.#p === null || this.#first <= this.#durableLsn;
  }

  /** Doubles the ring (up to the commit limit), oldest slot first. */
  #grow(): void {
    const n = this.#entries.length;
    const size = n < this.#maxCommits ? Math.min(this.#maxCommits, Math.max(16, n * 2)) : n * 2;
    const order = (a: unknown[]) => [...a.slice(this.#head), ...a.slice(0, this.#head)];
    this.#entries = order(this.#entries) as (readonly LogEntry[] | undefined)[];
    this.#pks = order(this.#pks) as ((string | undefined)[] | null)[];
    this.#sizes = order(this.#sizes) as number[];
    this.#changes = order(this.#changes) as (Change[] | null)[];
    this.#entries.length =
      this.#pks.length =
      this.#sizes.length =
      this.#changes.length =
        size;
    this.#head = 0;
  }

  /** Drops the oldest slot. */
  #evict(): void {
    const i = this.#head;
    this.#bytes -= this.#sizes[i];
    this.#entries[i] = undefined;
    this.#pks[i] = null;
    this.#changes[i] = null;
    this.#head = (i + 1) % this.#entries.length;
    this.#count--;
    this.#first++;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const c of this.#cursors) c.wake();
    });
  }

  #durable(lsn: number): void {
    if (lsn <= this.#durableLsn) return;
    this.#durableLsn = lsn;
    if (this.#cursors.size > 0) this.#schedule();
  }

  /** Memory went back to `lsn`: forget the undone commits; readers that saw them must start again. */
  #rewound(lsn: number): void {
    while (this.#count > 0 && this.#first + this.#count - 1 > lsn) {
      const i = (this.#head + this.#count - 1) % this.#entries.length;
      this.#bytes -= this.#sizes[i];
      this.#entries[i] = undefined;
      this.#pks[i] = null;
      this.#changes[i] = null;
      this.#count--;
    }
    if (this.#count === 0) this.#first = lsn + 1;
    this.#durableLsn = Math.min(this.#durableLsn, lsn);
    this.#resetKeys();
    for (const c of [...this.#cursors]) {
      const seen = Math.max(c.at, c.position);
      if (seen > lsn) {
        this.#fail(
          c,
          new ResetError(
            `The writes after LSN ${lsn} were rolled back after the disk refused them, and this watch had seen some of them: ` +
              "read the data again and watch from db.lsn (or watch with durable: true, which never sees such writes)",
          ),
        );
      }
    }
  }

  // --- reading -------------------------------------------------------------

  /** The changes of the commit `lsn`, derived on first read and kept in its slot. */
  #changesAt(lsn: number): Change[] {
    const i = (this.#head + (lsn - this.#first)) % this.#entries.length;
    let changes = this.#changes[i];
    if (changes === null) {
      const pks = this.#pks[i];
      changes = changesOf(lsn, this.#entries[i]!, (k) => pks?.[k]);
      // Kept for the other readers; a lone reader reads it once (keeping it would only age it in memory).
      if (this.#cursors.size > 1) this.#changes[i] = changes;
    }
    return changes;
  }

  /** Whether the commit `lsn` writes to any collection of `filter` (without deriving its changes). */
  #touches(lsn: number, filter: Set<string>): boolean {
    const entries = this.#entries[(this.#head + (lsn - this.#first)) % this.#entries.length]!;
    for (let i = 0; i < entries.length; i++) {
      const { op, args } = entries[i];
      const name = op === "db.createTable" ? (args[0] as { name: string }).name : args[0] as string;
      if (filter.has(name)) return true;
    }
    return false;
  }

  /** See {@linkcode FeedCursor.poll}. */
  poll(c: FeedCursor): FeedBatch | null {
    if (c.error !== null) throw c.error;
    if (c.closed) throw new ClosedError("This watch was stopped: start a new one");
    if (c.resuming) return null;
    const limit = this.#limit(c.durable);
    if (c.backlog.length > 0) {
      const next = c.backlog[0];
      if (next.lsn > limit) return null;
      c.backlog.shift();
      c.position = next.lsn;
      return next;
    }
    while (c.at < limit) {
      const lsn = c.at + 1;
      if (lsn < this.#first) {
        this.#fail(
          c,
          new LaggedError(
            `This watch fell behind: the commits after LSN ${c.position} left the feed's memory before it read them ` +
              `(it keeps the last ${this.#maxCommits} commits, at most about ${this.#maxBytes} bytes); ` +
              `watch again with from: ${c.position} to resume from the log, and read faster`,
            { lsn: c.position },
          ),
        );
        throw c.error;
      }
      const filter = c.filter;
      if (filter !== null && !this.#touches(lsn, filter)) {
        c.at = lsn;
        continue;
      }
      let changes: Change[];
      try {
        changes = this.#changesAt(lsn);
      } catch (e) {
        this.#fail(c, resetFor(e));
        throw c.error;
      }
      c.at = lsn;
      const mine = filter === null || allIn(changes, filter)
        ? changes
        : changes.filter((x) => filter.has(x.collection));
      if (mine.length > 0) {
        c.position = lsn;
        return { lsn, changes: mine };
      }
    }
    c.position = Math.max(c.position, c.at);
    return null;
  }

  #fail(c: FeedCursor, error: CyberDBError): void {
    if (c.error !== null || c.closed) return;
    c.error = error;
    c.backlog = [];
    this.#remove(c);
    c.wake();
  }

  /** @internal Forgets a closed cursor. */
  forget(c: FeedCursor): void {
    this.#remove(c);
  }

  #add(c: FeedCursor): void {
    this.#activate();
    this.#cursors.add(c);
    if (c.durable) this.#durableCursors++;
    else this.#release();
  }

  /** A cursor that sees commits before their fsync: the history file goes first, then the cursors are woken. */
  #release(): void {
    const p = this.#p;
    if (p === null || p.historyReleased) return;
    p.releaseHistory().then(() => {
      if (this.#cursors.size > 0) this.#schedule();
    }, () => {/* logged; the cursors go on seeing durable commits */});
  }

  #remove(c: FeedCursor): void {
    if (this.#cursors.delete(c) && c.durable) this.#durableCursors--;
    if (this.#cursors.size === 0 && this.#active && this.#linger === null && !this.#closed) {
      this.#linger = this.#scheduler.setTimeout(() => {
        this.#linger = null;
        if (this.#cursors.size === 0) this.#deactivate();
      }, LINGER_MS);
      // It never keeps a process alive.
      this.#scheduler.unref?.(this.#linger);
    }
  }

  /** Starts recording commits (an empty ring from the next LSN on), or keeps recording. */
  #activate(): void {
    if (this.#linger !== null) {
      this.#scheduler.clearTimeout(this.#linger);
      this.#linger = null;
    }
    if (this.#active) return;
    this.#active = true;
    this.#first = this.#e.lsn + 1;
    this.#resetKeys();
    this.#schemaEvents.clear();
    this.#unlisten = this.#e.onCommit((lsn, entries) => this.#commit(lsn, entries));
  }

  /** Stops recording and lets go of the ring. */
  #deactivate(): void {
    this.#active = false;
    this.#unlisten?.();
    this.#unlisten = null;
    this.#entries = [];
    this.#pks = [];
    this.#sizes = [];
    this.#changes = [];
    this.#head = this.#count = this.#bytes = 0;
    this.#first = this.#e.lsn + 1;
  }

  /**
   * Opens a cursor. Bad options → `ValidationError` / `NotFoundError`; a
   * `from` older than memory in a database without a log → `ResetError`,
   * at once. With a log, the commits before the ring are read back from it
   * first (the cursor's `poll` answers `null` meanwhile, and `wait`
   * resolves when they are there or the cursor failed).
   */
  open(options: unknown, allowed: readonly string[] = ["collections", "from", "durable", "history"]): FeedCursor {
    if (this.#closed) throw new ClosedError("The database is closed: open it again to watch it");
    const { filter, from, durable } = checkOptions(
      options,
      this.#e.lsn,
      (n) => this.#e.collections.has(n),
      allowed,
      this.history,
    );
    const c = new FeedCursor(this, filter, from, durable);
    // Recording from here on (if it was not): what came before is in the log.
    this.#activate();
    if (from < this.#first - 1) {
      if (this.#p === null) throw this.#tooOld(from);
      c.resuming = true;
      this.#add(c);
      const run = this.#reading.then(() => this.#resume(c));
      this.#reading = run.catch(() => {});
      run.then(
        () => {
          c.resuming = false;
          c.wake();
        },
        (e) => {
          c.resuming = false;
          this.#fail(c, e instanceof ResetError || e instanceof LaggedError ? e : resetFor(e, from));
        },
      );
      return c;
    }
    this.#add(c);
    return c;
  }

  #tooOld(from: number): ResetError {
    return new ResetError(
      `Cannot resume after LSN ${from}: the feed's memory starts at LSN ${this.#first}` +
        (this.#p === null
          ? " and this database keeps no log"
          : " and the log on disk no longer holds what came before") +
        `; read the data again and watch from db.lsn (${this.#e.lsn})`,
    );
  }

  /**
   * Reads the commits after the cursor's position and before the ring back
   * from the log, as batches in its backlog. The ring moves on meanwhile:
   * read again until the two meet.
   */
  async #resume(c: FeedCursor): Promise<void> {
    for (let round = 0;; round++) {
      if (c.closed || c.error !== null) return;
      const need = this.#first - 1;
      if (c.at >= need) return;
      if (round === CATCH_UP_ROUNDS) {
        throw new LaggedError(
          `Resuming after LSN ${c.position} did not catch up: writes come faster than the log can be read back; ` +
            `watch again with from: ${c.position}, or from db.lsn after reading the data again`,
          { lsn: c.position },
        );
      }
      const records: { lsn: number; entries: LogEntry[] }[] = [];
      let last: number | null;
      try {
        last = await this.#p!.readLog(c.at, need, (lsn, entries) => records.push({ lsn, entries }));
      } catch (e) {
        throw this.#tooOldBecause(c.at, e);
      }
      if (last === null || records.length === 0 || records[0].lsn !== c.at + 1) throw this.#tooOld(c.at);
      const keys = this.#keysFor(records);
      for (let n = 0; n < records.length; n++) {
        const r = records[n];
        const pks = keys[n];
        let changes: Change[];
        try {
          changes = changesOf(r.lsn, r.entries, (k) => pks?.[k]);
        } catch (e) {
          throw resetFor(e, c.at);
        }
        const filter = c.filter;
        const mine = filter === null ? changes : changes.filter((x) => filter.has(x.collection));
        if (mine.length > 0) c.backlog.push({ lsn: r.lsn, changes: mine });
        c.at = r.lsn;
      }
    }
  }

  #tooOldBecause(from: number, e: unknown): ResetError {
    const base = this.#tooOld(from);
    return new ResetError(
      `${base.message.split(";")[0]} (${e instanceof Error ? e.message.slice(0, 200) : String(e)}); ` +
        `read the data again and watch from db.lsn (${this.#e.lsn})`,
      { cause: e },
    );
  }

  /**
   * The primary-key columns of the table writes in records read back from
   * the log, per record and entry, as the tables were then: a table's
   * schema now, unless it was created or dropped since `from` — then only
   * a `db.createTable` earlier in the records tells it (else `undefined`:
   * the change cannot be told).
   */
  #keysFor(records: readonly { lsn: number; entries: LogEntry[] }[]): ((string | undefined)[] | null)[] {
    // Names created or dropped after `from`: in these records, or later, in the ring. The first such
    // event of a table that existed at `from` is its drop, which names the key column it had.
    const known = new Map<string, string | undefined>();
    const changed = new Set<string>();
    const note = (name: string, pkBefore: string | undefined) => {
      if (changed.has(name)) return;
      changed.add(name);
      if (pkBefore !== undefined) known.set(name, pkBefore);
    };
    for (const r of records) {
      for (const e of r.entries) {
        if (e.op === "db.createTable") note((e.args[0] as { name: string }).name, undefined);
        else if (e.op === "db.drop") note(e.args[0] as string, e.args[2] as string | undefined);
        else if (e.op.startsWith("db.create")) note(e.args[0] as string, undefined);
      }
    }
    for (const [name, pkBefore] of this.#schemaEvents) note(name, pkBefore);
    return records.map((r) => {
      let pks: (string | undefined)[] | null = null;
      r.entries.forEach((e, i) => {
        if (e.op.startsWith("table.")) {
          const name = e.args[0] as string;
          (pks ??= [])[i] = known.has(name) ? known.get(name) : changed.has(name) ? undefined : this.#pk.get(name);
        } else if (e.op === "db.createTable") {
          known.set((e.args[0] as { name: string }).name, pkOfSchema(e.args[0]));
        } else if (e.op === "db.drop") {
          known.set(e.args[0] as string, undefined);
        }
      });
      return pks;
    });
  }

  /** Ends every cursor (the database closes). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#linger !== null) this.#scheduler.clearTimeout(this.#linger);
    this.#linger = null;
    this.#unlisten?.();
    this.#unlisten = null;
    this.#p?.setFeedHooks(null);
    for (const c of [...this.#cursors]) c.close();
  }

  /** Whether the feed ended with its database. */
  get closed(): boolean {
    return this.#closed;
  }
}

/**
 * Whether every change is in `filter`. Then a filtered cursor hands out the
 * commit's shared array rather than a copy, so the server encodes a batch
 * once for all its watchers of a collection (its cache is keyed by the
 * array), not once per watcher.
 */
function allIn(changes: readonly Change[], filter: Set<string>): boolean {
  for (let i = 0; i < changes.length; i++) if (!filter.has(changes[i].collection)) return false;
  return true;
}

/** A ResetError for a record the feed cannot tell the changes of (or a failure reading the log). */
function resetFor(e: unknown, from?: number): ResetError {
  const why = e instanceof Underivable ? e.message : e instanceof Error ? e.message.slice(0, 200) : String(e);
  return new ResetError(
    `Cannot tell the changes ${from === undefined ? "" : `after LSN ${from} `}(${why}): ` +
      "read the data again and watch from db.lsn",
    { cause: e },
  );
}

/**
 * The async iterator `db.watch()` returns: one `Change[]` per commit, in
 * LSN order; `return()` (or `break`) stops it. The changes are copies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * const changes = db.watch({ collections: ["d"] });
 * d.set("a", 1);
 * const { value } = await changes.next();
 * assert.deepEqual(value, [{ lsn: 2, collection: "d", kind: "dict", type: "set", key: "a", value: 1 }]);
 * await changes.return();
 * ```
 */
export class ChangeStream implements AsyncIterableIterator<Change[]> {
  #cursor: FeedCursor;
  #chain: Promise<unknown> = Promise.resolve();

  /** @internal Made by `db.watch()`. */
  constructor(cursor: FeedCursor) {
    this.#cursor = cursor;
  }

  /**
   * The LSN up to which this stream has delivered everything it watches:
   * pass it as `from` to a later watch to go on where this one stopped.
   */
  get lsn(): number {
    return this.#cursor.position;
  }

  /** The next batch; the stream ends when stopped or when the database closes. */
  next(): Promise<IteratorResult<Change[]>> {
    const run = this.#chain.then(() => this.#next());
    this.#chain = run.catch(() => {});
    return run;
  }

  async #next(): Promise<IteratorResult<Change[]>> {
    const c = this.#cursor;
    for (;;) {
      if (c.closed) return { value: undefined, done: true };
      const batch = c.poll();
      if (batch !== null) return { value: batch.changes.map(copyChange), done: false };
      await c.wait();
    }
  }

  /** Stops the stream. */
  return(): Promise<IteratorResult<Change[]>> {
    this.#cursor.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Itself. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Change[]> {
    return this;
  }

  /** `await using changes = db.watch()` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.return().then(() => {});
  }
}

/**
 * Runs `fn` with every batch a cursor yields, on the feed's microtask,
 * until the cursor ends; errors go to `onError` (or are thrown on a
 * microtask of their own). Returns the unsubscribe function.
 *
 * @example
 * ```ts
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const seen: number[] = [];
 * const stop = db.subscribe((changes) => seen.push(changes[0].lsn));
 * db.createDict("d");
 * await Promise.resolve();
 * stop(); // seen: [1]
 * ```
 */
export function subscribeCursor(
  cursor: FeedCursor,
  fn: (changes: Change[]) => void,
  onError?: (error: CyberDBError) => void,
): () => void {
  const drain = () => {
    for (;;) {
      if (cursor.closed) return;
      let batch: FeedBatch | null;
      try {
        batch = cursor.poll();
      } catch (e) {
        cursor.onWake = null;
        const error = e as CyberDBError;
        if (onError !== undefined) onError(error);
        else {
          queueMicrotask(() => {
            throw error;
          });
        }
        return;
      }
      if (batch === null) return;
      try {
        fn(batch.changes.map(copyChange));
      } catch (e) {
        // A listener's error is reported as an event listener's is, and the feed goes on.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  };
  cursor.onWake = drain;
  // Catching up from the log, or batches already due: on a microtask, never inside the caller.
  queueMicrotask(drain);
  return () => cursor.close();
}
