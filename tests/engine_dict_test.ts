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
