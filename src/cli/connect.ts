/**
 * Reaching a server from the command line: the URL as typed (a bare
 * `host:port` means `http://host:port`), the password from `--password` or
 * `CYBERDB_PASSWORD`, and on Node 20, which has no global WebSocket, the
 * `ws` package for `ws://` URLs.
 *
 * @module
 */

import { type Client, connect } from "../client/client.ts";
import type { WebSocketConstructor } from "../client/ws_transport.ts";
import { quote } from "../core/value.ts";
import { ValidationError } from "../errors.ts";

/**
 * The URL to connect to: a bare `host:port` (or `host`) gets `http://`;
 * other schemes than ws, wss, http and https are refused (`ValidationError`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serverUrl } from "./connect.ts";
 * assert.equal(serverUrl("127.0.0.1:9980"), "http://127.0.0.1:9980");
 * assert.equal(serverUrl("ws://db.local:9980/"), "ws://db.local:9980/");
 * assert.throws(() => serverUrl("ftp://x"));
 * ```
 */
export function serverUrl(raw: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(`${quote(raw)} is not a server URL: pass e.g. http://127.0.0.1:9980 or ws://host:9980`);
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol) || url.hostname === "") {
    throw new ValidationError(
      `${quote(raw)} is not a server URL: use http://, https://, ws:// or wss://, e.g. http://127.0.0.1:9980`,
    );
  }
  return text;
}

/**
 * Whether `text` names a server rather than a directory (for `dump` and
 * `load`, which take either): `scheme://…`, or a bare `host:port` such as
 * `127.0.0.1:9980`, `localhost:9980` or `[::1]:9980`. A directory named
 * like that is reached as `./name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isUrl } from "./connect.ts";
 * assert.equal(isUrl("ws://db.local:9980"), true);
 * assert.equal(isUrl("127.0.0.1:9980"), true);
 * assert.equal(isUrl("./data"), false);
 * assert.equal(isUrl("./127.0.0.1:9980"), false);
 * ```
 */
export function isUrl(text: string): boolean {
  return /^(https?|wss?):\/\//i.test(text) || /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/.test(text);
}

/**
 * Connects with the CLI's defaults: the password given, and on a runtime
 * without a global WebSocket (Node 20) the one from the `ws` package.
 * Connection and authentication errors reject as the client's own
 * (`ConnectionError`, `AuthError`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * import { connectTo } from "./connect.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0", "--password=pw"], {}));
 * const client = await connectTo(server.url.replace("http://", ""), "pw");
 * assert.deepEqual(await client.collections(), []);
 * await client.close();
 * await server.close();
 * ```
 */
export async function connectTo(raw: string, password: string | undefined): Promise<Client> {
  const url = serverUrl(raw);
  let WebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (/^wss?:/i.test(url) && WebSocket === undefined) {
    WebSocket = (await import("ws")).WebSocket as unknown as WebSocketConstructor;
  }
  return await connect(url, { password, ...(WebSocket ? { WebSocket } : {}) });
}
