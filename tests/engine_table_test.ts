// Table, embedded only. Its behaviour — schema checks, every column type
// with its ranges, nullability, insert / insertMany / update / patch /
// upsert / delete / get / has / count / rows / toArray / schema, row order
// and isolation — is in the contract suite (tests/contract/table.ts), run
// embedded, over WebSocket and over HTTP. What stays here is what only the
// embedded handle has: synchronous iterators, and the embedded row types.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, defineSchema } from "../mod.ts";

let db: Database;

beforeEach(async () => {
  db = await Database.open();
});
afterEach(async () => {
  await db.close();
});

describe("Table, embedded only", () => {
  it("rows() and the table itself are synchronous iterators in insertion order", () => {
    const t = db.createTable(
      {
        name: "users",
        columns: [{ name: "id", type: "Int64", primaryKey: true }, { name: "name", type: "Utf8" }],
      } as const,
    );
    t.insert({ id: 3, name: "c" });
    t.insert({ id: 1, name: "a" });
    const iter = t.rows();
    assert.equal(typeof iter.next, "function");
    assert.deepEqual([...iter].map((r) => r.id), [3, 1]);
    assert.deepEqual([...t].map((r) => r.id), [3, 1]);
  });
});

describe("Table: typed rows (defineSchema and as const)", () => {
  it("row types follow the schema", () => {
    const schema = defineSchema({
      name: "people",
      columns: [
        { name: "id", type: "Int64", primaryKey: true },
        { name: "name", type: "Utf8" },
        { name: "age", type: "Int32", nullable: true },
      ],
    });
    const people = db.createTable(schema);
    people.insert({ id: 1, name: "Ada", age: 36 });
    people.insert({ id: 2, name: "Bob", age: null });
    people.insert({ id: 3, name: "Cy" });
    const name: string | undefined = people.get(1)?.name;
    const age: number | null | undefined = people.get(2)?.age;
    assert.equal(name, "Ada");
    assert.equal(age, null);
    assert.equal(people.get(3)?.age, null);
    assert.equal(people.count(), 3);

    const t2 = db.createTable(
      {
        name: "things",
        columns: [
          { name: "key", type: "Utf8", primaryKey: true },
          { name: "n", type: "Float64" },
        ],
      } as const,
    );
    t2.insert({ key: "a", n: 1.5 });
    const n: number | undefined = t2.get("a")?.n;
    assert.equal(n, 1.5);
  });
});
