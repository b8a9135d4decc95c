/**
 * The Hono app: `GET /health`, `POST /v1/rpc`, `GET /v1/ws`,
 * `GET|POST /v1/arrow/<table>`, `GET /v1/watch`, `GET /metrics`,
 * `GET /client.js` (DESIGN §7), and the admin page at `GET /` and
 * `GET /admin` (`admin.ts`). It reads no
 * runtime global: the runtime's `upgradeWebSocket` and the client bundle are
 * handed in, so the same app runs on Deno, Bun and Node and can be mounted
 * inside another Hono app.
 *
 * Every request passes, in order: the shutdown gate (503 while draining),
 * the browser rules of a server without a password (`origin.ts`), CORS, and
 * — for everything but `/health`, `/client.js` and the admin page (which
 * holds no data and logs in through the API) — authentication with a
 * per-peer throttle on wrong passwords (`auth.ts`), checked before a body
 * is read.
 *
 * Handed a promise of the database instead of the database, the app serves
 * while it loads: `/health` answers 503 `loading` with the progress, and
 * every request that passes authentication is answered `LOADING` until the
 * database is there (Redis answers `-LOADING` the same way).
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { UpgradeWebSocket } from "hono/ws";
import { arrayHeader, concatBytes, decode, encode } from "../wire/codec.ts";
import type { Database, LoadProgress } from "../api/database.ts";
import type { Query } from "../core/query.ts";
import { ClosedError, ConnectionError, type CyberDBError, ProtocolError, TooLargeError } from "../errors.ts";
import {
  MSGPACK,
  MSGPACK_STREAM,
  NDJSON,
  STREAM_HEADER,
  type StreamFrame,
  type WireError,
  type WireReply,
} from "../wire/protocol.ts";
import { adminRoutes } from "./admin.ts";
import { AuthGuard, passwordChecker, passwordFromHeader } from "./auth.ts";
import { quote } from "../core/value.ts";
import { fromJsonValue, toJsonValue } from "../wire/json.ts";
import { OriginPolicy } from "./origin.ts";
import { answerFrames, type ErrorLogger, Executor, streamRows } from "./rpc.ts";
import { SocketRegistry } from "./ws.ts";
import { Monitor, now, type Source } from "./metrics.ts";
import { loadingError } from "./loading.ts";
import { jsonBatch, nextTurn, openWatch, sseSpec, WatchTokens } from "./watch.ts";
import { yieldToIo } from "./yield.ts";
import type { FeedBatch, FeedCursor } from "../api/feed.ts";

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** The runtime's Hono WebSocket helper (`hono/deno`, `hono/bun`, `@hono/node-ws`). */
  upgradeWebSocket: UpgradeWebSocket;
  /** The password clients must present; none = no auth (keep the server on loopback). */
  password?: string;
  /**
   * Without a password, browser origins allowed besides loopback ones (and
   * their hosts in `Host`); `["*"]` allows every origin. Ignored with a password.
   */
  allowOrigin?: readonly string[];
  /** Largest request body or WebSocket request in bytes (default 64 MiB). */
  maxRequestBytes?: number;
  /** Largest single WebSocket frame the runtime delivers (default `maxRequestBytes`); larger requests come in parts. */
  maxFrameBytes?: number;
  /** Most bytes of replies that may wait unsent to one WebSocket client, and of one HTTP answer not streamed (default 256 MiB). */
  maxOutputBytes?: number;
  /** Milliseconds a WebSocket may stay unauthenticated (default 10 000). */
  authTimeout?: number;
  /** Most WebSockets waiting for authentication at once (default 256). */
  maxUnauthenticated?: number;
  /** Most WebSockets waiting for authentication at once from one address (default 16). */
  maxUnauthenticatedPerPeer?: number;
  /**
   * The peer address of a request, given the request and the runtime's
   * connection info Hono was handed (default: read from Deno's, Bun's or
   * Node's); wrong passwords are throttled per address.
   */
  peerAddress?: (request: Request, env: unknown) => string;
  /** Produces the browser bundle served at `GET /client.js`; without it that route is 404. */
  clientBundle?: () => Promise<string>;
  /** Receives unexpected errors (default `console.error`). */
  log?: ErrorLogger;
  /** Told when a WebSocket (its runtime object) starts a watch (a Durable Object records it; see SocketOptions). */
  onWatch?: (raw: unknown) => void;
  /** Receives notable events, e.g. a peer throttled for wrong passwords (default `console.error`). */
  notice?: (line: string) => void;
  /** Also write one line per connection, refused password and failed op to `notice` (`--verbose`). */
  verbose?: boolean;
  /**
   * While the database given as a promise loads: how far it has come (for
   * `/health` and the `LOADING` messages), e.g. from `Database.open`'s
   * `onProgress`.
   */
  loadProgress?: () => LoadProgress | null;
  /** Serve the admin page at `GET /` and `GET /admin` (default true); it needs `clientBundle`. */
  admin?: boolean;
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

/** The defaults of {@linkcode AppOptions}. */
export const APP_DEFAULTS = {
  maxRequestBytes: 64 * 1024 * 1024,
  maxOutputBytes: 256 * 1024 * 1024,
  authTimeout: 10_000,
  maxUnauthenticated: 256,
  maxUnauthenticatedPerPeer: 16,
} as const;

const STATUS: Record<string, number> = {
  AUTH: 401,
  NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  DUPLICATE_KEY: 409,
  CONFLICT: 409,
  RESET: 410,
  TOO_LARGE: 413,
  INTERNAL: 500,
  CLOSED: 503,
  LOADING: 503,
  CONNECTION: 503,
  STORAGE: 507,
};

function statusOf(reply: WireReply | WireReply[]): number {
  if (Array.isArray(reply) || reply.ok) return 200;
  return STATUS[reply.error.code] ?? 400;
}

/**
 * The peer address of a request from the connection info the runtime
 * hands Hono (Deno `remoteAddr`, Bun `requestIP`, Node `incoming.socket`),
 * read by shape so no runtime global is named.
 */
function peerOf(c: Context): string {
  const env = c.env as Record<string, unknown> | undefined;
  if (env === undefined || env === null) return "unknown";
  const deno = (env.remoteAddr as { hostname?: unknown } | undefined)?.hostname;
  if (typeof deno === "string") return deno;
  const node = (env.incoming as { socket?: { remoteAddress?: unknown } } | undefined)?.socket?.remoteAddress;
  if (typeof node === "string") return node;
  if (typeof env.requestIP === "function") {
    try {
      const bun = (env.requestIP as (r: Request) => { address?: unknown } | null).call(env, c.req.raw)?.address;
      if (typeof bun === "string") return bun;
    } catch { /* not Bun's server after all */ }
  }
  return "unknown";
}

/** Reads at most `limit` bytes of body, refusing more before decoding anything. */
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = (n: string) =>
    new TooLargeError(
      `Request body of ${n} bytes exceeds the limit of ${limit} bytes: send less per request or raise --max-request-bytes`,
    );
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(declared.slice(0, 20));
  if (req.body === null) return new Uint8Array(0);
  // A declared length is what the HTTP layer delivers (no more; fewer ends the
  // request): read it whole at once, without a stream in between.
  if (declared !== null && /^\d+$/.test(declared)) return new Uint8Array(await req.arrayBuffer());
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

function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

function isMsgpack(contentType: string | undefined): boolean {
  const t = mediaType(contentType);
  return t === MSGPACK || t === "application/x-msgpack" || t === "application/vnd.msgpack";
}

/** Decodes a request body as JSON (values tagged) or MessagePack. */
function decodeBody(bytes: Uint8Array, json: boolean, what: string): unknown {
  try {
    return json ? fromJsonValue(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))) : decode(bytes);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    // The decoders' messages are short and never quote the input.
    const why = e instanceof Error ? ` (${e.message.slice(0, 200)})` : "";
    throw new ProtocolError(`The request body is not valid ${json ? "JSON" : "MessagePack"}${why}: send ${what}`);
  }
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
  const body = frame.ok
    ? (frame.more ? { ok: true, value: toJsonValue(frame.value), more: true } : jsonReply(frame))
    : frame;
  return new TextEncoder().encode(JSON.stringify(body) + "\n");
}

/**
 * The body of a streamed answer: frames made one at a time as the client
 * reads (the stream pulls the next batch only once the previous one was
 * taken), with a turn of the event loop between batches.
 */
function streamBody(
  frames: Generator<Uint8Array, void, void>,
  sent: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  let first = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!first) await yieldToIo();
      first = false;
      const next = frames.next();
      if (next.done) controller.close();
      else {
        sent(next.value.byteLength);
        controller.enqueue(next.value);
      }
    },
    cancel() {
      frames.return();
    },
  }, { highWaterMark: 1 });
}

/** An own property of a decoded body (never one reached through a prototype). */
function own(body: unknown, key: string): unknown {
  return typeof body === "object" && body !== null && Object.hasOwn(body, key)
    ? (body as Record<string, unknown>)[key]
    : undefined;
}

/** Everything the routes share. */
interface Shared {
  /** The database; throws `LoadingError` while it is still loading. */
  database(): Database;
  executor: Executor;
  monitor: Monitor;
  limit: number;
  /** Most bytes of one HTTP answer (not streamed), as `--max-output-bytes`. */
  maxOutputBytes: number;
  /** Whether the server has a password (and so authenticates every request but `/health`). */
  needsPassword: boolean;
  /** `null` when the request may pass, else the error to answer (with `retryAfter` when throttled). */
  authorize(c: Context): (CyberDBError & { retryAfter?: number }) | null;
  peer(c: Context): string;
}

/**
 * Answers an error in the `{ ok: false, error }` shape, as MessagePack when
 * the request was MessagePack and as JSON otherwise, with its status (429
 * and `Retry-After` for a peer refused for too many wrong passwords).
 */
function errorResponse(c: Context, error: WireError, retryAfter?: number, status?: number): Response {
  if (retryAfter !== undefined) c.header("retry-after", String(retryAfter));
  const code = (status ?? (retryAfter !== undefined ? 429 : statusOf({ ok: false, error }))) as 400;
  if (isMsgpack(c.req.header("content-type"))) {
    return c.body(encode({ ok: false, error }) as Uint8Array<ArrayBuffer>, code, { "content-type": MSGPACK });
  }
  return c.json({ ok: false, error }, code);
}

/** {@linkcode errorResponse} for a thrown value. */
function failure(c: Context, shared: Shared, e: unknown): Response {
  const retry = (e as { retryAfter?: unknown } | null)?.retryAfter;
  return errorResponse(c, shared.executor.wireError(e), typeof retry === "number" ? retry : undefined);
}

/** The context of a route behind {@linkcode bodyLimit}: its body, read and bounded. */
type BodyEnv = { Variables: { body: Uint8Array } };

/**
 * Reads the request's body — at most `limit` bytes, refused (`TOO_LARGE`)
 * before anything is decoded — into `c.var.body`, so no route handles an
 * unbounded body. Behind {@linkcode requireAuth}: a body is read only once
 * the request has proved it may send one.
 */
function bodyLimit(shared: Shared, op: string): MiddlewareHandler<BodyEnv> {
  return async (c, next) => {
    const t0 = now();
    try {
      const bytes = await readBody(c.req.raw, shared.limit);
      shared.monitor.metrics.received.http += bytes.byteLength;
      c.set("body", bytes);
    } catch (e) {
      // Refused before it ran: counted under `op` (the request's own op is not known yet).
      return errorResponse(c, shared.executor.observe(op, t0, e, { transport: "http", peer: shared.peer(c) })!);
    }
    await next();
  };
}

/** Refuses the request unless it carries the password (before any body is read). */
function requireAuth(shared: Shared): MiddlewareHandler {
  return async (c, next) => {
    const denied = shared.authorize(c);
    if (denied !== null) return failure(c, shared, denied);
    await next();
  };
}

/**
 * Builds the database's Hono app over an open `Database` — or over the
 * promise of one that is still opening (`Database.open(...)` not awaited):
 * the app then serves at once, answering `/health` with 503 `loading` and
 * every request with `LOADING` until the database is there (pass
 * `loadProgress` to say how far it is).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Database } from "@cyberdb/core";
 * import { createApp } from "@cyberdb/core/server";
 * const db = await Database.open();
 * const { app } = createApp(db, { upgradeWebSocket, password: "secret" });
 * // `export default app;` in a module, and `deno serve -A` that module serves it. In process:
 * const res = await app.request("/v1/rpc", {
 *   method: "POST",
 *   headers: { authorization: "Bearer secret", "content-type": "application/json" },
 *   body: JSON.stringify([{ op: "db.createDict", args: ["d"] }, { op: "dict.set", args: ["d", "k", 1] }]),
 * });
 * assert.equal(res.status, 200);
 * assert.deepEqual(await res.json(), [{ ok: true, value: null }, { ok: true }]);
 * assert.equal(db.getDict("d").get("k"), 1);
 * await db.close();
 * ```
 */
export function createApp(db: Database | Promise<Database>, options: AppOptions): CyberApp {
  const limit = options.maxRequestBytes ?? APP_DEFAULTS.maxRequestBytes;
  const log: ErrorLogger = options.log ?? ((m, e) => console.error(m, e));
  const notice = options.notice ?? ((line: string) => console.error(line));
  const monitor = new Monitor(options.verbose ? { verbose: notice } : {});
  const progress = options.loadProgress ?? (() => null);
  let opened: Database | null = db instanceof Promise ? null : db;
  let failed = false;
  if (db instanceof Promise) db.then((d) => (opened = d), () => (failed = true));
  const stillLoading = () =>
    failed
      ? new ClosedError("The database could not be opened: the server is stopping; see its log")
      : loadingError(progress());
  const executor = new Executor(db, { log, monitor, loading: stillLoading });
  const guard = options.password === undefined ? null : new AuthGuard(passwordChecker(options.password), {
    log: notice,
    onRefused: (peer, e) => monitor.authFailed(peer, e.message),
  });
  const policy = new OriginPolicy({ open: options.password !== undefined, allow: options.allowOrigin });
  const own = options.peerAddress;
  const peer = own === undefined ? peerOf : (c: Context) => own(c.req.raw, c.env);
  const maxOutputBytes = options.maxOutputBytes ?? APP_DEFAULTS.maxOutputBytes;
  const shared: Shared = {
    database() {
      if (opened === null) throw stillLoading();
      return opened;
    },
    executor,
    monitor,
    limit,
    maxOutputBytes,
    peer,
    needsPassword: guard !== null,
    authorize: (c) => guard === null ? null : guard.verify(peer(c), passwordFromHeader(c.req.header("authorization"))),
  };
  const sockets = new SocketRegistry({
    executor,
    guard,
    limit,
    maxFrameBytes: Math.min(limit, options.maxFrameBytes ?? limit),
    maxOutputBytes,
    authTimeout: options.authTimeout ?? APP_DEFAULTS.authTimeout,
    maxUnauthenticated: options.maxUnauthenticated ?? APP_DEFAULTS.maxUnauthenticated,
    maxUnauthenticatedPerPeer: options.maxUnauthenticatedPerPeer ?? APP_DEFAULTS.maxUnauthenticatedPerPeer,
    watch: (spec) => openWatch(shared.database(), spec),
    onWatch: options.onWatch,
    monitor,
  });
  const tokens = options.password === undefined ? null : new WatchTokens(options.password);
  /** The event streams open now: each entry ends its stream (shutdown). */
  const eventStreams = new Set<() => void>();
  let draining = false;
  let httpInflight = 0;

  const app = new Hono();
  const corsHeaders = cors({
    origin: (origin) => policy.open ? "*" : policy.allowsOrigin(origin) ? origin : null,
    allowMethods: ["GET", "POST"],
    allowHeaders: ["Authorization", "Content-Type", STREAM_HEADER],
    maxAge: 600,
  });
  // One middleware in front of every route (each layer costs a promise and a
  // dispatch on every call): refuse new work while shutting down; without a
  // password, only this machine's pages and loopback Host names (origin.ts);
  // then CORS headers — except on a POST without Origin, which is no
  // browser's cross-origin request and whose answer is not cached. (Hono's
  // cors builds a placeholder response and merges its headers into the real
  // one: profiled at ~25% of an RPC call's JavaScript.)
  app.use("*", async (c, next) => {
    if (draining) {
      return failure(c, shared, new ClosedError("The server is shutting down: retry on another server or later"));
    }
    const origin = c.req.header("origin");
    const why = policy.refusal(origin, c.req.header("host"));
    if (why !== null) return errorResponse(c, { code: "AUTH", message: why }, undefined, 403);
    httpInflight++;
    try {
      if (origin === undefined && c.req.method === "POST") await next();
      // A preflight (OPTIONS) is answered by cors itself, with the response it returns.
      else return await corsHeaders(c, next);
    } finally {
      httpInflight--;
    }
  });

  app.get("/health", (c) => health(c, opened, limit, stillLoading, progress));
  app.get("/metrics", requireAuth(shared), (c) =>
    c.body(
      monitor.metrics.render({
        connections: { http: httpInflight, ws: sockets.size, sse: eventStreams.size },
        loading: opened === null,
        db: opened,
      }),
      200,
      { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" },
    ));
  app.route("/v1/arrow", arrowRoutes(shared));
  app.route("/v1/rpc", rpcRoutes(shared));
  app.route("/v1/watch", watchRoutes(shared, tokens, eventStreams));
  app.route("/v1/ws", wsRoutes(shared, sockets, options.upgradeWebSocket));
  app.route("/client.js", clientRoutes(options.clientBundle, log));
  if (options.admin !== false) app.route("/", adminRoutes({ password: options.password !== undefined }));

  return {
    app,
    inflight: () => httpInflight + executor.inflight,
    async drain() {
      draining = true;
      sockets.closeAll();
      for (const end of [...eventStreams]) end();
      await executor.idle();
    },
  };
}

/**
 * `GET /health`, without auth: 200 `{ ok: true, status: "ok", … }` while
 * the server reads and writes; 503 `{ ok: false, status: "loading",
 * progress, error }` while the database is still loading; 503 `{ ok:
 * false, status: "read-only", error }` while the disk refuses writes (reads
 * are still served).
 */
function health(
  c: Context,
  db: Database | null,
  limit: number,
  loading: () => CyberDBError,
  progress: () => LoadProgress | null,
): Response {
  if (db === null) {
    const e = loading();
    return c.json({
      ok: false,
      status: "loading",
      maxRequestBytes: limit,
      progress: progress(),
      error: { code: e.code, message: e.message },
    }, 503);
  }
  const storage = (db as { storageError?: CyberDBError | null }).storageError ?? null;
  if (storage !== null) {
    return c.json({
      ok: false,
      status: "read-only",
      maxRequestBytes: limit,
      error: { code: storage.code, message: storage.message },
    }, 503);
  }
  return c.json({ ok: true, status: "ok", maxRequestBytes: limit });
}

/**
 * Encodes replies for one HTTP answer, MessagePack or JSON, keeping the
 * whole answer under `limit` bytes (the output limit): a reply that would
 * pass it is answered with `TOO_LARGE` instead (reads only: every write of
 * a pipeline still runs), so one request can never make the server build
 * an answer of unbounded size.
 */
class ReplyEncoder {
  #json: boolean;
  #left: number;
  #error: (e: unknown) => WireError;

  constructor(json: boolean, limit: number, error: (e: unknown) => WireError) {
    this.#json = json;
    this.#left = limit;
    this.#error = error;
  }

  /** One reply's bytes (MessagePack, or JSON text as UTF-8). */
  encode(reply: WireReply): Uint8Array {
    let bytes = this.#bytes(reply);
    if (bytes.byteLength > this.#left) {
      bytes = this.#bytes({
        ok: false,
        error: this.#error(
          new TooLargeError(
            `The answer is ${bytes.byteLength} bytes, more than the ${this.#left} bytes left of this request's output limit: ` +
              "ask for it in batches (X-CyberDB-Stream, or scan), send fewer reads per pipeline, or raise --max-output-bytes",
          ),
        ),
      });
    }
    this.#left -= bytes.byteLength;
    return bytes;
  }

  /** The body of a pipeline's answer from its encoded replies. */
  join(parts: readonly Uint8Array[]): Uint8Array {
    if (!this.#json) return concatBytes([arrayHeader(parts.length), ...parts]);
    const comma = new Uint8Array([0x2c]);
    return concatBytes([
      new Uint8Array([0x5b]),
      ...parts.flatMap((p, i) => i === 0 ? [p] : [comma, p]),
      new Uint8Array([0x5d]),
    ]);
  }

  #bytes(reply: WireReply): Uint8Array {
    try {
      return this.#json ? new TextEncoder().encode(JSON.stringify(jsonReply(reply))) : encode(reply);
    } catch (e) {
      // A value that cannot be encoded (a cycle, too deep) answers as an error, never a 500.
      const error: WireReply = { ok: false, error: this.#error(e) };
      return this.#json ? new TextEncoder().encode(JSON.stringify(error)) : encode(error);
    }
  }
}

/** `POST /v1/rpc`: one request, a pipeline, an atomic batch, or a streamed answer. */
function rpcRoutes(shared: Shared): Hono<BodyEnv> {
  const { executor, monitor } = shared;
  const counted = monitor.metrics;
  const rpc = new Hono<BodyEnv>();
  rpc.use("*", requireAuth(shared));
  rpc.post("/", bodyLimit(shared, "unknown"), async (c) => {
    const type = c.req.header("content-type");
    const json = !isMsgpack(type);
    const headers = { "content-type": json ? "application/json" : MSGPACK };
    const source: Source = { transport: "http", peer: shared.peer(c) };
    const out = new ReplyEncoder(json, shared.maxOutputBytes, (e) => executor.wireError(e));
    const body = (bytes: Uint8Array, status: number) => {
      counted.sent.http += bytes.byteLength;
      return c.body(bytes as Uint8Array<ArrayBuffer>, status as 200, headers);
    };
    const send = (reply: WireReply) => body(out.encode(reply), statusOf(reply));
    const fail = (e: unknown) => {
      // Refused before it ran (a bad body, a wrong header): counted, with the op unknown.
      const error = executor.observe("unknown", now(), e, source)!;
      return send({ ok: false, error });
    };
    if (json && mediaType(type) !== "application/json") {
      return fail(
        new ProtocolError(
          `Content-Type ${quote(type ?? "")} is not supported: send application/msgpack or application/json`,
        ),
      );
    }
    // X-CyberDB-Stream: <batchRows> asks for the answer as a stream of batches (see wire.ts).
    const streamHeader = c.req.header(STREAM_HEADER);
    let rows: number | undefined;
    let request: unknown;
    try {
      if (streamHeader !== undefined) rows = streamRows(streamHeader);
      request = decodeBody(c.var.body, json, "one { op, args }, an array of them or { atomic: true, ops }");
    } catch (e) {
      return fail(e);
    }
    const atomic = !Array.isArray(request) && own(request, "atomic") === true;
    if (rows !== undefined) {
      if (Array.isArray(request) || atomic) {
        return fail(
          new ProtocolError(
            `${STREAM_HEADER} applies to one { op, args } request, not to a pipeline or an atomic batch: leave the header out`,
          ),
        );
      }
      const reply = await executor.run(request, true, source);
      if (!reply.ok) return send(reply);
      const frames = answerFrames(reply.value, rows, json ? jsonLine : lengthPrefixed, (e) => executor.wireError(e));
      return c.body(streamBody(frames, (n) => (counted.sent.http += n)), 200, {
        "content-type": json ? NDJSON : MSGPACK_STREAM,
        "cache-control": "no-store",
      });
    }
    if (Array.isArray(request)) {
      const parts = await executor.runPipeline(request, (r) => out.encode(r), source);
      return body(out.join(parts), 200);
    }
    if (atomic) return send(await executor.runAtomic(own(request, "ops"), own(request, "checks"), source));
    return send(await executor.run(request, false, source));
  });
  return rpc;
}

/**
 * `GET|POST /v1/arrow/<table>`: Arrow IPC (stream format) of a table, or
 * of a query's answer (POST, the query as JSON or msgpack) — what DuckDB,
 * Polars and pandas read directly. apache-arrow is loaded on first use only.
 */
function arrowRoutes(shared: Shared): Hono<BodyEnv> {
  const { executor, monitor } = shared;
  const arrow = new Hono<BodyEnv>();
  arrow.use("*", requireAuth(shared));
  const answer = async (c: Context, query: unknown) => {
    const db = shared.database();
    const { toArrowIPC } = await import("../arrow/arrow.ts");
    const table = db.getTable(c.req.param("table") ?? "");
    const bytes = toArrowIPC(table, (query ?? {}) as Query);
    // In sync "always", what was read is sent only once it is durable.
    await executor.visible();
    monitor.metrics.sent.http += bytes.byteLength;
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/vnd.apache.arrow.stream" });
  };
  /** Answers, counting the export (op "arrow") and what it failed with. */
  const counted = async (c: Context, query: () => Promise<unknown>) => {
    const t0 = now();
    try {
      const res = await answer(c, await query());
      executor.observe("arrow", t0, null);
      return res;
    } catch (e) {
      const retry = (e as { retryAfter?: unknown } | null)?.retryAfter;
      const error = executor.observe("arrow", t0, e, { transport: "http", peer: shared.peer(c) })!;
      return errorResponse(c, error, typeof retry === "number" ? retry : undefined);
    }
  };
  arrow.get("/:table", (c) => counted(c, () => Promise.resolve({})));
  arrow.post("/:table", bodyLimit(shared, "arrow"), (c) =>
    counted(c, () => {
      const json = !isMsgpack(c.req.header("content-type"));
      return Promise.resolve(decodeBody(c.var.body, json, 'a query object such as {"where": ...}'));
    }));
  return arrow;
}

/** How often an idle event stream sends a comment line, so that proxies keep it open. */
const KEEPALIVE_MS = 15_000;

/** Resolves with `true` after `ms`, or with `false` once `p` settles first; the timer never outlives it. */
function timeoutOr(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * `GET /v1/watch` (Server-Sent Events) and `POST /v1/watch/token`.
 *
 * ```
 *   GET /v1/watch?collections=a,b&from=N&durable=1[&token=T]     Authorization: Bearer <password>, or token=T
 *   200 text/event-stream
 *     retry: 2000
 *     id: H:N          event: ready     data: {"lsn":N,"history":H}           the LSN it starts after
 *     id: H:<lsn>      data: {"lsn":<lsn>,"changes":[…]}                       one event per commit
 *     : keepalive                                                            every 15 s while idle
 *     event: fail      data: {"code":"LAGGED","message":…,"lsn":…}            last, when it ends with an error
 * ```
 *
 * `id:` is `<history id>:<LSN>`, so an `EventSource` that reconnects sends
 * `Last-Event-ID` and resumes with no gap and no repeat — or, when the
 * server's history is another (a memory-only server restarted), is told
 * `RESET` (410) instead of going on from an LSN that names other writes.
 * A bare LSN (an older client's) is still taken, as this history's. Values are JSON
 * tagged as in every JSON reply. A bad request, or a `from` the server can
 * no longer serve (`RESET`, 410), is an ordinary JSON error reply, which
 * makes an `EventSource` give up instead of retrying. The token (for
 * `EventSource`, which cannot set headers) comes from
 * `POST /v1/watch/token` with the password, and opens event streams only.
 */
function watchRoutes(shared: Shared, tokens: WatchTokens | null, streams: Set<() => void>): Hono {
  const routes = new Hono();
  routes.post("/token", requireAuth(shared), async (c) => {
    const value = tokens === null ? { token: "", expiresAt: null } : await tokens.issue(Date.now());
    return c.json({ ok: true, value });
  });
  routes.get("/", async (c) => {
    const token = c.req.query("token");
    if (tokens !== null && token !== undefined && token !== "" && c.req.header("authorization") === undefined) {
      const denied = await tokens.check(token, Date.now());
      if (denied !== null) return failure(c, shared, denied);
    } else {
      const denied = shared.authorize(c);
      if (denied !== null) return failure(c, shared, denied);
    }
    let cursor: FeedCursor;
    const t0 = now();
    const peer = shared.peer(c);
    try {
      cursor = openWatch(shared.database(), sseSpec(new URL(c.req.url), c.req.header("last-event-id") ?? null));
      // Resuming from the log first: a failure there is an ordinary error reply.
      while (cursor.resuming) await cursor.wait();
      if (cursor.error !== null) throw cursor.error;
    } catch (e) {
      return errorResponse(c, shared.executor.observe("watch", t0, e, { transport: "sse", peer })!);
    }
    shared.executor.observe("watch", t0, null);
    return c.body(eventStream(cursor, streams, shared.monitor, peer), 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
  });
  return routes;
}

/** The body of an event stream: one event per batch, made as the client reads (see {@linkcode watchRoutes}). */
function eventStream(
  cursor: FeedCursor,
  streams: Set<() => void>,
  monitor: Monitor,
  peer: string,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const text = {
    encode(s: string): Uint8Array {
      const bytes = encoder.encode(s);
      monitor.metrics.sent.sse += bytes.byteLength;
      return bytes;
    },
  };
  let controller: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  const since = now();
  monitor.connection("sse", peer, "opened");
  const end = () => {
    if (ended) return;
    ended = true;
    monitor.connection("sse", peer, `closed after ${((now() - since) / 1000).toFixed(1)} s`);
    streams.delete(end);
    cursor.close();
    try {
      controller.close();
    } catch { /* already closed */ }
  };
  streams.add(end);
  const start = cursor.position;
  const history = cursor.history;
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(
        text.encode(
          `retry: 2000\nid: ${history}:${start}\nevent: ready\ndata: {"lsn":${start},"history":"${history}"}\n\n`,
        ),
      );
    },
    async pull(c) {
      while (!ended) {
        let batch;
        try {
          batch = cursor.poll();
        } catch (e) {
          if (!cursor.closed) {
            const error = e as CyberDBError & { lsn?: number };
            const body = { code: error.code ?? "INTERNAL", message: error.message, lsn: error.lsn };
            c.enqueue(text.encode(`event: fail\ndata: ${JSON.stringify(body)}\n\n`));
          }
          end();
          return;
        }
        if (batch !== null) {
          c.enqueue(text.encode(sseEvents(cursor, batch)));
          return;
        }
        if (await timeoutOr(cursor.wait(), KEEPALIVE_MS)) {
          c.enqueue(text.encode(": keepalive\n\n"));
          return;
        }
        // The commits of this turn of the event loop leave in one chunk (see nextTurn).
        await nextTurn();
      }
    },
    cancel() {
      end();
    },
  }, { highWaterMark: 1 });
}

/** Bytes of events an event stream puts in one chunk at most (one larger event still goes, alone). */
const SSE_CHUNK_CHARS = 256 * 1024;

/**
 * The events of `first` and of the batches waiting after it, up to
 * {@linkcode SSE_CHUNK_CHARS}: one write for the commits of a turn, not one
 * each. An error polling the rest is left for the next poll, which meets it
 * again (the cursor keeps it).
 */
function sseEvents(cursor: FeedCursor, first: FeedBatch): string {
  const history = cursor.history;
  let out = `id: ${history}:${first.lsn}\ndata: ${jsonBatch(first)}\n\n`;
  while (out.length < SSE_CHUNK_CHARS) {
    let next: FeedBatch | null;
    try {
      next = cursor.poll();
    } catch {
      break;
    }
    if (next === null) break;
    out += `id: ${history}:${next.lsn}\ndata: ${jsonBatch(next)}\n\n`;
  }
  return out;
}

/** `GET /client.js`: the browser bundle of the client, built once on first request. */
function clientRoutes(make: (() => Promise<string>) | undefined, log: ErrorLogger): Hono {
  let bundle: Promise<string> | null = null;
  return new Hono().get("/", async (c) => {
    if (!make) return c.notFound();
    try {
      bundle ??= make();
      const js = await bundle;
      return c.body(js, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" });
    } catch (e) {
      bundle = null;
      log("cyberdb: building /client.js failed:", e);
      return c.text("Building the client bundle failed: see the server log", 500);
    }
  });
}

/**
 * `GET /v1/ws`: the WebSocket upgrade. Before it, only the throttle and the
 * cap on sockets still waiting to authenticate apply; the socket's frames
 * are then the registry's (ws.ts), which takes nothing but a small auth
 * frame until the socket is authenticated.
 */
function wsRoutes(shared: Shared, sockets: SocketRegistry, upgradeWebSocket: UpgradeWebSocket): Hono {
  const routes = new Hono();
  routes.get("/", async (c, next) => {
    // A password in the upgrade request authenticates the socket at once. A
    // wrong one is refused only while the peer is throttled; otherwise the
    // socket opens unauthenticated, so that the client's auth frame gets the
    // precise error (a failed upgrade tells a WebSocket client nothing).
    let authed = !shared.needsPassword;
    if (shared.needsPassword && c.req.header("authorization") !== undefined) {
      const denied = shared.authorize(c);
      if (denied?.retryAfter !== undefined) return failure(c, shared, denied);
      authed = denied === null;
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({
        ok: false,
        error: { code: "PROTOCOL", message: "GET /v1/ws expects a WebSocket upgrade: connect with a WebSocket client" },
      }, 426);
    }
    const who = shared.peer(c);
    if (!authed && !sockets.canAcceptUnauthenticated(who)) {
      return failure(
        c,
        shared,
        new ConnectionError(
          "Too many connections are waiting to authenticate: authenticate the open ones, or retry in a moment",
        ),
      );
    }
    return await upgradeWebSocket(() => sockets.events(authed, who))(c, next);
  });
  return routes;
}
