/**
 * `client.watch()`: the server's change feed as an async iterator of
 * `Change[]` batches, over either transport (a WebSocket watch, or the
 * Server-Sent Events of `GET /v1/watch` over HTTP).
 *
 * ```
 *   RemoteChangeStream  ── resumes after a dropped connection from the last LSN it delivered
 *        │ next()
 *        ▼
 *   WatchChannel (one per connection) ◄── { lsn, changes } values: the first has no changes
 *        WebSocket: { id, ok, more, value } frames, credit granted as batches are taken
 *        HTTP:      SSE events, read as the loop asks (TCP carries the back-pressure)
 * ```
 *
 * @module
 */

import { ClosedError, ConnectionError, CyberDBError, errorFromCode, LaggedError, ValidationError } from "../errors.ts";
import type { Change } from "../core/change.ts";
import { quote } from "../core/value.ts";
import { fromJsonValue } from "../wire/json.ts";
import { authorizationHeader } from "../wire/protocol.ts";
import { replyError, unwrap } from "./transport.ts";

/** Options of `client.watch()` (the same as `db.watch()`'s). */
export interface RemoteWatchOptions {
  /** Only changes to these collections (each must exist when the watch starts). */
  collections?: readonly string[];
  /** Resume after this LSN (default: the server's LSN when the watch starts). */
  from?: number;
  /** Only writes on the server's disk (a server in `sync: "always"` sends only those anyway). */
  durable?: boolean;
  /**
   * The server history `from` belongs to (a stream's `history` when its
   * `lsn` was read): a server with another history answers `RESET`.
   */
  history?: string;
}

/** Options of `client.subscribe()`: {@linkcode RemoteWatchOptions}, and where the error that ends it goes. */
export interface RemoteSubscribeOptions extends RemoteWatchOptions {
  /** Receives the error that ends the subscription. */
  onError?: (error: CyberDBError) => void;
}

/** A watch request as a transport sends it. */
export interface WatchRequest extends RemoteWatchOptions {
  /** Set when resuming a watch: the server answers `RESET` if it is behind `from`. */
  resume?: boolean;
}

/** What a watch sends: the LSN of a commit and its changes (the first value: the LSN it starts after, no changes). */
export interface WatchValue {
  /** The commit's LSN (or, with no changes, the LSN the watch starts after). */
  lsn: number;
  /** The commit's changes. */
  changes: Change[];
  /** In the first value: the id of the server's history of LSNs (servers since stop 17). */
  history?: string;
}

/** One watch on one connection, as a transport runs it. */
export interface WatchChannel {
  /** The next value; rejects with the error that ended the watch (`ConnectionError` when the connection dropped). */
  next(): Promise<WatchValue>;
  /** A value already received, taken now; `undefined` when none waits (then {@linkcode next}). */
  poll?(): WatchValue | undefined;
  /** Stops it (the server is told). */
  close(): void;
}

/** Checks the options of `client.watch()` on the client (the server checks the rest). */
export function checkRemoteWatchOptions(options: unknown): RemoteWatchOptions {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ValidationError(
      `Watch options ${
        quote(options)
      } are not an object: pass { collections?, from?, durable?, history? } or leave them out`,
    );
  }
  for (const k of Object.keys(options)) {
    if (k !== "collections" && k !== "from" && k !== "durable" && k !== "history") {
      throw new ValidationError(`Watch option ${quote(k)} is unknown: use "collections", "from", "durable", "history"`);
    }
  }
  const { from, durable, collections, history } = options as RemoteWatchOptions;
  if (history !== undefined && !(typeof history === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(history))) {
    throw new ValidationError(
      `Watch option history ${quote(history)} is not a history id: pass a stream's history, or leave it out`,
    );
  }
  if (durable !== undefined && typeof durable !== "boolean") {
    throw new ValidationError(`Watch option durable ${quote(durable)} is not a boolean: pass true or false`);
  }
  if (
    collections !== undefined &&
    (!Array.isArray(collections) || collections.length === 0 ||
      collections.some((c) => typeof c !== "string" || c === ""))
  ) {
    throw new ValidationError(
      `Watch option collections ${
        quote(collections)
      } is not a non-empty array of names: pass e.g. ["users"] or leave it out`,
    );
  }
  if (from !== undefined && !(typeof from === "number" && Number.isSafeInteger(from) && from >= 0)) {
    throw new ValidationError(
      `Watch option from ${
        quote(from)
      } is not an LSN: pass a non-negative integer such as client.lsn(), or leave it out`,
    );
  }
  return options as RemoteWatchOptions;
}

/**
 * The values of one watch on one connection, pushed in as they arrive and
 * taken out by the stream. Holds at most what the server may send ahead
 * (the credit); `taken` tells the transport when to grant more.
 *
 * @example
 * ```ts
 * import { WatchQueue } from "./watch.ts";
 * const q = new WatchQueue(() => {});
 * q.push({ lsn: 1, changes: [] });
 * await q.next(); // { lsn: 1, changes: [] }
 * ```
 */
export class WatchQueue implements WatchChannel {
  /** For messages of the transports, which treat it as a pending call. */
  readonly op = "watch";
  #items: WatchValue[] = [];
  #error: unknown = null;
  #waiter: { resolve: (v: WatchValue) => void; reject: (e: unknown) => void } | null = null;
  #onClose: () => void;
  #closed = false;
  /** Called with each value taken (the WebSocket transport grants credit from it). */
  onTake: (() => void) | null = null;

  /** A queue whose `close()` runs `onClose` (tell the server) once. */
  constructor(onClose: () => void) {
    this.#onClose = onClose;
  }

  /** Values received and not yet taken. */
  get size(): number {
    return this.#items.length;
  }

  /** Whether it ended (failed or closed). */
  get done(): boolean {
    return this.#error !== null || this.#closed;
  }

  /**
   * A value from the server: one `{ lsn, changes }`, or an array of them
   * (a frame carrying several batches, for a watch that asked with
   * `batches: true`).
   */
  push(value: unknown): void {
    if (Array.isArray(value)) {
      for (const v of value) this.#pushOne(v);
    } else this.#pushOne(value);
  }

  #pushOne(value: unknown): void {
    if (this.done) return;
    const v = value as WatchValue;
    if (typeof v !== "object" || v === null || typeof v.lsn !== "number" || !Array.isArray(v.changes)) {
      this.reject(
        new ConnectionError("The server sent a watch frame that is not { lsn, changes }: check the server version"),
      );
      return;
    }
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w.resolve(v);
      this.onTake?.();
    } else this.#items.push(v);
  }

  /** Ends it with `e` (values already here are still taken first). */
  reject(e: unknown): void {
    if (this.done) return;
    this.#error = e;
    const w = this.#waiter;
    if (w !== null && this.#items.length === 0) {
      this.#waiter = null;
      w.reject(e);
    }
  }

  /** A final frame (`{ id, ok: false, error }`) from the transport's reply handling. */
  settle(frame: unknown): void {
    const f = frame as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
    if (f?.ok === true) {
      this.reject(new ConnectionError("The server ended the watch without a reason: watch again"));
      return;
    }
    const error = replyError(f?.error);
    // The server going away (shutting down, still loading) is a dropped connection: resume elsewhere or later.
    this.reject(
      error.code === "CLOSED" || error.code === "LOADING"
        ? new ConnectionError(error.message, { cause: error })
        : error,
    );
  }

  poll(): WatchValue | undefined {
    if (this.#items.length === 0) return undefined;
    const v = this.#items.shift()!;
    this.onTake?.();
    return v;
  }

  next(): Promise<WatchValue> {
    if (this.#items.length > 0) {
      const v = this.#items.shift()!;
      this.onTake?.();
      return Promise.resolve(v);
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new ConnectionError("The watch was closed"));
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    this.#onClose();
  }
}

/** A watch resuming on a server that still loads asks again after this long, doubling up to the next. */
const LOADING_RETRY_FIRST_MS = 50;
const LOADING_RETRY_MAX_MS = 1000;

/** What a {@linkcode RemoteChangeStream} needs: a way to open a channel on the current connection. */
export type OpenWatch = (request: WatchRequest) => WatchChannel;

/**
 * The async iterator `client.watch()` returns: one `Change[]` per commit,
 * in LSN order. When the connection drops (or the server restarts) it
 * reconnects and resumes after the last LSN it delivered — no gap, no
 * repeat. A consumer too slow for the server's feed gets `LaggedError`
 * with `lsn` set to resume from; a resume the server can no longer serve
 * gets `ResetError`. `break` (or `return()`) stops it.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@cyberdb/core/client";
 * const client = await connect("ws://127.0.0.1:9980");
 * for await (const changes of client.watch({ collections: ["todos"] })) {
 *   for (const c of changes) console.log(c.lsn, c.kind, c.type);
 * }
 * ```
 */
export class RemoteChangeStream implements AsyncIterableIterator<Change[]> {
  #open: OpenWatch;
  #options: RemoteWatchOptions;
  #channel: WatchChannel | null = null;
  /** Whether the current channel delivered anything (a channel that fails before is not retried). */
  #answered = false;
  /** How long to wait before asking a loading server again (doubles while it loads). */
  #loadingDelay = LOADING_RETRY_FIRST_MS;
  #position: number | undefined;
  /** The server history `#position` belongs to (from the first value), sent back when resuming. */
  #history: string | undefined;
  #resumed = false;
  #closed = false;
  #chain: Promise<unknown> = Promise.resolve();
  /** Calls of `next()`/`ready()` chained and not yet settled: while any, a batch already here waits its turn. */
  #queued = 0;

  /** @internal Made by `client.watch()`. */
  constructor(open: OpenWatch, options: RemoteWatchOptions) {
    this.#open = open;
    this.#options = options;
    this.#position = options.from;
    this.#history = options.history;
  }

  /**
   * The id of the server's history of LSNs that {@linkcode lsn} belongs to
   * (`undefined` until the server said, or from a server that does not
   * tell): pass it as `history` with `from` to a later watch, so that a
   * server which restarted without its data answers `RESET` instead of
   * going on from an LSN that names other writes.
   */
  get history(): string | undefined {
    return this.#history;
  }

  /**
   * The LSN up to which this stream has delivered every change it watches
   * (`undefined` until the server said where it starts): pass it as `from`
   * to a later watch to go on where this one stopped.
   */
  get lsn(): number | undefined {
    return this.#position;
  }

  /**
   * Starts the watch now (rather than at the first `next()`) and resolves
   * once the server has it, with the LSN it starts after: every write
   * committed after that is delivered.
   */
  async ready(): Promise<number> {
    return await this.#chained(() => this.#start());
  }

  /** Runs `step` after every call before it (one at a time, in order). */
  #chained<T>(step: () => Promise<T>): Promise<T> {
    this.#queued++;
    const run = this.#chain.then(step).finally(() => this.#queued--);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #start(): Promise<number> {
    while (this.#position === undefined || this.#channel === null) {
      if (this.#closed) throw new ConnectionError("The watch was stopped");
      const r = await this.#take();
      if (r !== null) {
        // A batch before ready(): impossible, since the first value has no changes.
        throw new ConnectionError("The server sent changes before the start of the watch");
      }
    }
    return this.#position;
  }

  /** The next batch. */
  next(): Promise<IteratorResult<Change[]>> {
    // A batch already received, and nothing before this call: taken at once,
    // without the chain's promises (a busy feed delivers many per frame).
    if (this.#queued === 0 && !this.#closed) {
      const changes = this.#takeNow();
      if (changes !== null) return Promise.resolve({ value: changes, done: false });
    }
    return this.#chained(() => this.#next());
  }

  /** The changes of a batch already received on the current channel, or `null` when none waits. */
  #takeNow(): Change[] | null {
    const channel = this.#channel;
    if (channel === null || channel.poll === undefined) return null;
    for (let value = channel.poll(); value !== undefined; value = channel.poll()) {
      const changes = this.#accept(value);
      if (changes !== null) return changes;
    }
    return null;
  }

  /** Notes a value from the channel: the changes to deliver, or `null` (a start value, or one already delivered). */
  #accept(value: WatchValue): Change[] | null {
    this.#answered = true;
    this.#loadingDelay = LOADING_RETRY_FIRST_MS;
    if (value.changes.length === 0) {
      this.#position = value.lsn;
      // A resume with another history was refused by the server: the one it names is ours now.
      if (typeof value.history === "string") this.#history = value.history;
      return null;
    }
    // Never twice: after a resume the server starts after the position, so this holds.
    if (this.#position !== undefined && value.lsn <= this.#position) return null;
    this.#position = value.lsn;
    return value.changes;
  }

  async #next(): Promise<IteratorResult<Change[]>> {
    for (;;) {
      if (this.#closed) return { value: undefined, done: true };
      const changes = await this.#take();
      if (changes !== null) return { value: changes, done: false };
    }
  }

  /** One value from the channel: the changes of a batch, or `null` for a start value; reconnects as needed. */
  async #take(): Promise<Change[] | null> {
    if (this.#channel === null) {
      const request: WatchRequest = { ...this.#options };
      if (this.#position !== undefined) request.from = this.#position;
      // The history of that position, when the server told it: another server history is then RESET.
      if (this.#position !== undefined && this.#history !== undefined) request.history = this.#history;
      else delete request.history;
      if (this.#resumed) request.resume = true;
      try {
        this.#channel = this.#open(request);
      } catch (e) {
        if (!(e instanceof ClosedError)) throw e;
        this.#closed = true;
        return null;
      }
      this.#answered = false;
    }
    const channel = this.#channel;
    let value: WatchValue;
    try {
      value = await channel.next();
    } catch (e) {
      this.#channel = null;
      channel.close();
      if (this.#closed) return null;
      // The client was closed: the stream ends, as an embedded one does when its database closes.
      if (e instanceof ClosedError) {
        this.#closed = true;
        return null;
      }
      // The server is back but still loading its data: resuming, wait a
      // moment and ask again, for as long as it loads (it answers, so it
      // lives). A new watch says so at once: LoadingError.
      const cause = (e as { cause?: unknown }).cause as CyberDBError | undefined;
      if (e instanceof ConnectionError && cause?.code === "LOADING") {
        if (this.#position === undefined) throw cause;
        await new Promise((r) => setTimeout(r, this.#loadingDelay));
        this.#loadingDelay = Math.min(this.#loadingDelay * 2, LOADING_RETRY_MAX_MS);
        this.#resumed = true;
        return null;
      }
      // A dropped connection: the next attempt reconnects (the transport
      // retries for its timeout) and resumes after what was delivered. An
      // attempt that failed without an answer has used that time: give up.
      if (e instanceof ConnectionError && this.#position !== undefined && this.#answered) {
        this.#resumed = true;
        return null;
      }
      if (e instanceof LaggedError) {
        throw new LaggedError(e.message, { lsn: this.#position });
      }
      throw e as CyberDBError;
    }
    return this.#accept(value);
  }

  /** Stops the stream. */
  return(): Promise<IteratorResult<Change[]>> {
    this.#closed = true;
    this.#channel?.close();
    this.#channel = null;
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Itself. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Change[]> {
    return this;
  }

  /** `await using changes = client.watch()` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.return().then(() => {});
  }
}

/** The query string of a watch: `collections=a,b&from=N&durable=1`. */
function watchQuery(request: RemoteWatchOptions, from: number | undefined, token: string | undefined): string {
  const history = request.history;
  const q = new URLSearchParams();
  if (request.collections !== undefined) {
    for (const c of request.collections) {
      if (typeof c !== "string" || c.includes(",")) {
        throw new ValidationError(
          `Collection name ${
            quote(c)
          } cannot be watched over HTTP (names are separated by commas there): watch over ws://`,
        );
      }
    }
    q.set("collections", request.collections.join(","));
  }
  if (from !== undefined) q.set("from", history === undefined ? String(from) : `${history}:${from}`);
  if (request.durable === true) q.set("durable", "1");
  if (token !== undefined && token !== "") q.set("token", token);
  const text = q.toString();
  return text === "" ? "" : `?${text}`;
}

/**
 * The URL of the server's event stream for these options, with a fresh
 * token when the server has a password — for a browser's `EventSource`,
 * which cannot send the password in a header. `base` is the server's
 * `http(s)://host:port[/prefix]`.
 *
 * @example
 * ```ts ignore
 * const url = await eventStreamUrl("http://127.0.0.1:9980", "secret", { collections: ["todos"] });
 * const events = new EventSource(url);
 * ```
 */
export async function eventStreamUrl(
  base: string,
  password: string | undefined,
  options: RemoteWatchOptions,
  timeout: number,
): Promise<string> {
  let token: string | undefined;
  if (password !== undefined) {
    let res: Response;
    try {
      res = await fetch(`${base}/v1/watch/token`, {
        method: "POST",
        headers: { authorization: authorizationHeader(password) },
        signal: AbortSignal.timeout(timeout),
      });
    } catch (e) {
      throw new ConnectionError(
        `POST ${base}/v1/watch/token failed: ${e instanceof Error ? e.message : String(e)}; is the server running?`,
      );
    }
    const reply = await res.json().catch(() => null);
    token = (unwrap(reply) as { token: string }).token;
  }
  return `${base}/v1/watch${watchQuery(options, options.from, token)}`;
}

/** Values an event stream reads ahead of its consumer before it stops reading (TCP then slows the server). */
const SSE_AHEAD = 64;

/**
 * A watch over `GET /v1/watch` (Server-Sent Events) with fetch, for the
 * HTTP transport: reconnects with backoff until `timeout` while the server
 * is down, reads the body only while fewer than {@linkcode SSE_AHEAD}
 * values wait, and ends with the server's `fail` event as its typed error.
 *
 * @example
 * ```ts ignore
 * const channel = eventStreamChannel("http://127.0.0.1:9980", undefined, {}, 30_000);
 * await channel.next(); // { lsn, changes: [] }: started
 * ```
 */
export function eventStreamChannel(
  base: string,
  password: string | undefined,
  request: WatchRequest,
  timeout: number,
): WatchQueue {
  const controller = new AbortController();
  const q = new WatchQueue(() => controller.abort());
  let space: (() => void) | null = null;
  q.onTake = () => {
    const s = space;
    space = null;
    s?.();
  };
  const read = async () => {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (password !== undefined) headers.authorization = authorizationHeader(password);
    // A resume names its position as an EventSource would: the server then answers RESET when behind it.
    if (request.resume === true && request.from !== undefined) {
      headers["last-event-id"] = request.history === undefined
        ? String(request.from)
        : `${request.history}:${request.from}`;
    }
    const url = `${base}/v1/watch${watchQuery(request, request.resume === true ? undefined : request.from, undefined)}`;
    const res = await fetchRetrying(url, headers, controller.signal, timeout);
    const type = (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "text/event-stream" || res.body === null) {
      const reply = await res.json().catch(() => null);
      unwrap(reply);
      throw new ConnectionError(`GET ${base}/v1/watch answered ${res.status} without an event stream: check the URL`);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      while (q.size >= SSE_AHEAD && !q.done) await new Promise<void>((r) => (space = r));
      if (q.done) return;
      const { done, value } = await reader.read();
      if (done) {
        throw new ConnectionError(
          `The event stream of ${base}/v1/watch ended: the server stopped or the connection dropped`,
        );
      }
      buf += value;
      for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (!sseEvent(event, q)) return;
      }
    }
  };
  read().catch((e) => {
    if (q.done) return;
    q.reject(
      // Our errors as they are; anything else (Bun's fetch errors carry a `code` too: ECONNRESET) is the connection's.
      e instanceof CyberDBError
        ? e
        : new ConnectionError(`Watching ${base}/v1/watch failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  });
  return q;
}

/** Handles one event of the stream; `false` once it ended the watch. */
function sseEvent(text: string, q: WatchQueue): boolean {
  let event = "message";
  let data = "";
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data = data === "" ? value : `${data}\n${value}`;
  }
  if (data === "") return true;
  const body = JSON.parse(data) as Record<string, unknown>;
  if (event === "ready") {
    q.push(
      typeof body.history === "string"
        ? { lsn: body.lsn, changes: [], history: body.history }
        : { lsn: body.lsn, changes: [] },
    );
  } else if (event === "fail") {
    const e = errorFromCode(String(body.code), String(body.message));
    q.reject(e.code === "LAGGED" ? new LaggedError(e.message, { lsn: body.lsn as number | undefined }) : e);
    return false;
  } else {
    q.push(fromJsonValue(body));
  }
  return true;
}

/**
 * fetch, retried with backoff while the server cannot be reached or
 * answers 503 (shutting down, still loading), until `timeout` ms passed.
 */
async function fetchRetrying(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  timeout: number,
): Promise<Response> {
  const deadline = Date.now() + timeout;
  for (let delay = 50;; delay = Math.min(delay * 2, 2000)) {
    let why: string;
    try {
      const res = await fetch(url, { headers, signal });
      if (res.status !== 503) return res;
      why = `it answered 503 (${(await res.text().catch(() => "")).slice(0, 200)})`;
    } catch (e) {
      if (signal.aborted) throw new ClosedError("The watch was stopped");
      why = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() + delay >= deadline) {
      throw new ConnectionError(`Could not watch ${url.split("?")[0]} within ${timeout} ms: ${why}`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
