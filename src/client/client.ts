/**
 * `connect()`, the Client and its pooled proxies (DESIGN §8).
 *
 * @module
 */

import type { CollectionInfo } from "../core/engine.ts";
import type { DatabaseStats } from "../ops/db_stats.ts";
import type { TableSchema } from "../core/schema.ts";
import { type Key, quote, type Value } from "../core/value.ts";
import { ClosedError, ConnectionError, type CyberDBError, ValidationError } from "../errors.ts";
import type { Change } from "../core/change.ts";
import type { Caller } from "./caller.ts";
import { failedStream } from "./stream.ts";
import { HttpTransport } from "./http_transport.ts";
import { RemoteDict } from "./remote_dict.ts";
import { RemoteList } from "./remote_list.ts";
import { RemoteTable } from "./remote_table.ts";
import type { Transport, TransportOptions } from "./transport.ts";
import { checkArgs, toList, toPairs } from "./values.ts";
import type { WireCall } from "../wire/protocol.ts";
import type { Check } from "../core/entry.ts";
import { type ReconnectOptions, type WebSocketConstructor, WsTransport } from "./ws_transport.ts";
import {
  checkRemoteWatchOptions,
  RemoteChangeStream,
  type RemoteSubscribeOptions,
  type RemoteWatchOptions,
} from "./watch.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** The server's password (`--password`). */
  password?: string;
  /** Milliseconds before a call (or the connection) fails with `ConnectionError` (default 30 000). */
  timeout?: number;
  /** Largest request to send, in bytes (default 64 MiB; lowered to the server's limit when it says so). */
  maxRequestBytes?: number;
  /** Items fetched per round trip by `for await` (default 1000). */
  batchSize?: number;
  /**
   * Rows per batch when a query's answer streams (default 10 000; the
   * server sends at most 100 000). `table.query()` and friends reassemble
   * the batches; `table.stream()` hands them out as they arrive.
   */
  streamBatchRows?: number;
  /**
   * The WebSocket constructor for `ws(s)://` URLs; default `globalThis.WebSocket`.
   * Node 20 has none: `npm install ws` and pass `{ WebSocket }` from `"ws"`, or use an `http://` URL.
   */
  WebSocket?: WebSocketConstructor;
  /** Reconnection backoff after a dropped socket, or `false` to stay disconnected. */
  reconnect?: ReconnectOptions | false;
  /**
   * WebSocket only: send the calls made in one tick together, as one array
   * frame, to a server whose hello says it takes them (default `true`).
   * One frame means one message event on the server and, in a Durable
   * Object, one storage commit for all of them. `false` sends every call
   * as a frame of its own — for comparing the two (bench/coalesce_bench.ts)
   * or for a proxy in between that cannot pass array frames. Replies and
   * their order are the same either way. Over HTTP a tick's calls always go
   * as one pipelined request: separate requests would lose their order.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { connect } from "@cyberdb/core/client";
   * import { parseConfig, startServer } from "@cyberdb/core/server";
   * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
   *
   * const client = await connect(server.url.replace(/^http/, "ws"), { coalesce: false });
   * const d = await client.createDict("d");
   * await Promise.all([d.set("a", 1), d.set("b", 2)]); // two frames rather than one
   * assert.equal(await d.size(), 2);
   * await client.close();
   * await server.close();
   * ```
   */
  coalesce?: boolean;
}

/**
 * The database-level calls, shared by {@linkcode Client} and {@linkcode ClientProxy}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, type Session } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 *
 * // Written once for a Client and its proxies alike.
 * async function names(s: Session): Promise<string[]> {
 *   return (await s.collections()).map((c) => c.name);
 * }
 * const client = await connect(server.url);
 * await client.createList("b");
 * await client.createDict("a");
 * assert.deepEqual(await names(client), ["a", "b"]); // sorted by name
 * {
 *   await using proxy = client.getProxy();
 *   assert.deepEqual(await names(proxy), ["a", "b"]);
 * }
 * await client.close();
 * await server.close();
 * ```
 */
export abstract class Session {
  /** @internal */
  protected abstract caller(): Caller;

  /** Creates a dict, optionally filled from an object, a Map or `[key, value]` pairs. */
  async createDict<V extends Value = Value>(
    name: string,
    init?: NoInfer<Iterable<readonly [Key, V]> | Record<string, V>>,
  ): Promise<RemoteDict<V>> {
    const c = this.caller();
    await c.call("db.createDict", init === undefined ? [name] : [name, toPairs(init)]);
    return new RemoteDict<V>(c, name);
  }

  /** A handle to an existing dict (`NotFoundError`, `WrongKindError`). */
  async getDict<V extends Value = Value>(name: string): Promise<RemoteDict<V>> {
    const c = this.caller();
    await c.call("db.getDict", [name]);
    return new RemoteDict<V>(c, name);
  }

  /** Creates a list, optionally filled from an iterable. */
  async createList<V extends Value = Value>(name: string, init?: NoInfer<Iterable<V>>): Promise<RemoteList<V>> {
    const c = this.caller();
    await c.call("db.createList", init === undefined ? [name] : [name, toList(init)]);
    return new RemoteList<V>(c, name);
  }

  /** A handle to an existing list (`NotFoundError`, `WrongKindError`). */
  async getList<V extends Value = Value>(name: string): Promise<RemoteList<V>> {
    const c = this.caller();
    await c.call("db.getList", [name]);
    return new RemoteList<V>(c, name);
  }

  /** Creates a table from a schema (`SchemaError` when it is malformed). */
  async createTable<const S extends TableSchema>(schema: S): Promise<RemoteTable<S>> {
    const c = this.caller();
    await c.call("db.createTable", [schema]);
    return new RemoteTable<S>(c, schema.name);
  }

  /** A handle to an existing table; pass the schema type for typed rows. */
  async getTable<S extends TableSchema = TableSchema>(name: string): Promise<RemoteTable<S>> {
    const c = this.caller();
    await c.call("db.getTable", [name]);
    return new RemoteTable<S>(c, name);
  }

  /** The dict `name`, created empty if there is none (get-or-create; `WrongKindError` for another kind). */
  async dict<V extends Value = Value>(name: string): Promise<RemoteDict<V>> {
    const c = this.caller();
    await c.call("db.dict", [name]);
    return new RemoteDict<V>(c, name);
  }

  /** The list `name`, created empty if there is none (get-or-create). */
  async list<V extends Value = Value>(name: string): Promise<RemoteList<V>> {
    const c = this.caller();
    await c.call("db.list", [name]);
    return new RemoteList<V>(c, name);
  }

  /** The table `schema.name`, created from `schema` if there is none; an existing one must match (`SchemaError`). */
  async table<const S extends TableSchema>(schema: S): Promise<RemoteTable<S>> {
    const c = this.caller();
    await c.call("db.table", [schema]);
    return new RemoteTable<S>(c, schema.name);
  }

  /** Every collection's name and kind, sorted by name. */
  collections(): Promise<CollectionInfo[]> {
    return this.caller().call("db.collections", []) as Promise<CollectionInfo[]>;
  }

  /** Drops a collection; resolves to whether it existed. */
  drop(name: string): Promise<boolean> {
    return this.caller().call("db.drop", [name]) as Promise<boolean>;
  }

  /** Runs any operation of the operation table by name, e.g. `call("dict.set", ["d", "k", 1])`. */
  call(op: string, args: unknown[] = []): Promise<unknown> {
    return this.caller().call(op, args);
  }

  /**
   * Runs operations as one transaction on the server: all happen, or none
   * does and the first error is thrown. Resolves to every result. With
   * `checks` (check-and-set) the server first verifies that each named dict
   * key or table row has the version given (`null`: is absent); a failed
   * check applies nothing and throws `ConflictError`.
   *
   * @example
   * ```ts ignore
   * const e = await counters.getEntry("hits");
   * await client.atomic([{ op: "dict.set", args: ["counters", "hits", (e?.value ?? 0) + 1] }], {
   *   checks: [{ collection: "counters", key: "hits", version: e?.version ?? null }],
   * }); // ConflictError if another client wrote "hits" meanwhile: read again and retry
   * ```
   */
  atomic(calls: readonly WireCall[], options: { checks?: readonly Check[] } = {}): Promise<unknown[]> {
    for (const c of calls) checkArgs(String(c?.op), Array.isArray(c?.args) ? c.args : []);
    return this.transport().atomic(calls, options.checks);
  }

  /** The LSN of the server's last committed write (`db.lsn` remotely). */
  lsn(): Promise<number> {
    return this.caller().call("db.lsn", []) as Promise<number>;
  }

  /**
   * The id of the server's history of LSNs (`db.historyId` remotely, read
   * from `stats()`): a `--memory` server that restarted, or a server on a
   * fresh directory, has another one, and its LSNs name other writes. `""`
   * from a server too old to tell. A watch's stream carries it as `history`.
   */
  async historyId(): Promise<string> {
    return (await this.stats()).historyId ?? "";
  }

  /**
   * What the server's database tells about itself (`db.stats` remotely,
   * Redis's `INFO`): the same shape as the embedded `db.stats()` — LSNs,
   * collections and items by kind with approximate sizes, sync mode,
   * storage, log bytes, the last snapshot, recovery, uptime, watchers.
   *
   * @example
   * ```ts ignore
   * const s = await client.stats();
   * console.log(`${s.collections} collections, ${s.items} items, about ${(s.approxBytes / 1e6).toFixed(1)} MB`);
   * ```
   */
  stats(): Promise<DatabaseStats> {
    return this.caller().call("db.stats", []) as Promise<DatabaseStats>;
  }

  /**
   * The server's change feed (the same batches as `db.watch()`): an async
   * iterator of `Change[]`, one per commit, over the WebSocket (or, on an
   * `http://` client, the server's event stream). After a dropped
   * connection or a server restart it reconnects and resumes after the last
   * LSN it delivered: no gap, no repeat. `ready()` starts it and resolves
   * with the LSN it starts after. Errors: bad options (`ValidationError`,
   * `NotFoundError`), `ResetError` (the server no longer holds what came
   * after `from`), `LaggedError` (the consumer fell too far behind; its
   * `lsn` is where to resume).
   *
   * @example
   * ```ts ignore
   * const todos = await client.getDict("todos");
   * const changes = client.watch({ collections: ["todos"] });
   * await changes.ready();
   * await todos.set("t1", "write the docs");
   * const { value } = await changes.next();
   * // [{ lsn, collection: "todos", kind: "dict", type: "set", key: "t1", value: "write the docs" }]
   * await changes.return();
   * ```
   */
  watch(options?: RemoteWatchOptions): RemoteChangeStream {
    return this.caller().watch(checkRemoteWatchOptions(options));
  }

  /**
   * Calls `fn` with every batch of the server's change feed (see
   * {@linkcode watch}); returns the function that stops it. `onError`
   * receives the error that ends it (without it, the error is thrown on a
   * microtask of its own, as from an event listener).
   *
   * @example
   * ```ts ignore
   * const stop = client.subscribe((changes) => render(changes), { collections: ["todos"] });
   * // later
   * stop();
   * ```
   */
  subscribe(fn: (changes: Change[]) => void, options: RemoteSubscribeOptions = {}): () => void {
    if (typeof fn !== "function") throw new ValidationError(`subscribe() takes a function, got ${quote(fn)}`);
    const { onError, ...rest } = options ?? {};
    if (onError !== undefined && typeof onError !== "function") {
      throw new ValidationError(`Subscribe option onError ${quote(onError)} is not a function`);
    }
    const stream = this.watch(rest);
    const report = (e: unknown) =>
      queueMicrotask(() => {
        throw e;
      });
    (async () => {
      try {
        for await (const changes of stream) {
          try {
            fn(changes);
          } catch (e) {
            report(e);
          }
        }
      } catch (e) {
        if (onError !== undefined) onError(e as CyberDBError);
        else report(e);
      }
    })();
    return () => void stream.return();
  }

  /**
   * The URL of the server's Server-Sent Events stream for `options`
   * (`GET /v1/watch`), carrying a short-lived token when the server has a
   * password — for a browser's `EventSource`, which cannot send headers.
   * The token opens event streams only, for 5 minutes (a reconnecting
   * `EventSource` gets in while it is valid).
   *
   * @example
   * ```ts ignore
   * const events = new EventSource(await client.watchUrl({ collections: ["todos"] }));
   * events.onmessage = (e) => console.log(JSON.parse(e.data).changes);
   * ```
   */
  watchUrl(options: RemoteWatchOptions = {}): Promise<string> {
    return this.transport().watchUrl(checkRemoteWatchOptions(options));
  }

  /** @internal */
  protected abstract transport(): Transport;
}

/** Rows per streamed batch when `connect()` is not told otherwise. */
const STREAM_BATCH_ROWS = 10_000;

/** A positive integer number of rows, or `ValidationError` naming `what`. */
function checkBatchRows(n: unknown, what: string): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new ValidationError(`${what} ${quote(n)} is not a positive integer: pass e.g. 10000`);
  }
  return n;
}

function makeCaller(get: () => Transport, batchSize: number, streamBatchRows: number): Caller {
  return {
    batchSize,
    streamBatchRows,
    call(op, args) {
      try {
        checkArgs(op, args);
        return get().call(op, args);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    atomic(calls) {
      try {
        return get().atomic(calls);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    watch(options) {
      return new RemoteChangeStream((request) => get().watch(request), options);
    },
    stream(op, args, batchRows = streamBatchRows) {
      try {
        checkArgs(op, args);
        return get().stream(op, args, checkBatchRows(batchRows, "batchRows"));
      } catch (e) {
        return failedStream(e);
      }
    },
  };
}

/**
 * One pooled connection of a {@linkcode Client} (CyberDB's proxy): the same
 * calls as the client; `close()` (or `await using`) returns the connection
 * to the pool.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClosedError, connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=123456"], {}));
 *
 * const client = await connect(server.url.replace(/^http/, "ws"), { password: "123456" });
 * const proxy = client.getProxy(); // a connection of its own, from the client's pool
 * const d = await proxy.createDict("dict1");
 * await d.set("k", 1);
 * await proxy.close(); // back to the pool (as `await using proxy = ...` does at the end of its scope)
 * await assert.rejects(d.get("k"), ClosedError);
 * assert.equal(await (await client.getDict("dict1")).get("k"), 1);
 * await client.close();
 * await server.close();
 * ```
 */
export class ClientProxy extends Session {
  #t: Transport | null;
  #release: (t: Transport) => void;
  #caller: Caller;

  /** @internal Made by `client.getProxy()`. */
  constructor(
    t: Transport,
    release: (t: Transport) => void,
    batchSize: number,
    streamBatchRows: number = STREAM_BATCH_ROWS,
  ) {
    super();
    this.#t = t;
    this.#release = release;
    this.#caller = makeCaller(() => this.transport(), batchSize, streamBatchRows);
  }

  /** @internal */
  protected caller(): Caller {
    return this.#caller;
  }

  /** @internal */
  protected transport(): Transport {
    if (this.#t === null) throw new ClosedError("This proxy was closed: take another with client.getProxy()");
    return this.#t;
  }

  /** Returns the connection to the client's pool; further calls fail with `ClosedError`. */
  close(): Promise<void> {
    const t = this.#t;
    this.#t = null;
    if (t !== null) this.#release(t);
    return Promise.resolve();
  }

  /** `await using proxy = client.getProxy()` returns it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * A connection to a CyberDB server. Calls made concurrently are pipelined;
 * a failed call throws the server's error class and the connection stays
 * usable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, NotFoundError } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=123456"], {}));
 *
 * const client = await connect(server.url.replace(/^http/, "ws"), { password: "123456" });
 * const d = await client.createDict("dict1");
 * await Promise.all([d.set(0, 100), d.set(1, 200)]); // pipelined on one connection
 * assert.deepEqual(await client.collections(), [{ name: "dict1", kind: "dict" }]);
 * await assert.rejects(client.getList("nope"), NotFoundError); // the server's error class...
 * assert.equal(await d.get(1), 200); // ...and the connection stays usable
 * await client.close();
 * await server.close();
 * ```
 */
export class Client extends Session {
  #make: () => Transport;
  #main: Transport;
  #idle: Transport[] = [];
  #all = new Set<Transport>();
  #closed = false;
  #caller: Caller;
  #batchSize: number;
  #streamBatchRows: number;

  /** @internal Made by {@linkcode connect}. */
  constructor(make: () => Transport, main: Transport, batchSize: number, streamBatchRows: number = STREAM_BATCH_ROWS) {
    super();
    this.#make = make;
    this.#main = main;
    this.#all.add(main);
    this.#batchSize = batchSize;
    this.#streamBatchRows = streamBatchRows;
    this.#caller = makeCaller(() => this.transport(), batchSize, streamBatchRows);
  }

  /** `"ws"` or `"http"`: how this client talks to the server. */
  get kind(): "ws" | "http" {
    return this.#main.kind;
  }

  /** @internal */
  protected caller(): Caller {
    return this.#caller;
  }

  /** @internal */
  protected transport(): Transport {
    if (this.#closed) throw new ClosedError("The client is closed: connect() again");
    return this.#main;
  }

  /**
   * A pooled connection for one unit of work (CyberDB's `get_proxy()`):
   * an idle pooled WebSocket, or a new one opened on first use. Over HTTP
   * every proxy shares the client's fetch connection pool.
   */
  getProxy(): ClientProxy {
    if (this.#closed) throw new ClosedError("The client is closed: connect() again");
    let t: Transport;
    if (this.#main.kind === "http") {
      t = this.#main;
    } else {
      t = this.#idle.pop() ?? this.#make();
      this.#all.add(t);
    }
    return new ClientProxy(
      t,
      (back) => {
        if (back === this.#main) return;
        if (this.#closed) void back.close();
        else this.#idle.push(back);
      },
      this.#batchSize,
      this.#streamBatchRows,
    );
  }

  /** Closes every connection; pending calls fail with `ClosedError`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle = [];
    await Promise.all([...this.#all].map((t) => t.close()));
    this.#all.clear();
  }

  /** `await using client = await connect(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function endpoint(url: string): { kind: "ws" | "http"; url: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ValidationError(`${quote(url)} is not a URL: pass e.g. "ws://127.0.0.1:9980" or "http://127.0.0.1:9980"`);
  }
  const path = u.pathname.replace(/\/+$/, "");
  if (u.protocol === "ws:" || u.protocol === "wss:") {
    u.pathname = path.endsWith("/v1/ws") ? path : `${path}/v1/ws`;
    return { kind: "ws", url: u.toString() };
  }
  if (u.protocol === "http:" || u.protocol === "https:") {
    u.pathname = path.endsWith("/v1/rpc") ? path.slice(0, -"/v1/rpc".length) : path;
    return { kind: "http", url: u.toString().replace(/\/+$/, "") };
  }
  throw new ValidationError(`URL scheme ${quote(u.protocol)} is not supported: use ws://, wss://, http:// or https://`);
}

/**
 * Connects to a CyberDB server: `ws(s)://` uses a WebSocket (many calls in
 * flight, reconnects after a drop), `http(s)://` uses fetch (concurrent
 * calls coalesced into one pipelined request). Resolves once connected and
 * authenticated; a wrong password fails here with `AuthError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthError, connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=123456"], {}));
 *
 * const client = await connect(server.url, { password: "123456" }); // http://…; ws://… for a WebSocket
 * const list = await client.createList("list1", [1, 2, 3]);
 * assert.equal(await list.pop(), 3);
 * await client.close();
 * await assert.rejects(connect(server.url, { password: "wrong" }), AuthError);
 * await server.close();
 * ```
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Client> {
  const { kind, url: target } = endpoint(url);
  const t: TransportOptions = {
    password: options.password,
    timeout: options.timeout ?? 30_000,
    maxRequestBytes: options.maxRequestBytes ?? 64 * 1024 * 1024,
    coalesce: options.coalesce ?? true,
  };
  const batchSize = options.batchSize ?? 1000;
  const streamBatchRows = checkBatchRows(options.streamBatchRows ?? STREAM_BATCH_ROWS, "streamBatchRows");
  let make: () => Transport;
  if (kind === "http") {
    make = () => new HttpTransport(target, t);
  } else {
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === undefined) {
      throw new ConnectionError(
        `This runtime has no WebSocket (Node 20): run "npm install ws" and pass connect(url, { WebSocket }) with WebSocket from "ws", or connect to ${
          target.replace(/^ws/, "http").replace(/\/v1\/ws$/, "")
        } over HTTP`,
      );
    }
    make = () => new WsTransport(target, t, Ctor, options.reconnect ?? {});
  }
  const main = make();
  try {
    await main.ready();
  } catch (e) {
    await main.close();
    throw e;
  }
  return new Client(make, main, batchSize, streamBatchRows);
}
