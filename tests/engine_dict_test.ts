// CyberDict, embedded: every method of DESIGN §3 plus the edge cases the
// Python ancestors got wrong (falsy values, 0 vs "0", pop() returning the
// value, popItem order, all-or-nothing update).
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { throwsErr } from "./fixtures/assert_errors.ts";
import { CyberDict, Database, KeyNotFoundError, ValidationError } from "../mod.ts";

const invalid = (fn: () => unknown, note = "") => throwsErr(fn, ValidationError, "VALIDATION", note);
const keyMissing = (fn: () => unknown, note = "") =>
  throwsErr(fn, KeyNotFoundError, "KEY_NOT_FOUND", note);

let db: Database;
let d: CyberDict;

beforeEach(async () => {
  db = await Database.open();
  d = db.createDict("d");
});
afterEach(async () => {
  await db.close();
});

describe("CyberDict: basics", () => {
  it("createDict returns an empty CyberDict", () => {
    assert.ok(d instanceof CyberDict);
    assert.equal(d.size, 0);
    assert.deepEqual([...d.keys()], []);
  });

  it("set then get returns the value; size counts keys", () => {
    d.set("a", 1);
    d.set("b", "two");
    assert.equal(d.get("a"), 1);
    assert.equal(d.get("b"), "two");
    assert.equal(d.size, 2);
  });

  it("set returns the dict itself (chainable)", () => {
    const r = d.set("a", 1);
    assert.equal(r, d);
    d.set("b", 2).set("c", 3).set("b", 4);
    assert.deepEqual([...d.entries()], [["a", 1], ["b", 4], ["c", 3]]);
  });

  it("set overwrites an existing key without changing size", () => {
    d.set("a", 1);
    d.set("a", 2);
    assert.equal(d.get("a"), 2);
    assert.equal(d.size, 1);
  });

  it("get of a missing key returns undefined, or the fallback when given", () => {
    assert.equal(d.get("nope"), undefined);
    assert.equal(d.get("nope", 42), 42);
    assert.deepEqual(d.get("nope", { x: 1 }), { x: 1 });
    assert.equal(d.get(7, "fb"), "fb");
  });

  it("get with a fallback returns the stored value even when it is falsy", () => {
    d.set("zero", 0).set("empty", "").set("no", false).set("nil", null);
    assert.equal(d.get("zero", 5), 0);
    assert.equal(d.get("empty", "x"), "");
    assert.equal(d.get("no", true), false);
    assert.equal(d.get("nil", "x"), null);
  });

  it("has is true for present keys (even holding null) and false otherwise", () => {
    d.set("a", null);
    assert.equal(d.has("a"), true);
    assert.equal(d.has("b"), false);
    assert.equal(d.has(0), false);
  });

  it("delete returns true when the key was there, false otherwise", () => {
    d.set("a", 1).set("b", 2);
    assert.equal(d.delete("a"), true);
    assert.equal(d.delete("a"), false);
    assert.equal(d.delete("zzz"), false);
    assert.equal(d.has("a"), false);
    assert.equal(d.get("a"), undefined);
    assert.equal(d.size, 1);
    assert.deepEqual([...d.keys()], ["b"]);
  });

  it("clear empties the dict, which stays usable", () => {
    d.set("a", 1).set("b", 2).set(3, 3);
    d.clear();
    assert.equal(d.size, 0);
    assert.equal(d.has("a"), false);
    assert.deepEqual([...d.entries()], []);
    d.set("c", 3);
    assert.deepEqual([...d.entries()], [["c", 3]]);
  });

  it("clear on an empty dict is fine", () => {
    d.clear();
    assert.equal(d.size, 0);
  });

  it("a value of 1 MiB round-trips", () => {
    const big = "x".repeat(1024 * 1024);
    const bytes = new Uint8Array(1024 * 1024).map((_, i) => i & 255);
    d.set("s", big).set("b", bytes);
    assert.equal(d.get("s"), big);
    assert.deepEqual(d.get("b"), bytes);
  });

  it("10 000 keys keep insertion order", () => {
    const want: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const k = `k${(i * 7919) % 10_000}`;
      want.push(k);
      d.set(k, i);
    }
    assert.equal(d.size, 10_000);
    assert.deepEqual([...d.keys()], want);
  });
});

describe("CyberDict: many deletes (tombstones and compaction)", () => {
  it("order, size and popItem stay right after deleting most keys", () => {
    const want: number[] = [];
    for (let i = 0; i < 1000; i++) d.set(i, i);
    for (let i = 0; i < 1000; i++) {
      if (i % 10 === 3) want.push(i);
      else if (i !== 999) d.delete(i);
    }
    want.push(999);
    assert.equal(d.size, want.length);
    assert.deepEqual([...d.keys()], want);
    d.set(5, "re-added");
    d.set(13, "updated in place");
    want.push(5);
    assert.deepEqual([...d.keys()], want);
    assert.deepEqual(d.popItem(), [5, "re-added"]);
    assert.deepEqual(d.popItem(), [999, 999]);
    assert.deepEqual(d.popItem(), [993, 993]);
    assert.equal(d.get(13), "updated in place");
  });

  it("deleting while iterating keys() neither repeats nor loses a live key", () => {
    for (let i = 0; i < 500; i++) d.set(`k${i}`, i);
    const seen: (string | number)[] = [];
    for (const k of d.keys()) {
      seen.push(k);
      d.delete(k);
    }
    assert.equal(new Set(seen).size, seen.length, "no key seen twice");
    assert.equal(seen.length, 500);
    assert.equal(d.size, 0);
  });

  it("popItem on a dict emptied by repeated popItem and refilled works", () => {
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) d.set(i, round);
      for (let i = 199; i >= 0; i--) assert.deepEqual(d.popItem(), [i, round]);
      assert.equal(d.size, 0);
    }
    keyMissing(() => d.popItem());
  });
});

describe("CyberDict: keys", () => {
  it("0 and \"0\" are different keys", () => {
    d.set(0, "number").set("0", "string");
    assert.equal(d.size, 2);
    assert.equal(d.get(0), "number");
    assert.equal(d.get("0"), "string");
    assert.equal(d.delete(0), true);
    assert.equal(d.has("0"), true);
    assert.equal(d.has(0), false);
  });

  it("number keys come back as numbers, string keys as strings", () => {
    d.set(1, "a").set("1", "b").set(-2.5, "c").set("", "empty");
    const keys = [...d.keys()];
    assert.deepEqual(keys, [1, "1", -2.5, ""]);
    assert.equal(typeof keys[0], "number");
    assert.equal(typeof keys[1], "string");
  });

  it("-0 is the same key as 0", () => {
    d.set(-0, "minus");
    assert.equal(d.has(0), true);
    assert.equal(d.get(0), "minus");
    d.set(0, "plus");
    assert.equal(d.size, 1);
    assert.equal(d.get(-0), "plus");
    const [k] = [...d.keys()];
    assert.ok(Object.is(k, 0), "the key comes back as +0");
    assert.equal(d.delete(-0), true);
    assert.equal(d.size, 0);
  });

  it("the empty string is a valid key", () => {
    d.set("", 1);
    assert.equal(d.get(""), 1);
    assert.equal(d.has(""), true);
  });

  it("large, negative and fractional finite numbers are valid keys", () => {
    const ks = [Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -1, 0.1, 2 ** 53 + 2];
    ks.forEach((k, i) => d.set(k, i));
    ks.forEach((k, i) => assert.equal(d.get(k), i, `key ${k}`));
    assert.deepEqual([...d.keys()], ks);
  });

  it("NaN, ±Infinity, bigint, objects, null, undefined, booleans and symbols are rejected as keys", () => {
    const bad: unknown[] = [
      NaN,
      Infinity,
      -Infinity,
      1n,
      {},
      [],
      null,
      undefined,
      true,
      Symbol("k"),
      new Date(0),
    ];
    for (const k of bad) {
      invalid(() => d.set(k as never, 1), `set key ${String(k)}`);
      invalid(() => d.setDefault(k as never, 1), `setDefault key ${String(k)}`);
      invalid(() => d.update([[k as never, 1]]), `update key ${String(k)}`);
    }
    assert.equal(d.size, 0);
  });

  it("reads and deletes with an invalid key are rejected too", () => {
    d.set("a", 1);
    for (const k of [NaN, Infinity, 1n, {}, null]) {
      invalid(() => d.get(k as never), `get ${String(k)}`);
      invalid(() => d.has(k as never), `has ${String(k)}`);
      invalid(() => d.delete(k as never), `delete ${String(k)}`);
      invalid(() => d.pop(k as never), `pop ${String(k)}`);
    }
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });
});

describe("CyberDict: iteration", () => {
  it("keys, values, entries and the iterator follow insertion order", () => {
    d.set("b", 1).set(2, "x").set("a", [1]);
    assert.deepEqual([...d.keys()], ["b", 2, "a"]);
    assert.deepEqual([...d.values()], [1, "x", [1]]);
    assert.deepEqual([...d.entries()], [["b", 1], [2, "x"], ["a", [1]]]);
    assert.deepEqual([...d], [["b", 1], [2, "x"], ["a", [1]]]);
    const seen: unknown[] = [];
    for (const [k, v] of d) seen.push(k, v);
    assert.deepEqual(seen, ["b", 1, 2, "x", "a", [1]]);
  });

  it("keys(), values() and entries() return iterators", () => {
    d.set("a", 1).set("b", 2);
    for (const iter of [d.keys(), d.values(), d.entries(), d[Symbol.iterator]()]) {
      assert.equal(typeof iter.next, "function");
      const first = iter.next();
      assert.equal(first.done, false);
    }
    const k = d.keys();
    assert.deepEqual(k.next(), { value: "a", done: false });
    assert.deepEqual(k.next(), { value: "b", done: false });
    assert.equal(k.next().done, true);
  });

  it("re-setting an existing key keeps its position (like Map)", () => {
    d.set("a", 1).set("b", 2).set("c", 3);
    d.set("a", 10);
    assert.deepEqual([...d.keys()], ["a", "b", "c"]);
    assert.deepEqual([...d.values()], [10, 2, 3]);
  });

  it("deleting and re-setting a key moves it to the end", () => {
    d.set("a", 1).set("b", 2).set("c", 3);
    d.delete("a");
    d.set("a", 1);
    assert.deepEqual([...d.keys()], ["b", "c", "a"]);
  });

  it("iterating an empty dict yields nothing", () => {
    assert.deepEqual([...d], []);
    assert.deepEqual([...d.values()], []);
  });
});

describe("CyberDict: update", () => {
  it("accepts a plain object", () => {
    d.update({ a: 1, b: "x", c: null });
    assert.deepEqual([...d.entries()], [["a", 1], ["b", "x"], ["c", null]]);
  });

  it("object keys are strings (\"1\" is not 1)", () => {
    d.update({ "1": "one" });
    assert.equal(d.has("1"), true);
    assert.equal(d.has(1), false);
  });

  it("accepts a Map, keeping number keys as numbers", () => {
    d.update(new Map<string | number, number>([[1, 1], ["1", 2], ["z", 3]]));
    assert.deepEqual([...d.entries()], [[1, 1], ["1", 2], ["z", 3]]);
  });

  it("accepts an array of [key, value] pairs", () => {
    d.update([["a", 1], [2, 2]]);
    assert.deepEqual([...d.entries()], [["a", 1], [2, 2]]);
  });

  it("accepts any iterable of pairs (a generator)", () => {
    function* pairs(): Generator<[string, number]> {
      yield ["x", 1];
      yield ["y", 2];
    }
    d.update(pairs());
    assert.deepEqual([...d.entries()], [["x", 1], ["y", 2]]);
  });

  it("overwrites existing keys in place and appends new ones", () => {
    d.set("a", 1).set("b", 2);
    d.update({ c: 3, a: 10 });
    assert.deepEqual([...d.entries()], [["a", 10], ["b", 2], ["c", 3]]);
  });

  it("later duplicates in one update win", () => {
    d.update([["a", 1], ["a", 2]]);
    assert.deepEqual([...d.entries()], [["a", 2]]);
  });

  it("an empty update is a no-op", () => {
    d.set("a", 1);
    d.update({});
    d.update([]);
    d.update(new Map());
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });

  it("validates everything before storing anything (bad value last)", () => {
    d.set("a", 1).set("b", 2);
    invalid(() => d.update([["a", 100], ["new", 5], ["bad", (() => 1) as never]]));
    assert.deepEqual([...d.entries()], [["a", 1], ["b", 2]]);
  });

  it("validates everything before storing anything (bad key last)", () => {
    d.set("a", 1);
    invalid(() => d.update(new Map<unknown, number>([["x", 1], [NaN, 2]]) as never));
    invalid(() => d.update({ x: 1, y: Symbol("s") } as never));
    invalid(() => d.update([["x", 1], ["y", undefined as never]]));
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });

  it("rejects entries that are not [key, value] pairs and arguments that are not objects", () => {
    d.set("a", 1);
    invalid(() => d.update([["x", 1], "ab"] as never), "string entry");
    invalid(() => d.update([["x", 1], [1]] as never), "one-element entry");
    invalid(() => d.update([["x", 1], 5] as never), "number entry");
    invalid(() => d.update(5 as never), "number argument");
    invalid(() => d.update(null as never), "null argument");
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });

  it("an iterable that throws midway stores nothing and the error comes out", () => {
    const boom = new Error("boom");
    function* pairs(): Generator<[string, number]> {
      yield ["x", 1];
      throw boom;
    }
    d.set("a", 1);
    assert.throws(() => d.update(pairs()), (e) => e === boom);
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });
});

describe("CyberDict: pop, popItem, setDefault", () => {
  it("pop returns the value and removes the key", () => {
    d.set("a", { x: [1, 2] }).set("b", 2);
    assert.deepEqual(d.pop("a"), { x: [1, 2] });
    assert.equal(d.has("a"), false);
    assert.equal(d.size, 1);
  });

  it("pop returns falsy values as they are (not the fallback)", () => {
    d.set("z", 0).set("n", null).set("f", false).set("e", "");
    assert.equal(d.pop("z", 9), 0);
    assert.equal(d.pop("n", 9), null);
    assert.equal(d.pop("f", 9), false);
    assert.equal(d.pop("e", 9), "");
    assert.equal(d.size, 0);
  });

  it("pop of a missing key throws KeyNotFoundError and changes nothing", () => {
    d.set("a", 1);
    const e = keyMissing(() => d.pop("x"));
    assert.match(e.message, /^[A-Z]/, "message starts with a capital letter");
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });

  it("pop of a missing key with a fallback returns the fallback", () => {
    assert.equal(d.pop("x", "fb"), "fb");
    assert.equal(d.pop("x", null), null);
    assert.equal(d.pop(0, 0), 0);
    assert.equal(d.size, 0);
  });

  it("pop distinguishes 0 from \"0\"", () => {
    d.set("0", "s");
    keyMissing(() => d.pop(0));
    assert.equal(d.pop("0"), "s");
  });

  it("popItem returns the last inserted [key, value]", () => {
    d.set("a", 1).set(2, "two").set("c", [3]);
    assert.deepEqual(d.popItem(), ["c", [3]]);
    assert.deepEqual(d.popItem(), [2, "two"]);
    assert.deepEqual(d.popItem(), ["a", 1]);
    assert.equal(d.size, 0);
  });

  it("popItem keeps number keys as numbers", () => {
    d.set(5, "x");
    const [k, v] = d.popItem();
    assert.equal(k, 5);
    assert.equal(typeof k, "number");
    assert.equal(v, "x");
  });

  it("popItem ignores updates to existing keys (position is kept)", () => {
    d.set("a", 1).set("b", 2);
    d.set("a", 100);
    assert.deepEqual(d.popItem(), ["b", 2]);
    assert.deepEqual(d.popItem(), ["a", 100]);
  });

  it("popItem skips deleted keys and sees re-inserted ones at the end", () => {
    d.set("a", 1).set("b", 2).set("c", 3);
    d.delete("c");
    assert.deepEqual(d.popItem(), ["b", 2]);
    d.delete("a");
    d.set("a", 7);
    d.set("z", 8);
    d.delete("z");
    assert.deepEqual(d.popItem(), ["a", 7]);
    assert.equal(d.size, 0);
  });

  it("popItem after clear, or on an empty dict, throws KeyNotFoundError", () => {
    keyMissing(() => d.popItem());
    d.set("a", 1);
    d.clear();
    keyMissing(() => d.popItem());
  });

  it("setDefault stores and returns the value when the key is missing", () => {
    assert.deepEqual(d.setDefault("a", [1]), [1]);
    assert.deepEqual(d.get("a"), [1]);
    assert.equal(d.size, 1);
  });

  it("setDefault returns the existing value and does not overwrite it", () => {
    d.set("a", 1).set("z", 0).set("n", null);
    assert.equal(d.setDefault("a", 2), 1);
    assert.equal(d.setDefault("z", 5), 0);
    assert.equal(d.setDefault("n", 5), null);
    assert.deepEqual([...d.entries()], [["a", 1], ["z", 0], ["n", null]]);
  });

  it("setDefault on an existing key keeps its position", () => {
    d.set("a", 1).set("b", 2);
    d.setDefault("a", 9);
    assert.deepEqual([...d.keys()], ["a", "b"]);
  });

  it("setDefault with an invalid value throws and stores nothing", () => {
    invalid(() => d.setDefault("a", (() => 1) as never));
    assert.equal(d.has("a"), false);
  });
});

describe("CyberDict: toObject and toJSON", () => {
  it("toObject gives a plain object with number keys as strings", () => {
    d.set("a", 1).set(2, [true]).set("n", null);
    const o = d.toObject();
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.deepEqual(o, { a: 1, "2": [true], n: null });
  });

  it("toObject of an empty dict is {}", () => {
    assert.deepEqual(d.toObject(), {});
  });

  it("toJSON is the same as toObject, and JSON.stringify uses it", () => {
    d.set("a", 1).set(2, { b: "x" });
    assert.deepEqual(d.toJSON(), d.toObject());
    assert.deepEqual(JSON.parse(JSON.stringify(d)), { a: 1, "2": { b: "x" } });
  });

  it("a \"__proto__\" key becomes an own property, not a prototype", () => {
    d.set("__proto__", { polluted: true });
    const o = d.toObject() as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.ok(Object.hasOwn(o, "__proto__"));
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, "__proto__")?.value, { polluted: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("CyberDict: isolation of stored state", () => {
  it("mutating an object after set does not change what is stored", () => {
    const v = { a: [1, 2], b: { c: 1 } };
    d.set("k", v);
    v.a.push(3);
    v.b.c = 99;
    (v as Record<string, unknown>).extra = 1;
    assert.deepEqual(d.get("k"), { a: [1, 2], b: { c: 1 } });
  });

  it("mutating a value returned by get does not change what is stored", () => {
    d.set("k", { a: [1, 2] });
    const got = d.get("k") as { a: number[] };
    got.a.push(3);
    assert.deepEqual(d.get("k"), { a: [1, 2] });
    assert.notEqual(d.get("k"), d.get("k"), "each get returns a fresh object");
  });

  it("Uint8Array and Date are copied in and out", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const date = new Date(1000);
    d.set("b", bytes).set("t", date);
    bytes[0] = 99;
    date.setTime(5);
    assert.deepEqual(d.get("b"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(d.get("t"), new Date(1000));
    (d.get("b") as Uint8Array)[1] = 99;
    (d.get("t") as Date).setTime(7);
    assert.deepEqual(d.get("b"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(d.get("t"), new Date(1000));
  });

  it("values yielded by values(), entries() and the iterator are copies", () => {
    d.set("k", { a: [1] });
    for (const v of d.values()) (v as { a: number[] }).a.push(2);
    for (const [, v] of d.entries()) (v as { a: number[] }).a.push(3);
    for (const [, v] of d) (v as { a: number[] }).a.push(4);
    assert.deepEqual(d.get("k"), { a: [1] });
  });

  it("values returned by pop, popItem, setDefault and toObject are copies", () => {
    const init = { a: [1] };
    const r = d.setDefault("k", init) as { a: number[] };
    r.a.push(2);
    init.a.push(3);
    assert.deepEqual(d.get("k"), { a: [1] });
    const o = d.toObject() as { k: { a: number[] } };
    o.k.a.push(4);
    assert.deepEqual(d.get("k"), { a: [1] });
    d.set("j", { a: [1] });
    const popped = d.pop("j") as { a: number[] };
    popped.a.push(5);
    d.set("j", { a: [1] });
    const [, pi] = d.popItem() as [string, { a: number[] }];
    pi.a.push(6);
    assert.deepEqual(d.get("k"), { a: [1] });
  });

  it("objects given to update and createDict are copied", () => {
    const inner = { x: 1 };
    d.update({ a: inner });
    const m = new Map([["b", inner]]);
    d.update(m);
    const d2 = db.createDict("d2", { c: inner });
    inner.x = 2;
    assert.deepEqual(d.get("a"), { x: 1 });
    assert.deepEqual(d.get("b"), { x: 1 });
    assert.deepEqual(d2.get("c"), { x: 1 });
  });
});

describe("CyberDict: rejected values leave state untouched", () => {
  it("a rejected set does not touch the old value or add the key", () => {
    d.set("a", 1);
    invalid(() => d.set("a", (() => 2) as never));
    invalid(() => d.set("b", undefined as never));
    invalid(() => d.set("c", { nested: () => 1 } as never));
    assert.deepEqual([...d.entries()], [["a", 1]]);
  });
});

describe("CyberDict: createDict init and handles", () => {
  it("createDict accepts an object, a Map and pairs as init", () => {
    const a = db.createDict("a", { x: 1, y: 2 });
    const b = db.createDict("b", new Map<string | number, number>([[1, 1], ["1", 2]]));
    const c = db.createDict("c", [["k", [1]]]);
    assert.deepEqual([...a.entries()], [["x", 1], ["y", 2]]);
    assert.deepEqual([...b.entries()], [[1, 1], ["1", 2]]);
    assert.deepEqual([...c.entries()], [["k", [1]]]);
  });

  it("getDict returns a handle to the same data", () => {
    const other = db.getDict("d");
    assert.ok(other instanceof CyberDict);
    d.set("a", 1);
    assert.equal(other.get("a"), 1);
    other.set("b", 2);
    assert.equal(d.get("b"), 2);
    other.delete("a");
    assert.equal(d.has("a"), false);
    assert.equal(d.size, 1);
  });
});
