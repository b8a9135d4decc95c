/**
 * Active expiry (Redis's, in spirit): while any dict has keys that expire,
 * a timer removes the expired ones a little at a time — at most
 * {@linkcode BATCH} keys per log record, for at most {@linkcode BUDGET_MS}
 * of work per turn — so a million keys expiring at once never stall
 * writers for long. Reads never wait for it: an expired key is invisible
 * to every read the moment it expires; this only frees its memory and logs
 * its removal (as a delete, so replay is deterministic).
 *
 * The timer polls at most every {@linkcode TICK_MS} even when the next
 * expiry is later, so that a `clock` option that does not follow real time
 * (tests) is honoured, and it never keeps a process alive.
 *
 * @module
 */

import type { Engine } from "../core/engine.ts";
import { type Scheduler, systemScheduler } from "../storage/scheduler.ts";
import { nextExpiry, removeExpired } from "../ops/dict_ops.ts";

/** Keys removed per log record. */
const BATCH = 500;
/** Work per turn of the event loop, in ms; more due keys wait for the next turn. */
const BUDGET_MS = 4;
/** The longest wait between two looks. */
const TICK_MS = 100;

function elapsed(t0: number): number {
  return (globalThis.performance?.now() ?? Date.now()) - t0;
}

function started(): number {
  return globalThis.performance?.now() ?? Date.now();
}

/**
 * The expiry timer of one database.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { Expirer } from "./expirer.ts";
 * const expirer = new Expirer(new Engine());
 * expirer.arm(Date.now() + 1000); // looks again within 100 ms
 * expirer.stop();
 * ```
 */
export class Expirer {
  #engine: Engine;
  #scheduler: Scheduler;
  #timer: unknown = null;
  #at = Infinity;
  #stopped = false;

  /** The expirer of `engine` (armed by the writes that set an expiry), on `scheduler`'s timers. */
  constructor(engine: Engine, scheduler: Scheduler = systemScheduler()) {
    this.#engine = engine;
    this.#scheduler = scheduler;
  }

  /** Makes sure the timer looks again by `at` (ms, the engine's clock), or within {@linkcode TICK_MS}. */
  arm(at: number): void {
    // Nothing expires: no timer at all.
    if (this.#stopped || at === Infinity || (this.#timer !== null && at >= this.#at)) return;
    if (this.#timer !== null) this.#scheduler.clearTimeout(this.#timer);
    const wait = Math.min(TICK_MS, Math.max(0, at - this.#engine.clock()));
    this.#at = this.#engine.clock() + wait;
    const timer = this.#scheduler.setTimeout(() => this.#tick(), wait);
    // An expiry never keeps a process alive.
    this.#scheduler.unref?.(timer);
    this.#timer = timer;
  }

  /** Stops for good (the database closes). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#scheduler.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    this.#timer = null;
    this.#at = Infinity;
    const t0 = started();
    let removed = 0;
    try {
      do removed = removeExpired(this.#engine, BATCH); while (removed === BATCH && elapsed(t0) < BUDGET_MS);
    } catch {
      // A failed write (the disk refused the log): the keys stay until the next look.
    }
    // More due now: go on after one turn of the event loop, so writers interleave.
    this.arm(removed === BATCH ? this.#engine.clock() : nextExpiry(this.#engine));
  }
}
