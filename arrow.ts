/**
 * `@cyberdb/core/arrow` — Arrow export of tables and query answers, kept
 * apart from `@cyberdb/core` so that the main entry point does not pull in
 * `apache-arrow`. The type mapping is documented on
 * {@linkcode toArrow}'s module (src/arrow/arrow.ts) and in docs/queries.md.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { toArrow, toArrowIPC } from "@cyberdb/core/arrow";
 * import { tableFromIPC } from "apache-arrow";
 * const db = await Database.open();
 * const people = db.createTable({ name: "people", columns: [
 *   { name: "id", type: "Int64", primaryKey: true },
 *   { name: "name", type: "Utf8" },
 *   { name: "score", type: "Float64" },
 * ] } as const);
 * people.insertMany([{ id: 1, name: "ada", score: 9.5 }, { id: 2, name: "bob", score: 7 }]);
 * const table = toArrow(people); // an apache-arrow Table
 * assert.equal(table.numRows, 2);
 * const bytes = toArrowIPC(people, { // IPC stream bytes of a query's answer
 *   groupBy: ["name"],
 *   aggregates: { mean: { op: "mean", column: "score" } },
 * });
 * assert.deepEqual(tableFromIPC(bytes).getChild("mean")?.toArray(), new Float64Array([9.5, 7]));
 * ```
 *
 * @module
 */

export { type ArrowOptions, fromArrowJson, toArrow, toArrowIPC } from "./src/arrow/arrow.ts";
