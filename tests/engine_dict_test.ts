// CyberDict, embedded only. Its behaviour — every method of DESIGN §3, the
// edge cases the Python ancestors got wrong — is in the contract suite
// (tests/contract/dict.ts), run embedded, over WebSocket and over HTTP. What
// stays here is what only the embedded handle has: live iterators, JSON.stringify
// through a synchronous toJSON, and a "__proto__" key in toObject (which
// joins the contract once the wire carries such keys).
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type CyberDict, Database } from "../mod.ts";

let db: Database;
let d: CyberDict;

beforeEach(async () => {
  db = await Database.open();
  d = db.createDict("d");
});
afterEach(async () => {
  await db.close();
});

describe("CyberDict, embedded only", () => {
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

  it("JSON.stringify uses toJSON", () => {
    d.set("a", 1).set(2, { b: "x" });
    assert.deepEqual(JSON.parse(JSON.stringify(d)), { a: 1, "2": { b: "x" } });
  });

  it('a "__proto__" key becomes an own property, not a prototype', () => {
    d.set("__proto__", { polluted: true });
    const o = d.toObject() as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.ok(Object.hasOwn(o, "__proto__"));
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, "__proto__")?.value, { polluted: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("CyberDict: reads of flat values (issue 14: a memo per entry says how to copy)", () => {
  // get() notes on each entry whether its value is flat (copied with one
  // clone) or not (copied deeply). A stale note on a value that is no longer
  // flat would hand out its nested objects shared: every change of the value
  // — a set, a rollback, a delete and its undo, a clear, a compaction — must
  // drop it.
  const deep = () => ({ a: { b: 1 }, list: [{ c: 2 }] });
  const flat = () => ({ a: 1, b: "x" });
  /** Reads `k` and changes what came out; a later read must not see the change. */
  const readAndScribble = (k: string) => {
    const v = d.get(k) as Record<string, unknown>;
    if (typeof v.a === "object") (v.a as { b: number }).b = 99;
    if (Array.isArray(v.list)) (v.list[0] as { c: number }).c = 99;
    v.a = "scribbled";
    return v;
  };

  it("a key that goes from a flat value to a nested one (and back) never shares what it stores", () => {
    d.set("k", flat());
    readAndScribble("k");
    d.set("k", deep());
    readAndScribble("k");
    assert.deepEqual(d.get("k"), deep(), "set: the note of the flat value is gone");
    d.set("k", flat());
    readAndScribble("k");
    assert.deepEqual(d.get("k"), flat());
  });

  it("a rolled-back write, a delete's undo and a cleared dict's undo leave no stale note", () => {
    d.set("k", deep());
    readAndScribble("k");
    assert.throws(() =>
      db.transaction(() => {
        d.set("k", flat());
        readAndScribble("k"); // noted flat inside the transaction
        throw new Error("roll back");
      }), /roll back/);
    readAndScribble("k");
    assert.deepEqual(d.get("k"), deep(), "rollback of a set");
    assert.throws(() =>
      db.transaction(() => {
        d.delete("k");
        d.set("k", flat()); // a new slot at the end
        readAndScribble("k");
        throw new Error("roll back");
      }), /roll back/);
    readAndScribble("k");
    assert.deepEqual(d.get("k"), deep(), "rollback of a delete");
    assert.throws(() =>
      db.transaction(() => {
        d.clear();
        d.set("k", flat());
        readAndScribble("k");
        throw new Error("roll back");
      }), /roll back/);
    readAndScribble("k");
    assert.deepEqual(d.get("k"), deep(), "rollback of a clear");
  });

  it("a note and the entry's version share one number per entry: neither disturbs the other", () => {
    d.set("k", deep());
    const v1 = d.getEntry("k")!.version;
    readAndScribble("k"); // notes "deep" beside version v1
    assert.equal(d.getEntry("k")!.version, v1, "a note leaves the version");
    d.expire("k", 60_000); // a new version, the same value: its note stays right
    const v2 = d.getEntry("k")!.version;
    assert.equal(v2, db.lsn);
    assert.ok(v2 > v1);
    readAndScribble("k");
    assert.deepEqual(d.get("k"), deep());
    assert.throws(() =>
      db.transaction(() => {
        d.set("k", flat());
        readAndScribble("k");
        throw new Error("roll back");
      }), /roll back/);
    assert.equal(d.getEntry("k")!.version, v2, "a rollback restores the version");
    readAndScribble("k");
    assert.deepEqual(d.get("k"), deep(), "and the note of the value it restores");
    for (let i = 0; i < 100; i++) d.set(`n${i}`, i);
    for (let i = 0; i < 100; i++) assert.equal(d.getEntry(`n${i}`)!.version, v2 + 1 + i);
  });

  it("notes survive compaction with their values, and popItem/expiry paths read right", () => {
    for (let i = 0; i < 300; i++) d.set(`k${i}`, i % 2 === 0 ? flat() : deep());
    for (let i = 0; i < 300; i++) readAndScribble(`k${i}`);
    for (let i = 0; i < 250; i++) d.delete(`k${i}`); // compacts: tombstones outnumber live entries
    for (let i = 250; i < 300; i++) {
      readAndScribble(`k${i}`);
      assert.deepEqual(d.get(`k${i}`), i % 2 === 0 ? flat() : deep(), `k${i}`);
    }
    d.set("t", flat(), { expireIn: 60_000 });
    readAndScribble("t");
    assert.deepEqual(d.get("t"), flat());
    assert.deepEqual(d.popItem(), ["t", flat()]);
  });
});
