/**
 * A table's primary key → slot map.
 *
 * Most tables are keyed by small non-negative integers (ids 0, 1, 2, …).
 * For those keys a `Map` probe costs two or three dependent memory reads
 * (bucket, entry, then the slot), which at a million rows are three cache
 * misses per lookup. A dense array indexed by the key costs one, which is
 * how LokiJS's unique index is fast (its plain object keyed by integers is
 * stored by V8 and JSC as array elements). So such keys live in an
 * `Int32Array` holding `slot + 1` (0 = absent); every other key — a string,
 * a negative or fractional number, or one far beyond the keys so far — lives
 * in a `Map`. A key lives in exactly one of the two.
 *
 * ```
 *   dense: Int32Array, by key    [ 1 | 2 | 0 | 4 | 0 | … ]   slot + 1; 0 = absent
 *                                  k=0 k=1 k=2 k=3
 *   other: Map<key, slot>        { "x" → 2, -5 → 5, 1e9 → 6 }
 * ```
 *
 * The dense array grows only while it stays at most about twice as long as
 * the number of entries (plus a floor), so a table holding id 1 and id 10⁹
 * does not allocate 4 GB: the second key goes to the `Map`.
 *
 * @module
 */

/** A primary-key value: a number (integer columns) or a string (Utf8 columns). */
export type Pk = string | number;

/** Dense length always allowed, whatever the entry count (4 KiB of Int32Array per 1024). */
const DENSE_FLOOR = 1024;

/**
 * Primary key → slot, dense for small non-negative integer keys.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PkIndex } from "./pk_index.ts";
 * const ix = new PkIndex();
 * ix.set(0, 0);
 * ix.set("a", 1);
 * ix.set(2 ** 40, 2); // far beyond the dense range: kept in the Map
 * assert.deepEqual([ix.get(0), ix.get("a"), ix.get(2 ** 40), ix.get(1)], [0, 1, 2, undefined]);
 * assert.equal(ix.size, 3);
 * ```
 */
export class PkIndex {
  #dense: Int32Array | null = null;
  #other: Map<Pk, number> | null = null;
  #size = 0;

  /** The number of keys. */
  get size(): number {
    return this.#size;
  }

  /** The slot of `key`, or `undefined`. Any value may be asked for: a non-key finds nothing. */
  get(key: Pk): number | undefined {
    const dense = this.#dense;
    // (key | 0) === key: a number that is an int32 (-0 included, as 0); >= 0 and < length: in range.
    if (dense !== null && typeof key === "number" && (key | 0) === key && key >= 0 && key < dense.length) {
      const s = dense[key];
      if (s !== 0) return s - 1;
    }
    // A dense-range key may still be in the Map: it came before the array grew to reach it.
    return this.#other === null ? undefined : this.#other.get(key);
  }

  /** Whether `key` is present. */
  has(key: Pk): boolean {
    return this.get(key) !== undefined;
  }

  /** Stores `slot` under `key`, which must not be present yet (the store checks first). */
  set(key: Pk, slot: number): void {
    if (typeof key === "number" && (key | 0) === key && key >= 0 && this.#fits(key)) {
      this.#dense![key] = slot + 1;
    } else (this.#other ??= new Map()).set(key, slot);
    this.#size++;
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: Pk): boolean {
    const dense = this.#dense;
    if (dense !== null && typeof key === "number" && (key | 0) === key && key >= 0 && key < dense.length) {
      if (dense[key] !== 0) {
        dense[key] = 0;
        this.#size--;
        return true;
      }
    }
    if (this.#other !== null && this.#other.delete(key)) {
      this.#size--;
      return true;
    }
    return false;
  }

  /** Whether the dense array holds (or can grow to hold) the non-negative int32 `key`. */
  #fits(key: number): boolean {
    const dense = this.#dense;
    if (dense !== null && key < dense.length) return true;
    const limit = Math.max(DENSE_FLOOR, 2 * (this.#size + 1));
    if (key >= limit) return false;
    let length = dense === null ? 16 : dense.length;
    while (length <= key) length *= 2;
    const next = new Int32Array(Math.min(length, Math.max(limit, key + 1)));
    if (dense !== null) next.set(dense);
    this.#dense = next;
    return true;
  }
}
