/**
 * Building row objects fast. A row built key by key (`o[name] = v`) goes
 * through V8's megamorphic keyed stores, about 50 ns a cell; an object
 * literal with fixed keys is built in one step at a known shape, 5-8x
 * faster. So, where the runtime allows `new Function` (Deno, Bun, Node, and
 * browsers without a strict Content-Security-Policy), the builder of a
 * column list is generated once as an object literal; elsewhere (CSP,
 * Cloudflare Workers) the same builder is made from a template object.
 *
 * Safety: the generated source contains nothing but `JSON.stringify`ed
 * column names — schema-checked, well-formed strings other than
 * `"__proto__"` — which are exact JavaScript string literals. No value and
 * no other client input ever becomes source text.
 *
 * @module
 */

import type { StoredRow } from "./schema.ts";
import { cloneOut, type Value } from "./value.ts";

/** Builds `n` rows from parallel column arrays. */
export type RowsMaker = (cols: Value[][], n: number) => StoredRow[];

/** Anything with cell getters, such as a `Column`. */
export interface CellSource {
  /** The value of cell `i`. */
  get(i: number): Value;
  /** The value of cell `i`, copied where it is a shared object. */
  out(i: number): Value;
}

/** Anything with a cell setter, such as a `Column`. */
export interface CellSink {
  /** Stores a checked value in cell `i`. */
  put(i: number, v: Value): void;
}

/** Writes a checked row's cells into the columns at slot `i`. */
export type RowWriter = (cols: readonly CellSink[], i: number, row: StoredRow) => void;

/** Checks a row for a schema and returns the row to store (see `checkRow` in schema.ts). */
export type RowCheck = (row: Record<string, unknown>, where: string) => StoredRow;

/** What {@linkcode rowChecker} assembles: a schema's columns and its error reports. */
export interface RowCheckParts {
  /** Column names, in schema order. */
  names: readonly string[];
  /** Whether each column is nullable. */
  nullable: readonly boolean[];
  /** Each column's value check: returns the value to store or throws. */
  checks: readonly ((v: unknown, where: string) => Value)[];
  /** Throws: column `i` is missing. */
  missing(i: number, where: string): never;
  /** Throws: column `i` is not nullable but got null. */
  nullError(i: number, where: string): never;
  /** The number of own enumerable keys of `row` (exact, unlike a bare for-in). */
  ownKeys(row: object): number;
  /** Throws: `row` has a key that is no column. */
  unknownColumn(row: object): never;
}

/**
 * Builds the row of one slot from the columns. A builder made with a key
 * column takes that cell from `key` instead of reading it.
 */
export type RowAt = (cols: readonly CellSource[], i: number, key?: Value) => StoredRow;

let codegen: boolean | null = null;
const cache = new Map<string, RowsMaker>();
const atCache = new Map<string, RowAt>();
const writerCache = new Map<string, RowWriter>();
const CACHE_MAX = 512;

/**
 * Whether `new Function` works here, found out on first use (not at module
 * load: workerd allows code generation while a module loads and refuses it
 * once requests are served, so only a check made while serving tells).
 */
function canGenerate(): boolean {
  if (codegen === null) {
    try {
      codegen = new Function("return 1")() === 1;
    } catch {
      codegen = false;
    }
  }
  return codegen;
}

/**
 * `make()` where code generation works, else `fallback()`; a refusal that
 * comes later than the first check (a runtime whose policy changed since)
 * turns code generation off for good instead of failing the read.
 */
function generating<T>(make: () => T, fallback: () => T): T {
  if (!canGenerate()) return fallback();
  try {
    return make();
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
    codegen = false;
    return fallback();
  }
}

function generated(names: readonly string[]): RowsMaker {
  const fields = names.map((name, c) => `${JSON.stringify(name)}: v${c}[j]`).join(", ");
  const locals = names.map((_, c) => `const v${c} = cols[${c}];`).join(" ");
  return new Function(
    "cols",
    "n",
    `${locals} const out = new Array(n); for (let j = 0; j < n; j++) out[j] = { ${fields} }; return out;`,
  ) as RowsMaker;
}

function templated(names: readonly string[]): RowsMaker {
  const template: StoredRow = {};
  for (const name of names) template[name] = null;
  const width = names.length;
  return (cols, n) => {
    const out: StoredRow[] = new Array(n);
    for (let j = 0; j < n; j++) {
      // Copies of one template share one shape; the stores then hit existing properties.
      const o = { ...template };
      for (let c = 0; c < width; c++) o[names[c]] = cols[c][j];
      out[j] = o;
    }
    return out;
  };
}

/**
 * The row builder for a list of column names (schema names only: never
 * `"__proto__"`, which an object literal would treat as the prototype).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowsMaker } from "./row_shape.ts";
 * assert.deepEqual(rowsMaker(["a", "b"])([[1, 2], ["x", "y"]], 2), [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
 * ```
 */
export function rowsMaker(names: readonly string[]): RowsMaker {
  const key = JSON.stringify(names);
  let maker = cache.get(key);
  if (maker === undefined) {
    maker = generating(() => generated(names), () => templated(names));
    // Select lists vary: keep the cache bounded.
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, maker);
  }
  return maker;
}

/**
 * The builder of one row from its columns' cells at a slot (schema names
 * only, as for {@linkcode rowsMaker}). With `keyColumn`, that column's cell
 * is the `key` argument instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowAt } from "./row_shape.ts";
 * const col = { get: (i: number) => i * 2, out: (i: number) => i * 2 };
 * assert.deepEqual(rowAt(["a"])([col], 4), { a: 8 });
 * assert.deepEqual(rowAt(["id", "a"], "out", 0)([col, col], 4, 7), { id: 7, a: 8 });
 * ```
 */
export function rowAt(names: readonly string[], read: "get" | "out" = "get", keyColumn = -1): RowAt {
  const cacheKey = `${read}${keyColumn}${JSON.stringify(names)}`;
  let maker = atCache.get(cacheKey);
  if (maker === undefined) {
    // The key column's cell is the key the caller looked the row up by (the
    // same primitive): not reading it saves a memory access per row.
    const cell = (c: number) => c === keyColumn ? "key" : `cols[${c}].${read}(i)`;
    maker = generating(() => {
      const fields = names.map((name, c) => `${JSON.stringify(name)}: ${cell(c)}`).join(", ");
      return new Function("cols", "i", "key", `return { ${fields} };`) as RowAt;
    }, () => {
      const template: StoredRow = {};
      for (const name of names) template[name] = null;
      return (cols: readonly CellSource[], i: number, key?: Value) => {
        const o = { ...template };
        for (let c = 0; c < names.length; c++) o[names[c]] = c === keyColumn ? key! : cols[c][read](i);
        return o;
      };
    });
    if (atCache.size >= CACHE_MAX) atCache.clear();
    atCache.set(cacheKey, maker);
  }
  return maker;
}

/**
 * The writer of a row's cells into the columns (schema names only, as for
 * {@linkcode rowsMaker}), with the names as literals, so each load is a
 * named property load on one row shape instead of a keyed load with a
 * different key each time. Given the columns' storage `kinds` and
 * `nullable`, a generated writer also stores each cell into the column's
 * array itself, as `Column.put` does (validity bit, then the cell: numbers
 * as they are, booleans as 0/1, Dates as epoch ms, strings and objects in a
 * plain array, `undefined` for a null there); only dictionary-coded columns
 * still call `put`, which keeps their dictionary. On JSC the per-cell `put`
 * call with its switch on the kind is not inlined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowWriter } from "./row_shape.ts";
 * const cells: unknown[] = [];
 * rowWriter(["a"])([{ put: (i, v) => void (cells[i] = v) }], 2, { a: 5 });
 * assert.equal(cells[2], 5);
 * ```
 */
export function rowWriter(
  names: readonly string[],
  kinds?: readonly CellKind[],
  nullable?: readonly boolean[],
): RowWriter {
  const key = JSON.stringify([names, kinds ?? null, nullable ?? null]);
  let writer = writerCache.get(key);
  if (writer === undefined) {
    const store = (c: number): string => {
      const v = `row[${JSON.stringify(names[c])}]`;
      const kind = kinds?.[c];
      if (kind === undefined || kind === "dict") return `cols[${c}].put(i, ${v});`;
      const cell = kind === "bool" ? "v ? 1 : 0" : kind === "date" ? "v.getTime()" : "v";
      if (!nullable?.[c]) return `{ const v = ${v}; cols[${c}].data[i] = ${cell}; }`;
      const clear = kind === "str" || kind === "obj" ? " k.data[i] = undefined;" : "";
      return `{ const k = cols[${c}]; const v = ${v}; if (v === null) { k.valid[i >> 3] &= ~(1 << (i & 7));${clear} } ` +
        `else { k.valid[i >> 3] |= 1 << (i & 7); k.data[i] = ${cell}; } }`;
    };
    writer = generating(() => {
      const puts = names.map((_, c) => store(c)).join(" ");
      return new Function("cols", "i", "row", puts) as RowWriter;
    }, () => (cols: readonly CellSink[], i: number, row: StoredRow) => {
      for (let c = 0; c < names.length; c++) cols[c].put(i, row[names[c]]);
    });
    if (writerCache.size >= CACHE_MAX) writerCache.clear();
    writerCache.set(key, writer);
  }
  return writer;
}

/**
 * A schema's row check as generated code (schema names only, as for
 * {@linkcode rowsMaker}), or `null` where code generation is refused: the
 * caller then runs its generic loop, which does the same checks in the same
 * order. Per column, in schema order: an own property is counted and checked
 * (`undefined` counts as missing, `null` needs a nullable column); an absent
 * one is missing unless nullable. Then any own key that is no column is
 * refused. Generated, each column is a named load and a direct call of its
 * check, and the stored row is one object literal, instead of a keyed load
 * and a keyed store per cell (about 3x faster for three columns).
 *
 * Unknown keys: a bare for-in count `n` includes every own enumerable key
 * (and any enumerable key someone put on Object.prototype), so `n === seen`
 * proves there is none beyond the columns; otherwise the exact own count
 * decides, as in the generic loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowChecker } from "./row_shape.ts";
 * const fail = (): never => {
 *   throw new Error("bad row");
 * };
 * const check = rowChecker({
 *   names: ["id", "note"],
 *   nullable: [false, true],
 *   checks: [(v) => v as number, (v) => v as string],
 *   missing: fail,
 *   nullError: fail,
 *   ownKeys: (row) => Object.keys(row).length,
 *   unknownColumn: fail,
 * });
 * if (check !== null) {
 *   assert.deepEqual(check({ id: 1 }, ""), { id: 1, note: null });
 *   assert.throws(() => check({ id: 1, other: 2 }, ""), /bad row/);
 * }
 * ```
 */
export function rowChecker(parts: RowCheckParts): RowCheck | null {
  const { names, nullable } = parts;
  return generating<RowCheck | null>(() => {
    const lines = names.map((name, c) => {
      const n = JSON.stringify(name);
      const absent = nullable[c] ? "null" : `missing(${c}, where)`;
      const isNull = nullable[c] ? "null" : `nullError(${c}, where)`;
      return `let c${c}; if (hasOwn(row, ${n})) { seen++; const v = row[${n}]; ` +
        `c${c} = v === undefined ? ${absent} : v === null ? ${isNull} : k${c}(v, where); } else c${c} = ${absent};`;
    });
    const fields = names.map((name, c) => `${JSON.stringify(name)}: c${c}`).join(", ");
    const checks = names.map((_, c) => `const k${c} = checks[${c}];`).join(" ");
    const body = `${checks} return function checkRow(row, where) { let seen = 0; ${lines.join(" ")} ` +
      `let n = 0; for (const _ in row) n++; if (n !== seen && ownKeys(row) !== seen) unknownColumn(row); ` +
      `return { ${fields} }; };`;
    const make = new Function("hasOwn", "checks", "missing", "nullError", "ownKeys", "unknownColumn", body);
    return make(Object.hasOwn, parts.checks, parts.missing, parts.nullError, parts.ownKeys, parts.unknownColumn);
  }, () => null);
}

/** How a column's cells are stored, as {@linkcode slotReader} reads them (see column.ts). */
export type CellKind = "num" | "bool" | "date" | "dict" | "str" | "obj";

/** A column's storage: what `Column` exposes to queries, and all a slot reader touches. */
export interface ColumnCells {
  /** How the cells are stored now (a `dict` column may turn `str`). */
  readonly kind: CellKind;
  /** The cells: a typed array, codes for `dict`, or a plain array. */
  readonly data: ArrayLike<unknown>;
  /** Validity bits (1 = a value), `null` for a column that is not nullable. */
  readonly valid: Uint8Array | null;
  /** Code → string for `dict` columns. */
  readonly dict: readonly string[] | null;
}

const readerCache = new Map<string, (cols: readonly ColumnCells[], i: number, key?: Value) => StoredRow>();

/**
 * The builder of one row from columns' storage at a slot, as generated code
 * that reads each column's array directly (schema names only, as for
 * {@linkcode rowsMaker}); `null` where code generation is refused (the
 * caller then uses {@linkcode rowAt}, which asks each column for its cell).
 * On JSC the per-cell method calls of `rowAt` (`get`, `has`, a switch on the
 * kind) are not inlined: a row of three cells took 64 ns that way and 13 ns
 * read directly. `kinds` are the columns' storage when the table was made;
 * a `dict` column is still checked at each read because it may have turned
 * into `str` since. With `copy`, Binary/Json cells (`obj`) are copied out.
 * With `keyColumn`, that cell is the `key` argument (see {@linkcode rowAt}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slotReader } from "./row_shape.ts";
 * const read = slotReader(["id", "n"], ["num", "num"], [false, true], true, 0);
 * const n = { kind: "num" as const, data: [0, 5], valid: new Uint8Array([0b10]), dict: null };
 * if (read !== null) {
 *   assert.deepEqual(read([n, n], 1, 9), { id: 9, n: 5 });
 *   assert.deepEqual(read([n, n], 0, 8), { id: 8, n: null });
 * }
 * ```
 */
export function slotReader(
  names: readonly string[],
  kinds: readonly CellKind[],
  nullable: readonly boolean[],
  copy: boolean,
  keyColumn = -1,
): ((cols: readonly ColumnCells[], i: number, key?: Value) => StoredRow) | null {
  const cacheKey = JSON.stringify([names, kinds, nullable, copy, keyColumn]);
  const cached = readerCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const reader = generating(() => {
    const cell = (c: number): string => {
      const k = `k${c}`;
      const base = kinds[c] === "num" || kinds[c] === "str"
        ? `${k}.data[i]`
        : kinds[c] === "bool"
        ? `${k}.data[i] === 1`
        : kinds[c] === "date"
        ? `new Date(${k}.data[i])`
        : kinds[c] === "dict"
        ? `(${k}.kind === "dict" ? ${k}.dict[${k}.data[i]] : ${k}.data[i])`
        : copy
        ? `copy(${k}.data[i])`
        : `${k}.data[i]`;
      return nullable[c] ? `((${k}.valid[i >> 3] & (1 << (i & 7))) === 0 ? null : ${base})` : base;
    };
    const locals = names.map((_, c) => c === keyColumn ? "" : `const k${c} = cols[${c}];`).join(" ");
    const fields = names.map((name, c) => `${JSON.stringify(name)}: ${c === keyColumn ? "key" : cell(c)}`).join(", ");
    const make = new Function("copy", `return function (cols, i, key) { ${locals} return { ${fields} }; };`);
    return make(cloneOut) as (cols: readonly ColumnCells[], i: number, key?: Value) => StoredRow;
  }, () => null);
  if (reader !== null) {
    if (readerCache.size >= CACHE_MAX) readerCache.clear();
    readerCache.set(cacheKey, reader);
  }
  return reader;
}
