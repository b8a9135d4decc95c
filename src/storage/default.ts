/**
 * {@linkcode defaultStorage}: the storage a durable database uses when none is
 * given, picked for the runtime. Kept apart from `mod.ts` (every adapter)
 * so that opening a database loads only the adapter it needs: the Deno KV,
 * Durable Object and OPFS adapters are half the storage layer's source,
 * ~1.5 ms (Deno) to ~3 ms (Bun) of a cold first open. OPFS, the one other
 * adapter picked here, is loaded when picked.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";
import type { Storage } from "./types.ts";
import { DenoStorage } from "./deno.ts";
import { MemoryStorage } from "./memory.ts";
import { NodeStorage } from "./node.ts";

/**
 * Where this code runs, as far as files go: `"deno"` and `"node"` (Node and
 * Bun) have a real file system; `"workerd"` (Cloudflare Workers) and
 * `"other"` (browser pages, web workers) do not — workerd's `node:fs`, with
 * `nodejs_compat`, is an in-memory file system that is gone after a restart.
 */
export type StorageHost = "deno" | "node" | "workerd" | "other";

/** The globals {@linkcode storageHost} looks at. */
export interface HostGlobals {
  /** Set under Deno. */
  Deno?: unknown;
  /** `userAgent` is `"Cloudflare-Workers"` under workerd; `storage.getDirectory` is OPFS. */
  navigator?: { userAgent?: unknown; storage?: { getDirectory?: unknown } };
  /** In a dedicated Worker its prototype has `createSyncAccessHandle` (OPFS sync access handles). */
  FileSystemFileHandle?: { prototype?: { createSyncAccessHandle?: unknown } };
  /** `versions.node` under Node (and workerd's nodejs_compat), `versions.bun` under Bun. */
  process?: { versions?: Record<string, string | undefined> };
}

/**
 * Tells which kind of host `globals` (by default `globalThis`) belong to.
 * Pure: pass a made-up globals object to see what another runtime gets.
 * workerd is checked first, because with `nodejs_compat` it also has
 * `process.versions.node`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { storageHost } from "@cyberdb/core/storage";
 * const workerd = { navigator: { userAgent: "Cloudflare-Workers" }, process: { versions: { node: "22" } } };
 * assert.equal(storageHost(workerd), "workerd"); // although it has process.versions.node
 * assert.equal(storageHost({}), "other"); // a browser page or a worker
 * assert.equal(storageHost({ process: { versions: { bun: "1.2.0" } } }), "node");
 * assert.ok(["deno", "node", "workerd", "other"].includes(storageHost())); // this runtime
 * ```
 */
export function storageHost(globals: HostGlobals = globalThis as HostGlobals): StorageHost {
  if (globals.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  if (globals.Deno !== undefined) return "deno";
  const versions = globals.process?.versions;
  if (versions?.node || versions?.bun) return "node";
  return "other";
}

/** Options of {@linkcode defaultStorage}. */
export interface DefaultStorageOptions {
  /**
   * The database directory, when the caller wants its data to outlive the
   * process. Where no durable store exists for it, `defaultStorage` throws
   * instead of handing out memory that would silently lose everything.
   */
  dir?: string;
  /** The globals to decide by (default `globalThis`); for tests and embedders. */
  globals?: HostGlobals;
}

function quoteDir(dir: string): string {
  return JSON.stringify(dir.length > 60 ? dir.slice(0, 57) + "..." : dir);
}

/** Whether `globals` offer OPFS sync access handles (a browser's dedicated Worker). */
function hasOpfs(globals: HostGlobals): boolean {
  return typeof globals.navigator?.storage?.getDirectory === "function" &&
    typeof globals.FileSystemFileHandle?.prototype?.createSyncAccessHandle === "function";
}

/**
 * The Storage for this runtime: `DenoStorage` under Deno, `NodeStorage`
 * under Node and Bun, and, for a `dir`, `OpfsStorage` in a browser's
 * dedicated Worker. Elsewhere (browser pages, other workers, Cloudflare
 * workerd) there is no durable default: without `dir` it is a
 * `MemoryStorage`; with `dir` it rejects with `ValidationError` naming what
 * to pass, because memory there would look durable — `flush()` resolving —
 * and lose every write when the page or worker ends.
 *
 * Why `ValidationError` and not `StorageError`: nothing was written and no
 * disk refused anything; the options ask for something this runtime cannot
 * give, and the fix is in the caller's code (STORAGE means "the disk refused
 * a write; it is retried").
 *
 * Async so that a future implementation may be loaded on demand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValidationError } from "@cyberdb/core";
 * import { defaultStorage } from "@cyberdb/core/storage";
 * const storage = await defaultStorage({ dir: "./data" });
 * assert.ok(storage.kind === "deno" || storage.kind === "node");
 * const browser = {}; // what a browser page's globals look like to it
 * assert.equal((await defaultStorage({ globals: browser })).kind, "memory");
 * await assert.rejects(defaultStorage({ dir: "./data", globals: browser }), ValidationError);
 * ```
 */
export function defaultStorage(options: DefaultStorageOptions = {}): Promise<Storage> {
  const host = storageHost(options.globals);
  if (host === "deno") return Promise.resolve(new DenoStorage());
  if (host === "node") return Promise.resolve(new NodeStorage());
  if (options.dir === undefined) return Promise.resolve(new MemoryStorage());
  if (host === "workerd") {
    return Promise.reject(
      new ValidationError(
        `Option dir ${quoteDir(options.dir)} asks for a durable database, but Cloudflare workerd has no durable ` +
          "file system (its node:fs is in memory and gone after a restart): inside a Durable Object pass " +
          '{ storage: new DurableObjectStorage(ctx.storage) } (from "@cyberdb/core/storage"), or serve the ' +
          'database with CyberDBObject from "@cyberdb/core/cloudflare"; for memory on purpose pass ' +
          "{ storage: new MemoryStorage() } or leave out dir",
      ),
    );
  }
  if (hasOpfs(options.globals ?? (globalThis as HostGlobals))) {
    // A constructor that throws (made-up globals claimed OPFS that this runtime lacks) rejects.
    return import("./opfs.ts").then(({ OpfsStorage }) => new OpfsStorage());
  }
  return Promise.reject(
    new ValidationError(
      `Option dir ${quoteDir(options.dir)} asks for a durable database, but this runtime (a browser page, or a ` +
        "worker without OPFS sync access handles) has no file system CyberDB can write to: for a durable database " +
        "in a browser, open it in a dedicated Worker, where { dir } uses OPFS " +
        '(OpfsStorage from "@cyberdb/core/storage"), and talk to that worker from the page; or pass ' +
        '{ storage: new MemoryStorage() } (from "@cyberdb/core/storage") to keep the data in memory only ' +
        "(lost when the page ends), or leave out dir",
    ),
  );
}
