// CyberList, embedded: every method of DESIGN §3 — negative indices, Python
// insert/pop semantics, deep equality for remove/indexOf/count, declarative
// stable sort with a total order across types, all-or-nothing extend.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { throwsErr } from "./fixtures/assert_errors.ts";
import {
  CyberList,
  Database,
  IndexOutOfRangeError,
  ValidationError,
  ValueNotFoundError,
} from "../mod.ts";

const invalid = (fn: () => unknown, note = "") => throwsErr(fn, ValidationError, "VALIDATION", note);
const outOfRange = (fn: () => unknown, note = "") =>
  throwsErr(fn, IndexOutOfRangeError, "INDEX_OUT_OF_RANGE", note);
const notFound = (fn: () => unknown, note = "") =>
  throwsErr(fn, ValueNotFoundError, "VALUE_NOT_FOUND", note);

let db: Database;
let l: CyberList;

beforeEach(async () => {
  db = await Database.open();
  l = db.createList("l");
});
afterEach(async () => {
  await db.close();
});

describe("CyberList: basics", () => {
  it("createList returns an empty CyberList", () => {
    assert.ok(l instanceof CyberList);
    assert.equal(l.length, 0);
    assert.deepEqual(l.toArray(), []);
  });

  it("createList takes any iterable as init", () => {
    assert.deepEqual(db.createList("a", [1, "x", null]).toArray(), [1, "x", null]);
    assert.deepEqual(db.createList("b", new Set([3, 4])).toArray(), [3, 4]);
    function* gen() {
      yield 1;
      yield 2;
    }
    assert.deepEqual(db.createList("c", gen()).toArray(), [1, 2]);
  });

  it("append adds at the end; length counts elements", () => {
    l.append(1);
    l.append("two");
    l.append([3]);
    assert.equal(l.length, 3);
    assert.deepEqual(l.toArray(), [1, "two", [3]]);
  });

  it("get with positive and negative indices", () => {
    l.extend(["a", "b", "c"]);
    assert.equal(l.get(0), "a");
    assert.equal(l.get(2), "c");
    assert.equal(l.get(-1), "c");
    assert.equal(l.get(-3), "a");
  });

  it("get out of range throws IndexOutOfRangeError", () => {
    outOfRange(() => l.get(0), "empty list");
    l.extend([1, 2, 3]);
    outOfRange(() => l.get(3));
    outOfRange(() => l.get(-4));
    outOfRange(() => l.get(1_000_000));
  });

  it("get, set, pop and insert reject non-integer indices", () => {
    l.extend([1, 2, 3]);
    for (const i of [1.5, NaN, Infinity, -Infinity, "1", null, 1n, undefined]) {
      invalid(() => l.get(i as never), `get ${String(i)}`);
      invalid(() => l.set(i as never, 0), `set ${String(i)}`);
      if (i !== undefined) invalid(() => l.pop(i as never), `pop ${String(i)}`);
      invalid(() => l.insert(i as never, 0), `insert ${String(i)}`);
    }
    assert.deepEqual(l.toArray(), [1, 2, 3]);
  });

  it("set replaces in place with positive and negative indices", () => {
    l.extend([1, 2, 3]);
    l.set(0, "a");
    l.set(-1, "c");
    assert.deepEqual(l.toArray(), ["a", 2, "c"]);
    assert.equal(l.length, 3);
  });

  it("set out of range throws and does not grow the list", () => {
    outOfRange(() => l.set(0, 1), "empty list");
    l.extend([1, 2]);
    outOfRange(() => l.set(2, 9));
    outOfRange(() => l.set(-3, 9));
    assert.deepEqual(l.toArray(), [1, 2]);
  });

  it("set with an invalid value throws and keeps the old element", () => {
    l.extend([1, 2]);
    invalid(() => l.set(0, (() => 1) as never));
    invalid(() => l.set(1, undefined as never));
    assert.deepEqual(l.toArray(), [1, 2]);
  });

  it("clear empties the list, which stays usable", () => {
    l.extend([1, 2, 3]);
    l.clear();
    assert.equal(l.length, 0);
    assert.deepEqual(l.toArray(), []);
    l.append(4);
    assert.deepEqual(l.toArray(), [4]);
  });

  it("the iterator and toJSON give the elements in order", () => {
    l.extend([1, { a: 2 }, [3]]);
    assert.deepEqual([...l], [1, { a: 2 }, [3]]);
    const seen: unknown[] = [];
    for (const v of l) seen.push(v);
    assert.deepEqual(seen, [1, { a: 2 }, [3]]);
    assert.deepEqual(l.toJSON(), [1, { a: 2 }, [3]]);
    assert.equal(JSON.stringify(l), '[1,{"a":2},[3]]');
  });

  it("toArray returns a plain array", () => {
    l.extend([1, 2]);
    const a = l.toArray();
    assert.ok(Array.isArray(a));
    assert.equal(Object.getPrototypeOf(a), Array.prototype);
  });

  it("getList returns a handle to the same data", () => {
    const other = db.getList("l");
    assert.ok(other instanceof CyberList);
    l.append(1);
    other.append(2);
    assert.deepEqual(l.toArray(), [1, 2]);
    assert.equal(other.length, 2);
    other.pop(0);
    assert.deepEqual(l.toArray(), [2]);
  });
});

describe("CyberList: extend", () => {
  it("accepts arrays, Sets and generators", () => {
    l.extend([1, 2]);
    l.extend(new Set([3]));
    l.extend((function* () {
      yield 4;
      yield 5;
    })());
    l.extend([]);
    assert.deepEqual(l.toArray(), [1, 2, 3, 4, 5]);
  });

  it("is all-or-nothing on an invalid element", () => {
    l.extend([1]);
    invalid(() => l.extend([2, 3, (() => 4) as never]));
    invalid(() => l.extend([2, undefined as never]));
    assert.deepEqual(l.toArray(), [1]);
  });

  it("is all-or-nothing when the iterable throws midway (the error comes out)", () => {
    const boom = new Error("boom");
    l.extend([1]);
    function* gen() {
      yield 2;
      throw boom;
    }
    assert.throws(() => l.extend(gen()), (e) => e === boom);
    assert.deepEqual(l.toArray(), [1]);
  });

  it("rejects something that is not iterable", () => {
    invalid(() => l.extend(5 as never));
    invalid(() => l.extend(null as never));
    invalid(() => l.extend({ a: 1 } as never));
    assert.equal(l.length, 0);
  });

  it("extending a list with its own handle doubles it (snapshot of the elements)", () => {
    l.extend([1, 2]);
    l.extend(l);
    assert.deepEqual(l.toArray(), [1, 2, 1, 2]);
  });
});

describe("CyberList: insert", () => {
  it("inserts before the given index", () => {
    l.extend(["a", "c"]);
    l.insert(1, "b");
    l.insert(0, "start");
    assert.deepEqual(l.toArray(), ["start", "a", "b", "c"]);
  });

  it("insert at length (or past the end) appends", () => {
    l.extend([1, 2]);
    l.insert(2, 3);
    l.insert(100, 4);
    assert.deepEqual(l.toArray(), [1, 2, 3, 4]);
  });

  it("negative indices count from the end like Python", () => {
    l.extend([1, 2, 3]);
    l.insert(-1, "x");
    assert.deepEqual(l.toArray(), [1, 2, "x", 3]);
  });

  it("a very negative index inserts at 0", () => {
    l.extend([1, 2]);
    l.insert(-100, 0);
    assert.deepEqual(l.toArray(), [0, 1, 2]);
  });

  it("insert into an empty list works with any index", () => {
    l.insert(5, "a");
    l.insert(-5, "b");
    assert.deepEqual(l.toArray(), ["b", "a"]);
  });

  it("an invalid value is rejected and nothing moves", () => {
    l.extend([1, 2]);
    invalid(() => l.insert(0, Symbol("x") as never));
    assert.deepEqual(l.toArray(), [1, 2]);
  });
});

describe("CyberList: pop", () => {
  it("pop() removes and returns the last element", () => {
    l.extend([1, { a: 2 }]);
    assert.deepEqual(l.pop(), { a: 2 });
    assert.equal(l.pop(), 1);
    assert.equal(l.length, 0);
  });

  it("pop(i) with positive and negative indices", () => {
    l.extend(["a", "b", "c", "d"]);
    assert.equal(l.pop(0), "a");
    assert.equal(l.pop(-2), "c");
    assert.equal(l.pop(1), "d");
    assert.deepEqual(l.toArray(), ["b"]);
  });

  it("pop returns falsy values", () => {
    l.extend([0, "", false, null]);
    assert.equal(l.pop(), null);
    assert.equal(l.pop(), false);
    assert.equal(l.pop(), "");
    assert.equal(l.pop(), 0);
  });

  it("pop on an empty list or out of range throws IndexOutOfRangeError", () => {
    outOfRange(() => l.pop());
    outOfRange(() => l.pop(0));
    l.extend([1, 2]);
    outOfRange(() => l.pop(2));
    outOfRange(() => l.pop(-3));
    assert.deepEqual(l.toArray(), [1, 2]);
  });
});

describe("CyberList: remove, indexOf, count (deep equality)", () => {
  it("remove deletes the first deep-equal element only", () => {
    l.extend([{ a: 1 }, 2, { a: 1 }]);
    l.remove({ a: 1 });
    assert.deepEqual(l.toArray(), [2, { a: 1 }]);
  });

  it("remove with no match throws ValueNotFoundError and changes nothing", () => {
    l.extend([1, 2]);
    notFound(() => l.remove(3));
    notFound(() => l.remove("1"));
    assert.deepEqual(l.toArray(), [1, 2]);
    l.clear();
    notFound(() => l.remove(1), "empty list");
  });

  it("indexOf returns the first deep-equal index or -1", () => {
    l.extend(["a", [1, 2], "a", [1, 2]]);
    assert.equal(l.indexOf("a"), 0);
    assert.equal(l.indexOf([1, 2]), 1);
    assert.equal(l.indexOf([2, 1]), -1);
    assert.equal(l.indexOf("z"), -1);
  });

  it("count counts deep-equal elements", () => {
    l.extend([[1], [1], { x: [1] }, [1, 1], 1]);
    assert.equal(l.count([1]), 2);
    assert.equal(l.count({ x: [1] }), 1);
    assert.equal(l.count(1), 1);
    assert.equal(l.count([]), 0);
  });

  it("NaN equals NaN", () => {
    l.extend([1, NaN, NaN]);
    assert.equal(l.indexOf(NaN), 1);
    assert.equal(l.count(NaN), 2);
    l.remove(NaN);
    assert.equal(l.length, 2);
    assert.equal(l.count([NaN]), 0);
    l.append([NaN]);
    assert.equal(l.count([NaN]), 1);
  });

  it("0 equals -0", () => {
    l.extend([0, -0, 1]);
    assert.equal(l.count(0), 2);
    assert.equal(l.count(-0), 2);
    assert.equal(l.indexOf(-0), 0);
  });

  it("Dates are equal by time", () => {
    l.extend([new Date(1), new Date(2)]);
    assert.equal(l.indexOf(new Date(2)), 1);
    assert.equal(l.indexOf(2), -1, "a Date is not a number");
    l.remove(new Date(1));
    assert.equal(l.length, 1);
  });

  it("Uint8Arrays are equal by bytes", () => {
    l.extend([new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]), new Uint8Array([])]);
    assert.equal(l.indexOf(new Uint8Array([1, 2, 3])), 1);
    assert.equal(l.indexOf(new Uint8Array([])), 2);
    assert.equal(l.indexOf([1, 2]), -1, "a Uint8Array is not an array");
    assert.equal(l.indexOf(new Uint8Array([1])), -1);
  });

  it("objects are equal with the same keys in any order, deep", () => {
    l.extend([{ a: 1, b: { c: [1, { d: 2, e: 3 }] } }]);
    assert.equal(l.indexOf({ b: { c: [1, { e: 3, d: 2 }] }, a: 1 }), 0);
    assert.equal(l.indexOf({ a: 1 }), -1, "missing key");
    assert.equal(l.indexOf({ a: 1, b: { c: [1, { d: 2, e: 3 }] }, f: 0 }), -1, "extra key");
    assert.equal(l.indexOf({ a: 1, b: { c: [1, { d: 2, e: 4 }] } }), -1, "deep difference");
  });

  it("1 and 1n are not equal; nor are 1 and \"1\", 1 and true, 0 and null", () => {
    l.extend([1n, "1", true, null, [], {}]);
    assert.equal(l.indexOf(1), -1);
    assert.equal(l.count(1), 0);
    notFound(() => l.remove(1));
    assert.equal(l.indexOf(1n), 0);
    assert.equal(l.indexOf("1"), 1);
    assert.equal(l.indexOf(0), -1);
    assert.equal(l.indexOf(""), -1);
    assert.equal(l.indexOf(false), -1);
    assert.equal(l.indexOf([]), 4);
    assert.equal(l.indexOf({}), 5);
  });

  it("an empty array is not an empty object", () => {
    l.extend([{}]);
    assert.equal(l.indexOf([]), -1);
    l.clear();
    l.extend([[]]);
    assert.equal(l.indexOf({}), -1);
  });
});

describe("CyberList: slice", () => {
  it("follows Array.prototype.slice semantics", () => {
    const src = [0, 1, 2, 3, 4];
    l.extend(src);
    const cases: Array<[number?, number?]> = [
      [],
      [2],
      [1, 3],
      [-2],
      [-3, -1],
      [3, 1],
      [0, 100],
      [100],
      [-100, 2],
      [2, -100],
      [0, 0],
    ];
    for (const [s, e] of cases) {
      assert.deepEqual(l.slice(s, e), src.slice(s, e), `slice(${s}, ${e})`);
    }
    assert.deepEqual(l.slice(), src);
    assert.deepEqual(l.slice(3), [3, 4]);
  });

  it("non-integer and infinite bounds behave as in Array.prototype.slice", () => {
    const src = [0, 1, 2, 3, 4];
    l.extend(src);
    assert.deepEqual(l.slice(0, Infinity), src.slice(0, Infinity));
    assert.deepEqual(l.slice(-Infinity), src.slice(-Infinity));
    assert.deepEqual(l.slice(1.5, 3.9), src.slice(1.5, 3.9));
  });

  it("returns a plain array of copies", () => {
    l.extend([{ a: [1] }, [2]]);
    const s = l.slice();
    assert.ok(Array.isArray(s));
    (s[0] as { a: number[] }).a.push(9);
    (s[1] as number[]).push(9);
    s.push(3);
    assert.deepEqual(l.toArray(), [{ a: [1] }, [2]]);
  });

  it("slice of an empty list is []", () => {
    assert.deepEqual(l.slice(), []);
    assert.deepEqual(l.slice(-1), []);
  });
});

describe("CyberList: reverse", () => {
  it("reverses in place", () => {
    l.extend([1, "b", [3], { d: 4 }]);
    l.reverse();
    assert.deepEqual(l.toArray(), [{ d: 4 }, [3], "b", 1]);
    l.reverse();
    assert.deepEqual(l.toArray(), [1, "b", [3], { d: 4 }]);
  });

  it("reverse of empty and one-element lists", () => {
    l.reverse();
    assert.deepEqual(l.toArray(), []);
    l.append(1);
    l.reverse();
    assert.deepEqual(l.toArray(), [1]);
  });
});

describe("CyberList: sort", () => {
  it("sorts numbers numerically (not as strings)", () => {
    l.extend([10, 9, 1, 100, -5, 2.5]);
    l.sort();
    assert.deepEqual(l.toArray(), [-5, 1, 2.5, 9, 10, 100]);
  });

  it("sorts with an empty options object too", () => {
    l.extend([3, 1, 2]);
    l.sort({});
    assert.deepEqual(l.toArray(), [1, 2, 3]);
  });

  it("sorts strings by UTF-16 code units", () => {
    l.extend(["b", "B", "a", "é", "\uFFFF", "😀", "", "aa"]);
    l.sort();
    assert.deepEqual(l.toArray(), ["", "B", "a", "aa", "b", "é", "😀", "\uFFFF"]);
  });

  it("compares bigints and numbers numerically, exactly", () => {
    l.extend([3, 2n, 2.5, 1n, -1, -(2n ** 63n), 2n ** 64n - 1n, 1e300]);
    l.sort();
    assert.deepEqual(l.toArray(), [-(2n ** 63n), -1, 1n, 2n, 2.5, 3, 2n ** 64n - 1n, 1e300]);
    l.clear();
    l.extend([2n ** 53n + 1n, 2 ** 53]);
    l.sort();
    assert.deepEqual(l.toArray(), [2 ** 53, 2n ** 53n + 1n], "2n**53n+1n > 2**53");
  });

  it("puts NaN after every number and before strings", () => {
    l.extend(["a", NaN, Infinity, -Infinity, 0]);
    l.sort();
    assert.deepEqual(l.toArray(), [-Infinity, 0, Infinity, NaN, "a"]);
  });

  it("orders types null < boolean < number < string < Uint8Array < Date < array < object", () => {
    l.extend([
      { a: 1 },
      [1],
      new Date(5),
      new Uint8Array([1]),
      "a",
      2,
      1n,
      true,
      false,
      null,
    ]);
    l.sort();
    assert.deepEqual(l.toArray(), [
      null,
      false,
      true,
      1n,
      2,
      "a",
      new Uint8Array([1]),
      new Date(5),
      [1],
      { a: 1 },
    ]);
  });

  it("orders Uint8Arrays bytewise and Dates by time", () => {
    const b = (...x: number[]) => new Uint8Array(x);
    l.extend([b(2), b(1, 2, 0), b(1, 2), b(), b(1, 3), b(255)]);
    l.sort();
    assert.deepEqual(l.toArray(), [b(), b(1, 2), b(1, 2, 0), b(1, 3), b(2), b(255)]);
    l.clear();
    l.extend([new Date(3), new Date(-1), new Date(2)]);
    l.sort();
    assert.deepEqual(l.toArray(), [new Date(-1), new Date(2), new Date(3)]);
  });

  it("is stable: equal elements keep their order (0 and -0, 1 and 1n)", () => {
    l.extend([0, -0, 1n, 1, -0, 0]);
    l.sort();
    const a = l.toArray();
    assert.ok(Object.is(a[0], 0) && Object.is(a[1], -0) && Object.is(a[2], -0) && Object.is(a[3], 0));
    assert.equal(a[4], 1n);
    assert.equal(a[5], 1);
  });

  it("reverse sorts descending", () => {
    l.extend([1, 3, 2, "a", null]);
    l.sort({ reverse: true });
    assert.deepEqual(l.toArray(), ["a", 3, 2, 1, null]);
  });

  it("reverse keeps equal elements in their original order (like Python)", () => {
    l.extend([1, 1n, 2, 2n]);
    l.sort({ reverse: true });
    const a = l.toArray();
    assert.deepEqual(a, [2, 2n, 1, 1n]);
  });

  it("sorts objects by a key field, stably", () => {
    l.extend([
      { k: 2, id: 1 },
      { k: 1, id: 2 },
      { k: 2, id: 3 },
      { k: 1, id: 4 },
    ]);
    l.sort({ key: "k" });
    assert.deepEqual(l.toArray().map((r) => (r as { id: number }).id), [2, 4, 1, 3]);
  });

  it("a missing key field sorts as null", () => {
    l.extend([{ k: 1, id: "a" }, { id: "b" }, { k: null, id: "c" }, { k: 0, id: "d" }, { k: false, id: "e" }]);
    l.sort({ key: "k" });
    assert.deepEqual(l.toArray().map((r) => (r as { id: string }).id), ["b", "c", "e", "d", "a"]);
  });

  it("key field values use the same total order across types", () => {
    l.extend([{ k: "b" }, { k: 1 }, { k: [0] }, { k: null }, { k: "a" }]);
    l.sort({ key: "k" });
    assert.deepEqual(l.toArray(), [{ k: null }, { k: 1 }, { k: "a" }, { k: "b" }, { k: [0] }]);
  });

  it("key with reverse: descending, equal keys keep their original order", () => {
    l.extend([{ k: 1, id: "a" }, { k: 2, id: "b" }, { k: 1, id: "c" }, { k: 2, id: "d" }]);
    l.sort({ key: "k", reverse: true });
    assert.deepEqual(l.toArray().map((r) => (r as { id: string }).id), ["b", "d", "a", "c"]);
  });

  it("key with a non-object element is rejected and the list is unchanged", () => {
    l.extend([{ k: 2 }, 5, { k: 1 }]);
    invalid(() => l.sort({ key: "k" }));
    assert.deepEqual(l.toArray(), [{ k: 2 }, 5, { k: 1 }]);
    l.clear();
    l.extend([{ k: 2 }, [1], { k: 1 }]);
    invalid(() => l.sort({ key: "k" }), "an array is not a plain object");
    assert.deepEqual(l.toArray(), [{ k: 2 }, [1], { k: 1 }]);
  });

  it("a key that is not a string is rejected", () => {
    l.extend([{ k: 2 }, { k: 1 }]);
    invalid(() => l.sort({ key: 5 as never }));
    invalid(() => l.sort({ key: ((x: unknown) => x) as never }));
    assert.deepEqual(l.toArray(), [{ k: 2 }, { k: 1 }]);
  });

  it("sorting an empty list is fine", () => {
    l.sort();
    l.sort({ key: "k" });
    assert.deepEqual(l.toArray(), []);
  });
});

describe("CyberList: isolation of stored state", () => {
  it("mutating a value after append/insert/set/extend does not change the list", () => {
    const a = { x: [1] };
    const b = [1];
    l.append(a);
    l.insert(0, b);
    l.extend([a, b]);
    l.set(2, a);
    a.x.push(2);
    b.push(2);
    assert.deepEqual(l.toArray(), [[1], { x: [1] }, { x: [1] }, [1]]);
  });

  it("values handed out by get, toArray, the iterator and pop are copies", () => {
    l.extend([{ x: [1] }, new Uint8Array([1]), new Date(1), { y: 1 }]);
    (l.get(0) as { x: number[] }).x.push(2);
    (l.get(1) as Uint8Array)[0] = 9;
    (l.get(2) as Date).setTime(9);
    const arr = l.toArray();
    (arr[0] as { x: number[] }).x.push(3);
    (arr[1] as Uint8Array)[0] = 8;
    for (const v of l) if (v instanceof Date) v.setTime(8);
    for (const v of l) if (Array.isArray(v)) v.push(0);
    for (const v of l) if (v && typeof v === "object" && "x" in v) (v.x as number[]).push(4);
    assert.deepEqual(l.toArray(), [{ x: [1] }, new Uint8Array([1]), new Date(1), { y: 1 }]);
    assert.notEqual(l.get(0), l.get(0));
  });

  it("createList init objects are copied", () => {
    const a = { x: 1 };
    const l2 = db.createList("l2", [a]);
    a.x = 2;
    assert.deepEqual(l2.toArray(), [{ x: 1 }]);
  });
});
