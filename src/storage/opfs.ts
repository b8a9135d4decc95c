/**
 * `OpfsStorage`: the Storage interface over the browser's Origin Private
 * File System, for a database that lives in a dedicated Worker.
 *
 * What OPFS gives, and how each Storage method maps onto it (measured in
 * Chromium, see /work/shared/EDGE_FACTS.md):
 *
 * ```
 *   Storage                 OPFS (dedicated Worker only)
 *   ─────────────────────   ──────────────────────────────────────────────
 *   write / sync            syncHandle.write(bytes, { at: size }) / flush()
 *   truncate / size         syncHandle.truncate(n) / getSize()
 *   read, size (closed)     fileHandle.getFile()            (no handle needed)
 *   rename                  fileHandle.move(dir, name)      (replaces the target)
 *   remove / list / mkdir   removeEntry / keys() / getDirectoryHandle({ create })
 *   syncDir                 nothing to do: OPFS commits entries itself
 *   lock                    Web Lock "cyberdb:<path>" + the LOCK file, kept open
 * ```
 *
 * A sync access handle is exclusive: while one is open, no other handle on
 * the file can be created (not even read-only), and the file cannot be
 * moved or removed. POSIX code expects the opposite (an open file may be
 * renamed or unlinked), so every handle of this worker lives in one table
 * per worker (the "realm", below), shared by every `OpfsStorage` and every
 * copy of this module in it:
 *
 * - two opens of one path share one sync handle (reference-counted);
 * - `read`/`size` of an open file go through its handle;
 * - `rename` of an open file closes its handle, moves, and opens it again
 *   under the new name, so the open `StorageFile` keeps working;
 * - `remove` (or a rename onto it) of an open file first copies its bytes
 *   into memory and closes the handle — the open `StorageFile` then writes
 *   into that copy, which no restart sees, exactly as writes to an unlinked
 *   file on a disk; `identity()` tells the database so.
 *
 * Other tabs and workers cannot touch a file this worker has open (their
 * opens, moves and removals fail), which is what makes the table the truth
 * about open files and keeps `identity()` and `held()` free of I/O — the
 * database checks both before acknowledging every commit.
 *
 * @module
 */

import { ClosedError, LockedError, ValidationError } from "../errors.ts";
import type { CreateOptions, Storage, StorageFile, StorageLock } from "./types.ts";
import { preallocation, reserveEnd, zeroBytes } from "./preallocate.ts";
import { normalizePath } from "./paths.ts";
import { GrowableBytes } from "./growable_bytes.ts";

// ---- the slice of the OPFS and Web Locks APIs used here ---------------------
// Declared here because the type-checker's default libraries do not carry the
// DOM's worker-only types; read from globalThis inside function bodies only.

interface SyncAccessHandle {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

interface OpfsFileHandle {
  readonly kind: "file";
  getFile(): Promise<{ readonly size: number; arrayBuffer(): Promise<ArrayBuffer> }>;
  createSyncAccessHandle(): Promise<SyncAccessHandle>;
  move(destination: OpfsDirectoryHandle, name: string): Promise<void>;
}

interface OpfsDirectoryHandle {
  readonly kind: "directory";
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  keys(): AsyncIterable<string>;
}

interface LockManager {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<void> | null,
  ): Promise<void>;
}

interface BrowserGlobals {
  navigator?: {
    storage?: { getDirectory?: () => Promise<OpfsDirectoryHandle> };
    locks?: LockManager;
  };
  FileSystemFileHandle?: { prototype?: { createSyncAccessHandle?: unknown } };
}

function browser(): BrowserGlobals {
  return globalThis as unknown as BrowserGlobals;
}

/** What is missing for OpfsStorage here, or `null` when nothing is. */
function missingApi(): string | null {
  const g = browser();
  if (typeof g.navigator?.storage?.getDirectory !== "function") {
    return "this runtime has no Origin Private File System (navigator.storage.getDirectory)";
  }
  if (typeof g.FileSystemFileHandle?.prototype?.createSyncAccessHandle !== "function") {
    return "OPFS sync access handles exist only in a dedicated Worker, and this is not one (a page, a shared or service worker)";
  }
  if (typeof g.navigator?.locks?.request !== "function") {
    return "this runtime has no Web Locks (navigator.locks), which guard the database directory";
  }
  return null;
}

// ---- errors -------------------------------------------------------------------

function cap(s: string, n = 120): string {
  return s.length > n ? s.slice(0, n - 3) + "..." : s;
}

function quote(path: string): string {
  return JSON.stringify(cap(path));
}

function domName(e: unknown): string | undefined {
  return (e as { name?: string } | null)?.name;
}

/**
 * An OPFS failure as the error shape the database understands (failure.ts
 * reads `code`): a missing entry is ENOENT, a full origin quota EDQUOT.
 */
function osError(e: unknown, action: string, path: string): unknown {
  const name = domName(e);
  const code = name === "NotFoundError"
    ? "ENOENT"
    : name === "QuotaExceededError"
    ? "EDQUOT"
    : name === "TypeMismatchError"
    ? "ENOTDIR"
    : null;
  if (code === null) return e;
  const message = e instanceof Error ? e.message : String(e);
  return Object.assign(new Error(`${code}: ${action} ${quote(path)} failed: ${cap(message, 200)}`, { cause: e }), {
    code,
  });
}

function busyError(path: string, cause: unknown): LockedError {
  return new LockedError(
    `File ${quote(path)} is open in another tab or worker of this origin (OPFS allows one open handle per file); ` +
      `close the database there first, or talk to the worker that owns it instead of opening it twice.`,
    { cause },
  );
}

// ---- the realm: this worker's open files, identities and held locks ------------

/** One file open in this worker: its sync handle, shared by every StorageFile on it. */
class OpenEntry {
  path: string;
  readonly id: string;
  handle: SyncAccessHandle | null;
  /** Set once the file was removed or replaced under its open handles. */
  orphan: GrowableBytes | null = null;
  /** Set while a rename moves the file (its handle closed meanwhile): calls wait for it. */
  gate: Promise<void> | null = null;
  refs = 0;
  /**
   * The file's size, kept here rather than asked of the handle before every
   * append: only this handle can change the file while it is open, and
   * getSize() is a system call on the commit path.
   */
  end: number;
  /** Created with `CreateOptions.preallocate`: `end` is tracked here, zeros may lie past it. */
  preallocated = false;
  /** Zeros are kept written this far ahead of `end` (0: none, or none any more). */
  chunk = 0;
  /** Where the zeros written ahead end (see src/storage/preallocate.ts). */
  reserved = 0;
  /** Bytes past `end` may be in the file (zeros ahead, or part of a failed write). */
  tail = false;

  constructor(path: string, id: string, handle: SyncAccessHandle) {
    this.path = path;
    this.id = id;
    this.handle = handle;
    this.end = handle.getSize();
  }

  /** Opens on a handle again (after a rename moved the file). */
  reopen(handle: SyncAccessHandle): void {
    this.handle = handle;
    this.end = handle.getSize();
  }

  /** The open handle; after a rename that could not open the file again, an error saying so. */
  live(): SyncAccessHandle {
    if (this.handle) return this.handle;
    throw Object.assign(
      new Error(`EIO: file ${quote(this.path)} was moved but could not be opened again; open the database again`),
      { code: "EIO" },
    );
  }

  size(): number {
    if (this.orphan) return this.orphan.length;
    this.live();
    return this.end;
  }

  write(data: Uint8Array): void {
    if (this.orphan) return this.orphan.append(data);
    const h = this.live();
    const start = this.end;
    try {
      if (this.preallocated) this.tail = true; // until proven otherwise
      this.end += writeAll(h, data, this.end, this.path);
    } catch (e) {
      // A refused write (quota) may have stored part of it: the file's size
      // says how much, unless zeros lie ahead (then the tail is cut on close).
      if (!this.preallocated) this.end = h.getSize();
      throw e;
    }
    if (!this.preallocated) return;
    const reserved = reserveEnd(start, data.length, this.reserved, this.chunk);
    if (reserved === this.reserved) return void (this.tail = reserved > this.end);
    try {
      // Zeros from the append's end on; a write past them extended the file itself.
      for (let at = this.end; at < reserved;) at += writeAll(h, zeroBytes(reserved - at), at, this.path);
      this.reserved = reserved;
      this.tail = reserved > this.end;
    } catch {
      // Zeros are a speed-up, not a promise (see PreallocatedWrites): over
      // quota, none from now on; whatever part landed is cut with the tail.
      this.chunk = 0;
      this.reserved = this.end;
    }
  }

  truncate(size: number): void {
    if (this.orphan) return this.orphan.truncate(size);
    const h = this.live();
    try {
      h.truncate(size);
      this.end = this.reserved = size;
      this.tail = false;
    } catch (e) {
      if (!this.preallocated) this.end = h.getSize();
      throw e;
    }
  }

  /** Cuts the zeros ahead (and any failed write's part) off, durably: before the handle closes or moves. */
  cutTail(): void {
    if (!this.tail || this.orphan || !this.handle) return;
    this.truncate(this.end);
    this.handle.flush();
  }

  readAll(): Uint8Array {
    if (this.orphan) return this.orphan.bytes.slice(0, this.orphan.length);
    const h = this.live();
    const out = new Uint8Array(this.preallocated ? this.end : h.getSize());
    let done = 0;
    while (done < out.length) {
      const n = h.read(out.subarray(done), { at: done });
      if (n <= 0) break;
      done += n;
    }
    return done === out.length ? out : out.slice(0, done);
  }

  /** The file is gone from its path: keep its bytes in memory and let go of the handle. */
  detach(): void {
    if (this.orphan || !this.handle) return;
    this.orphan = new GrowableBytes(this.readAll());
    this.handle.close();
    this.handle = null;
  }
}

/** Writes all of `data` at `at` through the sync handle; returns its length. */
function writeAll(h: SyncAccessHandle, data: Uint8Array, at: number, path: string): number {
  for (let done = 0; done < data.length;) {
    const n = h.write(done === 0 ? data : data.subarray(done), { at: at + done });
    if (n <= 0) throw Object.assign(new Error(`EIO: the write to ${quote(path)} stored nothing`), { code: "EIO" });
    done += n;
  }
  return data.length;
}

interface Realm {
  /** Every file open in this worker, by normalized path. */
  open: Map<string, OpenEntry>;
  /** The identity handed out for each path seen (stable while nothing replaces the file). */
  ids: Map<string, string>;
  nextId: number;
  /** LOCK paths held by this worker (checked before any await, so racing lock() calls cannot both pass). */
  locks: Set<string>;
  /** Structural changes (open, rename, remove) run one at a time: each may await several OPFS calls. */
  queue: Promise<unknown>;
  root: Promise<OpfsDirectoryHandle> | null;
}

// A global symbol, not a module variable: two copies of this module in one
// worker (two bundles) must still share the one table of open handles.
const REALM = Symbol.for("@cyberdb/core/storage/opfs-realm");

function realm(): Realm {
  const g = globalThis as unknown as Record<symbol, Realm | undefined>;
  return (g[REALM] ??= {
    open: new Map(),
    ids: new Map(),
    nextId: 0,
    locks: new Set(),
    queue: Promise.resolve(),
    root: null,
  });
}

/** Runs `fn` after every structural change queued before it. */
function serial<T>(fn: () => Promise<T>): Promise<T> {
  const r = realm();
  const run = r.queue.then(fn, fn);
  r.queue = run.catch(() => {});
  return run;
}

function newId(r: Realm, path: string): string {
  const id = `opfs:${++r.nextId}`;
  r.ids.set(path, id);
  return id;
}

// ---- paths ----------------------------------------------------------------------

/** A path relative to the OPFS root, as its segments. */
function segments(path: string): string[] {
  const p = normalizePath(path);
  if (p === "." || p === "/") return [];
  const parts = p.replace(/^\//, "").split("/");
  if (parts.includes("..")) {
    throw new ValidationError(`Path ${quote(path)} leaves the OPFS root; use a path inside it, such as "app/db".`);
  }
  return parts;
}

function key(path: string): string {
  return segments(path).join("/");
}

function root(): Promise<OpfsDirectoryHandle> {
  const r = realm();
  r.root ??= browser().navigator!.storage!.getDirectory!();
  return r.root;
}

/** The directory handle of `parts`, or `null` when a part is missing. */
async function directory(parts: string[], create: boolean): Promise<OpfsDirectoryHandle | null> {
  let dir = await root();
  for (const part of parts) {
    try {
      dir = await dir.getDirectoryHandle(part, { create });
    } catch (e) {
      if (!create && (domName(e) === "NotFoundError" || domName(e) === "TypeMismatchError")) return null;
      throw e;
    }
  }
  return dir;
}

/** The parent directory and the name of `path`; the parent must exist. */
async function parentOf(path: string): Promise<{ dir: OpfsDirectoryHandle; name: string }> {
  const parts = segments(path);
  if (parts.length === 0) throw new ValidationError(`Path ${quote(path)} names the OPFS root, not a file.`);
  const dir = await directory(parts.slice(0, -1), false);
  if (dir === null) {
    throw osError(Object.assign(new Error("the directory does not exist"), { name: "NotFoundError" }), "Opening", path);
  }
  return { dir, name: parts[parts.length - 1] };
}

/** The file handle at `path`, or `null` when there is none. */
async function fileHandle(path: string): Promise<OpfsFileHandle | null> {
  const parts = segments(path);
  if (parts.length === 0) return null;
  const dir = await directory(parts.slice(0, -1), false);
  if (dir === null) return null;
  try {
    return await dir.getFileHandle(parts[parts.length - 1]);
  } catch (e) {
    if (domName(e) === "NotFoundError" || domName(e) === "TypeMismatchError") return null;
    throw e;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Opens a sync handle on `file`. A worker that just died (a reload, a
 * terminate) may hold its handles for a moment after its locks are free, so
 * a busy file is retried for about a second before it counts as another
 * live owner's.
 */
async function openHandle(file: OpfsFileHandle, path: string): Promise<SyncAccessHandle> {
  for (let delay = 5;; delay *= 2) {
    let handle: SyncAccessHandle;
    try {
      handle = await file.createSyncAccessHandle();
    } catch (e) {
      if (domName(e) !== "NoModificationAllowedError") throw osError(e, "Opening", path);
      if (delay > 640) throw busyError(path, e);
      await sleep(delay);
      continue;
    }
    // Browsers of 2022 (Chrome < 108, Safari < 16.4) shipped an earlier
    // draft, whose getSize/flush/truncate/close return promises.
    if (typeof (handle.getSize() as unknown) !== "number") {
      (handle.close() as unknown as Promise<void> | undefined)?.catch?.(() => {});
      throw new ValidationError(
        "This browser's OPFS sync access handles are the early asynchronous kind (Chrome before 108, " +
          "Safari before 16.4): OpfsStorage needs the synchronous ones of current browsers; update the browser.",
      );
    }
    return handle;
  }
}

// ---- the file handle given out ----------------------------------------------------

class OpfsFile implements StorageFile {
  #entry: OpenEntry;
  #closed = false;

  constructor(entry: OpenEntry) {
    this.#entry = entry;
    entry.refs++;
  }

  /**
   * Runs `fn` on the entry — at once, or once a rename moving it is done —
   * and turns a closed file or a failure into a rejection. Not an async
   * function: appends and flushes are synchronous calls on the handle, and
   * the commit path should not pay for more promise hops than it must.
   */
  #run<T>(action: string, fn: (entry: OpenEntry) => T): Promise<T> {
    const entry = this.#entry;
    if (this.#closed) {
      return Promise.reject(new ClosedError(`File ${quote(entry.path)} is closed; open it again to use it.`));
    }
    if (entry.gate) return entry.gate.then(() => this.#run(action, fn));
    try {
      return Promise.resolve(fn(entry));
    } catch (e) {
      return Promise.reject(osError(e, action, entry.path));
    }
  }

  write(data: Uint8Array): Promise<void> {
    return this.#run("Writing", (entry) => entry.write(data));
  }
  sync(): Promise<void> {
    return this.#run("Flushing", (entry) => {
      if (!entry.orphan) entry.live().flush();
    });
  }
  truncate(size: number): Promise<void> {
    return this.#run("Truncating", (entry) => entry.truncate(size));
  }
  size(): Promise<number> {
    return this.#run("Reading the size of", (entry) => entry.size());
  }
  identity(): Promise<string> {
    return this.#run("Reading the identity of", (entry) => entry.id);
  }
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const entry = this.#entry;
    if (--entry.refs > 0) return Promise.resolve();
    // The last one out closes the handle (in the queue: a rename may be
    // moving the file under it right now).
    return serial(() => {
      if (entry.refs > 0) return Promise.resolve();
      if (realm().open.get(entry.path) === entry) realm().open.delete(entry.path);
      try {
        entry.cutTail();
      } catch (e) {
        return Promise.reject(osError(e, "Closing", entry.path));
      } finally {
        entry.handle?.close();
        entry.handle = null;
      }
      return Promise.resolve();
    });
  }
}

/** Options of {@linkcode OpfsStorage}. */
export interface OpfsStorageOptions {
  /**
   * How long `lock()` waits for the directory's Web Lock while another tab
   * or worker holds it, in ms, before failing with `LockedError`
   * (default 5000; 0 = fail at once).
   *
   * Why wait at all: a page that reloads starts its new worker while the
   * old one may still be dying. Chromium lets a worker that is busy (in a
   * long task, or a chain of promises that never yields) finish for up to
   * 2 s after `terminate()` or a reload before it kills it, and the lock is
   * free only then (measured: ~2.0 s for a worker writing in a loop, ~2 ms
   * for an idle one). Without the wait, such a reload would fail to open
   * its own database. `Infinity` waits until the lock is free: the worker
   * of every tab can wait to take over when the owning tab closes (see
   * `serveTabs` in `@cyberdb/core/browser`).
   */
  lockTimeout?: number;
}

/**
 * Storage over the Origin Private File System, for a database inside a
 * **dedicated Worker** (the only place browsers offer OPFS's synchronous
 * access handles). Paths are relative to the origin's OPFS root. `sync()`
 * is the handle's `flush()`; the directory lock is a Web Lock, so a second
 * tab or worker that opens the same directory gets `LockedError` (after
 * waiting `lockTimeout` for it, default 5 s, which covers a reload), and a
 * worker that dies (closed tab, `worker.terminate()`, crash) frees it.
 *
 * The constructor throws `ValidationError` where OPFS sync handles are
 * missing (a page, a shared or service worker, a server runtime);
 * {@linkcode OpfsStorage.available} tells beforehand.
 *
 * @example
 * ```ts
 * // worker.ts, started by the page with new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })
 * import assert from "node:assert/strict";
 * import { Database, ValidationError } from "@cyberdb/core";
 * import { OpfsStorage } from "@cyberdb/core/storage";
 * if (OpfsStorage.available()) {
 *   const db = await Database.open({ dir: "app", storage: new OpfsStorage() });
 *   db.createDict("settings").set("theme", "dark");
 *   await db.flush(); // in OPFS now: a reload finds it
 *   await db.close();
 * } else {
 *   // Here (a server runtime, or a page): no sync access handles.
 *   assert.throws(() => new OpfsStorage(), ValidationError);
 * }
 * ```
 */
export class OpfsStorage implements Storage {
  /** Always `"opfs"`. */
  readonly kind = "opfs" as const;
  #lockTimeout: number;

  /** Storage over this origin's OPFS; throws `ValidationError` outside a dedicated Worker. */
  constructor(options: OpfsStorageOptions = {}) {
    const missing = missingApi();
    if (missing !== null) {
      throw new ValidationError(
        `OpfsStorage cannot run here: ${missing}. Open the database inside a dedicated Worker ` +
          `(new Worker(url, { type: "module" })) and talk to it from the page; see docs/edge.md, "In the browser".`,
      );
    }
    const t = options.lockTimeout ?? 5000;
    if (typeof t !== "number" || !(t >= 0)) {
      throw new ValidationError(
        `Option lockTimeout ${cap(String(t), 40)} must be a number of ms >= 0 (Infinity: wait until the lock is free).`,
      );
    }
    this.#lockTimeout = t;
  }

  /**
   * Whether this context can run `OpfsStorage`: OPFS with sync access
   * handles (a dedicated Worker) and Web Locks.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpfsStorage } from "@cyberdb/core/storage";
   * assert.equal(typeof OpfsStorage.available(), "boolean"); // false here, true in a dedicated Worker
   * ```
   */
  static available(): boolean {
    return missingApi() === null;
  }

  /** Creates the directory and any missing parents. */
  async mkdir(path: string): Promise<void> {
    try {
      await directory(segments(path), true);
    } catch (e) {
      throw osError(e, "Creating the directory", path);
    }
  }

  /** Entry names sorted ascending; `[]` when the directory is missing. */
  async list(path: string): Promise<string[]> {
    const dir = await directory(segments(path), false);
    if (dir === null) return [];
    const names: string[] = [];
    for await (const name of dir.keys()) names.push(name);
    return names.sort();
  }

  /** The file's bytes (through its handle when this worker has it open), or `null`. */
  read(path: string): Promise<Uint8Array | null> {
    return serial(async () => {
      const entry = realm().open.get(key(path));
      if (entry) return entry.readAll();
      const file = await fileHandle(path);
      if (file === null) return null;
      try {
        return new Uint8Array(await (await file.getFile()).arrayBuffer());
      } catch (e) {
        if (domName(e) === "NotFoundError") return null;
        throw osError(e, "Reading", path);
      }
    });
  }

  /** The file's size, or `null`. */
  async size(path: string): Promise<number | null> {
    const entry = realm().open.get(key(path));
    if (entry) {
      if (entry.gate) await entry.gate;
      return entry.size();
    }
    const file = await fileHandle(path);
    if (file === null) return null;
    try {
      return (await file.getFile()).size;
    } catch (e) {
      if (domName(e) === "NotFoundError") return null;
      throw osError(e, "Reading the size of", path);
    }
  }

  /**
   * The identity of the file at `path` (a number this worker gave it), or
   * `null`. Without I/O for a file open here: nothing else can move or
   * remove it while its handle is open.
   */
  async identity(path: string): Promise<string | null> {
    const k = key(path);
    const r = realm();
    const entry = r.open.get(k);
    if (entry) return entry.id;
    if ((await fileHandle(path)) === null) {
      r.ids.delete(k);
      return null;
    }
    return r.ids.get(k) ?? newId(r, k);
  }

  /** Opens for appending, creating the file when missing. */
  openAppend(path: string): Promise<StorageFile> {
    return serial(() => this.#open(path, false));
  }

  /** Creates (or empties) the file and opens it for appending. */
  create(path: string, options?: CreateOptions): Promise<StorageFile> {
    return serial(() => this.#open(path, true, preallocation(options)));
  }

  async #open(path: string, empty: boolean, preallocate = 0): Promise<OpfsFile> {
    const k = key(path);
    const r = realm();
    let entry = r.open.get(k);
    if (!entry) {
      const { dir, name } = await parentOf(path);
      let file: OpfsFileHandle;
      let fresh = false;
      try {
        file = await dir.getFileHandle(name).catch(async (e) => {
          if (domName(e) !== "NotFoundError") throw e;
          fresh = true;
          return await dir.getFileHandle(name, { create: true });
        });
      } catch (e) {
        throw osError(e, "Opening", path);
      }
      const handle = await openHandle(file, path);
      entry = new OpenEntry(k, fresh ? newId(r, k) : r.ids.get(k) ?? newId(r, k), handle);
      r.open.set(k, entry);
    }
    if (empty) {
      try {
        entry.truncate(0);
        entry.chunk = preallocate;
        entry.preallocated = preallocate > 0;
      } catch (e) {
        if (entry.refs === 0) {
          r.open.delete(k);
          entry.handle?.close();
        }
        throw osError(e, "Emptying", path);
      }
    }
    return new OpfsFile(entry);
  }

  /** Moves `from` to `to`, replacing `to`; files open here stay usable under their new name. */
  rename(from: string, to: string): Promise<void> {
    return serial(async () => {
      const [kf, kt] = [key(from), key(to)];
      if (kf === kt) {
        if ((await fileHandle(from)) === null) throw osError(notFound(), "Renaming", from);
        return;
      }
      const r = realm();
      const file = await fileHandle(from);
      if (file === null) throw osError(notFound(), "Renaming", from);
      const { dir, name } = await parentOf(to);
      const moving = r.open.get(kf);
      const replaced = r.open.get(kt);
      // Replaced: its open handles keep the old bytes, as an unlinked file's would.
      if (replaced) {
        replaced.detach();
        r.open.delete(kt);
      }
      // An open file cannot be moved: close its handle, move, open it again.
      // Calls on it wait at the gate meanwhile.
      let opened = () => {};
      if (moving?.handle) {
        moving.gate = new Promise<void>((resolve) => (opened = resolve));
        moving.cutTail();
        moving.handle.flush();
        moving.handle.close();
        moving.handle = null;
      }
      try {
        try {
          await file.move(dir, name);
        } catch (e) {
          if (moving && !moving.orphan) moving.reopen(await openHandle(file, from));
          throw osError(e, "Renaming", from);
        }
        const id = r.ids.get(kf) ?? `opfs:${++r.nextId}`;
        r.ids.delete(kf);
        r.ids.set(kt, id);
        if (moving && !moving.orphan) {
          r.open.delete(kf);
          moving.path = kt;
          r.open.set(kt, moving);
          moving.reopen(await openHandle(file, to));
        }
      } finally {
        if (moving) moving.gate = null;
        opened();
      }
    });
  }

  /** Removes a file; a missing one is fine. A file open here is detached first (see the module text). */
  remove(path: string): Promise<void> {
    return serial(async () => {
      const k = key(path);
      const r = realm();
      const parts = segments(path);
      const dir = parts.length > 0 ? await directory(parts.slice(0, -1), false) : null;
      if (dir === null) return;
      const entry = r.open.get(k);
      if (entry) {
        entry.detach();
        r.open.delete(k);
      }
      r.ids.delete(k);
      try {
        await dir.removeEntry(parts[parts.length - 1]);
      } catch (e) {
        if (domName(e) !== "NotFoundError") throw osError(e, "Removing", path);
      }
    });
  }

  /**
   * Nothing to do: OPFS has no directory fsync, and commits creates, moves
   * and removals itself.
   */
  syncDir(_path: string): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Takes the directory lock `path`: the Web Lock `cyberdb:<path>` (one
   * holder across every tab and worker of the origin, freed when its worker
   * dies), and the file `path` itself, kept open while held — so that no
   * other context can remove or replace it, and `held()` needs no I/O.
   */
  async lock(path: string): Promise<StorageLock> {
    const k = key(path);
    const r = realm();
    if (r.locks.has(k)) {
      throw new LockedError(
        `Lock ${
          quote(path)
        } is already held by this worker; close the database that holds it before opening the directory again.`,
      );
    }
    r.locks.add(k); // before any await, so two lock() calls in one tick cannot both pass
    let unlock: (() => void) | null = null;
    try {
      unlock = await webLock(`cyberdb:${k}`, this.#lockTimeout);
      if (unlock === null) {
        throw new LockedError(
          `Lock ${quote(path)} is held by another tab or worker of this origin (Web Lock ${
            quote(`cyberdb:${k}`)
          }); close the database there first, or send your calls to the worker that has it open ` +
            `(see docs/edge.md, "Other tabs").`,
        );
      }
      const file = await serial(() => this.#open(path, true));
      const id = await file.identity();
      await file.write(
        new TextEncoder().encode(JSON.stringify({ holder: "opfs", since: new Date().toISOString() }) + "\n"),
      );
      await file.sync();
      const ours = () => realm().open.get(k)?.id === id;
      let released = false;
      const free = unlock;
      return {
        release: async () => {
          if (released) return;
          released = true;
          try {
            const mine = ours();
            await file.close();
            if (mine) await this.remove(path).catch(() => {});
          } finally {
            r.locks.delete(k);
            free();
          }
        },
        held: () => Promise.resolve(!released && ours()),
      };
    } catch (e) {
      r.locks.delete(k);
      unlock?.();
      throw e;
    }
  }
}

function notFound(): Error {
  return Object.assign(new Error("the file does not exist"), { name: "NotFoundError" });
}

/**
 * Requests the Web Lock `name`; resolves with its release function, or
 * `null` when another context holds it (still, after `timeout` ms).
 */
function webLock(name: string, timeout: number): Promise<(() => void) | null> {
  const locks = browser().navigator!.locks!;
  return new Promise((resolve, reject) => {
    let free!: () => void;
    const held = new Promise<void>((r) => (free = r));
    const granted = (lock: unknown) => {
      if (lock === null) {
        resolve(null);
        return null;
      }
      resolve(free);
      return held;
    };
    if (timeout <= 0) {
      locks.request(name, { ifAvailable: true }, granted).catch(reject);
      return;
    }
    const abort = new AbortController();
    const timer = Number.isFinite(timeout) ? setTimeout(() => abort.abort(), timeout) : undefined;
    locks.request(name, { signal: abort.signal }, (lock) => {
      clearTimeout(timer);
      return granted(lock);
    }).catch((e) => {
      clearTimeout(timer);
      if (domName(e) === "AbortError") resolve(null);
      else reject(e);
    });
  });
}
