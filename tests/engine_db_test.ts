// Database, embedded: open, create/get/drop, kinds, names, collections(),
// dropped handles, transactions (rollback, savepoints, async rejection),
// close and Symbol.asyncDispose.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AlreadyExistsError,
  ClosedError,
  CyberDict,
  CyberList,
  Database,
  DuplicateKeyError,
  KeyNotFoundError,
  NotFoundError,
  SchemaError,
  Table,
  ValidationError,
  WrongKindError,
} from "../mod.ts";

type ErrClass = abstract new (...args: never[]) => Error;

/** Runs `fn`, expects it to throw an instance of `Cls` carrying `code`; returns the error. */
function throwsErr(fn: () => unknown, Cls: ErrClass, code: string, note = ""): Error {
  try {
    fn();
  } catch (e) {
    const err = e as Error & { code?: unknown };
    assert.ok(
      e instanceof Cls,
      `expected ${Cls.name}${note ? ` (${note})` : ""}, got ${err?.name}: ${err?.message}`,
    );
    assert.equal(err.code, code, `wrong code${note ? ` (${note})` : ""}`);
    return err;
  }
  assert.fail(`expected ${Cls.name} (${code}) but nothing was thrown${note ? ` (${note})` : ""}`);
}

/** Like throwsErr for calls that may throw synchronously or return a rejected promise. */
async function rejectsErr(fn: () => unknown, Cls: ErrClass, code: string, note = ""): Promise<void> {
  await assert.rejects(
    async () => {
      await fn();
    },
    (e: unknown) => {
      const err = e as Error & { code?: unknown };
      assert.ok(e instanceof Cls, `expected ${Cls.name} (${note}), got ${err?.name}: ${err?.message}`);
      assert.equal(err.code, code, note);
      return true;
    },
    note,
  );
}

const invalid = (fn: () => unknown, note = "") => throwsErr(fn, ValidationError, "VALIDATION", note);
const closed = (fn: () => unknown, note = "") => throwsErr(fn, ClosedError, "CLOSED", note);
const missing = (fn: () => unknown, note = "") => throwsErr(fn, NotFoundError, "NOT_FOUND", note);

const SCHEMA = {
  name: "t",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "v", type: "Utf8", nullable: true },
  ],
} as const;

/** The table surface, loosely typed. */
interface LooseTable {
  insert(row: unknown): unknown;
  insertMany(rows: unknown): unknown;
  update(pk: unknown, row: unknown): unknown;
  patch(pk: unknown, partial: unknown): unknown;
  upsert(row: unknown): unknown;
  delete(pk: unknown): boolean;
  // deno-lint-ignore no-explicit-any
  get(pk: unknown): any;
  has(pk: unknown): boolean;
  count(): number;
  // deno-lint-ignore no-explicit-any
  rows(): Iterable<any>;
  // deno-lint-ignore no-explicit-any
  toArray(): any[];
}

type Kind = "dict" | "list" | "table";

let db: Database;

beforeEach(async () => {
  db = await Database.open();
});
afterEach(async () => {
  await db.close();
});

function create(kind: Kind, name: string): unknown {
  if (kind === "dict") return db.createDict(name);
  if (kind === "list") return db.createList(name);
  return db.createTable({ ...SCHEMA, name });
}
function get(kind: Kind, name: string): unknown {
  if (kind === "dict") return db.getDict(name);
  if (kind === "list") return db.getList(name);
  return db.getTable(name);
}
const table = (name = "t") => db.createTable({ ...SCHEMA, name }) as unknown as LooseTable;

const KINDS: Kind[] = ["dict", "list", "table"];

describe("Database: open", () => {
  it("Database.open() without options gives an empty in-memory database", async () => {
    const other = await Database.open();
    try {
      assert.ok(other instanceof Database);
      assert.deepEqual(other.collections(), []);
    } finally {
      await other.close();
    }
  });

  it("two in-memory databases are independent", async () => {
    const other = await Database.open();
    try {
      db.createDict("d").set("a", 1);
      assert.deepEqual(other.collections(), []);
      other.createDict("d").set("a", 2);
      assert.equal(db.getDict("d").get("a"), 1);
    } finally {
      await other.close();
    }
  });

  it("flush() and snapshot() resolve on an in-memory database", async () => {
    db.createDict("d").set("a", 1);
    await db.flush();
    await db.snapshot();
    assert.equal(db.getDict("d").get("a"), 1);
  });
});

describe("Database: create, get, kinds", () => {
  it("createX returns a handle of the right class; getX too", () => {
    assert.ok(db.createDict("d") instanceof CyberDict);
    assert.ok(db.createList("l") instanceof CyberList);
    assert.ok((db.createTable(SCHEMA) as unknown) instanceof Table);
    assert.ok(db.getDict("d") instanceof CyberDict);
    assert.ok(db.getList("l") instanceof CyberList);
    assert.ok((db.getTable("t") as unknown) instanceof Table);
  });

  for (const existing of KINDS) {
    for (const kind of KINDS) {
      it(`create ${kind} over an existing ${existing} → AlreadyExistsError, old data kept`, () => {
        create(existing, "x");
        if (existing === "dict") db.getDict("x").set("k", 1);
        if (existing === "list") db.getList("x").append(1);
        if (existing === "table") (db.getTable("x") as unknown as LooseTable).insert({ id: 1 });
        throwsErr(() => create(kind, "x"), AlreadyExistsError, "ALREADY_EXISTS");
        assert.deepEqual(db.collections(), [{ name: "x", kind: existing }]);
        if (existing === "dict") assert.equal(db.getDict("x").get("k"), 1);
        if (existing === "list") assert.deepEqual(db.getList("x").toArray(), [1]);
        if (existing === "table") assert.equal((db.getTable("x") as unknown as LooseTable).count(), 1);
      });
    }
  }

  for (const kind of KINDS) {
    it(`get ${kind} of a missing name → NotFoundError`, () => {
      const e = missing(() => get(kind, "nope"));
      assert.match(e.message, /nope/);
    });
    for (const other of KINDS) {
      if (other === kind) continue;
      it(`get ${kind} of a ${other} → WrongKindError`, () => {
        create(other, "x");
        throwsErr(() => get(kind, "x"), WrongKindError, "WRONG_KIND");
      });
    }
  }

  it("names must be non-empty strings", () => {
    for (const name of ["", 5, null, undefined, {}, Symbol("n")]) {
      const n = name as never;
      invalid(() => db.createDict(n), `createDict ${String(name)}`);
      invalid(() => db.createList(n), `createList ${String(name)}`);
      invalid(() => db.getDict(n), `getDict ${String(name)}`);
      invalid(() => db.getList(n), `getList ${String(name)}`);
      invalid(() => db.getTable(n), `getTable ${String(name)}`);
      invalid(() => db.drop(n), `drop ${String(name)}`);
    }
    assert.deepEqual(db.collections(), []);
  });

  it("any non-empty string is a name (unicode, spaces, dots, slashes)", () => {
    const names = ["名前", "with space", "a.b", "a/b", "0", " "];
    for (const n of names) db.createDict(n).set("k", n);
    for (const n of names) assert.equal(db.getDict(n).get("k"), n);
  });

  it("an invalid init value creates nothing", () => {
    invalid(() => db.createDict("d", { a: 1, b: (() => 1) as never }));
    invalid(() => db.createDict("d2", [["k", 1], [NaN, 2]] as never));
    invalid(() => db.createList("l", [1, undefined as never]));
    invalid(() => db.createList("l2", 5 as never));
    assert.deepEqual(db.collections(), []);
    missing(() => db.getDict("d"));
    missing(() => db.getList("l"));
  });

  it("a malformed schema creates nothing", () => {
    throwsErr(() => db.createTable({ name: "t", columns: [] } as never), SchemaError, "SCHEMA");
    assert.deepEqual(db.collections(), []);
  });

  it("handles obtained by create and get share the same data", () => {
    const d1 = db.createDict("d");
    const d2 = db.getDict("d");
    d1.set("a", 1);
    d2.set("b", 2);
    assert.deepEqual([...d1.entries()], [["a", 1], ["b", 2]]);
    assert.deepEqual([...d2.entries()], [["a", 1], ["b", 2]]);
    const l1 = db.createList("l");
    db.getList("l").append(1);
    assert.deepEqual(l1.toArray(), [1]);
    const t1 = table();
    (db.getTable("t") as unknown as LooseTable).insert({ id: 1 });
    assert.equal(t1.count(), 1);
  });
});

describe("Database: collections and drop", () => {
  it("collections() lists { name, kind } sorted by name", () => {
    db.createList("m");
    db.createTable({ ...SCHEMA, name: "b" });
    db.createDict("z");
    db.createDict("a");
    assert.deepEqual(db.collections(), [
      { name: "a", kind: "dict" },
      { name: "b", kind: "table" },
      { name: "m", kind: "list" },
      { name: "z", kind: "dict" },
    ]);
  });

  it("collections() returns a fresh array each time", () => {
    db.createDict("a");
    const c = db.collections();
    c.push({ name: "fake", kind: "dict" });
    c[0].name = "changed";
    assert.deepEqual(db.collections(), [{ name: "a", kind: "dict" }]);
  });

  it("drop returns true for an existing collection, false otherwise", () => {
    db.createDict("d");
    db.createList("l");
    table();
    assert.equal(db.drop("d"), true);
    assert.equal(db.drop("d"), false);
    assert.equal(db.drop("nope"), false);
    assert.equal(db.drop("l"), true);
    assert.equal(db.drop("t"), true);
    assert.deepEqual(db.collections(), []);
    missing(() => db.getDict("d"));
    missing(() => db.getList("l"));
    missing(() => db.getTable("t"));
  });

  it("a dropped name can be created again, empty, as any kind", () => {
    db.createDict("x").set("a", 1);
    db.drop("x");
    const l = db.createList("x");
    assert.equal(l.length, 0);
    db.drop("x");
    const d = db.createDict("x");
    assert.equal(d.size, 0);
    assert.deepEqual(db.collections(), [{ name: "x", kind: "dict" }]);
  });

  it("a handle of a dropped dict throws NotFoundError on use", () => {
    const d = db.createDict("d");
    d.set("a", 1);
    db.drop("d");
    missing(() => d.get("a"), "get");
    missing(() => d.set("a", 2), "set");
    missing(() => d.size, "size");
    missing(() => [...d.keys()], "keys");
    missing(() => d.pop("a"), "pop");
  });

  it("a handle of a dropped list or table throws NotFoundError on use", () => {
    const l = db.createList("l", [1]);
    const t = table();
    t.insert({ id: 1 });
    db.drop("l");
    db.drop("t");
    missing(() => l.get(0), "list get");
    missing(() => l.append(2), "list append");
    missing(() => l.length, "list length");
    missing(() => l.toArray(), "list toArray");
    missing(() => t.get(1), "table get");
    missing(() => t.insert({ id: 2 }), "table insert");
    missing(() => t.count(), "table count");
  });

  it("an old handle stays dead after a new collection with the same name appears", () => {
    const old = db.createDict("d");
    old.set("a", 1);
    db.drop("d");
    const fresh = db.createDict("d");
    missing(() => old.get("a"));
    missing(() => old.set("b", 2));
    assert.equal(fresh.size, 0);
    fresh.set("c", 3);
    missing(() => old.size);
    const oldList = db.createList("l");
    db.drop("l");
    db.createDict("l");
    missing(() => oldList.append(1), "old list handle, name now a dict");
    assert.equal(db.getDict("l").size, 0);
  });
});

describe("Database: transaction", () => {
  it("returns what fn returns and keeps its writes", () => {
    const d = db.createDict("d");
    const r = db.transaction(() => {
      d.set("a", 1);
      return "done";
    });
    assert.equal(r, "done");
    assert.equal(d.get("a"), 1);
  });

  it("reads inside see the writes made inside", () => {
    const d = db.createDict("d");
    const l = db.createList("l");
    db.transaction(() => {
      d.set("a", 1);
      l.append(2);
      assert.equal(d.get("a"), 1);
      assert.deepEqual(l.toArray(), [2]);
    });
  });

  it("a throw undoes every dict write and restores key order exactly", () => {
    const d = db.createDict("d", [["a", 1], ["b", { x: 1 }], ["c", 3], [4, 4]]);
    const before = [...d.entries()];
    const boom = new Error("boom");
    assert.throws(() =>
      db.transaction(() => {
        d.delete("a");
        d.set("a", 100);
        d.set("b", { x: 2 });
        d.set("new", 1);
        d.popItem();
        d.popItem();
        d.pop("c");
        d.update({ z: 1, b: 0 });
        d.setDefault("y", 1);
        d.clear();
        d.set("after-clear", 1);
        throw boom;
      }), (e) => e === boom);
    assert.deepEqual([...d.entries()], before);
  });

  it("a throw undoes every list write and restores element order exactly", () => {
    const l = db.createList("l", [3, "a", { k: 1 }, [2], null, 1]);
    const before = l.toArray();
    assert.throws(() =>
      db.transaction(() => {
        l.append(9);
        l.set(0, "x");
        l.insert(2, "ins");
        l.pop(1);
        l.remove(null);
        l.reverse();
        l.extend([7, 8]);
        l.sort();
        l.pop();
        l.clear();
        l.append("only");
        throw new Error("undo");
      }), /undo/);
    assert.deepEqual(l.toArray(), before);
  });

  it("a throw undoes every table write and restores row positions exactly", () => {
    const t = table();
    t.insertMany([{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }, { id: 4, v: null }]);
    const before = t.toArray();
    assert.throws(() =>
      db.transaction(() => {
        t.delete(2);
        t.insert({ id: 2, v: "b again" });
        t.update(1, { v: "A" });
        t.patch(3, { v: "C" });
        t.upsert({ id: 5, v: "e" });
        t.upsert({ id: 4, v: "d" });
        t.delete(1);
        t.insertMany([{ id: 6 }, { id: 7 }]);
        throw new Error("undo");
      }), /undo/);
    assert.deepEqual(t.toArray(), before);
    assert.equal(t.count(), 4);
    assert.equal(t.has(5), false);
    assert.deepEqual(t.get(2), { id: 2, v: "b" });
  });

  it("a rolled-back delete restores the row at its old position", () => {
    const t = table();
    for (const id of [1, 2, 3]) t.insert({ id, v: `v${id}` });
    assert.throws(() =>
      db.transaction(() => {
        t.delete(2);
        throw new Error("x");
      })
    );
    assert.deepEqual(t.toArray().map((r) => r.id), [1, 2, 3]);
  });

  it("a rolled-back dict delete restores the key at its old position", () => {
    const d = db.createDict("d", [["a", 1], ["b", 2], ["c", 3]]);
    assert.throws(() =>
      db.transaction(() => {
        d.delete("a");
        throw new Error("x");
      })
    );
    assert.deepEqual([...d.keys()], ["a", "b", "c"]);
    assert.deepEqual(d.popItem(), ["c", 3]);
  });

  it("writes across several collections are undone together", () => {
    const d = db.createDict("d");
    const l = db.createList("l");
    const t = table();
    assert.throws(() =>
      db.transaction(() => {
        d.set("a", 1);
        l.append(1);
        t.insert({ id: 1 });
        throw new Error("x");
      })
    );
    assert.equal(d.size, 0);
    assert.equal(l.length, 0);
    assert.equal(t.count(), 0);
  });

  it("an engine error inside (DuplicateKeyError) is rethrown and undoes earlier writes", () => {
    const t = table();
    const d = db.createDict("d");
    t.insert({ id: 1 });
    throwsErr(() =>
      db.transaction(() => {
        d.set("a", 1);
        t.insert({ id: 2 });
        t.insert({ id: 1 });
      }), DuplicateKeyError, "DUPLICATE_KEY");
    assert.equal(d.has("a"), false);
    assert.deepEqual(t.toArray(), [{ id: 1, v: null }]);
  });

  it("a thrown non-Error value is rethrown as it is", () => {
    const d = db.createDict("d");
    assert.throws(() =>
      db.transaction(() => {
        d.set("a", 1);
        throw 42;
      }), (e) => e === 42);
    assert.equal(d.size, 0);
  });

  it("creating and dropping collections inside are undone by a throw", () => {
    const keep = db.createDict("keep", { a: 1 });
    assert.throws(() =>
      db.transaction(() => {
        db.createDict("new").set("x", 1);
        db.createList("newl");
        db.drop("keep");
        throw new Error("x");
      })
    );
    assert.deepEqual(db.collections(), [{ name: "keep", kind: "dict" }]);
    assert.deepEqual(db.getDict("keep").toObject(), { a: 1 });
    assert.equal(keep.get("a"), 1);
  });

  it("nested transactions are savepoints: an inner throw caught outside undoes only the inner writes", () => {
    const d = db.createDict("d");
    const l = db.createList("l");
    const r = db.transaction(() => {
      d.set("outer1", 1);
      l.append("o1");
      try {
        db.transaction(() => {
          d.set("inner", 2);
          d.set("outer1", "changed");
          l.append("i");
          throw new Error("inner");
        });
      } catch (e) {
        assert.equal((e as Error).message, "inner");
      }
      d.set("outer2", 3);
      l.append("o2");
      return "ok";
    });
    assert.equal(r, "ok");
    assert.deepEqual([...d.entries()], [["outer1", 1], ["outer2", 3]]);
    assert.deepEqual(l.toArray(), ["o1", "o2"]);
  });

  it("a committed inner transaction is still undone when the outer one throws", () => {
    const d = db.createDict("d");
    assert.throws(() =>
      db.transaction(() => {
        d.set("a", 1);
        const inner = db.transaction(() => {
          d.set("b", 2);
          return "inner";
        });
        assert.equal(inner, "inner");
        throw new Error("outer");
      }), /outer/);
    assert.equal(d.size, 0);
  });

  it("an uncaught inner throw undoes everything", () => {
    const d = db.createDict("d");
    assert.throws(() =>
      db.transaction(() => {
        d.set("a", 1);
        db.transaction(() => {
          d.set("b", 2);
          throw new Error("inner");
        });
      }), /inner/);
    assert.equal(d.size, 0);
  });

  it("an async fn is a ValidationError and keeps nothing", async () => {
    const d = db.createDict("d");
    invalid(() =>
      db.transaction((async () => {
        d.set("a", 1);
      }) as never)
    );
    invalid(() =>
      db.transaction((() => {
        d.set("b", 1);
        return Promise.resolve(1);
      }) as never)
    );
    await Promise.resolve();
    assert.equal(d.size, 0);
  });

  it("fn must be a function", () => {
    invalid(() => db.transaction(5 as never));
    invalid(() => db.transaction(undefined as never));
  });

  it("the database works normally after a failed transaction", () => {
    const d = db.createDict("d");
    assert.throws(() =>
      db.transaction(() => {
        d.set("a", 1);
        throw new Error("x");
      })
    );
    d.set("b", 2);
    db.transaction(() => d.set("c", 3));
    assert.deepEqual([...d.entries()], [["b", 2], ["c", 3]]);
  });

  it("an invalid write inside is rethrown as ValidationError and undoes the rest", () => {
    const l = db.createList("l", [1]);
    invalid(() =>
      db.transaction(() => {
        l.append(2);
        l.append((() => 3) as never);
      })
    );
    assert.deepEqual(l.toArray(), [1]);
  });

  it("KeyNotFoundError from pop inside is rethrown and undoes the rest", () => {
    const d = db.createDict("d", { a: 1 });
    throwsErr(() =>
      db.transaction(() => {
        d.set("b", 2);
        d.pop("missing");
      }), KeyNotFoundError, "KEY_NOT_FOUND");
    assert.deepEqual(d.toObject(), { a: 1 });
  });
});

describe("Database: close", () => {
  it("after close, every database call throws ClosedError", async () => {
    const x = await Database.open();
    x.createDict("d");
    await x.close();
    closed(() => x.createDict("e"), "createDict");
    closed(() => x.createList("e"), "createList");
    closed(() => x.createTable(SCHEMA), "createTable");
    closed(() => x.getDict("d"), "getDict");
    closed(() => x.getList("d"), "getList");
    closed(() => x.getTable("d"), "getTable");
    closed(() => x.collections(), "collections");
    closed(() => x.drop("d"), "drop");
    closed(() => x.transaction(() => 1), "transaction");
    await rejectsErr(() => x.flush(), ClosedError, "CLOSED", "flush");
    await rejectsErr(() => x.snapshot(), ClosedError, "CLOSED", "snapshot");
  });

  it("after close, every handle call throws ClosedError", async () => {
    const x = await Database.open();
    const d = x.createDict("d", { a: 1 });
    const l = x.createList("l", [1]);
    const t = x.createTable(SCHEMA) as unknown as LooseTable;
    t.insert({ id: 1 });
    await x.close();
    closed(() => d.get("a"), "dict get");
    closed(() => d.set("a", 2), "dict set");
    closed(() => d.has("a"), "dict has");
    closed(() => d.size, "dict size");
    closed(() => [...d.entries()], "dict entries");
    closed(() => d.toObject(), "dict toObject");
    closed(() => l.get(0), "list get");
    closed(() => l.append(2), "list append");
    closed(() => l.length, "list length");
    closed(() => l.toArray(), "list toArray");
    closed(() => [...l], "list iterator");
    closed(() => t.get(1), "table get");
    closed(() => t.insert({ id: 2 }), "table insert");
    closed(() => t.count(), "table count");
    closed(() => t.toArray(), "table toArray");
  });

  it("closing twice is fine", async () => {
    const x = await Database.open();
    await x.close();
    await x.close();
    closed(() => x.collections());
  });

  it("await using closes the database at the end of the block", async () => {
    let d: CyberDict;
    {
      await using x = await Database.open();
      d = x.createDict("d");
      d.set("a", 1);
      assert.equal(d.get("a"), 1);
    }
    closed(() => d.get("a"));
  });

  it("Symbol.asyncDispose closes the database", async () => {
    const x = await Database.open();
    assert.equal(typeof x[Symbol.asyncDispose], "function");
    await x[Symbol.asyncDispose]();
    closed(() => x.collections());
  });
});
