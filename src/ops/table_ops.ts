/**
 * Table operations: MathDB's CRUD on rows keyed by the primary key.
 *
 * @module
 */

import { DuplicateKeyError, KeyNotFoundError, ValidationError } from "../errors.ts";
import type { Engine, TableState } from "../core/engine.ts";
import { checkPartial, checkPk, checkRow, type StoredRow } from "../core/schema.ts";
import { quote } from "../core/value.ts";
import { compileQuery } from "../core/query.ts";
import { countMatches, runQuery } from "../core/query_exec.ts";
import { checkScan } from "./dict_ops.ts";
import { candidates } from "./query_ops.ts";
import { ALL_ITEMS, op } from "./types.ts";

function pkName(t: TableState): string {
  return t.schema.names[t.schema.pk];
}

function duplicate(t: TableState, key: string | number, where = ""): never {
  throw new DuplicateKeyError(
    `Table ${quote(t.name)} already has a row with ${pkName(t)} ${
      quote(key)
    }${where}: use update() or upsert() to replace it`,
  );
}

function missing(t: TableState, key: string | number): never {
  throw new KeyNotFoundError(
    `Table ${quote(t.name)} has no row with ${pkName(t)} ${quote(key)}: insert() it first or use upsert()`,
  );
}

/** Checks every unique index before anything changes. */
function checkUnique(t: TableState, row: StoredRow, key: string | number): void {
  if (t.indexes.size === 0) return;
  for (const ix of t.indexes.values()) ix.check(row, key);
}

/** Moves the row's secondary-index entries from `before` to `after` (undoable). */
function reindex(
  e: Engine,
  t: TableState,
  before: StoredRow | null,
  after: StoredRow | null,
  key: string | number,
): void {
  if (t.indexes.size === 0) return;
  for (const ix of t.indexes.values()) ix.apply(before, after, key, e.undo);
}

/** Stores `row` under `key` in place of `old` (if any): unique checks first, then the store and the indexes. */
function replaceRow(e: Engine, t: TableState, key: string | number, old: StoredRow | null, row: StoredRow): void {
  checkUnique(t, row, key);
  t.store.set(key, row, e.undo, e.nextLsn);
  reindex(e, t, old, row, key);
}

/**
 * The body of `table.insert`, callable without an args array (the handle's
 * hot path). It checks that writes are accepted itself, as `op()` does for
 * every write op, since the handle calls it directly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const t = db.createTable({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * t.insert({ id: 1 }); // the handle calls insertRow
 * assert.equal(t.count(), 1);
 * ```
 */
export function insertRow(e: Engine, t: TableState, input: unknown): void {
  if (e.storageError !== null) e.checkWritable();
  const row = checkRow(t.schema, input, "");
  const key = row[pkName(t)] as string | number;
  if (t.indexes.size > 0) {
    if (t.store.has(key)) duplicate(t, key);
    checkUnique(t, row, key);
  }
  if (!t.store.add(key, row, e.undo, e.nextLsn)) duplicate(t, key);
  reindex(e, t, null, row, key);
  if (e.logging) e.log("table.insert", [t.name, row]);
  else e.tick();
}

/** `table.insert(row)`: a new row; an existing key is a DuplicateKeyError. */
export const tableInsert = op<TableState>("table.insert", {
  run: (e, t, args) => insertRow(e, t, args[1]),
});

/** The rows of `insertMany`: an array, or any other iterable of rows (read whole before anything is stored). */
function rowList(input: unknown): unknown[] {
  if (Array.isArray(input)) return input;
  if (
    typeof input === "object" && input !== null && typeof (input as Iterable<unknown>)[Symbol.iterator] === "function"
  ) {
    return Array.from(input as Iterable<unknown>);
  }
  throw new ValidationError(
    `Rows ${quote(input)} are not an array (or another iterable) of rows: pass [row, row, ...]`,
  );
}

/** `table.insertMany(rows)`: all rows or none; a key that exists, or comes twice → DuplicateKeyError. */
export const tableInsertMany = op<TableState>("table.insertMany", {
  run(e, t, args) {
    const input = rowList(args[1]);
    const pk = pkName(t);
    const rows: StoredRow[] = new Array(input.length);
    const batch = new Set<string | number>();
    // Unique secondary indexes must also hold within the batch.
    const seen = [...t.indexes.values()].filter((ix) => ix.unique).map((ix) => ({
      ix,
      batch: new Map<unknown, string | number>(),
    }));
    for (let i = 0; i < input.length; i++) {
      const row = checkRow(t.schema, input[i], ` in row ${i}`);
      const key = row[pk] as string | number;
      if (t.store.has(key)) duplicate(t, key, ` (row ${i})`);
      if (batch.has(key)) duplicate(t, key, ` (row ${i} repeats an earlier row of the batch)`);
      for (const u of seen) u.ix.check(row, key, u.batch);
      batch.add(key);
      rows[i] = row;
    }
    for (const row of rows) {
      const key = row[pk] as string | number;
      t.store.set(key, row, e.undo, e.nextLsn);
      reindex(e, t, null, row, key);
    }
    if (rows.length > 0) {
      if (e.logging) e.log("table.insertMany", [t.name, rows]);
      else e.tick();
    }
  },
});

/** Checks that a row given with a key does not try to change that key. */
function sameKey(t: TableState, key: string | number, row: StoredRow): void {
  const pk = pkName(t);
  if (Object.hasOwn(row, pk) && row[pk] !== key) {
    throw new ValidationError(
      `Row has ${pk} ${quote(row[pk])} but the call is for ${pk} ${
        quote(key)
      }: a primary key cannot be changed; delete and insert instead`,
    );
  }
}

/** `table.update(pk, row)`: replaces the whole row; a missing key is a KeyNotFoundError. */
export const tableUpdate = op<TableState>("table.update", {
  run(e, t, args) {
    const key = checkPk(t.schema, args[1]);
    const given = args[2];
    const pk = pkName(t);
    // The key column may be left out of the row: the call names it.
    const full = typeof given === "object" && given !== null && !Array.isArray(given) && !Object.hasOwn(given, pk)
      ? { ...given, [pk]: key }
      : given;
    const row = checkRow(t.schema, full, "");
    sameKey(t, key, row);
    const old = t.store.get(key);
    if (old === undefined) missing(t, key);
    replaceRow(e, t, key, old, row);
    if (e.logging) e.log("table.update", [t.name, key, row]);
    else e.tick();
  },
});

/** `table.patch(pk, partial)`: changes the given columns only (a missing key → KeyNotFoundError); logged as the `table.update` of the whole row. */
export const tablePatch = op<TableState>("table.patch", {
  run(e, t, args) {
    const key = checkPk(t.schema, args[1]);
    const part = checkPartial(t.schema, args[2]);
    sameKey(t, key, part);
    const old = t.store.get(key);
    if (old === undefined) missing(t, key);
    const row = { ...old, ...part };
    replaceRow(e, t, key, old, row);
    // Logged as its effect, the whole row: replay needs no prior state, and
    // the change feed tells the row after the write (DESIGN §5, §9).
    if (e.logging) e.log("table.update", [t.name, key, row]);
    else e.tick();
  },
});

/** `table.upsert(row)`: inserts, or replaces the row with the same key. */
export const tableUpsert = op<TableState>("table.upsert", {
  run(e, t, args) {
    const row = checkRow(t.schema, args[1], "");
    const key = row[pkName(t)] as string | number;
    replaceRow(e, t, key, t.store.get(key) ?? null, row);
    if (e.logging) e.log("table.upsert", [t.name, row]);
    else e.tick();
  },
});

/** `table.delete(pk)`: whether a row was removed. */
export const tableDelete = op<TableState>("table.delete", {
  run(e, t, args) {
    const key = checkPk(t.schema, args[1]);
    const old = t.store.delete(key, e.undo);
    if (old === undefined) return false;
    reindex(e, t, old, null, key);
    if (e.logging) e.log("table.delete", [t.name, key]);
    else e.tick();
    return true;
  },
});

/**
 * The body of `table.get`, callable without an args array (the handle's
 * hot path): a copy of the row, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const t = db.createTable({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * t.insert({ id: 1 });
 * assert.deepEqual(t.get(1), { id: 1 }); // the handle calls getRow
 * ```
 */
export function getRow(t: TableState, key: unknown): StoredRow | undefined {
  return t.store.getOut(checkPk(t.schema, key));
}

/** `table.get(pk)`: a copy of the row, or `undefined`. */
export const tableGet = op<TableState>("table.get", {
  run: (_e, t, args) => getRow(t, args[1]),
});

/** `table.getEntry(pk)`: `{ row, version }` (a copy of the row and the LSN of its last write), or `undefined`. */
export const tableGetEntry = op<TableState>("table.getEntry", {
  run(_e, t, args) {
    const key = checkPk(t.schema, args[1]);
    const row = t.store.getOut(key);
    return row === undefined ? undefined : { row, version: t.store.versionOf(key) };
  },
});

/** `table.has(pk)`: whether a row has that key. */
export const tableHas = op<TableState>("table.has", {
  run: (_e, t, args) => t.store.has(checkPk(t.schema, args[1])),
});

/** `table.count(where?)`: the number of rows, or of rows matching a filter. */
export const tableCount = op<TableState>("table.count", {
  run(_e, t, args) {
    if (args[1] === undefined || args[1] === null) return t.store.size;
    const plan = compileQuery(t.schema, { where: args[1] });
    return countMatches(t.store, plan, candidates(t, plan));
  },
});

/** `table.rows()`: an iterator of row copies in insertion order. */
export const tableRows = op<TableState>("table.rows", {
  *run(_e, t) {
    yield* t.store.values();
  },
  stream: (_e, t) => runQuery(t.store, t.schema, compileQuery(t.schema, {}), null, true),
  answer: ALL_ITEMS,
});

/** `table.toArray()`: every row, copied, in insertion order. */
export const tableToArray = op<TableState>("table.toArray", {
  run(_e, t) {
    // Column by column, like a query's answer.
    return runQuery(t.store, t.schema, compileQuery(t.schema, {}), null);
  },
  stream: (_e, t) => runQuery(t.store, t.schema, compileQuery(t.schema, {}), null, true),
});

/** `table.schema`: the table's schema in canonical form. */
export const tableSchema = op<TableState>("table.schema", {
  run: (_e, t) => structuredCloneSchema(t),
});

function structuredCloneSchema(t: TableState) {
  const d = t.schema.def;
  return { name: d.name, columns: d.columns.map((c) => ({ ...c })) };
}

/** `table.scan(cursor, count)`: one page `[nextCursor | null, rows[]]`, for batched iteration. */
export const tableScan = op<TableState>("table.scan", {
  run(_e, t, args) {
    const [cursor, count] = checkScan(args[1], args[2]);
    const { next, rows } = t.store.scan(cursor, count);
    return [next, rows];
  },
});

/** Every table op. */
export const TABLE_OPS = [
  tableInsert,
  tableInsertMany,
  tableUpdate,
  tablePatch,
  tableUpsert,
  tableDelete,
  tableGet,
  tableGetEntry,
  tableHas,
  tableCount,
  tableRows,
  tableToArray,
  tableSchema,
  tableScan,
];
