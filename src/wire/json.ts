/**
 * The JSON form of values on the HTTP API, for curl and other JSON-only
 * callers. JSON cannot carry everything a `Value` holds, so those values are
 * tagged objects with exactly one `$` key:
 *
 * ```
 *   123n                 {"$bigint":"123"}
 *   Uint8Array [1,2,3]   {"$bytes":"AQID"}             (standard base64)
 *   new Date(0)          {"$date":"1970-01-01T00:00:00.000Z"}
 *   -0, NaN, ±Infinity   {"$num":"-0"} {"$num":"NaN"} {"$num":"Infinity"} {"$num":"-Infinity"}
 *   undefined            {"$undefined":true}          (e.g. a fallback argument)
 *   {"$x": 1}            {"$obj":{"$x":1}}            (a stored one-key "$…" object, escaped)
 * ```
 *
 * A reply's `value` is left out when it is `undefined` (`dict.get` of a
 * missing key). MessagePack (`application/msgpack`) needs none of this.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { MAX_DEPTH, quote } from "../core/value.ts";

/** Deepest nesting read or written: values' limit plus the request around them. */
const MAX_JSON_DEPTH = MAX_DEPTH + 16;

/** The longest `$bigint` text: 20 digits and a sign cover -(2^63) .. 2^64-1. */
const MAX_BIGINT_DIGITS = 21;

function tooDeep(): never {
  throw new ProtocolError(`JSON is nested more than ${MAX_JSON_DEPTH} levels deep: flatten the value`);
}

/**
 * Sets `out[k] = v` as an own data property. Plain assignment of the key
 * `"__proto__"` would set the object's prototype instead (on runtimes that
 * keep `Object.prototype.__proto__`, i.e. Bun and Node): a request's `op`
 * could then be read through it.
 */
function put(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  } else out[k] = v;
}

const TAGS = new Set(["$bigint", "$bytes", "$date", "$num", "$undefined", "$obj"]);

function isTagLike(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  return keys.length === 1 && keys[0].startsWith("$");
}

/**
 * Turns a value into JSON-safe data with the tags above.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toJsonValue } from "./json.ts";
 * assert.equal(JSON.stringify(toJsonValue({ n: 1n })), '{"n":{"$bigint":"1"}}');
 * ```
 */
export function toJsonValue(v: unknown): unknown {
  return toJson(v, 0);
}

function toJson(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case "bigint":
      return { $bigint: v.toString() };
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0) ? v : { $num: Object.is(v, -0) ? "-0" : String(v) };
    case "undefined":
      return { $undefined: true };
    case "object": {
      if (v === null) return null;
      if (v instanceof Uint8Array) return { $bytes: toBase64(v) };
      if (v instanceof Date) return { $date: v.toISOString() };
      if (depth > MAX_JSON_DEPTH) tooDeep();
      if (Array.isArray(v)) return v.map((x) => toJson(x, depth + 1));
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) put(out, k, toJson((v as Record<string, unknown>)[k], depth + 1));
      return isTagLike(out) ? { $obj: out } : out;
    }
    default:
      return v;
  }
}

/**
 * Reads tagged JSON data back into values; malformed tags → `ProtocolError`.
 * Objects come out with every key, `"__proto__"` included, as an own
 * property: never a prototype, on every runtime.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromJsonValue } from "./json.ts";
 * assert.equal(fromJsonValue({ $bigint: "5" }), 5n);
 * ```
 */
export function fromJsonValue(v: unknown): unknown {
  return fromJson(v, 0);
}

function fromJson(v: unknown, depth: number): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (depth > MAX_JSON_DEPTH) tooDeep();
  if (Array.isArray(v)) return v.map((x) => fromJson(x, depth + 1));
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && TAGS.has(keys[0])) return fromTag(keys[0], o[keys[0]], depth);
  const out: Record<string, unknown> = {};
  for (const k of keys) put(out, k, fromJson(o[k], depth + 1));
  return out;
}

function fromTag(tag: string, x: unknown, depth: number): unknown {
  const bad = (why = "") =>
    new ProtocolError(`JSON tag ${tag} with ${quote(x)} is malformed${why}: see docs/wire.md, "HTTP API"`);
  switch (tag) {
    case "$bigint":
      // Refused by length before BigInt() reads it: parsing (and later
      // printing) a number of a million digits takes seconds.
      if (typeof x !== "string" || x.length > MAX_BIGINT_DIGITS || !/^-?\d+$/.test(x)) {
        throw bad(" (a bigint is a decimal string of at most 20 digits, within -(2^63) .. 2^64-1)");
      }
      return BigInt(x);
    case "$bytes":
      if (typeof x !== "string") throw bad();
      return fromBase64(x, bad);
    case "$date": {
      // An ISO date is about 30 characters; a long string is not parsed at all.
      const d = (typeof x === "string" && x.length <= 64) || typeof x === "number" ? new Date(x) : new Date(NaN);
      if (Number.isNaN(d.getTime())) throw bad();
      return d;
    }
    case "$num": {
      const n = x === "-0"
        ? -0
        : x === "NaN"
        ? NaN
        : x === "Infinity"
        ? Infinity
        : x === "-Infinity"
        ? -Infinity
        : null;
      if (n === null) throw bad();
      return n;
    }
    case "$undefined":
      return undefined;
    default: {
      if (typeof x !== "object" || x === null || Array.isArray(x)) throw bad();
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x)) put(out, k, fromJson((x as Record<string, unknown>)[k], depth + 1));
      return out;
    }
  }
}

// atob() also accepts whitespace and missing padding; binaries must be exact.
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function toBase64(bytes: Uint8Array): string {
  let s = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(s);
}

function fromBase64(s: string, bad: () => Error): Uint8Array {
  if (!B64.test(s)) throw bad();
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw bad();
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
