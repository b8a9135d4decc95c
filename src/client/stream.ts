/**
 * Client helpers for streamed answers (the wire format is in `wire.ts`):
 * cutting an HTTP body into its length-prefixed frames, and joining the
 * batches of an answer back into the answer.
 *
 * @module
 */

/**
 * Cuts a byte stream of length-prefixed frames into the frames' payloads:
 *
 * ```
 *   +---------------+--------------+---------------+--------------+--
 *   | u32 LE len N1 | N1 bytes     | u32 LE len N2 | N2 bytes     | ...
 *   +---------------+--------------+---------------+--------------+--
 * ```
 *
 * Chunks may split a frame (or its length) anywhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameSplitter } from "./stream.ts";
 * const s = new FrameSplitter();
 * s.push(new Uint8Array([2, 0, 0, 0, 7]));
 * assert.equal(s.next(), null); // one byte of two so far
 * s.push(new Uint8Array([8]));
 * assert.deepEqual(s.next(), new Uint8Array([7, 8]));
 * ```
 */
export class FrameSplitter {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;

  /** Bytes received and not yet handed out as a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Adds received bytes. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.#end + chunk.byteLength > this.#buf.byteLength) {
      const used = this.#end - this.#start;
      const need = used + chunk.byteLength;
      // Slide what is left to the front, growing only when it does not fit.
      const next = need > this.#buf.byteLength
        ? new Uint8Array(Math.max(need, this.#buf.byteLength * 2, 64 * 1024))
        : this.#buf;
      if (next === this.#buf) this.#buf.copyWithin(0, this.#start, this.#end);
      else next.set(this.#buf.subarray(this.#start, this.#end), 0);
      this.#buf = next;
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /** The next complete frame's payload (a copy), or `null` until more bytes arrive. */
  next(): Uint8Array | null {
    const have = this.#end - this.#start;
    if (have < 4) return null;
    const b = this.#buf;
    const s = this.#start;
    const n = (b[s] | (b[s + 1] << 8) | (b[s + 2] << 16)) + b[s + 3] * 0x1000000;
    if (have < 4 + n) return null;
    const frame = b.slice(s + 4, s + 4 + n);
    this.#start += 4 + n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return frame;
  }
}

function set(out: Record<string, unknown[]>, key: string, value: unknown[]): void {
  // A column named "__proto__" must stay a column.
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Joins the batches of a streamed answer into the answer: arrays are
 * concatenated, columns objects concatenated column by column; a single
 * batch is the answer itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinBatches } from "./stream.ts";
 * assert.deepEqual(joinBatches([[1, 2], [3]]), [1, 2, 3]);
 * assert.deepEqual(joinBatches([{ a: [1] }, { a: [2] }]), { a: [1, 2] });
 * ```
 */
export function joinBatches(batches: readonly unknown[]): unknown {
  if (batches.length === 1) return batches[0];
  if (batches.length === 0) return undefined;
  if (Array.isArray(batches[0])) {
    const out: unknown[] = [];
    for (const b of batches) for (const x of b as unknown[]) out.push(x);
    return out;
  }
  const out: Record<string, unknown[]> = {};
  const keys = Object.keys(batches[0] as object);
  for (const k of keys) set(out, k, []);
  for (const b of batches) {
    for (const k of keys) {
      const col = out[k];
      for (const x of (b as Record<string, unknown[]>)[k] ?? []) col.push(x);
    }
  }
  return out;
}

/**
 * An iterator that fails with `error` on its first step (for a streamed
 * call refused before anything was sent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failedStream } from "./stream.ts";
 * await assert.rejects(failedStream(new Error("no")).next(), /no/);
 * ```
 */
export function failedStream(error: unknown): AsyncIterableIterator<unknown> {
  return (async function* () {
    // A generator that fails on its first step: it never yields.
    yield* [];
    throw error;
  })();
}
