/**
 * The browser-safe CyberDB client: no engine, no storage, no runtime
 * globals at import time. Runs in Deno, Bun, Node (≥ 20) and browsers; a
 * running server serves it as one ES module at `GET /client.js`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, KeyNotFoundError } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=123456"], {}));
 *
 * const client = await connect(server.url.replace(/^http/, "ws"), { password: "123456" }); // or http://
 * const d = await client.createDict("dict1");
 * await d.set(0, 100);
 * assert.equal(await d.get(0), 100);
 * assert.equal(await d.size(), 1);
 * await assert.rejects(d.pop("missing"), KeyNotFoundError); // and the client still works
 * const seen = [];
 * for await (const [k, v] of d) seen.push([k, v]);
 * assert.deepEqual(seen, [[0, 100]]);
 * await client.close();
 * await server.close();
 * ```
 *
 * @module
 */

export { Client, ClientProxy, connect, type ConnectOptions, Session } from "./src/client/client.ts";
export { RemoteDict } from "./src/client/remote_dict.ts";
export { RemoteChangeStream, type RemoteSubscribeOptions, type RemoteWatchOptions } from "./src/client/watch.ts";
export type { Change, ChangeBase, DbChange, DictChange, ListChange, ListOp, TableChange } from "./src/core/change.ts";
export type { QueryChange, WatchQuery } from "./src/core/live_query.ts";
export { RemoteList } from "./src/client/remote_list.ts";
export { type KeyOf, RemoteQuery, RemoteTable, type StreamOptions } from "./src/client/remote_table.ts";
export { agg, QueryBuilder } from "./src/core/query_builder.ts";
export type { Aggregate, AggregateOp, Columns, CompareOp, Filter, OrderBy, Query } from "./src/core/query.ts";
export type { ReconnectOptions, WebSocketConstructor, WebSocketLike } from "./src/client/ws_transport.ts";
export type { WireCall, WireError, WireReply } from "./src/wire/protocol.ts";
export type { CollectionInfo } from "./src/api/database.ts";
export type { SortOptions } from "./src/ops/list_ops.ts";
export type { DatabaseStats, KindStats, RecoveryStats, SnapshotStats, StatsFacts } from "./src/ops/db_stats.ts";
export type { Kind } from "./src/core/engine.ts";
export type {
  Cols,
  ColumnDef,
  ColumnType,
  FloatType,
  InputOfType,
  InsertRow,
  IntType,
  IsNullable,
  PrimaryKey,
  Row,
  TableSchema,
  ValueOfType,
} from "./src/core/schema.ts";
export type { Key, Value } from "./src/core/value.ts";
export * from "./src/errors.ts";
