/**
 * Dict operations: Map's methods plus Python's dict methods.
 *
 * @module
 */

import { KeyNotFoundError, ValidationError } from "../errors.ts";
import type { DictState } from "../core/engine.ts";
import { checkKey, cloneIn, cloneOut, type Key, quote, type Value } from "../core/value.ts";
import { capturedBatches } from "../core/batches.ts";
import { ALL_ITEMS, op } from "./types.ts";

/**
 * Turns the forms `update()` and `createDict()` accept — a plain object, a
 * Map or an iterable of `[key, value]` pairs — into checked entries. Checks
 * every entry before returning, so a bad one stores nothing.
 *
 * @example
 * ```ts
 * import { toEntries } from "./dict_ops.ts";
 * toEntries({ a: 1 }); // [["a", 1]]
 * ```
 */
export function toEntries(input: unknown): [Key, Value][] {
  const out: [Key, Value][] = [];
  if (typeof input !== "object" || input === null) {
    throw new ValidationError(
      `Entries ${quote(input)} are not an object, a Map or an iterable of [key, value] pairs: pass one of those`,
    );
  }
  const proto = Object.getPrototypeOf(input);
  if (proto === Object.prototype || proto === null) {
    const obj = input as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      if (obj[k] === undefined) continue;
      out.push([checkKey(k), cloneIn(obj[k], `Value of key ${quote(k)}`)]);
    }
    return out;
  }
  if (typeof (input as Iterable<unknown>)[Symbol.iterator] !== "function") {
    throw new ValidationError(
      `Entries ${quote(input)} are not an object, a Map or an iterable of [key, value] pairs: pass one of those`,
    );
  }
  let i = 0;
  for (const pair of input as Iterable<unknown>) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new ValidationError(`Entry ${i} is ${quote(pair)}, not a [key, value] pair: pass pairs of two`);
    }
    out.push([checkKey(pair[0]), cloneIn(pair[1], `Value of key ${quote(pair[0])}`)]);
    i++;
  }
  return out;
}

function missing(d: DictState, key: Key): never {
  throw new KeyNotFoundError(
    `Key ${quote(key)} is not in dict ${quote(d.name)}: check has() first or pass a fallback`,
  );
}

/** `dict.get(key, fallback?)`: the value, else the fallback, else `undefined`. */
export const dictGet = op<DictState>("dict.get", {
  run(_e, d, args) {
    const v = d.store.get(checkKey(args[1]));
    if (v === undefined) return args.length > 2 ? args[2] : undefined;
    return cloneOut(v);
  },
});

/** `dict.set(key, value)`. */
export const dictSet = op<DictState>("dict.set", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const v = cloneIn(args[2]);
    d.store.set(k, v, e.undo);
    if (e.logging) e.log("dict.set", [d.name, k, v]);
  },
});

/** `dict.has(key)`. */
export const dictHas = op<DictState>("dict.has", {
  run: (_e, d, args) => d.store.has(checkKey(args[1])),
});

/** `dict.delete(key)`: whether the key was there. */
export const dictDelete = op<DictState>("dict.delete", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    if (d.store.delete(k, e.undo) === undefined) return false;
    if (e.logging) e.log("dict.delete", [d.name, k]);
    return true;
  },
});

/** `dict.size`. */
export const dictSize = op<DictState>("dict.size", {
  run: (_e, d) => d.store.size,
});

function* mapIter<T, U>(it: Iterable<T>, fn: (t: T) => U): IterableIterator<U> {
  for (const t of it) yield fn(t);
}

/** `dict.keys()`: an iterator in insertion order. */
export const dictKeys = op<DictState>("dict.keys", {
  run: (_e, d) => d.store.keys(),
  stream: (_e, d) => capturedBatches([...d.store.keys()], (k) => k),
  answer: ALL_ITEMS,
});

/** `dict.values()`: an iterator of copies in insertion order. */
export const dictValues = op<DictState>("dict.values", {
  run: (_e, d) => mapIter(d.store.values(), cloneOut),
  stream: (_e, d) => capturedBatches([...d.store.values()], cloneOut),
  answer: ALL_ITEMS,
});

/** `dict.entries()`: an iterator of `[key, copy]` in insertion order. */
export const dictEntries = op<DictState>("dict.entries", {
  run: (_e, d) => mapIter(d.store.entries(), ([k, v]): [Key, Value] => [k, cloneOut(v)]),
  stream: (_e, d) => capturedBatches([...d.store.entries()], ([k, v]): [Key, Value] => [k, cloneOut(v)]),
  answer: ALL_ITEMS,
});

/** `dict.clear()`. */
export const dictClear = op<DictState>("dict.clear", {
  run(e, d) {
    d.store.clear(e.undo);
    if (e.logging) e.log("dict.clear", [d.name]);
  },
});

/** `dict.update(objectOrEntries)`: all entries or none. */
export const dictUpdate = op<DictState>("dict.update", {
  run(e, d, args) {
    const entries = toEntries(args[1]);
    for (const [k, v] of entries) d.store.set(k, v, e.undo);
    if (e.logging && entries.length > 0) e.log("dict.update", [d.name, entries]);
  },
});

/** `dict.pop(key, fallback?)`: removes and returns the value. */
export const dictPop = op<DictState>("dict.pop", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const v = d.store.delete(k, e.undo);
    if (v === undefined) return args.length > 2 ? args[2] : missing(d, k);
    if (e.logging) e.log("dict.delete", [d.name, k]);
    // A copy even though it left the store: a rollback would put it back.
    return cloneOut(v);
  },
});

/** `dict.popItem()`: removes and returns the last inserted `[key, value]`. */
export const dictPopItem = op<DictState>("dict.popItem", {
  run(e, d) {
    const last = d.store.last();
    if (last === undefined) {
      throw new KeyNotFoundError(`Cannot popItem() from dict ${quote(d.name)}: it is empty; check size first`);
    }
    d.store.delete(last[0], e.undo);
    // Logged as its effect: which key goes depends on state, not on args.
    if (e.logging) e.log("dict.delete", [d.name, last[0]]);
    return [last[0], cloneOut(last[1])];
  },
});

/** `dict.setDefault(key, value)`: the existing value, or stores and returns `value`. */
export const dictSetDefault = op<DictState>("dict.setDefault", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const old = d.store.get(k);
    if (old !== undefined) return cloneOut(old);
    const v = cloneIn(args[2]);
    d.store.set(k, v, e.undo);
    if (e.logging) e.log("dict.set", [d.name, k, v]);
    return cloneOut(v);
  },
});

/**
 * Checks a scan cursor and page size.
 *
 * @example
 * ```ts
 * import { checkScan } from "./dict_ops.ts";
 * checkScan(0, 100); // [0, 100]
 * ```
 */
export function checkScan(cursor: unknown, count: unknown): [number, number] {
  if (typeof cursor !== "number" || !Number.isSafeInteger(cursor) || cursor < 0) {
    throw new ValidationError(
      `Scan cursor ${quote(cursor)} is not valid: pass 0 to start, then the cursor the last page returned`,
    );
  }
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 100_000) {
    throw new ValidationError(`Scan count ${quote(count)} is not an integer from 1 to 100000: pass a page size`);
  }
  return [cursor, count];
}

/** `dict.scan(cursor, count)`: one page `[nextCursor | null, [key, value][]]`, for batched iteration. */
export const dictScan = op<DictState>("dict.scan", {
  run(_e, d, args) {
    const [cursor, count] = checkScan(args[1], args[2]);
    const { next, entries } = d.store.scan(cursor, count);
    return [next, entries.map(([k, v]): [Key, Value] => [k, cloneOut(v)])];
  },
});

/** `dict.toObject()`: a plain object (number keys become strings). */
export const dictToObject = op<DictState>("dict.toObject", {
  run(_e, d) {
    const out: Record<string, Value> = {};
    d.store.forEach((v, k) => {
      Object.defineProperty(out, k, { value: cloneOut(v), enumerable: true, writable: true, configurable: true });
    });
    return out;
  },
});

/** Every dict op. */
export const DICT_OPS = [
  dictGet,
  dictSet,
  dictHas,
  dictDelete,
  dictSize,
  dictKeys,
  dictValues,
  dictEntries,
  dictClear,
  dictUpdate,
  dictPop,
  dictPopItem,
  dictSetDefault,
  dictToObject,
  dictScan,
];
