// CyberList, embedded only. Its behaviour — every method of DESIGN §3,
// negative indices, Python insert/pop, deep equality, the total order of
// sort, all-or-nothing extend — is in the contract suite
// (tests/contract/list.ts), run embedded, over WebSocket and over HTTP. What
// stays here is what only the embedded handle has: a synchronous iterator
// (so a list can extend itself), and JSON.stringify through a synchronous
// toJSON.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type CyberList, Database } from "../mod.ts";

let db: Database;
let l: CyberList;

beforeEach(async () => {
  db = await Database.open();
  l = db.createList("l");
});
afterEach(async () => {
  await db.close();
});

describe("CyberList, embedded only", () => {
  it("the iterator is synchronous and JSON.stringify uses toJSON", () => {
    l.extend([1, { a: 2 }, [3]]);
    assert.deepEqual([...l], [1, { a: 2 }, [3]]);
    const seen: unknown[] = [];
    for (const v of l) seen.push(v);
    assert.deepEqual(seen, [1, { a: 2 }, [3]]);
    assert.equal(JSON.stringify(l), '[1,{"a":2},[3]]');
  });

  it("extending a list with its own handle doubles it (snapshot of the elements)", () => {
    l.extend([1, 2]);
    l.extend(l);
    assert.deepEqual(l.toArray(), [1, 2, 1, 2]);
  });
});
