// Arrow export (@cyberdb/core/arrow): every column type, nullable or not,
// read back with apache-arrow equals the rows, for whole tables and for
// query answers (filtered, projected, sorted, grouped); IPC stream bytes
// decode with tableFromIPC; batching; the Json tags; errors; and mod.ts's
// static import graph stays free of apache-arrow.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Table as ArrowTable, tableFromIPC } from "apache-arrow";
import { Database, type Query, type TableSchema, ValidationError, type Value } from "../mod.ts";
import { fromArrowJson, toArrow, toArrowIPC } from "../arrow.ts";
import { prng } from "./fixtures/prng.ts";

type Row = Record<string, Value>;

const TYPES = [
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
  "Json",
] as const;

const ARROW_TYPE: Record<string, string> = {
  Int8: "Int8",
  Int16: "Int16",
  Int32: "Int32",
  Int64: "Int64",
  UInt8: "Uint8",
  UInt16: "Uint16",
  UInt32: "Uint32",
  UInt64: "Uint64",
  Float32: "Float32",
  Float64: "Float64",
  Boolean: "Bool",
  Utf8: "Utf8",
  String: "Utf8",
  Binary: "Binary",
  Date: "Date64<MILLISECOND>",
  Datetime: "Timestamp<MILLISECOND>",
  Json: "Utf8",
};

/** Every type twice: `<type>` (not null) and `<type>_n` (nullable). */
const SCHEMA: TableSchema = {
  name: "all",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    ...TYPES.flatMap((type) => [
      { name: type, type },
      { name: `${type}_n`, type, nullable: true },
    ]),
  ],
};

const RANGES: Record<string, [number, number]> = {
  Int8: [-128, 127],
  Int16: [-32768, 32767],
  Int32: [-2147483648, 2147483647],
  Int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UInt8: [0, 255],
  UInt16: [0, 65535],
  UInt32: [0, 4294967295],
  UInt64: [0, Number.MAX_SAFE_INTEGER],
};
const STRINGS = [
  "",
  "a",
  "ada",
  "Élodie",
  "名前",
  "😀",
  "tab\there",
  "line\nbreak",
  "\u0000nul",
  "x".repeat(300),
  "é".repeat(5000),
];
const JSONS: Value[] = [
  0,
  -0,
  NaN,
  Infinity,
  "text",
  true,
  false,
  [],
  {},
  [1, "two", null, [3]],
  { a: { b: [1, 2, { c: "d" }] } },
  { big: 2n ** 64n - 1n, neg: -(2n ** 63n) },
  { bytes: new Uint8Array([0, 255, 7]), when: new Date(86_400_000) },
  { $x: 1 },
  { $bigint: "not a tag: escaped" },
];

function valueOf(type: string, r: () => number, i: number): Value {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  if (type in RANGES) {
    const [lo, hi] = RANGES[type];
    // The ends of the range, zero, and values in between.
    return pick([lo, hi, 0, lo + Math.floor(r() * (hi - lo)), Math.floor(r() * 100)]);
  }
  switch (type) {
    case "Float32":
      return Math.fround(pick([0, -0, 1.5, -2.25, 3.4e38, 1e-40, NaN, Infinity, -Infinity, r() * 1000 - 500]));
    case "Float64":
      return pick([0, -0, 0.1, -1e308, 5e-324, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 2, r() * 1e6 - 5e5]);
    case "Boolean":
      return r() < 0.5;
    case "Utf8":
    case "String":
      return pick(STRINGS) + (r() < 0.5 ? String(i) : "");
    case "Binary": {
      const b = new Uint8Array(Math.floor(r() * 6));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(r() * 256);
      return b;
    }
    case "Date":
      return pick([
        new Date(0),
        new Date(-86_400_000 * 365 * 80),
        new Date(Date.UTC(2024, 1, 29)),
        new Date(Date.UTC(2024, 1, 29, 13, 14, 15, 16)),
        new Date(8.64e15),
      ]);
    case "Datetime":
      return pick([
        new Date(0),
        new Date(-1),
        new Date(1_700_000_000_123),
        new Date(-8.64e15),
        new Date(Math.floor(r() * 2e12)),
      ]);
    case "Json":
      return pick(JSONS);
  }
  throw new Error(type);
}

function makeRows(n: number, seed: number): Row[] {
  const r = prng(seed);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const row: Row = { id: i };
    for (const type of TYPES) {
      row[type] = valueOf(type, r, i);
      row[`${type}_n`] = r() < 0.3 ? null : valueOf(type, r, i);
    }
    rows.push(row);
  }
  return rows;
}

async function table(rows: Row[]) {
  const db = await Database.open();
  const t = db.createTable(SCHEMA);
  t.insertMany(rows);
  return { db, t };
}

/** A cell read back from Arrow, turned into the value the table holds. */
function cell(type: string, v: unknown): Value {
  if (v === null) return null;
  switch (type) {
    case "Int64":
    case "UInt64":
      assert.equal(typeof v, "bigint", `${type} reads back as a bigint`);
      return Number(v as bigint);
    case "Date":
    case "Datetime":
      assert.equal(typeof v, "number", `${type} reads back as epoch milliseconds`);
      return new Date(v as number);
    case "Json":
      return fromArrowJson(v as string);
    default:
      return v as Value;
  }
}

/** The Arrow table's rows, decoded by each field's `cyberdb.type` metadata. */
function readBack(a: ArrowTable): Row[] {
  const fields = a.schema.fields;
  const cols = fields.map((f) => a.getChild(f.name)!);
  const out: Row[] = [];
  for (let i = 0; i < a.numRows; i++) {
    const row: Row = {};
    fields.forEach((f, k) => (row[f.name] = cell(f.metadata.get("cyberdb.type")!, cols[k].get(i))));
    out.push(row);
  }
  return out;
}

function fieldsOf(a: ArrowTable): string[] {
  return a.schema.fields.map((f) => `${f.name}: ${String(f.type)}${f.nullable ? " | null" : ""}`);
}

describe("toArrow: every column type", () => {
  it("maps the schema faithfully (types, nullability, cyberdb.type metadata)", async () => {
    const { db, t } = await table([]);
    const a = toArrow(t);
    assert.equal(a.numRows, 0);
    assert.deepStrictEqual(fieldsOf(a), [
      "id: Int32",
      ...TYPES.flatMap((type) => [`${type}: ${ARROW_TYPE[type]}`, `${type}_n: ${ARROW_TYPE[type]} | null`]),
    ]);
    assert.deepStrictEqual(a.schema.fields.map((f) => f.metadata.get("cyberdb.type")), [
      "Int32",
      ...TYPES.flatMap((x) => [x, x]),
    ]);
    await db.close();
  });

  it("reads back equal to the rows, nulls included, for a whole table", async () => {
    const rows = makeRows(300, 1);
    const { db, t } = await table(rows);
    const a = toArrow(t);
    assert.equal(a.numRows, 300);
    assert.deepStrictEqual(readBack(a), t.toArray());
    // Spot checks of the exact bits: 64-bit ends, -0, NaN, dates before 1970.
    const at = (col: string) => a.getChild(col)!;
    for (let i = 0; i < rows.length; i++) {
      assert.ok(Object.is(at("Float64").get(i), rows[i].Float64), `Float64 row ${i}`);
      if (rows[i].Int64 === -Number.MAX_SAFE_INTEGER) assert.equal(at("Int64").get(i), -(2n ** 53n - 1n));
      if (rows[i].UInt64 === Number.MAX_SAFE_INTEGER) assert.equal(at("UInt64").get(i), 2n ** 53n - 1n);
    }
    await db.close();
  });

  it("reads back equal to a query's rows: filtered, projected, sorted, limited", async () => {
    const { db, t } = await table(makeRows(200, 2));
    const queries: Query[] = [
      { where: { column: "Int32", op: ">", value: 0 } },
      { where: { column: "Utf8_n", op: "isNull" }, select: ["id", "Utf8_n", "Date_n", "Json", "Binary_n"] },
      {
        where: { or: [{ column: "Boolean", op: "=", value: true }, { column: "UInt8_n", op: "<", value: 50 }] },
        orderBy: [{ column: "Float64_n", direction: "desc" }],
        limit: 25,
        offset: 3,
      },
      { select: ["Int64_n", "UInt64_n", "Datetime_n"], orderBy: [{ column: "Datetime_n" }] },
      { where: { column: "id", op: "<", value: 0 } },
    ];
    for (const q of queries) {
      const a = toArrow(t, q);
      assert.deepStrictEqual(readBack(a), t.query(q), JSON.stringify(q));
      const want = q.select ?? ["id", ...TYPES.flatMap((x) => [x, `${x}_n`])];
      assert.deepStrictEqual(a.schema.fields.map((f) => f.name), want);
    }
    await db.close();
  });

  it("types a grouped query's output: group columns as in the schema, count Int64, sum Float64, mean nullable Float64, min/max the column's type", async () => {
    const { db, t } = await table(makeRows(200, 3));
    const q: Query = {
      groupBy: ["Boolean", "Utf8_n"],
      aggregates: {
        n: { op: "count" },
        dates: { op: "count", column: "Date_n" },
        distinct: { op: "countDistinct", column: "Int8" },
        total: { op: "sum", column: "Int16_n" },
        avg: { op: "mean", column: "Float32_n" },
        first: { op: "min", column: "Datetime_n" },
        last: { op: "max", column: "Int64" },
        top: { op: "max", column: "Utf8" },
      },
      orderBy: [{ column: "n", direction: "desc" }, { column: "Utf8_n" }, { column: "Boolean" }],
    };
    const a = toArrow(t, q);
    assert.deepStrictEqual(fieldsOf(a), [
      "Boolean: Bool",
      "Utf8_n: Utf8 | null",
      "n: Int64",
      "dates: Int64",
      "distinct: Int64",
      "total: Float64",
      "avg: Float64 | null",
      "first: Timestamp<MILLISECOND> | null",
      "last: Int64 | null",
      "top: Utf8 | null",
    ]);
    assert.deepStrictEqual(readBack(a), t.query(q));
    // No rows: one row of empty aggregates without groupBy (nulls where the type allows).
    const none: Query = { where: { column: "id", op: "<", value: 0 }, aggregates: q.aggregates };
    assert.deepStrictEqual(readBack(toArrow(t, none)), [{
      n: 0,
      dates: 0,
      distinct: 0,
      total: 0,
      avg: null,
      first: null,
      last: null,
      top: null,
    }]);
    assert.equal(toArrow(t, { ...none, groupBy: ["Boolean"] }).numRows, 0);
    await db.close();
  });

  it("Json cells are JSON text with tags for what JSON cannot carry; fromArrowJson decodes them", async () => {
    const db = await Database.open();
    const t = db.createTable({
      name: "j",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "j", type: "Json" }],
    });
    t.insertMany(JSONS.map((j, id) => ({ id, j })));
    const a = toArrow(t);
    const texts = a.getChild("j")!.toArray() as string[];
    assert.equal(texts[2], '{"$num":"NaN"}');
    assert.equal(texts[11], '{"big":{"$bigint":"18446744073709551615"},"neg":{"$bigint":"-9223372036854775808"}}');
    assert.equal(texts[12], '{"bytes":{"$bytes":"AP8H"},"when":{"$date":"1970-01-02T00:00:00.000Z"}}');
    assert.equal(texts[13], '{"$obj":{"$x":1}}');
    for (const s of texts) JSON.parse(s);
    assert.deepStrictEqual(texts.map(fromArrowJson), JSONS);
    assert.throws(() => fromArrowJson(5 as unknown as string), ValidationError);
    await db.close();
  });

  it("long and multi-byte strings and binaries survive buffer growth", async () => {
    const db = await Database.open();
    const t = db.createTable({
      name: "s",
      columns: [
        { name: "id", type: "Int32", primaryKey: true },
        { name: "s", type: "Utf8", nullable: true },
        { name: "b", type: "Binary" },
      ],
    });
    const r = prng(9);
    const alphabet = ["a", "é", "名", "😀", " ", "\u0080", "\u07ff", "\u0800", "\uffff"];
    for (let id = 0; id < 400; id++) {
      let s = "";
      const len = id % 50 === 0 ? 20_000 : Math.floor(r() * 40);
      for (let k = 0; k < len; k++) s += alphabet[Math.floor(r() * (id % 3 === 0 ? 1 : alphabet.length))];
      const b = new Uint8Array(id % 97 === 0 ? 100_000 : Math.floor(r() * 20)).map(() => Math.floor(r() * 256));
      t.insert({ id, s: id % 7 === 0 ? null : s, b });
    }
    assert.deepStrictEqual(readBack(toArrow(t)), t.toArray());
    await db.close();
  });
});

describe("toArrowIPC", () => {
  it("IPC stream bytes decode with tableFromIPC to the same rows, schema and metadata", async () => {
    const { db, t } = await table(makeRows(150, 4));
    const bytes = toArrowIPC(t);
    assert.ok(bytes instanceof Uint8Array);
    const back = tableFromIPC(bytes);
    assert.deepStrictEqual(fieldsOf(back), fieldsOf(toArrow(t)));
    assert.deepStrictEqual(readBack(back), t.toArray());
    const q: Query = {
      where: { column: "Int16_n", op: ">=", value: 0 },
      select: ["id", "Json_n", "Date", "Binary"],
      orderBy: [{ column: "Date" }],
    };
    assert.deepStrictEqual(readBack(tableFromIPC(toArrowIPC(t, q))), t.query(q));
    const g: Query = {
      groupBy: ["Boolean_n"],
      aggregates: { n: { op: "count" }, m: { op: "mean", column: "Float64" } },
    };
    assert.deepStrictEqual(readBack(tableFromIPC(toArrowIPC(t, g))), t.query(g));
    // An empty table is still a valid stream with its schema.
    const empty = db.createTable({ ...SCHEMA, name: "empty" });
    const e = tableFromIPC(toArrowIPC(empty));
    assert.equal(e.numRows, 0);
    assert.deepStrictEqual(fieldsOf(e), fieldsOf(toArrow(t)));
    await db.close();
  });

  it("splits into record batches of batchRows rows", async () => {
    const { db, t } = await table(makeRows(50, 5));
    const a = toArrow(t, {}, { batchRows: 7 });
    assert.deepStrictEqual(a.batches.map((b) => b.numRows), [7, 7, 7, 7, 7, 7, 7, 1]);
    assert.deepStrictEqual(readBack(a), t.toArray());
    const back = tableFromIPC(toArrowIPC(t, { where: { column: "id", op: "<", value: 20 } }, { batchRows: 10 }));
    assert.deepStrictEqual(back.batches.map((b) => b.numRows), [10, 10]);
    assert.deepStrictEqual(readBack(back), t.query({ where: { column: "id", op: "<", value: 20 } }));
    assert.equal(toArrow(t).batches.length, 1);
    await db.close();
  });
});

describe("errors", () => {
  it("a malformed query or bad options → ValidationError", async () => {
    const { db, t } = await table(makeRows(5, 6));
    for (
      const q of [
        { where: { column: "nope", op: "=", value: 1 } },
        { where: { column: "Int8", op: "=", value: "1" } },
        { where: { column: "Int8", op: "~", value: 1 } },
        { limit: -1 },
        { groupBy: ["Utf8"] },
        { select: ["Utf8"], groupBy: ["Utf8"], aggregates: { n: { op: "count" } } },
        { orderBy: [{ column: "nope" }] },
        "all",
        null,
        [],
      ]
    ) {
      assert.throws(() => toArrow(t, q as never), ValidationError, JSON.stringify(q));
      assert.throws(() => toArrowIPC(t, q as never), ValidationError, JSON.stringify(q));
    }
    for (const o of [{ batchRows: 0 }, { batchRows: 1.5 }, { batchRows: "9" }, { rows: 9 }, null, 3]) {
      assert.throws(() => toArrow(t, {}, o as never), ValidationError, JSON.stringify(o));
    }
    await db.close();
  });
});

describe("packaging", () => {
  it("mod.ts and client.ts do not import apache-arrow or src/arrow, statically", () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
    const seen = new Set<string>();
    const bad: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, "utf8");
      // Static imports and re-exports only: `import("...")` is dynamic and allowed.
      for (const m of code.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm)) {
        const spec = m[1];
        if (spec === "apache-arrow" || spec.startsWith("apache-arrow/")) bad.push(`${file} imports ${spec}`);
        else if (spec.startsWith(".")) {
          const target = resolve(dirname(file), spec);
          if (target.includes(join("src", "arrow"))) bad.push(`${file} imports ${spec}`);
          else walk(target);
        }
      }
    };
    walk(join(root, "mod.ts"));
    walk(join(root, "client.ts"));
    assert.ok(seen.size > 10, `walked ${seen.size} modules`);
    assert.deepStrictEqual(bad, []);
  });
});
