// Streamed answers are made batch by batch (issue 9, item 2): the ops that
// can answer large arrays hand the server a Batches that captured one
// moment, and copies or row objects are made only as each batch is taken.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database } from "../mod.ts";
import { Batches } from "../src/core/batches.ts";

async function filled() {
  const db = await Database.open();
  db.createList("l", [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
  db.createDict("d", { a: { n: 1 }, b: { n: 2 } });
  const t = db.createTable(
    {
      name: "t",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "name", type: "Utf8" }],
    } as const,
  );
  for (let i = 0; i < 10; i++) t.insert({ id: i, name: `n${i}` });
  return db;
}

describe("streamed answers are Batches made as they are taken", () => {
  it("list, dict and table answers of a streamed call are Batches; plain calls stay arrays", async () => {
    const db = await filled();
    for (
      const [op, args] of [
        ["list.toArray", ["l"]],
        ["list.slice", ["l", 1, 3]],
        ["list.iter", ["l"]],
        ["dict.keys", ["d"]],
        ["dict.values", ["d"]],
        ["dict.entries", ["d"]],
        ["table.toArray", ["t"]],
        ["table.rows", ["t"]],
        ["table.query", ["t", { where: { column: "id", op: ">=", value: 5 } }]],
      ] as const
    ) {
      const streamed = db.execute(op, [...args], { stream: true });
      assert.ok(streamed instanceof Batches, `${op} streamed`);
      assert.deepEqual(streamed.toArray(), db.execute(op, [...args]), `${op} same answer`);
      assert.ok(Array.isArray(db.execute(op, [...args])), `${op} plain`);
    }
    // Columns and group-by answers are not rows: they stay whole.
    assert.ok(!(db.execute("table.query", ["t", { format: "columns" }], { stream: true }) instanceof Batches));
    await db.close();
  });

  it("a batch shows the moment of the call, not later writes, and hands out copies", async () => {
    const db = await filled();
    const list = db.execute("list.toArray", ["l"], { stream: true }) as Batches;
    const rows = db.execute("table.query", ["t", { orderBy: [{ column: "id" }] }], { stream: true }) as Batches;
    const entries = db.execute("dict.entries", ["d"], { stream: true }) as Batches;
    // Writes after the call...
    const l = db.getList("l");
    l.set(1, { n: 100 });
    l.reverse();
    l.append({ n: 4 });
    db.getTable("t").update(3, { id: 3, name: "changed" });
    db.getTable("t").delete(4);
    db.getDict("d").set("a", { n: 9 });
    // ...are not in its batches.
    assert.deepEqual(list.slice(0, 2), [{ n: 0 }, { n: 1 }]);
    assert.deepEqual(list.slice(2, 10), [{ n: 2 }, { n: 3 }]);
    assert.deepEqual(rows.slice(3, 5), [{ id: 3, name: "n3" }, { id: 4, name: "n4" }]);
    assert.deepEqual(entries.slice(0, 1), [["a", { n: 1 }]]);
    // A batch is the caller's: changing it changes nothing stored.
    const batch = list.slice(0, 1) as { n: number }[];
    batch[0].n = -1;
    assert.deepEqual(list.slice(0, 1), [{ n: 0 }]);
    assert.deepEqual(l.toArray(), [{ n: 3 }, { n: 2 }, { n: 100 }, { n: 0 }, { n: 4 }]);
    await db.close();
  });
});
