// How a Utf8 column stores its cells: dictionary-coded while values repeat,
// plain strings once nearly every row brings a new value (column.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Column, DICT_PROBE } from "../src/core/column.ts";
import { Database } from "../mod.ts";
import { MemoryStorage } from "../src/storage/memory.ts";

function fill(values: (i: number) => string | null, n: number): Column {
  const c = Column.create("Utf8", true, 16);
  let capacity = 16;
  for (let i = 0; i < n; i++) {
    if (i === capacity) {
      capacity *= 2;
      c.grow(capacity);
    }
    c.put(i, values(i));
  }
  return c;
}

describe("Utf8 column storage", () => {
  it("turns plain at DICT_PROBE entries when nearly every value is new, and reads the same", () => {
    const value = (i: number) => (i % 50 === 0 ? null : `user${i}`);
    const n = DICT_PROBE * 3;
    const c = fill(value, n);
    assert.equal(c.kind, "str");
    for (let i = 0; i < n; i++) assert.equal(c.get(i), value(i), `cell ${i}`);
  });

  it("stays dictionary-coded when values repeat, or when only some are new", () => {
    const few = fill((i) => `city${i % 300}`, DICT_PROBE * 4);
    assert.equal(few.kind, "dict");
    // Half the rows new: the early probe passes; DICT_MAX decides later.
    const half = fill((i) => (i % 2 === 0 ? `u${i}` : "same"), DICT_PROBE * 4);
    assert.equal(half.kind, "dict");
    assert.equal(half.get(DICT_PROBE * 4 - 2), `u${DICT_PROBE * 4 - 2}`);
    assert.equal(half.get(DICT_PROBE * 4 - 1), "same");
  });

  it("a table's rows, queries and snapshot round-trip across the change", async () => {
    const storage = new MemoryStorage();
    const schema = {
      name: "people",
      columns: [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "email", type: "Utf8" },
        { name: "team", type: "Utf8" },
      ],
    } as const;
    const row = (i: number) => ({ id: i, email: `p${i}@example.com`, team: `t${i % 7}` });
    const n = DICT_PROBE * 2 + 10;
    const db = await Database.open({ dir: "db", storage });
    const t = db.createTable(schema);
    for (let i = 0; i < n; i++) {
      t.insert(row(i));
      if (i === DICT_PROBE - 2 || i === DICT_PROBE + 5) assert.deepEqual(t.get(3), row(3));
    }
    t.update(5, { email: "changed@example.com", team: "t5" });
    const check = (table: typeof t) => {
      assert.deepEqual(table.get(n - 1), row(n - 1));
      assert.equal(table.get(5)?.email, "changed@example.com");
      assert.equal(table.count({ column: "email", op: "=", value: `p${DICT_PROBE + 1}@example.com` }), 1);
      assert.equal(table.count({ column: "team", op: "=", value: "t3" }), Math.floor((n - 4) / 7) + 1);
    };
    check(t);
    await db.snapshot();
    await db.close();
    const again = await Database.open({ dir: "db", storage });
    check(again.table(schema));
    await again.close();
  });
});
