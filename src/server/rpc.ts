/**
 * Runs wire requests against a Database through its one operation table
 * (`db.execute` / `db.executeAtomic`) and turns every outcome into a reply.
 * Shared by the HTTP and the WebSocket transport, so both behave alike.
 *
 * @module
 */

import { Batches } from "../core/batches.ts";
import type { Database } from "../api/database.ts";
import type { Check } from "../core/entry.ts";
import { isWrite } from "../ops/mod.ts";
import { CyberDBError, LoadingError, ProtocolError } from "../errors.ts";
import { type Monitor, now, type Source } from "./metrics.ts";
import { quote } from "../core/value.ts";
import { MAX_STREAM_ROWS, type StreamFrame, type WireError, type WireReply } from "../wire/protocol.ts";

/** Where unexpected (non-CyberDB) errors are reported; clients never see them. */
export type ErrorLogger = (message: string, error: unknown) => void;

/** Options of {@linkcode Executor}. */
export interface ExecutorOptions {
  /** Receives unexpected errors (default: `console.error`). */
  log?: ErrorLogger;
  /** Counts every answered request (metrics, `--verbose`). */
  monitor?: Monitor;
  /** While the database is still loading: the error every request is answered with (default: a plain `LoadingError`). */
  loading?: () => CyberDBError;
}

/** A request value quoted for a message: brief and cheap, however large the value. */
const describe = quote;

/** An own property of a decoded request (never one reached through a prototype). */
function own(req: unknown, key: string): unknown {
  return typeof req === "object" && req !== null && Object.hasOwn(req, key)
    ? (req as Record<string, unknown>)[key]
    : undefined;
}

/**
 * Runs requests and answers them. Given a promise of the database (a
 * server that listens while it loads), it answers every request with
 * `LOADING` until the database is there. In `sync: "always"` a write is answered
 * only once `db.flush()` says it is on disk, and so is every other request
 * while writes wait for their fsync: a reply never shows a write before it
 * is durable (Redis's `appendfsync always` holds replies the same way), and
 * if that fsync fails the reply is the disk's error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "../api/database.ts";
 * import { Executor } from "./rpc.ts";
 * const ex = new Executor(await Database.open());
 * assert.deepEqual(await ex.run({ op: "db.createDict", args: ["d"] }), { ok: true, value: null });
 * ```
 */
export class Executor {
  #db: Database | null = null;
  #always = false;
  #log: ErrorLogger;
  #monitor: Monitor | null;
  #loading: () => CyberDBError;
  #inflight = 0;
  #idle: (() => void)[] = [];

  /** Wraps `db` (or the database a promise will give: until then, requests are answered `LOADING`). */
  constructor(db: Database | Promise<Database>, options: ExecutorOptions = {}) {
    this.#log = options.log ?? ((m, e) => console.error(m, e));
    this.#monitor = options.monitor ?? null;
    this.#loading = options.loading ??
      (() => new LoadingError("The database is still loading: retry in a moment"));
    if (db instanceof Promise) db.then((d) => this.#ready(d), () => {});
    else this.#ready(db);
  }

  #ready(db: Database): void {
    this.#db = db;
    this.#always = db.options.sync === "always";
  }

  /** The database, or `null` while it is still loading. */
  get database(): Database | null {
    return this.#db;
  }

  /** Requests started and not yet answered. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    return this.#inflight === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }

  /** Turns any thrown value into `{ code, message }`, hiding internals. */
  wireError(e: unknown): WireError {
    if (e instanceof CyberDBError) return { code: e.code, message: e.message };
    this.#log("cyberdb: unexpected error while serving a request:", e);
    return { code: "INTERNAL", message: "Internal server error: the server log has the details; please report it" };
  }

  async #guard<T>(fn: () => T | Promise<T>, fail: (e: unknown) => T): Promise<T> {
    this.#inflight++;
    try {
      return await fn();
    } catch (e) {
      return fail(e);
    } finally {
      if (--this.#inflight === 0) { for (const r of this.#idle.splice(0)) r(); }
    }
  }

  #call(req: unknown, streamed = false): { value: unknown; wrote: boolean } {
    if (typeof req !== "object" || req === null || Array.isArray(req)) {
      throw new ProtocolError(`A request must be an object { op, args }, got ${describe(req)}`);
    }
    const op = own(req, "op");
    const args = own(req, "args") ?? [];
    if (typeof op !== "string") {
      throw new ProtocolError(`A request needs an "op" string such as "dict.set", got ${describe(op)}`);
    }
    const db = this.#db;
    if (db === null) throw this.#loading();
    // The op table checks the op's name, its arguments and their count (once, for every caller).
    const value = db.execute(op, args as unknown[], { stream: streamed });
    return { value, wrote: isWrite(op) };
  }

  /**
   * Whether a reply must wait for an fsync first: in `"always"`, when this
   * request wrote, or when it may have seen writes not yet durable.
   */
  #mustWait(wrote: boolean): boolean {
    return this.#always && (wrote || this.#db!.unsynced);
  }

  async #durable(wrote: boolean): Promise<void> {
    if (this.#mustWait(wrote)) await this.#db!.flush();
  }

  /**
   * Resolves once everything a read made now could see is durable (at once
   * unless `sync: "always"` has writes waiting for their fsync); for answers
   * made outside `run` (Arrow exports).
   */
  visible(): Promise<void> | null {
    return this.#mustWait(false)
      ? this.#guard(() => this.#db!.flush(), (e) => {
        throw e;
      })
      : null;
  }

  /**
   * Runs one `{ op, args }` request. Answers synchronously unless the reply
   * must wait for the disk (a write in `sync: "always"`), so the common
   * case costs no promise. `streamed`: the answer is sent in batches (see
   * {@linkcode answerFrames}), and may be a `Batches` made as it is sent.
   * `source` names the peer in `--verbose` lines.
   */
  run(req: unknown, streamed = false, source?: Source): WireReply | Promise<WireReply> {
    const m = this.#monitor;
    const t0 = m === null ? 0 : now();
    let r: { value: unknown; wrote: boolean };
    try {
      r = this.#call(req, streamed);
    } catch (e) {
      return this.#failed(req, t0, e, source);
    }
    if (!this.#mustWait(r.wrote)) {
      if (m !== null) m.op(m.metrics.slot(own(req, "op")), undefined, t0, null);
      return { ok: true, value: r.value };
    }
    return this.#guard(async () => {
      await this.#durable(true);
      if (m !== null) m.op(m.metrics.slot(own(req, "op")), undefined, t0, null);
      return { ok: true, value: r.value } as WireReply;
    }, (e) => this.#failed(req, t0, e, source));
  }

  /**
   * Runs one `{ op, args }` request (or, with `atomic`, `{ atomic: true,
   * ops, checks? }`) now, and never waits for the disk: the caller waits
   * once for a whole batch with {@linkcode durable}. `wrote`: whether it
   * wrote. Counted in the metrics when it ran.
   */
  runNow(req: unknown, atomic: boolean, source?: Source): { reply: WireReply; wrote: boolean } {
    const m = this.#monitor;
    const t0 = m === null ? 0 : now();
    try {
      if (atomic) {
        const ops = own(req, "ops");
        const value = this.#atomic(ops, own(req, "checks"));
        const wrote = (ops as unknown[]).some((o) => isWrite(own(o, "op") as string));
        if (m !== null) this.observe("atomic", t0, null);
        return { reply: { ok: true, value }, wrote };
      }
      const r = this.#call(req);
      if (m !== null) m.op(m.metrics.slot(own(req, "op")), undefined, t0, null);
      return { reply: { ok: true, value: r.value }, wrote: r.wrote };
    } catch (e) {
      return {
        reply: atomic ? this.#failed(undefined, t0, e, source, "atomic") : this.#failed(req, t0, e, source),
        wrote: false,
      };
    }
  }

  /**
   * What replies to requests run by {@linkcode runNow} wait for: `null` when
   * they may go at once, else the fsync that makes what they did or saw
   * durable (`sync: "always"`; `wrote`: one of them wrote). One wait covers
   * a whole batch; if that fsync fails, none of its replies may say ok.
   * Counted as in flight until it settles, so a shutdown waits for it.
   */
  durable(wrote: boolean): Promise<void> | null {
    return this.#mustWait(wrote)
      ? this.#guard(() => this.#db!.flush(), (e) => {
        throw e;
      })
      : null;
  }

  /** The reply to a request that failed, counted (and told with `--verbose`). */
  #failed(req: unknown, t0: number, e: unknown, source?: Source, label?: string): WireReply {
    const error = this.wireError(e);
    const m = this.#monitor;
    if (m !== null) {
      const slot = m.metrics.slot(label ?? own(req, "op"));
      m.op(slot, label === undefined ? own(req, "args") : undefined, t0, error, source);
    }
    return { ok: false, error };
  }

  /**
   * Counts a request answered outside `run` (an Arrow export, a watch),
   * started at `t0`: `error` (`null`: it succeeded) is what it failed with.
   * Returns the error as it goes on the wire.
   */
  observe(label: string, t0: number, error: unknown, source?: Source): WireError | null {
    const m = this.#monitor;
    if (error === null) {
      if (m !== null) m.op(m.metrics.slot(label), undefined, t0, null);
      return null;
    }
    const reply = this.#failed(undefined, t0, error, source, label);
    return reply.ok ? null : reply.error;
  }

  /**
   * Runs a pipeline in order; each request succeeds or fails on its own.
   * `shape` turns each reply into what is sent (e.g. its encoded bytes) as
   * soon as it exists, so a long pipeline never holds every answer's value
   * at once; it also shapes the error that replaces them all when the
   * covering fsync fails.
   */
  runPipeline<T = WireReply>(
    reqs: unknown[],
    shape: (reply: WireReply) => T = (r) => r as T,
    source?: Source,
  ): Promise<T[]> {
    const m = this.#monitor;
    return this.#guard(async () => {
      let wrote = false;
      const replies: T[] = reqs.map((req) => {
        const t0 = m === null ? 0 : now();
        let reply: WireReply;
        try {
          const r = this.#call(req);
          wrote ||= r.wrote;
          reply = { ok: true, value: r.value };
          if (m !== null) m.op(m.metrics.slot(own(req, "op")), undefined, t0, null);
        } catch (e) {
          reply = this.#failed(req, t0, e, source);
        }
        return shape(reply);
      });
      // One flush covers the whole pipeline; if it fails no write is acknowledged.
      try {
        await this.#durable(wrote);
      } catch (e) {
        const failed = shape({ ok: false, error: this.wireError(e) });
        return replies.map(() => failed);
      }
      return replies;
    }, (e) => [shape({ ok: false, error: this.wireError(e) })]);
  }

  /** Applies an atomic batch (the checks, then all ops or none) and returns every result; throws what failed. */
  #atomic(ops: unknown, checks: unknown): unknown {
    if (!Array.isArray(ops)) {
      throw new ProtocolError(`An atomic request needs "ops": an array of { op, args }, got ${describe(ops)}`);
    }
    const db = this.#db;
    if (db === null) throw this.#loading();
    // The op table checks each entry (own properties only, so never a prototype's "op").
    return db.atomic({ ops, checks: checks as Check[] | undefined });
  }

  /** Runs `{ atomic: true, checks?, ops }`: the checks, then all ops or none; answered with every result. */
  runAtomic(ops: unknown, checks?: unknown, source?: Source): WireReply | Promise<WireReply> {
    const t0 = this.#monitor === null ? 0 : now();
    let value: unknown;
    let wrote: boolean;
    try {
      value = this.#atomic(ops, checks);
      wrote = (ops as unknown[]).some((o) => isWrite(own(o, "op") as string));
    } catch (e) {
      return this.#failed(undefined, t0, e, source, "atomic");
    }
    // As run(): answered at once unless the reply must wait for the disk, so
    // a pipeline's replies keep their order.
    if (!this.#mustWait(wrote)) {
      this.observe("atomic", t0, null);
      return { ok: true, value };
    }
    return this.#guard(async () => {
      await this.#durable(true);
      this.observe("atomic", t0, null);
      return { ok: true, value } as WireReply;
    }, (e) => this.#failed(undefined, t0, e, source, "atomic"));
  }
}

/** About how many encoded bytes one batch of a streamed answer aims at. */
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Reads a request's `stream` value (the WebSocket field, or the HTTP
 * header's text): a positive integer of rows per batch, lowered to
 * `MAX_STREAM_ROWS`. Anything else → `ProtocolError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { streamRows } from "./rpc.ts";
 * assert.equal(streamRows(500), 500);
 * assert.equal(streamRows("1000000"), 100000);
 * ```
 */
export function streamRows(x: unknown): number {
  const n = typeof x === "string" && /^\s*\d+\s*$/.test(x) ? Number(x) : x;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new ProtocolError(
      `The stream batch size ${describe(x)} is not a positive integer: ask for e.g. 10000 rows per batch`,
    );
  }
  return Math.min(n, MAX_STREAM_ROWS);
}

/** The number of rows of an answer that can be streamed (an array, a columns object or Batches), or -1. */
function rowCount(value: unknown): number {
  if (Array.isArray(value) || value instanceof Batches) return value.length;
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || value instanceof Date) return -1;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return -1;
  let n = -1;
  for (const k of Object.keys(value)) {
    const col = (value as Record<string, unknown>)[k];
    if (!Array.isArray(col) || (n !== -1 && col.length !== n)) return -1;
    n = col.length;
  }
  return n;
}

function slice(value: unknown, from: number, to: number): unknown {
  if (Array.isArray(value) || value instanceof Batches) return value.slice(from, to);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value as object)) {
    Object.defineProperty(out, k, {
      value: (value as Record<string, unknown[]>)[k].slice(from, to),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * The encoded frames of a streamed answer, made one at a time as they are
 * pulled (so a transport can yield to the event loop, or wait for the peer,
 * between them). An array or a columns object is cut into slices of at most
 * `rows` rows — fewer when a slice would pass about 4 MiB encoded — each
 * framed `{ ok: true, value, more: true }` but the last, which has no
 * `more`; any other answer is a single `{ ok: true, value }`. Should
 * encoding fail midway, the last frame is `{ ok: false, error }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "../wire/codec.ts";
 * import { answerFrames } from "./rpc.ts";
 * const frames = [...answerFrames([1, 2, 3], 2, encode, () => ({ code: "INTERNAL", message: "" }))];
 * assert.equal(frames.length, 2); // { ok, value: [1, 2], more: true } and { ok, value: [3] }
 * ```
 */
export function* answerFrames(
  value: unknown,
  rows: number,
  encode: (frame: StreamFrame) => Uint8Array,
  wireError: (e: unknown) => WireError,
): Generator<Uint8Array, void, void> {
  const total = rowCount(value);
  try {
    if (total <= 1) {
      yield encode({ ok: true, value: value instanceof Batches ? value.toArray() : value });
      return;
    }
    // Rows can be of any width: a small sample sets the first batch's size.
    const sample = Math.min(total, 32);
    const probe = encode({
      ok: true,
      value: sample === total && !(value instanceof Batches) ? value : slice(value, 0, sample),
    });
    if (sample === total && total <= rows && probe.byteLength <= BATCH_BYTES) {
      yield probe;
      return;
    }
    let n = Math.max(1, Math.min(rows, Math.floor(BATCH_BYTES * sample / Math.max(1, probe.byteLength))));
    let at = 0;
    while (at < total) {
      const end = Math.min(total, at + n);
      const batch = slice(value, at, end);
      const frame = end < total ? encode({ ok: true, value: batch, more: true }) : encode({ ok: true, value: batch });
      // Learn from each batch: shrink when it came out large, grow back when small.
      if (frame.byteLength > BATCH_BYTES && n > 1) n = Math.max(1, Math.floor(n * BATCH_BYTES / frame.byteLength));
      else if (frame.byteLength < BATCH_BYTES / 2 && n < rows) n = Math.min(rows, n * 2);
      at = end;
      yield frame;
    }
  } catch (e) {
    yield encode({ ok: false, error: wireError(e) });
  }
}
