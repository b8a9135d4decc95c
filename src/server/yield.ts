/**
 * Yielding to the event loop between the batches of a streamed answer, so
 * other clients' requests are read and answered meanwhile.
 *
 * `setImmediate` alone does not do it: a chain of immediates each doing a
 * few ms of work kept a pending request unanswered for about half of a
 * 60-batch stream under Deno and Node (Bun let it in at once). A zero
 * timeout lets it in at once everywhere, but chained timeouts are clamped to
 * about 4 ms each under Deno and in browsers. So: an immediate (cheap) most
 * turns, and a real timeout once {@linkcode TIMER_EVERY_MS} of work or
 * {@linkcode TIMER_EVERY_TURNS} turns passed since the last one (the turn
 * count for runtimes whose clock stands still while code runs, as in a
 * Cloudflare Worker).
 *
 * @module
 */

import { now } from "./metrics.ts";

/** Most ms of streaming work between two timeouts: the longest a waiting request waits for its turn. */
const TIMER_EVERY_MS = 4;
/** Most immediates between two timeouts. */
const TIMER_EVERY_TURNS = 8;

let lastTimer = -Infinity;
let turns = 0;

/**
 * Resolves once the runtime had a chance to handle the input that is
 * waiting (other requests): usually after a `setImmediate`, and through a
 * zero timeout once per few ms of work (see the module text). One
 * function for the whole server: every streamed answer shares the budget.
 *
 * @example
 * ```ts
 * import { yieldToIo } from "./yield.ts";
 * for (let batch = 0; batch < 3; batch++) {
 *   // ... send one batch ...
 *   await yieldToIo();
 * }
 * ```
 */
export function yieldToIo(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  if (immediate !== undefined && ++turns < TIMER_EVERY_TURNS && now() - lastTimer < TIMER_EVERY_MS) {
    return new Promise((resolve) => immediate(resolve));
  }
  return new Promise((resolve) =>
    setTimeout(() => {
      lastTimer = now();
      turns = 0;
      resolve();
    }, 0)
  );
}
