/**
 * The scheduler seam: the one way durability code waits. The log writer's
 * interval fsync, the snapshot interval and the retry backoff after a disk
 * failure all set their timers through a {@linkcode Scheduler}, never through
 * the runtime's globals, so that a test (or an embedder with its own event
 * loop) can drive them: a virtual clock makes "after 1 s" happen at once and
 * in a known order. The pure core sets no timers at all.
 *
 * Timers are a runtime matter like files (which is why this seam sits with
 * storage): a background timer must not keep a process alive that has nothing
 * else to do, and how to say so differs per runtime — Node, Bun and current
 * Deno timers have `unref()`, older Deno ones are numbers for
 * `Deno.unrefTimer` (see `Storage.unrefTimer`), browsers need nothing.
 *
 * @module
 */

/**
 * When background work runs: a clock and one-shot timers, the shape of the
 * web platform's `setTimeout`/`clearTimeout` (repeating work re-arms).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Scheduler, systemScheduler } from "./scheduler.ts";
 * // The runtime's timers, counting what is set (a wrapper is a Scheduler too).
 * const system = systemScheduler();
 * let set = 0;
 * const counting: Scheduler = {
 *   now: () => system.now(),
 *   setTimeout: (fn, ms) => (set++, system.setTimeout(fn, ms)),
 *   clearTimeout: (timer) => system.clearTimeout(timer),
 *   unref: (timer) => system.unref?.(timer),
 * };
 * const timer = counting.setTimeout(() => {}, 1000);
 * counting.clearTimeout(timer);
 * assert.equal(set, 1);
 * ```
 */
export interface Scheduler {
  /**
   * The current time in milliseconds since the epoch, as `Date.now()`
   * (a virtual clock may start anywhere). Only differences are used here.
   */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer that has not run; a handle that ran or was cleared already is fine. */
  clearTimeout(timer: unknown): void;
  /**
   * Lets `timer` not keep the process alive: set on every background timer
   * (fsync and snapshot intervals, retry backoff), so that an idle database
   * never holds its process open. Optional: a scheduler without it (a
   * virtual clock, a browser) keeps nothing alive anyway.
   */
  unref?(timer: unknown): void;
}

/** A Node-style `timer.unref()`, which Node, Bun and Deno ≥ 2.9 timers have; anything else is left alone. */
function unrefObject(timer: unknown): void {
  (timer as { unref?: () => void } | null)?.unref?.();
}

/**
 * The runtime's own clock and timers (`Date.now`, `setTimeout`,
 * `clearTimeout`, read when called, so this imports cleanly anywhere).
 * `unref` makes a timer not keep the process alive: by default a Node-style
 * `timer.unref()`; the database passes its storage's `unrefTimer`, which
 * also knows the runtimes whose timers are numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemScheduler } from "./scheduler.ts";
 * const scheduler = systemScheduler();
 * const t0 = scheduler.now();
 * await new Promise<void>((resolve) => scheduler.setTimeout(resolve, 5));
 * assert.ok(scheduler.now() >= t0);
 * const idle = scheduler.setTimeout(() => assert.fail("cleared before it runs"), 60_000);
 * scheduler.unref?.(idle); // would not keep the process alive
 * scheduler.clearTimeout(idle);
 * ```
 */
export function systemScheduler(unref: (timer: unknown) => void = unrefObject): Scheduler {
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (timer) => globalThis.clearTimeout(timer as ReturnType<typeof setTimeout>),
    unref,
  };
}
