/**
 * The one MessagePack codec of the project (log, snapshots and wire), with
 * the few fixes that make every stored value round-trip exactly.
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

import { addExtension, Packr, Unpackr } from "msgpackr";

class NegativeZero {}
const NEG_ZERO = new NegativeZero();
const NEG_ZERO_TYPE = 45;

addExtension({
  Class: NegativeZero,
  type: NEG_ZERO_TYPE,
  pack: () => new Uint8Array([0]),
  unpack: () => -0,
});

const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

function hasNegZero(v: unknown): boolean {
  if (typeof v === "number") return v === 0 && 1 / v < 0;
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasNegZero(v[i])) return true;
    return false;
  }
  if (v instanceof Uint8Array || v instanceof Date) return false;
  for (const k in v) if (hasNegZero((v as Record<string, unknown>)[k])) return true;
  return false;
}

function markNegZero(v: unknown): unknown {
  if (typeof v === "number") return v === 0 && 1 / v < 0 ? NEG_ZERO : v;
  if (typeof v !== "object" || v === null || v instanceof Uint8Array || v instanceof Date) return v;
  if (Array.isArray(v)) return v.map(markNegZero);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = markNegZero((v as Record<string, unknown>)[k]);
  return out;
}

/**
 * Encodes a value (or a log record, or a wire frame) as MessagePack.
 *
 * @example
 * ```ts
 * import { decode, encode } from "./codec.ts";
 * Object.is(decode(encode(-0)), -0); // true
 * ```
 */
export function encode(value: unknown): Uint8Array {
  return packr.pack(hasNegZero(value) ? markNegZero(value) : value);
}

/**
 * Decodes MessagePack written by {@linkcode encode} (or any MessagePack).
 * Throws msgpackr's own error on malformed input; callers turn that into
 * `CorruptionError` or `ProtocolError`.
 *
 * @example
 * ```ts
 * import { decode, encode } from "./codec.ts";
 * decode(encode({ a: 1n })); // { a: 1n }
 * ```
 */
export function decode(bytes: Uint8Array): unknown {
  return unpackr.unpack(plain(bytes));
}

/** msgpackr slices binaries out of its input: a plain input gives plain outputs. */
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
 * import { decodeMultiple, encode } from "./codec.ts";
 * const both = new Uint8Array([...encode(1), ...encode("a")]);
 * decodeMultiple(both); // [1, "a"]
 * ```
 */
export function decodeMultiple(bytes: Uint8Array): unknown[] {
  return unpackr.unpackMultiple(plain(bytes)) as unknown[];
}

/**
 * Decodes the single MessagePack value in `bytes[start, end)` without a copy
 * or a view (the WAL reader's hot path). Binaries come back as views of
 * `bytes` of its own class: callers that keep them copy them.
 *
 * @example
 * ```ts
 * import { decodeRange, encode } from "./codec.ts";
 * const b = encode([1, 2]);
 * decodeRange(b, 0, b.length); // [1, 2]
 * ```
 */
export function decodeRange(bytes: Uint8Array, start: number, end: number): unknown {
  bounds.start = start;
  bounds.end = end;
  return unpackr.unpack(bytes, bounds);
}

// One reused bounds object: msgpackr reads it at once, so nothing is allocated per call.
const bounds = { start: 0, end: 0 };
