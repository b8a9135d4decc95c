/**
 * Database-level operations: creating, finding and dropping collections.
 *
 * @module
 */

import { AlreadyExistsError, SchemaError, ValidationError, WrongKindError } from "../errors.ts";
import type { DictState, Engine, Kind, ListState, State, TableState } from "../core/engine.ts";
import { compileSchema, sameSchema } from "../core/schema.ts";
import { SlotMap } from "../core/slot_map.ts";
import { ColumnStore } from "../core/column_store.ts";
import { quote } from "../core/value.ts";
import { toEntries } from "./dict_ops.ts";
import { checkListValues } from "./list_ops.ts";
import { NO_ANSWER, op } from "./types.ts";
import { dbStats } from "./db_stats.ts";

/**
 * Checks a collection name: a non-empty, well-formed string.
 *
 * @example
 * ```ts
 * import { checkName } from "./db_ops.ts";
 * checkName("users"); // "users"
 * ```
 */
export function checkName(name: unknown): string {
  if (typeof name !== "string" || name === "" || !name.isWellFormed()) {
    throw new ValidationError(`Collection name ${quote(name)} is not a non-empty string: pass a name like "users"`);
  }
  return name;
}

function add(e: Engine, state: State): void {
  const existing = e.collections.get(state.name);
  if (existing !== undefined) {
    throw new AlreadyExistsError(
      `A ${existing.kind} named ${quote(state.name)} exists already: use get${existing.kind[0].toUpperCase()}${
        existing.kind.slice(1)
      }() or drop() it first`,
    );
  }
  e.collections.set(state.name, state);
  if (e.undo) e.undo.push(() => void (e.collections.delete(state.name), state.dropped = true));
}

/** `db.createDict(name, init?)`: a new dict, filled from `init` (an object, a Map or `[key, value]` pairs); a taken name → AlreadyExistsError. */
export const dbCreateDict = op<Engine>("db.createDict", {
  run(e, _t, args) {
    const name = checkName(args[0]);
    const entries = args[1] === undefined || args[1] === null ? [] : toEntries(args[1]);
    const state: DictState = { kind: "dict", name, store: new SlotMap(), dropped: false };
    for (const [k, v] of entries) state.store.set(k, v, null, e.nextLsn);
    add(e, state);
    if (e.logging) e.log("db.createDict", entries.length ? [name, entries] : [name]);
    else e.tick();
    return state;
  },
  answer: NO_ANSWER,
});

/** `db.createList(name, init?)`: a new list, filled from `init` (an iterable of values); a taken name → AlreadyExistsError. */
export const dbCreateList = op<Engine>("db.createList", {
  run(e, _t, args) {
    const name = checkName(args[0]);
    const items = args[1] === undefined || args[1] === null ? [] : checkListValues(args[1]);
    const state: ListState = { kind: "list", name, items, copiedAt: 0, dropped: false };
    add(e, state);
    // A copy: the list's own array changes in place later, and the change feed keeps what was logged.
    if (e.logging) e.log("db.createList", items.length ? [name, items.slice()] : [name]);
    else e.tick();
    return state;
  },
  answer: NO_ANSWER,
});

/** `db.createTable(schema)`: a new table (named by `schema.name`); a bad schema → SchemaError, a taken name → AlreadyExistsError. */
export const dbCreateTable = op<Engine>("db.createTable", {
  run(e, _t, args) {
    const schema = compileSchema(args[0]);
    const state: TableState = {
      kind: "table",
      name: schema.def.name,
      schema,
      store: new ColumnStore(schema),
      indexes: new Map(),
      dropped: false,
    };
    add(e, state);
    if (e.logging) e.log("db.createTable", [schema.def]);
    else e.tick();
    return state;
  },
  answer: NO_ANSWER,
});

function getter(kind: Kind) {
  const name = `db.get${kind[0].toUpperCase()}${kind.slice(1)}` as "db.getDict" | "db.getList" | "db.getTable";
  return op<Engine>(name, { run: (e, _t, args) => e.resolve(checkName(args[0]), kind), answer: NO_ANSWER });
}

/** `db.getDict(name)`: the dict named so (none → NotFoundError; another kind → WrongKindError). */
export const dbGetDict = getter("dict");
/** `db.getList(name)`: the list named so (none → NotFoundError; another kind → WrongKindError). */
export const dbGetList = getter("list");
/** `db.getTable(name)`: the table named so (none → NotFoundError; another kind → WrongKindError). */
export const dbGetTable = getter("table");

/**
 * `db.dict(name)`: the dict named `name`, created empty when there is none —
 * get-or-create, so a program that starts with it runs the second time as
 * the first. Nothing is written (or logged) when the dict exists; another
 * kind under that name is a `WrongKindError`.
 */
export const dbDict = op<Engine>("db.dict", {
  run: (e, t, args) =>
    e.collections.has(checkName(args[0])) ? e.resolve(args[0], "dict") : dbCreateDict.run(e, t, [args[0]]),
  answer: NO_ANSWER,
});

/** `db.list(name)`: the list named `name`, created empty when there is none (see `db.dict`). */
export const dbList = op<Engine>("db.list", {
  run: (e, t, args) =>
    e.collections.has(checkName(args[0])) ? e.resolve(args[0], "list") : dbCreateList.run(e, t, [args[0]]),
  answer: NO_ANSWER,
});

/**
 * `db.table(schema)`: the table `schema.name`, created from `schema` when
 * there is none. An existing table must have the same schema (`String` and
 * `Utf8` alike, omitted flags false): a different one is a `SchemaError`
 * naming both, never a silent mismatch between the rows and the code.
 */
export const dbTable = op<Engine>("db.table", {
  run(e, t, args) {
    const schema = compileSchema(args[0]);
    const name = schema.def.name;
    if (!e.collections.has(name)) return dbCreateTable.run(e, t, [args[0]]);
    const state = e.resolve(name, "table");
    if (!sameSchema(state.schema.def, schema.def)) {
      throw new SchemaError(
        `Table ${quote(name)} exists with schema ${quote(state.schema.def.columns, 200)}, not ${
          quote(schema.def.columns, 200)
        }: use getTable(${quote(name)}) to open it as it is, or drop() it and create it anew`,
      );
    }
    return state;
  },
  answer: NO_ANSWER,
});

/** `db.lsn()`: the LSN of the last committed write (a remote client's `lsn()`). */
export const dbLsn = op<Engine>("db.lsn", {
  run: (e) => e.lsn,
});

/** `db.collections()`: `{ name, kind }` of every collection, sorted by name. */
export const dbCollections = op<Engine>("db.collections", {
  run: (e) =>
    [...e.collections.values()]
      .map((s) => ({ name: s.name, kind: s.kind }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
});

/**
 * `db.drop(name, kind?, primaryKey?)`: whether a collection was dropped.
 * With `kind`, only a collection of that kind is dropped, and with
 * `primaryKey` only a table keyed by that column (otherwise
 * `WrongKindError`, nothing dropped). Logged with both, so that the change
 * feed can tell from the log alone what was dropped, and which column
 * keyed the rows written to it before.
 */
export const dbDrop = op<Engine>("db.drop", {
  run(e, _t, args) {
    const name = checkName(args[0]);
    const kind = args[1];
    const pk = args[2];
    if (kind !== undefined && kind !== "dict" && kind !== "list" && kind !== "table") {
      throw new ValidationError(
        `Kind ${quote(kind)} is not "dict", "list" or "table": pass one of those or leave it out`,
      );
    }
    if (pk !== undefined && (kind !== "table" || typeof pk !== "string")) {
      throw new ValidationError(`Primary key ${quote(pk)} of a drop needs kind "table" and a column name`);
    }
    const state = e.collections.get(name);
    if (state === undefined) return false;
    if (kind !== undefined && state.kind !== kind) {
      throw new WrongKindError(`Collection ${quote(name)} is a ${state.kind}, not a ${kind}: nothing was dropped`);
    }
    const key = state.kind === "table" ? state.schema.names[state.schema.pk] : undefined;
    if (pk !== undefined && key !== pk) {
      throw new WrongKindError(`Table ${quote(name)} is keyed by ${quote(key)}, not ${quote(pk)}: nothing was dropped`);
    }
    e.collections.delete(name);
    state.dropped = true;
    if (e.undo) e.undo.push(() => void (e.collections.set(name, state), state.dropped = false));
    if (e.logging) e.log("db.drop", key === undefined ? [name, state.kind] : [name, state.kind, key]);
    else e.tick();
    return true;
  },
});

/** Every db op. */
export const DB_OPS = [
  dbCreateDict,
  dbCreateList,
  dbCreateTable,
  dbGetDict,
  dbGetList,
  dbGetTable,
  dbDict,
  dbList,
  dbTable,
  dbCollections,
  dbDrop,
  dbLsn,
  dbStats,
];
