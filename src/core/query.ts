/**
 * Declarative table queries: a query is plain data (JSON/msgpack), checked
 * against the schema before anything runs, then executed by closures built
 * once per query — never by evaluating code.
 *
 * ```
 *  { where, select, orderBy, limit, offset, groupBy, aggregates, format }
 *        │ compileQuery (checks every column, operator and operand type)
 *        ▼
 *  plan: candidate source (index or scan) → predicate → group/aggregate
 *        → order → offset/limit → project → rows | columns
 * ```
 *
 * Semantics follow SQL/Polars: comparisons with a null cell are false (only
 * `isNull` matches nulls), aggregates skip nulls, `mean` of nothing is null,
 * nulls group together, and ordering puts nulls last ascending and first
 * descending (PostgreSQL's default) unless `nulls` says otherwise.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";
import { COLUMN_TYPES } from "./column_type.ts";
import type { CompiledSchema } from "./schema.ts";
import { compareValues, deepEqual, quote, type Value, withArticle } from "./value.ts";

/** A comparison operator. */
export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** One filter: a comparison, a test, or a boolean combination of filters. */
export type Filter =
  | { column: string; op: CompareOp; value: Value }
  | { column: string; op: "in"; value: Value[] }
  | { column: string; op: "between"; value: [Value, Value] }
  | { column: string; op: "isNull" }
  | { column: string; op: "startsWith" | "contains"; value: string }
  | { and: Filter[] }
  | { or: Filter[] }
  | { not: Filter };

/** One sort key. */
export interface OrderBy {
  /** A column (or, with `groupBy`, a group column or aggregate name). */
  column: string;
  /** Default `"asc"`. */
  direction?: "asc" | "desc";
  /** Default: `"last"` ascending, `"first"` descending. */
  nulls?: "first" | "last";
}

/** An aggregate function over a group. */
export type AggregateOp = "count" | "sum" | "mean" | "min" | "max" | "countDistinct";

/** One aggregate: `count` without a column counts rows. */
export interface Aggregate {
  /** The function. */
  op: AggregateOp;
  /** The column it reads (required except for `count`). */
  column?: string;
}

/** A query over a table, as plain data. */
export interface Query {
  /** Rows must match this filter. */
  where?: Filter;
  /** Output columns (default: all); not with `groupBy`. */
  select?: string[];
  /** Sort keys, most significant first. */
  orderBy?: OrderBy[];
  /** At most this many results. */
  limit?: number;
  /** Skip this many results first. */
  offset?: number;
  /** Group by these columns; the output has them plus the aggregates. */
  groupBy?: string[];
  /** Output name → aggregate. Without `groupBy`, one row aggregates everything. */
  aggregates?: Record<string, Aggregate>;
  /** `"rows"` (default): an array of objects; `"columns"`: `{ column: values[] }`. */
  format?: "rows" | "columns";
}

/** The result of a query in `"columns"` format. */
export type Columns = Record<string, Value[]>;

/** A test of one non-null cell value. */
export type CellTest = (v: Value) => boolean;

/**
 * A checked filter, ready to be bound to a table's columns
 * (`query_exec.ts`). A leaf carries its operator and stored-form operands,
 * so the executor can compare typed arrays or dictionary codes directly,
 * and `test`, the reference meaning on one non-null value, for every other
 * case. Comparisons with a null cell are false (only `isNull` matches).
 */
export type FilterNode =
  | { kind: "and" | "or"; list: FilterNode[] }
  | { kind: "not"; filter: FilterNode }
  | { kind: "isNull"; column: number }
  | { kind: "leaf"; column: number; op: string; values: Value[]; test: CellTest };

function bad(what: string, fix: string): never {
  throw new ValidationError(`${what}: ${fix}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const COMPARE = new Set(["=", "!=", "<", "<=", ">", ">="]);

/** A query checked against a schema, ready to run. */
export interface Plan {
  /** The checked filter, or null for every row. */
  filter: FilterNode | null;
  /** The top-level equality/`in`/range terms an index could serve. */
  terms: IndexTerm[];
  /** The checked query. */
  query: Query;
}

/** A filter term the planner may answer from an index. */
export interface IndexTerm {
  /** The column. */
  column: string;
  /** Equality (one or more values) or a range. */
  kind: "eq" | "range";
  /** For `eq`: the values (already checked). */
  values?: Value[];
  /** For `range`: bounds and whether they are inclusive. */
  lo?: { v: Value; inclusive: boolean };
  /** Upper bound of a range. */
  hi?: { v: Value; inclusive: boolean };
}

function columnIndex(s: CompiledSchema, column: unknown, where: string): number {
  const i = typeof column === "string" ? s.names.indexOf(column) : -1;
  if (i === -1) {
    bad(
      `Column ${quote(column)} in ${where} is not in table ${quote(s.def.name)}`,
      `use one of ${s.names.map((n) => quote(n)).join(", ")}`,
    );
  }
  return i;
}

/** Checks an operand against the column type, returning it in stored form. */
function operand(s: CompiledSchema, i: number, v: unknown, op: string): Value {
  if (v === null || v === undefined) {
    bad(
      `Operand ${quote(v)} of ${quote(op)} on column ${quote(s.names[i])}`,
      'compare with a value; use { op: "isNull" } to find nulls',
    );
  }
  const type = s.def.columns[i].type;
  try {
    // The column's own checker: an operand is acceptable exactly when a cell would be.
    return s.checks[i](v, "");
  } catch {
    return bad(
      `Operand ${quote(v)} of ${quote(op)} does not fit column ${quote(s.names[i])} of type ${type}`,
      `pass ${withArticle(type)} value`,
    );
  }
}

/**
 * Equality key used by filters: Dates by time, everything else as is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eqKey } from "./query.ts";
 * assert.equal(eqKey(new Date(5)), 5);
 * ```
 */
export function eqKey(v: Value): Value {
  return v instanceof Date ? v.getTime() : v;
}

function compileFilter(s: CompiledSchema, f: unknown, terms: IndexTerm[] | null): FilterNode {
  if (!isObj(f)) bad(`Filter ${quote(f)} is not an object`, "pass { column, op, value } or { and | or | not }");
  if ("and" in f || "or" in f) {
    const key = "and" in f ? "and" : "or";
    const list = f[key];
    if (!Array.isArray(list) || Object.keys(f).length !== 1) {
      bad(`Filter ${quote(f)}`, `"${key}" takes an array of filters and nothing beside it`);
    }
    // Only the terms of a top-level AND narrow the candidates.
    return { kind: key, list: list.map((x) => compileFilter(s, x, key === "and" ? terms : null)) };
  }
  if ("not" in f) {
    if (Object.keys(f).length !== 1) bad(`Filter ${quote(f)}`, `"not" takes one filter and nothing beside it`);
    return { kind: "not", filter: compileFilter(s, f.not, null) };
  }
  for (const k of Object.keys(f)) {
    if (k !== "column" && k !== "op" && k !== "value") {
      bad(`Filter key ${quote(k)} is unknown`, "use column, op and value (or and / or / not)");
    }
  }
  const i = columnIndex(s, f.column, "a filter");
  const name = s.names[i];
  const type = s.def.columns[i].type;
  const op = f.op;
  if (op === "isNull") return { kind: "isNull", column: i };
  if (typeof op !== "string") {
    bad(
      `Filter operator ${quote(op)} is not a string`,
      "use =, !=, <, <=, >, >=, in, between, isNull, startsWith or contains",
    );
  }
  const leaf = (values: Value[], test: CellTest): FilterNode => ({ kind: "leaf", column: i, op, values, test });
  if (op === "startsWith" || op === "contains") {
    if (COLUMN_TYPES[type].storage !== "dict") {
      bad(`Operator ${op} on column ${quote(name)} of type ${type}`, "it applies to Utf8 columns only");
    }
    const v = operand(s, i, f.value, op) as string;
    return leaf(
      [v],
      op === "startsWith"
        ? (x) => typeof x === "string" && x.startsWith(v)
        : (x) => typeof x === "string" && x.includes(v),
    );
  }
  if (op === "in") {
    if (!Array.isArray(f.value)) {
      bad(`Operand ${quote(f.value)} of "in" on column ${quote(name)}`, "pass an array of values");
    }
    const vals = (f.value as unknown[]).map((v) => operand(s, i, v, op));
    terms?.push({ column: name, kind: "eq", values: vals });
    if (type === "Json" || type === "Binary") return leaf(vals, (x) => vals.some((v) => deepEqual(x, v)));
    const set = new Set(vals.map(eqKey));
    return leaf(vals, (x) => set.has(eqKey(x)));
  }
  if (op === "between") {
    if (!Array.isArray(f.value) || f.value.length !== 2) {
      bad(`Operand ${quote(f.value)} of "between" on column ${quote(name)}`, "pass [low, high]");
    }
    if (!COLUMN_TYPES[type].ordered) {
      bad(`Operator between on column ${quote(name)} of type ${type}`, "it needs an ordered column type");
    }
    const lo = operand(s, i, f.value[0], op);
    const hi = operand(s, i, f.value[1], op);
    terms?.push({ column: name, kind: "range", lo: { v: lo, inclusive: true }, hi: { v: hi, inclusive: true } });
    return leaf([lo, hi], (x) => compareValues(x, lo) >= 0 && compareValues(x, hi) <= 0);
  }
  if (!COMPARE.has(op)) {
    bad(
      `Filter operator ${quote(op)} is unknown`,
      "use =, !=, <, <=, >, >=, in, between, isNull, startsWith or contains",
    );
  }
  const v = operand(s, i, f.value, op);
  if (op === "=" || op === "!=") {
    const eq = type === "Json" || type === "Binary"
      ? (x: Value) => deepEqual(x, v)
      : ((k) => (x: Value) => eqKey(x) === k || (x !== x && k !== k))(eqKey(v));
    if (op === "=") {
      terms?.push({ column: name, kind: "eq", values: [v] });
      return leaf([v], eq);
    }
    return leaf([v], (x) => !eq(x));
  }
  if (!COLUMN_TYPES[type].ordered) {
    bad(`Operator ${op} on column ${quote(name)} of type ${type}`, "it needs an ordered column type");
  }
  const bound = { v, inclusive: op === "<=" || op === ">=" };
  terms?.push(op[0] === ">" ? { column: name, kind: "range", lo: bound } : { column: name, kind: "range", hi: bound });
  // Plain JS comparison is exact for numbers and strings (and NaN compares false).
  if (typeof v === "number" || typeof v === "string") {
    switch (op) {
      case "<":
        return leaf([v], (x) => (x as number) < (v as number));
      case "<=":
        return leaf([v], (x) => (x as number) <= (v as number));
      case ">":
        return leaf([v], (x) => (x as number) > (v as number));
      default:
        return leaf([v], (x) => (x as number) >= (v as number));
    }
  }
  const want = op === "<"
    ? (c: number) => c < 0
    : op === "<="
    ? (c: number) => c <= 0
    : op === ">"
    ? (c: number) => c > 0
    : (c: number) => c >= 0;
  return leaf([v], (x) => want(compareValues(x, v)));
}

function checkNames(s: CompiledSchema, list: unknown, what: string): string[] {
  if (!Array.isArray(list) || list.length === 0) {
    bad(`Query ${what} ${quote(list)}`, "pass a non-empty array of column names");
  }
  return list.map((c) => s.names[columnIndex(s, c, what)]);
}

const AGG_OPS = new Set(["count", "sum", "mean", "min", "max", "countDistinct"]);

/**
 * Checks a query against a schema and builds its plan. Throws
 * `ValidationError` naming the bad part; nothing runs before this passes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValidationError } from "../errors.ts";
 * import { compileSchema } from "./schema.ts";
 * import { compileQuery } from "./query.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * compileQuery(s, { where: { column: "id", op: ">", value: 3 } });
 * assert.throws(() => compileQuery(s, { where: { column: "nope", op: ">", value: 3 } }), /nope/);
 * assert.throws(() => compileQuery(s, { limit: -1 }), ValidationError);
 * ```
 */
export function compileQuery(s: CompiledSchema, q: unknown): Plan {
  if (q === undefined || q === null) q = {};
  if (!isObj(q)) {
    bad(
      `Query ${quote(q)} is not an object`,
      "pass { where?, select?, orderBy?, limit?, offset?, groupBy?, aggregates?, format? }",
    );
  }
  const allowed = new Set(["where", "select", "orderBy", "limit", "offset", "groupBy", "aggregates", "format"]);
  for (const k of Object.keys(q)) {
    if (!allowed.has(k)) bad(`Query key ${quote(k)} is unknown`, `use ${[...allowed].join(", ")}`);
  }
  const query = q as Query;
  const terms: IndexTerm[] = [];
  const filter = query.where === undefined ? null : compileFilter(s, query.where, terms);
  const out: Query = { ...query };
  if (query.select !== undefined) out.select = checkNames(s, query.select, "select");
  if (query.groupBy !== undefined) out.groupBy = checkNames(s, query.groupBy, "groupBy");
  if (query.select !== undefined && (query.groupBy !== undefined || query.aggregates !== undefined)) {
    bad(
      "A query has both select and groupBy/aggregates",
      "the output of a grouped query is its group columns and aggregates; drop select",
    );
  }
  const outputs = new Set<string>(out.groupBy ?? []);
  if (query.aggregates !== undefined) {
    if (!isObj(query.aggregates) || Object.keys(query.aggregates).length === 0) {
      bad(`Aggregates ${quote(query.aggregates)}`, "pass { name: { op, column? }, ... }");
    }
    for (const [alias, a] of Object.entries(query.aggregates)) {
      if (!isObj(a) || typeof a.op !== "string" || !AGG_OPS.has(a.op)) {
        bad(`Aggregate ${quote(alias)} is ${quote(a)}`, `use { op: one of ${[...AGG_OPS].join(", ")}, column }`);
      }
      if (alias === "__proto__") {
        bad(
          `Aggregate name "__proto__"`,
          "it cannot be an output column (it would set the row's prototype); pick another name",
        );
      }
      if (outputs.has(alias)) bad(`Aggregate name ${quote(alias)} repeats a group column`, "rename it");
      if (a.column === undefined) {
        if (a.op !== "count") bad(`Aggregate ${quote(alias)} (${a.op}) has no column`, "name the column it reads");
      } else {
        const i = columnIndex(s, a.column, `aggregate ${quote(alias)}`);
        const type = s.def.columns[i].type;
        if ((a.op === "sum" || a.op === "mean") && !COLUMN_TYPES[type].numeric) {
          bad(
            `Aggregate ${quote(alias)} (${a.op}) reads column ${quote(a.column)} of type ${type}`,
            "sum and mean need a numeric column",
          );
        }
        if ((a.op === "min" || a.op === "max") && !COLUMN_TYPES[type].ordered) {
          bad(
            `Aggregate ${quote(alias)} (${a.op}) reads column ${quote(a.column)} of type ${type}`,
            "min and max need an ordered column",
          );
        }
      }
      outputs.add(alias);
    }
  } else if (out.groupBy !== undefined) {
    bad("A query has groupBy but no aggregates", 'add aggregates, e.g. { n: { op: "count" } }');
  }
  const grouped = out.groupBy !== undefined || query.aggregates !== undefined;
  if (query.orderBy !== undefined) {
    if (!Array.isArray(query.orderBy)) {
      bad(`Query orderBy ${quote(query.orderBy)}`, "pass an array of { column, direction?, nulls? }");
    }
    for (const o of query.orderBy) {
      if (!isObj(o)) bad(`Query orderBy entry ${quote(o)}`, "pass { column, direction?, nulls? }");
      const ok = grouped ? outputs.has(o.column as string) : s.names.includes(o.column as string);
      if (!ok) {
        bad(
          `Query orderBy column ${quote(o.column)} is not in the ${grouped ? "grouped output" : "table"}`,
          `use one of ${[...(grouped ? outputs : s.names)].map((n) => quote(n)).join(", ")}`,
        );
      }
      if (o.direction !== undefined && o.direction !== "asc" && o.direction !== "desc") {
        bad(`Query orderBy direction ${quote(o.direction)}`, 'use "asc" or "desc"');
      }
      if (o.nulls !== undefined && o.nulls !== "first" && o.nulls !== "last") {
        bad(`Query orderBy nulls ${quote(o.nulls)}`, 'use "first" or "last"');
      }
      for (const k of Object.keys(o)) {
        if (k !== "column" && k !== "direction" && k !== "nulls") {
          bad(`Query orderBy key ${quote(k)} is unknown`, "use column, direction, nulls");
        }
      }
    }
  }
  for (const k of ["limit", "offset"] as const) {
    const v = query[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 0)) {
      bad(`Query ${k} ${quote(v)}`, "pass a non-negative integer");
    }
  }
  if (query.format !== undefined && query.format !== "rows" && query.format !== "columns") {
    bad(`Query format ${quote(query.format)}`, 'use "rows" or "columns"');
  }
  return { filter, terms, query: out };
}

/**
 * A Map key standing for a value in group keys, distinct sets and
 * secondary indexes: equal values (Dates by time, binaries by bytes, JSON
 * by structure, `-0` with `0`, `NaN` with `NaN`) give equal keys, different
 * values different keys. Primitives stand for themselves; objects become a
 * canonical string behind a NUL prefix that no plain string key can carry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyOf } from "./query.ts";
 * assert.equal(keyOf(new Date(5)), keyOf(new Date(5))); // two Date objects, one key
 * ```
 */
export function keyOf(v: Value): unknown {
  if (typeof v === "string") return v.charCodeAt(0) === 0 ? "\0s" + v : v;
  if (typeof v !== "object" || v === null) return v;
  return "\0o" + canon(v);
}

/**
 * An injective string form of a value (the parts are self-delimiting).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canon } from "./query.ts";
 * assert.equal(canon([1, "a"]), '[n1,"a"]');
 * ```
 */
export function canon(v: Value): string {
  switch (typeof v) {
    case "number":
      return v === 0 ? "n0" : `n${v}`;
    case "bigint":
      return `i${v}`;
    case "boolean":
      return v ? "T" : "F";
    case "string":
      return JSON.stringify(v);
  }
  if (v === null) return "N";
  if (v instanceof Date) return `d${v.getTime()}`;
  if (v instanceof Uint8Array) {
    let hex = "b";
    for (const byte of v) hex += byte.toString(16).padStart(2, "0");
    return hex;
  }
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(",")}}`;
}
