/**
 * The wire protocol shared by server and client (DESIGN §7): request and
 * reply shapes and the content types.
 *
 * WebSocket: every frame is binary MessagePack, one message per frame.
 *
 * ```
 *   client -> server   { id, op, args }            one call
 *                      { id, op, args, stream: n } one call whose answer may come in batches of <= n rows
 *                      { id, cancel: true }        stop streaming the answer to request `id` (no reply)
 *                      { id, atomic: true, ops }   one transaction of [{ op, args }]
 *                      { id, op: "auth", args: [password] }   first frame, at most 4 KiB
 *                      { id, part: <bytes>, more: true } ... { id, part: <bytes> }
 *                                                  one request too large for one frame, in parts
 *                      { id, watch: { collections?, from?, durable?, history?, resume? } | true, credit?, batches? }
 *                                                  the change feed, until cancelled (see below)
 *                      { id, credit: n }           the watch `id` may send n more batches (no reply)
 *   server -> client   { id, ok: true, value }
 *                      { id, ok: true, value: <batch>, more: true }   a batch; more frames follow
 *                      { id, ok: true, more: true, value: { lsn, changes } }   a watch's batch
 *                      { id, ok: true, more: true, value: [{ lsn, changes }, ...] }   several (batches: true)
 *                      { id, ok: false, error: { code, message } }
 * ```
 *
 * Watches (the change feed, DESIGN §9). The first frame of a watch has no
 * changes: its `lsn` is the LSN the watch starts after; then one frame per
 * commit, `changes` being that commit's `Change[]` (every change carries the
 * same `lsn`). A watch runs until `{ id, cancel: true }`, the socket closing,
 * or an error frame that ends it (`LAGGED`: the client fell behind the
 * server's memory of recent commits, resume with `from` = the last LSN it
 * took; `RESET`: `from` is older than the server's memory and log). `credit`
 * bounds the batches sent ahead of what the client took ({@linkcode
 * WATCH_CREDIT} by default in the client; without it the server sends what
 * the socket carries); `resume: true` marks a watch resumed after a
 * reconnect, whose `from` beyond the server's LSN is `RESET`, not
 * `VALIDATION`. At most {@linkcode MAX_WATCHES} per socket.
 *
 * The first frame also carries `history`, the id of the server's history
 * of LSNs (`db.historyId`; a server before stop 17 sends none). A client
 * resuming sends it back with `from`; when it is not the server's (a
 * memory-only server restarted and counts from 0 again, a directory was
 * replaced) the watch ends `RESET`, since that LSN there names other
 * writes. Without `history` the server takes `from` as its own, as before.
 *
 * `batches: true` (sent by clients since stop 17; a server before it ignores
 * it) lets the server put the batches waiting for a watch in one frame,
 * `value` then being an array of `{ lsn, changes }` in LSN order (each
 * costs one credit): a server fanning a busy feed out to many sockets sends
 * one frame per watcher per turn of its event loop, not one per commit.
 * Without it, every frame carries one batch, as before.
 *
 * ```
 *   -> { id: 9, watch: { collections: ["todos"] }, credit: 256 }
 *   <- { id: 9, ok: true, more: true, value: { lsn: 41, changes: [], history: "9f86d0…" } }
 *   <- { id: 9, ok: true, more: true, value: { lsn: 42, changes: [{ lsn: 42, collection: "todos", ... }] } }
 *   -> { id: 9, credit: 128 }
 *   -> { id: 9, cancel: true }
 * ```
 *
 * Over HTTP the feed is `GET /v1/watch?collections=a,b&from=N&durable=1`,
 * Server-Sent Events (`text/event-stream`):
 *
 * ```
 *   retry: 2000
 *   id: H:41               event: ready    data: {"lsn":41,"history":"H"}
 *   id: H:42               data: {"lsn":42,"changes":[...]}     (JSON, values tagged as in JSON replies)
 *   : keepalive            (every 15 s while idle)
 *   event: fail            data: {"code":"LAGGED","message":"...","lsn":42}   (last, on an error)
 * ```
 *
 * `id:` is `<history id>:<LSN>`: an `EventSource` that reconnects sends
 * `Last-Event-ID` and resumes after it, or gets `RESET` when the server's
 * history is another (a bare LSN is still accepted). Authenticated as `/v1/rpc`, or with `token=` from
 * `POST /v1/watch/token` (an `EventSource` cannot send headers).
 *
 * Authentication: with a password, the first frame must be the `auth`
 * request (at most {@linkcode AUTH_FRAME_BYTES}; anything else closes the
 * socket with {@linkcode CLOSE_AUTH}) unless the upgrade request carried an
 * `Authorization` header. Its reply's value tells the server's limits:
 * `{ maxRequestBytes, maxFrameBytes, maxOutputBytes }`.
 *
 * Parts: a request whose encoding exceeds `maxFrameBytes` (Deno delivers no
 * frame of 64 MiB or more) is sent as the bytes of the encoded request cut
 * into consecutive part frames, all with the request's id, every one but the
 * last with `more: true`; the server joins them (at most `maxRequestBytes`
 * in all) and runs the request. The parts of one request are sent one after
 * another, with no other frame between them.
 *
 * Output: once more than `maxOutputBytes` of replies wait unsent to one
 * client (it does not read), the server closes the socket with
 * {@linkcode CLOSE_OUTPUT_LIMIT}; a single reply larger than that is
 * answered with a `TOO_LARGE` error instead.
 *
 * HTTP `POST /v1/rpc`: the body is `{ op, args }`, an array of them (a
 * pipeline, answered by an array of replies in order) or
 * `{ atomic: true, ops }`; replies carry no `id`.
 *
 * Streaming (opt-in, per request). A request asks for it with
 * `stream: <batchRows>` (WebSocket) or the header
 * `X-CyberDB-Stream: <batchRows>` (HTTP, one `{ op, args }` only): a
 * positive integer, capped at {@linkcode MAX_STREAM_ROWS}. The operation
 * runs completely first, so a failure is one ordinary error reply. An
 * answer that is an array, or a columns object (every value an array, all
 * of one length: `format: "columns"`), is then sent in slices of at most
 * `batchRows` rows (fewer when a slice would pass about 4 MiB encoded);
 * every frame but the last carries `more: true`, and concatenating the
 * slices in order (per column for a columns object) gives the answer. Any
 * other answer is one ordinary reply. Without `stream` nothing changes.
 *
 * Over HTTP a successful streamed answer is a `200` whose body is a
 * sequence of frames `{ ok, value, more? }`, for MessagePack requests
 * ({@linkcode MSGPACK_STREAM}) each with a length prefix:
 *
 * ```
 *   +---------------+---------------------------+---------------+---------------------------+--
 *   | u32 LE len N1 | N1 bytes: msgpack frame 1 | u32 LE len N2 | N2 bytes: msgpack frame 2 | ...
 *   +---------------+---------------------------+---------------+---------------------------+--
 *   frame = { ok: true, value: <batch>, more: true }   every frame but the last
 *         | { ok: true, value: <last batch> }          the last
 *         | { ok: false, error: { code, message } }   the last, if sending failed midway
 * ```
 *
 * and for JSON requests ({@linkcode NDJSON}) one JSON frame per line, values
 * tagged as in every JSON reply. Errors found before the answer exists
 * (auth, size, a bad header, a failed operation) are ordinary replies with
 * their usual status and content type.
 *
 * @module
 */

/** One operation call: the op name and its arguments (collection name first). */
export interface WireCall {
  /** The operation, e.g. `"dict.set"`. */
  op: string;
  /** Its arguments, the collection name first. */
  args: unknown[];
}

/** The error half of a reply. */
export interface WireError {
  /** A stable error code (`"KEY_NOT_FOUND"`, …) or `"INTERNAL"`. */
  code: string;
  /** The human-readable message. */
  message: string;
}

/** A reply to one call. */
export type WireReply =
  | { ok: true; value?: unknown }
  | { ok: false; error: WireError };

/** One frame of a streamed answer: a batch (`more: true` when frames follow) or a final error. */
export type StreamFrame =
  | { ok: true; value: unknown; more?: true }
  | { ok: false; error: WireError };

/** The MessagePack content type. */
export const MSGPACK = "application/msgpack";

/** The content type of a streamed MessagePack answer: length-prefixed frames (see the diagram above). */
export const MSGPACK_STREAM = "application/vnd.cyberdb.stream+msgpack";

/** The content type of a streamed answer to a JSON request: one JSON frame per line. */
export const NDJSON = "application/x-ndjson";

/** The HTTP request header that asks for a streamed answer: `X-CyberDB-Stream: <batchRows>`. */
export const STREAM_HEADER = "X-CyberDB-Stream";

/** The most rows per batch a server sends; larger requests are lowered to it. */
export const MAX_STREAM_ROWS = 100_000;

/**
 * The most streamed answers a server runs at once for one WebSocket; the
 * client holds further streamed calls until one ends.
 */
export const MAX_STREAMS = 64;

/** The close code sent when a frame exceeds the size limit (RFC 6455 "message too big"). */
export const CLOSE_TOO_LARGE = 1009;

/** The most watches a server runs at once for one WebSocket. */
export const MAX_WATCHES = 64;

/**
 * The batches a client lets the server send ahead of what its consumer
 * took (`credit` of a watch request); it grants more as the consumer reads,
 * so a slow consumer holds at most this many batches in client memory.
 */
export const WATCH_CREDIT = 256;
/** The close code for authentication failures (RFC 6455 "policy violation"). */
export const CLOSE_AUTH = 1008;
/** The close code for frames that are not MessagePack requests. */
export const CLOSE_PROTOCOL = 1002;
/** The close code sent when the server shuts down. */
export const CLOSE_GOING_AWAY = 1001;
/** The close code for a client whose unread replies passed the output limit (RFC 6455 "policy violation"). */
export const CLOSE_OUTPUT_LIMIT = 1008;
/** The close code when a reply could not be queued (RFC 6455 "internal error"). */
export const CLOSE_INTERNAL = 1011;

/** The largest frame a socket may send before it has authenticated. */
export const AUTH_FRAME_BYTES = 4096;

/**
 * The `Authorization` header value that carries `password`: `Bearer` when
 * it is printable ASCII, otherwise `Basic` with its UTF-8 bytes in base64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { authorizationHeader } from "./protocol.ts";
 * assert.equal(authorizationHeader("secret"), "Bearer secret");
 * assert.equal(authorizationHeader("pässwörd"), "Basic OnDDpHNzd8O2cmQ=");
 * ```
 */
export function authorizationHeader(password: string): string {
  if (/^[\x21-\x7e]*$/.test(password)) return `Bearer ${password}`;
  let bin = "";
  for (const b of new TextEncoder().encode(":" + password)) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}
