/**
 * The change feed over the wire, shared by the WebSocket (`ws.ts`) and the
 * Server-Sent Events route (`GET /v1/watch`): reading a watch request,
 * opening its cursor, encoding batches once for every watcher that wants
 * the same ones, and the tokens that let a browser's `EventSource` (which
 * cannot set headers) authenticate.
 *
 * A watcher costs the server a cursor (a position in the feed), not a
 * queue: a client that does not read stops being sent to — the socket's
 * buffer and the client's credit bound what is in flight — and, once the
 * feed's memory has moved past it, is told `LAGGED` with the LSN to resume
 * from. Server memory per watcher stays bounded whatever the writers do.
 *
 * @module
 */

import type { Database, WatchOptions } from "../api/database.ts";
import type { FeedBatch, FeedCursor } from "../api/feed.ts";
import { encode } from "../wire/codec.ts";
import { toJsonValue } from "../wire/json.ts";
import { AuthError, ProtocolError, ResetError, TooLargeError } from "../errors.ts";
import { quote } from "../core/value.ts";

/** What a watch request asks for, read from the wire. */
export interface WatchSpec {
  /** The options for `db.watch`. */
  options: WatchOptions;
  /** Set when a client resumes a watch it had: a `from` beyond the server's LSN is then a `RESET`. */
  resume: boolean;
}

/**
 * Reads the `watch` value of a WebSocket request: `{ collections?, from?,
 * durable?, history?, resume? }` (own properties only; the database checks
 * them; `history` is the id the start value gave, sent back on a resume).
 *
 * @example
 * ```ts
 * import { readWatchSpec } from "./watch.ts";
 * readWatchSpec({ collections: ["users"], from: 10 }); // { options: { collections: ["users"], from: 10 }, resume: false }
 * ```
 */
export function readWatchSpec(value: unknown): WatchSpec {
  if (value === true || value === null) return { options: {}, resume: false };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError(
      `"watch" is ${
        quote(value)
      }: send { id, watch: { collections?, from?, durable?, history? } } (or watch: true for everything)`,
    );
  }
  const options: Record<string, unknown> = {};
  let resume = false;
  for (const k of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[k];
    if (k === "resume") resume = v === true;
    else if (v !== undefined) Object.defineProperty(options, k, { value: v, enumerable: true, writable: true });
  }
  return { options: options as WatchOptions, resume };
}

/**
 * Opens the cursor of a watch request. In `sync: "always"` every watcher
 * is durable: a server there never shows a write before it is on disk
 * (DESIGN §7). A resumed watch whose `from` is beyond the server's last LSN
 * saw writes this server does not have (lost in a crash, or another
 * server's): `ResetError`.
 */
export function openWatch(db: Database, spec: WatchSpec): FeedCursor {
  const options = db.options.sync === "always" ? { ...spec.options, durable: true } : spec.options;
  const { from, history } = options as { from?: unknown; history?: unknown };
  // Another history's resume is told so by the feed (RESET, naming both ids).
  const ours = history === undefined || history === db.historyId;
  if (spec.resume && ours && typeof from === "number" && from > db.lsn) {
    throw new ResetError(
      `Cannot resume after LSN ${from}: this server's last LSN is ${db.lsn}, so the writes seen up to then ` +
        "are not all here (lost in a crash of a server that had not synced them, or another server's); read the data again and watch anew",
    );
  }
  return db.watchCursor(options);
}

/**
 * The first value a watch sends: the LSN it starts after, with no changes,
 * and the history that LSN belongs to (a client resumes with both; an older
 * client ignores `history`).
 */
export function startValue(cursor: FeedCursor): { lsn: number; changes: []; history: string } {
  return { lsn: cursor.position, changes: [], history: cursor.history };
}

// Encoded once per batch, however many watchers send it: an unfiltered
// cursor hands out the feed's own array for a commit, so it is the key.
const packed = new WeakMap<object, Uint8Array>();
const texts = new WeakMap<object, string>();

/**
 * The MessagePack of `{ lsn, changes }` for a batch, made once per batch
 * of the feed (cursors with a filter make their own).
 *
 * @example
 * ```ts
 * import { decode } from "../wire/codec.ts";
 * import { packedBatch } from "./watch.ts";
 * decode(packedBatch({ lsn: 3, changes: [] })); // { lsn: 3, changes: [] }
 * ```
 */
export function packedBatch(batch: FeedBatch): Uint8Array {
  let bytes = packed.get(batch.changes);
  if (bytes === undefined) {
    bytes = encode({ lsn: batch.lsn, changes: batch.changes });
    packed.set(batch.changes, bytes);
  }
  return bytes;
}

/** The JSON of `{ lsn, changes }` (values tagged as in every JSON reply), made once per batch of the feed. */
export function jsonBatch(batch: FeedBatch): string {
  let text = texts.get(batch.changes);
  if (text === undefined) {
    text = JSON.stringify(toJsonValue({ lsn: batch.lsn, changes: batch.changes as never }));
    texts.set(batch.changes, text);
  }
  return text;
}

const FRAME_HEAD = [0x84, ...encode("ok"), 0xc3, ...encode("more"), 0xc3, ...encode("id")];
const VALUE_KEY = encode("value");

/**
 * A streamed WebSocket frame `{ ok: true, more: true, id, value }` whose
 * value is already encoded: the map is written around the value's bytes,
 * so a batch sent to a thousand watchers is encoded once. `spare` bytes are
 * left at the end, for the caller to write the rest of the value into.
 *
 * @example
 * ```ts
 * import { decode, encode } from "../wire/codec.ts";
 * import { watchFrame } from "./watch.ts";
 * decode(watchFrame(7, encode([1]))); // { ok: true, more: true, id: 7, value: [1] }
 * ```
 */
export function watchFrame(id: number | string, value: Uint8Array, spare = 0): Uint8Array {
  const idBytes = encode(id);
  const out = new Uint8Array(FRAME_HEAD.length + idBytes.byteLength + VALUE_KEY.byteLength + value.byteLength + spare);
  out.set(FRAME_HEAD, 0);
  let at = FRAME_HEAD.length;
  out.set(idBytes, at);
  at += idBytes.byteLength;
  out.set(VALUE_KEY, at);
  at += VALUE_KEY.byteLength;
  out.set(value, at);
  return out;
}

/** Bytes of batches a multi-batch frame gathers at most (one larger batch still goes, alone). */
export const MULTI_FRAME_BYTES = 1 << 20;

// A multi-batch frame's value, an array of batches: fixarray up to 15, else array 16 / array 32.
function arrayHead(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >> 8, n & 0xff);
  return Uint8Array.of(0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/**
 * The frame `{ ok: true, more: true, id, value: [batch, ...] }` around
 * batches already encoded: what a client that asked for `batches: true`
 * gets when several commits wait for it at once.
 *
 * ```
 *   0x84 "ok" true "more" true "id" <id> "value" <array head n> <batch 1> ... <batch n>
 * ```
 *
 * @example
 * ```ts
 * import { decode, encode } from "../wire/codec.ts";
 * import { multiWatchFrame } from "./watch.ts";
 * decode(multiWatchFrame(7, [encode({ lsn: 1 }), encode({ lsn: 2 })])); // { ok: true, more: true, id: 7, value: [{ lsn: 1 }, { lsn: 2 }] }
 * ```
 */
export function multiWatchFrame(id: number | string, values: readonly Uint8Array[]): Uint8Array {
  let bytes = 0;
  for (const v of values) bytes += v.byteLength;
  const head = arrayHead(values.length);
  const out = watchFrame(id, head, bytes);
  let at = out.byteLength - bytes;
  for (const v of values) {
    out.set(v, at);
    at += v.byteLength;
  }
  return out;
}

/**
 * Frames made once per turn of the event loop for every watcher that sends
 * the same ones: keyed by the last batch's changes (the feed's own array,
 * shared by the watchers of a commit; a commit undone and redone is a new
 * array, so a key never outlives what it stands for), then by watch id,
 * filter, first LSN and count. Cleared each turn (see {@linkcode nextTurn}),
 * so it holds at most one turn's frames.
 */
let shared = new Map<object, Map<string, Uint8Array>>();
/** A watch that never runs dry (reading back a long log) never awaits a turn: the cache is cut at this size too. */
const SHARED_MAX = 4096;

let turn: Promise<void> | null = null;

/**
 * Resolves once the runtime has handled the input that was waiting: on
 * `setImmediate` (after the event loop's I/O callbacks; Deno, Bun and Node
 * have it), else a zero timeout. Every watch awaits the same promise, so
 * the commits of all the writes read in one turn go out together — one
 * frame per watcher, not one per commit — as Redis writes a client's
 * pending output once per event-loop turn.
 *
 * @example
 * ```ts
 * import { nextTurn } from "./watch.ts";
 * await nextTurn();
 * ```
 */
export function nextTurn(): Promise<void> {
  if (turn === null) {
    turn = new Promise<void>((resolve) => {
      const run = () => {
        turn = null;
        shared = new Map();
        resolve();
      };
      const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
      if (typeof immediate === "function") immediate(run);
      else setTimeout(run, 0);
    });
  }
  return turn;
}

/** What {@linkcode WatchOutput.take} hands the socket. */
export interface Taken {
  /** The frames to send, in order. */
  frames: Uint8Array[];
  /** How many batches they carry (what they cost of the client's credit). */
  batches: number;
  /** The error that ended the watch, to send after the frames (`LAGGED`, `RESET`, `TOO_LARGE`), or `null`. */
  error: unknown;
}

/**
 * The frames of one WebSocket watch: reads its cursor a turn's worth at a
 * time and makes the frames, once per turn for every watch that sends the
 * same batches. A client that asked for `batches: true` gets the batches
 * waiting for it in one frame (up to {@linkcode MULTI_FRAME_BYTES});
 * others one frame per batch, as before (the socket corks them where it
 * can). It holds at most one batch read and not yet framed (the one that
 * did not fit), so a slow watcher costs no more than before.
 *
 * @example
 * ```ts
 * import { Database } from "@cyberdb/core";
 * import { decode } from "../wire/codec.ts";
 * import { openWatch, WatchOutput } from "./watch.ts";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * const cursor = openWatch(db, { options: { collections: ["d"] }, resume: false });
 * d.set("a", 1);
 * d.set("b", 2);
 * const out = new WatchOutput(1, cursor, true);
 * const taken = out.take(100, 1 << 20)!;
 * taken.batches; // 2
 * (decode(taken.frames[0]) as { value: unknown[] }).value.length; // 2
 * ```
 */
export class WatchOutput {
  #id: number | string;
  #key: string;
  #cursor: FeedCursor;
  #multi: boolean;
  #held: FeedBatch | null = null;

  /** The output of watch `id` reading `cursor`; `multi` when the client takes several batches per frame. */
  constructor(id: number | string, cursor: FeedCursor, multi: boolean) {
    this.#id = id;
    this.#cursor = cursor;
    this.#multi = multi;
    const filter = cursor.filter === null ? "*" : JSON.stringify([...cursor.filter].sort());
    this.#key = `${multi ? "m" : "s"}${typeof id === "number" ? "n" : "s"}${id}\u0000${filter}`;
  }

  /** The first frame: the LSN the watch starts after, no changes. */
  start(): Uint8Array {
    return watchFrame(this.#id, encode(startValue(this.#cursor)));
  }

  /**
   * The frames of the batches waiting, at most `credit` of them; `null`
   * when none waits. A batch whose frame alone exceeds `maxBytes` ends the
   * watch with `TOO_LARGE` (after the batches before it).
   */
  take(credit: number, maxBytes: number): Taken | null {
    const batches: FeedBatch[] = [];
    let error: unknown = null;
    let bytes = 0;
    const cap = this.#multi ? Math.min(MULTI_FRAME_BYTES, maxBytes) : 0;
    while (batches.length < credit) {
      let batch = this.#held;
      this.#held = null;
      if (batch === null) {
        try {
          batch = this.#cursor.poll();
        } catch (e) {
          error = e;
          break;
        }
        if (batch === null) break;
      }
      const size = packedBatch(batch).byteLength;
      if (batches.length > 0 && bytes + size > cap) {
        this.#held = batch; // goes first in the next frame
        break;
      }
      if (size + 64 > maxBytes) {
        error = new TooLargeError(
          `The changes of LSN ${batch.lsn} are ${size} bytes, over this connection's output limit of ${maxBytes} bytes: ` +
            `raise --max-output-bytes, then watch again with from: ${batch.lsn - 1}`,
        );
        break;
      }
      batches.push(batch);
      bytes += size;
    }
    if (batches.length === 0) return error === null ? null : { frames: [], batches: 0, error };
    return { frames: this.#frames(batches), batches: batches.length, error };
  }

  #frames(batches: FeedBatch[]): Uint8Array[] {
    if (!this.#multi || batches.length === 1) {
      return batches.map((b) => this.#shared(b, 1, () => watchFrame(this.#id, packedBatch(b))));
    }
    return [
      this.#shared(
        batches[0],
        batches.length,
        () => multiWatchFrame(this.#id, batches.map(packedBatch)),
        batches[batches.length - 1],
      ),
    ];
  }

  /** A frame from this turn's shared frames, made by `make` when no watcher made it yet. */
  #shared(first: FeedBatch, n: number, make: () => Uint8Array, last: FeedBatch = first): Uint8Array {
    let frames = shared.get(last.changes);
    if (frames === undefined) {
      if (shared.size >= SHARED_MAX) shared = new Map();
      frames = new Map();
      shared.set(last.changes, frames);
    }
    const key = `${this.#key}\u0000${first.lsn}\u0000${n}`;
    let frame = frames.get(key);
    if (frame === undefined) {
      frame = make();
      frames.set(key, frame);
    }
    return frame;
  }
}

/**
 * Runs `send` with the socket's output corked where the runtime can (Bun's
 * `ServerWebSocket.cork`, the TCP socket under Node's `ws`): the frames it
 * sends leave in one write, not one each.
 *
 * @example
 * ```ts
 * import { corked } from "./watch.ts";
 * corked(undefined, () => {}); // no socket to cork: just runs it
 * ```
 */
export function corked(raw: unknown, send: () => void): void {
  const r = raw as { cork?: unknown; _socket?: { cork?: unknown; uncork?: unknown } } | null | undefined;
  if (r !== null && r !== undefined && typeof r.cork === "function") {
    (r.cork as (fn: () => void) => void).call(r, send); // Bun
    return;
  }
  const tcp = r?._socket;
  if (tcp !== undefined && typeof tcp.cork === "function" && typeof tcp.uncork === "function") {
    (tcp.cork as () => void).call(tcp); // ws (Node)
    try {
      send();
    } finally {
      (tcp.uncork as () => void).call(tcp);
    }
    return;
  }
  send();
}

/**
 * Reads the query of `GET /v1/watch`: `collections=a,b` (names may be
 * percent-encoded; a name with a comma cannot be named this way), `from`
 * (or the `Last-Event-ID` header an `EventSource` sends when it
 * reconnects, which wins), `durable=1`. A position is `<history>:<lsn>`,
 * as the stream's `id:` lines give it, or a bare LSN (older clients; taken
 * as this history's).
 *
 * @example
 * ```ts
 * import { sseSpec } from "./watch.ts";
 * sseSpec(new URL("http://h/v1/watch?collections=a,b&from=4"), null).options; // { collections: ["a", "b"], from: 4 }
 * sseSpec(new URL("http://h/v1/watch"), "c0ffee:7").options; // { from: 7, history: "c0ffee" }
 * ```
 */
export function sseSpec(url: URL, lastEventId: string | null): WatchSpec {
  const options: Record<string, unknown> = {};
  for (const key of url.searchParams.keys()) {
    if (!["collections", "from", "durable", "token"].includes(key)) {
      throw new ProtocolError(
        `Query parameter ${quote(key)} is unknown: use collections=a,b, from=<lsn>, durable=1 and token=<token>`,
      );
    }
  }
  const cols = url.searchParams.get("collections");
  if (cols !== null && cols !== "") options.collections = cols.split(",");
  const position = (text: string, what: string) => {
    const m = /^(?:([A-Za-z0-9_-]{1,64}):)?(\d{1,16})$/.exec(text);
    if (m === null) {
      throw new ProtocolError(
        `${what} ${quote(text)} is not a position: pass <lsn> or <history>:<lsn> as the stream's id lines give it`,
      );
    }
    options.from = Number(m[2]);
    if (m[1] !== undefined) options.history = m[1];
    else delete options.history;
  };
  const from = url.searchParams.get("from");
  if (from !== null && from !== "") position(from, "from");
  let resume = false;
  if (lastEventId !== null && lastEventId.trim() !== "") {
    position(lastEventId.trim(), "Last-Event-ID");
    resume = true;
  }
  const durable = url.searchParams.get("durable");
  if (durable !== null) {
    if (!["1", "true", "0", "false", ""].includes(durable)) {
      throw new ProtocolError(`durable ${quote(durable)} is not a boolean: pass durable=1 or leave it out`);
    }
    options.durable = durable === "1" || durable === "true" || durable === "";
  }
  return { options: options as WatchOptions, resume };
}

/** How long a watch token lets a client start (or restart) an event stream. */
export const TOKEN_TTL_MS = 5 * 60 * 1000;

function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Issues and checks watch tokens: `<expiry, base 36>.<HMAC-SHA256 of it,
 * base64url>`, keyed by the server's password. A token lets its bearer
 * open `GET /v1/watch` (and nothing else) until it expires; it survives a
 * server restart with the same password, so an `EventSource` reconnecting
 * to a restarted server gets in again.
 *
 * @example
 * ```ts
 * import { WatchTokens } from "./watch.ts";
 * const tokens = new WatchTokens("secret");
 * const { token } = await tokens.issue(Date.now());
 * await tokens.check(token, Date.now()); // null: valid
 * ```
 */
export class WatchTokens {
  #key: Promise<CryptoKey>;

  /** Tokens of a server with this password. */
  constructor(password: string) {
    this.#key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(`cyberdb-watch-token:${password}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  async #mac(expiry: string): Promise<string> {
    const sig = await crypto.subtle.sign("HMAC", await this.#key, new TextEncoder().encode(`watch:${expiry}`));
    return base64url(new Uint8Array(sig));
  }

  /** A new token, valid until `now + TOKEN_TTL_MS`. */
  async issue(now: number): Promise<{ token: string; expiresAt: number }> {
    const expiresAt = now + TOKEN_TTL_MS;
    const expiry = expiresAt.toString(36);
    return { token: `${expiry}.${await this.#mac(expiry)}`, expiresAt };
  }

  /** `null` when `token` is valid at `now`, else the `AuthError` to answer. */
  async check(token: string, now: number): Promise<AuthError | null> {
    const m = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (m === null) {
      return new AuthError("The watch token is malformed: get one from POST /v1/watch/token with the password");
    }
    const expected = await this.#mac(m[1]);
    // Compared in full whatever the first difference (the MAC is the secret part).
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ m[2].charCodeAt(i);
    if (diff !== 0) {
      return new AuthError("The watch token is not valid here: get one from POST /v1/watch/token with the password");
    }
    if (parseInt(m[1], 36) <= now) {
      return new AuthError(
        "The watch token has expired: get a new one from POST /v1/watch/token and reconnect with from=<last event id>",
      );
    }
    return null;
  }
}
