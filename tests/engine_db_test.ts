// Database, embedded only: open, handle classes, handles of dropped
// collections, transactions (rollback, savepoints, async rejection), close
// and Symbol.asyncDispose, and a randomized model check. Create / get /
// drop, kinds, names and collections() are in the contract suite
// (tests/contract/db.ts), run embedded, over WebSocket and over HTTP.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ErrClass, throwsErr } from "./fixtures/assert_errors.ts";
import { prng } from "./fixtures/prng.ts";
import {
  ClosedError,
  CyberDict,
  CyberList,
  Database,
  DuplicateKeyError,
  KeyNotFoundError,
  NotFoundError,
  Table,
  ValidationError,
  type Value,
} from "../mod.ts";

// Note: createDict/createList are called with an explicit <Value> where an
// init is given and the handle is written to afterwards: without it the value
// type is inferred from the init as literals (createList("l", [1]) gives a
// CyberList<1>, on which append(2) does not type-check).

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

let db: Database;

beforeEach(async () => {
  db = await Database.open();
});
afterEach(async () => {
  await db.close();
});

const table = (name = "t") => db.createTable({ ...SCHEMA, name }) as unknown as LooseTable;

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
});

describe("Database: dropped collections (handles are bound to the collection, not its name)", () => {
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
    const l = db.createList<Value>("l", [1]);
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
    const d = db.createDict<Value>("d", [["a", 1], ["b", { x: 1 }], ["c", 3], [4, 4]]);
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
    const l = db.createList<Value>("l", [3, "a", { k: 1 }, [2], null, 1]);
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
    const d = db.createDict<Value>("d", [["a", 1], ["b", 2], ["c", 3]]);
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
    throwsErr(
      () =>
        db.transaction(() => {
          d.set("a", 1);
          t.insert({ id: 2 });
          t.insert({ id: 1 });
        }),
      DuplicateKeyError,
      "DUPLICATE_KEY",
    );
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
    const keep = db.createDict<Value>("keep", { a: 1 });
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
      db.transaction(
        // deno-lint-ignore require-await -- the point: an async function is refused
        (async () => {
          d.set("a", 1);
        }) as never,
      )
    );
    invalid(() =>
      db.transaction(
        (() => {
          d.set("b", 1);
          return Promise.resolve(1);
        }) as never,
      )
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
    const l = db.createList<Value>("l", [1]);
    invalid(() =>
      db.transaction(() => {
        l.append(2);
        l.append((() => 3) as never);
      })
    );
    assert.deepEqual(l.toArray(), [1]);
  });

  it("KeyNotFoundError from pop inside is rethrown and undoes the rest", () => {
    const d = db.createDict<Value>("d", { a: 1 });
    throwsErr(
      () =>
        db.transaction(() => {
          d.set("b", 2);
          d.pop("missing");
        }),
      KeyNotFoundError,
      "KEY_NOT_FOUND",
    );
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
    const d = x.createDict<Value>("d", { a: 1 });
    const l = x.createList<Value>("l", [1]);
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

// ---------------------------------------------------------------------------
// Randomized model check: random dict/list/table operations, inside and
// outside (nested) transactions, against a plain-JS model of the contract.
// Deterministic (seeded), so a failure reproduces.

type DKey = string | number;
interface Model {
  dict: [DKey, number][];
  list: number[];
  table: { id: number; v: string | null }[];
}
interface Step {
  label: string;
  model: () => unknown;
  engine: () => unknown;
}
class Expected {
  constructor(readonly code: string) {}
}
class Abort extends Error {}

function modelCheck(seed: number, steps: number): void {
  const r = prng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const KEYS: DKey[] = ["a", "b", "c", "d", 0, 1, 2, "0"];
  const d = db.createDict<Value>("md");
  const l = db.createList<Value>("ml");
  const t = table("mt");
  let m: Model = { dict: [], list: [], table: [] };
  const log: string[] = [];

  const dIdx = (k: DKey) => m.dict.findIndex(([x]) => x === k);
  const tIdx = (id: number) => m.table.findIndex((row) => row.id === id);
  const norm = (i: number, n: number) => (i < 0 ? i + n : i);

  function randomStep(): Step {
    const k = pick(KEYS);
    const v = int(10);
    const id = int(6);
    const n = m.list.length;
    const ops: Array<() => Step> = [
      () => ({
        label: `dict.set(${String(k)}, ${v})`,
        model: () => {
          const i = dIdx(k);
          if (i >= 0) m.dict[i][1] = v;
          else m.dict.push([k, v]);
        },
        engine: () => void d.set(k, v),
      }),
      () => ({
        label: `dict.delete(${String(k)})`,
        model: () => {
          const i = dIdx(k);
          if (i >= 0) m.dict.splice(i, 1);
          return i >= 0;
        },
        engine: () => d.delete(k),
      }),
      () => ({
        label: `dict.pop(${String(k)})`,
        model: () => {
          const i = dIdx(k);
          if (i < 0) throw new Expected("KEY_NOT_FOUND");
          return m.dict.splice(i, 1)[0][1];
        },
        engine: () => d.pop(k),
      }),
      () => ({
        label: `dict.pop(${String(k)}, -1)`,
        model: () => {
          const i = dIdx(k);
          return i < 0 ? -1 : m.dict.splice(i, 1)[0][1];
        },
        engine: () => d.pop(k, -1),
      }),
      () => ({
        label: "dict.popItem()",
        model: () => {
          const last = m.dict.pop();
          if (!last) throw new Expected("KEY_NOT_FOUND");
          return last;
        },
        engine: () => d.popItem(),
      }),
      () => ({
        label: `dict.setDefault(${String(k)}, ${v})`,
        model: () => {
          const i = dIdx(k);
          if (i >= 0) return m.dict[i][1];
          m.dict.push([k, v]);
          return v;
        },
        engine: () => d.setDefault(k, v),
      }),
      () => {
        const pairs: [DKey, number][] = [[pick(KEYS), int(10)], [pick(KEYS), int(10)]];
        return {
          label: `dict.update(${JSON.stringify(pairs)})`,
          model: () => {
            for (const [pk, pv] of pairs) {
              const i = dIdx(pk);
              if (i >= 0) m.dict[i][1] = pv;
              else m.dict.push([pk, pv]);
            }
          },
          engine: () => void d.update(pairs),
        };
      },
      () => ({
        label: "dict.clear()",
        model: () => void (m.dict = []),
        engine: () => void d.clear(),
      }),
      () => ({
        label: `list.append(${v})`,
        model: () => void m.list.push(v),
        engine: () => void l.append(v),
      }),
      () => {
        const i = int(2 * n + 3) - n - 1;
        return {
          label: `list.set(${i}, ${v})`,
          model: () => {
            const at = norm(i, n);
            if (at < 0 || at >= n) throw new Expected("INDEX_OUT_OF_RANGE");
            m.list[at] = v;
          },
          engine: () => void l.set(i, v),
        };
      },
      () => {
        const i = int(2 * n + 5) - n - 2;
        return {
          label: `list.insert(${i}, ${v})`,
          model: () => {
            const at = i < 0 ? Math.max(0, i + n) : Math.min(i, n);
            m.list.splice(at, 0, v);
          },
          engine: () => void l.insert(i, v),
        };
      },
      () => {
        const i = int(2 * n + 3) - n - 1;
        return {
          label: `list.pop(${i})`,
          model: () => {
            const at = norm(i, n);
            if (at < 0 || at >= n) throw new Expected("INDEX_OUT_OF_RANGE");
            return m.list.splice(at, 1)[0];
          },
          engine: () => l.pop(i),
        };
      },
      () => ({
        label: "list.pop()",
        model: () => {
          if (n === 0) throw new Expected("INDEX_OUT_OF_RANGE");
          return m.list.pop();
        },
        engine: () => l.pop(),
      }),
      () => ({
        label: `list.remove(${v})`,
        model: () => {
          const i = m.list.indexOf(v);
          if (i < 0) throw new Expected("VALUE_NOT_FOUND");
          m.list.splice(i, 1);
        },
        engine: () => void l.remove(v),
      }),
      () => ({
        label: "list.reverse()",
        model: () => void m.list.reverse(),
        engine: () => void l.reverse(),
      }),
      () => {
        const reverse = r() < 0.5;
        return {
          label: `list.sort({ reverse: ${reverse} })`,
          model: () => void m.list.sort((a, b) => (reverse ? b - a : a - b)),
          engine: () => void l.sort({ reverse }),
        };
      },
      () => {
        const more = [int(10), int(10)];
        return {
          label: `list.extend(${JSON.stringify(more)})`,
          model: () => void m.list.push(...more),
          engine: () => void l.extend(more),
        };
      },
      () => ({
        label: "list.clear()",
        model: () => void (m.list = []),
        engine: () => void l.clear(),
      }),
      () => ({
        label: `list.count(${v}) / indexOf`,
        model: () => [m.list.filter((x) => x === v).length, m.list.indexOf(v)],
        engine: () => [l.count(v), l.indexOf(v)],
      }),
      () => {
        const row = { id, v: r() < 0.3 ? null : `s${v}` };
        return {
          label: `table.insert(${JSON.stringify(row)})`,
          model: () => {
            if (tIdx(id) >= 0) throw new Expected("DUPLICATE_KEY");
            m.table.push(row);
          },
          engine: () => void t.insert(row),
        };
      },
      () => ({
        label: `table.delete(${id})`,
        model: () => {
          const i = tIdx(id);
          if (i >= 0) m.table.splice(i, 1);
          return i >= 0;
        },
        engine: () => t.delete(id),
      }),
      () => {
        const row = { id, v: `u${v}` };
        return {
          label: `table.upsert(${JSON.stringify(row)})`,
          model: () => {
            const i = tIdx(id);
            if (i >= 0) m.table[i] = row;
            else m.table.push(row);
          },
          engine: () => void t.upsert(row),
        };
      },
      () => ({
        label: `table.update(${id}, { v: "w${v}" })`,
        model: () => {
          const i = tIdx(id);
          if (i < 0) throw new Expected("KEY_NOT_FOUND");
          m.table[i] = { id, v: `w${v}` };
        },
        engine: () => void t.update(id, { v: `w${v}` }),
      }),
      () => ({
        label: `table.patch(${id}, { v: null })`,
        model: () => {
          const i = tIdx(id);
          if (i < 0) throw new Expected("KEY_NOT_FOUND");
          m.table[i] = { id, v: null };
        },
        engine: () => void t.patch(id, { v: null }),
      }),
      () => {
        const rows = [{ id: int(6), v: "m" }, { id: int(6), v: null }];
        return {
          label: `table.insertMany(${JSON.stringify(rows)})`,
          model: () => {
            if (rows[0].id === rows[1].id || rows.some((row) => tIdx(row.id) >= 0)) {
              throw new Expected("DUPLICATE_KEY");
            }
            m.table.push(...rows);
          },
          engine: () => void t.insertMany(rows),
        };
      },
      () => ({
        label: `table.get(${id})`,
        model: () => m.table.find((row) => row.id === id),
        engine: () => t.get(id),
      }),
    ];
    return pick(ops)();
  }

  function compareState(where: string): void {
    const ctx = `${where} (seed ${seed}); last ops:\n  ${log.slice(-12).join("\n  ")}`;
    assert.deepEqual([...d.entries()], m.dict, `dict differs ${ctx}`);
    assert.equal(d.size, m.dict.length, `dict size differs ${ctx}`);
    assert.deepEqual(l.toArray(), m.list, `list differs ${ctx}`);
    assert.deepEqual(t.toArray(), m.table, `table differs ${ctx}`);
    assert.equal(t.count(), m.table.length, `table count differs ${ctx}`);
  }

  function runStep(): void {
    const step = randomStep();
    log.push(step.label);
    let want: { ok: true; value: unknown } | { ok: false; code: string };
    try {
      want = { ok: true, value: step.model() };
    } catch (e) {
      if (!(e instanceof Expected)) throw e;
      want = { ok: false, code: e.code };
    }
    let got: { ok: true; value: unknown } | { ok: false; code: string };
    try {
      got = { ok: true, value: step.engine() };
    } catch (e) {
      got = { ok: false, code: String((e as { code?: unknown }).code ?? (e as Error).message) };
    }
    assert.deepEqual(got, want, `${step.label} (seed ${seed})`);
  }

  function runTransaction(depth: number): void {
    const saved = structuredClone(m);
    log.push(`${"  ".repeat(depth)}transaction {`);
    let aborted = false;
    try {
      db.transaction(() => {
        const count = 1 + int(6);
        for (let i = 0; i < count; i++) {
          if (depth < 3 && r() < 0.15) runTransaction(depth + 1);
          else runStep();
        }
        compareState("inside a transaction");
        if (r() < 0.5) throw new Abort("abort");
      });
    } catch (e) {
      if (!(e instanceof Abort)) throw e;
      aborted = true;
    }
    log.push(`${"  ".repeat(depth)}} ${aborted ? "thrown" : "committed"}`);
    if (aborted) m = saved;
    compareState(aborted ? "after a rolled-back transaction" : "after a committed transaction");
  }

  for (let i = 0; i < steps; i++) {
    if (r() < 0.25) runTransaction(0);
    else runStep();
    compareState("after a step");
  }
}

describe("Database: randomized model check", () => {
  for (const seed of [1, 2, 3, 42, 2024]) {
    it(`dict, list and table agree with a model, with nested transactions (seed ${seed})`, () => {
      modelCheck(seed, 400);
    });
  }
});
