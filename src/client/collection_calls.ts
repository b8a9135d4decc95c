/**
 * The plumbing every remote collection shares: calling its ops by method
 * name (checked against the op table's names), joining streamed answers,
 * and cursor scans for `for await`.
 *
 * @module
 */

import type { MethodOf } from "../ops/signatures.ts";
import type { Caller } from "./caller.ts";
import { joinBatches } from "./stream.ts";

/** The kinds of collection a remote handle can stand for. */
export type CollectionKind = "dict" | "list" | "table";

/**
 * The calls of one remote collection, held by `RemoteDict`, `RemoteList` and
 * `RemoteTable`: a handle is the collection's name and the connection to
 * call its ops on. `call(method, ...args)` runs the op `<kind>.<method>`
 * with the collection name first; each facade passes exactly the arguments
 * the embedded handle passes to the same op, so the two sides cannot
 * disagree on what an op receives, and `method` must be an op of the table
 * (`src/ops/signatures.ts`), or the facade does not type-check.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Caller } from "./caller.ts";
 * import { CollectionCalls } from "./collection_calls.ts";
 * const sent: unknown[] = [];
 * const caller: Caller = {
 *   call: (op, args) => (sent.push([op, args]), Promise.resolve(null)),
 *   stream: () => [][Symbol.iterator]() as never,
 *   atomic: () => Promise.resolve([]),
 *   watch: () => { throw new Error("not watched here"); },
 *   batchSize: 1000,
 *   streamBatchRows: 10_000,
 * };
 * const calls = new CollectionCalls(caller, "dict", "dict1");
 * await calls.call("set", "k", 1);
 * assert.deepEqual(sent, [["dict.set", ["dict1", "k", 1]]]); // the op, the collection name first
 * ```
 */
export class CollectionCalls<K extends CollectionKind> {
  #caller: Caller;
  #kind: K;
  /** The collection's name. */
  readonly name: string;

  /** Calls on `caller` for the collection `name` of kind `kind`. */
  constructor(caller: Caller, kind: K, name: string) {
    this.#caller = caller;
    this.#kind = kind;
    this.name = name;
  }

  /** How many items `for await` fetches per round trip. */
  get batchSize(): number {
    return this.#caller.batchSize;
  }

  /** Runs this collection's op `method` with `args` after the collection name. */
  call(method: MethodOf<K>, ...args: unknown[]): Promise<unknown> {
    return this.#caller.call(`${this.#kind}.${method}`, [this.name, ...args]);
  }

  /** Runs a streamed op and yields its answer batch by batch as it arrives. */
  stream(method: MethodOf<K>, args: unknown[], batchRows?: number): AsyncIterableIterator<unknown> {
    return this.#caller.stream(`${this.#kind}.${method}`, [this.name, ...args], batchRows);
  }

  /** The connection's calls (atomic batches, watches). */
  get caller(): Caller {
    return this.#caller;
  }

  /** Runs a streamed op and joins its batches into the whole answer. */
  async collect(method: MethodOf<K>, ...args: unknown[]): Promise<unknown> {
    const batches: unknown[] = [];
    for await (const batch of this.stream(method, args)) batches.push(batch);
    return joinBatches(batches);
  }

  /**
   * Yields what the op `<kind>.scan` pages out, `batchSize` per round trip:
   * client memory stays O(batch). As with Redis's SCAN, an item present for
   * the whole iteration is yielded at least once; items written meanwhile
   * may or may not be.
   */
  async *scan<T>(this: CollectionCalls<"dict"> | CollectionCalls<"table">): AsyncGenerator<T> {
    let cursor: number | null = 0;
    while (cursor !== null) {
      // Dicts and tables have a scan op (lists page with slice instead).
      const [next, items] = await (this as CollectionCalls<"dict">).call("scan", cursor, this.batchSize) as [
        number | null,
        T[],
      ];
      yield* items;
      cursor = next;
    }
  }
}
