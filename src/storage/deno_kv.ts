/**
 * `DenoKvStorage`: the Storage interface over Deno KV (`Deno.openKv`), for
 * Deno Deploy and for any Deno program that would rather keep its database
 * in a KV store than in files. Like `deno.ts` it names `Deno` only inside
 * function bodies, so importing it anywhere is harmless; constructing it
 * outside Deno throws.
 *
 * A KV store has keys and values (at most 64 KiB each), no files, so this
 * module builds a small file system out of four kinds of keys, all under the
 * storage's prefix (default `["cyberdb"]`):
 *
 * ```
 *   [..prefix, "entry", dir, name] -> { t: "d" }              a directory
 *                                  -> { t: "f", ino: "<id>" } a file: names its inode
 *   [..prefix, "inode", ino]       -> { size }                the file's length
 *   [..prefix, "chunk", ino, i]    -> bytes i*64KiB .. (i+1)*64KiB of the file
 *   [..prefix, "gc", ino]          -> true                    chunks still to delete
 *
 *   one file of size S:
 *   +------------+------------+--------+.......+
 *   |  chunk 0   |  chunk 1   | chunk 2 garbage|   every chunk one KV value of
 *   +------------+------------+--------+.......+   65,536 bytes; bytes past S,
 *   0          65536      131072       S           if any, are never read
 * ```
 *
 * The inode's `size` is the commit point of a file: chunks are written
 * first (or in the same atomic commit), the size last, so a file is always
 * its old content or its new content, never a torn mix. Renames and
 * removals change one directory entry in one atomic commit.
 *
 * Why whole 64 KiB chunks rewritten at the tail rather than one value per
 * append: reading a file back is then one KV read per 64 KiB (a log of
 * 100,000 small commits would otherwise be 100,000 values), and rewriting a
 * 64 KiB value costs a KV commit about what a 100-byte one does (measured
 * here: 2,100–3,500 commits/s whatever the size).
 *
 * @module
 */

import { ClosedError, LockedError, StorageError, ValidationError } from "../errors.ts";
import type { Storage, StorageFile, StorageLock } from "./types.ts";
import { basename, dirname, normalizePath } from "./paths.ts";

/** Bytes per chunk: Deno KV's largest value (65,536 bytes, enforced). */
const CHUNK = 65_536;
/**
 * Chunks per atomic commit. Deno KV takes at most 819,200 bytes of keys and
 * values per commit (measured: keys and checks count too); 11 chunks are
 * 720,896 bytes, which leaves room for the keys, the size and the checks.
 */
const CHUNKS_PER_COMMIT = 11;
/** Deletions per atomic commit: keys only, well under 1,000 mutations and 819,200 bytes. */
const DELETES_PER_COMMIT = 400;
/** Staged once this much is buffered: a big write never sits whole in memory twice. */
const STAGE_BYTES = CHUNK * CHUNKS_PER_COMMIT;
/** A path longer than this (UTF-8 bytes) would not fit a KV key (2,048 bytes with the prefix). */
const MAX_PATH_BYTES = 1_500;
/** How long a lease lasts unless renewed (renewed every third of it). */
const DEFAULT_LEASE_MS = 10_000;
/** Retries of a read-then-commit that lost a race with another writer. */
const ATTEMPTS = 8;

type Entry = { t: "d" } | { t: "f"; ino: string };
interface Meta {
  size: number;
}
/** What a LOCK file holds: who has the lease and until when. */
interface Lease {
  token: string;
  pid: number;
  runtime: "deno";
  since: string;
  expires: number;
  leaseMs: number;
}
/** A lock this storage holds: every commit under `dir` checks its entry is still ours. */
interface Fence {
  path: string;
  dir: string;
  key: Deno.KvKey;
  versionstamp: string;
  lost: boolean;
}

/** A lock this storage took: its fence, and what renewing its lease needs. */
interface Held extends Fence {
  ino: string;
  token: string;
  since: string;
}

const enc = new TextEncoder();

/** `"…"` of a path for a message, at most 120 characters, keeping both ends. */
function quote(path: string): string {
  return JSON.stringify(path.length > 120 ? `${path.slice(0, 50)}...${path.slice(-67)}` : path);
}

function fsError(code: "ENOENT" | "EISDIR" | "ENOTDIR" | "EEXIST", message: string): Error {
  return Object.assign(new Error(message), { code });
}

function isRoot(p: string): boolean {
  return p === "." || p === "/";
}

/** Whether `p` lies inside directory `dir` (at any depth). */
function under(dir: string, p: string): boolean {
  if (dir === ".") return !p.startsWith("/") && p !== ".";
  if (dir === "/") return p.startsWith("/") && p !== "/";
  return p.startsWith(dir + "/");
}

/** Parses a LOCK file's content; `null` when it is not a lease. */
function parseLease(bytes: Uint8Array | null): Lease | null {
  if (bytes === null || bytes.length === 0 || bytes.length > 1000) return null;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Lease>;
    // The token and the expiry decide; the pid is only for messages.
    if (typeof v.token !== "string" || typeof v.expires !== "number") return null;
    return { ...v, pid: typeof v.pid === "number" ? v.pid : 0 } as Lease;
  } catch {
    return null;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === total) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * What the storage and its open files share: the KV handle, the key layout,
 * the fences of held locks, and the commit that checks them.
 */
class KvCore {
  readonly prefix: Deno.KvKey;
  readonly leaseMs: number;
  readonly fences = new Map<string, Fence>();
  #kv: Promise<Deno.Kv> | null = null;
  #open: () => Promise<Deno.Kv>;

  constructor(open: () => Promise<Deno.Kv>, prefix: Deno.KvKey, leaseMs: number) {
    this.#open = open;
    this.prefix = prefix;
    this.leaseMs = leaseMs;
  }

  kv(): Promise<Deno.Kv> {
    return (this.#kv ??= this.#open());
  }

  /** The KV, if it was ever opened (for close). */
  opened(): Promise<Deno.Kv> | null {
    return this.#kv;
  }

  /** Normalizes a path and refuses one too long for a KV key. */
  path(path: string): string {
    const p = normalizePath(path);
    if (enc.encode(p).length > MAX_PATH_BYTES) {
      throw new ValidationError(
        `Path ${quote(p)} is longer than ${MAX_PATH_BYTES} bytes, which a Deno KV key (at most 2,048 bytes) ` +
          `cannot hold with its prefix; use a shorter database dir.`,
      );
    }
    return p;
  }

  entryKey(p: string): Deno.KvKey {
    return [...this.prefix, "entry", dirname(p), basename(p)];
  }
  inodeKey(ino: string): Deno.KvKey {
    return [...this.prefix, "inode", ino];
  }
  chunkKey(ino: string, i: number): Deno.KvKey {
    return [...this.prefix, "chunk", ino, i];
  }
  gcKey(ino: string): Deno.KvKey {
    return [...this.prefix, "gc", ino];
  }

  /** Reads any number of keys, ten at a time (KV's `getMany` limit), each batch consistent. */
  async getAll<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const kv = await this.kv();
    const out: Deno.KvEntryMaybe<T>[] = [];
    for (let i = 0; i < keys.length; i += 10) out.push(...await kv.getMany<T[]>(keys.slice(i, i + 10)));
    return out;
  }

  /** The locks this storage holds that guard `p` (the lock file itself is not guarded by its own lock). */
  fencesFor(paths: string[]): Fence[] {
    const out: Fence[] = [];
    for (const f of this.fences.values()) {
      if (paths.some((p) => p !== f.path && under(f.dir, p))) out.push(f);
    }
    return out;
  }

  /**
   * Throws `LockedError` when a lock over `paths` is known to be lost: every
   * change under its directory is refused from then on, even one that would
   * need no commit (opening an existing file, a sync with nothing new), so a
   * database that lost its lease cannot believe it recovered.
   */
  guard(paths: string[]): void {
    const lost = this.fencesFor(paths).find((f) => f.lost);
    if (lost) throw lockLost(lost);
  }

  /**
   * Commits `op` with a check, for each lock held over `paths`, that its
   * LOCK entry is still the one this storage created: a process that took
   * the lease over (ours ran out while we were paused) replaced that entry,
   * and from then on nothing of ours lands under its directory — the lease
   * is a fence, not just a flag. Resolves `false` when another check of the
   * caller's failed; throws `LockedError` when a fence did.
   */
  async commit(op: Deno.AtomicOperation, paths: string[]): Promise<Deno.KvCommitResult | null> {
    const fences = this.fencesFor(paths);
    for (const f of fences) {
      if (f.lost) throw lockLost(f);
      op.check({ key: f.key, versionstamp: f.versionstamp });
    }
    const res = await op.commit();
    if (res.ok) return res;
    if (fences.length > 0) {
      const now = await this.getAll(fences.map((f) => f.key));
      fences.forEach((f, i) => {
        if (now[i].versionstamp !== f.versionstamp) f.lost = true;
      });
      const lost = fences.find((f) => f.lost);
      if (lost) throw lockLost(lost);
    }
    return null;
  }

  /**
   * Deletes the chunks of `ino` from index `from` on, in commits of
   * {@linkcode DELETES_PER_COMMIT}; with `metaVs`, each only while the
   * inode is unchanged (a file that grew again keeps its new chunks).
   */
  async dropChunks(ino: string, from: number, metaVs?: string): Promise<void> {
    const kv = await this.kv();
    const prefix = [...this.prefix, "chunk", ino];
    while (true) {
      const keys: Deno.KvKey[] = [];
      const it = kv.list({ prefix, start: this.chunkKey(ino, from) }, { limit: DELETES_PER_COMMIT, batchSize: 500 });
      for await (const e of it) keys.push(e.key);
      if (keys.length === 0) return;
      const op = kv.atomic();
      if (metaVs !== undefined) op.check({ key: this.inodeKey(ino), versionstamp: metaVs });
      for (const k of keys) op.delete(k);
      if (!(await op.commit()).ok) return;
    }
  }

  /** Deletes a removed inode's chunks, then its `gc` mark (left behind by a crash: done again later). */
  async collect(ino: string): Promise<void> {
    await this.dropChunks(ino, 0);
    await (await this.kv()).delete(this.gcKey(ino));
  }

  /** Finishes every collection a crashed process left (run when a lock is taken). */
  async sweep(): Promise<void> {
    const kv = await this.kv();
    const inos: string[] = [];
    for await (const e of kv.list({ prefix: [...this.prefix, "gc"] }, { batchSize: 500 })) {
      inos.push(String(e.key[e.key.length - 1]));
    }
    for (const ino of inos) await this.collect(ino);
  }

  /** The whole content of inode `ino` (`null` when it is gone). */
  async readInode(ino: string, path: string): Promise<Uint8Array | null> {
    const kv = await this.kv();
    const meta = await kv.get<Meta>(this.inodeKey(ino));
    if (meta.value === null) return null;
    const size = meta.value.size;
    const count = Math.ceil(size / CHUNK);
    const out = new Uint8Array(size);
    let seen = 0;
    const it = kv.list<Uint8Array>({ start: this.chunkKey(ino, 0), end: this.chunkKey(ino, count) }, {
      batchSize: 200,
    });
    for await (const e of it) {
      const i = e.key[e.key.length - 1] as number;
      const want = Math.min(CHUNK, size - i * CHUNK);
      if (!(e.value instanceof Uint8Array) || e.value.length < want) break;
      out.set(e.value.subarray(0, want), i * CHUNK);
      seen++;
    }
    if (seen === count) return out;
    // Removed while we read (its chunks are collected after the entry goes)?
    if ((await kv.get(this.inodeKey(ino))).value === null) return null;
    throw new StorageError(
      `File ${quote(path)} in Deno KV lacks ${count - seen} of its ${count} chunks; ` +
        `the KV store was changed outside CyberDB: restore it from a backup.`,
    );
  }
}

function lockLost(f: Fence): LockedError {
  return new LockedError(
    `The lock ${quote(f.path)} in Deno KV was taken over by another process (the lease of this one ran out, ` +
      `e.g. while it was paused), so nothing is written under ${quote(f.dir)} any more; ` +
      `close the database and open it again once the other process is done.`,
  );
}

function changedError(path: string): StorageError {
  return new StorageError(
    `File ${quote(path)} in Deno KV was changed through another handle while this one was open; ` +
      `close this handle and open the file again.`,
  );
}

/**
 * One open file. Writes are buffered in memory and reach KV at `sync()` or
 * `close()`, as one atomic commit when they fit (11 chunks), else as
 * chunk-only commits followed by one that sets the size. Past 704 KiB of
 * buffered bytes, `write()` already stores whole chunks (without the size),
 * so a big file never sits in memory twice. Every commit checks that the
 * inode is unchanged since this handle's last one: two handles cannot
 * interleave their bytes. Once the file is removed, its writes go nowhere
 * (as with an unlinked file on a disk).
 */
class KvFile implements StorageFile {
  #core: KvCore;
  #path: string;
  #ino: string;
  /** The committed size (the inode's). */
  #size: number;
  /** The inode's versionstamp as this handle last saw or wrote it. */
  #vs: string;
  /** Bytes `[chunk start, #size)` of the partial last chunk; null until needed. */
  #tail: Uint8Array | null;
  /** Where the buffered bytes begin: `#size`, or a chunk boundary past it once chunks were staged. */
  #start: number;
  #pending: Uint8Array[] = [];
  #pendingLen = 0;
  #closed = false;
  /** Removed (or replaced) while open: writes go nowhere. */
  #orphan = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(core: KvCore, path: string, ino: string, size: number, vs: string) {
    this.#core = core;
    this.#path = path;
    this.#ino = ino;
    this.#size = size;
    this.#vs = vs;
    this.#start = size;
    this.#tail = size % CHUNK === 0 ? new Uint8Array(0) : null;
  }

  #check(): void {
    if (this.#closed) {
      throw new ClosedError(`File ${quote(this.#path)} is closed; open it again to use it.`);
    }
  }

  /** Runs `fn` after every earlier call on this handle: commits never overlap. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async write(data: Uint8Array): Promise<void> {
    this.#check();
    this.#core.guard([this.#path]);
    if (data.length === 0) return;
    // A copy: the caller may reuse its buffer before the bytes are committed.
    const copy = data.slice();
    // In the queue too: the buffer only ever changes between commits, and a
    // write, truncate and sync not awaited one by one still apply in call order.
    await this.#serial(async () => {
      this.#pending.push(copy);
      this.#pendingLen += copy.length;
      if (this.#pendingLen >= STAGE_BYTES) await this.#stage();
    });
  }

  async sync(): Promise<void> {
    this.#check();
    this.#core.guard([this.#path]);
    await this.#serial(() => this.#flush());
  }

  async truncate(size: number): Promise<void> {
    this.#check();
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new ValidationError(
        `Truncate size ${String(size).slice(0, 40)} is not a byte count; pass an integer >= 0.`,
      );
    }
    this.#core.guard([this.#path]);
    await this.#serial(() => this.#truncate(size));
  }

  async size(): Promise<number> {
    this.#check();
    await this.#queue;
    return this.#start + this.#pendingLen;
  }

  // deno-lint-ignore require-await -- async: a closed handle rejects instead of throwing
  async identity(): Promise<string> {
    this.#check();
    return `kv:${this.#ino}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#serial(() => this.#flush());
  }

  /** The buffered bytes preceded by the start of their first chunk, and that chunk's index. */
  async #buffer(): Promise<{ first: number; bytes: Uint8Array }> {
    const first = Math.floor(this.#start / CHUNK);
    const parts = this.#pending;
    let lead: Uint8Array = new Uint8Array(0);
    if (this.#start === this.#size && this.#size % CHUNK !== 0) lead = await this.#loadTail();
    const bytes = concat([lead, ...parts], lead.length + this.#pendingLen);
    return { first, bytes };
  }

  async #loadTail(): Promise<Uint8Array> {
    if (this.#tail !== null) return this.#tail;
    const kv = await this.#core.kv();
    const i = Math.floor(this.#size / CHUNK);
    const got = await kv.get<Uint8Array>(this.#core.chunkKey(this.#ino, i));
    const want = this.#size - i * CHUNK;
    if (!(got.value instanceof Uint8Array) || got.value.length < want) {
      throw new StorageError(
        `File ${quote(this.#path)} in Deno KV lacks its chunk ${i}; ` +
          `the KV store was changed outside CyberDB: restore it from a backup.`,
      );
    }
    return (this.#tail = got.value.slice(0, want));
  }

  /**
   * Commits `chunks` (starting at chunk `first`) in as few commits as the
   * limits allow; the last commit also sets the size when `size` is given.
   * Each checks the inode is unchanged. `false` when the file was removed.
   */
  async #commitChunks(first: number, bytes: Uint8Array, count: number, size?: number): Promise<boolean> {
    const kv = await this.#core.kv();
    const inode = this.#core.inodeKey(this.#ino);
    let i = 0;
    do {
      const n = Math.min(CHUNKS_PER_COMMIT, count - i);
      const op = kv.atomic().check({ key: inode, versionstamp: this.#vs });
      for (let j = i; j < i + n; j++) {
        op.set(this.#core.chunkKey(this.#ino, first + j), bytes.slice(j * CHUNK, (j + 1) * CHUNK));
      }
      const last = i + n >= count;
      if (last && size !== undefined) op.set(inode, { size } satisfies Meta);
      const res = await this.#core.commit(op, [this.#path]);
      if (res === null) {
        if ((await kv.get(inode)).value === null) return this.#orphaned();
        throw changedError(this.#path);
      }
      if (last && size !== undefined) this.#vs = res.versionstamp;
      i += n;
    } while (i < count);
    return true;
  }

  #orphaned(): false {
    this.#orphan = true;
    this.#pending = [];
    this.#pendingLen = 0;
    return false;
  }

  /** Stores the whole chunks buffered so far, without the size (which `#flush` sets). */
  async #stage(): Promise<void> {
    if (this.#orphan) return void this.#orphaned();
    if (this.#pendingLen < STAGE_BYTES) return;
    const { first, bytes } = await this.#buffer();
    const whole = Math.floor(bytes.length / CHUNK);
    if (!(await this.#commitChunks(first, bytes, whole))) return;
    const rest = bytes.slice(whole * CHUNK);
    this.#start = (first + whole) * CHUNK;
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingLen = rest.length;
  }

  /** Commits everything buffered and the new size: one group commit of the log = one KV commit when it fits. */
  async #flush(): Promise<void> {
    if (this.#orphan) return void this.#orphaned();
    if (this.#pendingLen === 0 && this.#start === this.#size) return;
    const { first, bytes } = await this.#buffer();
    const size = first * CHUNK + bytes.length;
    if (!(await this.#commitChunks(first, bytes, Math.ceil(bytes.length / CHUNK), size))) return;
    const tailLen = size % CHUNK;
    this.#tail = bytes.slice(bytes.length - tailLen);
    this.#size = this.#start = size;
    this.#pending = [];
    this.#pendingLen = 0;
  }

  /**
   * Cuts the file at `size` (or extends it with zero bytes), committed at
   * once. What was buffered is committed first: a truncate never has to
   * reason about bytes that were written but not yet stored.
   */
  async #truncate(size: number): Promise<void> {
    await this.#flush();
    if (this.#orphan || size === this.#size) return;
    if (size > this.#size) {
      this.#pending = [new Uint8Array(size - this.#size)];
      this.#pendingLen = size - this.#size;
      return await this.#flush();
    }
    const kv = await this.#core.kv();
    const inode = this.#core.inodeKey(this.#ino);
    const op = kv.atomic().check({ key: inode, versionstamp: this.#vs }).set(inode, { size } satisfies Meta);
    const res = await this.#core.commit(op, [this.#path]);
    if (res === null) {
      if ((await kv.get(inode)).value === null) return void this.#orphaned();
      throw changedError(this.#path);
    }
    this.#vs = res.versionstamp;
    this.#size = this.#start = size;
    this.#tail = size % CHUNK === 0 ? new Uint8Array(0) : null;
    // The chunks wholly past the new end are garbage (never read); drop them now.
    await this.#core.dropChunks(this.#ino, Math.ceil(size / CHUNK), this.#vs);
  }
}

/**
 * A Deno KV key (`Deno.KvKey`), spelled out here so that the package's type
 * declarations name no `Deno` type: a Node or Bun project type-checks them
 * without Deno's types (`Deno.KvKey` is assignable both ways).
 *
 * @example
 * ```ts
 * import type { DenoKvKey } from "@cyberdb/core/storage";
 * const prefix: DenoKvKey = ["myapp", "cyberdb"];
 * ```
 */
export type DenoKvKey = readonly (Uint8Array | string | number | bigint | boolean | symbol)[];

/**
 * An open Deno KV store, as {@linkcode DenoKvStorageOptions.kv} takes it: a
 * `Deno.Kv` (`await Deno.openKv()`), described by the methods the storage
 * calls, for the same reason as {@linkcode DenoKvKey}.
 *
 * @example
 * ```ts
 * import type { DenoKvLike } from "@cyberdb/core/storage";
 * const kv: DenoKvLike = await Deno.openKv(":memory:");
 * kv.close();
 * ```
 */
export interface DenoKvLike {
  /** `Deno.Kv.get`. */
  get(key: DenoKvKey, options?: never): Promise<unknown>;
  /** `Deno.Kv.list`. */
  list(selector: { prefix: DenoKvKey }, options?: never): AsyncIterable<unknown>;
  /** `Deno.Kv.atomic`. */
  atomic(): unknown;
  /** `Deno.Kv.close`. */
  close(): void;
}

/** Options of {@linkcode DenoKvStorage}. */
export interface DenoKvStorageOptions {
  /**
   * An open KV store (`await Deno.openKv(...)`). The caller owns it: the
   * storage never closes it. Leave it out to let the storage open `path`.
   */
  kv?: DenoKvLike;
  /**
   * What `Deno.openKv(path)` opens on first use: a file path, `":memory:"`,
   * or a KV Connect URL; left out, Deno's default store (on Deno Deploy the
   * project's database, locally one per script). The storage owns that
   * store: {@linkcode DenoKvStorage.close} closes it.
   */
  path?: string;
  /** The key prefix of everything this storage keeps, so one KV store can hold other data too (default `["cyberdb"]`). */
  prefix?: DenoKvKey;
  /**
   * How long a lock's lease lasts unless renewed, in milliseconds (default
   * 10,000; renewed every third of it). After the holder dies, the next
   * opener waits at most this long; a holder stalled longer than this
   * (paused, event loop blocked) may lose the lock — and then no longer
   * writes.
   */
  leaseMs?: number;
}

/**
 * Storage over Deno KV (`Deno.openKv`, which needs `--unstable-kv` in Deno
 * 2.x): files as 64 KiB chunks, and the lock as a lease.
 *
 * - **One group commit = one atomic KV commit.** Writes to a file are
 *   buffered until `sync()`, which commits the new chunks and the new size
 *   together. A commit holds at most 11 chunks (Deno KV takes 819,200 bytes
 *   and 1,000 mutations per commit), so a larger sync is split: chunks first,
 *   the size last. The size is the commit point, so the split sync is still
 *   all or nothing: a crash in between leaves the file at its old size and
 *   content. Local KV (SQLite) fsyncs every commit.
 * - **Single writer.** `lock()` takes a lease: the LOCK file holds its holder
 *   and expiry, renewed every `leaseMs / 3` while held. A second opener gets
 *   `LockedError`; after the holder dies its lease runs out (`leaseMs`,
 *   default 10 s) and the next opener takes over. Every commit under the
 *   locked directory checks that the LOCK is still this storage's, so a
 *   holder whose lease was taken over (it was paused too long) can no
 *   longer write anything: `LockedError`.
 * - `syncDir` is a no-op: every create, rename and removal is already its
 *   own durable commit.
 *
 * Pass `{ kv }` to share a store you opened (you close it), or `{ path }`
 * (or nothing, for Deno's default store) to let the storage open it on first
 * use and close it in {@linkcode DenoKvStorage.close}. Outside Deno, and
 * under Deno without `--unstable-kv`, the constructor throws
 * `ValidationError` saying what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, LockedError } from "@cyberdb/core";
 * import { DenoKvStorage } from "@cyberdb/core/storage";
 * const storage = new DenoKvStorage({ path: ":memory:" }); // a file path to keep it
 * const db = await Database.open({ dir: "app", storage });
 * db.createDict("d").set("k", 1);
 * await db.flush(); // one atomic KV commit
 * await assert.rejects(Database.open({ dir: "app", storage }), LockedError); // single writer
 * await db.close();
 * const again = await Database.open({ dir: "app", storage });
 * assert.equal(again.getDict("d").get("k"), 1);
 * await again.close();
 * storage.close();
 * ```
 */
export class DenoKvStorage implements Storage {
  /** Always `"deno-kv"`. */
  readonly kind = "deno-kv" as const;
  #core: KvCore;
  #owned: boolean;
  #locking = new Set<string>();
  #timers = new Set<ReturnType<typeof setInterval>>();

  /** Checks the runtime and remembers the store; nothing is opened before the first call. */
  constructor(options: DenoKvStorageOptions = {}) {
    const deno = (globalThis as { Deno?: { openKv?: unknown; version?: { deno?: string } } }).Deno;
    if (deno === undefined) {
      throw new ValidationError(
        "DenoKvStorage needs Deno (it stores into Deno KV, Deno.openKv), and this runtime is not Deno: " +
          'use NodeStorage (from "@cyberdb/core/storage") under Node and Bun, or run this program with ' +
          "`deno run --unstable-kv`.",
      );
    }
    if (options.kv !== undefined && options.path !== undefined) {
      throw new ValidationError(
        `DenoKvStorage takes either kv (an open store) or path (a store to open), not both: ` +
          `drop path ${quote(options.path)} or kv.`,
      );
    }
    if (options.kv === undefined && typeof deno.openKv !== "function") {
      throw new ValidationError(
        `Deno.openKv is missing: Deno ${deno.version?.deno ?? ""} keeps KV behind a flag; ` +
          'run with `deno run --unstable-kv ...` (or `deno test --unstable-kv`), or add "unstable": ["kv"] ' +
          "to deno.json.",
      );
    }
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 30) {
      throw new ValidationError(
        `Option leaseMs ${
          String(leaseMs).slice(0, 40)
        } is not a lease length; pass milliseconds >= 30 (default 10000).`,
      );
    }
    const kv = options.kv;
    const path = options.path;
    this.#owned = kv === undefined;
    this.#core = new KvCore(
      () => (kv !== undefined ? Promise.resolve(kv as unknown as Deno.Kv) : Deno.openKv(path)),
      [...(options.prefix ?? ["cyberdb"])],
      leaseMs,
    );
  }

  /** Marks a timer as not keeping the process alive (Deno 2.9 returns Node-style timers; older ones numbers). */
  unrefTimer(timer: unknown): void {
    if (typeof timer === "number") Deno.unrefTimer(timer);
    else (timer as { unref?: () => void } | null)?.unref?.();
  }

  /**
   * Stops renewing leases and closes the store if this storage opened it
   * (not a `kv` passed in). Close the databases on it first: a lock whose
   * lease is no longer renewed is taken over once it runs out.
   */
  close(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    const opened = this.#core.opened();
    if (this.#owned && opened !== null) {
      // Opened and failed: nothing to close.
      opened.then((kv) => kv.close(), () => {});
    }
  }

  /** Creates the directory entries of `path` and its missing parents, in one commit. */
  async mkdir(path: string): Promise<void> {
    const core = this.#core;
    const p = core.path(path);
    core.guard([p]);
    const chain: string[] = [];
    for (let d = p; !isRoot(d); d = dirname(d)) chain.push(d);
    if (chain.length === 0) return;
    const keys = chain.map((d) => core.entryKey(d));
    const kv = await core.kv();
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const entries = await core.getAll<Entry>(keys);
      const op = kv.atomic();
      let missing = 0;
      entries.forEach((e, i) => {
        if (e.value?.t === "f") {
          throw fsError("ENOTDIR", `Cannot create directory ${quote(chain[i])}: a file has that name.`);
        }
        if (e.value === null) {
          op.check({ key: keys[i], versionstamp: null }).set(keys[i], { t: "d" } satisfies Entry);
          missing++;
        }
      });
      if (missing === 0 || (await core.commit(op, [p])) !== null) return;
    }
    throw raced("Creating directory", p);
  }

  /** Entry names (files and subdirectories) sorted ascending; `[]` for a missing directory. */
  async list(path: string): Promise<string[]> {
    const core = this.#core;
    const p = core.path(path);
    const kv = await core.kv();
    const names: string[] = [];
    for await (const e of kv.list({ prefix: [...core.prefix, "entry", p] }, { batchSize: 500 })) {
      names.push(String(e.key[e.key.length - 1]));
    }
    return names.sort();
  }

  async #entry(p: string): Promise<Deno.KvEntryMaybe<Entry>> {
    return await (await this.#core.kv()).get<Entry>(this.#core.entryKey(p));
  }

  /** The file's committed bytes, or `null`. */
  async read(path: string): Promise<Uint8Array | null> {
    const p = this.#core.path(path);
    if (isRoot(p)) throw fsError("EISDIR", `Cannot read ${quote(p)}: it is a directory.`);
    const e = await this.#entry(p);
    if (e.value === null) return null;
    if (e.value.t === "d") throw fsError("EISDIR", `Cannot read ${quote(p)}: it is a directory.`);
    return await this.#core.readInode(e.value.ino, p);
  }

  /** The file's committed size, or `null`. */
  async size(path: string): Promise<number | null> {
    const p = this.#core.path(path);
    if (isRoot(p)) return null;
    const e = await this.#entry(p);
    if (e.value?.t !== "f") return null;
    const meta = await (await this.#core.kv()).get<Meta>(this.#core.inodeKey(e.value.ino));
    return meta.value?.size ?? null;
  }

  /** The inode the path names (`"kv:<id>"`), or `null`. */
  async identity(path: string): Promise<string | null> {
    const p = this.#core.path(path);
    if (isRoot(p)) return null;
    const e = await this.#entry(p);
    return e.value?.t === "f" ? `kv:${e.value.ino}` : null;
  }

  /** Opens for appending, creating the file (empty) when missing. */
  openAppend(path: string): Promise<StorageFile> {
    return this.#open(path, false);
  }

  /** Creates or empties the file (keeping its identity) and opens it for appending. */
  create(path: string): Promise<StorageFile> {
    return this.#open(path, true);
  }

  async #open(path: string, empty: boolean): Promise<StorageFile> {
    const core = this.#core;
    const p = core.path(path);
    if (isRoot(p)) throw fsError("EISDIR", `Cannot open ${quote(p)}: it is a directory.`);
    core.guard([p]);
    const dir = dirname(p);
    const keys = [core.entryKey(p), ...(isRoot(dir) ? [] : [core.entryKey(dir)])];
    const kv = await core.kv();
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const [e, parent] = await core.getAll<Entry>(keys);
      if (parent !== undefined && parent.value?.t !== "d") {
        throw fsError("ENOENT", `No such directory ${quote(dir)} in Deno KV; create it first (mkdir).`);
      }
      if (e.value?.t === "d") throw fsError("EISDIR", `Cannot open ${quote(p)}: it is a directory.`);
      if (e.value === null) {
        const ino = crypto.randomUUID();
        const op = kv.atomic().check({ key: keys[0], versionstamp: null });
        if (parent !== undefined) op.check({ key: keys[1], versionstamp: parent.versionstamp });
        op.set(keys[0], { t: "f", ino } satisfies Entry).set(core.inodeKey(ino), { size: 0 } satisfies Meta);
        const res = await core.commit(op, [p]);
        if (res !== null) return new KvFile(core, p, ino, 0, res.versionstamp);
        continue;
      }
      const ino = e.value.ino;
      const meta = await kv.get<Meta>(core.inodeKey(ino));
      if (meta.value === null) continue; // removed meanwhile: look again
      if (!empty || meta.value.size === 0) {
        return new KvFile(core, p, ino, meta.value.size, meta.versionstamp!);
      }
      // Emptied in place, like O_TRUNC: the same inode, so the same identity.
      const op = kv.atomic()
        .check({ key: keys[0], versionstamp: e.versionstamp })
        .check({ key: core.inodeKey(ino), versionstamp: meta.versionstamp })
        .set(core.inodeKey(ino), { size: 0 } satisfies Meta);
      const res = await core.commit(op, [p]);
      if (res === null) continue;
      await core.dropChunks(ino, 0, res.versionstamp);
      return new KvFile(core, p, ino, 0, res.versionstamp);
    }
    throw raced("Opening", p);
  }

  /** Renames atomically (one commit), replacing `to`. */
  async rename(from: string, to: string): Promise<void> {
    const core = this.#core;
    const f = core.path(from);
    const t = core.path(to);
    core.guard([f, t]);
    const tDir = dirname(t);
    const keys = [core.entryKey(f), core.entryKey(t), ...(isRoot(tDir) ? [] : [core.entryKey(tDir)])];
    const kv = await core.kv();
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const [ef, et, parent] = await core.getAll<Entry>(keys);
      if (ef.value === null || isRoot(f)) {
        throw fsError("ENOENT", `No such file ${quote(f)} in Deno KV to rename; check the path.`);
      }
      if (ef.value.t === "d") throw fsError("EISDIR", `Cannot rename ${quote(f)}: only files can be renamed.`);
      if (f === t) return;
      if (et.value?.t === "d" || isRoot(t)) {
        throw fsError("EISDIR", `Cannot rename onto ${quote(t)}: it is a directory.`);
      }
      if (parent !== undefined && parent.value?.t !== "d") {
        throw fsError("ENOENT", `No such directory ${quote(tDir)} in Deno KV; create it first (mkdir).`);
      }
      const op = kv.atomic()
        .check({ key: keys[0], versionstamp: ef.versionstamp })
        .check({ key: keys[1], versionstamp: et.versionstamp })
        .delete(keys[0])
        .set(keys[1], ef.value);
      if (parent !== undefined) op.check({ key: keys[2], versionstamp: parent.versionstamp });
      const replaced = et.value?.t === "f" ? et.value.ino : null;
      if (replaced !== null) op.delete(core.inodeKey(replaced)).set(core.gcKey(replaced), true);
      if ((await core.commit(op, [f, t])) === null) continue;
      if (replaced !== null) await core.collect(replaced);
      return;
    }
    throw raced("Renaming", f);
  }

  /** Removes a file (its entry and inode in one commit, then its chunks); a missing file is fine. */
  async remove(path: string): Promise<void> {
    const core = this.#core;
    const p = core.path(path);
    if (isRoot(p)) throw fsError("EISDIR", `Cannot remove ${quote(p)}: it is a directory.`);
    core.guard([p]);
    const key = core.entryKey(p);
    const kv = await core.kv();
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const e = await kv.get<Entry>(key);
      if (e.value === null) return;
      if (e.value.t === "d") throw fsError("EISDIR", `Cannot remove ${quote(p)}: it is a directory.`);
      const ino = e.value.ino;
      const op = kv.atomic()
        .check({ key, versionstamp: e.versionstamp })
        .delete(key)
        .delete(core.inodeKey(ino))
        .set(core.gcKey(ino), true);
      if ((await core.commit(op, [p])) === null) continue;
      await core.collect(ino);
      return;
    }
    throw raced("Removing", p);
  }

  /** A no-op: every create, rename and removal is already its own durable commit. */
  syncDir(_path: string): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Takes the lease `path` (the database's `<dir>/LOCK`): a file holding its
   * holder and expiry, renewed every `leaseMs / 3`. A live lease of another
   * opener (this process or another) is `LockedError`; an expired one (its
   * holder died) is taken over. While held, every commit of this storage
   * under the lock's directory checks the LOCK is still its own.
   */
  async lock(path: string): Promise<StorageLock> {
    const core = this.#core;
    const p = core.path(path);
    if (this.#locking.has(p) || core.fences.has(p)) {
      throw new LockedError(
        `Lock ${quote(p)} is already held through this DenoKvStorage; ` +
          `close the database that holds it before opening the directory again.`,
      );
    }
    this.#locking.add(p);
    try {
      const fence = await this.#acquire(p);
      core.fences.set(p, fence);
      await core.sweep();
      return this.#held(fence);
    } finally {
      this.#locking.delete(p);
    }
  }

  /** The LOCK file's content: taken at `since`, good until now + leaseMs. */
  #lease(token: string, since: string): Uint8Array {
    const now = Date.now();
    const lease: Lease = {
      token,
      // 0 where a host has no pid to give: the lease, not the pid, decides.
      pid: typeof Deno.pid === "number" ? Deno.pid : 0,
      runtime: "deno",
      since,
      expires: now + this.#core.leaseMs,
      leaseMs: this.#core.leaseMs,
    };
    return enc.encode(JSON.stringify(lease) + "\n");
  }

  async #acquire(p: string): Promise<Held> {
    const core = this.#core;
    const dir = dirname(p);
    const keys = [core.entryKey(p), ...(isRoot(dir) ? [] : [core.entryKey(dir)])];
    const kv = await core.kv();
    let holder: Lease | null = null;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const [e, parent] = await core.getAll<Entry>(keys);
      if (parent !== undefined && parent.value?.t !== "d") {
        throw fsError("ENOENT", `No such directory ${quote(dir)} in Deno KV; create it first (mkdir).`);
      }
      if (e.value?.t === "d") throw fsError("EISDIR", `Cannot lock ${quote(p)}: it is a directory.`);
      let old: string | null = null;
      if (e.value !== null) {
        old = e.value.ino;
        holder = parseLease(await core.readInode(old, p));
        // A LOCK without a lease is not one of ours (created whole in one commit): stale.
        if (holder !== null && holder.expires > Date.now()) throw lockedByLease(p, holder);
      }
      const token = crypto.randomUUID();
      const ino = crypto.randomUUID();
      const since = new Date().toISOString();
      const bytes = this.#lease(token, since);
      const op = kv.atomic()
        .check({ key: keys[0], versionstamp: e.versionstamp })
        .set(keys[0], { t: "f", ino } satisfies Entry)
        .set(core.inodeKey(ino), { size: bytes.length } satisfies Meta)
        .set(core.chunkKey(ino, 0), bytes);
      if (parent !== undefined) op.check({ key: keys[1], versionstamp: parent.versionstamp });
      if (old !== null) op.delete(core.inodeKey(old)).set(core.gcKey(old), true);
      const res = await op.commit();
      if (!res.ok) continue;
      if (old !== null) await core.collect(old);
      return { path: p, dir, key: keys[0], versionstamp: res.versionstamp, lost: false, ino, token, since };
    }
    if (holder !== null) throw lockedByLease(p, holder);
    throw raced("Locking", p);
  }

  #held(fence: Held): StorageLock {
    const core = this.#core;
    let released = false;
    const stillOurs = async () => {
      if (fence.lost) return false;
      const e = await (await core.kv()).get(fence.key);
      if (e.versionstamp !== fence.versionstamp) fence.lost = true;
      return !fence.lost;
    };
    const renew = async () => {
      const bytes = this.#lease(fence.token, fence.since);
      const res = await (await core.kv()).atomic()
        .check({ key: fence.key, versionstamp: fence.versionstamp })
        .set(core.inodeKey(fence.ino), { size: bytes.length } satisfies Meta)
        .set(core.chunkKey(fence.ino, 0), bytes)
        .commit();
      if (!res.ok) stop(true);
    };
    const timer = setInterval(() => {
      renew().catch((e) => {
        // The store was closed under us: nothing more to renew. Anything else
        // (a network hiccup of a remote store) is retried at the next tick.
        if (/closed/i.test(String((e as Error)?.message))) stop(false);
      });
    }, Math.max(10, Math.floor(core.leaseMs / 3)));
    this.unrefTimer(timer);
    this.#timers.add(timer);
    const stop = (lost: boolean) => {
      if (lost) fence.lost = true;
      clearInterval(timer);
      this.#timers.delete(timer);
    };
    return {
      release: async () => {
        if (released) return;
        released = true;
        stop(false);
        if (core.fences.get(fence.path) === fence) core.fences.delete(fence.path);
        if (fence.lost) return;
        // Only our own LOCK: one that replaced it belongs to someone else.
        const res = await (await core.kv()).atomic()
          .check({ key: fence.key, versionstamp: fence.versionstamp })
          .delete(fence.key)
          .delete(core.inodeKey(fence.ino))
          .set(core.gcKey(fence.ino), true)
          .commit()
          .catch(() => null);
        if (res?.ok) await core.collect(fence.ino).catch(() => {});
      },
      held: async () => !released && (await stillOurs()),
    };
  }
}

function lockedByLease(path: string, holder: Lease): LockedError {
  const left = Math.max(0, holder.expires - Date.now());
  return new LockedError(
    `Lock ${quote(path)} in Deno KV is held by process ${holder.pid} (${holder.runtime ?? "deno"}), ` +
      `whose lease runs out in ${(left / 1000).toFixed(1)} s unless renewed; close the database in that ` +
      `process first, or, if it died, open again once its lease has run out.`,
  );
}

function raced(what: string, path: string): StorageError {
  return new StorageError(
    `${what} ${quote(path)} in Deno KV lost ${ATTEMPTS} races in a row with another writer of the same keys; ` +
      `make sure a single process writes under this prefix (DenoKvStorage is single-writer), then retry.`,
  );
}
