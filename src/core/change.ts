/**
 * The change feed's vocabulary (DESIGN §9): what one committed write did,
 * told as its effect so that a reader can apply it without reading the
 * database again, and how a committed record — the very `{ op, args }`
 * entries the log holds — becomes changes. One derivation, used for the
 * commits of a running database and for records read back from the log, so
 * the two can never disagree.
 *
 * ```
 *   commit (lsn, [{ op, args }, …])  ──changesOf──►  [Change, …]   one batch, one LSN
 *     dict.set / dict.update           set     { key, value, expireAt? }
 *     dict.delete                      delete  { key }
 *     dict.clear                       clear
 *     dict.expireAt                    expire  { key, expireAt | null }
 *     table.insert / insertMany /
 *       upsert / update               upsert  { key, row }   (the whole row after the write)
 *     table.delete                     delete  { key }
 *     list.<op>                        <op>    { args }        (as logged, after the name)
 *     db.create* / db.drop             create / drop { collectionKind, schema? }
 *                                      (a create with initial content is followed by its
 *                                       sets, or its extend, in the same batch)
 *     table.createIndex / dropIndex    nothing: they change no data
 * ```
 *
 * Pure: no I/O, no runtime global.
 *
 * @module
 */

import type { Kind, LogEntry } from "./engine.ts";
import type { TableSchema } from "./schema.ts";
import { cloneOut, type Key, type Value } from "./value.ts";

/** What every change carries. */
export interface ChangeBase {
  /** The LSN of the commit it belongs to (every change of one batch has the same). */
  lsn: number;
  /** The collection it applies to. */
  collection: string;
}

/**
 * A change to a dict: a key `set` (with its absolute expiry time in ms when
 * it expires), `delete`d (explicitly, by `pop`, or because it expired),
 * the dict `clear`ed, or a key's expiry changed (`expire`; `expireAt: null`
 * = no longer expires).
 */
export type DictChange =
  & ChangeBase
  & { kind: "dict" }
  & (
    | { type: "set"; key: Key; value: Value; expireAt?: number }
    | { type: "delete"; key: Key }
    | { type: "clear" }
    | { type: "expire"; key: Key; expireAt: number | null }
  );

/** A change to a table: the whole row after an insert, update, patch or upsert, or a deleted key. */
export type TableChange =
  & ChangeBase
  & { kind: "table" }
  & (
    | { type: "upsert"; key: string | number; row: Record<string, Value> }
    | { type: "delete"; key: string | number }
  );

/** The list operations a {@linkcode ListChange} names. */
export type ListOp = "set" | "append" | "extend" | "insert" | "pop" | "reverse" | "sort" | "clear";

/**
 * A change to a list: the list op as logged, with its arguments after the
 * collection name (`set [index, value]`, `append [value]`, `extend
 * [values]`, `insert [index, value]` with the index already clamped,
 * `pop [index]` — `remove` is logged as the `pop` of the index it found —,
 * `reverse []`, `sort [{ key?, reverse? }]`, `clear []`). Indexes are
 * never negative.
 */
export interface ListChange extends ChangeBase {
  /** Always `"list"`. */
  kind: "list";
  /** The list op. */
  type: ListOp;
  /** Its arguments, after the collection name. */
  args: Value[];
}

/** A collection created (with its schema, for a table) or dropped. */
export interface DbChange extends ChangeBase {
  /** Always `"db"`. */
  kind: "db";
  /** `"create"` or `"drop"`. */
  type: "create" | "drop";
  /** The kind of the collection created or dropped. */
  collectionKind: Kind;
  /** A created table's schema. */
  schema?: TableSchema;
}

/**
 * One effect of a committed write (DESIGN §9). Changes come in batches,
 * one batch per commit (a transaction is one batch), all with its LSN.
 *
 * @example
 * ```ts
 * import type { Change } from "./change.ts";
 * const model = new Map<unknown, unknown>();
 * function apply(c: Change): void {
 *   if (c.kind === "dict" && c.type === "set") model.set(c.key, c.value);
 *   else if (c.kind === "dict" && c.type === "delete") model.delete(c.key);
 *   else if (c.kind === "dict" && c.type === "clear") model.clear();
 * }
 * apply({ lsn: 1, collection: "d", kind: "dict", type: "set", key: "a", value: 1 });
 * ```
 */
export type Change = DictChange | TableChange | ListChange | DbChange;

/**
 * Thrown by {@linkcode changesOf} for a record whose effect cannot be told
 * from the record alone: a table row written where the table's primary key
 * is not known, or a `table.patch` logged by an older version. The feed
 * turns it into a `ResetError` (read again, then watch from `db.lsn`).
 */
export class Underivable extends Error {
  /** Why. */
  constructor(message: string) {
    super(message);
  }
}

/** The primary-key column of a table schema as the log carries it. */
export function pkOfSchema(def: unknown): string | undefined {
  const cols = (def as { columns?: unknown } | null)?.columns;
  if (!Array.isArray(cols)) return undefined;
  for (const c of cols) {
    if (c !== null && typeof c === "object" && (c as { primaryKey?: unknown }).primaryKey === true) {
      return (c as { name: string }).name;
    }
  }
  return undefined;
}

const KIND_OF_CREATE: Record<string, Kind> = {
  "db.createDict": "dict",
  "db.createList": "list",
  "db.createTable": "table",
};

/**
 * The changes of one commit, in order, appended to `out`. `pkOf(i)` names
 * the primary-key column of the table entry `i` writes to (the table as it
 * was when that entry ran). The changes share values with `entries`: copy
 * them before handing them to code that may change them.
 *
 * @example
 * ```ts
 * import { changesOf } from "./change.ts";
 * changesOf(7, [{ op: "dict.set", args: ["d", "k", 1] }, { op: "dict.delete", args: ["d", "j"] }], () => undefined);
 * // [{ lsn: 7, collection: "d", kind: "dict", type: "set", key: "k", value: 1 },
 * //  { lsn: 7, collection: "d", kind: "dict", type: "delete", key: "j" }]
 * ```
 */
export function changesOf(
  lsn: number,
  entries: readonly LogEntry[],
  pkOf: (index: number) => string | undefined,
  out: Change[] = [],
): Change[] {
  for (let i = 0; i < entries.length; i++) {
    const { op, args } = entries[i];
    const collection = args[0] as string;
    switch (op) {
      case "dict.set": {
        const o = args[3] as { expireAt?: number } | undefined;
        const c: DictChange = {
          lsn,
          collection,
          kind: "dict",
          type: "set",
          key: args[1] as Key,
          value: args[2] as Value,
        };
        if (o !== undefined && o !== null && typeof o.expireAt === "number") c.expireAt = o.expireAt;
        out.push(c);
        break;
      }
      case "dict.delete":
        out.push({ lsn, collection, kind: "dict", type: "delete", key: args[1] as Key });
        break;
      case "dict.clear":
        out.push({ lsn, collection, kind: "dict", type: "clear" });
        break;
      case "dict.update":
        for (const [key, value] of args[1] as [Key, Value][]) {
          out.push({ lsn, collection, kind: "dict", type: "set", key, value });
        }
        break;
      case "dict.expireAt":
        out.push({
          lsn,
          collection,
          kind: "dict",
          type: "expire",
          key: args[1] as Key,
          expireAt: args[2] as number | null,
        });
        break;
      case "table.insert":
      case "table.upsert":
        out.push(upsert(lsn, collection, args[1] as Record<string, Value>, pkOf(i), op));
        break;
      case "table.insertMany": {
        const pk = pkOf(i);
        for (const row of args[1] as Record<string, Value>[]) out.push(upsert(lsn, collection, row, pk, op));
        break;
      }
      case "table.update":
        out.push({
          lsn,
          collection,
          kind: "table",
          type: "upsert",
          key: args[1] as string | number,
          row: args[2] as Record<string, Value>,
        });
        break;
      case "table.delete":
        out.push({ lsn, collection, kind: "table", type: "delete", key: args[1] as string | number });
        break;
      case "table.patch":
        // Logged as a whole-row update since the change feed exists; a log of an older version may hold one.
        throw new Underivable(`record ${lsn} holds a table.patch of an older version, which tells no whole row`);
      case "table.createIndex":
      case "table.dropIndex":
        break;
      case "db.createDict":
      case "db.createList":
      case "db.createTable": {
        const kind = KIND_OF_CREATE[op];
        if (kind === "table") {
          const schema = args[0] as TableSchema;
          out.push({ lsn, collection: schema.name, kind: "db", type: "create", collectionKind: kind, schema });
          break;
        }
        out.push({ lsn, collection, kind: "db", type: "create", collectionKind: kind });
        const init = args[1] as unknown[] | undefined;
        if (init === undefined || init.length === 0) break;
        if (kind === "dict") {
          for (const [key, value] of init as [Key, Value][]) {
            out.push({ lsn, collection, kind: "dict", type: "set", key, value });
          }
        } else {
          out.push({ lsn, collection, kind: "list", type: "extend", args: [init as Value[]] });
        }
        break;
      }
      case "db.drop":
        // The kind is logged with the drop since the change feed exists; older logs lack it.
        if (typeof args[1] !== "string") {
          throw new Underivable(`record ${lsn} holds a db.drop of an older version, which tells no kind`);
        }
        out.push({ lsn, collection, kind: "db", type: "drop", collectionKind: args[1] as Kind });
        break;
      default:
        if (op.startsWith("list.")) {
          out.push({ lsn, collection, kind: "list", type: op.slice(5) as ListOp, args: args.slice(1) as Value[] });
          break;
        }
        throw new Underivable(`record ${lsn} holds ${JSON.stringify(op.slice(0, 40))}, which the feed does not know`);
    }
  }
  return out;
}

function upsert(
  lsn: number,
  collection: string,
  row: Record<string, Value>,
  pk: string | undefined,
  op: string,
): TableChange {
  if (pk === undefined) {
    throw new Underivable(
      `record ${lsn} writes a row (${op}) to table ${JSON.stringify(collection)} whose key is unknown`,
    );
  }
  return { lsn, collection, kind: "table", type: "upsert", key: row[pk] as string | number, row };
}

/**
 * A copy of a change that shares nothing with the database: what the
 * embedded feed hands out (reads return copies, and so do watches).
 *
 * @example
 * ```ts
 * import { copyChange } from "./change.ts";
 * const value = { n: 1 };
 * const c = copyChange({ lsn: 1, collection: "d", kind: "dict", type: "set", key: "k", value });
 * c.kind === "dict" && c.type === "set" && c.value !== value; // true
 * ```
 */
export function copyChange(c: Change): Change {
  switch (c.kind) {
    case "dict":
      return c.type === "set" ? { ...c, value: cloneOut(c.value) } : { ...c };
    case "table":
      return c.type === "upsert" ? { ...c, row: cloneOut(c.row) } : { ...c };
    case "list":
      return { ...c, args: c.args.map((a) => cloneOut(a)) };
    case "db":
      return c.schema === undefined ? { ...c } : { ...c, schema: cloneOut(c.schema as unknown as Value) as never };
  }
}

/**
 * About how many bytes `value` holds, in bounded time: strings and binaries
 * by their length, containers by sampling at most `budget` nodes and
 * extrapolating. What the feed's ring of recent commits counts to stay
 * within its memory bound without walking large values on every write.
 *
 * @example
 * ```ts
 * import { approxBytes } from "./change.ts";
 * approxBytes("abc"); // 22: 16 + 2 bytes per UTF-16 unit
 * approxBytes(new Uint8Array(1 << 20)) >= 1 << 20; // true
 * ```
 */
export function approxBytes(value: unknown, budget = 32): number {
  // Flat arrays of scalars (the args of most log entries) summed in one loop:
  // the same number the walk below gives them, on every write a feed records.
  if (Array.isArray(value) && value.length < budget) {
    let sum = 0;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v === "string") sum += 16 + 2 * v.length;
      else if (typeof v !== "object" || v === null) sum += 16;
      else return sized(value, { left: budget });
    }
    return value.length === 0 ? 32 : 32 + 8 * value.length + sum;
  }
  return sized(value, { left: budget });
}

function sized(v: unknown, state: { left: number }): number {
  state.left--;
  if (typeof v === "string") return 16 + 2 * v.length;
  if (typeof v !== "object" || v === null) return 16;
  if (v instanceof Uint8Array) return 32 + v.byteLength;
  if (v instanceof Date) return 32;
  const items: unknown[] = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
  const n = items.length;
  if (n === 0) return 32;
  // Sample evenly; extrapolate what the budget did not reach.
  const take = Math.max(1, Math.min(n, state.left));
  const step = n / take;
  let sum = 0;
  for (let i = 0; i < take; i++) sum += sized(items[Math.floor(i * step)], state);
  return 32 + 8 * n + Math.round(sum * n / take);
}
