/**
 * `@cyberdb/core/storage` — the storage adapters a database can be opened
 * on (DESIGN §10): `DenoStorage` (Deno), `NodeStorage` (Node and Bun, and
 * Deno through `node:fs`), `DenoKvStorage` (Deno KV, e.g. on Deno Deploy;
 * single writer under a lease), `MemoryStorage` (memory only, with crash and
 * fault simulation), `OpfsStorage` (a browser's dedicated Worker),
 * `DurableObjectStorage` (a Cloudflare Durable Object's SQLite storage; see
 * `@cyberdb/core/cloudflare` for the ready object), the `Storage` interface
 * every one implements (one
 * conformance suite, `tests/storage_test.ts`), and `defaultStorage()`,
 * the one `Database.open({ dir })` picks — and the `Scheduler` seam with
 * `systemScheduler()`, the timers of the background work (fsync and snapshot
 * intervals, retries). Every module here reads runtime globals and loads
 * `node:` modules only inside its methods.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * // A browser page or a worker has no durable default: say memory on purpose.
 * const storage = new MemoryStorage();
 * const db = await Database.open({ dir: "app", storage });
 * db.createDict("d").set("k", 1);
 * await db.close();
 * const again = await Database.open({ dir: "app", storage }); // the same storage, reopened
 * assert.equal(again.getDict("d").get("k"), 1);
 * await again.close();
 * ```
 *
 * @module
 */

export {
  type CreateOptions,
  defaultStorage,
  type DefaultStorageOptions,
  type DenoKvKey,
  type DenoKvLike,
  DenoKvStorage,
  type DenoKvStorageOptions,
  DenoStorage,
  DurableObjectStorage,
  type DurableObjectStorageLike,
  type HostGlobals,
  type MemoryFault,
  MemoryStorage,
  NodeStorage,
  OpfsStorage,
  type OpfsStorageOptions,
  type Scheduler,
  type SqlCursorLike,
  type SqlStorageLike,
  type SqlValue,
  type Storage,
  type StorageFile,
  type StorageHost,
  storageHost,
  type StorageLock,
  systemScheduler,
} from "./src/storage/mod.ts";
