/**
 * Runs wire requests against a Database through its one operation table
 * (`db.execute` / `db.executeAtomic`) and turns every outcome into a reply.
 * Shared by the HTTP and the WebSocket transport, so both behave alike.
 *
 * @module
 */

import { Database } from "../engine/database.ts";
import { CyberDBError, ProtocolError, ValidationError } from "../errors.ts";
import type { WireError, WireReply } from "../client/wire.ts";

/** Where unexpected (non-CyberDB) errors are reported; clients never see them. */
export type ErrorLogger = (message: string, error: unknown) => void;

function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  try {
    const s = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
    return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * Runs requests and answers them; in `sync: "always"` a write is answered
 * only once `db.flush()` says it is on disk.
 *
 * @example
 * ```ts
 * import { Database } from "../engine/database.ts";
 * import { Executor } from "./rpc.ts";
 * const ex = new Executor(await Database.open());
 * await ex.run({ op: "db.createDict", args: ["d"] }); // { ok: true, value: null }
 * ```
 */
export class Executor {
  #db: Database;
  #always: boolean;
  #log: ErrorLogger;
  #inflight = 0;
  #idle: (() => void)[] = [];

  /** Wraps `db`; `log` receives unexpected errors (default: `console.error`). */
  constructor(db: Database, options: { log?: ErrorLogger } = {}) {
    this.#db = db;
    this.#always = db.options.sync === "always";
    this.#log = options.log ?? ((m, e) => console.error(m, e));
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
      if (--this.#inflight === 0) for (const r of this.#idle.splice(0)) r();
    }
  }

  #call(req: unknown): { value: unknown; wrote: boolean } {
    if (typeof req !== "object" || req === null || Array.isArray(req)) {
      throw new ProtocolError(`A request must be an object { op, args }, got ${describe(req)}`);
    }
    const { op, args = [] } = req as { op?: unknown; args?: unknown };
    if (typeof op !== "string") {
      throw new ProtocolError(`A request needs an "op" string such as "dict.set", got ${describe(op)}`);
    }
    if (!Array.isArray(args)) {
      throw new ValidationError(`Arguments of ${op} must be an array, got ${describe(args)}`);
    }
    const value = this.#db.execute(op, args);
    return { value, wrote: Database.isWrite(op) };
  }

  async #durable(wrote: boolean): Promise<void> {
    if (wrote && this.#always) await this.#db.flush();
  }

  /**
   * Runs one `{ op, args }` request. Answers synchronously unless the reply
   * must wait for the disk (a write in `sync: "always"`), so the common
   * case costs no promise.
   */
  run(req: unknown): WireReply | Promise<WireReply> {
    let r: { value: unknown; wrote: boolean };
    try {
      r = this.#call(req);
    } catch (e) {
      return { ok: false, error: this.wireError(e) };
    }
    if (!(r.wrote && this.#always)) return { ok: true, value: r.value };
    return this.#guard(async () => {
      await this.#durable(true);
      return { ok: true, value: r.value } as WireReply;
    }, (e) => ({ ok: false, error: this.wireError(e) }));
  }

  /** Runs a pipeline in order; each request succeeds or fails on its own. */
  runPipeline(reqs: unknown[]): Promise<WireReply[]> {
    return this.#guard(async () => {
      let wrote = false;
      const replies: WireReply[] = reqs.map((req) => {
        try {
          const r = this.#call(req);
          wrote ||= r.wrote;
          return { ok: true, value: r.value };
        } catch (e) {
          return { ok: false, error: this.wireError(e) };
        }
      });
      // One flush covers the whole pipeline; if it fails no write is acknowledged.
      try {
        await this.#durable(wrote);
      } catch (e) {
        const error = this.wireError(e);
        return replies.map(() => ({ ok: false, error }) as WireReply);
      }
      return replies;
    }, (e) => [{ ok: false, error: this.wireError(e) }]);
  }

  /** Runs `{ atomic: true, ops }`: all or none, answered with every result. */
  runAtomic(ops: unknown): Promise<WireReply> {
    return this.#guard(async () => {
      if (!Array.isArray(ops)) {
        throw new ProtocolError(`An atomic request needs "ops": an array of { op, args }, got ${describe(ops)}`);
      }
      for (const o of ops) {
        if (typeof o !== "object" || o === null || typeof (o as { op?: unknown }).op !== "string") {
          throw new ProtocolError(`Each atomic entry must be { op, args } with an "op" string, got ${describe(o)}`);
        }
        (o as { args?: unknown }).args ??= [];
      }
      const value = this.#db.executeAtomic(ops as { op: string; args: unknown[] }[]);
      await this.#durable(ops.some((o) => Database.isWrite((o as { op: string }).op)));
      return { ok: true, value } as WireReply;
    }, (e) => ({ ok: false, error: this.wireError(e) }));
  }
}

/**
 * Compares a presented password with the configured one in time that
 * depends only on the presented length, never on where they differ.
 *
 * @example
 * ```ts
 * import { passwordChecker } from "./rpc.ts";
 * const check = passwordChecker("secret");
 * check("secret"); // true
 * ```
 */
export function passwordChecker(password: string): (given: unknown) => boolean {
  const want = new TextEncoder().encode(password);
  return (given) => {
    if (typeof given !== "string") return false;
    const got = new TextEncoder().encode(given);
    let diff = got.length ^ want.length;
    for (let i = 0; i < got.length; i++) diff |= got[i] ^ want[i % want.length];
    return diff === 0;
  };
}
