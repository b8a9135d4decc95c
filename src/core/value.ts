/**
 * Value rules (DESIGN §2): what may be stored, copying in and out, deep
 * equality and the total order used by `list.sort`.
 *
 * Stored values are private copies. `cloneIn` validates and copies in one
 * pass, so a value is checked exactly once on the way in and the caller keeps
 * no reference into stored state; `cloneOut` copies on the way out so the
 * caller cannot change stored data behind the log's back. Primitives are
 * immutable and cost nothing either way.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";

/**
 * A value that can be stored: JSON plus the things JSON loses (bigint,
 * binary, Date, `-0`, `NaN`, `±Infinity`).
 */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Date
  | Value[]
  | { [key: string]: Value };

/** A dict key: a string or a finite number (`0` and `"0"` are different keys). */
export type Key = string | number;

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;
const objectProto = Object.prototype;
const arrayProto = Array.prototype;

/** The most characters {@linkcode quote} returns by default. */
export const QUOTE_MAX = 60;

/**
 * A word with its indefinite article, for messages: "an" before a vowel
 * sound. Type and class names are read as spoken: "an Int32", "an
 * object", "an undefined", but "a UInt8" and "a Uint8Array" (a "you").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withArticle } from "./value.ts";
 * assert.equal(withArticle("Int32"), "an Int32");
 * assert.equal(withArticle("UInt8"), "a UInt8");
 * assert.equal(withArticle("undefined"), "an undefined");
 * ```
 */
export function withArticle(word: string): string {
  return `${/^([aeio]|un(?!i))/i.test(word) ? "an" : "a"} ${word}`;
}

/**
 * Quotes a value for an error message: briefly, cheaply and without
 * throwing. The output is at most `max` characters (plus a short
 * description for a huge bigint) and the work is bounded by `max` too: a
 * long string is cut before it is escaped, a bigint outside 128 bits is
 * described by its size instead of printed (printing a bigint of megabytes
 * takes seconds), and containers are walked only until the output is full.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quote } from "./value.ts";
 * assert.equal(quote("a"), '"a"');
 * assert.equal(quote(2n ** 200n), "a 201-bit bigint");
 * assert.equal(quote({ a: [1, 2] }), '{"a":[1,2]}');
 * ```
 */
export function quote(value: unknown, max: number = QUOTE_MAX): string {
  try {
    return quoteTop(value, max);
  } catch {
    return "a value that cannot be shown"; // a throwing getter or proxy
  }
}

function quoteTop(value: unknown, max: number): string {
  switch (typeof value) {
    case "string":
      return clip(quoteString(value, max), max);
    case "bigint":
      return quoteBigint(value);
    case "function":
      return clip(`function ${value.name || "(anonymous)"}`, max);
    case "symbol":
      return clip(`Symbol(${clip(value.description ?? "", max)})`, max);
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return `array(${value.length})`;
      break;
    default:
      return quoteAtom(value);
  }
  const special = quoteSpecial(value as object, max);
  if (special !== null) return special;
  const out = new Clipped(max);
  writeValue(out, value, 0);
  return out.text();
}

function quoteAtom(value: unknown): string {
  if (typeof value === "number" && Object.is(value, -0)) return "-0";
  return String(value); // number, boolean, undefined
}

/** A string in JSON quotes, cut first so a huge string costs nothing. */
function quoteString(s: string, max: number): string {
  return JSON.stringify(s.length > max ? s.slice(0, max) : s) + (s.length > max ? "..." : "");
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, Math.max(0, max - 3)) + "..." : s;
}

/**
 * A bigint's digits while they are short; beyond 128 bits its size: "a
 * 201-bit bigint", or "a bigint of more than 1024 bits" (found in O(1):
 * `Number()` of a bigint reads only its top digits).
 */
function quoteBigint(v: bigint): string {
  const n = Number(v);
  if (!Number.isFinite(n)) return "a bigint of more than 1024 bits";
  const bits = bitLength(v < 0n ? -v : v, Math.abs(n));
  return bits <= 128 ? `${v}n` : `a ${bits}-bit bigint`;
}

/** The bit length of `a` (at most 1024 bits), given `approx = Number(a)`. */
function bitLength(a: bigint, approx: number): number {
  if (a === 0n) return 0;
  let bits = Math.floor(Math.log2(approx)) + 1;
  // Number() rounds, so log2 can be one off next to a power of two.
  if (a >> BigInt(bits) !== 0n) bits++;
  else if (bits > 1 && a >> BigInt(bits - 1) === 0n) bits--;
  return bits;
}

/** Dates, binaries and class instances, or null for arrays and plain objects. */
function quoteSpecial(value: object, max: number): string | null {
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? "Invalid" : value.toISOString()})`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (Array.isArray(value)) return null;
  const proto = Object.getPrototypeOf(value);
  if (proto === objectProto || proto === null) return null;
  const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return clip(`an instance of ${typeof name === "string" && name !== "" ? name : "a class"}`, max);
}

/** An output that stops growing at `max` characters: writes past it are dropped. */
class Clipped {
  #parts: string[] = [];
  #length = 0;
  #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get full(): boolean {
    return this.#length > this.#max;
  }
  write(s: string): void {
    if (this.full) return;
    this.#parts.push(s.length > this.#max ? s.slice(0, this.#max + 1) : s);
    this.#length += s.length;
  }
  text(): string {
    return clip(this.#parts.join(""), this.#max);
  }
}

/** JSON-like, with bigints as `1n`; stops as soon as the output is full. */
function writeValue(out: Clipped, v: unknown, depth: number): void {
  if (out.full) return;
  switch (typeof v) {
    case "string":
      return out.write(quoteString(v, QUOTE_MAX));
    case "bigint":
      return out.write(quoteBigint(v));
    case "number":
      return out.write(quoteAtom(v));
    case "object":
      break;
    default:
      return out.write(typeof v === "function" || typeof v === "symbol" ? typeof v : String(v));
  }
  if (v === null) return out.write("null");
  const special = quoteSpecial(v as object, QUOTE_MAX);
  if (special !== null) return out.write(special);
  if (depth >= 8) return out.write(Array.isArray(v) ? "[...]" : "{...}");
  if (Array.isArray(v)) {
    out.write("[");
    for (let i = 0; i < v.length && !out.full; i++) {
      if (i > 0) out.write(",");
      writeValue(out, v[i], depth + 1);
    }
    return out.write("]");
  }
  out.write("{");
  let first = true;
  // for-in stops early, unlike Object.keys; inherited keys of a plain object are skipped.
  for (const k in v as object) {
    if (out.full) break;
    if (!Object.hasOwn(v as object, k)) continue;
    if (!first) out.write(",");
    first = false;
    out.write(quoteString(k, QUOTE_MAX) + ":");
    writeValue(out, (v as Record<string, unknown>)[k], depth + 1);
  }
  out.write("}");
}

function fail(path: string, what: string, fix: string): never {
  throw new ValidationError(`${what}${path ? ` at ${clipPath(path)}` : ""}: ${fix}`);
}

/** A path is built from the value's own keys, so it is cut too: its start and its end. */
function clipPath(path: string): string {
  return path.length > 120 ? `${path.slice(0, 50)}...${path.slice(-60)}` : path;
}

/**
 * Validates `value` and returns a private deep copy of it, or throws
 * {@linkcode ValidationError} naming where the bad part is. Nothing about the
 * input is retained.
 *
 * Rules: `undefined` at the top level or in an array, functions, symbols,
 * class instances other than Date/Uint8Array, holes, cycles, invalid Dates,
 * strings that are not well-formed UTF-16 and bigints outside 64 bits are
 * rejected. An own `"__proto__"` property is kept as an own property (the
 * codec and the JSON layer round-trip it); it never becomes a prototype.
 * Object properties whose value is `undefined` are dropped, as
 * `JSON.stringify` does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValidationError } from "../errors.ts";
 * import { cloneIn } from "./value.ts";
 * const input = { a: [1, 2n, new Date(0)], gone: undefined };
 * const stored = cloneIn(input);
 * assert.deepEqual(stored, { a: [1, 2n, new Date(0)] }); // undefined properties dropped
 * assert.notEqual(stored, input); // a copy
 * assert.throws(() => cloneIn({ f: () => 1 }), ValidationError);
 * ```
 */
export function cloneIn(value: unknown, what = "Value"): Value {
  switch (typeof value) {
    case "number":
    case "boolean":
      return value;
    case "string":
      if (!wellFormed(value)) badString(what, "");
      return value;
    case "bigint":
      if (value < MIN_I64 || value > MAX_U64) badBigint(value, what, "");
      return value;
    default:
      if (value === null) return null;
      // (default also meets undefined, functions and symbols: cloneDeep refuses them)
      return (typeof value === "object" ? cloneFlat(value) : null) ?? cloneDeep(value, what, "", null);
  }
}

/**
 * The fast path of {@linkcode cloneIn} for the common value: a plain object
 * or an array whose cells are all primitives (a session, a cached record, a
 * list of tags). Such a value holds no cycle, no Date and no binary, so a
 * plain object is copied by one spread (`{ ...o }`, the engines' fast clone:
 * 3-5x cheaper than a copy key by key) followed by one check of the copy's
 * cells and keys, and an array element by element. Anything else, and any
 * cell that would be refused or dropped (`undefined`, a lone surrogate, a
 * huge bigint, a hole), returns `null`: `cloneDeep` then copies the input
 * again and gives the exact result or error. (A getter of the input may so
 * run twice, only for a value that is not flat or is refused.)
 *
 * Spread also copies enumerable symbol-keyed properties, which `cloneDeep`
 * (through `Object.keys`) leaves out and the log cannot carry: a copy with
 * any is left to `cloneDeep` too. Spread defines data properties, so an own
 * `"__proto__"` key stays an own property, as `setOwn` keeps it.
 */
function cloneFlat(obj: object): Value | null {
  const proto = Object.getPrototypeOf(obj);
  if (proto === arrayProto) {
    // Element by element, not slice(): slice() of a huge sparse array walks
    // its whole length, while this loop stops at the first hole.
    const arr = obj as unknown[];
    const n = arr.length;
    const out: Value[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      if (!flatCell(v)) return null; // a hole reads as undefined: cloneDeep reports it
      out[i] = v as Value;
    }
    return out;
  }
  if (proto !== objectProto && proto !== null) return null;
  const out: Record<string, unknown> = { ...obj };
  for (const k in out) {
    // for-in also lists enumerable keys of Object.prototype (if someone added
    // any): those are not own, so they fail the check or are harmlessly read.
    if (!flatCell(out[k]) || !wellFormed(k)) return null;
  }
  if (Object.getOwnPropertySymbols(out).length !== 0) return null;
  return out as Record<string, Value>;
}

/** Whether a cell can be stored as it is: a primitive `cloneIn` keeps unchanged. */
function flatCell(v: unknown): boolean {
  switch (typeof v) {
    case "number":
    case "boolean":
      return true;
    case "string":
      return wellFormed(v);
    case "bigint":
      return v >= MIN_I64 && v <= MAX_U64;
    case "object":
      return v === null;
    default:
      return false; // undefined (dropped or refused), function, symbol
  }
}

function badString(what: string, path: string): never {
  fail(
    path,
    `${what} is a string with a lone surrogate`,
    "only well-formed UTF-16 strings can be stored (they are written as UTF-8); fix the string or store it as a Uint8Array",
  );
}

function badBigint(value: bigint, what: string, path: string): never {
  const q = quote(value);
  fail(
    path,
    `${what} ${q.startsWith("a ") ? `(${q})` : q} is outside the 64-bit range`,
    "bigints must lie within -(2^63) .. 2^64-1; store larger ones as strings",
  );
}

/**
 * Deepest nesting accepted. Deeper values would overflow the stack here, in
 * the codec or in a reader's JSON tooling; real data is nowhere near it.
 */
export const MAX_DEPTH = 1000;

function cloneDeep(value: unknown, what: string, path: string, seen: Set<object> | null): Value {
  switch (typeof value) {
    case "number":
    case "boolean":
      return value;
    case "string":
      if (!wellFormed(value)) badString(what, path);
      return value;
    case "bigint":
      if (value < MIN_I64 || value > MAX_U64) badBigint(value, what, path);
      return value;
    case "undefined":
      fail(path, `${what} is undefined`, "store null instead, or leave the entry out");
    // falls through (fail never returns)
    case "function":
    case "symbol":
      fail(
        path,
        `${what} is ${quote(value)}`,
        "only data can be stored (null, boolean, number, bigint, string, Uint8Array, Date, arrays and plain objects)",
      );
  }
  if (value === null) return null;
  const obj = value as object;
  // A flat leaf needs no cycle bookkeeping; past the depth limit it must
  // still go through enter() below, which refuses it.
  if (seen === null || seen.size < MAX_DEPTH) {
    const flat = cloneFlat(obj);
    if (flat !== null) return flat;
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto === arrayProto) {
    const arr = obj as unknown[];
    seen = enter(seen, obj, what, path);
    const n = arr.length;
    const out: Value[] = new Array(n);
    for (let i = 0; i < n; i++) {
      if (!(i in arr)) {
        fail(`${path}[${i}]`, `${what} has a hole`, "sparse arrays cannot be stored; fill the gap with null");
      }
      out[i] = cloneDeep(arr[i], what, `${path}[${i}]`, seen);
    }
    seen.delete(obj);
    return out;
  }
  if (proto === objectProto || proto === null) {
    seen = enter(seen, obj, what, path);
    const out: Record<string, Value> = {};
    const src = obj as Record<string, unknown>;
    for (const k of Object.keys(src)) {
      const v = src[k];
      if (v === undefined) continue;
      if (!wellFormed(k)) badString(`${what} key`, path);
      setOwn(out, k, cloneDeep(v, what, path ? `${path}.${k}` : k, seen));
    }
    seen.delete(obj);
    return out;
  }
  if (obj instanceof Uint8Array) {
    if (proto !== Uint8Array.prototype && !isBuffer(obj)) {
      fail(path, `${what} is ${quote(obj)}`, "only plain Uint8Array binaries can be stored");
    }
    // new Uint8Array(x) always copies; Buffer#slice would share memory.
    return new Uint8Array(obj as Uint8Array);
  }
  if (obj instanceof Date) {
    const t = obj.getTime();
    if (Number.isNaN(t)) fail(path, `${what} is an invalid Date`, "store a valid Date or null");
    return new Date(t);
  }
  return fail(
    path,
    `${what} is ${quote(obj)}`,
    "only data can be stored (null, boolean, number, bigint, string, Uint8Array, Date, arrays and plain objects); convert it to one of those first",
  );
}

/** Node's Buffer is a Uint8Array subclass; accept it and store a plain copy. */
function isBuffer(obj: object): boolean {
  return (obj as { constructor?: { name?: string } }).constructor?.name === "Buffer";
}

function enter(seen: Set<object> | null, obj: object, what: string, path: string): Set<object> {
  if (seen === null) seen = new Set();
  else if (seen.has(obj)) {
    fail(path, `${what} contains a cycle`, "cyclic structures cannot be stored; break the cycle first");
  } else if (seen.size >= MAX_DEPTH) {
    fail(path, `${what} is nested more than ${MAX_DEPTH} levels deep`, "flatten it or store the deep part as a string");
  }
  seen.add(obj);
  return seen;
}

/**
 * Returns a copy of a stored value that the caller may change freely.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cloneOut } from "./value.ts";
 * const stored = [1, { a: 2 }];
 * const copy = cloneOut(stored);
 * assert.deepEqual(copy, stored);
 * assert.notEqual(copy[1], stored[1]); // a deep copy
 * ```
 */
export function cloneOut<T extends Value>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  return copyDeep(value) as T;
}

/**
 * Copies a stored value. Containers are copied whole by the engine first
 * (`{ ...o }` and `a.slice()`, its fast clones: for a small flat object
 * about 5x cheaper than a copy key by key), then only the cells that are
 * objects are replaced by their copies, so a flat value costs one clone and
 * one pass of `typeof` checks. This is exact for stored values: `cloneIn`
 * makes them plain objects and dense arrays with string keys only (no
 * symbols, no accessors, no holes); spread defines data properties, so an
 * own `"__proto__"` key stays an own property, and writing a copied cell
 * back hits that own property, not the prototype setter.
 */
function copyDeep(value: Value): Value {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const out = value.slice();
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      if (typeof v === "object" && v !== null) out[i] = copyDeep(v);
    }
    return out;
  }
  if (value instanceof Uint8Array) return value.slice();
  if (value instanceof Date) return new Date(value.getTime());
  const out: Record<string, Value> = { ...value };
  for (const k in out) {
    const v = out[k];
    // Own only: for-in also lists enumerable keys someone added to Object.prototype.
    if (typeof v === "object" && v !== null && Object.hasOwn(out, k)) out[k] = copyDeep(v);
  }
  return out;
}

/**
 * Whether a stored value is a plain object or an array whose cells are all
 * primitives: then {@linkcode copyFlat} copies it exactly, with no pass
 * over its cells. Dicts note the answer per entry (`SlotMap.setMemo`), so a
 * value read many times is inspected once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFlat } from "./value.ts";
 * assert.equal(isFlat({ a: 1, b: "x", c: null }), true);
 * assert.equal(isFlat([1, 2n, true]), true);
 * assert.equal(isFlat({ a: [1] }), false);
 * assert.equal(isFlat(new Date(0)), false);
 * ```
 */
export function isFlat(value: Value): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v === "object" && v !== null) return false;
    }
    return true;
  }
  if (value instanceof Uint8Array || value instanceof Date) return false;
  for (const k in value) {
    // An object cell, own or (on a polluted Object.prototype) inherited: not flat.
    const v = value[k];
    if (typeof v === "object" && v !== null) return false;
  }
  return true;
}

/**
 * A copy of a stored value for which {@linkcode isFlat} holds: one engine
 * clone (`slice()`, `{ ...o }`), exact because such a value holds only
 * primitives under string keys (see `copyDeep` on spread and `"__proto__"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyFlat } from "./value.ts";
 * const stored = { a: 1 };
 * assert.deepEqual(copyFlat(stored), stored);
 * assert.notEqual(copyFlat(stored), stored);
 * ```
 */
export function copyFlat<T extends Value>(value: T): T {
  return (Array.isArray(value) ? value.slice() : { ...(value as Record<string, Value>) }) as T;
}

/**
 * `out[k] = v` as an own data property. For the key `"__proto__"` plain
 * assignment would set `out`'s prototype instead (where the
 * `Object.prototype.__proto__` accessor exists: Bun, Node, browsers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setOwn } from "./value.ts";
 * const o: Record<string, number> = {};
 * setOwn(o, "__proto__", 1);
 * assert.equal(Object.getPrototypeOf(o), Object.prototype);
 * assert.deepEqual(Object.keys(o), ["__proto__"]);
 * ```
 */
export function setOwn(out: Record<string, Value>, k: string, v: Value): void {
  if (k === "__proto__") {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  } else out[k] = v;
}

/**
 * Whether `s` holds no lone surrogate (`String.prototype.isWellFormed`).
 * Short strings, most keys, are scanned here: V8's builtin is a call into
 * the runtime that cost 23–25 ns for a 6-character key in Chromium, the
 * scan 8–9 ns (measured); only a string with a surrogate in it goes on to
 * the builtin, which tells a pair from a lone one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wellFormed } from "./value.ts";
 * assert.equal(wellFormed("key \u{1F600}"), true);
 * assert.equal(wellFormed("lone \ud800"), false);
 * ```
 */
export function wellFormed(s: string): boolean {
  const n = s.length;
  if (n > 16) return s.isWellFormed();
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return s.isWellFormed();
  }
  return true;
}

/**
 * Validates a dict key: a well-formed string or a finite number. `-0` is
 * normalised to `0` (they are one key, as in a Map).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkKey } from "./value.ts";
 * assert.equal(checkKey(0), 0);
 * ```
 */
export function checkKey(key: unknown): Key {
  if (typeof key === "string") {
    if (!wellFormed(key)) badString("Key", "");
    return key;
  }
  if (typeof key === "number" && Number.isFinite(key)) return key === 0 ? 0 : key;
  throw new ValidationError(
    `Key ${
      quote(key)
    } is not a string or a finite number: dict keys must be strings or finite numbers; convert it first`,
  );
}

/**
 * Deep equality used by `remove`, `indexOf` and `count`: NaN equals NaN, 0
 * equals -0, Dates by time, binaries by bytes, objects by key set and values
 * (key order ignored); `1` and `1n` differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deepEqual } from "./value.ts";
 * assert.equal(deepEqual({ a: [NaN] }, { a: [NaN] }), true);
 * ```
 */
export function deepEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  // Same type or not equal: compares the two typeof strings.
  if (ta !== (typeof b as string)) return false;
  if (ta === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (ta !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (Array.isArray(b) || b instanceof Uint8Array || b instanceof Date) return false;
  const ka = Object.keys(a as object);
  const ob = b as Record<string, Value>;
  if (ka.length !== Object.keys(ob).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(ob, k) || !deepEqual((a as Record<string, Value>)[k], ob[k])) return false;
  }
  return true;
}

function rank(v: Value | undefined): number {
  switch (typeof v) {
    case "undefined":
      return 0;
    case "boolean":
      return 1;
    case "number":
      return Number.isNaN(v) ? 3 : 2;
    case "bigint":
      return 2;
    case "string":
      return 4;
  }
  if (v === null) return 0;
  if (v instanceof Uint8Array) return 5;
  if (v instanceof Date) return 6;
  return Array.isArray(v) ? 7 : 8;
}

/**
 * The total order of `list.sort`: null < boolean < number and bigint
 * (numerically; NaN after every number) < string (code units) < Uint8Array
 * (bytewise) < Date < array (elementwise) < object (by sorted keys, then
 * values). Returns a negative number, zero or a positive number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareValues } from "./value.ts";
 * assert.deepEqual([3, "a", null, 1n].sort(compareValues), [null, 1n, 3, "a"]);
 * ```
 */
export function compareValues(a: Value | undefined, b: Value | undefined): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 1:
      return (a ? 1 : 0) - (b ? 1 : 0);
    case 2:
      // Mixed number/bigint compare exactly with < and >.
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 4:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 5: {
      const x = a as Uint8Array;
      const y = b as Uint8Array;
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
      return x.length - y.length;
    }
    case 6:
      return (a as Date).getTime() - (b as Date).getTime();
    case 7: {
      const x = a as Value[];
      const y = b as Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 8: {
      const x = a as Record<string, Value>;
      const y = b as Record<string, Value>;
      const kx = Object.keys(x).sort();
      const ky = Object.keys(y).sort();
      const n = Math.min(kx.length, ky.length);
      for (let i = 0; i < n; i++) {
        if (kx[i] !== ky[i]) return kx[i] < ky[i] ? -1 : 1;
        const c = compareValues(x[kx[i]], y[ky[i]]);
        if (c !== 0) return c;
      }
      return kx.length - ky.length;
    }
  }
  return 0;
}
