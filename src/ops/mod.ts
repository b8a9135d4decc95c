/**
 * THE operation table (DESIGN §5). The embedded API, the server and WAL
 * replay all run operations through it, so every operation's logic exists
 * once.
 *
 * @module
 */

import { ConflictError, NotFoundError, ProtocolError, ValidationError, WrongKindError } from "../errors.ts";
import type { Engine, LogEntry } from "../core/engine.ts";
import { checkKey, quote } from "../core/value.ts";
import { checkPk } from "../core/schema.ts";
import type { Check } from "../core/entry.ts";

export type { Check };
import { DB_OPS } from "./db_ops.ts";
import { DICT_OPS } from "./dict_ops.ts";
import { LIST_OPS } from "./list_ops.ts";
import { QUERY_OPS } from "./query_ops.ts";
import { TABLE_OPS } from "./table_ops.ts";
import { Batches } from "../core/batches.ts";
import type { Op } from "./types.ts";

export type { Op } from "./types.ts";

/**
 * Every operation by name (`"dict.set"`, `"table.upsert"`, `"db.createDict"`, …).
 *
 * @example
 * ```ts
 * import { OPS } from "./mod.ts";
 * OPS.get("dict.set")?.write; // true
 * ```
 */
export const OPS: ReadonlyMap<string, Op<unknown>> = new Map(
  ([...DB_OPS, ...DICT_OPS, ...LIST_OPS, ...TABLE_OPS, ...QUERY_OPS] as Op<unknown>[]).map((o) => [o.name, o]),
);

/**
 * Runs one operation by name, as the wire and the log name it: checks that
 * the op exists and its argument count, resolves the collection named by
 * `args[0]` and runs it. `streamed`: the answer will be sent in batches, so
 * an op may answer with a `Batches` (see `Op.stream`).
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { execute } from "./mod.ts";
 * const e = new Engine();
 * execute(e, "db.createDict", ["d"]);
 * execute(e, "dict.set", ["d", "k", 1]);
 * execute(e, "dict.get", ["d", "k"]); // 1
 * ```
 */
export function execute(engine: Engine, name: unknown, args: unknown, streamed = false): unknown {
  const spec = typeof name === "string" ? OPS.get(name) : undefined;
  if (spec === undefined) {
    throw new ProtocolError(`Unknown operation ${quote(name)}: use one of the documented ops such as "dict.set"`);
  }
  if (!Array.isArray(args)) {
    throw new ValidationError(`Arguments of ${spec.name} must be an array, got ${quote(args)}`);
  }
  const [min, max] = spec.arity;
  if (args.length < min || args.length > max) {
    throw new ValidationError(
      `Operation ${quote(spec.name)} takes ${min === max ? min : `${min} to ${max}`} arguments${
        spec.kind === "db" ? "" : " (the collection name first)"
      }, got ${args.length}`,
    );
  }
  engine.checkOpen();
  const target = spec.kind === "db" ? engine : engine.resolve(args[0], spec.kind);
  // A streamed request takes the op's batch-by-batch answer where it has one.
  if (streamed && spec.stream !== undefined) return spec.stream(engine, target, args);
  return spec.run(engine, target, args);
}

/**
 * What an op's result is outside the engine (`Database.execute`, the wire):
 * plain data, as the op's own {@linkcode Op.answer} says — iterators as
 * arrays, a collection's internal state as `null` — or a `Batches` of a
 * streamed call, as it is.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { answerOf, execute } from "./mod.ts";
 * const e = new Engine();
 * answerOf("db.createDict", execute(e, "db.createDict", ["d"])); // null
 * answerOf("dict.keys", execute(e, "dict.keys", ["d"])); // []
 * ```
 */
export function answerOf(name: string, result: unknown): unknown {
  const answer = OPS.get(name)?.answer;
  return answer === undefined || result instanceof Batches ? result : answer(result);
}

/**
 * Whether the named operation can write (unknown names: `false`).
 *
 * @example
 * ```ts
 * import { isWrite } from "./mod.ts";
 * isWrite("dict.set"); // true
 * ```
 */
export function isWrite(name: string): boolean {
  return OPS.get(name)?.write === true;
}

/**
 * Runs several operations as one transaction: all happen or none does.
 * Each entry must be an object `{ op, args }`; its properties are read as
 * own properties only (an entry from the wire may carry `__proto__`).
 * `checks` (check-and-set, DESIGN §9) are verified first, inside the same
 * transaction: a key whose version is not the expected one fails the batch
 * with `ConflictError` and nothing is applied.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { executeAtomic } from "./mod.ts";
 * const e = new Engine();
 * executeAtomic(e, [{ op: "db.createList", args: ["l"] }, { op: "list.append", args: ["l", 1] }]);
 * executeAtomic(e, [{ op: "db.createDict", args: ["d"] }]);
 * executeAtomic(e, [{ op: "dict.set", args: ["d", "k", 1] }], [{ collection: "d", key: "k", version: null }]);
 * ```
 */
export function executeAtomic(engine: Engine, entries: readonly LogEntry[], checks: readonly Check[] = []): unknown[] {
  if (!Array.isArray(entries)) {
    throw new ProtocolError(`An atomic batch is an array of { op, args }, got ${quote(entries)}`);
  }
  const calls = entries.map((e: unknown) => {
    const op = typeof e === "object" && e !== null && !Array.isArray(e) && Object.hasOwn(e, "op")
      ? (e as LogEntry).op
      : undefined;
    if (typeof op !== "string") {
      throw new ProtocolError(`Each atomic entry must be { op, args } with an "op" string, got ${quote(e)}`);
    }
    return { op, args: Object.hasOwn(e as object, "args") ? (e as LogEntry).args : [] };
  });
  const expected = readChecks(checks);
  return engine.transaction(() => {
    for (const c of expected) verify(engine, c);
    return calls.map((c) => execute(engine, c.op, c.args));
  });
}

/** The checks of an atomic batch, read through own properties and validated. */
function readChecks(checks: unknown): Check[] {
  if (checks === undefined || checks === null) return [];
  if (!Array.isArray(checks)) {
    throw new ValidationError(`Checks ${quote(checks)} are not an array: pass [{ collection, key, version }]`);
  }
  return checks.map((c: unknown, i) => {
    if (typeof c !== "object" || c === null || Array.isArray(c)) {
      throw new ValidationError(`Check ${i} is ${quote(c)}, not { collection, key, version }`);
    }
    const get = (k: string) => Object.hasOwn(c, k) ? (c as Record<string, unknown>)[k] : undefined;
    const collection = get("collection");
    const version = get("version");
    if (typeof collection !== "string") {
      throw new ValidationError(`Check ${i} needs a "collection" name (a string), got ${quote(collection)}`);
    }
    if (!Object.hasOwn(c, "key")) {
      throw new ValidationError(`Check ${i} needs a "key": the dict key or the row's primary key`);
    }
    if (version !== null && !(typeof version === "number" && Number.isSafeInteger(version) && version >= 0)) {
      throw new ValidationError(
        `Check ${i} has version ${quote(version)}: pass the version from getEntry(), or null for "must be absent"`,
      );
    }
    return { collection, key: get("key"), version: version as number | null };
  });
}

/** The version of a dict key or table row now (`null`: absent), or a ConflictError when it is not the expected one. */
function verify(engine: Engine, c: Check): void {
  const state = engine.collections.get(c.collection);
  let actual: number | null;
  if (state?.kind === "dict") {
    const key = checkKey(c.key);
    actual = state.store.versionOf(key, state.store.expiring ? engine.now() : -Infinity) ?? null;
  } else if (state?.kind === "table") {
    actual = state.store.versionOf(checkPk(state.schema, c.key)) ?? null;
  } else if (state === undefined) {
    throw new NotFoundError(`Check on ${quote(c.collection)}: no dict or table has that name; create it first`);
  } else {
    throw new WrongKindError(
      `Check on ${quote(c.collection)}: it is a ${state.kind}; checks apply to dict keys and table rows`,
    );
  }
  if (actual !== c.version) {
    throw new ConflictError(
      `Check failed on ${quote(c.collection)} key ${quote(c.key)}: expected ${
        c.version === null ? "no entry" : `version ${c.version}`
      }, found ${actual === null ? "no entry" : `version ${actual}`}; nothing was applied: read it again and retry`,
    );
  }
}
