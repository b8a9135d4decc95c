/**
 * RemoteTable: a Table on a server, every method returning a Promise.
 *
 * @module
 */

import type { Columns, Filter, Query } from "../core/query.ts";
import { type Operand, QueryBuilder, type WhereOp } from "../core/query_builder.ts";
import type { InsertRow, PrimaryKey, Row, TableSchema, UpdateRow } from "../core/schema.ts";
import type { IndexOptions } from "../ops/query_ops.ts";
import type { Caller } from "./caller.ts";
import { CollectionCalls } from "./collection_calls.ts";
import { toList } from "./values.ts";
import { compileSchema } from "../core/schema.ts";
import type { Value } from "../core/value.ts";
import { LiveQuery, liveQueryBatches, type QueryChange, type WatchQuery } from "../core/live_query.ts";

/**
 * The primary key type of a table (any key when the schema type is not
 * known): the same as `PrimaryKey<S>`, under the name the client exported
 * first.
 *
 * @example
 * ```ts
 * import type { KeyOf } from "@cyberdb/core/client";
 * type Users = { name: "u"; columns: [{ name: "id"; type: "Utf8"; primaryKey: true }] };
 * const k: KeyOf<Users> = "alice";
 * // @ts-expect-error: the key column is a Utf8
 * const n: KeyOf<Users> = 1;
 * ```
 */
export type KeyOf<S extends TableSchema> = PrimaryKey<S>;

/**
 * Options of {@linkcode RemoteTable.stream} and {@linkcode RemoteQuery.stream}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 *
 * const client = await connect(server.url.replace(/^http/, "ws"));
 * const t = await client.createTable({
 *   name: "t",
 *   columns: [{ name: "id", type: "Int32", primaryKey: true }],
 * } as const);
 * await t.insertMany(Array.from({ length: 12 }, (_, id) => ({ id })));
 * const sizes = [];
 * for await (const batch of t.stream({ orderBy: [{ column: "id" }] }, { batchRows: 5 })) {
 *   sizes.push(batch.length);
 * }
 * assert.deepEqual(sizes, [5, 5, 2]); // at most 5 rows a batch
 * await client.close();
 * await server.close();
 * ```
 */
export interface StreamOptions {
  /**
   * Rows per batch, at most (default: `connect()`'s `streamBatchRows`,
   * 10 000). The server sends at most 100 000, and fewer when that many
   * would make a batch larger than about 4 MiB.
   */
  batchRows?: number;
}

/**
 * A table on a CyberDB server: the embedded Table's methods, each returning
 * a Promise; the `schema` getter becomes `schema()`. Pass the schema type
 * (or create it through `client.createTable(schema)`) for typed rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, DuplicateKeyError } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=123456"], {}));
 *
 * const client = await connect(server.url.replace(/^http/, "ws"), { password: "123456" });
 * const users = await client.createTable({
 *   name: "users",
 *   columns: [{ name: "id", type: "Int64", primaryKey: true }, { name: "name", type: "Utf8" }],
 * } as const);
 * await users.insert({ id: 1, name: "Ada" });
 * assert.equal((await users.get(1))?.name, "Ada");
 * await assert.rejects(users.insert({ id: 1, name: "Bob" }), DuplicateKeyError);
 * assert.deepEqual(await users.where("name", "startsWith", "A").select("id").toArray(), [{ id: 1 }]);
 * await client.close();
 * await server.close();
 * ```
 */
export class RemoteTable<S extends TableSchema = TableSchema> implements AsyncIterable<Row<S>> {
  #c: CollectionCalls<"table">;

  /** @internal Made by `client.createTable()` / `getTable()`. */
  constructor(caller: Caller, name: string) {
    this.#c = new CollectionCalls(caller, "table", name);
  }

  /** The table's name. */
  get name(): string {
    return this.#c.name;
  }

  /**
   * A live query (as the embedded `table.watch`): batches of the rows
   * entering, changing in and leaving `where`, the first holding the rows
   * matching now. Runs on the server's change feed, so it resumes after a
   * dropped connection like `client.watch()`.
   *
   * @example
   * ```ts ignore
   * for await (const batch of tasks.watch({ where: { column: "done", op: "=", value: false } })) {
   *   for (const e of batch) console.log(e.type, e.key, e.row);
   * }
   * ```
   */
  watch(query: WatchQuery = {}): AsyncGenerator<QueryChange<Row<S>>[], void, undefined> {
    const c = this.#c;
    const name = c.name;
    return (async function* () {
      const where = (query as WatchQuery | null)?.where;
      // The watch first, then the rows: a read at LSN R after the watch
      // started misses nothing, and the batches up to R are in the rows already.
      const changes = c.caller.watch({ collections: [name] });
      try {
        await changes.ready();
        const [schema, rows, lsn] = await c.caller.atomic([
          { op: "table.schema", args: [name] },
          { op: "table.query", args: [name, where === undefined ? {} : { where }] },
          { op: "db.lsn", args: [] },
        ]) as [TableSchema, Record<string, Value>[], number];
        const live = new LiveQuery(compileSchema(schema), query);
        const after = (async function* () {
          for await (const batch of changes) if (batch[0].lsn > lsn) yield batch;
        })();
        yield* liveQueryBatches<Row<S>>(live, lsn, rows, after);
      } finally {
        await changes.return();
      }
    })();
  }

  /** The table's schema (a copy, in canonical form). */
  schema(): Promise<S> {
    return this.#c.call("schema") as Promise<S>;
  }

  /** Inserts a new row; an existing key → `DuplicateKeyError`. */
  async insert(row: InsertRow<S>): Promise<void> {
    await this.#c.call("insert", row);
  }

  /** Inserts every row of an array (or another iterable), or none when any is bad or duplicate. */
  async insertMany(rows: Iterable<InsertRow<S>>): Promise<void> {
    await this.#c.call("insertMany", toList(rows));
  }

  /** Replaces the whole row with key `key` (the key column may be left out); missing → `KeyNotFoundError`. */
  async update(key: PrimaryKey<S>, row: UpdateRow<S>): Promise<void> {
    await this.#c.call("update", key, row);
  }

  /** Changes only the given columns of the row with key `key`; missing → `KeyNotFoundError`. */
  async patch(key: PrimaryKey<S>, partial: Partial<InsertRow<S>>): Promise<void> {
    await this.#c.call("patch", key, partial);
  }

  /** Inserts the row, or replaces the row with the same key. */
  async upsert(row: InsertRow<S>): Promise<void> {
    await this.#c.call("upsert", row);
  }

  /** Removes the row with key `key`; resolves to whether there was one. */
  delete(key: PrimaryKey<S>): Promise<boolean> {
    return this.#c.call("delete", key) as Promise<boolean>;
  }

  /** The row with key `key`, or `undefined`. */
  get(key: PrimaryKey<S>): Promise<Row<S> | undefined> {
    return this.#c.call("get", key) as Promise<Row<S> | undefined>;
  }

  /** The row with key `key` and its version (for check-and-set with `client.atomic()`), or `undefined`. */
  getEntry(key: PrimaryKey<S>): Promise<{ row: Row<S>; version: number } | undefined> {
    return this.#c.call("getEntry", key) as Promise<{ row: Row<S>; version: number } | undefined>;
  }

  /** Whether a row with key `key` exists. */
  has(key: PrimaryKey<S>): Promise<boolean> {
    return this.#c.call("has", key) as Promise<boolean>;
  }

  /** The number of rows, or of rows matching `where`. */
  count(where?: Filter): Promise<number> {
    return (where === undefined ? this.#c.call("count") : this.#c.call("count", where)) as Promise<number>;
  }

  /**
   * Runs a declarative query on the server (the same plain object as
   * embedded `query()`). A large answer travels in batches of
   * `streamBatchRows` rows (see {@linkcode RemoteTable.stream}), joined
   * here: the result is the same as the embedded one.
   */
  query(query: Query & { format: "columns" }): Promise<Columns>;
  /** Runs a declarative query on the server and returns the matching rows. */
  query(query?: Query): Promise<Row<S>[]>;
  query(query: Query = {}): Promise<Row<S>[] | Columns> {
    return this.#c.collect("query", query) as Promise<Row<S>[] | Columns>;
  }

  /**
   * Runs a declarative query on the server and yields its answer batch by
   * batch as it arrives: arrays of rows, or `{ column: values[] }` objects
   * with `format: "columns"`. The query runs whole on the server first (so
   * a bad query fails on the first step, with the embedded error); leaving
   * the loop early tells the server to stop sending.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { connect } from "@cyberdb/core/client";
   * import { parseConfig, startServer } from "@cyberdb/core/server";
   * // A server to talk to: in this process, in memory, on a free port.
   * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
   *
   * const client = await connect(server.url.replace(/^http/, "ws"));
   * const users = await client.createTable({ name: "users", columns: [
   *   { name: "id", type: "Int32", primaryKey: true }, { name: "age", type: "Int32" },
   * ] } as const);
   * await users.insertMany(Array.from({ length: 100 }, (_, id) => ({ id, age: id })));
   * let n = 0;
   * const query = { where: { column: "age", op: ">", value: 30 } } as const;
   * for await (const rows of users.stream(query, { batchRows: 10 })) {
   *   assert.ok(rows.length <= 10); // at most 10 rows at a time
   *   n += rows.length;
   * }
   * assert.equal(n, 69);
   * await client.close();
   * await server.close();
   * ```
   */
  stream(query: Query & { format: "columns" }, options?: StreamOptions): AsyncIterableIterator<Columns>;
  /** Runs a declarative query on the server and yields the matching rows batch by batch. */
  stream(query?: Query, options?: StreamOptions): AsyncIterableIterator<Row<S>[]>;
  stream(query: Query = {}, options: StreamOptions = {}): AsyncIterableIterator<Row<S>[] | Columns> {
    return this.#c.stream("query", [query], options.batchRows) as AsyncIterableIterator<Row<S>[] | Columns>;
  }

  /** The first row a query returns, or undefined. */
  first(query: Query = {}): Promise<Row<S> | undefined> {
    return this.#c.call("first", query) as Promise<Row<S> | undefined>;
  }

  /** A query builder starting with a filter: `await t.where("age", ">", 30).toArray()`. */
  where<C extends keyof Row<S> & string, O extends WhereOp>(
    column: C,
    op: O,
    ...operand: O extends "isNull" ? [] : [Operand<Row<S>[C], O>]
  ): RemoteQuery<S> {
    return new RemoteQuery<S>({}, this).where(column, op, ...operand);
  }

  /** A query builder starting with a projection. */
  select<C extends keyof Row<S> & string>(...columns: C[]): RemoteQuery<S, Pick<Row<S>, C>> {
    return new RemoteQuery<S>({}, this).select(...columns) as unknown as RemoteQuery<S, Pick<Row<S>, C>>;
  }

  /** A query builder starting with a sort key. */
  orderBy(column: keyof Row<S> & string, direction: "asc" | "desc" = "asc", nulls?: "first" | "last"): RemoteQuery<S> {
    return new RemoteQuery<S>({}, this).orderBy(column, direction, nulls);
  }

  /** A query builder starting with a grouping; follow with `.aggregate({...})`. */
  groupBy<C extends keyof Row<S> & string>(...columns: C[]): RemoteQuery<S> {
    return new RemoteQuery<S>({}, this).groupBy(...columns);
  }

  /** Creates a secondary index on `column` (`unique: true` rejects duplicates with DuplicateKeyError). */
  async createIndex(column: keyof Row<S> & string, options: IndexOptions = {}): Promise<void> {
    await this.#c.call("createIndex", column, options);
  }

  /** Drops the index on `column`; resolves to whether there was one. */
  dropIndex(column: keyof Row<S> & string): Promise<boolean> {
    return this.#c.call("dropIndex", column) as Promise<boolean>;
  }

  /** The table's secondary indexes. */
  indexes(): Promise<{ column: string; unique: boolean }[]> {
    return this.#c.call("indexes") as Promise<{ column: string; unique: boolean }[]>;
  }

  /** The rows for several keys, in the order given (missing keys are skipped), in one round trip. */
  getMany(keys: readonly PrimaryKey<S>[]): Promise<Row<S>[]> {
    return this.#c.call("getMany", toList(keys)) as Promise<Row<S>[]>;
  }

  /** Every row, in insertion order (one request; a large table arrives in batches). */
  rows(): Promise<Row<S>[]> {
    return this.#c.collect("rows") as Promise<Row<S>[]>;
  }

  /** Every row, in insertion order (one request; a large table arrives in batches). */
  toArray(): Promise<Row<S>[]> {
    return this.#c.collect("toArray") as Promise<Row<S>[]>;
  }

  /** The same as `toArray()`. */
  toJSON(): Promise<Row<S>[]> {
    return this.toArray();
  }

  /**
   * Streams the rows in insertion order, `batchSize` per round trip through
   * the server's cursor scan (`table.scan`): client memory stays O(batch).
   */
  [Symbol.asyncIterator](): AsyncIterator<Row<S>> {
    return this.#c.scan<Row<S>>();
  }
}

/**
 * A query builder bound to a remote table: the same plain query object as
 * embedded, sent as one `table.query` call whose answer streams in batches.
 * `for await` goes over the matching rows, one batch in memory at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 *
 * const client = await connect(server.url);
 * const users = await client.createTable({ name: "users", columns: [
 *   { name: "name", type: "Utf8", primaryKey: true }, { name: "age", type: "Int32" },
 * ] } as const);
 * await users.insertMany([{ name: "Ada", age: 36 }, { name: "Bob", age: 12 }, { name: "Cy", age: 18 }]);
 * const adults = await users.where("age", ">=", 18).orderBy("age").limit(10).toArray();
 * assert.deepEqual(adults.map((u) => u.name), ["Cy", "Ada"]);
 * const names = [];
 * for await (const user of users.where("age", ">=", 18)) names.push(user.name);
 * assert.deepEqual(names, ["Ada", "Cy"]); // insertion order
 * await client.close();
 * await server.close();
 * ```
 */
export class RemoteQuery<S extends TableSchema = TableSchema, R = Row<S>> extends QueryBuilder<S, R>
  implements AsyncIterable<R> {
  #table: RemoteTable<S> | undefined;

  /** @internal Made by `RemoteTable.where()` and friends. */
  constructor(query: Query = {}, table?: RemoteTable<S>) {
    super(query);
    this.#table = table;
  }

  /** Carries the bound table into every derived builder. */
  protected override derive(next: this): this {
    next.#table = this.#table;
    return next;
  }

  #t(): RemoteTable<S> {
    if (this.#table === undefined) {
      throw new TypeError("This query is not bound to a table: pass build() to table.query()");
    }
    return this.#table;
  }

  /** The matching rows. */
  toArray(): Promise<R[]> {
    return this.#t().query({ ...this.q, format: "rows" }) as Promise<R[]>;
  }

  /** The matching rows as columns. */
  columns(): Promise<{ [K in keyof R]: R[K][] }> {
    return this.#t().query({ ...this.q, format: "columns" }) as Promise<{ [K in keyof R]: R[K][] }>;
  }

  /** The first matching row, or undefined. */
  first(): Promise<R | undefined> {
    return this.#t().first(this.q) as Promise<R | undefined>;
  }

  /**
   * The matching rows batch by batch, as they arrive (see
   * {@linkcode RemoteTable.stream}).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { connect } from "@cyberdb/core/client";
   * import { parseConfig, startServer } from "@cyberdb/core/server";
   * // A server to talk to: in this process, in memory, on a free port.
   * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
   *
   * const client = await connect(server.url);
   * const t = await client.createTable({ name: "t", columns: [
   *   { name: "id", type: "Int32", primaryKey: true }, { name: "age", type: "Int32" },
   * ] } as const);
   * await t.insertMany(Array.from({ length: 100 }, (_, id) => ({ id, age: id })));
   * const sizes = [];
   * for await (const rows of t.where("age", ">", 30).stream({ batchRows: 50 })) sizes.push(rows.length);
   * assert.deepEqual(sizes, [50, 19]);
   * await client.close();
   * await server.close();
   * ```
   */
  stream(options: StreamOptions = {}): AsyncIterableIterator<R[]> {
    return this.#t().stream({ ...this.q, format: "rows" }, options) as AsyncIterableIterator<R[]>;
  }

  /** The matching rows one by one, fetched batch by batch (`for await (const row of query)`). */
  async *[Symbol.asyncIterator](): AsyncIterator<R> {
    for await (const rows of this.stream()) yield* rows;
  }

  /** How many results the query has. */
  async count(): Promise<number> {
    if (Object.keys(this.q).every((k) => k === "where")) return this.#t().count(this.q.where);
    return (await this.toArray()).length;
  }
}
