// Table, embedded only. Its behaviour — schema checks, every column type
// with its ranges, nullability, insert / insertMany / update / patch /
// upsert / delete / get / has / count / rows / toArray / schema, row order
// and isolation — is in the contract suite (tests/contract/table.ts), run
// embedded, over WebSocket and over HTTP. What stays here is what only the
// embedded handle has: synchronous iterators, and the embedded row types.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, defineSchema, DuplicateKeyError } from "../mod.ts";
import { prng, randInt } from "./fixtures/prng.ts";
import { DICT_MAX } from "../src/core/column.ts";

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

describe("Table: primary keys of every shape (issue 14: dense index for small integer keys)", () => {
  // Small non-negative integer keys live in a dense array, the others in a
  // Map (src/core/pk_index.ts): a key must be found wherever it went, through
  // the array's growth, deletes, rolled-back transactions and compactions.
  it("get, has, count and row order match a model through random writes and rollbacks", () => {
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      const t = db.createTable(
        {
          name: `keys${seed}`,
          columns: [{ name: "id", type: "Int64", primaryKey: true }, { name: "v", type: "Int32" }],
        } as const,
      );
      const model = new Map<number, number>();
      const key = (): number => {
        const r = rand();
        if (r < 0.6) return randInt(rand, 0, 3000); // dense, growing as it fills
        if (r < 0.7) return -randInt(rand, 0, 50); // negative
        if (r < 0.8) return randInt(rand, 2 ** 31 - 3, 2 ** 31 + 3); // around the int32 edge
        if (r < 0.9) return randInt(rand, 0, 2 ** 40); // far beyond
        return randInt(rand, 3000, 200_000); // beyond the dense range for now
      };
      const apply = (k: number, v: number, m: Map<number, number>) => {
        const op = rand();
        if (op < 0.6) {
          if (m.has(k)) assert.throws(() => t.insert({ id: k, v }), DuplicateKeyError);
          else {
            t.insert({ id: k, v });
            m.set(k, v);
          }
        } else if (op < 0.9) {
          assert.equal(t.delete(k), m.delete(k));
        } else {
          t.upsert({ id: k, v });
          m.set(k, v);
        }
      };
      for (let step = 0; step < 3000; step++) {
        if (rand() < 0.05) {
          // A transaction that rolls back: nothing of it may stay.
          assert.throws(() =>
            db.transaction(() => {
              const scratch = new Map(model);
              for (let i = 0; i < 20; i++) apply(key(), step, scratch);
              throw new Error("roll back");
            }), /roll back/);
        } else apply(key(), step, model);
        if (step % 500 === 499) {
          assert.equal(t.count(), model.size, `seed ${seed} step ${step}`);
          for (const [k, v] of model) assert.deepEqual(t.get(k), { id: k, v }, `seed ${seed} key ${k}`);
          for (let i = 0; i < 200; i++) {
            const k = key();
            assert.equal(t.has(k), model.has(k), `seed ${seed} has ${k}`);
          }
        }
      }
      // Deleting most rows compacts the table; every survivor is still found, in insertion order.
      const keys = [...model.keys()];
      for (const k of keys.slice(0, Math.floor(keys.length * 0.8))) {
        t.delete(k);
        model.delete(k);
      }
      assert.deepEqual(t.toArray().map((r) => r.id), [...model.keys()]);
      for (const [k, v] of model) assert.deepEqual(t.get(k), { id: k, v });
      assert.deepEqual(t.get(-0), model.has(0) ? t.get(0) : undefined);
    }
  });

  it("a lookup with a value that is no key of the table finds nothing", () => {
    const t = db.createTable(
      { name: "ids", columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const,
    );
    t.insert({ id: 1 });
    t.insert({ id: 0 });
    assert.deepEqual(t.getMany([1, 0, 2, 5]), [{ id: 1 }, { id: 0 }]);
    assert.equal(t.count({ column: "id", op: "in", value: [0, 1, 7] }), 2);
    assert.equal(t.get(1n as never)?.id, 1, "a bigint key is read as its number");
  });

  it("rows read the same before and after a Utf8 column stops being dictionary-coded", () => {
    // A Utf8 column turns from codes + dictionary into plain strings past
    // DICT_MAX distinct values (column.ts); generated row readers check
    // which it is at every read.
    const t = db.createTable(
      {
        name: "words",
        columns: [
          { name: "id", type: "Int32", primaryKey: true },
          { name: "w", type: "Utf8", nullable: true },
          { name: "flag", type: "Boolean", nullable: true },
          { name: "at", type: "Date", nullable: true },
        ],
      } as const,
    );
    const row = (i: number) => ({
      id: i,
      w: i % 7 === 0 ? null : `w${i}`,
      flag: i % 5 === 0 ? null : i % 2 === 0,
      at: i % 3 === 0 ? null : new Date(i * 1000),
    });
    const n = DICT_MAX + 25_000; // 6 in 7 values distinct: past DICT_MAX entries by about row 76 500
    for (let i = 0; i < n; i++) {
      t.insert(row(i));
      if (i === 1000 || i === n - 1) {
        for (const k of [0, 1, 2, 3, 7, 10, 21, i]) assert.deepEqual(t.get(k), row(k), `key ${k} after ${i + 1} rows`);
      }
    }
    assert.deepEqual(t.getMany([5, 6, 80_000]), [row(5), row(6), row(80_000)]);
    assert.deepEqual(t.toArray().slice(-3), [row(n - 3), row(n - 2), row(n - 1)]);
  });
});
