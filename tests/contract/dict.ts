// The dict contract (DESIGN §3 CyberDict, §8 RemoteDict): every method, plus
// the edge cases the Python ancestors got wrong (falsy values, 0 vs "0",
// pop() returning the value, popItem order, all-or-nothing update).
import assert from "node:assert/strict";
import { KeyNotFoundError, ValidationError, type Value } from "../../mod.ts";
import { all, type Contract, type Db, type Dict, size } from "./harness.ts";

/** Runs a bulk of calls concurrently, issued in order (a pipeline remotely). */
function many<T>(n: number, fn: (i: number) => T | Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}

export function dictContract(c: Contract): void {
  /** A test with a fresh empty dict "d". */
  const test = (name: string, body: (d: Dict, db: Db) => Promise<void>) =>
    c.test(name, async (db) => body(await db.createDict("d"), db));
  const invalid = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, ValidationError, note);
  const keyMissing = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, KeyNotFoundError, note);

  c.group("dict: basics", () => {
    test("createDict gives an empty dict", async (d, db) => {
      assert.equal(await size(d), 0);
      assert.deepEqual([...await d.keys()], []);
      assert.equal(d.name, db.n("d"));
    });

    test("set then get returns the value; size counts keys", async (d) => {
      await d.set("a", 1);
      await d.set("b", "two");
      assert.equal(await d.get("a"), 1);
      assert.equal(await d.get("b"), "two");
      assert.equal(await size(d), 2);
    });

    test("set resolves to the dict itself (chainable)", async (d) => {
      assert.equal(await d.set("a", 1), d);
      await (await (await d.set("b", 2)).set("c", 3)).set("b", 4);
      assert.deepEqual([...await d.entries()], [["a", 1], ["b", 4], ["c", 3]]);
    });

    test("set overwrites an existing key without changing size", async (d) => {
      await d.set("a", 1);
      await d.set("a", 2);
      assert.equal(await d.get("a"), 2);
      assert.equal(await size(d), 1);
    });

    test("get of a missing key is undefined, or the fallback when given", async (d) => {
      assert.equal(await d.get("nope"), undefined);
      assert.equal(await d.get("nope", 42), 42);
      assert.deepEqual(await d.get("nope", { x: 1 }), { x: 1 });
      assert.equal(await d.get(7, "fb"), "fb");
      assert.equal(await d.get("nope", 0), 0);
    });

    test("get with a fallback returns the stored value even when it is falsy", async (d) => {
      for (const [k, v] of [["zero", 0], ["empty", ""], ["no", false], ["nil", null]] as const) {
        await d.set(k, v);
        assert.equal(await d.get(k), v, k);
        assert.equal(await d.has(k), true, k);
      }
      assert.equal(await d.get("zero", 5), 0);
      assert.equal(await d.get("empty", "x"), "");
      assert.equal(await d.get("no", true), false);
      assert.equal(await d.get("nil", "x"), null);
    });

    test("has is true for present keys (even holding null) and false otherwise", async (d) => {
      await d.set("a", null);
      assert.equal(await d.has("a"), true);
      assert.equal(await d.has("b"), false);
      assert.equal(await d.has(0), false);
    });

    test("delete resolves to whether the key was there", async (d) => {
      await d.set("a", 1);
      await d.set("b", 2);
      assert.equal(await d.delete("a"), true);
      assert.equal(await d.delete("a"), false);
      assert.equal(await d.delete("zzz"), false);
      assert.equal(await d.has("a"), false);
      assert.equal(await d.get("a"), undefined);
      assert.equal(await size(d), 1);
      assert.deepEqual([...await d.keys()], ["b"]);
    });

    test("clear empties the dict, which stays usable", async (d) => {
      await d.update([["a", 1], ["b", 2], [3, 3]]);
      await d.clear();
      assert.equal(await size(d), 0);
      assert.equal(await d.has("a"), false);
      assert.deepEqual([...await d.entries()], []);
      await d.set("c", 3);
      assert.deepEqual([...await d.entries()], [["c", 3]]);
    });

    test("clear on an empty dict is fine", async (d) => {
      await d.clear();
      assert.equal(await size(d), 0);
    });

    test("a value of 1 MiB round-trips", async (d) => {
      const big = "x".repeat(1024 * 1024);
      const bytes = new Uint8Array(1024 * 1024).map((_, i) => i & 255);
      await d.set("s", big);
      await d.set("b", bytes);
      assert.equal(await d.get("s"), big);
      assert.deepEqual(await d.get("b"), bytes);
    });

    test("a 32 MiB binary value and an 8 MiB string round-trip", async (d) => {
      const big = new Uint8Array(32 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4093) big[i] = i % 251;
      await d.set("blob", big);
      const back = await d.get("blob") as Uint8Array;
      assert.ok(back instanceof Uint8Array);
      assert.equal(back.length, big.length);
      for (let i = 0; i < big.length; i += 4093) if (back[i] !== big[i]) assert.fail(`Byte ${i} differs`);
      const text = "x".repeat(8 * 1024 * 1024);
      await d.set("text", text);
      assert.equal((await d.get("text") as string).length, text.length);
      assert.equal(await d.delete("blob"), true);
      assert.equal(await size(d), 1);
    });

    test("10 000 keys keep insertion order", async (d) => {
      const want = Array.from({ length: 10_000 }, (_, i) => `k${(i * 7919) % 10_000}`);
      await many(want.length, (i) => d.set(want[i], i));
      assert.equal(await size(d), 10_000);
      assert.deepEqual([...await d.keys()], want);
    });

    test("getDict gives a handle to the same data", async (d, db) => {
      const other = await db.getDict("d");
      await d.set("a", 1);
      assert.equal(await other.get("a"), 1);
      await other.set("b", 2);
      assert.equal(await d.get("b"), 2);
      await other.delete("a");
      assert.equal(await d.has("a"), false);
      assert.equal(await size(d), 1);
    });

    test("createDict takes an object, a Map and pairs as init", async (_d, db) => {
      const a = await db.createDict("a", { x: 1, y: 2 });
      const b = await db.createDict("b", new Map<string | number, number>([[1, 1], ["1", 2]]));
      const c2 = await db.createDict("c", [["k", [1]]]);
      assert.deepEqual([...await a.entries()], [["x", 1], ["y", 2]]);
      assert.deepEqual([...await b.entries()], [[1, 1], ["1", 2]]);
      assert.deepEqual([...await c2.entries()], [["k", [1]]]);
    });
  });

  c.group("dict: many deletes (tombstones and compaction)", () => {
    test("order, size and popItem stay right after deleting most keys", async (d) => {
      const want: number[] = [];
      await many(1000, (i) => d.set(i, i));
      await many(1000, (i) => {
        if (i % 10 === 3) want.push(i);
        else if (i !== 999) return d.delete(i);
      });
      want.push(999);
      assert.equal(await size(d), want.length);
      assert.deepEqual([...await d.keys()], want);
      await d.set(5, "re-added");
      await d.set(13, "updated in place");
      want.push(5);
      assert.deepEqual([...await d.keys()], want);
      assert.deepEqual(await d.popItem(), [5, "re-added"]);
      assert.deepEqual(await d.popItem(), [999, 999]);
      assert.deepEqual(await d.popItem(), [993, 993]);
      assert.equal(await d.get(13), "updated in place");
    });

    test("deleting while iterating (for await) neither repeats nor loses a live key", async (d) => {
      await many(500, (i) => d.set(`k${i}`, i));
      const seen: (string | number)[] = [];
      for await (const [k] of d) {
        seen.push(k);
        await d.delete(k);
      }
      assert.equal(new Set(seen).size, seen.length, "no key seen twice");
      assert.equal(seen.length, 500);
      assert.equal(await size(d), 0);
    });

    test("popItem on a dict emptied by repeated popItem and refilled works", async (d, db) => {
      for (let round = 0; round < 3; round++) {
        await many(200, (i) => d.set(i, round));
        const popped = await many(200, () => d.popItem());
        assert.deepEqual(popped, Array.from({ length: 200 }, (_, i) => [199 - i, round]));
        assert.equal(await size(d), 0);
      }
      await keyMissing(db, () => d.popItem());
    });
  });

  c.group("dict: keys", () => {
    test('0 and "0" are different keys', async (d) => {
      await d.set(0, "number");
      await d.set("0", "string");
      assert.equal(await size(d), 2);
      assert.equal(await d.get(0), "number");
      assert.equal(await d.get("0"), "string");
      assert.equal(await d.delete(0), true);
      assert.equal(await d.has("0"), true);
      assert.equal(await d.has(0), false);
    });

    test("number keys come back as numbers, string keys as strings", async (d) => {
      await d.update([[1, "a"], ["1", "b"], [-2.5, "c"], ["", "empty"]]);
      const keys = [...await d.keys()];
      assert.deepEqual(keys, [1, "1", -2.5, ""]);
      assert.equal(typeof keys[0], "number");
      assert.equal(typeof keys[1], "string");
    });

    test("-0 is the same key as 0", async (d) => {
      await d.set(-0, "minus");
      assert.equal(await d.has(0), true);
      assert.equal(await d.get(0), "minus");
      await d.set(0, "plus");
      assert.equal(await size(d), 1);
      assert.equal(await d.get(-0), "plus");
      const [k] = [...await d.keys()];
      assert.ok(Object.is(k, 0), "the key comes back as +0");
      assert.equal(await d.delete(-0), true);
      assert.equal(await size(d), 0);
    });

    test("the empty string is a valid key", async (d) => {
      await d.set("", 1);
      assert.equal(await d.get(""), 1);
      assert.equal(await d.has(""), true);
    });

    test("large, negative and fractional finite numbers are valid keys", async (d) => {
      const ks = [Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -1, 0.1, 2 ** 53 + 2];
      for (const [i, k] of ks.entries()) await d.set(k, i);
      for (const [i, k] of ks.entries()) assert.equal(await d.get(k), i, `key ${k}`);
      assert.deepEqual([...await d.keys()], ks);
    });

    test(
      "NaN, ±Infinity, bigint, objects, null, undefined, booleans and symbols are rejected as keys",
      async (d, db) => {
        const bad: unknown[] = [NaN, Infinity, -Infinity, 1n, {}, [], null, undefined, true, Symbol("k"), new Date(0)];
        for (const k of bad) {
          await invalid(db, () => d.set(k as never, 1), `set key ${String(k)}`);
          await invalid(db, () => d.setDefault(k as never, 1), `setDefault key ${String(k)}`);
          await invalid(db, () => d.update([[k as never, 1]]), `update key ${String(k)}`);
        }
        assert.equal(await size(d), 0);
      },
    );

    test("string keys with a lone surrogate are rejected, short or long; surrogate pairs are keys", async (d, db) => {
      const long = "k".repeat(20);
      for (const k of ["\uD800", "a\uDFFF", "\uDC00\uD83D", `${long}\uD800`, `\uDC00${long}`]) {
        await invalid(db, () => d.set(k, 1), `set key ${JSON.stringify(k)}`);
      }
      const good = ["\u{1F600}", `a\u{1F600}b`, `${long}\u{1F600}`, `\u{1F600}${long}`];
      for (const [i, k] of good.entries()) await d.set(k, i);
      assert.deepEqual([...await d.keys()], good);
    });

    test("reads and deletes with an invalid key are rejected too", async (d, db) => {
      await d.set("a", 1);
      for (const k of [NaN, Infinity, 1n, {}, null]) {
        await invalid(db, () => d.get(k as never), `get ${String(k)}`);
        await invalid(db, () => d.has(k as never), `has ${String(k)}`);
        await invalid(db, () => d.delete(k as never), `delete ${String(k)}`);
        await invalid(db, () => d.pop(k as never), `pop ${String(k)}`);
      }
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });
  });

  c.group("dict: iteration", () => {
    test("keys, values, entries and for await follow insertion order", async (d) => {
      await d.set("b", 1);
      await d.set(2, "x");
      await d.set("a", [1]);
      assert.deepEqual([...await d.keys()], ["b", 2, "a"]);
      assert.deepEqual([...await d.values()], [1, "x", [1]]);
      assert.deepEqual([...await d.entries()], [["b", 1], [2, "x"], ["a", [1]]]);
      assert.deepEqual(await all(d), [["b", 1], [2, "x"], ["a", [1]]]);
      const seen: unknown[] = [];
      for await (const [k, v] of d) seen.push(k, v);
      assert.deepEqual(seen, ["b", 1, 2, "x", "a", [1]]);
    });

    test("for await goes over many entries in insertion order", async (d) => {
      await many(100, (i) => d.set(i, { i }));
      assert.deepEqual(await all(d), Array.from({ length: 100 }, (_, i) => [i, { i }]));
    });

    test("re-setting an existing key keeps its position (like Map)", async (d) => {
      await d.update([["a", 1], ["b", 2], ["c", 3]]);
      await d.set("a", 10);
      assert.deepEqual([...await d.keys()], ["a", "b", "c"]);
      assert.deepEqual([...await d.values()], [10, 2, 3]);
    });

    test("deleting and re-setting a key moves it to the end", async (d) => {
      await d.update([["a", 1], ["b", 2], ["c", 3]]);
      await d.delete("a");
      await d.set("a", 1);
      assert.deepEqual([...await d.keys()], ["b", "c", "a"]);
    });

    test("iterating an empty dict yields nothing", async (d) => {
      assert.deepEqual(await all(d), []);
      assert.deepEqual([...await d.values()], []);
    });
  });

  c.group("dict: update", () => {
    test("update accepts a plain object", async (d) => {
      await d.update({ a: 1, b: "x", c: null });
      assert.deepEqual([...await d.entries()], [["a", 1], ["b", "x"], ["c", null]]);
    });

    test('object keys are strings ("1" is not 1)', async (d) => {
      await d.update({ "1": "one" });
      assert.equal(await d.has("1"), true);
      assert.equal(await d.has(1), false);
    });

    test("update accepts a Map, keeping number keys as numbers", async (d) => {
      await d.update(new Map<string | number, number>([[1, 1], ["1", 2], ["z", 3]]));
      assert.deepEqual([...await d.entries()], [[1, 1], ["1", 2], ["z", 3]]);
    });

    test("update accepts an array of [key, value] pairs", async (d) => {
      await d.update([["a", 1], [2, 2]]);
      assert.deepEqual([...await d.entries()], [["a", 1], [2, 2]]);
    });

    test("update accepts any iterable of pairs (a generator)", async (d) => {
      function* pairs(): Generator<[string, number]> {
        yield ["x", 1];
        yield ["y", 2];
      }
      await d.update(pairs());
      assert.deepEqual([...await d.entries()], [["x", 1], ["y", 2]]);
    });

    test("update overwrites existing keys in place and appends new ones", async (d) => {
      await d.update([["a", 1], ["b", 2]]);
      await d.update({ c: 3, a: 10 });
      assert.deepEqual([...await d.entries()], [["a", 10], ["b", 2], ["c", 3]]);
    });

    test("later duplicates in one update win", async (d) => {
      await d.update([["a", 1], ["a", 2]]);
      assert.deepEqual([...await d.entries()], [["a", 2]]);
    });

    test("an empty update is a no-op", async (d) => {
      await d.set("a", 1);
      await d.update({});
      await d.update([]);
      await d.update(new Map());
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });

    test("update validates everything before storing anything (bad value last)", async (d, db) => {
      await d.update([["a", 1], ["b", 2]]);
      await invalid(db, () => d.update([["a", 100], ["new", 5], ["bad", (() => 1) as never]]));
      assert.deepEqual([...await d.entries()], [["a", 1], ["b", 2]]);
    });

    test("update validates everything before storing anything (bad key last)", async (d, db) => {
      await d.set("a", 1);
      await invalid(db, () => d.update(new Map<unknown, number>([["x", 1], [NaN, 2]]) as never));
      await invalid(db, () => d.update({ x: 1, y: Symbol("s") } as never));
      await invalid(db, () => d.update([["x", 1], ["y", undefined as never]]));
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });

    test("update rejects entries that are not [key, value] pairs and arguments that are not objects", async (d, db) => {
      await d.set("a", 1);
      await invalid(db, () => d.update([["x", 1], "ab"] as never), "string entry");
      await invalid(db, () => d.update([["x", 1], [1]] as never), "one-element entry");
      await invalid(db, () => d.update([["x", 1], 5] as never), "number entry");
      await invalid(db, () => d.update(5 as never), "number argument");
      await invalid(db, () => d.update(null as never), "null argument");
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });

    test("an iterable that throws midway stores nothing and the error comes out", async (d) => {
      const boom = new Error("boom");
      function* pairs(): Generator<[string, number]> {
        yield ["x", 1];
        throw boom;
      }
      await d.set("a", 1);
      await assert.rejects(async () => await d.update(pairs()), (e) => e === boom);
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });
  });

  c.group("dict: pop, popItem, setDefault", () => {
    test("pop returns the value and removes the key", async (d) => {
      await d.update([["a", { x: [1, 2] }], ["b", 2]]);
      assert.deepEqual(await d.pop("a"), { x: [1, 2] });
      assert.equal(await d.has("a"), false);
      assert.equal(await size(d), 1);
    });

    test("pop returns falsy values as they are (not the fallback)", async (d) => {
      await d.update([["z", 0], ["n", null], ["f", false], ["e", ""]]);
      assert.equal(await d.pop("z", 9), 0);
      assert.equal(await d.pop("n", 9), null);
      assert.equal(await d.pop("f", 9), false);
      assert.equal(await d.pop("e", 9), "");
      assert.equal(await size(d), 0);
    });

    test("pop of a missing key throws KeyNotFoundError and changes nothing", async (d, db) => {
      await d.set("a", 1);
      await keyMissing(db, () => d.pop("x"));
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });

    test("pop of a missing key with a fallback returns the fallback", async (d) => {
      await d.set("a", 1);
      assert.equal(await d.pop("a"), 1);
      assert.equal(await d.pop("a", "gone"), "gone");
      assert.equal(await d.pop("x", "fb"), "fb");
      assert.equal(await d.pop("x", null), null);
      assert.equal(await d.pop(0, 0), 0);
      assert.equal(await size(d), 0);
    });

    test('pop distinguishes 0 from "0"', async (d, db) => {
      await d.set("0", "s");
      await keyMissing(db, () => d.pop(0));
      assert.equal(await d.pop("0"), "s");
    });

    test("popItem returns the last inserted [key, value]", async (d) => {
      await d.update([["a", 1], [2, "two"], ["c", [3]]]);
      assert.deepEqual(await d.popItem(), ["c", [3]]);
      assert.deepEqual(await d.popItem(), [2, "two"]);
      assert.deepEqual(await d.popItem(), ["a", 1]);
      assert.equal(await size(d), 0);
    });

    test("popItem keeps number keys as numbers", async (d) => {
      await d.set(5, "x");
      const [k, v] = await d.popItem();
      assert.equal(k, 5);
      assert.equal(typeof k, "number");
      assert.equal(v, "x");
    });

    test("popItem ignores updates to existing keys (position is kept)", async (d) => {
      await d.update([["a", 1], ["b", 2]]);
      await d.set("a", 100);
      assert.deepEqual(await d.popItem(), ["b", 2]);
      assert.deepEqual(await d.popItem(), ["a", 100]);
    });

    test("popItem skips deleted keys and sees re-inserted ones at the end", async (d) => {
      await d.update([["a", 1], ["b", 2], ["c", 3]]);
      await d.delete("c");
      assert.deepEqual(await d.popItem(), ["b", 2]);
      await d.delete("a");
      await d.set("a", 7);
      await d.set("z", 8);
      await d.delete("z");
      assert.deepEqual(await d.popItem(), ["a", 7]);
      assert.equal(await size(d), 0);
    });

    test("popItem after clear, or on an empty dict, throws KeyNotFoundError", async (d, db) => {
      await keyMissing(db, () => d.popItem());
      await d.set("a", 1);
      await d.clear();
      await keyMissing(db, () => d.popItem());
    });

    test("setDefault stores and returns the value when the key is missing", async (d) => {
      assert.deepEqual(await d.setDefault("a", [1]), [1]);
      assert.deepEqual(await d.get("a"), [1]);
      assert.equal(await size(d), 1);
    });

    test("setDefault returns the existing value and does not overwrite it", async (d) => {
      await d.update([["a", 1], ["z", 0], ["n", null]]);
      assert.equal(await d.setDefault("a", 2), 1);
      assert.equal(await d.setDefault("z", 5), 0);
      assert.equal(await d.setDefault("n", 5), null);
      assert.deepEqual([...await d.entries()], [["a", 1], ["z", 0], ["n", null]]);
    });

    test("setDefault on an existing key keeps its position", async (d) => {
      await d.update([["a", 1], ["b", 2]]);
      await d.setDefault("a", 9);
      assert.deepEqual([...await d.keys()], ["a", "b"]);
    });

    test("setDefault with an invalid value throws and stores nothing", async (d, db) => {
      await invalid(db, () => d.setDefault("a", (() => 1) as never));
      assert.equal(await d.has("a"), false);
    });
  });

  c.group("dict: toObject and toJSON", () => {
    test("toObject gives a plain object with number keys as strings", async (d) => {
      await d.update([["a", 1], [2, [true]], ["n", null]]);
      const o = await d.toObject();
      assert.equal(Object.getPrototypeOf(o), Object.prototype);
      assert.deepEqual(o, { a: 1, "2": [true], n: null });
    });

    test("toObject of an empty dict is {}", async (d) => {
      assert.deepEqual(await d.toObject(), {});
    });

    test("toJSON gives the same as toObject", async (d) => {
      await d.update([["a", 1], [2, { b: "x" }]]);
      assert.deepEqual(await d.toJSON(), await d.toObject());
      assert.deepEqual(await d.toJSON(), { a: 1, "2": { b: "x" } });
    });
  });

  c.group("dict: isolation of stored state", () => {
    test("mutating an object after set does not change what is stored", async (d) => {
      const v = { a: [1, 2], b: { c: 1 } };
      await d.set("k", v);
      v.a.push(3);
      v.b.c = 99;
      (v as Record<string, unknown>).extra = 1;
      assert.deepEqual(await d.get("k"), { a: [1, 2], b: { c: 1 } });
    });

    test("mutating a value returned by get does not change what is stored", async (d) => {
      await d.set("k", { a: [1, 2] });
      const got = await d.get("k") as { a: number[] };
      got.a.push(3);
      assert.deepEqual(await d.get("k"), { a: [1, 2] });
      assert.notEqual(await d.get("k"), await d.get("k"), "each get returns a fresh object");
    });

    test("Uint8Array and Date are copied in and out of a dict", async (d) => {
      const bytes = new Uint8Array([1, 2, 3]);
      const date = new Date(1000);
      await d.set("b", bytes);
      await d.set("t", date);
      bytes[0] = 99;
      date.setTime(5);
      assert.deepEqual(await d.get("b"), new Uint8Array([1, 2, 3]));
      assert.deepEqual(await d.get("t"), new Date(1000));
      (await d.get("b") as Uint8Array)[1] = 99;
      (await d.get("t") as Date).setTime(7);
      assert.deepEqual(await d.get("b"), new Uint8Array([1, 2, 3]));
      assert.deepEqual(await d.get("t"), new Date(1000));
    });

    test("values yielded by values(), entries() and for await are copies", async (d) => {
      await d.set("k", { a: [1] });
      for (const v of await d.values()) (v as { a: number[] }).a.push(2);
      for (const [, v] of await d.entries()) (v as { a: number[] }).a.push(3);
      for await (const [, v] of d) (v as { a: number[] }).a.push(4);
      assert.deepEqual(await d.get("k"), { a: [1] });
    });

    test("values returned by pop, popItem, setDefault and toObject are copies", async (d) => {
      const init = { a: [1] };
      const r = await d.setDefault("k", init) as { a: number[] };
      r.a.push(2);
      init.a.push(3);
      assert.deepEqual(await d.get("k"), { a: [1] });
      const o = await d.toObject() as { k: { a: number[] } };
      o.k.a.push(4);
      assert.deepEqual(await d.get("k"), { a: [1] });
      await d.set("j", { a: [1] });
      const popped = await d.pop("j") as { a: number[] };
      popped.a.push(5);
      await d.set("j", { a: [1] });
      const [, pi] = await d.popItem() as [string, { a: number[] }];
      pi.a.push(6);
      assert.deepEqual(await d.get("k"), { a: [1] });
    });

    test("objects given to update and createDict are copied", async (d, db) => {
      const inner = { x: 1 };
      await d.update({ a: inner });
      await d.update(new Map([["b", inner]]));
      const d2 = await db.createDict<Value>("d2", { c: inner });
      inner.x = 2;
      assert.deepEqual(await d.get("a"), { x: 1 });
      assert.deepEqual(await d.get("b"), { x: 1 });
      assert.deepEqual(await d2.get("c"), { x: 1 });
    });

    test("a rejected set does not touch the old value or add the key", async (d, db) => {
      await d.set("a", 1);
      await invalid(db, () => d.set("a", (() => 2) as never));
      await invalid(db, () => d.set("b", undefined as never));
      await invalid(db, () => d.set("c", { nested: () => 1 } as never));
      assert.deepEqual([...await d.entries()], [["a", 1]]);
    });
  });
}
