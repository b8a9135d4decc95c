/**
 * The identity of a database's history of LSNs. LSNs alone do not name a
 * write: a memory-only database that restarts counts from 0 again, a
 * directory replaced by a fresh one (`cyberdb load`, a new `--dir`) does
 * too, and a crash can lose commits that a watcher already saw (a watch
 * that is not `durable` sees a commit before its fsync), after which the
 * next writes take their LSNs again. So "LSN 500" there is another write
 * than the one a watcher saw. Like Redis's replication id beside its
 * offset, a history id is made at random when a history starts and kept
 * only as long as the LSNs certainly continue; a watch resuming with
 * another id is told `RESET` instead of going on with changes that do not
 * follow from what it saw.
 *
 * ```
 *   <dir>/HISTORY    "<32 lowercase hex digits>\n"    written atomically (HISTORY.tmp, fsync,
 *                                                     rename, fsync dir); removed (fsync dir)
 * ```
 *
 * The file says: "nobody has seen a commit that is not on disk". It is
 * written when a history starts (a new directory, or an open that cannot
 * continue the old one) and by a clean close. The first watch that sees
 * commits before their fsync removes it, durably, before it sees any (it
 * sees only durable ones meanwhile). So an open that finds the file
 * continues its history even after a crash if every watch was durable (a
 * server in `sync: "always"`, a Durable Object), and one that finds none
 * starts a new history: every resuming watcher resets once, which is
 * always safe, where going on could skip writes. Redis keeps its
 * replication id across a restart only after a clean shutdown, for the
 * same reason. A repair that cuts the log starts a new history too: it
 * drops records that were on disk, which a watcher may have seen. (A torn
 * tail does not: it held only records that never reached the disk.)
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
 * The history id in `dir`'s file, or `null` when there is none (a new
 * directory, a crash after a non-durable watch) or it does not hold an id.
 * Called under the directory's LOCK, before recovery.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { readHistoryId, removeHistoryId, saveHistoryId } from "./history.ts";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db");
 * assert.equal(await readHistoryId(storage, "db", () => {}), null); // a new directory
 * await saveHistoryId(storage, "db", "9f86d081884c7d659a2feaa0c55ad015");
 * assert.equal(await readHistoryId(storage, "db", () => {}), "9f86d081884c7d659a2feaa0c55ad015");
 * await removeHistoryId(storage, "db"); // a watch will see commits before their fsync
 * assert.equal(await readHistoryId(storage, "db", () => {}), null);
 * ```
 */
export async function readHistoryId(
  storage: Storage,
  dir: string,
  log: (line: string) => void,
): Promise<string | null> {
  const path = joinPath(dir, HISTORY_FILE);
  const bytes = await storage.read(path);
  if (bytes === null) return null;
  const text = new TextDecoder().decode(bytes).trim();
  if (isHistoryId(text)) return text;
  log(`cyberdb: ${path} does not hold a history id; starting a new history (resuming watchers will reset)`);
  return null;
}

/**
 * Removes `dir`'s history file durably: from now on a crash may lose
 * commits somebody saw, so the next open must start a new history.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { removeHistoryId } from "./history.ts";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db");
 * await removeHistoryId(storage, "db"); // a missing file is fine
 * ```
 */
export async function removeHistoryId(storage: Storage, dir: string): Promise<void> {
  await storage.remove(joinPath(dir, HISTORY_FILE));
  await storage.syncDir(dir);
}

/**
 * Writes `id` to `dir`'s history file, atomically: a crash leaves the old
 * file (or none) or the whole new one, never half of it. Called when a
 * history starts, and by a clean close once everything is on disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { saveHistoryId } from "./history.ts";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db");
 * await saveHistoryId(storage, "db", "9f86d081884c7d659a2feaa0c55ad015");
 * assert.equal(new TextDecoder().decode((await storage.read("db/HISTORY"))!), "9f86d081884c7d659a2feaa0c55ad015\n");
 * ```
 */
export async function saveHistoryId(storage: Storage, dir: string, id: string): Promise<void> {
  const path = joinPath(dir, HISTORY_FILE);
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
}
