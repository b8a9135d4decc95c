/**
 * `persistStorage()`: asking the browser not to evict this origin's storage.
 *
 * @module
 */

interface StorageManagerLike {
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
}

/**
 * Asks the browser to keep this origin's storage (OPFS, IndexedDB, …) under
 * storage pressure instead of evicting it, and resolves with whether it is
 * persistent now. Without it, "best effort" storage may be cleared when the
 * disk runs low (Chromium evicts least recently used origins first; Safari
 * may clear script-writable storage of sites not used for 7 days).
 *
 * Call it from a page (`navigator.storage.persist()` exists only there),
 * best after the user did something with the app: Chromium grants it by
 * engagement (installed app, bookmarked, notifications allowed) without a
 * prompt, Firefox asks the user, and a denied request resolves `false` —
 * the data is then still there, only not protected from eviction. In a
 * worker it only reports the current state (`persisted()`); elsewhere
 * (a server runtime) it resolves `false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { persistStorage } from "@cyberdb/core/browser";
 * const persistent = await persistStorage(); // in a page: asks; headless Chromium says false
 * assert.equal(typeof persistent, "boolean");
 * ```
 */
export async function persistStorage(): Promise<boolean> {
  const storage = (globalThis as { navigator?: { storage?: StorageManagerLike } }).navigator?.storage;
  try {
    if (typeof storage?.persist === "function") return await storage.persist();
    if (typeof storage?.persisted === "function") return await storage.persisted();
  } catch {
    // A browser may refuse outright (an opaque origin, a sandboxed frame): not persistent.
  }
  return false;
}
