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
 * The base of `RemoteDict`, `RemoteList` and `RemoteTable`: a handle is the collection's name and the
 * connection to call its ops on. A method runs the op `<kind>.<method>` with
 * the collection name first, exactly the arguments the embedded handle
 * passes to the same op, so the two sides cannot disagree on what an op
 * receives; `method` must be an op of the table, or the facade does not
 * type-check.
 *
 * @example
 * ```ts ignore
 * import { RemoteCollection } from "./remote_collection.ts";
 * class RemoteCounter extends RemoteCollection<"dict"> {
 *   size(): Promise<number> {
 *     return this.call("size") as Promise<number>;
 *   }
 * }
 * ```
 */
export abstract class RemoteCollection<K extends CollectionKind> {
  #caller: Caller;
  #kind: K;
  #name: string;

  /** @internal Made by `client.createDict()` and friends. */
  constructor(caller: Caller, kind: K, name: string) {
    this.#caller = caller;
    this.#kind = kind;
    this.#name = name;
  }

  /** The collection's name. */
  get name(): string {
    return this.#name;
  }

  /** Runs this collection's op `method` with `args` after the collection name. */
  protected call(method: MethodOf<K>, ...args: unknown[]): Promise<unknown> {
    return this.#caller.call(`${this.#kind}.${method}`, [this.#name, ...args]);
  }

  /** Runs a streamed op and yields its answer batch by batch as it arrives. */
  protected callStreamed(method: MethodOf<K>, args: unknown[], batchRows?: number): AsyncIterableIterator<unknown> {
    return this.#caller.stream(`${this.#kind}.${method}`, [this.#name, ...args], batchRows);
  }

  /** Runs a streamed op and joins its batches into the whole answer. */
  protected async collect(method: MethodOf<K>, ...args: unknown[]): Promise<unknown> {
    const batches: unknown[] = [];
    for await (const batch of this.callStreamed(method, args)) batches.push(batch);
    return joinBatches(batches);
  }

  /**
   * Yields what the op `<kind>.scan` pages out, `batchSize` per round trip:
   * client memory stays O(batch). As with Redis's SCAN, an item present for
   * the whole iteration is yielded at least once; items written meanwhile
   * may or may not be.
   */
  protected async *scan<T>(): AsyncGenerator<T> {
    let cursor: number | null = 0;
    while (cursor !== null) {
      // Dicts and tables have a scan op; lists page with slice instead.
      const [next, items] = await this.call("scan" as MethodOf<K>, cursor, this.#caller.batchSize) as [number | null, T[]];
      yield* items;
      cursor = next;
    }
  }

  /** How many items `for await` fetches per round trip. */
  protected get batchSize(): number {
    return this.#caller.batchSize;
  }
}
