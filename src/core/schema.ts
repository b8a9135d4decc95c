/**
 * Table schemas: column types (Polars names, as MathDB uses), schema
 * validation, row checking and the row types inferred from a schema written
 * `as const` or through {@linkcode defineSchema}.
 *
 * @module
 */

import { SchemaError, ValidationError } from "../errors.ts";
import { COLUMN_TYPES, isColumnType } from "./column_type.ts";
import { cloneIn, quote, type Value } from "./value.ts";
// Types only: the client reaches this module, and must not carry row_shape.ts's code generation.
import type { RowCheck, RowCheckParts } from "./row_shape.ts";

/** The integer column types. Int64/UInt64 hold JS numbers within ±(2^53−1). */
export type IntType = "Int8" | "Int16" | "Int32" | "Int64" | "UInt8" | "UInt16" | "UInt32" | "UInt64";
/** The floating-point column types. Float32 values are stored rounded to 32 bits. */
export type FloatType = "Float32" | "Float64";
/** Every column type; `String` is an alias of `Utf8`. */
export type ColumnType =
  | IntType
  | FloatType
  | "Boolean"
  | "Utf8"
  | "String"
  | "Binary"
  | "Date"
  | "Datetime"
  | "Json";

/** One column of a table schema. */
export interface ColumnDef {
  /** The column name, unique within the table. */
  readonly name: string;
  /** The column type. */
  readonly type: ColumnType;
  /** Exactly one column is the primary key (an integer type or Utf8/String). */
  readonly primaryKey?: boolean;
  /** Whether the column accepts `null` (and may be left out on insert). */
  readonly nullable?: boolean;
}

/** A table schema: its name and its columns. */
export interface TableSchema {
  /** The table name, unique within the database. */
  readonly name: string;
  /** The columns, in order. */
  readonly columns: readonly ColumnDef[];
}

/** The JS type a column type holds. */
export type ValueOfType<T extends ColumnType> = T extends IntType | FloatType ? number
  : T extends "Boolean" ? boolean
  : T extends "Utf8" | "String" ? string
  : T extends "Binary" ? Uint8Array
  : T extends "Date" | "Datetime" ? Date
  : Value;

/** The JS type a column type accepts on insert (integer columns also take bigints). */
export type InputOfType<T extends ColumnType> = T extends IntType ? number | bigint : ValueOfType<T>;
/** The union of a schema's column definitions. */
export type Cols<S extends TableSchema> = S["columns"][number];
/** `true` when a column definition is `nullable: true`. */
export type IsNullable<C> = C extends { readonly nullable: true } ? true : false;

/**
 * The row type of a schema, as `get` and `rows()` return it.
 *
 * @example
 * ```ts
 * import { defineSchema, type Row } from "@cyberdb/core";
 * const s = defineSchema({ name: "u", columns: [
 *   { name: "id", type: "Int64", primaryKey: true },
 *   { name: "age", type: "Int32", nullable: true },
 * ] });
 * const r: Row<typeof s> = { id: 1, age: null }; // every column present; nullable ones may be null
 * // @ts-expect-error: a row as read has every column
 * const missing: Row<typeof s> = { id: 1 };
 * ```
 */
export type Row<S extends TableSchema> = {
  -readonly [C in Cols<S> as C["name"]]: IsNullable<C> extends true ? ValueOfType<C["type"]> | null
    : ValueOfType<C["type"]>;
};

/**
 * The row type accepted by `insert`/`upsert`: nullable columns may be left
 * out, integer columns also accept bigints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, defineSchema, type InsertRow } from "@cyberdb/core";
 * const s = defineSchema({ name: "u", columns: [
 *   { name: "id", type: "Int64", primaryKey: true },
 *   { name: "age", type: "Int32", nullable: true },
 * ] });
 * const r: InsertRow<typeof s> = { id: 1n }; // age left out; a bigint for an integer column
 * // @ts-expect-error: the key column is required
 * const noKey: InsertRow<typeof s> = { age: 3 };
 * const db = await Database.open();
 * db.createTable(s).insert(r);
 * assert.deepEqual(db.getTable<typeof s>("u").get(1), { id: 1, age: null });
 * ```
 */
export type InsertRow<S extends TableSchema> =
  & { -readonly [C in Cols<S> as IsNullable<C> extends true ? never : C["name"]]: InputOfType<C["type"]> }
  & { -readonly [C in Cols<S> as IsNullable<C> extends true ? C["name"] : never]?: InputOfType<C["type"]> | null };

/**
 * The type of the primary key of a schema.
 *
 * @example
 * ```ts
 * import { defineSchema, type PrimaryKey } from "@cyberdb/core";
 * const s = defineSchema({ name: "u", columns: [{ name: "id", type: "Utf8", primaryKey: true }] });
 * const k: PrimaryKey<typeof s> = "alice";
 * // @ts-expect-error: the key column is a Utf8
 * const n: PrimaryKey<typeof s> = 1;
 * ```
 */
export type PrimaryKey<S extends TableSchema> = TableSchema extends S ? string | number | bigint
  :
    | ValueOfType<Extract<Cols<S>, { readonly primaryKey: true }>["type"]>
    | (Extract<Cols<S>, { readonly primaryKey: true }>["type"] extends IntType ? bigint : never);

/** The name of a schema's primary-key column. */
export type PrimaryKeyName<S extends TableSchema> = Extract<Cols<S>, { readonly primaryKey: true }>["name"];

/**
 * The row `update(key, row)` accepts: a whole row, where the key column may
 * be left out (the call names the key).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, defineSchema, type UpdateRow } from "@cyberdb/core";
 * const s = defineSchema({ name: "u", columns: [
 *   { name: "id", type: "Int64", primaryKey: true }, { name: "name", type: "Utf8" },
 * ] });
 * const r: UpdateRow<typeof s> = { name: "Ada" }; // the key may be left out: update() names it
 * // @ts-expect-error: but not another column (that is what patch() is for)
 * const partial: UpdateRow<typeof s> = {};
 * const db = await Database.open();
 * const t = db.createTable(s);
 * t.insert({ id: 1, name: "?" });
 * t.update(1, r);
 * assert.deepEqual(t.get(1), { id: 1, name: "Ada" });
 * ```
 */
export type UpdateRow<S extends TableSchema> =
  & Omit<InsertRow<S>, PrimaryKeyName<S>>
  & Partial<Pick<InsertRow<S>, PrimaryKeyName<S> & keyof InsertRow<S>>>;

/**
 * Returns the schema unchanged, typed precisely so that row types can be
 * inferred (the same as writing the schema `as const`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, defineSchema } from "@cyberdb/core";
 * const users = defineSchema({
 *   name: "users",
 *   columns: [
 *     { name: "id", type: "Int64", primaryKey: true },
 *     { name: "name", type: "Utf8" },
 *   ],
 * });
 * const db = await Database.open();
 * const t = db.createTable(users);
 * t.insert({ id: 1, name: "Ada" });
 * const name: string | undefined = t.get(1)?.name; // typed: string
 * assert.equal(name, "Ada");
 * // @ts-expect-error: no such column
 * t.get(1)?.age;
 * ```
 */
export function defineSchema<const S extends TableSchema>(schema: S): S {
  return schema;
}

/** A stored row: column name → value, in schema column order. */
export type StoredRow = Record<string, Value>;

/** A column checker: returns the value to store or throws. */
type Check = (v: unknown, where: string) => Value;

/** A validated schema with its per-column checkers. */
export interface CompiledSchema {
  /** The schema in canonical form (what the log and snapshots carry). */
  readonly def: TableSchema;
  /** The column names in order. */
  readonly names: readonly string[];
  /** The per-column checkers, parallel to `names`. */
  readonly checks: readonly Check[];
  /** Whether each column is nullable, parallel to `names`. */
  readonly nullable: readonly boolean[];
  /** The primary-key column's position. */
  readonly pk: number;
  /** Positions of columns whose values are objects that must be copied out. */
  readonly copyOut: readonly number[];
  /**
   * The row check generated for this schema (`rowChecker` in row_shape.ts),
   * which `checkRow` runs when present. The table's `ColumnStore` sets it
   * (`null` where code generation is refused): code generation stays on the
   * engine's side of the imports, out of the client's reach.
   */
  rowCheck?: RowCheck | null;
}

function intCheck(type: IntType, column: string, table: string): Check {
  const [min, max] = COLUMN_TYPES[type].range!;
  return (v, where) => {
    if (typeof v === "number") {
      if (Number.isInteger(v) && v >= min && v <= max) return v === 0 ? 0 : v;
    } else if (typeof v === "bigint") {
      if (v >= BigInt(min) && v <= BigInt(max)) return Number(v);
    }
    throw new ValidationError(
      `Column ${quote(column)} of table ${quote(table)} is ${type} and takes integers from ${min} to ${max}, got ${
        quote(v)
      }${where}: pass an integer in that range`,
    );
  };
}

function typeError(column: string, table: string, type: string, v: unknown, where: string, fix: string): never {
  throw new ValidationError(
    `Column ${quote(column)} of table ${quote(table)} is ${type}, got ${quote(v)}${where}: ${fix}`,
  );
}

function checkFor(col: ColumnDef, table: string): Check {
  const { name, type } = col;
  // Built once per column, not once per cell: most cells are fine.
  const label = `Column ${quote(name)}`;
  switch (type) {
    case "Float32":
    case "Float64": {
      const round = type === "Float32";
      return (v, where) => {
        if (typeof v !== "number") typeError(name, table, type, v, where, "pass a number");
        return round ? Math.fround(v) : v;
      };
    }
    case "Boolean":
      return (v, where) => typeof v === "boolean" ? v : typeError(name, table, type, v, where, "pass true or false");
    case "Utf8":
    case "String":
      return (v, where) => {
        if (typeof v !== "string") typeError(name, table, type, v, where, "pass a string");
        return v.isWellFormed() ? v : cloneIn(v, label);
      };
    case "Binary":
      return (v, where) => {
        if (!(v instanceof Uint8Array)) typeError(name, table, type, v, where, "pass a Uint8Array");
        return cloneIn(v, label);
      };
    case "Date":
    case "Datetime":
      return (v, where) => {
        if (!(v instanceof Date)) typeError(name, table, type, v, where, "pass a Date");
        return cloneIn(v, label);
      };
    case "Json":
      return (v) => cloneIn(v, label);
    default:
      return intCheck(type, name, table);
  }
}

function schemaError(table: unknown, fix: string): never {
  throw new SchemaError(`Schema of table ${quote(table)} is invalid: ${fix}`);
}

/**
 * Validates a schema and compiles its column checkers. Throws
 * {@linkcode SchemaError} for a malformed schema.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchemaError } from "../errors.ts";
 * import { compileSchema } from "./schema.ts";
 * const c = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * assert.throws(() => compileSchema({ name: "t", columns: [{ name: "id", type: "Int33" }] }), SchemaError);
 * ```
 */
export function compileSchema(schema: unknown): CompiledSchema {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new SchemaError(`Schema ${quote(schema)} is not an object: pass { name, columns: [...] }`);
  }
  const { name, columns } = schema as Partial<TableSchema>;
  if (typeof name !== "string" || name === "" || !name.isWellFormed()) {
    schemaError(name, "the table name must be a non-empty string");
  }
  if (!Array.isArray(columns) || columns.length === 0) {
    schemaError(name, "columns must be a non-empty array of { name, type, primaryKey?, nullable? }");
  }
  const seen = new Set<string>();
  const defs: ColumnDef[] = [];
  let pk = -1;
  for (const col of columns) {
    if (typeof col !== "object" || col === null) schemaError(name, `column ${quote(col)} is not an object`);
    const { name: cn, type, primaryKey, nullable } = col as ColumnDef;
    if (typeof cn !== "string" || cn === "" || !cn.isWellFormed() || cn === "__proto__") {
      schemaError(name, `column name ${quote(cn)} must be a non-empty string other than "__proto__"`);
    }
    if (seen.has(cn)) schemaError(name, `column ${quote(cn)} appears twice; column names must be unique`);
    seen.add(cn);
    if (!isColumnType(type)) {
      schemaError(
        name,
        `column ${quote(cn)} has unknown type ${quote(type)}; use one of ${Object.keys(COLUMN_TYPES).join(", ")}`,
      );
    }
    for (const [flag, v] of [["primaryKey", primaryKey], ["nullable", nullable]] as const) {
      if (v !== undefined && typeof v !== "boolean") {
        schemaError(name, `column ${quote(cn)} has ${flag} ${quote(v)}; it must be true, false or left out`);
      }
    }
    for (const k of Object.keys(col)) {
      if (k !== "name" && k !== "type" && k !== "primaryKey" && k !== "nullable") {
        schemaError(
          name,
          `column ${quote(cn)} has unknown property ${quote(k)}; allowed are name, type, primaryKey, nullable`,
        );
      }
    }
    if (primaryKey) {
      if (pk !== -1) {
        schemaError(name, `columns ${quote(defs[pk].name)} and ${quote(cn)} are both primary keys; mark exactly one`);
      }
      if (nullable) schemaError(name, `primary key ${quote(cn)} cannot be nullable`);
      if (!COLUMN_TYPES[type].key) {
        schemaError(name, `primary key ${quote(cn)} has type ${type}; use an integer type or Utf8`);
      }
      pk = defs.length;
    }
    const def: ColumnDef = { name: cn, type };
    if (primaryKey) (def as { primaryKey?: boolean }).primaryKey = true;
    if (nullable) (def as { nullable?: boolean }).nullable = true;
    defs.push(def);
  }
  if (pk === -1) schemaError(name, "no column is marked primaryKey: true; mark exactly one");
  const def: TableSchema = { name, columns: defs };
  return {
    def,
    names: defs.map((c) => c.name),
    checks: defs.map((c) => checkFor(c, name)),
    nullable: defs.map((c) => c.nullable === true),
    pk,
    copyOut: defs.flatMap((c, i) =>
      c.type === "Binary" || c.type === "Date" || c.type === "Datetime" || c.type === "Json" ? [i] : []
    ),
  };
}

/**
 * Whether two schemas describe the same table (`String` and `Utf8` are the
 * same type; omitted flags equal `false`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSchema, sameSchema } from "./schema.ts";
 * const a = compileSchema({ name: "t", columns: [{ name: "id", type: "Utf8", primaryKey: true }] });
 * const b = compileSchema({ name: "t", columns: [{ name: "id", type: "String", primaryKey: true }] });
 * assert.equal(sameSchema(a.def, b.def), true);
 * ```
 */
export function sameSchema(a: TableSchema, b: TableSchema): boolean {
  const norm = (t: string) => t === "String" ? "Utf8" : t;
  return a.name === b.name && a.columns.length === b.columns.length &&
    a.columns.every((c, i) => {
      const d = b.columns[i];
      return c.name === d.name && norm(c.type) === norm(d.type) && !!c.primaryKey === !!d.primaryKey &&
        !!c.nullable === !!d.nullable;
    });
}

function notAnObject(table: string, row: unknown): never {
  throw new ValidationError(
    `Row ${quote(row)} for table ${quote(table)} is not a plain object: pass { column: value, ... }`,
  );
}

function unknownColumn(s: CompiledSchema, row: object): never {
  const bad = Object.keys(row).find((k) => !s.names.includes(k));
  throw new ValidationError(
    `Column ${quote(bad)} is not in table ${quote(s.def.name)}: its columns are ${
      s.names.map((n) => quote(n)).join(", ")
    }`,
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/**
 * Checks a whole row (missing nullable columns become `null`) and returns
 * the row to store. `where` is appended to error messages (e.g. " in row 3").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRow, compileSchema } from "./schema.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * assert.deepEqual(checkRow(s, { id: 1 }, ""), { id: 1 });
 * ```
 */
export function checkRow(s: CompiledSchema, row: unknown, where: string): StoredRow {
  if (!isPlainObject(row)) notAnObject(s.def.name, row);
  // The same checks as the loop below, generated per schema (see rowChecker).
  const fast = s.rowCheck;
  if (fast) return fast(row, where);
  const { names, checks, nullable } = s;
  const out: StoredRow = {};
  let seen = 0;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    // Own properties only: a column called "constructor" must not read Object.prototype's.
    const own = Object.hasOwn(row, name);
    const v = own ? row[name] : undefined;
    if (v === undefined) {
      if (own) seen++;
      if (!nullable[i]) missingError(s, name, where);
      out[name] = null;
      continue;
    }
    seen++;
    out[name] = v === null && nullable[i] ? null : v === null ? nullError(s, name, where) : checks[i](v, where);
  }
  if (ownKeys(row) !== seen) unknownColumn(s, row);
  return out;
}

function missingError(s: CompiledSchema, name: string, where: string): never {
  throw new ValidationError(
    `Column ${quote(name)} of table ${
      quote(s.def.name)
    } is missing${where}: it is not nullable, so every row needs a value`,
  );
}

/**
 * The parts of `checkRow` that a generated row check (`rowChecker` in
 * row_shape.ts) calls: the schema's column checks and its error reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSchema, rowCheckParts } from "./schema.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * assert.deepEqual(rowCheckParts(s).names, ["id"]);
 * ```
 */
export function rowCheckParts(s: CompiledSchema): RowCheckParts {
  return {
    names: s.names,
    nullable: s.nullable,
    checks: s.checks,
    missing: (i, where) => missingError(s, s.names[i], where),
    nullError: (i, where) => nullError(s, s.names[i], where),
    ownKeys,
    unknownColumn: (row) => unknownColumn(s, row),
  };
}

/** Counts own enumerable keys without allocating an array (for-in uses V8's enum cache). */
function ownKeys(row: object): number {
  let n = 0;
  for (const k in row) if (Object.hasOwn(row, k)) n++;
  return n;
}

function nullError(s: CompiledSchema, name: string, where: string): never {
  throw new ValidationError(
    `Column ${quote(name)} of table ${
      quote(s.def.name)
    } is not nullable, got null${where}: pass a value or declare the column nullable: true`,
  );
}

/**
 * Checks a partial row for `patch` and returns the checked columns only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPartial, compileSchema } from "./schema.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "a", type: "Utf8" }] });
 * assert.deepEqual(checkPartial(s, { a: "x" }), { a: "x" });
 * ```
 */
export function checkPartial(s: CompiledSchema, row: unknown): StoredRow {
  if (!isPlainObject(row)) notAnObject(s.def.name, row);
  const out: StoredRow = {};
  let seen = 0;
  for (let i = 0; i < s.names.length; i++) {
    const name = s.names[i];
    if (!Object.hasOwn(row, name)) continue;
    seen++;
    const v = row[name];
    if (v === undefined) continue;
    out[name] = v === null && s.nullable[i] ? null : v === null ? nullError(s, name, "") : s.checks[i](v, "");
  }
  if (Object.keys(row).length !== seen) unknownColumn(s, row);
  return out;
}

/**
 * Checks a primary-key value against the key column's type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPk, compileSchema } from "./schema.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * assert.equal(checkPk(s, 1n), 1);
 * ```
 */
export function checkPk(s: CompiledSchema, key: unknown): string | number {
  if (key === null || key === undefined) {
    throw new ValidationError(
      `Primary key ${quote(key)} for table ${quote(s.def.name)} is missing: pass a value of column ${
        quote(s.names[s.pk])
      }`,
    );
  }
  return s.checks[s.pk](key, " (primary key)") as string | number;
}
