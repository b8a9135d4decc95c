/**
 * The arithmetic of preallocated files ({@linkcode CreateOptions.preallocate}),
 * shared by the storages that keep zeros written ahead of a file's end
 * (Node, Deno, OPFS). Pure: each storage does its own I/O.
 *
 * ```
 *  0                      end               reserved
 *  +----------------------+-----------------+
 *  | appended bytes       | zeros           |   (the file while open)
 *  +----------------------+-----------------+
 *  an append of n bytes overwrites [end, end + n); when end + n passes
 *  `reserved`, the append extends the file itself, and zeros are then
 *  written from end + n to reserveEnd(...), one chunk further
 * ```
 *
 * @module
 */

import type { CreateOptions } from "./types.ts";

/**
 * Where the zeros must end after `length` bytes are appended at `end`, when
 * they end at `reserved` now: `reserved` itself while the append fits in
 * them; else one `chunk` past the append's end. The caller then writes the
 * append, and zeros from its end (`end + length`) to the answer — one chunk,
 * whatever the append's size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reserveEnd } from "./preallocate.ts";
 * assert.equal(reserveEnd(0, 100, 0, 4096), 4196); // first append: zeros from 100 to 4196
 * assert.equal(reserveEnd(100, 100, 4196, 4096), 4196); // fits: no zeros to write
 * ```
 */
export function reserveEnd(end: number, length: number, reserved: number, chunk: number): number {
  return end + length <= reserved ? reserved : end + length + chunk;
}

/**
 * The preallocation chunk asked for in `options`: a whole number of bytes,
 * 0 for none (absent, 0, or not a positive finite number).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preallocation } from "./preallocate.ts";
 * assert.equal(preallocation({ preallocate: 1 << 20 }), 1048576);
 * assert.equal(preallocation(undefined), 0);
 * ```
 */
export function preallocation(options: CreateOptions | undefined): number {
  const n = options?.preallocate;
  return typeof n === "number" && n > 0 && Number.isFinite(n) ? Math.ceil(n) : 0;
}

/** The most zeros written in one call (larger runs take several). */
export const ZERO_PIECE = 1 << 20;

let zeros: Uint8Array | null = null;

/**
 * `n` zero bytes (at most {@linkcode ZERO_PIECE}), from one shared buffer
 * that is never written to: the zeros a storage writes ahead of a file's end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zeroBytes } from "./preallocate.ts";
 * assert.equal(zeroBytes(10).length, 10);
 * ```
 */
export function zeroBytes(n: number): Uint8Array {
  zeros ??= new Uint8Array(ZERO_PIECE);
  return zeros.subarray(0, Math.min(n, ZERO_PIECE));
}

/** The positional calls of one open file that {@linkcode PreallocatedWrites} needs. */
export interface PositionalFile {
  /** Writes `data` at byte `offset`; resolves to how many bytes landed (maybe fewer). */
  writeAt(data: Uint8Array, offset: number): Promise<number>;
  /** Cuts (or zero-extends) the file to `size` bytes. */
  truncate(size: number): Promise<void>;
  /** Makes what was written durable. */
  sync(): Promise<void>;
}

/**
 * The writes of one file created with {@linkcode CreateOptions.preallocate},
 * over positional calls (Node's and Deno's files): appends overwrite the
 * zeros at {@linkcode end}, zeros are kept written a chunk ahead, and
 * `close()` cuts them off durably.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PreallocatedWrites } from "./preallocate.ts";
 * let file = new Uint8Array(0);
 * const writes = new PreallocatedWrites(8, {
 *   writeAt(data, at) {
 *     const grown = new Uint8Array(Math.max(file.length, at + data.length));
 *     grown.set(file);
 *     grown.set(data, at);
 *     file = grown;
 *     return Promise.resolve(data.length);
 *   },
 *   truncate(size) {
 *     const cut = new Uint8Array(size);
 *     cut.set(file.subarray(0, size));
 *     file = cut;
 *     return Promise.resolve();
 *   },
 *   sync: () => Promise.resolve(),
 * });
 * await writes.append(new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...file], [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0]); // 8 zeros ahead
 * await writes.close();
 * assert.deepEqual([...file], [1, 2, 3]);
 * ```
 */
export class PreallocatedWrites {
  #file: PositionalFile;
  #chunk: number;
  #end = 0;
  #reserved = 0;
  // Bytes past #end may be in the file: zeros ahead, or part of a write that failed.
  #tail = false;

  /** `chunk`: the zeros to keep ahead (> 0); `file`: the open file's positional calls. */
  constructor(chunk: number, file: PositionalFile) {
    this.#chunk = chunk;
    this.#file = file;
  }

  /** Bytes appended (the file's size without the zeros ahead). */
  get end(): number {
    return this.#end;
  }

  /** Appends every byte of `data` at {@linkcode end}, then keeps zeros a chunk ahead of it. */
  async append(data: Uint8Array): Promise<void> {
    this.#tail = true; // until proven otherwise: a failure may leave part of it
    await this.#writeAll(data, this.#end);
    const reserved = reserveEnd(this.#end, data.length, this.#reserved, this.#chunk);
    this.#end += data.length;
    if (reserved !== this.#reserved) {
      try {
        // Zeros from the append's end on; a write past them extended the file itself.
        for (let at = this.#end; at < reserved;) {
          const zeros = zeroBytes(reserved - at);
          await this.#writeAll(zeros, at);
          at += zeros.length;
        }
        this.#reserved = reserved;
      } catch {
        // Zeros are a speed-up, not a promise: a disk too full (or a quota too
        // small) for them still takes the appends that fit. None from now on;
        // what part of them landed is cut off with the rest of the tail.
        this.#chunk = 0;
        this.#reserved = this.#end;
        return;
      }
    }
    this.#tail = this.#reserved > this.#end;
  }

  /** Cuts the file to `size` (the zeros ahead go too; the next append writes new ones). */
  async truncate(size: number): Promise<void> {
    await this.#file.truncate(size);
    this.#end = this.#reserved = size;
    this.#tail = false;
  }

  /** Cuts the zeros ahead off and syncs the cut, so the closed file ends with its last append. */
  async close(): Promise<void> {
    if (!this.#tail) return;
    await this.truncate(this.#end);
    await this.#file.sync();
  }

  async #writeAll(data: Uint8Array, at: number): Promise<void> {
    for (let done = 0; done < data.length;) {
      const n = await this.#file.writeAt(data.subarray(done), at + done);
      if (!(n > 0)) throw Object.assign(new Error(`EIO: a write at byte ${at + done} stored nothing`), { code: "EIO" });
      done += n;
    }
  }
}

/**
 * File systems (by `statfs` type) on which zeros written ahead gain nothing:
 * in memory (tmpfs, ramfs: an fsync is free) or copy-on-write and
 * log-structured (btrfs, ZFS, bcachefs, F2FS: an overwrite is written
 * elsewhere, allocation and all, like an append).
 */
const NO_GAIN = new Set([
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0x9123683e, // btrfs
  0x2fc12fc1, // zfs
  0xca451a4e, // bcachefs
  0xf2f52010, // f2fs
]);

/**
 * Whether zeros written ahead make fsyncs cheaper in `dir`: `false` on the
 * file systems where they cannot, found with `statfs` (Node's, which Bun and
 * Deno have too); `true` when the type is another, or cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zerosPayOff } from "./preallocate.ts";
 * const tmpfs = () => Promise.resolve({ type: 0x01021994 });
 * assert.equal(await zerosPayOff("/dev/shm", tmpfs), false);
 * assert.equal(await zerosPayOff("/data", () => Promise.resolve({ type: 0xef53 })), true); // ext4
 * ```
 */
export async function zerosPayOff(
  dir: string,
  statfs: (path: string) => Promise<{ type: number | bigint }>,
): Promise<boolean> {
  try {
    return !NO_GAIN.has(Number((await statfs(dir)).type));
  } catch {
    return true; // no statfs here (or no answer): the zeros cost little where they gain little
  }
}
