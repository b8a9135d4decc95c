/**
 * The identity of a database's history of LSNs. LSNs alone do not name a
 * write: a memory-only database that restarts counts from 0 again, and a
 * directory replaced by a fresh one (`cyberdb load`, a new `--dir`) does
 * too, so "LSN 500" there is another write than the one a watcher saw.
 * Like Redis's replication id beside its offset, a history id is made at
 * random when a history starts and kept as long as the LSNs continue; a
 * watch resuming with another id is told `RESET` instead of going on with
 * changes that do not follow from what it saw.
 *
 * ```
 *   <dir>/HISTORY    "<32 lowercase hex digits>\n"    written once, atomically
 *                                                     (HISTORY.tmp, fsync, rename, fsync dir)
 * ```
 *
 * A directory without it (made before history ids existed, or its file
 * lost) gets a new one on open: a watcher then resets once, which is safe,
 * where keeping a guessed id could not be.
 *
 * @module
 */

import type { Storage } from "../storage/types.ts";
import { joinPath } from "../storage/paths.ts";

/** The file of a directory that holds its history id. */
export const HISTORY_FILE = "HISTORY";

/** What a history id looks like on the wire (ours are 32 hex digits; others' ids up to 64 of these characters are taken). */
const HISTORY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A new random history id: 128 bits as 32 lowercase hex digits.
 *
 * @example
 * ```ts
 * import { newHistoryId } from "./history.ts";
 * newHistoryId().length; // 32
 * ```
 */
export function newHistoryId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/**
 * Whether `value` can be a history id (what a watch may send back).
 *
 * @example
 * ```ts
 * import { isHistoryId } from "./history.ts";
 * isHistoryId("9f86d081884c7d659a2feaa0c55ad015"); // true
 * isHistoryId("a:b"); // false
 * ```
 */
export function isHistoryId(value: unknown): value is string {
  return typeof value === "string" && HISTORY_ID.test(value);
}

/**
 * The history id kept in `dir`, made (and written durably) when the
 * directory has none or an unreadable one. Called under the directory's
 * LOCK, before recovery.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { loadHistoryId } from "./history.ts";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db");
 * const id = await loadHistoryId(storage, "db", () => {});
 * assert.equal(await loadHistoryId(storage, "db", () => {}), id); // kept across opens
 * ```
 */
export async function loadHistoryId(storage: Storage, dir: string, log: (line: string) => void): Promise<string> {
  const path = joinPath(dir, HISTORY_FILE);
  const bytes = await storage.read(path);
  if (bytes !== null) {
    const text = new TextDecoder().decode(bytes).trim();
    if (isHistoryId(text)) return text;
    log(`cyberdb: ${path} does not hold a history id; starting a new history (resuming watchers will reset)`);
  }
  const id = newHistoryId();
  // Atomic: a crash leaves the old file (or none) or the whole new one, never half of it.
  const tmp = `${path}.tmp`;
  const file = await storage.create(tmp);
  try {
    await file.write(new TextEncoder().encode(`${id}\n`));
    await file.sync();
  } finally {
    await file.close();
  }
  await storage.rename(tmp, path);
  await storage.syncDir(dir);
  return id;
}
