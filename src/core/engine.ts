/**
 * The engine core: the collections by name, transactions with undo, and the
 * hook through which every write reaches the log. Pure: no I/O, no runtime
 * globals. The public `Database` wraps one engine and adds durability.
 *
 * @module
 */

import { ClosedError, NotFoundError, StorageError, ValidationError, WrongKindError } from "../errors.ts";
import type { ColumnStore } from "./column_store.ts";
import type { CompiledSchema } from "./schema.ts";
import type { SecondaryIndex } from "./secondary_index.ts";
import type { SlotMap, Undo } from "./slot_map.ts";
import { type Key, quote, type Value } from "./value.ts";

/** The kinds of collection. */
export type Kind = "dict" | "list" | "table";

/** A dict's state. */
export interface DictState {
  /** Always `"dict"`. */
  readonly kind: "dict";
  /** The collection name. */
  readonly name: string;
  /** Key → stored value, in insertion order. */
  store: SlotMap<Key, Value>;
  /** Set once the collection is dropped; handles then refuse to work. */
  dropped: boolean;
}

/** A list's state. */
export interface ListState {
  /** Always `"list"`. */
  readonly kind: "list";
  /** The collection name. */
  readonly name: string;
  /** The stored elements. */
  items: Value[];
  /** The savepoint whose undo already holds a copy of `items` (see `list_ops.ts`). */
  copiedAt: number;
  /** Set once the collection is dropped. */
  dropped: boolean;
}

/** A table's state. */
export interface TableState {
  /** Always `"table"`. */
  readonly kind: "table";
  /** The collection name (= schema name). */
  readonly name: string;
  /** The compiled schema. */
  readonly schema: CompiledSchema;
  /** The rows, column-wise, in insertion order. */
  store: ColumnStore;
  /** Secondary indexes by column. */
  indexes: Map<string, SecondaryIndex>;
  /** Set once the collection is dropped. */
  dropped: boolean;
}

/** One entry of {@linkcode Database.collections}. */
export interface CollectionInfo {
  /** The collection name. */
  name: string;
  /** Its kind. */
  kind: Kind;
}

/** Any collection's state. */
export type State = DictState | ListState | TableState;

/** One logged write: the same `{ op, args }` the wire carries. */
export interface LogEntry {
  /** The operation name, e.g. `"dict.set"`. */
  op: string;
  /** Its arguments, starting with the collection name. */
  args: unknown[];
}

/**
 * Receives every committed write with its LSN: a single entry, or all the
 * entries of a transaction at once (they must be logged as one record). It
 * may throw (the log refused the record): then the write is not committed.
 */
export type Journal = (lsn: number, entries: LogEntry[]) => void;

/**
 * The same receiver for the common case of one entry outside a transaction,
 * without the entry object and its array (the log's hot path). It may throw
 * as a {@linkcode Journal} may.
 */
export type SingleJournal = (lsn: number, op: string, args: unknown[]) => void;

/** Told of every committed write after it committed (the change feed); must not throw. */
export type CommitListener = (lsn: number, entries: readonly LogEntry[]) => void;

/**
 * The engine core shared by the embedded API, the server and WAL replay.
 *
 * @example
 * ```ts
 * import { Engine } from "./engine.ts";
 * const e = new Engine();
 * e.transaction(() => {});
 * ```
 */
export class Engine {
  /** Collections by name. */
  readonly collections: Map<string, State> = new Map();
  /** Undo entries of the running transaction; `null` outside one. */
  undo: Undo = null;
  /** The id of the innermost running transaction level (0 outside). */
  savepoint = 0;
  /**
   * Whether anyone reads the entries of writes: the journal (the log), a
   * commit listener (the change feed while someone watches) or the running
   * transaction, which collects them. Ops build an entry and call `log`
   * only then; otherwise the write takes its LSN with `tick()` — every
   * committed write has one, in a memory-only database too (DESIGN §9) —
   * and skips building an entry nobody would read (which cost a memory-only
   * `dict.set` 12–15%). Kept as a field so the ops' guards stay one read.
   */
  logging = false;
  /** The LSN of the last committed write (0 before any). */
  lsn = 0;
  /** The time source of expiry (ms since the epoch); `Database.open({ clock })` sets it. */
  clock: () => number = Date.now;
  /**
   * Set while the log is replayed: no entry counts as expired then, because
   * the log holds every removal as an explicit delete, and what expired
   * since must not change how a recorded write lands.
   */
  replaying = false;
  /** Told the time of every expiry a write sets (the database arms its expiry timer); `null`: nobody listens. */
  expiryScheduled: ((at: number) => void) | null = null;
  /** Why the engine refuses work, once closed; `null` while open. */
  closedReason: string | null = null;
  /**
   * Why writes are refused while reads go on: the disk refused the log (full,
   * read-only, files removed). Set and cleared by the persistence layer;
   * `null` while writes are accepted.
   */
  storageError: StorageError | null = null;
  /**
   * What the layers above know about this database (durability, the change
   * feed, uptime), read by the `db.stats` op; `null` for a bare engine. Set
   * by `Database.open`.
   */
  facts: (() => Record<string, unknown>) | null = null;
  #journal: Journal | null = null;
  #single: SingleJournal | null = null;
  #listeners: CommitListener[] = [];
  #pending: LogEntry[] | null = null;
  #savepoints = 0;

  /**
   * Attaches (or detaches, with `null`) the receiver of committed writes;
   * `single`, if given, receives single writes outside a transaction
   * while no commit listener needs the entry (see {@linkcode SingleJournal}).
   */
  setJournal(journal: Journal | null, single: SingleJournal | null = null): void {
    this.#journal = journal;
    this.#single = journal === null ? null : single;
    this.#updateLogging();
  }

  /** Adds a listener told of every commit after it happened; returns its removal. */
  onCommit(listener: CommitListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    this.#updateLogging();
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
      this.#updateLogging();
    };
  }

  #updateLogging(): void {
    this.logging = this.#journal !== null || this.#listeners.length > 0 || this.#pending !== null;
  }

  /** The time that decides expiry now: the clock, or `-Infinity` (nothing expired) during replay. */
  now(): number {
    return this.replaying ? -Infinity : this.clock();
  }

  /** The LSN the write being made will commit with (its entries' version). */
  get nextLsn(): number {
    return this.lsn + 1;
  }

  /** Records a write that has been applied; ops call this after mutating. */
  log(op: string, args: unknown[]): void {
    if (this.#pending !== null) {
      this.#pending.push({ op, args });
      return;
    }
    if (this.#journal === null && this.#listeners.length === 0) {
      // Nobody receives entries (memory-only, nothing watching): the write
      // still takes its LSN, without the two objects #commit would build.
      this.lsn++;
      return;
    }
    try {
      const single = this.#single;
      if (single !== null && this.#listeners.length === 0) {
        const lsn = this.lsn + 1;
        single(lsn, op, args);
        this.lsn = lsn;
      } else this.#commit([{ op, args }]);
    } catch (e) {
      // The write is applied in memory but not logged: refuse everything
      // from now on rather than acknowledge state the log does not hold.
      this.closedReason = `a write could not be logged (${e instanceof Error ? e.message : String(e)}); ` +
        "reopen the database";
      throw e;
    }
  }

  /**
   * Commits a write whose entry nobody reads (`logging` is false): it only
   * takes the next LSN, as `log` would have given it.
   */
  tick(): void {
    this.lsn++;
  }

  /** Commits entries with the next LSN: the journal first (it may refuse), then the listeners. */
  #commit(entries: LogEntry[]): void {
    const lsn = this.lsn + 1;
    if (this.#journal !== null) this.#journal(lsn, entries);
    this.lsn = lsn;
    for (const listener of this.#listeners) {
      try {
        listener(lsn, entries);
      } catch { /* a listener never breaks a write */ }
    }
  }

  /** Throws {@linkcode ClosedError} once the database is closed. */
  checkOpen(): void {
    if (this.closedReason !== null) {
      throw new ClosedError(`The database is closed (${this.closedReason}): open it again to use it`);
    }
  }

  /**
   * Refuses a write before it changes anything while the disk refuses the
   * log: a fresh `StorageError` with the failure's message (its `cause`).
   * Every write op calls this first (see `op()` in `ops/types.ts`).
   */
  checkWritable(): void {
    const failed = this.storageError;
    if (failed !== null) throw new StorageError(failed.message, { cause: failed });
  }

  /** The live state of a handle, or the error explaining why it is gone. */
  checkState(state: State): void {
    if (this.closedReason !== null) this.checkOpen();
    if (state.dropped) {
      throw new NotFoundError(
        `The ${state.kind} ${quote(state.name)} was dropped: get a new handle once it is created again`,
      );
    }
  }

  /** Looks up a collection by name and kind. */
  resolve<K extends Kind>(name: unknown, kind: K): Extract<State, { kind: K }> {
    const state = this.collections.get(name as string);
    if (state === undefined) {
      if (typeof name !== "string") {
        throw new ValidationError(`Collection name ${quote(name)} is not a string: pass the name as a string`);
      }
      throw new NotFoundError(`No ${kind} named ${quote(name)} exists: create it first with create${cap(kind)}()`);
    }
    if (state.kind !== kind) {
      throw new WrongKindError(
        `Collection ${quote(name)} is a ${state.kind}, not a ${kind}: use get${cap(state.kind)}() or pick another name`,
      );
    }
    return state as Extract<State, { kind: K }>;
  }

  /**
   * Runs `fn` as one transaction: every write inside happens and is logged
   * together, or — if `fn` throws — none does. Nested calls are savepoints.
   */
  transaction<T>(fn: () => T): T {
    this.checkOpen();
    const outer = this.undo === null;
    if (outer) {
      this.undo = [];
      this.#pending = [];
      this.logging = true;
    }
    const undo = this.undo as Array<() => void>;
    const pending = this.#pending as LogEntry[];
    const undoMark = undo.length;
    const logMark = pending.length;
    const parent = this.savepoint;
    this.savepoint = ++this.#savepoints;
    let ok = false;
    try {
      const result = fn();
      if (isThenable(result)) {
        // The async remainder would run outside the transaction; refuse it.
        (result as PromiseLike<unknown>).then(undefined, () => {});
        throw new ValidationError(
          "transaction() got an async function: its awaits would let other writes interleave; pass a synchronous function and await outside it",
        );
      }
      // Logged before the undo entries are dropped, so a log failure can still roll back.
      if (outer && pending.length > 0) this.#commit(pending);
      ok = true;
      return result;
    } finally {
      if (!ok) {
        for (let i = undo.length - 1; i >= undoMark; i--) undo[i]();
        undo.length = undoMark;
        pending.length = logMark;
      }
      this.savepoint = parent;
      if (outer) {
        this.undo = null;
        this.#pending = null;
        this.#updateLogging();
      }
    }
  }
}

function isThenable(v: unknown): boolean {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

function cap(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}
