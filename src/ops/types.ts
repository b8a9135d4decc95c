/**
 * The shape of one entry of the operation table (DESIGN §5).
 *
 * @module
 */

import type { Engine, Kind, State } from "../core/engine.ts";
import { type OpName, SIGNATURES } from "./signatures.ts";

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
  /**
   * The answer to a streamed request (reads only), where it can be large:
   * a `Batches` (src/core/batches.ts) that captures its state now and makes each batch
   * only when it is sent. Without it, `run`'s answer is cut into batches.
   */
  stream?(engine: Engine, target: S, args: unknown[]): unknown;
  /**
   * How `run`'s result leaves the engine (`Database.execute`, the wire):
   * without it, as it is. Ops that hand the embedded API a collection's
   * state answer `null`; ops that return an iterator answer an array.
   */
  answer?(result: unknown): unknown;
}

/** How an op runs: the part of an entry that is not in {@linkcode SIGNATURES}. */
export type OpRun<S> = Pick<Op<S>, "run" | "stream" | "answer">;

/** {@linkcode Op.answer} for ops whose result is a collection's internal state, never sent out. */
export const NO_ANSWER = (): null => null;

/** {@linkcode Op.answer} for ops that return an iterator: its items, as an array. */
export const ALL_ITEMS = (result: unknown): unknown[] => [...(result as Iterable<unknown>)];

/**
 * Declares the op `name`: its kind, whether it writes and its arity come
 * from {@linkcode SIGNATURES} (the one place that states them), `run` (and
 * `stream`) from `impl`. A write op's `run` first asks the engine whether
 * writes are accepted (`engine.checkWritable()`): while the disk refuses
 * the log, a write is refused with `StorageError` before it changes
 * anything in memory — on every path, since the handles, `execute` and
 * transactions all call `run`.
 *
 * @example
 * ```ts
 * import { op } from "./types.ts";
 * const size = op<{ store: Map<unknown, unknown> }>("dict.size", { run: (_e, d) => d.store.size });
 * size.arity; // [1, 1]
 * ```
 */
export function op<S>(name: OpName, impl: OpRun<S>): Op<S> {
  const { kind, write, arity } = SIGNATURES[name];
  if (!write) return { name, kind, write, arity, ...impl };
  const run = impl.run;
  return {
    name,
    kind,
    write,
    arity,
    ...impl,
    run(engine, target, args) {
      if (engine.storageError !== null) engine.checkWritable();
      return run(engine, target, args);
    },
  };
}
