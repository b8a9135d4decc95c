/**
 * Live table queries (`table.watch(query)`, DESIGN §9): from a table's
 * change feed, the rows entering, changing in and leaving a `where`
 * filter. Pure; shared by the embedded table and the remote client, which
 * feed it the same changes.
 *
 * ```
 *   change            matched before   matches after   event
 *   upsert key row         no               yes         enter  { key, row }
 *   upsert key row         yes              yes         change { key, row }
 *   upsert key row         yes              no          leave  { key, row }   (the row now)
 *   delete key             yes              -           leave  { key }
 *   drop (the table)       every key        -           leave  { key } each, then the watch ends
 * ```
 *
 * It remembers the keys that match (O(matching rows)), not the rows.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";
import type { Change } from "./change.ts";
import { compileQuery, type Filter, type FilterNode } from "./query.ts";
import type { CompiledSchema } from "./schema.ts";
import { quote, type Value } from "./value.ts";

/** What `table.watch(query)` takes: a filter, as in `table.query({ where })`. */
export interface WatchQuery {
  /** Rows must match this filter (default: every row). */
  where?: Filter;
}

/** One row entering, changing in or leaving a live query (`R`: the row type). */
export interface QueryChange<R = Record<string, Value>> {
  /** The LSN of the commit (for the first batch, the LSN the query was read at). */
  lsn: number;
  /** `"enter"`: the row matches now and did not; `"change"`: it matched and still does; `"leave"`: it no longer matches. */
  type: "enter" | "change" | "leave";
  /** The row's primary key. */
  key: string | number;
  /** The row after the write; for `"leave"`, the row now when it still exists (left out when deleted). */
  row?: R;
}

/** A row predicate from a checked filter (null cells match only `isNull`). */
function predicate(node: FilterNode, names: readonly string[]): (row: Record<string, Value>) => boolean {
  switch (node.kind) {
    case "and": {
      const ps = node.list.map((n) => predicate(n, names));
      return (r) => ps.every((p) => p(r));
    }
    case "or": {
      const ps = node.list.map((n) => predicate(n, names));
      return (r) => ps.some((p) => p(r));
    }
    case "not": {
      const p = predicate(node.filter, names);
      return (r) => !p(r);
    }
    case "isNull": {
      const name = names[node.column];
      return (r) => r[name] === null || r[name] === undefined;
    }
    case "leaf": {
      const name = names[node.column];
      const test = node.test;
      return (r) => {
        const v = r[name];
        return v !== null && v !== undefined && test(v);
      };
    }
  }
}

/**
 * Checks the query of `table.watch` against `schema`: only `where` is
 * allowed (a live query has no order or limit to keep).
 */
export function checkWatchQuery(schema: CompiledSchema, query: unknown): (row: Record<string, Value>) => boolean {
  if (query === undefined || query === null) return () => true;
  if (typeof query !== "object" || Array.isArray(query)) {
    throw new ValidationError(`Watch query ${quote(query)} is not an object: pass { where } or leave it out`);
  }
  for (const k of Object.keys(query)) {
    if (k !== "where") {
      throw new ValidationError(
        `Watch query option ${
          quote(k)
        } is not supported: a live query takes { where } only (sort and limit the rows it holds yourself)`,
      );
    }
  }
  const where = (query as WatchQuery).where;
  if (where === undefined) return () => true;
  const plan = compileQuery(schema, { where });
  return plan.filter === null ? () => true : predicate(plan.filter, schema.names);
}

/**
 * The state of one live query: the keys matching now.
 *
 * @example
 * ```ts
 * import { compileSchema } from "./schema.ts";
 * import { LiveQuery } from "./live_query.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "n", type: "Int32" }] });
 * const q = new LiveQuery(s, { where: { column: "n", op: ">", value: 1 } });
 * q.start(1, [{ id: 1, n: 5 }]); // [{ lsn: 1, type: "enter", key: 1, row: { id: 1, n: 5 } }]
 * q.apply([{ lsn: 2, collection: "t", kind: "table", type: "upsert", key: 1, row: { id: 1, n: 0 } }]).events;
 * // [{ lsn: 2, type: "leave", key: 1, row: { id: 1, n: 0 } }]
 * ```
 */
export class LiveQuery {
  #table: string;
  #pk: string;
  #match: (row: Record<string, Value>) => boolean;
  #keys = new Set<string | number>();

  /** A live query over `schema`'s table; bad queries → `ValidationError`. */
  constructor(schema: CompiledSchema, query: unknown) {
    this.#table = schema.def.name;
    this.#pk = schema.names[schema.pk];
    this.#match = checkWatchQuery(schema, query);
  }

  /** The first batch: every row matching now (`rows` are the table's rows at `lsn`), as enters. */
  start(lsn: number, rows: Iterable<Record<string, Value>>): QueryChange[] {
    const out: QueryChange[] = [];
    for (const row of rows) {
      if (!this.#match(row)) continue;
      const key = row[this.#pk] as string | number;
      this.#keys.add(key);
      out.push({ lsn, type: "enter", key, row });
    }
    return out;
  }

  /** The events of one batch of the table's changes; `ended` once the table was dropped. */
  apply(changes: readonly Change[]): { events: QueryChange[]; ended: boolean } {
    const events: QueryChange[] = [];
    for (const c of changes) {
      if (c.collection !== this.#table) continue;
      if (c.kind === "table") {
        const had = this.#keys.has(c.key);
        if (c.type === "delete") {
          if (had) {
            this.#keys.delete(c.key);
            events.push({ lsn: c.lsn, type: "leave", key: c.key });
          }
        } else if (this.#match(c.row)) {
          this.#keys.add(c.key);
          events.push({ lsn: c.lsn, type: had ? "change" : "enter", key: c.key, row: c.row });
        } else if (had) {
          this.#keys.delete(c.key);
          events.push({ lsn: c.lsn, type: "leave", key: c.key, row: c.row });
        }
      } else if (c.kind === "db" && c.type === "drop") {
        for (const key of this.#keys) events.push({ lsn: c.lsn, type: "leave", key });
        this.#keys.clear();
        return { events, ended: true };
      }
    }
    return { events, ended: false };
  }
}

/**
 * The batches of a live query: first the rows matching at `lsn` (all
 * `enter`, possibly none), then the events of each batch of the table's
 * changes from `source` (batches without events are skipped); it ends
 * after the table is dropped, or when `source` ends. Stopping it stops
 * `source`.
 *
 * @example
 * ```ts
 * import { compileSchema } from "./schema.ts";
 * import { LiveQuery, liveQueryBatches } from "./live_query.ts";
 * import type { Change } from "./change.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * async function* changes(): AsyncGenerator<Change[]> {
 *   yield [{ lsn: 2, collection: "t", kind: "table", type: "delete", key: 1 }];
 * }
 * const batches = liveQueryBatches(new LiveQuery(s, {}), 1, [{ id: 1 }], changes());
 * for await (const batch of batches) console.log(batch); // enter 1, then leave 1
 * ```
 */
export async function* liveQueryBatches<R = Record<string, Value>>(
  live: LiveQuery,
  lsn: number,
  rows: Iterable<Record<string, Value>>,
  source: AsyncIterator<Change[]>,
): AsyncGenerator<QueryChange<R>[], void, undefined> {
  try {
    yield live.start(lsn, rows) as QueryChange<R>[];
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      const { events, ended } = live.apply(next.value);
      if (events.length > 0) yield events as QueryChange<R>[];
      if (ended) return;
    }
  } finally {
    await source.return?.();
  }
}
