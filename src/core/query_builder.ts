/**
 * The typed query builder: a small fluent layer whose only product is a
 * plain {@linkcode Query} object. Embedded tables run it synchronously; the
 * remote client subclasses it to send the same object over the wire.
 *
 * @module
 */

import type { Aggregate, AggregateOp, CompareOp, Filter, OrderBy, Query } from "./query.ts";
import type { Row, TableSchema } from "./schema.ts";
import type { Value } from "./value.ts";

/** The operators `where` accepts, with the operand each takes. */
export type WhereOp = CompareOp | "in" | "between" | "isNull" | "startsWith" | "contains";

/** The operand type of `where(column, op, operand)`. */
export type Operand<T, O extends WhereOp> = O extends "in" ? NonNullable<T>[]
  : O extends "between" ? [NonNullable<T>, NonNullable<T>]
  : O extends "isNull" ? undefined
  : O extends "startsWith" | "contains" ? string
  : NonNullable<T>;

/**
 * An aggregate spec: `{ op, column? }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { agg } from "@cyberdb/core";
 * assert.deepEqual(agg("mean", "score"), { op: "mean", column: "score" });
 * assert.deepEqual(agg("count"), { op: "count" });
 * ```
 */
export function agg(op: AggregateOp, column?: string): Aggregate {
  return column === undefined ? { op } : { op, column };
}

/**
 * Builds a {@linkcode Query} step by step; every step returns a new builder
 * (builders are immutable and can be reused as templates). `R` is the row
 * type of the result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QueryBuilder } from "@cyberdb/core";
 * const adults = new QueryBuilder().where("age", ">=", 18); // a template: builders never change
 * const q = adults.orderBy("age", "desc").limit(10).build();
 * assert.deepEqual(q, {
 *   where: { column: "age", op: ">=", value: 18 },
 *   orderBy: [{ column: "age", direction: "desc" }],
 *   limit: 10,
 * });
 * assert.deepEqual(adults.build(), { where: { column: "age", op: ">=", value: 18 } });
 * ```
 */
export class QueryBuilder<S extends TableSchema = TableSchema, R = Row<S>> {
  /** The query built so far. */
  protected readonly q: Query;

  /** Starts from an existing query (default: everything). */
  constructor(query: Query = {}) {
    this.q = query;
  }

  /** A builder of the same class over a changed query. */
  protected with<R2 = R>(change: Partial<Query>): this & QueryBuilder<S, R2> {
    const Ctor = this.constructor as new (q: Query, ...rest: unknown[]) => this;
    return this.derive(new Ctor({ ...this.q, ...change })) as this & QueryBuilder<S, R2>;
  }

  /** Lets subclasses carry their own state (e.g. the table) into derived builders. */
  protected derive(next: this): this {
    return next;
  }

  /** Adds a filter, AND-ed with the ones before. */
  where<C extends keyof Row<S> & string, O extends WhereOp>(
    column: C,
    op: O,
    ...operand: O extends "isNull" ? [] : [Operand<Row<S>[C], O>]
  ): this {
    const f = (op === "isNull" ? { column, op } : { column, op, value: operand[0] }) as Filter;
    return this.filter(f);
  }

  /** Adds a raw filter (`{ and | or | not }` trees), AND-ed with the ones before. */
  filter(f: Filter): this {
    const where: Filter = this.q.where === undefined
      ? f
      : "and" in this.q.where
      ? { and: [...this.q.where.and, f] }
      : { and: [this.q.where, f] };
    return this.with({ where });
  }

  /** Keeps only these columns. */
  select<C extends keyof Row<S> & string>(...columns: C[]): QueryBuilder<S, Pick<Row<S>, C>> & this {
    return this.with<Pick<Row<S>, C>>({ select: columns }) as QueryBuilder<S, Pick<Row<S>, C>> & this;
  }

  /** Adds a sort key (after the ones before). */
  orderBy(column: string, direction: "asc" | "desc" = "asc", nulls?: "first" | "last"): this {
    const o: OrderBy = nulls === undefined ? { column, direction } : { column, direction, nulls };
    return this.with({ orderBy: [...(this.q.orderBy ?? []), o] });
  }

  /** At most `n` results. */
  limit(n: number): this {
    return this.with({ limit: n });
  }

  /** Skips the first `n` results. */
  offset(n: number): this {
    return this.with({ offset: n });
  }

  /** Groups by these columns; follow with `agg(...)`. */
  groupBy<C extends keyof Row<S> & string>(...columns: C[]): this {
    return this.with({ groupBy: columns });
  }

  /** The aggregates: output name → `{ op, column? }` (see {@linkcode agg}). */
  aggregate<A extends Record<string, Aggregate>>(aggregates: A): QueryBuilder<S, Record<string, Value>> & this {
    return this.with<Record<string, Value>>({ aggregates }) as QueryBuilder<S, Record<string, Value>> & this;
  }

  /** The plain query object (what travels over the wire). */
  build(): Query {
    return { ...this.q };
  }
}

/**
 * A query builder bound to an embedded table: its terminal methods run the
 * query synchronously.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const t = db.createTable({ name: "p", columns: [
 *   { name: "id", type: "Int32", primaryKey: true }, { name: "age", type: "Int32" },
 * ] } as const);
 * t.insertMany([{ id: 1, age: 20 }, { id: 2, age: 40 }, { id: 3, age: 60 }]);
 * assert.deepEqual(t.where("age", ">", 30).select("id").toArray(), [{ id: 2 }, { id: 3 }]);
 * assert.deepEqual(t.where("age", ">", 30).orderBy("age", "desc").first(), { id: 3, age: 60 });
 * assert.equal(t.where("age", "between", [10, 30]).count(), 1);
 * ```
 */
export class TableQuery<S extends TableSchema = TableSchema, R = Row<S>> extends QueryBuilder<S, R> {
  #run: ((op: "query" | "first" | "count", q: Query) => unknown) | undefined;

  /** @internal Made by `Table.where()` and friends. */
  constructor(query: Query = {}, run?: (op: "query" | "first" | "count", q: Query) => unknown) {
    super(query);
    this.#run = run;
  }

  /** Carries the bound table into every derived builder. */
  protected override derive(next: this): this {
    next.#run = this.#run;
    return next;
  }

  #exec(op: "query" | "first" | "count", q: Query): unknown {
    if (this.#run === undefined) {
      throw new TypeError("This query is not bound to a table: pass build() to table.query()");
    }
    return this.#run(op, q);
  }

  /** The matching rows. */
  toArray(): R[] {
    return this.#exec("query", { ...this.q, format: "rows" }) as R[];
  }

  /** The matching rows as columns: `{ column: values[] }`. */
  columns(): { [K in keyof R]: R[K][] } {
    return this.#exec("query", { ...this.q, format: "columns" }) as { [K in keyof R]: R[K][] };
  }

  /** The first matching row, or undefined. */
  first(): R | undefined {
    return this.#exec("first", this.q) as R | undefined;
  }

  /** How many results the query has. */
  count(): number {
    const keys = Object.keys(this.q);
    if (keys.every((k) => k === "where")) return this.#exec("count", this.q) as number;
    return this.toArray().length;
  }
}
