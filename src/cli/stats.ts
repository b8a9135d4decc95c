/**
 * `cyberdb stats <url>`: what a server holds. A server with the `db.stats`
 * op (Redis's INFO) answers for itself; an older one is asked for
 * `db.collections`, `db.lsn` and each collection's size in one atomic batch
 * (one instant), and the summary says it was computed that way.
 *
 * @module
 */

import type { Session } from "../client/client.ts";
import { CyberDBError } from "../errors.ts";
import { formatValue } from "./values.ts";

/** One collection in the summary. */
export interface CollectionStats {
  /** Its name. */
  name: string;
  /** `dict`, `list` or `table`. */
  kind: string;
  /** Entries, elements or rows. */
  size: number;
}

/** What `stats` found. */
export interface Stats {
  /** `db.stats`: the server's own answer; `computed`: from collections and sizes. */
  source: "db.stats" | "computed";
  /** The server's `db.stats` answer, as it came. */
  info?: unknown;
  /** The LSN of the last write. */
  lsn?: number;
  /** The collections with their sizes (computed; or from `info.collections` when it has that shape). */
  collections: CollectionStats[];
}

const SIZE_OP: Record<string, string> = { dict: "dict.size", list: "list.length", table: "table.count" };

/**
 * Asks a server for its summary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * import { readStats } from "./stats.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * const client = await connect(server.url);
 * await client.createList("l", [1, 2]);
 * const stats = await readStats(client);
 * assert.deepEqual(stats.collections, [{ name: "l", kind: "list", size: 2 }]);
 * await client.close();
 * await server.close();
 * ```
 */
export async function readStats(session: Session): Promise<Stats> {
  let info: unknown;
  try {
    info = await session.call("db.stats", []);
  } catch (e) {
    if (!(e instanceof CyberDBError && e.code === "PROTOCOL" && /Unknown operation/.test(e.message))) throw e;
    return { source: "computed", ...await computeStats(session) };
  }
  const listed = (info as { collections?: unknown } | null)?.collections;
  const lsn = (info as { lsn?: unknown } | null)?.lsn;
  if (Array.isArray(listed) && listed.every((c) => typeof c?.name === "string" && typeof c?.kind === "string")) {
    const collections = listed.map((c) => ({ name: c.name, kind: c.kind, size: Number(c.size ?? c.count ?? NaN) }));
    return { source: "db.stats", info, collections, ...(typeof lsn === "number" ? { lsn } : {}) };
  }
  // A db.stats that does not list the collections by name: the table comes from them.
  return { source: "db.stats", info, ...await computeStats(session) };
}

/** The LSN and every collection's size, read in one atomic batch (one instant). */
async function computeStats(session: Session): Promise<{ lsn: number; collections: CollectionStats[] }> {
  const listed = await session.collections();
  const answers = await session.atomic([
    { op: "db.lsn", args: [] },
    ...listed.map((c) => ({ op: SIZE_OP[c.kind], args: [c.name] })),
  ]);
  return {
    lsn: answers[0] as number,
    collections: listed.map((c, i) => ({ name: c.name, kind: c.kind, size: answers[i + 1] as number })),
  };
}

/**
 * The summary as printed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatStats } from "./stats.ts";
 * const lines = formatStats({ source: "computed", lsn: 3, collections: [{ name: "d", kind: "dict", size: 2 }] });
 * assert.equal(lines[0], "lsn          3");
 * assert.match(lines.at(-1)!, /computed from db\.collections/);
 * ```
 */
export function formatStats(stats: Stats, health?: string): string[] {
  const lines: string[] = [];
  if (health !== undefined) lines.push(`health       ${health}`);
  if (stats.lsn !== undefined) lines.push(`lsn          ${stats.lsn}`);
  const byKind = (k: string) => stats.collections.filter((c) => c.kind === k).length;
  const items = stats.collections.reduce((n, c) => n + (Number.isFinite(c.size) ? c.size : 0), 0);
  lines.push(
    `collections  ${stats.collections.length} (${byKind("dict")} dicts, ${byKind("list")} lists, ${
      byKind("table")
    } tables), ${items} items`,
  );
  if (stats.collections.length > 0) {
    const w = Math.max(4, ...stats.collections.map((c) => c.name.length));
    lines.push("", `${"name".padEnd(w)}  kind   size`);
    for (const c of stats.collections) lines.push(`${c.name.padEnd(w)}  ${c.kind.padEnd(5)}  ${c.size}`);
  }
  if (stats.source === "db.stats") {
    lines.push("", "db.stats:", formatValue(stats.info, { width: 100 }));
  } else {
    lines.push(
      "",
      "(computed from db.collections, db.lsn and each collection's size in one atomic read: this server has no db.stats op)",
    );
  }
  return lines;
}

/**
 * The server's `/health` status (`ok`, `read-only`, …), or why it could not
 * be read; never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * import { readHealth } from "./stats.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * assert.equal(await readHealth(server.url), "ok");
 * await server.close();
 * ```
 */
export async function readHealth(url: string): Promise<string> {
  try {
    const base = url.replace(/^ws/i, "http").replace(/\/v1\/(ws|rpc)\/?$/, "").replace(/\/+$/, "");
    const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
    const body = await res.json() as { status?: unknown };
    return typeof body.status === "string" ? body.status : `HTTP ${res.status}`;
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : String(e)})`;
  }
}
