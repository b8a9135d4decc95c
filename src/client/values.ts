/**
 * Client-side argument checks. MessagePack would quietly turn a `Map`, a
 * class instance or a typed array into a plain object or binary, so the
 * server could never reject them as the embedded API does; they are refused
 * here, before anything is sent, with the same `ValidationError`.
 *
 * @module
 */

import { MAX_DEPTH, quote } from "../engine/value.ts";
import { ValidationError } from "../errors.ts";

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

function kindOf(v: object): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? `a ${clip(name)}` : "an object with a custom prototype";
}

/** Paths and names come from the caller's data: a message shows at most about 120 characters of one. */
function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 50)}...${s.slice(-60)}` : s;
}

function check(v: unknown, path: string, seen: Set<object>): void {
  switch (typeof v) {
    case "function":
    case "symbol":
      throw new ValidationError(`${clip(path)} is a ${typeof v}, which cannot be stored: pass plain data`);
    case "bigint":
      if (v < MIN_I64 || v > MAX_U64) {
        throw new ValidationError(`${clip(path)} (${quote(v)}) is outside the 64-bit range: bigints must lie within -(2^63) .. 2^64-1; send larger ones as strings`);
      }
      return;
    case "object": {
      if (v === null || v instanceof Uint8Array || v instanceof Date) return;
      if (seen.has(v)) throw new ValidationError(`${clip(path)} refers to itself (a cycle): pass a tree of plain data`);
      // `seen` holds the objects on the current path: its size is the depth
      // (a value may be MAX_DEPTH deep inside a few levels of arguments).
      if (seen.size >= MAX_DEPTH + 8) throw new ValidationError(`${clip(path)} is nested more than ${MAX_DEPTH} levels deep: flatten it`);
      const proto = Object.getPrototypeOf(v);
      const array = Array.isArray(v);
      if (!array && proto !== Object.prototype && proto !== null) {
        throw new ValidationError(`${clip(path)} is ${kindOf(v)}, which cannot be stored: use plain objects, arrays, Date or Uint8Array`);
      }
      seen.add(v);
      if (array) {
        for (let i = 0; i < v.length; i++) check(v[i], `${path}[${i}]`, seen);
      } else {
        for (const k of Object.keys(v)) check((v as Record<string, unknown>)[k], `${path}.${k}`, seen);
      }
      seen.delete(v);
      return;
    }
    default:
      return;
  }
}

/**
 * Throws `ValidationError` when an argument list holds something that
 * cannot cross the wire faithfully.
 *
 * @example
 * ```ts
 * import { checkArgs } from "./values.ts";
 * checkArgs("dict.set", ["d", "k", { a: [1, 2n, new Date()] }]); // fine
 * ```
 */
export function checkArgs(op: string, args: readonly unknown[]): void {
  const seen = new Set<object>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (typeof a === "object" && a !== null || typeof a === "function" || typeof a === "symbol" || typeof a === "bigint") {
      check(a, `Argument ${i} of ${op}`, seen);
    }
  }
}

/**
 * Turns a dict initializer (object, Map or iterable of pairs) into an array
 * of `[key, value]` pairs, the form every runtime's MessagePack keeps intact.
 *
 * @example
 * ```ts
 * import { toPairs } from "./values.ts";
 * toPairs(new Map([[1, "a"]])); // [[1, "a"]]
 * ```
 */
export function toPairs(init: unknown): unknown {
  if (typeof init !== "object" || init === null) return init;
  if (Object.getPrototypeOf(init) === Object.prototype || Object.getPrototypeOf(init) === null) return init;
  if (Symbol.iterator in init) return Array.from(init as Iterable<unknown>);
  return init;
}

/**
 * Turns any iterable into an array (lists are sent as arrays).
 *
 * @example
 * ```ts
 * import { toList } from "./values.ts";
 * toList(new Set([1, 2])); // [1, 2]
 * ```
 */
export function toList(values: unknown): unknown {
  if (Array.isArray(values) || typeof values !== "object" || values === null) return values;
  if (values instanceof Uint8Array) return values;
  return Symbol.iterator in values ? Array.from(values as Iterable<unknown>) : values;
}
