/**
 * What a remote collection needs from its connection.
 *
 * @module
 */

import type { WireCall } from "../wire/protocol.ts";
import type { RemoteChangeStream, RemoteWatchOptions } from "./watch.ts";

/** Runs calls on a connection (a client or a proxy). */
export interface Caller {
  /** Runs one operation by name, the collection name first in `args`. */
  call(op: string, args: unknown[]): Promise<unknown>;
  /**
   * Runs one operation and yields its answer in batches of at most
   * `batchRows` rows (default: the connection's `streamBatchRows`).
   */
  stream(op: string, args: unknown[], batchRows?: number): AsyncIterableIterator<unknown>;
  /** Runs operations as one transaction (all or none); resolves to their results. */
  atomic(calls: readonly WireCall[]): Promise<unknown[]>;
  /** Watches the server's change feed. */
  watch(options: RemoteWatchOptions): RemoteChangeStream;
  /** How many items `for await` fetches per round trip. */
  readonly batchSize: number;
  /** Rows per batch of a streamed answer. */
  readonly streamBatchRows: number;
}
