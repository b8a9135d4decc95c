/**
 * The storage seam: the interface, its three implementations, and
 * {@linkcode defaultStorage}, which picks the right one for the runtime.
 * Every implementation reads runtime globals and imports `node:` modules
 * only inside its methods, so this module imports cleanly in a browser.
 *
 * @module
 */

import { DenoStorage } from "./deno.ts";
import { type DenoKvKey, type DenoKvLike, DenoKvStorage, type DenoKvStorageOptions } from "./deno_kv.ts";
import { MemoryStorage } from "./memory.ts";
import { NodeStorage } from "./node.ts";
import { OpfsStorage } from "./opfs.ts";
import { DurableObjectStorage } from "./durable_object.ts";

export type { CreateOptions, Storage, StorageFile, StorageLock } from "./types.ts";
export { type Scheduler, systemScheduler } from "./scheduler.ts";
export {
  type DenoKvKey,
  type DenoKvLike,
  DenoKvStorage,
  type DenoKvStorageOptions,
  DenoStorage,
  DurableObjectStorage,
  MemoryStorage,
  NodeStorage,
  OpfsStorage,
};
export type { DurableObjectStorageLike, SqlCursorLike, SqlStorageLike, SqlValue } from "./durable_object.ts";
export type { MemoryFault } from "./memory.ts";
export type { OpfsStorageOptions } from "./opfs.ts";
export {
  defaultStorage,
  type DefaultStorageOptions,
  type HostGlobals,
  type StorageHost,
  storageHost,
} from "./default.ts";
