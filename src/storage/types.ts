/**
 * The storage seam: the only interface through which @cyberdb/core touches
 * files. Every implementation passes one conformance suite
 * (`tests/fixtures/storage_conformance.ts`) in its own runtime: Deno
 * (`deno.ts`), Node and Bun (`node.ts`), memory (`memory.ts`, for tests and
 * crash simulation), Deno KV (`deno_kv.ts`), OPFS (`opfs.ts`, browser
 * workers, run inside Chromium by `tests/opfs_test.ts`) and Cloudflare
 * Durable Objects (`durable_object.ts`, run inside workerd by
 * `tests/cloudflare_test.ts`).
 *
 * Paths are plain strings joined with `/`; the database decides the layout
 * (DESIGN §6), storage only does what it is told, durably when asked.
 *
 * @module
 */

/**
 * One file opened for appending. Every `write` lands at the end of the file;
 * nothing is durable until `sync()` resolves.
 */
export interface StorageFile {
  /** Appends every byte of `data` at the end of the file (loops on short writes). */
  write(data: Uint8Array): Promise<void>;
  /** Makes every byte written so far durable (fdatasync or the runtime's nearest). */
  sync(): Promise<void>;
  /** Cuts the file to `size` bytes; later writes append from there. */
  truncate(size: number): Promise<void>;
  /** The current size of the file in bytes. */
  size(): Promise<number>;
  /** Closes the handle; further calls fail. Closing twice is harmless. */
  close(): Promise<void>;
  /**
   * The identity of the open file (device and inode, as a string). Compared
   * with {@linkcode Storage.identity} of its path, it tells whether the file
   * was removed or replaced while open — writes to it would then go nowhere
   * a restart can find. Optional: a storage without it skips that check.
   */
  identity?(): Promise<string>;
}

/**
 * Options of {@linkcode Storage.create}.
 *
 * Why preallocate: on most file systems (ext4, xfs, APFS) an fsync after an
 * append must also commit the file's new size and block allocation, while
 * an fsync after overwriting blocks already written only writes the data.
 * Measured here (ext4, 2.8 KB per fsync): 143–190 µs appending, 91–120 µs
 * overwriting preallocated zeros, the zeros' own writes included. PostgreSQL
 * zero-fills its log segments for the same reason.
 */
export interface CreateOptions {
  /**
   * Keep about this many bytes of zeros written past the end of the file
   * while it is open (0 or absent: plain appends). Appends then overwrite
   * the zeros in place, and a new run of zeros is written whenever an
   * append would pass them. The file's own `size()` counts only what was
   * appended; `truncate()` and `close()` cut the zeros off (`close()`
   * durably). While it is open, `Storage.size` and `Storage.read` of its
   * path may see the zeros, and after a crash they stay at the end of the
   * file: the log reader takes a zero-filled tail (or a torn record before
   * one) as the torn tail it cuts. Storages without a file system (memory,
   * Deno KV, Durable Objects) ignore it, and the Node and Deno storages skip
   * it on file systems where it gains nothing (tmpfs, btrfs, ZFS, …).
   */
  preallocate?: number;
}

/** A held directory lock; `release()` gives it back (idempotent). */
export interface StorageLock {
  /** Releases the lock and removes the lock file (only while it is still this lock's). */
  release(): Promise<void>;
  /**
   * Whether the lock file is still the one this lock created: not removed,
   * not replaced by another process's. A database checks it before
   * acknowledging writes. Optional: without it the check is skipped.
   */
  held?(): Promise<boolean>;
}

/** The file operations the database needs, nothing more. */
export interface Storage {
  /**
   * Which implementation this is: `"deno"`, `"node"` (Node and Bun),
   * `"memory"`, `"deno-kv"` (Deno KV), `"opfs"` (browser workers) or
   * `"durable-object"` (a Cloudflare Durable Object's SQLite).
   */
  readonly kind: "deno" | "node" | "memory" | "deno-kv" | "opfs" | "durable-object";
  /** Creates a directory and any missing parents; an existing one is fine. */
  mkdir(path: string): Promise<void>;
  /** The entry names in a directory, sorted ascending; `[]` when it does not exist. */
  list(path: string): Promise<string[]>;
  /** The whole content of a file, or `null` when it does not exist. */
  read(path: string): Promise<Uint8Array | null>;
  /** The size of a file in bytes, or `null` when it does not exist. */
  size(path: string): Promise<number | null>;
  /** Opens a file for appending, creating it (empty) when missing. */
  openAppend(path: string): Promise<StorageFile>;
  /**
   * Creates (or empties) a file and opens it for appending. With
   * `options.preallocate`, a storage on a real file system may keep zeros
   * written ahead of the end (see {@linkcode CreateOptions}); others ignore it.
   */
  create(path: string, options?: CreateOptions): Promise<StorageFile>;
  /** Renames atomically, replacing `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing file is fine. */
  remove(path: string): Promise<void>;
  /** Makes the directory's entries (creates, renames, removals) durable. */
  syncDir(path: string): Promise<void>;
  /**
   * The identity of the file at `path` (see {@linkcode StorageFile.identity}),
   * or `null` when there is none. Optional, with `StorageFile.identity`.
   */
  identity?(path: string): Promise<string | null>;
  /**
   * Takes the exclusive lock `path` (a file such as `<dir>/LOCK`). Throws
   * `LockedError` when another open database holds it, in this process or a
   * live other one; a lock left by a process that died is taken over.
   */
  lock(path: string): Promise<StorageLock>;
  /**
   * Lets a background timer (fsync interval, snapshot interval) not keep the
   * process alive. Timers are a runtime matter like files: Node's have
   * `unref()`, older Deno's are numbers for `Deno.unrefTimer`, browsers need
   * nothing. The default `Scheduler` of a database unrefs through this.
   */
  unrefTimer?(timer: unknown): void;
}
