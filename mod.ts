/**
 * @cyberdb/core — an edge-friendly in-memory database for Deno, Bun, Node
 * and browsers: named dicts, lists and schema'd tables, with a write-ahead
 * log and snapshots when given a directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, KeyNotFoundError } from "@cyberdb/core";
 * const db = await Database.open(); // { dir: "./data" } to persist
 * const d = db.createDict("dict1");
 * d.set("a", 1);
 * assert.equal(d.get("a"), 1);
 * assert.throws(() => d.pop("b"), KeyNotFoundError);
 * const users = db.createTable({
 *   name: "users",
 *   columns: [
 *     { name: "id", type: "Int64", primaryKey: true },
 *     { name: "name", type: "Utf8" },
 *   ],
 * } as const);
 * users.insert({ id: 1, name: "Ada" });
 * assert.deepEqual(users.where("name", "=", "Ada").toArray(), [{ id: 1, name: "Ada" }]);
 * await db.close();
 * ```
 *
 * @module
 */

export {
  type CollectionInfo,
  Database,
  type DatabaseOptions,
  type DatabaseStats,
  type DurabilityCounters,
  type FeedHooks,
  type KindStats,
  type LoadProgress,
  type Logger,
  type Persistence,
  type RecoveryFacts,
  type RecoveryStats,
  type SnapshotFacts,
  type SnapshotStats,
  type StatsFacts,
  type SubscribeOptions,
  type SyncMode,
  type WatchBuffer,
  type WatchOptions,
} from "./src/api/database.ts";
export { ChangeStream } from "./src/api/feed.ts";
export type { Change, ChangeBase, DbChange, DictChange, ListChange, ListOp, TableChange } from "./src/core/change.ts";
export type { QueryChange, WatchQuery } from "./src/core/live_query.ts";
export { CyberDict, type Entry, type SetOptions } from "./src/api/dict.ts";
export { CyberList, type SortOptions } from "./src/api/list.ts";
export { Table } from "./src/api/table.ts";
export {
  type Cols,
  type ColumnDef,
  type ColumnType,
  defineSchema,
  type FloatType,
  type InputOfType,
  type InsertRow,
  type IntType,
  type IsNullable,
  type PrimaryKey,
  type PrimaryKeyName,
  type Row,
  type TableSchema,
  type UpdateRow,
  type ValueOfType,
} from "./src/core/schema.ts";
export type { Key, Value } from "./src/core/value.ts";
export type { Aggregate, AggregateOp, Columns, CompareOp, Filter, OrderBy, Query } from "./src/core/query.ts";
export { agg, type Operand, QueryBuilder, TableQuery, type WhereOp } from "./src/core/query_builder.ts";
export type { IndexOptions } from "./src/ops/query_ops.ts";
export type { Check } from "./src/ops/mod.ts";
export type { Kind, LogEntry } from "./src/core/engine.ts";
export type { CreateOptions, Storage, StorageFile, StorageLock } from "./src/storage/types.ts";
export type { Scheduler } from "./src/storage/scheduler.ts";
export * from "./src/errors.ts";
