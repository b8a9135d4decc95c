// The table contract (DESIGN §3 Table, §8 RemoteTable): schema checks, every
// column type with its ranges, nullability, insert / insertMany (all or
// none) / update / patch / upsert / delete / get / has / count / rows /
// toArray / schema, row order, typed rows and isolation of stored rows.
import assert from "node:assert/strict";
import { defineSchema, DuplicateKeyError, KeyNotFoundError, SchemaError, ValidationError } from "../../mod.ts";
import { all, type Contract, type Db, schema, type Table } from "./harness.ts";

/** The table surface, loosely typed, for tests that pass deliberately odd rows. */
export interface LooseTable {
  readonly name: string;
  insert(row: unknown): Promise<unknown>;
  insertMany(rows: unknown): Promise<unknown>;
  update(pk: unknown, row: unknown): Promise<unknown>;
  patch(pk: unknown, partial: unknown): Promise<unknown>;
  upsert(row: unknown): Promise<unknown>;
  delete(pk: unknown): Promise<boolean>;
  // deno-lint-ignore no-explicit-any
  get(pk: unknown): Promise<any>;
  has(pk: unknown): Promise<boolean>;
  count(where?: unknown): Promise<number>;
  // deno-lint-ignore no-explicit-any
  rows(): Promise<Iterable<any>>;
  // deno-lint-ignore no-explicit-any
  toArray(): Promise<any[]>;
  // deno-lint-ignore no-explicit-any
  [Symbol.asyncIterator](): AsyncIterator<any>;
}

/** Views a table through the loose surface. */
export function loose(t: unknown): LooseTable {
  return t as LooseTable;
}

type Col = { name: string; type: string; primaryKey?: boolean; nullable?: boolean };

/** Table names count up per test, so that messages naming them agree across targets. */
const seq = new WeakMap<Db, number>();
function nextName(db: Db): string {
  const n = (seq.get(db) ?? 0) + 1;
  seq.set(db, n);
  return `t${n}`;
}

export function tableContract(c: Contract): void {
  const invalid = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, ValidationError, note);
  const schemaErr = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, SchemaError, note);
  const dup = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, DuplicateKeyError, note);
  const keyMissing = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, KeyNotFoundError, note);

  /** Creates a table from a loosely typed schema. */
  const mk = async (db: Db, columns: Col[], name = nextName(db)) =>
    loose(await db.createTable({ name, columns } as never));
  /** A users table: id Int64 pk, name Utf8, age Int32 nullable. */
  const users = (db: Db) =>
    mk(db, [
      { name: "id", type: "Int64", primaryKey: true },
      { name: "name", type: "Utf8" },
      { name: "age", type: "Int32", nullable: true },
    ], "users");
  /** A table with `id Int32` pk and one column `v` of `type`. */
  const withCol = (db: Db, type: string, nullable = false) =>
    mk(db, [{ name: "id", type: "Int32", primaryKey: true }, { name: "v", type, nullable }]);

  c.group("table: createTable and schema checks", () => {
    c.test("getTable reaches the same rows", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "Ada", age: 36 });
      const again = loose(await db.getTable("users"));
      assert.deepEqual(await again.get(1), { id: 1, name: "Ada", age: 36 });
      await again.insert({ id: 2, name: "Bob", age: null });
      assert.equal(await t.count(), 2);
      assert.equal(t.name, db.n("users"));
    });

    c.test("schema returns the table's schema", async (db) => {
      const s = await schema(await users(db) as unknown as Table);
      assert.equal(s.name, db.n("users"));
      assert.deepEqual(
        s.columns.map((c: Col) => [c.name, c.type, !!c.primaryKey, !!c.nullable]),
        [["id", "Int64", true, false], ["name", "Utf8", false, false], ["age", "Int32", false, true]],
      );
    });

    c.test("schema is a copy: mutating it (or the object given to createTable) changes nothing", async (db) => {
      const columns: Col[] = [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "v", type: "Utf8" },
      ];
      const t = await mk(db, columns, "copy");
      columns.push({ name: "extra", type: "Utf8" });
      columns[1].type = "Int32";
      const s = await schema(t as unknown as Table);
      s.columns.push({ name: "more", type: "Utf8" });
      s.columns[1].type = "Boolean";
      s.name = "renamed";
      const again = await schema(t as unknown as Table);
      assert.equal(again.name, db.n("copy"));
      assert.deepEqual(again.columns.map((c: Col) => [c.name, c.type]), [["id", "Int32"], ["v", "Utf8"]]);
      await t.insert({ id: 1, v: "text" });
      await invalid(db, () => t.insert({ id: 2, v: "x", extra: "y" }), "extra was added after creation");
      await invalid(db, () => t.insert({ id: 3, v: 5 }), "v is still Utf8");
      assert.equal(await t.count(), 1);
    });

    c.test("a table without columns, or without a primary key, is a SchemaError", async (db) => {
      await schemaErr(db, () => mk(db, []), "no columns");
      await schemaErr(db, () => mk(db, [{ name: "a", type: "Int32" }]), "no primary key");
    });

    c.test("two primary keys are a SchemaError", async (db) => {
      await schemaErr(db, () =>
        mk(db, [
          { name: "a", type: "Int32", primaryKey: true },
          { name: "b", type: "Int32", primaryKey: true },
        ]));
    });

    c.test("an unknown or missing type is a SchemaError", async (db) => {
      await schemaErr(
        db,
        () => mk(db, [{ name: "id", type: "Int32", primaryKey: true }, { name: "x", type: "Integer" }]),
      );
      await schemaErr(db, () => mk(db, [{ name: "id", type: "int32", primaryKey: true }]), "types are case-sensitive");
      await schemaErr(
        db,
        () => mk(db, [{ name: "id", type: "Int32", primaryKey: true }, { name: "x" } as never]),
        "missing type",
      );
    });

    c.test("duplicate column names are a SchemaError", async (db) => {
      await schemaErr(db, () =>
        mk(db, [
          { name: "id", type: "Int32", primaryKey: true },
          { name: "x", type: "Utf8" },
          { name: "x", type: "Int32" },
        ]));
    });

    c.test("a nullable primary key is a SchemaError", async (db) => {
      await schemaErr(db, () => mk(db, [{ name: "id", type: "Int32", primaryKey: true, nullable: true }]));
    });

    c.test("an empty column name is a SchemaError", async (db) => {
      await schemaErr(db, () => mk(db, [{ name: "id", type: "Int32", primaryKey: true }, { name: "", type: "Utf8" }]));
    });

    c.test("an empty table name is rejected (SchemaError or ValidationError)", async (db) => {
      await assert.rejects(
        async () => await mk(db, [{ name: "id", type: "Int32", primaryKey: true }], ""),
        (e) => e instanceof SchemaError || e instanceof ValidationError,
      );
    });

    c.test("a schema that is not an object is a SchemaError", async (db) => {
      await schemaErr(db, () => db.createTable(null as never), "null");
      await schemaErr(db, () => db.createTable("users" as never), "a string");
      await schemaErr(db, () => db.createTable([] as never), "an array");
      assert.deepEqual(await db.collections(), []);
    });

    c.test("primary keys may be any integer type or Utf8/String", async (db) => {
      const samples: Record<string, number | string> = {
        Int8: -5,
        Int16: 300,
        Int32: -70000,
        Int64: 2 ** 40,
        UInt8: 200,
        UInt16: 60000,
        UInt32: 4000000000,
        UInt64: 2 ** 52,
        Utf8: "k",
        String: "",
      };
      for (const [type, key] of Object.entries(samples)) {
        const t = await mk(db, [{ name: "id", type, primaryKey: true }, { name: "v", type: "Utf8" }]);
        await t.insert({ id: key, v: type });
        assert.deepEqual(await t.get(key), { id: key, v: type }, type);
        assert.equal(await t.has(key), true, type);
      }
    });

    c.test("a primary key of any other type is a SchemaError", async (db) => {
      for (const type of ["Float32", "Float64", "Boolean", "Binary", "Date", "Datetime", "Json"]) {
        await schemaErr(db, () => mk(db, [{ name: "id", type, primaryKey: true }]), type);
      }
    });

    c.test("a failed createTable creates nothing", async (db) => {
      await schemaErr(db, () => mk(db, [{ name: "a", type: "Int32" }], "broken"));
      assert.deepEqual(await db.collections(), []);
    });
  });

  c.group("table: insert, get, has, delete, count", () => {
    c.test("insert then get returns the full row", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "Ada", age: 36 });
      const row = await t.get(1);
      assert.deepEqual(row, { id: 1, name: "Ada", age: 36 });
      assert.equal(Object.getPrototypeOf(row), Object.prototype);
    });

    c.test("a nullable column may be omitted and comes back as null", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "Ada" });
      const row = await t.get(1);
      assert.deepEqual(row, { id: 1, name: "Ada", age: null });
      assert.ok(Object.hasOwn(row, "age"));
    });

    c.test("get of a missing key is undefined; has is false", async (db) => {
      const t = await users(db);
      assert.equal(await t.get(1), undefined);
      assert.equal(await t.has(1), false);
      await t.insert({ id: 1, name: "Ada" });
      assert.equal(await t.has(1), true);
      assert.equal(await t.get(2), undefined);
    });

    c.test("insert of an existing key throws DuplicateKeyError and keeps the old row", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "Ada", age: 1 });
      await dup(db, () => t.insert({ id: 1, name: "Other", age: 2 }));
      assert.deepEqual(await t.get(1), { id: 1, name: "Ada", age: 1 });
      assert.equal(await t.count(), 1);
    });

    c.test("a bigint primary key is the same key as the number", async (db) => {
      const t = await users(db);
      await t.insert({ id: 5n, name: "Big" });
      assert.deepEqual(await t.get(5), { id: 5, name: "Big", age: null });
      assert.deepEqual(await t.get(5n), { id: 5, name: "Big", age: null });
      await dup(db, () => t.insert({ id: 5, name: "Dup" }));
    });

    c.test("-0 as an integer primary key is the same key as 0", async (db) => {
      const t = await users(db);
      await t.insert({ id: -0, name: "Zero" });
      assert.ok(Object.is((await t.get(0)).id, 0));
      await dup(db, () => t.insert({ id: 0, name: "Dup" }));
    });

    c.test("get, has and delete with a key of the wrong type are ValidationErrors", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "Ada" });
      for (const k of ["1", null, true, {}, 1.5, NaN]) {
        await invalid(db, () => t.get(k), `get ${String(k)}`);
        await invalid(db, () => t.has(k), `has ${String(k)}`);
        await invalid(db, () => t.delete(k), `delete ${String(k)}`);
      }
      const s = await mk(db, [{ name: "k", type: "Utf8", primaryKey: true }]);
      await s.insert({ k: "1" });
      await invalid(db, () => s.get(1));
      await invalid(db, () => s.has(1));
      await invalid(db, () => s.delete(1));
      assert.equal(await t.count(), 1);
      assert.equal(await s.count(), 1);
    });

    c.test("delete resolves to whether there was a row", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "Ada" });
      await t.insert({ id: 2, name: "Bob" });
      assert.equal(await t.delete(1), true);
      assert.equal(await t.delete(1), false);
      assert.equal(await t.delete(99), false);
      assert.equal(await t.get(1), undefined);
      assert.equal(await t.count(), 1);
    });

    c.test("count follows inserts and deletes", async (db) => {
      const t = await users(db);
      assert.equal(await t.count(), 0);
      await Promise.all(Array.from({ length: 100 }, (_, i) => t.insert({ id: i, name: `u${i}` })));
      assert.equal(await t.count(), 100);
      await Promise.all(Array.from({ length: 50 }, (_, i) => t.delete(2 * i)));
      assert.equal(await t.count(), 50);
    });

    c.test("rows(), toArray() and for await give rows in insertion order", async (db) => {
      const t = await users(db);
      await t.insert({ id: 3, name: "c" });
      await t.insert({ id: 1, name: "a" });
      await t.insert({ id: 2, name: "b", age: 5 });
      const want = [
        { id: 3, name: "c", age: null },
        { id: 1, name: "a", age: null },
        { id: 2, name: "b", age: 5 },
      ];
      assert.deepEqual(await t.toArray(), want);
      assert.deepEqual([...await t.rows()], want);
      assert.deepEqual(await all(t), want);
      assert.deepEqual(await (t as unknown as Table).toJSON(), want);
    });

    c.test("for await and toArray go over many rows, in insertion order", async (db) => {
      const t = await users(db);
      await t.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: 100 - i, name: `u${i}` })));
      const want = Array.from({ length: 50 }, (_, i) => 100 - i);
      assert.deepEqual((await all(t)).map((r) => r.id), want);
      assert.deepEqual((await t.toArray()).map((r) => r.id), want);
      assert.deepEqual([...await t.rows()].map((r) => r.id), want);
    });

    c.test("a deleted and re-inserted row moves to the end", async (db) => {
      const t = await users(db);
      for (const id of [1, 2, 3]) await t.insert({ id, name: `u${id}` });
      await t.delete(2);
      assert.deepEqual((await t.toArray()).map((r) => r.id), [1, 3]);
      await t.insert({ id: 2, name: "again" });
      assert.deepEqual((await t.toArray()).map((r) => r.id), [1, 3, 2]);
    });

    c.test("rows that are not plain objects are rejected", async (db) => {
      const t = await users(db);
      for (const r of [null, 5, "row", [1, "a"], new Map([["id", 1]])]) {
        await invalid(db, () => t.insert(r), `row ${String(r)}`);
      }
      assert.equal(await t.count(), 0);
    });
  });

  c.group("table: row validation", () => {
    c.test("an unknown column is a ValidationError naming the column; nothing stored", async (db) => {
      const t = await users(db);
      const e = await invalid(db, () => t.insert({ id: 1, name: "Ada", nickname: "A" }));
      assert.match(e.message, /nickname/);
      assert.equal(await t.count(), 0);
    });

    c.test("a missing non-null column is a ValidationError naming the column", async (db) => {
      const t = await users(db);
      const e = await invalid(db, () => t.insert({ id: 1, age: 3 }));
      assert.match(e.message, /name/);
      await invalid(db, () => t.insert({ name: "no id" }), "missing primary key");
      assert.equal(await t.count(), 0);
    });

    c.test("null in a non-null column is a ValidationError", async (db) => {
      const t = await users(db);
      await invalid(db, () => t.insert({ id: 1, name: null }));
      await invalid(db, () => t.insert({ id: null, name: "x" }));
      assert.equal(await t.count(), 0);
    });

    c.test("a wrong type is a ValidationError naming the column and the value", async (db) => {
      const t = await mk(db, [{ name: "id", type: "Int32", primaryKey: true }, { name: "score", type: "Int8" }]);
      const e = await invalid(db, () => t.insert({ id: 1, score: 300 }));
      assert.match(e.message, /score/);
      assert.match(e.message, /300/);
      assert.equal(await t.count(), 0);
    });

    const ranges: Array<[string, number[], number[]]> = [
      ["Int8", [-128, 127, 0], [-129, 128]],
      ["Int16", [-32768, 32767], [-32769, 32768]],
      ["Int32", [-(2 ** 31), 2 ** 31 - 1], [-(2 ** 31) - 1, 2 ** 31]],
      ["Int64", [-(2 ** 53 - 1), 2 ** 53 - 1], [2 ** 53, -(2 ** 53), 2 ** 63, 1e300]],
      ["UInt8", [0, 255], [-1, 256]],
      ["UInt16", [0, 65535], [-1, 65536]],
      ["UInt32", [0, 2 ** 32 - 1], [-1, 2 ** 32]],
      ["UInt64", [0, 2 ** 53 - 1], [-1, 2 ** 53, 2 ** 64]],
    ];
    for (const [type, good, bad] of ranges) {
      c.test(`${type}: accepts ${good.join(", ")}; rejects ${bad.join(", ")}`, async (db) => {
        const t = await withCol(db, type);
        for (const [i, v] of good.entries()) {
          await t.insert({ id: i, v });
          assert.equal((await t.get(i)).v, v, `${type} ${v}`);
        }
        for (const [i, v] of bad.entries()) await invalid(db, () => t.insert({ id: 100 + i, v }), `${type} ${v}`);
        assert.equal(await t.count(), good.length);
      });

      c.test(`${type}: rejects non-integers, NaN, ±Infinity, strings, booleans`, async (db) => {
        const t = await withCol(db, type);
        for (const v of [1.5, -0.5, NaN, Infinity, -Infinity, "1", true, [1], {}]) {
          await invalid(db, () => t.insert({ id: 1, v }), `${type} ${String(v)}`);
        }
        assert.equal(await t.count(), 0);
      });

      c.test(`${type}: -0 is stored as 0; in-range bigints come back as numbers`, async (db) => {
        const t = await withCol(db, type);
        await t.insert({ id: 1, v: -0 });
        assert.ok(Object.is((await t.get(1)).v, 0), "-0 stored as 0");
        await t.insert({ id: 2, v: 7n });
        assert.equal((await t.get(2)).v, 7);
        assert.equal(typeof (await t.get(2)).v, "number");
        await t.insert({ id: 3, v: BigInt(good[1]) });
        assert.equal((await t.get(3)).v, good[1]);
        for (const b of bad) {
          if (Number.isSafeInteger(b)) await invalid(db, () => t.insert({ id: 4, v: BigInt(b) }), `${type} ${b}n`);
        }
        assert.equal(await t.count(), 3);
      });
    }

    c.test("Int64/UInt64 accept bigints up to 2^53-1 and reject 2n**53n and beyond", async (db) => {
      const i = await withCol(db, "Int64");
      await i.insert({ id: 1, v: 2n ** 53n - 1n });
      await i.insert({ id: 2, v: -(2n ** 53n - 1n) });
      assert.equal((await i.get(1)).v, 2 ** 53 - 1);
      assert.equal((await i.get(2)).v, -(2 ** 53 - 1));
      await invalid(db, () => i.insert({ id: 3, v: 2n ** 53n }));
      await invalid(db, () => i.insert({ id: 3, v: -(2n ** 53n) }));
      await invalid(db, () => i.insert({ id: 3, v: 2n ** 63n - 1n }));
      const u = await withCol(db, "UInt64");
      await u.insert({ id: 1, v: 2n ** 53n - 1n });
      await invalid(db, () => u.insert({ id: 2, v: 2n ** 53n }));
      await invalid(db, () => u.insert({ id: 2, v: 2n ** 64n - 1n }));
      await invalid(db, () => u.insert({ id: 2, v: -1n }));
      assert.equal(await i.count(), 2);
      assert.equal(await u.count(), 1);
    });

    c.test("Float32 stores values rounded to float32", async (db) => {
      const t = await withCol(db, "Float32");
      await t.insert({ id: 1, v: 0.1 });
      await t.insert({ id: 2, v: 1.5 });
      await t.insert({ id: 3, v: -1e-3 });
      assert.equal((await t.get(1)).v, Math.fround(0.1));
      assert.notEqual((await t.get(1)).v, 0.1);
      assert.equal((await t.get(2)).v, 1.5);
      assert.equal((await t.get(3)).v, Math.fround(-1e-3));
    });

    c.test("Float64 stores any number exactly, including NaN, ±Infinity and -0", async (db) => {
      const t = await withCol(db, "Float64");
      const vals = [0.1, NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 60];
      for (const [i, v] of vals.entries()) await t.insert({ id: i, v });
      for (const [i, v] of vals.entries()) assert.ok(Object.is((await t.get(i)).v, v), `Float64 ${v}`);
      const all = await t.toArray();
      for (const [i, v] of vals.entries()) assert.ok(Object.is(all[i].v, v), `Float64 ${v} via toArray()`);
    });

    c.test("Float32/Float64 reject strings, booleans, bigints and null", async (db) => {
      for (const type of ["Float32", "Float64"]) {
        const t = await withCol(db, type);
        for (const v of ["1.5", true, 1n, null, [1]]) {
          await invalid(db, () => t.insert({ id: 1, v }), `${type} ${String(v)}`);
        }
        assert.equal(await t.count(), 0);
      }
    });

    c.test("Boolean accepts only booleans", async (db) => {
      const t = await withCol(db, "Boolean");
      await t.insert({ id: 1, v: true });
      await t.insert({ id: 2, v: false });
      assert.equal((await t.get(1)).v, true);
      assert.equal((await t.get(2)).v, false);
      for (const v of [0, 1, "true", null, "false"]) {
        await invalid(db, () => t.insert({ id: 3, v }), `Boolean ${String(v)}`);
      }
      assert.equal(await t.count(), 2);
    });

    c.test("Utf8 and String accept strings only (including empty and unicode)", async (db) => {
      for (const type of ["Utf8", "String"]) {
        const t = await withCol(db, type);
        const vals = ["", "hello", "😀 é \u0000 日本"];
        for (const [i, v] of vals.entries()) await t.insert({ id: i, v });
        for (const [i, v] of vals.entries()) assert.equal((await t.get(i)).v, v);
        for (const v of [1, null, true, ["a"], new Uint8Array([97])]) {
          await invalid(db, () => t.insert({ id: 9, v }), `${type} ${String(v)}`);
        }
        await invalid(db, () => t.insert({ id: 9, v: "\uD800" }), `${type} lone surrogate`);
        assert.equal(await t.count(), vals.length);
      }
    });

    c.test("Binary accepts Uint8Array only", async (db) => {
      const t = await withCol(db, "Binary");
      await t.insert({ id: 1, v: new Uint8Array([0, 255, 7]) });
      await t.insert({ id: 2, v: new Uint8Array(0) });
      assert.deepEqual((await t.get(1)).v, new Uint8Array([0, 255, 7]));
      assert.deepEqual((await t.get(2)).v, new Uint8Array(0));
      for (const v of [[1, 2], "ab", new ArrayBuffer(2), new Uint16Array(2), null, 5]) {
        await invalid(db, () => t.insert({ id: 3, v }), `Binary ${Object.prototype.toString.call(v)}`);
      }
      assert.equal(await t.count(), 2);
    });

    c.test("Date and Datetime accept valid Date objects only", async (db) => {
      for (const type of ["Date", "Datetime"]) {
        const t = await withCol(db, type);
        await t.insert({ id: 1, v: new Date(0) });
        await t.insert({ id: 2, v: new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123)) });
        await t.insert({ id: 3, v: new Date(-8.64e15) });
        assert.deepEqual((await t.get(1)).v, new Date(0));
        assert.deepEqual((await t.get(2)).v, new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123)));
        assert.ok((await t.get(2)).v instanceof Date);
        assert.deepEqual((await t.get(3)).v, new Date(-8.64e15));
        for (const v of [new Date(NaN), 0, "2024-01-01", null, {}]) {
          await invalid(db, () => t.insert({ id: 4, v }), `${type} ${String(v)}`);
        }
        assert.equal(await t.count(), 3);
      }
    });

    c.test("Json accepts any value and rejects what values reject", async (db) => {
      const t = await withCol(db, "Json");
      const vals = [
        { a: [1, "x", null, { b: true }] },
        [1, 2n, new Uint8Array([1]), new Date(3)],
        "s",
        0,
        -0,
        NaN,
        false,
        2n ** 64n - 1n,
        {},
        [],
      ];
      for (const [i, v] of vals.entries()) await t.insert({ id: i, v });
      for (const [i, v] of vals.entries()) assert.deepEqual((await t.get(i)).v, v, `Json #${i}`);
      await invalid(db, () => t.insert({ id: 100, v: () => 1 }), "function");
      await invalid(db, () => t.insert({ id: 100, v: new Map() }), "Map");
      await invalid(db, () => t.insert({ id: 100, v: [1, undefined] }), "undefined element");
      const cyc: Record<string, unknown> = {};
      cyc.self = cyc;
      await invalid(db, () => t.insert({ id: 100, v: cyc }), "cycle");
      assert.equal(await t.count(), vals.length);
    });

    c.test("Json drops nested undefined properties", async (db) => {
      const t = await withCol(db, "Json");
      await t.insert({ id: 1, v: { a: 1, b: undefined } });
      const v = (await t.get(1)).v;
      assert.deepEqual(v, { a: 1 });
      assert.equal(Object.hasOwn(v, "b"), false);
    });

    c.test("columns named like Object.prototype members behave like any other column", async (db) => {
      const names = ["constructor", "toString", "valueOf", "hasOwnProperty", "isPrototypeOf"];
      const t = await mk(db, [
        { name: "id", type: "Int32", primaryKey: true },
        ...names.map((name) => ({ name, type: "Utf8", nullable: true })),
      ]);
      await t.insert({ id: 1 });
      const want: Record<string, unknown> = { id: 1 };
      for (const n of names) want[n] = null;
      assert.deepEqual(await t.get(1), want, "omitted nullable columns come back as null");
      await t.insert({ id: 2, constructor: "c", toString: "s" });
      assert.equal((await t.get(2)).constructor, "c");
      assert.equal((await t.get(2)).toString, "s");
      await t.patch(2, { valueOf: "v" });
      assert.equal((await t.get(2)).valueOf, "v");
      const req = await mk(db, [{ name: "id", type: "Int32", primaryKey: true }, {
        name: "constructor",
        type: "Utf8",
      }]);
      const e = await invalid(db, () => req.insert({ id: 1 }));
      assert.match(e.message, /missing/i, "an omitted non-null column is reported as missing");
    });

    const ALL_TYPES = [
      "Int8",
      "Int16",
      "Int32",
      "Int64",
      "UInt8",
      "UInt16",
      "UInt32",
      "UInt64",
      "Float32",
      "Float64",
      "Boolean",
      "Utf8",
      "String",
      "Binary",
      "Date",
      "Datetime",
    ];

    c.test("nullable columns of every type accept null and omission", async (db) => {
      for (const type of [...ALL_TYPES, "Json"]) {
        const t = await withCol(db, type, true);
        await t.insert({ id: 1, v: null });
        await t.insert({ id: 2 });
        assert.deepEqual(await t.get(1), { id: 1, v: null }, type);
        assert.deepEqual(await t.get(2), { id: 2, v: null }, type);
      }
    });

    c.test("non-null columns of every type reject null and omission", async (db) => {
      for (const type of ALL_TYPES) {
        const t = await withCol(db, type);
        await invalid(db, () => t.insert({ id: 1, v: null }), `${type} null`);
        await invalid(db, () => t.insert({ id: 1 }), `${type} omitted`);
        assert.equal(await t.count(), 0, type);
      }
    });
  });

  c.group("table: update, patch, upsert", () => {
    c.test("update replaces the full row and keeps its position", async (db) => {
      const t = await users(db);
      for (const id of [1, 2, 3]) await t.insert({ id, name: `u${id}`, age: id });
      await t.update(2, { name: "two" });
      assert.deepEqual(await t.get(2), { id: 2, name: "two", age: null }, "omitted nullable becomes null");
      await t.update(2, { id: 2, name: "deux", age: 20 });
      assert.deepEqual((await t.toArray()).map((r) => r.id), [1, 2, 3]);
      assert.deepEqual(await t.get(2), { id: 2, name: "deux", age: 20 });
    });

    c.test("update of a missing key throws KeyNotFoundError and stores nothing", async (db) => {
      const t = await users(db);
      await keyMissing(db, () => t.update(1, { name: "x" }));
      assert.equal(await t.count(), 0);
    });

    c.test("update with a different primary key in the row is a ValidationError", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a" });
      await t.insert({ id: 2, name: "b" });
      await invalid(db, () => t.update(1, { id: 2, name: "x" }));
      await invalid(db, () => t.update(1, { id: 3, name: "x" }));
      assert.deepEqual(await t.toArray(), [{ id: 1, name: "a", age: null }, { id: 2, name: "b", age: null }]);
    });

    c.test("update validates the full row (missing column, bad type, unknown column)", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a", age: 1 });
      await invalid(db, () => t.update(1, { age: 2 }), "name missing");
      await invalid(db, () => t.update(1, { name: 5 }), "name not a string");
      await invalid(db, () => t.update(1, { name: "x", zzz: 1 }), "unknown column");
      await invalid(db, () => t.update("1", { name: "x" }), "key of the wrong type");
      assert.deepEqual(await t.get(1), { id: 1, name: "a", age: 1 });
    });

    c.test("patch changes only the given columns and keeps the row's position", async (db) => {
      const t = await users(db);
      for (const id of [1, 2, 3]) await t.insert({ id, name: `u${id}`, age: id });
      await t.patch(2, { age: 22 });
      assert.deepEqual(await t.get(2), { id: 2, name: "u2", age: 22 });
      await t.patch(2, { age: null });
      assert.deepEqual(await t.get(2), { id: 2, name: "u2", age: null });
      await t.patch(2, {});
      assert.deepEqual(await t.get(2), { id: 2, name: "u2", age: null });
      assert.deepEqual((await t.toArray()).map((r) => r.id), [1, 2, 3]);
    });

    c.test("patch of a missing key throws KeyNotFoundError", async (db) => {
      const t = await users(db);
      await keyMissing(db, () => t.patch(1, { age: 3 }));
      assert.equal(await t.count(), 0);
    });

    c.test("patch that changes the primary key is a ValidationError", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a" });
      await invalid(db, () => t.patch(1, { id: 2 }));
      assert.deepEqual(await t.get(1), { id: 1, name: "a", age: null });
      assert.equal(await t.has(2), false);
    });

    c.test("patch with a bad value, null in a non-null column or an unknown column changes nothing", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a", age: 1 });
      await invalid(db, () => t.patch(1, { age: "old" }));
      await invalid(db, () => t.patch(1, { age: 2 ** 31 }));
      await invalid(db, () => t.patch(1, { name: null }));
      await invalid(db, () => t.patch(1, { age: 5, nope: 1 }));
      assert.deepEqual(await t.get(1), { id: 1, name: "a", age: 1 });
    });

    c.test("upsert inserts a new row at the end", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a" });
      await t.upsert({ id: 2, name: "b", age: 3 });
      assert.deepEqual(await t.toArray(), [{ id: 1, name: "a", age: null }, { id: 2, name: "b", age: 3 }]);
    });

    c.test("upsert replaces an existing row entirely", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a", age: 5 });
      await t.upsert({ id: 1, name: "A" });
      assert.deepEqual(await t.get(1), { id: 1, name: "A", age: null });
      assert.equal(await t.count(), 1);
    });

    c.test("upsert validates like insert and keeps the old row on error", async (db) => {
      const t = await users(db);
      await t.insert({ id: 1, name: "a", age: 5 });
      await invalid(db, () => t.upsert({ id: 1, name: 1 }));
      await invalid(db, () => t.upsert({ id: 1 }));
      await invalid(db, () => t.upsert({ name: "no id" }));
      assert.deepEqual(await t.get(1), { id: 1, name: "a", age: 5 });
      assert.equal(await t.count(), 1);
    });
  });

  c.group("table: insertMany", () => {
    c.test("insertMany stores every row, in order", async (db) => {
      const t = await users(db);
      await t.insert({ id: 10, name: "first" });
      await t.insertMany([{ id: 3, name: "c" }, { id: 1, name: "a", age: 1 }]);
      assert.deepEqual((await t.toArray()).map((r) => r.id), [10, 3, 1]);
      assert.deepEqual(await t.get(1), { id: 1, name: "a", age: 1 });
    });

    c.test("insertMany takes any iterable of rows (a Set, a generator)", async (db) => {
      const t = await users(db);
      await t.insertMany(new Set([{ id: 1, name: "a" }]));
      await t.insertMany((function* () {
        yield { id: 2, name: "b" };
        yield { id: 3, name: "c" };
      })());
      assert.deepEqual((await t.toArray()).map((r) => r.id), [1, 2, 3]);
    });

    c.test("insertMany of something that is not a collection of rows is a ValidationError", async (db) => {
      const t = await users(db);
      for (const rows of [5, null, "rows", { id: 1, name: "a" }]) {
        await invalid(db, () => t.insertMany(rows), String(rows));
      }
      assert.equal(await t.count(), 0);
    });

    c.test("an empty insertMany batch is a no-op", async (db) => {
      const t = await users(db);
      await t.insertMany([]);
      assert.equal(await t.count(), 0);
    });

    c.test("insertMany: a duplicate inside the batch stores nothing (DuplicateKeyError)", async (db) => {
      const t = await users(db);
      await t.insert({ id: 0, name: "z" });
      await dup(db, () => t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "b" }, { id: 1, name: "c" }]));
      assert.deepEqual(await t.toArray(), [{ id: 0, name: "z", age: null }]);
    });

    c.test("insertMany: a duplicate of an existing row stores nothing (DuplicateKeyError)", async (db) => {
      const t = await users(db);
      await t.insert({ id: 2, name: "b" });
      await dup(db, () => t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "again" }]));
      assert.deepEqual(await t.toArray(), [{ id: 2, name: "b", age: null }]);
    });

    c.test("insertMany: an invalid row anywhere stores nothing (ValidationError)", async (db) => {
      const t = await users(db);
      await invalid(db, () => t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "b" }, { id: 3, name: 3 }]));
      await invalid(db, () => t.insertMany([{ id: 1, name: "a" }, null]));
      assert.equal(await t.count(), 0);
      assert.equal(await t.has(1), false);
    });

    c.test("insertMany: a bigint and a number with the same value are duplicates in one batch", async (db) => {
      const t = await users(db);
      await dup(db, () => t.insertMany([{ id: 1n, name: "a" }, { id: 1, name: "b" }]));
      assert.equal(await t.count(), 0);
    });
  });

  c.group("table: isolation of stored rows", () => {
    const rich = (db: Db) =>
      mk(db, [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "bin", type: "Binary" },
        { name: "at", type: "Datetime" },
        { name: "doc", type: "Json" },
      ]);
    const fresh = () => ({
      id: 1,
      bin: new Uint8Array([1, 2]),
      at: new Date(1000),
      doc: { tags: ["a"], n: { x: 1 } },
    });

    c.test("mutating the row object after insert changes nothing", async (db) => {
      const t = await rich(db);
      const row = fresh();
      await t.insert(row);
      row.bin[0] = 9;
      row.at.setTime(0);
      row.doc.tags.push("b");
      row.doc.n.x = 2;
      (row as Record<string, unknown>).id = 5;
      assert.deepEqual(await t.get(1), fresh());
    });

    c.test("mutating a row from get, rows(), toArray() or for await changes nothing", async (db) => {
      const t = await rich(db);
      await t.insert(fresh());
      const g = await t.get(1);
      g.bin[0] = 9;
      g.at.setTime(0);
      g.doc.tags.push("x");
      g.id = 7;
      for (const r of await t.rows()) {
        r.doc.n.x = 5;
        r.bin[1] = 9;
      }
      for await (const r of t) r.doc.tags.push("y");
      const arr = await t.toArray();
      arr[0].doc.tags.length = 0;
      arr[0].at.setTime(1);
      assert.deepEqual(await t.get(1), fresh());
      assert.notEqual(await t.get(1), await t.get(1));
    });

    c.test("rows given to update, patch, upsert and insertMany are copied", async (db) => {
      const t = await rich(db);
      const a = fresh();
      await t.insertMany([a]);
      a.doc.tags.push("m");
      assert.deepEqual(await t.get(1), fresh());
      const b = fresh();
      await t.update(1, b);
      b.bin[0] = 7;
      const c2 = { doc: { tags: ["p"], n: { x: 1 } } };
      await t.patch(1, c2);
      c2.doc.tags.push("q");
      const d = fresh();
      await t.upsert(d);
      d.at.setTime(5);
      assert.deepEqual(await t.get(1), fresh());
    });
  });

  c.group("table: typed rows (defineSchema and as const)", () => {
    c.test("row types follow the schema", async (db) => {
      const s = defineSchema({
        name: "people",
        columns: [
          { name: "id", type: "Int64", primaryKey: true },
          { name: "name", type: "Utf8" },
          { name: "age", type: "Int32", nullable: true },
          { name: "photo", type: "Binary", nullable: true },
          { name: "born", type: "Date", nullable: true },
        ],
      });
      const people = await db.createTable(s);
      await people.insert({ id: 1, name: "Ada", age: 36 });
      await people.insert({ id: 2n, name: "Bob", age: null });
      await people.insertMany([{ id: 3, name: "Cy" }, { id: 4, name: "Dee", photo: new Uint8Array([1]) }]);
      await people.update(2, { name: "Bob", age: 45, born: new Date(0) });
      await people.update(3n, { id: 3, name: "Cy" });
      await people.patch(4, { age: 29 });
      await people.upsert({ id: 5, name: "Ken" });
      assert.equal(await people.delete(5), true);
      const name: string | undefined = (await people.get(1))?.name;
      const age: number | null | undefined = (await people.get(3))?.age;
      assert.equal(name, "Ada");
      assert.equal(age, null);
      assert.deepEqual((await people.get(2))?.born, new Date(0));
      assert.deepEqual((await people.get(4))?.photo, new Uint8Array([1]));
      assert.equal(await people.count(), 4);
      assert.deepEqual([...await people.rows()].map((r) => r.age), [36, 45, null, 29]);
      assert.equal((await schema(people)).columns.length, 5);
      const typed: { id: number; name: string }[] = await people.getMany([1, 2n]);
      assert.deepEqual(typed.map((r) => r.name), ["Ada", "Bob"]);

      const things = await db.createTable(
        {
          name: "things",
          columns: [
            { name: "key", type: "Utf8", primaryKey: true },
            { name: "n", type: "Float64" },
          ],
        } as const,
      );
      await things.insert({ key: "a", n: 1.5 });
      const n: number | undefined = (await things.get("a"))?.n;
      assert.equal(n, 1.5);
      const again = await db.getTable<typeof s>("people");
      assert.equal((await again.get(1))?.name, "Ada");
    });
  });
}
