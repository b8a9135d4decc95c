// Remote query answers stream in batches, over WebSocket and HTTP, against a
// real server: a large answer arrives in several batches and equals the
// embedded answer exactly (rows and columns, orderBy/limit/groupBy); the raw
// wire frames are as docs/wire.md says; old-style requests
// still get one reply; bad input gets a typed error and the connection stays
// usable; a client or socket that goes away mid-stream leaves the server fine.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { agg, Database, defineSchema, type Query } from "../mod.ts";
import { type Client, connect, ValidationError } from "../client.ts";
import { decode, encode } from "../src/wire/codec.ts";
import { FrameSplitter, joinBatches } from "../src/client/stream.ts";
import { fromJsonValue } from "../src/wire/json.ts";
import { rawSocket, type ServerProcess, startServer, webSocket } from "./server_process.ts";

const PASSWORD = "stream-pw";
const N = 50_000;
const AUTH = { authorization: `Bearer ${PASSWORD}` };
const schema = defineSchema({
  name: "events",
  columns: [
    { name: "id", type: "Int64", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32", nullable: true },
    { name: "score", type: "Float64" },
    { name: "born", type: "Date", nullable: true },
    { name: "blob", type: "Binary", nullable: true },
  ],
});

function rows(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: i,
      name: `n${i % 13}`,
      age: i % 11 === 0 ? null : 18 + (i * 7) % 50,
      score: ((i * 37) % 101) / 4,
      born: i % 5 === 0 ? null : new Date(Date.UTC(1980, 0, 1 + (i % 9000))),
      blob: i % 3 === 0 ? new Uint8Array([i & 255, (i >> 8) & 255]) : null,
    });
  }
  return out;
}

// Large answers (most of the table, both formats) and small ones.
const QUERIES: Query[] = [
  {},
  { format: "columns" },
  { orderBy: [{ column: "score", direction: "desc" }, { column: "id" }], limit: 30_000 },
  {
    where: { column: "age", op: ">", value: 30 },
    select: ["id", "age", "born"],
    orderBy: [{ column: "age", nulls: "first" }, { column: "id" }],
    format: "columns",
  },
  {
    where: { or: [{ column: "name", op: "=", value: "n3" }, { column: "age", op: "isNull" }] },
    offset: 100,
    limit: 20_000,
  },
  {
    groupBy: ["name"],
    aggregates: { n: agg("count"), avg: agg("mean", "score"), oldest: agg("max", "age") },
    orderBy: [{ column: "name" }],
  },
  { groupBy: ["age"], aggregates: { n: agg("count") }, orderBy: [{ column: "age", nulls: "last" }], format: "columns" },
  { where: { column: "id", op: "<", value: 0 } },
  { where: { column: "id", op: "<", value: 0 }, format: "columns" },
];

type Frame = { id?: unknown; ok?: boolean; value?: unknown; more?: unknown; error?: { code: string; message: string } };

let server: ServerProcess;
let local: Database;
let setup: Client;
before(async () => {
  server = await startServer(["--memory", "--password", PASSWORD]);
  local = await Database.open();
  local.createTable(schema).insertMany(rows(N));
  setup = await connect(server.http, { password: PASSWORD });
  const t = await setup.createTable(schema);
  const all = rows(N);
  for (let i = 0; i < N; i += 10_000) await t.insertMany(all.slice(i, i + 10_000));
});
after(async () => {
  // The server is still up and answers on a fresh connection, then stops cleanly.
  const fresh = await connect(server.ws, { password: PASSWORD, WebSocket: await webSocket() });
  assert.equal(await (await fresh.getTable("events")).count(), N);
  await fresh.close();
  await setup.close();
  await local.close();
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.output(), /unexpected error/);
});

for (const kind of ["ws", "http"] as const) {
  describe(`streamed queries over ${kind}`, () => {
    let client: Client;
    before(async () => {
      client = await connect(kind === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
      });
    });
    after(async () => {
      await client.close();
    });

    it("a large answer arrives in several batches and joins into the embedded answer", async () => {
      const remote = await client.getTable<typeof schema>("events");
      const embedded = local.getTable<typeof schema>("events");
      const batches: unknown[][] = [];
      for await (const batch of remote.stream({}, { batchRows: 8_000 })) {
        assert.ok(batch.length <= 8_000, `a batch of ${batch.length} rows`);
        batches.push(batch);
      }
      assert.equal(batches.length, Math.ceil(N / 8_000));
      assert.deepEqual(batches.flat(), embedded.query({}));

      const columns: Record<string, unknown[]>[] = [];
      const q: Query = {
        where: { column: "score", op: ">=", value: 5 },
        select: ["id", "score", "blob"],
        orderBy: [{ column: "id", direction: "desc" }],
        format: "columns",
      };
      for await (const batch of remote.stream({ ...q, format: "columns" }, { batchRows: 10_000 })) columns.push(batch);
      assert.ok(columns.length > 1, `${columns.length} batches`);
      for (const c of columns) assert.deepEqual(Object.keys(c), ["id", "score", "blob"]);
      assert.deepEqual(joinBatches(columns), embedded.query(q));
    });

    it("query(), toArray() and the query builder equal the embedded answers (rows and columns)", async () => {
      const remote = await client.getTable<typeof schema>("events");
      const embedded = local.getTable<typeof schema>("events");
      for (const q of QUERIES) assert.deepEqual(await remote.query(q), embedded.query(q), JSON.stringify(q));
      assert.deepEqual(await remote.toArray(), embedded.toArray());
      assert.deepEqual(await remote.rows(), embedded.toArray());
      assert.deepEqual(
        await remote.where("age", ">=", 40).select("id", "name", "born").orderBy("born", "desc", "last").orderBy("id")
          .limit(25_000).toArray(),
        embedded.where("age", ">=", 40).select("id", "name", "born").orderBy("born", "desc", "last").orderBy("id")
          .limit(25_000).toArray(),
      );
      assert.deepEqual(
        await remote.where("name", "in", ["n1", "n2", "n5"]).columns(),
        embedded.where("name", "in", ["n1", "n2", "n5"]).columns(),
      );
      assert.deepEqual(
        await remote.groupBy("name").aggregate({ n: agg("count"), total: agg("sum", "score") }).orderBy("total", "desc")
          .columns(),
        embedded.groupBy("name").aggregate({ n: agg("count"), total: agg("sum", "score") }).orderBy("total", "desc")
          .columns(),
      );
    });

    it("for await over a query builder yields every row, batch by batch", async () => {
      const remote = await client.getTable<typeof schema>("events");
      const embedded = local.getTable<typeof schema>("events");
      const seen: unknown[] = [];
      for await (const row of remote.where("score", "<", 20).orderBy("id", "desc")) seen.push(row);
      assert.deepEqual(seen, embedded.where("score", "<", 20).orderBy("id", "desc").toArray());
      let batches = 0;
      let total = 0;
      for await (const batch of remote.select("id").stream({ batchRows: 12_500 })) {
        batches++;
        total += batch.length;
        assert.deepEqual(Object.keys(batch[0]), ["id"]);
      }
      assert.equal(batches, 4);
      assert.equal(total, N);
    });

    it("a malformed query is a ValidationError, streamed or not, and the connection stays usable", async () => {
      const remote = await client.getTable("events");
      const bad: unknown[] = [
        { where: { column: "nope", op: "=", value: 1 } },
        { orderBy: [{ column: "nope" }] },
        { limit: -1 },
        { format: "arrow" },
      ];
      for (const q of bad) {
        await assert.rejects(remote.query(q as Query), ValidationError, JSON.stringify(q));
        await assert.rejects(remote.stream(q as Query).next(), ValidationError, JSON.stringify(q));
      }
      await assert.rejects(remote.where("nope" as never, "=", 1 as never).toArray(), ValidationError);
      await assert.rejects(remote.stream({}, { batchRows: 0 }).next(), ValidationError);
      await assert.rejects(remote.stream({}, { batchRows: 1.5 }).next(), ValidationError);
      assert.equal(await remote.count(), N);
      assert.equal((await remote.query({ limit: 3 })).length, 3);
    });

    it("calls made before a streamed query in the same tick take effect before it", async () => {
      const t = await client.createTable({ ...schema, name: `order_${kind}` });
      const inserted = t.insert({ id: 1, name: "a", score: 1 });
      const answer = t.query({ select: ["id"] });
      const more = t.insertMany([{ id: 2, name: "b", score: 2 }]);
      assert.deepEqual((await answer).slice(0, 1), [{ id: 1 }]);
      await inserted;
      await more;
      assert.deepEqual(await t.query({ select: ["id"] }), [{ id: 1 }, { id: 2 }]);
      assert.equal(await client.drop(`order_${kind}`), true);
    });

    it("leaving a stream early, or closing the client mid-stream, leaves the server serving", async () => {
      const remote = await client.getTable<typeof schema>("events");
      // break after the first batch: the rest is cancelled, the connection goes on.
      for await (const batch of remote.stream({}, { batchRows: 100 })) {
        assert.equal(batch.length, 100);
        break;
      }
      assert.equal(await remote.count(), N);

      const other = await connect(kind === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
      });
      const t = await other.getTable<typeof schema>("events");
      const it = t.stream({}, { batchRows: 100 });
      const first = await it.next();
      assert.equal((first.value as unknown[]).length, 100);
      await other.close();
      // Whatever had arrived may still be handed out; then the loop ends or fails with ClosedError.
      let steps = 0;
      try {
        for (let r = await it.next(); !r.done && steps <= N / 100; r = await it.next()) steps++;
      } catch (e) {
        assert.equal((e as Error).name, "ClosedError");
      }
      assert.ok(steps <= N / 100);

      const again = await connect(kind === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
      });
      assert.equal((await (await again.getTable("events")).query({})).length, N);
      await again.close();
    });
  });
}

describe("the WebSocket wire", () => {
  async function authed() {
    const s = await rawSocket(`${server.ws}/v1/ws`);
    s.ws.send(encode({ id: 0, op: "auth", args: [PASSWORD] }));
    assert.equal(((await s.next()) as Frame).ok, true);
    return s;
  }

  it("answers { id, op, args, stream } with batches marked more: true, the last without", async () => {
    const s = await authed();
    s.ws.send(
      encode({
        id: 7,
        op: "table.query",
        args: ["events", { orderBy: [{ column: "id", direction: "desc" }] }],
        stream: 15_000,
      }),
    );
    const frames: Frame[] = [];
    for (let i = 0; i < 10; i++) {
      const f = (await s.next()) as Frame;
      frames.push(f);
      if (f.more !== true) break;
    }
    assert.equal(frames.length, 4);
    for (const f of frames) {
      assert.equal(f.id, 7);
      assert.equal(f.ok, true);
    }
    assert.deepEqual(frames.map((f) => f.more), [true, true, true, undefined]);
    assert.ok(!("more" in frames[3]));
    assert.deepEqual(frames.map((f) => (f.value as unknown[]).length), [15_000, 15_000, 15_000, 5_000]);
    assert.deepEqual(
      joinBatches(frames.map((f) => f.value)),
      local.getTable("events").query({ orderBy: [{ column: "id", direction: "desc" }] }),
    );

    // Columns are cut per column; an answer that is neither rows nor columns is one plain frame.
    s.ws.send(
      encode({
        id: "c",
        op: "table.query",
        args: ["events", { select: ["id", "name"], format: "columns" }],
        stream: 20_000,
      }),
    );
    const cols: Frame[] = [];
    for (let i = 0; i < 10; i++) {
      const f = (await s.next()) as Frame;
      cols.push(f);
      if (f.more !== true) break;
    }
    assert.equal(cols.length, 3);
    assert.deepEqual(cols.map((f) => (f.value as { id: unknown[] }).id.length), [20_000, 20_000, 10_000]);
    assert.deepEqual(
      joinBatches(cols.map((f) => f.value)),
      local.getTable("events").query({ select: ["id", "name"], format: "columns" }),
    );
    s.ws.send(encode({ id: 8, op: "table.count", args: ["events"], stream: 10 }));
    assert.deepEqual(await s.next(), { id: 8, ok: true, value: N });
    s.ws.close();
  });

  it("an old-style request without stream gets exactly one reply with the whole answer", async () => {
    const s = await authed();
    s.ws.send(encode({ id: 1, op: "table.query", args: ["events", {}] }));
    s.ws.send(encode({ id: 2, op: "table.count", args: ["events"] }));
    const one = (await s.next()) as Frame;
    assert.equal(one.id, 1);
    assert.equal(one.ok, true);
    assert.ok(!("more" in one));
    assert.equal((one.value as unknown[]).length, N);
    // The very next frame is the next request's reply: nothing more came for id 1.
    assert.deepEqual(await s.next(), { id: 2, ok: true, value: N });
    s.ws.close();
  });

  it("refuses a bad stream value or a malformed query with one error frame; the socket stays open", async () => {
    const s = await authed();
    let id = 10;
    for (const stream of [0, -5, 1.5, "many", null, true, [100]]) {
      s.ws.send(encode({ id: ++id, op: "table.query", args: ["events", {}], stream }));
      const f = (await s.next()) as Frame;
      assert.equal(f.id, id);
      assert.equal(f.ok, false);
      assert.equal(f.error!.code, "PROTOCOL", JSON.stringify(stream));
      assert.match(f.error!.message, /positive integer/);
    }
    s.ws.send(encode({ id: ++id, atomic: true, ops: [{ op: "table.count", args: ["events"] }], stream: 10 }));
    assert.equal(((await s.next()) as Frame).error!.code, "PROTOCOL");
    s.ws.send(
      encode({
        id: ++id,
        op: "table.query",
        args: ["events", { where: { column: "nope", op: "=", value: 1 } }],
        stream: 10,
      }),
    );
    const bad = (await s.next()) as Frame;
    assert.deepEqual([bad.id, bad.ok, bad.error!.code, "more" in bad], [id, false, "VALIDATION", false]);
    // Larger than the cap: lowered to 100 000, so 50 000 rows are one frame.
    s.ws.send(encode({ id: ++id, op: "table.query", args: ["events", { select: ["id"] }], stream: 10_000_000 }));
    const capped = (await s.next()) as Frame;
    assert.deepEqual([capped.id, capped.ok, "more" in capped, (capped.value as unknown[]).length], [
      id,
      true,
      false,
      N,
    ]);
    s.ws.send(encode({ id: ++id, op: "table.count", args: ["events"] }));
    assert.deepEqual(await s.next(), { id, ok: true, value: N });
    s.ws.close();
  });

  it("{ id, cancel: true } stops a stream; the socket goes on", async () => {
    const s = await authed();
    s.ws.send(encode({ id: 30, op: "table.query", args: ["events", {}], stream: 1 }));
    const first = (await s.next()) as Frame;
    assert.deepEqual([first.id, first.more, (first.value as unknown[]).length], [30, true, 1]);
    s.ws.send(encode({ id: 30, cancel: true }));
    s.ws.send(encode({ id: 31, op: "table.count", args: ["events"] }));
    let streamed = 1;
    let last: Frame | undefined;
    for (let i = 0; i <= N; i++) {
      const f = (await s.next()) as Frame;
      if (f.id !== 30) {
        last = f;
        break;
      }
      assert.equal(f.more, true, "the stream was cut before its last batch");
      streamed++;
    }
    assert.deepEqual(last, { id: 31, ok: true, value: N });
    assert.ok(streamed < N, `${streamed} batches of 1 row arrived`);
    // Cancelling an id that is not streaming is ignored.
    s.ws.send(encode({ id: 999, cancel: true }));
    s.ws.send(encode({ id: 32, op: "table.count", args: ["events"] }));
    assert.deepEqual(await s.next(), { id: 32, ok: true, value: N });
    s.ws.close();
  });

  it("a socket closed mid-stream does not disturb the server", async () => {
    const s = await authed();
    s.ws.send(encode({ id: 1, op: "table.query", args: ["events", {}], stream: 10 }));
    assert.equal(((await s.next()) as Frame).more, true);
    s.ws.close();
    await s.closed;
    const s2 = await authed();
    s2.ws.send(encode({ id: 1, op: "table.count", args: ["events"] }));
    assert.deepEqual(await s2.next(), { id: 1, ok: true, value: N });
    s2.ws.close();
  });
});

describe("the HTTP wire", () => {
  const post = (body: BodyInit, headers: Record<string, string>) =>
    fetch(`${server.http}/v1/rpc`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/msgpack", ...headers },
      body,
    });

  async function frames(res: Response): Promise<Frame[]> {
    const split = new FrameSplitter();
    const out: Frame[] = [];
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      split.push(value);
      for (let f = split.next(); f !== null; f = split.next()) out.push(decode(f) as Frame);
    }
    assert.equal(split.buffered, 0, "no bytes after the last frame");
    return out;
  }

  it("X-CyberDB-Stream answers with length-prefixed MessagePack frames", async () => {
    const q: Query = { where: { column: "age", op: "isNull" }, select: ["id", "born"] };
    const res = await post(encode({ op: "table.query", args: ["events", q] }) as Uint8Array<ArrayBuffer>, {
      "x-cyberdb-stream": "1000",
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/vnd.cyberdb.stream+msgpack");
    const fs = await frames(res);
    const expected = local.getTable("events").query(q) as unknown[];
    assert.equal(fs.length, Math.ceil(expected.length / 1000));
    assert.ok(fs.length > 1);
    assert.deepEqual(fs.map((f) => f.more), [...Array(fs.length - 1).fill(true), undefined]);
    assert.ok(fs.every((f) => f.ok === true && !("id" in f)));
    assert.deepEqual(joinBatches(fs.map((f) => f.value)), expected);

    // Any other answer is one frame.
    const one = await frames(
      await post(encode({ op: "table.count", args: ["events"] }) as Uint8Array<ArrayBuffer>, {
        "x-cyberdb-stream": "5",
      }),
    );
    assert.deepEqual(one, [{ ok: true, value: N }]);
  });

  it("a JSON request gets NDJSON frames with tagged values", async () => {
    const q = { select: ["id", "born", "blob"], orderBy: [{ column: "id" }], limit: 2_500 };
    const res = await post(JSON.stringify({ op: "table.query", args: ["events", q] }), {
      "content-type": "application/json",
      "x-cyberdb-stream": "1000",
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-ndjson");
    const lines = (await res.text()).split("\n");
    assert.equal(lines.pop(), "");
    const fs = lines.map((l) => JSON.parse(l) as Frame);
    assert.deepEqual(fs.map((f) => f.more), [true, true, undefined]);
    assert.deepEqual(joinBatches(fs.map((f) => fromJsonValue(f.value))), local.getTable("events").query(q as Query));
  });

  it("without the header nothing changes: one plain reply", async () => {
    const res = await post(
      encode({ op: "table.query", args: ["events", { select: ["id"] }] }) as Uint8Array<ArrayBuffer>,
      {},
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/msgpack");
    const reply = decode(new Uint8Array(await res.arrayBuffer())) as Frame;
    assert.deepEqual(Object.keys(reply), ["ok", "value"]);
    assert.equal((reply.value as unknown[]).length, N);
    const json = await post(JSON.stringify({ op: "table.count", args: ["events"] }), {
      "content-type": "application/json",
    });
    assert.deepEqual(await json.json(), { ok: true, value: N });
  });

  it("errors before the answer exists are ordinary replies with their status", async () => {
    const q = encode({ op: "table.query", args: ["events", {}] }) as Uint8Array<ArrayBuffer>;
    const plain = async (res: Response) => {
      assert.equal(res.headers.get("content-type"), "application/msgpack");
      return { status: res.status, body: decode(new Uint8Array(await res.arrayBuffer())) as Frame };
    };
    for (const bad of ["0", "-3", "1.5", "ten", ""]) {
      const r = await plain(await post(q, { "x-cyberdb-stream": bad }));
      assert.deepEqual([r.status, r.body.ok, r.body.error!.code], [400, false, "PROTOCOL"], JSON.stringify(bad));
    }
    const wrong = await plain(await post(q, { "x-cyberdb-stream": "10", authorization: "Bearer nope" }));
    assert.deepEqual([wrong.status, wrong.body.error!.code], [401, "AUTH"]);
    const pipeline = await plain(
      await post(encode([{ op: "table.count", args: ["events"] }]) as Uint8Array<ArrayBuffer>, {
        "x-cyberdb-stream": "10",
      }),
    );
    assert.deepEqual([pipeline.status, pipeline.body.error!.code], [400, "PROTOCOL"]);
    const atomic = await plain(
      await post(encode({ atomic: true, ops: [] }) as Uint8Array<ArrayBuffer>, { "x-cyberdb-stream": "10" }),
    );
    assert.deepEqual([atomic.status, atomic.body.error!.code], [400, "PROTOCOL"]);
    const invalid = await plain(
      await post(encode({ op: "table.query", args: ["events", { limit: -1 }] }) as Uint8Array<ArrayBuffer>, {
        "x-cyberdb-stream": "10",
      }),
    );
    assert.deepEqual([invalid.status, invalid.body.error!.code], [400, "VALIDATION"]);
    const missing = await plain(
      await post(encode({ op: "table.query", args: ["nope", {}] }) as Uint8Array<ArrayBuffer>, {
        "x-cyberdb-stream": "10",
      }),
    );
    assert.deepEqual([missing.status, missing.body.error!.code], [404, "NOT_FOUND"]);
  });

  it("a response body cancelled mid-stream does not disturb the server", async () => {
    const res = await post(encode({ op: "table.query", args: ["events", {}] }) as Uint8Array<ArrayBuffer>, {
      "x-cyberdb-stream": "10",
    });
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    assert.ok(value !== undefined && value.byteLength > 0);
    await reader.cancel();
    const after = await post(encode({ op: "table.count", args: ["events"] }) as Uint8Array<ArrayBuffer>, {});
    assert.deepEqual(decode(new Uint8Array(await after.arrayBuffer())), { ok: true, value: N });
  });
});
