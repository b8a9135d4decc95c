/**
 * The Table handle: MathDB's schema'd table with a primary key.
 *
 * @module
 */

import { SchemaError } from "../errors.ts";
import * as ops from "../ops/table_ops.ts";
import * as qops from "../ops/query_ops.ts";
import type { IndexOptions } from "../ops/query_ops.ts";
import type { Columns, Filter, Query } from "../core/query.ts";
import { type Operand, TableQuery, type WhereOp } from "../core/query_builder.ts";
import type { Op } from "../ops/types.ts";
import type { DatabaseOptions } from "../durable/options.ts";
import type { CollectionInfo, Engine, TableState } from "../core/engine.ts";
import type { InsertRow, PrimaryKey, Row, TableSchema, UpdateRow } from "../core/schema.ts";
import { compileSchema, sameSchema } from "../core/schema.ts";
import { quote, type Value } from "../core/value.ts";
import type { Change } from "../core/change.ts";
import { LiveQuery, liveQueryBatches, type QueryChange, type WatchQuery } from "../core/live_query.ts";
import type { WatchOptions } from "./feed.ts";

/**
 * What a table handle needs from the database holding it. `Database`
 * implements it; this module does not import `database.ts` (which imports
 * this one), so the two are not a cycle.
 */
export interface TableHost {
  /** See `Database.flush`. */
  flush(): Promise<void>;
  /** See `Database.snapshot`. */
  snapshot(): Promise<void>;
  /** See `Database.close`. */
  close(): Promise<void>;
  /** See `Database.collections`. */
  collections(): CollectionInfo[];
  /** See `Database.createTable`. */
  createTable<const S extends TableSchema>(schema: S): Table<S>;
  /** See `Database.getTable`. */
  getTable<S extends TableSchema = TableSchema>(name: string): Table<S>;
  /** See `Database.watch`. */
  watch(options?: WatchOptions): AsyncIterableIterator<Change[]>;
}

/** How `Table.open` opens its database: `database.ts` sets it when it loads. */
let openHost: ((options: DatabaseOptions) => Promise<TableHost>) | null = null;

/**
 * Tells `Table.open` how to open a database (done once by `database.ts`,
 * which every entry point that exports `Table` loads).
 *
 * @example
 * ```ts
 * import { Database } from "./database.ts";
 * import { setTableHostOpener } from "./table.ts";
 * setTableHostOpener((options) => Database.open(options)); // what database.ts does when it loads
 * ```
 */
export function setTableHostOpener(open: (options: DatabaseOptions) => Promise<TableHost>): void {
  openHost = open;
}

/**
 * A table of rows checked against a schema and keyed by its primary key.
 * Row types follow the schema when it is written `as const` or through
 * `defineSchema`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, defineSchema } from "@cyberdb/core";
 * const schema = defineSchema({
 *   name: "users",
 *   columns: [
 *     { name: "id", type: "Int64", primaryKey: true },
 *     { name: "name", type: "Utf8" },
 *     { name: "age", type: "Int32", nullable: true },
 *   ],
 * });
 * const db = await Database.open();
 * const users = db.createTable(schema);
 * users.insert({ id: 1, name: "Ada", age: 36 });
 * users.insert({ id: 2, name: "Bob" }); // nullable: may be left out
 * users.patch(1, { age: 37 });
 * assert.equal(users.get(1)?.age, 37);
 * assert.deepEqual(users.get(2), { id: 2, name: "Bob", age: null });
 * ```
 */
export class Table<S extends TableSchema = TableSchema> implements Iterable<Row<S>> {
  #e: Engine;
  #s: TableState;
  #db: TableHost;
  #standalone = false;

  /** @internal Handles are made by `Database.createTable` / `getTable` / `Table.open`. */
  constructor(engine: Engine, state: TableState, db: TableHost) {
    this.#e = engine;
    this.#s = state;
    this.#db = db;
  }

  /**
   * Opens a standalone table in its own database directory, MathDB style:
   * creates it with `schema` when new; an existing table with another
   * schema → `SchemaError`. `close()` closes the directory.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SchemaError, Table } from "@cyberdb/core";
   * import { MemoryStorage } from "@cyberdb/core/storage";
   * const storage = new MemoryStorage(); // here; { dir } alone: on disk; no options: memory only
   * const points = {
   *   name: "points",
   *   columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "x", type: "Float64" }],
   * } as const;
   * const t = await Table.open(points, { dir: "points", storage }); // new: created
   * t.upsert({ id: 1, x: 0.5 });
   * await t.close(); // closes the directory too (as `await using t = ...` does at the end of its scope)
   * const other = { name: "points", columns: [{ name: "id", type: "Utf8", primaryKey: true }] } as const;
   * await assert.rejects(Table.open(other, { dir: "points", storage }), SchemaError);
   * await using again = await Table.open(points, { dir: "points", storage });
   * assert.deepEqual(again.get(1), { id: 1, x: 0.5 });
   * ```
   */
  static async open<const S extends TableSchema>(schema: S, options: DatabaseOptions = {}): Promise<Table<S>> {
    if (openHost === null) throw new Error("Table.open needs database.ts loaded: import Table from @cyberdb/core");
    // A malformed schema is a SchemaError whether or not the table exists yet.
    compileSchema(schema);
    const db = await openHost(options);
    try {
      const existing = db.collections().find((c) => c.name === schema?.name);
      if (existing === undefined) return db.createTable(schema).#adopt(db);
      const table = db.getTable<S>(schema.name);
      if (!sameSchema(table.schema, schema)) {
        throw new SchemaError(
          `Table ${quote(schema.name)} in this directory has schema ${quote(table.schema, 400)}, not ${
            quote(schema, 400)
          }: open it with the stored schema, or use another directory`,
        );
      }
      return table.#adopt(db);
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** Marks a `Table.open` table: closing it closes its database. */
  #adopt(_db: TableHost): this {
    this.#standalone = true;
    return this;
  }

  #run(op: Op<TableState>, args: unknown[]): unknown {
    this.#e.checkState(this.#s);
    return op.run(this.#e, this.#s, args);
  }

  /** The table's name. */
  get name(): string {
    return this.#s.name;
  }

  /** The table's schema (a copy, in canonical form). */
  get schema(): S {
    return this.#run(ops.tableSchema, [this.#s.name]) as S;
  }

  /** Inserts a new row; an existing key → `DuplicateKeyError`. */
  insert(row: InsertRow<S>): void {
    // A hot path: the op's body directly, without the args array #run takes.
    this.#e.checkState(this.#s);
    ops.insertRow(this.#e, this.#s, row);
  }

  /** Inserts every row of an array (or another iterable), or none when any is bad or duplicate. */
  insertMany(rows: Iterable<InsertRow<S>>): void {
    this.#run(ops.tableInsertMany, [this.#s.name, rows]);
  }

  /** Replaces the whole row with key `key` (the key column may be left out); missing → `KeyNotFoundError`. */
  update(key: PrimaryKey<S>, row: UpdateRow<S>): void {
    this.#run(ops.tableUpdate, [this.#s.name, key, row]);
  }

  /** Changes only the given columns of the row with key `key`; missing → `KeyNotFoundError`. */
  patch(key: PrimaryKey<S>, partial: Partial<InsertRow<S>>): void {
    this.#run(ops.tablePatch, [this.#s.name, key, partial]);
  }

  /** Inserts the row, or replaces the row with the same key. */
  upsert(row: InsertRow<S>): void {
    this.#run(ops.tableUpsert, [this.#s.name, row]);
  }

  /** Removes the row with key `key`; returns whether there was one. */
  delete(key: PrimaryKey<S>): boolean {
    return this.#run(ops.tableDelete, [this.#s.name, key]) as boolean;
  }

  /** A copy of the row with key `key`, or `undefined`. */
  get(key: PrimaryKey<S>): Row<S> | undefined {
    // The hottest read path: the op's body directly, without the args array #run takes.
    this.#e.checkState(this.#s);
    return ops.getRow(this.#s, key) as Row<S> | undefined;
  }

  /**
   * The row with key `key` and its version — the LSN of the row's last
   * write, for check-and-set with `db.atomic()` — or `undefined`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const t = db.createTable({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const);
   * t.insert({ id: 1 });
   * assert.deepEqual(t.getEntry(1), { row: { id: 1 }, version: db.lsn });
   * ```
   */
  getEntry(key: PrimaryKey<S>): { row: Row<S>; version: number } | undefined {
    return this.#run(ops.tableGetEntry, [this.#s.name, key]) as { row: Row<S>; version: number } | undefined;
  }

  /** Whether a row with key `key` exists. */
  has(key: PrimaryKey<S>): boolean {
    return this.#run(ops.tableHas, [this.#s.name, key]) as boolean;
  }

  /** The number of rows, or of rows matching `where`. */
  count(where?: Filter): number {
    return this.#run(ops.tableCount, where === undefined ? [this.#s.name] : [this.#s.name, where]) as number;
  }

  /**
   * Runs a declarative query (plain data; see docs/queries.md):
   * rows by default, `{ column: values[] }` with `format: "columns"`.
   */
  query(query: Query & { format: "columns" }): Columns;
  /** Runs a declarative query and returns the matching rows. */
  query(query?: Query): Row<S>[];
  query(query: Query = {}): Row<S>[] | Columns {
    return this.#run(qops.tableQuery, [this.#s.name, query]) as Row<S>[] | Columns;
  }

  /** The first row a query returns, or undefined. */
  first(query: Query = {}): Row<S> | undefined {
    return this.#run(qops.tableFirst, [this.#s.name, query]) as Row<S> | undefined;
  }

  /** A query builder starting with a filter: `t.where("age", ">", 30).toArray()`. */
  where<C extends keyof Row<S> & string, O extends WhereOp>(
    column: C,
    op: O,
    ...operand: O extends "isNull" ? [] : [Operand<Row<S>[C], O>]
  ): TableQuery<S> {
    return this.#builder().where(column, op, ...operand);
  }

  /** A query builder starting with a projection. */
  select<C extends keyof Row<S> & string>(...columns: C[]): TableQuery<S, Pick<Row<S>, C>> {
    return this.#builder().select(...columns) as unknown as TableQuery<S, Pick<Row<S>, C>>;
  }

  /** A query builder starting with a sort key. */
  orderBy(column: keyof Row<S> & string, direction: "asc" | "desc" = "asc", nulls?: "first" | "last"): TableQuery<S> {
    return this.#builder().orderBy(column, direction, nulls);
  }

  /** A query builder starting with a grouping; follow with `.aggregate({...})`. */
  groupBy<C extends keyof Row<S> & string>(...columns: C[]): TableQuery<S> {
    return this.#builder().groupBy(...columns);
  }

  #builder(): TableQuery<S> {
    return new TableQuery<S>(
      {},
      (op, q) => op === "query" ? this.query(q) : op === "first" ? this.first(q) : this.count(q.where),
    );
  }

  /** Creates a secondary index on `column` (`unique: true` rejects duplicates with DuplicateKeyError). */
  createIndex(column: keyof Row<S> & string, options: IndexOptions = {}): void {
    this.#run(qops.tableCreateIndex, [this.#s.name, column, options]);
  }

  /** Drops the index on `column`; returns whether there was one. */
  dropIndex(column: keyof Row<S> & string): boolean {
    return this.#run(qops.tableDropIndex, [this.#s.name, column]) as boolean;
  }

  /** The table's secondary indexes. */
  indexes(): { column: string; unique: boolean }[] {
    return this.#run(qops.tableIndexes, [this.#s.name]) as { column: string; unique: boolean }[];
  }

  /** The rows for several keys, in the order given (missing keys are skipped). */
  getMany(keys: readonly PrimaryKey<S>[]): Row<S>[] {
    return this.#run(qops.tableGetMany, [this.#s.name, keys]) as Row<S>[];
  }

  /** Copies of the rows in insertion order. */
  rows(): IterableIterator<Row<S>> {
    return this.#run(ops.tableRows, [this.#s.name]) as IterableIterator<Row<S>>;
  }

  /** Copies of the rows in insertion order. */
  [Symbol.iterator](): IterableIterator<Row<S>> {
    return this.rows();
  }

  /**
   * A live query: batches of the rows entering, changing in and leaving
   * `where` (all of the table without it). The first batch holds the rows
   * matching now, as `enter`s (possibly none); then one batch per commit
   * that moved a row in, within or out of the filter: `enter` and `change`
   * carry the row after the write, `leave` the row when it still exists.
   * Dropping the table ends it (with a `leave` for every row it held).
   * Only `where` is taken (a live query keeps no order or limit).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Database } from "@cyberdb/core";
   * const db = await Database.open();
   * const tasks = db.createTable({
   *   name: "tasks",
   *   columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "done", type: "Boolean" }],
   * } as const);
   * tasks.insert({ id: 1, done: false });
   * const open = tasks.watch({ where: { column: "done", op: "=", value: false } });
   * assert.deepEqual((await open.next()).value, [{ lsn: 2, type: "enter", key: 1, row: { id: 1, done: false } }]);
   * tasks.insert({ id: 2, done: false });
   * tasks.patch(1, { done: true });
   * assert.deepEqual((await open.next()).value, [{ lsn: 3, type: "enter", key: 2, row: { id: 2, done: false } }]);
   * assert.deepEqual((await open.next()).value, [{ lsn: 4, type: "leave", key: 1, row: { id: 1, done: true } }]);
   * await open.return();
   * ```
   */
  watch(query: WatchQuery = {}): AsyncGenerator<QueryChange<Row<S>>[], void, undefined> {
    this.#e.checkState(this.#s);
    const live = new LiveQuery(this.#s.schema, query);
    // The rows now and the feed from this very LSN: nothing between them.
    const lsn = this.#e.lsn;
    const rows = [...this.#s.store.values()] as Record<string, Value>[];
    const source = this.#db.watch({ collections: [this.#s.name], from: lsn });
    return liveQueryBatches<Row<S>>(live, lsn, rows, source);
  }

  /** Copies of every row, in insertion order. */
  toArray(): Row<S>[] {
    return this.#run(ops.tableToArray, [this.#s.name]) as Row<S>[];
  }

  /** The same as `toArray()`, for `JSON.stringify`. */
  toJSON(): Row<S>[] {
    return this.toArray();
  }

  /** Makes every acknowledged write durable (see `Database.flush`). */
  flush(): Promise<void> {
    return this.#db.flush();
  }

  /** Writes a snapshot of the database holding this table (see `Database.snapshot`). */
  snapshot(): Promise<void> {
    return this.#db.snapshot();
  }

  /**
   * Closes a table opened with `Table.open` (flush, snapshot, unlock). For a
   * table obtained from a `Database`, this does nothing: close the database.
   */
  close(): Promise<void> {
    return this.#standalone ? this.#db.close() : Promise.resolve();
  }

  /** `await using t = await Table.open(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
