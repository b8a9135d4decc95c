/**
 * The one seam between the remote collections and the network: a
 * {@linkcode Transport} sends calls and settles each with its value or its
 * typed error. Both transports (WebSocket, fetch) pass the same client suite.
 *
 * @module
 */

import { ClosedError, ConnectionError, type CyberDBError, errorFromCode, TooLargeError } from "../errors.ts";
import type { WireCall, WireReply } from "../wire/protocol.ts";
import type { Check } from "../core/entry.ts";
import type { RemoteWatchOptions, WatchChannel, WatchRequest } from "./watch.ts";

/** Settings every transport shares. */
export interface TransportOptions {
  /** The password the server was started with. */
  password?: string;
  /** Milliseconds before a call fails with `ConnectionError` (default 30 000). */
  timeout: number;
  /** Largest request the client will send, in bytes (default 64 MiB; the server may say less). */
  maxRequestBytes: number;
  /** WebSocket: whether a tick's calls go as one array frame to a server that takes them (default true). */
  coalesce?: boolean;
}

/** Sends calls to a server. */
export interface Transport {
  /** `"ws"` or `"http"`. */
  readonly kind: "ws" | "http";
  /** Connects and authenticates (fails with `AuthError` / `ConnectionError`). */
  ready(): Promise<void>;
  /** Runs one operation; concurrent calls are pipelined. */
  call(op: string, args: unknown[], timeout?: number): Promise<unknown>;
  /**
   * Runs one operation and yields its answer in batches of at most
   * `batchRows` rows (an array or columns answer; anything else, or an
   * answer from a server that does not stream, is one batch). The request
   * goes out at once; breaking out of the loop stops the server's stream.
   * `timeout` bounds the wait for each batch.
   */
  stream(op: string, args: unknown[], batchRows: number, timeout?: number): AsyncIterableIterator<unknown>;
  /** Runs operations as one transaction (all or none). */
  atomic(calls: readonly WireCall[], checks?: readonly Check[], timeout?: number): Promise<unknown[]>;
  /** Starts a watch of the server's change feed on this connection. */
  watch(request: WatchRequest): WatchChannel;
  /** The URL of the server's event stream (`GET /v1/watch`) for `options`, with a token when there is a password. */
  watchUrl(options: RemoteWatchOptions): Promise<string>;
  /** Closes the connection; pending calls fail with `ClosedError`. */
  close(): Promise<void>;
}

/**
 * Settles a reply into its value or a typed error (the class, code and
 * message the server threw).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unwrap } from "./transport.ts";
 * assert.equal(unwrap({ ok: true, value: 1 }), 1);
 * ```
 */
export function unwrap(reply: unknown): unknown {
  if (typeof reply !== "object" || reply === null || typeof (reply as { ok?: unknown }).ok !== "boolean") {
    throw new ConnectionError(
      "The server sent a reply that is not { ok, value | error }: check that the URL points at a CyberDB server",
    );
  }
  const r = reply as WireReply;
  if (r.ok) return r.value;
  throw replyError(r.error);
}

/**
 * The typed error for an error reply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replyError } from "./transport.ts";
 * assert.equal(replyError({ code: "KEY_NOT_FOUND", message: "Key 1 is not in dict \"d\"" }).name, "KeyNotFoundError");
 * ```
 */
export function replyError(error: unknown): CyberDBError {
  const e = (typeof error === "object" && error !== null ? error : {}) as { code?: unknown; message?: unknown };
  return errorFromCode(
    typeof e.code === "string" ? e.code : "PROTOCOL",
    typeof e.message === "string" ? e.message : "The server sent an error without a message",
  );
}

/**
 * Fails with `TooLargeError` when an encoded request exceeds `limit`, before
 * it is sent, so the connection stays usable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TooLargeError } from "../errors.ts";
 * import { checkSize } from "./transport.ts";
 * checkSize("dict.set", new Uint8Array(10), 1024); // fine
 * assert.throws(() => checkSize("dict.set", new Uint8Array(2048), 1024), TooLargeError);
 * ```
 */
export function checkSize(op: string, bytes: Uint8Array, limit: number): void {
  if (bytes.byteLength > limit) {
    throw new TooLargeError(
      `Request ${op} is ${bytes.byteLength} bytes, over the server's limit of ${limit} bytes: store smaller values or raise --max-request-bytes`,
    );
  }
}

// One sweeper for every pending call instead of a timer per call: timers
// cost more than the call itself on a fast loopback. It stops itself on the
// first idle tick, so an idle client keeps no timer alive.
const live = new Set<{ readonly deadline: number; expire(): void }>();
let sweeper: ReturnType<typeof setInterval> | undefined;
const SWEEP_MS = 50;

function sweep(): void {
  if (live.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
    return;
  }
  const now = Date.now();
  for (const p of live) if (p.deadline <= now) p.expire();
}

function watch(p: { readonly deadline: number; expire(): void }): void {
  live.add(p);
  sweeper ??= setInterval(sweep, SWEEP_MS);
}

/**
 * A deferred call with its deadline; shared by both transports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pending } from "./transport.ts";
 * const p = new Pending("dict.get", 1000, () => {});
 * p.resolve(1);
 * assert.equal(await p.promise, 1);
 * ```
 */
export class Pending {
  /** Settles with the call's value. */
  readonly promise: Promise<unknown>;
  /** The op, for messages. */
  readonly op: string;
  /** When the call gives up (ms since the epoch). */
  readonly deadline: number;
  #timeout: number;
  #onTimeout: () => void;
  #resolve!: (v: unknown) => void;
  #reject!: (e: unknown) => void;
  #done = false;

  /** Starts the clock: after about `timeout` ms the call fails and `onTimeout` runs. */
  constructor(op: string, timeout: number, onTimeout: () => void) {
    this.op = op;
    this.#timeout = timeout;
    this.#onTimeout = onTimeout;
    this.promise = new Promise((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    this.deadline = timeout > 0 && Number.isFinite(timeout) ? Date.now() + timeout : Infinity;
    if (this.deadline !== Infinity) watch(this);
  }

  /** Whether it has settled. */
  get done(): boolean {
    return this.#done;
  }

  /** Fails the call for want of a reply (called by the sweeper). */
  expire(): void {
    this.reject(
      new ConnectionError(
        `No reply to ${this.op} within ${this.#timeout} ms: the server is slow or unreachable; raise the timeout option or retry`,
      ),
    );
    this.#onTimeout();
  }

  /** Settles with a value (ignored once settled). */
  resolve(v: unknown): void {
    if (this.#done) return;
    this.#done = true;
    live.delete(this);
    this.#resolve(v);
  }

  /** Settles with an error (ignored once settled). */
  reject(e: unknown): void {
    if (this.#done) return;
    this.#done = true;
    live.delete(this);
    this.#reject(e);
  }

  /** Settles from a wire reply. */
  settle(reply: unknown): void {
    try {
      this.resolve(unwrap(reply));
    } catch (e) {
      this.reject(e);
    }
  }
}

/**
 * The client side of one streamed answer over a socket: batches are pushed
 * in as frames arrive and taken out by `for await`. At most `timeout` ms may
 * pass between frames while the answer is incomplete. Frames that arrive
 * before the loop takes them wait here (a WebSocket cannot slow one answer
 * down without slowing every other call on the socket).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BatchQueue } from "./transport.ts";
 * const q = new BatchQueue("table.query", 1000, () => {}, () => {});
 * q.push([1, 2]);
 * q.settle({ ok: true, value: [3] });
 * const batches = [];
 * for await (const batch of q) batches.push(batch);
 * assert.deepEqual(batches, [[1, 2], [3]]);
 * ```
 */
export class BatchQueue implements AsyncIterableIterator<unknown> {
  /** The op, for messages. */
  readonly op: string;
  #deadline = Infinity;
  #timeout: number;
  #onTimeout: () => void;
  #onCancel: () => void;
  #onDone: () => void;
  #items: unknown[] = [];
  #head = 0;
  #finished = false;
  #failed = false;
  #error: unknown = undefined;
  #waiter: { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void } | null = null;

  /**
   * Starts waiting for the first frame. `onTimeout` runs when a frame is
   * overdue; `onCancel` when the loop stops before the last frame came;
   * `onDone` once, when the answer is complete, failed or left.
   */
  constructor(op: string, timeout: number, onTimeout: () => void, onCancel: () => void, onDone: () => void = () => {}) {
    this.op = op;
    this.#timeout = timeout;
    this.#onTimeout = onTimeout;
    this.#onCancel = onCancel;
    this.#onDone = onDone;
    this.#arm();
  }

  /** When the next frame is overdue (ms since the epoch); `Infinity` once the answer is complete. */
  get deadline(): number {
    return this.#deadline;
  }

  /** Whether the last frame (or an error) has arrived. */
  get done(): boolean {
    return this.#finished || this.#failed;
  }

  #arm(): void {
    if (this.#timeout > 0 && Number.isFinite(this.#timeout)) {
      this.#deadline = Date.now() + this.#timeout;
      watch(this);
    }
  }

  #disarm(): void {
    this.#deadline = Infinity;
    live.delete(this);
  }

  #wake(): void {
    const w = this.#waiter;
    if (w === null) return;
    if (this.#head < this.#items.length) {
      this.#waiter = null;
      w.resolve({ value: this.#take(), done: false });
    } else if (this.#failed) {
      this.#waiter = null;
      w.reject(this.#error);
    } else if (this.#finished) {
      this.#waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  #take(): unknown {
    const v = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    return v;
  }

  /** A batch with more to follow (`{ ok: true, value, more: true }`). */
  push(batch: unknown): void {
    if (this.done) return;
    this.#items.push(batch);
    this.#arm();
    this.#wake();
  }

  /** The last frame: its value is the last batch, or its error ends the loop with that error. */
  settle(frame: unknown): void {
    if (this.done) return;
    let value: unknown;
    try {
      value = unwrap(frame);
    } catch (e) {
      this.reject(e);
      return;
    }
    this.#items.push(value);
    this.#finished = true;
    this.#disarm();
    this.#wake();
    this.#onDone();
  }

  /** Fails the answer: the batches already here are still handed out, then `e` is thrown. */
  reject(e: unknown): void {
    if (this.done) return;
    this.#failed = true;
    this.#error = e;
    this.#disarm();
    this.#wake();
    this.#onDone();
  }

  /** Fails for want of a frame (called by the sweeper). */
  expire(): void {
    this.reject(
      new ConnectionError(
        `No reply to ${this.op} within ${this.#timeout} ms: the server is slow or unreachable; raise the timeout option or retry`,
      ),
    );
    this.#onTimeout();
  }

  /** The next batch. */
  next(): Promise<IteratorResult<unknown>> {
    if (this.#waiter !== null) return Promise.reject(new TypeError("A streamed answer is read by one loop at a time"));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#wake();
    });
  }

  /** Stops reading: the server is told to stop sending when the answer was not complete. */
  return(): Promise<IteratorResult<unknown>> {
    const cancel = !this.done;
    this.#items = [];
    this.#head = 0;
    if (cancel) {
      this.#failed = true;
      this.#error = new ClosedError(`The stream of ${this.op} was stopped`);
      this.#disarm();
      this.#onCancel();
      this.#onDone();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Itself: one pass over the batches. */
  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }
}
