/**
 * `@cyberdb/core/browser` — what a web app needs beyond `@cyberdb/core`
 * (DESIGN §10): `OpfsStorage`, durable storage in the Origin Private File
 * System for a database that lives in a dedicated Worker; `serveTabs` and
 * `connectTab`, so that every other tab (and the page itself) reaches that
 * worker's database with the usual `Client`; and `persistStorage`, which
 * asks the browser not to evict the data. docs/edge.md shows the whole
 * setup.
 *
 * @example
 * ```ts
 * // worker.ts — started by every tab: new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { OpfsStorage, serveTabs } from "@cyberdb/core/browser";
 * if (OpfsStorage.available()) { // a dedicated Worker
 *   // One tab's worker gets the directory; the others wait to take over when that tab closes.
 *   const db = await Database.open({ dir: "app", storage: new OpfsStorage({ lockTimeout: Infinity }) });
 *   const server = await serveTabs(db, "app");
 *   assert.equal(server.name, "app");
 * }
 * // page.ts — in every tab:
 * //   const client = await connectTab("app");
 * //   const todos = await client.getDict("todos");
 * ```
 *
 * @module
 */

export { OpfsStorage, type OpfsStorageOptions } from "./src/storage/opfs.ts";
export {
  connectTab,
  type ConnectTabOptions,
  serveTabs,
  type ServeTabsOptions,
  type TabServer,
} from "./src/browser/tabs.ts";
export { persistStorage } from "./src/browser/persist.ts";
