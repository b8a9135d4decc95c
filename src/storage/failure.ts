/**
 * Turning a failed file operation into a {@linkcode StorageError} whose
 * message names the disk condition (ENOSPC "no space left on device", EROFS
 * "read-only file system", …), quotes the file and says what to do. Pure:
 * every runtime's error shape is read by duck typing — Node and Bun set
 * `code`, Deno sets `code` too and writes `(os error N)` in the message.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/** errno names → what they mean, and what the operator can do about it. */
const CONDITIONS: Record<string, { what: string; fix: string }> = {
  ENOSPC: { what: "no space left on device", fix: "free space on that disk" },
  EDQUOT: { what: "disk quota exceeded", fix: "free space or raise the quota" },
  EFBIG: { what: "file too large", fix: "raise the file size limit (ulimit -f) or use smaller segmentBytes" },
  EROFS: { what: "read-only file system", fix: "remount the file system read-write" },
  EIO: { what: "I/O error", fix: "check the disk and the kernel log (dmesg)" },
  EACCES: { what: "permission denied", fix: "give this process write permission on the directory" },
  EPERM: { what: "operation not permitted", fix: "give this process write permission on the directory" },
  ENOENT: { what: "no such file or directory", fix: "do not remove files under a running database" },
  EMFILE: { what: "too many open files", fix: "raise the open-files limit (ulimit -n)" },
  ENFILE: { what: "too many open files in the system", fix: "raise the system's open-files limit" },
};

/** Linux errno numbers of the conditions above, for messages that only say `(os error N)`. */
const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  13: "EACCES",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  122: "EDQUOT",
};

/**
 * The errno name of a failed file operation (`"ENOSPC"`, `"EROFS"`, …), or
 * `null` when it names none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoName } from "./failure.ts";
 * assert.equal(errnoName(Object.assign(new Error("write failed"), { code: "ENOSPC" })), "ENOSPC");
 * assert.equal(errnoName(new Error("Read-only file system (os error 30)")), "EROFS");
 * ```
 */
export function errnoName(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
  const message = error instanceof Error ? error.message : String(error);
  const os = /\(os error (\d+)\)/.exec(message);
  if (os && ERRNO[Number(os[1])]) return ERRNO[Number(os[1])];
  const named = /\b(E(?:NOSPC|DQUOT|FBIG|ROFS|IO|ACCES|PERM|NOENT|MFILE|NFILE))\b/.exec(message);
  return named ? named[1] : null;
}

function cap(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 3) + "..." : s;
}

/**
 * A `StorageError` for `action` on `path` that failed with `cause`:
 * `"<Action> \"<path>\" failed: <condition> (<ERRNO>); <fix> — <consequence>"`.
 * `consequence` says what the database does meanwhile (refuses writes,
 * retries, …). Unknown failures quote the original message, capped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { storageFailure } from "./failure.ts";
 * const e = storageFailure("Writing the log", "data/wal/00000000000000000001.wal",
 *   Object.assign(new Error("ENOSPC"), { code: "ENOSPC" }),
 *   "writes are refused until it accepts them again; reads keep working");
 * assert.equal(e.code, "STORAGE");
 * ```
 */
export function storageFailure(action: string, path: string, cause: unknown, consequence: string): StorageError {
  if (cause instanceof StorageError) return cause;
  const name = errnoName(cause);
  const known = name !== null ? CONDITIONS[name] : undefined;
  const original = cause instanceof Error ? cause.message : String(cause);
  const condition = known ? `${known.what} (${name})` : cap(original, 200);
  const fix = known ? known.fix : "check the disk and the directory's permissions";
  return new StorageError(`${action} ${JSON.stringify(cap(path, 120))} failed: ${condition}; ${fix} — ${consequence}`, {
    cause,
  });
}
