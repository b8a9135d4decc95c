/**
 * The shape of one entry of the operation table (DESIGN §5).
 *
 * @module
 */

import type { Engine, Kind, State } from "../engine/engine.ts";

/**
 * One operation: `<kind>.<method>`, whether it writes, how many arguments it
 * takes (the collection name included) and how it runs. `run` checks its own
 * arguments before it changes anything, so a rejected call leaves no trace,
 * and calls `engine.log` with what to replay once it has written.
 */
export interface Op<S = State> {
  /** The wire and log name, e.g. `"dict.set"`. */
  readonly name: string;
  /** The kind of collection it acts on, or `"db"` for database-level ops. */
  readonly kind: Kind | "db";
  /** Whether it can change state (and so is logged). */
  readonly write: boolean;
  /** The fewest and most arguments, the collection name included. */
  readonly arity: readonly [number, number];
  /** Runs the operation on `target` (the collection's state, or the engine for db ops). */
  run(engine: Engine, target: S, args: unknown[]): unknown;
}

/**
 * Declares an op with its types checked. A write op is returned with a
 * `run` that first asks the engine whether writes are accepted
 * (`engine.checkWritable()`): while the disk refuses the log, a write is
 * refused with `StorageError` before it changes anything in memory — on
 * every path, since the handles, `execute` and transactions all call `run`.
 * Read ops are returned unchanged.
 *
 * @example
 * ```ts
 * import { op } from "./types.ts";
 * const ping = op({ name: "db.ping", kind: "db", write: false, arity: [0, 0], run: () => "pong" });
 * ```
 */
export function op<S>(def: Op<S>): Op<S> {
  if (!def.write) return def;
  const run = def.run;
  return {
    ...def,
    run(engine, target, args) {
      if (engine.storageError !== null) engine.checkWritable();
      return run(engine, target, args);
    },
  };
}
