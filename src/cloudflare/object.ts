/**
 * `CyberDBObject`: one database per Durable Object, served by the same Hono
 * app as the server (`createApp`): HTTP (`POST /v1/rpc`, Arrow, `/health`,
 * `/client.js`) and WebSockets over the hibernation API, so the unchanged
 * client connects to `ws://host/db/<name>` (through the Worker of
 * `worker.ts`).
 *
 * ```
 *  constructor ──► blockConcurrencyWhile(open): Database on DurableObjectStorage(ctx.storage)
 *                  (recovery: newest snapshot + log replay), app, socket bridge
 *  fetch ─────────► app.fetch          webSocketMessage/Close/Error ──► the bridge ──► the app's sockets
 *  after each ────► a snapshot alarm, when written since the last snapshot and none is set
 *  alarm ─────────► due timers: the snapshot, retries, expiry (AlarmScheduler; never a setTimeout)
 * ```
 *
 * Configuration comes from the Worker's environment, with the server's
 * names (`CYBERDB_PASSWORD` — a secret —, `CYBERDB_ALLOW_ORIGIN`,
 * `CYBERDB_SYNC`, `CYBERDB_SNAPSHOT_INTERVAL`, `CYBERDB_MAX_REQUEST_BYTES`,
 * `CYBERDB_MAX_OUTPUT_BYTES`, `CYBERDB_AUTH_TIMEOUT`, `CYBERDB_MEMORY` —
 * no storage: the database starts empty whenever the object starts, which an
 * idle object does after every eviction; for tests and benchmarks only).
 * Defaults differ from the server's where the platform asks: `sync` is
 * `"always"` (a reply leaves the object only once its writes are committed,
 * which Cloudflare's output gate holds it for anyway), requests are at most
 * 16 MiB and HTTP answers 32 MiB (an isolate has 128 MB), and a WebSocket
 * frame is at most 32 MiB (Cloudflare's limit; the client sends larger
 * requests in parts).
 *
 * @module
 */

import type { Context } from "hono";
import { Database } from "../api/database.ts";
import { CyberDBError, ValidationError } from "../errors.ts";
import { createApp, type CyberApp } from "../server/app.ts";
import { passwordChecker, passwordFromHeader } from "../server/auth.ts";
import { parseConfig, type ServerConfig } from "../server/config.ts";
import { Executor } from "../server/rpc.ts";
import { SocketRegistry } from "../server/ws.ts";
import { openWatch } from "../server/watch.ts";
import { DurableObjectStorage, type DurableObjectStorageLike } from "../storage/durable_object.ts";
import { AlarmScheduler, type AlarmStorage } from "./alarm_scheduler.ts";
import { CLIENT_BUNDLE } from "./client_bundle.ts";
import { type HibernatableWebSocket, HibernationBridge, type SocketState } from "./sockets.ts";

/** Cloudflare's limit on one received WebSocket message. */
export const CF_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** Largest request by default inside a Durable Object (an isolate has 128 MB). */
export const CF_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** Largest HTTP answer by default inside a Durable Object. */
export const CF_MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/** The snapshot interval by default: the server's. */
const SNAPSHOT_INTERVAL = 900_000;

/** Where the database lives in the object's storage. */
const DIR = "db";

/** What `CyberDBObject` needs of its `ctx` (Cloudflare's `DurableObjectState`, SQLite-backed). */
export interface CyberDBState extends SocketState {
  /** The object's storage: SQL, sync, alarm. */
  readonly storage: DurableObjectStorageLike & AlarmStorage;
  /** Holds every other event until `fn` settles. */
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** The environment `CyberDBObject` reads: vars and secrets with the server's names. */
export type CyberDBEnv = Record<string, unknown>;

/** The settings of the database and its app, after parsing the environment. */
export interface CyberDBObjectConfig {
  /** The server's settings (`parseConfig` of the environment). */
  server: ServerConfig;
  /** Milliseconds between snapshots of a database written to (0: only by log size). */
  snapshotInterval: number;
}

function strings(env: CyberDBEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env ?? {})) if (typeof v === "string") out[k] = v;
  return out;
}

/**
 * The object's settings from its environment: the server's parser, with the
 * object's own defaults (see the module text).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { objectConfig } from "./object.ts";
 * const c = objectConfig({ CYBERDB_PASSWORD: "secret" });
 * assert.equal(c.server.sync, "always");
 * assert.equal(c.server.maxRequestBytes, 16 * 1024 * 1024);
 * assert.equal(objectConfig({ CYBERDB_SYNC: "interval" }).server.sync, "interval");
 * ```
 */
export function objectConfig(env: CyberDBEnv): CyberDBObjectConfig {
  const vars = strings(env);
  const defaults: string[] = [];
  if (vars.CYBERDB_SYNC === undefined) defaults.push("--sync", "always");
  if (vars.CYBERDB_MAX_REQUEST_BYTES === undefined) defaults.push("--max-request-bytes", String(CF_MAX_REQUEST_BYTES));
  if (vars.CYBERDB_MAX_OUTPUT_BYTES === undefined) defaults.push("--max-output-bytes", String(CF_MAX_OUTPUT_BYTES));
  // host, port, dir, cert: the object listens nowhere and keeps its files in its own storage.
  const server = parseConfig(defaults, { ...vars, CYBERDB_HOST: undefined, CYBERDB_PORT: undefined });
  return { server, snapshotInterval: server.snapshotInterval ?? SNAPSHOT_INTERVAL };
}

/** The peer address Cloudflare gives a request (`CF-Connecting-IP`). */
function peerOf(request: Request): string {
  return request.headers.get("cf-connecting-ip") ?? "unknown";
}

/** An open database and everything serving it. */
interface Served {
  db: Database;
  cyber: CyberApp;
  bridge: HibernationBridge;
}

/** A failure to open, answered to every request until an open succeeds. */
function openFailure(e: unknown): Response {
  const error = e instanceof CyberDBError
    ? { code: e.code, message: e.message }
    : { code: "INTERNAL", message: "The database could not be opened: the Worker's log has the details" };
  return Response.json({ ok: false, error }, { status: e instanceof ValidationError ? 500 : 503 });
}

/**
 * A Durable Object holding one CyberDB database, served over HTTP and
 * hibernating WebSockets by the same app as the server. Export it from the
 * Worker's main module under the class name bound in `wrangler.jsonc`
 * (listed under `new_sqlite_classes`), next to `createWorker()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CyberDBObject, createWorker } from "@cyberdb/core/cloudflare";
 * // The Worker's main module (wrangler.jsonc "main"):
 * //   export { CyberDBObject } from "@cyberdb/core/cloudflare";
 * //   export default createWorker(); // routes /db/<name>/… to the object for <name>
 * assert.equal(typeof CyberDBObject.prototype.webSocketMessage, "function");
 * assert.equal(typeof createWorker().fetch, "function");
 * ```
 */
export class CyberDBObject {
  #ctx: CyberDBState;
  #env: CyberDBEnv;
  #scheduler: AlarmScheduler;
  #served: Served | null = null;
  #failure: unknown = null;
  #opening: Promise<void> | null = null;
  #every = SNAPSHOT_INTERVAL;
  /** The LSN the last snapshot covers (as far as this instance knows). */
  #snapshotLsn = 0;
  #snapshotTimer: unknown = null;

  /** Opens the database before the object takes any event (`blockConcurrencyWhile`). */
  constructor(ctx: CyberDBState, env: CyberDBEnv) {
    this.#ctx = ctx;
    this.#env = env;
    this.#scheduler = new AlarmScheduler(ctx.storage);
    void this.#open();
  }

  /** The database, once open (for subclasses that add routes of their own). */
  protected get database(): Database | null {
    return this.#served?.db ?? null;
  }

  #open(): Promise<void> {
    this.#opening ??= this.#ctx.blockConcurrencyWhile(async () => {
      try {
        this.#served = await this.#serve();
        this.#failure = null;
      } catch (e) {
        this.#failure = e;
        console.error("cyberdb: opening the database failed:", e);
      }
    }).finally(() => {
      this.#opening = null;
    });
    return this.#opening;
  }

  async #serve(): Promise<Served> {
    const { server, snapshotInterval } = objectConfig(this.#env);
    this.#every = snapshotInterval;
    const db = await Database.open(
      server.dir === null ? { sync: server.sync, scheduler: this.#scheduler } : {
        dir: DIR,
        storage: new DurableObjectStorage(this.#ctx.storage),
        sync: server.sync,
        scheduler: this.#scheduler,
        // Snapshots come from this object's alarm, armed by writes (#afterWork): an
        // idle object is never woken. The database's own interval would re-arm forever.
        snapshotInterval: 0,
        logger: (line: string) => console.log(line),
        ...(server.flushInterval !== undefined ? { flushInterval: server.flushInterval } : {}),
      },
    );
    this.#snapshotLsn = db.lsn;
    const check = server.password === undefined ? null : passwordChecker(server.password);
    const limits = {
      limit: server.maxRequestBytes,
      maxFrameBytes: Math.min(server.maxRequestBytes, CF_MAX_FRAME_BYTES),
      maxOutputBytes: server.maxOutputBytes,
      authTimeout: server.authTimeout,
      maxUnauthenticated: server.maxUnauthenticated,
      maxUnauthenticatedPerPeer: server.maxUnauthenticatedPerPeer,
    };
    const bridge = new HibernationBridge({
      state: this.#ctx,
      authorized: (c: Context) => check === null || check(passwordFromHeader(c.req.header("authorization"))),
      peer: peerOf,
      // Sockets met again after a wake were authenticated: they need no guard.
      resume: new SocketRegistry({
        executor: new Executor(db),
        guard: null,
        ...limits,
        watch: (spec) => openWatch(db, spec),
        // Called only once the bridge exists (when a woken socket starts a watch).
        onWatch: (raw) => bridge.watching(raw),
      }),
    });
    const cyber = createApp(db, {
      upgradeWebSocket: bridge.upgrade,
      password: server.password,
      allowOrigin: server.allowOrigin,
      maxRequestBytes: limits.limit,
      maxFrameBytes: limits.maxFrameBytes,
      maxOutputBytes: limits.maxOutputBytes,
      authTimeout: limits.authTimeout,
      maxUnauthenticated: limits.maxUnauthenticated,
      maxUnauthenticatedPerPeer: limits.maxUnauthenticatedPerPeer,
      peerAddress: peerOf,
      onWatch: (raw) => bridge.watching(raw),
      // Prebuilt (src/cloudflare/client_bundle.ts): no bundler runs in a Worker.
      clientBundle: () => Promise.resolve(CLIENT_BUNDLE),
    });
    return { db, cyber, bridge };
  }

  /** The served database, opening it again when the last open failed. */
  async #ready(): Promise<Served | null> {
    if (this.#served === null) await this.#open();
    return this.#served;
  }

  /**
   * After every event that may have written: a snapshot alarm, when the
   * database changed since the last snapshot and none is set. Idle objects
   * set none, so they stay asleep.
   */
  #afterWork(): void {
    const db = this.#served?.db;
    if (db === undefined || this.#snapshotTimer !== null || this.#every <= 0 || db.lsn <= this.#snapshotLsn) return;
    this.#snapshotTimer = this.#scheduler.setTimeout(() => this.#snapshot(db), this.#every);
  }

  async #snapshot(db: Database): Promise<void> {
    this.#snapshotTimer = null;
    const lsn = db.lsn;
    try {
      await db.snapshot();
      this.#snapshotLsn = Math.max(this.#snapshotLsn, lsn);
    } finally {
      this.#afterWork();
    }
  }

  /** An HTTP request or WebSocket upgrade, routed to `/db/<name>` by the Worker (path without it). */
  async fetch(request: Request): Promise<Response> {
    const served = await this.#ready();
    if (served === null) return openFailure(this.#failure);
    try {
      return await served.cyber.app.fetch(request);
    } finally {
      this.#afterWork();
    }
  }

  /** A WebSocket frame (hibernation API). Answers are sent as they are ready; the event does not wait for them. */
  async webSocketMessage(ws: HibernatableWebSocket, message: ArrayBuffer | string): Promise<void> {
    // Open already (every message but a wake's first): no promise on the way.
    const served = this.#served ?? await this.#ready();
    if (served === null) {
      ws.close(1011, "The database could not be opened: see the Worker's log");
      return;
    }
    served.bridge.message(ws, message);
    this.#afterWork();
  }

  /** A WebSocket closed (hibernation API). */
  webSocketClose(ws: HibernatableWebSocket, code: number, reason: string, _wasClean: boolean): void {
    if (this.#served !== null) this.#served.bridge.close(ws, code, reason);
    else ws.close(1000, reason);
  }

  /** A WebSocket failed (hibernation API). */
  webSocketError(ws: HibernatableWebSocket, _error: unknown): void {
    this.#served?.bridge.error(ws);
  }

  /** The object's alarm: runs the database's due timers (the snapshot, retries, expiry). */
  async alarm(): Promise<void> {
    await this.#ready();
    await this.#scheduler.fire();
  }
}
