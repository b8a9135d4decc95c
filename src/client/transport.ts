/**
 * The one seam between the remote collections and the network: a
 * {@linkcode Transport} sends calls and settles each with its value or its
 * typed error. Both transports (WebSocket, fetch) pass the same client suite.
 *
 * @module
 */

import { ConnectionError, CyberDBError, errorFromCode, TooLargeError } from "../errors.ts";
import type { WireCall, WireReply } from "./wire.ts";

/** Settings every transport shares. */
export interface TransportOptions {
  /** The password the server was started with. */
  password?: string;
  /** Milliseconds before a call fails with `ConnectionError` (default 30 000). */
  timeout: number;
  /** Largest request the client will send, in bytes (default 64 MiB; the server may say less). */
  maxRequestBytes: number;
}

/** Sends calls to a server. */
export interface Transport {
  /** `"ws"` or `"http"`. */
  readonly kind: "ws" | "http";
  /** Connects and authenticates (fails with `AuthError` / `ConnectionError`). */
  ready(): Promise<void>;
  /** Runs one operation; concurrent calls are pipelined. */
  call(op: string, args: unknown[], timeout?: number): Promise<unknown>;
  /** Runs operations as one transaction (all or none). */
  atomic(calls: readonly WireCall[], timeout?: number): Promise<unknown[]>;
  /** Closes the connection; pending calls fail with `ClosedError`. */
  close(): Promise<void>;
}

/**
 * Settles a reply into its value or a typed error (the class, code and
 * message the server threw).
 *
 * @example
 * ```ts
 * import { unwrap } from "./transport.ts";
 * unwrap({ ok: true, value: 1 }); // 1
 * ```
 */
export function unwrap(reply: unknown): unknown {
  if (typeof reply !== "object" || reply === null || typeof (reply as { ok?: unknown }).ok !== "boolean") {
    throw new ConnectionError("The server sent a reply that is not { ok, value | error }: check that the URL points at a CyberDB server");
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
 * import { replyError } from "./transport.ts";
 * replyError({ code: "KEY_NOT_FOUND", message: "Key 1 is not in dict \"d\"" }).name; // "KeyNotFoundError"
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
 * import { checkSize } from "./transport.ts";
 * checkSize("dict.set", new Uint8Array(10), 1024); // fine
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
const live = new Set<Pending>();
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

/**
 * A deferred call with its deadline; shared by both transports.
 *
 * @example
 * ```ts
 * import { Pending } from "./transport.ts";
 * const p = new Pending("dict.get", 1000, () => {});
 * p.resolve(1);
 * await p.promise; // 1
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
    if (this.deadline !== Infinity) {
      live.add(this);
      sweeper ??= setInterval(sweep, SWEEP_MS);
    }
  }

  /** Whether it has settled. */
  get done(): boolean {
    return this.#done;
  }

  /** Fails the call for want of a reply (called by the sweeper). */
  expire(): void {
    this.reject(new ConnectionError(`No reply to ${this.op} within ${this.#timeout} ms: the server is slow or unreachable; raise the timeout option or retry`));
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
