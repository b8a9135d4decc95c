// The client on replies its codec refuses (issue 9, item 10, client side):
// a reply frame that is not a MessagePack reply fails the pending call at
// once with a clear ConnectionError instead of leaving it to time out. A
// real CyberDB server never sends such frames, so the peer here is a
// minimal WebSocket server over node:net that answers the auth frame and
// then sends the bytes under test.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { connect, ConnectionError } from "../client.ts";
import { encode } from "../src/wire/codec.ts";
import { webSocket } from "./server_process.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * A server-to-client binary frame (unmasked):
 *
 * ```
 *   82 | len (< 126)              | payload
 *   82 | 7e | u16 BE len          | payload
 * ```
 */
function frame(payload: Uint8Array): Uint8Array {
  const head = payload.length < 126
    ? new Uint8Array([0x82, payload.length])
    : new Uint8Array([0x82, 126, payload.length >> 8, payload.length & 0xff]);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** Counts complete client frames (masked, short) in `buf`; returns [count, rest]. */
function countFrames(buf: Uint8Array): [number, Uint8Array] {
  let n = 0;
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    let len = buf[at + 1] & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = (buf[at + 2] << 8) | buf[at + 3];
      head = 4;
    }
    const size = head + 4 + len; // 4 bytes of mask
    if (buf.length - at < size) break;
    at += size;
    n++;
  }
  return [n, buf.subarray(at)];
}

/** Serves one WebSocket peer: answers the auth frame, then sends `bad` for the next frame. */
function peer(bad: Uint8Array): Promise<{ server: Server; port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((sock: Socket) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    let upgraded = false;
    let pending = new Uint8Array(0);
    let frames = 0;
    sock.on("error", () => {});
    sock.on("data", (chunk: Uint8Array) => {
      if (!upgraded) {
        const text = new TextDecoder().decode(chunk);
        const key = /sec-websocket-key: *(\S+)/i.exec(text)?.[1] ?? "";
        const accept = createHash("sha1").update(key + GUID).digest("base64");
        sock.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        upgraded = true;
        return;
      }
      const all = new Uint8Array(pending.length + chunk.length);
      all.set(pending);
      all.set(chunk, pending.length);
      const [n, rest] = countFrames(all);
      pending = rest.slice();
      for (let i = 0; i < n; i++) {
        frames++;
        sock.write(frames === 1 ? frame(encode({ id: 0, ok: true, value: {} })) : frame(bad));
      }
    });
  });
  const stop = () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port, stop }))
  );
}

describe("client: a reply frame the codec refuses fails the call at once (item 10)", () => {
  const cases: [string, Uint8Array][] = [
    ["a cyclic structured clone", new Uint8Array([0xd6, 0x69, 0, 0, 0, 1, 0x92, 0x01, 0xd6, 0x70, 0, 0, 0, 1])],
    ["the byte 0xc1", new Uint8Array([0xc1])],
    ["a MessagePack nil, not an object", new Uint8Array([0xc0])],
  ];
  for (const [name, bad] of cases) {
    it(`${name} → ConnectionError naming the frame, long before the timeout`, async () => {
      const { port, stop } = await peer(bad);
      const client = await connect(`ws://127.0.0.1:${port}`, {
        WebSocket: await webSocket(),
        timeout: 10_000,
        reconnect: false,
      });
      try {
        const d = await client.getDict("d").catch((e) => e);
        assert.ok(d instanceof ConnectionError, `got ${d?.name}: ${d?.message}`);
        assert.match(d.message, /not a reply/);
        assert.ok(d.message.length < 400);
      } finally {
        await client.close();
        await stop();
      }
    });
  }
});
