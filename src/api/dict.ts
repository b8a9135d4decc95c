/**
 * The CyberDict handle: a Map-like view of one named dict.
 *
 * @module
 */

import * as ops from "../ops/dict_ops.ts";
import type { Op } from "../ops/types.ts";
import type { DictState, Engine } from "../core/engine.ts";
import type { Key, Value } from "../core/value.ts";

/**
 * A named, insertion-ordered dict of values: Map's methods plus Python's
 * dict methods. Reads and writes are synchronous; durability is the
 * database's business (`db.flush()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("dict1");
 * d.set(0, 100).set("0", "zero"); // 0 and "0" are different keys
 * assert.equal(d.get(0), 100);
 * assert.equal(d.pop("0"), "zero");
 * assert.equal(d.setDefault("n", 1), 1);
 * assert.deepEqual([...d], [[0, 100], ["n", 1]]); // insertion order
 * ```
 */
export class CyberDict<V extends Value = Value> implements Iterable<[Key, V]> {
  #e: Engine;
  #s: DictState;

  /** @internal Handles are made by `Database.createDict` / `getDict`. */
  constructor(engine: Engine, state: DictState) {
    this.#e = engine;
    this.#s = state;
  }

  #run(op: Op<DictState>, args: unknown[]): unknown {
    this.#e.checkState(this.#s);
    return op.run(this.#e, this.#s, args);
  }

  /** The dict's name. */
  get name(): string {
    return this.#s.name;
  }

  /** The value under `key`; `fallback` (or `undefined`) when it is missing. */
  get(key: Key): V | undefined;
  /** The value under `key`, or `fallback` when it is missing. */
  get<F>(key: Key, fallback: F): V | F;
  get(key: Key, fallback?: unknown): unknown {
    // arguments.length, not a rest parameter: this is the hottest read path.
    return this.#run(ops.dictGet, arguments.length > 1 ? [this.#s.name, key, fallback] : [this.#s.name, key]);
  }

  /** Stores `value` under `key`; returns the dict for chaining. */
  set(key: Key, value: V): this {
    this.#run(ops.dictSet, [this.#s.name, key, value]);
    return this;
  }

  /** Whether `key` is present. */
  has(key: Key): boolean {
    return this.#run(ops.dictHas, [this.#s.name, key]) as boolean;
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: Key): boolean {
    return this.#run(ops.dictDelete, [this.#s.name, key]) as boolean;
  }

  /** The number of keys. */
  get size(): number {
    return this.#run(ops.dictSize, [this.#s.name]) as number;
  }

  /** The keys in insertion order. */
  keys(): IterableIterator<Key> {
    return this.#run(ops.dictKeys, [this.#s.name]) as IterableIterator<Key>;
  }

  /** Copies of the values in insertion order. */
  values(): IterableIterator<V> {
    return this.#run(ops.dictValues, [this.#s.name]) as IterableIterator<V>;
  }

  /** `[key, value]` pairs in insertion order. */
  entries(): IterableIterator<[Key, V]> {
    return this.#run(ops.dictEntries, [this.#s.name]) as IterableIterator<[Key, V]>;
  }

  /** `[key, value]` pairs in insertion order. */
  [Symbol.iterator](): IterableIterator<[Key, V]> {
    return this.entries();
  }

  /** Removes every key. */
  clear(): void {
    this.#run(ops.dictClear, [this.#s.name]);
  }

  /** Stores every entry of a plain object, a Map or an iterable of pairs — all or none. */
  update(entries: Record<string, V> | Iterable<readonly [Key, V]>): void {
    this.#run(ops.dictUpdate, [this.#s.name, entries]);
  }

  /** Removes `key` and returns its value; missing → `KeyNotFoundError`. */
  pop(key: Key): V;
  /** Removes `key` and returns its value, or `fallback` when missing. */
  pop<F>(key: Key, fallback: F): V | F;
  pop(key: Key, fallback?: unknown): unknown {
    return this.#run(ops.dictPop, arguments.length > 1 ? [this.#s.name, key, fallback] : [this.#s.name, key]);
  }

  /** Removes and returns the last inserted `[key, value]`; empty → `KeyNotFoundError`. */
  popItem(): [Key, V] {
    return this.#run(ops.dictPopItem, [this.#s.name]) as [Key, V];
  }

  /** The value under `key`; when missing, stores `value` and returns it. */
  setDefault(key: Key, value: V): V {
    return this.#run(ops.dictSetDefault, [this.#s.name, key, value]) as V;
  }

  /** A plain object of copies (number keys become strings). */
  toObject(): Record<string, V> {
    return this.#run(ops.dictToObject, [this.#s.name]) as Record<string, V>;
  }

  /** The same as `toObject()`, for `JSON.stringify`. */
  toJSON(): Record<string, V> {
    return this.toObject();
  }
}
