/**
 * One database, many tabs. OPFS sync handles (and so `OpfsStorage`) exist
 * only in a dedicated Worker, and a database directory has one owner at a
 * time (its Web Lock). Other tabs talk to the owner: {@linkcode serveTabs}
 * in the owning worker answers the very frames the WebSocket server answers
 * (the same `ServerSocket` state machine, over a `BroadcastChannel`), and
 * {@linkcode connectTab} in any tab returns the usual `Client` — every
 * collection method, `atomic`, `for await` over a collection — over that channel.
 *
 * The channel `cyberdb-tabs:<name>` carries small envelopes:
 *
 * ```
 *   tab ──► owner   { t: "open",  conn }            a new connection (sent while the tab holds
 *                                                   the Web Lock "cyberdb-tab:<conn>")
 *                   { t: "frame", conn, data }      one WebSocket frame (MessagePack bytes)
 *                   { t: "close", conn }
 *   owner ──► tabs  { t: "owner", owner }           a new owner is serving: waiting tabs say "open" again
 *                   { t: "opened", conn, owner }    accepted (the owner holds "cyberdb-owner:<name>:<owner>")
 *                   { t: "frame", conn, owner, data }
 *                   { t: "closed", conn, code, reason }
 * ```
 *
 * Who is gone is learned from Web Locks, which the browser frees when a tab
 * or worker dies: the owner waits for each tab's lock (a closed tab frees
 * its connection's resources), each tab waits, in shared mode, for the
 * owner's lock (a closed owner closes the tab's socket with 1001, and the
 * client reconnects — to the next owner, when every tab's worker waits for
 * the database with `new OpfsStorage({ lockTimeout: Infinity })`).
 *
 * There is no password: a BroadcastChannel reaches only pages and workers
 * of the same origin, which can read the origin's OPFS directly anyway.
 *
 * @module
 */

import type { WSContext, WSEvents } from "hono/ws";
import type { Database } from "../api/database.ts";
import { type Client, connect, type ConnectOptions } from "../client/client.ts";
import type { WebSocketConstructor, WebSocketLike } from "../client/ws_transport.ts";
import { ValidationError } from "../errors.ts";
import { Executor } from "../server/rpc.ts";
import { SocketRegistry } from "../server/ws.ts";
import { openWatch } from "../server/watch.ts";

// ---- the slice of BroadcastChannel and Web Locks used here --------------------

interface Channel {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

interface Locks {
  request(
    name: string,
    options: { mode?: "exclusive" | "shared"; ifAvailable?: boolean },
    callback: (lock: unknown) => Promise<void> | void,
  ): Promise<void>;
}

interface TabGlobals {
  BroadcastChannel?: new (name: string) => Channel;
  navigator?: { locks?: Locks };
  crypto?: { randomUUID?: () => string };
}

/** The channel and Web Locks, or a `ValidationError` saying which is missing. */
function api(): { Channel: new (name: string) => Channel; locks: Locks } {
  const g = globalThis as unknown as TabGlobals;
  if (typeof g.BroadcastChannel !== "function" || typeof g.navigator?.locks?.request !== "function") {
    throw new ValidationError(
      "serveTabs and connectTab need BroadcastChannel and Web Locks (navigator.locks), which every current browser " +
        "has in pages and workers; this runtime lacks them: use connect() to a CyberDB server instead.",
    );
  }
  return { Channel: g.BroadcastChannel, locks: g.navigator.locks };
}

function checkName(name: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > 200) {
    throw new ValidationError(
      `Tab channel name ${
        JSON.stringify(String(name).slice(0, 60))
      } must be a non-empty string of at most 200 characters, such as the database dir.`,
    );
  }
  return name;
}

function randomId(): string {
  const g = globalThis as unknown as TabGlobals;
  return g.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

const channelName = (name: string) => `cyberdb-tabs:${name}`;
const ownerLock = (name: string, owner: string) => `cyberdb-owner:${name}:${owner}`;
const tabLock = (conn: string) => `cyberdb-tab:${conn}`;

/** An envelope on the channel; anything else on it is ignored. */
interface Envelope {
  t: "open" | "frame" | "close" | "owner" | "opened" | "closed";
  conn?: string;
  owner?: string;
  data?: Uint8Array;
  code?: number;
  reason?: string;
}

function envelope(data: unknown): Envelope | null {
  return typeof data === "object" && data !== null && typeof (data as Envelope).t === "string"
    ? data as Envelope
    : null;
}

/** Holds the Web Lock `name` until the returned function is called; resolves once held. */
function hold(locks: Locks, name: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    locks.request(name, {}, () => new Promise<void>((release) => resolve(release))).catch(reject);
  });
}

// ---- the owner's side -------------------------------------------------------------

/** Options of {@linkcode serveTabs}. */
export interface ServeTabsOptions {
  /** Largest request in bytes (default 64 MiB), as the server's `--max-request-bytes`. */
  maxRequestBytes?: number;
}

/** A running {@linkcode serveTabs}. */
export interface TabServer {
  /** The channel name. */
  readonly name: string;
  /** Tabs connected now. */
  readonly connections: number;
  /** Stops serving: every tab's socket is closed (the database stays open). Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `db` to every tab of this origin that calls
 * {@linkcode connectTab} with the same `name`, from the worker that owns the
 * database. The tabs get the same answers a CyberDB server would give.
 *
 * @example
 * ```ts
 * // worker.ts — every tab starts this worker; the first to get the lock serves the others
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { OpfsStorage, serveTabs } from "@cyberdb/core/browser";
 * if (OpfsStorage.available()) {
 *   const storage = new OpfsStorage({ lockTimeout: Infinity }); // wait to take over
 *   const db = await Database.open({ dir: "app", storage });
 *   const server = await serveTabs(db, "app");
 *   assert.equal(server.connections, 0);
 * }
 * ```
 */
export async function serveTabs(db: Database, name: string, options: ServeTabsOptions = {}): Promise<TabServer> {
  const { Channel, locks } = api();
  checkName(name);
  const limit = options.maxRequestBytes ?? 64 * 1024 * 1024;
  const owner = randomId();
  // Held while serving: each connected tab waits for it to learn when this owner is gone.
  const releaseOwner = await hold(locks, ownerLock(name, owner));
  const registry = new SocketRegistry({
    executor: new Executor(db),
    guard: null,
    limit,
    maxFrameBytes: limit,
    maxOutputBytes: 256 * 1024 * 1024,
    authTimeout: 10_000,
    maxUnauthenticated: 256,
    maxUnauthenticatedPerPeer: 16,
    watch: (spec) => openWatch(db, spec),
  });
  const channel = new Channel(channelName(name));
  const conns = new Map<string, { events: WSEvents; ctx: WSContext }>();
  let closed = false;

  const drop = (conn: string) => {
    const c = conns.get(conn);
    if (!c) return;
    conns.delete(conn);
    c.events.onClose?.(new Event("close") as CloseEvent, c.ctx);
  };

  const accept = (conn: string) => {
    if (conns.has(conn)) return;
    const events = registry.events(true, `tab:${conn}`);
    // What ServerSocket uses of a Hono WSContext: send, close, raw (none here: no buffer to read).
    const ctx = {
      raw: undefined,
      readyState: 1,
      send: (data: Uint8Array) => channel.postMessage({ t: "frame", conn, owner, data: own(data) }),
      close: (code?: number, reason?: string) => {
        if (!conns.delete(conn)) return;
        channel.postMessage({ t: "closed", conn, code: code ?? 1000, reason: reason ?? "" });
      },
    } as unknown as WSContext;
    conns.set(conn, { events, ctx });
    channel.postMessage({ t: "opened", conn, owner });
    events.onOpen?.(new Event("open"), ctx);
    // The tab holds this lock while connected: granted here once it is gone.
    locks.request(tabLock(conn), {}, () => drop(conn)).catch(() => {});
  };

  channel.onmessage = (ev) => {
    const m = envelope(ev.data);
    if (closed || m === null || typeof m.conn !== "string") return;
    if (m.t === "open") accept(m.conn);
    else if (m.t === "frame") {
      const c = conns.get(m.conn);
      if (c) c.events.onMessage?.({ data: m.data } as MessageEvent, c.ctx);
    } else if (m.t === "close") drop(m.conn);
  };
  channel.postMessage({ t: "owner", owner });

  return {
    name,
    get connections() {
      return conns.size;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      registry.closeAll();
      for (const conn of [...conns.keys()]) drop(conn);
      channel.close();
      releaseOwner();
      return Promise.resolve();
    },
  };
}

// ---- a tab's side -------------------------------------------------------------------

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** A WebSocket (as the client uses it) whose far end is the owning worker, over the channel. */
class TabSocket implements WebSocketLike {
  binaryType = "arraybuffer";
  readyState = CONNECTING;
  // deno-lint-ignore no-explicit-any
  onopen: ((ev: any) => void) | null = null;
  // deno-lint-ignore no-explicit-any
  onmessage: ((ev: any) => void) | null = null;
  // deno-lint-ignore no-explicit-any
  onclose: ((ev: any) => void) | null = null;
  // deno-lint-ignore no-explicit-any
  onerror: ((ev: any) => void) | null = null;
  #name: string;
  #locks: Locks;
  #channel: Channel;
  #conn = randomId();
  #owner: string | null = null;
  #release: (() => void) | null = null;
  #holding = false;

  constructor(name: string) {
    const { Channel, locks } = api();
    this.#name = name;
    this.#locks = locks;
    this.#channel = new Channel(channelName(name));
    this.#channel.onmessage = (ev) => this.#receive(envelope(ev.data));
    // "open" only once this tab holds its connection's lock, so the owner,
    // which waits for that lock, cannot get it before this tab is gone.
    hold(locks, tabLock(this.#conn)).then((release) => {
      if (this.readyState === CLOSED) return release();
      this.#release = release;
      this.#holding = true;
      this.#channel.postMessage({ t: "open", conn: this.#conn });
    }, () => this.#finish(1011, "Web Locks refused the connection's lock"));
  }

  #receive(m: Envelope | null): void {
    if (m === null || this.readyState === CLOSED) return;
    if (m.t === "owner") {
      // A new owner started: a connection still waiting asks it.
      if (this.readyState === CONNECTING && this.#holding) this.#channel.postMessage({ t: "open", conn: this.#conn });
      return;
    }
    if (m.conn !== this.#conn) return;
    if (m.t === "opened" && this.readyState === CONNECTING && typeof m.owner === "string") {
      this.#owner = m.owner;
      this.readyState = OPEN;
      this.#watchOwner(m.owner);
      this.onopen?.({});
    } else if (m.t === "frame" && this.readyState === OPEN && m.owner === this.#owner) {
      this.onmessage?.({ data: m.data });
    } else if (m.t === "closed") {
      this.#finish(typeof m.code === "number" ? m.code : 1000, typeof m.reason === "string" ? m.reason : "");
    }
  }

  /** Granted (shared) once the owner is gone: its tab closed, its worker died or stopped serving. */
  #watchOwner(owner: string): void {
    this.#locks.request(ownerLock(this.#name, owner), { mode: "shared" }, () => {
      if (this.#owner === owner) this.#finish(1001, "The worker that owned the database is gone");
    }).catch(() => {});
  }

  send(data: Uint8Array): void {
    if (this.readyState !== OPEN) throw new Error("The tab connection is not open");
    this.#channel.postMessage({ t: "frame", conn: this.#conn, data: own(data) });
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState === CLOSED) return;
    if (this.#holding) this.#channel.postMessage({ t: "close", conn: this.#conn });
    this.#finish(code, reason);
  }

  #finish(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#owner = null;
    this.#channel.close();
    this.#release?.();
    this.onclose?.({ code, reason });
  }
}

/** Options of {@linkcode connectTab}: those of `connect()` that apply. */
export type ConnectTabOptions = Omit<ConnectOptions, "WebSocket" | "password">;

/**
 * Connects to the worker serving `name` ({@linkcode serveTabs}) and returns
 * a `Client`, the same as `connect()` returns for a server. When the owner
 * goes away, calls in flight fail with `ConnectionError` (they may or may
 * not have been applied) and the next call reconnects — to the next owner.
 *
 * @example
 * ```ts
 * // In any tab (the page, not the worker):
 * import assert from "node:assert/strict";
 * import { connectTab } from "@cyberdb/core/browser";
 * if ("BroadcastChannel" in globalThis && "locks" in navigator && "document" in globalThis) {
 *   const client = await connectTab("app");
 *   const settings = await client.createDict("settings").catch(() => client.getDict("settings"));
 *   await settings.set("theme", "dark");
 *   assert.equal(await settings.get("theme"), "dark");
 *   await client.close();
 * }
 * ```
 */
export function connectTab(name: string, options: ConnectTabOptions = {}): Promise<Client> {
  checkName(name);
  api();
  const Ctor = class extends TabSocket {
    constructor() {
      super(name);
    }
  } as unknown as WebSocketConstructor;
  return connect(`ws://cyberdb-tabs/${encodeURIComponent(name)}`, { ...options, WebSocket: Ctor });
}

/**
 * The bytes of a frame in a buffer of their own: a posted view carries its
 * whole buffer (structured clone copies all of it), and encoded frames are
 * views of the encoder's shared chunk.
 */
function own(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}
