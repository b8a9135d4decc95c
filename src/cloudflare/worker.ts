/**
 * The Worker in front of the databases: `/db/<name>/…` goes to the Durable
 * Object for `<name>` (`idFromName`), with `/db/<name>` cut off, so each
 * name is one database with the server's routes under it:
 *
 * ```
 *  ws://host/db/orders/v1/ws   ──► object "orders"   GET /v1/ws
 *  http://host/db/orders/v1/rpc ──► object "orders"   POST /v1/rpc
 *  http://host/db/users/health  ──► object "users"    GET /health
 *  http://host/health           ──► the Worker itself  { ok: true }
 * ```
 *
 * The password rules are the server's: the object checks the password
 * (`CYBERDB_PASSWORD`, a secret) on every request and WebSocket, and
 * without one only loopback is served — the Worker refuses any other host
 * before waking an object, as the server refuses to listen on one.
 *
 * @module
 */

import { isLoopback } from "../server/config.ts";

/** What the Worker needs of a Durable Object namespace binding. */
export interface ObjectNamespace {
  /** The id of the object named `name` (the same name always gives the same object). */
  idFromName(name: string): unknown;
  /** A stub to send requests to the object `id`. */
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** Options of {@linkcode createWorker}. */
export interface WorkerOptions {
  /** The binding of the `CyberDBObject` namespace in `wrangler.jsonc` (default `"CYBERDB"`). */
  binding?: string;
}

/** A Worker's module handler. */
export interface WorkerHandler {
  /** Routes one request. */
  fetch(request: Request, env: Record<string, unknown>): Promise<Response>;
}

/** Database names: what a URL path segment carries without escaping, at most 128 characters. */
const NAME = /^[A-Za-z0-9._~-]{1,128}$/;

function refuse(status: number, code: string, message: string): Response {
  return Response.json({ ok: false, error: { code, message } }, { status });
}

/**
 * The Worker: routes `/db/<name>/…` to one `CyberDBObject` per name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createWorker } from "@cyberdb/core/cloudflare";
 * const worker = createWorker(); // export default createWorker();
 * // A stand-in namespace, to see where a request goes:
 * const seen: string[] = [];
 * const CYBERDB = {
 *   idFromName: (name: string) => name,
 *   get: (id: unknown) => ({ fetch: (r: Request) => (seen.push(`${id} ${new URL(r.url).pathname}`), Promise.resolve(new Response("ok"))) }),
 * };
 * await worker.fetch(new Request("http://127.0.0.1:8787/db/orders/v1/rpc", { method: "POST" }), { CYBERDB });
 * assert.deepEqual(seen, ["orders /v1/rpc"]);
 * const res = await worker.fetch(new Request("https://db.example.com/db/orders/health"), { CYBERDB });
 * assert.equal(res.status, 403); // no CYBERDB_PASSWORD: loopback only, as the server
 * ```
 */
export function createWorker(options: WorkerOptions = {}): WorkerHandler {
  const binding = options.binding ?? "CYBERDB";
  return {
    fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
      const url = new URL(request.url);
      if (url.pathname === "/" || url.pathname === "/health") return Promise.resolve(Response.json({ ok: true }));
      const m = /^\/db\/([^/]*)(\/.*)?$/.exec(url.pathname);
      if (m === null) {
        return Promise.resolve(
          refuse(
            404,
            "NOT_FOUND",
            "Databases are under /db/<name>: connect to ws://HOST/db/<name> or http://HOST/db/<name>",
          ),
        );
      }
      const name = m[1];
      if (!NAME.test(name)) {
        return Promise.resolve(refuse(
          400,
          "VALIDATION",
          `Database name ${
            JSON.stringify(name.slice(0, 60))
          } is not 1-128 of A-Z a-z 0-9 . _ ~ -: pick a name of those characters`,
        ));
      }
      const password = env[`CYBERDB_PASSWORD`];
      if ((typeof password !== "string" || password === "") && !isLoopback(url.hostname)) {
        return Promise.resolve(refuse(
          403,
          "AUTH",
          `This Worker has no password, so it serves loopback only, not ${
            JSON.stringify(url.hostname.slice(0, 60))
          }: set one with \`wrangler secret put CYBERDB_PASSWORD\``,
        ));
      }
      const ns = env[binding] as ObjectNamespace | undefined;
      if (ns === undefined || typeof ns.idFromName !== "function") {
        return Promise.resolve(refuse(
          500,
          "INTERNAL",
          `The Worker has no Durable Object binding ${
            JSON.stringify(binding)
          }: bind CyberDBObject under that name in wrangler.jsonc (durable_objects.bindings)`,
        ));
      }
      url.pathname = m[2] ?? "/";
      return ns.get(ns.idFromName(name)).fetch(new Request(url, request));
    },
  };
}
