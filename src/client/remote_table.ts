/**
 * RemoteTable: a Table on a server, every method returning a Promise.
 *
 * @module
 */

import type { InsertRow, PrimaryKey, Row, TableSchema } from "../engine/schema.ts";
import type { Caller } from "./caller.ts";
import { toList } from "./values.ts";

/** The primary key type of a table; any key when the schema type is not known. */
export type KeyOf<S extends TableSchema> = TableSchema extends S ? string | number | bigint : PrimaryKey<S>;

/**
 * A table on a CyberDB server: the embedded Table's methods, each returning
 * a Promise; the `schema` getter becomes `schema()`. Pass the schema type
 * (or create it through `client.createTable(schema)`) for typed rows.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@cyberdb/core/client";
 * const client = await connect("ws://127.0.0.1:9980", { password: "123456" });
 * const users = await client.createTable({
 *   name: "users",
 *   columns: [{ name: "id", type: "Int64", primaryKey: true }, { name: "name", type: "Utf8" }],
 * } as const);
 * await users.insert({ id: 1, name: "Ada" });
 * (await users.get(1))?.name; // "Ada"
 * ```
 */
export class RemoteTable<S extends TableSchema = TableSchema> implements AsyncIterable<Row<S>> {
  #c: Caller;
  #name: string;

  /** @internal Made by `client.createTable()` / `getTable()`. */
  constructor(caller: Caller, name: string) {
    this.#c = caller;
    this.#name = name;
  }

  /** The table's name. */
  get name(): string {
    return this.#name;
  }

  #call(op: string, ...args: unknown[]): Promise<unknown> {
    return this.#c.call(op, [this.#name, ...args]);
  }

  /** The table's schema. */
  schema(): Promise<S> {
    return this.#call("table.schema") as Promise<S>;
  }

  /** Adds a row (`DuplicateKeyError` when its key exists). */
  async insert(row: InsertRow<S>): Promise<void> {
    await this.#call("table.insert", row);
  }

  /** Adds every row, all or none. */
  async insertMany(rows: Iterable<InsertRow<S>>): Promise<void> {
    await this.#call("table.insertMany", toList(rows));
  }

  /** Replaces the whole row under `key` (`KeyNotFoundError` when missing). */
  async update(key: KeyOf<S>, row: InsertRow<S> | Omit<InsertRow<S>, never>): Promise<void> {
    await this.#call("table.update", key, row);
  }

  /** Changes some columns of the row under `key`. */
  async patch(key: KeyOf<S>, partial: Partial<InsertRow<S>>): Promise<void> {
    await this.#call("table.patch", key, partial);
  }

  /** Inserts the row, or replaces the one with its key. */
  async upsert(row: InsertRow<S>): Promise<void> {
    await this.#call("table.upsert", row);
  }

  /** Removes the row under `key`; resolves to whether it was there. */
  delete(key: KeyOf<S>): Promise<boolean> {
    return this.#call("table.delete", key) as Promise<boolean>;
  }

  /** The row under `key`, or `undefined`. */
  get(key: KeyOf<S>): Promise<Row<S> | undefined> {
    return this.#call("table.get", key) as Promise<Row<S> | undefined>;
  }

  /** Whether a row has `key`. */
  has(key: KeyOf<S>): Promise<boolean> {
    return this.#call("table.has", key) as Promise<boolean>;
  }

  /** The number of rows. */
  count(): Promise<number> {
    return this.#call("table.count") as Promise<number>;
  }

  /** Every row, in insertion order (one round trip). */
  rows(): Promise<Row<S>[]> {
    return this.#call("table.rows") as Promise<Row<S>[]>;
  }

  /** Every row, in insertion order (one round trip). */
  toArray(): Promise<Row<S>[]> {
    return this.#call("table.toArray") as Promise<Row<S>[]>;
  }

  /** The same as `toArray()`. */
  toJSON(): Promise<Row<S>[]> {
    return this.toArray();
  }

  /**
   * Streams the rows. Until the server has a batched table scan this
   * fetches every row in one round trip and yields them one by one.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Row<S>> {
    yield* await this.rows();
  }
}
