// Table, embedded: schema checks, every column type with its ranges,
// nullability, insert/insertMany/update/patch/upsert/delete/get/has/count/
// rows/toArray/schema, row order, and isolation of stored rows.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { throwsErr } from "./fixtures/assert_errors.ts";
import {
  Database,
  defineSchema,
  DuplicateKeyError,
  KeyNotFoundError,
  SchemaError,
  Table,
  ValidationError,
} from "../mod.ts";

const invalid = (fn: () => unknown, note = "") => throwsErr(fn, ValidationError, "VALIDATION", note);
const schemaErr = (fn: () => unknown, note = "") => throwsErr(fn, SchemaError, "SCHEMA", note);
const dup = (fn: () => unknown, note = "") => throwsErr(fn, DuplicateKeyError, "DUPLICATE_KEY", note);
const keyMissing = (fn: () => unknown, note = "") =>
  throwsErr(fn, KeyNotFoundError, "KEY_NOT_FOUND", note);

/** The table surface, loosely typed, for tests that pass deliberately odd rows. */
interface LooseTable {
  insert(row: unknown): unknown;
  insertMany(rows: unknown): unknown;
  update(pk: unknown, row: unknown): unknown;
  patch(pk: unknown, partial: unknown): unknown;
  upsert(row: unknown): unknown;
  delete(pk: unknown): boolean;
  // deno-lint-ignore no-explicit-any
  get(pk: unknown): any;
  has(pk: unknown): boolean;
  count(): number;
  // deno-lint-ignore no-explicit-any
  rows(): IterableIterator<any>;
  // deno-lint-ignore no-explicit-any
  toArray(): any[];
  // deno-lint-ignore no-explicit-any
  readonly schema: any;
}

type Col = { name: string; type: string; primaryKey?: boolean; nullable?: boolean };

let db: Database;
let seq = 0;

beforeEach(async () => {
  db = await Database.open();
});
afterEach(async () => {
  await db.close();
});

/** Creates a table from a loosely typed schema. */
function mk(columns: Col[], name = `t${++seq}`): LooseTable {
  return db.createTable({ name, columns } as never) as unknown as LooseTable;
}

/** A users table: id Int64 pk, name Utf8, age Int32 nullable. */
function users(): LooseTable {
  return mk([
    { name: "id", type: "Int64", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32", nullable: true },
  ], "users");
}

/** A table with `id Int32` pk and one column `v` of `type`. */
function withCol(type: string, nullable = false): LooseTable {
  return mk([{ name: "id", type: "Int32", primaryKey: true }, { name: "v", type, nullable }]);
}

describe("Table: createTable and schema checks", () => {
  it("createTable returns a Table; getTable reaches the same rows", () => {
    const t = users();
    assert.ok((t as unknown) instanceof Table);
    t.insert({ id: 1, name: "Ada", age: 36 });
    const again = db.getTable("users") as unknown as LooseTable;
    assert.ok((again as unknown) instanceof Table);
    assert.deepEqual(again.get(1), { id: 1, name: "Ada", age: 36 });
    again.insert({ id: 2, name: "Bob", age: null });
    assert.equal(t.count(), 2);
  });

  it("schema returns the table's schema", () => {
    const t = users();
    const s = t.schema;
    assert.equal(s.name, "users");
    assert.deepEqual(
      s.columns.map((c: Col) => [c.name, c.type, !!c.primaryKey, !!c.nullable]),
      [["id", "Int64", true, false], ["name", "Utf8", false, false], ["age", "Int32", false, true]],
    );
  });

  it("schema is a copy: mutating it (or the object given to createTable) changes nothing", () => {
    const columns: Col[] = [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "v", type: "Utf8" },
    ];
    const t = mk(columns, "copy");
    columns.push({ name: "extra", type: "Utf8" });
    columns[1].type = "Int32";
    const s = t.schema;
    s.columns.push({ name: "more", type: "Utf8" });
    s.columns[1].type = "Boolean";
    s.name = "renamed";
    assert.equal(t.schema.name, "copy");
    assert.deepEqual(t.schema.columns.map((c: Col) => [c.name, c.type]), [["id", "Int32"], ["v", "Utf8"]]);
    t.insert({ id: 1, v: "text" });
    invalid(() => t.insert({ id: 2, v: "x", extra: "y" }), "extra was added after creation");
    invalid(() => t.insert({ id: 3, v: 5 }), "v is still Utf8");
    assert.equal(t.count(), 1);
  });

  it("a table without columns, or without a primary key, is a SchemaError", () => {
    schemaErr(() => mk([]), "no columns");
    schemaErr(() => mk([{ name: "a", type: "Int32" }]), "no primary key");
  });

  it("two primary keys are a SchemaError", () => {
    schemaErr(() =>
      mk([
        { name: "a", type: "Int32", primaryKey: true },
        { name: "b", type: "Int32", primaryKey: true },
      ])
    );
  });

  it("an unknown or missing type is a SchemaError", () => {
    schemaErr(() => mk([{ name: "id", type: "Int32", primaryKey: true }, { name: "x", type: "Integer" }]));
    schemaErr(() => mk([{ name: "id", type: "int32", primaryKey: true }]), "types are case-sensitive");
    schemaErr(() =>
      mk([{ name: "id", type: "Int32", primaryKey: true }, { name: "x" } as never]), "missing type");
  });

  it("duplicate column names are a SchemaError", () => {
    schemaErr(() =>
      mk([
        { name: "id", type: "Int32", primaryKey: true },
        { name: "x", type: "Utf8" },
        { name: "x", type: "Int32" },
      ])
    );
  });

  it("a nullable primary key is a SchemaError", () => {
    schemaErr(() => mk([{ name: "id", type: "Int32", primaryKey: true, nullable: true }]));
  });

  it("an empty column name is a SchemaError", () => {
    schemaErr(() => mk([{ name: "id", type: "Int32", primaryKey: true }, { name: "", type: "Utf8" }]));
  });

  it("an empty table name is rejected (SchemaError or ValidationError)", () => {
    try {
      mk([{ name: "id", type: "Int32", primaryKey: true }], "");
      assert.fail("expected an error for an empty table name");
    } catch (e) {
      assert.ok(
        e instanceof SchemaError || e instanceof ValidationError,
        `got ${(e as Error).name}: ${(e as Error).message}`,
      );
    }
  });

  it("primary keys may be any integer type or Utf8/String", () => {
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
      const t = mk([{ name: "id", type, primaryKey: true }, { name: "v", type: "Utf8" }]);
      t.insert({ id: key, v: type });
      assert.deepEqual(t.get(key), { id: key, v: type }, type);
      assert.equal(t.has(key), true, type);
    }
  });

  it("a primary key of any other type is a SchemaError", () => {
    for (const type of ["Float32", "Float64", "Boolean", "Binary", "Date", "Datetime", "Json"]) {
      schemaErr(() => mk([{ name: "id", type, primaryKey: true }]), type);
    }
  });

  it("a failed createTable creates nothing", () => {
    schemaErr(() => mk([{ name: "a", type: "Int32" }], "broken"));
    assert.deepEqual(db.collections(), []);
  });
});

describe("Table: insert, get, has, delete, count", () => {
  it("insert then get returns the full row", () => {
    const t = users();
    t.insert({ id: 1, name: "Ada", age: 36 });
    const row = t.get(1);
    assert.deepEqual(row, { id: 1, name: "Ada", age: 36 });
    assert.equal(Object.getPrototypeOf(row), Object.prototype);
  });

  it("a nullable column may be omitted and comes back as null", () => {
    const t = users();
    t.insert({ id: 1, name: "Ada" });
    const row = t.get(1);
    assert.deepEqual(row, { id: 1, name: "Ada", age: null });
    assert.ok(Object.hasOwn(row, "age"));
  });

  it("get of a missing key is undefined; has is false", () => {
    const t = users();
    assert.equal(t.get(1), undefined);
    assert.equal(t.has(1), false);
    t.insert({ id: 1, name: "Ada" });
    assert.equal(t.has(1), true);
    assert.equal(t.get(2), undefined);
  });

  it("insert of an existing key throws DuplicateKeyError and keeps the old row", () => {
    const t = users();
    t.insert({ id: 1, name: "Ada", age: 1 });
    dup(() => t.insert({ id: 1, name: "Other", age: 2 }));
    assert.deepEqual(t.get(1), { id: 1, name: "Ada", age: 1 });
    assert.equal(t.count(), 1);
  });

  it("a bigint primary key is the same key as the number", () => {
    const t = users();
    t.insert({ id: 5n, name: "Big" });
    assert.deepEqual(t.get(5), { id: 5, name: "Big", age: null });
    dup(() => t.insert({ id: 5, name: "Dup" }));
  });

  it("-0 as an integer primary key is the same key as 0", () => {
    const t = users();
    t.insert({ id: -0, name: "Zero" });
    assert.ok(Object.is(t.get(0).id, 0));
    dup(() => t.insert({ id: 0, name: "Dup" }));
  });

  it("get, has and delete with a key of the wrong type are ValidationErrors", () => {
    const t = users();
    t.insert({ id: 1, name: "Ada" });
    for (const k of ["1", null, true, {}, 1.5, NaN]) {
      invalid(() => t.get(k), `get ${String(k)}`);
      invalid(() => t.has(k), `has ${String(k)}`);
      invalid(() => t.delete(k), `delete ${String(k)}`);
    }
    const s = mk([{ name: "k", type: "Utf8", primaryKey: true }]);
    s.insert({ k: "1" });
    invalid(() => s.get(1));
    invalid(() => s.has(1));
    invalid(() => s.delete(1));
    assert.equal(t.count(), 1);
    assert.equal(s.count(), 1);
  });

  it("delete returns true when the row was there, false otherwise", () => {
    const t = users();
    t.insert({ id: 1, name: "Ada" });
    t.insert({ id: 2, name: "Bob" });
    assert.equal(t.delete(1), true);
    assert.equal(t.delete(1), false);
    assert.equal(t.delete(99), false);
    assert.equal(t.get(1), undefined);
    assert.equal(t.count(), 1);
  });

  it("count follows inserts and deletes", () => {
    const t = users();
    assert.equal(t.count(), 0);
    for (let i = 0; i < 100; i++) t.insert({ id: i, name: `u${i}` });
    assert.equal(t.count(), 100);
    for (let i = 0; i < 100; i += 2) t.delete(i);
    assert.equal(t.count(), 50);
  });

  it("rows() and toArray() give rows in insertion order", () => {
    const t = users();
    t.insert({ id: 3, name: "c" });
    t.insert({ id: 1, name: "a" });
    t.insert({ id: 2, name: "b", age: 5 });
    const want = [
      { id: 3, name: "c", age: null },
      { id: 1, name: "a", age: null },
      { id: 2, name: "b", age: 5 },
    ];
    assert.deepEqual(t.toArray(), want);
    assert.deepEqual([...t.rows()], want);
    const iter = t.rows();
    assert.equal(typeof iter.next, "function");
  });

  it("a deleted and re-inserted row moves to the end", () => {
    const t = users();
    for (const id of [1, 2, 3]) t.insert({ id, name: `u${id}` });
    t.delete(2);
    assert.deepEqual(t.toArray().map((r) => r.id), [1, 3]);
    t.insert({ id: 2, name: "again" });
    assert.deepEqual(t.toArray().map((r) => r.id), [1, 3, 2]);
  });

  it("rows that are not plain objects are rejected", () => {
    const t = users();
    for (const r of [null, 5, "row", [1, "a"], new Map([["id", 1]])]) {
      invalid(() => t.insert(r), `row ${String(r)}`);
    }
    assert.equal(t.count(), 0);
  });
});

describe("Table: row validation", () => {
  it("an unknown column is a ValidationError naming the column; nothing stored", () => {
    const t = users();
    const e = invalid(() => t.insert({ id: 1, name: "Ada", nickname: "A" }));
    assert.match(e.message, /nickname/);
    assert.equal(t.count(), 0);
  });

  it("a missing non-null column is a ValidationError naming the column", () => {
    const t = users();
    const e = invalid(() => t.insert({ id: 1, age: 3 }));
    assert.match(e.message, /name/);
    invalid(() => t.insert({ name: "no id" }), "missing primary key");
    assert.equal(t.count(), 0);
  });

  it("null in a non-null column is a ValidationError", () => {
    const t = users();
    invalid(() => t.insert({ id: 1, name: null }));
    invalid(() => t.insert({ id: null, name: "x" }));
    assert.equal(t.count(), 0);
  });

  it("a wrong type is a ValidationError naming the column and the value", () => {
    const t = mk([{ name: "id", type: "Int32", primaryKey: true }, { name: "score", type: "Int8" }]);
    const e = invalid(() => t.insert({ id: 1, score: 300 }));
    assert.match(e.message, /score/);
    assert.match(e.message, /300/);
    assert.match(e.message, /^[A-Z]/, "message starts with a capital letter");
    assert.equal(t.count(), 0);
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
    it(`${type}: accepts ${good.join(", ")}; rejects ${bad.join(", ")}`, () => {
      const t = withCol(type);
      good.forEach((v, i) => {
        t.insert({ id: i, v });
        assert.equal(t.get(i).v, v, `${type} ${v}`);
      });
      bad.forEach((v, i) => invalid(() => t.insert({ id: 100 + i, v }), `${type} ${v}`));
      assert.equal(t.count(), good.length);
    });

    it(`${type}: rejects non-integers, NaN, ±Infinity, strings, booleans`, () => {
      const t = withCol(type);
      for (const v of [1.5, -0.5, NaN, Infinity, -Infinity, "1", true, [1], {}]) {
        invalid(() => t.insert({ id: 1, v }), `${type} ${String(v)}`);
      }
      assert.equal(t.count(), 0);
    });

    it(`${type}: -0 is stored as 0; in-range bigints come back as numbers`, () => {
      const t = withCol(type);
      t.insert({ id: 1, v: -0 });
      assert.ok(Object.is(t.get(1).v, 0), "-0 stored as 0");
      t.insert({ id: 2, v: 7n });
      assert.equal(t.get(2).v, 7);
      assert.equal(typeof t.get(2).v, "number");
      t.insert({ id: 3, v: BigInt(good[1]) });
      assert.equal(t.get(3).v, good[1]);
      for (const b of bad) {
        if (Number.isSafeInteger(b)) invalid(() => t.insert({ id: 4, v: BigInt(b) }), `${type} ${b}n`);
      }
      assert.equal(t.count(), 3);
    });
  }

  it("Int64/UInt64 accept bigints up to 2^53-1 and reject 2n**53n and beyond", () => {
    const i = withCol("Int64");
    i.insert({ id: 1, v: 2n ** 53n - 1n });
    i.insert({ id: 2, v: -(2n ** 53n - 1n) });
    assert.equal(i.get(1).v, 2 ** 53 - 1);
    assert.equal(i.get(2).v, -(2 ** 53 - 1));
    invalid(() => i.insert({ id: 3, v: 2n ** 53n }));
    invalid(() => i.insert({ id: 3, v: -(2n ** 53n) }));
    invalid(() => i.insert({ id: 3, v: 2n ** 63n - 1n }));
    const u = withCol("UInt64");
    u.insert({ id: 1, v: 2n ** 53n - 1n });
    invalid(() => u.insert({ id: 2, v: 2n ** 53n }));
    invalid(() => u.insert({ id: 2, v: 2n ** 64n - 1n }));
    invalid(() => u.insert({ id: 2, v: -1n }));
    assert.equal(i.count(), 2);
    assert.equal(u.count(), 1);
  });

  it("Float32 stores values rounded to float32", () => {
    const t = withCol("Float32");
    t.insert({ id: 1, v: 0.1 });
    t.insert({ id: 2, v: 1.5 });
    t.insert({ id: 3, v: -1e-3 });
    assert.equal(t.get(1).v, Math.fround(0.1));
    assert.notEqual(t.get(1).v, 0.1);
    assert.equal(t.get(2).v, 1.5);
    assert.equal(t.get(3).v, Math.fround(-1e-3));
  });

  it("Float64 stores any number exactly, including NaN, ±Infinity and -0", () => {
    const t = withCol("Float64");
    const vals = [0.1, NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 60];
    vals.forEach((v, i) => t.insert({ id: i, v }));
    vals.forEach((v, i) => assert.ok(Object.is(t.get(i).v, v), `Float64 ${v}`));
  });

  it("Float32/Float64 reject strings, booleans, bigints and null", () => {
    for (const type of ["Float32", "Float64"]) {
      const t = withCol(type);
      for (const v of ["1.5", true, 1n, null, [1]]) invalid(() => t.insert({ id: 1, v }), `${type} ${String(v)}`);
      assert.equal(t.count(), 0);
    }
  });

  it("Boolean accepts only booleans", () => {
    const t = withCol("Boolean");
    t.insert({ id: 1, v: true });
    t.insert({ id: 2, v: false });
    assert.equal(t.get(1).v, true);
    assert.equal(t.get(2).v, false);
    for (const v of [0, 1, "true", null, "false"]) invalid(() => t.insert({ id: 3, v }), `Boolean ${String(v)}`);
    assert.equal(t.count(), 2);
  });

  it("Utf8 and String accept strings only (including empty and unicode)", () => {
    for (const type of ["Utf8", "String"]) {
      const t = withCol(type);
      const vals = ["", "hello", "😀 é \u0000 日本"];
      vals.forEach((v, i) => t.insert({ id: i, v }));
      vals.forEach((v, i) => assert.equal(t.get(i).v, v));
      for (const v of [1, null, true, ["a"], new Uint8Array([97])]) {
        invalid(() => t.insert({ id: 9, v }), `${type} ${String(v)}`);
      }
      invalid(() => t.insert({ id: 9, v: "\uD800" }), `${type} lone surrogate`);
      assert.equal(t.count(), vals.length);
    }
  });

  it("Binary accepts Uint8Array only", () => {
    const t = withCol("Binary");
    t.insert({ id: 1, v: new Uint8Array([0, 255, 7]) });
    t.insert({ id: 2, v: new Uint8Array(0) });
    assert.deepEqual(t.get(1).v, new Uint8Array([0, 255, 7]));
    assert.deepEqual(t.get(2).v, new Uint8Array(0));
    for (const v of [[1, 2], "ab", new ArrayBuffer(2), new Uint16Array(2), null, 5]) {
      invalid(() => t.insert({ id: 3, v }), `Binary ${Object.prototype.toString.call(v)}`);
    }
    assert.equal(t.count(), 2);
  });

  it("Date and Datetime accept valid Date objects only", () => {
    for (const type of ["Date", "Datetime"]) {
      const t = withCol(type);
      t.insert({ id: 1, v: new Date(0) });
      t.insert({ id: 2, v: new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123)) });
      t.insert({ id: 3, v: new Date(-8.64e15) });
      assert.deepEqual(t.get(1).v, new Date(0));
      assert.deepEqual(t.get(2).v, new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123)));
      assert.ok(t.get(2).v instanceof Date);
      assert.deepEqual(t.get(3).v, new Date(-8.64e15));
      for (const v of [new Date(NaN), 0, "2024-01-01", null, {}]) {
        invalid(() => t.insert({ id: 4, v }), `${type} ${String(v)}`);
      }
      assert.equal(t.count(), 3);
    }
  });

  it("Json accepts any value and rejects what values reject", () => {
    const t = withCol("Json");
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
    vals.forEach((v, i) => t.insert({ id: i, v }));
    vals.forEach((v, i) => assert.deepEqual(t.get(i).v, v, `Json #${i}`));
    invalid(() => t.insert({ id: 100, v: () => 1 }), "function");
    invalid(() => t.insert({ id: 100, v: new Map() }), "Map");
    invalid(() => t.insert({ id: 100, v: [1, undefined] }), "undefined element");
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    invalid(() => t.insert({ id: 100, v: cyc }), "cycle");
    assert.equal(t.count(), vals.length);
  });

  it("Json drops nested undefined properties", () => {
    const t = withCol("Json");
    t.insert({ id: 1, v: { a: 1, b: undefined } });
    const v = t.get(1).v;
    assert.deepEqual(v, { a: 1 });
    assert.equal(Object.hasOwn(v, "b"), false);
  });

  it("columns named like Object.prototype members behave like any other column", () => {
    const names = ["constructor", "toString", "valueOf", "hasOwnProperty", "isPrototypeOf"];
    const t = mk([
      { name: "id", type: "Int32", primaryKey: true },
      ...names.map((name) => ({ name, type: "Utf8", nullable: true })),
    ]);
    t.insert({ id: 1 });
    const want: Record<string, unknown> = { id: 1 };
    for (const n of names) want[n] = null;
    assert.deepEqual(t.get(1), want, "omitted nullable columns come back as null");
    t.insert({ id: 2, constructor: "c", toString: "s" });
    assert.equal(t.get(2).constructor, "c");
    assert.equal(t.get(2).toString, "s");
    t.patch(2, { valueOf: "v" });
    assert.equal(t.get(2).valueOf, "v");
    const req = mk([{ name: "id", type: "Int32", primaryKey: true }, { name: "constructor", type: "Utf8" }]);
    const e = invalid(() => req.insert({ id: 1 }));
    assert.match(e.message, /missing/i, "an omitted non-null column is reported as missing");
  });

  it("nullable columns of every type accept null and omission", () => {
    const types = [
      "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
      "Float32", "Float64", "Boolean", "Utf8", "String", "Binary", "Date", "Datetime", "Json",
    ];
    for (const type of types) {
      const t = withCol(type, true);
      t.insert({ id: 1, v: null });
      t.insert({ id: 2 });
      assert.deepEqual(t.get(1), { id: 1, v: null }, type);
      assert.deepEqual(t.get(2), { id: 2, v: null }, type);
    }
  });

  it("non-null columns of every type reject null and omission", () => {
    const types = [
      "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
      "Float32", "Float64", "Boolean", "Utf8", "String", "Binary", "Date", "Datetime",
    ];
    for (const type of types) {
      const t = withCol(type);
      invalid(() => t.insert({ id: 1, v: null }), `${type} null`);
      invalid(() => t.insert({ id: 1 }), `${type} omitted`);
      assert.equal(t.count(), 0, type);
    }
  });
});

describe("Table: update, patch, upsert", () => {
  it("update replaces the full row and keeps its position", () => {
    const t = users();
    for (const id of [1, 2, 3]) t.insert({ id, name: `u${id}`, age: id });
    t.update(2, { name: "two" });
    assert.deepEqual(t.get(2), { id: 2, name: "two", age: null }, "omitted nullable becomes null");
    t.update(2, { id: 2, name: "deux", age: 20 });
    assert.deepEqual(t.toArray().map((r) => r.id), [1, 2, 3]);
    assert.deepEqual(t.get(2), { id: 2, name: "deux", age: 20 });
  });

  it("update of a missing key throws KeyNotFoundError and stores nothing", () => {
    const t = users();
    keyMissing(() => t.update(1, { name: "x" }));
    assert.equal(t.count(), 0);
  });

  it("update with a different primary key in the row is a ValidationError", () => {
    const t = users();
    t.insert({ id: 1, name: "a" });
    t.insert({ id: 2, name: "b" });
    invalid(() => t.update(1, { id: 2, name: "x" }));
    invalid(() => t.update(1, { id: 3, name: "x" }));
    assert.deepEqual(t.toArray(), [{ id: 1, name: "a", age: null }, { id: 2, name: "b", age: null }]);
  });

  it("update validates the full row (missing column, bad type, unknown column)", () => {
    const t = users();
    t.insert({ id: 1, name: "a", age: 1 });
    invalid(() => t.update(1, { age: 2 }), "name missing");
    invalid(() => t.update(1, { name: 5 }), "name not a string");
    invalid(() => t.update(1, { name: "x", zzz: 1 }), "unknown column");
    invalid(() => t.update("1", { name: "x" }), "key of the wrong type");
    assert.deepEqual(t.get(1), { id: 1, name: "a", age: 1 });
  });

  it("patch changes only the given columns and keeps the row's position", () => {
    const t = users();
    for (const id of [1, 2, 3]) t.insert({ id, name: `u${id}`, age: id });
    t.patch(2, { age: 22 });
    assert.deepEqual(t.get(2), { id: 2, name: "u2", age: 22 });
    t.patch(2, { age: null });
    assert.deepEqual(t.get(2), { id: 2, name: "u2", age: null });
    t.patch(2, {});
    assert.deepEqual(t.get(2), { id: 2, name: "u2", age: null });
    assert.deepEqual(t.toArray().map((r) => r.id), [1, 2, 3]);
  });

  it("patch of a missing key throws KeyNotFoundError", () => {
    const t = users();
    keyMissing(() => t.patch(1, { age: 3 }));
    assert.equal(t.count(), 0);
  });

  it("patch that changes the primary key is a ValidationError", () => {
    const t = users();
    t.insert({ id: 1, name: "a" });
    invalid(() => t.patch(1, { id: 2 }));
    assert.deepEqual(t.get(1), { id: 1, name: "a", age: null });
    assert.equal(t.has(2), false);
  });

  it("patch with a bad value, null in a non-null column or an unknown column changes nothing", () => {
    const t = users();
    t.insert({ id: 1, name: "a", age: 1 });
    invalid(() => t.patch(1, { age: "old" }));
    invalid(() => t.patch(1, { age: 2 ** 31 }));
    invalid(() => t.patch(1, { name: null }));
    invalid(() => t.patch(1, { age: 5, nope: 1 }));
    assert.deepEqual(t.get(1), { id: 1, name: "a", age: 1 });
  });

  it("upsert inserts a new row at the end", () => {
    const t = users();
    t.insert({ id: 1, name: "a" });
    t.upsert({ id: 2, name: "b", age: 3 });
    assert.deepEqual(t.toArray(), [{ id: 1, name: "a", age: null }, { id: 2, name: "b", age: 3 }]);
  });

  it("upsert replaces an existing row entirely", () => {
    const t = users();
    t.insert({ id: 1, name: "a", age: 5 });
    t.upsert({ id: 1, name: "A" });
    assert.deepEqual(t.get(1), { id: 1, name: "A", age: null });
    assert.equal(t.count(), 1);
  });

  it("upsert validates like insert and keeps the old row on error", () => {
    const t = users();
    t.insert({ id: 1, name: "a", age: 5 });
    invalid(() => t.upsert({ id: 1, name: 1 }));
    invalid(() => t.upsert({ id: 1 }));
    invalid(() => t.upsert({ name: "no id" }));
    assert.deepEqual(t.get(1), { id: 1, name: "a", age: 5 });
    assert.equal(t.count(), 1);
  });
});

describe("Table: insertMany", () => {
  it("stores every row, in order", () => {
    const t = users();
    t.insert({ id: 10, name: "first" });
    t.insertMany([{ id: 3, name: "c" }, { id: 1, name: "a", age: 1 }]);
    assert.deepEqual(t.toArray().map((r) => r.id), [10, 3, 1]);
    assert.deepEqual(t.get(1), { id: 1, name: "a", age: 1 });
  });

  it("an empty batch is a no-op", () => {
    const t = users();
    t.insertMany([]);
    assert.equal(t.count(), 0);
  });

  it("a duplicate inside the batch stores nothing (DuplicateKeyError)", () => {
    const t = users();
    t.insert({ id: 0, name: "z" });
    dup(() => t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "b" }, { id: 1, name: "c" }]));
    assert.deepEqual(t.toArray(), [{ id: 0, name: "z", age: null }]);
  });

  it("a duplicate of an existing row stores nothing (DuplicateKeyError)", () => {
    const t = users();
    t.insert({ id: 2, name: "b" });
    dup(() => t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "again" }]));
    assert.deepEqual(t.toArray(), [{ id: 2, name: "b", age: null }]);
  });

  it("an invalid row anywhere stores nothing (ValidationError)", () => {
    const t = users();
    invalid(() => t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "b" }, { id: 3, name: 3 }]));
    invalid(() => t.insertMany([{ id: 1, name: "a" }, null]));
    assert.equal(t.count(), 0);
    assert.equal(t.has(1), false);
  });

  it("a bigint and a number with the same value are duplicates in one batch", () => {
    const t = users();
    dup(() => t.insertMany([{ id: 1n, name: "a" }, { id: 1, name: "b" }]));
    assert.equal(t.count(), 0);
  });
});

describe("Table: isolation of stored rows", () => {
  function rich(): LooseTable {
    return mk([
      { name: "id", type: "Int32", primaryKey: true },
      { name: "bin", type: "Binary" },
      { name: "at", type: "Datetime" },
      { name: "doc", type: "Json" },
    ]);
  }
  const fresh = () => ({
    id: 1,
    bin: new Uint8Array([1, 2]),
    at: new Date(1000),
    doc: { tags: ["a"], n: { x: 1 } },
  });

  it("mutating the row object after insert changes nothing", () => {
    const t = rich();
    const row = fresh();
    t.insert(row);
    row.bin[0] = 9;
    row.at.setTime(0);
    row.doc.tags.push("b");
    row.doc.n.x = 2;
    (row as Record<string, unknown>).id = 5;
    assert.deepEqual(t.get(1), fresh());
  });

  it("mutating a row from get, rows() or toArray() changes nothing", () => {
    const t = rich();
    t.insert(fresh());
    const g = t.get(1);
    g.bin[0] = 9;
    g.at.setTime(0);
    g.doc.tags.push("x");
    g.id = 7;
    for (const r of t.rows()) {
      r.doc.n.x = 5;
      r.bin[1] = 9;
    }
    const arr = t.toArray();
    arr[0].doc.tags.length = 0;
    arr[0].at.setTime(1);
    assert.deepEqual(t.get(1), fresh());
    assert.notEqual(t.get(1), t.get(1));
  });

  it("rows given to update, patch, upsert and insertMany are copied", () => {
    const t = rich();
    const a = fresh();
    t.insertMany([a]);
    a.doc.tags.push("m");
    assert.deepEqual(t.get(1), fresh());
    const b = fresh();
    t.update(1, b);
    b.bin[0] = 7;
    const c = { doc: { tags: ["p"], n: { x: 1 } } };
    t.patch(1, c);
    c.doc.tags.push("q");
    const d = fresh();
    t.upsert(d);
    d.at.setTime(5);
    assert.deepEqual(t.get(1), fresh());
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

    const t2 = db.createTable({
      name: "things",
      columns: [
        { name: "key", type: "Utf8", primaryKey: true },
        { name: "n", type: "Float64" },
      ],
    } as const);
    t2.insert({ key: "a", n: 1.5 });
    const n: number | undefined = t2.get("a")?.n;
    assert.equal(n, 1.5);
  });
});
