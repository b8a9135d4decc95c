/**
 * The write-ahead log: framing, checksum, segment files, the writer (a Web
 * stream per segment, group commit, three sync modes) and the reader used by
 * recovery.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyCut, readWal, WalWriter } from "./mod.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const storage = new MemoryStorage();
 * const wal = await readWal(storage, "data");
 * if (wal.cut) await applyCut(storage, "data", wal.cut);
 * const writer = await WalWriter.open(storage, "data", { lastLsn: wal.lastLsn ?? 0 });
 * writer.append({ lsn: (wal.lastLsn ?? 0) + 1, op: "db.createDict", args: ["d"] });
 * await writer.close();
 * assert.deepEqual((await readWal(storage, "data")).records, [{ lsn: 1, op: "db.createDict", args: ["d"] }]);
 * ```
 *
 * @module
 */

export { crc32c } from "./crc32c.ts";
export {
  checkFrame,
  corruptionAt,
  encodeFrame,
  encodeFrames,
  type FrameCut,
  type FrameScan,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  scanFrames,
  type ScanOptions,
  writeFrame,
} from "./frame.ts";
export {
  listSegments,
  parseSegmentName,
  type SegmentInfo,
  segmentInfo,
  segmentName,
  WAL_DIR,
  walDir,
} from "./segments.ts";
export {
  msgpackCodec,
  type MsgpackPacker,
  type MsgpackUnpacker,
  recordProblem,
  type WalCodec,
  type WalOp,
  type WalRecord,
  type WalSingleRecord,
  type WalTxRecord,
} from "./codec.ts";
export { applyCut, readWal, type ReadWalOptions, type WalCut, type WalReadResult } from "./reader.ts";
export { segmentWritable, type SyncMode, WalWriter, type WalWriterOptions } from "./writer.ts";
export { describeCut, type RecoveredWal, recoverWal, type RecoverWalOptions } from "./recover.ts";
