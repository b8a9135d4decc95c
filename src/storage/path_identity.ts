/**
 * The identity (device and inode) of the file at a path, asked after every
 * fsync of the log — and answered, once the file's directory has been
 * quiet for a while, from a stat of that directory instead of the file.
 *
 * Why: asking for a file's times made its next `fdatasync` ~35–45 µs
 * slower (measured on this machine, Linux 6.18 on ext4: 86–101 µs per write
 * + fdatasync of 2.8 KB without a stat in between, 122–144 µs with one; an
 * `fstat` does the same; a stat of its directory or of another file costs
 * nothing of the kind — likely the multigrain timestamps of Linux 6.13+,
 * under which a queried file's next write takes a fine-grained time). The
 * WAL writer asks for its segment's identity before acknowledging each batch,
 * so that stat was a quarter of a `--sync always` cycle.
 *
 * Why a directory's stat can stand in for its entry's: POSIX has `unlink`,
 * `rename`, `link` and `creat` mark the parent directory's mtime and ctime
 * for update. While a directory keeps its identity and both times, its
 * entries name the files they named. The one gap is a change inside the
 * same clock tick as the directory's previous one, which a coarse timestamp
 * cannot show. So an entry's cached identity is trusted only after a full
 * stat made at least {@linkcode QUIET_MS} after the directory's times were
 * first seen, unchanged: a later change then falls in a later tick, and
 * moves the times. Until then, and whenever the directory's stat differs,
 * the file is stat'ed as before.
 *
 * ```
 *   check(path):  stat(dir) ─ same as cached? ─ yes, trusted ──────────────► cached identity
 *                     │                          yes, seen ≥ QUIET_MS ago ─► stat(path), now trusted
 *                     └─ no / first time ────────────────────────────────► stat(path), remember dir
 * ```
 *
 * @module
 */

import { dirname } from "./paths.ts";

/**
 * How long a directory's times must stay the same, across two looks, before
 * its entries are trusted from its stat: far above any file system's clock
 * tick (FAT's 2 s included).
 */
export const QUIET_MS = 2500;

/** What a directory's stat must show: its identity and the times an entry change moves. */
export interface DirState {
  /** Device and inode. */
  id: string;
  /**
   * Modification and status-change times, in any one unit, exactly as stat
   * gave them; `null` where the platform gives none (the file is then
   * always stat'ed).
   */
  times: string | null;
}

interface Entry {
  dir: string;
  /** Our clock when this directory state was first seen. */
  since: number;
  id: string | null;
  trusted: boolean;
}

/** Entries kept at most (the paths a database checks: a segment or two and its LOCK). */
const MAX_ENTRIES = 64;

/**
 * Answers the identity of the file at a path, stat'ing its directory and,
 * while needed, the file itself (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PathIdentities } from "./path_identity.ts";
 * let now = 0;
 * let fileStats = 0;
 * const ids = new PathIdentities({
 *   dir: () => Promise.resolve({ id: "1:2", times: "5,5" }),
 *   file: () => Promise.resolve((fileStats++, "1:9")),
 *   now: () => now,
 * });
 * assert.equal(await ids.identity("/db/wal/1.wal"), "1:9");
 * now += 3000; // the directory stayed the same for longer than QUIET_MS
 * assert.equal(await ids.identity("/db/wal/1.wal"), "1:9"); // stat'ed once more, now trusted
 * assert.equal(await ids.identity("/db/wal/1.wal"), "1:9"); // from the directory's stat alone
 * assert.equal(fileStats, 2);
 * ```
 */
export class PathIdentities {
  #entries = new Map<string, Entry>();
  #dir: (path: string) => Promise<DirState | null>;
  #file: (path: string) => Promise<string | null>;
  #now: () => number;

  /**
   * `dir` stats a directory (`null`: none there), `file` answers a file's
   * identity (`null`: none there), `now` is a clock in ms.
   */
  constructor(io: {
    dir: (path: string) => Promise<DirState | null>;
    file: (path: string) => Promise<string | null>;
    now: () => number;
  }) {
    this.#dir = io.dir;
    this.#file = io.file;
    this.#now = io.now;
  }

  /** The identity of the file at `path`, or `null` when there is none. */
  async identity(path: string): Promise<string | null> {
    // The directory first: a change between the two stats moves its times,
    // which the next call sees.
    const since = this.#now();
    const state = await this.#dir(dirname(path));
    if (state === null) {
      this.#entries.delete(path);
      return null;
    }
    if (state.times === null) return await this.#file(path);
    const dir = `${state.id}@${state.times}`;
    const entry = this.#entries.get(path);
    if (entry !== undefined && entry.dir === dir) {
      if (entry.trusted) return entry.id;
      const id = await this.#file(path);
      entry.id = id;
      // Trusted once a stat of the file made QUIET_MS after the directory's
      // state was first seen (`since` is read before this call's stats) still
      // found that state.
      entry.trusted = id !== null && since - entry.since >= QUIET_MS;
      return id;
    }
    const id = await this.#file(path);
    if (!this.#entries.has(path) && this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(path, { dir, since, id, trusted: false });
    return id;
  }
}
