/**
 * WAL segment files: `<dir>/wal/<20-digit zero-padded first LSN>.wal`. The
 * name is the LSN of the first record the segment holds, so that sorting the
 * names sorts the log and a snapshot at LSN `n` can tell which segments it
 * covers without opening them. Twenty digits hold any u64, so names never
 * need to grow.
 *
 * @module
 */

import type { Storage } from "../storage/types.ts";
import { joinPath } from "../storage/paths.ts";

/**
 * The WAL's directory under the database directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WAL_DIR } from "./segments.ts";
 * const dir = "data";
 * assert.equal(`${dir}/${WAL_DIR}`, "data/wal");
 * ```
 */
export const WAL_DIR = "wal";

const NAME = /^(\d{20})\.wal$/;

/**
 * The directory holding the segments of the database at `dir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walDir } from "./segments.ts";
 * assert.equal(walDir("./data"), "data/wal");
 * ```
 */
export function walDir(dir: string): string {
  return joinPath(dir, WAL_DIR);
}

/**
 * The file name of the segment whose first record has LSN `firstLsn`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segmentName } from "./segments.ts";
 * assert.equal(segmentName(42), "00000000000000000042.wal");
 * ```
 */
export function segmentName(firstLsn: number): string {
  if (!Number.isSafeInteger(firstLsn) || firstLsn < 0) {
    throw new RangeError(`LSN ${firstLsn} is not a non-negative safe integer; LSNs count records from 0 or 1.`);
  }
  return String(firstLsn).padStart(20, "0") + ".wal";
}

/**
 * The first LSN named by a segment file name, or `null` when the name is not
 * a segment's (temporary files and strangers in the directory are ignored).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSegmentName } from "./segments.ts";
 * assert.equal(parseSegmentName("00000000000000000042.wal"), 42);
 * assert.equal(parseSegmentName("notes.txt"), null);
 * ```
 */
export function parseSegmentName(name: string): number | null {
  const m = NAME.exec(name);
  if (!m) return null;
  const lsn = Number(m[1]);
  return Number.isSafeInteger(lsn) ? lsn : null;
}

/** One segment file found on disk. */
export interface SegmentInfo {
  /** The file name, e.g. `00000000000000000042.wal`. */
  name: string;
  /** The path for Storage calls, e.g. `data/wal/00000000000000000042.wal`. */
  path: string;
  /** The name relative to the database directory, for messages: `wal/…`. */
  file: string;
  /** The LSN of its first record. */
  firstLsn: number;
}

/**
 * Describes the segment of the database at `dir` whose first LSN is `firstLsn`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segmentInfo } from "./segments.ts";
 * assert.equal(segmentInfo("data", 1).file, "wal/00000000000000000001.wal");
 * ```
 */
export function segmentInfo(dir: string, firstLsn: number): SegmentInfo {
  const name = segmentName(firstLsn);
  return { name, path: joinPath(dir, WAL_DIR, name), file: `${WAL_DIR}/${name}`, firstLsn };
}

/**
 * Every segment of the database at `dir`, oldest first; `[]` when there is
 * no `wal` directory yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listSegments } from "./segments.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * assert.deepEqual(await listSegments(new MemoryStorage(), "data"), []);
 * ```
 */
export async function listSegments(storage: Storage, dir: string): Promise<SegmentInfo[]> {
  const out: SegmentInfo[] = [];
  for (const name of await storage.list(walDir(dir))) {
    const lsn = parseSegmentName(name);
    if (lsn !== null) out.push(segmentInfo(dir, lsn));
  }
  // Zero-padding makes the name order the LSN order; sort by number anyway.
  return out.sort((a, b) => a.firstLsn - b.firstLsn);
}
