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
import { AuthError, ProtocolError, ResetError } from "../errors.ts";
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
 * durable?, resume? }` (own properties only; the database checks them).
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
      }: send { id, watch: { collections?, from?, durable? } } (or watch: true for everything)`,
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
  const from = (options as { from?: unknown }).from;
  if (spec.resume && typeof from === "number" && from > db.lsn) {
    throw new ResetError(
      `Cannot resume after LSN ${from}: this server's last LSN is ${db.lsn}, so the writes seen up to then ` +
        "are not all here (lost in a crash of a server that had not synced them, or another server's); read the data again and watch anew",
    );
  }
  return db.watchCursor(options);
}

/** The first value a watch sends: the LSN it starts after, with no changes. */
export function startValue(cursor: FeedCursor): { lsn: number; changes: [] } {
  return { lsn: cursor.position, changes: [] };
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
 * so a batch sent to a thousand watchers is encoded once.
 *
 * @example
 * ```ts
 * import { decode, encode } from "../wire/codec.ts";
 * import { watchFrame } from "./watch.ts";
 * decode(watchFrame(7, encode([1]))); // { ok: true, more: true, id: 7, value: [1] }
 * ```
 */
export function watchFrame(id: number | string, value: Uint8Array): Uint8Array {
  const idBytes = encode(id);
  const out = new Uint8Array(FRAME_HEAD.length + idBytes.byteLength + VALUE_KEY.byteLength + value.byteLength);
  out.set(FRAME_HEAD, 0);
  let at = FRAME_HEAD.length;
  out.set(idBytes, at);
  at += idBytes.byteLength;
  out.set(VALUE_KEY, at);
  at += VALUE_KEY.byteLength;
  out.set(value, at);
  return out;
}

/**
 * Reads the query of `GET /v1/watch`: `collections=a,b` (names may be
 * percent-encoded; a name with a comma cannot be named this way), `from=N`
 * (or the `Last-Event-ID` header an `EventSource` sends when it
 * reconnects, which wins), `durable=1`.
 *
 * @example
 * ```ts
 * import { sseSpec } from "./watch.ts";
 * sseSpec(new URL("http://h/v1/watch?collections=a,b&from=4"), null).options; // { collections: ["a", "b"], from: 4 }
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
  const lsn = (text: string, what: string) => {
    if (!/^\d{1,16}$/.test(text)) {
      throw new ProtocolError(`${what} ${quote(text)} is not an LSN: pass a non-negative integer`);
    }
    return Number(text);
  };
  const from = url.searchParams.get("from");
  if (from !== null && from !== "") options.from = lsn(from, "from");
  let resume = false;
  if (lastEventId !== null && lastEventId.trim() !== "") {
    options.from = lsn(lastEventId.trim(), "Last-Event-ID");
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
