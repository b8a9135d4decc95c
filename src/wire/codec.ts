/**
 * The one MessagePack codec of the project (log, snapshots and wire), with
 * the few fixes that make every stored value round-trip exactly.
 *
 * Encoding is msgpackr's (plain values take a fast path that writes the
 * same bytes, `fast_encode.ts`). Decoding is the project's own (see
 * `msgpack_decoder.ts`): it accepts exactly the types values
 * use and refuses msgpackr's structured-clone, record and class extensions,
 * bigints outside 64 bits (by their length, before building them) and
 * nesting deeper than values allow; a `"__proto__"` key stays an own
 * property. Its errors are `ProtocolError`s with short, fixed messages that
 * never quote the input.
 *
 * msgpackr writes `-0` as the integer 0, so a `-0` anywhere in a value is
 * carried by a one-byte extension (type 45, "-") that decodes back to `-0`:
 *
 * ```
 *   d4 2d 00     fixext 1, type 45, one ignored byte   ->  -0
 * ```
 *
 * Binary decodes as a view of the input; {@linkcode decode} hands out plain
 * `Uint8Array`s (never Node's `Buffer`), copied where the value is kept.
 *
 * @module
 */

// "msgpackr/pack" (its plain ES entry): the package root under Node, Bun and
// Deno also loads its stream and struct modules and tries the native
// msgpackr-extract addon, ~25 ms (Deno) / ~12 ms (Bun) of the first
// durable open, for a string decoder we do not use (ours is msgpack_decoder).
import { addExtension, Packr } from "msgpackr/pack";
import { ValidationError } from "../errors.ts";
import { quote } from "../core/value.ts";
import { decodeAll, decodeOne, decodeRecord, MAX_DECODE_DEPTH } from "./msgpack_decoder.ts";
import { fastEncode } from "./fast_encode.ts";

class NegativeZero {}
const NEG_ZERO = new NegativeZero();
const NEG_ZERO_TYPE = 45;

// Registered with msgpackr for its encoder; `unpack` only matters to other
// users of msgpackr in the same process (our decoder reads type 45 itself).
addExtension({
  Class: NegativeZero,
  type: NEG_ZERO_TYPE,
  pack: () => new Uint8Array([0]),
  unpack: () => -0,
});

const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false, variableMapSize: true });

function tooDeep(): never {
  throw new ValidationError(
    `Value is nested more than ${MAX_DECODE_DEPTH} levels deep or contains a cycle: only trees of plain data can be encoded`,
  );
}

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

/**
 * msgpackr's own error for a bigint outside 64 bits prints it in decimal,
 * which takes seconds for a bigint of megabytes: checked here first.
 */
function checkBigint(v: bigint): void {
  if (v < MIN_I64 || v > MAX_U64) {
    const q = quote(v);
    throw new ValidationError(
      `Bigint ${
        q.startsWith("a ") ? `(${q})` : q
      } is outside the 64-bit range: bigints must lie within -(2^63) .. 2^64-1; send larger ones as strings`,
    );
  }
}

/**
 * Whether `v` holds a `-0`; also checks bigints. Bounded by depth, so a
 * cycle is an error, not a stack overflow.
 */
function hasNegZero(v: unknown, depth: number): boolean {
  if (typeof v === "number") return v === 0 && 1 / v < 0;
  if (typeof v === "bigint") {
    checkBigint(v);
    return false;
  }
  if (typeof v !== "object" || v === null) return false;
  if (depth > MAX_DECODE_DEPTH) tooDeep();
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasNegZero(v[i], depth + 1)) return true;
    return false;
  }
  if (v instanceof Uint8Array || v instanceof Date) return false;
  for (const k of Object.keys(v)) if (hasNegZero((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

function markNegZero(v: unknown, depth: number): unknown {
  if (typeof v === "number") return v === 0 && 1 / v < 0 ? NEG_ZERO : v;
  if (typeof v === "bigint") checkBigint(v);
  if (typeof v !== "object" || v === null || v instanceof Uint8Array || v instanceof Date) return v;
  if (depth > MAX_DECODE_DEPTH) tooDeep();
  if (Array.isArray(v)) return v.map((x) => markNegZero(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = markNegZero((v as Record<string, unknown>)[k], depth + 1);
    // An own "__proto__" stays a property; assignment would set the prototype.
    if (k === "__proto__") {
      Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    } else out[k] = x;
  }
  return out;
}

/**
 * Encodes a value (or a log record, or a wire frame) as MessagePack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode, encode } from "./codec.ts";
 * assert.equal(decode(encode(-0)), -0); // -0 kept (assert.equal compares with Object.is)
 * ```
 */
export function encode(value: unknown): Uint8Array {
  // The common plain values: the same bytes without msgpackr's per-call setup.
  return fastEncode(value) ?? packr.pack(hasNegZero(value, 0) ? markNegZero(value, 0) : value);
}

/**
 * Decodes one MessagePack value written by {@linkcode encode} (or by any
 * MessagePack client, for the types values use). Malformed or unsupported
 * input throws `ProtocolError` with a short message; the log and snapshot
 * readers turn it into `CorruptionError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode, encode } from "./codec.ts";
 * assert.deepEqual(decode(encode({ a: 1n })), { a: 1n });
 * ```
 */
export function decode(bytes: Uint8Array): unknown {
  const b = plain(bytes);
  return decodeOne(b, 0, b.length);
}

/** Binaries are views of the input: a plain input gives plain outputs. */
function plain(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a buffer holding several MessagePack values back to back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMultiple, encode } from "./codec.ts";
 * const both = new Uint8Array([...encode(1), ...encode("a")]);
 * assert.deepEqual(decodeMultiple(both), [1, "a"]);
 * ```
 */
export function decodeMultiple(bytes: Uint8Array): unknown[] {
  return decodeAll(plain(bytes));
}

/**
 * Decodes the single MessagePack value in `bytes[start, end)` without a copy
 * or a view (the WAL reader's hot path). Binaries come back as views of
 * `bytes` of its own class: callers that keep them copy them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRange, encode } from "./codec.ts";
 * const b = encode([1, 2]);
 * assert.deepEqual(decodeRange(b, 0, b.length), [1, 2]);
 * ```
 */
export function decodeRange(bytes: Uint8Array, start: number, end: number): unknown {
  return decodeOne(bytes, start, end);
}

/**
 * {@linkcode decodeRange} for log records: the same values, with a fast
 * path for single writes (see `decodeRecord` in msgpack_decoder.ts). The
 * WAL reader's hot path at recovery.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRecordRange, encode } from "./codec.ts";
 * const b = encode({ lsn: 3, op: "dict.set", args: ["d", "k", 1] });
 * assert.deepEqual(decodeRecordRange(b, 0, b.length), { lsn: 3, op: "dict.set", args: ["d", "k", 1] });
 * ```
 */
export function decodeRecordRange(bytes: Uint8Array, start: number, end: number): unknown {
  return decodeRecord(bytes, start, end);
}

/**
 * The MessagePack header of an array of `n` items: followed by `n` encoded
 * values it makes one encoded array, so values encoded one by one (replies
 * of a pipeline, requests of one tick) join without being encoded again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayHeader, concatBytes, decode, encode } from "./codec.ts";
 * const joined = concatBytes([arrayHeader(2), encode(1), encode("a")]);
 * assert.deepEqual(decode(joined), [1, "a"]);
 * ```
 */
export function arrayHeader(n: number): Uint8Array {
  if (n < 16) return new Uint8Array([0x90 | n]);
  if (n < 0x10000) return new Uint8Array([0xdc, n >> 8, n & 0xff]);
  return new Uint8Array([0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/**
 * The bytes of `parts`, one after another, in a new array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./codec.ts";
 * assert.deepEqual(concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]), new Uint8Array([1, 2, 3]));
 * ```
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  total = parts.reduce((n, p) => n + p.byteLength, 0),
): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
