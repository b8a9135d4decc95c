/**
 * The declarative half of the operation table (DESIGN §5): every
 * operation's name, the kind of collection it acts on, whether it writes
 * and how many arguments it takes. The op entries in `src/ops/*_ops.ts` take
 * these facts from here (and add how each op runs); the remote facades in
 * `src/client/` name their ops from here, so a method that calls an op the
 * table does not have fails to type-check. Plain data with no imports: the
 * browser client shares it without pulling in the engine.
 *
 * @module
 */

/** The kind of collection an op acts on, or `"db"` for database-level ops. */
export type OpKind = "dict" | "list" | "table" | "db";

/** The facts of one op: its kind, whether it writes, its fewest and most arguments (the collection name included). */
export interface Signature {
  /** The kind of collection it acts on, or `"db"`. */
  readonly kind: OpKind;
  /** Whether it can change state (and so is logged). */
  readonly write: boolean;
  /** The fewest and most arguments, the collection name included. */
  readonly arity: readonly [number, number];
}

const read = (kind: OpKind, min: number, max = min): Signature => ({ kind, write: false, arity: [min, max] });
const write = (kind: OpKind, min: number, max = min): Signature => ({ kind, write: true, arity: [min, max] });

/**
 * Every operation by its wire and log name, `<kind>.<method>`.
 *
 * @example
 * ```ts
 * import { SIGNATURES } from "./signatures.ts";
 * SIGNATURES["list.pop"]; // { kind: "list", write: true, arity: [1, 2] }
 * ```
 */
export const SIGNATURES = {
  "db.createDict": write("db", 1, 2),
  "db.createList": write("db", 1, 2),
  "db.createTable": write("db", 1),
  "db.getDict": read("db", 1),
  "db.getList": read("db", 1),
  "db.getTable": read("db", 1),
  "db.dict": write("db", 1),
  "db.list": write("db", 1),
  "db.table": write("db", 1),
  "db.collections": read("db", 0),
  "db.drop": write("db", 1, 3),
  "db.lsn": read("db", 0),

  "dict.get": read("dict", 2, 3),
  "dict.set": write("dict", 3, 4),
  "dict.has": read("dict", 2),
  "dict.delete": write("dict", 2),
  "dict.size": read("dict", 1),
  "dict.keys": read("dict", 1),
  "dict.values": read("dict", 1),
  "dict.entries": read("dict", 1),
  "dict.clear": write("dict", 1),
  "dict.update": write("dict", 2),
  "dict.pop": write("dict", 2, 3),
  "dict.popItem": write("dict", 1),
  "dict.setDefault": write("dict", 3),
  "dict.toObject": read("dict", 1),
  "dict.scan": read("dict", 3),
  "dict.getEntry": read("dict", 2),
  "dict.increment": write("dict", 2, 3),
  "dict.expire": write("dict", 3),
  "dict.expireAt": write("dict", 3),
  "dict.ttl": read("dict", 2),

  "list.length": read("list", 1),
  "list.get": read("list", 2),
  "list.set": write("list", 3),
  "list.append": write("list", 2),
  "list.extend": write("list", 2),
  "list.insert": write("list", 3),
  "list.pop": write("list", 1, 2),
  "list.remove": write("list", 2),
  "list.indexOf": read("list", 2),
  "list.count": read("list", 2),
  "list.slice": read("list", 1, 3),
  "list.reverse": write("list", 1),
  "list.sort": write("list", 1, 2),
  "list.clear": write("list", 1),
  "list.toArray": read("list", 1),
  "list.iter": read("list", 1),

  "table.insert": write("table", 2),
  "table.insertMany": write("table", 2),
  "table.update": write("table", 3),
  "table.patch": write("table", 3),
  "table.upsert": write("table", 2),
  "table.delete": write("table", 2),
  "table.get": read("table", 2),
  "table.getEntry": read("table", 2),
  "table.has": read("table", 2),
  "table.count": read("table", 1, 2),
  "table.rows": read("table", 1),
  "table.toArray": read("table", 1),
  "table.schema": read("table", 1),
  "table.scan": read("table", 3),
  "table.query": read("table", 1, 2),
  "table.first": read("table", 1, 2),
  "table.createIndex": write("table", 2, 3),
  "table.dropIndex": write("table", 2),
  "table.indexes": read("table", 1),
  "table.getMany": read("table", 2),
} as const satisfies Record<string, Signature>;

/**
 * The name of an operation of the table.
 *
 * @example
 * ```ts
 * import type { OpName } from "./signatures.ts";
 * const name: OpName = "dict.set";
 * ```
 */
export type OpName = keyof typeof SIGNATURES;

/**
 * The methods of a kind: `MethodOf<"dict">` is `"get" | "set" | …`, the op
 * names of that kind without the prefix.
 *
 * @example
 * ```ts
 * import type { MethodOf } from "./signatures.ts";
 * const m: MethodOf<"list"> = "append";
 * ```
 */
export type MethodOf<K extends OpKind> = { [N in OpName]: N extends `${K}.${infer M}` ? M : never }[OpName];
