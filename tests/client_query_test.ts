// Remote queries and indexes over both transports against a real server:
// the same plain query object as embedded gives the same answer, malformed
// queries fail with the same ValidationError (connection stays usable), and
// remote iteration pages through cursor scans.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { agg, Database, defineSchema, type Query } from "../mod.ts";
import { type Client, connect, DuplicateKeyError, ValidationError } from "../client.ts";
import { type ServerProcess, startServer, webSocket } from "./server_process.ts";

const PASSWORD = "query-pw";
const schema = defineSchema({
  name: "people",
  columns: [
    { name: "id", type: "Int64", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32", nullable: true },
    { name: "score", type: "Float64" },
    { name: "born", type: "Date", nullable: true },
  ],
});

function rows(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: i,
      name: `n${i % 7}`,
      age: i % 11 === 0 ? null : 18 + (i * 7) % 50,
      score: ((i * 37) % 101) / 4,
      born: i % 5 === 0 ? null : new Date(Date.UTC(1980, 0, 1 + i)),
    });
  }
  return out;
}

const QUERIES: Query[] = [
  {},
  { where: { column: "age", op: ">", value: 30 } },
  { where: { or: [{ column: "name", op: "=", value: "n3" }, { column: "age", op: "isNull" }] }, orderBy: [{ column: "id", direction: "desc" }] },
  { where: { not: { column: "score", op: "between", value: [5, 15] } }, select: ["id", "score"], limit: 10, offset: 3 },
  { where: { column: "name", op: "in", value: ["n1", "n2"] }, orderBy: [{ column: "age", nulls: "first" }, { column: "id" }] },
  { groupBy: ["name"], aggregates: { n: agg("count"), avg: agg("mean", "score"), oldest: agg("max", "age"), first: agg("min", "born") }, orderBy: [{ column: "name" }] },
  { aggregates: { total: agg("sum", "score"), ages: agg("countDistinct", "age") } },
  { where: { column: "born", op: "<", value: new Date(Date.UTC(1980, 1, 1)) }, format: "columns" },
];

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory", "--password", PASSWORD]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

for (const kind of ["ws", "http"] as const) {
  describe(`remote queries over ${kind}`, () => {
    let client: Client;
    let local: Database;
    before(async () => {
      client = await connect(kind === "ws" ? server.ws : server.http, { password: PASSWORD, WebSocket: await webSocket(), batchSize: 16 });
      local = await Database.open();
    });
    after(async () => {
      await client.close();
      await local.close();
    });

    it("answers every query exactly as the embedded engine does, with and without an index", async () => {
      const name = `people_${kind}`;
      const s = { ...schema, name };
      const remote = await client.createTable(s);
      const embedded = local.createTable(s);
      await remote.insertMany(rows(120));
      embedded.insertMany(rows(120));
      for (const withIndex of [false, true]) {
        if (withIndex) {
          await remote.createIndex("name");
          embedded.createIndex("name");
          assert.deepEqual(await remote.indexes(), [{ column: "name", unique: false }]);
        }
        for (const q of QUERIES) {
          assert.deepEqual(await remote.query(q), embedded.query(q), `${JSON.stringify(q)} (index: ${withIndex})`);
        }
        assert.equal(await remote.count({ column: "age", op: ">=", value: 40 }), embedded.count({ column: "age", op: ">=", value: 40 }));
      }
      assert.deepEqual(
        await remote.where("age", ">", 40).select("id", "name").orderBy("id").limit(5).toArray(),
        embedded.where("age", ">", 40).select("id", "name").orderBy("id").limit(5).toArray(),
      );
      assert.deepEqual(await remote.where("name", "=", "n4").first(), embedded.where("name", "=", "n4").first());
      assert.deepEqual(
        await remote.groupBy("name").aggregate({ n: agg("count") }).orderBy("n", "desc").columns(),
        embedded.groupBy("name").aggregate({ n: agg("count") }).orderBy("n", "desc").columns(),
      );
      assert.deepEqual(await remote.getMany([3, 1, 999]), embedded.getMany([3, 1, 999]));
    });

    it("a malformed query is a ValidationError and the connection stays usable", async () => {
      const t = await client.createTable({ ...schema, name: `bad_${kind}` });
      await t.insert({ id: 1, name: "a", score: 1 });
      const bad: unknown[] = [
        { where: { column: "nope", op: "=", value: 1 } },
        { where: { column: "age", op: ">", value: "old" } },
        { where: { column: "age", op: "~", value: 1 } },
        { limit: -1 },
        { groupBy: ["name"] },
        { select: ["name"], groupBy: ["name"], aggregates: { n: { op: "count" } } },
        { orderBy: [{ column: "nope" }] },
      ];
      for (const q of bad) await assert.rejects(t.query(q as Query), ValidationError, JSON.stringify(q));
      assert.equal(await t.count(), 1);
    });

    it("a unique index rejects duplicates remotely, and an atomic batch rolls back entirely", async () => {
      const t = await client.createTable({ ...schema, name: `uniq_${kind}` });
      await t.insertMany([{ id: 1, name: "a", score: 1 }, { id: 2, name: "b", score: 2 }]);
      await t.createIndex("name", { unique: true });
      await assert.rejects(t.insert({ id: 3, name: "a", score: 3 }), DuplicateKeyError);
      await assert.rejects(t.insertMany([{ id: 4, name: "c", score: 0 }, { id: 5, name: "c", score: 0 }]), DuplicateKeyError);
      assert.deepEqual((await t.toArray()).map((r) => r.id), [1, 2]);
      await assert.rejects(t.createIndex("name"), (e: Error) => e.name === "AlreadyExistsError");
    });

    it("for await pages through a dict and a table with cursor scans", async () => {
      const d = await client.createDict(`scan_${kind}`);
      for (let i = 0; i < 100; i++) await d.set(i, { i });
      const seen: unknown[] = [];
      for await (const [k, v] of d) seen.push([k, v]);
      assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => [i, { i }]));
      const t = await client.createTable({ ...schema, name: `scan_t_${kind}` });
      await t.insertMany(rows(50));
      const ids: number[] = [];
      for await (const r of t) ids.push(r.id);
      assert.deepEqual(ids, Array.from({ length: 50 }, (_, i) => i));
    });
  });
}

describe("Arrow IPC over HTTP", () => {
  it("GET streams a table and POST a query's answer; auth, unknown tables and bad queries are refused", async () => {
    const { tableFromIPC } = await import("apache-arrow");
    const client = await connect(server.http, { password: PASSWORD });
    const t = await client.createTable({ ...schema, name: "arrow_people" });
    await t.insertMany(rows(40));
    const auth = { authorization: `Bearer ${PASSWORD}` };
    const whole = await fetch(`${server.http}/v1/arrow/arrow_people`, { headers: auth });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-type"), "application/vnd.apache.arrow.stream");
    const table = tableFromIPC(new Uint8Array(await whole.arrayBuffer()));
    assert.equal(table.numRows, 40);
    assert.deepEqual(Array.from(table.getChild("id")!.toArray().slice(0, 3) as ArrayLike<bigint>, Number), [0, 1, 2]);
    assert.deepEqual(Array.from(table.getChild("name")!.toArray()), (await t.toArray()).map((r) => r.name));

    const q: Query = { where: { column: "age", op: ">", value: 40 }, select: ["id", "age"], orderBy: [{ column: "id" }] };
    const posted = await fetch(`${server.http}/v1/arrow/arrow_people`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(q),
    });
    assert.equal(posted.status, 200);
    const answer = tableFromIPC(new Uint8Array(await posted.arrayBuffer()));
    const expected = await t.query(q) as { id: number; age: number }[];
    assert.equal(answer.numRows, expected.length);
    assert.deepEqual(answer.schema.fields.map((f) => f.name), ["id", "age"]);
    assert.deepEqual(Array.from(answer.getChild("age")!.toArray()), expected.map((r) => r.age));

    const wrong = await fetch(`${server.http}/v1/arrow/arrow_people`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).error.code, "AUTH");
    const missing = await fetch(`${server.http}/v1/arrow/no_such_table`, { headers: auth });
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "NOT_FOUND");
    const bad = await fetch(`${server.http}/v1/arrow/arrow_people`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ where: { column: "nope", op: "=", value: 1 } }),
    });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, "VALIDATION");
    await client.close();
  });
});
