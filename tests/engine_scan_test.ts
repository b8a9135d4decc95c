// Cursor scans (dict.scan, table.scan): the batched iteration the remote
// client uses. Every entry present for the whole scan is returned, across
// compactions, and pages hold copies.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, ValidationError } from "../mod.ts";

type Page<T> = [number | null, T[]];

function scanAll<T>(db: Database, op: string, name: string, count: number, between?: (page: number) => void): T[] {
  const out: T[] = [];
  let cursor: number | null = 0;
  for (let page = 0; cursor !== null; page++) {
    assert.ok(page < 10_000, "scan terminates");
    const [next, items] = db.execute(op, [name, cursor, count]) as Page<T>;
    assert.ok(items.length <= count);
    out.push(...items);
    between?.(page);
    cursor = next;
  }
  return out;
}

describe("scan", () => {
  it("dict.scan pages through every entry in insertion order", async () => {
    const db = await Database.open();
    const d = db.createDict("d");
    for (let i = 0; i < 1000; i++) d.set(i % 2 ? i : `k${i}`, { i });
    const all = scanAll<[unknown, { i: number }]>(db, "dict.scan", "d", 64);
    assert.deepEqual(all, [...d.entries()]);
    await db.close();
  });

  it("entries present for the whole scan are seen exactly once even when deletes compact the dict mid-scan", async () => {
    const db = await Database.open();
    const d = db.createDict("d");
    for (let i = 0; i < 2000; i++) d.set(i, i);
    const keep = new Set<number>();
    for (let i = 0; i < 2000; i++) if (i % 5 === 0) keep.add(i);
    const seen = scanAll<[number, number]>(db, "dict.scan", "d", 100, (page) => {
      // After the second page, delete most entries not yet seen: compaction runs.
      if (page === 1) { for (let i = 300; i < 2000; i++) if (!keep.has(i)) d.delete(i); }
      if (page === 3) { for (let i = 0; i < 50; i++) d.set(`new${i}`, i); }
    }).map(([k]) => k);
    for (const k of keep) assert.ok(seen.includes(k), `key ${k} was skipped`);
    assert.equal(new Set(seen).size, seen.length, "no key is returned twice");
    await db.close();
  });

  it("table.scan returns row copies", async () => {
    const db = await Database.open();
    const t = db.createTable({
      name: "t",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "b", type: "Binary" }],
    });
    for (let i = 0; i < 10; i++) t.insert({ id: i, b: new Uint8Array([i]) });
    const rows = scanAll<{ id: number; b: Uint8Array }>(db, "table.scan", "t", 3);
    assert.deepEqual(rows.map((r) => r.id), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    rows[0].b[0] = 99;
    assert.equal(t.get(0)?.b[0], 0);
    await db.close();
  });

  it("bad cursors and page sizes are ValidationError", async () => {
    const db = await Database.open();
    db.createDict("d");
    for (const [cursor, count] of [[-1, 10], [1.5, 10], ["0", 10], [0, 0], [0, 1.5], [0, 1e9]]) {
      assert.throws(() => db.execute("dict.scan", ["d", cursor, count]), ValidationError);
    }
    await db.close();
  });
});
