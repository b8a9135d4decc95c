/**
 * A byte array that grows by doubling: the content of a file kept in memory
 * (MemoryStorage's files, and OPFS files removed while still open).
 *
 * @module
 */

/**
 * Bytes `[0, length)` of `bytes` are the content; the rest is room to grow,
 * so appends cost amortised O(1) rather than a copy each.
 *
 * @example
 * ```ts
 * import { GrowableBytes } from "./growable_bytes.ts";
 * const b = new GrowableBytes();
 * b.append(new Uint8Array([1, 2, 3]));
 * b.truncate(5); // grows with zeros, as a file does
 * console.assert(b.length === 5 && b.bytes[2] === 3 && b.bytes[4] === 0);
 * ```
 */
export class GrowableBytes {
  bytes: Uint8Array;
  length: number;

  constructor(bytes: Uint8Array = new Uint8Array(0)) {
    this.bytes = bytes;
    this.length = bytes.length;
  }

  /** Adds `data` at the end, doubling the room when it runs out. */
  append(data: Uint8Array): void {
    const end = this.length + data.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2, 256));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(data, this.length);
    this.length = end;
  }

  /** Cuts the content to `size` bytes, or extends it with zeros. */
  truncate(size: number): void {
    if (size > this.length) this.append(new Uint8Array(size - this.length));
    this.length = size;
  }
}
