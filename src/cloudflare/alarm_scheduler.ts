/**
 * A {@linkcode Scheduler} over a Durable Object's alarm. A pending
 * `setTimeout` keeps a Durable Object from hibernating (it would have to
 * stay in memory to run the callback); an alarm does not: the object may
 * hibernate, and the alarm wakes it. So every timer of a database served by
 * a Durable Object (snapshots, retries after a storage failure, expiry) is
 * kept here in memory and the object's one alarm is set to the earliest.
 *
 * ```
 *  setTimeout(fn, ms) ──► timers: { due, fn } …  ──► storage.setAlarm(earliest due)
 *                                                         │ (survives hibernation and restarts)
 *  alarm() event ──► fire(): runs every timer due, awaits what they return, re-arms for the next
 * ```
 *
 * Timers are memory: an object evicted from memory loses them, and its
 * alarm then wakes a fresh instance, which finds nothing due and sets no new
 * alarm. That is what the database needs: a fresh instance recovers from
 * storage and sets the timers it wants again.
 *
 * @module
 */

import type { Scheduler } from "../storage/scheduler.ts";

/** What the scheduler needs of `ctx.storage`: the alarm API. */
export interface AlarmStorage {
  /** Sets the object's one alarm to `scheduledTime` (ms since the epoch), replacing any other. */
  setAlarm(scheduledTime: number): Promise<void> | void;
}

interface Timer {
  due: number;
  fn: () => unknown;
}

/**
 * Timers on a Durable Object's alarm; see the module text. The object's
 * `alarm()` handler must call {@linkcode AlarmScheduler.fire}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AlarmScheduler } from "./alarm_scheduler.ts";
 * // ctx.storage in a Durable Object; here a stand-in that records the alarm.
 * let alarm: number | null = null;
 * const scheduler = new AlarmScheduler({ setAlarm: (t) => void (alarm = t) });
 * let ran = 0;
 * scheduler.setTimeout(() => ran++, 0);
 * const later = scheduler.setTimeout(() => ran++, 60_000);
 * assert.ok(alarm !== null && alarm <= Date.now()); // the earliest timer
 * await scheduler.fire(); // what the object's alarm() handler does
 * assert.equal(ran, 1);
 * assert.ok(alarm! > Date.now()); // re-armed for the next one
 * scheduler.clearTimeout(later);
 * await scheduler.fire(); // a stale alarm finds nothing to run
 * assert.equal(ran, 1);
 * ```
 */
export class AlarmScheduler implements Scheduler {
  #storage: AlarmStorage;
  #timers = new Map<number, Timer>();
  #ids = 0;
  /** When the alarm is set for, as far as this instance set it; `null`: not set by this instance. */
  #armed: number | null = null;
  #log: (message: string, error: unknown) => void;

  /** Timers on `storage`'s alarm; `log` receives errors of timers and of setting the alarm. */
  constructor(storage: AlarmStorage, log: (message: string, error: unknown) => void = (m, e) => console.error(m, e)) {
    this.#storage = storage;
    this.#log = log;
  }

  /** `Date.now()` (on Cloudflare it does not advance during one event; differences across events are real). */
  now(): number {
    return Date.now();
  }

  /** Runs `fn` at the first alarm at or after `ms` from now. */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#ids;
    this.#timers.set(id, { due: this.now() + Math.max(0, ms), fn });
    this.#arm();
    return id;
  }

  /** Forgets a timer. The alarm stays: firing early with nothing due costs one wake-up and re-arms. */
  clearTimeout(timer: unknown): void {
    this.#timers.delete(timer as number);
  }

  /** Nothing to do: an alarm never keeps an object in memory. */
  unref(_timer: unknown): void {}

  /** Timers waiting. */
  get size(): number {
    return this.#timers.size;
  }

  /**
   * Runs every timer that is due (in the order they are due), waits for
   * what they return (a snapshot in progress, say), then sets the alarm for
   * the next timer. Call it from the object's `alarm()` handler.
   */
  async fire(): Promise<void> {
    this.#armed = null;
    const now = this.now();
    const due = [...this.#timers].filter(([, t]) => t.due <= now).sort((a, b) => a[1].due - b[1].due);
    const running: unknown[] = [];
    for (const [id, t] of due) {
      this.#timers.delete(id);
      try {
        running.push(t.fn());
      } catch (e) {
        this.#log("cyberdb: a timer failed:", e);
      }
    }
    for (const r of await Promise.allSettled(running)) {
      if (r.status === "rejected") this.#log("cyberdb: a timer failed:", r.reason);
    }
    this.#arm();
  }

  #arm(): void {
    let earliest = Infinity;
    for (const t of this.#timers.values()) earliest = Math.min(earliest, t.due);
    if (earliest === Infinity || (this.#armed !== null && this.#armed <= earliest)) return;
    this.#armed = earliest;
    try {
      Promise.resolve(this.#storage.setAlarm(earliest)).catch((e) =>
        this.#log("cyberdb: setting the alarm failed:", e)
      );
    } catch (e) {
      this.#log("cyberdb: setting the alarm failed:", e);
    }
  }
}
