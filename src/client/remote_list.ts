/**
 * RemoteList: a CyberList on a server, every method returning a Promise.
 *
 * @module
 */

import type { SortOptions } from "../ops/list_ops.ts";
import type { Value } from "../core/value.ts";
import type { Caller } from "./caller.ts";
import { CollectionCalls } from "./collection_calls.ts";
import { toList } from "./values.ts";

/**
 * A list on a CyberDB server: the embedded CyberList's methods, each
 * returning a Promise; the `length` getter becomes `length()`. `for await`
 * streams elements in slices of `batchSize`.
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
 * const l = await client.createList("list1", [3, 1, 2]);
 * await l.append(0);
 * await l.sort();
 * assert.equal(await l.pop(), 3);
 * assert.deepEqual(await l.toArray(), [0, 1, 2]);
 * await client.close();
 * await server.close();
 * ```
 */
export class RemoteList<V extends Value = Value> implements AsyncIterable<V> {
  #c: CollectionCalls<"list">;

  /** @internal Made by `client.createList()` / `getList()`. */
  constructor(caller: Caller, name: string) {
    this.#c = new CollectionCalls(caller, "list", name);
  }

  /** The list's name. */
  get name(): string {
    return this.#c.name;
  }

  /** The number of elements. */
  length(): Promise<number> {
    return this.#c.call("length") as Promise<number>;
  }

  /** The element at `index` (negative counts from the end; `IndexOutOfRangeError` outside). */
  get(index: number): Promise<V> {
    return this.#c.call("get", index) as Promise<V>;
  }

  /** Replaces the element at `index`. */
  async set(index: number, value: V): Promise<void> {
    await this.#c.call("set", index, value);
  }

  /** Adds `value` at the end. */
  async append(value: V): Promise<void> {
    await this.#c.call("append", value);
  }

  /** Adds every value of `values` at the end — all or none. */
  async extend(values: Iterable<V>): Promise<void> {
    await this.#c.call("extend", toList(values));
  }

  /** Inserts before `index`; an index past either end is clamped, as in Python. */
  async insert(index: number, value: V): Promise<void> {
    await this.#c.call("insert", index, value);
  }

  /** Removes and resolves to the element at `index` (default: the last). */
  pop(index: number = -1): Promise<V> {
    return this.#c.call("pop", index) as Promise<V>;
  }

  /** Removes the first element deep-equal to `value` (`ValueNotFoundError` when none). */
  async remove(value: V): Promise<void> {
    await this.#c.call("remove", value);
  }

  /** The index of the first element deep-equal to `value`, or -1. */
  indexOf(value: V): Promise<number> {
    return this.#c.call("indexOf", value) as Promise<number>;
  }

  /** How many elements are deep-equal to `value`. */
  count(value: V): Promise<number> {
    return this.#c.call("count", value) as Promise<number>;
  }

  /** The elements from `start` to `end` (Array#slice semantics). */
  slice(start?: number, end?: number): Promise<V[]> {
    return this.#c.call("slice", start, end) as Promise<V[]>;
  }

  /** Reverses the list in place. */
  async reverse(): Promise<void> {
    await this.#c.call("reverse");
  }

  /** Sorts in place, stably, by value or by the field `key` of object elements. */
  async sort(options: SortOptions = {}): Promise<void> {
    await this.#c.call("sort", options);
  }

  /** Removes every element. */
  async clear(): Promise<void> {
    await this.#c.call("clear");
  }

  /** Every element (one round trip). */
  toArray(): Promise<V[]> {
    return this.#c.call("toArray") as Promise<V[]>;
  }

  /** The same as `toArray()`. */
  toJSON(): Promise<V[]> {
    return this.toArray();
  }

  /** Streams the elements, `batchSize` per round trip. */
  async *[Symbol.asyncIterator](): AsyncIterator<V> {
    const n = this.#c.batchSize;
    for (let i = 0;; i += n) {
      const chunk = await this.slice(i, i + n);
      yield* chunk;
      if (chunk.length < n) return;
    }
  }
}
