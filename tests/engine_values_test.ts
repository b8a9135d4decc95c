// Value rules (DESIGN §2), embedded only. What round-trips exactly, what is
// rejected with ValidationError and that stored state is never shared are in
// the contract suite (tests/contract/values.ts), run embedded, over WebSocket
// and over HTTP. What stays here: an own "__proto__" property through every
// embedded path, and error messages that stay short whatever the value.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { throwsErr } from "./fixtures/assert_errors.ts";
import { type CyberDict, type CyberList, Database, ValidationError } from "../mod.ts";
import { MAX_DEPTH, quote } from "../src/core/value.ts";

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

describe('Values: an own "__proto__" property, embedded only', () => {
  it('an own "__proto__" property is kept as an own property everywhere and pollutes nothing (issue 9, item 11)', () => {
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
    assert.equal(d.get("__proto__"), 1, '"__proto__" is still a fine dict key');
  });
});

describe("Values: flat objects and arrays take the fast copy, with the same results (issue 14)", () => {
  it("a value read out can be changed and written back; the change is the caller's until then", () => {
    d.set("u", { n: 1, tags: ["a"], flat: [1, 2] });
    const v = d.get("u") as Any;
    v.n++;
    v.flat.push(3);
    v.extra = true;
    assert.deepEqual(d.get("u"), { n: 1, tags: ["a"], flat: [1, 2] }, "not written yet");
    d.set("u", v);
    v.n = 100;
    v.flat.length = 0;
    assert.deepEqual(d.get("u"), { n: 2, tags: ["a"], flat: [1, 2, 3], extra: true }, "the write, then a copy");
    const f = { a: 1, b: "x" };
    d.set("f", f);
    f.a = 2;
    const out = d.get("f") as Any;
    out.b = "y";
    assert.deepEqual(d.get("f"), { a: 1, b: "x" }, "neither the input nor the output is shared");
    const arr = [1, "two", null, true, 3n];
    l.append(arr as never);
    arr[0] = 9;
    (l.get(0) as Any)[1] = "changed";
    assert.deepEqual(l.get(0), [1, "two", null, true, 3n]);
  });

  it('a flat object keeps an own "__proto__" key as an own property, in and out', () => {
    const text = '{"a":1,"__proto__":"p","b":[1,2]}';
    for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
      for (const json of [text, '{"__proto__":1}', '{"x":{"__proto__":2}}']) {
        const out = roundTrip(JSON.parse(json)) as Any;
        assert.equal(JSON.stringify(out), json, path);
        assert.equal(Object.getPrototypeOf(out), Object.prototype, path);
      }
    }
  });

  it("symbol-keyed properties are left out, at the top and inside, as the log leaves them out", () => {
    const s = Symbol("s");
    const values = [{ a: 1, [s]: 2 }, { o: { b: 2, [s]: 3 } }, [{ [s]: 1 }], { [s]: { x: 1 } }];
    for (const [path, roundTrip] of Object.entries(ROUND_TRIPS)) {
      for (const v of values) {
        const out = roundTrip(v) as Any;
        const inner = Array.isArray(out) ? out[0] : out.o ?? out;
        assert.deepEqual(Object.getOwnPropertySymbols(out), [], `${path}: ${quote(v)}`);
        assert.deepEqual(Object.getOwnPropertySymbols(inner), [], `${path}: ${quote(v)} inside`);
      }
    }
    d.set("s", { a: 1, [s]: 2 } as never);
    assert.deepEqual(Object.getOwnPropertySymbols(d.toObject().s), []);
  });

  it("keys someone made enumerable on Object.prototype are neither stored nor copied out as own", () => {
    const proto = Object.prototype as Any;
    try {
      proto.polluted = { x: 1 };
      d.set("p", { a: 1 });
      d.set("q", { a: { b: 1 } });
      for (const k of ["p", "q"]) {
        const out = d.get(k) as Any;
        assert.equal(Object.hasOwn(out, "polluted"), false, k);
        assert.equal(Object.hasOwn(d.toObject()[k] as Any, "polluted"), false, `${k} toObject`);
      }
      assert.deepEqual(Object.keys(d.get("q") as Any), ["a"]);
    } finally {
      delete proto.polluted;
    }
  });

  it("a huge sparse array is refused at its first hole, without walking its length", () => {
    const a: unknown[] = [1, 2];
    a[2 ** 31] = 3;
    assert.match(invalid(() => d.set("k", a as never)).message, /hole at \[2\]/);
    const b: unknown[] = [];
    b[2 ** 32 - 2] = 1;
    assert.match(invalid(() => l.append(b as never)).message, /hole at \[0\]/);
    assert.equal(d.has("k"), false);
  });

  it("a flat object or array at the depth limit is kept; one level deeper is refused", () => {
    for (const leaf of [{ a: 1 }, [1]]) {
      let ok: unknown = leaf;
      for (let i = 1; i < MAX_DEPTH; i++) ok = [ok];
      d.set("deep", ok as never);
      assert.deepEqual(d.get("deep"), ok);
      assert.match(invalid(() => d.set("deeper", [ok] as never)).message, /nested more than 1000 levels/);
    }
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
