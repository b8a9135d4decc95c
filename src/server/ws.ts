/**
 * The WebSocket side of the server: per-socket authentication (first frame
 * or upgrade header), the auth timeout, the bound on sockets waiting to
 * authenticate, the frame size limit, and many requests in flight per socket.
 *
 * @module
 */

import type { WSContext, WSEvents } from "hono/ws";
import { decode, encode } from "../codec.ts";
import { AuthError, ProtocolError, TooLargeError } from "../errors.ts";
import { CLOSE_AUTH, CLOSE_GOING_AWAY, CLOSE_PROTOCOL, CLOSE_TOO_LARGE, type WireReply } from "../client/wire.ts";
import type { Executor } from "./rpc.ts";

/** What the registry needs from the app. */
export interface SocketOptions {
  /** Runs the requests. */
  executor: Executor;
  /** Password check, or `null` when the server has no password. */
  check: ((given: unknown) => boolean) | null;
  /** Largest frame in bytes. */
  limit: number;
  /** Milliseconds a socket may stay unauthenticated. */
  authTimeout: number;
  /** Most sockets waiting to authenticate at once. */
  maxUnauthenticated: number;
}

type Id = number | string | null;

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function idOf(frame: unknown): Id {
  const id = typeof frame === "object" && frame !== null ? (frame as { id?: unknown }).id : undefined;
  return typeof id === "number" || typeof id === "string" ? id : null;
}

/**
 * Tracks every open socket and produces the Hono WebSocket events of each.
 *
 * @example
 * ```ts ignore
 * const sockets = new SocketRegistry({ executor, check: null, limit: 1 << 20, authTimeout: 10_000, maxUnauthenticated: 64 });
 * app.get("/v1/ws", upgradeWebSocket(() => sockets.events(true)));
 * ```
 */
export class SocketRegistry {
  #o: SocketOptions;
  #pending = 0;
  #open = new Set<WSContext>();

  /** A registry with the given limits. */
  constructor(options: SocketOptions) {
    this.#o = options;
  }

  /** Whether one more unauthenticated socket is allowed now. */
  canAcceptUnauthenticated(): boolean {
    return this.#pending < this.#o.maxUnauthenticated;
  }

  /** Closes every socket (server shutdown). */
  closeAll(): void {
    for (const ws of this.#open) {
      try {
        ws.close(CLOSE_GOING_AWAY, "Server shutting down");
      } catch { /* already closing */ }
    }
    this.#open.clear();
  }

  /** The events of one new socket; `authed` when the upgrade carried a valid password. */
  events(authed: boolean): WSEvents {
    const o = this.#o;
    let ws: WSContext | null = null;
    let closed = false;
    let counted = !authed;
    if (counted) this.#pending++;
    const release = () => {
      if (counted) {
        counted = false;
        this.#pending--;
      }
    };
    const send = (id: Id, reply: WireReply) => {
      if (closed || ws === null) return;
      try {
        const frame = reply.ok ? { id, ok: true, value: reply.value } : { id, ok: false, error: reply.error };
        ws.send(encode(frame) as Uint8Array<ArrayBuffer>);
      } catch { /* the peer went away; nothing to answer */ }
    };
    const fail = (id: Id, e: unknown, closeCode?: number) => {
      send(id, { ok: false, error: o.executor.wireError(e) });
      if (closeCode !== undefined && ws !== null && !closed) {
        closed = true;
        try {
          ws.close(closeCode, e instanceof Error ? e.message.slice(0, 120) : "Closed");
        } catch { /* already closing */ }
      }
    };
    // Runs from the upgrade on, so a socket that never opens is released too.
    const timer = authed ? undefined : setTimeout(() => {
      release();
      if (!authed) fail(null, new AuthError(`No authentication within ${o.authTimeout} ms: send { id, op: "auth", args: [password] } first`), CLOSE_AUTH);
    }, o.authTimeout);
    const authenticate = (id: Id, frame: { op?: unknown; args?: unknown }) => {
      const password = Array.isArray(frame.args) ? frame.args[0] : undefined;
      if (o.check !== null && !o.check(password)) {
        fail(id, new AuthError("Wrong password: check the password given to connect() against the server's --password"), CLOSE_AUTH);
        return;
      }
      authed = true;
      clearTimeout(timer);
      release();
      send(id, { ok: true, value: { maxRequestBytes: o.limit } });
    };

    return {
      onOpen: (_evt, ctx) => {
        ws = ctx;
        this.#open.add(ctx);
        // Deno's server sockets start with binaryType "blob"; frames must arrive in order, as bytes.
        const raw = ctx.raw as { binaryType?: string } | undefined;
        if (raw && raw.binaryType === "blob") raw.binaryType = "arraybuffer";
      },
      onMessage: (evt, ctx) => {
        ws ??= ctx;
        if (closed) return;
        const bytes = toBytes(evt.data);
        if (bytes === null) {
          fail(null, new ProtocolError("Text frames are not accepted: send binary MessagePack frames { id, op, args }"), CLOSE_PROTOCOL);
          return;
        }
        if (bytes.byteLength > o.limit) {
          fail(null, new TooLargeError(`Frame of ${bytes.byteLength} bytes exceeds the limit of ${o.limit} bytes: send smaller values or raise --max-request-bytes`), CLOSE_TOO_LARGE);
          return;
        }
        let frame: unknown;
        try {
          frame = decode(bytes);
        } catch {
          const e = authed
            ? new ProtocolError("Frame is not valid MessagePack: send binary MessagePack frames { id, op, args }")
            : new AuthError("Authenticate first with a MessagePack frame { id, op: \"auth\", args: [password] }");
          fail(null, e, authed ? CLOSE_PROTOCOL : CLOSE_AUTH);
          return;
        }
        const id = idOf(frame);
        const f = (typeof frame === "object" && frame !== null ? frame : {}) as { op?: unknown; args?: unknown; atomic?: unknown; ops?: unknown };
        if (f.op === "auth") return authenticate(id, f);
        if (!authed) {
          fail(id, new AuthError("Authenticate first: send { id, op: \"auth\", args: [password] } as the first frame"), CLOSE_AUTH);
          return;
        }
        if (id === null) {
          fail(null, new ProtocolError("A request frame needs an \"id\" (number or string) to match its reply: send { id, op, args }"));
          return;
        }
        const done = f.atomic === true ? o.executor.runAtomic(f.ops) : o.executor.run(frame);
        if (done instanceof Promise) done.then((reply) => send(id, reply));
        else send(id, done);
      },
      onClose: (_evt, ctx) => {
        closed = true;
        clearTimeout(timer);
        release();
        this.#open.delete(ws ?? ctx);
      },
      onError: () => {
        closed = true;
      },
    };
  }
}
