/**
 * One table column stored as a typed array (or, for values that have no
 * fixed width, a plain array), with a validity bitmap when it is nullable.
 *
 * ```
 *  type                          data                      get(i)
 *  Int8..UInt32, Float32/64      Int8Array..Float64Array   data[i]
 *  Int64, UInt64                 Float64Array              data[i] (exact: |v| < 2^53)
 *  Boolean                       Uint8Array (0/1)          data[i] === 1
 *  Date, Datetime                Float64Array (epoch ms)   new Date(data[i])
 *  Utf8 (few distinct values)    Int32Array codes + dict   dict[data[i]]
 *  Utf8 (many distinct values)   string[]                  data[i]
 *  Binary, Json                  Value[] (never mutated)   data[i]
 *
 *  valid (nullable columns only): bit i of byte i >> 3, 1 = a value, 0 = null
 * ```
 *
 * A Utf8 column starts dictionary-coded — a query then compares small
 * integers and groups by array index — and turns into a plain string array
 * once its dictionary stops paying for itself: more than {@linkcode DICT_MAX}
 * entries and more than half the rows, or — decided early, at
 * {@linkcode DICT_PROBE} entries — when nearly every row so far (more than
 * 7 in 8) brought a new value, as names, e-mails and ids do. Such a column
 * would only ever pay a Map insert per row (a third of a bulk insert's time
 * on Bun, measured) to build a dictionary as large as the column.
 *
 * @module
 */

import { type CellArray, COLUMN_TYPES } from "./column_type.ts";
import type { ColumnType } from "./schema.ts";
import { cloneOut, type Value } from "./value.ts";

/** How a column stores its cells. */
export type ColumnKind = "num" | "bool" | "date" | "dict" | "str" | "obj";

type Numeric = CellArray;

type NumericCtor = { new (n: number): Numeric };

/** Dictionary entries beyond which a Utf8 column may turn plain. */
export const DICT_MAX = 1 << 16;

/**
 * Dictionary entries at which a Utf8 column whose values are nearly all
 * distinct (more than 7 in 8 rows) turns plain at once.
 */
export const DICT_PROBE = 1 << 10;

/**
 * One column's cells.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Column } from "./column.ts";
 * const c = Column.create("Int32", true, 4);
 * c.put(0, 7);
 * c.put(1, null);
 * assert.deepEqual([c.get(0), c.get(1)], [7, null]);
 * ```
 */
export class Column {
  /** How cells are stored. */
  kind: ColumnKind;
  /** The cells: a typed array, or a plain array for `str` and `obj`. */
  data: Numeric | (Value | undefined)[];
  /** Validity bitmap, or `null` for a non-nullable column (every cell valid). */
  valid: Uint8Array | null;
  /** Code → string for `dict` columns. */
  dict: string[] | null;
  /** String → code for `dict` columns. */
  codes: Map<string, number> | null;
  #ctor: NumericCtor | null;

  private constructor(
    kind: ColumnKind,
    data: Numeric | (Value | undefined)[],
    valid: Uint8Array | null,
    dict: string[] | null,
    ctor: NumericCtor | null,
  ) {
    this.kind = kind;
    this.data = data;
    this.valid = valid;
    this.dict = dict;
    this.codes = dict === null ? null : new Map(dict.map((s, i) => [s, i]));
    this.#ctor = ctor;
  }

  /** An empty column of a schema type with room for `capacity` cells. */
  static create(type: ColumnType, nullable: boolean, capacity: number): Column {
    const valid = nullable ? new Uint8Array((capacity + 7) >> 3) : null;
    const { storage, array } = COLUMN_TYPES[type];
    if (array === null) return new Column("obj", [], valid, null, null);
    return new Column(storage, new array(capacity), valid, storage === "dict" ? [] : null, array);
  }

  /** Whether cell `i` holds a value (not null). */
  has(i: number): boolean {
    const v = this.valid;
    return v === null || (v[i >> 3] & (1 << (i & 7))) !== 0;
  }

  /** The value of cell `i` (a fresh Date for date columns; shared objects for Binary/Json). */
  get(i: number): Value {
    if (!this.has(i)) return null;
    switch (this.kind) {
      case "num":
        return (this.data as Numeric)[i];
      case "bool":
        return (this.data as Numeric)[i] === 1;
      case "date":
        return new Date((this.data as Numeric)[i]);
      case "dict":
        return this.dict![(this.data as Numeric)[i]];
      default:
        return (this.data as Value[])[i];
    }
  }

  /**
   * The values of the cells at `slots` (nulls included), in that order: one
   * loop per storage kind, so a query's answer is gathered column by column.
   * `copy` copies Binary/Json values out (they are shared otherwise).
   */
  values(slots: Int32Array, copy: (v: Value) => Value): Value[] {
    const n = slots.length;
    const out: Value[] = new Array(n);
    const d = this.data;
    switch (this.kind) {
      case "num": {
        const a = d as Numeric;
        for (let j = 0; j < n; j++) out[j] = a[slots[j]];
        break;
      }
      case "bool": {
        const a = d as Numeric;
        for (let j = 0; j < n; j++) out[j] = a[slots[j]] === 1;
        break;
      }
      case "date": {
        const a = d as Numeric;
        for (let j = 0; j < n; j++) out[j] = new Date(a[slots[j]]);
        break;
      }
      case "dict": {
        const a = d as Int32Array;
        const dict = this.dict!;
        for (let j = 0; j < n; j++) out[j] = dict[a[slots[j]]];
        break;
      }
      case "str": {
        const a = d as Value[];
        for (let j = 0; j < n; j++) out[j] = a[slots[j]];
        break;
      }
      default: {
        const a = d as Value[];
        for (let j = 0; j < n; j++) out[j] = a[slots[j]] === undefined ? null : copy(a[slots[j]]);
      }
    }
    const valid = this.valid;
    if (valid !== null) {
      for (let j = 0; j < n; j++) {
        const i = slots[j];
        if ((valid[i >> 3] & (1 << (i & 7))) === 0) out[j] = null;
      }
    }
    return out;
  }

  /** Like `get`, with Binary/Json values copied: what a caller may own. */
  out(i: number): Value {
    return this.kind === "obj" ? cloneOut(this.get(i)) : this.get(i);
  }

  /** Stores a checked cell value at `i` (which must be below the capacity). */
  put(i: number, v: Value): void {
    const valid = this.valid;
    if (v === null) {
      // A non-nullable column never gets null: the schema check refused it.
      valid![i >> 3] &= ~(1 << (i & 7));
      if (this.kind === "str" || this.kind === "obj") (this.data as (Value | undefined)[])[i] = undefined;
      return;
    }
    if (valid !== null) valid[i >> 3] |= 1 << (i & 7);
    switch (this.kind) {
      case "num":
        (this.data as Numeric)[i] = v as number;
        return;
      case "bool":
        (this.data as Numeric)[i] = v ? 1 : 0;
        return;
      case "date":
        (this.data as Numeric)[i] = (v as Date).getTime();
        return;
      case "dict": {
        let code = this.codes!.get(v as string);
        if (code === undefined) {
          const n = this.dict!.length;
          if ((n >= DICT_MAX && n * 2 > i) || (n === DICT_PROBE && n * 8 > i * 7)) {
            this.#unpack();
            (this.data as Value[])[i] = v;
            return;
          }
          code = this.dict!.length;
          this.dict!.push(v as string);
          this.codes!.set(v as string, code);
        }
        (this.data as Numeric)[i] = code;
        return;
      }
      default:
        (this.data as Value[])[i] = v;
    }
  }

  /** Turns a dictionary column into a plain string array. */
  #unpack(): void {
    const codes = this.data as Int32Array;
    const dict = this.dict!;
    const out: (string | undefined)[] = new Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = this.has(i) ? dict[codes[i]] : undefined;
    this.kind = "str";
    this.data = out;
    this.dict = null;
    this.codes = null;
    this.#ctor = null;
  }

  /** Grows the storage to hold `capacity` cells. */
  grow(capacity: number): void {
    if (this.#ctor !== null) {
      const next = new this.#ctor(capacity);
      next.set(this.data as Numeric);
      this.data = next;
    }
    if (this.valid !== null) {
      const next = new Uint8Array((capacity + 7) >> 3);
      next.set(this.valid);
      this.valid = next;
    }
  }

  /**
   * A new column holding the cells at `slots`, in that order: used by
   * compaction (which also drops unused dictionary entries) and by snapshot
   * capture (a copy writers can no longer change).
   */
  gather(slots: Int32Array | null, length: number, capacity: number): Column {
    const n = slots === null ? length : slots.length;
    const at = (j: number) => (slots === null ? j : slots[j]);
    let valid: Uint8Array | null = null;
    if (this.valid !== null) {
      if (slots === null && capacity === n) valid = this.valid.slice(0, (n + 7) >> 3);
      else valid = new Uint8Array((capacity + 7) >> 3);
      if (slots === null) valid.set(this.valid.subarray(0, (n + 7) >> 3));
      else for (let j = 0; j < n; j++) if (this.has(at(j))) valid[j >> 3] |= 1 << (j & 7);
    }
    if (this.#ctor === null) {
      const src = this.data as Value[];
      if (slots === null) return new Column(this.kind, src.slice(0, n), valid, null, null);
      const data: (Value | undefined)[] = new Array(n);
      for (let j = 0; j < n; j++) data[j] = src[at(j)];
      return new Column(this.kind, data, valid, null, null);
    }
    const src = this.data as Numeric;
    let data: Numeric;
    if (slots === null && capacity === n) data = src.slice(0, n);
    else {
      data = new this.#ctor(capacity);
      if (slots === null) data.set(src.subarray(0, n));
      else for (let j = 0; j < n; j++) data[j] = src[at(j)];
    }
    if (this.kind !== "dict") return new Column(this.kind, data, valid, null, this.#ctor);
    if (slots === null) return new Column("dict", data, valid, this.dict!.slice(), Int32Array);
    // Re-code with only the strings still in use, in first-use order.
    const remap = new Int32Array(this.dict!.length).fill(-1);
    const dict: string[] = [];
    const probe = new Column("dict", data, valid, null, null);
    for (let j = 0; j < n; j++) {
      if (!probe.has(j)) continue;
      const old = data[j];
      if (remap[old] === -1) {
        remap[old] = dict.length;
        dict.push(this.dict![old]);
      }
      data[j] = remap[old];
    }
    return new Column("dict", data, valid, dict, Int32Array);
  }
}
