/**
 * `MemoryStorage`: the Storage interface in plain JavaScript, for browsers,
 * edge runtimes and tests. It models what a disk keeps across a power cut,
 * so that `crash()` can throw away exactly what a real crash could lose:
 *
 * - file content is durable up to its last `sync()`;
 * - directory entries (creates, renames, removals) are durable as of the last
 *   `syncDir()` of that directory;
 * - directories themselves are durable as soon as `mkdir` returns (the real
 *   storages fsync the parent of every directory they create, to match).
 *
 * @module
 */

import { ClosedError, LockedError } from "../errors.ts";
import type { Storage, StorageFile, StorageLock } from "./types.ts";
import { basename, dirname, normalizePath } from "./paths.ts";
import { GrowableBytes } from "./growable_bytes.ts";

let inodes = 0;

/** One file's bytes, shared by every directory entry and handle naming it. */
class Inode extends GrowableBytes {
  /** A number no other inode of this process has: the file's identity. */
  readonly id = ++inodes;
  syncedLength = 0;
  // The synced content when it no longer equals bytes[0, syncedLength): only
  // after a truncate below the synced length (copy-on-write, so sync() is O(1)).
  syncedCopy: Uint8Array | null = null;

  override truncate(size: number): void {
    if (size < this.syncedLength && !this.syncedCopy) {
      this.syncedCopy = this.bytes.slice(0, this.syncedLength);
    }
    super.truncate(size);
  }

  sync(): void {
    this.syncedLength = this.length;
    this.syncedCopy = null;
  }

  revert(): void {
    if (this.syncedCopy) this.bytes = this.syncedCopy;
    this.length = this.syncedLength;
    this.syncedCopy = null;
  }

  /** Replaces the content, durably (test helper semantics). */
  replace(data: Uint8Array): void {
    this.bytes = data.slice();
    this.length = data.length;
    this.sync();
  }
}

/** A disk condition injected by {@linkcode MemoryStorage.setFault}. */
export interface MemoryFault {
  /** Total bytes the files may hold; a write past it stores what fits and fails with ENOSPC. */
  capacity?: number;
  /** Every change (write, sync, create, truncate, rename, remove, mkdir, syncDir) fails with EROFS. */
  readOnly?: boolean;
}

/** What a handle checks on every call: a crash kills handles of older generations. */
interface World {
  generation: number;
  fault: MemoryFault | null;
  /** Bytes held by every file (for `capacity`). */
  used: () => number;
}

function notFound(what: string, path: string): Error {
  const e = new Error(`No such ${what} ${JSON.stringify(path)}; create it first.`);
  (e as Error & { code: string }).code = "ENOENT";
  return e;
}

/** An error shaped like Node's for a failed system call (`code` and message). */
function osError(code: "ENOSPC" | "EROFS", syscall: string, path: string): Error {
  const what = code === "ENOSPC" ? "no space left on device" : "read-only file system";
  return Object.assign(new Error(`${code}: ${what}, ${syscall} ${JSON.stringify(path)}`), { code, syscall, path });
}

function checkWritable(world: World, syscall: string, path: string): void {
  if (world.fault?.readOnly) throw osError("EROFS", syscall, path);
}

class MemoryFile implements StorageFile {
  #inode: Inode;
  #world: World;
  #generation: number;
  #path: string;
  #closed = false;

  constructor(inode: Inode, world: World, path: string) {
    this.#inode = inode;
    this.#world = world;
    this.#generation = world.generation;
    this.#path = path;
  }

  #check(): Inode {
    if (this.#generation !== this.#world.generation) {
      throw new ClosedError(
        `File ${JSON.stringify(this.#path)} was open when the MemoryStorage crashed; open it again.`,
      );
    }
    if (this.#closed) {
      throw new ClosedError(`File ${JSON.stringify(this.#path)} is closed; open it again to use it.`);
    }
    return this.#inode;
  }

  // async so that a dead or closed handle rejects instead of throwing synchronously.
  // deno-lint-ignore require-await
  async write(data: Uint8Array): Promise<void> {
    const inode = this.#check();
    checkWritable(this.#world, "write", this.#path);
    const capacity = this.#world.fault?.capacity;
    if (capacity !== undefined) {
      // Like a real disk: what fits is written (a short write), then ENOSPC.
      const free = Math.max(0, capacity - this.#world.used());
      if (data.length > free) {
        inode.append(data.subarray(0, free));
        throw osError("ENOSPC", "write", this.#path);
      }
    }
    inode.append(data);
  }
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a real disk
  async sync(): Promise<void> {
    const inode = this.#check();
    checkWritable(this.#world, "fsync", this.#path);
    inode.sync();
  }
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a real disk
  async truncate(size: number): Promise<void> {
    const inode = this.#check();
    checkWritable(this.#world, "ftruncate", this.#path);
    const capacity = this.#world.fault?.capacity;
    if (capacity !== undefined && size > inode.length && size - inode.length > capacity - this.#world.used()) {
      throw osError("ENOSPC", "ftruncate", this.#path);
    }
    inode.truncate(size);
  }
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a real disk
  async size(): Promise<number> {
    return this.#check().length;
  }
  // deno-lint-ignore require-await -- async: a failure is a rejection, as on a real disk
  async identity(): Promise<string> {
    return `memory:${this.#check().id}`;
  }
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/**
 * A Storage held in memory, with crash simulation and byte-level access for
 * tests. Every method is async to match the interface, but none of them
 * waits on anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db");
 * const f = await storage.create("db/a");
 * await f.write(new Uint8Array([1, 2, 3]));
 * await f.sync();
 * await storage.syncDir("db");
 * await f.write(new Uint8Array([4])); // never synced
 * storage.crash();
 * assert.deepEqual(await storage.read("db/a"), new Uint8Array([1, 2, 3]));
 * ```
 */
export class MemoryStorage implements Storage {
  /** Always `"memory"`. */
  readonly kind = "memory" as const;

  /** Lets a timer not keep the process alive where the runtime supports it (Node-style `unref`). */
  unrefTimer(timer: unknown): void {
    (timer as { unref?: () => void } | null)?.unref?.();
  }
  #dirs = new Map<string, Map<string, Inode>>();
  #durable = new Map<string, Map<string, Inode>>();
  #world: World = { generation: 0, fault: null, used: () => this.#used() };
  #locks = new Set<string>();

  #used(): number {
    const seen = new Set<Inode>();
    let n = 0;
    for (const entries of this.#dirs.values()) {
      for (const inode of entries.values()) {
        if (!seen.has(inode)) n += inode.length;
        seen.add(inode);
      }
    }
    return n;
  }

  /**
   * Test helper: makes the disk full (`capacity`: the bytes all files may
   * hold; a write past it stores what fits, then fails with ENOSPC) or
   * read-only (every change fails with EROFS), as a real disk can become;
   * `null` clears it. Reads keep working either way.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const s = new MemoryStorage();
   * s.setFault({ readOnly: true });
   * await assert.rejects(s.create("a"), { code: "EROFS" });
   * s.setFault({ capacity: 2 });
   * const f = await s.create("a");
   * await assert.rejects(f.write(new Uint8Array([1, 2, 3])), { code: "ENOSPC" });
   * assert.deepEqual(s.peek("a"), new Uint8Array([1, 2])); // what fitted
   * s.setFault(null);
   * await f.write(new Uint8Array([3]));
   * ```
   */
  setFault(fault: MemoryFault | null): void {
    this.#world.fault = fault;
  }

  #hasDir(path: string): boolean {
    return path === "." || path === "/" || this.#dirs.has(path);
  }

  #entries(dir: string): Map<string, Inode> {
    let entries = this.#dirs.get(dir);
    if (!entries) {
      if (!this.#hasDir(dir)) throw notFound("directory", dir);
      entries = new Map();
      this.#dirs.set(dir, entries);
      this.#durable.set(dir, new Map());
    }
    return entries;
  }

  #lookup(path: string): Inode | undefined {
    const p = normalizePath(path);
    return this.#dirs.get(dirname(p))?.get(basename(p));
  }

  #open(path: string, truncate: boolean): StorageFile {
    const p = normalizePath(path);
    if (this.#dirs.has(p)) throw new Error(`Cannot open ${JSON.stringify(path)}: it is a directory.`);
    const entries = this.#entries(dirname(p));
    let inode = entries.get(basename(p));
    if (!inode || truncate) checkWritable(this.#world, "open", p);
    if (!inode) {
      inode = new Inode();
      entries.set(basename(p), inode);
    } else if (truncate) {
      inode.truncate(0);
    }
    return new MemoryFile(inode, this.#world, p);
  }

  /** Creates a directory and its parents, durably. */
  mkdir(path: string): Promise<void> {
    const p = normalizePath(path);
    if (!this.#hasDir(p) && this.#world.fault?.readOnly) return Promise.reject(osError("EROFS", "mkdir", p));
    for (let d = p; !this.#hasDir(d); d = dirname(d)) {
      if (this.#lookup(d)) throw new Error(`Cannot create directory ${JSON.stringify(d)}: a file has that name.`);
      this.#dirs.set(d, new Map());
      this.#durable.set(d, new Map());
    }
    return Promise.resolve();
  }

  /** Entry names (files and subdirectories), sorted; `[]` for a missing directory. */
  list(path: string): Promise<string[]> {
    const p = normalizePath(path);
    if (!this.#hasDir(p)) return Promise.resolve([]);
    const names = [...(this.#dirs.get(p)?.keys() ?? [])];
    for (const d of this.#dirs.keys()) {
      if (d !== p && dirname(d) === p) names.push(basename(d));
    }
    return Promise.resolve(names.sort());
  }

  /** A copy of the file's current bytes, or `null`. */
  read(path: string): Promise<Uint8Array | null> {
    const inode = this.#lookup(path);
    return Promise.resolve(inode ? inode.bytes.slice(0, inode.length) : null);
  }

  /** The file's current size, or `null`. */
  size(path: string): Promise<number | null> {
    return Promise.resolve(this.#lookup(path)?.length ?? null);
  }

  /** The identity of the file at `path` (its inode), or `null`. */
  identity(path: string): Promise<string | null> {
    const inode = this.#lookup(path);
    return Promise.resolve(inode ? `memory:${inode.id}` : null);
  }

  /** Opens for appending, creating the file when missing. */
  openAppend(path: string): Promise<StorageFile> {
    return Promise.resolve().then(() => this.#open(path, false));
  }

  /** Creates or empties the file and opens it for appending. */
  create(path: string): Promise<StorageFile> {
    return Promise.resolve().then(() => this.#open(path, true));
  }

  /** Moves a file's entry, replacing `to`. Durable after `syncDir` of both directories. */
  rename(from: string, to: string): Promise<void> {
    return Promise.resolve().then(() => {
      const f = normalizePath(from);
      const t = normalizePath(to);
      checkWritable(this.#world, "rename", f);
      const inode = this.#lookup(f);
      if (!inode) throw notFound("file", from);
      if (this.#dirs.has(t)) throw new Error(`Cannot rename onto ${JSON.stringify(to)}: it is a directory.`);
      const target = this.#entries(dirname(t));
      this.#dirs.get(dirname(f))!.delete(basename(f));
      target.set(basename(t), inode);
    });
  }

  /** Removes a file's entry; missing is fine. */
  remove(path: string): Promise<void> {
    return Promise.resolve().then(() => {
      const p = normalizePath(path);
      checkWritable(this.#world, "unlink", p);
      if (this.#dirs.has(p)) throw new Error(`Cannot remove ${JSON.stringify(path)}: it is a directory.`);
      this.#dirs.get(dirname(p))?.delete(basename(p));
    });
  }

  /** Makes the directory's current entries what survives a crash. */
  syncDir(path: string): Promise<void> {
    return Promise.resolve().then(() => {
      const p = normalizePath(path);
      if (!this.#hasDir(p)) throw notFound("directory", path);
      checkWritable(this.#world, "fsync", p);
      this.#durable.set(p, new Map(this.#dirs.get(p) ?? []));
    });
  }

  /** Takes the lock `path` for this storage; a second taker gets `LockedError`. */
  lock(path: string): Promise<StorageLock> {
    const p = normalizePath(path);
    if (this.#locks.has(p)) {
      return Promise.reject(
        new LockedError(
          `Lock ${JSON.stringify(path)} is already held in this MemoryStorage; ` +
            `close the database that holds it before opening the directory again.`,
        ),
      );
    }
    this.#locks.add(p);
    const world = this.#world;
    const generation = world.generation;
    try {
      this.#open(p, true);
    } catch (e) {
      this.#locks.delete(p);
      return Promise.reject(e);
    }
    const inode = this.#lookup(p)!;
    const ours = () => world.generation === generation && this.#lookup(p) === inode;
    let released = false;
    return Promise.resolve({
      release: () => {
        // After a crash the lock is gone already and may belong to a newer taker.
        if (!released && world.generation === generation) {
          this.#locks.delete(p);
          // Only our own lock file: a replaced one belongs to whoever replaced it.
          if (ours()) this.#dirs.get(dirname(p))?.delete(basename(p));
        }
        released = true;
        return Promise.resolve();
      },
      held: () => Promise.resolve(!released && ours()),
    });
  }

  /**
   * Simulates a power cut: every file reverts to its bytes at its last
   * `sync()`, every directory to its entries at its last `syncDir()`, open
   * handles die (their calls throw `ClosedError`) and locks are released.
   * The same instance can then be opened again, as a disk after a reboot.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClosedError } from "@cyberdb/core";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const s = new MemoryStorage();
   * const f = await s.create("a"); // never synced, directory never synced
   * await f.write(new Uint8Array([1]));
   * s.crash();
   * assert.equal(await s.read("a"), null);
   * await assert.rejects(f.write(new Uint8Array([2])), ClosedError); // the handle died with it
   * ```
   */
  crash(): void {
    this.#world.generation++;
    this.#locks.clear();
    for (const [dir, durable] of this.#durable) {
      this.#dirs.set(dir, new Map(durable));
      for (const inode of durable.values()) inode.revert();
    }
  }

  /**
   * Test helper: a copy of a file's bytes, or `null` when missing. With
   * `{ durable: true }`, what would be there after `crash()`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const s = new MemoryStorage();
   * const f = await s.create("a");
   * await f.write(new Uint8Array([1]));
   * assert.deepEqual(s.peek("a"), new Uint8Array([1]));
   * assert.equal(s.peek("a", { durable: true }), null); // neither the file nor its entry was synced
   * ```
   */
  peek(path: string, options?: { durable?: boolean }): Uint8Array | null {
    const p = normalizePath(path);
    if (!options?.durable) {
      const inode = this.#lookup(p);
      return inode ? inode.bytes.slice(0, inode.length) : null;
    }
    const inode = this.#durable.get(dirname(p))?.get(basename(p));
    if (!inode) return null;
    return (inode.syncedCopy ?? inode.bytes).slice(0, inode.syncedLength);
  }

  /**
   * Test helper: replaces (or creates) a file with `bytes`, durably, as if
   * the disk had always held them. The directory must exist. Use it to plant
   * corruption: read with `peek`, flip a byte, `poke` it back.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const s = new MemoryStorage();
   * s.poke("a", new Uint8Array([0xff]));
   * s.crash();
   * assert.deepEqual(s.peek("a"), new Uint8Array([255])); // durably
   * ```
   */
  poke(path: string, bytes: Uint8Array): void {
    const p = normalizePath(path);
    const entries = this.#entries(dirname(p));
    let inode = entries.get(basename(p));
    if (!inode) {
      inode = new Inode();
      entries.set(basename(p), inode);
    }
    inode.replace(bytes);
    this.#durable.get(dirname(p))!.set(basename(p), inode);
  }

  /**
   * Test helper: every file path currently present, sorted.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const s = new MemoryStorage();
   * assert.deepEqual(s.paths(), []);
   * await s.mkdir("db/wal");
   * s.poke("db/wal/2", new Uint8Array());
   * s.poke("db/LOCK", new Uint8Array());
   * assert.deepEqual(s.paths(), ["db/LOCK", "db/wal/2"]);
   * ```
   */
  paths(): string[] {
    const out: string[] = [];
    for (const [dir, entries] of this.#dirs) {
      for (const name of entries.keys()) out.push(dir === "." ? name : dir === "/" ? "/" + name : `${dir}/${name}`);
    }
    return out.sort();
  }
}
