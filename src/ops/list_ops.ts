/**
 * List operations: Array's methods plus Python's list methods.
 *
 * Undo inside a transaction: appends and element sets undo one element;
 * anything that shifts or reorders elements (insert, pop from the middle,
 * remove, sort, reverse, clear) first saves a copy of the whole list once
 * per transaction level, because per-element undo of a sort would cost more
 * than the copy.
 *
 * @module
 */

import { IndexOutOfRangeError, ValidationError, ValueNotFoundError } from "../errors.ts";
import type { Engine, ListState } from "../core/engine.ts";
import { cloneIn, cloneOut, compareValues, deepEqual, quote, type Value } from "../core/value.ts";
import { capturedBatches } from "../core/batches.ts";
import { ALL_ITEMS, op } from "./types.ts";

function checkIndex(i: unknown): number {
  if (typeof i !== "number" || !Number.isInteger(i)) {
    throw new ValidationError(
      `Index ${quote(i)} is not an integer: pass a whole number (negative counts from the end)`,
    );
  }
  return i;
}

/** Resolves a possibly negative index to a position inside the list, or throws. */
function position(l: ListState, i: unknown, verb: string): number {
  const n = l.items.length;
  const raw = checkIndex(i);
  const at = raw < 0 ? raw + n : raw;
  if (at < 0 || at >= n) {
    throw new IndexOutOfRangeError(
      n === 0
        ? `Cannot ${verb} index ${raw} of list ${quote(l.name)}: it is empty`
        : `Index ${raw} is out of range for list ${quote(l.name)} of length ${n}: use -${n} .. ${n - 1}`,
    );
  }
  return at;
}

/** Saves the whole list for undo, once per transaction level. */
function saveForUndo(e: Engine, l: ListState): void {
  if (e.undo === null || l.copiedAt === e.savepoint) return;
  const items = l.items.slice();
  const copiedAt = l.copiedAt;
  l.copiedAt = e.savepoint;
  e.undo.push(() => {
    l.items = items;
    l.copiedAt = copiedAt;
  });
}

function values(input: unknown): Value[] {
  if (
    typeof input !== "object" || input === null || typeof (input as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new ValidationError(`Value ${quote(input)} is not iterable: pass an array or another iterable of values`);
  }
  const out: Value[] = [];
  for (const v of input as Iterable<unknown>) out.push(cloneIn(v, `Element ${out.length}`));
  return out;
}

/** `list.length`: the number of elements. */
export const listLength = op<ListState>("list.length", {
  run: (_e, l) => l.items.length,
});

/** `list.get(i)`: a copy of the element at `i` (negative counts from the end); out of range → IndexOutOfRangeError. */
export const listGet = op<ListState>("list.get", {
  run: (_e, l, args) => cloneOut(l.items[position(l, args[1], "get")]),
});

/** `list.set(i, value)`: replaces the element at `i` (negative counts from the end); out of range → IndexOutOfRangeError. */
export const listSet = op<ListState>("list.set", {
  run(e, l, args) {
    const at = position(l, args[1], "set");
    const v = cloneIn(args[2]);
    const old = l.items[at];
    l.items[at] = v;
    // Undo closures act on l.items as it is when they run (never a captured
    // array): a later saveForUndo restore may have swapped the array.
    if (e.undo) e.undo.push(() => void (l.items[at] = old));
    if (e.logging) e.log("list.set", [l.name, at, v]);
    else e.tick();
  },
});

/** `list.append(value)`: adds the value at the end. */
export const listAppend = op<ListState>("list.append", {
  run(e, l, args) {
    const v = cloneIn(args[1]);
    l.items.push(v);
    if (e.undo) e.undo.push(() => void l.items.pop());
    if (e.logging) e.log("list.append", [l.name, v]);
    else e.tick();
  },
});

/** `list.extend(iterable)`: appends every element of an array or another iterable, all or none. */
export const listExtend = op<ListState>("list.extend", {
  run(e, l, args) {
    const vs = values(args[1]);
    const n = l.items.length;
    for (const v of vs) l.items.push(v);
    if (e.undo) e.undo.push(() => void (l.items.length = n));
    if (vs.length > 0) {
      if (e.logging) e.log("list.extend", [l.name, vs]);
      else e.tick();
    }
  },
});

/** `list.insert(i, value)`: inserts the value before position `i`, as Python does: the index is clamped to the list. */
export const listInsert = op<ListState>("list.insert", {
  run(e, l, args) {
    const n = l.items.length;
    const raw = checkIndex(args[1]);
    const at = raw < 0 ? Math.max(0, raw + n) : Math.min(raw, n);
    const v = cloneIn(args[2]);
    saveForUndo(e, l);
    l.items.splice(at, 0, v);
    if (e.logging) e.log("list.insert", [l.name, at, v]);
    else e.tick();
  },
});

function removeAt(e: Engine, l: ListState, at: number): Value {
  let v: Value;
  if (at === l.items.length - 1) {
    v = l.items.pop() as Value;
    if (e.undo) e.undo.push(() => void l.items.push(v));
  } else {
    saveForUndo(e, l);
    v = l.items.splice(at, 1)[0];
  }
  if (e.logging) e.log("list.pop", [l.name, at]);
  else e.tick();
  return v;
}

/** `list.pop(i = -1)`: removes and returns the element; an empty list or an index out of range → IndexOutOfRangeError. */
export const listPop = op<ListState>("list.pop", {
  run: (e, l, args) => cloneOut(removeAt(e, l, position(l, args.length > 1 ? args[1] : -1, "pop"))),
});

/** `list.remove(value)`: removes the first deep-equal element; none → ValueNotFoundError. */
export const listRemove = op<ListState>("list.remove", {
  run(e, l, args) {
    const v = cloneIn(args[1]);
    const at = l.items.findIndex((x) => deepEqual(x, v));
    if (at === -1) {
      throw new ValueNotFoundError(`Value ${quote(v)} is not in list ${quote(l.name)}: check indexOf() first`);
    }
    // Logged as the pop of the index it found: replay needs no search.
    removeAt(e, l, at);
  },
});

/** `list.indexOf(value)`: the first deep-equal position, or -1. */
export const listIndexOf = op<ListState>("list.indexOf", {
  run(_e, l, args) {
    const v = cloneIn(args[1]);
    return l.items.findIndex((x) => deepEqual(x, v));
  },
});

/** `list.count(value)`: how many elements are deep-equal to it. */
export const listCount = op<ListState>("list.count", {
  run(_e, l, args) {
    const v = cloneIn(args[1]);
    let n = 0;
    for (const x of l.items) if (deepEqual(x, v)) n++;
    return n;
  },
});

/** Slice bounds follow Array#slice: any number (fractions truncate, ±Infinity clamps). */
function checkBound(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number") {
    throw new ValidationError(`Slice ${name} ${quote(v)} is not a number: pass a number or leave it out`);
  }
  return v;
}

/** `list.slice(start?, end?)`: a plain array of copies (Array#slice semantics). */
export const listSlice = op<ListState>("list.slice", {
  run(_e, l, args) {
    return l.items.slice(checkBound(args[1], "start"), checkBound(args[2], "end")).map(cloneOut);
  },
  stream(_e, l, args) {
    return capturedBatches(l.items.slice(checkBound(args[1], "start"), checkBound(args[2], "end")), cloneOut);
  },
});

/** `list.reverse()`: reverses the list in place. */
export const listReverse = op<ListState>("list.reverse", {
  run(e, l) {
    saveForUndo(e, l);
    l.items.reverse();
    if (e.logging) e.log("list.reverse", [l.name]);
    else e.tick();
  },
});

/** Options of `list.sort`: declarative, so no code is ever sent or logged. */
export interface SortOptions {
  /** Sort object elements by this field (missing fields sort as null). */
  key?: string;
  /** Descending; equal elements keep their order. */
  reverse?: boolean;
}

function checkSortOptions(o: unknown): SortOptions {
  if (o === undefined || o === null) return {};
  if (typeof o !== "object" || Array.isArray(o)) {
    throw new ValidationError(`Sort options ${quote(o)} are not an object: pass { key?: string, reverse?: boolean }`);
  }
  const { key, reverse } = o as SortOptions;
  for (const k of Object.keys(o)) {
    if (k !== "key" && k !== "reverse") {
      throw new ValidationError(`Sort option ${quote(k)} is unknown: use key and reverse (functions are not accepted)`);
    }
  }
  if (key !== undefined && typeof key !== "string") {
    throw new ValidationError(`Sort key ${quote(key)} is not a field name: pass a string`);
  }
  if (reverse !== undefined && typeof reverse !== "boolean") {
    throw new ValidationError(`Sort option reverse ${quote(reverse)} is not a boolean: pass true or false`);
  }
  return { key, reverse };
}

/** `list.sort({ key?, reverse? })`: sorts in place, stably, by the total order of values (`key`: by that field of object elements). */
export const listSort = op<ListState>("list.sort", {
  run(e, l, args) {
    const { key, reverse } = checkSortOptions(args[1]);
    const sign = reverse ? -1 : 1;
    let cmp = (a: Value, b: Value) => sign * compareValues(a, b);
    if (key !== undefined) {
      l.items.forEach((x, i) => {
        if (typeof x !== "object" || x === null || Array.isArray(x) || x instanceof Date || x instanceof Uint8Array) {
          throw new ValidationError(
            `Element ${i} of list ${quote(l.name)} is ${quote(x)}, not an object: sorting by key ${
              quote(key)
            } needs object elements`,
          );
        }
      });
      const field = (x: Value) => {
        const o = x as Record<string, Value>;
        return Object.hasOwn(o, key) ? o[key] : null;
      };
      cmp = (a, b) => sign * compareValues(field(a), field(b));
    }
    saveForUndo(e, l);
    l.items.sort(cmp);
    if (e.logging) e.log("list.sort", [l.name, { key, reverse }]);
    else e.tick();
  },
});

/** `list.clear()`: removes every element. */
export const listClear = op<ListState>("list.clear", {
  run(e, l) {
    const items = l.items;
    l.items = [];
    if (e.undo) e.undo.push(() => void (l.items = items));
    if (e.logging) e.log("list.clear", [l.name]);
    else e.tick();
  },
});

/** `list.toArray()`: a plain array of copies. */
export const listToArray = op<ListState>("list.toArray", {
  run: (_e, l) => l.items.map(cloneOut),
  stream: (_e, l) => capturedBatches(l.items, cloneOut),
});

/** `list.iter()`: the elements' copies in order — `list[Symbol.iterator]()`, which sees appends made while iterating. */
export const listIter = op<ListState>("list.iter", {
  *run(_e, l) {
    for (let i = 0; i < l.items.length; i++) yield cloneOut(l.items[i]);
  },
  stream: (_e, l) => capturedBatches(l.items, cloneOut),
  answer: ALL_ITEMS,
});

/** Every list op. */
export const LIST_OPS = [
  listLength,
  listGet,
  listSet,
  listAppend,
  listExtend,
  listInsert,
  listPop,
  listRemove,
  listIndexOf,
  listCount,
  listSlice,
  listReverse,
  listSort,
  listClear,
  listToArray,
  listIter,
];

/** Checks the initial elements of `createList`. */
export { values as checkListValues };
