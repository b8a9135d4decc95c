// Table queries and secondary indexes, embedded only: what the contract
// suite (tests/contract/query.ts, run embedded, over WebSocket and over HTTP)
// cannot reach — random queries checked against the plain-array reference
// (tests/fixtures/query_reference.ts) inside and after transactions with
// savepoints, and after close/reopen of a durable database (snapshot and log
// replay); unique-index rollbacks inside transactions; a malformed query
// inside a transaction.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database, DuplicateKeyError, ValidationError } from "../mod.ts";
import {
  Checker,
  checkQueries as checkQueriesAny,
  fill as fillAny,
  INDEXABLE,
  type MaybePromise,
  Model,
  type QueryTable,
  Rand,
  randomWrite as randomWriteAny,
  type Row,
  SCHEMA,
  seedFor,
} from "./fixtures/query_reference.ts";

/** The table surface, loosely typed: the tests hand it generated data and malformed queries. */
interface LooseTable {
  insert(row: unknown): void;
  insertMany(rows: unknown): void;
  update(pk: unknown, row: unknown): void;
  patch(pk: unknown, partial: unknown): void;
  upsert(row: unknown): void;
  delete(pk: unknown): boolean;
  get(pk: unknown): Row | undefined;
  count(where?: unknown): number;
  query(q?: unknown): unknown;
  first(q?: unknown): Row | undefined;
  createIndex(column: unknown, options?: unknown): void;
  dropIndex(column: unknown): boolean;
  indexes(): { column: string; unique: boolean }[];
  toArray(): Row[];
  getMany(keys: unknown[]): Row[];
  // deno-lint-ignore no-explicit-any
  where(column: string, op: string, ...operand: unknown[]): any;
  // deno-lint-ignore no-explicit-any
  groupBy(...columns: string[]): any;
  // deno-lint-ignore no-explicit-any
  select(...columns: string[]): any;
  // deno-lint-ignore no-explicit-any
  orderBy(column: string, direction?: "asc" | "desc", nulls?: "first" | "last"): any;
}

function loose(t: unknown): LooseTable {
  return t as LooseTable;
}

/** An embedded table answers at once: the drivers must not hand back a promise (they run inside transactions). */
function sync<T>(x: MaybePromise<T>): T {
  if (x instanceof Promise) throw new Error("An embedded call returned a promise");
  return x;
}
const randomWrite = (r: Rand, t: QueryTable, m: Model, seed: number) => sync(randomWriteAny(r, t, m, seed));
const fill = (r: Rand, t: QueryTable, m: Model, n: number) => sync(fillAny(r, t, m, n));
const checkQueries = (c: Checker, r: Rand, t: QueryTable, m: Model, n: number, where: string) =>
  sync(checkQueriesAny(c, r, t, m, n, where));

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe("queries against a plain-array reference, embedded only (property-based)", () => {
  it("random queries inside and after transactions (commits, thrown errors, unique violations)", async () => {
    const seed = seedFor(4);
    const r = new Rand(seed);
    const db = await Database.open();
    const t = loose(db.createTable(SCHEMA));
    let m = new Model();
    t.createIndex("code", { unique: true });
    m.uniqueCode = true;
    t.createIndex("city");
    t.createIndex("score");
    fill(r, t, m, 150);
    const c = new Checker(seed, "transactions");
    class Boom extends Error {}
    for (let k = 0; k < 14; k++) {
      const before = m.clone();
      const indexesBefore = t.indexes();
      const mode = r.pick(["commit", "commit", "throw", "duplicate", "nested"]);
      try {
        db.transaction(() => {
          for (let i = 0; i < 15; i++) randomWrite(r, t, m, seed);
          const unindexed = ["age", "born", "blob"].filter((x) => !t.indexes().some((ix) => ix.column === x));
          if (unindexed.length && r.chance(0.5)) t.createIndex(r.pick(unindexed));
          // Reads inside the transaction see its own writes.
          checkQueries(c, r, t, m, 12, `inside transaction ${k}`);
          if (mode === "nested") {
            const mid = m.clone();
            try {
              db.transaction(() => {
                for (let i = 0; i < 8; i++) randomWrite(r, t, m, seed);
                throw new Boom("inner");
              });
            } catch (e) {
              assert.ok(e instanceof Boom);
              m = mid;
            }
            checkQueries(c, r, t, m, 8, `after inner rollback ${k}`);
          }
          if (mode === "throw") throw new Boom("rollback");
          if (mode === "duplicate") {
            const holder = m.rows.find((x) => x.code !== null);
            const id = 1000 + k;
            if (holder) t.insert({ id, city: "Oslo", code: holder.code });
            else throw new Boom("no code to clash with");
          }
        });
        assert.ok(
          mode === "commit" || mode === "nested",
          `seed ${seed}: transaction ${k} (${mode}) should have thrown`,
        );
      } catch (e) {
        assert.ok(e instanceof Boom || (mode === "duplicate" && e instanceof DuplicateKeyError), `seed ${seed}: ${e}`);
        m = before;
        assert.deepStrictEqual(
          t.indexes(),
          indexesBefore,
          `seed ${seed}: rolled-back transaction ${k} restores the index list`,
        );
      }
      checkQueries(c, r, t, m, 25, `after transaction ${k} (${mode})`);
    }
    await db.close();
    c.done();
  });

  it("random queries after close/reopen of a durable database (snapshot and log replay)", async () => {
    const seed = seedFor(5);
    const r = new Rand(seed);
    const dir = mkdtempSync(join(tmpdir(), "cyberdb-query-"));
    tmpDirs.push(dir);
    const path = join(dir, "db");
    let db = await Database.open({ dir: path });
    let t = loose(db.createTable(SCHEMA));
    const m = new Model();
    t.createIndex("code", { unique: true });
    m.uniqueCode = true;
    t.createIndex("age");
    fill(r, t, m, 150);
    for (let i = 0; i < 80; i++) randomWrite(r, t, m, seed);
    const c = new Checker(seed, "reopen");
    const wantIndexes = () => t.indexes().map((ix) => `${ix.column}:${ix.unique}`).sort();
    let indexes = wantIndexes();
    await db.close();

    for (let cycle = 0; cycle < 3; cycle++) {
      db = await Database.open({ dir: path });
      t = loose(db.getTable("people"));
      assert.deepStrictEqual(wantIndexes(), indexes, `seed ${seed}: indexes survive reopen ${cycle}`);
      checkQueries(c, r, t, m, 60, `reopened ${cycle}`);
      // The unique index is still enforced after recovery.
      const holder = m.rows.find((x) => x.code !== null);
      if (holder) assert.throws(() => t.insert({ id: 5000, city: "Oslo", code: holder.code }), DuplicateKeyError);
      db.transaction(() => {
        for (let i = 0; i < 30; i++) randomWrite(r, t, m, seed);
      });
      for (let i = 0; i < 30; i++) randomWrite(r, t, m, seed);
      const col = r.pick(INDEXABLE);
      if (t.indexes().some((ix) => ix.column === col)) t.dropIndex(col);
      else t.createIndex(col);
      indexes = wantIndexes();
      await db.flush();
      // A copy of the live directory is what a crash right now would leave:
      // opening it replays the log written since the last snapshot.
      const copy = join(dir, `crash-${cycle}`);
      cpSync(path, copy, { recursive: true, filter: (src) => !src.endsWith("LOCK") });
      const crashed = await Database.open({ dir: copy });
      const ct = loose(crashed.getTable("people"));
      assert.deepStrictEqual(
        ct.indexes().map((ix) => `${ix.column}:${ix.unique}`).sort(),
        indexes,
        `seed ${seed}: indexes replayed from the log`,
      );
      checkQueries(c, r, ct, m, 40, `replayed log ${cycle}`);
      await crashed.close();
      await db.close();
    }
    c.done();
  });
});

const ids = (rows: unknown) => (rows as Row[]).map((r) => r.id);

describe("unique indexes inside transactions", () => {
  const U = {
    name: "u",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "email", type: "Utf8", nullable: true },
      { name: "n", type: "Int32" },
    ],
  } as const;

  async function users() {
    const db = await Database.open();
    const t = loose(db.createTable(U));
    t.insertMany([
      { id: 1, email: "a@x", n: 1 },
      { id: 2, email: "b@x", n: 2 },
      { id: 3, email: null, n: 3 },
    ]);
    t.createIndex("email", { unique: true });
    return { db, t };
  }

  const byEmail = (t: LooseTable, email: string) => ids(t.query({ where: { column: "email", op: "=", value: email } }));

  it("a violation inside a transaction rolls back every write of it, index entries and index changes included", async () => {
    const { db, t } = await users();
    t.createIndex("n");
    const before = t.toArray();
    const indexes = t.indexes();
    assert.throws(() =>
      db.transaction(() => {
        t.insert({ id: 20, email: "t@x", n: 20 });
        t.patch(1, { email: "moved@x", n: 21 });
        t.delete(2);
        t.upsert({ id: 3, email: "b@x", n: 22 });
        t.dropIndex("n");
        t.createIndex("id");
        assert.deepStrictEqual(byEmail(t, "b@x"), [3]);
        t.insert({ id: 21, email: "t@x", n: 23 }); // duplicate of row 20's email
      }), DuplicateKeyError);
    assert.deepStrictEqual(t.toArray(), before);
    assert.deepStrictEqual(t.indexes(), indexes);
    for (const [email, want] of [["a@x", [1]], ["b@x", [2]], ["t@x", []], ["moved@x", []]] as const) {
      assert.deepStrictEqual(byEmail(t, email), want, email);
    }
    assert.deepStrictEqual(ids(t.query({ where: { column: "n", op: ">=", value: 20 } })), []);
    assert.deepStrictEqual(ids(t.query({ where: { column: "n", op: "between", value: [1, 2] } })), [1, 2]);
    // The values the rolled-back transaction held are free again; the ones it freed are taken again.
    t.insert({ id: 20, email: "t@x", n: 20 });
    assert.throws(() => t.insert({ id: 30, email: "b@x", n: 30 }), DuplicateKeyError);
    // A savepoint that fails is undone alone; the outer transaction commits.
    db.transaction(() => {
      t.insert({ id: 40, email: "s@x", n: 40 });
      assert.throws(() =>
        db.transaction(() => {
          t.patch(40, { email: "s2@x" });
          t.insert({ id: 41, email: "a@x", n: 41 });
        }), DuplicateKeyError);
    });
    assert.deepStrictEqual(byEmail(t, "s@x"), [40]);
    assert.deepStrictEqual(byEmail(t, "s2@x"), []);
    assert.equal(t.get(41), undefined);
    await db.close();
  });
});

describe("malformed queries inside a transaction", () => {
  it("a malformed query throws without touching the transaction's writes", async () => {
    const db = await Database.open();
    const full = loose(db.createTable({
      name: "s",
      columns: [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "g", type: "Utf8", nullable: true },
      ],
    }));
    full.insertMany([{ id: 1, g: "a" }, { id: 2, g: null }]);
    full.createIndex("g");
    const before = full.toArray();
    db.transaction(() => {
      full.insert({ id: 3, g: "c" });
      assert.throws(() => full.query({ where: { column: "nope", op: "isNull" } }), ValidationError);
    });
    assert.equal(full.count(), 3);
    full.delete(3);
    assert.deepStrictEqual(full.toArray(), before);
    assert.deepStrictEqual(full.indexes(), [{ column: "g", unique: false }]);
    await db.close();
  });
});

// Embedded only for now: MessagePack decoders drop an own "__proto__" key, so
// over the wire the server never sees this aggregate (see docs/embedded.md on
// "__proto__"). It joins the contract's malformed queries once the wire
// carries such keys.
describe("an aggregate named __proto__", () => {
  it("is refused by query() and first() on empty and full tables (it would set the row's prototype)", async () => {
    const db = await Database.open();
    const columns = [{ name: "id", type: "Int32", primaryKey: true }, { name: "g", type: "Utf8", nullable: true }];
    const empty = loose(db.createTable({ name: "e", columns } as never));
    const full = loose(db.createTable({ name: "s", columns } as never));
    full.insertMany([{ id: 1, g: "a" }, { id: 2, g: null }]);
    const q = { aggregates: JSON.parse('{"__proto__": { "op": "count" }}') };
    for (const t of [empty, full]) {
      assert.throws(() => t.query(q), ValidationError);
      assert.throws(() => t.first(q), ValidationError);
    }
    await db.close();
  });
});
