/**
 * The storage seam: the interface, its three implementations, and
 * {@linkcode defaultStorage}, which picks the right one for the runtime.
 * Every implementation reads runtime globals and imports `node:` modules
 * only inside its methods, so this module imports cleanly in a browser.
 *
 * @module
 */

import type { Storage } from "./types.ts";
import { DenoStorage } from "./deno.ts";
import { MemoryStorage } from "./memory.ts";
import { NodeStorage } from "./node.ts";

export type { Storage, StorageFile, StorageLock } from "./types.ts";
export { DenoStorage, MemoryStorage, NodeStorage };

/**
 * The Storage for this runtime: `DenoStorage` under Deno, `NodeStorage`
 * under Node and Bun, `MemoryStorage` anywhere else (browsers, workers).
 * Async so that a future implementation may be loaded on demand.
 *
 * @example
 * ```ts
 * import { defaultStorage } from "./mod.ts";
 * const storage = await defaultStorage();
 * console.log(storage.kind); // "deno", "node" or "memory"
 * ```
 */
export function defaultStorage(): Promise<Storage> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: Record<string, string | undefined> } };
  if (g.Deno !== undefined) return Promise.resolve(new DenoStorage());
  const versions = g.process?.versions;
  if (versions?.node || versions?.bun) return Promise.resolve(new NodeStorage());
  return Promise.resolve(new MemoryStorage());
}
