// Hostile values against a real server (issue 9, items 4, 10 and 11): huge
// bigints answer at once with a short error, structured-clone and other
// non-value extensions answer in the error shape over HTTP and WebSocket, a
// "__proto__" key in JSON never becomes a prototype, and a dict key
// "__proto__" round-trips over every transport.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect } from "../client.ts";
import { decode, encode } from "../src/wire/codec.ts";
import { rawSocket, type ServerProcess, startServer, webSocket } from "./server_process.ts";

const PASSWORD = "pw-codec-" + "y".repeat(12);
const AUTH = { authorization: `Bearer ${PASSWORD}` };
const MiB = 1024 * 1024;

type Reply = { ok: boolean; value?: unknown; error?: { code: string; message: string } };

function hex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, "");
  return new Uint8Array(t.match(/../g)!.map((b) => parseInt(b, 16)));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A msgpack string. */
function str(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  return concat(new Uint8Array([0xa0 | b.length]), b);
}

/**
 * A request `{ op, args: [...leading, <raw value bytes>] }`, the last
 * argument spliced in as raw MessagePack (fixmap, fixarray):
 *
 * ```
 *   82 | a2 "op" <op> | a4 "args" | 9n <leading...> <raw>
 * ```
 */
function request(op: string, leading: string[], raw: Uint8Array, id?: number): Uint8Array {
  const head = id === undefined ? [hex("82")] : [hex("83"), str("id"), encode(id)];
  return concat(
    ...head,
    str("op"),
    str(op),
    str("args"),
    new Uint8Array([0x90 | (leading.length + 1)]),
    ...leading.map(str),
    raw,
  );
}

/** An ext 32 holding a bigint (extension 0x42) of `bytes` bytes. */
function hugeBigint(bytes: number): Uint8Array {
  const head = new Uint8Array(6);
  head[0] = 0xc9;
  new DataView(head.buffer).setUint32(1, bytes);
  head[5] = 0x42;
  const payload = new Uint8Array(bytes);
  payload[0] = 0x7f;
  return concat(head, payload);
}

async function post(
  body: BodyInit,
  type = "application/msgpack",
): Promise<{ status: number; type: string; body: Reply | Reply[] }> {
  const res = await fetch(`${server.http}/v1/rpc`, {
    method: "POST",
    headers: { "content-type": type, ...AUTH },
    body,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const ct = res.headers.get("content-type") ?? "";
  let parsed: unknown;
  if (ct.startsWith("application/json")) parsed = JSON.parse(new TextDecoder().decode(bytes));
  else if (ct.startsWith("application/msgpack")) parsed = decode(bytes);
  else parsed = { text: new TextDecoder().decode(bytes) };
  return { status: res.status, type: ct, body: parsed as Reply };
}

function assertErrorShape(r: unknown, note: string): { code: string; message: string } {
  const reply = r as Reply;
  assert.equal(typeof reply, "object", note);
  assert.equal(reply.ok, false, `${note}: ${JSON.stringify(reply)?.slice(0, 300)}`);
  assert.equal(typeof reply.error?.code, "string", note);
  assert.equal(typeof reply.error?.message, "string", note);
  assert.ok(reply.error!.message.length < 400, `${note}: a message of ${reply.error!.message.length} chars`);
  return reply.error!;
}

async function health(): Promise<void> {
  const res = await fetch(`${server.http}/health`);
  assert.equal(res.status, 200);
  assert.equal((await res.json() as { ok: boolean }).ok, true);
}

async function assertKeepIntact(): Promise<void> {
  const c = await connect(server.http, { password: PASSWORD });
  try {
    assert.deepEqual(await (await c.getDict("keep")).toObject(), { a: 1 });
  } finally {
    await c.close();
  }
}

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory", "--password", PASSWORD]);
  const c = await connect(server.http, { password: PASSWORD });
  await (await c.createDict("keep")).set("a", 1);
  await c.close();
});
after(async () => {
  try {
    await assertKeepIntact();
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

describe("server: huge bigints (item 4)", () => {
  for (const stray of [false, true]) {
    it(`dict.set of a 4 MiB bigint over HTTP msgpack${stray ? " with a stray byte" : ""} → a short error; /health answers meanwhile`, async () => {
      const body = concat(
        request("dict.set", ["keep", "big"], hugeBigint(4 * MiB)),
        stray ? hex("00") : new Uint8Array(0),
      );
      const [r] = await Promise.all([post(body as BodyInit), health()]);
      assert.equal(r.type, "application/msgpack");
      const e = assertErrorShape(r.body, "huge bigint");
      assert.match(e.message, /bigint/i);
      await health();
    });
  }

  it("a $bigint tag of a million digits over HTTP JSON → a short error", async () => {
    const body = JSON.stringify({ op: "dict.set", args: ["keep", "big", { $bigint: "9".repeat(1_000_000) }] });
    const r = await post(body, "application/json");
    assertErrorShape(r.body, "$bigint");
    await health();
  });

  for (const transport of ["ws", "http"] as const) {
    it(`the client refuses a 4 MiB bigint before sending (${transport}): a short ValidationError`, async () => {
      const c = await connect(transport === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
      });
      try {
        const d = await c.getDict("keep");
        for (const v of [1n << 33_554_432n, { a: [-(1n << 33_554_432n)] }, 2n ** 64n]) {
          const e = await d.set("big", v as never).then(() => null, (x: Error) => x);
          assert.equal(e?.name, "ValidationError", `${e?.name}: ${e?.message.slice(0, 200)}`);
          assert.ok(e!.message.length < 300, `a message of ${e!.message.length} chars`);
          assert.match(e!.message, /64-bit range/);
        }
        assert.equal(await d.get("a"), 1, "the connection still works");
      } finally {
        await c.close();
      }
    });
  }

  it("an unauthenticated WebSocket frame holding a 4 MiB bigint and a stray byte → closed; /health answers", async () => {
    const s = await rawSocket(`${server.ws}/v1/ws`);
    s.ws.send(concat(request("dict.set", ["keep", "big"], hugeBigint(4 * MiB), 1), hex("00")));
    const reply = await s.next();
    if (reply !== undefined) assertErrorShape(reply, "unauthenticated");
    // 1008 from the app; 1009 where the runtime's parser refuses a large frame before auth (Node).
    assert.ok([1008, 1009].includes((await s.closed).code));
    await health();
  });
});

/** Raw values msgpackr decodes into non-values (see codec_test.ts for each byte diagram). */
const NON_VALUES: [string, string][] = [
  ["a cyclic object", "d6 69 00000001 de 0001 a4 73656c66 d6 70 00000001"],
  ["a cyclic array", "d6 69 00000001 92 01 d6 70 00000001"],
  ["a Set", "d4 73 00 91 01"],
  ["a RegExp", "d4 78 00 92 a161 a167"],
  ["an Error", "d4 65 00 93 a5 4572726f72 a1 78 d4 00 00"],
  ["a Float64Array", "c7 09 74 08 000000000000f03f"],
  ["a record", "d4 72 40 91 a1 61 01"],
  ["the byte 0xc1", "c1"],
];

describe("server: structured clones and other non-values (item 10)", () => {
  for (const [name, bytes] of NON_VALUES) {
    it(`dict.get with ${name} as the fallback over HTTP → { ok: false, error }`, async () => {
      const r = await post(request("dict.get", ["keep", "missing"], hex(bytes)) as BodyInit);
      assert.equal(r.type, "application/msgpack", `${name}: ${JSON.stringify(r.body).slice(0, 200)}`);
      assert.equal(r.status, 400);
      assert.equal(assertErrorShape(r.body, name).code, "PROTOCOL");
    });
  }

  it("dict.get with a cyclic fallback over a raw WebSocket → { ok: false, error }; a new socket works", async () => {
    const s = await rawSocket(`${server.ws}/v1/ws`);
    s.ws.send(encode({ id: 0, op: "auth", args: [PASSWORD] }));
    assert.equal((await s.next() as Reply).ok, true);
    s.ws.send(request("dict.get", ["keep", "missing"], hex(NON_VALUES[1][1]), 7)); // the cyclic array
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000).unref?.());
    const reply = await Promise.race([s.next(), timeout]);
    assert.notEqual(reply, "timeout", "no reply within 10 s");
    assert.equal(assertErrorShape(reply, "cyclic over ws").code, "PROTOCOL");
    s.ws.close();
    const c = await connect(server.ws, { password: PASSWORD, WebSocket: await webSocket() });
    assert.equal(await (await c.getDict("keep")).get("a"), 1);
    await c.close();
  });
});

describe('server: "__proto__" (item 11)', () => {
  const drop = (wrap: (op: unknown) => unknown) =>
    JSON.stringify(wrap(JSON.parse('{"__proto__":{"op":"db.drop","args":["keep"]}}')));

  it('an atomic batch whose op hides behind "__proto__" drops nothing and says "op" is missing', async () => {
    // JSON.stringify of a parsed own "__proto__" keeps the key, so this is the attacker's text.
    const body = drop((op) => ({ atomic: true, ops: [op] }));
    assert.match(body, /"__proto__"/);
    const r = await post(body, "application/json");
    assert.match(assertErrorShape(r.body, "atomic").message, /"op"/);
    await assertKeepIntact();
  });

  it('a pipeline entry that hides behind "__proto__" drops nothing and says "op" is missing', async () => {
    const r = await post(drop((op) => [op]), "application/json");
    const replies = r.body as Reply[];
    assert.equal(replies.length, 1);
    assert.match(assertErrorShape(replies[0], "pipeline").message, /"op"/);
    await assertKeepIntact();
  });

  it("the same in MessagePack drops nothing", async () => {
    const op = JSON.parse('{"__proto__":{"op":"db.drop","args":["keep"]}}');
    for (const body of [encode({ atomic: true, ops: [op] }), encode([op]), encode(op)]) {
      const r = await post(body as BodyInit);
      const reply = Array.isArray(r.body) ? r.body[0] : r.body;
      assert.match(assertErrorShape(reply, "msgpack").message, /"op"/);
    }
    await assertKeepIntact();
  });

  for (const transport of ["ws", "http"] as const) {
    it(`a dict key "__proto__" and a value with an own "__proto__" round-trip over ${transport}`, async () => {
      const c: Client = await connect(transport === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
      });
      try {
        const d = await c.createDict(`proto_${transport}`);
        const value = JSON.parse('{"__proto__":{"x":1},"y":[{"__proto__":2}]}');
        await d.set("__proto__", { x: 1 });
        await d.set("v", value);
        const o = await d.toObject();
        assert.equal(Object.getPrototypeOf(o), Object.prototype);
        assert.deepEqual(Object.keys(o), ["__proto__", "v"]);
        assert.deepEqual(Object.getOwnPropertyDescriptor(o, "__proto__")?.value, { x: 1 });
        assert.equal((o as Record<string, unknown>).x, undefined);
        assert.deepEqual(await d.get("__proto__"), { x: 1 });
        const back = await d.get("v") as Record<string, unknown>;
        assert.equal(JSON.stringify(back), JSON.stringify(value));
        assert.deepEqual(await d.keys(), ["__proto__", "v"]);
        assert.equal(({} as Record<string, unknown>).x, undefined, "nothing polluted in the client");
      } finally {
        await c.close();
      }
    });
  }

  it('a dict key "__proto__" round-trips over HTTP JSON', async () => {
    const name = "proto_json";
    const body = JSON.stringify([
      { op: "db.createDict", args: [name] },
      { op: "dict.set", args: [name, "__proto__", { x: 1 }] },
      JSON.parse(`{"op":"dict.set","args":["${name}","v",{"__proto__":{"y":2}}]}`),
      { op: "dict.toObject", args: [name] },
      { op: "dict.get", args: [name, "v"] },
    ]);
    const r = await post(body, "application/json");
    const replies = r.body as Reply[];
    for (const x of replies) assert.equal(x.ok, true, JSON.stringify(x));
    const o = replies[3].value as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), ["__proto__", "v"]);
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, "__proto__")?.value, { x: 1 });
    const v = replies[4].value as Record<string, unknown>;
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, "__proto__")?.value, { y: 2 });
  });
});
