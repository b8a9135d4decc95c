/**
 * The WebSocket side of the server: per-socket authentication (first frame
 * or upgrade header), the auth timeout, the bound on sockets waiting to
 * authenticate, the frame size limit, many requests in flight per socket,
 * and streamed answers (`{ id, op, args, stream }`, see `src/client/wire.ts`):
 * one batch per frame, a turn of the event loop between frames, and a pause
 * while the peer has not taken what was sent.
 *
 * @module
 */

import type { WSContext, WSEvents } from "hono/ws";
import { decode, encode } from "../codec.ts";
import { AuthError, ProtocolError, TooLargeError } from "../errors.ts";
import { CLOSE_AUTH, CLOSE_GOING_AWAY, CLOSE_PROTOCOL, CLOSE_TOO_LARGE, type WireReply } from "../client/wire.ts";
import { answerFrames, type Executor, streamRows } from "./rpc.ts";

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

/** Bytes a socket has queued and not yet sent; 0 when the runtime does not say. */
function buffered(raw: unknown): number {
  const r = raw as { bufferedAmount?: unknown; getBufferedAmount?: unknown } | null | undefined;
  if (r === null || r === undefined) return 0;
  if (typeof r.getBufferedAmount === "function") return Number((r.getBufferedAmount as () => number)()) || 0; // Bun
  return typeof r.bufferedAmount === "number" ? r.bufferedAmount : 0; // Deno, ws (Node)
}

/** While streaming, a socket with more than this queued waits before the next batch. */
const HIGH_WATER = 4 * 1024 * 1024;

/** One turn of the event loop (a macrotask), so other sockets are served between batches. */
function turn(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => immediate !== undefined ? immediate(resolve) : setTimeout(resolve, 0));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
    // Streams in progress on this socket, by request id: set to true to stop one.
    const streams = new Map<Id, { stop: boolean }>();
    /** Sends an answer batch by batch; stops when the socket closes or the client cancels. */
    const stream = async (id: Id, value: unknown, rows: number) => {
      const state = { stop: false };
      streams.set(id, state);
      const frames = answerFrames(value, rows, (f) => encode(f.ok ? (f.more ? { id, ok: true, value: f.value, more: true } : { id, ok: true, value: f.value }) : { id, ok: false, error: f.error }), (e) => o.executor.wireError(e));
      try {
        let first = true;
        for (;;) {
          if (!first) {
            await turn();
            // Backpressure: do not pile batches onto a socket whose peer is not reading.
            for (let wait = 1; !closed && !state.stop && buffered(ws?.raw) > HIGH_WATER; wait = Math.min(wait * 2, 50)) await sleep(wait);
          }
          first = false;
          if (closed || state.stop || ws === null) return;
          const next = frames.next();
          if (next.done) return;
          try {
            ws.send(next.value as Uint8Array<ArrayBuffer>);
          } catch {
            return; // the peer went away
          }
        }
      } catch (e) {
        send(id, { ok: false, error: o.executor.wireError(e) });
      } finally {
        frames.return();
        if (streams.get(id) === state) streams.delete(id);
      }
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
        const f = (typeof frame === "object" && frame !== null ? frame : {}) as {
          op?: unknown;
          args?: unknown;
          atomic?: unknown;
          ops?: unknown;
          stream?: unknown;
          cancel?: unknown;
        };
        if (f.op === "auth") return authenticate(id, f);
        if (!authed) {
          fail(id, new AuthError("Authenticate first: send { id, op: \"auth\", args: [password] } as the first frame"), CLOSE_AUTH);
          return;
        }
        if (id === null) {
          fail(null, new ProtocolError("A request frame needs an \"id\" (number or string) to match its reply: send { id, op, args }"));
          return;
        }
        if (f.cancel === true && f.op === undefined) {
          // { id, cancel: true }: stop streaming the answer to request `id`; no reply.
          const s = streams.get(id);
          if (s !== undefined) s.stop = true;
          return;
        }
        let rows: number | undefined;
        if (f.stream !== undefined) {
          try {
            if (f.atomic === true) throw new ProtocolError("\"stream\" applies to one { id, op, args } request, not to an atomic batch: leave it out");
            rows = streamRows(f.stream);
          } catch (e) {
            fail(id, e);
            return;
          }
        }
        const answer = (reply: WireReply) => {
          if (rows !== undefined && reply.ok) void stream(id, reply.value, rows);
          else send(id, reply);
        };
        const done = f.atomic === true ? o.executor.runAtomic(f.ops) : o.executor.run(frame);
        if (done instanceof Promise) done.then(answer);
        else answer(done);
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
