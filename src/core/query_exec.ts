/**
 * Runs a checked query plan over a table's columns.
 *
 * Everything works on slot numbers, not row objects: a filter becomes a
 * predicate over a slot that reads typed arrays (or compares dictionary
 * codes through a table computed once per query), grouping assigns each
 * matching slot a group number, each aggregate is one tight loop over a
 * column, sorting compares typed values (or precomputed string ranks), and
 * only the rows of the answer are ever materialised.
 *
 * ```
 *  slots (index or scan) ─► predicate(slot) ─► matching slots (ascending)
 *     grouped:    group ids ─► one loop per aggregate ─► rows ─► order/limit
 *     otherwise:  top-k heap or sort (ties by slot) ─► offset/limit ─► project
 * ```
 *
 * @module
 */

import { Batches } from "./batches.ts";
import type { Column } from "./column.ts";
import type { ColumnStore } from "./column_store.ts";
import { canon, type Columns, type FilterNode, keyOf, type OrderBy, type Plan } from "./query.ts";
import type { CompiledSchema, StoredRow } from "./schema.ts";
import { rowsMaker } from "./row_shape.ts";
import { cloneOut, compareValues, type Value } from "./value.ts";

/** A test of one slot. */
type SlotPred = (i: number) => boolean;
type Numeric = Float64Array | Int32Array | Uint8Array;

/**
 * Scratch slot arrays, reused from query to query. A 1M-row scan needs
 * megabytes of slot numbers; allocated afresh each time, they come from
 * new pages (mmap, then page faults) — 10-40 ms on Deno right after a GC.
 * Queries are synchronous and never nested, and no scratch array outlives
 * the query that filled it (answers are built from it, never it).
 */
const pool: Int32Array[] = [new Int32Array(0), new Int32Array(0)];
let ones = new Uint8Array(0);

/** Scratch buffer `which` (0: matching slots, 1: group numbers) of `n` cells, contents undefined. */
function scratch(which: 0 | 1, n: number): Int32Array {
  if (pool[which].length < n) pool[which] = new Int32Array(Math.max(n, Math.floor(pool[which].length * 1.5)));
  return pool[which].subarray(0, n);
}

/** A validity bitmap of all ones covering `n` slots (for columns that have none). */
function allValid(n: number): Uint8Array {
  const bytes = (n + 7) >> 3;
  if (ones.length < bytes) ones = new Uint8Array(Math.max(bytes, Math.floor(ones.length * 1.5))).fill(255);
  return ones;
}

/** The operators `fastScan` runs as a loop, by position. */
const ORDER_OPS = [">", ">=", "<", "<=", "="];

/** Numeric order with NaN after every number, as `compareValues` has it. */
function ncmp(x: number, y: number): number {
  if (x === x && y === y) return x < y ? -1 : x > y ? 1 : 0;
  return x === x ? -1 : y === y ? 1 : 0;
}

/** The numeric form a typed column stores for a (non-null) operand. */
function numeric(col: Column, v: Value): number {
  return col.kind === "date" ? (v as Date).getTime() : col.kind === "bool" ? (v ? 1 : 0) : (v as number);
}

/** A predicate over the typed cells of a num/date/bool column, nulls aside. */
function numericPred(col: Column, op: string, values: Value[]): SlotPred | null {
  const d = col.data as Numeric;
  const n = values.map((v) => numeric(col, v));
  const v = n[0];
  switch (op) {
    case "=":
      return v !== v ? (i) => d[i] !== d[i] : (i) => d[i] === v;
    case "!=":
      return v !== v ? (i) => d[i] === d[i] : (i) => d[i] !== v;
    case "<":
      return (i) => d[i] < v;
    case "<=":
      return (i) => d[i] <= v;
    case ">":
      return (i) => d[i] > v;
    case ">=":
      return (i) => d[i] >= v;
    case "between": {
      const hi = n[1];
      return (i) => ncmp(d[i], v) >= 0 && ncmp(d[i], hi) <= 0;
    }
    case "in": {
      // SameValueZero: NaN finds NaN and -0 finds 0, as eqKey has it.
      const set = new Set(n);
      return (i) => set.has(d[i]);
    }
  }
  return null;
}

/** Binds a checked filter to the store's current columns. */
function bindFilter(store: ColumnStore, f: FilterNode): SlotPred {
  switch (f.kind) {
    case "and":
    case "or": {
      const ps = f.list.map((x) => bindFilter(store, x));
      if (ps.length === 1) return ps[0];
      if (ps.length === 2) {
        const [a, b] = ps;
        return f.kind === "and" ? (i) => a(i) && b(i) : (i) => a(i) || b(i);
      }
      return f.kind === "and" ? (i) => ps.every((p) => p(i)) : (i) => ps.some((p) => p(i));
    }
    case "not": {
      const p = bindFilter(store, f.filter);
      return (i) => !p(i);
    }
    case "isNull": {
      const col = store.columns[f.column];
      return (i) => !col.has(i);
    }
  }
  const col = store.columns[f.column];
  let p: SlotPred;
  if (col.kind === "dict") {
    // Each distinct string is tested once; a row then costs one array read.
    const dict = col.dict!;
    const ok = new Uint8Array(dict.length);
    for (let c = 0; c < dict.length; c++) ok[c] = f.test(dict[c]) ? 1 : 0;
    const codes = col.data as Int32Array;
    p = (i) => ok[codes[i]] === 1;
  } else if (col.kind === "num" || col.kind === "date" || col.kind === "bool") {
    p = numericPred(col, f.op, f.values) ?? ((i) => f.test(col.get(i)));
  } else {
    const data = col.data as Value[];
    const test = f.test;
    p = (i) => test(data[i] as Value);
  }
  const valid = col.valid;
  if (valid === null) return p;
  return (i) => (valid[i >> 3] & (1 << (i & 7))) !== 0 && p(i);
}

/**
 * The matching slots in ascending order: from `slots` (an index's answer)
 * or every live slot, stopping after `stopAt` matches.
 */
function select(store: ColumnStore, plan: Plan, slots: Int32Array | null, stopAt = Infinity): Int32Array {
  if (slots !== null) {
    const pred = plan.filter === null ? null : bindFilter(store, plan.filter);
    if (pred === null && stopAt >= slots.length) return slots;
    const out: number[] = [];
    for (let j = 0; j < slots.length && out.length < stopAt; j++) {
      if (pred === null || pred(slots[j])) out.push(slots[j]);
    }
    return Int32Array.from(out);
  }
  const live = store.live;
  const n = store.length;
  const cap = Math.min(store.size, stopAt);
  const out = scratch(0, cap + 1);
  let k = fastScan(store, plan.filter, out, cap);
  if (k === -1) {
    const pred = plan.filter === null ? null : bindFilter(store, plan.filter);
    k = 0;
    for (let i = 0; i < n && k < cap; i++) {
      if (live[i] === 1 && (pred === null || pred(i))) out[k++] = i;
    }
  }
  return out.subarray(0, k);
}

/**
 * The commonest filter — one comparison on a typed or dictionary column —
 * as a loop with no call per row: fills `out` and returns the count, or -1
 * when the filter has another shape.
 */
function fastScan(store: ColumnStore, f: FilterNode | null, out: Int32Array, cap: number): number {
  if (f === null || f.kind !== "leaf") return -1;
  const col = store.columns[f.column];
  const live = store.live;
  const n = store.length;
  const valid = col.valid;
  let k = 0;
  if (col.kind === "dict") {
    const dict = col.dict!;
    const ok = new Uint8Array(dict.length);
    for (let c = 0; c < dict.length; c++) ok[c] = f.test(dict[c]) ? 1 : 0;
    const codes = col.data as Int32Array;
    if (cap < store.size) {
      for (let i = 0; i < n && k < cap; i++) {
        if (live[i] === 1 && ok[codes[i]] === 1 && (valid === null || (valid[i >> 3] & (1 << (i & 7))) !== 0)) {
          out[k++] = i;
        }
      }
      return k;
    }
    const bits = valid ?? allValid(n);
    for (let i = 0; i < n; i++) {
      out[k] = i;
      k += ok[codes[i]] & live[i] & (bits[i >> 3] >> (i & 7));
    }
    return k;
  }
  if (col.kind !== "num" && col.kind !== "date" && col.kind !== "bool") return -1;
  const d = col.data as Numeric;
  const op = ORDER_OPS.indexOf(f.op);
  if (op === -1) return -1;
  const v = numeric(col, f.values[0]);
  if (v !== v) return -1;
  if (cap < store.size) {
    // A limit: stop at the cap (the early exit beats branch-free counting).
    for (let i = 0; i < n && k < cap; i++) {
      const x = d[i];
      const hit = op === 0 ? x > v : op === 1 ? x >= v : op === 2 ? x < v : op === 3 ? x <= v : x === v;
      if (hit && live[i] === 1 && (valid === null || (valid[i >> 3] & (1 << (i & 7))) !== 0)) out[k++] = i;
    }
    return k;
  }
  // Branch-free: always store the slot, advance only on a match. Random
  // data defeats the branch predictor; this loop does not care (3-4x faster).
  // `out` has one spare cell for the last unconditional store.
  const bits = valid ?? allValid(n);
  for (let i = 0; i < n; i++) {
    const x = d[i];
    const hit = op === 0 ? x > v : op === 1 ? x >= v : op === 2 ? x < v : op === 3 ? x <= v : x === v;
    out[k] = i;
    k += (hit as unknown as number) & live[i] & (bits[i >> 3] >> (i & 7));
  }
  return k;
}

/**
 * How many rows match the plan's filter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSchema } from "./schema.ts";
 * import { ColumnStore } from "./column_store.ts";
 * import { compileQuery } from "./query.ts";
 * import { countMatches } from "./query_exec.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * const store = new ColumnStore(s);
 * for (const id of [1, 2, 3]) store.set(id, { id }, null);
 * assert.equal(countMatches(store, compileQuery(s, { where: { column: "id", op: ">", value: 1 } }), null), 2);
 * ```
 */
export function countMatches(store: ColumnStore, plan: Plan, slots: Int32Array | null): number {
  return select(store, plan, slots).length;
}

/** A comparator of two slots by one or more order keys, ties by slot (scan order). */
function slotComparator(store: ColumnStore, s: CompiledSchema, order: OrderBy[]): (a: number, b: number) => number {
  const keys = order.map((o) => {
    const col = store.columns[s.names.indexOf(o.column)];
    const desc = o.direction === "desc";
    const nullsFirst = o.nulls ? o.nulls === "first" : desc;
    let cmp: (a: number, b: number) => number;
    if (col.kind === "dict") {
      // Strings ranked once; rows then compare integers.
      const dict = col.dict!;
      const byString = Array.from(dict.keys()).sort((x, y) => compareValues(dict[x], dict[y]));
      const rank = new Int32Array(dict.length);
      byString.forEach((code, r) => (rank[code] = r));
      const codes = col.data as Int32Array;
      cmp = (a, b) => rank[codes[a]] - rank[codes[b]];
    } else if (col.kind === "num" || col.kind === "date" || col.kind === "bool") {
      const d = col.data as Numeric;
      cmp = (a, b) => ncmp(d[a], d[b]);
    } else cmp = (a, b) => compareValues(col.get(a), col.get(b));
    return { col, desc, nullsFirst, cmp };
  });
  return (a, b) => {
    for (const k of keys) {
      const na = !k.col.has(a);
      const nb = !k.col.has(b);
      if (na || nb) {
        if (na && nb) continue;
        return na === k.nullsFirst ? -1 : 1;
      }
      const c = k.cmp(a, b);
      if (c !== 0) return k.desc ? -c : c;
    }
    return a - b;
  };
}

/** The `k` first slots of `sel` in `cmp` order, in O(n log k): a max-heap of the best so far. */
function topK(sel: Int32Array, cmp: (a: number, b: number) => number, k: number): Int32Array {
  if (k === 0) return new Int32Array(0);
  if (k >= sel.length) return sel.slice().sort(cmp);
  const heap = new Int32Array(k);
  let size = 0;
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < size && cmp(heap[l], heap[top]) > 0) top = l;
      if (r < size && cmp(heap[r], heap[top]) > 0) top = r;
      if (top === i) return;
      const t = heap[i];
      heap[i] = heap[top];
      heap[top] = t;
      i = top;
    }
  };
  for (let j = 0; j < sel.length; j++) {
    const slot = sel[j];
    if (size < k) {
      heap[size] = slot;
      for (let i = size++; i > 0;) {
        const parent = (i - 1) >> 1;
        if (cmp(heap[i], heap[parent]) <= 0) break;
        const t = heap[i];
        heap[i] = heap[parent];
        heap[parent] = t;
        i = parent;
      }
    } else if (cmp(slot, heap[0]) < 0) {
      heap[0] = slot;
      down(0);
    }
  }
  return heap.sort(cmp);
}

/** Group numbers for the matching slots, in first-seen order, and each group's key cells. */
function groupIds(
  store: ColumnStore,
  s: CompiledSchema,
  sel: Int32Array,
  groupBy: string[],
): { gid: Int32Array; keys: StoredRow[] } {
  const gid = scratch(1, sel.length);
  const keys: StoredRow[] = [];
  const cols = groupBy.map((c) => store.columns[s.names.indexOf(c)]);
  const keyRow = (slot: number) => {
    const row: StoredRow = {};
    for (let c = 0; c < cols.length; c++) row[groupBy[c]] = cols[c].get(slot);
    return row;
  };
  if (cols.length === 0) {
    gid.fill(0);
    keys.push({});
    return { gid, keys };
  }
  const one = cols.length === 1 ? cols[0] : null;
  if (one !== null && one.kind === "dict") {
    // Dictionary codes are group numbers already, but keep first-seen order.
    const codes = one.data as Int32Array;
    const nullCode = one.dict!.length;
    const byCode = new Int32Array(nullCode + 1).fill(-1);
    for (let j = 0; j < sel.length; j++) {
      const slot = sel[j];
      const code = one.has(slot) ? codes[slot] : nullCode;
      let g = byCode[code];
      if (g === -1) {
        g = byCode[code] = keys.length;
        keys.push(keyRow(slot));
      }
      gid[j] = g;
    }
    return { gid, keys };
  }
  const map = new Map<unknown, number>();
  const typed = one !== null && (one.kind === "num" || one.kind === "date" || one.kind === "bool")
    ? one.data as Numeric
    : null;
  for (let j = 0; j < sel.length; j++) {
    const slot = sel[j];
    // Typed cells are their own Map keys (SameValueZero, like keyOf); nulls get their own.
    const k = one !== null
      ? (!one.has(slot) ? null : typed !== null ? typed[slot] : keyOf(one.get(slot)))
      : cols.map((c) => canon(c.get(slot))).join("|");
    let g = map.get(k);
    if (g === undefined) {
      g = keys.length;
      map.set(k, g);
      keys.push(keyRow(slot));
    }
    gid[j] = g;
  }
  return { gid, keys };
}

/** One aggregate's value per group. */
function aggregateColumn(col: Column | null, op: string, sel: Int32Array, gid: Int32Array, groups: number): Value[] {
  const n = new Float64Array(groups);
  if (col === null) {
    for (let j = 0; j < sel.length; j++) n[gid[j]]++;
    return Array.from(n);
  }
  const out: Value[] = new Array(groups).fill(null);
  if (col.kind === "num" && op !== "countDistinct") {
    const d = col.data as Numeric;
    const valid = col.valid;
    const acc = new Float64Array(groups);
    for (let j = 0; j < sel.length; j++) {
      const i = sel[j];
      if (valid !== null && (valid[i >> 3] & (1 << (i & 7))) === 0) continue;
      const g = gid[j];
      const v = d[i];
      if (op === "sum" || op === "mean") acc[g] += v;
      // min/max as compareValues orders numbers: NaN after every number.
      else if (op === "min") {
        if (n[g] === 0 || v < acc[g] || (acc[g] !== acc[g] && v === v)) acc[g] = v;
      } else if (op === "max") {
        if (n[g] === 0 || v > acc[g] || (v !== v && acc[g] === acc[g])) acc[g] = v;
      }
      n[g]++;
    }
    for (let g = 0; g < groups; g++) {
      out[g] = op === "count"
        ? n[g]
        : op === "sum"
        ? acc[g]
        : n[g] === 0
        ? null
        : op === "mean"
        ? acc[g] / n[g]
        : acc[g];
    }
    return out;
  }
  const distinct = op === "countDistinct" ? Array.from({ length: groups }, () => new Set<unknown>()) : null;
  const sum = new Float64Array(groups);
  for (let j = 0; j < sel.length; j++) {
    const i = sel[j];
    if (!col.has(i)) continue;
    const g = gid[j];
    n[g]++;
    if (op === "count") continue;
    const v = col.get(i);
    if (distinct !== null) distinct[g].add(keyOf(v));
    else if (op === "sum" || op === "mean") sum[g] += v as number;
    else if (
      op === "min" ? out[g] === null || compareValues(v, out[g]) < 0 : out[g] === null || compareValues(v, out[g]) > 0
    ) {
      out[g] = v;
    }
  }
  for (let g = 0; g < groups; g++) {
    if (op === "count") out[g] = n[g];
    else if (distinct !== null) out[g] = distinct[g].size;
    else if (op === "sum") out[g] = sum[g];
    else if (op === "mean") out[g] = n[g] === 0 ? null : sum[g] / n[g];
  }
  return out;
}

function rowComparator(order: OrderBy[]): (a: StoredRow, b: StoredRow) => number {
  return (a, b) => {
    for (const o of order) {
      const x = a[o.column];
      const y = b[o.column];
      const desc = o.direction === "desc";
      const nullsFirst = o.nulls ? o.nulls === "first" : desc;
      if (x === null || y === null) {
        if (x === y) continue;
        return (x === null) === nullsFirst ? -1 : 1;
      }
      const c = typeof x === "number" && typeof y === "number" ? ncmp(x, y) : compareValues(x, y);
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  };
}

/** A grouped query's output rows, ordered, before offset/limit. */
function grouped(store: ColumnStore, s: CompiledSchema, plan: Plan, slots: Int32Array | null): StoredRow[] {
  const q = plan.query;
  const groupBy = q.groupBy ?? [];
  const sel = select(store, plan, slots);
  const { gid, keys } = groupIds(store, s, sel, groupBy);
  // No groupBy and no rows: still one row of empty aggregates.
  const groups = groupBy.length === 0 ? 1 : keys.length;
  const rows = keys.slice(0, groups);
  for (const [alias, a] of Object.entries(q.aggregates!)) {
    const col = a.column === undefined ? null : store.columns[s.names.indexOf(a.column)];
    const vals = aggregateColumn(col, a.column === undefined ? "count" : a.op, sel, gid, groups);
    for (let g = 0; g < groups; g++) rows[g][alias] = vals[g];
  }
  if (q.orderBy !== undefined && q.orderBy.length > 0) rows.sort(rowComparator(q.orderBy));
  return rows;
}

/**
 * Runs a checked plan over the store — over `slots` (ascending, from an
 * index) or every row — and returns copies, as rows or columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSchema } from "./schema.ts";
 * import { ColumnStore } from "./column_store.ts";
 * import { compileQuery } from "./query.ts";
 * import { runQuery } from "./query_exec.ts";
 * const s = compileSchema({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * const store = new ColumnStore(s);
 * store.set(1, { id: 1 }, null);
 * assert.deepEqual(runQuery(store, s, compileQuery(s, { limit: 1 }), null), [{ id: 1 }]);
 * ```
 */
export function runQuery(
  store: ColumnStore,
  s: CompiledSchema,
  plan: Plan,
  slots: Int32Array | null,
  lazy = false,
): StoredRow[] | Columns | Batches {
  const q = plan.query;
  const from = q.offset ?? 0;
  const to = q.limit === undefined ? Infinity : from + q.limit;
  if (q.groupBy !== undefined || q.aggregates !== undefined) {
    let rows = grouped(store, s, plan, slots);
    if (q.offset !== undefined || q.limit !== undefined) rows = rows.slice(from, to);
    const names = [...(q.groupBy ?? []), ...Object.keys(q.aggregates!)];
    // Group keys and min/max may be stored objects: copy every cell out.
    if (q.format === "columns") {
      const cols: Columns = {};
      for (const c of names) cols[c] = rows.map((r) => cloneOut(r[c]));
      return cols;
    }
    return rows.map((r) => {
      const o: StoredRow = {};
      for (const c of names) o[c] = cloneOut(r[c]);
      return o;
    });
  }
  const ordered = q.orderBy !== undefined && q.orderBy.length > 0;
  let sel: Int32Array;
  if (!ordered) sel = select(store, plan, slots, to);
  else {
    const cmp = slotComparator(store, s, q.orderBy!);
    const all = select(store, plan, slots);
    sel = to < all.length ? topK(all, cmp, to) : all.slice().sort(cmp);
  }
  if (from > 0 || to < sel.length) sel = sel.subarray(Math.min(from, sel.length), Math.min(to, sel.length));
  const names = q.select ?? s.names;
  // Column by column (one typed loop each), then rows from the columns.
  // Binary and Json cells are shared with the store, so they are copied.
  const vals = names.map((c) => store.columns[s.names.indexOf(c)].values(sel, cloneOut));
  if (q.format === "columns") {
    const out: Columns = {};
    names.forEach((name, c) => (out[name] = vals[c]));
    return out;
  }
  const make = rowsMaker(names);
  // Streamed: keep the columns (a few bytes a cell) and make row objects per batch.
  if (lazy) return new Batches(sel.length, (a, b) => make(vals.map((v) => v.slice(a, b)), b - a));
  return make(vals, sel.length);
}
