/**
 * What each column type is, in one table: the schema checks, the column
 * store, the query compiler and the Arrow export all read it, so that a
 * column type is described once.
 *
 * ```
 *  type            storage  array          native  range (integers)   key  numeric  ordered
 *  Int8..Int32     num      Int8..32Array  yes     -2^(n-1)..2^(n-1)-1 yes  yes      yes
 *  UInt8..UInt32   num      Uint8..32Array yes     0..2^n-1            yes  yes      yes
 *  Int64           num      Float64Array   no      ±(2^53-1)           yes  yes      yes
 *  UInt64          num      Float64Array   no      0..2^53-1           yes  yes      yes
 *  Float32/64      num      Float32/64Arr. yes     -                   no   yes      yes
 *  Boolean         bool     Uint8Array     no      -                   no   no       yes
 *  Date, Datetime  date     Float64Array   no      -                   no   no       yes
 *  Utf8, String    dict     Int32Array     no      -                   yes  no       yes
 *  Binary, Json    obj      -              no      -                   no   no       no
 * ```
 *
 * @module
 */

import type { ColumnType } from "./schema.ts";

/** A typed array that holds the cells of a fixed-width column. */
export type CellArray =
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** The facts about one column type. */
export interface ColumnTypeFacts {
  /**
   * How a column stores its cells (see `column.ts`): numbers, booleans and
   * dates in a typed array, strings dictionary-coded (until the dictionary
   * stops paying), Binary and Json as values in a plain array.
   */
  readonly storage: "num" | "bool" | "date" | "dict" | "obj";
  /** The typed array a column keeps its cells (or, for `dict`, their codes) in; `null` for `obj`. */
  readonly array: (new (length: number) => CellArray) | null;
  /**
   * Whether `array` holds the values at the type's own width, so that it is
   * the Arrow buffer of that type as it is (Int64 is kept in a Float64Array:
   * not native).
   */
  readonly native: boolean;
  /** An integer type's smallest and largest value (Int64 and UInt64: the safe integers); `null` otherwise. */
  readonly range: readonly [min: number, max: number] | null;
  /** Whether it may be a table's primary key (integers and strings). */
  readonly key: boolean;
  /** Whether `sum` and `mean` apply. */
  readonly numeric: boolean;
  /** Whether values have an order: `<`, `between`, `orderBy`, `min` and `max` apply. */
  readonly ordered: boolean;
}

function int(array: new (length: number) => CellArray, native: boolean, min: number, max: number): ColumnTypeFacts {
  return { storage: "num", array, native, range: [min, max], key: true, numeric: true, ordered: true };
}

function float(array: new (length: number) => CellArray): ColumnTypeFacts {
  return { storage: "num", array, native: true, range: null, key: false, numeric: true, ordered: true };
}

const date: ColumnTypeFacts = {
  storage: "date",
  array: Float64Array,
  native: false,
  range: null,
  key: false,
  numeric: false,
  ordered: true,
};

const string: ColumnTypeFacts = {
  storage: "dict",
  array: Int32Array,
  native: false,
  range: null,
  key: true,
  numeric: false,
  ordered: true,
};

const object: ColumnTypeFacts = {
  storage: "obj",
  array: null,
  native: false,
  range: null,
  key: false,
  numeric: false,
  ordered: false,
};

/**
 * Every column type and its facts (`String` is `Utf8` under another name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COLUMN_TYPES } from "./column_type.ts";
 * assert.deepEqual(COLUMN_TYPES.Int16.range, [-32768, 32767]);
 * assert.equal(COLUMN_TYPES.Json.ordered, false);
 * ```
 */
export const COLUMN_TYPES: { readonly [T in ColumnType]: ColumnTypeFacts } = {
  Int8: int(Int8Array, true, -128, 127),
  Int16: int(Int16Array, true, -32768, 32767),
  Int32: int(Int32Array, true, -2147483648, 2147483647),
  Int64: int(Float64Array, false, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  UInt8: int(Uint8Array, true, 0, 255),
  UInt16: int(Uint16Array, true, 0, 65535),
  UInt32: int(Uint32Array, true, 0, 4294967295),
  UInt64: int(Float64Array, false, 0, Number.MAX_SAFE_INTEGER),
  Float32: float(Float32Array),
  Float64: float(Float64Array),
  Boolean: { ...object, storage: "bool", array: Uint8Array, ordered: true },
  Utf8: string,
  String: string,
  Binary: object,
  Date: date,
  Datetime: date,
  Json: object,
};

/** Whether `type` names a column type (an own key of the table, not an inherited one). */
export function isColumnType(type: unknown): type is ColumnType {
  return typeof type === "string" && Object.hasOwn(COLUMN_TYPES, type);
}
