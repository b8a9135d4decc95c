// The list contract (DESIGN §3 CyberList, §8 RemoteList): negative indices,
// Python insert/pop semantics, deep equality for remove/indexOf/count,
// declarative stable sort with a total order across types, all-or-nothing
// extend, Array#slice semantics.
import assert from "node:assert/strict";
import { IndexOutOfRangeError, ValidationError, type Value, ValueNotFoundError } from "../../mod.ts";
import { all, type Contract, type Db, length, type List } from "./harness.ts";

export function listContract(c: Contract): void {
  /** A test with a fresh empty list "l". */
  const test = (name: string, body: (l: List, db: Db) => Promise<void>) =>
    c.test(name, async (db) => body(await db.createList("l"), db));
  const invalid = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, ValidationError, note);
  const outOfRange = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, IndexOutOfRangeError, note);
  const notFound = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, ValueNotFoundError, note);

  c.group("list: basics", () => {
    test("createList gives an empty list", async (l, db) => {
      assert.equal(await length(l), 0);
      assert.deepEqual(await l.toArray(), []);
      assert.equal(l.name, db.n("l"));
    });

    test("createList takes any iterable as init", async (_l, db) => {
      assert.deepEqual(await (await db.createList("a", [1, "x", null])).toArray(), [1, "x", null]);
      assert.deepEqual(await (await db.createList("b", new Set([3, 4]))).toArray(), [3, 4]);
      function* gen() {
        yield 1;
        yield 2;
      }
      assert.deepEqual(await (await db.createList("c", gen())).toArray(), [1, 2]);
    });

    test("append adds at the end; length counts elements", async (l) => {
      await l.append(1);
      await l.append("two");
      await l.append([3]);
      assert.equal(await length(l), 3);
      assert.deepEqual(await l.toArray(), [1, "two", [3]]);
    });

    test("get with positive and negative indices", async (l) => {
      await l.extend(["a", "b", "c"]);
      assert.equal(await l.get(0), "a");
      assert.equal(await l.get(2), "c");
      assert.equal(await l.get(-1), "c");
      assert.equal(await l.get(-3), "a");
    });

    test("get out of range throws IndexOutOfRangeError", async (l, db) => {
      await outOfRange(db, () => l.get(0), "empty list");
      await l.extend([1, 2, 3]);
      await outOfRange(db, () => l.get(3));
      await outOfRange(db, () => l.get(-4));
      await outOfRange(db, () => l.get(1_000_000));
    });

    test("get, set, pop and insert reject non-integer indices", async (l, db) => {
      await l.extend([1, 2, 3]);
      for (const i of [1.5, NaN, Infinity, -Infinity, "1", null, 1n, undefined]) {
        await invalid(db, () => l.get(i as never), `get ${String(i)}`);
        await invalid(db, () => l.set(i as never, 0), `set ${String(i)}`);
        if (i !== undefined) await invalid(db, () => l.pop(i as never), `pop ${String(i)}`);
        await invalid(db, () => l.insert(i as never, 0), `insert ${String(i)}`);
      }
      assert.deepEqual(await l.toArray(), [1, 2, 3]);
    });

    test("set replaces in place with positive and negative indices", async (l) => {
      await l.extend([1, 2, 3]);
      await l.set(0, "a");
      await l.set(-1, "c");
      assert.deepEqual(await l.toArray(), ["a", 2, "c"]);
      assert.equal(await length(l), 3);
    });

    test("set out of range throws and does not grow the list", async (l, db) => {
      await outOfRange(db, () => l.set(0, 1), "empty list");
      await l.extend([1, 2]);
      await outOfRange(db, () => l.set(2, 9));
      await outOfRange(db, () => l.set(-3, 9));
      assert.deepEqual(await l.toArray(), [1, 2]);
    });

    test("set with an invalid value throws and keeps the old element", async (l, db) => {
      await l.extend([1, 2]);
      await invalid(db, () => l.set(0, (() => 1) as never));
      await invalid(db, () => l.set(1, undefined as never));
      assert.deepEqual(await l.toArray(), [1, 2]);
    });

    test("clear empties the list, which stays usable", async (l) => {
      await l.extend([1, 2, 3]);
      await l.clear();
      assert.equal(await length(l), 0);
      assert.deepEqual(await l.toArray(), []);
      await l.append(4);
      assert.deepEqual(await l.toArray(), [4]);
    });

    test("for await and toJSON give the elements in order", async (l) => {
      await l.extend([1, { a: 2 }, [3]]);
      assert.deepEqual(await all(l), [1, { a: 2 }, [3]]);
      const seen: unknown[] = [];
      for await (const v of l) seen.push(v);
      assert.deepEqual(seen, [1, { a: 2 }, [3]]);
      assert.deepEqual(await l.toJSON(), [1, { a: 2 }, [3]]);
    });

    test("for await goes over many elements, in order", async (l) => {
      await l.extend(Array.from({ length: 50 }, (_, i) => i));
      assert.deepEqual(await all(l), Array.from({ length: 50 }, (_, i) => i));
    });

    test("toArray returns a plain array", async (l) => {
      await l.extend([1, 2]);
      const a = await l.toArray();
      assert.ok(Array.isArray(a));
      assert.equal(Object.getPrototypeOf(a), Array.prototype);
    });

    test("getList gives a handle to the same data", async (l, db) => {
      const other = await db.getList("l");
      await l.append(1);
      await other.append(2);
      assert.deepEqual(await l.toArray(), [1, 2]);
      assert.equal(await length(other), 2);
      await other.pop(0);
      assert.deepEqual(await l.toArray(), [2]);
    });
  });

  c.group("list: extend", () => {
    test("extend accepts arrays, Sets and generators", async (l) => {
      await l.extend([1, 2]);
      await l.extend(new Set([3]));
      await l.extend((function* () {
        yield 4;
        yield 5;
      })());
      await l.extend([]);
      assert.deepEqual(await l.toArray(), [1, 2, 3, 4, 5]);
    });

    test("extend is all-or-nothing on an invalid element", async (l, db) => {
      await l.extend([1]);
      await invalid(db, () => l.extend([2, 3, (() => 4) as never]));
      await invalid(db, () => l.extend([2, undefined as never]));
      assert.deepEqual(await l.toArray(), [1]);
    });

    test("extend is all-or-nothing when the iterable throws midway (the error comes out)", async (l) => {
      const boom = new Error("boom");
      await l.extend([1]);
      function* gen() {
        yield 2;
        throw boom;
      }
      await assert.rejects(async () => await l.extend(gen()), (e) => e === boom);
      assert.deepEqual(await l.toArray(), [1]);
    });

    test("extend rejects something that is not iterable", async (l, db) => {
      await invalid(db, () => l.extend(5 as never));
      await invalid(db, () => l.extend(null as never));
      await invalid(db, () => l.extend({ a: 1 } as never));
      assert.equal(await length(l), 0);
    });
  });

  c.group("list: insert", () => {
    test("insert puts the value before the given index", async (l) => {
      await l.extend(["a", "c"]);
      await l.insert(1, "b");
      await l.insert(0, "start");
      assert.deepEqual(await l.toArray(), ["start", "a", "b", "c"]);
    });

    test("insert at length (or past the end) appends", async (l) => {
      await l.extend([1, 2]);
      await l.insert(2, 3);
      await l.insert(100, 4);
      assert.deepEqual(await l.toArray(), [1, 2, 3, 4]);
    });

    test("insert: negative indices count from the end like Python", async (l) => {
      await l.extend([1, 2, 3]);
      await l.insert(-1, "x");
      assert.deepEqual(await l.toArray(), [1, 2, "x", 3]);
    });

    test("insert: a very negative index inserts at 0", async (l) => {
      await l.extend([1, 2]);
      await l.insert(-100, 0);
      assert.deepEqual(await l.toArray(), [0, 1, 2]);
    });

    test("insert into an empty list works with any index", async (l) => {
      await l.insert(5, "a");
      await l.insert(-5, "b");
      assert.deepEqual(await l.toArray(), ["b", "a"]);
    });

    test("insert of an invalid value is rejected and nothing moves", async (l, db) => {
      await l.extend([1, 2]);
      await invalid(db, () => l.insert(0, Symbol("x") as never));
      assert.deepEqual(await l.toArray(), [1, 2]);
    });
  });

  c.group("list: pop", () => {
    test("pop() removes and returns the last element", async (l) => {
      await l.extend([1, { a: 2 }]);
      assert.deepEqual(await l.pop(), { a: 2 });
      assert.equal(await l.pop(), 1);
      assert.equal(await length(l), 0);
    });

    test("pop(i) with positive and negative indices", async (l) => {
      await l.extend(["a", "b", "c", "d"]);
      assert.equal(await l.pop(0), "a");
      assert.equal(await l.pop(-2), "c");
      assert.equal(await l.pop(1), "d");
      assert.deepEqual(await l.toArray(), ["b"]);
    });

    test("pop returns falsy values", async (l) => {
      await l.extend([0, "", false, null]);
      assert.equal(await l.pop(), null);
      assert.equal(await l.pop(), false);
      assert.equal(await l.pop(), "");
      assert.equal(await l.pop(), 0);
    });

    test("pop on an empty list or out of range throws IndexOutOfRangeError", async (l, db) => {
      await outOfRange(db, () => l.pop());
      await outOfRange(db, () => l.pop(0));
      await l.extend([1, 2]);
      await outOfRange(db, () => l.pop(2));
      await outOfRange(db, () => l.pop(-3));
      assert.deepEqual(await l.toArray(), [1, 2]);
    });
  });

  c.group("list: remove, indexOf, count (deep equality)", () => {
    test("remove deletes the first deep-equal element only", async (l) => {
      await l.extend([{ a: 1 }, 2, { a: 1 }]);
      await l.remove({ a: 1 });
      assert.deepEqual(await l.toArray(), [2, { a: 1 }]);
    });

    test("remove with no match throws ValueNotFoundError and changes nothing", async (l, db) => {
      await l.extend([1, 2]);
      await notFound(db, () => l.remove(3));
      await notFound(db, () => l.remove("1"));
      assert.deepEqual(await l.toArray(), [1, 2]);
      await l.clear();
      await notFound(db, () => l.remove(1), "empty list");
    });

    test("indexOf returns the first deep-equal index or -1", async (l) => {
      await l.extend(["a", [1, 2], "a", [1, 2]]);
      assert.equal(await l.indexOf("a"), 0);
      assert.equal(await l.indexOf([1, 2]), 1);
      assert.equal(await l.indexOf([2, 1]), -1);
      assert.equal(await l.indexOf("z"), -1);
    });

    test("count counts deep-equal elements", async (l) => {
      await l.extend([[1], [1], { x: [1] }, [1, 1], 1]);
      assert.equal(await l.count([1]), 2);
      assert.equal(await l.count({ x: [1] }), 1);
      assert.equal(await l.count(1), 1);
      assert.equal(await l.count([]), 0);
    });

    test("NaN equals NaN", async (l) => {
      await l.extend([1, NaN, NaN]);
      assert.equal(await l.indexOf(NaN), 1);
      assert.equal(await l.count(NaN), 2);
      await l.remove(NaN);
      assert.equal(await length(l), 2);
      assert.equal(await l.count([NaN]), 0);
      await l.append([NaN]);
      assert.equal(await l.count([NaN]), 1);
    });

    test("0 equals -0", async (l) => {
      await l.extend([0, -0, 1]);
      assert.equal(await l.count(0), 2);
      assert.equal(await l.count(-0), 2);
      assert.equal(await l.indexOf(-0), 0);
    });

    test("Dates are equal by time", async (l) => {
      await l.extend([new Date(1), new Date(2)]);
      assert.equal(await l.indexOf(new Date(2)), 1);
      assert.equal(await l.indexOf(2), -1, "a Date is not a number");
      await l.remove(new Date(1));
      assert.equal(await length(l), 1);
    });

    test("Uint8Arrays are equal by bytes", async (l) => {
      await l.extend([new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]), new Uint8Array([])]);
      assert.equal(await l.indexOf(new Uint8Array([1, 2, 3])), 1);
      assert.equal(await l.indexOf(new Uint8Array([])), 2);
      assert.equal(await l.indexOf([1, 2]), -1, "a Uint8Array is not an array");
      assert.equal(await l.indexOf(new Uint8Array([1])), -1);
    });

    test("objects are equal with the same keys in any order, deep", async (l) => {
      await l.extend([{ a: 1, b: { c: [1, { d: 2, e: 3 }] } }]);
      assert.equal(await l.indexOf({ b: { c: [1, { e: 3, d: 2 }] }, a: 1 }), 0);
      assert.equal(await l.indexOf({ a: 1 }), -1, "missing key");
      assert.equal(await l.indexOf({ a: 1, b: { c: [1, { d: 2, e: 3 }] }, f: 0 }), -1, "extra key");
      assert.equal(await l.indexOf({ a: 1, b: { c: [1, { d: 2, e: 4 }] } }), -1, "deep difference");
    });

    test('1 and 1n are not equal; nor are 1 and "1", 1 and true, 0 and null', async (l, db) => {
      await l.extend([1n, "1", true, null, [], {}]);
      assert.equal(await l.indexOf(1), -1);
      assert.equal(await l.count(1), 0);
      await notFound(db, () => l.remove(1));
      assert.equal(await l.indexOf(1n), 0);
      assert.equal(await l.indexOf("1"), 1);
      assert.equal(await l.indexOf(0), -1);
      assert.equal(await l.indexOf(""), -1);
      assert.equal(await l.indexOf(false), -1);
      assert.equal(await l.indexOf([]), 4);
      assert.equal(await l.indexOf({}), 5);
    });

    test("an empty array is not an empty object", async (l) => {
      await l.extend([{}]);
      assert.equal(await l.indexOf([]), -1);
      await l.clear();
      await l.extend([[]]);
      assert.equal(await l.indexOf({}), -1);
    });
  });

  c.group("list: slice", () => {
    test("slice follows Array.prototype.slice semantics", async (l) => {
      const src = [0, 1, 2, 3, 4];
      await l.extend(src);
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
        [1, -1],
        [undefined, 2],
        [undefined, -1],
      ];
      for (const [s, e] of cases) {
        assert.deepEqual(await l.slice(s, e), src.slice(s, e), `slice(${s}, ${e})`);
      }
      assert.deepEqual(await l.slice(), src);
      assert.deepEqual(await l.slice(3), [3, 4]);
    });

    test("slice: non-integer and infinite bounds behave as in Array.prototype.slice", async (l) => {
      const src = [0, 1, 2, 3, 4];
      await l.extend(src);
      assert.deepEqual(await l.slice(0, Infinity), src.slice(0, Infinity));
      assert.deepEqual(await l.slice(-Infinity), src.slice(-Infinity));
      assert.deepEqual(await l.slice(1.5, 3.9), src.slice(1.5, 3.9));
    });

    test("slice returns a plain array of copies", async (l) => {
      await l.extend([{ a: [1] }, [2]]);
      const s = await l.slice();
      assert.ok(Array.isArray(s));
      (s[0] as { a: number[] }).a.push(9);
      (s[1] as number[]).push(9);
      s.push(3);
      assert.deepEqual(await l.toArray(), [{ a: [1] }, [2]]);
    });

    test("slice of an empty list is []", async (l) => {
      assert.deepEqual(await l.slice(), []);
      assert.deepEqual(await l.slice(-1), []);
    });
  });

  c.group("list: reverse", () => {
    test("reverse reverses in place", async (l) => {
      await l.extend([1, "b", [3], { d: 4 }]);
      await l.reverse();
      assert.deepEqual(await l.toArray(), [{ d: 4 }, [3], "b", 1]);
      await l.reverse();
      assert.deepEqual(await l.toArray(), [1, "b", [3], { d: 4 }]);
    });

    test("reverse of empty and one-element lists", async (l) => {
      await l.reverse();
      assert.deepEqual(await l.toArray(), []);
      await l.append(1);
      await l.reverse();
      assert.deepEqual(await l.toArray(), [1]);
    });
  });

  c.group("list: sort", () => {
    test("sort orders numbers numerically (not as strings)", async (l) => {
      await l.extend([10, 9, 1, 100, -5, 2.5]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [-5, 1, 2.5, 9, 10, 100]);
    });

    test("sort with an empty options object, or options left undefined", async (l) => {
      await l.extend([3, 1, 2]);
      await l.sort({});
      assert.deepEqual(await l.toArray(), [1, 2, 3]);
      await l.sort({ key: undefined, reverse: true });
      assert.deepEqual(await l.toArray(), [3, 2, 1]);
      await l.sort({ reverse: undefined });
      assert.deepEqual(await l.toArray(), [1, 2, 3]);
    });

    test("sort orders strings by UTF-16 code units", async (l) => {
      await l.extend(["b", "B", "a", "é", "\uFFFF", "😀", "", "aa"]);
      await l.sort();
      assert.deepEqual(await l.toArray(), ["", "B", "a", "aa", "b", "é", "😀", "\uFFFF"]);
    });

    test("sort compares bigints and numbers numerically, exactly", async (l) => {
      await l.extend([3, 2n, 2.5, 1n, -1, -(2n ** 63n), 2n ** 64n - 1n, 1e300]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [-(2n ** 63n), -1, 1n, 2n, 2.5, 3, 2n ** 64n - 1n, 1e300]);
      await l.clear();
      await l.extend([2n ** 53n + 1n, 2 ** 53]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [2 ** 53, 2n ** 53n + 1n], "2n**53n+1n > 2**53");
    });

    test("sort puts NaN after every number and before strings", async (l) => {
      await l.extend(["a", NaN, Infinity, -Infinity, 0]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [-Infinity, 0, Infinity, NaN, "a"]);
    });

    test("sort orders types null < boolean < number < string < Uint8Array < Date < array < object", async (l) => {
      await l.extend([{ a: 1 }, [1], new Date(5), new Uint8Array([1]), "a", 2, 1n, true, false, null]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [null, false, true, 1n, 2, "a", new Uint8Array([1]), new Date(5), [1], {
        a: 1,
      }]);
    });

    test("sort orders Uint8Arrays bytewise and Dates by time", async (l) => {
      const b = (...x: number[]) => new Uint8Array(x);
      await l.extend([b(2), b(1, 2, 0), b(1, 2), b(), b(1, 3), b(255)]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [b(), b(1, 2), b(1, 2, 0), b(1, 3), b(2), b(255)]);
      await l.clear();
      await l.extend([new Date(3), new Date(-1), new Date(2)]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [new Date(-1), new Date(2), new Date(3)]);
    });

    test("sort is stable: equal elements keep their order (0 and -0, 1 and 1n)", async (l) => {
      await l.extend([0, -0, 1n, 1, -0, 0]);
      await l.sort();
      const a = await l.toArray();
      assert.ok(Object.is(a[0], 0) && Object.is(a[1], -0) && Object.is(a[2], -0) && Object.is(a[3], 0));
      assert.equal(a[4], 1n);
      assert.equal(a[5], 1);
    });

    test("sort with reverse sorts descending", async (l) => {
      await l.extend([1, 3, 2, "a", null]);
      await l.sort({ reverse: true });
      assert.deepEqual(await l.toArray(), ["a", 3, 2, 1, null]);
    });

    test("sort with reverse keeps equal elements in their original order (like Python)", async (l) => {
      await l.extend([1, 1n, 2, 2n]);
      await l.sort({ reverse: true });
      assert.deepEqual(await l.toArray(), [2, 2n, 1, 1n]);
    });

    test("sort orders objects by a key field, stably", async (l) => {
      await l.extend([{ k: 2, id: 1 }, { k: 1, id: 2 }, { k: 2, id: 3 }, { k: 1, id: 4 }]);
      await l.sort({ key: "k" });
      assert.deepEqual((await l.toArray()).map((r) => (r as { id: number }).id), [2, 4, 1, 3]);
    });

    test("sort: a missing key field sorts as null", async (l) => {
      await l.extend([{ k: 1, id: "a" }, { id: "b" }, { k: null, id: "c" }, { k: 0, id: "d" }, { k: false, id: "e" }]);
      await l.sort({ key: "k" });
      assert.deepEqual((await l.toArray()).map((r) => (r as { id: string }).id), ["b", "c", "e", "d", "a"]);
    });

    test("sort: key field values use the same total order across types", async (l) => {
      await l.extend([{ k: "b" }, { k: 1 }, { k: [0] }, { k: null }, { k: "a" }]);
      await l.sort({ key: "k" });
      assert.deepEqual(await l.toArray(), [{ k: null }, { k: 1 }, { k: "a" }, { k: "b" }, { k: [0] }]);
    });

    test("sort by key with reverse: descending, equal keys keep their original order", async (l) => {
      await l.extend([{ k: 1, id: "a" }, { k: 2, id: "b" }, { k: 1, id: "c" }, { k: 2, id: "d" }]);
      await l.sort({ key: "k", reverse: true });
      assert.deepEqual((await l.toArray()).map((r) => (r as { id: string }).id), ["b", "d", "a", "c"]);
    });

    test("sort by key with a non-object element is rejected and the list is unchanged", async (l, db) => {
      await l.extend([{ k: 2 }, 5, { k: 1 }]);
      await invalid(db, () => l.sort({ key: "k" }));
      assert.deepEqual(await l.toArray(), [{ k: 2 }, 5, { k: 1 }]);
      await l.clear();
      await l.extend([{ k: 2 }, [1], { k: 1 }]);
      await invalid(db, () => l.sort({ key: "k" }), "an array is not a plain object");
      assert.deepEqual(await l.toArray(), [{ k: 2 }, [1], { k: 1 }]);
    });

    test("sort by a key that is not a string, or by an unknown option, is rejected", async (l, db) => {
      await l.extend([{ k: 2 }, { k: 1 }]);
      await invalid(db, () => l.sort({ key: 5 as never }));
      await invalid(db, () => l.sort({ key: ((x: unknown) => x) as never }));
      await invalid(db, () => l.sort({ reverse: "yes" as never }));
      await invalid(db, () => l.sort({ by: "k" } as never));
      await invalid(db, () => l.sort([] as never));
      assert.deepEqual(await l.toArray(), [{ k: 2 }, { k: 1 }]);
    });

    test("sorting an empty list is fine", async (l) => {
      await l.sort();
      await l.sort({ key: "k" });
      assert.deepEqual(await l.toArray(), []);
    });
  });

  c.group("list: isolation of stored state", () => {
    test("mutating a value after append/insert/set/extend does not change the list", async (l) => {
      const a = { x: [1] };
      const b = [1];
      await l.append(a);
      await l.insert(0, b);
      await l.extend([a, b]);
      await l.set(2, a);
      a.x.push(2);
      b.push(2);
      assert.deepEqual(await l.toArray(), [[1], { x: [1] }, { x: [1] }, [1]]);
    });

    test("values handed out by get, toArray, for await and pop are copies", async (l) => {
      await l.extend([{ x: [1] }, new Uint8Array([1]), new Date(1), { y: 1 }]);
      (await l.get(0) as { x: number[] }).x.push(2);
      (await l.get(1) as Uint8Array)[0] = 9;
      (await l.get(2) as Date).setTime(9);
      const arr = await l.toArray();
      (arr[0] as { x: number[] }).x.push(3);
      (arr[1] as Uint8Array)[0] = 8;
      for await (const v of l) if (v instanceof Date) v.setTime(8);
      for await (const v of l) if (Array.isArray(v)) v.push(0);
      for await (const v of l) if (v && typeof v === "object" && "x" in v) (v.x as number[]).push(4);
      assert.deepEqual(await l.toArray(), [{ x: [1] }, new Uint8Array([1]), new Date(1), { y: 1 }]);
      assert.notEqual(await l.get(0), await l.get(0));
      const popped = await l.pop(0) as { x: number[] };
      popped.x.push(5);
      await l.insert(0, { x: [1] });
      assert.deepEqual(await l.get(0), { x: [1] });
    });

    test("createList init objects are copied", async (_l, db) => {
      const a = { x: 1 };
      const l2 = await db.createList<Value>("l2", [a]);
      a.x = 2;
      assert.deepEqual(await l2.toArray(), [{ x: 1 }]);
    });
  });
}
