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
import type { CompiledSchema, StoredRow } from "./schema.ts";
import { cloneOut, compareValues, deepEqual, quote, type Value } from "./value.ts";

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

type Pred = (row: StoredRow) => boolean;

function bad(what: string, fix: string): never {
  throw new ValidationError(`${what}: ${fix}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const COMPARE = new Set(["=", "!=", "<", "<=", ">", ">="]);
const STRINGY = new Set(["Utf8", "String"]);
const ORDERED = new Set([
  "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
  "Float32", "Float64", "Utf8", "String", "Date", "Datetime", "Boolean",
]);

/** A query checked against a schema, ready to run. */
export interface Plan {
  /** The row filter, or null for every row. */
  pred: Pred | null;
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
    bad(`Column ${quote(column)} in ${where} is not in table ${quote(s.def.name)}`, `use one of ${s.names.map((n) => quote(n)).join(", ")}`);
  }
  return i;
}

/** Checks an operand against the column type, returning it in stored form. */
function operand(s: CompiledSchema, i: number, v: unknown, op: string): Value {
  if (v === null || v === undefined) {
    bad(`Operand ${quote(v)} of ${quote(op)} on column ${quote(s.names[i])}`, "compare with a value; use { op: \"isNull\" } to find nulls");
  }
  const type = s.def.columns[i].type;
  try {
    // The column's own checker: an operand is acceptable exactly when a cell would be.
    return s.checks[i](v, "");
  } catch {
    return bad(`Operand ${quote(v)} of ${quote(op)} does not fit column ${quote(s.names[i])} of type ${type}`, `pass a ${type} value`);
  }
}

/**
 * Equality key used by filters: Dates by time, everything else as is.
 *
 * @example
 * ```ts
 * import { eqKey } from "./query.ts";
 * eqKey(new Date(5)); // 5
 * ```
 */
export function eqKey(v: Value): Value {
  return v instanceof Date ? v.getTime() : v;
}

function compileFilter(s: CompiledSchema, f: unknown, terms: IndexTerm[] | null): Pred {
  if (!isObj(f)) bad(`Filter ${quote(f)} is not an object`, "pass { column, op, value } or { and | or | not }");
  if ("and" in f || "or" in f) {
    const key = "and" in f ? "and" : "or";
    const list = f[key];
    if (!Array.isArray(list) || Object.keys(f).length !== 1) bad(`Filter ${quote(f)}`, `"${key}" takes an array of filters and nothing beside it`);
    // Only the terms of a top-level AND narrow the candidates.
    const preds = list.map((x) => compileFilter(s, x, key === "and" ? terms : null));
    return key === "and" ? (r) => preds.every((p) => p(r)) : (r) => preds.some((p) => p(r));
  }
  if ("not" in f) {
    if (Object.keys(f).length !== 1) bad(`Filter ${quote(f)}`, `"not" takes one filter and nothing beside it`);
    const p = compileFilter(s, f.not, null);
    return (r) => !p(r);
  }
  for (const k of Object.keys(f)) {
    if (k !== "column" && k !== "op" && k !== "value") bad(`Filter key ${quote(k)} is unknown`, "use column, op and value (or and / or / not)");
  }
  const i = columnIndex(s, f.column, "a filter");
  const name = s.names[i];
  const type = s.def.columns[i].type;
  const op = f.op;
  if (op === "isNull") return (r) => r[name] === null;
  if (typeof op !== "string") bad(`Filter operator ${quote(op)} is not a string`, "use =, !=, <, <=, >, >=, in, between, isNull, startsWith or contains");
  if (op === "startsWith" || op === "contains") {
    if (!STRINGY.has(type)) bad(`Operator ${op} on column ${quote(name)} of type ${type}`, "it applies to Utf8 columns only");
    const v = operand(s, i, f.value, op) as string;
    return op === "startsWith"
      ? (r) => typeof r[name] === "string" && (r[name] as string).startsWith(v)
      : (r) => typeof r[name] === "string" && (r[name] as string).includes(v);
  }
  if (op === "in") {
    if (!Array.isArray(f.value)) bad(`Operand ${quote(f.value)} of "in" on column ${quote(name)}`, "pass an array of values");
    const vals = (f.value as unknown[]).map((v) => operand(s, i, v, op));
    terms?.push({ column: name, kind: "eq", values: vals });
    if (type === "Json" || type === "Binary") return (r) => r[name] !== null && vals.some((v) => deepEqual(r[name], v));
    const set = new Set(vals.map(eqKey));
    return (r) => r[name] !== null && set.has(eqKey(r[name]));
  }
  if (op === "between") {
    if (!Array.isArray(f.value) || f.value.length !== 2) bad(`Operand ${quote(f.value)} of "between" on column ${quote(name)}`, "pass [low, high]");
    if (!ORDERED.has(type)) bad(`Operator between on column ${quote(name)} of type ${type}`, "it needs an ordered column type");
    const lo = operand(s, i, f.value[0], op);
    const hi = operand(s, i, f.value[1], op);
    terms?.push({ column: name, kind: "range", lo: { v: lo, inclusive: true }, hi: { v: hi, inclusive: true } });
    return (r) => r[name] !== null && cmp(r[name], lo) >= 0 && cmp(r[name], hi) <= 0;
  }
  if (!COMPARE.has(op)) bad(`Filter operator ${quote(op)} is unknown`, "use =, !=, <, <=, >, >=, in, between, isNull, startsWith or contains");
  const v = operand(s, i, f.value, op);
  if (op === "=" || op === "!=") {
    const eq = type === "Json" || type === "Binary"
      ? (x: Value) => deepEqual(x, v)
      : ((k) => (x: Value) => eqKey(x) === k || (x !== x && k !== k))(eqKey(v));
    if (op === "=") {
      terms?.push({ column: name, kind: "eq", values: [v] });
      return (r) => r[name] !== null && eq(r[name]);
    }
    return (r) => r[name] !== null && !eq(r[name]);
  }
  if (!ORDERED.has(type)) bad(`Operator ${op} on column ${quote(name)} of type ${type}`, "it needs an ordered column type");
  const bound = { v, inclusive: op === "<=" || op === ">=" };
  terms?.push(op[0] === ">" ? { column: name, kind: "range", lo: bound } : { column: name, kind: "range", hi: bound });
  // Typed fast paths: plain JS comparison is exact for numbers and strings.
  if (typeof v === "number" || typeof v === "string") {
    switch (op) {
      case "<":
        return (r) => r[name] !== null && (r[name] as number) < (v as number);
      case "<=":
        return (r) => r[name] !== null && (r[name] as number) <= (v as number);
      case ">":
        return (r) => r[name] !== null && (r[name] as number) > (v as number);
      default:
        return (r) => r[name] !== null && (r[name] as number) >= (v as number);
    }
  }
  const want = op === "<" ? (c: number) => c < 0 : op === "<=" ? (c: number) => c <= 0 : op === ">" ? (c: number) => c > 0 : (c: number) => c >= 0;
  return (r) => r[name] !== null && want(cmp(r[name], v));
}

function cmp(a: Value, b: Value): number {
  return compareValues(a, b);
}

function checkNames(s: CompiledSchema, list: unknown, what: string): string[] {
  if (!Array.isArray(list) || list.length === 0) bad(`${what} ${quote(list)}`, "pass a non-empty array of column names");
  return list.map((c) => s.names[columnIndex(s, c, what)]);
}

const AGG_OPS = new Set(["count", "sum", "mean", "min", "max", "countDistinct"]);
const NUMERIC = new Set(["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64"]);

/**
 * Checks a query against a schema and builds its plan. Throws
 * `ValidationError` naming the bad part; nothing runs before this passes.
 *
 * @example
 * ```ts
 * import { compileSchema } from "./schema.ts";
 * import { compileQuery } from "./query.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * compileQuery(s, { where: { column: "id", op: ">", value: 3 } });
 * ```
 */
export function compileQuery(s: CompiledSchema, q: unknown): Plan {
  if (q === undefined || q === null) q = {};
  if (!isObj(q)) bad(`Query ${quote(q)} is not an object`, "pass { where?, select?, orderBy?, limit?, offset?, groupBy?, aggregates?, format? }");
  const allowed = new Set(["where", "select", "orderBy", "limit", "offset", "groupBy", "aggregates", "format"]);
  for (const k of Object.keys(q)) if (!allowed.has(k)) bad(`Query key ${quote(k)} is unknown`, `use ${[...allowed].join(", ")}`);
  const query = q as Query;
  const terms: IndexTerm[] = [];
  const pred = query.where === undefined ? null : compileFilter(s, query.where, terms);
  const out: Query = { ...query };
  if (query.select !== undefined) out.select = checkNames(s, query.select, "select");
  if (query.groupBy !== undefined) out.groupBy = checkNames(s, query.groupBy, "groupBy");
  if (query.select !== undefined && (query.groupBy !== undefined || query.aggregates !== undefined)) {
    bad("A query has both select and groupBy/aggregates", "the output of a grouped query is its group columns and aggregates; drop select");
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
      if (outputs.has(alias)) bad(`Aggregate name ${quote(alias)} repeats a group column`, "rename it");
      if (a.column === undefined) {
        if (a.op !== "count") bad(`Aggregate ${quote(alias)} (${a.op}) has no column`, "name the column it reads");
      } else {
        const i = columnIndex(s, a.column, `aggregate ${quote(alias)}`);
        const type = s.def.columns[i].type;
        if ((a.op === "sum" || a.op === "mean") && !NUMERIC.has(type)) {
          bad(`Aggregate ${quote(alias)} (${a.op}) reads column ${quote(a.column)} of type ${type}`, "sum and mean need a numeric column");
        }
        if ((a.op === "min" || a.op === "max") && !ORDERED.has(type)) {
          bad(`Aggregate ${quote(alias)} (${a.op}) reads column ${quote(a.column)} of type ${type}`, "min and max need an ordered column");
        }
      }
      outputs.add(alias);
    }
  } else if (out.groupBy !== undefined) {
    bad("A query has groupBy but no aggregates", "add aggregates, e.g. { n: { op: \"count\" } }");
  }
  const grouped = out.groupBy !== undefined || query.aggregates !== undefined;
  if (query.orderBy !== undefined) {
    if (!Array.isArray(query.orderBy)) bad(`orderBy ${quote(query.orderBy)}`, "pass an array of { column, direction?, nulls? }");
    for (const o of query.orderBy) {
      if (!isObj(o)) bad(`orderBy entry ${quote(o)}`, "pass { column, direction?, nulls? }");
      const ok = grouped ? outputs.has(o.column as string) : s.names.includes(o.column as string);
      if (!ok) bad(`orderBy column ${quote(o.column)} is not in the ${grouped ? "grouped output" : "table"}`, `use one of ${[...(grouped ? outputs : s.names)].map((n) => quote(n)).join(", ")}`);
      if (o.direction !== undefined && o.direction !== "asc" && o.direction !== "desc") bad(`orderBy direction ${quote(o.direction)}`, 'use "asc" or "desc"');
      if (o.nulls !== undefined && o.nulls !== "first" && o.nulls !== "last") bad(`orderBy nulls ${quote(o.nulls)}`, 'use "first" or "last"');
      for (const k of Object.keys(o)) if (k !== "column" && k !== "direction" && k !== "nulls") bad(`orderBy key ${quote(k)} is unknown`, "use column, direction, nulls");
    }
  }
  for (const k of ["limit", "offset"] as const) {
    const v = query[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 0)) bad(`${k} ${quote(v)}`, "pass a non-negative integer");
  }
  if (query.format !== undefined && query.format !== "rows" && query.format !== "columns") {
    bad(`format ${quote(query.format)}`, 'use "rows" or "columns"');
  }
  return { pred, terms, query: out };
}

function rowComparator(order: OrderBy[]): (a: StoredRow, b: StoredRow) => number {
  return (a, b) => {
    for (const o of order) {
      const x = a[o.column];
      const y = b[o.column];
      const desc = o.direction === "desc";
      const nullsFirst = o.nulls ? o.nulls === "first" : desc;
      if (x === null || y === null) {
        if (x === y) continue;
        return (x === null) === nullsFirst ? -1 : 1;
      }
      // Not x - y: Infinity - Infinity is NaN, which would end the comparison.
      const c = typeof x === "number" && typeof y === "number" && x === x && y === y
        ? (x < y ? -1 : x > y ? 1 : 0)
        : compareValues(x, y);
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  };
}

interface Acc {
  n: number;
  sum: number;
  min: Value | null;
  max: Value | null;
  distinct: Set<unknown> | null;
}

/** Groups and aggregates the matching rows in one pass, without collecting them first. */
function aggregate(rows: Iterable<StoredRow>, pred: Pred | null, groupBy: string[], aggs: Record<string, Aggregate>): StoredRow[] {
  const aliases = Object.keys(aggs);
  const specs = aliases.map((a) => aggs[a]);
  const groups = new Map<unknown, { key: StoredRow; accs: Acc[] }>();
  const single = groupBy.length === 1 ? groupBy[0] : null;
  for (const row of rows) {
    if (pred !== null && !pred(row)) continue;
    // One group column: its Map key; several: their canonical forms joined.
    const gk = single !== null ? keyOf(row[single]) : groupBy.length === 0 ? 0 : groupBy.map((c) => canon(row[c])).join("|");
    let g = groups.get(gk);
    if (g === undefined) {
      const key: StoredRow = {};
      for (const c of groupBy) key[c] = row[c];
      g = { key, accs: specs.map((a) => ({ n: 0, sum: 0, min: null, max: null, distinct: a.op === "countDistinct" ? new Set() : null })) };
      groups.set(gk, g);
    }
    for (let i = 0; i < specs.length; i++) {
      const a = specs[i];
      const acc = g.accs[i];
      if (a.column === undefined) {
        acc.n++;
        continue;
      }
      const v = row[a.column];
      if (v === null) continue;
      acc.n++;
      switch (a.op) {
        case "sum":
        case "mean":
          acc.sum += v as number;
          break;
        case "min":
          if (acc.min === null || compareValues(v, acc.min) < 0) acc.min = v;
          break;
        case "max":
          if (acc.max === null || compareValues(v, acc.max) > 0) acc.max = v;
          break;
        case "countDistinct":
          acc.distinct!.add(keyOf(v));
      }
    }
  }
  if (groups.size === 0 && groupBy.length === 0) {
    groups.set(0, { key: {}, accs: specs.map(() => ({ n: 0, sum: 0, min: null, max: null, distinct: new Set() })) });
  }
  const out: StoredRow[] = [];
  for (const { key, accs } of groups.values()) {
    const row: StoredRow = { ...key };
    for (let i = 0; i < specs.length; i++) {
      const a = specs[i];
      const acc = accs[i];
      row[aliases[i]] = a.op === "count"
        ? acc.n
        : a.op === "sum"
        ? acc.sum
        : a.op === "mean"
        ? (acc.n === 0 ? null : acc.sum / acc.n)
        : a.op === "min"
        ? acc.min
        : a.op === "max"
        ? acc.max
        : acc.distinct!.size;
    }
    out.push(row);
  }
  return out;
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
 * import { keyOf } from "./query.ts";
 * keyOf(new Date(5)) === keyOf(new Date(5)); // true
 * ```
 */
export function keyOf(v: Value): unknown {
  if (typeof v === "string") return v.charCodeAt(0) === 0 ? "\0s" + v : v;
  if (typeof v !== "object" || v === null) return v;
  return "\0o" + canon(v);
}

/** An injective string form of a value (the parts are self-delimiting). */
function canon(v: Value): string {
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

/**
 * The first `k` matching rows in sort order, as a stable full sort would give
 * them, in O(n log k): a max-heap of the best so far, ties broken by scan order.
 */
function topK(rows: Iterable<StoredRow>, pred: Pred | null, cmp: (a: StoredRow, b: StoredRow) => number, k: number): StoredRow[] {
  if (k === 0) return [];
  const heap: { row: StoredRow; seq: number }[] = [];
  const worse = (a: { row: StoredRow; seq: number }, b: { row: StoredRow; seq: number }) => {
    const c = cmp(a.row, b.row);
    return c !== 0 ? c > 0 : a.seq > b.seq;
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && worse(heap[l], heap[top])) top = l;
      if (r < heap.length && worse(heap[r], heap[top])) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top], heap[i]];
      i = top;
    }
  };
  let seq = 0;
  for (const row of rows) {
    if (pred !== null && !pred(row)) continue;
    const item = { row, seq: seq++ };
    if (heap.length < k) {
      heap.push(item);
      for (let i = heap.length - 1; i > 0;) {
        const parent = (i - 1) >> 1;
        if (!worse(heap[i], heap[parent])) break;
        [heap[i], heap[parent]] = [heap[parent], heap[i]];
        i = parent;
      }
    } else if (worse(heap[0], item)) {
      heap[0] = item;
      down(0);
    }
  }
  heap.sort((a, b) => cmp(a.row, b.row) || a.seq - b.seq);
  return heap.map((h) => h.row);
}

/**
 * Runs a plan over candidate rows (every row, or those an index found) and
 * returns copies, as rows or columns.
 *
 * @example
 * ```ts
 * import { compileSchema } from "./schema.ts";
 * import { compileQuery, runPlan } from "./query.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * runPlan(s, compileQuery(s, { limit: 1 }), [{ id: 1 }, { id: 2 }]); // [{ id: 1 }]
 * ```
 */
export function runPlan(s: CompiledSchema, plan: Plan, candidates: Iterable<StoredRow>): StoredRow[] | Columns {
  const q = plan.query;
  const pred = plan.pred;
  let rows: StoredRow[] = [];
  const grouped = q.groupBy !== undefined || q.aggregates !== undefined;
  const ordered = q.orderBy !== undefined && q.orderBy.length > 0;
  let copy = true;
  if (grouped) {
    rows = aggregate(candidates, pred, q.groupBy ?? [], q.aggregates!);
    copy = false;
    if (ordered) rows.sort(rowComparator(q.orderBy!));
  } else if (ordered && q.limit !== undefined) {
    // Top-k: keep the best offset + limit rows in a heap instead of sorting all.
    rows = topK(candidates, pred, rowComparator(q.orderBy!), (q.offset ?? 0) + q.limit);
  } else {
    // Without sorting, stop as soon as offset + limit rows matched.
    const stopAt = !ordered && q.limit !== undefined ? (q.offset ?? 0) + q.limit : Infinity;
    for (const row of candidates) {
      if (pred === null || pred(row)) {
        rows.push(row);
        if (rows.length >= stopAt) break;
      }
    }
    if (ordered) rows.sort(rowComparator(q.orderBy!));
  }
  if (q.offset !== undefined || q.limit !== undefined) {
    const from = q.offset ?? 0;
    rows = rows.slice(from, q.limit === undefined ? undefined : from + q.limit);
  }
  const names = grouped ? (rows.length ? Object.keys(rows[0]) : [...(q.groupBy ?? []), ...Object.keys(q.aggregates!)]) : (q.select ?? s.names);
  const deep = new Set(s.copyOut.map((i) => s.names[i]));
  // Stored cells are shared: copy the object-valued ones (group keys and min/max included).
  const out = (row: StoredRow, c: string) => (copy ? (deep.has(c) ? cloneOut(row[c]) : row[c]) : cloneOut(row[c]));
  if (q.format === "columns") {
    const cols: Columns = {};
    for (const c of names) cols[c] = rows.map((r) => out(r, c));
    return cols;
  }
  return rows.map((r) => {
    const o: StoredRow = {};
    for (const c of names) o[c] = out(r, c);
    return o;
  });
}
