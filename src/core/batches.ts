/**
 * An answer made batch by batch. A streamed request (DESIGN §7, "stream")
 * asks for its answer in slices; ops that can answer large arrays capture
 * what they need at once — references to stored values, or the answer's
 * columns — so the answer reflects one moment, and make each slice (copied
 * values, row objects) only when that slice is sent. The server then holds
 * one batch of made rows per stream instead of the whole answer.
 *
 * @module
 */

/**
 * `length` items, made `slice(from, to)` at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Batches } from "./batches.ts";
 * const b = new Batches(3, (from, to) => ["a", "b", "c"].slice(from, to));
 * assert.deepEqual(b.slice(1, 3), ["b", "c"]);
 * ```
 */
export class Batches {
  /** How many items the answer has. */
  readonly length: number;
  #slice: (from: number, to: number) => unknown[];

  /** An answer of `length` items; `slice` makes the items in `[from, to)`. */
  constructor(length: number, slice: (from: number, to: number) => unknown[]) {
    this.length = length;
    this.#slice = slice;
  }

  /** The items in `[from, to)`, made now. */
  slice(from: number, to: number): unknown[] {
    return this.#slice(Math.max(0, from), Math.min(this.length, to));
  }

  /** The whole answer at once. */
  toArray(): unknown[] {
    return this.slice(0, this.length);
  }
}

/**
 * Batches over a captured array of stored values, each copied out by
 * `out` when its batch is made. The capture is a shallow copy, taken now:
 * later writes replace stored values (they never change one in place), so
 * the batches show the state of this moment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { capturedBatches } from "./batches.ts";
 * const stored = [{ a: 1 }, { a: 2 }];
 * assert.deepEqual(capturedBatches(stored, (v) => ({ ...v })).slice(0, 1), [{ a: 1 }]);
 * ```
 */
export function capturedBatches<T>(items: readonly T[], out: (v: T) => unknown): Batches {
  const capture = items.slice();
  return new Batches(capture.length, (from, to) => {
    const batch = new Array(to - from);
    for (let i = from; i < to; i++) batch[i - from] = out(capture[i]);
    return batch;
  });
}
