// The value contract (DESIGN §2) across every collection kind: what
// round-trips exactly (through every way a value goes in and comes out),
// what is rejected with ValidationError leaving state untouched, and that
// stored state is never shared with the caller.
import assert from "node:assert/strict";
import { ValidationError } from "../../mod.ts";
import { all, type Contract, type Db, type Dict, type List } from "./harness.ts";
import { loose, type LooseTable } from "./table.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

interface Fixture {
  db: Db;
  d: Dict;
  l: List;
  t: LooseTable;
}

async function fixture(db: Db): Promise<Fixture> {
  const [d, l, t] = await Promise.all([
    db.createDict("d"),
    db.createList("l"),
    db.createTable(
      {
        name: "t",
        columns: [
          { name: "id", type: "Int32", primaryKey: true },
          { name: "v", type: "Json", nullable: true },
        ],
      } as const,
    ),
  ]);
  return { db, d, l, t: loose(t) };
}

/** Every way a value goes in and comes back out. Each returns what was read back. */
const ROUND_TRIPS: Record<string, (f: Fixture, v: unknown) => Promise<unknown>> = {
  "dict set/get": async ({ d }, v) => {
    await d.set("k", v as never);
    return await d.get("k");
  },
  "dict values()": async ({ d }, v) => {
    await d.clear();
    await d.set(1, v as never);
    return [...await d.values()][0];
  },
  "dict entries()": async ({ d }, v) => {
    await d.clear();
    await d.set(1, v as never);
    return [...await d.entries()][0][1];
  },
  "dict for await": async ({ d }, v) => {
    await d.clear();
    await d.set(1, v as never);
    return (await all(d))[0][1];
  },
  "dict pop": async ({ d }, v) => {
    await d.set("p", v as never);
    return await d.pop("p");
  },
  "dict popItem": async ({ d }, v) => {
    await d.set("pi", v as never);
    return (await d.popItem())[1];
  },
  "dict update/toObject": async ({ d }, v) => {
    await d.clear();
    await d.update([["u", v as never]]);
    return (await d.toObject() as Any).u;
  },
  "dict setDefault": async ({ d }, v) => {
    await d.delete("sd");
    await d.setDefault("sd", v as never);
    return await d.get("sd");
  },
  "list append/get": async ({ l }, v) => {
    await l.append(v as never);
    return await l.get(-1);
  },
  "list insert/toArray": async ({ l }, v) => {
    await l.clear();
    await l.insert(0, v as never);
    return (await l.toArray())[0];
  },
  "list set/for await": async ({ l }, v) => {
    await l.clear();
    await l.append(0);
    await l.set(0, v as never);
    return (await all(l))[0];
  },
  "list extend/slice": async ({ l }, v) => {
    await l.clear();
    await l.extend([v as never]);
    return (await l.slice(0, 1))[0];
  },
  "list pop": async ({ l }, v) => {
    await l.append(v as never);
    return await l.pop();
  },
  "table Json insert/get": async ({ t }, v) => {
    await t.delete(1);
    await t.insert({ id: 1, v });
    return (await t.get(1)).v;
  },
  "table Json upsert/toArray": async ({ t }, v) => {
    await t.upsert({ id: 1, v });
    return (await t.toArray())[0].v;
  },
  "table Json patch/rows": async ({ t }, v) => {
    await t.upsert({ id: 1, v: null });
    await t.patch(1, { v });
    return [...await t.rows()][0].v;
  },
  "table Json insertMany/for await": async ({ t }, v) => {
    await t.delete(2);
    await t.insertMany([{ id: 2, v }]);
    return (await all(t)).find((r) => r.id === 2).v;
  },
  "nested in an array": async ({ d }, v) => {
    await d.set("arr", [1, v, 2] as never);
    return (await d.get("arr") as unknown[])[1];
  },
  "nested in an object": async ({ d }, v) => {
    await d.set("obj", { a: { b: v } } as never);
    return (await d.get("obj") as Any).a.b;
  },
  "createDict init": async ({ db }, v) => {
    await db.drop("cd");
    return await (await db.createDict("cd", { x: v as never })).get("x");
  },
  "createList init": async ({ db }, v) => {
    await db.drop("cl");
    return await (await db.createList("cl", [v as never])).get(0);
  },
};

const bytes256 = new Uint8Array(256).map((_, i) => i);

const ACCEPTED: Array<[string, unknown]> = [
  ["0", 0],
  ["-0", -0],
  ["empty string", ""],
  ["false", false],
  ["true", true],
  ["null", null],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
  ["Number.MAX_VALUE", Number.MAX_VALUE],
  ["Number.MIN_VALUE", Number.MIN_VALUE],
  ["MAX_SAFE_INTEGER", Number.MAX_SAFE_INTEGER],
  ["2**60 (a number, not a bigint)", 2 ** 60],
  ["1.5", 1.5],
  ["-123.456e-7", -123.456e-7],
  ["0n", 0n],
  ["1n", 1n],
  ["123n", 123n],
  ["-1n", -1n],
  ["-(2n**63n)", -(2n ** 63n)],
  ["2n**63n", 2n ** 63n],
  ["2n**64n-1n", 2n ** 64n - 1n],
  ["unicode string", "héllo 😀 日本 \u0000 \uFEFF"],
  ["unicode string with a NUL in the middle", "héllo 🎉 \u0000 end"],
  ["string of one astral character", "😀"],
  ["empty Uint8Array", new Uint8Array(0)],
  ["Uint8Array of a few bytes", new Uint8Array([0, 1, 127, 128, 255])],
  ["Uint8Array 0..255", bytes256],
  ["Date(0)", new Date(0)],
  ["Date(-1)", new Date(-1)],
  ["Date with milliseconds on a leap day", new Date(Date.UTC(2024, 1, 29, 12, 30, 45, 123))],
  ["Date max", new Date(8.64e15)],
  ["Date min", new Date(-8.64e15)],
  ["empty array", []],
  ["empty object", {}],
  ["array of falsy values", [0, -0, "", false, null, NaN, 0n]],
  ["object of falsy values", { a: 0, b: -0, c: "", d: false, e: null, f: NaN }],
  ["nested structure", {
    users: [{ id: 1n, name: "a", tags: ["x", "y"], bin: new Uint8Array([1, 2]), at: new Date(5) }],
    meta: { empty: {}, list: [[], [[]]], n: null },
  }],
  ["nested -0, bigint, binary, Date and an empty key", {
    a: [1, { b: null, c: [-0, 2n, new Uint8Array([9])] }],
    d: new Date(5),
    "": "empty key",
  }],
  ["object with numeric-like and special keys", { "1": 1, "": 2, constructor: 3, toString: 4, hasOwnProperty: 5 }],
];

// deno-lint-ignore ban-types
const fn: Function = function named() {};
class Thing {
  x = 1;
}
class MyArray extends Array {}
const cyclicObj: Any = { a: 1 };
cyclicObj.self = cyclicObj;
const cyclicArr: Any[] = [1];
cyclicArr.push(cyclicArr);
const indirect: Any = { a: { b: {} } };
indirect.a.b.c = [indirect];
// deno-lint-ignore no-sparse-arrays
const sparse = [1, , 3];

/** [label, value, rejected also when nested inside an object?] */
const REJECTED: Array<[string, unknown, boolean]> = [
  ["undefined", undefined, false],
  ["a function", fn, true],
  ["an arrow function", () => 1, true],
  ["an async function", async () => {}, true],
  ["a class", Thing, true],
  ["a symbol", Symbol("s"), true],
  ["a class instance", new Thing(), true],
  ["a Map", new Map([["a", 1]]), true],
  ["a Set", new Set([1]), true],
  ["a WeakMap", new WeakMap(), true],
  ["a RegExp", /x/, true],
  ["an Error", new Error("e"), true],
  ["a Promise", Promise.resolve(1), true],
  ["an ArrayBuffer", new ArrayBuffer(2), true],
  ["a DataView", new DataView(new ArrayBuffer(2)), true],
  ["an Int16Array", new Int16Array(2), true],
  ["a Uint8ClampedArray", new Uint8ClampedArray(2), true],
  ["a Float64Array", new Float64Array(2), true],
  ["a boxed Number", new Number(1), true],
  ["a boxed String", new String("s"), true],
  ["a boxed Boolean", new Boolean(false), true],
  ["an object with a non-plain prototype", Object.create({ inherited: 1 }), true],
  ["an Array subclass instance", MyArray.from([1, 2]), true],
  ["a sparse array", sparse, true],
  ["new Array(3) (holes)", new Array(3), true],
  ["an array holding undefined", [1, undefined], true],
  ["a cyclic object", cyclicObj, true],
  ["a cyclic array", cyclicArr, true],
  ["an indirect cycle", indirect, true],
  ["a nested function", { a: { b: () => 1 } }, true],
  ["a function in a nested array", [1, [2, () => 3]], true],
  ["a symbol in an array", [Symbol("x")], true],
  ["a lone high surrogate", "\uD800", true],
  ["a lone low surrogate inside text", "a\uDFFFb", true],
  ["reversed surrogates", "\uDC00\uD800", true],
  ["a high surrogate at the end", "abc\uD83D", true],
  ["a lone surrogate in an object key", { "\uD800": 1 }, true],
  ["a lone surrogate in a long string", `${"x".repeat(20)}\uD800y`, true],
  ["a lone surrogate in a long object key", { [`${"x".repeat(20)}\uDC00`]: 1 }, true],
  ["an invalid Date", new Date(NaN), true],
  ["bigint 2n**64n", 2n ** 64n, true],
  ["bigint -(2n**63n)-1n", -(2n ** 63n) - 1n, true],
  ["a huge bigint", 10n ** 40n, true],
];

/** Ways to store a value; each must throw and leave state untouched. */
const REJECT_PATHS: Record<string, (f: Fixture, v: unknown) => unknown> = {
  "dict.set (new key)": ({ d }, v) => d.set("new", v as never),
  "dict.set (existing key)": ({ d }, v) => d.set("keep", v as never),
  "dict.update": ({ d }, v) => d.update([["keep", 2], ["new", v as never]]),
  "dict.update (object)": ({ d }, v) => d.update({ keep: 2, nested: [v] } as never),
  "dict.setDefault": ({ d }, v) => d.setDefault("new", v as never),
  "list.append": ({ l }, v) => l.append(v as never),
  "list.set": ({ l }, v) => l.set(0, v as never),
  "list.insert": ({ l }, v) => l.insert(0, v as never),
  "list.extend": ({ l }, v) => l.extend([2, v as never]),
  "table insert (Json)": ({ t }, v) => t.insert({ id: 2, v }),
  "table upsert (Json, existing)": ({ t }, v) => t.upsert({ id: 1, v }),
  "table update (Json)": ({ t }, v) => t.update(1, { v }),
  "table patch (Json)": ({ t }, v) => t.patch(1, { v }),
  "table insertMany (Json)": ({ t }, v) => t.insertMany([{ id: 3, v: 1 }, { id: 4, v }]),
  "createDict init": ({ db }, v) => db.createDict("newd", [["a", 1], ["b", v as never]]),
  "createList init": ({ db }, v) => db.createList("newl", [1, v as never]),
  "nested in an array": ({ d }, v) => d.set("new", [1, v] as never),
};
const NESTED_IN_OBJECT = ({ d }: Fixture, v: unknown) => d.set("new", { a: 1, b: v } as never);

async function seed({ d, l, t }: Fixture): Promise<void> {
  await Promise.all([d.set("keep", 1), l.append(1), t.insert({ id: 1, v: 1 })]);
}

async function assertUntouched({ db, d, l, t }: Fixture, note: string): Promise<void> {
  // One round trip remotely: concurrent calls travel together.
  const [entries, items, rows, names] = await Promise.all([d.entries(), l.toArray(), t.toArray(), db.collections()]);
  assert.deepEqual([...entries], [["keep", 1]], `${note}: dict`);
  assert.deepEqual(items, [1], `${note}: list`);
  assert.deepEqual(rows, [{ id: 1, v: 1 }], `${note}: table`);
  assert.deepEqual(names.map((c) => c.name), ["d", "l", "t"], `${note}: collections`);
}

export function valuesContract(c: Contract): void {
  /** A test with a fresh dict "d", list "l" and table "t" (id, v Json). */
  const test = (name: string, body: (f: Fixture) => Promise<void>) =>
    c.test(name, async (db) => body(await fixture(db)));

  c.group("values: round trips", () => {
    for (const [label, value] of ACCEPTED) {
      test(`${label} round-trips exactly through every path`, async (f) => {
        for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
          const out = await roundTrip(f, value);
          assert.deepEqual(out, value, `${label} via ${path}`);
          assert.equal(typeof out, typeof value, `${label} via ${path}: type`);
          if (typeof value === "number") assert.ok(Object.is(out, value), `${label} via ${path}: Object.is`);
        }
      });
    }

    test("bigints stay bigints and numbers stay numbers", async ({ d, l }) => {
      await d.set("a", 5n);
      await d.set("b", 5);
      assert.equal(typeof await d.get("a"), "bigint");
      assert.equal(typeof await d.get("b"), "number");
      await l.extend([0n, 0]);
      assert.equal(typeof await l.get(0), "bigint");
      assert.equal(typeof await l.get(1), "number");
    });

    test("Uint8Array comes back as a plain Uint8Array (not a subclass such as Buffer)", async ({ d, l, t }) => {
      await d.set("b", new Uint8Array([1]));
      await l.append(new Uint8Array([2]));
      await t.insert({ id: 1, v: new Uint8Array([3]) });
      for (const out of [await d.get("b"), await l.get(0), (await t.get(1)).v, (await t.toArray())[0].v]) {
        assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
      }
    });

    test("a Uint8Array view stores only the bytes it covers", async ({ d, l }) => {
      const buf = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
      const view = new Uint8Array(buf.buffer, 2, 3);
      await d.set("v", view);
      await l.append(view);
      assert.deepEqual(await d.get("v"), new Uint8Array([1, 2, 3]));
      assert.deepEqual(await l.get(0), new Uint8Array([1, 2, 3]));
      buf.fill(0);
      assert.deepEqual(await d.get("v"), new Uint8Array([1, 2, 3]));
    });

    test("returned objects are fresh plain objects and arrays", async ({ d }) => {
      await d.set("o", { a: { b: [1] } });
      const o = await d.get("o") as Any;
      assert.equal(Object.getPrototypeOf(o), Object.prototype);
      assert.equal(Object.getPrototypeOf(o.a), Object.prototype);
      assert.equal(Object.getPrototypeOf(o.a.b), Array.prototype);
      assert.notEqual(await d.get("o"), o);
    });

    test("null-prototype objects are accepted", async ({ d, l, t }) => {
      const np = Object.assign(Object.create(null), { a: 1, b: { c: 2 } });
      await d.set("np", np);
      await l.append(np);
      await t.insert({ id: 1, v: np });
      for (const out of [await d.get("np"), await l.get(0), (await t.get(1)).v] as Any[]) {
        assert.equal(out.a, 1);
        assert.equal(out.b.c, 2);
        assert.deepEqual(Object.keys(out), ["a", "b"]);
      }
    });

    test("object key order is kept", async ({ d }) => {
      await d.set("o", { b: 1, a: 2, c: { z: 1, y: 2 } });
      const o = await d.get("o") as Any;
      assert.deepEqual(Object.keys(o), ["b", "a", "c"]);
      assert.deepEqual(Object.keys(o.c), ["z", "y"]);
    });

    test("nested undefined object properties are dropped (like JSON.stringify)", async (f) => {
      const v = { a: 1, b: undefined, c: { d: undefined, e: [{ f: undefined, g: 2 }] } };
      for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
        const out = await roundTrip(f, v) as Any;
        assert.deepEqual(out, { a: 1, c: { e: [{ g: 2 }] } }, path);
        assert.equal(Object.hasOwn(out, "b"), false, path);
        assert.equal(Object.hasOwn(out.c, "d"), false, path);
      }
    });

    test("the same object twice (not a cycle) is accepted and comes back as equal copies", async ({ d, l }) => {
      const shared = { x: [1] };
      const v = [shared, shared, { a: shared, b: shared }];
      await d.set("s", v as never);
      await l.append(v as never);
      assert.deepEqual(await d.get("s"), [{ x: [1] }, { x: [1] }, { a: { x: [1] }, b: { x: [1] } }]);
      const out = await d.get("s") as Any;
      out[0].x.push(2);
      assert.deepEqual(out[1], { x: [1] }, "the two copies are independent");
      assert.deepEqual(await l.get(0), await d.get("s"));
    });

    test("deep nesting (200 levels) round-trips", async ({ d, l }) => {
      let v: unknown = "leaf";
      for (let i = 0; i < 100; i++) v = i % 2 ? [v] : { n: v };
      for (let i = 0; i < 100; i++) v = [v, i];
      await d.set("deep", v as never);
      await l.append(v as never);
      assert.deepEqual(await d.get("deep"), v);
      assert.deepEqual(await l.get(0), v);
    });

    test("a very deeply nested value (100 000 levels) is stored or rejected with ValidationError, never a RangeError", async ({ d }) => {
      let v: unknown = 1;
      for (let i = 0; i < 100_000; i++) v = [v];
      await d.set("keep", 1);
      try {
        await d.set("deep", v as never);
        assert.equal(await d.has("deep"), true);
      } catch (e) {
        assert.ok(
          e instanceof ValidationError,
          `expected ValidationError, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
        );
        assert.deepEqual([...await d.entries()], [["keep", 1]]);
      }
    });

    test("a large array (100 000 elements) round-trips", async ({ d }) => {
      const v = Array.from({ length: 100_000 }, (_, i) => (i % 3 ? i : `s${i}`));
      await d.set("big", v);
      assert.deepEqual(await d.get("big"), v);
    });

    test("a large bytes value (8 MiB) round-trips", async ({ d, l }) => {
      const v = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 31) & 255);
      await d.set("big", v);
      await l.append(v);
      assert.deepEqual(await d.get("big"), v);
      assert.deepEqual(await l.get(0), v);
    });
  });

  c.group("values: rejected with ValidationError, state untouched", () => {
    for (const [label, value, nestedToo] of REJECTED) {
      test(`${label} is rejected everywhere`, async (f) => {
        await seed(f);
        for (const [path, store] of Object.entries(REJECT_PATHS)) {
          if (path === "dict.update (object)" && !nestedToo) continue;
          // A row property set to undefined may mean "omitted" for a nullable column.
          if (path.startsWith("table") && value === undefined) continue;
          await f.db.rejects(() => store(f, value), ValidationError, `${label} via ${path}`);
          await assertUntouched(f, `${label} via ${path}`);
        }
        if (nestedToo) {
          await f.db.rejects(() => NESTED_IN_OBJECT(f, value), ValidationError, `${label} nested in an object`);
          await assertUntouched(f, `${label} nested in an object`);
        }
      });
    }
  });

  c.group("values: stored state is never shared with the caller", () => {
    test("objects, arrays, Uint8Array and Date going in are copied (dict, list, table)", async ({ d, l, t }) => {
      const make = () => ({ arr: [1, { x: 1 }], bin: new Uint8Array([1, 2]), at: new Date(10) });
      const a = make();
      const b = make();
      const c2 = make();
      await d.set("k", a);
      await l.append(b);
      await t.insert({ id: 1, v: c2 });
      for (const v of [a, b, c2]) {
        v.arr.push(2);
        (v.arr[1] as { x: number }).x = 2;
        v.bin[0] = 9;
        v.at.setTime(0);
      }
      assert.deepEqual(await d.get("k"), make());
      assert.deepEqual(await l.get(0), make());
      assert.deepEqual((await t.get(1)).v, make());
    });

    test("objects, arrays, Uint8Array and Date coming out are copies (dict, list, table)", async ({ d, l, t }) => {
      const make = () => ({ arr: [1, { x: 1 }], bin: new Uint8Array([1, 2]), at: new Date(10) });
      await d.set("k", make());
      await l.append(make());
      await t.insert({ id: 1, v: make() });
      const outs = [
        await d.get("k"),
        [...await d.values()][0],
        await l.get(0),
        (await l.toArray())[0],
        (await all(l))[0],
        (await t.get(1)).v,
      ] as Any[];
      for (const v of outs) {
        v.arr.push(2);
        v.arr[1].x = 2;
        v.bin[0] = 9;
        v.at.setTime(0);
      }
      assert.deepEqual(await d.get("k"), make());
      assert.deepEqual(await l.get(0), make());
      assert.deepEqual((await t.get(1)).v, make());
    });

    test("a top-level Uint8Array or Date is copied in and out", async ({ l }) => {
      const bin = new Uint8Array([5, 6]);
      const at = new Date(100);
      await l.extend([bin, at]);
      bin[0] = 0;
      at.setTime(1);
      (await l.get(0) as Uint8Array)[1] = 0;
      (await l.get(1) as Date).setTime(2);
      assert.deepEqual(await l.toArray(), [new Uint8Array([5, 6]), new Date(100)]);
    });

    test("the Uint8Array handed out does not share its buffer with the one handed in", async ({ d }) => {
      const bin = new Uint8Array([1, 2, 3]);
      await d.set("b", bin);
      const out = await d.get("b") as Uint8Array;
      assert.notEqual(out.buffer, bin.buffer);
      assert.notEqual(out.buffer, (await d.get("b") as Uint8Array).buffer);
    });
  });
}
