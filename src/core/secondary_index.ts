/**
 * Secondary indexes on table columns: value → primary keys, kept in step
 * with every row write (and undone with it), optionally unique.
 *
 * Nulls are not indexed: like SQL, a unique index allows many nulls, and
 * `isNull` filters scan. Range filters use the distinct values sorted once
 * and cached until the next write.
 *
 * @module
 */

import { DuplicateKeyError } from "../errors.ts";
import type { TableState } from "./engine.ts";
import { keyOf } from "./query.ts";
import type { StoredRow } from "./schema.ts";
import type { Undo } from "./slot_map.ts";
import { compareValues, quote, type Value } from "./value.ts";

type Pk = string | number;

/**
 * One secondary index over `column`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SecondaryIndex } from "./secondary_index.ts";
 * const ix = new SecondaryIndex("t", "email", true);
 * ix.apply(null, { id: 1, email: "a@x" }, 1, null);
 * assert.deepEqual(ix.lookup("a@x"), [1]);
 * ```
 */
export class SecondaryIndex {
  /** The indexed column. */
  readonly column: string;
  /** Whether two rows may not share a non-null value. */
  readonly unique: boolean;
  #table: string;
  #map = new Map<unknown, Set<Pk>>();
  #values = new Map<unknown, Value>();
  #sorted: unknown[] | null = null;

  /** Creates an empty index; fill it with `apply` for every row. */
  constructor(table: string, column: string, unique: boolean) {
    this.#table = table;
    this.column = column;
    this.unique = unique;
  }

  /** Throws `DuplicateKeyError` if writing `row` under `pk` would break uniqueness. */
  check(row: StoredRow | null, pk: Pk, batch?: Map<unknown, Pk>): void {
    if (!this.unique || row === null) return;
    const v = row[this.column];
    if (v === null) return;
    const k = keyOf(v);
    const holders = this.#map.get(k);
    const other = holders && [...holders].find((p) => p !== pk);
    const inBatch = batch?.get(k);
    if (other !== undefined || (inBatch !== undefined && inBatch !== pk)) {
      throw new DuplicateKeyError(
        `Unique index on ${quote(this.column)} of table ${quote(this.#table)} already has ${quote(v)} (row ${
          quote(other ?? inBatch)
        }): use another value, or drop the index`,
      );
    }
    batch?.set(k, pk);
  }

  /** Moves `pk` from `before`'s value to `after`'s (either may be null: insert / delete). */
  apply(before: StoredRow | null, after: StoredRow | null, pk: Pk, undo: Undo): void {
    const a = before === null ? null : before[this.column];
    const b = after === null ? null : after[this.column];
    if (a !== null && b !== null && keyOf(a) === keyOf(b)) return;
    if (a !== null) this.#remove(keyOf(a), pk);
    if (b !== null) this.#add(keyOf(b), b, pk);
    if (undo) undo.push(() => this.apply(after, before, pk, null));
  }

  #add(k: unknown, v: Value, pk: Pk): void {
    let set = this.#map.get(k);
    if (set === undefined) {
      set = new Set();
      this.#map.set(k, set);
      this.#values.set(k, v);
      this.#sorted = null;
    }
    set.add(pk);
  }

  #remove(k: unknown, pk: Pk): void {
    const set = this.#map.get(k);
    if (set === undefined) return;
    set.delete(pk);
    if (set.size === 0) {
      this.#map.delete(k);
      this.#values.delete(k);
      this.#sorted = null;
    }
  }

  /** The primary keys of rows whose value equals `v`. */
  lookup(v: Value): Pk[] {
    const set = this.#map.get(keyOf(v));
    return set === undefined ? [] : [...set];
  }

  /** The primary keys of rows whose value lies within the bounds. */
  range(lo?: { v: Value; inclusive: boolean }, hi?: { v: Value; inclusive: boolean }): Pk[] {
    const keys = this.#sorted ??= [...this.#values.keys()].sort((x, y) =>
      compareValues(this.#values.get(x)!, this.#values.get(y)!)
    );
    const value = (i: number) => this.#values.get(keys[i])!;
    // First position not below lo, by binary search.
    let start = 0;
    if (lo !== undefined) {
      let l = 0;
      let h = keys.length;
      while (l < h) {
        const m = (l + h) >>> 1;
        const c = compareValues(value(m), lo.v);
        if (c < 0 || (c === 0 && !lo.inclusive)) l = m + 1;
        else h = m;
      }
      start = l;
    }
    const out: Pk[] = [];
    for (let i = start; i < keys.length; i++) {
      if (hi !== undefined) {
        const c = compareValues(value(i), hi.v);
        if (c > 0 || (c === 0 && !hi.inclusive)) break;
      }
      for (const pk of this.#map.get(keys[i])!) out.push(pk);
    }
    return out;
  }

  /** Number of distinct indexed values. */
  get size(): number {
    return this.#map.size;
  }
}

/**
 * Builds an index over a table's current rows (also used by snapshot load).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DuplicateKeyError } from "../errors.ts";
 * import { Engine, type TableState } from "./engine.ts";
 * import { execute } from "../ops/mod.ts";
 * import { buildIndex } from "./secondary_index.ts";
 * const e = new Engine();
 * const columns = [{ name: "id", type: "Int32", primaryKey: true }, { name: "email", type: "Utf8" }];
 * execute(e, "db.createTable", [{ name: "users", columns }]);
 * execute(e, "table.insert", ["users", { id: 1, email: "ada@example.com" }]);
 * const users = e.collections.get("users") as TableState;
 * assert.deepEqual(buildIndex(users, "email", true).lookup("ada@example.com"), [1]);
 * execute(e, "table.insert", ["users", { id: 2, email: "ada@example.com" }]);
 * assert.throws(() => buildIndex(users, "email", true), DuplicateKeyError); // two rows share an email
 * ```
 */
export function buildIndex(t: TableState, column: string, unique: boolean): SecondaryIndex {
  const ix = new SecondaryIndex(t.name, column, unique);
  const batch = unique ? new Map<unknown, string | number>() : undefined;
  t.store.forEach((row, key) => {
    ix.check(row, key, batch);
    ix.apply(null, row, key, null);
  });
  return ix;
}
