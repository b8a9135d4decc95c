/**
 * What the Deno and Node storages share about directory locks: the
 * process-wide registry of held locks, the lock file's content and the
 * `LockedError` messages. Pure: no runtime globals at import time.
 *
 * The lock file holds one line of JSON naming its holder:
 *
 * ```
 * {"pid":4242,"runtime":"deno","since":"2025-01-01T00:00:00.000Z"}\n
 * ```
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
}

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
 * import { heldLocks } from "./lock_file.ts";
 * console.log(heldLocks().has("/srv/db/LOCK"));
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
 * import { encodeLockFile } from "./lock_file.ts";
 * const bytes = encodeLockFile({ pid: 42, runtime: "node" });
 * ```
 */
export function encodeLockFile(holder: LockHolder): Uint8Array {
  const since = holder.since ?? new Date().toISOString();
  return new TextEncoder().encode(
    JSON.stringify({ pid: holder.pid, runtime: holder.runtime, since }) + "\n",
  );
}

/**
 * Parses a lock file; `null` when it is empty or not ours (a holder killed
 * between creating the file and writing it, or a foreign file).
 *
 * @example
 * ```ts
 * import { encodeLockFile, parseLockFile } from "./lock_file.ts";
 * parseLockFile(encodeLockFile({ pid: 42 }))?.pid; // 42
 * ```
 */
export function parseLockFile(bytes: Uint8Array | null): LockHolder | null {
  if (!bytes || bytes.length === 0) return null;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockHolder>;
    if (typeof v.pid !== "number" || !Number.isSafeInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, runtime: v.runtime, since: v.since };
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
 * import { FRESH_LOCK_MS } from "./lock_file.ts";
 * const abandoned = Date.now() - mtimeMs >= FRESH_LOCK_MS;
 * ```
 */
export const FRESH_LOCK_MS = 2000;

/**
 * The error for a lock held by this very process.
 *
 * @example
 * ```ts
 * import { lockedBySelf } from "./lock_file.ts";
 * throw lockedBySelf("/srv/db/LOCK", 4242);
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
 * import { lockedByOther } from "./lock_file.ts";
 * throw lockedByOther("/srv/db/LOCK", { pid: 17, runtime: "bun" });
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
