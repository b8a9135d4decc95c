/**
 * The Hono app: `GET /health`, `POST /v1/rpc`, `GET /v1/ws`, `GET /client.js`
 * (DESIGN §7). It reads no runtime global: the runtime's `upgradeWebSocket`
 * and the client bundle are handed in, so the same app runs on Deno, Bun and
 * Node and can be mounted inside another Hono app.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import type { UpgradeWebSocket } from "hono/ws";
import { decode, encode } from "../codec.ts";
import type { Database } from "../engine/database.ts";
import type { Query } from "../engine/query.ts";
import { AuthError, ProtocolError, TooLargeError } from "../errors.ts";
import { MSGPACK, MSGPACK_STREAM, NDJSON, STREAM_HEADER, type StreamFrame, type WireError, type WireReply } from "../client/wire.ts";
import { fromJsonValue, toJsonValue } from "./json.ts";
import { answerFrames, type ErrorLogger, Executor, passwordChecker, streamRows } from "./rpc.ts";
import { SocketRegistry } from "./ws.ts";

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** The runtime's Hono WebSocket helper (`hono/deno`, `hono/bun`, `@hono/node-ws`). */
  upgradeWebSocket: UpgradeWebSocket;
  /** The password clients must present; none = no auth (keep the server on loopback). */
  password?: string;
  /** Largest request body or WebSocket frame in bytes (default 64 MiB). */
  maxRequestBytes?: number;
  /** Milliseconds a WebSocket may stay unauthenticated (default 10 000). */
  authTimeout?: number;
  /** Most WebSockets waiting for authentication at once (default 256). */
  maxUnauthenticated?: number;
  /** Produces the browser bundle served at `GET /client.js`; without it that route is 404. */
  clientBundle?: () => Promise<string>;
  /** Receives unexpected errors (default `console.error`). */
  log?: ErrorLogger;
}

/** What {@linkcode createApp} returns: the app and its shutdown control. */
export interface CyberApp {
  /** The Hono app; `app.fetch` serves it, `parent.route("/db", app)` mounts it. */
  app: Hono;
  /** Requests (HTTP or WebSocket) being answered right now. */
  inflight(): number;
  /** Refuses new requests (503), closes every WebSocket, waits for in-flight ones. */
  drain(): Promise<void>;
}

const STATUS: Record<string, number> = {
  AUTH: 401,
  NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  DUPLICATE_KEY: 409,
  TOO_LARGE: 413,
  INTERNAL: 500,
  CLOSED: 503,
};

function statusOf(reply: WireReply | WireReply[]): number {
  if (Array.isArray(reply) || reply.ok) return 200;
  return STATUS[reply.error.code] ?? 400;
}

/** Reads at most `limit` bytes of body, refusing more before decoding anything. */
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = (n: string) =>
    new TooLargeError(`Request body of ${n} bytes exceeds the limit of ${limit} bytes: send less per request or raise --max-request-bytes`);
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(declared);
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  let buf = new Uint8Array(declared !== null && Number(declared) >= 0 ? Number(declared) : 64 * 1024);
  let used = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (used + value.byteLength > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`more than ${limit}`);
    }
    if (used + value.byteLength > buf.length) {
      const bigger = new Uint8Array(Math.min(limit, Math.max(buf.length * 2, used + value.byteLength)));
      bigger.set(buf.subarray(0, used));
      buf = bigger;
    }
    buf.set(value, used);
    used += value.byteLength;
  }
  return used === buf.length ? buf : buf.slice(0, used);
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? "").split(";")[0].trim().toLowerCase() === "application/json";
}

function isMsgpack(contentType: string | undefined): boolean {
  const t = (contentType ?? "").split(";")[0].trim().toLowerCase();
  return t === MSGPACK || t === "application/x-msgpack" || t === "application/vnd.msgpack";
}

function jsonReply(r: WireReply): unknown {
  if (!r.ok || r.value === undefined) return r.ok ? { ok: true } : r;
  return { ok: true, value: toJsonValue(r.value) };
}

/** A streamed frame as MessagePack with its u32 little-endian length in front. */
function lengthPrefixed(frame: StreamFrame): Uint8Array {
  const payload = encode(frame);
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength, true);
  out.set(payload, 4);
  return out;
}

/** A streamed frame as one line of JSON, values tagged as in every JSON reply. */
function jsonLine(frame: StreamFrame): Uint8Array {
  const body = frame.ok ? (frame.more ? { ok: true, value: toJsonValue(frame.value), more: true } : jsonReply(frame)) : frame;
  return new TextEncoder().encode(JSON.stringify(body) + "\n");
}

/** One turn of the event loop (a macrotask), so other requests are served between batches. */
function turn(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => immediate !== undefined ? immediate(resolve) : setTimeout(resolve, 0));
}

/**
 * The body of a streamed answer: frames made one at a time as the client
 * reads (the stream pulls the next batch only once the previous one was
 * taken), with a turn of the event loop between batches.
 */
function streamBody(frames: Generator<Uint8Array, void, void>): ReadableStream<Uint8Array> {
  let first = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!first) await turn();
      first = false;
      const next = frames.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel() {
      frames.return();
    },
  }, { highWaterMark: 1 });
}

/**
 * Builds the database's Hono app over an open `Database`.
 *
 * @example
 * ```ts ignore
 * import { upgradeWebSocket } from "hono/deno";
 * import { Database } from "@cyberdb/core";
 * import { createApp } from "@cyberdb/core/server";
 * const db = await Database.open();
 * const { app } = createApp(db, { upgradeWebSocket, password: "secret" });
 * export default app; // `deno serve -A this_file.ts`
 * ```
 */
export function createApp(db: Database, options: AppOptions): CyberApp {
  const limit = options.maxRequestBytes ?? 64 * 1024 * 1024;
  const log: ErrorLogger = options.log ?? ((m, e) => console.error(m, e));
  const executor = new Executor(db, { log });
  const check = options.password === undefined ? null : passwordChecker(options.password);
  let draining = false;
  let httpInflight = 0;
  let bundle: Promise<string> | null = null;
  const sockets = new SocketRegistry({
    executor,
    check,
    limit,
    authTimeout: options.authTimeout ?? 10_000,
    maxUnauthenticated: options.maxUnauthenticated ?? 256,
  });

  const app = new Hono();

  // Refuse new work while shutting down; health says so too.
  app.use("*", async (c, next) => {
    if (draining) return c.json({ ok: false, error: { code: "CLOSED", message: "The server is shutting down: retry on another server or later" } }, 503);
    httpInflight++;
    try {
      await next();
    } finally {
      httpInflight--;
    }
  });

  app.get("/health", (c) => c.json({ ok: true, maxRequestBytes: limit }));

  /** The AuthError for a request's Authorization header, or null when it may pass. */
  function authError(header: string | undefined): AuthError | null {
    if (check === null) return null;
    const token = /^Bearer (.*)$/s.exec(header ?? "")?.[1];
    if (token !== undefined && check(token)) return null;
    return new AuthError(token === undefined
      ? "This server needs a password: send the header Authorization: Bearer <password>"
      : "Wrong password: check --password / CYBERDB_PASSWORD on the server");
  }

  // Arrow IPC (stream format) of a table, or of a query's answer (POST, the
  // query as JSON or msgpack): what DuckDB, Polars and pandas read directly.
  // apache-arrow is loaded on first use only.
  app.use("/v1/arrow/*", cors({ origin: "*", allowMethods: ["GET", "POST"], allowHeaders: ["Authorization", "Content-Type"] }));
  const arrow = async (c: Context, query: unknown) => {
    const { toArrowIPC } = await import("../arrow/arrow.ts");
    const table = db.getTable(c.req.param("table") ?? "");
    const bytes = toArrowIPC(table, (query ?? {}) as Query);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/vnd.apache.arrow.stream" });
  };
  const arrowFail = (c: Context, e: unknown) => {
    const error = executor.wireError(e);
    return c.json({ ok: false, error }, statusOf({ ok: false, error }) as 400);
  };
  app.get("/v1/arrow/:table", async (c) => {
    const denied = authError(c.req.header("authorization"));
    if (denied !== null) return arrowFail(c, denied);
    try {
      return await arrow(c, {});
    } catch (e) {
      return arrowFail(c, e);
    }
  });
  app.post("/v1/arrow/:table", async (c) => {
    const denied = authError(c.req.header("authorization"));
    if (denied !== null) return arrowFail(c, denied);
    try {
      const json = !isMsgpack(c.req.header("content-type"));
      const bytes = await readBody(c.req.raw, limit);
      let query: unknown;
      try {
        query = json ? fromJsonValue(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))) : decode(bytes);
      } catch {
        throw new ProtocolError(`The query is not valid ${json ? "JSON" : "MessagePack"}: send a query object such as {"where": ...}`);
      }
      return await arrow(c, query);
    } catch (e) {
      return arrowFail(c, e);
    }
  });

  app.use("/v1/rpc", cors({ origin: "*", allowMethods: ["POST"], allowHeaders: ["Authorization", "Content-Type", STREAM_HEADER] }));
  app.post("/v1/rpc", async (c) => {
    const type = c.req.header("content-type");
    const json = !isMsgpack(type);
    const send = (reply: WireReply | WireReply[], status = statusOf(reply)) => {
      if (!json) return c.body(encode(reply) as Uint8Array<ArrayBuffer>, status as 200, { "content-type": MSGPACK });
      const body = Array.isArray(reply) ? reply.map(jsonReply) : jsonReply(reply);
      return c.json(body, status as 200);
    };
    const fail = (error: WireError) => send({ ok: false, error });
    // Authentication first: an unauthenticated caller costs no body read.
    const denied = authError(c.req.header("authorization"));
    if (denied !== null) return fail(executor.wireError(denied));
    if (json && !isJson(type)) {
      return fail(executor.wireError(new ProtocolError(
        `Content-Type ${JSON.stringify(type ?? "")} is not supported: send application/msgpack or application/json`,
      )));
    }
    // X-CyberDB-Stream: <batchRows> asks for the answer as a stream of batches (see wire.ts).
    const streamHeader = c.req.header(STREAM_HEADER);
    let rows: number | undefined;
    if (streamHeader !== undefined) {
      try {
        rows = streamRows(streamHeader);
      } catch (e) {
        return fail(executor.wireError(e));
      }
    }
    let body: unknown;
    try {
      const bytes = await readBody(c.req.raw, limit);
      try {
        body = json ? fromJsonValue(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))) : decode(bytes);
      } catch (e) {
        if (e instanceof ProtocolError) throw e;
        throw new ProtocolError(`The request body is not valid ${json ? "JSON" : "MessagePack"}: send one { op, args }, an array of them or { atomic: true, ops }`);
      }
    } catch (e) {
      return fail(executor.wireError(e));
    }
    if (rows !== undefined) {
      if (Array.isArray(body) || (typeof body === "object" && body !== null && (body as { atomic?: unknown }).atomic === true)) {
        return fail(executor.wireError(new ProtocolError(
          `${STREAM_HEADER} applies to one { op, args } request, not to a pipeline or an atomic batch: leave the header out`,
        )));
      }
      const reply = await executor.run(body);
      if (!reply.ok) return send(reply);
      const frames = answerFrames(reply.value, rows, json ? jsonLine : lengthPrefixed, (e) => executor.wireError(e));
      return c.body(streamBody(frames), 200, { "content-type": json ? NDJSON : MSGPACK_STREAM, "cache-control": "no-store" });
    }
    if (Array.isArray(body)) return send(await executor.runPipeline(body));
    if (typeof body === "object" && body !== null && (body as { atomic?: unknown }).atomic === true) {
      return send(await executor.runAtomic((body as { ops?: unknown }).ops));
    }
    return send(await executor.run(body));
  });

  app.get("/v1/ws", async (c, next) => {
    const auth = c.req.header("authorization");
    let authed = check === null;
    if (check !== null && auth !== undefined) {
      const token = /^Bearer (.*)$/s.exec(auth)?.[1];
      if (token === undefined || !check(token)) {
        return c.json({ ok: false, error: { code: "AUTH", message: "Wrong password: check --password / CYBERDB_PASSWORD on the server" } }, 401);
      }
      authed = true;
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({ ok: false, error: { code: "PROTOCOL", message: "GET /v1/ws expects a WebSocket upgrade: connect with a WebSocket client" } }, 426);
    }
    if (!authed && !sockets.canAcceptUnauthenticated()) {
      return c.json({ ok: false, error: { code: "CONNECTION", message: "Too many connections are waiting to authenticate: retry in a moment" } }, 503);
    }
    return await options.upgradeWebSocket(() => sockets.events(authed))(c, next);
  });

  app.use("/client.js", cors({ origin: "*", allowMethods: ["GET"] }));
  app.get("/client.js", async (c) => {
    if (!options.clientBundle) return c.notFound();
    try {
      bundle ??= options.clientBundle();
      const js = await bundle;
      return c.body(js, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" });
    } catch (e) {
      bundle = null;
      log("cyberdb: building /client.js failed:", e);
      return c.text("Building the client bundle failed: see the server log", 500);
    }
  });

  return {
    app,
    inflight: () => httpInflight + executor.inflight,
    async drain() {
      draining = true;
      sockets.closeAll();
      await executor.idle();
    },
  };
}
