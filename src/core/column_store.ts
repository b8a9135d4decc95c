/**
 * A table's rows stored column-wise: one {@linkcode Column} per schema
 * column, a liveness byte per slot, and the primary key → slot map.
 *
 * ```
 *   index: pk → slot         slot:   0   1   2   3
 *                            live:   1   0   1   1      0 = tombstone
 *                            id:    [1 | 2 | 3 | 4 ]    Float64Array
 *                            name:  [0 | 1 | 0 | 2 ]    Int32Array codes → dict ["ann","bo","cy"]
 *                            age:   [30| 41| ? | 7 ]    Int32Array + validity bits (slot 2 null)
 *                            vers:  [5 | 2 | 9 | 9 ]    Float64Array: LSN of each row's last write
 * ```
 *
 * Rows keep their insertion slot, as in {@linkcode SlotMap}: a delete leaves
 * a tombstone that an undo can revive in place, so a rolled-back transaction
 * restores row order exactly. Tombstones are compacted away once they
 * outnumber live rows, never inside a transaction (its undo entries refer to
 * slot numbers). Queries read the columns directly (`query_exec.ts`); the
 * row-object methods serve the CRUD operations.
 *
 * @module
 */

import { Column } from "./column.ts";
import { type CompiledSchema, rowCheckParts, type StoredRow } from "./schema.ts";
import { cursorNext, cursorStart, type Undo } from "./slot_map.ts";
import { rowAt, rowChecker, type RowWriter, rowWriter, slotReader } from "./row_shape.ts";
import { COLUMN_TYPES } from "./column_type.ts";
import type { Value } from "./value.ts";
import { type Pk, PkIndex } from "./pk_index.ts";

const COMPACT_MIN = 64;
const MIN_CAPACITY = 16;

/** Builds the row of a slot from this store's columns (`key`: the key cell, where the builder takes it). */
type ColumnRowAt = (cols: readonly Column[], i: number, key?: Value) => StoredRow;

/**
 * The columns of a table at one instant, as a snapshot captures them: copies
 * that later writes do not touch.
 */
export interface ColumnsCapture {
  /** Slots in use (live or tombstoned). */
  length: number;
  /** Live rows. */
  size: number;
  /** 1 for a live slot. */
  live: Uint8Array;
  /** One per schema column. */
  columns: Column[];
  /** The version (LSN of the last write) of each slot. */
  vers: Float64Array;
}

/**
 * Column-wise row storage with undoable, order-preserving writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSchema } from "./schema.ts";
 * import { ColumnStore } from "./column_store.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * const store = new ColumnStore(s);
 * store.set(1, { id: 1 }, null);
 * assert.deepEqual(store.get(1), { id: 1 });
 * ```
 */
export class ColumnStore {
  readonly #schema: CompiledSchema;
  readonly #rowAt: ColumnRowAt;
  /** Writes a row's cells with named loads, into the arrays directly where it can (see `rowWriter`). */
  readonly #writeRow: RowWriter;
  readonly #rowOut: ColumnRowAt;
  /** `#rowOut` that takes the primary-key cell from the key looked up. */
  readonly #rowOutByKey: ColumnRowAt;
  /** Primary key → slot: dense for small non-negative integer keys (see pk_index.ts). */
  #index = new PkIndex();
  /** Whether the key column holds numbers in a typed array (integer keys), for `#slotOf`. */
  readonly #pkNumeric: boolean;
  #cols: Column[];
  #live: Uint8Array;
  #vers: Float64Array;
  #length = 0;
  #capacity: number;
  #dead = 0;
  #epoch = 0;
  #kept: Int32Array | null = null;

  /** An empty store for a table of `schema`. */
  constructor(schema: CompiledSchema) {
    this.#schema = schema;
    const { names, nullable } = schema;
    const kinds = schema.def.columns.map((c) => COLUMN_TYPES[c.type].storage);
    this.#pkNumeric = kinds[schema.pk] === "num";
    // Generated readers of the column arrays where the runtime allows code
    // generation; otherwise builders that ask each Column for its cells.
    this.#rowAt = slotReader(names, kinds, nullable, false) ?? rowAt(names);
    this.#rowOut = slotReader(names, kinds, nullable, true) ?? rowAt(names, "out");
    this.#rowOutByKey = slotReader(names, kinds, nullable, true, schema.pk) ?? rowAt(names, "out", schema.pk);
    this.#writeRow = rowWriter(names, kinds, nullable);
    // Made here rather than in schema.ts, which the client reaches; at table
    // creation, not module load, because workerd refuses code generation
    // only once requests are served.
    if (schema.rowCheck === undefined) schema.rowCheck = rowChecker(rowCheckParts(schema));
    this.#capacity = MIN_CAPACITY;
    this.#cols = schema.def.columns.map((c, i) => Column.create(c.type, schema.nullable[i], MIN_CAPACITY));
    this.#live = new Uint8Array(MIN_CAPACITY);
    this.#vers = new Float64Array(MIN_CAPACITY);
  }

  /** The number of live rows. */
  get size(): number {
    return this.#index.size;
  }

  /** Slots in use, live or not: queries scan `0 .. length`. */
  get length(): number {
    return this.#length;
  }

  /** The columns, in schema order (read-only use: queries). */
  get columns(): readonly Column[] {
    return this.#cols;
  }

  /** The liveness bytes (1 = a row, 0 = tombstone), valid up to `length`. */
  get live(): Uint8Array {
    return this.#live;
  }

  /** Whether a row has this key. */
  has(key: Pk): boolean {
    return this.#index.has(key);
  }

  /** The slot of `key`, or -1. */
  slotOf(key: Pk): number {
    return this.#index.get(key) ?? -1;
  }

  /** The version (LSN of the last write) of the row under `key`, or `undefined`. */
  versionOf(key: Pk): number | undefined {
    const slot = this.#index.get(key);
    return slot === undefined ? undefined : this.#vers[slot];
  }

  /** The row under `key` as a new object (Binary/Json cells shared), or `undefined`. */
  get(key: Pk): StoredRow | undefined {
    const slot = this.#index.get(key);
    return slot === undefined ? undefined : this.row(slot);
  }

  /**
   * The row under `key` for a caller: a new object with nothing shared, or
   * `undefined`. `key` must be a checked key (`checkPk`): it is the stored
   * key cell, so the row takes it instead of reading the key column.
   */
  getOut(key: Pk): StoredRow | undefined {
    const slot = this.#slotOf(key);
    return slot === -1 ? undefined : this.#rowOutByKey(this.#cols, slot, key);
  }

  /**
   * The slot of `key`, or -1. Rows keyed 0, 1, 2, … inserted in that order
   * sit in the slot equal to their key, and a live slot whose key cell holds
   * `key` is that key's row (keys are unique): checking that first needs
   * only loads that depend on `key` alone, which the CPU issues together
   * with the row's own loads, where the index must be read before anything
   * else can start (random reads of a million rows on JSC: 57 ns per row
   * instead of 92). Any other key, or a slot that does not match, asks the
   * index.
   */
  #slotOf(key: Pk): number {
    if (this.#pkNumeric && typeof key === "number" && key < this.#length && (key | 0) === key && key >= 0) {
      if (this.#live[key] === 1 && (this.#cols[this.#schema.pk].data as Float64Array)[key] === key) return key;
    }
    return this.#index.get(key) ?? -1;
  }

  /** The row in `slot` for a caller: nothing in it is shared with the store. */
  rowOut(slot: number): StoredRow {
    return this.#rowOut(this.#cols, slot);
  }

  /** The row in `slot` as a new object (Binary/Json cells shared). */
  row(slot: number): StoredRow {
    return this.#rowAt(this.#cols, slot);
  }

  #write(slot: number, row: StoredRow): void {
    this.#writeRow(this.#cols, slot, row);
  }

  /**
   * Stores `row` under `key` (an existing key keeps its slot) and returns the
   * previous row or `undefined`.
   */
  set(key: Pk, row: StoredRow, undo: Undo, version = 0): StoredRow | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined) {
      this.#append(key, row, undo, version);
      return undefined;
    }
    const old = this.row(slot);
    const oldVer = this.#vers[slot];
    this.#write(slot, row);
    this.#vers[slot] = version;
    if (undo) {
      undo.push(() => {
        this.#write(slot, old);
        this.#vers[slot] = oldVer;
      });
    }
    return old;
  }

  /** Stores a row under a new `key` with `version`; `false` (nothing changed) when it exists. */
  add(key: Pk, row: StoredRow, undo: Undo, version = 0): boolean {
    if (this.#index.has(key)) return false;
    this.#append(key, row, undo, version);
    return true;
  }

  /** Appends a row given as cells in schema order (snapshot load: no row object). */
  appendCells(cells: readonly Value[], version = 0): void {
    const at = this.#reserve();
    const cols = this.#cols;
    for (let c = 0; c < cols.length; c++) cols[c].put(at, cells[c]);
    this.#live[at] = 1;
    this.#vers[at] = version;
    this.#index.set(cells[this.#schema.pk] as Pk, at);
  }

  #reserve(): number {
    const at = this.#length;
    if (at === this.#capacity) {
      const capacity = this.#capacity * 2;
      for (const c of this.#cols) c.grow(capacity);
      const live = new Uint8Array(capacity);
      live.set(this.#live);
      this.#live = live;
      const vers = new Float64Array(capacity);
      vers.set(this.#vers);
      this.#vers = vers;
      this.#capacity = capacity;
    }
    this.#length = at + 1;
    return at;
  }

  #append(key: Pk, row: StoredRow, undo: Undo, version: number): void {
    const at = this.#reserve();
    this.#write(at, row);
    this.#live[at] = 1;
    this.#vers[at] = version;
    this.#index.set(key, at);
    if (undo) {
      undo.push(() => {
        this.#index.delete(key);
        this.#live[at] = 0;
        this.#length = at;
      });
    }
  }

  /** Removes the row under `key`; returns it, or `undefined` when absent. */
  delete(key: Pk, undo: Undo): StoredRow | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined) return undefined;
    const old = this.row(slot);
    this.#live[slot] = 0;
    this.#index.delete(key);
    this.#dead++;
    if (undo) {
      undo.push(() => {
        this.#live[slot] = 1;
        this.#index.set(key, slot);
        this.#dead--;
      });
    } else if (slot === this.#length - 1) {
      // Trim trailing tombstones so that deleting the newest rows stays O(1).
      let n = this.#length;
      while (n > 0 && this.#live[n - 1] === 0) n--;
      this.#dead -= this.#length - n;
      this.#length = n;
    } else this.#maybeCompact();
    return old;
  }

  /** Live rows in insertion order, as caller-owned copies. */
  *values(): IterableIterator<StoredRow> {
    for (let i = 0; i < this.#length; i++) if (this.#live[i] === 1) yield this.rowOut(i);
  }

  /** Calls `fn` for every live row in insertion order. */
  forEach(fn: (row: StoredRow, key: Pk) => void): void {
    const pk = this.#schema.names[this.#schema.pk];
    for (let i = 0; i < this.#length; i++) {
      if (this.#live[i] !== 1) continue;
      const row = this.row(i);
      fn(row, row[pk] as Pk);
    }
  }

  /**
   * Copies of the columns and liveness bytes: a consistent view of this
   * moment for a snapshot, at the cost of a memcpy per column.
   */
  capture(): ColumnsCapture {
    const n = this.#length;
    return {
      length: n,
      size: this.size,
      live: this.#live.slice(0, n),
      columns: this.#cols.map((c) => c.gather(null, n, Math.max(n, 1))),
      vers: this.#vers.slice(0, n),
    };
  }

  #maybeCompact(): void {
    if (this.#dead < COMPACT_MIN || this.#dead < this.#index.size) return;
    const kept = new Int32Array(this.#index.size);
    for (let i = 0, j = 0; i < this.#length; i++) if (this.#live[i] === 1) kept[j++] = i;
    const capacity = Math.max(MIN_CAPACITY, kept.length * 2);
    // New columns rather than in-place moves: a running iterator keeps
    // reading the old ones and so never sees a row twice or skips one.
    this.#cols = this.#cols.map((c) => c.gather(kept, kept.length, capacity));
    const live = new Uint8Array(capacity);
    live.fill(1, 0, kept.length);
    this.#live = live;
    const vers = new Float64Array(capacity);
    for (let j = 0; j < kept.length; j++) vers[j] = this.#vers[kept[j]];
    this.#vers = vers;
    this.#capacity = capacity;
    this.#length = kept.length;
    const pk = this.#cols[this.#schema.pk];
    const index = new PkIndex();
    for (let j = 0; j < kept.length; j++) index.set(pk.get(j) as Pk, j);
    this.#index = index;
    this.#kept = kept;
    this.#epoch++;
    this.#dead = 0;
  }

  /** One page of a cursor scan in insertion order, as caller-owned copies (see `SlotMap.scan`). */
  scan(cursor: number, count: number): { next: number | null; rows: StoredRow[] } {
    const rows: StoredRow[] = [];
    let i = cursorStart(cursor, this.#epoch, this.#kept);
    for (; i < this.#length && rows.length < count; i++) if (this.#live[i] === 1) rows.push(this.rowOut(i));
    return { next: cursorNext(i, this.#length, this.#epoch), rows };
  }
}
