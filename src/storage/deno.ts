/**
 * `DenoStorage`: the Storage interface over the `Deno` namespace. The only
 * module of the package (with the Deno server glue) that names `Deno.`; it is
 * loaded through a dynamic import (see `mod.ts`) and reads `Deno` only inside
 * function bodies, so importing it elsewhere is harmless.
 *
 * Writes go through `FsFile.write()` in a loop and `syncData()`, never
 * through `FsFile.writable`: that stream keeps up to 64 KiB in its own buffer,
 * which `syncData()` does not push out.
 *
 * @module
 */

import { ClosedError } from "../errors.ts";
import type { CreateOptions, Storage, StorageFile, StorageLock } from "./types.ts";
import { PreallocatedWrites, preallocation, zerosPayOff } from "./preallocate.ts";
import { type DirState, PathIdentities } from "./path_identity.ts";
import { absolutePath, basename, dirname } from "./paths.ts";
import {
  encodeLockFile,
  FRESH_LOCK_MS,
  FRESH_LOCK_POLL_MS,
  freshLockPatience,
  heldLocks,
  holderAlive,
  lockedByOther,
  lockedBySelf,
  type LockHolder,
  parseLockFile,
  pause,
  readIdentity,
} from "./lock_file.ts";

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

class DenoFile implements StorageFile {
  #file: Deno.FsFile;
  #path: string;
  #closed = false;
  // Created with `preallocate`: positional writes over zeros (not in append mode).
  #pre: PreallocatedWrites | null = null;

  constructor(file: Deno.FsFile, path: string, preallocate = 0) {
    this.#file = file;
    this.#path = path;
    if (preallocate > 0) {
      this.#pre = new PreallocatedWrites(preallocate, {
        // Only this object moves the file's position, one call at a time.
        writeAt: async (data, at) => {
          const f = this.#check();
          await f.seek(at, Deno.SeekMode.Start);
          return await f.write(data);
        },
        truncate: (size) => this.#check().truncate(size),
        sync: () => this.sync(),
      });
    }
  }

  #check(): Deno.FsFile {
    if (this.#closed) {
      throw new ClosedError(`File ${JSON.stringify(this.#path)} is closed; open it again to use it.`);
    }
    return this.#file;
  }

  async write(data: Uint8Array): Promise<void> {
    const f = this.#check();
    if (this.#pre !== null) return await this.#pre.append(data);
    let done = 0;
    while (done < data.length) done += await f.write(data.subarray(done));
  }
  async sync(): Promise<void> {
    await this.#check().syncData();
  }
  async truncate(size: number): Promise<void> {
    if (this.#pre !== null) return await this.#pre.truncate(size);
    await this.#check().truncate(size);
  }
  async size(): Promise<number> {
    const f = this.#check();
    return this.#pre !== null ? this.#pre.end : (await f.stat()).size;
  }
  async identity(): Promise<string> {
    return identityOf(await this.#check().stat());
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#pre?.close(); // the zeros ahead cut off, durably
    } finally {
      this.#closed = true;
      this.#file.close();
    }
  }
}

/** Device and inode: what names a file whatever its path. */
/**
 * `statfs(2)` through Deno's `node:fs` (Deno has none of its own), reached
 * through `process.getBuiltinModule` so that no bundler sees a `node:`
 * import in this module (it must bundle for browsers and Workers).
 */
async function statfs(dir: string): Promise<{ type: number | bigint }> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.("node:fs/promises") as typeof import("node:fs/promises") | undefined;
  if (fs === undefined) throw new Error("no statfs in this Deno"); // (zerosPayOff then keeps the zeros)
  return await fs.statfs(dir);
}

function identityOf(st: Deno.FileInfo): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * A directory's identity and times (see path_identity.ts), or `null` when
 * there is none. Synchronous on purpose, as NodeStorage's: a directory's
 * metadata is in memory, and an async op's round trip costs more.
 */
function dirState(path: string): Promise<DirState | null> {
  try {
    const st = Deno.statSync(path);
    const times = st.mtime !== null && st.ctime instanceof Date ? `${st.mtime.getTime()},${st.ctime.getTime()}` : null;
    return Promise.resolve({ id: identityOf(st), times });
  } catch (e) {
    if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) return Promise.resolve(null);
    return Promise.reject(e);
  }
}

/** The identity of the file at `path`, or `null` when there is none. */
async function pathIdentity(path: string): Promise<string | null> {
  try {
    return identityOf(await Deno.stat(path));
  } catch (e) {
    if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

function isAlive(pid: number): boolean {
  try {
    Deno.kill(pid, 0);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.PermissionDenied;
  }
}

/** A small text file (`/proc/…`), or `null` when it cannot be read (not Linux, no permission). */
async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

/**
 * Whether a holder recorded by a Node or Bun process (no OS lock) still
 * runs: same boot, pid alive, same start time (see lock_file.ts).
 */
async function nodeHolderAlive(holder: LockHolder): Promise<boolean> {
  const { boot, start } = await readIdentity(holder.pid, readText);
  return holderAlive(holder, { bootId: boot ?? null, alive: isAlive, startTime: () => start ?? null });
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/**
 * Storage over `Deno.open` / `Deno.FsFile`. Locks combine an OS lock
 * (`FsFile.tryLock(true)`, non-blocking, released by the kernel when the
 * process dies) with the pid recorded in the file, which is what a Node or
 * Bun process on the same directory checks.
 *
 * Directories are fsynced by opening them read-only and calling `sync()`,
 * which Deno allows on Linux and macOS; on Windows `syncDir` is a no-op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DenoStorage } from "@cyberdb/core/storage";
 * const dir = await Deno.makeTempDir();
 * const storage = new DenoStorage();
 * await storage.mkdir(`${dir}/db`);
 * const f = await storage.create(`${dir}/db/a`);
 * await f.write(new TextEncoder().encode("hello"));
 * await f.sync(); // the bytes are durable
 * await f.close();
 * await storage.syncDir(`${dir}/db`); // and so is the file's directory entry
 * assert.deepEqual(await storage.list(`${dir}/db`), ["a"]);
 * assert.deepEqual(await storage.read(`${dir}/db/a`), new TextEncoder().encode("hello"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DenoStorage implements Storage {
  /** Always `"deno"`. */
  readonly kind = "deno" as const;
  // Asked after every fsync of the log: see path_identity.ts for why not a plain stat.
  #ids = new PathIdentities({ dir: dirState, file: pathIdentity, now: Date.now });

  /** Marks a timer as not keeping the process alive (Deno 2.9 returns Node-style timers; older ones numbers). */
  unrefTimer(timer: unknown): void {
    if (typeof timer === "number") Deno.unrefTimer(timer);
    else (timer as { unref?: () => void } | null)?.unref?.();
  }

  /** Creates the directory and parents, fsyncing each new entry's parent. */
  async mkdir(path: string): Promise<void> {
    const missing: string[] = [];
    for (let d = absolutePath(path, Deno.cwd());; d = dirname(d)) {
      try {
        await Deno.lstat(d);
        break;
      } catch (e) {
        if (!isNotFound(e)) throw e;
        missing.push(d);
        if (dirname(d) === d) break;
      }
    }
    await Deno.mkdir(path, { recursive: true });
    for (const d of missing.reverse()) await this.syncDir(dirname(d));
  }

  /** Entry names sorted ascending; `[]` when the directory is missing. */
  async list(path: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(path)) names.push(entry.name);
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
    return names.sort();
  }

  /** The file's bytes or `null`. */
  read(path: string): Promise<Uint8Array | null> {
    return readOrNull(path);
  }

  /** The file's size or `null`. */
  async size(path: string): Promise<number | null> {
    try {
      return (await Deno.stat(path)).size;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  /** Device and inode of the file at `path`, or `null`. */
  identity(path: string): Promise<string | null> {
    return this.#ids.identity(path);
  }

  /** Opens in append mode, creating the file when missing. */
  async openAppend(path: string): Promise<StorageFile> {
    return new DenoFile(await Deno.open(path, { append: true, create: true }), path);
  }

  /**
   * Opens in append mode and empties the file. With `preallocate`: opens
   * for writing (truncated), writes by position over zeros kept ahead —
   * unless `statfs` says the file system gains nothing from them (tmpfs,
   * btrfs, ZFS, …; see `zerosPayOff`).
   */
  async create(path: string, options?: CreateOptions): Promise<StorageFile> {
    let chunk = preallocation(options);
    if (chunk > 0 && !(await zerosPayOff(dirname(path), statfs))) chunk = 0;
    if (chunk > 0) {
      return new DenoFile(await Deno.open(path, { write: true, create: true, truncate: true }), path, chunk);
    }
    // Deno (like Rust) refuses `truncate` together with `append`; cut after opening.
    const file = await Deno.open(path, { append: true, create: true });
    try {
      await file.truncate(0);
    } catch (e) {
      file.close();
      throw e;
    }
    return new DenoFile(file, path);
  }

  /** Atomic rename, replacing `to`. */
  async rename(from: string, to: string): Promise<void> {
    await Deno.rename(from, to);
  }

  /** Removes a file, ignoring a missing one. */
  async remove(path: string): Promise<void> {
    try {
      await Deno.remove(path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Opens the directory read-only and fsyncs it (a no-op on Windows). */
  async syncDir(path: string): Promise<void> {
    if (Deno.build.os === "windows") return;
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  }

  /**
   * Takes `path` with `tryLock(true)` and records this process in it. The
   * OS lock is the truth: once obtained, a file left by a Deno holder is
   * taken over whatever process its pid names now (pids are reused after a
   * reboot). A file written by a Node or Bun process (which holds no OS lock)
   * is respected while that process — same boot, pid and start time — runs.
   */
  async lock(path: string): Promise<StorageLock> {
    // This process's identity (two small /proc reads) is read meanwhile.
    const identity = readIdentity(Deno.pid, readText);
    identity.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    // The real path: the same directory reached through a symlink is the same lock.
    const key = `${await Deno.realPath(dirname(absolutePath(path, Deno.cwd())))}/${basename(path)}`;
    const held = heldLocks();
    if (held.has(key)) throw lockedBySelf(path, Deno.pid);
    held.add(key);
    try {
      const file = await this.#acquire(path, identity);
      const id = identityOf(await file.stat());
      // Still ours while the path names the inode we hold locked (the open
      // descriptor keeps its number from being reused by a new LOCK).
      const ours = async () => (await this.#ids.identity(path)) === id;
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          try {
            // Only our own file: a LOCK that replaced it belongs to someone else.
            // On a disk that went read-only it stays: a stale lock, taken over
            // by the next opener (the OS lock goes with the descriptor).
            if (await ours().catch(() => false)) await this.remove(path).catch(() => {});
          } finally {
            held.delete(key);
            file.close(); // drops the OS lock
          }
        },
        held: async () => !released && (await ours()),
      };
    } catch (e) {
      held.delete(key);
      throw e;
    }
  }

  async #acquire(path: string, identity: Promise<{ boot?: string; start?: string }>): Promise<Deno.FsFile> {
    const patience = freshLockPatience();
    for (let attempt = 0; attempt < 5; attempt++) {
      let created = true;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { read: true, write: true, createNew: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        created = false;
        try {
          file = await Deno.open(path, { read: true, write: true });
        } catch (e2) {
          if (isNotFound(e2)) continue; // released meanwhile
          throw e2;
        }
      }
      try {
        if (!(await file.tryLock(true))) throw lockedByOther(path, parseLockFile(await readOrNull(path)));
        // The holder may have released (unlinked) the file between our open
        // and tryLock: then we locked an orphan and must start over.
        const [mine, onDisk] = await Promise.all([file.stat(), Deno.stat(path).catch(() => null)]);
        if (!onDisk || mine.ino !== onDisk.ino || mine.dev !== onDisk.dev) {
          file.close();
          continue;
        }
        if (!created) {
          const holder = parseLockFile(await readOrNull(path));
          // We hold the OS lock, so a Deno holder is gone whatever its pid now
          // names. A Node/Bun holder has no OS lock, only its identity in the
          // file (a file without a runtime is treated as theirs).
          if (
            holder && holder.pid !== Deno.pid && holder.runtime !== "deno" && (await nodeHolderAlive(holder))
          ) throw lockedByOther(path, holder);
          if (!holder && Date.now() - (mine.mtime?.getTime() ?? 0) < FRESH_LOCK_MS) {
            // A Node/Bun holder mid-write (it has no OS lock) records its pid
            // within milliseconds; a holder killed before writing it never
            // will. Let go of the OS lock and look again, without using up an
            // attempt, until one or the other shows.
            if (Date.now() >= patience) throw lockedByOther(path, null);
            file.close();
            await pause(FRESH_LOCK_POLL_MS);
            attempt--;
            continue;
          }
        }
        await file.truncate(0);
        const bytes = encodeLockFile({ pid: Deno.pid, runtime: "deno", ...await identity });
        let done = 0;
        while (done < bytes.length) done += await file.write(bytes.subarray(done));
        // Durable before anyone relies on it: after a crash of the file
        // system (a remount read-only, a power loss) an empty LOCK younger
        // than FRESH_LOCK_MS would look like a holder mid-write.
        await file.syncData();
        return file;
      } catch (e) {
        file.close();
        throw e;
      }
    }
    throw lockedByOther(path, parseLockFile(await readOrNull(path)));
  }
}
