/**
 * A fast path of {@linkcode encode} (codec.ts) for the values most records,
 * requests and replies are made of: `null`, booleans, numbers (not `-0`),
 * strings, plain arrays and plain objects of those. It writes exactly the
 * bytes msgpackr writes for them with the codec's options (`useRecords:
 * false`, `variableMapSize: true`) — tests/codec_test.ts compares the two
 * on random values — so nothing on disk or on the wire changes; it only
 * skips msgpackr's per-call setup, which is most of the cost of encoding a
 * small log record. Anything else (bigints, binaries, dates, `undefined`,
 * `-0`, other classes, deep nesting) answers `null`, and the caller encodes
 * the value with msgpackr.
 *
 * Output goes into a shared chunk and is handed out as a view of it, as
 * msgpackr does: a new chunk is taken when one fills up, so a view handed
 * out is never written again.
 *
 * @module
 */

const CHUNK = 64 * 1024;
/** Nesting deeper than this goes to msgpackr (which checks it). */
const MAX_DEPTH = 32;

let chunk: Uint8Array = new Uint8Array(CHUNK);
let view: DataView = new DataView(chunk.buffer);
let start = 0;
let pos = 0;
let encoder: TextEncoder | null = null;

/**
 * Set while {@linkcode fastEncodeInto} writes into a caller's buffer: that
 * buffer cannot grow, so running out of room abandons the call.
 */
let into = false;
/** Thrown by `room` when a caller's buffer is full; caught in {@linkcode fastEncodeInto}. */
const FULL = { full: true };
// The DataView of the caller's buffer, kept while the caller keeps the buffer.
let intoBuffer: Uint8Array | null = null;
let intoView: DataView | null = null;

/** Makes room for `n` more bytes, keeping what this call wrote so far. */
function room(n: number): void {
  if (pos + n <= chunk.length) return;
  if (into) throw FULL;
  const used = pos - start;
  const next = new Uint8Array(Math.max(CHUNK, (used + n) * 2));
  next.set(chunk.subarray(start, pos));
  chunk = next;
  view = new DataView(next.buffer);
  start = 0;
  pos = used;
}

/**
 * The MessagePack of `value` as msgpackr writes it, or `null` when the
 * value holds anything but the plain types above.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fastEncode } from "./fast_encode.ts";
 * assert.deepEqual([...fastEncode({ a: [1, "x"] })!], [0x81, 0xa1, 0x61, 0x92, 0x01, 0xa1, 0x78]);
 * assert.equal(fastEncode(1n), null); // msgpackr's job
 * ```
 */
export function fastEncode(value: unknown): Uint8Array | null {
  // What was left of the chunk is reused for this call.
  pos = start;
  if (!put(value, 0)) {
    pos = start;
    return null;
  }
  const out = chunk.subarray(start, pos);
  start = pos;
  // A nearly full chunk is replaced now rather than copied into later; one
  // grown for a large value too, or the module would keep it (twice that
  // value's size) for good, and hand out later answers as views into it.
  if (chunk.length - start < 256 || chunk.length > CHUNK) {
    chunk = new Uint8Array(CHUNK);
    view = new DataView(chunk.buffer);
    start = pos = 0;
  }
  return out;
}

/**
 * Like {@linkcode fastEncode}, but writes into `target` from offset `at`
 * and returns where the bytes end: for a writer that frames records in its
 * own buffer (the WAL), without a copy. Answers `-1` when the value holds
 * anything {@linkcode fastEncode} leaves to msgpackr, or does not fit
 * before the end of `target`; then bytes from `at` on may have been
 * written, and the caller encodes the value the other way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fastEncodeInto } from "./fast_encode.ts";
 * const buf = new Uint8Array(16);
 * assert.equal(fastEncodeInto([1, "x"], buf, 4), 8); // 92 01 a1 78 at 4..8
 * assert.equal(fastEncodeInto("a long string", buf, 4), -1); // does not fit
 * ```
 */
export function fastEncodeInto(value: unknown, target: Uint8Array, at: number): number {
  return intoTarget(target, at, put, value, 0);
}

/**
 * The MessagePack of the log record `{ lsn, op, args }` (a single write),
 * written into `target` at `at` as {@linkcode fastEncodeInto} would write
 * that object, without building it: the same bytes msgpackr writes for it.
 * `-1` when it cannot (see {@linkcode fastEncodeInto}).
 *
 * ```
 *   83  a3 "lsn" <uint>  a2 "op" <str>  a4 "args" 9n <name> <arg 1> ... <arg n-1>
 *                        └──────────── the record's template ───────────┘
 * ```
 *
 * A log is mostly runs of one op on one collection, so everything from
 * `a2 "op"` to the collection name (`args[0]`) is copied from a template
 * kept for the last (op, name, n). The arguments after it are written by
 * {@linkcode putSimpleArgs} when they are all small: in local variables, with
 * no module state to save and restore (half the time of the general path
 * in Chromium, measured); anything else takes the general path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeOpRecordInto, fastEncode } from "./fast_encode.ts";
 * const buf = new Uint8Array(64);
 * const end = encodeOpRecordInto(buf, 0, 7, "dict.set", ["d", "k", 1]);
 * assert.deepEqual(buf.subarray(0, end), fastEncode({ lsn: 7, op: "dict.set", args: ["d", "k", 1] }));
 * ```
 */
export function encodeOpRecordInto(target: Uint8Array, at: number, lsn: number, op: string, args: unknown[]): number {
  if (!Number.isSafeInteger(lsn) || lsn < 0 || Object.is(lsn, -0) || !Array.isArray(args)) return -1;
  const n = args.length;
  const name = args[0];
  const tpl = n > 0 && n < 16 && args.constructor === Array && typeof name === "string" ? template(op, name, n) : null;
  if (tpl !== null && lsn <= 0xffffffff) {
    const end = putSimpleArgs(target, putRecordHead(target, at, lsn, tpl), args);
    if (end >= 0) return end;
  }
  recordLsn = lsn;
  recordOp = op;
  recordTemplate = tpl;
  return intoTarget(target, at, putOpRecord, args, 0);
}

let recordLsn = 0;
let recordOp = "";
let recordTemplate: Uint8Array | null = null;

// The keys of a record, as msgpackr writes them (fixstr).
const LSN_KEY = [0xa3, 0x6c, 0x73, 0x6e];
const OP_KEY = [0xa2, 0x6f, 0x70];
const ARGS_KEY = [0xa4, 0x61, 0x72, 0x67, 0x73];

// The last record template made, and what it was made for.
let tplOp = "";
let tplName = "";
let tplArgs = -1;
let tplBytes: Uint8Array | null = null;

/**
 * `a2 "op" <op> a4 "args" 9n <name>`, for `n` args (below 16) whose first is
 * `name`; `null` when op and name together are too long to be worth keeping.
 */
function template(op: string, name: string, n: number): Uint8Array | null {
  if (op === tplOp && name === tplName && n === tplArgs) return tplBytes;
  const bytes = op.length + name.length > 120 ? null : Uint8Array.from([
    ...OP_KEY,
    ...fastEncode(op)!,
    ...ARGS_KEY,
    0x90 | n,
    ...fastEncode(name)!,
  ]);
  tplOp = op;
  tplName = name;
  tplArgs = n;
  tplBytes = bytes;
  return bytes;
}

/**
 * Writes `83 a3 "lsn" <lsn> <template>` at `at` (`lsn` a uint32) and returns
 * where it ends, or -1 when `target` has no room for it.
 */
function putRecordHead(target: Uint8Array, at: number, lsn: number, tpl: Uint8Array): number {
  const n = tpl.length;
  if (at + 10 + n > target.length) return -1;
  let p = at;
  target[p++] = 0x83;
  for (let i = 0; i < 4; i++) target[p++] = LSN_KEY[i];
  p = putUint32(target, p, lsn);
  for (let i = 0; i < n; i++) target[p++] = tpl[i];
  return p;
}

/** A uint32 as msgpackr writes it (fixint, uint8, uint16 or uint32), at `p`; returns the end. */
function putUint32(target: Uint8Array, p: number, n: number): number {
  if (n < 0x80) target[p++] = n;
  else if (n < 0x100) {
    target[p++] = 0xcc;
    target[p++] = n;
  } else if (n < 0x10000) {
    target[p++] = 0xcd;
    target[p++] = n >> 8;
    target[p++] = n & 0xff;
  } else {
    target[p++] = 0xce;
    target[p++] = n >>> 24;
    target[p++] = (n >> 16) & 0xff;
    target[p++] = (n >> 8) & 0xff;
    target[p++] = n & 0xff;
  }
  return p;
}

/**
 * Writes `args[1..]` from `p` when each is small and simple — `null`, a
 * boolean, a uint32 (not `-0`), an ASCII string below 32 characters — and
 * returns the end; -1 (from -1, or for any other argument, or no room) sends
 * the record to the general path, which writes it all again from the start.
 */
function putSimpleArgs(target: Uint8Array, p: number, args: unknown[]): number {
  if (p < 0) return -1;
  const cap = target.length;
  for (let i = 1; i < args.length; i++) {
    const v = args[i];
    if (typeof v === "string") {
      const len = v.length;
      if (len >= 0x20 || p + 1 + len > cap) return -1;
      target[p++] = 0xa0 | len;
      for (let j = 0; j < len; j++) {
        const c = v.charCodeAt(j);
        if (c >= 0x80) return -1;
        target[p++] = c;
      }
    } else if (typeof v === "number") {
      if (v >>> 0 !== v || (v === 0 && 1 / v < 0) || p + 5 > cap) return -1;
      p = putUint32(target, p, v);
    } else if (v === null || typeof v === "boolean") {
      if (p + 1 > cap) return -1;
      target[p++] = v === null ? 0xc0 : v ? 0xc3 : 0xc2;
    } else return -1;
  }
  return p;
}

// The general path: any safe-integer LSN, any args the module can write.
function putOpRecord(args: unknown, depth: number): boolean {
  room(5);
  chunk[pos++] = 0x83;
  for (let i = 0; i < 4; i++) chunk[pos++] = LSN_KEY[i];
  if (!putNumber(recordLsn)) return false;
  const tpl = recordTemplate;
  if (tpl === null) {
    room(3);
    for (let i = 0; i < 3; i++) chunk[pos++] = OP_KEY[i];
    putString(recordOp);
    room(5);
    for (let i = 0; i < 5; i++) chunk[pos++] = ARGS_KEY[i];
    return put(args, depth);
  }
  const n = tpl.length;
  room(n);
  for (let i = 0; i < n; i++) chunk[pos++] = tpl[i];
  const a = args as unknown[];
  for (let i = 1; i < a.length; i++) if (!put(a[i], depth + 1)) return false;
  return true;
}

/**
 * Lets go of `target` if it is the buffer {@linkcode encodeOpRecordInto} or
 * {@linkcode fastEncodeInto} last wrote into through the general path (a
 * record's fast path keeps nothing). Its owner is done with it (a log
 * writer that closed), and this module would otherwise keep it, and its
 * memory, until the next such call. Returns whether it was held.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeOpRecordInto, releaseInto } from "./fast_encode.ts";
 * const buf = new Uint8Array(64);
 * encodeOpRecordInto(buf, 0, 1, "dict.set", ["d", "k", 1.5]); // a float: the general path
 * assert.equal(releaseInto(buf), true);
 * assert.equal(releaseInto(buf), false); // not held any more
 * ```
 */
export function releaseInto(target: Uint8Array): boolean {
  if (intoBuffer !== target) return false;
  intoBuffer = null;
  intoView = null;
  return true;
}

/** Runs `write(value)` with the caller's buffer as the chunk; the shared chunk is left as it was. */
function intoTarget(
  target: Uint8Array,
  at: number,
  write: (value: unknown, depth: number) => boolean,
  value: unknown,
  depth: number,
): number {
  const savedChunk = chunk, savedView = view, savedStart = start;
  if (intoBuffer !== target) {
    intoBuffer = target;
    intoView = new DataView(target.buffer, target.byteOffset, target.byteLength);
  }
  chunk = target;
  view = intoView!;
  start = pos = at;
  into = true;
  let end = -1;
  try {
    if (write(value, depth)) end = pos;
  } catch (e) {
    if (e !== FULL) throw e;
  } finally {
    into = false;
    chunk = savedChunk;
    view = savedView;
    start = pos = savedStart;
  }
  return end;
}

function put(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case "string":
      putString(v);
      return true;
    case "number":
      return putNumber(v);
    case "boolean":
      room(1);
      chunk[pos++] = v ? 0xc3 : 0xc2;
      return true;
    case "object":
      if (v === null) {
        room(1);
        chunk[pos++] = 0xc0;
        return true;
      }
      if (depth >= MAX_DEPTH) return false;
      if (Array.isArray(v)) return v.constructor === Array && putArray(v, depth);
      return (v as object).constructor === Object && putObject(v as Record<string, unknown>, depth);
    default:
      return false;
  }
}

function putNumber(n: number): boolean {
  room(9);
  if (n >>> 0 === n) {
    pos = putUint32(chunk, pos, n);
    // -0 passes `n >>> 0 === n` (msgpackr writes it as 0): the caller marks it instead.
    return n !== 0 || 1 / n > 0;
  }
  if (n >> 0 === n) {
    if (n >= -0x20) chunk[pos++] = 0x100 + n;
    else if (n >= -0x80) {
      chunk[pos++] = 0xd0;
      chunk[pos++] = n + 0x100;
    } else if (n >= -0x8000) {
      chunk[pos++] = 0xd1;
      view.setInt16(pos, n);
      pos += 2;
    } else {
      chunk[pos++] = 0xd2;
      view.setInt32(pos, n);
      pos += 4;
    }
    return true;
  }
  chunk[pos++] = 0xcb;
  view.setFloat64(pos, n);
  pos += 8;
  return true;
}

/**
 * A string with the smallest header for its UTF-8 length. Short strings
 * are encoded by hand as msgpackr does (a lone surrogate as its own three
 * bytes), longer ones by `TextEncoder` (a lone surrogate as U+FFFD, as
 * msgpackr's `Buffer.utf8Write`/`encodeInto` path does).
 */
function putString(s: string): void {
  const n = s.length;
  const headerSize = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  room(headerSize + n * 3);
  const at = pos;
  let p = at + headerSize;
  if (n < 0x40) {
    for (let i = 0; i < n; i++) {
      let c1 = s.charCodeAt(i);
      let c2: number;
      if (c1 < 0x80) chunk[p++] = c1;
      else if (c1 < 0x800) {
        chunk[p++] = (c1 >> 6) | 0xc0;
        chunk[p++] = (c1 & 0x3f) | 0x80;
      } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
        c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
        i++;
        chunk[p++] = (c1 >> 18) | 0xf0;
        chunk[p++] = ((c1 >> 12) & 0x3f) | 0x80;
        chunk[p++] = ((c1 >> 6) & 0x3f) | 0x80;
        chunk[p++] = (c1 & 0x3f) | 0x80;
      } else {
        chunk[p++] = (c1 >> 12) | 0xe0;
        chunk[p++] = ((c1 >> 6) & 0x3f) | 0x80;
        chunk[p++] = (c1 & 0x3f) | 0x80;
      }
    }
  } else {
    encoder ??= new TextEncoder();
    p += encoder.encodeInto(s, chunk.subarray(p)).written;
  }
  const len = p - at - headerSize;
  // The header the byte length needs; the bytes move when it is not the one guessed.
  if (len < 0x20) {
    if (headerSize > 1) chunk.copyWithin(at + 1, at + headerSize, p);
    chunk[at] = 0xa0 | len;
    pos = at + 1 + len;
  } else if (len < 0x100) {
    if (headerSize !== 2) chunk.copyWithin(at + 2, at + headerSize, p);
    chunk[at] = 0xd9;
    chunk[at + 1] = len;
    pos = at + 2 + len;
  } else if (len < 0x10000) {
    if (headerSize !== 3) chunk.copyWithin(at + 3, at + headerSize, p);
    chunk[at] = 0xda;
    chunk[at + 1] = len >> 8;
    chunk[at + 2] = len & 0xff;
    pos = at + 3 + len;
  } else {
    if (headerSize !== 5) chunk.copyWithin(at + 5, at + headerSize, p);
    chunk[at] = 0xdb;
    view.setUint32(at + 1, len);
    pos = at + 5 + len;
  }
}

function putArray(a: unknown[], depth: number): boolean {
  const n = a.length;
  room(5);
  if (n < 0x10) chunk[pos++] = 0x90 | n;
  else if (n < 0x10000) {
    chunk[pos++] = 0xdc;
    chunk[pos++] = n >> 8;
    chunk[pos++] = n & 0xff;
  } else {
    chunk[pos++] = 0xdd;
    view.setUint32(pos, n);
    pos += 4;
  }
  for (let i = 0; i < n; i++) if (!put(a[i], depth + 1)) return false;
  return true;
}

function putObject(o: Record<string, unknown>, depth: number): boolean {
  const keys = Object.keys(o);
  const n = keys.length;
  room(5);
  if (n < 0x10) chunk[pos++] = 0x80 | n;
  else if (n < 0x10000) {
    chunk[pos++] = 0xde;
    chunk[pos++] = n >> 8;
    chunk[pos++] = n & 0xff;
  } else {
    chunk[pos++] = 0xdf;
    view.setUint32(pos, n);
    pos += 4;
  }
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    putString(k);
    if (!put(o[k], depth + 1)) return false;
  }
  return true;
}
