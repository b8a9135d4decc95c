/**
 * Node glue: `@hono/node-server` with `@hono/node-ws`, TLS through
 * `node:https` when given, and SIGINT/SIGTERM.
 *
 * @module
 */

import { serve as nodeServe } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import type { Hono } from "hono";
import { createServer as createHttpsServer } from "node:https";
import type { Server } from "node:http";
import type { MakeApp, Served, ServeOptions } from "./runtime.ts";

/**
 * Serves the app made by `make` on Node; resolves once listening.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "../api/database.ts";
 * import { createApp } from "./app.ts";
 * import { serve } from "./node.ts";
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
  const made: { app?: Hono } = {};
  // node-ws routes upgrades through app.request, which exists only once the app does.
  const nws = createNodeWebSocket({
    app: { request: (...a: Parameters<Hono["request"]>) => made.app!.request(...a) } as Hono,
  });
  // The app enforces the real limit with a proper error reply; ws's own limit is a backstop.
  (nws.wss as unknown as { options: { maxPayload: number } }).options.maxPayload = o.maxPayload + 1024 * 1024;
  const app = made.app = make(nws.upgradeWebSocket, { maxFrameBytes: o.maxPayload });
  const tls = o.cert !== undefined && o.key !== undefined;
  return new Promise((resolve, reject) => {
    const server = nodeServe({
      fetch: app.fetch,
      hostname: o.hostname,
      port: o.port,
      ...(tls ? { createServer: createHttpsServer, serverOptions: { cert: o.cert, key: o.key } } : {}),
    }, (info) => {
      resolve({
        port: info.port,
        shutdown: () =>
          new Promise<void>((done) => {
            (server as Server).close(() => done());
            (server as Server).closeIdleConnections?.();
          }),
      });
    });
    server.once("error", reject);
    nws.injectWebSocket(server);
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
  process.on("SIGINT", fn);
  process.on("SIGTERM", fn);
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
  process.exit(code);
}
