/**
 * The CyberList handle: an Array-like view of one named list.
 *
 * @module
 */

import * as ops from "../ops/list_ops.ts";
import type { SortOptions } from "../ops/list_ops.ts";
import type { Op } from "../ops/types.ts";
import type { Engine, ListState } from "../core/engine.ts";
import type { Value } from "../core/value.ts";

export type { SortOptions };

/**
 * A named list of values: Array's methods plus Python's list methods.
 * Negative indices count from the end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const l = db.createList("list1", [3, 1, 2]);
 * l.append(0);
 * l.sort();
 * assert.equal(l.pop(), 3);
 * assert.equal(l.get(-1), 2); // negative: from the end
 * assert.deepEqual([...l], [0, 1, 2]);
 * ```
 */
export class CyberList<V extends Value = Value> implements Iterable<V> {
  #e: Engine;
  #s: ListState;

  /** @internal Handles are made by `Database.createList` / `getList`. */
  constructor(engine: Engine, state: ListState) {
    this.#e = engine;
    this.#s = state;
  }

  #run(op: Op<ListState>, args: unknown[]): unknown {
    this.#e.checkState(this.#s);
    return op.run(this.#e, this.#s, args);
  }

  /** The list's name. */
  get name(): string {
    return this.#s.name;
  }

  /** The number of elements. */
  get length(): number {
    return this.#run(ops.listLength, [this.#s.name]) as number;
  }

  /** The element at `index` (negative counts from the end); out of range → `IndexOutOfRangeError`. */
  get(index: number): V {
    return this.#run(ops.listGet, [this.#s.name, index]) as V;
  }

  /** Replaces the element at `index`. */
  set(index: number, value: V): void {
    this.#run(ops.listSet, [this.#s.name, index, value]);
  }

  /** Adds `value` at the end. */
  append(value: V): void {
    this.#run(ops.listAppend, [this.#s.name, value]);
  }

  /** Adds every value of `values` at the end — all or none. */
  extend(values: Iterable<V>): void {
    this.#run(ops.listExtend, [this.#s.name, values]);
  }

  /** Inserts before `index`; an index past either end is clamped, as in Python. */
  insert(index: number, value: V): void {
    this.#run(ops.listInsert, [this.#s.name, index, value]);
  }

  /** Removes and returns the element at `index` (default: the last). */
  pop(index: number = -1): V {
    return this.#run(ops.listPop, [this.#s.name, index]) as V;
  }

  /** Removes the first element deep-equal to `value`; none → `ValueNotFoundError`. */
  remove(value: V): void {
    this.#run(ops.listRemove, [this.#s.name, value]);
  }

  /** The position of the first element deep-equal to `value`, or -1. */
  indexOf(value: V): number {
    return this.#run(ops.listIndexOf, [this.#s.name, value]) as number;
  }

  /** How many elements are deep-equal to `value`. */
  count(value: V): number {
    return this.#run(ops.listCount, [this.#s.name, value]) as number;
  }

  /** Copies of the elements from `start` to `end` (Array#slice semantics). */
  slice(start?: number, end?: number): V[] {
    return this.#run(ops.listSlice, [this.#s.name, start, end]) as V[];
  }

  /** Reverses the list in place. */
  reverse(): void {
    this.#run(ops.listReverse, [this.#s.name]);
  }

  /** Sorts in place, stably, by value or by the field `key` of object elements. */
  sort(options: SortOptions = {}): void {
    this.#run(ops.listSort, [this.#s.name, options]);
  }

  /** Removes every element. */
  clear(): void {
    this.#run(ops.listClear, [this.#s.name]);
  }

  /** Copies of every element. */
  toArray(): V[] {
    return this.#run(ops.listToArray, [this.#s.name]) as V[];
  }

  /** Copies of the elements, in order. */
  [Symbol.iterator](): IterableIterator<V> {
    return this.#run(ops.listIter, [this.#s.name]) as IterableIterator<V>;
  }

  /** The same as `toArray()`, for `JSON.stringify`. */
  toJSON(): V[] {
    return this.toArray();
  }
}
