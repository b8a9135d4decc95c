/**
 * Table queries and secondary indexes (MathDB's DataFrame side): the
 * operations, and the planner that picks an index when one serves the
 * filter.
 *
 * @module
 */

import { AlreadyExistsError, ValidationError } from "../errors.ts";
import type { TableState } from "../core/engine.ts";
import { compileQuery, type IndexTerm, type Plan } from "../core/query.ts";
import { runQuery } from "../core/query_exec.ts";
import { checkPk, type StoredRow } from "../core/schema.ts";
import { buildIndex } from "../core/secondary_index.ts";
import { quote } from "../core/value.ts";
import { op } from "./types.ts";

type Pk = string | number;

/**
 * The slots a plan must look at, ascending (scan order): found through the
 * primary key or a secondary index when a top-level filter term allows it,
 * or `null` for every row. Index results come back in insertion order, as a
 * scan would give them, so a query's answer never depends on which indexes
 * exist.
 *
 * @example
 * ```ts
 * // candidates(tableState, compileQuery(schema, { where }))
 * ```
 */
export function candidates(t: TableState, plan: Plan): Int32Array | null {
  const keys = pickKeys(t, plan.terms);
  if (keys === null) return null;
  const store = t.store;
  const slots = new Int32Array(keys.length);
  let n = 0;
  for (const k of keys) {
    const slot = store.slotOf(k);
    if (slot !== -1) slots[n++] = slot;
  }
  const sorted = slots.subarray(0, n).sort();
  // Drop repeats (an `in` list may name a value twice).
  let m = 0;
  for (let j = 0; j < n; j++) if (j === 0 || sorted[j] !== sorted[j - 1]) sorted[m++] = sorted[j];
  return sorted.subarray(0, m);
}

/** The smallest key set an equality or range term can produce, or null to scan. */
function pickKeys(t: TableState, terms: IndexTerm[]): Pk[] | null {
  const pk = t.schema.names[t.schema.pk];
  let best: Pk[] | null = null;
  for (const term of terms) {
    let keys: Pk[] | null = null;
    if (term.column === pk && term.kind === "eq") {
      keys = term.values!.filter((v) => t.store.has(v as Pk)) as Pk[];
    } else {
      const ix = t.indexes.get(term.column);
      if (ix === undefined) continue;
      keys = term.kind === "eq" ? term.values!.flatMap((v) => ix.lookup(v)) : ix.range(term.lo, term.hi);
    }
    if (best === null || keys.length < best.length) best = keys;
  }
  return best;
}

/** `table.query(query?)`: rows (or columns) matching a declarative query (none: every row). */
export const tableQuery = op<TableState>("table.query", {
  run(_e, t, args) {
    const plan = compileQuery(t.schema, args[1]);
    return runQuery(t.store, t.schema, plan, candidates(t, plan));
  },
  stream(_e, t, args) {
    const plan = compileQuery(t.schema, args[1]);
    return runQuery(t.store, t.schema, plan, candidates(t, plan), true);
  },
});

/** `table.first(query?)`: the first row a query returns, or undefined. */
export const tableFirst = op<TableState>("table.first", {
  run(_e, t, args) {
    const q = args[1] ?? {};
    if (typeof q !== "object" || Array.isArray(q)) {
      throw new ValidationError(`Query ${quote(q)} is not an object: pass { where?, orderBy?, ... }`);
    }
    // The caller's query is checked as given (a bad limit or format is an error); first() takes one row.
    compileQuery(t.schema, q);
    const plan = compileQuery(t.schema, { ...q, limit: 1, format: "rows" });
    return (runQuery(t.store, t.schema, plan, candidates(t, plan)) as StoredRow[])[0];
  },
});

/** Options of `createIndex`. */
export interface IndexOptions {
  /** Reject two rows with the same non-null value (DuplicateKeyError). */
  unique?: boolean;
}

function indexColumn(t: TableState, column: unknown): string {
  const i = typeof column === "string" ? t.schema.names.indexOf(column) : -1;
  if (i === -1) {
    throw new ValidationError(
      `Column ${quote(column)} is not in table ${quote(t.name)}: index one of ${
        t.schema.names.map((n) => quote(n)).join(", ")
      }`,
    );
  }
  if (t.schema.def.columns[i].type === "Json") {
    throw new ValidationError(
      `Column ${quote(column)} of table ${quote(t.name)} is Json: Json columns cannot be indexed`,
    );
  }
  return column as string;
}

/** `table.createIndex(column, { unique? })`: builds and keeps an index; duplicates → DuplicateKeyError. */
export const tableCreateIndex = op<TableState>("table.createIndex", {
  run(e, t, args) {
    const column = indexColumn(t, args[1]);
    const opts = args[2] ?? {};
    if (typeof opts !== "object" || Array.isArray(opts)) {
      throw new ValidationError(`Index options ${quote(opts)} are not an object: pass { unique?: boolean }`);
    }
    const unique = (opts as IndexOptions).unique ?? false;
    if (typeof unique !== "boolean") {
      throw new ValidationError(`Index option unique ${quote(unique)} is not a boolean: pass true or false`);
    }
    for (const k of Object.keys(opts)) {
      if (k !== "unique") throw new ValidationError(`Index option ${quote(k)} is unknown: use unique`);
    }
    if (t.indexes.has(column)) {
      throw new AlreadyExistsError(
        `Table ${quote(t.name)} already has an index on ${quote(column)}: drop it first to change it`,
      );
    }
    const ix = buildIndex(t, column, unique);
    t.indexes.set(column, ix);
    if (e.undo) e.undo.push(() => void t.indexes.delete(column));
    if (e.logging) e.log("table.createIndex", [t.name, column, { unique }]);
    else e.tick();
  },
});

/** `table.dropIndex(column)`: drops the index on `column`; whether there was one. */
export const tableDropIndex = op<TableState>("table.dropIndex", {
  run(e, t, args) {
    const column = args[1] as string;
    const ix = t.indexes.get(column);
    if (ix === undefined) return false;
    t.indexes.delete(column);
    if (e.undo) e.undo.push(() => void t.indexes.set(column, ix));
    if (e.logging) e.log("table.dropIndex", [t.name, column]);
    else e.tick();
    return true;
  },
});

/** `table.indexes()`: `{ column, unique }` for every index. */
export const tableIndexes = op<TableState>("table.indexes", {
  run: (_e, t) => [...t.indexes.values()].map((ix) => ({ column: ix.column, unique: ix.unique })),
});

/** `table.getMany(keys)`: the rows for several keys (missing ones skipped). */
export const tableGetMany = op<TableState>("table.getMany", {
  run(_e, t, args) {
    if (!Array.isArray(args[1])) {
      throw new ValidationError(`Keys ${quote(args[1])} are not an array: getMany() takes an array of keys`);
    }
    const out: StoredRow[] = [];
    for (const k of args[1]) {
      const row = t.store.getOut(checkPk(t.schema, k));
      if (row !== undefined) out.push(row);
    }
    return out;
  },
});

/** Every query and index op. */
export const QUERY_OPS = [tableQuery, tableFirst, tableCreateIndex, tableDropIndex, tableIndexes, tableGetMany];
