/**
 * RemoteDict: a CyberDict on a server, every method returning a Promise.
 *
 * @module
 */

import type { Key, Value } from "../core/value.ts";
import type { Entry, SetOptions } from "../core/entry.ts";
import type { Caller } from "./caller.ts";
import { CollectionCalls } from "./collection_calls.ts";
import { toPairs } from "./values.ts";

/**
 * A dict on a CyberDB server: the embedded CyberDict's methods, each
 * returning a Promise; the `size` getter becomes `size()`. `for await`
 * streams entries in batches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * // A server to talk to: in this process, in memory, on a free port.
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=123456"], {}));
 *
 * const client = await connect(server.url.replace(/^http/, "ws"), { password: "123456" });
 * const d = await client.createDict("dict1");
 * await d.set(0, 100);
 * assert.equal(await d.get(0), 100);
 * await d.update({ a: 1 });
 * const entries = [];
 * for await (const [k, v] of d) entries.push([k, v]); // fetched batch by batch
 * assert.deepEqual(entries, [[0, 100], ["a", 1]]);
 * await client.close();
 * await server.close();
 * ```
 */
export class RemoteDict<V extends Value = Value> implements AsyncIterable<[Key, V]> {
  #c: CollectionCalls<"dict">;

  /** @internal Made by `client.createDict()` / `getDict()`. */
  constructor(caller: Caller, name: string) {
    this.#c = new CollectionCalls(caller, "dict", name);
  }

  /** The dict's name. */
  get name(): string {
    return this.#c.name;
  }

  /** The value under `key`; `fallback` (or `undefined`) when it is missing. */
  get(key: Key): Promise<V | undefined>;
  /** The value under `key`, or `fallback` when it is missing. */
  get<F>(key: Key, fallback: F): Promise<V | F>;
  get(key: Key, ...fallback: unknown[]): Promise<unknown> {
    // A fallback given as undefined is still a fallback (as embedded).
    return this.#c.call("get", key, ...fallback.slice(0, 1));
  }

  /**
   * Stores `value` under `key`; resolves to the dict for chaining. With
   * `{ expireIn }` (ms) the key expires that long from now (by the server's
   * clock); a set without it clears any expiry.
   */
  async set(key: Key, value: V, options?: SetOptions): Promise<this> {
    await (options === undefined ? this.#c.call("set", key, value) : this.#c.call("set", key, value, options));
    return this;
  }

  /** The entry under `key` with its version (for check-and-set with `client.atomic()`), or `undefined`. */
  getEntry(key: Key): Promise<Entry<V> | undefined> {
    return this.#c.call("getEntry", key) as Promise<Entry<V> | undefined>;
  }

  /** Adds `by` (default 1) to the number or bigint under `key`; resolves to the result (a missing key starts at 0). */
  increment(key: Key, by: number | bigint = 1): Promise<V extends bigint ? bigint : number> {
    return this.#c.call("increment", key, by) as Promise<V extends bigint ? bigint : number>;
  }

  /** Makes `key` expire `ms` from now, or never with `null`; resolves to whether the key exists. */
  expire(key: Key, ms: number | null): Promise<boolean> {
    return this.#c.call("expire", key, ms) as Promise<boolean>;
  }

  /** The milliseconds until `key` expires; `null` when it never does, `undefined` when it is missing. */
  ttl(key: Key): Promise<number | null | undefined> {
    return this.#c.call("ttl", key) as Promise<number | null | undefined>;
  }

  /** Whether `key` is present. */
  has(key: Key): Promise<boolean> {
    return this.#c.call("has", key) as Promise<boolean>;
  }

  /** Removes `key`; resolves to whether it was there. */
  delete(key: Key): Promise<boolean> {
    return this.#c.call("delete", key) as Promise<boolean>;
  }

  /** The number of keys. */
  size(): Promise<number> {
    return this.#c.call("size") as Promise<number>;
  }

  /** Every key, in insertion order (one round trip). */
  keys(): Promise<Key[]> {
    return this.#c.call("keys") as Promise<Key[]>;
  }

  /** Every value, in insertion order (one round trip). */
  values(): Promise<V[]> {
    return this.#c.call("values") as Promise<V[]>;
  }

  /** Every `[key, value]`, in insertion order (one round trip). */
  entries(): Promise<[Key, V][]> {
    return this.#c.call("entries") as Promise<[Key, V][]>;
  }

  /** Removes every key. */
  async clear(): Promise<void> {
    await this.#c.call("clear");
  }

  /** Stores every entry of a plain object, a Map or an iterable of pairs — all or none. */
  async update(entries: Record<string, V> | Iterable<readonly [Key, V]>): Promise<void> {
    await this.#c.call("update", toPairs(entries));
  }

  /** Removes `key` and resolves to its value (`KeyNotFoundError` when missing and no fallback). */
  pop(key: Key): Promise<V>;
  /** Removes `key` and resolves to its value, or `fallback` when missing. */
  pop<F>(key: Key, fallback: F): Promise<V | F>;
  pop(key: Key, ...fallback: unknown[]): Promise<unknown> {
    return this.#c.call("pop", key, ...fallback.slice(0, 1));
  }

  /** Removes and resolves to the last inserted `[key, value]` (`KeyNotFoundError` when empty). */
  popItem(): Promise<[Key, V]> {
    return this.#c.call("popItem") as Promise<[Key, V]>;
  }

  /** The value under `key`; if missing, stores `value` and resolves to it. */
  setDefault(key: Key, value: V): Promise<V> {
    return this.#c.call("setDefault", key, value) as Promise<V>;
  }

  /** A plain object of every entry (number keys become strings). */
  toObject(): Promise<Record<string, V>> {
    return this.#c.call("toObject") as Promise<Record<string, V>>;
  }

  /** The same as `toObject()`. */
  toJSON(): Promise<Record<string, V>> {
    return this.toObject();
  }

  /**
   * Streams `[key, value]` pairs in insertion order, `batchSize` per round
   * trip through the server's cursor scan (`dict.scan`): client memory stays
   * O(batch). As with Redis's SCAN, an entry present for the whole iteration
   * is yielded at least once; entries written meanwhile may or may not be.
   */
  [Symbol.asyncIterator](): AsyncIterator<[Key, V]> {
    return this.#c.scan<[Key, V]>();
  }
}
