/**
 * The REPL's history file: where it lives, reading it, adding a line.
 *
 * Where: `$CYBERDB_HISTORY` when set (empty: no history), else
 * `$XDG_STATE_HOME/cyberdb/history`, else `~/.local/state/cyberdb/history`
 * (the XDG base directory spec's place for history). One line per command,
 * oldest first, at most {@linkcode HISTORY_LINES} kept; the file is created
 * readable by its owner only, since commands carry data.
 *
 * @module
 */

import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * Lines kept in the history file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HISTORY_LINES } from "./history.ts";
 * assert.equal(HISTORY_LINES, 1000);
 * ```
 */
export const HISTORY_LINES = 1000;

/**
 * The history file for this environment, or `null` when history is off.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyPath } from "./history.ts";
 * assert.equal(historyPath({ HOME: "/home/ada" }), "/home/ada/.local/state/cyberdb/history");
 * assert.equal(historyPath({ HOME: "/home/ada", XDG_STATE_HOME: "/s" }), "/s/cyberdb/history");
 * assert.equal(historyPath({ CYBERDB_HISTORY: "" }), null);
 * ```
 */
export function historyPath(env: Record<string, string | undefined>): string | null {
  const own = env.CYBERDB_HISTORY;
  if (own !== undefined) return own === "" ? null : own;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "cyberdb", "history");
  const home = env.HOME ?? env.USERPROFILE;
  return home ? join(home, ".local", "state", "cyberdb", "history") : null;
}

/**
 * Reads the history, oldest first (`[]` when there is none or it cannot be
 * read: history is a convenience, never a reason to fail).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHistory } from "./history.ts";
 * assert.deepEqual(await loadHistory("/nonexistent/cyberdb-history"), []);
 * ```
 */
export async function loadHistory(path: string | null): Promise<string[]> {
  if (path === null) return [];
  try {
    const lines = (await readFile(path, "utf8")).split("\n").filter((l) => l.trim() !== "");
    return lines.slice(-HISTORY_LINES);
  } catch {
    return [];
  }
}

/**
 * Appends a command to the history file (creating it and its directory),
 * and rewrites the file with the last {@linkcode HISTORY_LINES} lines once
 * it holds twice that many. Failures are ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtemp, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { addHistory, loadHistory } from "./history.ts";
 * const dir = await mkdtemp(join(tmpdir(), "cyberdb-history-"));
 * const path = join(dir, "state", "history");
 * await addHistory(path, "dict.get d k", []);
 * assert.deepEqual(await loadHistory(path), ["dict.get d k"]);
 * await rm(dir, { recursive: true });
 * ```
 */
export async function addHistory(path: string | null, line: string, kept: string[]): Promise<void> {
  if (path === null || line.trim() === "" || line.includes("\n")) return;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    kept.push(line);
    if (kept.length >= 2 * HISTORY_LINES) {
      kept.splice(0, kept.length - HISTORY_LINES);
      await writeFile(path, kept.join("\n") + "\n", { mode: 0o600 });
    } else {
      await appendFile(path, line + "\n", { mode: 0o600 });
    }
  } catch { /* history is a convenience */ }
}
