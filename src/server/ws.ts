/**
 * The WebSocket side of the server. Each socket is a {@linkcode ServerSocket},
 * a small state machine:
 *
 * ```
 *   upgrade ──► "auth" ──(auth frame, right password)──► "open" ──► "closed"
 *                 │  frames > 4 KiB, any other op,            │  output over the limit,
 *                 │  wrong password, auth timeout             │  bad frames, shutdown,
 *                 └──────────────────────────────► "closed" ◄─┘  the peer leaving
 * ```
 *
 * What it guarantees (DESIGN §7, issue 9):
 *
 * - Every request gets its reply, or the socket is closed with a code and a
 *   reason that say why. A send the runtime refuses (Bun drops frames past
 *   its back-pressure limit) closes the socket instead of losing the reply.
 * - Output per client is bounded (`maxOutputBytes`, Redis's
 *   `client-output-buffer-limit`): once more than that waits unsent, the
 *   socket is closed with 1008 and a reason. A single reply larger than the
 *   limit is answered with `TOO_LARGE` instead (ask for it streamed).
 * - Before authentication only a small frame (at most
 *   {@linkcode AUTH_FRAME_BYTES}) is looked at; anything larger, or any op
 *   but `auth`, closes the socket without being decoded. Where the runtime
 *   allows it (Node's `ws`) the frame limit of the parser itself is lowered
 *   until then, so larger frames are refused before they are buffered.
 * - A request larger than one frame may be sent in parts (see
 *   `src/wire/protocol.ts`), so `--max-request-bytes` holds on every runtime,
 *   also above Deno's fixed 64 MiB frame limit.
 * - Streamed answers wait for the peer before every batch, the first too.
 *
 * @module
 */

import type { WSContext, WSEvents } from "hono/ws";
import { arrayHeader, concatBytes, decode, encode } from "../wire/codec.ts";
import { AuthError, ProtocolError, TooLargeError } from "../errors.ts";
import {
  AUTH_FRAME_BYTES,
  CLOSE_AUTH,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL,
  CLOSE_OUTPUT_LIMIT,
  CLOSE_PROTOCOL,
  CLOSE_TOO_LARGE,
  MAX_STREAMS,
  MAX_WATCHES,
  type WireReply,
} from "../wire/protocol.ts";
import { quote } from "../core/value.ts";
import type { AuthGuard } from "./auth.ts";
import { type Monitor, now, type Source } from "./metrics.ts";
import { answerFrames, type Executor, streamRows } from "./rpc.ts";
import type { FeedCursor } from "../api/feed.ts";
import { corked, nextTurn, readWatchSpec, WatchOutput, type WatchSpec } from "./watch.ts";
import { yieldToIo } from "./yield.ts";

export { AUTH_FRAME_BYTES };

/** What the registry needs from the app. */
export interface SocketOptions {
  /** Runs the requests. */
  executor: Executor;
  /** Checks and throttles passwords; `null` when the server has no password. */
  guard: AuthGuard | null;
  /** Largest request in bytes (one frame, or the sum of its parts). */
  limit: number;
  /** Largest single frame the runtime delivers (told to clients, which send larger requests in parts). */
  maxFrameBytes: number;
  /** Most bytes that may wait unsent to one client before it is disconnected. */
  maxOutputBytes: number;
  /** Milliseconds a socket may stay unauthenticated. */
  authTimeout: number;
  /** Most sockets waiting to authenticate at once. */
  maxUnauthenticated: number;
  /** Most sockets waiting to authenticate at once from one peer address. */
  maxUnauthenticatedPerPeer: number;
  /** Opens the change-feed cursor of a watch request. */
  watch(spec: WatchSpec): FeedCursor;
  /**
   * Told when a socket (its runtime object, `WSContext.raw`) starts a watch:
   * a Durable Object records it, because a watch's cursor lives in memory
   * and does not survive hibernation (see src/cloudflare/sockets.ts).
   */
  onWatch?(raw: unknown): void;
  /** Counts bytes, connections and watches (metrics), and writes `--verbose` lines. */
  monitor?: Monitor;
}

/** One watch running on a socket: its cursor, the batches the client still takes, and whether it must stop. */
interface Watch {
  cursor: FeedCursor;
  credit: number;
  stop: boolean;
  /** The client takes several batches per frame (`batches: true` in its request). */
  multi: boolean;
}

type Id = number | string | null;

/** How long a client closed for its output may still read what was sent, and why, before its connection is cut. */
const TERMINATE_AFTER_MS = 5000;

/**
 * Largest array frame of batched replies; past it the next replies start
 * another frame, so a batch of large answers never needs a frame much
 * larger than its largest answer (clients' runtimes cap frames: Deno at 64 MiB).
 */
const BATCH_REPLY_BYTES = 16 * 1024 * 1024;

/** Replies of a batch encoded and waiting to leave as one frame: their ids, bytes, and whether their requests wrote. */
interface Chunk {
  ids: Id[];
  parts: Uint8Array[];
  bytes: number;
  wrote: boolean;
}

function newChunk(): Chunk {
  return { ids: [], parts: [], bytes: 0, wrote: false };
}

/** While streaming, a socket with more than this queued waits before the next batch. */
const HIGH_WATER = 4 * 1024 * 1024;

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** Bytes a socket has queued and not yet sent; 0 when the runtime does not say. */
function buffered(raw: unknown): number {
  const r = raw as { bufferedAmount?: unknown; getBufferedAmount?: unknown } | null | undefined;
  if (r === null || r === undefined) return 0;
  if (typeof r.getBufferedAmount === "function") return Number((r.getBufferedAmount as () => number).call(r)) || 0; // Bun
  return typeof r.bufferedAmount === "number" ? r.bufferedAmount : 0; // Deno, ws (Node)
}

/**
 * Sends one frame; `false` when the runtime dropped it. Bun's
 * `ServerWebSocket.send` says so by returning 0 (Hono's wrapper hides
 * that), so on Bun the raw socket is used.
 */
function sendFrame(ctx: WSContext, bytes: Uint8Array): boolean {
  const raw = ctx.raw as { send?: unknown; getBufferedAmount?: unknown } | undefined;
  if (raw !== undefined && typeof raw.getBufferedAmount === "function" && typeof raw.send === "function") {
    return (raw.send as (b: Uint8Array) => number).call(raw, bytes) !== 0;
  }
  ctx.send(bytes as Uint8Array<ArrayBuffer>);
  return true;
}

/**
 * Sets the largest frame the runtime's parser accepts on this socket, where
 * it can be set per socket (the `ws` package under Node); elsewhere a no-op,
 * and the app's own check after the frame arrived is what holds.
 */
function setFrameLimit(raw: unknown, bytes: number): void {
  const receiver = (raw as { _receiver?: { _maxPayload?: unknown } } | undefined)?._receiver;
  if (receiver !== undefined && typeof receiver._maxPayload === "number") receiver._maxPayload = bytes;
}

/** Ends a socket now, without waiting for a peer that does not read (where the runtime can). */
function terminate(raw: unknown): void {
  const r = raw as { terminate?: unknown } | undefined;
  if (r !== undefined && typeof r.terminate === "function") {
    try {
      (r.terminate as () => void).call(r);
    } catch { /* already gone */ }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An own property of a decoded frame (never one reached through a prototype). */
function own(frame: unknown, key: string): unknown {
  return typeof frame === "object" && frame !== null && Object.hasOwn(frame, key)
    ? (frame as Record<string, unknown>)[key]
    : undefined;
}

function idOf(frame: unknown): Id {
  const id = own(frame, "id");
  return typeof id === "number" || typeof id === "string" ? id : null;
}

/** A request arriving in parts: `{ id, part, more: true }` … `{ id, part }`. */
interface Assembly {
  id: Id;
  chunks: Uint8Array[];
  bytes: number;
  /** Set once the parts passed the limit: the rest is read and dropped. */
  tooLarge: boolean;
}

/**
 * Tracks every open socket and produces the Hono WebSocket events of each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Database } from "../api/database.ts";
 * import { connect } from "../client/client.ts";
 * import { Executor } from "./rpc.ts";
 * import { SocketRegistry } from "./ws.ts";
 * import { openWatch } from "./watch.ts";
 * const db = await Database.open();
 * const sockets = new SocketRegistry({ executor: new Executor(db), guard: null, limit: 1 << 20, maxFrameBytes: 1 << 20,
 *   maxOutputBytes: 1 << 28, authTimeout: 10_000, maxUnauthenticated: 64, maxUnauthenticatedPerPeer: 8,
 *   watch: (spec) => openWatch(db, spec) });
 * const app = new Hono().get("/v1/ws", upgradeWebSocket(() => sockets.events(true, "127.0.0.1")));
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
 * const client = await connect(`ws://127.0.0.1:${server.addr.port}`);
 * await client.createDict("d");
 * assert.equal(sockets.size, 1);
 * await client.close();
 * await server.shutdown();
 * await db.close();
 * ```
 */
export class SocketRegistry {
  /** The limits every socket works under. */
  readonly options: SocketOptions;
  #unauthenticated = 0;
  #byPeer = new Map<string, number>();
  #open = new Set<ServerSocket>();

  /** A registry with the given limits. */
  constructor(options: SocketOptions) {
    this.options = options;
  }

  /** Whether one more unauthenticated socket from `peer` is allowed now. */
  canAcceptUnauthenticated(peer: string): boolean {
    return this.#unauthenticated < this.options.maxUnauthenticated &&
      (this.#byPeer.get(peer) ?? 0) < this.options.maxUnauthenticatedPerPeer;
  }

  /** Counts a socket waiting to authenticate; returns its release (idempotent). */
  holdUnauthenticated(peer: string): () => void {
    this.#unauthenticated++;
    this.#byPeer.set(peer, (this.#byPeer.get(peer) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#unauthenticated--;
      const n = (this.#byPeer.get(peer) ?? 1) - 1;
      if (n <= 0) this.#byPeer.delete(peer);
      else this.#byPeer.set(peer, n);
    };
  }

  /** Registers an open socket (done by the socket itself). */
  add(socket: ServerSocket): void {
    this.#open.add(socket);
  }

  /** Forgets a closed socket (done by the socket itself). */
  remove(socket: ServerSocket): void {
    this.#open.delete(socket);
  }

  /** Sockets open now. */
  get size(): number {
    return this.#open.size;
  }

  /** Closes every socket (server shutdown). */
  closeAll(): void {
    for (const s of [...this.#open]) s.close(CLOSE_GOING_AWAY, "Server shutting down");
    this.#open.clear();
  }

  /** The events of one new socket from `peer`; `authed` when the upgrade carried a valid password. */
  events(authed: boolean, peer: string): WSEvents {
    return new ServerSocket(this, authed, peer).events();
  }
}

/**
 * One WebSocket connection: authentication, request dispatch, parts,
 * streamed answers and the output bound. See the module text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "../api/database.ts";
 * import { Executor } from "./rpc.ts";
 * import { ServerSocket, SocketRegistry } from "./ws.ts";
 * import { openWatch } from "./watch.ts";
 * const db = await Database.open();
 * const registry = new SocketRegistry({ executor: new Executor(db), guard: null, limit: 1 << 20,
 *   maxFrameBytes: 1 << 20, maxOutputBytes: 1 << 28, authTimeout: 10_000, maxUnauthenticated: 64,
 *   maxUnauthenticatedPerPeer: 8, watch: (spec) => openWatch(db, spec) });
 * // Authenticated by its upgrade request (without, it would wait at most authTimeout for an auth frame).
 * const events = new ServerSocket(registry, true, "127.0.0.1").events(); // what upgradeWebSocket() takes
 * assert.equal(typeof events.onMessage, "function");
 * ```
 */
export class ServerSocket {
  #registry: SocketRegistry;
  #o: SocketOptions;
  #peer: string;
  #state: "auth" | "open" | "closed";
  #ctx: WSContext | null = null;
  #release: () => void = () => {};
  #timer: ReturnType<typeof setTimeout> | undefined;
  #streams = new Map<Id, { stop: boolean }>();
  #watches = new Map<Id, Watch>();
  /** Bytes the socket held unsent after our last send (see {@linkcode #mayBeFull}). */
  #queued = 0;
  /** Bytes of batched replies waiting for an fsync before they may be sent (see {@linkcode #answer}). */
  #held = 0;
  #assembly: Assembly | null = null;
  #source: Source;
  #monitor: Monitor | null;
  /** When it opened (ms, monotonic) and how many requests it carried: for the `--verbose` line at close. */
  #since = 0;
  #requests = 0;

  /** A socket of `registry`; `authed` when the upgrade carried a valid password. */
  constructor(registry: SocketRegistry, authed: boolean, peer: string) {
    this.#registry = registry;
    this.#o = registry.options;
    this.#peer = peer;
    this.#source = { transport: "ws", peer };
    this.#monitor = this.#o.monitor ?? null;
    this.#state = authed ? "open" : "auth";
    if (!authed) {
      this.#release = registry.holdUnauthenticated(peer);
      // Runs from the upgrade on, so a socket that never opens is released too.
      this.#timer = setTimeout(() => {
        this.#release();
        if (this.#state === "auth") {
          this.#fail(
            null,
            new AuthError(
              `No authentication within ${this.#o.authTimeout} ms: send { id, op: "auth", args: [password] } first`,
            ),
            CLOSE_AUTH,
          );
        }
      }, this.#o.authTimeout);
    }
  }

  /** The Hono events of this socket. */
  events(): WSEvents {
    return {
      onOpen: (_evt, ctx) => this.#opened(ctx),
      onMessage: (evt, ctx) => {
        this.#ctx ??= ctx;
        this.#message(evt.data);
      },
      onClose: () => this.#closed(),
      onError: () => this.#closed(),
    };
  }

  /** Closes the socket with `code` and `reason` (at most 123 bytes, as RFC 6455 allows). */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#closed();
    const ctx = this.#ctx;
    if (ctx === null) return;
    try {
      ctx.close(code, shortReason(reason));
    } catch { /* already closing */ }
  }

  #opened(ctx: WSContext): void {
    this.#ctx = ctx;
    if (this.#state === "closed") {
      // Closed before it opened (the auth timeout): close it now.
      try {
        ctx.close(CLOSE_AUTH, "No authentication in time");
      } catch { /* already closing */ }
      return;
    }
    this.#registry.add(this);
    this.#since = now();
    this.#monitor?.connection("ws", this.#peer, this.#state === "auth" ? "opened, waiting for auth" : "opened");
    // Deno's server sockets start with binaryType "blob"; frames must arrive in order, as bytes.
    const raw = ctx.raw as { binaryType?: string } | undefined;
    if (raw && raw.binaryType === "blob") raw.binaryType = "arraybuffer";
    setFrameLimit(ctx.raw, this.#state === "auth" ? AUTH_FRAME_BYTES : this.#o.maxFrameBytes);
  }

  #closed(): void {
    if (this.#state === "closed") return;
    if (this.#since > 0) {
      const secs = ((now() - this.#since) / 1000).toFixed(1);
      this.#monitor?.connection("ws", this.#peer, `closed after ${secs} s, ${this.#requests} requests`);
    }
    this.#state = "closed";
    clearTimeout(this.#timer);
    this.#release();
    this.#assembly = null;
    // Streams in progress stop at their next step and drop what they hold.
    for (const s of this.#streams.values()) s.stop = true;
    for (const w of this.#watches.values()) this.#endWatch(w);
    this.#watches.clear();
    this.#registry.remove(this);
  }

  #message(data: unknown): void {
    if (this.#state === "closed") return;
    const bytes = toBytes(data);
    if (bytes !== null && this.#monitor !== null) this.#monitor.metrics.received.ws += bytes.byteLength;
    if (bytes === null) {
      this.#fail(
        null,
        new ProtocolError("Text frames are not accepted: send binary MessagePack frames { id, op, args }"),
        CLOSE_PROTOCOL,
      );
      return;
    }
    if (this.#state === "auth") return this.#authFrame(bytes);
    if (bytes.byteLength > this.#o.maxFrameBytes) {
      this.#fail(
        null,
        new TooLargeError(
          `Frame of ${bytes.byteLength} bytes exceeds the limit of ${this.#o.maxFrameBytes} bytes: send smaller values or raise --max-request-bytes`,
        ),
        CLOSE_TOO_LARGE,
      );
      return;
    }
    let frame: unknown;
    try {
      frame = decode(bytes);
    } catch (e) {
      // The decoder's messages are short and never quote the input.
      const why = e instanceof Error ? e.message : String(e);
      this.#fail(
        null,
        new ProtocolError(`Frame is not a valid request (${why}): send binary MessagePack frames { id, op, args }`),
        CLOSE_PROTOCOL,
      );
      return;
    }
    // A pipeline: an array of requests in one frame, each answered on its own,
    // in order (a Durable Object commits once per message, so one frame of
    // many calls is one storage commit).
    if (Array.isArray(frame)) {
      for (const f of frame) {
        // A request of the pipeline may have closed the socket (output limit).
        if (this.#isClosed()) return;
        if (Array.isArray(f) || own(f, "part") !== undefined) {
          this.#fail(
            idOf(f),
            new ProtocolError("A pipeline frame holds requests { id, op, args }, not parts or arrays"),
          );
          continue;
        }
        this.#one(f);
      }
      return;
    }
    // A batch (to a server whose hello says batch: true): { batch: [requests] },
    // run as one unit and answered with ONE frame, an array of the replies.
    const batch = own(frame, "batch");
    if (batch !== undefined && own(frame, "id") === undefined) {
      if (Array.isArray(batch)) return this.#batch(batch);
      this.#fail(
        null,
        new ProtocolError("A batch frame is { batch: [{ id, op, args }, …] }: send the requests in an array"),
      );
      return;
    }
    if (own(frame, "part") !== undefined) return this.#part(frame);
    this.#one(frame);
  }

  /**
   * `{ batch: [requests] }`: the plain requests (`{ id, op, args }` and
   * atomic batches) run one after another now, each reply encoded as it is
   * made; the replies leave together as one array frame once what they did
   * or saw is durable (one fsync wait in `sync: "always"`). Any other
   * element (a streamed call, a watch, a cancel or credit, an auth, a
   * malformed one) first sends what came before it, then is handled as if
   * it had come alone, so requests still run in the order they were sent.
   * Replies past {@linkcode #chunkBytes} go in a further array frame, so
   * no frame is larger than the output limit allows.
   */
  #batch(reqs: unknown[]): void {
    let chunk = newChunk();
    for (const f of reqs) {
      // A request of the batch may have closed the socket (an auth frame, a bad request, the output limit).
      if (this.#state === "closed") return;
      const id = idOf(f);
      const op = own(f, "op");
      const atomic = own(f, "atomic") === true;
      // What #request would run at once, as it does (anything else goes there).
      const plain = typeof op === "string"
        ? op !== "auth"
        : op === undefined && atomic && own(f, "cancel") === undefined && own(f, "watch") === undefined &&
          own(f, "credit") === undefined;
      if (plain && id !== null && this.#assembly === null && own(f, "stream") === undefined) {
        this.#requests++;
        const r = this.#o.executor.runNow(f, atomic, this.#source);
        const bytes = this.#encodeReply(id, r.reply);
        if (chunk.bytes > 0 && chunk.bytes + bytes.byteLength > this.#chunkBytes()) {
          this.#answer(chunk);
          chunk = newChunk();
        }
        chunk.ids.push(id);
        chunk.parts.push(bytes);
        chunk.bytes += bytes.byteLength;
        chunk.wrote ||= r.wrote;
        continue;
      }
      this.#answer(chunk);
      chunk = newChunk();
      if (Array.isArray(f) || own(f, "part") !== undefined) {
        this.#fail(id, new ProtocolError("A batch holds requests { id, op, args }, not parts or arrays"));
      } else {
        this.#one(f);
      }
    }
    this.#answer(chunk);
  }

  /**
   * The most bytes of replies one array frame carries: half the output
   * limit (so one frame alone never closes a socket that reads), at most
   * {@linkcode BATCH_REPLY_BYTES}.
   */
  #chunkBytes(): number {
    return Math.min(BATCH_REPLY_BYTES, Math.max(1, Math.floor(this.#o.maxOutputBytes / 2)));
  }

  /**
   * Sends a chunk of batched replies once what they did or saw is durable.
   * Replies held for an fsync count against the output limit like unsent
   * ones: past it, the socket is closed (a batch of large reads must not
   * pile up in memory while the disk catches up).
   */
  #answer(chunk: Chunk): void {
    if (chunk.parts.length === 0 || this.#state === "closed") return;
    const wait = this.#o.executor.durable(chunk.wrote);
    if (wait === null) {
      this.#sendChunk(chunk.parts);
      return;
    }
    this.#held += chunk.bytes;
    if (this.#held > this.#o.maxOutputBytes) {
      this.close(
        CLOSE_OUTPUT_LIMIT,
        `Output limit exceeded: ${this.#held} bytes of replies waited for the disk (limit ${this.#o.maxOutputBytes}); send fewer reads per batch or raise --max-output-bytes`,
      );
      return;
    }
    wait.then(() => {
      this.#held -= chunk.bytes;
      this.#sendChunk(chunk.parts);
    }, (e) => {
      // The fsync failed: no write of the batch may be acknowledged.
      this.#held -= chunk.bytes;
      const error = this.#o.executor.wireError(e);
      this.#sendChunk(chunk.ids.map((id) => encode({ id, ok: false, error })));
    });
  }

  /** Sends encoded replies as one frame: the reply itself when there is one, else an array of them. */
  #sendChunk(parts: Uint8Array[]): void {
    if (parts.length === 1) this.#push(parts[0]);
    else this.#push(concatBytes([arrayHeader(parts.length), ...parts]));
  }

  #isClosed(): boolean {
    return this.#state === "closed";
  }

  /** One decoded request frame (alone, or an element of a pipeline frame). */
  #one(frame: unknown): void {
    if (this.#assembly !== null) {
      this.#fail(
        idOf(frame),
        new ProtocolError(
          "A request arrived while the parts of another were still coming: send all parts of a request one after another",
        ),
        CLOSE_PROTOCOL,
      );
      return;
    }
    this.#request(frame);
  }

  /** Before authentication: only a small `auth` frame is decoded; anything else closes. */
  #authFrame(bytes: Uint8Array): void {
    if (bytes.byteLength > AUTH_FRAME_BYTES) {
      this.#fail(
        null,
        new AuthError(
          `Authenticate first with a small frame { id, op: "auth", args: [password] } (at most ${AUTH_FRAME_BYTES} bytes); got ${bytes.byteLength} bytes`,
        ),
        CLOSE_AUTH,
      );
      return;
    }
    let frame: unknown;
    try {
      frame = decode(bytes);
    } catch {
      frame = undefined;
    }
    const id = idOf(frame);
    if (own(frame, "op") !== "auth") {
      this.#fail(
        id,
        new AuthError('Authenticate first: send { id, op: "auth", args: [password] } as the first frame'),
        CLOSE_AUTH,
      );
      return;
    }
    const args = own(frame, "args");
    const password = Array.isArray(args) ? args[0] : undefined;
    const denied = this.#o.guard === null ? null : this.#o.guard.verify(this.#peer, password);
    if (denied !== null) {
      this.#fail(id, denied, CLOSE_AUTH);
      return;
    }
    this.#state = "open";
    clearTimeout(this.#timer);
    this.#release();
    setFrameLimit(this.#ctx?.raw, this.#o.maxFrameBytes);
    this.#reply(id, { ok: true, value: this.#hello() });
  }

  /** What an authenticated client learns about the server's limits. */
  #hello(): Record<string, number | boolean> {
    return {
      maxRequestBytes: this.#o.limit,
      maxFrameBytes: this.#o.maxFrameBytes,
      maxOutputBytes: this.#o.maxOutputBytes,
      // Frames may be arrays of requests (what the client sends for the calls of one tick).
      pipeline: true,
      // Frames may be { batch: [requests] }, answered by one array frame of replies.
      batch: true,
    };
  }

  /** A part of a request too large for one frame; the last part (no `more`) runs it. */
  #part(frame: unknown): void {
    const id = idOf(frame);
    const part = own(frame, "part");
    if (!(part instanceof Uint8Array) || id === null) {
      this.#fail(
        id,
        new ProtocolError(
          "A part frame is { id, part: <bytes>, more?: true }: send the encoded request in binary parts",
        ),
        CLOSE_PROTOCOL,
      );
      return;
    }
    let a = this.#assembly;
    if (a !== null && a.id !== id) {
      this.#fail(
        id,
        new ProtocolError(
          `Parts of request ${quote(id)} arrived before the parts of ${
            quote(a.id)
          } ended: send one request's parts at a time`,
        ),
        CLOSE_PROTOCOL,
      );
      return;
    }
    if (a === null) a = this.#assembly = { id, chunks: [], bytes: 0, tooLarge: false };
    a.bytes += part.byteLength;
    if (a.bytes > this.#o.limit) {
      a.tooLarge = true;
      a.chunks = [];
    } else if (!a.tooLarge) {
      a.chunks.push(part.slice());
    }
    if (own(frame, "more") === true) return;
    this.#assembly = null;
    if (a.tooLarge) {
      this.#reply(id, {
        ok: false,
        error: this.#o.executor.wireError(
          new TooLargeError(
            `Request of ${a.bytes} bytes exceeds the limit of ${this.#o.limit} bytes: send less per request or raise --max-request-bytes`,
          ),
        ),
      });
      return;
    }
    const whole = new Uint8Array(a.bytes);
    let at = 0;
    for (const c of a.chunks) {
      whole.set(c, at);
      at += c.byteLength;
    }
    let request: unknown;
    try {
      request = decode(whole);
    } catch {
      this.#reply(id, {
        ok: false,
        error: this.#o.executor.wireError(
          new ProtocolError(
            "The parts of the request do not make one MessagePack request: send the encoded { id, op, args } split into parts",
          ),
        ),
      });
      return;
    }
    if (idOf(request) !== id || own(request, "part") !== undefined) {
      this.#reply(id, {
        ok: false,
        error: this.#o.executor.wireError(
          new ProtocolError("The request sent in parts must be one { id, op, args } with the same id as its parts"),
        ),
      });
      return;
    }
    this.#request(request);
  }

  #request(frame: unknown): void {
    const id = idOf(frame);
    if (own(frame, "op") === "auth") {
      // Already authenticated (a reconnecting client, or a header): answer as a fresh auth would.
      this.#reply(id, { ok: true, value: this.#hello() });
      return;
    }
    if (id === null) {
      this.#fail(
        null,
        new ProtocolError('A request frame needs an "id" (number or string) to match its reply: send { id, op, args }'),
      );
      return;
    }
    if (own(frame, "cancel") === true && own(frame, "op") === undefined) {
      // { id, cancel: true }: stop streaming the answer to request `id` (or its watch); no reply.
      const s = this.#streams.get(id);
      if (s !== undefined) s.stop = true;
      const w = this.#watches.get(id);
      if (w !== undefined) this.#endWatch(w);
      return;
    }
    if (own(frame, "watch") !== undefined && own(frame, "op") === undefined) return this.#watch(id, frame);
    const credit = own(frame, "credit");
    if (credit !== undefined && own(frame, "op") === undefined) {
      // { id, credit: n }: the client takes n more batches of watch `id`; no reply.
      const w = this.#watches.get(id);
      if (w !== undefined && typeof credit === "number" && Number.isSafeInteger(credit) && credit > 0) {
        w.credit = Math.min(w.credit + credit, Number.MAX_SAFE_INTEGER);
        w.cursor.wake();
      }
      return;
    }
    const atomic = own(frame, "atomic") === true;
    let rows: number | undefined;
    const stream = own(frame, "stream");
    if (stream !== undefined) {
      try {
        if (atomic) {
          throw new ProtocolError(
            '"stream" applies to one { id, op, args } request, not to an atomic batch: leave it out',
          );
        }
        if (this.#streams.size >= MAX_STREAMS) {
          throw new ProtocolError(
            `${MAX_STREAMS} streamed answers are already in progress on this connection: read or cancel them first`,
          );
        }
        rows = streamRows(stream);
      } catch (e) {
        this.#reply(id, { ok: false, error: this.#o.executor.wireError(e) });
        return;
      }
    }
    const answer = (reply: WireReply) => {
      if (rows !== undefined && reply.ok) void this.#stream(id, reply.value, rows);
      else this.#reply(id, reply);
    };
    this.#requests++;
    const done = atomic
      ? this.#o.executor.runAtomic(own(frame, "ops"), own(frame, "checks"), this.#source)
      : this.#o.executor.run(frame, rows !== undefined, this.#source);
    if (done instanceof Promise) done.then(answer);
    else answer(done);
  }

  /** Sends a reply frame, or a TOO_LARGE error in its place when it alone exceeds the output limit. */
  #reply(id: Id, reply: WireReply): void {
    if (this.#state === "closed" || this.#ctx === null) return;
    this.#push(this.#encodeReply(id, reply));
  }

  /** A reply frame's bytes; a TOO_LARGE error in its place when it alone exceeds the output limit. */
  #encodeReply(id: Id, reply: WireReply): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = encode(reply.ok ? { id, ok: true, value: reply.value } : { id, ok: false, error: reply.error });
    } catch (e) {
      bytes = encode({ id, ok: false, error: this.#o.executor.wireError(e) });
    }
    if (bytes.byteLength > this.#o.maxOutputBytes) {
      const e = new TooLargeError(
        `The answer is ${bytes.byteLength} bytes, over this connection's output limit of ${this.#o.maxOutputBytes} bytes: ` +
          "ask for it in batches (a streamed request, or scan) or raise --max-output-bytes",
      );
      bytes = encode({ id, ok: false, error: this.#o.executor.wireError(e) });
    }
    return bytes;
  }

  /** Hands one frame to the runtime; closes the socket when it was dropped or output piles up. */
  #push(bytes: Uint8Array): boolean {
    const ctx = this.#ctx;
    if (this.#state === "closed" || ctx === null) return false;
    let sent: boolean;
    try {
      sent = sendFrame(ctx, bytes);
      if (sent && this.#monitor !== null) this.#monitor.metrics.sent.ws += bytes.byteLength;
    } catch {
      this.#closed(); // the peer went away; nothing to answer
      return false;
    }
    if (!sent) {
      this.close(
        CLOSE_INTERNAL,
        "A reply could not be queued: the connection is closed so that no reply is lost silently; reconnect",
      );
      terminate(ctx.raw);
      return false;
    }
    const waiting = buffered(ctx.raw);
    this.#queued = waiting;
    if (waiting > this.#o.maxOutputBytes) {
      this.close(
        CLOSE_OUTPUT_LIMIT,
        `Output limit exceeded: ${waiting} bytes waited unsent (limit ${this.#o.maxOutputBytes}); read replies faster or raise --max-output-bytes`,
      );
      // A peer that does not read would never take the close frame either:
      // give it a few seconds to catch up and read why, then free its buffers.
      const raw = ctx.raw;
      const t = setTimeout(() => terminate(raw), TERMINATE_AFTER_MS);
      (t as { unref?: () => void }).unref?.();
      return false;
    }
    return true;
  }

  /**
   * Whether the socket may hold more than {@linkcode HIGH_WATER} unsent: what
   * it held after our last send. Only our sends raise it, so a low value is
   * never stale, and a watch sending to a thousand sockets asks the runtime
   * once per frame (in `#push`) rather than twice, and awaits nothing.
   */
  #mayBeFull(): boolean {
    return this.#queued > HIGH_WATER;
  }

  /** Waits while the peer has more than {@linkcode HIGH_WATER} unread; `false` once the stream must stop. */
  async #drained(state: { stop: boolean }): Promise<boolean> {
    for (
      let wait = 1;
      this.#state !== "closed" && !state.stop && (this.#queued = buffered(this.#ctx?.raw)) > HIGH_WATER;
      wait = Math.min(wait * 2, 50)
    ) {
      await sleep(wait);
    }
    return this.#state !== "closed" && !state.stop;
  }

  /** Sends an answer batch by batch, each once the peer took the previous ones. */
  async #stream(id: Id, value: unknown, rows: number): Promise<void> {
    const state = { stop: false };
    this.#streams.set(id, state);
    let last = false;
    const frames = answerFrames(
      value,
      rows,
      (f) => {
        last = !(f.ok && f.more);
        return encode(
          f.ok
            ? (f.more ? { id, ok: true, value: f.value, more: true } : { id, ok: true, value: f.value })
            : { id, ok: false, error: f.error },
        );
      },
      (e) => this.#o.executor.wireError(e),
    );
    try {
      for (let first = true;; first = false) {
        if (!first) await yieldToIo();
        if (!(await this.#drained(state))) return;
        const next = frames.next();
        if (next.done || !this.#push(next.value)) return;
        // The slot is free the moment the last frame is out: a client may start its next stream at once.
        if (last) return;
      }
    } catch (e) {
      this.#reply(id, { ok: false, error: this.#o.executor.wireError(e) });
    } finally {
      frames.return();
      if (this.#streams.get(id) === state) this.#streams.delete(id);
    }
  }

  /**
   * `{ id, watch: { collections?, from?, durable?, resume? }, credit? }`:
   * streams the change feed as `{ id, ok, more: true, value: { lsn,
   * changes } }` frames, the first with no changes (the LSN it starts
   * after), until `{ id, cancel: true }`, the socket closes, or an error
   * frame ends it (`LAGGED`, `RESET`).
   */
  #watch(id: Id, frame: unknown): void {
    const t0 = now();
    this.#requests++;
    let cursor: FeedCursor;
    // Without a credit the client takes what the socket carries (TCP's own back-pressure).
    let credit = Number.MAX_SAFE_INTEGER;
    try {
      if (this.#watches.has(id)) {
        throw new ProtocolError(`Watch ${quote(id)} is already running on this connection: use another id`);
      }
      if (this.#watches.size >= MAX_WATCHES) {
        throw new ProtocolError(
          `${MAX_WATCHES} watches are already running on this connection: cancel one, or watch several collections in one`,
        );
      }
      const given = own(frame, "credit");
      if (given !== undefined) {
        if (typeof given !== "number" || !Number.isSafeInteger(given) || given < 1) {
          throw new ProtocolError(
            `Watch credit ${quote(given)} is not a positive integer: pass e.g. 64, or leave it out`,
          );
        }
        credit = given;
      }
      cursor = this.#o.watch(readWatchSpec(own(frame, "watch")));
    } catch (e) {
      this.#reply(id, { ok: false, error: this.#o.executor.observe("watch", t0, e, this.#source)! });
      return;
    }
    this.#o.executor.observe("watch", t0, null);
    const w: Watch = { cursor, credit, stop: false, multi: own(frame, "batches") === true };
    this.#watches.set(id, w);
    this.#o.onWatch?.(this.#ctx?.raw);
    void this.#pumpWatch(id, w);
  }

  #endWatch(w: Watch): void {
    w.stop = true;
    w.cursor.close();
  }

  /**
   * Sends a watch's batches while the client has credit and reads; waits
   * otherwise. What waits is sent once per turn of the event loop (see
   * `nextTurn` in watch.ts): the commits of one turn leave together.
   */
  async #pumpWatch(id: Id, w: Watch): Promise<void> {
    const { cursor } = w;
    const out = new WatchOutput(id as number | string, cursor, w.multi);
    try {
      if (!this.#push(out.start())) return;
      for (;;) {
        if (w.stop || this.#state === "closed") return;
        if (w.credit <= 0) {
          await cursor.wait();
          continue;
        }
        if (this.#mayBeFull() && !(await this.#drained(w))) return;
        const taken = out.take(w.credit, this.#o.maxOutputBytes);
        if (taken === null) {
          await cursor.wait();
          await nextTurn();
          continue;
        }
        if (!this.#pushAll(taken.frames)) return;
        w.credit -= taken.batches;
        if (taken.error !== null) throw taken.error;
      }
    } catch (e) {
      if (!w.stop) this.#reply(id, { ok: false, error: this.#o.executor.wireError(e) });
    } finally {
      cursor.close();
      if (this.#watches.get(id) === w) this.#watches.delete(id);
    }
  }

  /** Pushes frames, corked where the runtime can (one write for them all); `false` once one failed. */
  #pushAll(frames: Uint8Array[]): boolean {
    if (frames.length === 1) return this.#push(frames[0]);
    let ok = true;
    corked(this.#ctx?.raw, () => {
      for (const f of frames) if (!(ok = this.#push(f))) return;
    });
    return ok;
  }

  /** Answers `id` with the error, and closes the socket when `closeCode` is given. */
  #fail(id: Id, e: unknown, closeCode?: number): void {
    this.#reply(id, { ok: false, error: this.#o.executor.wireError(e) });
    if (closeCode !== undefined) this.close(closeCode, e instanceof Error ? e.message : "Closed");
  }
}

/** A close reason cut to the 123 bytes of UTF-8 a close frame can carry. */
function shortReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.byteLength <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (new TextEncoder().encode(cut + "...").byteLength > 123) cut = cut.slice(0, -1);
  return cut + "...";
}
