/**
 * What the Deno and Node storages share about directory locks: the
 * process-wide registry of held locks, the lock file's content and the
 * `LockedError` messages. Pure: no runtime globals at import time.
 *
 * The lock file holds one line of JSON naming its holder:
 *
 * ```
 * {"pid":4242,"runtime":"node","since":"2025-01-01T00:00:00.000Z",
 *  "boot":"6f1c…-…","start":"123456"}\n
 * ```
 *
 * A pid alone does not name a process for long: after a crash and a reboot
 * (or in a restarted container) the pid in a stale lock file often belongs
 * to some other live process, and a lock judged by the pid alone would block
 * the restart forever. So the holder is recorded as pid + boot id
 * (`/proc/sys/kernel/random/boot_id`) + the process's start time (field 22
 * of `/proc/<pid>/stat`, clock ticks since boot), where Linux offers them;
 * the holder is alive only if it is the same boot, the pid is alive and it
 * started at the same time. Elsewhere only the pid is recorded and checked.
 *
 * Deno processes also hold an OS lock (`FsFile.tryLock`), which is the
 * truth for them: a Deno opener that obtains it takes over any file written
 * by a Deno holder. Node and Bun have no `flock`, so for a holder of those
 * runtimes (and for a Node/Bun opener, whatever the holder) the identity
 * above decides.
 *
 * @module
 */

import { LockedError } from "../errors.ts";

/** Who holds a lock, as recorded in the lock file. */
export interface LockHolder {
  /** The process id of the holder. */
  pid: number;
  /** The runtime of the holder (`"deno"`, `"node"`, `"bun"`), when recorded. */
  runtime?: string;
  /** When the holder took the lock (ISO 8601), when recorded. */
  since?: string;
  /** The boot id of the machine when it took the lock (Linux), when recorded. */
  boot?: string;
  /** The holder's start time in clock ticks since boot (Linux `/proc/<pid>/stat` field 22), when recorded. */
  start?: string;
}

/**
 * What a storage can tell about processes on this machine, for
 * {@linkcode holderAlive}. `null` means "cannot tell" (not Linux, or no
 * access to `/proc`): that part of the identity is then not checked.
 */
export interface ProcessProbe {
  /** This machine's current boot id, or `null`. */
  bootId: string | null;
  /** Whether a process with this pid exists now. */
  alive(pid: number): boolean;
  /** The start time of process `pid` (see {@linkcode LockHolder.start}), or `null`. */
  startTime(pid: number): string | null;
}

/**
 * Whether the process recorded in a lock file still runs: same boot, pid
 * alive, same start time — each part checked where both sides know it, so
 * a file from an older version (pid only) is judged by its pid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holderAlive } from "./lock_file.ts";
 * const probe = { bootId: "b1", alive: () => true, startTime: () => "500" };
 * assert.equal(holderAlive({ pid: 7, boot: "b0", start: "500" }, probe), false); // recorded before a reboot
 * assert.equal(holderAlive({ pid: 7, boot: "b1", start: "100" }, probe), false); // pid 7 is another process now
 * assert.equal(holderAlive({ pid: 7, boot: "b1", start: "500" }, probe), true);
 * ```
 */
export function holderAlive(holder: LockHolder, probe: ProcessProbe): boolean {
  if (holder.boot !== undefined && probe.bootId !== null && holder.boot !== probe.bootId) return false;
  if (!probe.alive(holder.pid)) return false;
  if (holder.start !== undefined) {
    const now = probe.startTime(holder.pid);
    if (now !== null && now !== holder.start) return false;
  }
  return true;
}

/**
 * The start time (field 22, `starttime`) from the text of `/proc/<pid>/stat`,
 * or `null` when it does not parse. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so fields are
 * counted after the last `)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProcStartTime } from "./lock_file.ts";
 * assert.equal(parseProcStartTime("42 (a (b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0"), "98765");
 * ```
 */
export function parseProcStartTime(stat: string): string | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  // After ")": field 3 (state) is index 0, so field 22 is index 19.
  const field = stat.slice(close + 1).trim().split(/\s+/)[19];
  return field !== undefined && /^\d+$/.test(field) ? field : null;
}

/**
 * Reads this process's identity for its lock file through `readText`
 * (which returns `null` when a file cannot be read): the boot id and the
 * start time of `pid`. Off Linux both are `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readIdentity } from "./lock_file.ts";
 * const id = await readIdentity(4242, async () => null); // as off Linux: nothing readable
 * assert.deepEqual([id.boot, id.start], [undefined, undefined]);
 * ```
 */
export async function readIdentity(
  pid: number,
  readText: (path: string) => Promise<string | null>,
): Promise<{ boot?: string; start?: string }> {
  const [boot, stat] = await Promise.all([readText(BOOT_ID), readText(`/proc/${pid}/stat`)]);
  const start = stat === null ? null : parseProcStartTime(stat);
  return { boot: boot?.trim() || undefined, start: start ?? undefined };
}

/**
 * Where Linux keeps the id of the current boot (a new one after every reboot).
 *
 * @example
 * ```ts
 * import { BOOT_ID } from "./lock_file.ts";
 * import { readFile } from "node:fs/promises";
 * const boot = (await readFile(BOOT_ID, "utf8")).trim();
 * ```
 */
export const BOOT_ID = "/proc/sys/kernel/random/boot_id";

// A global symbol, not a module variable: DenoStorage and NodeStorage may be
// loaded side by side (or one module twice under two specifiers) and must
// still see each other's locks in this process.
const REGISTRY = Symbol.for("@cyberdb/core/storage/held-locks");

/**
 * The absolute paths of every lock held by this process, shared by every
 * storage implementation and every copy of this module.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heldLocks } from "./lock_file.ts";
 * assert.equal(heldLocks().has("/srv/db/LOCK"), false);
 * ```
 */
export function heldLocks(): Set<string> {
  const g = globalThis as unknown as Record<symbol, Set<string> | undefined>;
  return (g[REGISTRY] ??= new Set<string>());
}

/**
 * The bytes written into a lock file for this holder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeLockFile, parseLockFile } from "./lock_file.ts";
 * const bytes = encodeLockFile({ pid: 42, runtime: "node" });
 * const holder = parseLockFile(bytes); // with the time it was taken (`since`)
 * assert.deepEqual([holder?.pid, holder?.runtime], [42, "node"]);
 * ```
 */
export function encodeLockFile(holder: LockHolder): Uint8Array {
  const since = holder.since ?? new Date().toISOString();
  return new TextEncoder().encode(
    JSON.stringify({ pid: holder.pid, runtime: holder.runtime, since, boot: holder.boot, start: holder.start }) + "\n",
  );
}

/**
 * Parses a lock file; `null` when it is empty or not ours (a holder killed
 * between creating the file and writing it, or a foreign file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeLockFile, parseLockFile } from "./lock_file.ts";
 * assert.equal(parseLockFile(encodeLockFile({ pid: 42 }))?.pid, 42);
 * ```
 */
export function parseLockFile(bytes: Uint8Array | null): LockHolder | null {
  if (!bytes || bytes.length === 0) return null;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockHolder>;
    if (typeof v.pid !== "number" || !Number.isSafeInteger(v.pid) || v.pid <= 0) return null;
    const text = (x: unknown) => (typeof x === "string" && x.length > 0 && x.length <= 100 ? x : undefined);
    return { pid: v.pid, runtime: text(v.runtime), since: text(v.since), boot: text(v.boot), start: text(v.start) };
  } catch {
    return null;
  }
}

/**
 * A lock file this young with no readable holder is presumed to be mid-write
 * by a live process, not abandoned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FRESH_LOCK_MS } from "./lock_file.ts";
 * const now = Date.now();
 * const mtimeMs = now - 5000; // the lock file's modification time
 * assert.equal(now - mtimeMs >= FRESH_LOCK_MS, true); // abandoned
 * ```
 */
export const FRESH_LOCK_MS = 2000;

/**
 * How often an opener looks again at a young lock file with no holder
 * recorded, while it waits for the holder's pid or for the file to age.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FRESH_LOCK_MS, FRESH_LOCK_POLL_MS } from "./lock_file.ts";
 * assert.ok(FRESH_LOCK_POLL_MS < FRESH_LOCK_MS);
 * ```
 */
export const FRESH_LOCK_POLL_MS = 50;

/**
 * Until when (a `Date.now()` time) an opener waits on a young lock file with
 * no holder recorded: long enough for it to age past {@linkcode FRESH_LOCK_MS}
 * and be taken over, bounded even when its time stamp lies in the future.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FRESH_LOCK_MS, freshLockPatience } from "./lock_file.ts";
 * assert.ok(freshLockPatience(0) > FRESH_LOCK_MS);
 * ```
 */
export function freshLockPatience(now: number = Date.now()): number {
  return now + FRESH_LOCK_MS + 500;
}

/**
 * The error for a lock held by this very process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockedBySelf } from "./lock_file.ts";
 * const e = lockedBySelf("/srv/db/LOCK", 4242);
 * assert.equal(e.code, "LOCKED");
 * ```
 */
export function lockedBySelf(path: string, pid: number): LockedError {
  return new LockedError(
    `Lock ${JSON.stringify(path)} is already held by this process (pid ${pid}); ` +
      `close the database that holds it before opening the directory again.`,
  );
}

/**
 * The error for a lock held by another live process (or one being created).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockedByOther } from "./lock_file.ts";
 * const e = lockedByOther("/srv/db/LOCK", { pid: 17, runtime: "bun" });
 * assert.match(e.message, /^Lock "\/srv\/db\/LOCK" is held by process 17 \(bun\); /);
 * ```
 */
export function lockedByOther(path: string, holder: LockHolder | null): LockedError {
  if (!holder) {
    return new LockedError(
      `Lock ${JSON.stringify(path)} is held by another process that did not record its pid yet; ` +
        `retry in a moment, or remove ${JSON.stringify(path)} if no process uses the directory.`,
    );
  }
  const who = holder.runtime ? `process ${holder.pid} (${holder.runtime})` : `process ${holder.pid}`;
  return new LockedError(
    `Lock ${JSON.stringify(path)} is held by ${who}; close the database in that process first, ` +
      `or, if no process ${holder.pid} is running, remove ${JSON.stringify(path)} and retry.`,
  );
}

/**
 * Resolves after `ms` milliseconds: the pause between looks at a lock file.
 *
 * @example
 * ```ts
 * import { pause } from "./lock_file.ts";
 * await pause(1);
 * ```
 */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
