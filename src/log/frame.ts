/**
 * WAL record framing (DESIGN §6). A segment file is a plain sequence of
 * frames, nothing before, nothing between:
 *
 * ```
 *  offset 0        4        8                      8 + length
 *         +--------+--------+----------------------+--------+---
 *         | length |  crc   | payload (length B)   | length | ...
 *         +--------+--------+----------------------+--------+---
 *           u32 LE   u32 LE   msgpack of the record
 *
 *  length: payload bytes, 1 ..= maxFrameBytes (0 is never written)
 *  crc:    CRC-32C (Castagnoli) of the payload bytes only
 * ```
 *
 * A crash can leave the last frame of the last segment torn (short header,
 * short payload, or a payload whose bytes did not all land), possibly
 * followed by zeros (space written ahead, see `CreateOptions.preallocate`,
 * or extended by the file system): that tail is cut and reported. Damage
 * anywhere else is `CorruptionError`, never a skip.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { crc32c } from "./crc32c.ts";

/**
 * Bytes of a frame header: u32 length + u32 CRC.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame, HEADER_BYTES } from "./frame.ts";
 * const payload = new Uint8Array(100);
 * assert.equal(encodeFrame(payload).length, HEADER_BYTES + payload.length); // 108
 * ```
 */
export const HEADER_BYTES = 8;

/**
 * The largest payload a frame may declare (1 GiB). A larger length on disk
 * is taken as damage, not as a torn record; the writer refuses to write one.
 *
 * @example
 * ```ts
 * import { MAX_FRAME_BYTES } from "./frame.ts";
 * const payload = new Uint8Array(100);
 * if (payload.length > MAX_FRAME_BYTES) throw new Error("Split the transaction.");
 * ```
 */
export const MAX_FRAME_BYTES = 1 << 30;

/**
 * The reason a cut gives for a last segment that ends in zeros where the
 * next frame would start: preallocated space no record reached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanFrames, ZERO_TAIL } from "./frame.ts";
 * const scan = scanFrames(new Uint8Array(16), { file: "wal/x.wal", last: true });
 * assert.equal(scan.cut?.reason, ZERO_TAIL);
 * ```
 */
export const ZERO_TAIL = "zero-filled tail";

/**
 * Writes the frame of `payload` into `target` at `offset` (which must have
 * room for `HEADER_BYTES + payload.length`) and returns the end offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HEADER_BYTES, writeFrame } from "./frame.ts";
 * const payload = new Uint8Array([1, 2, 3]);
 * const buf = new Uint8Array(HEADER_BYTES + payload.length);
 * assert.equal(writeFrame(buf, 0, payload), 11);
 * ```
 */
export function writeFrame(target: Uint8Array, offset: number, payload: Uint8Array): number {
  target.set(payload, offset + HEADER_BYTES);
  return writeHeader(target, offset, payload.length);
}

/**
 * Writes the header of the frame whose `length` payload bytes are already
 * in `target` after it (from `offset + HEADER_BYTES`): the payload was
 * encoded in place. Returns the frame's end offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame, HEADER_BYTES, writeHeader } from "./frame.ts";
 * const buf = new Uint8Array(HEADER_BYTES + 3);
 * buf.set([1, 2, 3], HEADER_BYTES); // the payload, encoded in place
 * assert.equal(writeHeader(buf, 0, 3), 11);
 * assert.deepEqual(buf, encodeFrame(new Uint8Array([1, 2, 3])));
 * ```
 */
export function writeHeader(target: Uint8Array, offset: number, length: number): number {
  const n = length;
  const start = offset + HEADER_BYTES;
  const crc = crc32c(target, 0, start, start + n);
  target[offset] = n;
  target[offset + 1] = n >>> 8;
  target[offset + 2] = n >>> 16;
  target[offset + 3] = n >>> 24;
  target[offset + 4] = crc;
  target[offset + 5] = crc >>> 8;
  target[offset + 6] = crc >>> 16;
  target[offset + 7] = crc >>> 24;
  return start + n;
}

/**
 * One framed record in a fresh buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame } from "./frame.ts";
 * assert.equal(encodeFrame(new Uint8Array([0xc0])).length, 9);
 * ```
 */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  writeFrame(out, 0, payload);
  return out;
}

/**
 * Many framed records, back to back, in one buffer (one write, one sync).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrames } from "./frame.ts";
 * assert.equal(encodeFrames([new Uint8Array([1]), new Uint8Array([2, 3])]).length, 19);
 * ```
 */
export function encodeFrames(payloads: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of payloads) size += HEADER_BYTES + p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of payloads) at = writeFrame(out, at, p);
  return out;
}

/** Where and why a segment must be cut. */
export interface FrameCut {
  /** Byte offset of the first bad frame: the file keeps `[0, offset)`. */
  offset: number;
  /** Bytes after `offset` that are dropped. */
  bytes: number;
  /** What was wrong, for the log line. */
  reason: string;
  /** `true` for a torn tail (expected after a crash), `false` for damage cut on `repair` request. */
  torn: boolean;
}

/** The outcome of {@linkcode scanFrames}. */
export interface FrameScan {
  /** Each good payload, a view into the scanned bytes (no copy). */
  payloads: Uint8Array[];
  /** The byte offset of each good frame's header, parallel to `payloads`. */
  offsets: number[];
  /** The end of the last good frame: where the next frame would start. */
  end: number;
  /** Set when the segment must be cut at `end`. */
  cut?: FrameCut;
}

/** Options of {@linkcode scanFrames}. */
export interface ScanOptions {
  /** The file name used in errors (relative to the database directory). */
  file: string;
  /** Whether this is the final segment, where a torn tail is expected. */
  last: boolean;
  /** Report the first bad frame as a cut instead of throwing `CorruptionError`. */
  repair?: boolean;
  /** Lengths above this are damage (default {@linkcode MAX_FRAME_BYTES}). */
  maxFrameBytes?: number;
}

/**
 * Checks the frame at `offset` of `bytes[0, size)`. Returns its payload
 * length when it is whole and its CRC matches; otherwise a {@linkcode FrameCut}
 * describing the problem (`torn` set when, in a last segment, it is the kind
 * of damage a crash leaves at the tail). The building block of
 * {@linkcode scanFrames} and of the WAL reader's copy-free loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFrame, encodeFrame } from "./frame.ts";
 * const bytes = encodeFrame(new Uint8Array([7]));
 * assert.equal(checkFrame(bytes, 0, true), 1);
 * const cut = checkFrame(bytes.subarray(0, 5), 0, true); // cut short, as a crash leaves a last segment
 * assert.equal(typeof cut === "object" && cut.torn, true);
 * ```
 */
export function checkFrame(
  bytes: Uint8Array,
  offset: number,
  last: boolean,
  maxFrameBytes = MAX_FRAME_BYTES,
): number | FrameCut {
  const size = bytes.length;
  const rest = size - offset;
  if (rest < HEADER_BYTES) return badFrame(offset, rest, `incomplete ${rest}-byte frame header at the end`, last);
  const length = (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>>
    0;
  if (length === 0) {
    // Space the file system extended but never filled reads as zeros.
    return last && allZero(bytes, offset)
      ? badFrame(offset, rest, ZERO_TAIL, true)
      : badFrame(offset, rest, "zero-length frame", false);
  }
  if (length > maxFrameBytes) {
    return badFrame(offset, rest, `frame length ${length} above the limit of ${maxFrameBytes}`, false);
  }
  const end = offset + HEADER_BYTES + length;
  if (end > size) return badFrame(offset, rest, `frame of ${length} bytes runs past the end of the file`, last);
  const stored =
    (bytes[offset + 4] | (bytes[offset + 5] << 8) | (bytes[offset + 6] << 16) | (bytes[offset + 7] << 24)) >>> 0;
  if (crc32c(bytes, 0, offset + HEADER_BYTES, end) !== stored) {
    // Torn when nothing but zeros follows: the record was the last write, and
    // the file ends there or in zeros (written ahead by a preallocating
    // storage, or extended by the file system) that no record reached.
    return badFrame(offset, rest, "checksum mismatch", last && allZero(bytes, end));
  }
  return length;
}

// Kept out of checkFrame so the good path allocates nothing.
function badFrame(offset: number, bytes: number, reason: string, torn: boolean): FrameCut {
  return { offset, bytes, reason, torn };
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The `CorruptionError` for damage at `offset` of `file`, saying what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { corruptionAt } from "./frame.ts";
 * const e = corruptionAt("wal/00000000000000000001.wal", 128, "checksum mismatch");
 * assert.deepEqual([e.code, e.file, e.offset], ["CORRUPTION", "wal/00000000000000000001.wal", 128]);
 * ```
 */
export function corruptionAt(file: string, offset: number, reason: string): CorruptionError {
  return new CorruptionError(
    `Write-ahead log ${JSON.stringify(file)} is damaged at byte ${offset} (${reason}); ` +
      `open the database with { repair: true } to truncate the log there (the records from there on are lost), ` +
      `or restore the directory from a backup.`,
    { file, offset },
  );
}

/**
 * Walks every frame of one segment. Good payloads come back as views into
 * `bytes`. A torn tail of the last segment is reported in `cut`; any other
 * bad frame throws `CorruptionError` (with `file` and `offset`), or with
 * `repair` is reported in `cut` as the place to truncate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrames, scanFrames } from "./frame.ts";
 * const bytes = encodeFrames([new Uint8Array([1]), new Uint8Array([2])]);
 * const scan = scanFrames(bytes.subarray(0, 12), { file: "wal/x.wal", last: true });
 * assert.equal(scan.payloads.length, 1);
 * assert.equal(scan.cut?.torn, true);
 * ```
 */
export function scanFrames(bytes: Uint8Array, options: ScanOptions): FrameScan {
  const payloads: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const r = checkFrame(bytes, at, options.last, options.maxFrameBytes);
    if (typeof r !== "number") {
      if (!r.torn && !options.repair) throw corruptionAt(options.file, at, r.reason);
      return { payloads, offsets, end: at, cut: r };
    }
    offsets.push(at);
    payloads.push(bytes.subarray(at + HEADER_BYTES, at + HEADER_BYTES + r));
    at += HEADER_BYTES + r;
  }
  return { payloads, offsets, end: at };
}
