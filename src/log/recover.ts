/**
 * Recovery of the log in one call: read every record past the snapshot,
 * cut a torn tail (or, on `repair`, the damage) durably and say so in one
 * log line, then open a writer that continues the LSNs. Cutting before the
 * writer starts matters: a new segment would turn the old torn tail into
 * damage in the middle of the log.
 *
 * @module
 */

import type { Storage } from "../storage/types.ts";
import { ZERO_TAIL } from "./frame.ts";
import { applyCut, readWal, type ReadWalOptions, type WalCut, type WalReadResult } from "./reader.ts";
import { WalWriter, type WalWriterOptions } from "./writer.ts";

/** Options of {@linkcode recoverWal}: the reader's and the writer's. */
export interface RecoverWalOptions extends ReadWalOptions, Omit<WalWriterOptions, "lastLsn"> {
  /** Receives one line when the log had to be cut. */
  logger?: (line: string) => void;
}

/** What {@linkcode recoverWal} found, and the writer to continue with. */
export interface RecoveredWal extends WalReadResult {
  /** The writer, open and continuing after the last LSN. */
  writer: WalWriter;
  /** The LSN the next record must carry. */
  nextLsn: number;
}

/**
 * The log line for a cut, naming file, offset, bytes and what was lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCut } from "./recover.ts";
 * const line = describeCut({ file: "wal/00000000000000000001.wal", path: "", offset: 96, bytes: 5,
 *   reason: "checksum mismatch", torn: true, dropped: [] });
 * assert.match(line, /^Cut a torn 5-byte tail off "wal\/00000000000000000001.wal" at byte 96 \(checksum mismatch\)/);
 * ```
 */
export function describeCut(cut: WalCut): string {
  if (cut.torn && cut.reason === ZERO_TAIL) {
    return `Cut a torn ${cut.bytes}-byte tail of zeros off ${JSON.stringify(cut.file)} at byte ${cut.offset}: ` +
      `space the log had written ahead (or the file system had extended) that no record reached; ` +
      `every record before it is intact.`;
  }
  if (cut.torn) {
    return `Cut a torn ${cut.bytes}-byte tail off ${JSON.stringify(cut.file)} at byte ${cut.offset} ` +
      `(${cut.reason}): the last write before the crash was incomplete; every record before it is intact.`;
  }
  const later = cut.dropped.length > 0 ? ` and ${cut.dropped.length} later segment(s)` : "";
  return `Repair: truncated ${JSON.stringify(cut.file)} at byte ${cut.offset} (${cut.reason}), ` +
    `dropping ${cut.bytes} bytes${later}; the records from there on are lost.`;
}

/**
 * Reads the log of the database at `dir` (records above `afterLsn`), cuts
 * what must be cut, and opens a writer for the next LSN. LSNs start at 1:
 * an empty database continues from 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recoverWal } from "./recover.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const { records, writer, nextLsn } = await recoverWal(new MemoryStorage(), "data", {
 *   afterLsn: 0,
 *   sync: "interval",
 *   logger: console.log,
 * });
 * for (const r of records) console.log(r.lsn); // replay
 * assert.equal(nextLsn, 1); // an empty database continues from 0
 * writer.append({ lsn: nextLsn, op: "db.createDict", args: ["d"] });
 * await writer.close();
 * ```
 */
export async function recoverWal(
  storage: Storage,
  dir: string,
  options: RecoverWalOptions = {},
): Promise<RecoveredWal> {
  const wal = await readWal(storage, dir, options);
  if (wal.cut) {
    await applyCut(storage, dir, wal.cut);
    options.logger?.(describeCut(wal.cut));
  }
  const lastLsn = Math.max(options.afterLsn ?? 0, wal.lastLsn ?? 0);
  const writer = await WalWriter.open(storage, dir, { ...options, lastLsn });
  return { ...wal, writer, nextLsn: lastLsn + 1 };
}
