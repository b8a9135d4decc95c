// Value rules (DESIGN §2) across every collection kind: what round-trips
// exactly, what is rejected with ValidationError (leaving state untouched),
// and that stored state is never shared with the caller.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { throwsErr } from "./fixtures/assert_errors.ts";
import { CyberDict, CyberList, Database, ValidationError } from "../mod.ts";
import { quote } from "../src/engine/value.ts";

const invalid = (fn: () => unknown, note = "") => throwsErr(fn, ValidationError, "VALIDATION", note);

/** The table surface, loosely typed. */
interface LooseTable {
  insert(row: unknown): unknown;
  upsert(row: unknown): unknown;
  patch(pk: unknown, partial: unknown): unknown;
  update(pk: unknown, row: unknown): unknown;
  insertMany(rows: unknown): unknown;
  // deno-lint-ignore no-explicit-any
  get(pk: unknown): any;
  // deno-lint-ignore no-explicit-any
  toArray(): any[];
  // deno-lint-ignore no-explicit-any
  rows(): Iterable<any>;
  delete(pk: unknown): boolean;
}

let db: Database;
let d: CyberDict;
let l: CyberList;
let t: LooseTable;

beforeEach(async () => {
  db = await Database.open();
  d = db.createDict("d");
  l = db.createList("l");
  t = db.createTable({
    name: "t",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "v", type: "Json", nullable: true },
    ],
  } as never) as unknown as LooseTable;
});
afterEach(async () => {
  await db.close();
});

// deno-lint-ignore no-explicit-any
type Any = any;

/** Every way a value goes in and comes back out. Each returns what was read back. */
const ROUND_TRIPS: Record<string, (v: unknown) => unknown> = {
  "dict set/get": (v) => {
    d.set("k", v as never);
    return d.get("k");
  },
  "dict values()": (v) => {
    d.clear();
    d.set(1, v as never);
    return [...d.values()][0];
  },
  "dict entries()": (v) => {
    d.clear();
    d.set(1, v as never);
    return [...d][0][1];
  },
  "dict pop": (v) => {
    d.set("p", v as never);
    return d.pop("p");
  },
  "dict popItem": (v) => {
    d.set("pi", v as never);
    return d.popItem()[1];
  },
  "dict update/toObject": (v) => {
    d.clear();
    d.update([["u", v as never]]);
    return (d.toObject() as Any).u;
  },
  "dict setDefault": (v) => {
    d.delete("sd");
    d.setDefault("sd", v as never);
    return d.get("sd");
  },
  "list append/get": (v) => {
    l.append(v as never);
    return l.get(-1);
  },
  "list insert/toArray": (v) => {
    l.clear();
    l.insert(0, v as never);
    return l.toArray()[0];
  },
  "list set/iterator": (v) => {
    l.clear();
    l.append(0);
    l.set(0, v as never);
    return [...l][0];
  },
  "list extend/slice": (v) => {
    l.clear();
    l.extend([v as never]);
    return l.slice(0, 1)[0];
  },
  "list pop": (v) => {
    l.append(v as never);
    return l.pop();
  },
  "table Json insert/get": (v) => {
    t.delete(1);
    t.insert({ id: 1, v });
    return t.get(1).v;
  },
  "table Json upsert/toArray": (v) => {
    t.upsert({ id: 1, v });
    return t.toArray()[0].v;
  },
  "table Json patch/rows": (v) => {
    t.upsert({ id: 1, v: null });
    t.patch(1, { v });
    return [...t.rows()][0].v;
  },
  "nested in an array": (v) => {
    d.set("arr", [1, v, 2] as never);
    return (d.get("arr") as unknown[])[1];
  },
  "nested in an object": (v) => {
    d.set("obj", { a: { b: v } } as never);
    return (d.get("obj") as Any).a.b;
  },
  "createDict init": (v) => {
    db.drop("cd");
    return db.createDict("cd", { x: v as never }).get("x");
  },
  "createList init": (v) => {
    db.drop("cl");
    return db.createList("cl", [v as never]).get(0);
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
  ["123n", 123n],
  ["-1n", -1n],
  ["-(2n**63n)", -(2n ** 63n)],
  ["2n**63n", 2n ** 63n],
  ["2n**64n-1n", 2n ** 64n - 1n],
  ["unicode string", "héllo 😀 日本 \u0000 \uFEFF"],
  ["string of one astral character", "😀"],
  ["empty Uint8Array", new Uint8Array(0)],
  ["Uint8Array 0..255", bytes256],
  ["Date(0)", new Date(0)],
  ["Date(-1)", new Date(-1)],
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
  ["object with numeric-like and special keys", { "1": 1, "": 2, constructor: 3, toString: 4, hasOwnProperty: 5 }],
];

describe("Values: round trips", () => {
  for (const [label, value] of ACCEPTED) {
    it(`${label} round-trips exactly through every path`, () => {
      for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
        const out = roundTrip(value);
        assert.deepEqual(out, value, `${label} via ${path}`);
        assert.equal(typeof out, typeof value, `${label} via ${path}: type`);
        if (typeof value === "number") assert.ok(Object.is(out, value), `${label} via ${path}: Object.is`);
      }
    });
  }

  it("bigints stay bigints and numbers stay numbers", () => {
    d.set("a", 5n).set("b", 5);
    assert.equal(typeof d.get("a"), "bigint");
    assert.equal(typeof d.get("b"), "number");
    l.extend([0n, 0]);
    assert.equal(typeof l.get(0), "bigint");
    assert.equal(typeof l.get(1), "number");
  });

  it("Uint8Array comes back as a plain Uint8Array (not a subclass such as Buffer)", () => {
    d.set("b", new Uint8Array([1]));
    l.append(new Uint8Array([2]));
    t.insert({ id: 1, v: new Uint8Array([3]) });
    for (const out of [d.get("b"), l.get(0), t.get(1).v]) {
      assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
    }
  });

  it("a Uint8Array view stores only the bytes it covers", () => {
    const buf = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
    const view = new Uint8Array(buf.buffer, 2, 3);
    d.set("v", view);
    l.append(view);
    assert.deepEqual(d.get("v"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(l.get(0), new Uint8Array([1, 2, 3]));
    buf.fill(0);
    assert.deepEqual(d.get("v"), new Uint8Array([1, 2, 3]));
  });

  it("returned objects are fresh plain objects and arrays", () => {
    d.set("o", { a: { b: [1] } });
    const o = d.get("o") as Any;
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.equal(Object.getPrototypeOf(o.a), Object.prototype);
    assert.equal(Object.getPrototypeOf(o.a.b), Array.prototype);
    assert.notEqual(d.get("o"), o);
  });

  it("null-prototype objects are accepted", () => {
    const np = Object.assign(Object.create(null), { a: 1, b: { c: 2 } });
    d.set("np", np);
    l.append(np);
    t.insert({ id: 1, v: np });
    for (const out of [d.get("np"), l.get(0), t.get(1).v] as Any[]) {
      assert.equal(out.a, 1);
      assert.equal(out.b.c, 2);
      assert.deepEqual(Object.keys(out), ["a", "b"]);
    }
  });

  it("an own \"__proto__\" property is kept as an own property everywhere and pollutes nothing (issue 9, item 11)", () => {
    const text = '{"__proto__":{"polluted":true},"a":1,"n":[{"__proto__":[2]}]}';
    for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
      const out = roundTrip(JSON.parse(text)) as Any;
      assert.equal(JSON.stringify(out), text, path);
      assert.equal(Object.getPrototypeOf(out), Object.prototype, path);
      assert.ok(Object.hasOwn(out, "__proto__"), path);
      assert.equal(out.polluted, undefined, `${path}: not a prototype`);
      assert.deepEqual(out, JSON.parse(text), path);
    }
    const stored = JSON.parse(text);
    d.set("o", stored);
    (d.get("o") as Any)["__proto__"].polluted = false;
    assert.equal((d.get("o") as Any)["__proto__"].polluted, true, "copied out, not shared");
    assert.equal(({} as Any).polluted, undefined);
    d.set("__proto__", 1);
    assert.equal(d.get("__proto__"), 1, "\"__proto__\" is still a fine dict key");
  });

  it("object key order is kept", () => {
    d.set("o", { b: 1, a: 2, c: { z: 1, y: 2 } });
    const o = d.get("o") as Any;
    assert.deepEqual(Object.keys(o), ["b", "a", "c"]);
    assert.deepEqual(Object.keys(o.c), ["z", "y"]);
  });

  it("nested undefined object properties are dropped (like JSON.stringify)", () => {
    const v = { a: 1, b: undefined, c: { d: undefined, e: [{ f: undefined, g: 2 }] } };
    for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
      const out = roundTrip(v) as Any;
      assert.deepEqual(out, { a: 1, c: { e: [{ g: 2 }] } }, path);
      assert.equal(Object.hasOwn(out, "b"), false, path);
      assert.equal(Object.hasOwn(out.c, "d"), false, path);
    }
  });

  it("the same object twice (not a cycle) is accepted and comes back as equal copies", () => {
    const shared = { x: [1] };
    const v = [shared, shared, { a: shared, b: shared }];
    d.set("s", v as never);
    l.append(v as never);
    assert.deepEqual(d.get("s"), [{ x: [1] }, { x: [1] }, { a: { x: [1] }, b: { x: [1] } }]);
    const out = d.get("s") as Any;
    out[0].x.push(2);
    assert.deepEqual(out[1], { x: [1] }, "the two copies are independent");
    assert.deepEqual(l.get(0), d.get("s"));
  });

  it("deep nesting (200 levels) round-trips", () => {
    let v: unknown = "leaf";
    for (let i = 0; i < 100; i++) v = i % 2 ? [v] : { n: v };
    for (let i = 0; i < 100; i++) v = [v, i];
    d.set("deep", v as never);
    l.append(v as never);
    assert.deepEqual(d.get("deep"), v);
    assert.deepEqual(l.get(0), v);
  });

  it("a very deeply nested value (100 000 levels) is stored or rejected with ValidationError, never a RangeError", () => {
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = [v];
    d.set("keep", 1);
    try {
      d.set("deep", v as never);
      assert.equal(d.has("deep"), true);
    } catch (e) {
      assert.ok(
        e instanceof ValidationError,
        `expected ValidationError, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
      );
      assert.deepEqual([...d.entries()], [["keep", 1]]);
    }
  });

  it("a large array (100 000 elements) round-trips", () => {
    const v = Array.from({ length: 100_000 }, (_, i) => (i % 3 ? i : `s${i}`));
    d.set("big", v);
    assert.deepEqual(d.get("big"), v);
  });

  it("a large bytes value (8 MiB) round-trips", () => {
    const v = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 31) & 255);
    d.set("big", v);
    l.append(v);
    assert.deepEqual(d.get("big"), v);
    assert.deepEqual(l.get(0), v);
  });
});

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
  ["an invalid Date", new Date(NaN), true],
  ["bigint 2n**64n", 2n ** 64n, true],
  ["bigint -(2n**63n)-1n", -(2n ** 63n) - 1n, true],
  ["a huge bigint", 10n ** 40n, true],
];

/** Ways to store a value; each must throw and leave state untouched. */
const REJECT_PATHS: Record<string, (v: unknown) => unknown> = {
  "dict.set (new key)": (v) => d.set("new", v as never),
  "dict.set (existing key)": (v) => d.set("keep", v as never),
  "dict.update": (v) => d.update([["keep", 2], ["new", v as never]]),
  "dict.update (object)": (v) => d.update({ keep: 2, nested: [v] } as never),
  "dict.setDefault": (v) => d.setDefault("new", v as never),
  "list.append": (v) => l.append(v as never),
  "list.set": (v) => l.set(0, v as never),
  "list.insert": (v) => l.insert(0, v as never),
  "list.extend": (v) => l.extend([2, v as never]),
  "table insert (Json)": (v) => t.insert({ id: 2, v }),
  "table upsert (Json, existing)": (v) => t.upsert({ id: 1, v }),
  "table update (Json)": (v) => t.update(1, { v }),
  "table patch (Json)": (v) => t.patch(1, { v }),
  "table insertMany (Json)": (v) => t.insertMany([{ id: 3, v: 1 }, { id: 4, v }]),
  "createDict init": (v) => db.createDict("newd", [["a", 1], ["b", v as never]]),
  "createList init": (v) => db.createList("newl", [1, v as never]),
  "nested in an array": (v) => d.set("new", [1, v] as never),
};
const NESTED_IN_OBJECT = (v: unknown) => d.set("new", { a: 1, b: v } as never);

function seed() {
  d.clear();
  d.set("keep", 1);
  l.clear();
  l.append(1);
  for (const r of t.toArray()) t.delete(r.id);
  t.insert({ id: 1, v: 1 });
}
function assertUntouched(note: string) {
  assert.deepEqual([...d.entries()], [["keep", 1]], `${note}: dict`);
  assert.deepEqual(l.toArray(), [1], `${note}: list`);
  assert.deepEqual(t.toArray(), [{ id: 1, v: 1 }], `${note}: table`);
  assert.deepEqual(db.collections().map((c) => c.name), ["d", "l", "t"], `${note}: collections`);
}

describe("Values: rejected with ValidationError, state untouched", () => {
  for (const [label, value, nestedToo] of REJECTED) {
    it(`${label} is rejected everywhere`, () => {
      seed();
      for (const [path, store] of Object.entries(REJECT_PATHS)) {
        if (path === "dict.update (object)" && !nestedToo) continue;
        // A row property set to undefined may mean "omitted" for a nullable column.
        if (path.startsWith("table") && value === undefined) continue;
        invalid(() => store(value), `${label} via ${path}`);
        assertUntouched(`${label} via ${path}`);
      }
      if (nestedToo) {
        invalid(() => NESTED_IN_OBJECT(value), `${label} nested in an object`);
        assertUntouched(`${label} nested in an object`);
      }
    });
  }

  it("the error message starts with a capital letter", () => {
    const e = invalid(() => d.set("a", (() => 1) as never));
    assert.match(e.message, /^[A-Z]/);
  });
});

describe("Values: stored state is never shared with the caller", () => {
  it("objects, arrays, Uint8Array and Date going in are copied (dict, list, table)", () => {
    const make = () => ({ arr: [1, { x: 1 }], bin: new Uint8Array([1, 2]), at: new Date(10) });
    const a = make();
    const b = make();
    const c = make();
    d.set("k", a);
    l.append(b);
    t.insert({ id: 1, v: c });
    for (const v of [a, b, c]) {
      v.arr.push(2);
      (v.arr[1] as { x: number }).x = 2;
      v.bin[0] = 9;
      v.at.setTime(0);
    }
    assert.deepEqual(d.get("k"), make());
    assert.deepEqual(l.get(0), make());
    assert.deepEqual(t.get(1).v, make());
  });

  it("objects, arrays, Uint8Array and Date coming out are copies (dict, list, table)", () => {
    const make = () => ({ arr: [1, { x: 1 }], bin: new Uint8Array([1, 2]), at: new Date(10) });
    d.set("k", make());
    l.append(make());
    t.insert({ id: 1, v: make() });
    const outs = [d.get("k"), [...d.values()][0], l.get(0), l.toArray()[0], [...l][0], t.get(1).v] as Any[];
    for (const v of outs) {
      v.arr.push(2);
      v.arr[1].x = 2;
      v.bin[0] = 9;
      v.at.setTime(0);
    }
    assert.deepEqual(d.get("k"), make());
    assert.deepEqual(l.get(0), make());
    assert.deepEqual(t.get(1).v, make());
  });

  it("a top-level Uint8Array or Date is copied in and out", () => {
    const bin = new Uint8Array([5, 6]);
    const at = new Date(100);
    l.extend([bin, at]);
    bin[0] = 0;
    at.setTime(1);
    (l.get(0) as Uint8Array)[1] = 0;
    (l.get(1) as Date).setTime(2);
    assert.deepEqual(l.toArray(), [new Uint8Array([5, 6]), new Date(100)]);
  });

  it("the Uint8Array handed out does not share its buffer with the one handed in", () => {
    const bin = new Uint8Array([1, 2, 3]);
    d.set("b", bin);
    const out = d.get("b") as Uint8Array;
    assert.notEqual(out.buffer, bin.buffer);
    assert.notEqual(out.buffer, (d.get("b") as Uint8Array).buffer);
  });
});

describe("Values: error messages stay short, whatever the value (issue 9, item 4)", () => {
  const HUGE = 1n << 33_554_432n; // a 4 MiB bigint: printing it in decimal takes seconds

  it("a 4 MiB bigint is refused everywhere with a short message naming its size", () => {
    seed();
    for (const v of [HUGE, -HUGE, { a: [HUGE] }]) {
      for (const [path, store] of Object.entries(REJECT_PATHS)) {
        const e = invalid(() => store(v), path);
        assert.ok(e.message.length < 300, `${path}: a message of ${e.message.length} chars`);
        assert.match(e.message, /bigint of more than 1024 bits.*64-bit range/, path);
      }
    }
    assertUntouched("huge bigints");
    const e = invalid(() => d.set("k", 2n ** 200n));
    assert.match(e.message, /201-bit bigint/);
    assert.match(invalid(() => d.set("k", 2n ** 64n)).message, /18446744073709551616n/);
  });

  it("quote() caps strings, bigints, arrays, objects, symbols and class names", () => {
    const named = { [`C${"x".repeat(10_000)}`]: class {} };
    const cases: [string, unknown][] = [
      ["a 10 MB string", "s".repeat(10_000_000)],
      ["a 4 MiB bigint", HUGE],
      ["a million-element array", new Array(1_000_000).fill("x".repeat(100))],
      ["an object with a huge value", { a: "v".repeat(1_000_000) }],
      ["an object with a huge key", { ["k".repeat(1_000_000)]: 1 }],
      ["an object with many keys", Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]))],
      ["an object holding a huge bigint", { n: HUGE }],
      ["a deep object", JSON.parse("[".repeat(5000) + "]".repeat(5000))],
      ["a symbol with a long description", Symbol("d".repeat(100_000))],
      ["an instance of a class with a long name", new (Object.values(named)[0])()],
      ["a function with a long name", Object.values(named)[0]],
    ];
    for (const [name, v] of cases) {
      const q = quote(v);
      assert.ok(q.length <= 70, `${name}: ${q.length} chars: ${q.slice(0, 100)}`);
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.ok(quote(cyclic).length <= 70);
    assert.equal(quote("a"), '"a"');
    assert.equal(quote({ a: [1, 2n] }), '{"a":[1,2n]}');
    assert.equal(quote(-0), "-0");
  });

  it("a path through huge keys is cut in the message", () => {
    const e = invalid(() => d.set("k", { ["k".repeat(1_000_000)]: { y: [undefined] } } as never));
    assert.ok(e.message.length < 300, `a message of ${e.message.length} chars`);
    assert.match(e.message, /\.y\[0\]/);
  });
});
