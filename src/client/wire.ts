/**
 * The wire protocol shared by server and client (DESIGN §7): request and
 * reply shapes and the content types.
 *
 * WebSocket: every frame is binary MessagePack, one message per frame.
 *
 * ```
 *   client -> server   { id, op, args }            one call
 *                      { id, atomic: true, ops }   one transaction of [{ op, args }]
 *                      { id, op: "auth", args: [password] }   first frame (browsers)
 *   server -> client   { id, ok: true, value }
 *                      { id, ok: false, error: { code, message } }
 * ```
 *
 * HTTP `POST /v1/rpc`: the body is `{ op, args }`, an array of them (a
 * pipeline, answered by an array of replies in order) or
 * `{ atomic: true, ops }`; replies carry no `id`.
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

/** The MessagePack content type. */
export const MSGPACK = "application/msgpack";

/** The close code sent when a frame exceeds the size limit (RFC 6455 "message too big"). */
export const CLOSE_TOO_LARGE = 1009;
/** The close code for authentication failures (RFC 6455 "policy violation"). */
export const CLOSE_AUTH = 1008;
/** The close code for frames that are not MessagePack requests. */
export const CLOSE_PROTOCOL = 1002;
/** The close code sent when the server shuts down. */
export const CLOSE_GOING_AWAY = 1001;
