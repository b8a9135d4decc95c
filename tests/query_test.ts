// Table queries and secondary indexes, embedded: every query result is
// checked against a straightforward reference implementation over plain
// arrays (written below, independent of src/engine), on randomised tables and
// randomised queries — property-based with a fixed seed that every failure
// message prints (CYBERDB_QUERY_SEED=<n> reruns with another base seed) —
// without indexes, with unique and non-unique indexes, after random writes,
// inside and after transactions, and after close/reopen of a durable
// database (snapshot and log replay). Then the decided semantics one by one,
// unique-index rollbacks, malformed queries and result isolation.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  AlreadyExistsError,
  Database,
  DuplicateKeyError,
  KeyNotFoundError,
  ValidationError,
  type Value,
} from "../mod.ts";

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

const BASE_SEED = Number(process.env.CYBERDB_QUERY_SEED ?? 20250611);

/** mulberry32: the same numbers on every runtime. */
class Rand {
  #a: number;
  constructor(readonly seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  subset<T>(xs: readonly T[], min: number, max: number): T[] {
    const pool = [...xs];
    const n = Math.min(pool.length, this.int(min, max));
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0]);
    return out;
  }
}

// ---------------------------------------------------------------------------
// The table under test
// ---------------------------------------------------------------------------

const SCHEMA = {
  name: "people",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "name", type: "Utf8", nullable: true },
    { name: "city", type: "Utf8" },
    { name: "code", type: "Utf8", nullable: true },
    { name: "age", type: "Int32", nullable: true },
    { name: "big", type: "Int64", nullable: true },
    { name: "score", type: "Float64", nullable: true },
    { name: "active", type: "Boolean", nullable: true },
    { name: "born", type: "Date", nullable: true },
    { name: "seen", type: "Datetime", nullable: true },
    { name: "blob", type: "Binary", nullable: true },
    { name: "meta", type: "Json", nullable: true },
  ],
} as const;

type Kind = "str" | "int" | "float" | "bool" | "date" | "bin" | "json";
const KIND: Record<string, Kind> = {
  id: "int",
  name: "str",
  city: "str",
  code: "str",
  age: "int",
  big: "int",
  score: "float",
  active: "bool",
  born: "date",
  seen: "date",
  blob: "bin",
  meta: "json",
};
const COLS = SCHEMA.columns.map((c) => c.name) as string[];
const NULLABLE = new Set(SCHEMA.columns.filter((c) => "nullable" in c && c.nullable).map((c) => c.name as string));
const NUMERIC = COLS.filter((c) => KIND[c] === "int" || KIND[c] === "float");
const ORDERED = COLS.filter((c) => KIND[c] !== "bin" && KIND[c] !== "json");
const SORTABLE = COLS.filter((c) => KIND[c] !== "json");
const GROUPABLE = ["name", "city", "code", "age", "active", "born", "blob", "score", "meta"];
const INDEXABLE = ["name", "city", "age", "big", "score", "active", "born", "seen", "blob"];

type Row = Record<string, Value>;
type Q = Record<string, unknown>;

/** The table surface, loosely typed: the tests hand it generated data and malformed queries. */
interface LooseTable {
  insert(row: unknown): void;
  insertMany(rows: unknown): void;
  update(pk: unknown, row: unknown): void;
  patch(pk: unknown, partial: unknown): void;
  upsert(row: unknown): void;
  delete(pk: unknown): boolean;
  get(pk: unknown): Row | undefined;
  count(where?: unknown): number;
  query(q?: unknown): unknown;
  first(q?: unknown): Row | undefined;
  createIndex(column: unknown, options?: unknown): void;
  dropIndex(column: unknown): boolean;
  indexes(): { column: string; unique: boolean }[];
  toArray(): Row[];
  // deno-lint-ignore no-explicit-any
  where(column: string, op: string, ...operand: unknown[]): any;
  // deno-lint-ignore no-explicit-any
  groupBy(...columns: string[]): any;
  // deno-lint-ignore no-explicit-any
  select(...columns: string[]): any;
  // deno-lint-ignore no-explicit-any
  orderBy(column: string, direction?: "asc" | "desc", nulls?: "first" | "last"): any;
}

function loose(t: unknown): LooseTable {
  return t as LooseTable;
}

const NAMES = ["ada", "adam", "Ada", "bob", "bobby", "b", "", "a b", "Élodie", "zoë", "名前", "😀x", "x😀"];
const CITIES = ["Paris", "Berlin", "Oslo", "Rome", "Lima"];
const BIGS = [0, 1, -1, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 123456789012];
// Infinity but not -Infinity: a sum over both is NaN, whose place in an order is undecided.
const SCORES = [0, 1, -1, 0.5, 2.25, 99.99, -7.125, 1e300, -1e300, -1e-300, Infinity];

function genValue(r: Rand, col: string, nullP = 0.15): Value {
  if (NULLABLE.has(col) && r.chance(nullP)) return null;
  switch (col) {
    case "id":
      return r.int(0, 999);
    case "name":
      return r.pick(NAMES);
    case "city":
      return r.pick(CITIES);
    case "code":
      return `c${r.int(0, 400)}`;
    case "age":
      return r.int(-5, 80);
    case "big":
      return r.chance(0.5) ? r.pick(BIGS) : r.int(-1e6, 1e6) * 1_000_003;
    case "score":
      return r.chance(0.3) ? r.pick(SCORES) : Math.round((r.next() * 200 - 100) * 100) / 100;
    case "active":
      return r.chance(0.5);
    case "born":
      return new Date(Date.UTC(1990 + r.int(0, 4), r.int(0, 2), r.int(1, 3)));
    case "seen":
      return new Date(1_700_000_000_000 + r.int(0, 5000) * 997);
    case "blob": {
      const n = r.int(0, 3);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = r.int(0, 3);
      return b;
    }
    case "meta":
      switch (r.int(0, 6)) {
        case 0:
          return { a: r.int(0, 3) };
        case 1:
          return { a: r.int(0, 2), b: "x" };
        case 2:
          return { b: "x", a: r.int(0, 2) };
        case 3:
          return [r.int(0, 2), "x"];
        case 4:
          return `s${r.int(0, 3)}`;
        case 5:
          return r.int(0, 3);
        default:
          return r.chance(0.5);
      }
  }
  throw new Error(`no generator for ${col}`);
}

/** A full row as stored (every column present), and the object handed to insert (nullable nulls sometimes left out, Int64 sometimes as bigint). */
function genRow(r: Rand, id: number): { stored: Row; input: Row } {
  const stored: Row = {};
  const input: Row = {};
  for (const c of COLS) {
    const v = c === "id" ? id : genValue(r, c);
    stored[c] = v;
    if (v === null && r.chance(0.5)) continue;
    input[c] = c === "big" && typeof v === "number" && r.chance(0.3) ? BigInt(v) : v;
  }
  return { stored, input };
}

// ---------------------------------------------------------------------------
// The reference implementation, over plain arrays
// ---------------------------------------------------------------------------

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A canonical string for any value: equal values (by the engine's "=") give equal strings. */
function canon(v: Value): string {
  if (v === null) return "∅";
  if (typeof v === "number") return `n${Object.is(v, -0) ? "0" : String(v)}`;
  if (typeof v === "bigint") return `i${v}`;
  if (typeof v === "string") return `s${JSON.stringify(v)}`;
  if (typeof v === "boolean") return v ? "T" : "F";
  if (v instanceof Date) return `d${v.getTime()}`;
  if (v instanceof Uint8Array) return `b${hex(v)}`;
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  const o = v as Record<string, Value>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canon(o[k])}`).join(",")}}`;
}

function same(a: Value, b: Value): boolean {
  return canon(a) === canon(b);
}

/** Order of two non-null values of one column kind. */
function cmp(a: Value, b: Value): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  if (a instanceof Date && b instanceof Date) return Math.sign(a.getTime() - b.getTime());
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }
  throw new Error(`reference cannot order ${show(a)} and ${show(b)}`);
}

/** Two-valued filter logic: a comparison with a null cell is false, `not` negates. */
function matches(row: Row, f: Q): boolean {
  if ("and" in f) return (f.and as Q[]).every((g) => matches(row, g));
  if ("or" in f) return (f.or as Q[]).some((g) => matches(row, g));
  if ("not" in f) return !matches(row, f.not as Q);
  const cell = row[f.column as string];
  const v = f.value as Value;
  if (f.op === "isNull") return cell === null;
  if (cell === null) return false;
  switch (f.op) {
    case "=":
      return same(cell, v);
    case "!=":
      return !same(cell, v);
    case "<":
      return cmp(cell, v) < 0;
    case "<=":
      return cmp(cell, v) <= 0;
    case ">":
      return cmp(cell, v) > 0;
    case ">=":
      return cmp(cell, v) >= 0;
    case "in":
      return (v as Value[]).some((x) => same(cell, x));
    case "between":
      return cmp(cell, (v as Value[])[0]) >= 0 && cmp(cell, (v as Value[])[1]) <= 0;
    case "startsWith":
      return (cell as string).startsWith(v as string);
    case "contains":
      return (cell as string).includes(v as string);
  }
  throw new Error(`reference: unknown op ${String(f.op)}`);
}

type Agg = { op: string; column?: string };

function aggregateRef(rows: Row[], a: Agg): Value {
  if (a.column === undefined) return rows.length;
  const vals = rows.map((r) => r[a.column!]).filter((v) => v !== null);
  switch (a.op) {
    case "count":
      return vals.length;
    case "sum":
      return vals.reduce((s: number, v) => s + (v as number), 0);
    case "mean":
      return vals.length === 0 ? null : vals.reduce((s: number, v) => s + (v as number), 0) / vals.length;
    case "min":
      return vals.reduce((m: Value, v) => (m === null || cmp(v, m) < 0 ? v : m), null);
    case "max":
      return vals.reduce((m: Value, v) => (m === null || cmp(v, m) > 0 ? v : m), null);
    case "countDistinct":
      return new Set(vals.map(canon)).size;
  }
  throw new Error(`reference: unknown aggregate ${a.op}`);
}

type Order = { column: string; direction?: "asc" | "desc"; nulls?: "first" | "last" };

function sortRef(rows: Row[], order: Order[]): Row[] {
  const dec = rows.map((row, i) => ({ row, i }));
  dec.sort((x, y) => {
    for (const o of order) {
      const a = x.row[o.column];
      const b = y.row[o.column];
      const desc = o.direction === "desc";
      const nullsFirst = o.nulls === undefined ? desc : o.nulls === "first";
      if (a === null && b === null) continue;
      if (a === null) return nullsFirst ? -1 : 1;
      if (b === null) return nullsFirst ? 1 : -1;
      const c = cmp(a, b);
      if (c !== 0) return desc ? -c : c;
    }
    return x.i - y.i;
  });
  return dec.map((d) => d.row);
}

/** What a query must return, computed the plain way over rows in insertion order. */
function reference(rows: readonly Row[], q: Q): Row[] | Record<string, Value[]> {
  let out: Row[] = q.where === undefined ? [...rows] : rows.filter((r) => matches(r, q.where as Q));
  let names: string[];
  if (q.groupBy !== undefined || q.aggregates !== undefined) {
    const gcols = (q.groupBy as string[] | undefined) ?? [];
    const aggs = q.aggregates as Record<string, Agg>;
    const groups = new Map<string, Row[]>();
    for (const r of out) {
      const k = gcols.map((c) => canon(r[c])).join("\u0001");
      const g = groups.get(k);
      if (g) g.push(r);
      else groups.set(k, [r]);
    }
    if (gcols.length === 0 && groups.size === 0) groups.set("", []);
    out = [...groups.values()].map((g) => {
      const o: Row = {};
      for (const c of gcols) o[c] = g[0][c];
      for (const [alias, a] of Object.entries(aggs)) o[alias] = aggregateRef(g, a);
      return o;
    });
    names = [...gcols, ...Object.keys(aggs)];
  } else names = (q.select as string[] | undefined) ?? COLS;
  if (q.orderBy !== undefined) out = sortRef(out, q.orderBy as Order[]);
  const from = (q.offset as number | undefined) ?? 0;
  out = out.slice(from, q.limit === undefined ? undefined : from + (q.limit as number));
  if (q.format === "columns") {
    const cols: Record<string, Value[]> = {};
    for (const c of names) cols[c] = out.map((r) => r[c]);
    return cols;
  }
  return out.map((r) => Object.fromEntries(names.map((c) => [c, r[c]])));
}

// ---------------------------------------------------------------------------
// Random queries
// ---------------------------------------------------------------------------

function operandFor(r: Rand, col: string, rows: readonly Row[]): Value {
  // Mostly a value that is in the table (so filters match something), else a fresh one.
  if (rows.length > 0 && r.chance(0.7)) {
    for (let tries = 0; tries < 5; tries++) {
      const v = r.pick(rows)[col];
      if (v !== null) return v;
    }
  }
  const v = genValue(r, col, 0);
  return v;
}

function leaf(r: Rand, rows: readonly Row[]): Q {
  const column = r.pick(COLS);
  const kind = KIND[column];
  const ops: string[] = ["=", "!=", "in", "isNull"];
  if (kind !== "bin" && kind !== "json") ops.push("<", "<=", ">", ">=", "between");
  if (kind === "str") ops.push("startsWith", "contains");
  const op = r.pick(ops);
  switch (op) {
    case "isNull":
      return { column, op };
    case "in":
      return { column, op, value: Array.from({ length: r.int(0, 4) }, () => operandFor(r, column, rows)) };
    case "between": {
      const a = operandFor(r, column, rows);
      const b = operandFor(r, column, rows);
      return { column, op, value: r.chance(0.8) && cmp(a, b) > 0 ? [b, a] : [a, b] };
    }
    case "startsWith":
    case "contains": {
      // Cut by code points: a lone surrogate is not a valid Utf8 operand.
      const s = Array.from(operandFor(r, column, rows) as string);
      const from = r.int(0, s.length);
      return { column, op, value: op === "startsWith" ? s.slice(0, from).join("") : s.slice(from, r.int(from, s.length)).join("") };
    }
    default:
      return { column, op, value: operandFor(r, column, rows) };
  }
}

function filter(r: Rand, rows: readonly Row[], depth: number): Q {
  const x = r.next();
  if (depth >= 3 || x < 0.5) return leaf(r, rows);
  if (x < 0.75) return { and: Array.from({ length: r.int(0, 3) }, () => filter(r, rows, depth + 1)) };
  if (x < 0.9) return { or: Array.from({ length: r.int(0, 3) }, () => filter(r, rows, depth + 1)) };
  return { not: filter(r, rows, depth + 1) };
}

/** A top-level AND whose first terms an index can serve (equality, in, ranges). */
function indexableFilter(r: Rand, rows: readonly Row[], indexed: readonly string[]): Q {
  const terms: Q[] = [];
  for (let i = r.int(1, 2); i > 0; i--) {
    const column = r.pick(indexed.length ? indexed : INDEXABLE);
    const kind = KIND[column];
    const op = kind === "bin" ? r.pick(["=", "in"]) : r.pick(["=", "in", "<", "<=", ">", ">=", "between"]);
    const v = operandFor(r, column, rows);
    if (op === "in") terms.push({ column, op, value: [v, operandFor(r, column, rows)] });
    else if (op === "between") {
      const w = operandFor(r, column, rows);
      terms.push({ column, op, value: cmp(v, w) > 0 ? [w, v] : [v, w] });
    } else terms.push({ column, op, value: v });
  }
  if (r.chance(0.5)) terms.push(filter(r, rows, 2));
  return terms.length === 1 ? terms[0] : { and: terms };
}

function randomOrder(r: Rand, columns: readonly string[]): Order[] {
  return r.subset(columns, 1, 3).map((column) => {
    const o: Order = { column };
    if (r.chance(0.6)) o.direction = r.chance(0.5) ? "asc" : "desc";
    if (r.chance(0.4)) o.nulls = r.chance(0.5) ? "first" : "last";
    return o;
  });
}

function randomAggregates(r: Rand): Record<string, Agg> {
  const out: Record<string, Agg> = {};
  const n = r.int(1, 3);
  for (let i = 0; i < n; i++) {
    const op = r.pick(["count", "count", "sum", "mean", "min", "max", "countDistinct"]);
    let a: Agg;
    if (op === "count") a = r.chance(0.5) ? { op } : { op, column: r.pick(COLS) };
    else if (op === "sum" || op === "mean") a = { op, column: r.pick(NUMERIC) };
    else if (op === "min" || op === "max") a = { op, column: r.pick(ORDERED) };
    else a = { op, column: r.pick(COLS) };
    out[`a${i}`] = a;
  }
  return out;
}

function randomQuery(r: Rand, rows: readonly Row[], indexed: readonly string[]): Q {
  const q: Q = {};
  const w = r.next();
  if (w < 0.4) q.where = indexableFilter(r, rows, indexed);
  else if (w < 0.85) q.where = filter(r, rows, 0);
  if (r.chance(0.3)) {
    if (r.chance(0.8)) q.groupBy = r.subset(GROUPABLE, 1, 2);
    q.aggregates = randomAggregates(r);
    // Json has no decided order: group columns other than meta, and the aggregates.
    const outputs = [...((q.groupBy as string[]) ?? []), ...Object.keys(q.aggregates as Q)].filter((c) => c !== "meta");
    if (outputs.length && r.chance(0.5)) q.orderBy = randomOrder(r, outputs);
  } else {
    if (r.chance(0.4)) q.select = r.subset(COLS, 1, 4);
    if (r.chance(0.5)) q.orderBy = randomOrder(r, SORTABLE);
  }
  if (r.chance(0.3)) q.limit = r.int(0, 20);
  if (r.chance(0.25)) q.offset = r.int(0, 30);
  if (r.chance(0.3)) q.format = "columns";
  else if (r.chance(0.2)) q.format = "rows";
  return q;
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === "bigint") return `${x}n`;
    if (typeof x === "number" && !Number.isFinite(x)) return String(x);
    if (x instanceof Uint8Array) return `<bin ${hex(x)}>`;
    if (typeof x === "string" && /^\d{4}-\d\d-\d\dT/.test(x)) return `<date ${x}>`;
    return x;
  });
}

/** Collects mismatches of one property run; `done()` fails with the first few and the seed. */
class Checker {
  failures: string[] = [];
  checked = 0;
  constructor(readonly seed: number, readonly label: string) {}

  /** Runs one random query through query(), first() and count(where), against the reference. */
  query(t: LooseTable, rows: readonly Row[], q: Q, where: string): void {
    this.checked++;
    const tag = `[${where}] query ${show(q)}`;
    let expected: unknown;
    try {
      expected = reference(rows, q);
    } catch (e) {
      this.failures.push(`${tag}: reference failed: ${(e as Error).message}`);
      return;
    }
    this.compare(() => t.query(q), expected, tag);
    if (this.checked % 3 === 0) {
      const fq: Q = { ...q, limit: 1, format: "rows" };
      this.compare(() => t.first(q), (reference(rows, fq) as Row[])[0], `${tag} via first()`);
    }
    if (q.where !== undefined && this.checked % 4 === 0) {
      this.compare(() => t.count(q.where), rows.filter((r) => matches(r, q.where as Q)).length, `${tag} via count(where)`);
    }
  }

  compare(actual: () => unknown, expected: unknown, tag: string): void {
    try {
      assert.deepStrictEqual(actual(), expected);
    } catch (e) {
      const err = e as Error;
      if (err instanceof assert.AssertionError) {
        const a = (err as unknown as { actual: unknown }).actual;
        this.failures.push(`${tag}\n    expected ${show(expected)}\n    actual   ${show(a)}`);
      } else this.failures.push(`${tag}\n    threw ${err.name}: ${err.message}`);
    }
  }

  done(): void {
    if (this.failures.length === 0) return;
    assert.fail(
      `${this.label}: ${this.failures.length} of ${this.checked} random queries disagree with the reference ` +
        `(seed ${this.seed}; rerun with CYBERDB_QUERY_SEED=${BASE_SEED}). First ones:\n  ` +
        this.failures.slice(0, 4).join("\n  "),
    );
  }
}

/** The plain-array model of the table: rows in insertion order. */
class Model {
  rows: Row[] = [];
  uniqueCode = false;

  clone(): Model {
    const m = new Model();
    m.rows = this.rows.map((r) => ({ ...r }));
    m.uniqueCode = this.uniqueCode;
    return m;
  }
  at(id: number): number {
    return this.rows.findIndex((r) => r.id === id);
  }
  /** Whether writing `row` (under its id) would break the unique index on code. */
  clashes(row: Row, batch: Row[] = []): boolean {
    if (!this.uniqueCode || row.code === null) return false;
    return this.rows.some((r) => r.id !== row.id && r.code === row.code) || batch.some((r) => r.code === row.code);
  }
}

type WriteResult = "ok" | "DuplicateKeyError" | "KeyNotFoundError" | "false";

function errName(e: unknown): WriteResult {
  if (e instanceof DuplicateKeyError) return "DuplicateKeyError";
  if (e instanceof KeyNotFoundError) return "KeyNotFoundError";
  throw e;
}

/** One random write, applied to the table and the model; their outcomes must agree. */
function randomWrite(r: Rand, t: LooseTable, m: Model, seed: number): string {
  const ids = m.rows.map((x) => x.id as number);
  const anyId = () => (ids.length && r.chance(0.75) ? r.pick(ids) : r.int(0, 999));
  const kind = r.pick(["insert", "insert", "insertMany", "update", "patch", "upsert", "upsert", "delete", "delete"]);
  let expected: WriteResult = "ok";
  let run: () => unknown;
  let apply: () => void = () => {};
  let what: string;
  switch (kind) {
    case "insert": {
      const id = r.chance(0.8) ? r.int(0, 999) : anyId();
      const { stored, input } = genRow(r, id);
      what = `insert ${show(input)}`;
      if (m.at(id) >= 0 || m.clashes(stored)) expected = "DuplicateKeyError";
      else apply = () => m.rows.push(stored);
      run = () => t.insert(input);
      break;
    }
    case "insertMany": {
      const batch: Row[] = [];
      const inputs: Row[] = [];
      let bad = false;
      for (let i = r.int(0, 5); i > 0; i--) {
        const id = r.chance(0.1) && batch.length ? batch[0].id as number : r.int(0, 999);
        const { stored, input } = genRow(r, id);
        if (m.at(id) >= 0 || batch.some((b) => b.id === id) || m.clashes(stored, batch)) bad = true;
        batch.push(stored);
        inputs.push(input);
      }
      what = `insertMany ${show(inputs)}`;
      if (bad) expected = "DuplicateKeyError";
      else apply = () => m.rows.push(...batch);
      run = () => t.insertMany(inputs);
      break;
    }
    case "update": {
      const id = anyId();
      const { stored, input } = genRow(r, id);
      if (r.chance(0.3)) delete input.id;
      what = `update ${id} ${show(input)}`;
      const i = m.at(id);
      if (i < 0) expected = "KeyNotFoundError";
      else if (m.clashes(stored)) expected = "DuplicateKeyError";
      else apply = () => void (m.rows[i] = stored);
      run = () => t.update(id, input);
      break;
    }
    case "patch": {
      const id = anyId();
      const part: Row = {};
      for (const c of r.subset(COLS.filter((c) => c !== "id"), 1, 3)) part[c] = genValue(r, c);
      what = `patch ${id} ${show(part)}`;
      const i = m.at(id);
      if (i < 0) expected = "KeyNotFoundError";
      else {
        const next = { ...m.rows[i], ...part };
        if (m.clashes(next)) expected = "DuplicateKeyError";
        else apply = () => void (m.rows[i] = next);
      }
      run = () => t.patch(id, part);
      break;
    }
    case "upsert": {
      const id = anyId();
      const { stored, input } = genRow(r, id);
      what = `upsert ${show(input)}`;
      const i = m.at(id);
      if (m.clashes(stored)) expected = "DuplicateKeyError";
      else apply = () => void (i < 0 ? m.rows.push(stored) : (m.rows[i] = stored));
      run = () => t.upsert(input);
      break;
    }
    default: {
      const id = anyId();
      what = `delete ${id}`;
      const i = m.at(id);
      if (i < 0) expected = "false";
      else apply = () => void m.rows.splice(i, 1);
      run = () => t.delete(id);
    }
  }
  let got: WriteResult;
  try {
    const res = run();
    got = res === false ? "false" : "ok";
  } catch (e) {
    got = errName(e);
  }
  assert.equal(got, expected, `seed ${seed}: ${what} gave ${got}, the model expected ${expected}`);
  apply();
  return what;
}

function fill(r: Rand, t: LooseTable, m: Model, n: number): void {
  const batch: Row[] = [];
  const inputs: Row[] = [];
  const ids = new Set<number>();
  while (batch.length < n) {
    const id = r.int(0, 999);
    if (ids.has(id)) continue;
    const { stored, input } = genRow(r, id);
    if (m.clashes(stored, batch)) continue;
    ids.add(id);
    batch.push(stored);
    inputs.push(input);
  }
  // Half one insertMany, half single inserts.
  t.insertMany(inputs.slice(0, n >> 1));
  for (const row of inputs.slice(n >> 1)) t.insert(row);
  m.rows.push(...batch);
}

function checkQueries(c: Checker, r: Rand, t: LooseTable, m: Model, n: number, where: string): void {
  const indexed = t.indexes().map((ix) => ix.column);
  for (let i = 0; i < n; i++) c.query(t, m.rows, randomQuery(r, m.rows, indexed), where);
  // The whole table, as stored, must equal the model too.
  c.compare(() => t.toArray(), m.rows, `[${where}] toArray()`);
}

function seedFor(k: number): number {
  return (BASE_SEED + k * 7919) >>> 0;
}

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe("queries against a plain-array reference (property-based)", () => {
  it("random queries, no indexes", async () => {
    const seed = seedFor(1);
    const r = new Rand(seed);
    const db = await Database.open();
    const t = loose(db.createTable(SCHEMA));
    const m = new Model();
    fill(r, t, m, 220);
    const c = new Checker(seed, "no indexes");
    checkQueries(c, r, t, m, 400, "no indexes");
    // An empty table answers every query too.
    const empty = loose(db.createTable({ ...SCHEMA, name: "empty" }));
    checkQueries(c, r, empty, new Model(), 60, "empty table");
    await db.close();
    c.done();
  });

  it("random queries with unique and non-unique indexes (made before and after the data)", async () => {
    const seed = seedFor(2);
    const r = new Rand(seed);
    const db = await Database.open();
    const t = loose(db.createTable(SCHEMA));
    const m = new Model();
    t.createIndex("code", { unique: true });
    m.uniqueCode = true;
    t.createIndex("age");
    t.createIndex("born");
    fill(r, t, m, 220);
    for (const col of ["name", "city", "score", "active", "seen", "blob", "big", "id"]) t.createIndex(col);
    assert.equal(t.indexes().length, 11);
    const c = new Checker(seed, "indexes");
    checkQueries(c, r, t, m, 400, "indexed");
    // Lookups by the unique column, one per stored code.
    for (const row of m.rows.filter((x) => x.code !== null).slice(0, 40)) {
      c.query(t, m.rows, { where: { column: "code", op: "=", value: row.code } }, "unique lookup");
    }
    await db.close();
    c.done();
  });

  it("random queries after random inserts, updates, patches, upserts and deletes, with indexes coming and going", async () => {
    const seed = seedFor(3);
    const r = new Rand(seed);
    const db = await Database.open();
    const t = loose(db.createTable(SCHEMA));
    const m = new Model();
    t.createIndex("code", { unique: true });
    m.uniqueCode = true;
    t.createIndex("age");
    fill(r, t, m, 150);
    const c = new Checker(seed, "after writes");
    for (let round = 0; round < 8; round++) {
      // Enough deletes over the rounds to compact the store's tombstones.
      for (let i = 0; i < 60; i++) randomWrite(r, t, m, seed);
      if (round === 2) {
        for (const row of m.rows.splice(0, 80)) assert.equal(t.delete(row.id), true);
      }
      const col = r.pick(INDEXABLE);
      if (t.indexes().some((ix) => ix.column === col)) assert.equal(t.dropIndex(col), true);
      else t.createIndex(col);
      checkQueries(c, r, t, m, 50, `round ${round}`);
    }
    // Without the unique index, duplicates of code are fine; with it again, they are refused.
    assert.equal(t.dropIndex("code"), true);
    m.uniqueCode = false;
    for (let i = 0; i < 40; i++) randomWrite(r, t, m, seed);
    checkQueries(c, r, t, m, 40, "unique index dropped");
    const codes = m.rows.map((x) => x.code).filter((x) => x !== null);
    if (new Set(codes).size < codes.length) {
      assert.throws(() => t.createIndex("code", { unique: true }), DuplicateKeyError);
      assert.ok(!t.indexes().some((ix) => ix.column === "code"), "a failed unique createIndex leaves no index");
    }
    await db.close();
    c.done();
  });

  it("random queries inside and after transactions (commits, thrown errors, unique violations)", async () => {
    const seed = seedFor(4);
    const r = new Rand(seed);
    const db = await Database.open();
    const t = loose(db.createTable(SCHEMA));
    let m = new Model();
    t.createIndex("code", { unique: true });
    m.uniqueCode = true;
    t.createIndex("city");
    t.createIndex("score");
    fill(r, t, m, 150);
    const c = new Checker(seed, "transactions");
    class Boom extends Error {}
    for (let k = 0; k < 14; k++) {
      const before = m.clone();
      const indexesBefore = t.indexes();
      const mode = r.pick(["commit", "commit", "throw", "duplicate", "nested"]);
      try {
        db.transaction(() => {
          for (let i = 0; i < 15; i++) randomWrite(r, t, m, seed);
          const unindexed = ["age", "born", "blob"].filter((x) => !t.indexes().some((ix) => ix.column === x));
          if (unindexed.length && r.chance(0.5)) t.createIndex(r.pick(unindexed));
          // Reads inside the transaction see its own writes.
          checkQueries(c, r, t, m, 12, `inside transaction ${k}`);
          if (mode === "nested") {
            const mid = m.clone();
            try {
              db.transaction(() => {
                for (let i = 0; i < 8; i++) randomWrite(r, t, m, seed);
                throw new Boom("inner");
              });
            } catch (e) {
              assert.ok(e instanceof Boom);
              m = mid;
            }
            checkQueries(c, r, t, m, 8, `after inner rollback ${k}`);
          }
          if (mode === "throw") throw new Boom("rollback");
          if (mode === "duplicate") {
            const holder = m.rows.find((x) => x.code !== null);
            const id = 1000 + k;
            if (holder) t.insert({ id, city: "Oslo", code: holder.code });
            else throw new Boom("no code to clash with");
          }
        });
        assert.ok(mode === "commit" || mode === "nested", `seed ${seed}: transaction ${k} (${mode}) should have thrown`);
      } catch (e) {
        assert.ok(e instanceof Boom || (mode === "duplicate" && e instanceof DuplicateKeyError), `seed ${seed}: ${e}`);
        m = before;
        assert.deepStrictEqual(t.indexes(), indexesBefore, `seed ${seed}: rolled-back transaction ${k} restores the index list`);
      }
      checkQueries(c, r, t, m, 25, `after transaction ${k} (${mode})`);
    }
    await db.close();
    c.done();
  });

  it("random queries after close/reopen of a durable database (snapshot and log replay)", async () => {
    const seed = seedFor(5);
    const r = new Rand(seed);
    const dir = mkdtempSync(join(tmpdir(), "cyberdb-query-"));
    tmpDirs.push(dir);
    const path = join(dir, "db");
    let db = await Database.open({ dir: path });
    let t = loose(db.createTable(SCHEMA));
    const m = new Model();
    t.createIndex("code", { unique: true });
    m.uniqueCode = true;
    t.createIndex("age");
    fill(r, t, m, 150);
    for (let i = 0; i < 80; i++) randomWrite(r, t, m, seed);
    const c = new Checker(seed, "reopen");
    const wantIndexes = () => t.indexes().map((ix) => `${ix.column}:${ix.unique}`).sort();
    let indexes = wantIndexes();
    await db.close();

    for (let cycle = 0; cycle < 3; cycle++) {
      db = await Database.open({ dir: path });
      t = loose(db.getTable("people"));
      assert.deepStrictEqual(wantIndexes(), indexes, `seed ${seed}: indexes survive reopen ${cycle}`);
      checkQueries(c, r, t, m, 60, `reopened ${cycle}`);
      // The unique index is still enforced after recovery.
      const holder = m.rows.find((x) => x.code !== null);
      if (holder) assert.throws(() => t.insert({ id: 5000, city: "Oslo", code: holder.code }), DuplicateKeyError);
      db.transaction(() => {
        for (let i = 0; i < 30; i++) randomWrite(r, t, m, seed);
      });
      for (let i = 0; i < 30; i++) randomWrite(r, t, m, seed);
      const col = r.pick(INDEXABLE);
      if (t.indexes().some((ix) => ix.column === col)) t.dropIndex(col);
      else t.createIndex(col);
      indexes = wantIndexes();
      await db.flush();
      // A copy of the live directory is what a crash right now would leave:
      // opening it replays the log written since the last snapshot.
      const copy = join(dir, `crash-${cycle}`);
      cpSync(path, copy, { recursive: true, filter: (src) => !src.endsWith("LOCK") });
      const crashed = await Database.open({ dir: copy });
      const ct = loose(crashed.getTable("people"));
      assert.deepStrictEqual(ct.indexes().map((ix) => `${ix.column}:${ix.unique}`).sort(), indexes, `seed ${seed}: indexes replayed from the log`);
      checkQueries(c, r, ct, m, 40, `replayed log ${cycle}`);
      await crashed.close();
      await db.close();
    }
    c.done();
  });
});

// ---------------------------------------------------------------------------
// Decided semantics, one by one
// ---------------------------------------------------------------------------

const SMALL = {
  name: "s",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "g", type: "Utf8", nullable: true },
    { name: "x", type: "Float64", nullable: true },
    { name: "d", type: "Date", nullable: true },
  ],
} as const;

async function small(rows: Row[] = []): Promise<{ db: Database; t: LooseTable }> {
  const db = await Database.open();
  const t = loose(db.createTable(SMALL));
  t.insertMany(rows);
  return { db, t };
}

const ids = (rows: unknown) => (rows as Row[]).map((r) => r.id);

describe("query semantics", () => {
  const ROWS: Row[] = [
    { id: 1, g: "a", x: 3, d: new Date(3) },
    { id: 2, g: null, x: null, d: null },
    { id: 3, g: "b", x: 1, d: new Date(1) },
    { id: 4, g: "a", x: null, d: new Date(2) },
    { id: 5, g: null, x: 2, d: null },
  ];

  it("comparisons with a null cell are false; only isNull matches null", async () => {
    const { db, t } = await small(ROWS);
    for (const [op, value] of [["=", 1], ["!=", 1], ["<", 100], ["<=", 100], [">", -100], [">=", -100], ["in", [1, 2, 3]], ["between", [-100, 100]]] as const) {
      assert.deepStrictEqual(ids(t.query({ where: { column: "x", op, value } })).includes(2), false, `${op} must not match null`);
    }
    assert.deepStrictEqual(ids(t.query({ where: { column: "x", op: "!=", value: 1 } })), [1, 5]);
    assert.deepStrictEqual(ids(t.query({ where: { column: "g", op: "startsWith", value: "" } })), [1, 3, 4]);
    assert.deepStrictEqual(ids(t.query({ where: { column: "g", op: "contains", value: "" } })), [1, 3, 4]);
    assert.deepStrictEqual(ids(t.query({ where: { column: "x", op: "isNull" } })), [2, 4]);
    assert.deepStrictEqual(ids(t.query({ where: { not: { column: "x", op: "isNull" } } })), [1, 3, 5]);
    assert.equal(t.count({ column: "d", op: "isNull" }), 2);
    await db.close();
  });

  it("aggregates skip nulls; count without a column counts rows; mean of nothing is null, sum of nothing 0", async () => {
    const { db, t } = await small(ROWS);
    const aggregates = {
      rows: { op: "count" },
      xs: { op: "count", column: "x" },
      sum: { op: "sum", column: "x" },
      mean: { op: "mean", column: "x" },
      min: { op: "min", column: "x" },
      max: { op: "max", column: "d" },
      distinct: { op: "countDistinct", column: "g" },
    };
    assert.deepStrictEqual(t.query({ aggregates }), [{ rows: 5, xs: 3, sum: 6, mean: 2, min: 1, max: new Date(3), distinct: 2 }]);
    // No matching rows: one row of empty aggregates without groupBy, no rows with it.
    const none = { column: "id", op: ">", value: 99 };
    assert.deepStrictEqual(t.query({ where: none, aggregates }), [{ rows: 0, xs: 0, sum: 0, mean: null, min: null, max: null, distinct: 0 }]);
    assert.deepStrictEqual(t.query({ where: none, groupBy: ["g"], aggregates }), []);
    // Only nulls in a group.
    assert.deepStrictEqual(t.query({ where: { column: "id", op: "=", value: 2 }, groupBy: ["g"], aggregates: { s: { op: "sum", column: "x" }, m: { op: "mean", column: "x" }, lo: { op: "min", column: "d" } } }), [
      { g: null, s: 0, m: null, lo: null },
    ]);
    await db.close();
  });

  it("nulls group together, groups come in order of first appearance", async () => {
    const { db, t } = await small(ROWS);
    assert.deepStrictEqual(t.query({ groupBy: ["g"], aggregates: { n: { op: "count" }, s: { op: "sum", column: "x" } } }), [
      { g: "a", n: 2, s: 3 },
      { g: null, n: 2, s: 2 },
      { g: "b", n: 1, s: 1 },
    ]);
    assert.deepStrictEqual(t.query({ groupBy: ["g", "x"], aggregates: { n: { op: "count" } }, format: "columns" }), {
      g: ["a", null, "b", "a", null],
      x: [3, null, 1, null, 2],
      n: [1, 1, 1, 1, 1],
    });
    await db.close();
  });

  it("orderBy: nulls last ascending, first descending, unless nulls is given; several keys; stable", async () => {
    const { db, t } = await small(ROWS);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "x" }] })), [3, 5, 1, 2, 4]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "x", direction: "desc" }] })), [2, 4, 1, 5, 3]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "x", nulls: "first" }] })), [2, 4, 3, 5, 1]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "x", direction: "desc", nulls: "last" }] })), [1, 5, 3, 2, 4]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "g" }, { column: "d", direction: "desc" }] })), [1, 4, 3, 2, 5]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "g", direction: "desc" }] })), [2, 5, 3, 1, 4]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "x" }], offset: 1, limit: 2 })), [5, 1]);
    assert.deepStrictEqual(ids(t.query({ offset: 4, limit: 10 })), [5]);
    assert.deepStrictEqual(ids(t.query({ offset: 9 })), []);
    assert.deepStrictEqual(ids(t.query({ limit: 0 })), []);
    await db.close();
  });

  it("results without orderBy come in insertion order whether or not an index served the filter", async () => {
    const { db, t } = await small();
    // Index order (x ascending) is the reverse of insertion order.
    for (let i = 0; i < 200; i++) t.insert({ id: i, g: `g${i % 7}`, x: 1000 - i });
    const scan = () => t.query({ where: { and: [{ column: "x", op: ">=", value: 850 }, { column: "g", op: "in", value: ["g1", "g2"] }] } });
    const before = scan();
    t.createIndex("x");
    t.createIndex("g");
    assert.deepStrictEqual(scan(), before);
    assert.deepStrictEqual(ids(before), ids(before).slice().sort((a, b) => (a as number) - (b as number)));
    // An update keeps a row's place; a delete and re-insert moves it to the end.
    t.patch(1, { x: 999.5 });
    t.delete(2);
    t.insert({ id: 2, g: "g2", x: 990 });
    const ordered = ids(t.query({ where: { column: "x", op: ">", value: 980 } }));
    assert.deepStrictEqual(ordered, [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 2]);
    // After enough deletes to compact the slots, still insertion order.
    for (let i = 20; i < 150; i++) t.delete(i);
    assert.deepStrictEqual(ids(t.query({ where: { column: "x", op: "<", value: 1000 } })).slice(0, 4), [1, 3, 4, 5]);
    assert.deepStrictEqual(ids(t.query({ where: { column: "g", op: "=", value: "g2" } })), [9, 16, 156, 163, 170, 177, 184, 191, 198, 2]);
    await db.close();
  });

  it("first, count and the typed builder", async () => {
    const { db, t } = await small(ROWS);
    assert.deepStrictEqual(t.first(), ROWS[0]);
    assert.deepStrictEqual(t.first({ where: { column: "x", op: ">", value: 1 }, orderBy: [{ column: "x" }] }), ROWS[4]);
    assert.equal(t.first({ where: { column: "x", op: ">", value: 100 } }), undefined);
    assert.equal(t.count(), 5);
    assert.equal(t.count({ column: "g", op: "=", value: "a" }), 2);
    assert.deepStrictEqual(t.where("x", ">", 1).orderBy("x", "desc").select("id", "x").toArray(), [{ id: 1, x: 3 }, { id: 5, x: 2 }]);
    assert.deepStrictEqual(t.where("g", "isNull").columns(), { id: [2, 5], g: [null, null], x: [null, 2], d: [null, null] });
    assert.equal(t.where("g", "in", ["a", "b"]).count(), 3);
    assert.equal(t.where("g", "in", ["a", "b"]).limit(2).count(), 2);
    assert.deepStrictEqual(t.where("g", "=", "a").first(), ROWS[0]);
    assert.deepStrictEqual(
      t.groupBy("g").aggregate({ n: { op: "count" } }).orderBy("n", "desc").orderBy("g").toArray(),
      [{ g: "a", n: 2 }, { g: null, n: 2 }, { g: "b", n: 1 }],
    );
    assert.deepStrictEqual(t.orderBy("d", "asc", "first").limit(3).select("id").toArray(), [{ id: 2 }, { id: 5 }, { id: 3 }]);
    await db.close();
  });
});

// ---------------------------------------------------------------------------
// Grouping, distinct counts and ordering by value, for every column type
// ---------------------------------------------------------------------------

describe("grouping, distinct counts and ordering compare values (Binary, Json, infinities)", () => {
  const S = {
    name: "v",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "b", type: "Binary", nullable: true },
      { name: "j", type: "Json", nullable: true },
      { name: "f", type: "Float64", nullable: true },
      { name: "s", type: "Utf8" },
    ],
  } as const;

  it("group by a single Binary column puts equal bytes in one group", async () => {
    const db = await Database.open();
    const t = loose(db.createTable(S));
    t.insertMany([
      { id: 1, b: new Uint8Array([1, 2]), s: "a" },
      { id: 2, b: new Uint8Array([1, 2]), s: "a" },
      { id: 3, b: null, s: "a" },
    ]);
    assert.deepStrictEqual(t.query({ groupBy: ["b"], aggregates: { n: { op: "count" } } }), [
      { b: new Uint8Array([1, 2]), n: 2 },
      { b: null, n: 1 },
    ]);
    await db.close();
  });

  it("group by a single Json column puts deep-equal values in one group (as = does)", async () => {
    const db = await Database.open();
    const t = loose(db.createTable(S));
    t.insertMany([
      { id: 1, j: { a: 1 }, s: "a" },
      { id: 2, j: { a: 1 }, s: "a" },
      { id: 3, j: [1], s: "a" },
    ]);
    assert.equal(t.count({ column: "j", op: "=", value: { a: 1 } }), 2);
    assert.deepStrictEqual(t.query({ groupBy: ["j"], aggregates: { n: { op: "count" } } }), [
      { j: { a: 1 }, n: 2 },
      { j: [1], n: 1 },
    ]);
    await db.close();
  });

  it("group by several columns keeps Infinity, -Infinity and null apart", async () => {
    const db = await Database.open();
    const t = loose(db.createTable(S));
    t.insertMany([
      { id: 1, f: Infinity, s: "a" },
      { id: 2, f: null, s: "a" },
      { id: 3, f: -Infinity, s: "a" },
    ]);
    assert.deepStrictEqual(t.query({ groupBy: ["f", "s"], aggregates: { n: { op: "count" } } }), [
      { f: Infinity, s: "a", n: 1 },
      { f: null, s: "a", n: 1 },
      { f: -Infinity, s: "a", n: 1 },
    ]);
    await db.close();
  });

  it("orderBy: equal infinite values tie and fall through to the next sort key", async () => {
    const db = await Database.open();
    const t = loose(db.createTable(S));
    t.insertMany([
      { id: 1, f: Infinity, s: "b" },
      { id: 2, f: Infinity, s: "a" },
      { id: 3, f: -Infinity, s: "b" },
      { id: 4, f: -Infinity, s: "a" },
    ]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "f" }, { column: "s" }] })), [4, 3, 2, 1]);
    assert.deepStrictEqual(ids(t.query({ orderBy: [{ column: "f", direction: "desc" }, { column: "s" }] })), [2, 1, 4, 3]);
    await db.close();
  });

  it("countDistinct and grouping of Json tell values apart exactly as = does", async () => {
    const db = await Database.open();
    const t = loose(db.createTable(S));
    const js: Value[] = [
      { a: 5n },
      { a: "5n" },
      { d: new Date(0) },
      { d: "1970-01-01T00:00:00.000Z" },
      [new Uint8Array([7])],
      [{ "0": 7 }],
      { p: 1, q: 2 },
      { q: 2, p: 1 },
    ];
    t.insertMany(js.map((j, i) => ({ id: i, j, s: "a" })));
    // "=" tells them apart as 7 distinct values (only the last two are deep-equal).
    for (const w of js) assert.equal(t.count({ column: "j", op: "=", value: w }), js.filter((v) => same(v, w)).length, show(w));
    assert.equal(new Set(js.map(canon)).size, 7);
    assert.deepStrictEqual(t.query({ aggregates: { n: { op: "countDistinct", column: "j" } } }), [{ n: 7 }]);
    assert.equal((t.query({ groupBy: ["j", "s"], aggregates: { n: { op: "count" } } }) as Row[]).length, 7);
    await db.close();
  });
});

// ---------------------------------------------------------------------------
// Unique indexes: violations roll back fully
// ---------------------------------------------------------------------------

describe("unique indexes", () => {
  const U = {
    name: "u",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "email", type: "Utf8", nullable: true },
      { name: "n", type: "Int32" },
    ],
  } as const;

  async function users() {
    const db = await Database.open();
    const t = loose(db.createTable(U));
    t.insertMany([
      { id: 1, email: "a@x", n: 1 },
      { id: 2, email: "b@x", n: 2 },
      { id: 3, email: null, n: 3 },
    ]);
    t.createIndex("email", { unique: true });
    return { db, t };
  }

  const byEmail = (t: LooseTable, email: string) => ids(t.query({ where: { column: "email", op: "=", value: email } }));

  it("rejects duplicates from every write with DuplicateKeyError and changes nothing; nulls may repeat", async () => {
    const { db, t } = await users();
    const before = t.toArray();
    assert.throws(() => t.insert({ id: 4, email: "a@x", n: 4 }), DuplicateKeyError);
    assert.throws(() => t.update(2, { id: 2, email: "a@x", n: 9 }), DuplicateKeyError);
    assert.throws(() => t.patch(2, { email: "a@x" }), DuplicateKeyError);
    assert.throws(() => t.upsert({ id: 3, email: "b@x", n: 9 }), DuplicateKeyError);
    assert.throws(() => t.upsert({ id: 9, email: "b@x", n: 9 }), DuplicateKeyError);
    assert.deepStrictEqual(t.toArray(), before);
    assert.deepStrictEqual(byEmail(t, "a@x"), [1]);
    // Rewriting a row with its own value is fine; so are many nulls.
    t.update(1, { id: 1, email: "a@x", n: 10 });
    t.patch(2, { email: "b@x" });
    t.insert({ id: 4, email: null, n: 4 });
    t.insert({ id: 5, n: 5 });
    assert.deepStrictEqual(ids(t.query({ where: { column: "email", op: "isNull" } })), [3, 4, 5]);
    // A freed value can be taken.
    t.patch(1, { email: "c@x" });
    t.insert({ id: 6, email: "a@x", n: 6 });
    assert.deepStrictEqual(byEmail(t, "a@x"), [6]);
    assert.deepStrictEqual(byEmail(t, "c@x"), [1]);
    assert.throws(() => t.createIndex("email"), AlreadyExistsError);
    await db.close();
  });

  it("an insertMany batch with a duplicate (against the table or within the batch) inserts nothing", async () => {
    const { db, t } = await users();
    const before = t.toArray();
    assert.throws(() => t.insertMany([{ id: 10, email: "new@x", n: 1 }, { id: 11, email: "a@x", n: 1 }]), DuplicateKeyError);
    assert.throws(() => t.insertMany([{ id: 10, email: "new@x", n: 1 }, { id: 11, email: "new@x", n: 1 }]), DuplicateKeyError);
    assert.deepStrictEqual(t.toArray(), before);
    assert.deepStrictEqual(byEmail(t, "new@x"), []);
    t.insertMany([{ id: 10, email: "new@x", n: 1 }, { id: 11, email: null, n: 1 }, { id: 12, email: null, n: 1 }]);
    assert.deepStrictEqual(byEmail(t, "new@x"), [10]);
    await db.close();
  });

  it("a violation inside a transaction rolls back every write of it, index entries and index changes included", async () => {
    const { db, t } = await users();
    t.createIndex("n");
    const before = t.toArray();
    const indexes = t.indexes();
    assert.throws(() =>
      db.transaction(() => {
        t.insert({ id: 20, email: "t@x", n: 20 });
        t.patch(1, { email: "moved@x", n: 21 });
        t.delete(2);
        t.upsert({ id: 3, email: "b@x", n: 22 });
        t.dropIndex("n");
        t.createIndex("id");
        assert.deepStrictEqual(byEmail(t, "b@x"), [3]);
        t.insert({ id: 21, email: "t@x", n: 23 }); // duplicate of row 20's email
      }), DuplicateKeyError);
    assert.deepStrictEqual(t.toArray(), before);
    assert.deepStrictEqual(t.indexes(), indexes);
    for (const [email, want] of [["a@x", [1]], ["b@x", [2]], ["t@x", []], ["moved@x", []]] as const) {
      assert.deepStrictEqual(byEmail(t, email), want, email);
    }
    assert.deepStrictEqual(ids(t.query({ where: { column: "n", op: ">=", value: 20 } })), []);
    assert.deepStrictEqual(ids(t.query({ where: { column: "n", op: "between", value: [1, 2] } })), [1, 2]);
    // The values the rolled-back transaction held are free again; the ones it freed are taken again.
    t.insert({ id: 20, email: "t@x", n: 20 });
    assert.throws(() => t.insert({ id: 30, email: "b@x", n: 30 }), DuplicateKeyError);
    // A savepoint that fails is undone alone; the outer transaction commits.
    db.transaction(() => {
      t.insert({ id: 40, email: "s@x", n: 40 });
      assert.throws(() => db.transaction(() => {
        t.patch(40, { email: "s2@x" });
        t.insert({ id: 41, email: "a@x", n: 41 });
      }), DuplicateKeyError);
    });
    assert.deepStrictEqual(byEmail(t, "s@x"), [40]);
    assert.deepStrictEqual(byEmail(t, "s2@x"), []);
    assert.equal(t.get(41), undefined);
    await db.close();
  });

  it("createIndex: unique over duplicates fails and leaves no index; Json and unknown columns are refused", async () => {
    const { db, t } = await users();
    assert.equal(t.dropIndex("email"), true);
    t.patch(3, { email: "a@x" });
    assert.throws(() => t.createIndex("email", { unique: true }), DuplicateKeyError);
    assert.deepStrictEqual(t.indexes(), []);
    assert.throws(() => t.createIndex("nope"), ValidationError);
    assert.throws(() => t.createIndex("n", { unique: "yes" }), ValidationError);
    assert.throws(() => t.createIndex("n", { sparse: true }), ValidationError);
    assert.deepStrictEqual(t.indexes(), []);
    assert.equal(t.dropIndex("email"), false);
    const j = loose(db.createTable({ name: "j", columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "j", type: "Json" }] }));
    assert.throws(() => j.createIndex("j"), ValidationError);
    await db.close();
  });
});

// ---------------------------------------------------------------------------
// Malformed queries
// ---------------------------------------------------------------------------

describe("malformed queries → ValidationError, nothing executed", () => {
  const MALFORMED: [string, unknown][] = [
    ["query not an object", "id > 3"],
    ["query an array", [{ column: "id" }]],
    ["unknown query key", { filter: { column: "id", op: "=", value: 1 } }],
    ["unknown column in where", { where: { column: "nope", op: "=", value: 1 } }],
    ["unknown column in select", { select: ["id", "nope"] }],
    ["empty select", { select: [] }],
    ["select not an array", { select: "id" }],
    ["unknown column in groupBy", { groupBy: ["nope"], aggregates: { n: { op: "count" } } }],
    ["unknown column in an aggregate", { aggregates: { n: { op: "sum", column: "nope" } } }],
    ["orderBy on an unknown column", { orderBy: [{ column: "nope" }] }],
    ["orderBy on a table column outside the grouped output", { groupBy: ["g"], aggregates: { n: { op: "count" } }, orderBy: [{ column: "x" }] }],
    ["orderBy not an array", { orderBy: { column: "id" } }],
    ["orderBy with a bad direction", { orderBy: [{ column: "id", direction: "up" }] }],
    ["orderBy with a bad nulls", { orderBy: [{ column: "id", nulls: "middle" }] }],
    ["Int32 operand given as a string", { where: { column: "id", op: "=", value: "3" } }],
    ["Int32 operand given as a fraction", { where: { column: "id", op: "<", value: 2.5 } }],
    ["Int32 operand out of range", { where: { column: "id", op: "<", value: 2 ** 40 } }],
    ["Utf8 operand given as a number", { where: { column: "g", op: "=", value: 3 } }],
    ["Float64 operand given as a string", { where: { column: "x", op: ">", value: "1" } }],
    ["Date operand given as a number", { where: { column: "d", op: ">", value: 0 } }],
    ["null operand", { where: { column: "x", op: "=", value: null } }],
    ["missing operand", { where: { column: "x", op: "<" } }],
    ["in without an array", { where: { column: "id", op: "in", value: 3 } }],
    ["in with a wrong element", { where: { column: "id", op: "in", value: [1, "2"] } }],
    ["between with one bound", { where: { column: "id", op: "between", value: [1] } }],
    ["between with a wrong bound", { where: { column: "id", op: "between", value: [1, "9"] } }],
    ["startsWith on a number column", { where: { column: "x", op: "startsWith", value: "1" } }],
    ["contains with a number operand", { where: { column: "g", op: "contains", value: 1 } }],
    ["unknown operator", { where: { column: "id", op: "==", value: 1 } }],
    ["unknown operator like", { where: { column: "g", op: "like", value: "a%" } }],
    ["operator not a string", { where: { column: "id", op: 1, value: 1 } }],
    ["missing operator", { where: { column: "id", value: 1 } }],
    ["unknown filter key", { where: { column: "id", op: "=", value: 1, also: 2 } }],
    ["filter not an object", { where: "id = 1" }],
    ["and not an array", { where: { and: { column: "id", op: "=", value: 1 } } }],
    ["and beside or", { where: { and: [], or: [] } }],
    ["bad filter nested in or", { where: { or: [{ column: "id", op: "=", value: 1 }, { column: "nope", op: "isNull" }] } }],
    ["bad filter nested in not", { where: { not: { column: "id", op: "~", value: 1 } } }],
    ["negative limit", { limit: -1 }],
    ["fractional limit", { limit: 1.5 }],
    ["string limit", { limit: "10" }],
    ["NaN limit", { limit: NaN }],
    ["infinite limit", { limit: Infinity }],
    ["negative offset", { offset: -3 }],
    ["groupBy without aggregates", { groupBy: ["g"] }],
    ["an aggregate named __proto__ (it would set the row's prototype)", { aggregates: JSON.parse('{"__proto__": { "op": "count" }}') }],
    ["empty groupBy", { groupBy: [], aggregates: { n: { op: "count" } } }],
    ["select with groupBy", { select: ["g"], groupBy: ["g"], aggregates: { n: { op: "count" } } }],
    ["select with aggregates", { select: ["g"], aggregates: { n: { op: "count" } } }],
    ["empty aggregates", { aggregates: {} }],
    ["unknown aggregate", { aggregates: { n: { op: "median", column: "x" } } }],
    ["sum of a Utf8 column", { aggregates: { n: { op: "sum", column: "g" } } }],
    ["mean of a Date column", { aggregates: { n: { op: "mean", column: "d" } } }],
    ["sum without a column", { aggregates: { n: { op: "sum" } } }],
    ["aggregate named like a group column", { groupBy: ["g"], aggregates: { g: { op: "count" } } }],
    ["unknown format", { format: "arrow" }],
  ];

  async function tables() {
    const db = await Database.open();
    const empty = loose(db.createTable({ ...SMALL, name: "e" }));
    const full = loose(db.createTable(SMALL));
    full.insertMany([{ id: 1, g: "a", x: 1, d: new Date(1) }, { id: 2, g: null, x: null, d: null }]);
    full.createIndex("g");
    return { db, empty, full };
  }

  /** The cases `call` does not reject with a ValidationError, on either table. */
  function accepted(tables: LooseTable[], call: (t: LooseTable, q: unknown) => unknown): string[] {
    const out: string[] = [];
    for (const [what, q] of MALFORMED) {
      for (const t of tables) {
        try {
          call(t, q);
          out.push(`${what} ${show(q)}: accepted`);
        } catch (e) {
          if (!(e instanceof ValidationError)) out.push(`${what}: ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
    }
    return [...new Set(out)];
  }

  it(`rejects ${MALFORMED.length} malformed queries from query(), count(where) and the builder, on empty and full tables`, async () => {
    const { db, empty, full } = await tables();
    const before = full.toArray();
    assert.deepStrictEqual(accepted([empty, full], (t, q) => t.query(q)), [], "query()");
    const wheres = MALFORMED.filter(([, q]) => typeof q === "object" && q !== null && "where" in q);
    for (const [what, q] of wheres) {
      for (const t of [empty, full]) assert.throws(() => t.count((q as Q).where), ValidationError, `count(where): ${what}`);
    }
    // Inside a transaction a malformed query throws without touching the transaction's writes.
    db.transaction(() => {
      full.insert({ id: 3, g: "c" });
      assert.throws(() => full.query({ where: { column: "nope", op: "isNull" } }), ValidationError);
    });
    assert.equal(full.count(), 3);
    full.delete(3);
    assert.deepStrictEqual(full.toArray(), before);
    assert.deepStrictEqual(full.indexes(), [{ column: "g", unique: false }]);
    // The builder produces the same errors.
    assert.throws(() => full.where("nope", "=", 1).toArray(), ValidationError);
    assert.throws(() => full.where("x", "=", "1").first(), ValidationError);
    assert.throws(() => full.where("x", ">", 1).limit(-1).toArray(), ValidationError);
    assert.throws(() => full.groupBy("g").toArray(), ValidationError);
    assert.throws(() => full.orderBy("nope").toArray(), ValidationError);
    // ValidationError carries its code and says what to do.
    try {
      full.query({ where: { column: "nope", op: "=", value: 1 } });
    } catch (e) {
      assert.equal((e as ValidationError).code, "VALIDATION");
      assert.match((e as Error).message, /"nope"/);
    }
    await db.close();
  });

  it("first() rejects the same malformed queries (its own limit 1 does not hide a bad limit or format)", async () => {
    const { db, empty, full } = await tables();
    const objects = (t: LooseTable, q: unknown) => t.first(q);
    assert.deepStrictEqual(accepted([empty, full], objects), [], "first()");
    await db.close();
  });
});

// ---------------------------------------------------------------------------
// Results never share objects with stored state
// ---------------------------------------------------------------------------

describe("query results are copies", () => {
  it("mutating a returned Date, Binary or Json (rows, columns, first, group keys, min/max) leaves the table unchanged", async () => {
    const db = await Database.open();
    const t = loose(db.createTable({
      name: "c",
      columns: [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "d", type: "Date" },
        { name: "b", type: "Binary" },
        { name: "j", type: "Json" },
      ],
    }));
    t.createIndex("d");
    t.createIndex("b");
    const row = () => ({ id: 1, d: new Date(1000), b: new Uint8Array([1, 2, 3]), j: { a: [1, { b: 2 }], n: 5n } });
    t.insert(row());
    t.insert({ ...row(), id: 2 });
    const want = [row(), { ...row(), id: 2 }];
    const mutate = (v: unknown) => {
      if (v instanceof Date) v.setTime(0);
      else if (v instanceof Uint8Array) v.fill(9);
      else if (Array.isArray(v)) v.push(99);
      else if (typeof v === "object" && v !== null) {
        for (const k of Object.keys(v)) mutate((v as Record<string, unknown>)[k]);
        (v as Record<string, unknown>).extra = 1;
      }
    };
    const results: unknown[] = [
      t.query(),
      t.query({ where: { column: "d", op: "=", value: new Date(1000) } }),
      t.query({ where: { column: "b", op: "in", value: [new Uint8Array([1, 2, 3])] }, select: ["b", "j"] }),
      t.query({ format: "columns" }),
      t.query({ orderBy: [{ column: "d" }], limit: 1 }),
      t.first(),
      t.query({ groupBy: ["d"], aggregates: { lo: { op: "min", column: "d" }, hi: { op: "max", column: "d" } } }),
      t.query({ groupBy: ["d", "b"], aggregates: { n: { op: "count" } }, format: "columns" }),
      t.where("d", ">", new Date(0)).toArray(),
      t.toArray(),
    ];
    for (const r of results) mutate(r);
    assert.deepStrictEqual(t.toArray(), want);
    assert.deepStrictEqual(t.query({ where: { column: "d", op: "=", value: new Date(1000) } }), want);
    assert.deepStrictEqual(t.query({ where: { column: "b", op: "=", value: new Uint8Array([1, 2, 3]) } }), want);
    // The operand handed in is not kept either.
    const probe = new Date(1000);
    const q = { where: { column: "d", op: "=", value: probe } };
    assert.equal((t.query(q) as Row[]).length, 2);
    probe.setTime(0);
    assert.equal((t.query({ where: { column: "d", op: "=", value: new Date(1000) } }) as Row[]).length, 2);
    await db.close();
  });
});
