/**
 * The app's WebSockets over the Durable Object hibernation API. The object
 * accepts each socket with `ctx.acceptWebSocket` and the runtime calls the
 * object's `webSocketMessage` / `webSocketClose` / `webSocketError`; between
 * messages the object may be evicted from memory (hibernation) while its
 * sockets stay connected. (Hono's `hono/cloudflare-workers` helper uses the
 * event-listener API instead, which never hibernates — and from compatibility
 * date 2026-03-17 delivers binary frames as `Blob` and never calls `onOpen`.)
 *
 * ```
 *  upgrade (the app's GET /v1/ws) ──► acceptWebSocket(server) ── attachment { authed, peer }
 *        │                                        │
 *        └─ the app's ServerSocket events ◄───────┤ webSocketMessage(ws, data)
 *                                                  │
 *  hibernation: memory gone, sockets kept ─────────┤ webSocketMessage(ws, data) on a fresh instance:
 *                                                  └─► a new ServerSocket from the attachment
 * ```
 *
 * What survives hibernation is the socket's attachment: whether it is
 * authenticated (by its upgrade's password, or later by its auth frame) and
 * its peer address. A fresh instance rebuilds an authenticated socket's
 * state from it, so the client goes on without noticing. A socket still
 * waiting to authenticate cannot hibernate (its auth timeout is a timer), so
 * one found unauthenticated after a wake was cut off by a restart: it is
 * closed, and the client reconnects.
 *
 * @module
 */

import { type UpgradeWebSocket, WSContext, type WSEvents } from "hono/ws";
import { defineWebSocketHelper } from "hono/ws";
import type { Context } from "hono";
import { decode } from "../wire/codec.ts";
import { CLOSE_AUTH } from "../wire/protocol.ts";
import type { SocketRegistry } from "../server/ws.ts";

/** What the bridge needs of a WebSocket accepted for hibernation (Cloudflare's `WebSocket`). */
export interface HibernatableWebSocket {
  /** Sends a frame. */
  send(data: ArrayBuffer | Uint8Array | string): void;
  /** Closes the socket. */
  close(code?: number, reason?: string): void;
  /** Keeps a small structured-clonable value with the socket, across hibernation (at most 2,048 bytes). */
  serializeAttachment(value: unknown): void;
  /** The value kept by `serializeAttachment`, or `null`. */
  deserializeAttachment(): unknown;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
}

/** What the bridge needs of the object's state (Cloudflare's `DurableObjectState`). */
export interface SocketState {
  /** Hands the socket to the runtime for hibernation. */
  acceptWebSocket(ws: HibernatableWebSocket, tags?: string[]): void;
  /** The sockets the runtime kept for this object across hibernation (workerd's `ctx.getWebSockets()`). */
  getWebSockets?(): HibernatableWebSocket[];
}

/** What a socket keeps across hibernation. */
interface Attachment {
  /** Format of this record. */
  v: 1;
  /** Authenticated (by its upgrade's password, or by its auth frame). */
  authed: boolean;
  /** Its peer address, for the wrong-password throttle. */
  peer: string;
  /** It watches changes: a watch's cursor does not survive hibernation. */
  watching?: boolean;
}

/** Closes a socket whose watches were lost with a hibernated instance (1012: service restart). */
function closeWatcher(ws: HibernatableWebSocket): void {
  try {
    ws.close(1012, "The database restarted (the object hibernated): reconnect; watches resume from their last change");
  } catch { /* already closed */ }
}

function attachmentOf(ws: HibernatableWebSocket): Attachment | null {
  let a: unknown;
  try {
    a = ws.deserializeAttachment();
  } catch {
    return null;
  }
  const r = a as Partial<Attachment> | null;
  return r !== null && typeof r === "object" && r.v === 1 && typeof r.authed === "boolean" &&
      typeof r.peer === "string"
    ? r as Attachment
    : null;
}

/** One live socket: the app's events for it and the context they were opened with. */
interface Live {
  events: WSEvents;
  ctx: WSContext;
  attachment: Attachment;
}

/** Options of {@linkcode HibernationBridge}. */
export interface HibernationOptions {
  /** The object's state (`acceptWebSocket`). */
  state: SocketState;
  /** Whether an upgrade request carried the right password (or none is needed). */
  authorized(c: Context): boolean;
  /** The peer address of a request. */
  peer(request: Request): string;
  /** Builds the events of a socket found after a wake (authenticated). */
  resume: SocketRegistry;
  /** Builds the `WebSocketPair` of an upgrade (default: the runtime's global `WebSocketPair`). */
  pair?: () => [client: unknown, server: HibernatableWebSocket];
}

/** The runtime's `new WebSocketPair()`, as [client, server]. */
function runtimePair(): [unknown, HibernatableWebSocket] {
  const Pair = (globalThis as { WebSocketPair?: new () => Record<0 | 1, unknown> }).WebSocketPair;
  if (Pair === undefined) throw new Error("WebSocketPair is missing: this runs inside a Cloudflare Worker only");
  const pair = new Pair();
  return [pair[0], pair[1] as HibernatableWebSocket];
}

/**
 * The app's WebSockets over the hibernation API: `upgrade` goes to
 * `createApp({ upgradeWebSocket })`, and the object's `webSocketMessage`,
 * `webSocketClose` and `webSocketError` call `message`, `close` and
 * `error`. See the module text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "../api/database.ts";
 * import { Executor } from "../server/rpc.ts";
 * import { SocketRegistry } from "../server/ws.ts";
 * import { openWatch } from "../server/watch.ts";
 * import { HibernationBridge } from "./sockets.ts";
 * // Inside a Durable Object the state is `ctx`; here a stand-in to show the calls.
 * const db = await Database.open();
 * const resume = new SocketRegistry({ executor: new Executor(db), guard: null, limit: 1 << 20,
 *   maxFrameBytes: 1 << 20, maxOutputBytes: 1 << 28, authTimeout: 10_000, maxUnauthenticated: 64,
 *   maxUnauthenticatedPerPeer: 8, watch: (spec) => openWatch(db, spec) });
 * const bridge = new HibernationBridge({
 *   state: { acceptWebSocket: () => {} },
 *   authorized: () => true,
 *   peer: () => "unknown",
 *   resume,
 * });
 * assert.equal(typeof bridge.upgrade, "function"); // createApp(db, { upgradeWebSocket: bridge.upgrade })
 * assert.equal(bridge.size, 0);
 * ```
 */
export class HibernationBridge {
  #o: HibernationOptions;
  #live = new Map<HibernatableWebSocket, Live>();

  /** A bridge for one object. */
  constructor(options: HibernationOptions) {
    this.#o = options;
    // A new instance: the object woke. A socket that was watching lost its
    // cursor with the old instance and would wait in silence: close it now,
    // so its client reconnects and resumes from the last change it had.
    for (const ws of options.state.getWebSockets?.() ?? []) {
      if (attachmentOf(ws)?.watching) closeWatcher(ws);
    }
  }

  /** Sockets this instance knows (accepted, or met again after a wake). */
  get size(): number {
    return this.#live.size;
  }

  /** The app's `upgradeWebSocket`: accepts the socket for hibernation and opens the app's events on it. */
  readonly upgrade: UpgradeWebSocket = defineWebSocketHelper((c: Context, events: WSEvents) => {
    const [client, server] = (this.#o.pair ?? runtimePair)();
    this.#o.state.acceptWebSocket(server);
    const attachment: Attachment = { v: 1, authed: this.#o.authorized(c), peer: this.#o.peer(c.req.raw) };
    server.serializeAttachment(attachment);
    this.#bind(server, events, attachment);
    return new Response(null, { status: 101, webSocket: client } as ResponseInit);
  });

  /** A frame from `ws` (the object's `webSocketMessage`). */
  message(ws: HibernatableWebSocket, data: ArrayBuffer | string): void {
    const live = this.#live.get(ws) ?? this.#wake(ws);
    if (live === null) return;
    live.events.onMessage?.({ data } as MessageEvent, live.ctx);
  }

  /** `ws` closed (the object's `webSocketClose`); answers the close where the runtime leaves that to us. */
  close(ws: HibernatableWebSocket, code: number, reason: string): void {
    const live = this.#live.get(ws);
    this.#live.delete(ws);
    live?.events.onClose?.({ code, reason } as CloseEvent, live.ctx);
    try {
      // 1005/1006 say "no code": they may not be sent back.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch { /* already closed by the runtime */ }
  }

  /** `ws` failed (the object's `webSocketError`). */
  error(ws: HibernatableWebSocket): void {
    const live = this.#live.get(ws);
    this.#live.delete(ws);
    live?.events.onError?.(new Event("error"), live.ctx);
  }

  #bind(ws: HibernatableWebSocket, events: WSEvents, attachment: Attachment): Live {
    const ctx = new WSContext<HibernatableWebSocket>({
      send: (data) => {
        if (!attachment.authed) this.#sniff(ws, attachment, data);
        ws.send(data);
      },
      close: (code, reason) => {
        this.#live.delete(ws);
        ws.close(code, reason);
      },
      raw: ws,
      get readyState() {
        return ws.readyState as 0 | 1 | 2 | 3;
      },
    });
    const live = { events, ctx, attachment };
    this.#live.set(ws, live);
    events.onOpen?.(new Event("open"), ctx);
    return live;
  }

  /**
   * Before authentication, the only successful reply a socket sends is the
   * one to its auth frame (see `ServerSocket`): seeing it, the attachment
   * records the socket as authenticated, so it stays so after a wake.
   */
  #sniff(ws: HibernatableWebSocket, attachment: Attachment, data: unknown): void {
    if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) return;
    let reply: unknown;
    try {
      reply = decode(data instanceof Uint8Array ? data : new Uint8Array(data));
    } catch {
      return;
    }
    if ((reply as { ok?: unknown } | null)?.ok === true) {
      attachment.authed = true;
      ws.serializeAttachment(attachment);
    }
  }

  /**
   * Records that `ws` (a socket of this object) started a watch. A watch's
   * cursor is memory the object loses when it hibernates; a watching socket
   * met after a wake is closed (1012, "service restart"), so its client
   * reconnects and resumes each watch from the last change it delivered.
   */
  watching(ws: unknown): void {
    const live = this.#live.get(ws as HibernatableWebSocket);
    if (live === undefined || live.attachment.watching) return;
    live.attachment.watching = true;
    (ws as HibernatableWebSocket).serializeAttachment(live.attachment);
  }

  /** A socket met after a wake: its state rebuilt from its attachment. */
  #wake(ws: HibernatableWebSocket): Live | null {
    const attachment = attachmentOf(ws);
    if (attachment?.watching) {
      closeWatcher(ws);
      return null;
    }
    if (attachment === null || !attachment.authed) {
      try {
        ws.close(CLOSE_AUTH, "Not authenticated after a restart of the database: reconnect and authenticate");
      } catch { /* already closed */ }
      return null;
    }
    return this.#bind(ws, this.#o.resume.events(true, attachment.peer), attachment);
  }
}
