/**
 * Arrow export: a table, or the answer of a declarative query, as an
 * `apache-arrow` Table or as Arrow IPC stream bytes — the `to_dataframe()`
 * of this world, read directly by DuckDB, Polars, pandas (pyarrow) and
 * Arrow JS. Reached through the `@cyberdb/core/arrow` entry point only, so
 * that `mod.ts` stays free of apache-arrow (large) and edge-friendly.
 *
 * Type mapping (each field also carries metadata `cyberdb.type` = the
 * column type it came from):
 *
 * ```
 *  column type        Arrow type                   JS value read back (apache-arrow)
 *  Int8 Int16 Int32   Int8 Int16 Int32             number
 *  UInt8 UInt16 UInt32 Uint8 Uint16 Uint32         number
 *  Int64 / UInt64     Int64 / Uint64 (64-bit)      bigint — exact: columns hold safe integers only
 *  Float32 / Float64  Float32 / Float64            number (NaN, ±Infinity, -0 kept)
 *  Boolean            Bool                         boolean
 *  Utf8 (String)      Utf8                         string
 *  Binary             Binary                       Uint8Array
 *  Date               Date (milliseconds, Date64)  number: ms since the epoch, time of day kept
 *  Datetime           Timestamp (ms, no timezone)  number: ms since the epoch (UTC)
 *  Json               Utf8 holding JSON text       string; values JSON cannot carry are tagged
 *                                                  objects: {"$bigint":"9"} {"$bytes":"<base64>"}
 *                                                  {"$date":"<ISO>"} {"$num":"NaN"|"Infinity"|"-0"}
 *                                                  {"$obj":{...}} (a one-key "$…" object, escaped);
 *                                                  fromArrowJson() decodes them
 *  nullable: true     nullable field (validity bitmap); other fields are non-nullable
 * ```
 *
 * A grouped query's aggregates map to: `count`, `countDistinct` → Int64 (not
 * null); `sum` → Float64 (not null; 0 for no values); `mean` → Float64
 * (nullable); `min`, `max` → the column's own type (nullable).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { fromArrowJson, toArrow, toArrowIPC } from "@cyberdb/core/arrow";
 * const db = await Database.open();
 * const t = db.createTable({ name: "p", columns: [
 *   { name: "id", type: "Int64", primaryKey: true },
 *   { name: "age", type: "Int32", nullable: true },
 *   { name: "tags", type: "Json" },
 * ] } as const);
 * t.insertMany([{ id: 1, age: 20, tags: { n: 1n } }, { id: 2, age: null, tags: [] }]);
 * const table = toArrow(t);
 * assert.equal(table.numRows, 2);
 * assert.deepEqual(table.schema.fields.map((f) => [String(f.type), f.nullable]), [
 *   ["Int64", false],
 *   ["Int32", true],
 *   ["Utf8", false],
 * ]);
 * assert.equal(table.schema.fields[2].metadata.get("cyberdb.type"), "Json");
 * assert.deepEqual(table.getChild("id")?.toArray(), new BigInt64Array([1n, 2n])); // Int64: bigint
 * assert.deepEqual(fromArrowJson(table.getChild("tags")?.get(0)), { n: 1n });
 * const bytes = toArrowIPC(t, { where: { column: "age", op: ">", value: 10 } });
 * assert.ok(bytes instanceof Uint8Array);
 * ```
 *
 * @module
 */

import {
  Binary,
  Bool,
  type Data,
  type DataType,
  DateMillisecond,
  Field,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table as ArrowTable,
  tableToIPC,
  TimestampMillisecond,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
} from "apache-arrow";
import { TooLargeError, ValidationError } from "../errors.ts";
import type { Columns, Query } from "../core/query.ts";
import type { ColumnType, TableSchema } from "../core/schema.ts";
import { COLUMN_TYPES } from "../core/column_type.ts";
import type { Table } from "../api/table.ts";
import { quote, type Value } from "../core/value.ts";
import { fromJsonValue, toJsonValue } from "../wire/json.ts";

/** Options of {@linkcode toArrow} and {@linkcode toArrowIPC}. */
export interface ArrowOptions {
  /**
   * Rows per record batch (default 65 536). The table has
   * `ceil(rows / batchRows)` batches (one, empty, for no rows); each batch's
   * Utf8/Binary/Json column must stay under 2 GiB.
   */
  batchRows?: number;
}

const DEFAULT_BATCH = 65_536;
const MAX_OFFSET = 0x7fffffff;

/** One output column: its name, the column type its values have, and whether it may hold nulls. */
interface OutColumn {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

function arrowType(type: ColumnType): DataType {
  switch (type) {
    case "Int8":
      return new Int8();
    case "Int16":
      return new Int16();
    case "Int32":
      return new Int32();
    case "Int64":
      return new Int64();
    case "UInt8":
      return new Uint8();
    case "UInt16":
      return new Uint16();
    case "UInt32":
      return new Uint32();
    case "UInt64":
      return new Uint64();
    case "Float32":
      return new Float32();
    case "Float64":
      return new Float64();
    case "Boolean":
      return new Bool();
    case "Utf8":
    case "String":
    case "Json":
      return new Utf8();
    case "Binary":
      return new Binary();
    case "Date":
      return new DateMillisecond();
    case "Datetime":
      return new TimestampMillisecond();
  }
}

/** The output columns of a (checked) query, typed from the schema. */
function outputColumns(schema: TableSchema, query: Query): OutColumn[] {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const col = (name: string, nullable?: boolean): OutColumn => {
    const c = byName.get(name)!;
    return { name, type: c.type, nullable: nullable ?? c.nullable === true };
  };
  if (query.groupBy !== undefined || query.aggregates !== undefined) {
    const out = (query.groupBy ?? []).map((name) => col(name));
    for (const [name, a] of Object.entries(query.aggregates ?? {})) {
      if (a.op === "count" || a.op === "countDistinct") out.push({ name, type: "Int64", nullable: false });
      else if (a.op === "sum") out.push({ name, type: "Float64", nullable: false });
      else if (a.op === "mean") out.push({ name, type: "Float64", nullable: true });
      else out.push({ ...col(a.column!, true), name });
    }
    return out;
  }
  return [...new Set(query.select ?? schema.columns.map((c) => c.name))].map((name) => col(name));
}

function checkOptions(options: unknown): number {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ValidationError(`Arrow options ${quote(options)} are not an object: pass { batchRows? }`);
  }
  for (const k of Object.keys(options)) {
    if (k !== "batchRows") throw new ValidationError(`Arrow option ${quote(k)} is unknown: use batchRows`);
  }
  const n = (options as ArrowOptions).batchRows ?? DEFAULT_BATCH;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new ValidationError(`Arrow option batchRows ${quote(n)} is not a positive integer: pass e.g. 65536`);
  }
  return n;
}

/** A validity bitmap for values[from, to), or null when none is null. */
function validity(
  values: readonly Value[],
  from: number,
  to: number,
): { bitmap: Uint8Array | undefined; nulls: number } {
  let nulls = 0;
  for (let i = from; i < to; i++) if (values[i] === null) nulls++;
  if (nulls === 0) return { bitmap: undefined, nulls: 0 };
  const bitmap = new Uint8Array((to - from + 7) >> 3);
  for (let i = from; i < to; i++) {
    if (values[i] !== null) bitmap[(i - from) >> 3] |= 1 << ((i - from) & 7);
  }
  return { bitmap, nulls };
}

/** Writes a safe integer as a little-endian 64-bit two's complement pair (no BigInt per value). */
function put64(words: Int32Array, i: number, n: number): void {
  const hi = Math.floor(n / 4294967296);
  words[2 * i] = (n - hi * 4294967296) | 0;
  words[2 * i + 1] = hi | 0;
}

/** UTF-8 bytes of strings[from, to) with their offsets; ASCII is copied by hand, the rest through TextEncoder. */
function utf8(strings: readonly (string | null)[], from: number, to: number, column: string) {
  const n = to - from;
  const offsets = new Int32Array(n + 1);
  let size = 16;
  for (let i = from; i < to; i++) size += strings[i] === null ? 0 : (strings[i] as string).length;
  let buf = new Uint8Array(size);
  const enc = new TextEncoder();
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const s = strings[from + i];
    if (s !== null) {
      const len = s.length;
      if (pos + len * 3 > buf.length) {
        const bigger = new Uint8Array(Math.max(buf.length * 2, pos + len * 3));
        bigger.set(buf.subarray(0, pos));
        buf = bigger;
      }
      let j = 0;
      for (; j < len; j++) {
        const c = s.charCodeAt(j);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (j < len) pos += enc.encodeInto(j === 0 ? s : s.slice(j), buf.subarray(pos)).written;
      if (pos > MAX_OFFSET) tooLarge(column);
    }
    offsets[i + 1] = pos;
  }
  return { offsets, data: buf.subarray(0, pos) };
}

function tooLarge(column: string): never {
  throw new TooLargeError(
    `Column ${quote(column)} holds over 2 GiB of bytes in one Arrow record batch: pass a smaller batchRows`,
  );
}

/** One column's values[from, to) as Arrow data. */
function columnData(c: OutColumn, values: readonly Value[], from: number, to: number): Data {
  const type = arrowType(c.type);
  const length = to - from;
  const { bitmap, nulls } = validity(values, from, to);
  const base = { type, length, nullCount: nulls, nullBitmap: bitmap };
  // A type whose column array is already its Arrow buffer (Int8 in an Int8Array): copied as it is.
  const { array: Ctor, native, storage } = COLUMN_TYPES[c.type];
  if (native && Ctor !== null) {
    const data = new Ctor(length);
    for (let i = 0; i < length; i++) {
      const v = values[from + i];
      if (v !== null) data[i] = v as number;
    }
    return makeData({ ...base, data } as Parameters<typeof makeData>[0]);
  }
  switch (c.type) {
    case "Int64":
    case "UInt64":
    case "Date":
    case "Datetime": {
      const words = new Int32Array(length * 2);
      const time = storage === "date";
      for (let i = 0; i < length; i++) {
        const v = values[from + i];
        if (v !== null) put64(words, i, time ? (v as Date).getTime() : v as number);
      }
      const data = c.type === "UInt64" ? new BigUint64Array(words.buffer) : new BigInt64Array(words.buffer);
      return makeData({ ...base, data } as Parameters<typeof makeData>[0]);
    }
    case "Boolean": {
      const data = new Uint8Array((length + 7) >> 3);
      for (let i = 0; i < length; i++) if (values[from + i] === true) data[i >> 3] |= 1 << (i & 7);
      return makeData({ ...base, type: type as Bool, data });
    }
    case "Binary": {
      const offsets = new Int32Array(length + 1);
      let size = 0;
      for (let i = 0; i < length; i++) {
        const v = values[from + i];
        if (v !== null) size += (v as Uint8Array).length;
        if (size > MAX_OFFSET) tooLarge(c.name);
        offsets[i + 1] = size;
      }
      const data = new Uint8Array(size);
      for (let i = 0; i < length; i++) {
        const v = values[from + i];
        if (v !== null) data.set(v as Uint8Array, offsets[i]);
      }
      return makeData({ ...base, type: type as Binary, valueOffsets: offsets, data });
    }
    case "Json": {
      const texts = new Array<string | null>(length);
      for (let i = 0; i < length; i++) {
        const v = values[from + i];
        texts[i] = v === null ? null : JSON.stringify(toJsonValue(v));
      }
      const { offsets, data } = utf8(texts, 0, length, c.name);
      return makeData({ ...base, type: type as Utf8, valueOffsets: offsets, data });
    }
    default: {
      const { offsets, data } = utf8(values as (string | null)[], from, to, c.name);
      return makeData({ ...base, type: type as Utf8, valueOffsets: offsets, data });
    }
  }
}

/** Builds an Arrow table from columns of values and their output types. */
function build(columns: OutColumn[], values: Columns, batchRows: number): ArrowTable {
  const fields = columns.map((c) =>
    new Field(c.name, arrowType(c.type), c.nullable, new Map([["cyberdb.type", c.type]]))
  );
  const schema = new Schema(fields);
  const rows = columns.length === 0 ? 0 : values[columns[0].name].length;
  const batches: RecordBatch[] = [];
  for (let from = 0; from < rows || (from === 0 && batches.length === 0); from += batchRows) {
    const to = Math.min(rows, from + batchRows);
    const children = columns.map((c) => columnData(c, values[c.name], from, to));
    const data = makeData({ type: new Struct(fields), length: to - from, nullCount: 0, children });
    batches.push(new RecordBatch(schema, data));
    if (rows === 0) break;
  }
  return new ArrowTable(schema, batches);
}

/**
 * The table — or the answer of `query` (the same plain query object
 * `table.query()` takes; its `format` is ignored) — as an `apache-arrow`
 * Table, with the column types mapped as the module doc's table says. A
 * malformed query → `ValidationError`, nothing built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { toArrow } from "@cyberdb/core/arrow";
 * const db = await Database.open();
 * const t = db.createTable({ name: "p", columns: [
 *   { name: "id", type: "Int32", primaryKey: true },
 *   { name: "name", type: "Utf8" },
 *   { name: "age", type: "Int32", nullable: true },
 * ] } as const);
 * t.insertMany([{ id: 1, name: "ada", age: 36 }, { id: 2, name: "bob", age: null }]);
 * const all = toArrow(t);
 * assert.deepEqual(all.getChild("name")?.toArray(), ["ada", "bob"]);
 * assert.deepEqual([...all.getChild("age") ?? []], [36, null]);
 * const byName = toArrow(t, { groupBy: ["name"], aggregates: { n: { op: "count" } } });
 * assert.deepEqual(byName.schema.fields.map((f) => String(f.type)), ["Utf8", "Int64"]);
 * ```
 */
export function toArrow<S extends TableSchema>(
  table: Table<S>,
  query: Query = {},
  options: ArrowOptions = {},
): ArrowTable {
  const batchRows = checkOptions(options);
  if (typeof query !== "object" || query === null || Array.isArray(query)) {
    throw new ValidationError(`Query ${quote(query)} is not an object: pass { where?, select?, orderBy?, ... }`);
  }
  // The table checks the query before anything runs; the columns come back as copies.
  const values = table.query({ ...query, format: "columns" });
  return build(outputColumns(table.schema, query), values, batchRows);
}

/**
 * The table, or a query's answer, as Arrow IPC **stream** bytes (what
 * `pyarrow.ipc.open_stream`, Polars' `pl.read_ipc_stream`, DuckDB's
 * `read_arrow` / arrow extension and `tableFromIPC` read).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { toArrowIPC } from "@cyberdb/core/arrow";
 * import { tableFromIPC } from "apache-arrow";
 * const db = await Database.open();
 * const t = db.createTable({ name: "p", columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const);
 * t.insertMany([{ id: 1 }, { id: 2 }]);
 * const bytes = toArrowIPC(t, { where: { column: "id", op: ">", value: 1 } });
 * assert.equal(tableFromIPC(bytes).numRows, 1);
 * ```
 */
export function toArrowIPC<S extends TableSchema>(
  table: Table<S>,
  query: Query = {},
  options: ArrowOptions = {},
): Uint8Array {
  return tableToIPC(toArrow(table, query, options), "stream");
}

/**
 * Decodes one cell of an exported Json column (JSON text with the tags in
 * the module doc) back to the value that was stored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromArrowJson } from "@cyberdb/core/arrow";
 * assert.deepEqual(fromArrowJson('{"n":{"$bigint":"9007199254740993"}}'), { n: 9007199254740993n });
 * assert.deepEqual(fromArrowJson('{"$num":"NaN"}'), NaN);
 * ```
 */
export function fromArrowJson(text: string): Value {
  if (typeof text !== "string") throw new ValidationError(`fromArrowJson() takes a string, got ${quote(text)}`);
  return fromJsonValue(JSON.parse(text)) as Value;
}
