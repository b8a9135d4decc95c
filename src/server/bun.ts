/**
 * Bun glue: `Bun.serve` with Hono's Bun WebSocket handler, TLS when given,
 * and SIGINT/SIGTERM. The only server module besides `server.ts` that may
 * name `Bun`.
 *
 * @module
 */

import { createBunWebSocket } from "hono/bun";
import { WSContext, type WSEvents } from "hono/ws";
import type { MakeApp, Served, ServeOptions } from "./runtime.ts";

declare const Bun: {
  serve(options: Record<string, unknown>): { port: number; stop(closeActive?: boolean): Promise<void> | void };
};

/** The parts of Bun's `ServerWebSocket` used here; `data` is what Hono's upgrade put there. */
interface BunSocket {
  data: { events: WSEvents; ctx?: WSContext };
  readyState: number;
  send(data: string | ArrayBuffer | Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
}

/**
 * Bun's `message` handler in place of Hono's, which builds a `MessageEvent`
 * and a new `WSContext` for every message (measurable at tens of thousands
 * of messages a second): the event here is `{ data }`, all the app's sockets
 * read, and the context is made once per socket. Binary messages are handed
 * on as Bun delivers them (a `Uint8Array`), strings as strings; errors go
 * to `onError`, as Hono's handler sends them.
 */
function message(ws: BunSocket, data: string | Uint8Array): void {
  const events = ws.data.events;
  const ctx = ws.data.ctx ??= new WSContext({
    send: (source, options) => void ws.send(source as Uint8Array, options?.compress),
    raw: ws,
    readyState: ws.readyState as 0 | 1 | 2 | 3,
    close: (code, reason) => ws.close(code, reason),
  });
  try {
    events.onMessage?.({ data } as MessageEvent, ctx);
  } catch (e) {
    if (events.onError === undefined) throw e;
    events.onError(Object.assign(new Event("error"), { error: e }), ctx);
  }
}

/**
 * Serves the app made by `make` on Bun; resolves once listening.
 *
 * @example
 * ```ts ignore
 * const served = await serve((upgrade, limits) => createApp(db, { upgradeWebSocket: upgrade, ...limits }).app, { hostname: "127.0.0.1", port: 0, maxPayload: 1 << 26, maxOutputBytes: 1 << 28 });
 * console.log(served.port);
 * ```
 */
export function serve(make: MakeApp, o: ServeOptions): Promise<Served> {
  const { upgradeWebSocket, websocket } = createBunWebSocket();
  const app = make(upgradeWebSocket, { maxFrameBytes: o.maxPayload });
  // Bun's own limits (16 MiB frames, 128 MiB bodies) must not undercut ours;
  // the app enforces the real limit with a proper error.
  const slack = 1024 * 1024;
  // Past its back-pressure limit (16 MiB by default) Bun DROPS frames: keep
  // it above the app's output limit (which closes the socket first, with a
  // reason), and have Bun close rather than drop should it be reached anyway.
  const server = Bun.serve({
    hostname: o.hostname,
    port: o.port,
    fetch: app.fetch,
    maxRequestBodySize: Math.max(o.maxPayload + slack, 128 * 1024 * 1024),
    websocket: {
      ...websocket,
      message,
      maxPayloadLength: o.maxPayload + slack,
      backpressureLimit: 2 * o.maxOutputBytes + slack,
      closeOnBackpressureLimit: true,
    },
    ...(o.cert !== undefined && o.key !== undefined ? { tls: { cert: o.cert, key: o.key } } : {}),
  });
  return Promise.resolve({
    port: server.port,
    shutdown: async () => {
      await server.stop(false);
    },
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
