/**
 * Client-side argument checks. MessagePack would quietly turn a `Map`, a
 * class instance or a typed array into a plain object or binary, so the
 * server could never reject them as the embedded API does; they are refused
 * here, before anything is sent, with the same `ValidationError`.
 *
 * @module
 */

import { MAX_DEPTH, quote, withArticle } from "../core/value.ts";
import { ValidationError } from "../errors.ts";

// DESIGN §2: bigints are 64-bit (MessagePack cannot carry more).
const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

function kindOf(v: object): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? withArticle(clip(name)) : "an object with a custom prototype";
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
    case "string":
      // MessagePack writes UTF-8: a lone surrogate would arrive as U+FFFD.
      if (!v.isWellFormed()) {
        throw new ValidationError(
          `${
            clip(path)
          } is a string with a lone surrogate, which cannot be stored: fix the string or store it as a Uint8Array`,
        );
      }
      return;
    case "bigint":
      if (v < MIN_I64 || v > MAX_U64) {
        throw new ValidationError(
          `${clip(path)} (${
            quote(v)
          }) is outside the 64-bit range: bigints must lie within -(2^63) .. 2^64-1; send larger ones as strings`,
        );
      }
      return;
    case "object": {
      if (v === null || v instanceof Uint8Array || v instanceof Date) return;
      if (seen.has(v)) throw new ValidationError(`${clip(path)} refers to itself (a cycle): pass a tree of plain data`);
      if (seen.size >= MAX_DEPTH) {
        throw new ValidationError(
          `${clip(path)} is nested more than ${MAX_DEPTH} levels deep, which cannot be stored: flatten it`,
        );
      }
      const proto = Object.getPrototypeOf(v);
      const array = Array.isArray(v);
      // An Array subclass would arrive as a plain array.
      if (array ? proto !== Array.prototype : proto !== Object.prototype && proto !== null) {
        throw new ValidationError(
          `${clip(path)} is ${kindOf(v)}, which cannot be stored: use plain objects, arrays, Date or Uint8Array`,
        );
      }
      seen.add(v);
      if (array) {
        for (let i = 0; i < v.length; i++) {
          // A hole would arrive as undefined.
          if (!(i in v)) {
            throw new ValidationError(`${path}[${i}] is a hole, which cannot be stored: fill the gap with null`);
          }
          check(v[i], `${path}[${i}]`, seen);
        }
      } else {
        for (const k of Object.keys(v)) {
          if (!k.isWellFormed()) {
            throw new ValidationError(`${path} has a key with a lone surrogate, which cannot be stored: fix the key`);
          }
          check((v as Record<string, unknown>)[k], `${path}.${k}`, seen);
        }
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
 * import assert from "node:assert/strict";
 * import { ValidationError } from "../errors.ts";
 * import { checkArgs } from "./values.ts";
 * checkArgs("dict.set", ["d", "k", { a: [1, 2n, new Date()] }]); // fine
 * assert.throws(() => checkArgs("dict.set", ["d", "k", () => 1]), ValidationError);
 * ```
 */
export function checkArgs(op: string, args: readonly unknown[]): void {
  const seen = new Set<object>();
  for (let i = 0; i < args.length; i++) {
    check(args[i], `Argument ${i} of ${op}`, seen);
  }
}

/**
 * Turns a dict initializer (object, Map or iterable of pairs) into an array
 * of `[key, value]` pairs, the form every runtime's MessagePack keeps intact.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toPairs } from "./values.ts";
 * assert.deepEqual(toPairs(new Map([[1, "a"]])), [[1, "a"]]);
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
 * import assert from "node:assert/strict";
 * import { toList } from "./values.ts";
 * assert.deepEqual(toList(new Set([1, 2])), [1, 2]);
 * ```
 */
export function toList(values: unknown): unknown {
  if (Array.isArray(values) || typeof values !== "object" || values === null) return values;
  if (values instanceof Uint8Array) return values;
  return Symbol.iterator in values ? Array.from(values as Iterable<unknown>) : values;
}
