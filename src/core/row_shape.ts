/**
 * Building row objects fast. A row built key by key (`o[name] = v`) goes
 * through V8's megamorphic keyed stores, about 50 ns a cell; an object
 * literal with fixed keys is built in one step at a known shape, 5-8x
 * faster. So, where the runtime allows `new Function` (Deno, Bun, Node, and
 * browsers without a strict Content-Security-Policy), the builder of a
 * column list is generated once as an object literal; elsewhere (CSP,
 * Cloudflare Workers) the same builder is made from a template object.
 *
 * Safety: the generated source contains nothing but `JSON.stringify`ed
 * column names — schema-checked, well-formed strings other than
 * `"__proto__"` — which are exact JavaScript string literals. No value and
 * no other client input ever becomes source text.
 *
 * @module
 */

import type { StoredRow } from "./schema.ts";
import type { Value } from "./value.ts";

/** Builds `n` rows from parallel column arrays. */
export type RowsMaker = (cols: Value[][], n: number) => StoredRow[];

/** Anything with cell getters, such as a `Column`. */
export interface CellSource {
  /** The value of cell `i`. */
  get(i: number): Value;
  /** The value of cell `i`, copied where it is a shared object. */
  out(i: number): Value;
}

/** Builds the row of one slot from the columns. */
export type RowAt = (cols: readonly CellSource[], i: number) => StoredRow;

let codegen: boolean | null = null;
const cache = new Map<string, RowsMaker>();
const atCache = new Map<string, RowAt>();
const CACHE_MAX = 512;

/**
 * Whether `new Function` works here, found out on first use (not at module
 * load: workerd allows code generation while a module loads and refuses it
 * once requests are served, so only a check made while serving tells).
 */
function canGenerate(): boolean {
  if (codegen === null) {
    try {
      codegen = new Function("return 1")() === 1;
    } catch {
      codegen = false;
    }
  }
  return codegen;
}

/**
 * `make()` where code generation works, else `fallback()`; a refusal that
 * comes later than the first check (a runtime whose policy changed since)
 * turns code generation off for good instead of failing the read.
 */
function generating<T>(make: () => T, fallback: () => T): T {
  if (!canGenerate()) return fallback();
  try {
    return make();
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
    codegen = false;
    return fallback();
  }
}

function generated(names: readonly string[]): RowsMaker {
  const fields = names.map((name, c) => `${JSON.stringify(name)}: v${c}[j]`).join(", ");
  const locals = names.map((_, c) => `const v${c} = cols[${c}];`).join(" ");
  return new Function(
    "cols",
    "n",
    `${locals} const out = new Array(n); for (let j = 0; j < n; j++) out[j] = { ${fields} }; return out;`,
  ) as RowsMaker;
}

function templated(names: readonly string[]): RowsMaker {
  const template: StoredRow = {};
  for (const name of names) template[name] = null;
  const width = names.length;
  return (cols, n) => {
    const out: StoredRow[] = new Array(n);
    for (let j = 0; j < n; j++) {
      // Copies of one template share one shape; the stores then hit existing properties.
      const o = { ...template };
      for (let c = 0; c < width; c++) o[names[c]] = cols[c][j];
      out[j] = o;
    }
    return out;
  };
}

/**
 * The row builder for a list of column names (schema names only: never
 * `"__proto__"`, which an object literal would treat as the prototype).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowsMaker } from "./row_shape.ts";
 * assert.deepEqual(rowsMaker(["a", "b"])([[1, 2], ["x", "y"]], 2), [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
 * ```
 */
export function rowsMaker(names: readonly string[]): RowsMaker {
  const key = JSON.stringify(names);
  let maker = cache.get(key);
  if (maker === undefined) {
    maker = generating(() => generated(names), () => templated(names));
    // Select lists vary: keep the cache bounded.
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, maker);
  }
  return maker;
}

/**
 * The builder of one row from its columns' cells at a slot (schema names
 * only, as for {@linkcode rowsMaker}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowAt } from "./row_shape.ts";
 * const col = { get: (i: number) => i * 2, out: (i: number) => i * 2 };
 * assert.deepEqual(rowAt(["a"])([col], 4), { a: 8 });
 * ```
 */
export function rowAt(names: readonly string[], read: "get" | "out" = "get"): RowAt {
  const key = read + JSON.stringify(names);
  let maker = atCache.get(key);
  if (maker === undefined) {
    maker = generating(() => {
      const fields = names.map((name, c) => `${JSON.stringify(name)}: cols[${c}].${read}(i)`).join(", ");
      return new Function("cols", "i", `return { ${fields} };`) as RowAt;
    }, () => {
      const template: StoredRow = {};
      for (const name of names) template[name] = null;
      return (cols: readonly CellSource[], i: number) => {
        const o = { ...template };
        for (let c = 0; c < names.length; c++) o[names[c]] = cols[c][read](i);
        return o;
      };
    });
    if (atCache.size >= CACHE_MAX) atCache.clear();
    atCache.set(key, maker);
  }
  return maker;
}
