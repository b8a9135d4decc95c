/**
 * The WebSocket transport: binary MessagePack frames, many calls in flight
 * on one socket matched by id, first-frame authentication (works in
 * browsers, which cannot set headers), and reconnection with exponential
 * backoff after the socket drops.
 *
 * @module
 */

import { arrayHeader, concatBytes, decode, encode } from "../wire/codec.ts";
import { AuthError, ClosedError, ConnectionError, type CyberDBError } from "../errors.ts";
import { BatchQueue, checkSize, Pending, replyError, type Transport, type TransportOptions } from "./transport.ts";
import { authorizationHeader, MAX_STREAMS, WATCH_CREDIT, type WireCall } from "../wire/protocol.ts";
import { eventStreamUrl, type RemoteWatchOptions, type WatchChannel, WatchQueue, type WatchRequest } from "./watch.ts";
import type { Check } from "../core/entry.ts";

/** The parts of the standard `WebSocket` this transport uses (browsers, Deno, Bun, Node ≥ 22, npm `ws`). */
export interface WebSocketLike {
  /** Binary frames arrive as this type; set to `"arraybuffer"`. */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Sends one frame. */
  send(data: Uint8Array): void;
  /** Closes the socket. */
  close(code?: number, reason?: string): void;
  // The handlers take `any` events: the standard WebSocket's handlers take
  // `Event`/`MessageEvent`/`CloseEvent`, `ws`'s its own classes, and a
  // narrower type here would make neither assignable (parameters are
  // contravariant). The transport reads only `data`, `code` and `reason`.
  /** Open handler. */
  // deno-lint-ignore no-explicit-any
  onopen: ((ev: any) => void) | null;
  /** Message handler: `ev.data` is the frame. */
  // deno-lint-ignore no-explicit-any
  onmessage: ((ev: any) => void) | null;
  /** Close handler: `ev.code` and `ev.reason` say why. */
  // deno-lint-ignore no-explicit-any
  onclose: ((ev: any) => void) | null;
  /** Error handler. */
  // deno-lint-ignore no-explicit-any
  onerror: ((ev: any) => void) | null;
}

/**
 * A `WebSocket` constructor, e.g. `globalThis.WebSocket` or `WebSocket` from
 * the `ws` package. Deno's, Bun's and `ws`'s also take `{ headers }` as
 * their second argument, which the client uses to authenticate at the upgrade.
 */
export type WebSocketConstructor = new (url: string, options?: { headers: Record<string, string> }) => WebSocketLike;

/**
 * Whether this runs in Deno, Bun or Node, whose WebSocket constructors take
 * `{ headers }`; a browser's would read that object as a subprotocol name.
 */
function takesHeaders(): boolean {
  const g = globalThis as { navigator?: { userAgent?: unknown }; process?: { versions?: { node?: unknown } } };
  const ua = g.navigator?.userAgent;
  if (typeof ua === "string") return /^(Deno|Bun|Node\.js)\//.test(ua);
  return typeof g.process?.versions?.node === "string";
}

/** Reconnection settings; `false` turns reconnection off. */
export interface ReconnectOptions {
  /** First delay after a failed attempt, ms (default 50). */
  minDelay?: number;
  /** Longest delay between attempts, ms (default 2000). */
  maxDelay?: number;
}

const OPEN = 1;

/** The start of a `{ batch: [...] }` frame: a map of one entry and its key "batch"; the array follows. */
const BATCH_KEY = new Uint8Array([0x81, 0xa5, 0x62, 0x61, 0x74, 0x63, 0x68]);

/** Bytes a part frame adds around its part: the map, the id, the keys, the binary header. */
const PART_OVERHEAD = 64;

/** A call that waited for a reconnection retries LOADING answers after this long, doubling up to the next. */
const LOADING_RETRY_FIRST_MS = 50;
const LOADING_RETRY_MAX_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Calls over one WebSocket; reconnects on demand with backoff after a drop.
 * Calls in flight when the socket drops fail with `ConnectionError` (they
 * may or may not have been applied) and are never replayed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, startServer } from "../../server.ts";
 * import { type WebSocketConstructor, WsTransport } from "./ws_transport.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * server.db.createList("l");
 * const Ctor: WebSocketConstructor = WebSocket;
 * const url = `${server.url.replace(/^http/, "ws")}/v1/ws`;
 * const t = new WsTransport(url, { timeout: 30_000, maxRequestBytes: 1 << 26 }, Ctor, {});
 * await t.ready();
 * assert.deepEqual(await t.call("db.collections", []), [{ name: "l", kind: "list" }]);
 * await t.close();
 * await server.close();
 * ```
 */
export class WsTransport implements Transport {
  readonly kind = "ws" as const;
  #url: string;
  #o: TransportOptions;
  #Ctor: WebSocketConstructor;
  #reconnect: ReconnectOptions | false;
  #socket: WebSocketLike | null = null;
  /** The socket of the attempt under way, closed by close() (it may never finish on its own). */
  #trying: WebSocketLike | null = null;
  #connecting: Promise<WebSocketLike> | null = null;
  #pending = new Map<number, Pending | BatchQueue | WatchQueue>();
  #nextId = 1;
  #failures = 0;
  #everOpened = false;
  #closed = false;
  #limit: number;
  /** Whether the server takes arrays of requests in one frame (its hello says so). */
  #pipeline = false;
  /** Whether the server takes `{ batch: [requests] }` frames, answered by an array of replies (its hello says so). */
  #batch = false;
  /** Frames queued in this tick, and the socket they go to. */
  #outbox: Uint8Array[] = [];
  #outboxSocket: WebSocketLike | null = null;
  /** The largest frame the server takes; larger requests go in parts (see wire.ts). */
  #frameLimit = Infinity;
  /**
   * Streamed answers this socket may have running. The server refuses more
   * than MAX_STREAMS at once; a stream this client cancelled is only stopped
   * at the server's next step (and older servers free a place one turn after
   * the last frame), so it may still count there: half the limit keeps the
   * two counts together under it.
   */
  #streamSlots = MAX_STREAMS / 2;
  /** Streamed calls waiting for a slot, in the order they were made. */
  #waitingStreams: { q: BatchQueue; start: () => void }[] = [];

  /** A transport for `url` (the full `/v1/ws` URL). */
  constructor(url: string, options: TransportOptions, Ctor: WebSocketConstructor, reconnect: ReconnectOptions | false) {
    this.#url = url;
    this.#o = options;
    this.#Ctor = Ctor;
    this.#reconnect = reconnect;
    this.#limit = options.maxRequestBytes;
  }

  async ready(): Promise<void> {
    await this.#ensure(Date.now() + this.#o.timeout);
  }

  /** Opens one socket and authenticates it; one attempt. */
  #open(): Promise<WebSocketLike> {
    return new Promise((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        // Where the constructor takes headers, the password goes in the upgrade
        // request too: the socket is authenticated before its first frame.
        // The auth frame still follows (it fetches the server's limits).
        const password = this.#o.password;
        socket = password !== undefined && takesHeaders()
          ? new this.#Ctor(this.#url, { headers: { authorization: authorizationHeader(password) } })
          : new this.#Ctor(this.#url);
      } catch (e) {
        reject(
          new ConnectionError(
            `Could not open a WebSocket to ${this.#url}: ${e instanceof Error ? e.message : String(e)}`,
          ),
        );
        return;
      }
      socket.binaryType = "arraybuffer";
      this.#trying = socket;
      let authed = false;
      let lastError: CyberDBError | null = null;
      let dead = false; // given up after a bad frame; its late events are ignored
      socket.onopen = () => {
        // id 0 is reserved for the auth frame; the server answers with its limits.
        socket.send(encode({ id: 0, op: "auth", args: [this.#o.password ?? null] }));
      };
      socket.onmessage = (ev: { data: unknown }) => {
        if (dead) return;
        let frame: { id?: unknown; ok?: unknown; value?: unknown; error?: unknown; more?: unknown };
        try {
          frame = decode(new Uint8Array(ev.data as ArrayBuffer)) as typeof frame;
          // After authentication, to a client that sent batches, an array of replies (see #deliver).
          const ok = (f: unknown) => typeof f === "object" && f !== null && !Array.isArray(f);
          if (!(ok(frame) || (authed && this.#batch && Array.isArray(frame) && frame.every(ok)))) {
            throw new Error("The frame is not a { id, ok } object");
          }
        } catch (e) {
          // Dropping it would leave its call waiting for the timeout. The
          // socket is given up at once (not when the close handshake ends,
          // which a broken peer may never finish): every pending call fails
          // now with this reason, and the next call opens a new socket.
          const error = new ConnectionError(
            `The server sent a frame that is not a reply (${
              (e as Error).message.slice(0, 160)
            }): the connection was closed; ` +
              "pending calls may or may not have been applied; the next call reconnects",
          );
          dead = true;
          if (this.#socket === socket) this.#socket = null;
          if (this.#trying === socket) this.#trying = null;
          try {
            socket.close();
          } catch { /* already closing */ }
          if (!authed) {
            reject(error);
            return;
          }
          const pending = [...this.#pending.values()];
          this.#pending.clear();
          for (const p of pending) p.reject(error);
          return;
        }
        if (!authed) {
          if (frame.id === 0 && frame.ok === true) {
            authed = true;
            const hello = (frame.value ?? {}) as {
              maxRequestBytes?: unknown;
              maxFrameBytes?: unknown;
              pipeline?: unknown;
              batch?: unknown;
            };
            // A server that takes arrays of requests gets the calls of one tick in one frame (unless told not to).
            this.#pipeline = hello.pipeline === true && this.#o.coalesce !== false;
            // One that takes { batch } frames answers each with one frame of replies.
            this.#batch = this.#pipeline && hello.batch === true;
            if (typeof hello.maxRequestBytes === "number") {
              this.#limit = Math.min(this.#o.maxRequestBytes, hello.maxRequestBytes);
            }
            // An older server names no frame limit: its frames are as large as its requests.
            this.#frameLimit = typeof hello.maxFrameBytes === "number" && hello.maxFrameBytes >= PART_OVERHEAD * 2
              ? hello.maxFrameBytes
              : Infinity;
            this.#socket = socket;
            if (this.#trying === socket) this.#trying = null;
            resolve(socket);
          } else if (frame.ok === false) {
            lastError = replyError(frame.error);
          }
          return;
        }
        const why = this.#deliver(frame);
        if (why !== null) lastError = why;
      };
      socket.onerror = () => {};
      socket.onclose = (ev: { code: number; reason: string }) => {
        if (this.#socket === socket) this.#socket = null;
        if (this.#trying === socket) this.#trying = null;
        if (dead) return; // its calls have failed already; newer ones belong to another socket
        if (!authed) {
          reject(
            lastError ??
              new ConnectionError(`Could not connect to ${this.#url} (close code ${ev.code}): is the server running?`),
          );
          return;
        }
        const cause = lastError ??
          (ev.reason
            ? new ConnectionError(`The server closed the connection to ${this.#url} (code ${ev.code}): ${ev.reason}`)
            : null);
        const pending = [...this.#pending.values()];
        this.#pending.clear();
        for (const p of pending) {
          p.reject(
            this.#closed ? new ClosedError(`The client was closed before the reply to ${p.op} arrived`) : cause ??
              new ConnectionError(
                `The connection to ${this.#url} dropped before the reply to ${p.op} (close code ${ev.code}): it may or may not have been applied; the next call reconnects`,
              ),
          );
        }
      };
    });
  }

  /**
   * Hands a reply frame (or each reply of an array frame, in order) to its
   * call; returns the error of a reply without id, which announces why the
   * server is about to close the socket.
   */
  #deliver(frame: unknown): CyberDBError | null {
    if (Array.isArray(frame)) {
      let why: CyberDBError | null = null;
      for (const f of frame) why = this.#deliver(f) ?? why;
      return why;
    }
    const f = frame as { id?: unknown; ok?: unknown; value?: unknown; error?: unknown; more?: unknown };
    const id = typeof f.id === "number" ? f.id : null;
    if (id === null) return f.ok === false ? replyError(f.error) : null;
    const p = this.#pending.get(id);
    if (p) {
      // A batch of a streamed answer; the frame without `more` is its last.
      if (f.more === true && f.ok === true && (p instanceof BatchQueue || p instanceof WatchQueue)) {
        p.push(f.value);
        return null;
      }
      this.#pending.delete(id);
      p.settle(f);
    }
    return null;
  }

  /** An open, authenticated socket: reuses, or reconnects with backoff until `deadline`. */
  async #ensure(deadline: number): Promise<WebSocketLike> {
    for (;;) {
      if (this.#closed) throw new ClosedError("The client is closed: connect() again");
      const s = this.#socket;
      if (s !== null && s.readyState === OPEN) return s;
      if (this.#everOpened && this.#reconnect === false) {
        throw new ConnectionError(`The connection to ${this.#url} dropped and reconnect is off: connect() again`);
      }
      this.#connecting ??= this.#attempt().finally(() => (this.#connecting = null));
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ConnectionError(
          `Could not connect to ${this.#url} within ${this.#o.timeout} ms: is the server running?`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          this.#connecting,
          new Promise<never>((_, rej) => {
            timer = setTimeout(
              () =>
                rej(
                  new ConnectionError(
                    `Could not connect to ${this.#url} within ${this.#o.timeout} ms: is the server running?`,
                  ),
                ),
              left,
            );
          }),
        ]);
      } catch (e) {
        // A wrong password will not get better by retrying; neither does a first connect().
        if (e instanceof AuthError || e instanceof ClosedError || !this.#everOpened || Date.now() >= deadline) throw e;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async #attempt(): Promise<WebSocketLike> {
    if (this.#failures > 0 && this.#reconnect !== false) {
      const min = this.#reconnect.minDelay ?? 50;
      const max = this.#reconnect.maxDelay ?? 2000;
      const delay = Math.min(max, min * 2 ** (this.#failures - 1));
      await sleep(delay / 2 + Math.random() * delay / 2);
    }
    try {
      const s = await this.#open();
      this.#failures = 0;
      this.#everOpened = true;
      if (this.#closed) s.close(1000, "Client closed");
      return s;
    } catch (e) {
      this.#failures++;
      throw e;
    }
  }

  call(op: string, args: unknown[], timeout = this.#o.timeout): Promise<unknown> {
    return this.#send(op, (id) => encode({ id, op, args }), timeout);
  }

  stream(op: string, args: unknown[], batchRows: number, timeout = this.#o.timeout): AsyncIterableIterator<unknown> {
    const id = this.#nextId++;
    const bytes = encode({ id, op, args, stream: batchRows });
    checkSize(op, bytes, this.#limit);
    let sentOn: WebSocketLike | null = null;
    const stop = () => {
      if (this.#pending.get(id) === q) this.#pending.delete(id);
    };
    // On an early exit or a timeout, tell the server to stop sending (an
    // older server answers { id, cancel } with an error nobody waits for).
    const cancel = () => {
      stop();
      if (sentOn !== null && sentOn === this.#socket && sentOn.readyState === OPEN) {
        try {
          this.#enqueue(sentOn, encode({ id, cancel: true }));
        } catch { /* the socket is going away anyway */ }
      }
    };
    // The slot this stream holds, given back (to the next waiting stream) once it is done.
    let holding = false;
    const release = () => {
      if (!holding) return;
      holding = false;
      this.#releaseStream();
    };
    const q = new BatchQueue(op, timeout, cancel, cancel, release);
    const dispatch = (s: WebSocketLike) => {
      if (q.done) return;
      this.#pending.set(id, q);
      sentOn = s;
      try {
        this.#write(s, id, bytes);
      } catch (e) {
        stop();
        q.reject(new ConnectionError(`Sending ${op} failed: ${e instanceof Error ? e.message : String(e)}; retry`));
      }
    };
    const start = () => {
      if (q.done) {
        // Given up (timed out, or left) while waiting: the slot goes on.
        this.#releaseStream();
        return;
      }
      holding = true;
      const s = this.#socket;
      if (s !== null && s.readyState === OPEN && !this.#closed) {
        dispatch(s);
      } else {
        this.#ensure(Date.now() + timeout).then((sock) => {
          checkSize(op, bytes, this.#limit);
          dispatch(sock);
        }).catch((e) => q.reject(e));
      }
    };
    // Beyond the server's limit a stream waits here for one to end, rather
    // than fail: embedded queries have no such limit, so neither may these.
    if (this.#streamSlots > 0) {
      this.#streamSlots--;
      start();
    } else {
      this.#waitingStreams.push({ q, start });
    }
    return q;
  }

  /** A stream ended: its slot goes to the next waiting stream, if any. */
  #releaseStream(): void {
    const next = this.#waitingStreams.shift();
    if (next === undefined) this.#streamSlots++;
    else next.start();
  }

  /**
   * `{ id, watch, credit }`: the server streams the feed to this id until
   * cancelled; credit for more batches is granted as the consumer takes
   * them, so at most {@linkcode WATCH_CREDIT} wait here. The socket
   * dropping fails it with `ConnectionError` (the stream then resumes on a
   * new socket).
   */
  watch(request: WatchRequest): WatchChannel {
    if (this.#closed) throw new ClosedError("The client is closed: connect() again");
    const id = this.#nextId++;
    // batches: the server may send several batches in one frame (an older server ignores it; see WatchQueue.push).
    const bytes = encode({ id, watch: request, credit: WATCH_CREDIT, batches: true });
    let sentOn: WebSocketLike | null = null;
    const send = (frame: unknown) => {
      if (sentOn !== null && sentOn === this.#socket && sentOn.readyState === OPEN) {
        try {
          this.#enqueue(sentOn, encode(frame));
        } catch { /* the socket is going away; the watch fails with it */ }
      }
    };
    const q = new WatchQueue(() => {
      if (this.#pending.get(id) === q) this.#pending.delete(id);
      send({ id, cancel: true });
    });
    let taken = 0;
    q.onTake = () => {
      // Credit back in halves: few frames, and the server never waits for a consumer that keeps up.
      if (++taken >= WATCH_CREDIT / 2) {
        send({ id, credit: taken });
        taken = 0;
      }
    };
    const dispatch = (s: WebSocketLike) => {
      if (q.done) return;
      this.#pending.set(id, q);
      sentOn = s;
      try {
        this.#enqueue(s, bytes);
      } catch (e) {
        this.#pending.delete(id);
        q.reject(new ConnectionError(`Sending a watch failed: ${e instanceof Error ? e.message : String(e)}; retry`));
      }
    };
    const s = this.#socket;
    if (s !== null && s.readyState === OPEN) dispatch(s);
    else this.#ensure(Date.now() + this.#o.timeout).then(dispatch, (e) => q.reject(e));
    return q;
  }

  watchUrl(options: RemoteWatchOptions): Promise<string> {
    const base = this.#url.replace(/^ws/, "http").replace(/\/v1\/ws$/, "");
    return eventStreamUrl(base, this.#o.password, options, this.#o.timeout);
  }

  async atomic(calls: readonly WireCall[], checks?: readonly Check[], timeout = this.#o.timeout): Promise<unknown[]> {
    const frame = (id: number) =>
      encode(checks === undefined ? { id, atomic: true, ops: calls } : { id, atomic: true, checks, ops: calls });
    return await this.#send("atomic", frame, timeout) as unknown[];
  }

  #send(op: string, frame: (id: number) => Uint8Array, timeout: number): Promise<unknown> {
    const id = this.#nextId++;
    const bytes = frame(id);
    checkSize(op, bytes, this.#limit);
    const s = this.#socket;
    // The common case stays synchronous: no await between the call and the send.
    if (s !== null && s.readyState === OPEN && !this.#closed) return this.#dispatch(s, id, op, bytes, timeout);
    const deadline = Date.now() + timeout;
    // A call made while the connection is down waits, within its timeout, for
    // the server to come back — and, should it still be loading its data
    // then, for that too: a LOADING answer means the server ran nothing, so
    // sending the call again is safe. (A call made on an open connection to
    // a loading server gets LoadingError at once.)
    const attempt = (delay: number): Promise<unknown> =>
      this.#ensure(deadline).then((sock) => {
        checkSize(op, bytes, this.#limit);
        return this.#dispatch(sock, id, op, bytes, Math.max(1, deadline - Date.now()));
      }).catch(async (e) => {
        if ((e as CyberDBError)?.code !== "LOADING" || this.#closed || Date.now() + delay >= deadline) throw e;
        await sleep(delay);
        return attempt(Math.min(delay * 2, LOADING_RETRY_MAX_MS));
      });
    return attempt(LOADING_RETRY_FIRST_MS);
  }

  #dispatch(s: WebSocketLike, id: number, op: string, bytes: Uint8Array, timeout: number): Promise<unknown> {
    const p = new Pending(op, timeout, () => this.#pending.delete(id));
    this.#pending.set(id, p);
    try {
      this.#write(s, id, bytes);
    } catch (e) {
      this.#pending.delete(id);
      p.reject(new ConnectionError(`Sending ${op} failed: ${e instanceof Error ? e.message : String(e)}; retry`));
    }
    return p.promise;
  }

  /**
   * Sends an encoded request: as one frame, or — when it is larger than the
   * server's frame limit — as consecutive part frames `{ id, part, more }`,
   * sent together so no other frame comes between them.
   */
  #write(s: WebSocketLike, id: number, bytes: Uint8Array): void {
    if (bytes.byteLength <= this.#frameLimit) {
      this.#enqueue(s, bytes);
      return;
    }
    // Parts go out one after another with nothing between: what is queued goes first.
    this.#flushOutbox();
    const size = this.#frameLimit - PART_OVERHEAD;
    for (let at = 0; at < bytes.byteLength; at += size) {
      const end = Math.min(bytes.byteLength, at + size);
      const part = bytes.subarray(at, end);
      s.send(encode(end < bytes.byteLength ? { id, part, more: true } : { id, part }));
    }
  }

  /**
   * Queues one encoded frame for `s`. The frames queued in one tick leave
   * together at its end: one frame when there is one, else (to a server that
   * takes them) arrays of requests no larger than its frame limit — one
   * message, one server event, one storage commit in a Durable Object.
   */
  #enqueue(s: WebSocketLike, bytes: Uint8Array): void {
    if (!this.#pipeline) {
      s.send(bytes);
      return;
    }
    if (this.#outboxSocket !== null && this.#outboxSocket !== s) this.#flushOutbox();
    this.#outboxSocket = s;
    this.#outbox.push(bytes);
    if (this.#outbox.length === 1) queueMicrotask(() => this.#flushOutbox());
  }

  /** Sends what is queued, as single frames or arrays of them (see {@linkcode #enqueue}). */
  #flushOutbox(): void {
    const frames = this.#outbox;
    const s = this.#outboxSocket;
    if (frames.length === 0 || s === null) return;
    this.#outbox = [];
    this.#outboxSocket = null;
    try {
      if (frames.length === 1) {
        s.send(frames[0]);
        return;
      }
      // To a server that takes them, { batch: [...] } (answered by one array frame), else a bare array.
      const head = this.#batch ? BATCH_KEY : null;
      const overhead = 5 + (head === null ? 0 : head.byteLength); // the largest array header, and the key
      let batch: Uint8Array[] = [];
      let size = overhead;
      const send = () => {
        if (batch.length === 1) s.send(batch[0]);
        else if (batch.length > 1) {
          const header = arrayHeader(batch.length);
          s.send(concatBytes(head === null ? [header, ...batch] : [head, header, ...batch]));
        }
        batch = [];
        size = overhead;
      };
      for (const f of frames) {
        if (batch.length > 0 && size + f.byteLength > this.#frameLimit) send();
        batch.push(f);
        size += f.byteLength;
      }
      send();
    } catch { /* the socket is going away: its calls fail when it closes */ }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const s = this.#socket;
    this.#socket = null;
    for (const p of this.#pending.values()) {
      p.reject(new ClosedError(`The client was closed before the reply to ${p.op} arrived`));
    }
    this.#pending.clear();
    for (const { q } of this.#waitingStreams.splice(0)) {
      q.reject(new ClosedError(`The client was closed before ${q.op} was sent`));
    }
    const trying = this.#trying;
    this.#trying = null;
    if (trying !== null) {
      try {
        trying.close(1000, "Client closed");
      } catch { /* never opened */ }
    }
    if (s === null) return;
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, 1000);
      const prev = s.onclose;
      s.onclose = (ev) => {
        clearTimeout(done);
        prev?.(ev);
        resolve();
      };
      try {
        s.close(1000, "Client closed");
      } catch {
        clearTimeout(done);
        resolve();
      }
    });
  }
}
