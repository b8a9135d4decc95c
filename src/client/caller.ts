/**
 * What a remote collection needs from its connection.
 *
 * @module
 */

/** Runs calls on a connection (a client or a proxy). */
export interface Caller {
  /** Runs one operation by name, the collection name first in `args`. */
  call(op: string, args: unknown[]): Promise<unknown>;
  /**
   * Runs one operation and yields its answer in batches of at most
   * `batchRows` rows (default: the connection's `streamBatchRows`).
   */
  stream(op: string, args: unknown[], batchRows?: number): AsyncIterableIterator<unknown>;
  /** How many items `for await` fetches per round trip. */
  readonly batchSize: number;
  /** Rows per batch of a streamed answer. */
  readonly streamBatchRows: number;
}

/**
 * Drops trailing `undefined` arguments, so optional parameters left out
 * locally are left out on the wire too (arity checks see the same count).
 *
 * @example
 * ```ts
 * import { trim } from "./caller.ts";
 * trim(["l", 1, undefined]); // ["l", 1]
 * ```
 */
export function trim(args: unknown[]): unknown[] {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return n === args.length ? args : args.slice(0, n);
}
