// The query contract (DESIGN §3 queries, §8 RemoteTable/RemoteQuery): random
// queries and random writes checked against a plain-array reference
// (tests/fixtures/query_reference.ts), with and without secondary indexes;
// the decided semantics one by one; the typed query builder; unique indexes;
// malformed queries; results that are copies.
import assert from "node:assert/strict";
import { agg, AlreadyExistsError, DuplicateKeyError, type Query, ValidationError, type Value } from "../../mod.ts";
import type { Contract, Db } from "./harness.ts";
import {
  canon,
  Checker,
  checkQueries,
  COLS,
  fill,
  INDEXABLE,
  loose,
  Model,
  type Q,
  type QueryTable,
  Rand,
  randomWrite,
  reference,
  type Row,
  same,
  SCHEMA,
  seedFor,
  show,
} from "../fixtures/query_reference.ts";

const SMALL = {
  name: "s",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "g", type: "Utf8", nullable: true },
    { name: "x", type: "Float64", nullable: true },
    { name: "d", type: "Date", nullable: true },
  ],
} as const;

async function small(db: Db, rows: Row[] = []): Promise<QueryTable> {
  const t = loose(await db.createTable(SMALL));
  await t.insertMany(rows);
  return t;
}

const ids = (rows: unknown) => (rows as Row[]).map((r) => r.id);

/** Fixed queries over every clause (ported from the remote-vs-embedded check), answered as the reference does. */
const FIXED: Query[] = [
  {},
  { where: { column: "age", op: ">", value: 30 } },
  {
    where: { or: [{ column: "name", op: "=", value: "bob" }, { column: "age", op: "isNull" }] },
    orderBy: [{ column: "id", direction: "desc" }],
  },
  { where: { not: { column: "score", op: "between", value: [5, 15] } }, select: ["id", "score"], limit: 10, offset: 3 },
  {
    where: { column: "name", op: "in", value: ["ada", "adam"] },
    orderBy: [{ column: "age", nulls: "first" }, { column: "id" }],
  },
  {
    groupBy: ["city"],
    aggregates: { n: agg("count"), avg: agg("mean", "score"), oldest: agg("max", "age"), first: agg("min", "born") },
    orderBy: [{ column: "city" }],
  },
  { aggregates: { total: agg("sum", "age"), ages: agg("countDistinct", "age") } },
  { where: { column: "born", op: "<", value: new Date(Date.UTC(1991, 0, 1)) }, format: "columns" },
];

export function queryContract(c: Contract): void {
  c.group("queries against a plain-array reference (property-based)", () => {
    c.test("random queries, no indexes", async (db) => {
      const seed = seedFor(1);
      const r = new Rand(seed);
      const t = loose(await db.createTable(SCHEMA));
      const m = new Model();
      await fill(r, t, m, 220);
      const ch = new Checker(seed, "no indexes");
      await checkQueries(ch, r, t, m, 400, "no indexes");
      // An empty table answers every query too.
      const empty = loose(await db.createTable({ ...SCHEMA, name: "empty" }));
      await checkQueries(ch, r, empty, new Model(), 60, "empty table");
      ch.done();
    });

    c.test("random queries with unique and non-unique indexes (made before and after the data)", async (db) => {
      const seed = seedFor(2);
      const r = new Rand(seed);
      const t = loose(await db.createTable(SCHEMA));
      const m = new Model();
      await t.createIndex("code", { unique: true });
      m.uniqueCode = true;
      await t.createIndex("age");
      await t.createIndex("born");
      await fill(r, t, m, 220);
      for (const col of ["name", "city", "score", "active", "seen", "blob", "big", "id"]) await t.createIndex(col);
      assert.equal((await t.indexes()).length, 11);
      const ch = new Checker(seed, "indexes");
      await checkQueries(ch, r, t, m, 400, "indexed");
      // Lookups by the unique column, one per stored code.
      await Promise.all(
        m.rows.filter((x) => x.code !== null).slice(0, 40).map((row) =>
          ch.query(t, m.rows, { where: { column: "code", op: "=", value: row.code } }, "unique lookup")
        ),
      );
      ch.done();
    });

    c.test("random queries after random inserts, updates, patches, upserts and deletes, with indexes coming and going", async (db) => {
      const seed = seedFor(3);
      const r = new Rand(seed);
      const t = loose(await db.createTable(SCHEMA));
      const m = new Model();
      await t.createIndex("code", { unique: true });
      m.uniqueCode = true;
      await t.createIndex("age");
      await fill(r, t, m, 150);
      const ch = new Checker(seed, "after writes");
      for (let round = 0; round < 8; round++) {
        // Enough deletes over the rounds to compact the store's tombstones.
        for (let i = 0; i < 60; i++) await randomWrite(r, t, m, seed);
        if (round === 2) {
          for (const row of m.rows.splice(0, 80)) assert.equal(await t.delete(row.id), true);
        }
        const col = r.pick(INDEXABLE);
        if ((await t.indexes()).some((ix) => ix.column === col)) assert.equal(await t.dropIndex(col), true);
        else await t.createIndex(col);
        await checkQueries(ch, r, t, m, 50, `round ${round}`);
      }
      // Without the unique index, duplicates of code are fine; with it again, they are refused.
      assert.equal(await t.dropIndex("code"), true);
      m.uniqueCode = false;
      for (let i = 0; i < 40; i++) await randomWrite(r, t, m, seed);
      await checkQueries(ch, r, t, m, 40, "unique index dropped");
      const codes = m.rows.map((x) => x.code).filter((x) => x !== null);
      if (new Set(codes).size < codes.length) {
        await db.rejects(() => t.createIndex("code", { unique: true }), DuplicateKeyError);
        assert.ok(
          !(await t.indexes()).some((ix) => ix.column === "code"),
          "a failed unique createIndex leaves no index",
        );
      }
      ch.done();
    });

    c.test("fixed queries over every clause, with and without an index, and the builder", async (db) => {
      const seed = seedFor(6);
      const r = new Rand(seed);
      const t = loose(await db.createTable(SCHEMA));
      const m = new Model();
      await fill(r, t, m, 120);
      const ch = new Checker(seed, "fixed queries");
      for (const withIndex of [false, true]) {
        if (withIndex) {
          await t.createIndex("name");
          assert.deepEqual(await t.indexes(), [{ column: "name", unique: false }]);
        }
        await Promise.all(FIXED.map((q) => ch.query(t, m.rows, q as Q, `index: ${withIndex}`)));
        const where = { column: "age", op: ">=", value: 40 };
        assert.equal(await t.count(where), m.rows.filter((x) => x.age !== null && (x.age as number) >= 40).length);
      }
      ch.done();
      const want = (q: Q) => reference(m.rows, q);
      assert.deepEqual(
        await t.where("age", ">", 40).select("id", "name").orderBy("id").limit(5).toArray(),
        want({
          where: { column: "age", op: ">", value: 40 },
          select: ["id", "name"],
          orderBy: [{ column: "id" }],
          limit: 5,
        }),
      );
      assert.deepEqual(
        await t.where("name", "=", "bob").first(),
        (want({ where: { column: "name", op: "=", value: "bob" } }) as Row[])[0],
      );
      assert.deepEqual(
        await t.groupBy("city").aggregate({ n: agg("count") }).orderBy("n", "desc").orderBy("city").columns(),
        want({
          groupBy: ["city"],
          aggregates: { n: { op: "count" } },
          orderBy: [{ column: "n", direction: "desc" }, { column: "city" }],
          format: "columns",
        }),
      );
      assert.deepEqual(
        await t.orderBy("score", "desc").limit(3).select("id").toArray(),
        want({ orderBy: [{ column: "score", direction: "desc" }], limit: 3, select: ["id"] }),
      );
      const [a, b] = m.rows;
      assert.deepEqual(await t.getMany([b.id, a.id, 5000]), [b, a]);
      assert.deepEqual(COLS.length, Object.keys(a).length);
    });
  });

  c.group("query semantics", () => {
    const ROWS: Row[] = [
      { id: 1, g: "a", x: 3, d: new Date(3) },
      { id: 2, g: null, x: null, d: null },
      { id: 3, g: "b", x: 1, d: new Date(1) },
      { id: 4, g: "a", x: null, d: new Date(2) },
      { id: 5, g: null, x: 2, d: null },
    ];

    c.test("comparisons with a null cell are false; only isNull matches null", async (db) => {
      const t = await small(db, ROWS);
      for (
        const [op, value] of [["=", 1], ["!=", 1], ["<", 100], ["<=", 100], [">", -100], [">=", -100], ["in", [
          1,
          2,
          3,
        ]], ["between", [-100, 100]]] as const
      ) {
        assert.deepStrictEqual(
          ids(await t.query({ where: { column: "x", op, value } })).includes(2),
          false,
          `${op} must not match null`,
        );
      }
      assert.deepStrictEqual(ids(await t.query({ where: { column: "x", op: "!=", value: 1 } })), [1, 5]);
      assert.deepStrictEqual(ids(await t.query({ where: { column: "g", op: "startsWith", value: "" } })), [1, 3, 4]);
      assert.deepStrictEqual(ids(await t.query({ where: { column: "g", op: "contains", value: "" } })), [1, 3, 4]);
      assert.deepStrictEqual(ids(await t.query({ where: { column: "x", op: "isNull" } })), [2, 4]);
      assert.deepStrictEqual(ids(await t.query({ where: { not: { column: "x", op: "isNull" } } })), [1, 3, 5]);
      assert.equal(await t.count({ column: "d", op: "isNull" }), 2);
    });

    c.test("aggregates skip nulls; count without a column counts rows; mean of nothing is null, sum of nothing 0", async (db) => {
      const t = await small(db, ROWS);
      const aggregates = {
        rows: { op: "count" },
        xs: { op: "count", column: "x" },
        sum: { op: "sum", column: "x" },
        mean: { op: "mean", column: "x" },
        min: { op: "min", column: "x" },
        max: { op: "max", column: "d" },
        distinct: { op: "countDistinct", column: "g" },
      };
      assert.deepStrictEqual(await t.query({ aggregates }), [{
        rows: 5,
        xs: 3,
        sum: 6,
        mean: 2,
        min: 1,
        max: new Date(3),
        distinct: 2,
      }]);
      // No matching rows: one row of empty aggregates without groupBy, no rows with it.
      const none = { column: "id", op: ">", value: 99 };
      assert.deepStrictEqual(await t.query({ where: none, aggregates }), [{
        rows: 0,
        xs: 0,
        sum: 0,
        mean: null,
        min: null,
        max: null,
        distinct: 0,
      }]);
      assert.deepStrictEqual(await t.query({ where: none, groupBy: ["g"], aggregates }), []);
      // Only nulls in a group.
      assert.deepStrictEqual(
        await t.query({
          where: { column: "id", op: "=", value: 2 },
          groupBy: ["g"],
          aggregates: { s: { op: "sum", column: "x" }, m: { op: "mean", column: "x" }, lo: { op: "min", column: "d" } },
        }),
        [
          { g: null, s: 0, m: null, lo: null },
        ],
      );
    });

    c.test("nulls group together, groups come in order of first appearance", async (db) => {
      const t = await small(db, ROWS);
      assert.deepStrictEqual(
        await t.query({ groupBy: ["g"], aggregates: { n: { op: "count" }, s: { op: "sum", column: "x" } } }),
        [
          { g: "a", n: 2, s: 3 },
          { g: null, n: 2, s: 2 },
          { g: "b", n: 1, s: 1 },
        ],
      );
      assert.deepStrictEqual(
        await t.query({ groupBy: ["g", "x"], aggregates: { n: { op: "count" } }, format: "columns" }),
        {
          g: ["a", null, "b", "a", null],
          x: [3, null, 1, null, 2],
          n: [1, 1, 1, 1, 1],
        },
      );
    });

    c.test("orderBy: nulls last ascending, first descending, unless nulls is given; several keys; stable", async (db) => {
      const t = await small(db, ROWS);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "x" }] })), [3, 5, 1, 2, 4]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "x", direction: "desc" }] })), [2, 4, 1, 5, 3]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "x", nulls: "first" }] })), [2, 4, 3, 5, 1]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "x", direction: "desc", nulls: "last" }] })), [
        1,
        5,
        3,
        2,
        4,
      ]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "g" }, { column: "d", direction: "desc" }] })), [
        1,
        4,
        3,
        2,
        5,
      ]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "g", direction: "desc" }] })), [2, 5, 3, 1, 4]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "x" }], offset: 1, limit: 2 })), [5, 1]);
      assert.deepStrictEqual(ids(await t.query({ offset: 4, limit: 10 })), [5]);
      assert.deepStrictEqual(ids(await t.query({ offset: 9 })), []);
      assert.deepStrictEqual(ids(await t.query({ limit: 0 })), []);
    });

    c.test("results without orderBy come in insertion order whether or not an index served the filter", async (db) => {
      const t = await small(db);
      // Index order (x ascending) is the reverse of insertion order.
      for (let i = 0; i < 200; i++) await t.insert({ id: i, g: `g${i % 7}`, x: 1000 - i });
      const scan = async () =>
        await t.query({
          where: { and: [{ column: "x", op: ">=", value: 850 }, { column: "g", op: "in", value: ["g1", "g2"] }] },
        });
      const before = await scan();
      await t.createIndex("x");
      await t.createIndex("g");
      assert.deepStrictEqual(await scan(), before);
      assert.deepStrictEqual(ids(before), ids(before).slice().sort((a, b) => (a as number) - (b as number)));
      // An update keeps a row's place; a delete and re-insert moves it to the end.
      await t.patch(1, { x: 999.5 });
      await t.delete(2);
      await t.insert({ id: 2, g: "g2", x: 990 });
      const ordered = ids(await t.query({ where: { column: "x", op: ">", value: 980 } }));
      assert.deepStrictEqual(ordered, [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 2]);
      // After enough deletes to compact the slots, still insertion order.
      for (let i = 20; i < 150; i++) await t.delete(i);
      assert.deepStrictEqual(ids(await t.query({ where: { column: "x", op: "<", value: 1000 } })).slice(0, 4), [
        1,
        3,
        4,
        5,
      ]);
      assert.deepStrictEqual(ids(await t.query({ where: { column: "g", op: "=", value: "g2" } })), [
        9,
        16,
        156,
        163,
        170,
        177,
        184,
        191,
        198,
        2,
      ]);
    });

    c.test("first, count and the typed builder", async (db) => {
      const t = await small(db, ROWS);
      assert.deepStrictEqual(await t.first(), ROWS[0]);
      assert.deepStrictEqual(
        await t.first({ where: { column: "x", op: ">", value: 1 }, orderBy: [{ column: "x" }] }),
        ROWS[4],
      );
      assert.equal(await t.first({ where: { column: "x", op: ">", value: 100 } }), undefined);
      assert.equal(await t.count(), 5);
      assert.equal(await t.count({ column: "g", op: "=", value: "a" }), 2);
      assert.deepStrictEqual(await t.where("x", ">", 1).orderBy("x", "desc").select("id", "x").toArray(), [{
        id: 1,
        x: 3,
      }, { id: 5, x: 2 }]);
      assert.deepStrictEqual(await t.where("g", "isNull").columns(), {
        id: [2, 5],
        g: [null, null],
        x: [null, 2],
        d: [null, null],
      });
      assert.equal(await t.where("g", "in", ["a", "b"]).count(), 3);
      assert.equal(await t.where("g", "in", ["a", "b"]).limit(2).count(), 2);
      assert.deepStrictEqual(await t.where("g", "=", "a").first(), ROWS[0]);
      assert.deepStrictEqual(
        await t.groupBy("g").aggregate({ n: { op: "count" } }).orderBy("n", "desc").orderBy("g").toArray(),
        [{ g: "a", n: 2 }, { g: null, n: 2 }, { g: "b", n: 1 }],
      );
      assert.deepStrictEqual(await t.orderBy("d", "asc", "first").limit(3).select("id").toArray(), [{ id: 2 }, {
        id: 5,
      }, { id: 3 }]);
    });
  });

  c.group("grouping, distinct counts and ordering compare values (Binary, Json, infinities)", () => {
    const S = {
      name: "v",
      columns: [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "b", type: "Binary", nullable: true },
        { name: "j", type: "Json", nullable: true },
        { name: "f", type: "Float64", nullable: true },
        { name: "s", type: "Utf8" },
      ],
    } as const;

    c.test("group by a single Binary column puts equal bytes in one group", async (db) => {
      const t = loose(await db.createTable(S));
      await t.insertMany([
        { id: 1, b: new Uint8Array([1, 2]), s: "a" },
        { id: 2, b: new Uint8Array([1, 2]), s: "a" },
        { id: 3, b: null, s: "a" },
      ]);
      assert.deepStrictEqual(await t.query({ groupBy: ["b"], aggregates: { n: { op: "count" } } }), [
        { b: new Uint8Array([1, 2]), n: 2 },
        { b: null, n: 1 },
      ]);
    });

    c.test("group by a single Json column puts deep-equal values in one group (as = does)", async (db) => {
      const t = loose(await db.createTable(S));
      await t.insertMany([
        { id: 1, j: { a: 1 }, s: "a" },
        { id: 2, j: { a: 1 }, s: "a" },
        { id: 3, j: [1], s: "a" },
      ]);
      assert.equal(await t.count({ column: "j", op: "=", value: { a: 1 } }), 2);
      assert.deepStrictEqual(await t.query({ groupBy: ["j"], aggregates: { n: { op: "count" } } }), [
        { j: { a: 1 }, n: 2 },
        { j: [1], n: 1 },
      ]);
    });

    c.test("group by several columns keeps Infinity, -Infinity and null apart", async (db) => {
      const t = loose(await db.createTable(S));
      await t.insertMany([
        { id: 1, f: Infinity, s: "a" },
        { id: 2, f: null, s: "a" },
        { id: 3, f: -Infinity, s: "a" },
      ]);
      assert.deepStrictEqual(await t.query({ groupBy: ["f", "s"], aggregates: { n: { op: "count" } } }), [
        { f: Infinity, s: "a", n: 1 },
        { f: null, s: "a", n: 1 },
        { f: -Infinity, s: "a", n: 1 },
      ]);
    });

    c.test("orderBy: equal infinite values tie and fall through to the next sort key", async (db) => {
      const t = loose(await db.createTable(S));
      await t.insertMany([
        { id: 1, f: Infinity, s: "b" },
        { id: 2, f: Infinity, s: "a" },
        { id: 3, f: -Infinity, s: "b" },
        { id: 4, f: -Infinity, s: "a" },
      ]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "f" }, { column: "s" }] })), [4, 3, 2, 1]);
      assert.deepStrictEqual(ids(await t.query({ orderBy: [{ column: "f", direction: "desc" }, { column: "s" }] })), [
        2,
        1,
        4,
        3,
      ]);
    });

    c.test("countDistinct and grouping of Json tell values apart exactly as = does", async (db) => {
      const t = loose(await db.createTable(S));
      const js: Value[] = [
        { a: 5n },
        { a: "5n" },
        { d: new Date(0) },
        { d: "1970-01-01T00:00:00.000Z" },
        [new Uint8Array([7])],
        [{ "0": 7 }],
        { p: 1, q: 2 },
        { q: 2, p: 1 },
      ];
      await t.insertMany(js.map((j, i) => ({ id: i, j, s: "a" })));
      // "=" tells them apart as 7 distinct values (only the last two are deep-equal).
      for (const w of js) {
        assert.equal(
          await t.count({ column: "j", op: "=", value: w }),
          js.filter((v) => same(v, w)).length,
          show(w),
        );
      }
      assert.equal(new Set(js.map(canon)).size, 7);
      assert.deepStrictEqual(await t.query({ aggregates: { n: { op: "countDistinct", column: "j" } } }), [{ n: 7 }]);
      assert.equal((await t.query({ groupBy: ["j", "s"], aggregates: { n: { op: "count" } } }) as Row[]).length, 7);
    });
  });

  c.group("unique indexes", () => {
    const U = {
      name: "u",
      columns: [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "email", type: "Utf8", nullable: true },
        { name: "n", type: "Int32" },
      ],
    } as const;

    async function users(db: Db) {
      const t = loose(await db.createTable(U));
      await t.insertMany([
        { id: 1, email: "a@x", n: 1 },
        { id: 2, email: "b@x", n: 2 },
        { id: 3, email: null, n: 3 },
      ]);
      await t.createIndex("email", { unique: true });
      return t;
    }

    const byEmail = async (t: QueryTable, email: string) =>
      ids(await t.query({ where: { column: "email", op: "=", value: email } }));

    c.test("rejects duplicates from every write with DuplicateKeyError and changes nothing; nulls may repeat", async (db) => {
      const t = await users(db);
      const before = await t.toArray();
      await db.rejects(() => t.insert({ id: 4, email: "a@x", n: 4 }), DuplicateKeyError);
      await db.rejects(() => t.update(2, { id: 2, email: "a@x", n: 9 }), DuplicateKeyError);
      await db.rejects(() => t.patch(2, { email: "a@x" }), DuplicateKeyError);
      await db.rejects(() => t.upsert({ id: 3, email: "b@x", n: 9 }), DuplicateKeyError);
      await db.rejects(() => t.upsert({ id: 9, email: "b@x", n: 9 }), DuplicateKeyError);
      assert.deepStrictEqual(await t.toArray(), before);
      assert.deepStrictEqual(await byEmail(t, "a@x"), [1]);
      // Rewriting a row with its own value is fine; so are many nulls.
      await t.update(1, { id: 1, email: "a@x", n: 10 });
      await t.patch(2, { email: "b@x" });
      await t.insert({ id: 4, email: null, n: 4 });
      await t.insert({ id: 5, n: 5 });
      assert.deepStrictEqual(ids(await t.query({ where: { column: "email", op: "isNull" } })), [3, 4, 5]);
      // A freed value can be taken.
      await t.patch(1, { email: "c@x" });
      await t.insert({ id: 6, email: "a@x", n: 6 });
      assert.deepStrictEqual(await byEmail(t, "a@x"), [6]);
      assert.deepStrictEqual(await byEmail(t, "c@x"), [1]);
      await db.rejects(() => t.createIndex("email"), AlreadyExistsError);
    });

    c.test("an insertMany batch with a duplicate (against the table or within the batch) inserts nothing", async (db) => {
      const t = await users(db);
      const before = await t.toArray();
      await db.rejects(
        () => t.insertMany([{ id: 10, email: "new@x", n: 1 }, { id: 11, email: "a@x", n: 1 }]),
        DuplicateKeyError,
      );
      await db.rejects(
        () => t.insertMany([{ id: 10, email: "new@x", n: 1 }, { id: 11, email: "new@x", n: 1 }]),
        DuplicateKeyError,
      );
      assert.deepStrictEqual(await t.toArray(), before);
      assert.deepStrictEqual(await byEmail(t, "new@x"), []);
      await t.insertMany([{ id: 10, email: "new@x", n: 1 }, { id: 11, email: null, n: 1 }, {
        id: 12,
        email: null,
        n: 1,
      }]);
      assert.deepStrictEqual(await byEmail(t, "new@x"), [10]);
    });

    c.test("createIndex: unique over duplicates fails and leaves no index; Json and unknown columns are refused", async (db) => {
      const t = await users(db);
      assert.equal(await t.dropIndex("email"), true);
      await t.patch(3, { email: "a@x" });
      await db.rejects(() => t.createIndex("email", { unique: true }), DuplicateKeyError);
      assert.deepStrictEqual(await t.indexes(), []);
      await db.rejects(() => t.createIndex("nope"), ValidationError);
      await db.rejects(() => t.createIndex("n", { unique: "yes" }), ValidationError);
      await db.rejects(() => t.createIndex("n", { sparse: true }), ValidationError);
      assert.deepStrictEqual(await t.indexes(), []);
      assert.equal(await t.dropIndex("email"), false);
      const j = loose(
        await db.createTable({
          name: "j",
          columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "j", type: "Json" }],
        }),
      );
      await db.rejects(() => j.createIndex("j"), ValidationError);
    });
  });

  c.group("malformed queries → ValidationError, nothing executed", () => {
    const MALFORMED: [string, unknown][] = [
      ["query not an object", "id > 3"],
      ["query an array", [{ column: "id" }]],
      ["unknown query key", { filter: { column: "id", op: "=", value: 1 } }],
      ["unknown column in where", { where: { column: "nope", op: "=", value: 1 } }],
      ["unknown column in select", { select: ["id", "nope"] }],
      ["empty select", { select: [] }],
      ["select not an array", { select: "id" }],
      ["unknown column in groupBy", { groupBy: ["nope"], aggregates: { n: { op: "count" } } }],
      ["unknown column in an aggregate", { aggregates: { n: { op: "sum", column: "nope" } } }],
      ["orderBy on an unknown column", { orderBy: [{ column: "nope" }] }],
      ["orderBy on a table column outside the grouped output", {
        groupBy: ["g"],
        aggregates: { n: { op: "count" } },
        orderBy: [{ column: "x" }],
      }],
      ["orderBy not an array", { orderBy: { column: "id" } }],
      ["orderBy with a bad direction", { orderBy: [{ column: "id", direction: "up" }] }],
      ["orderBy with a bad nulls", { orderBy: [{ column: "id", nulls: "middle" }] }],
      ["Int32 operand given as a string", { where: { column: "id", op: "=", value: "3" } }],
      ["Int32 operand given as a fraction", { where: { column: "id", op: "<", value: 2.5 } }],
      ["Int32 operand out of range", { where: { column: "id", op: "<", value: 2 ** 40 } }],
      ["Utf8 operand given as a number", { where: { column: "g", op: "=", value: 3 } }],
      ["Float64 operand given as a string", { where: { column: "x", op: ">", value: "1" } }],
      ["Date operand given as a number", { where: { column: "d", op: ">", value: 0 } }],
      ["null operand", { where: { column: "x", op: "=", value: null } }],
      ["missing operand", { where: { column: "x", op: "<" } }],
      ["in without an array", { where: { column: "id", op: "in", value: 3 } }],
      ["in with a wrong element", { where: { column: "id", op: "in", value: [1, "2"] } }],
      ["between with one bound", { where: { column: "id", op: "between", value: [1] } }],
      ["between with a wrong bound", { where: { column: "id", op: "between", value: [1, "9"] } }],
      ["startsWith on a number column", { where: { column: "x", op: "startsWith", value: "1" } }],
      ["contains with a number operand", { where: { column: "g", op: "contains", value: 1 } }],
      ["unknown operator", { where: { column: "id", op: "==", value: 1 } }],
      ["unknown operator like", { where: { column: "g", op: "like", value: "a%" } }],
      ["operator not a string", { where: { column: "id", op: 1, value: 1 } }],
      ["missing operator", { where: { column: "id", value: 1 } }],
      ["unknown filter key", { where: { column: "id", op: "=", value: 1, also: 2 } }],
      ["filter not an object", { where: "id = 1" }],
      ["and not an array", { where: { and: { column: "id", op: "=", value: 1 } } }],
      ["and beside or", { where: { and: [], or: [] } }],
      ["bad filter nested in or", {
        where: { or: [{ column: "id", op: "=", value: 1 }, { column: "nope", op: "isNull" }] },
      }],
      ["bad filter nested in not", { where: { not: { column: "id", op: "~", value: 1 } } }],
      ["negative limit", { limit: -1 }],
      ["fractional limit", { limit: 1.5 }],
      ["string limit", { limit: "10" }],
      ["NaN limit", { limit: NaN }],
      ["infinite limit", { limit: Infinity }],
      ["negative offset", { offset: -3 }],
      ["groupBy without aggregates", { groupBy: ["g"] }],
      ["empty groupBy", { groupBy: [], aggregates: { n: { op: "count" } } }],
      ["select with groupBy", { select: ["g"], groupBy: ["g"], aggregates: { n: { op: "count" } } }],
      ["select with aggregates", { select: ["g"], aggregates: { n: { op: "count" } } }],
      ["empty aggregates", { aggregates: {} }],
      ["unknown aggregate", { aggregates: { n: { op: "median", column: "x" } } }],
      ["sum of a Utf8 column", { aggregates: { n: { op: "sum", column: "g" } } }],
      ["mean of a Date column", { aggregates: { n: { op: "mean", column: "d" } } }],
      ["sum without a column", { aggregates: { n: { op: "sum" } } }],
      ["aggregate named like a group column", { groupBy: ["g"], aggregates: { g: { op: "count" } } }],
      ["unknown format", { format: "arrow" }],
    ];

    async function tables(db: Db) {
      const empty = loose(await db.createTable({ ...SMALL, name: "e" }));
      const full = loose(await db.createTable(SMALL));
      await full.insertMany([{ id: 1, g: "a", x: 1, d: new Date(1) }, { id: 2, g: null, x: null, d: null }]);
      await full.createIndex("g");
      return { empty, full };
    }

    /** The cases `call` does not reject with a ValidationError, on either table (the calls go out together). */
    async function accepted(tables: QueryTable[], call: (t: QueryTable, q: unknown) => unknown): Promise<string[]> {
      const out = await Promise.all(MALFORMED.flatMap(([what, q]) =>
        tables.map(async (t) => {
          try {
            await call(t, q);
            return `${what} ${show(q)}: accepted`;
          } catch (e) {
            if (!(e instanceof ValidationError)) return `${what}: ${(e as Error).name}: ${(e as Error).message}`;
          }
        })
      ));
      return [...new Set(out.filter((x) => x !== undefined))];
    }

    c.test(`rejects ${MALFORMED.length} malformed queries from query(), count(where) and the builder, on empty and full tables`, async (db) => {
      const { empty, full } = await tables(db);
      const before = await full.toArray();
      assert.deepStrictEqual(await accepted([empty, full], (t, q) => t.query(q)), [], "query()");
      const wheres = MALFORMED.filter(([, q]) => typeof q === "object" && q !== null && "where" in q);
      for (const [what, q] of wheres) {
        for (const t of [empty, full]) {
          await db.rejects(() => t.count((q as Q).where), ValidationError, `count(where): ${what}`);
        }
      }
      assert.deepStrictEqual(await full.toArray(), before);
      assert.deepStrictEqual(await full.indexes(), [{ column: "g", unique: false }]);
      // The builder produces the same errors.
      await db.rejects(() => full.where("nope", "=", 1).toArray(), ValidationError);
      await db.rejects(() => full.where("x", "=", "1").first(), ValidationError);
      await db.rejects(() => full.where("x", ">", 1).limit(-1).toArray(), ValidationError);
      await db.rejects(() => full.groupBy("g").toArray(), ValidationError);
      await db.rejects(() => full.orderBy("nope").toArray(), ValidationError);
      // ValidationError carries its code and says what to do.
      const e = await db.rejects(() => full.query({ where: { column: "nope", op: "=", value: 1 } }), ValidationError);
      assert.match(e.message, /"nope"/);
    });

    c.test("first() rejects the same malformed queries (its own limit 1 does not hide a bad limit or format)", async (db) => {
      const { empty, full } = await tables(db);
      assert.deepStrictEqual(await accepted([empty, full], (t, q) => t.first(q)), [], "first()");
    });
  });

  c.group("query results are copies", () => {
    c.test("mutating a returned Date, Binary or Json (rows, columns, first, group keys, min/max) leaves the table unchanged", async (db) => {
      const t = loose(
        await db.createTable({
          name: "c",
          columns: [
            { name: "id", type: "Int32", primaryKey: true },
            { name: "d", type: "Date" },
            { name: "b", type: "Binary" },
            { name: "j", type: "Json" },
          ],
        }),
      );
      await t.createIndex("d");
      await t.createIndex("b");
      const row = () => ({ id: 1, d: new Date(1000), b: new Uint8Array([1, 2, 3]), j: { a: [1, { b: 2 }], n: 5n } });
      await t.insert(row());
      await t.insert({ ...row(), id: 2 });
      const want = [row(), { ...row(), id: 2 }];
      const mutate = (v: unknown) => {
        if (v instanceof Date) v.setTime(0);
        else if (v instanceof Uint8Array) v.fill(9);
        else if (Array.isArray(v)) v.push(99);
        else if (typeof v === "object" && v !== null) {
          for (const k of Object.keys(v)) mutate((v as Record<string, unknown>)[k]);
          (v as Record<string, unknown>).extra = 1;
        }
      };
      const results: unknown[] = [
        await t.query(),
        await t.query({ where: { column: "d", op: "=", value: new Date(1000) } }),
        await t.query({ where: { column: "b", op: "in", value: [new Uint8Array([1, 2, 3])] }, select: ["b", "j"] }),
        await t.query({ format: "columns" }),
        await t.query({ orderBy: [{ column: "d" }], limit: 1 }),
        await t.first(),
        await t.query({
          groupBy: ["d"],
          aggregates: { lo: { op: "min", column: "d" }, hi: { op: "max", column: "d" } },
        }),
        await t.query({ groupBy: ["d", "b"], aggregates: { n: { op: "count" } }, format: "columns" }),
        await t.where("d", ">", new Date(0)).toArray(),
        await t.toArray(),
      ];
      for (const r of results) mutate(r);
      assert.deepStrictEqual(await t.toArray(), want);
      assert.deepStrictEqual(await t.query({ where: { column: "d", op: "=", value: new Date(1000) } }), want);
      assert.deepStrictEqual(
        await t.query({ where: { column: "b", op: "=", value: new Uint8Array([1, 2, 3]) } }),
        want,
      );
      // The operand handed in is not kept either.
      const probe = new Date(1000);
      const q = { where: { column: "d", op: "=", value: probe } };
      assert.equal((await t.query(q) as Row[]).length, 2);
      probe.setTime(0);
      assert.equal((await t.query({ where: { column: "d", op: "=", value: new Date(1000) } }) as Row[]).length, 2);
    });
  });
}
