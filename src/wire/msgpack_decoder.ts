/**
 * The project's MessagePack decoder: it reads exactly what `encode` writes
 * (and what any MessagePack client sends for those types) and refuses
 * everything else, so decoded data is always a tree of values.
 *
 * Why not msgpackr's decoder: it also understands its own extensions —
 * structured-clone references (types 0x69/0x70) that build cyclic or shared
 * objects, records (0x72), `Set`, `Map`, `Error`, `RegExp`, typed arrays,
 * bundled strings — registered process-wide, so they cannot be switched off
 * for one decoder; it turns a `"__proto__"` map key into `"__proto_"`; it
 * builds arbitrarily large bigints from extension 0x42 and, on trailing
 * bytes, prints the decoded value into its error message. Here:
 *
 * ```
 *   nil, false, true, ints, float 32/64, str, bin   as MessagePack says
 *   int 64 / uint 64 (d3 / cf)                      bigint
 *   array 16/32, fixarray                           Array
 *   map 16/32, fixmap                               plain object; keys are strings
 *                                                   (number keys become strings);
 *                                                   "__proto__" is an own property
 *   ext -1  timestamp 32/64/96                      Date (other sizes: Invalid Date)
 *   ext 0   (fixext 1: d4 00 00)                    undefined
 *   ext 45  (fixext 1: d4 2d 00)                    -0
 *   ext 66  (0x42, big-endian two's complement)     bigint within -(2^63) .. 2^64-1,
 *                                                   at most 16 bytes (msgpackr pads
 *                                                   to whole 64-bit words)
 *   any other ext, 0xc1                             error
 * ```
 *
 * Errors are `ProtocolError`s whose message is short and fixed: it never
 * quotes decoded data, so a caller may pass it on. Nesting deeper than {@linkcode MAX_DECODE_DEPTH}
 * is an error (before the stack could overflow), and a length that the
 * remaining bytes cannot hold is refused before anything is allocated.
 *
 * @module
 */

import { MAX_DEPTH } from "../core/value.ts";
import { ProtocolError } from "../errors.ts";

/**
 * Deepest nesting decoded: a value may be {@linkcode MAX_DEPTH} levels deep
 * and sits inside a few levels of frame or log record.
 */
export const MAX_DECODE_DEPTH = MAX_DEPTH + 16;

/**
 * The most bytes of a bigint extension (0x42). 9 bytes of two's complement
 * hold every bigint in -(2^63) .. 2^64-1, the range values allow; msgpackr
 * pads to 16. Longer ones are refused by their length, before any BigInt is
 * built (a BigInt of megabytes takes seconds to print).
 */
export const MAX_BIGINT_EXT_BYTES = 16;

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

const EXT_UNDEFINED = 0;
const EXT_NEG_ZERO = 45;
const EXT_BIGINT = 0x42;
const EXT_TIMESTAMP = 0xff; // -1 as a byte

const utf8 = new TextDecoder();
const fromCharCode = String.fromCharCode;

// Decoder state: decoding is synchronous and calls no user code, so one
// module-level cursor is safe and saves passing it around.
const EMPTY = new Uint8Array(0);
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;
let depth = 0;

// A view of `src` for floats and 64-bit integers, made on first use. Small
// inputs stay referenced between calls (the WAL reader decodes many ranges
// of one buffer); a large one is let go after its call so that the decoder
// never keeps a big request body alive.
let view: DataView | null = null;
const KEEP_BYTES = 1 << 20;

function dv(): DataView {
  return view ??= new DataView(src.buffer, src.byteOffset, src.byteLength);
}

function load(n: number): DataView {
  need(n);
  pos += n;
  return dv();
}

function fail(message: string): never {
  throw new ProtocolError(`MessagePack ${message}`);
}

function need(n: number): void {
  if (n > end - pos) {
    fail("data ends early (truncated, or a length the data cannot hold): send complete MessagePack values");
  }
}

function setSource(bytes: Uint8Array, start: number, stop: number): void {
  if (bytes !== src) {
    src = bytes;
    view = null;
  }
  pos = start;
  end = stop;
  depth = 0;
}

/**
 * Decodes the one value in `bytes[start, stop)`; anything left over is an error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeOne } from "./msgpack_decoder.ts";
 * assert.deepEqual(decodeOne(new Uint8Array([0x92, 0x01, 0xc0]), 0, 3), [1, null]);
 * ```
 */
export function decodeOne(bytes: Uint8Array, start: number, stop: number): unknown {
  setSource(bytes, start, stop);
  try {
    const value = read();
    if (pos !== end) fail(`data has ${end - pos} bytes after the end of the value: send exactly one value`);
    return value;
  } finally {
    if (bytes.byteLength > KEEP_BYTES) {
      src = EMPTY;
      view = null;
    }
  }
}

/**
 * Decodes the one value in `bytes[start, stop)` as {@linkcode decodeOne}
 * does, with a fast path for the shape of a single-write log record as the
 * encoder writes it — a 3-entry map `lsn`, `op`, `args` — that skips the
 * generic map (key lookups, a fresh object per shape) and hands the op name
 * back as the same string each time. Anything else, or anything the fast
 * path does not like, is decoded (and refused) by `decodeOne` itself.
 *
 * ```
 *   83  a3 "lsn" <int>  a2 "op" <fixstr>  a4 "args" <array>
 * ```
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRecord } from "./msgpack_decoder.ts";
 * const bytes = new Uint8Array([0x83, 0xa3, 0x6c, 0x73, 0x6e, 0x07, 0xa2, 0x6f, 0x70, 0xa1, 0x78, 0xa4, 0x61, 0x72, 0x67, 0x73, 0x90]);
 * assert.deepEqual(decodeRecord(bytes, 0, bytes.length), { lsn: 7, op: "x", args: [] });
 * ```
 */
export function decodeRecord(bytes: Uint8Array, start: number, stop: number): unknown {
  if (
    stop - start >= 16 && bytes[start] === 0x83 && bytes[start + 1] === 0xa3 && bytes[start + 2] === 0x6c &&
    bytes[start + 3] === 0x73 && bytes[start + 4] === 0x6e
  ) {
    setSource(bytes, start + 5, stop);
    try {
      const record = readRecordRest();
      if (record !== null) return record;
    } catch {
      // Decoded again below, by the generic path, which says what is wrong.
    } finally {
      if (bytes.byteLength > KEEP_BYTES) {
        src = EMPTY;
        view = null;
      }
    }
  }
  return decodeOne(bytes, start, stop);
}

/** After `83 a3 "lsn"`: the rest of a record, or `null` when it is shaped otherwise. */
function readRecordRest(): { lsn: number; op: string; args: unknown[] } | null {
  const lsn = read();
  if (typeof lsn !== "number" || end - pos < 9) return null;
  const b = src;
  let p = pos;
  if (b[p] !== 0xa2 || b[p + 1] !== 0x6f || b[p + 2] !== 0x70) return null;
  const t = b[p + 3];
  if (t < 0xa0 || t >= 0xc0) return null;
  pos = p + 4;
  const op = cachedKey(t - 0xa0);
  p = pos;
  if (
    end - p < 6 || b[p] !== 0xa4 || b[p + 1] !== 0x61 || b[p + 2] !== 0x72 || b[p + 3] !== 0x67 || b[p + 4] !== 0x73
  ) {
    return null;
  }
  const a = b[p + 5];
  if (!((a >= 0x90 && a < 0xa0) || a === 0xdc || a === 0xdd)) return null;
  pos = p + 5;
  depth = 1; // inside the record's map, as the generic path counts
  const args = read() as unknown[];
  if (pos !== end) return null;
  return { lsn, op, args };
}

/**
 * Decodes values back to back until `bytes` ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeAll } from "./msgpack_decoder.ts";
 * assert.deepEqual(decodeAll(new Uint8Array([0x01, 0xa1, 0x61])), [1, "a"]);
 * ```
 */
export function decodeAll(bytes: Uint8Array): unknown[] {
  setSource(bytes, 0, bytes.length);
  try {
    const out: unknown[] = [];
    while (pos < end) out.push(read());
    return out;
  } finally {
    if (bytes.byteLength > KEEP_BYTES) {
      src = EMPTY;
      view = null;
    }
  }
}

function read(): unknown {
  need(1);
  const t = src[pos++];
  if (t < 0x80) return t;
  if (t < 0x90) return readMap(t - 0x80);
  if (t < 0xa0) return readArray(t - 0x90);
  if (t < 0xc0) return readStr(t - 0xa0);
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return readBin(u8());
    case 0xc5:
      return readBin(u16());
    case 0xc6:
      return readBin(u32());
    case 0xc7:
      return readExt(u8());
    case 0xc8:
      return readExt(u16());
    case 0xc9:
      return readExt(u32());
    case 0xca:
      return float(4);
    case 0xcb:
      return float(8);
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      return load(8).getBigUint64(pos - 8);
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd3:
      return load(8).getBigInt64(pos - 8);
    case 0xd4:
      return readExt(1);
    case 0xd5:
      return readExt(2);
    case 0xd6:
      return readExt(4);
    case 0xd7:
      return readExt(8);
    case 0xd8:
      return readExt(16);
    case 0xd9:
      return readStr(u8());
    case 0xda:
      return readStr(u16());
    case 0xdb:
      return readStr(u32());
    case 0xdc:
      return readArray(u16());
    case 0xdd:
      return readArray(u32());
    case 0xde:
      return readMap(u16());
    case 0xdf:
      return readMap(u32());
  }
  return fail("byte 0xc1 is never used: the data is not MessagePack"); // the only byte left
}

// Floats are read through these scratch arrays rather than a DataView of
// the input: a large input (a log segment) drops its view after each call
// (see KEEP_BYTES), and making a DataView per record cost recovery ~8%.
const F64 = new Float64Array(1);
const F32 = new Float32Array(F64.buffer, 0, 1);
const FLOAT_BYTES = new Uint8Array(F64.buffer);
/** Whether this machine stores numbers little-endian (MessagePack's floats are big-endian). */
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A big-endian float of `n` (4 or 8) bytes. */
function float(n: 4 | 8): number {
  need(n);
  const b = src;
  const p = pos;
  for (let i = 0; i < n; i++) FLOAT_BYTES[LITTLE ? n - 1 - i : i] = b[p + i];
  pos = p + n;
  return n === 8 ? F64[0] : F32[0];
}

function u8(): number {
  need(1);
  return src[pos++];
}

function u16(): number {
  need(2);
  const v = (src[pos] << 8) | src[pos + 1];
  pos += 2;
  return v;
}

function u32(): number {
  need(4);
  const v = src[pos] * 0x1000000 + ((src[pos + 1] << 16) | (src[pos + 2] << 8) | src[pos + 3]);
  pos += 4;
  return v;
}

function enter(): void {
  if (++depth > MAX_DECODE_DEPTH) fail(`data is nested more than ${MAX_DECODE_DEPTH} levels deep: flatten the value`);
}

function readArray(n: number): unknown[] {
  need(n); // every element takes at least one byte
  enter();
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read();
  depth--;
  return out;
}

function readMap(n: number): Record<string, unknown> {
  need(2 * n); // every entry takes at least two bytes
  enter();
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = readKey();
    const v = read();
    // An own data property: assignment would set the prototype instead.
    if (k === "__proto__") {
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    } else out[k] = v;
  }
  depth--;
  return out;
}

// Recently decoded short keys, by a hash of their bytes: objects of one
// shape repeat their keys, and handing back the same string skips both the
// decoding and the engine's interning of a fresh property name. A slot is
// checked against its string's char codes, so a miss allocates nothing but
// the new string (a dict read whole brings thousands of distinct keys, each
// one a miss). Char codes equal to the bytes, as many as the bytes, means
// the same key: a string with any char above 0x7f has more UTF-8 bytes
// than chars, and a byte above 0x7f never equals an ASCII char.
const KEY_SLOTS = 4096;
const keyStrings: (string | undefined)[] = new Array(KEY_SLOTS);

function cachedKey(n: number): string {
  need(n);
  let h = n;
  for (let i = pos; i < pos + n; i++) h = (h * 31 + src[i]) | 0;
  const slot = h & (KEY_SLOTS - 1);
  const known = keyStrings[slot];
  if (known !== undefined && known.length === n) {
    let i = 0;
    while (i < n && known.charCodeAt(i) === src[pos + i]) i++;
    if (i === n) {
      pos += n;
      return known;
    }
  }
  return (keyStrings[slot] = readStr(n));
}

function readKey(): string {
  need(1);
  const t = src[pos];
  if (t >= 0xa0 && t < 0xc0) {
    pos++;
    return cachedKey(t - 0xa0);
  }
  const k = read();
  switch (typeof k) {
    case "string":
      return k;
    case "number":
    case "bigint": // at most 20 digits: int 64 / uint 64
      return String(k);
  }
  return fail("map key is not a string or a number: use string keys");
}

function readStr(n: number): string {
  need(n);
  const start = pos;
  pos += n;
  if (n > 12) return utf8.decode(src.subarray(start, pos));
  // Short strings (keys, names, ids) are decoded here when ASCII: a
  // TextDecoder call costs more than the string.
  let bits = 0;
  for (let i = start; i < pos; i++) bits |= src[i];
  if (bits >= 0x80) return utf8.decode(src.subarray(start, pos));
  const b = src;
  const s = start;
  // One call per length rather than appending a character at a time: an
  // appended string is a rope that a Map must flatten to hash it (dict keys
  // at recovery: decoding + inserting 1M keys took 20-25% longer on Bun).
  switch (n) {
    case 0:
      return "";
    case 1:
      return fromCharCode(b[s]);
    case 2:
      return fromCharCode(b[s], b[s + 1]);
    case 3:
      return fromCharCode(b[s], b[s + 1], b[s + 2]);
    case 4:
      return fromCharCode(b[s], b[s + 1], b[s + 2], b[s + 3]);
  }
  // 5 to 12 bytes: one call over a reused array of that length.
  const codes = CHAR_CODES[n];
  for (let i = 0; i < n; i++) codes[i] = b[s + i];
  return fromCharCode.apply(null, codes);
}

/** `CHAR_CODES[n]`: a reused array of `n` numbers, for {@linkcode readStr}. */
const CHAR_CODES: number[][] = Array.from({ length: 13 }, (_, n) => new Array<number>(n).fill(0));

function readBin(n: number): Uint8Array {
  need(n);
  const b = src.subarray(pos, pos + n);
  pos += n;
  return b;
}

function readExt(n: number): unknown {
  need(n + 1);
  const type = src[pos++];
  const start = pos;
  pos += n;
  switch (type) {
    case EXT_UNDEFINED:
      return undefined;
    case EXT_NEG_ZERO:
      return -0;
    case EXT_TIMESTAMP:
      return timestamp(start, n);
    case EXT_BIGINT:
      return bigint(start, n);
  }
  return fail(
    `extension type ${type} is not supported: values use only timestamps, bigints, undefined and -0 (turn off structured clones, records and extra types in the encoder)`,
  );
}

function timestamp(at: number, n: number): Date {
  pos = at; // re-read the payload with the number readers
  switch (n) {
    case 4:
      return new Date(u32() * 1000);
    case 8: {
      // 30 bits of nanoseconds, then 34 bits of seconds.
      const hi = u32();
      const seconds = (hi & 0x3) * 0x100000000 + u32();
      return new Date(seconds * 1000 + Math.floor((hi >>> 2) / 1e6));
    }
    case 12: {
      const nanos = u32();
      const seconds = Number(load(8).getBigInt64(pos - 8));
      return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
    }
  }
  pos = at + n;
  return new Date(NaN); // what encode writes for an invalid Date
}

function bigint(at: number, n: number): bigint {
  if (n === 0) fail("bigint extension is empty: a bigint needs at least one byte");
  if (n > MAX_BIGINT_EXT_BYTES) outOfRange(`of ${n} bytes `);
  let v = BigInt((src[at] << 24) >> 24); // the first byte carries the sign
  for (let i = 1; i < n; i++) v = (v << 8n) | BigInt(src[at + i]);
  if (v < MIN_I64 || v > MAX_U64) outOfRange("");
  return v;
}

function outOfRange(size: string): never {
  return fail(
    `bigint ${size}is outside the 64-bit range: values hold bigints within -(2^63) .. 2^64-1; send larger ones as strings`,
  );
}
