/**
 * Pure `/`-separated path helpers shared by every Storage implementation and
 * the log. No runtime globals, no `node:path`: these must run in a browser.
 *
 * @module
 */

/**
 * Normalizes a `/`-separated path: collapses repeated slashes, drops `.`
 * segments and resolves `..` where it can. An empty relative path becomes `"."`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizePath } from "./paths.ts";
 * assert.equal(normalizePath("a//b/./c/../d/"), "a/b/d");
 * ```
 */
export function normalizePath(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    // A leading ".." of a relative path has nothing to cancel and must stay.
    if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (part === ".." && absolute) continue;
    else out.push(part);
  }
  const joined = out.join("/");
  if (absolute) return "/" + joined;
  return joined === "" ? "." : joined;
}

/**
 * Joins path parts with `/` and normalizes the result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinPath } from "./paths.ts";
 * assert.equal(joinPath("data/", "wal", "1.wal"), "data/wal/1.wal");
 * ```
 */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.filter((p) => p !== "").join("/"));
}

/**
 * The directory part of a path (`"."` for a bare name, `"/"` for the root).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dirname } from "./paths.ts";
 * assert.equal(dirname("data/wal/1.wal"), "data/wal");
 * ```
 */
export function dirname(path: string): string {
  const p = normalizePath(path);
  const i = p.lastIndexOf("/");
  if (i < 0) return ".";
  if (i === 0) return "/";
  return p.slice(0, i);
}

/**
 * The last segment of a path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { basename } from "./paths.ts";
 * assert.equal(basename("data/wal/1.wal"), "1.wal");
 * ```
 */
export function basename(path: string): string {
  const p = normalizePath(path);
  return p.slice(p.lastIndexOf("/") + 1);
}

/**
 * Makes a path absolute against `cwd` (itself absolute), normalized. Used as
 * the identity of a lock so that `./db/LOCK` and `db/LOCK` are the same lock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { absolutePath } from "./paths.ts";
 * assert.equal(absolutePath("db/LOCK", "/home/me"), "/home/me/db/LOCK");
 * ```
 */
export function absolutePath(path: string, cwd: string): string {
  return path.startsWith("/") ? normalizePath(path) : normalizePath(cwd + "/" + path);
}
