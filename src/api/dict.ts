/**
 * The CyberDict handle: a Map-like view of one named dict.
 *
 * @module
 */

import * as ops from "../ops/dict_ops.ts";
import type { Op } from "../ops/types.ts";
import type { DictState, Engine } from "../core/engine.ts";
import type { Key, Value } from "../core/value.ts";
import type { Entry, SetOptions } from "../core/entry.ts";

export type { Entry, SetOptions };

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
    // The hottest read path: the op's body is called directly, without the
    // args array `#run` needs (arguments.length, not a rest parameter, tells
    // whether a fallback was given).
    this.#e.checkState(this.#s);
    return ops.getValue(this.#e, this.#s, key, arguments.length > 1, fallback);
  }

  /**
   * Stores `value` under `key`; returns the dict for chaining. With
   * `{ expireIn }` (ms) the key expires that long from now: from then on
   * every read treats it as absent, and it is removed in the background. A
   * set without `expireIn` clears any expiry the key had.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const sessions = db.createDict("sessions");
   * sessions.set("s1", { user: 7 }, { expireIn: 30 * 60_000 });
   * assert.ok(sessions.ttl("s1")! <= 30 * 60_000);
   * ```
   */
  set(key: Key, value: V, options?: SetOptions): this {
    // The hottest write path: the op's body directly, without an args array.
    this.#e.checkState(this.#s);
    ops.setValue(this.#e, this.#s, key, value, options);
    return this;
  }

  /**
   * The entry under `key` with its version — the LSN of the key's last
   * write, for check-and-set with `db.atomic()` — or `undefined`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const d = db.createDict("d");
   * d.set("k", 1);
   * assert.deepEqual(d.getEntry("k"), { key: "k", value: 1, version: db.lsn });
   * assert.equal(d.getEntry("missing"), undefined);
   * ```
   */
  getEntry(key: Key): Entry<V> | undefined {
    return this.#run(ops.dictGetEntry, [this.#s.name, key]) as Entry<V> | undefined;
  }

  /**
   * Adds `by` (default 1) to the number or bigint under `key` and returns
   * the result; a missing key starts at 0 (`0n` for a bigint step), a
   * bigint stays a bigint, and the key keeps its expiry. A stored value
   * that is not a number, or a `by` that is not one → `ValidationError`,
   * nothing changed.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const counters = db.createDict("counters");
   * assert.equal(counters.increment("visits"), 1);
   * assert.equal(counters.increment("visits", 10), 11);
   * assert.equal(counters.increment("big", 2n ** 62n), 2n ** 62n);
   * ```
   */
  increment(key: Key, by: number | bigint = 1): V extends bigint ? bigint : number {
    return this.#run(ops.dictIncrement, [this.#s.name, key, by]) as V extends bigint ? bigint : number;
  }

  /**
   * Makes `key` expire `ms` from now, or never with `null`; returns whether
   * the key exists.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const d = db.createDict("d");
   * d.set("k", 1);
   * assert.equal(d.expire("k", 60_000), true);
   * assert.equal(d.expire("k", null), true);
   * assert.equal(d.ttl("k"), null);
   * assert.equal(d.expire("missing", 1000), false);
   * ```
   */
  expire(key: Key, ms: number | null): boolean {
    return this.#run(ops.dictExpire, [this.#s.name, key, ms]) as boolean;
  }

  /** The milliseconds until `key` expires; `null` when it never does, `undefined` when it is missing. */
  ttl(key: Key): number | null | undefined {
    return this.#run(ops.dictTtl, [this.#s.name, key]) as number | null | undefined;
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
