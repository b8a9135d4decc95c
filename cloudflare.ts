/**
 * `@cyberdb/core/cloudflare` — CyberDB on Cloudflare (DESIGN §10): one
 * database per Durable Object, placed, persisted and routed by Cloudflare.
 *
 * - {@linkcode CyberDBObject}: the Durable Object. It opens its database on
 *   the object's SQLite storage ({@linkcode DurableObjectStorage}) inside
 *   `blockConcurrencyWhile`, serves the server's app over HTTP and over
 *   hibernating WebSockets, and snapshots from the object's alarm.
 * - {@linkcode createWorker}: the Worker routing `/db/<name>/…` to the object
 *   for `<name>`, with the server's password rules.
 * - {@linkcode DurableObjectStorage}: the Storage adapter alone, for a
 *   Durable Object of your own.
 *
 * The client is unchanged: `connect("wss://HOST/db/<name>", { password })`.
 * Nothing here loads a `node:` module: the Worker needs no `nodejs_compat`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CyberDBObject, createWorker } from "@cyberdb/core/cloudflare";
 * // The Worker's main module (wrangler.jsonc "main"), all it takes:
 * //   export { CyberDBObject } from "@cyberdb/core/cloudflare";
 * //   export default createWorker();
 * // and in wrangler.jsonc: a durable_objects binding CYBERDB → CyberDBObject,
 * // and a migration with new_sqlite_classes: ["CyberDBObject"].
 * assert.equal(typeof CyberDBObject, "function");
 * assert.equal(typeof createWorker().fetch, "function");
 * ```
 *
 * @module
 */

export {
  CF_MAX_FRAME_BYTES,
  CF_MAX_OUTPUT_BYTES,
  CF_MAX_REQUEST_BYTES,
  type CyberDBEnv,
  CyberDBObject,
  type CyberDBObjectConfig,
  type CyberDBState,
  objectConfig,
} from "./src/cloudflare/object.ts";
export { createWorker, type ObjectNamespace, type WorkerHandler, type WorkerOptions } from "./src/cloudflare/worker.ts";
export { AlarmScheduler, type AlarmStorage } from "./src/cloudflare/alarm_scheduler.ts";
export { type HibernatableWebSocket, type SocketState } from "./src/cloudflare/sockets.ts";
export {
  CHUNK_BYTES,
  DurableObjectStorage,
  type DurableObjectStorageLike,
  type SqlCursorLike,
  type SqlStorageLike,
  type SqlValue,
} from "./src/storage/durable_object.ts";
