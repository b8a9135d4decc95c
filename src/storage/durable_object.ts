/**
 * `DurableObjectStorage`: the Storage interface over a Cloudflare Durable
 * Object's SQLite storage (`ctx.storage.sql`, a class listed under
 * `new_sqlite_classes`). There is no file system in workerd; files are rows.
 *
 * ```
 *  cyberdb_dirs    path TEXT PRIMARY KEY │ parent TEXT            one row per directory
 *  cyberdb_files   id INTEGER PRIMARY KEY AUTOINCREMENT │ dir TEXT │ name TEXT │ size INTEGER
 *                  UNIQUE (dir, name)                             one row per file (its "inode")
 *  cyberdb_chunks  file INTEGER │ at INTEGER │ data BLOB           the bytes of file `file` from
 *                  PRIMARY KEY (file, at)                         offset `at`, at most CHUNK_BYTES
 *
 *  file "db/wal/00000000000000000001.wal", 2.3 MiB:
 *    files  (7, "db/wal", "00000000000000000001.wal", 2411724)
 *    chunks (7, 0, <1 MiB>) (7, 1048576, <1 MiB>) (7, 2097152, <306 KiB>)
 * ```
 *
 * - A write is kept in memory until the next statement or commit (as a
 *   file system keeps it in its page cache until fsync), then appended as
 *   one row — or grows the last row while it is small, so a log of many small
 *   group commits does not become one row each — split at
 *   {@linkcode CHUNK_BYTES}: a Durable Object refuses a value over 2 MiB
 *   (`SQLITE_TOOBIG`), so no row comes near it, whatever the file's size.
 * - Rename is one UPDATE of the file's row (and the removal of a replaced
 *   target), in one transaction; a file's id never changes and is never
 *   reused (AUTOINCREMENT), so it is the file's identity.
 * - Durability: `sync()` (and `syncDir()`) waits one turn of the event
 *   loop — the commit window: the writes of the object's other events that
 *   arrive meanwhile join it —, puts every pending write into SQL in one
 *   transaction, and waits for the object's storage to commit it
 *   (`ctx.storage.sync()`). So `flush()` resolving means on disk, and one
 *   commit covers many WebSocket messages: each message is its own event,
 *   and a commit per event held a client with 1,000 calls in flight to
 *   ~1,400 writes/s here, against ~30,000/s with the window
 *   (bench/edge_bench.ts). Replies leave the object only after its writes
 *   commit anyway (Cloudflare's output gate). What a crash keeps is always a
 *   prefix of the commits: a stronger promise than a file system's.
 * - LOCK: a Durable Object is one single-threaded instance, and only it can
 *   reach its storage; two instances of one object never run at once. So the
 *   lock is held in memory, per underlying storage (two adapters over the
 *   same `ctx.storage` share it): a second `Database.open` in the same object
 *   gets `LockedError`. The lock file row exists while held, so `held()`
 *   notices it removed or replaced; a LOCK row left by an instance that was
 *   evicted or crashed belongs to nobody alive and is taken over.
 *
 * @module
 */

import { ClosedError, LockedError } from "../errors.ts";
import { basename, dirname, normalizePath } from "./paths.ts";
import type { Storage, StorageFile, StorageLock } from "./types.ts";

/** A value SQLite hands back or takes as a binding. */
export type SqlValue = string | number | null | ArrayBuffer | Uint8Array;

/** What this adapter needs of a cursor that `SqlStorage.exec` returns. */
export interface SqlCursorLike {
  /** Every remaining row as an object keyed by column name. */
  toArray(): Record<string, SqlValue>[];
}

/** What this adapter needs of `ctx.storage.sql` (Cloudflare's `SqlStorage`). */
export interface SqlStorageLike {
  /** Runs one statement with `?` bindings; synchronous. */
  exec(query: string, ...bindings: SqlValue[]): SqlCursorLike;
}

/**
 * What this adapter needs of `ctx.storage` (Cloudflare's
 * `DurableObjectStorage`, SQLite-backed): the SQL API, and where present
 * `transactionSync` (atomic groups of statements) and `sync` (waits until
 * every write so far is committed to disk).
 */
export interface DurableObjectStorageLike {
  /** The object's SQLite database. */
  readonly sql: SqlStorageLike;
  /** Runs `fn` as one transaction. */
  transactionSync?<T>(fn: () => T): T;
  /** Resolves once every write made so far is durable. */
  sync?(): Promise<void>;
}

/**
 * Bytes per chunk row: 1 MiB, half of the 2 MiB a Durable Object accepts in
 * one value (2 MiB less a few bytes of row overhead, measured; `SQLITE_TOOBIG`
 * past it), so the limit is never near.
 */
export const CHUNK_BYTES = 1024 * 1024;

/** A last chunk smaller than this grows by the next write instead of a new row following it. */
const GROW_BELOW = 16 * 1024;

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS cyberdb_dirs (path TEXT PRIMARY KEY, parent TEXT NOT NULL)",
  "CREATE INDEX IF NOT EXISTS cyberdb_dirs_parent ON cyberdb_dirs (parent)",
  "CREATE TABLE IF NOT EXISTS cyberdb_files (id INTEGER PRIMARY KEY AUTOINCREMENT, dir TEXT NOT NULL, " +
  "name TEXT NOT NULL, size INTEGER NOT NULL, UNIQUE (dir, name))",
  "CREATE TABLE IF NOT EXISTS cyberdb_chunks (file INTEGER NOT NULL, at INTEGER NOT NULL, data BLOB NOT NULL, " +
  "PRIMARY KEY (file, at)) WITHOUT ROWID",
];

/** The tables (and writes not yet committed) per underlying storage: every adapter over it sees the same. */
const TABLES = new WeakMap<object, Tables>();

/** Held locks per underlying storage: path → the holder's token. */
const LOCKS = new WeakMap<object, Map<string, object>>();

function quote(path: string): string {
  return JSON.stringify(path.length > 80 ? path.slice(0, 77) + "..." : path);
}

/** An error shaped like Node's for a failed system call, so `storageFailure` names the condition. */
function osError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function notFound(what: string, path: string): Error {
  return osError("ENOENT", `No such ${what} ${quote(path)} in the Durable Object's storage; create it first.`);
}

/**
 * SQLite's own failures, named as the disk conditions they are: a full
 * object (`SQLITE_FULL`, the per-object storage limit) is a full disk.
 */
function sqlFailure(e: unknown): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (/SQLITE_FULL|database or disk is full/i.test(message)) {
    return Object.assign(new Error(`ENOSPC: the Durable Object's storage is full (${message.slice(0, 200)})`), {
      code: "ENOSPC",
      cause: e,
    });
  }
  return e;
}

function bytes(v: SqlValue): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (v === null) return new Uint8Array(0);
  throw new Error(
    `A chunk row holds a value of type ${typeof v}, not bytes: the cyberdb_chunks table was changed by other code`,
  );
}

/** `data` as a binding of exactly its bytes (a view into a larger buffer is copied). */
function blob(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

/** The SQL of one object, with the few queries the adapter runs. */
class Tables {
  readonly sql: SqlStorageLike;
  #storage: DurableObjectStorageLike;
  #tx: <T>(fn: () => T) => T;
  /** Bytes written and not yet in SQL, per file id, in order. */
  #pending = new Map<number, Uint8Array[]>();
  #pendingBytes = new Map<number, number>();
  #commit: Promise<void> | null = null;

  constructor(storage: DurableObjectStorageLike) {
    this.sql = storage.sql;
    this.#storage = storage;
    this.#tx = storage.transactionSync ? (fn) => storage.transactionSync!(fn) : (fn) => fn();
    this.tx(() => {
      for (const statement of SCHEMA) this.sql.exec(statement);
    });
  }

  /**
   * Runs `fn` as one transaction, with SQLite's failures named as disk
   * conditions; bytes written and not yet in SQL go in first, so every
   * statement sees every write.
   */
  tx<T>(fn: () => T): T {
    try {
      return this.#tx(() => {
        this.#flushPending();
        return fn();
      });
    } catch (e) {
      throw sqlFailure(e);
    }
  }

  /** Keeps `data` for file `id` until the next statement or commit (a write is a memory copy). */
  buffer(id: number, data: Uint8Array): void {
    const list = this.#pending.get(id);
    if (list === undefined) this.#pending.set(id, [data.slice()]);
    else list.push(data.slice());
    this.#pendingBytes.set(id, (this.#pendingBytes.get(id) ?? 0) + data.byteLength);
  }

  /** Bytes of file `id` written and not yet in SQL. */
  pendingOf(id: number): number {
    return this.#pendingBytes.get(id) ?? 0;
  }

  #flushPending(): void {
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    this.#pendingBytes = new Map();
    for (const [id, parts] of pending) {
      const size = this.sizeOf(id);
      // Removed while open: like an unlinked file, the bytes go nowhere a restart can find.
      if (size === null) continue;
      const total = parts.reduce((n, p) => n + p.byteLength, 0);
      const joined = parts.length === 1 ? parts[0] : new Uint8Array(total);
      if (parts.length > 1) {
        let at = 0;
        for (const p of parts) {
          joined.set(p, at);
          at += p.byteLength;
        }
      }
      this.append(id, size, joined);
    }
  }

  /**
   * Makes every write so far durable: after one turn of the event loop (the
   * commit window: writes of other events that arrive meanwhile join this
   * commit), the pending bytes go into SQL in one transaction and the
   * object's storage commits (`sync()`). Callers in the same window share
   * one commit.
   */
  commit(): Promise<void> {
    this.#commit ??= (async () => {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      this.#commit = null;
      this.tx(() => {});
      try {
        await this.#storage.sync?.();
      } catch (e) {
        throw sqlFailure(e);
      }
    })();
    return this.#commit;
  }

  rows(query: string, ...bindings: SqlValue[]): Record<string, SqlValue>[] {
    return this.sql.exec(query, ...bindings).toArray();
  }

  isDir(path: string): boolean {
    return path === "." || path === "/" || this.rows("SELECT 1 FROM cyberdb_dirs WHERE path = ?", path).length > 0;
  }

  /** The file at a normalized path: its id and size, or `null`. */
  file(path: string): { id: number; size: number } | null {
    const row = this.rows(
      "SELECT id, size FROM cyberdb_files WHERE dir = ? AND name = ?",
      dirname(path),
      basename(path),
    )[0];
    return row === undefined ? null : { id: Number(row.id), size: Number(row.size) };
  }

  /** The size of file `id`, or `null` once it was removed. */
  sizeOf(id: number): number | null {
    const row = this.rows("SELECT size FROM cyberdb_files WHERE id = ?", id)[0];
    return row === undefined ? null : Number(row.size);
  }

  /** Creates the file row (empty) for a normalized path whose directory exists. */
  createFile(path: string): number {
    const row = this.rows(
      "INSERT INTO cyberdb_files (dir, name, size) VALUES (?, ?, 0) RETURNING id",
      dirname(path),
      basename(path),
    )[0];
    return Number(row.id);
  }

  dropFile(id: number): void {
    this.sql.exec("DELETE FROM cyberdb_chunks WHERE file = ?", id);
    this.sql.exec("DELETE FROM cyberdb_files WHERE id = ?", id);
  }

  /** Appends `data` to file `id` of `size` bytes. */
  append(id: number, size: number, data: Uint8Array): void {
    let rest = data;
    const last = this.rows(
      "SELECT at, data FROM cyberdb_chunks WHERE file = ? ORDER BY at DESC LIMIT 1",
      id,
    )[0];
    if (last !== undefined) {
      const tail = bytes(last.data);
      // Grow a small last chunk rather than adding a row per small write.
      if (tail.byteLength < GROW_BELOW) {
        const take = Math.min(rest.byteLength, CHUNK_BYTES - tail.byteLength);
        const grown = new Uint8Array(tail.byteLength + take);
        grown.set(tail);
        grown.set(rest.subarray(0, take), tail.byteLength);
        this.sql.exec("UPDATE cyberdb_chunks SET data = ? WHERE file = ? AND at = ?", grown, id, Number(last.at));
        rest = rest.subarray(take);
        size += take;
      }
    }
    for (let at = 0; at < rest.byteLength; at += CHUNK_BYTES) {
      const part = rest.subarray(at, Math.min(rest.byteLength, at + CHUNK_BYTES));
      this.sql.exec("INSERT INTO cyberdb_chunks (file, at, data) VALUES (?, ?, ?)", id, size + at, blob(part));
    }
    this.sql.exec("UPDATE cyberdb_files SET size = ? WHERE id = ?", size + rest.byteLength, id);
  }

  /** Cuts file `id` of `size` bytes to `to` bytes (or extends it with zeros). */
  truncate(id: number, size: number, to: number): void {
    if (to > size) return this.append(id, size, new Uint8Array(to - size));
    this.sql.exec("DELETE FROM cyberdb_chunks WHERE file = ? AND at >= ?", id, to);
    const last = this.rows(
      "SELECT at, data FROM cyberdb_chunks WHERE file = ? ORDER BY at DESC LIMIT 1",
      id,
    )[0];
    if (last !== undefined) {
      const at = Number(last.at);
      const data = bytes(last.data);
      if (at + data.byteLength > to) {
        this.sql.exec(
          "UPDATE cyberdb_chunks SET data = ? WHERE file = ? AND at = ?",
          data.slice(0, to - at),
          id,
          at,
        );
      }
    }
    this.sql.exec("UPDATE cyberdb_files SET size = ? WHERE id = ?", to, id);
  }

  /** The whole content of file `id` of `size` bytes. */
  read(id: number, size: number, path: string): Uint8Array {
    const out = new Uint8Array(size);
    let end = 0;
    for (const row of this.rows("SELECT at, data FROM cyberdb_chunks WHERE file = ? ORDER BY at", id)) {
      const data = bytes(row.data);
      if (Number(row.at) !== end || end + data.byteLength > size) {
        throw new Error(
          `The chunks of ${quote(path)} do not line up (a chunk at ${Number(row.at)}, expected ${end}): ` +
            "the cyberdb_chunks table was changed by other code",
        );
      }
      out.set(data, end);
      end += data.byteLength;
    }
    if (end !== size) {
      throw new Error(`The chunks of ${quote(path)} hold ${end} bytes, its row says ${size}: the tables were changed`);
    }
    return out;
  }
}

class DurableObjectFile implements StorageFile {
  #t: Tables;
  #id: number;
  #path: string;
  #closed = false;
  /** Bytes written since the file was removed under this handle (they go nowhere, as on a disk). */
  #orphan = 0;

  constructor(tables: Tables, id: number, path: string) {
    this.#t = tables;
    this.#id = id;
    this.#path = path;
  }

  #check(): void {
    if (this.#closed) throw new ClosedError(`File ${quote(this.#path)} is closed; open it again to use it.`);
  }

  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async write(data: Uint8Array): Promise<void> {
    this.#check();
    if (data.byteLength === 0) return;
    // Removed while open: like an unlinked file, the bytes go nowhere a restart can find.
    if (this.#t.sizeOf(this.#id) === null) this.#orphan += data.byteLength;
    else this.#t.buffer(this.#id, data);
  }

  async sync(): Promise<void> {
    this.#check();
    await this.#t.commit();
  }

  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async truncate(size: number): Promise<void> {
    this.#check();
    this.#t.tx(() => {
      const now = this.#t.sizeOf(this.#id);
      if (now === null) this.#orphan = size;
      else this.#t.truncate(this.#id, now, size);
    });
  }

  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async size(): Promise<number> {
    this.#check();
    const size = this.#t.sizeOf(this.#id);
    return size === null ? this.#orphan : size + this.#t.pendingOf(this.#id);
  }

  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async identity(): Promise<string> {
    this.#check();
    return `do:${this.#id}`;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/**
 * The Storage interface over a Durable Object's SQLite storage: pass
 * `ctx.storage` of a class listed under `new_sqlite_classes`. See the
 * module text for the layout, durability and what LOCK means here.
 * `CyberDBObject` (`@cyberdb/core/cloudflare`) opens its database on it;
 * use it directly for a Durable Object of your own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // @ts-expect-error: the project's @types/node (20) predates node:sqlite; Deno and Node 22 have it.
 * import { DatabaseSync } from "node:sqlite";
 * import { Database } from "@cyberdb/core";
 * import { DurableObjectStorage, type SqlValue } from "@cyberdb/core/storage";
 * // In a Durable Object: new DurableObjectStorage(ctx.storage). Outside one,
 * // SQLite from node:sqlite stands in for ctx.storage.sql:
 * const sqlite = new DatabaseSync(":memory:");
 * const ctxStorage = {
 *   sql: {
 *     exec(query: string, ...bindings: SqlValue[]) {
 *       const statement = sqlite.prepare(query);
 *       // Like SqlStorage.exec: runs now; rows for statements that return some.
 *       const rows = /\b(SELECT|RETURNING)\b/.test(query) ? statement.all(...bindings) : (statement.run(...bindings), []);
 *       return { toArray: (): Record<string, SqlValue>[] => rows };
 *     },
 *   },
 * };
 * const db = await Database.open({ dir: "db", storage: new DurableObjectStorage(ctxStorage), sync: "always" });
 * db.createDict("hits").set("n", 1);
 * await db.close();
 * const again = await Database.open({ dir: "db", storage: new DurableObjectStorage(ctxStorage) });
 * assert.equal(again.getDict("hits").get("n"), 1); // read back from the SQL tables
 * await again.close();
 * ```
 */
export class DurableObjectStorage implements Storage {
  /** Always `"durable-object"`. */
  readonly kind = "durable-object" as const;
  #t: Tables;
  #locks: Map<string, object>;

  /** An adapter over `storage` (`ctx.storage`); creates its three tables when missing. */
  constructor(storage: DurableObjectStorageLike) {
    let tables = TABLES.get(storage);
    if (tables === undefined) TABLES.set(storage, tables = new Tables(storage));
    this.#t = tables;
    let locks = LOCKS.get(storage);
    if (locks === undefined) LOCKS.set(storage, locks = new Map());
    this.#locks = locks;
  }

  /** Creates a directory and its parents. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async mkdir(path: string): Promise<void> {
    const p = normalizePath(path);
    this.#t.tx(() => {
      for (let d = p; !this.#t.isDir(d); d = dirname(d)) {
        if (this.#t.file(d) !== null) throw new Error(`Cannot create directory ${quote(d)}: a file has that name.`);
        this.#t.sql.exec("INSERT INTO cyberdb_dirs (path, parent) VALUES (?, ?)", d, dirname(d));
      }
    });
  }

  /** Entry names (files and subdirectories), sorted; `[]` for a missing directory. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async list(path: string): Promise<string[]> {
    const p = normalizePath(path);
    const names = this.#t.rows("SELECT name FROM cyberdb_files WHERE dir = ?", p).map((r) => String(r.name));
    for (const r of this.#t.rows("SELECT path FROM cyberdb_dirs WHERE parent = ? AND path != ?", p, p)) {
      names.push(basename(String(r.path)));
    }
    return names.sort();
  }

  /** The file's bytes, or `null` when it does not exist. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async read(path: string): Promise<Uint8Array | null> {
    const p = normalizePath(path);
    return this.#t.tx(() => {
      const f = this.#t.file(p);
      return f === null ? null : this.#t.read(f.id, f.size, p);
    });
  }

  /** The file's size, or `null` when it does not exist. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async size(path: string): Promise<number | null> {
    const f = this.#t.file(normalizePath(path));
    return f === null ? null : f.size + this.#t.pendingOf(f.id);
  }

  /** The identity of the file at `path` (its row id), or `null`. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async identity(path: string): Promise<string | null> {
    const f = this.#t.file(normalizePath(path));
    return f === null ? null : `do:${f.id}`;
  }

  #open(path: string, truncate: boolean): StorageFile {
    const p = normalizePath(path);
    const id = this.#t.tx(() => {
      if (this.#t.isDir(p)) throw new Error(`Cannot open ${quote(path)}: it is a directory.`);
      if (!this.#t.isDir(dirname(p))) throw notFound("directory", dirname(p));
      const f = this.#t.file(p);
      if (f === null) return this.#t.createFile(p);
      if (truncate) this.#t.truncate(f.id, f.size, 0);
      return f.id;
    });
    return new DurableObjectFile(this.#t, id, p);
  }

  /** Opens for appending, creating the file when missing. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async openAppend(path: string): Promise<StorageFile> {
    return this.#open(path, false);
  }

  /** Creates or empties the file and opens it for appending. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async create(path: string): Promise<StorageFile> {
    return this.#open(path, true);
  }

  /** Moves a file (one UPDATE), replacing `to`. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async rename(from: string, to: string): Promise<void> {
    const f = normalizePath(from);
    const t = normalizePath(to);
    this.#t.tx(() => {
      const source = this.#t.file(f);
      if (source === null) throw notFound("file", from);
      if (this.#t.isDir(t)) throw new Error(`Cannot rename onto ${quote(to)}: it is a directory.`);
      if (!this.#t.isDir(dirname(t))) throw notFound("directory", dirname(t));
      const target = this.#t.file(t);
      if (target !== null && target.id === source.id) return;
      if (target !== null) this.#t.dropFile(target.id);
      this.#t.sql.exec("UPDATE cyberdb_files SET dir = ?, name = ? WHERE id = ?", dirname(t), basename(t), source.id);
    });
  }

  /** Removes a file; a missing one is fine. */
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a disk
  async remove(path: string): Promise<void> {
    const p = normalizePath(path);
    this.#t.tx(() => {
      if (this.#t.isDir(p)) throw new Error(`Cannot remove ${quote(path)}: it is a directory.`);
      const f = this.#t.file(p);
      if (f !== null) this.#t.dropFile(f.id);
    });
  }

  /** Waits until the directory's entries are committed (with every other write). */
  async syncDir(path: string): Promise<void> {
    if (!this.#t.isDir(normalizePath(path))) throw notFound("directory", path);
    await this.#t.commit();
  }

  /**
   * Takes the lock `path` in this object: held in memory (one instance, one
   * thread: no other process can reach this storage), with a lock file
   * row while held. A second taker in the same object gets `LockedError`.
   */
  async lock(path: string): Promise<StorageLock> {
    const p = normalizePath(path);
    if (this.#locks.has(p)) {
      throw new LockedError(
        `Lock ${quote(path)} is already held in this Durable Object: ` +
          "close the database that holds it before opening the directory again (one database per object and directory)",
      );
    }
    const token = {};
    this.#locks.set(p, token);
    let id: number;
    try {
      // A LOCK row left by an instance that crashed or was evicted belongs to nobody alive: replaced.
      const file = this.#open(p, true);
      await file.write(new TextEncoder().encode("cyberdb lock: held by the running instance of this object\n"));
      id = Number((await file.identity!()).slice(3));
      await file.close();
    } catch (e) {
      this.#locks.delete(p);
      throw e;
    }
    const ours = () => this.#t.file(p)?.id === id;
    let released = false;
    return {
      // deno-lint-ignore require-await -- async: a failure is a rejection
      release: async () => {
        if (released) return;
        released = true;
        if (this.#locks.get(p) === token) this.#locks.delete(p);
        // Only our own lock file: a replaced one belongs to whoever replaced it.
        this.#t.tx(() => {
          if (ours()) this.#t.dropFile(id);
        });
      },
      held: () => Promise.resolve(!released && ours()),
    };
  }
}
