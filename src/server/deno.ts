/**
 * Deno glue: `Deno.serve` with Hono's Deno WebSocket helper, TLS when given,
 * and SIGINT/SIGTERM. The only server module besides `server.ts` that may
 * name `Deno`.
 *
 * @module
 */

import { upgradeWebSocket } from "hono/deno";
import type { MakeApp, Served, ServeOptions } from "./runtime.ts";

/** The largest frame Deno's WebSocket server delivers (its fixed limit is 64 MiB). */
const DENO_MAX_FRAME = 64 * 1024 * 1024 - 1;

/**
 * Serves the app made by `make` on Deno; resolves once listening.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "../api/database.ts";
 * import { createApp } from "./app.ts";
 * import { serve } from "./deno.ts";
 * const db = await Database.open();
 * const served = await serve(
 *   (upgradeWebSocket, limits) => createApp(db, { upgradeWebSocket, ...limits }).app,
 *   { hostname: "127.0.0.1", port: 0, maxPayload: 1 << 26, maxOutputBytes: 1 << 28 },
 * );
 * const res = await fetch(`http://127.0.0.1:${served.port}/health`); // the real port
 * assert.equal((await res.json()).status, "ok");
 * await served.shutdown();
 * await db.close();
 * ```
 */
export function serve(make: MakeApp, o: ServeOptions): Promise<Served> {
  // Deno drops (with an abnormal close) any frame of 64 MiB or more and has
  // no setting for it: clients send larger requests in parts.
  const app = make(upgradeWebSocket, { maxFrameBytes: Math.min(o.maxPayload, DENO_MAX_FRAME) });
  return new Promise((resolve, reject) => {
    try {
      const tls = o.cert !== undefined && o.key !== undefined ? { cert: o.cert, key: o.key } : {};
      const server = Deno.serve({
        hostname: o.hostname,
        port: o.port,
        ...tls,
        onListen: (addr) => {
          resolve({
            port: (addr as Deno.NetAddr).port,
            shutdown: () => server.shutdown(),
          });
        },
      }, app.fetch);
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * Calls `fn` on SIGINT or SIGTERM.
 *
 * @example
 * ```ts ignore
 * onSignals(() => console.log("stopping"));
 * ```
 */
export function onSignals(fn: () => void): void {
  Deno.addSignalListener("SIGINT", fn);
  Deno.addSignalListener("SIGTERM", fn);
}

/**
 * Ends the process with `code`.
 *
 * @example
 * ```ts ignore
 * exit(0);
 * ```
 */
export function exit(code: number): never {
  Deno.exit(code);
}
