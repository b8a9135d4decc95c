// Arrow IPC over HTTP against a real server: GET streams a table, POST a
// query's answer; auth, unknown tables and bad queries are refused. (Remote
// queries themselves are in the contract suite, tests/contract/query.ts,
// which runs them embedded, over WebSocket and over HTTP.)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { defineSchema, type Query } from "../mod.ts";
import { connect } from "../client.ts";
import { type ServerProcess, startServer } from "./server_process.ts";

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

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory", "--password", PASSWORD]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

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

    const q: Query = {
      where: { column: "age", op: ">", value: 40 },
      select: ["id", "age"],
      orderBy: [{ column: "id" }],
    };
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
