/**
 * An insertion-ordered map whose deletes can be undone in place.
 *
 * A JavaScript `Map` forgets where a deleted key stood, so rolling back a
 * transaction that deleted a key would move it to the end. Dicts and tables
 * promise insertion order (`popItem`, `rows()`), and a rolled-back
 * transaction must leave them exactly as they were, so entries live in
 * slots and a delete leaves a tombstone that an undo can fill again.
 * Tombstones are compacted away once they outnumber live entries, but never
 * inside a transaction, whose undo entries refer to slot numbers.
 *
 * ```
 *   index: Map<key, slot>        keys:  [ "a" | ∅ | "c" | "d" ]
 *                                vals:  [  1  | ∅ |  3  |  4  ]
 *                                            ^ tombstone (deleted "b")
 * ```
 *
 * @module
 */

/** Undo entries of the running transaction, or `null` outside one. */
export type Undo = Array<() => void> | null;

const COMPACT_MIN = 64;

/**
 * An insertion-ordered map with undoable, order-preserving deletes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SlotMap } from "./slot_map.ts";
 * const m = new SlotMap<string, number>();
 * m.set("a", 1, null);
 * assert.equal(m.get("a"), 1);
 * ```
 */
export class SlotMap<K, V> {
  #index = new Map<K, number>();
  #keys: (K | undefined)[] = [];
  #vals: (V | undefined)[] = [];
  #dead = 0;
  /** Bumped by every compaction; scan cursors carry it. */
  #epoch = 0;
  /** The old slots the last compaction kept, ascending: maps an old cursor to a new slot. */
  #kept: Int32Array | null = null;

  /** The number of live entries. */
  get size(): number {
    return this.#index.size;
  }

  /** The value stored under `key`, or `undefined`. */
  get(key: K): V | undefined {
    const slot = this.#index.get(key);
    return slot === undefined ? undefined : this.#vals[slot];
  }

  /** The slot of `key` (its insertion rank among all slots), or -1. */
  slotOf(key: K): number {
    return this.#index.get(key) ?? -1;
  }

  /** Whether `key` is present. */
  has(key: K): boolean {
    return this.#index.has(key);
  }

  /**
   * Stores `value` under `key` (an existing key keeps its position) and
   * returns the previous value or `undefined`.
   */
  set(key: K, value: V, undo: Undo): V | undefined {
    const slot = this.#index.get(key);
    if (slot !== undefined) {
      const vals = this.#vals;
      const old = vals[slot];
      vals[slot] = value;
      if (undo) undo.push(() => void (vals[slot] = old));
      return old;
    }
    this.#append(key, value, undo);
    return undefined;
  }

  #append(key: K, value: V, undo: Undo): void {
    const at = this.#keys.length;
    this.#keys.push(key);
    this.#vals.push(value);
    this.#index.set(key, at);
    if (undo) {
      undo.push(() => {
        this.#index.delete(key);
        this.#keys.length = at;
        this.#vals.length = at;
      });
    }
  }

  /** Stores `value` under a new `key`; returns `false` (and changes nothing) when it exists. */
  add(key: K, value: V, undo: Undo): boolean {
    if (this.#index.has(key)) return false;
    this.#append(key, value, undo);
    return true;
  }

  /** Removes `key`; returns the removed value or `undefined` when absent. */
  delete(key: K, undo: Undo): V | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined) return undefined;
    const keys = this.#keys;
    const vals = this.#vals;
    const old = vals[slot];
    keys[slot] = undefined;
    vals[slot] = undefined;
    this.#index.delete(key);
    this.#dead++;
    if (undo) {
      undo.push(() => {
        keys[slot] = key;
        vals[slot] = old;
        this.#index.set(key, slot);
        this.#dead--;
      });
    } else if (slot === keys.length - 1) {
      // Trim trailing tombstones so that repeated popItem() stays O(1).
      let n = keys.length;
      while (n > 0 && vals[n - 1] === undefined) n--;
      this.#dead -= keys.length - n;
      keys.length = n;
      vals.length = n;
    } else this.#maybeCompact();
    return old;
  }

  /** The last live entry in insertion order, or `undefined` when empty. */
  last(): [K, V] | undefined {
    const keys = this.#keys;
    for (let i = keys.length - 1; i >= 0; i--) {
      if (this.#vals[i] !== undefined) return [keys[i] as K, this.#vals[i] as V];
    }
    return undefined;
  }

  /** Removes every entry. */
  clear(undo: Undo): void {
    const index = this.#index;
    const keys = this.#keys;
    const vals = this.#vals;
    const dead = this.#dead;
    this.#index = new Map();
    this.#keys = [];
    this.#vals = [];
    this.#dead = 0;
    if (undo) {
      undo.push(() => {
        this.#index = index;
        this.#keys = keys;
        this.#vals = vals;
        this.#dead = dead;
      });
    }
  }

  /** Live keys in insertion order. */
  *keys(): IterableIterator<K> {
    const keys = this.#keys;
    const vals = this.#vals;
    for (let i = 0; i < keys.length; i++) if (vals[i] !== undefined) yield keys[i] as K;
  }

  /** Live values in insertion order. */
  *values(): IterableIterator<V> {
    const vals = this.#vals;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) yield v;
    }
  }

  /** Live entries in insertion order. */
  *entries(): IterableIterator<[K, V]> {
    const keys = this.#keys;
    const vals = this.#vals;
    for (let i = 0; i < keys.length; i++) {
      const v = vals[i];
      if (v !== undefined) yield [keys[i] as K, v];
    }
  }

  /** Calls `fn` for every live entry in insertion order (faster than iterating). */
  forEach(fn: (value: V, key: K) => void): void {
    const keys = this.#keys;
    const vals = this.#vals;
    for (let i = 0; i < keys.length; i++) {
      const v = vals[i];
      if (v !== undefined) fn(v, keys[i] as K);
    }
  }

  /**
   * Copies of the slot arrays (tombstones are `undefined` values): a
   * consistent view of this moment at the cost of a memcpy, because stored
   * values are never changed in place — every write replaces them.
   */
  capture(): { keys: (K | undefined)[]; vals: (V | undefined)[] } {
    return { keys: this.#keys.slice(), vals: this.#vals.slice() };
  }

  /** Compacts tombstones now if there are many; called after a transaction ends. */
  settle(): void {
    this.#maybeCompact();
  }

  #maybeCompact(): void {
    if (this.#dead < COMPACT_MIN || this.#dead < this.#index.size) return;
    // New arrays rather than in-place moves: a running iterator keeps walking
    // the old ones and so never sees an entry twice or skips one.
    const keys: K[] = [];
    const vals: V[] = [];
    const index = new Map<K, number>();
    const oldKeys = this.#keys;
    const oldVals = this.#vals;
    for (let i = 0; i < oldKeys.length; i++) {
      const v = oldVals[i];
      if (v === undefined) continue;
      index.set(oldKeys[i] as K, keys.length);
      keys.push(oldKeys[i] as K);
      vals.push(v);
    }
    const kept = new Int32Array(keys.length);
    for (let i = 0, j = 0; i < oldKeys.length; i++) if (oldVals[i] !== undefined) kept[j++] = i;
    this.#kept = kept;
    this.#epoch++;
    this.#keys = keys;
    this.#vals = vals;
    this.#index = index;
    this.#dead = 0;
  }

  /**
   * One page of a cursor scan in insertion order: up to `count` live
   * entries from `cursor` (0 to start), and the cursor of the next page or
   * `null` at the end. As with Redis's SCAN, an entry present for the whole
   * scan is returned at least once and entries added meanwhile may or may
   * not be; a cursor outlives one compaction exactly, and restarts (so may
   * repeat entries) after two.
   */
  scan(cursor: number, count: number): { next: number | null; entries: [K, V][] } {
    const from = cursorStart(cursor, this.#epoch, this.#kept);
    const keys = this.#keys;
    const vals = this.#vals;
    const entries: [K, V][] = [];
    let i = from;
    for (; i < keys.length && entries.length < count; i++) {
      const v = vals[i];
      if (v !== undefined) entries.push([keys[i] as K, v]);
    }
    return { next: cursorNext(i, keys.length, this.#epoch), entries };
  }
}

/**
 * The slot a scan cursor resumes at. A cursor is `epoch * 2^32 + slot`
 * (both fit a safe integer for 2^20 compactions); one from the epoch before
 * the last compaction is mapped through the slots that compaction `kept`
 * (ascending old slots), an older one restarts at 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cursorStart } from "./slot_map.ts";
 * assert.equal(cursorStart(5, 0, null), 5);
 * ```
 */
export function cursorStart(cursor: number, epoch: number, kept: Int32Array | null): number {
  const from = cursor % 2 ** 32;
  const at = Math.floor(cursor / 2 ** 32);
  if (at === epoch % 2 ** 20) return from;
  if (kept === null || at !== (epoch - 1) % 2 ** 20) return 0;
  let lo = 0;
  let hi = kept.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (kept[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The cursor of the page after one that stopped at slot `i`, or `null` at the end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cursorNext } from "./slot_map.ts";
 * assert.equal(cursorNext(10, 10, 0), null);
 * ```
 */
export function cursorNext(i: number, length: number, epoch: number): number | null {
  return i >= length ? null : (epoch % 2 ** 20) * 2 ** 32 + i;
}
