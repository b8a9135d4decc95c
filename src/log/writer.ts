/**
 * The WAL writer. Records are encoded and framed synchronously into a
 * pending batch, so the order of `append` calls is the order of the log.
 * Batches leave through a `WritableStream<Uint8Array>` per segment whose sink
 * appends through a {@linkcode StorageFile}; one write and one sync cover
 * every record since the last (group commit).
 *
 * ```
 *  append() ──► pending batch ──(end of task / timer / flush)──► segment stream ──► StorageFile
 *  (framed,      [frame][frame][frame]...                          write(batch)      write + sync
 *   in order)
 * ```
 *
 * Sync modes: `"always"` writes and fsyncs each batch at the end of the task
 * that appended it; `"interval"` writes at the end of the task and fsyncs
 * every `flushInterval` ms; `"manual"` writes nothing until `flush()`.
 * Segments rotate past `segmentBytes`; a new segment is named by the LSN of
 * the first record it will hold, and a writer always starts a new segment
 * rather than appending to one a previous process left behind.
 *
 * @module
 */

import { ClosedError, CorruptionError, TooLargeError } from "../errors.ts";
import type { Storage, StorageFile } from "../storage/types.ts";
import { msgpackCodec, type WalCodec, type WalRecord } from "./codec.ts";
import { HEADER_BYTES, MAX_FRAME_BYTES, writeFrame } from "./frame.ts";
import { listSegments, type SegmentInfo, segmentInfo, walDir } from "./segments.ts";
import { segmentWritable } from "./segment_stream.ts";

export { segmentWritable };

/** When appended records reach the disk. */
export type SyncMode = "always" | "interval" | "manual";

/** Options of {@linkcode WalWriter.open}. */
export interface WalWriterOptions {
  /** Default `"interval"`. */
  sync?: SyncMode;
  /** Milliseconds between fsyncs in `"interval"` mode (default 1000). */
  flushInterval?: number;
  /** A segment is rotated once it would grow past this (default 64 MiB). */
  segmentBytes?: number;
  /** The last LSN the database already holds; the first append must be the next one. */
  lastLsn?: number | null;
  /** The payload codec (default: {@linkcode msgpackCodec}). */
  codec?: WalCodec;
  /** Larger records are refused with `TooLargeError` (default 1 GiB). */
  maxFrameBytes?: number;
  /** Told about a background write or sync failure as soon as it happens. */
  onError?: (error: unknown) => void;
}

interface OpenSegment {
  info: SegmentInfo;
  file: StorageFile;
  writer: WritableStreamDefaultWriter<Uint8Array>;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const INITIAL_BATCH = 64 * 1024;
const KEEP_BATCH = 4 * 1024 * 1024; // larger batch buffers are dropped after use

/**
 * Appends records to the log of one database directory.
 *
 * @example
 * ```ts
 * import { WalWriter } from "./writer.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const wal = await WalWriter.open(new MemoryStorage(), "data", { sync: "always", lastLsn: 0 });
 * wal.append({ lsn: 1, op: "db.createDict", args: ["d"] });
 * wal.append({ lsn: 2, ops: [{ op: "dict.set", args: ["d", "k", 1] }] });
 * await wal.durable(); // both on disk, in one write and one sync
 * await wal.close();
 * ```
 */
export class WalWriter {
  #kickQueued = false;
  #storage: Storage;
  #dir: string;
  #mode: SyncMode;
  #interval: number;
  #segmentBytes: number;
  #codec: WalCodec;
  #maxFrame: number;
  #onError?: (error: unknown) => void;

  #buf: Uint8Array = new Uint8Array(INITIAL_BATCH);
  #len = 0;
  #spare: Uint8Array | null = null;
  #cuts: { offset: number; lsn: number }[] = []; // rotation points inside the pending batch
  #pendingFirstLsn: number | null = null;
  #planned = 0; // bytes of the current segment once the pending batch is written
  #lastLsn: number | null;
  #openLastLsn: number | null;
  #openNewest: number; // first LSN of the newest segment that existed at open (-1: none)
  #bytes: number;
  #rotateNext = false; // the next record starts a new segment (see rotate())

  // Counts of records: appended, written to the OS, synced; and what is wanted.
  #appended = 0;
  #written = 0;
  #synced = 0;
  #writeTarget = 0;
  #syncTarget = 0;
  #waiters: Waiter[] = [];
  #scheduled = false;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #segment: OpenSegment | null = null;
  #failure: { error: unknown } | null = null;
  #closing: Promise<void> | null = null;

  private constructor(
    storage: Storage,
    dir: string,
    options: WalWriterOptions,
    existing: SegmentInfo[],
    bytes: number,
  ) {
    this.#storage = storage;
    this.#dir = dir;
    this.#mode = options.sync ?? "interval";
    this.#interval = options.flushInterval ?? 1000;
    this.#segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.#codec = options.codec ?? msgpackCodec();
    this.#maxFrame = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.#onError = options.onError;
    this.#lastLsn = this.#openLastLsn = options.lastLsn ?? null;
    this.#openNewest = existing.length > 0 ? existing[existing.length - 1].firstLsn : -1;
    this.#bytes = bytes;
  }

  /**
   * Opens the writer for the database at `dir` (creating `<dir>/wal`).
   * Read the log first ({@linkcode readWal}, {@linkcode applyCut}) and pass
   * the database's last LSN, so the new records continue it.
   *
   * @example
   * ```ts
   * import { WalWriter } from "./writer.ts";
   * import { MemoryStorage } from "../storage/memory.ts";
   * const wal = await WalWriter.open(new MemoryStorage(), "data", { lastLsn: 41 });
   * wal.append({ lsn: 42, op: "dict.set", args: ["d", "k", "v"] });
   * await wal.close();
   * ```
   */
  static async open(storage: Storage, dir: string, options: WalWriterOptions = {}): Promise<WalWriter> {
    const mode = options.sync ?? "interval";
    if (mode !== "always" && mode !== "interval" && mode !== "manual") {
      throw new RangeError(`Sync mode ${JSON.stringify(mode)} is unknown: use "always", "interval" or "manual".`);
    }
    for (const k of ["flushInterval", "segmentBytes", "maxFrameBytes"] as const) {
      const v = options[k];
      if (v !== undefined && !(typeof v === "number" && v >= 0 && Number.isFinite(v))) {
        throw new RangeError(`Option ${k} ${JSON.stringify(v)} is not a non-negative number: pass one or leave it out.`);
      }
    }
    const last = options.lastLsn;
    if (last !== undefined && last !== null && !(Number.isSafeInteger(last) && last >= 0)) {
      throw new RangeError(`Option lastLsn ${JSON.stringify(last)} is not a non-negative integer: pass the LSN from readWal.`);
    }
    await storage.mkdir(walDir(dir));
    const existing = await listSegments(storage, dir);
    let bytes = 0;
    for (const seg of existing) bytes += (await storage.size(seg.path)) ?? 0;
    return new WalWriter(storage, dir, options, existing, bytes);
  }

  /** The sync mode. */
  get sync(): SyncMode {
    return this.#mode;
  }

  /** The LSN of the last record appended (or the `lastLsn` opened with). */
  get lastLsn(): number | null {
    return this.#lastLsn;
  }

  /** Bytes of the log: segments on disk plus records not yet written. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether records were appended that are not yet durable (fsynced). */
  get unsynced(): boolean {
    return this.#synced < this.#appended;
  }

  /** Bytes appended but not yet handed to the storage. */
  get pendingBytes(): number {
    return this.#len;
  }

  /**
   * Encodes and frames `record` into the pending batch, synchronously.
   * Returns the bytes it takes in the log. Its LSN must be the next one.
   * Throws `ClosedError` once closed or after a failed write (with the
   * failure as `cause`), `TooLargeError` above the frame limit.
   */
  append(record: WalRecord): number {
    if (this.#closing) throw new ClosedError("The write-ahead log is closed; open the database again to write.");
    if (this.#failure) {
      throw new ClosedError(
        "The write-ahead log stopped after a failed write or sync; close the database and open it again to recover.",
        { cause: this.#failure.error },
      );
    }
    const lsn = record.lsn;
    if (!Number.isSafeInteger(lsn) || lsn < 0 || (this.#lastLsn !== null && lsn !== this.#lastLsn + 1)) {
      throw new RangeError(
        `Record LSN ${lsn} does not follow LSN ${this.#lastLsn}; append records with consecutive LSNs.`,
      );
    }
    const payload = this.#codec.encode(record);
    const frame = HEADER_BYTES + payload.length;
    if (payload.length > this.#maxFrame) {
      throw new TooLargeError(
        `Record ${lsn} is ${payload.length} bytes, above the log's limit of ${this.#maxFrame}; split the transaction.`,
      );
    }
    if (this.#planned > 0 && (this.#rotateNext || this.#planned + frame > this.#segmentBytes)) {
      this.#cuts.push({ offset: this.#len, lsn });
      this.#planned = 0;
    }
    this.#rotateNext = false;
    if (this.#len + frame > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#len + frame, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#len = writeFrame(this.#buf, this.#len, payload);
    this.#planned += frame;
    this.#bytes += frame;
    this.#pendingFirstLsn ??= lsn;
    this.#lastLsn = lsn;
    this.#appended++;
    if (this.#mode !== "manual" && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#endOfTask());
    }
    if (this.#mode === "interval" && this.#timer === null) this.#arm();
    return frame;
  }

  /**
   * Resolves once every record appended so far is durable, on the sync
   * mode's own schedule: the end of this task (`"always"`), the next
   * interval fsync (`"interval"`) or the next `flush()` (`"manual"`).
   */
  durable(): Promise<void> {
    return this.#wait(false);
  }

  /**
   * Writes and fsyncs now; resolves once every record appended before the
   * call is durable. Rejects with the error of a failed write or sync.
   */
  flush(): Promise<void> {
    return this.#wait(true);
  }

  /**
   * Makes the next appended record start a new segment. Called when a
   * snapshot captures the state at {@linkcode lastLsn}: the segments before
   * the boundary then hold only records the snapshot covers, so recovery
   * skips them by name without reading a byte, and retention removes them
   * whole. No-op when the current segment is still empty.
   */
  rotate(): void {
    this.#rotateNext = this.#planned > 0;
  }

  /**
   * Creates the empty segment that the next record will start
   * (`<lastLsn + 1>.wal`), durably, once the writer is closed. A clean close
   * seals the log so that the next recovery knows, from the names alone,
   * where every earlier segment ends: a snapshot at `lastLsn` then covers
   * them all and none is read. The next writer starts exactly that segment.
   *
   * @example
   * ```ts
   * import { WalWriter } from "./writer.ts";
   * import { MemoryStorage } from "../storage/memory.ts";
   * const storage = new MemoryStorage();
   * const wal = await WalWriter.open(storage, "data", { lastLsn: 0 });
   * wal.append({ lsn: 1, op: "db.createDict", args: ["d"] });
   * await wal.close();
   * await wal.seal(); // data/wal/00000000000000000002.wal, empty
   * ```
   */
  async seal(): Promise<void> {
    const last = this.#lastLsn;
    if (last === null || last === 0 || !this.#closing) return;
    await this.#closing;
    const info = segmentInfo(this.#dir, last + 1);
    if ((await this.#storage.size(info.path)) !== null) return;
    const file = await this.#storage.create(info.path);
    try {
      await file.sync();
    } finally {
      await file.close();
    }
    await this.#storage.syncDir(walDir(this.#dir));
  }

  /** Flushes, then closes the segment. Rejects if the log failed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * Removes the segments a snapshot at `lsn` covers entirely (every record
   * in them is at or below `lsn`), never the segment being written. Returns
   * the removed paths.
   */
  async removeSegmentsUpTo(lsn: number): Promise<string[]> {
    const segments = await listSegments(this.#storage, this.#dir);
    const removed: string[] = [];
    for (let i = 0; i < segments.length; i++) {
      const current = this.#segment?.info.firstLsn;
      if (current !== undefined && segments[i].firstLsn >= current) break;
      // A successor bounds a segment's records. Without one, only a segment
      // that predates this writer is bounded (by the LSN it was opened with);
      // one this writer made may be mid-rotation and is left alone.
      const lastInside = i + 1 < segments.length
        ? segments[i + 1].firstLsn - 1
        : segments[i].firstLsn <= this.#openNewest
        ? this.#openLastLsn
        : null;
      if (lastInside === null || lastInside > lsn) break;
      const size = (await this.#storage.size(segments[i].path)) ?? 0;
      await this.#storage.remove(segments[i].path);
      this.#bytes -= size;
      removed.push(segments[i].path);
    }
    if (removed.length > 0) await this.#storage.syncDir(walDir(this.#dir));
    return removed;
  }

  #wait(force: boolean): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.error);
    const seq = this.#appended;
    if (this.#synced >= seq) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ seq, resolve, reject }));
    // Someone awaits the interval fsync now: its timer must keep the process alive.
    if (this.#timer !== null) (this.#timer as { ref?: () => void }).ref?.();
    if (force) {
      this.#writeTarget = Math.max(this.#writeTarget, seq);
      this.#syncTarget = Math.max(this.#syncTarget, seq);
      // At the end of the task, not now: every writer resumed in this task
      // appends first, so their records share one write and one fdatasync.
      if (!this.#kickQueued) {
        this.#kickQueued = true;
        queueMicrotask(() => {
          this.#kickQueued = false;
          this.#writeTarget = Math.max(this.#writeTarget, this.#appended);
          this.#syncTarget = Math.max(this.#syncTarget, this.#appended);
          this.#kick();
        });
      }
    }
    return done;
  }

  #endOfTask(): void {
    this.#scheduled = false;
    this.#writeTarget = this.#appended;
    if (this.#mode === "always") this.#syncTarget = this.#appended;
    this.#kick();
  }

  #arm(): void {
    const timer = setTimeout(() => {
      this.#timer = null;
      this.#writeTarget = this.#syncTarget = this.#appended;
      this.#kick();
    }, this.#interval);
    // Never keep a process alive just to fsync.
    this.#storage.unrefTimer?.(timer);
    this.#timer = timer;
  }

  #kick(): void {
    if (this.#running || this.#failure) return;
    this.#running = true;
    this.#work().catch((e) => this.#fail(e));
  }

  // The only code that touches the segment: one step at a time, until
  // nothing more is wanted. `#running` drops in the same synchronous step
  // that finds nothing to do, so a kick can never fall between the two.
  async #work(): Promise<void> {
    while (true) {
      if (this.#len > 0 && (this.#written < this.#writeTarget || this.#written < this.#syncTarget)) {
        await this.#writePending();
      } else if (this.#synced < this.#syncTarget && this.#synced < this.#written) {
        const upTo = this.#written;
        await this.#segment!.file.sync();
        this.#synced = upTo;
        while (this.#waiters.length > 0 && this.#waiters[0].seq <= upTo) this.#waiters.shift()!.resolve();
      } else {
        this.#running = false;
        return;
      }
    }
  }

  async #writePending(): Promise<void> {
    const buf = this.#buf;
    const len = this.#len;
    const cuts = this.#cuts;
    const firstLsn = this.#pendingFirstLsn!;
    const seqEnd = this.#appended;
    this.#buf = this.#spare ?? new Uint8Array(INITIAL_BATCH);
    this.#spare = null;
    this.#len = 0;
    this.#cuts = [];
    this.#pendingFirstLsn = null;
    let from = 0;
    for (let k = 0; k <= cuts.length; k++) {
      if (k > 0) await this.#startSegment(cuts[k - 1].lsn);
      else if (!this.#segment) await this.#startSegment(firstLsn);
      const to = k < cuts.length ? cuts[k].offset : len;
      if (to > from) await this.#segment!.writer.write(buf.subarray(from, to));
      from = to;
    }
    this.#written = seqEnd;
    if (buf.length <= KEEP_BATCH) this.#spare = buf;
  }

  // Finishes the current segment (synced: a later segment must never be
  // durable while the end of an earlier one is not) and starts the next.
  async #startSegment(firstLsn: number): Promise<void> {
    if (this.#segment) {
      await this.#segment.writer.close();
      this.#segment = null;
    }
    const info = segmentInfo(this.#dir, firstLsn);
    if (((await this.#storage.size(info.path)) ?? 0) > 0) {
      throw new CorruptionError(
        `Write-ahead log segment ${JSON.stringify(info.file)} already holds records from LSN ${firstLsn} on, ` +
          `but the writer was opened before them; read the log with readWal and open the writer with its lastLsn.`,
        { file: info.file, offset: 0 },
      );
    }
    const file = await this.#storage.create(info.path);
    this.#segment = { info, file, writer: segmentWritable(file).getWriter() };
    await this.#storage.syncDir(walDir(this.#dir));
  }

  #fail(error: unknown): void {
    this.#running = false;
    if (this.#failure) return;
    this.#failure = { error };
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#waiters.splice(0)) w.reject(error);
    this.#onError?.(error);
  }

  async #close(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    try {
      await this.#wait(true);
    } finally {
      const segment = this.#segment;
      this.#segment = null;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      if (segment) {
        if (this.#failure) await segment.file.close().catch(() => {});
        else await segment.writer.close();
      }
    }
  }
}
