// Bad input against a real server: wrong/no password, garbage, truncated
// MessagePack, unknown ops, wrong argument types, oversized bodies and
// frames, a flood of unauthenticated sockets. Each gets a clear error or a
// closed socket, the server stays up, and the stored data is unchanged.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect as netConnect } from "node:net";
import { type Client, connect, TooLargeError } from "../client.ts";
import { decode, encode } from "../src/wire/codec.ts";
import { command, rawSocket, root, type ServerProcess, startServer, webSocket } from "./server_process.ts";

const PASSWORD = "pw-" + "x".repeat(20);
const LIMIT = 1024 * 1024;
const AUTH = { authorization: `Bearer ${PASSWORD}` };

/** Sends raw bytes over TCP and returns what came back until the server closed or `ms` passed. */
function rawHttp(port: number, head: string, body: Uint8Array = new Uint8Array(0), ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const sock = netConnect(port, "127.0.0.1");
    let out = "";
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    sock.on("data", (b) => {
      out += b.toString("latin1");
      // One full response is enough.
      const at = out.indexOf("\r\n\r\n");
      const length = /content-length: *(\d+)/i.exec(out);
      if (at >= 0 && length && out.length - at - 4 >= Number(length[1])) done();
    });
    sock.on("error", done);
    sock.on("close", done);
    sock.write(head);
    if (body.length) sock.write(body);
  });
}

async function rpc(port: number, body: BodyInit, type: string, headers: Record<string, string> = AUTH) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/rpc`, {
    method: "POST",
    headers: { "content-type": type, ...headers },
    body,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const json = res.headers.get("content-type")?.startsWith("application/json");
  return {
    status: res.status,
    body: (json ? JSON.parse(new TextDecoder().decode(bytes)) : decode(bytes)) as {
      ok: boolean;
      value?: unknown;
      error?: { code: string; message: string };
    },
  };
}

let server: ServerProcess;
let client: Client;
before(async () => {
  server = await startServer([
    "--memory",
    "--password",
    PASSWORD,
    "--max-request-bytes",
    String(LIMIT),
    "--auth-timeout",
    "1500",
    "--max-unauthenticated",
    "16",
  ]);
  client = await connect(server.ws, { password: PASSWORD, WebSocket: await webSocket() });
  const d = await client.createDict("keep");
  await d.update({ a: 1, b: "two", c: [3] });
});
after(async () => {
  // The data survived everything above, and the server is still up.
  const fresh = await connect(server.http, { password: PASSWORD });
  assert.deepStrictEqual(await (await fresh.getDict("keep")).toObject(), { a: 1, b: "two", c: [3] });
  assert.deepStrictEqual((await fresh.collections()).map((c) => c.name), ["keep"]);
  await fresh.close();
  await client.close();
  assert.equal(await server.stop(), 0);
});

describe("HTTP", () => {
  it("answers /health without a password", async () => {
    const res = await fetch(`${server.http}/health`);
    assert.equal(res.status, 200);
    assert.equal((await res.json() as { ok: boolean }).ok, true);
  });

  it("refuses a missing or wrong password with 401 AUTH", async () => {
    for (
      const headers of [{} as Record<string, string>, { authorization: "Bearer nope" }, { authorization: PASSWORD }, {
        authorization: `Bearer ${PASSWORD}x`,
      }]
    ) {
      const r = await rpc(server.port, JSON.stringify({ op: "db.collections", args: [] }), "application/json", headers);
      assert.equal(r.status, 401);
      assert.equal(r.body.error?.code, "AUTH");
    }
  });

  it("checks the password before reading a body, and the size before decoding", async () => {
    // Claims a 16 MiB body and sends none: answered at once all the same.
    const head = (auth: string) =>
      `POST /v1/rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n${auth}Content-Length: ${
        16 * LIMIT
      }\r\n\r\n`;
    assert.match(await rawHttp(server.port, head("")), /^HTTP\/1\.1 401[\s\S]*AUTH/);
    assert.match(
      await rawHttp(server.port, head(`Authorization: Bearer ${PASSWORD}\r\n`)),
      /^HTTP\/1\.1 413[\s\S]*TOO_LARGE/,
    );
  });

  it("refuses a streamed body over the limit with 413", async () => {
    const chunk = new Uint8Array(256 * 1024);
    const chunked = `${chunk.length.toString(16)}\r\n`;
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) pieces.push(new TextEncoder().encode(chunked), chunk, new TextEncoder().encode("\r\n"));
    const body = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (body.set(p, at), at + p.length), 0);
    const out = await rawHttp(
      server.port,
      `POST /v1/rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\nAuthorization: Bearer ${PASSWORD}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      body,
    );
    assert.match(out, /^HTTP\/1\.1 413/);
  });

  it("answers garbage, truncated MessagePack, bad JSON and unknown types with PROTOCOL", async () => {
    const good = encode({ op: "dict.set", args: ["keep", "a", 999] });
    for (
      const [body, type] of [
        [new Uint8Array([0xc1, 0xff, 0x00, 0x13]), "application/msgpack"],
        [good.slice(0, good.length - 3), "application/msgpack"],
        [new Uint8Array(0), "application/msgpack"],
        ["{not json", "application/json"],
        ["{}", "text/plain"],
        [encode(42), "application/msgpack"],
        [encode({ args: [] }), "application/msgpack"],
      ] as const
    ) {
      const r = await rpc(server.port, body as BodyInit, type);
      assert.equal(r.status, 400, `${type} ${String(body)}`);
      assert.equal(r.body.error?.code, "PROTOCOL");
      assert.match(r.body.error!.message, /^[A-Z]/);
    }
  });

  it("answers unknown ops and wrong argument types clearly", async () => {
    const unknown = await rpc(
      server.port,
      JSON.stringify({ op: "eval", args: ["process.exit(1)"] }),
      "application/json",
    );
    assert.equal(unknown.body.error?.code, "PROTOCOL");
    for (
      const bad of [{ op: "dict.set", args: "keep" }, { op: "dict.get", args: ["keep", { k: 1 }] }, {
        op: "dict.set",
        args: [1, 2, 3],
      }]
    ) {
      const r = await rpc(server.port, JSON.stringify(bad), "application/json");
      assert.equal(r.status, 400);
      assert.equal(r.body.error?.code, "VALIDATION", JSON.stringify(bad));
    }
  });

  it("carries bigint, binary, dates, -0, NaN and $-objects as tagged JSON", async () => {
    const tagged = {
      big: { $bigint: "18446744073709551615" },
      bin: { $bytes: "AQID" },
      when: { $date: "2024-02-29T12:00:00.000Z" },
      nz: { $num: "-0" },
      nan: { $num: "NaN" },
      dollar: { $obj: { $x: 1 } },
      plain: [1, "a", null, true],
    };
    const r = await rpc(
      server.port,
      JSON.stringify([
        { op: "db.createDict", args: ["json"] },
        { op: "dict.update", args: ["json", tagged] },
        { op: "dict.toObject", args: ["json"] },
        { op: "dict.get", args: ["json", "missing"] },
      ]),
      "application/json",
    );
    assert.equal(r.status, 200);
    const replies = r.body as unknown as { ok: boolean; value?: unknown }[];
    assert.deepStrictEqual(replies[2], { ok: true, value: tagged });
    assert.deepStrictEqual(replies[3], { ok: true });
    const d = await client.getDict("json");
    assert.equal(await d.get("big"), 2n ** 64n - 1n);
    assert.deepStrictEqual(await d.get("bin"), new Uint8Array([1, 2, 3]));
    assert.ok(Object.is(await d.get("nz"), -0));
    assert.deepStrictEqual(await d.get("dollar"), { $x: 1 });
    const bad = await rpc(
      server.port,
      JSON.stringify({ op: "dict.set", args: ["json", "k", { $bytes: "!!" }] }),
      "application/json",
    );
    assert.equal(bad.body.error?.code, "PROTOCOL");
    const atomic = await rpc(
      server.port,
      JSON.stringify({
        atomic: true,
        ops: [{ op: "dict.set", args: ["json", "z", 1] }, { op: "dict.pop", args: ["json", "nope"] }],
      }),
      "application/json",
    );
    assert.equal(atomic.body.error?.code, "KEY_NOT_FOUND");
    assert.equal(await d.has("z"), false);
    assert.equal(await client.drop("json"), true);
  });

  it("refuses an oversized value before sending it; the client stays usable", async () => {
    const c = await connect(server.http, { password: PASSWORD });
    const d = await c.getDict("keep");
    await assert.rejects(d.set("huge", new Uint8Array(LIMIT + 1)), TooLargeError);
    assert.equal(await d.get("a"), 1);
    await c.close();
  });
});

describe("WebSocket", () => {
  it("closes a socket whose first frame is garbage, or an op before auth", async () => {
    for (const frame of [new Uint8Array([0xc1, 0xc1]), encode({ id: 1, op: "dict.set", args: ["keep", "a", 0] })]) {
      const s = await rawSocket(`${server.ws}/v1/ws`);
      s.ws.send(frame);
      const reply = await s.next() as { ok: boolean; error: { code: string } };
      assert.equal(reply.error.code, "AUTH");
      assert.equal((await s.closed).code, 1008);
    }
  });

  it("closes a socket that sends a wrong password", async () => {
    const s = await rawSocket(`${server.ws}/v1/ws`);
    s.ws.send(encode({ id: 1, op: "auth", args: ["wrong"] }));
    assert.deepStrictEqual(((await s.next()) as { id: number; error: { code: string } }).error.code, "AUTH");
    assert.equal((await s.closed).code, 1008);
  });

  it("answers unknown ops and bad args on an open socket, closes on undecodable frames", async () => {
    const s = await rawSocket(`${server.ws}/v1/ws`);
    s.ws.send(encode({ id: 0, op: "auth", args: [PASSWORD] }));
    assert.equal(((await s.next()) as { ok: boolean }).ok, true);
    s.ws.send(encode({ id: 1, op: "no.such", args: [] }));
    s.ws.send(encode({ id: 2, op: "dict.set", args: "x" }));
    s.ws.send(encode({ op: "dict.get", args: ["keep", "a"] }));
    s.ws.send(encode({ id: 3, op: "dict.get", args: ["keep", "a"] }));
    const replies = [await s.next(), await s.next(), await s.next(), await s.next()] as {
      id: unknown;
      ok: boolean;
      value?: unknown;
      error?: { code: string };
    }[];
    const byId = Object.fromEntries(replies.map((r) => [String(r.id), r.ok ? r.value : r.error!.code]));
    assert.deepStrictEqual(byId, { "1": "PROTOCOL", "2": "VALIDATION", "null": "PROTOCOL", "3": 1 });
    const good = encode({ id: 4, op: "dict.get", args: ["keep", "a"] });
    s.ws.send(good.slice(0, good.length - 2));
    assert.equal(((await s.next()) as { error: { code: string } }).error.code, "PROTOCOL");
    assert.equal((await s.closed).code, 1002);
  });

  it("closes on a frame over the limit; the client refuses such values before sending", async () => {
    const s = await rawSocket(`${server.ws}/v1/ws`);
    s.ws.send(encode({ id: 0, op: "auth", args: [PASSWORD] }));
    await s.next();
    s.ws.send(encode({ id: 1, op: "dict.set", args: ["keep", "big", new Uint8Array(LIMIT + 512 * 1024)] }));
    assert.equal((await s.closed).code, 1009);
    const d = await client.getDict("keep");
    await assert.rejects(d.set("big", new Uint8Array(LIMIT + 1)), TooLargeError);
    assert.equal(await d.get("a"), 1);
  });

  it("survives a flood of unauthenticated sockets and times them out", async () => {
    const Ctor = await webSocket();
    const sockets = Array.from({ length: 48 }, () => {
      const ws = new Ctor(`${server.ws}/v1/ws`);
      const closed = new Promise<number>((r) => (ws.onclose = (ev) => r(ev.code)));
      ws.onerror = () => {};
      return { ws, closed };
    });
    // Every one is refused (beyond the bound) or closed by the auth timeout.
    const codes = await Promise.all(sockets.map((s) => s.closed));
    assert.equal(codes.length, 48);
    assert.ok(codes.includes(1008), "some were closed by the auth timeout");
    // Meanwhile and after, authenticated work goes on.
    const d = await client.getDict("keep");
    assert.equal(await d.get("b"), "two");
    const again = await connect(server.ws, { password: PASSWORD, WebSocket: Ctor });
    assert.equal(await (await again.getDict("keep")).size(), 3);
    await again.close();
  });
});

describe("start-up", () => {
  it("refuses a non-loopback host without a password, with a clear message", async () => {
    const [cmd, args] = command();
    const child = spawn(cmd, [...args, "--host", "0.0.0.0", "--port", "0", "--memory"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    const code = await new Promise((r) => child.once("exit", (c) => r(c)));
    assert.equal(code, 2);
    assert.match(out, /Refusing to listen on "0\.0\.0\.0" without a password/);
    assert.doesNotMatch(out, /listening/);
  });

  it("a port in use is refused with the address it tried, on every runtime", async () => {
    const [cmd, args] = command();
    const child = spawn(cmd, [...args, "--host", "127.0.0.1", "--port", String(server.port), "--memory"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    const code = await new Promise((r) => child.once("exit", (c) => r(c)));
    assert.equal(code, 1);
    assert.match(
      out,
      new RegExp(`Could not start the server on 127\\.0\\.0\\.1:${server.port}: the address is already in use`),
    );
    assert.match(out, /pick another --port/);
  });
});
