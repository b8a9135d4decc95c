/**
 * Reading the write-ahead log back at recovery: every segment in LSN order,
 * every frame checked (CRC-32C), every payload decoded, LSNs checked to run
 * on without gaps or regressions. A torn tail of the last segment is cut and
 * reported; anything else is `CorruptionError` naming file and offset,
 * unless `repair` asks to cut there instead.
 *
 * Speed: each segment is read with one `Storage.read`, and payloads are
 * decoded straight out of that buffer by offset: no per-record copies or
 * views, so recovery runs close to the speed of plain msgpack decoding.
 *
 * @module
 */

import type { Storage } from "../storage/types.ts";
import { msgpackCodec, recordProblem, type WalCodec, type WalRecord } from "./codec.ts";
import { checkFrame, corruptionAt, HEADER_BYTES, MAX_FRAME_BYTES } from "./frame.ts";
import { listSegments, type SegmentInfo, walDir } from "./segments.ts";

/** Options of {@linkcode readWal}. */
export interface ReadWalOptions {
  /**
   * The LSN a snapshot already covers: records up to it are checked but not
   * returned, segments wholly below it are not read, and a gap is only an
   * error where it would lose records above it. Default: return everything.
   */
  afterLsn?: number;
  /**
   * Stop at the first record above this LSN, without reading further and
   * without reporting a cut: for a running database rebuilding its durable
   * state, whose newest segment may end in bytes that were written but never
   * fsynced (or never fully written). Default: read to the end.
   */
  untilLsn?: number;
  /** Cut at the first bad record instead of throwing `CorruptionError`. */
  repair?: boolean;
  /** The payload codec (default: {@linkcode msgpackCodec}). */
  codec?: WalCodec;
  /** Frame lengths above this are damage (default 1 GiB). */
  maxFrameBytes?: number;
  /**
   * Receives each returned record in order instead of collecting them into
   * `records`, so that replay can run while reading.
   */
  onRecord?: (record: WalRecord) => void;
  /**
   * Told how far reading has come: once before the first record (with the
   * total), every {@linkcode PROGRESS_RECORDS} records or
   * {@linkcode PROGRESS_BYTES} bytes, and after each segment.
   * When it returns a promise, reading waits for it — so a caller can yield
   * to the event loop now and then (a server answering `LOADING` while it
   * recovers) without the reader knowing about time.
   */
  onProgress?: (progress: WalProgress) => void | Promise<void>;
}

/** How far {@linkcode readWal} has come (see `onProgress`). */
export interface WalProgress {
  /** Records returned (or passed to `onRecord`) so far. */
  records: number;
  /** Bytes of the segments read so far. */
  bytes: number;
  /** Bytes of every segment to read (those a snapshot covers entirely are skipped, and not counted). */
  totalBytes: number;
}

/** `onProgress` is told at least every this many records... */
export const PROGRESS_RECORDS = 1024;
/** ...or every this many bytes, whichever comes first. */
export const PROGRESS_BYTES = 4 * 1024 * 1024;

/** Where the log must be cut, and what is lost by it. */
export interface WalCut {
  /** The segment, relative to the database directory (`wal/…`). */
  file: string;
  /** The segment's path for Storage calls. */
  path: string;
  /** The segment keeps bytes `[0, offset)`. */
  offset: number;
  /** Bytes dropped from this segment. */
  bytes: number;
  /** What was wrong. */
  reason: string;
  /** `true` for a torn tail left by a crash; `false` for damage cut on `repair`. */
  torn: boolean;
  /** Paths of later segments that `repair` drops entirely. */
  dropped: string[];
}

/** The outcome of {@linkcode readWal}. */
export interface WalReadResult {
  /** The records with an LSN above `afterLsn`, in order (empty with `onRecord`). */
  records: WalRecord[];
  /** The LSN of the last good record in the log, or `null` when it holds none. */
  lastLsn: number | null;
  /** Records returned (or passed to `onRecord`). */
  count: number;
  /** The segments found, oldest first. */
  segments: SegmentInfo[];
  /** Set when the log must be cut: pass it to {@linkcode applyCut} before writing. */
  cut: WalCut | null;
}

/**
 * Reads the whole log of the database at `dir`.
 *
 * @example
 * ```ts
 * import { applyCut, readWal } from "./reader.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const storage = new MemoryStorage();
 * const wal = await readWal(storage, "data", { afterLsn: 0 });
 * if (wal.cut) {
 *   console.log(`Cut ${wal.cut.bytes} bytes of ${wal.cut.file} at ${wal.cut.offset}: ${wal.cut.reason}`);
 *   await applyCut(storage, "data", wal.cut);
 * }
 * for (const record of wal.records) console.log(record.lsn);
 * ```
 */
export async function readWal(storage: Storage, dir: string, options: ReadWalOptions = {}): Promise<WalReadResult> {
  const codec = options.codec ?? msgpackCodec();
  const maxFrame = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const floor = options.afterLsn ?? -1; // records <= floor are covered elsewhere
  const onRecord = options.onRecord;
  const until = options.untilLsn;
  const records: WalRecord[] = [];
  const segments = await listSegments(storage, dir);
  const onProgress = options.onProgress;
  let prev: number | null = null;
  let count = 0;
  /** Bytes of the segments before the current one. */
  let before = 0;
  let totalBytes = 0;
  if (onProgress !== undefined) {
    for (let i = 0; i < segments.length; i++) {
      if (!skipped(segments, i, floor)) totalBytes += (await storage.size(segments[i].path)) ?? 0;
    }
    // The start, with the total known.
    const wait = onProgress({ records: 0, bytes: 0, totalBytes });
    if (wait !== undefined) await wait;
  }

  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (skipped(segments, i, floor)) {
      prev = segments[i + 1].firstLsn - 1;
      continue;
    }
    const bytes = (await storage.read(seg.path)) ?? new Uint8Array(0);
    // Where progress was told last (records and offset in this segment).
    let toldCount = count;
    let toldAt = 0;
    const cutHere = (offset: number, reason: string, torn: boolean): WalReadResult => ({
      records,
      lastLsn: prev,
      count,
      segments,
      cut: {
        file: seg.file,
        path: seg.path,
        offset,
        bytes: bytes.length - offset,
        reason,
        torn,
        dropped: segments.slice(i + 1).map((s) => s.path),
      },
    });
    let at = 0;
    while (at < bytes.length) {
      const length = checkFrame(bytes, at, last, maxFrame);
      if (typeof length !== "number") {
        if (until !== undefined && length.torn) return { records, lastLsn: prev, count, segments, cut: null };
        if (length.torn || options.repair) return cutHere(at, length.reason, length.torn);
        throw corruptionAt(seg.file, at, length.reason);
      }
      const start = at + HEADER_BYTES;
      const end = start + length;
      let record: WalRecord | undefined;
      let problem: string | null;
      try {
        record = codec.decode(bytes, start, end) as WalRecord;
        problem = recordProblem(record);
      } catch (e) {
        problem = `checksum-valid payload does not decode: ${(e as Error).message}`;
      }
      if (problem === null) {
        problem = lsnProblem(record!.lsn, prev, floor, options.afterLsn !== undefined, at === 0 ? seg : null);
      }
      if (problem !== null) {
        if (options.repair) return cutHere(at, problem, false);
        throw corruptionAt(seg.file, at, problem);
      }
      if (until !== undefined && record!.lsn > until) return { records, lastLsn: prev, count, segments, cut: null };
      prev = record!.lsn;
      if (prev > floor) {
        count++;
        if (onRecord) onRecord(record!);
        else records.push(record!);
      }
      at = end;
      if (onProgress !== undefined && (count - toldCount >= PROGRESS_RECORDS || at - toldAt >= PROGRESS_BYTES)) {
        toldCount = count;
        toldAt = at;
        const wait = onProgress({ records: count, bytes: before + at, totalBytes });
        if (wait !== undefined) await wait;
      }
    }
    before += bytes.length;
    if (onProgress !== undefined) {
      const wait = onProgress({ records: count, bytes: before, totalBytes });
      if (wait !== undefined) await wait;
    }
  }
  return { records, lastLsn: prev, count, segments, cut: null };
}

/** A segment whose successor starts at or below `floor + 1` holds nothing new: it is not read. */
function skipped(segments: readonly SegmentInfo[], i: number, floor: number): boolean {
  return i < segments.length - 1 && segments[i + 1].firstLsn <= floor + 1;
}

// Why `lsn` cannot follow `prev`, or null when it can. `first` is set for the
// first record of a segment, whose LSN its file name promises.
function lsnProblem(
  lsn: number,
  prev: number | null,
  floor: number,
  strictStart: boolean,
  first: SegmentInfo | null,
): string | null {
  if (first && lsn !== first.firstLsn) {
    return `segment named for LSN ${first.firstLsn} starts with LSN ${lsn}`;
  }
  if (prev !== null && lsn <= prev) return `LSN ${lsn} does not follow LSN ${prev}`;
  // A gap is harmless when everything in it is covered by the snapshot (floor).
  const expected = prev === null ? (strictStart ? floor + 1 : lsn) : prev + 1;
  if (lsn > expected && lsn > floor + 1) {
    return prev === null
      ? `the log starts at LSN ${lsn} but the snapshot ends at LSN ${floor}: LSNs ${floor + 1}..${lsn - 1} are missing`
      : `LSNs ${prev + 1}..${lsn - 1} are missing before LSN ${lsn}`;
  }
  return null;
}

/**
 * Cuts the log where {@linkcode readWal} said: truncates the segment to
 * `cut.offset` (or removes it when nothing of it is left), removes the
 * segments `repair` dropped, and makes all of it durable.
 *
 * @example
 * ```ts
 * import { applyCut, readWal } from "./reader.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const storage = new MemoryStorage();
 * const { cut } = await readWal(storage, "data", { repair: true });
 * if (cut) await applyCut(storage, "data", cut);
 * ```
 */
export async function applyCut(storage: Storage, dir: string, cut: WalCut): Promise<void> {
  if (cut.offset === 0) {
    await storage.remove(cut.path);
  } else {
    const file = await storage.openAppend(cut.path);
    try {
      await file.truncate(cut.offset);
      await file.sync();
    } finally {
      await file.close();
    }
  }
  for (const path of cut.dropped) await storage.remove(path);
  await storage.syncDir(walDir(dir));
}
