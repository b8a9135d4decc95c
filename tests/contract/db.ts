// The database contract (DESIGN §3 Database, §8 Client): create / get / drop,
// kinds and names, collections(), dropped collections, the server's errors
// thrown as the same classes, and atomic batches (embedded `executeAtomic`,
// remote `atomic`): all of a batch or none of it.
import assert from "node:assert/strict";
import {
  AlreadyExistsError,
  DuplicateKeyError,
  IndexOutOfRangeError,
  KeyNotFoundError,
  NotFoundError,
  ProtocolError,
  SchemaError,
  ValidationError,
  type Value,
  ValueNotFoundError,
  WrongKindError,
} from "../../mod.ts";
import { type Contract, type Db, length, size } from "./harness.ts";
import { loose } from "./table.ts";

const SCHEMA = {
  name: "t",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "v", type: "Utf8", nullable: true },
  ],
} as const;

type Kind = "dict" | "list" | "table";
const KINDS: Kind[] = ["dict", "list", "table"];

function create(db: Db, kind: Kind, name: string): Promise<unknown> {
  if (kind === "dict") return db.createDict(name);
  if (kind === "list") return db.createList(name);
  return db.createTable({ ...SCHEMA, name });
}
function get(db: Db, kind: Kind, name: string): Promise<unknown> {
  if (kind === "dict") return db.getDict(name);
  if (kind === "list") return db.getList(name);
  return db.getTable(name);
}

export function dbContract(c: Contract): void {
  const invalid = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, ValidationError, note);
  const missing = (db: Db, fn: () => unknown, note = "") => db.rejects(fn, NotFoundError, note);

  c.group("db: get-or-create (dict, list, table)", () => {
    for (const kind of KINDS) {
      const ensure = (db: Db, name: string) =>
        kind === "dict" ? db.dict(name) : kind === "list" ? db.list(name) : db.table({ ...SCHEMA, name });
      c.test(`${kind}(): creates a missing ${kind}, then returns the same one with its data`, async (db) => {
        await ensure(db, "x");
        assert.deepEqual(await db.collections(), [{ name: "x", kind }]);
        if (kind === "dict") await (await db.getDict("x")).set("k", 1);
        if (kind === "list") await (await db.getList("x")).append(1);
        if (kind === "table") await loose(await db.getTable("x")).insert({ id: 1 });
        if (kind === "dict") assert.equal(await (await db.dict("x")).get("k"), 1);
        if (kind === "list") assert.deepEqual(await (await db.list("x")).toArray(), [1]);
        if (kind === "table") assert.equal(await (await db.table({ ...SCHEMA, name: "x" })).count(), 1);
        assert.deepEqual(await db.collections(), [{ name: "x", kind }]);
      });
      for (const other of KINDS.filter((k) => k !== kind)) {
        c.test(`${kind}() over an existing ${other} → WrongKindError, nothing created`, async (db) => {
          await create(db, other, "x");
          await db.rejects(() => ensure(db, "x"), WrongKindError);
          assert.deepEqual(await db.collections(), [{ name: "x", kind: other }]);
        });
      }
      c.test(`${kind}() checks the name: a bad one → ValidationError`, async (db) => {
        for (const bad of ["", 7, null]) {
          await db.rejects(
            () => kind === "table" ? db.table({ ...SCHEMA, name: bad as never }) : ensure(db, bad as never),
            kind === "table" ? SchemaError : ValidationError,
          );
        }
        assert.deepEqual(await db.collections(), []);
      });
    }
    c.test("table() with another schema than the existing table's → SchemaError naming both, table unchanged", async (db) => {
      await (await db.table(SCHEMA)).count();
      await loose(await db.getTable("t")).insert({ id: 1, v: "a" });
      const other = { name: "t", columns: [{ name: "id", type: "Utf8", primaryKey: true }] } as const;
      const e = await db.rejects(() => db.table(other), SchemaError);
      assert.match(e.message, /exists with schema/);
      assert.equal(await (await db.getTable("t")).count(), 1);
      // String and Utf8 are one type: the same schema spelled differently is the same table.
      const spelled = {
        ...SCHEMA,
        columns: [SCHEMA.columns[0], { name: "v", type: "String", nullable: true }],
      } as const;
      assert.equal(await (await db.table(spelled)).count(), 1);
    });
  });

  c.group("db: create, get, kinds", () => {
    for (const existing of KINDS) {
      for (const kind of KINDS) {
        c.test(`create ${kind} over an existing ${existing} → AlreadyExistsError, old data kept`, async (db) => {
          await create(db, existing, "x");
          if (existing === "dict") await (await db.getDict("x")).set("k", 1);
          if (existing === "list") await (await db.getList("x")).append(1);
          if (existing === "table") await loose(await db.getTable("x")).insert({ id: 1 });
          await db.rejects(() => create(db, kind, "x"), AlreadyExistsError);
          assert.deepEqual(await db.collections(), [{ name: "x", kind: existing }]);
          if (existing === "dict") assert.equal(await (await db.getDict("x")).get("k"), 1);
          if (existing === "list") assert.deepEqual(await (await db.getList("x")).toArray(), [1]);
          if (existing === "table") assert.equal(await (await db.getTable("x")).count(), 1);
        });
      }
    }

    for (const kind of KINDS) {
      c.test(`get ${kind} of a missing name → NotFoundError`, async (db) => {
        const e = await missing(db, () => get(db, kind, "nope"));
        assert.match(e.message, /nope/);
      });
      for (const other of KINDS) {
        if (other === kind) continue;
        c.test(`get ${kind} of a ${other} → WrongKindError`, async (db) => {
          await create(db, other, "x");
          await db.rejects(() => get(db, kind, "x"), WrongKindError);
        });
      }
    }

    c.test("names must be non-empty strings", async (db) => {
      for (const name of ["", 5, null, undefined, {}, Symbol("n")]) {
        const n = name as never;
        await invalid(db, () => db.createDict(n), `createDict ${String(name)}`);
        await invalid(db, () => db.createList(n), `createList ${String(name)}`);
        await invalid(db, () => db.getDict(n), `getDict ${String(name)}`);
        await invalid(db, () => db.getList(n), `getList ${String(name)}`);
        await invalid(db, () => db.getTable(n), `getTable ${String(name)}`);
        await invalid(db, () => db.drop(n), `drop ${String(name)}`);
      }
      assert.deepEqual(await db.collections(), []);
    });

    c.test("any non-empty string is a name (unicode, spaces, dots, slashes)", async (db) => {
      const names = ["名前", "with space", "a.b", "a/b", "0", " "];
      for (const n of names) await (await db.createDict(n)).set("k", n);
      for (const n of names) assert.equal(await (await db.getDict(n)).get("k"), n);
    });

    c.test("an invalid init value creates nothing", async (db) => {
      await invalid(db, () => db.createDict("d", { a: 1, b: (() => 1) as never }));
      await invalid(db, () => db.createDict("d2", [["k", 1], [NaN, 2]] as never));
      await invalid(db, () => db.createList("l", [1, undefined as never]));
      await invalid(db, () => db.createList("l2", 5 as never));
      assert.deepEqual(await db.collections(), []);
      await missing(db, () => db.getDict("d"));
      await missing(db, () => db.getList("l"));
    });

    c.test("a malformed schema creates nothing", async (db) => {
      await db.rejects(() => db.createTable({ name: "t", columns: [] } as never), SchemaError);
      assert.deepEqual(await db.collections(), []);
    });

    c.test("handles obtained by create and get share the same data", async (db) => {
      const d1 = await db.createDict("d");
      const d2 = await db.getDict("d");
      await d1.set("a", 1);
      await d2.set("b", 2);
      assert.deepEqual([...await d1.entries()], [["a", 1], ["b", 2]]);
      assert.deepEqual([...await d2.entries()], [["a", 1], ["b", 2]]);
      const l1 = await db.createList("l");
      await (await db.getList("l")).append(1);
      assert.deepEqual(await l1.toArray(), [1]);
      const t1 = await db.createTable(SCHEMA);
      await (await db.getTable<typeof SCHEMA>("t")).insert({ id: 1 });
      assert.equal(await t1.count(), 1);
    });
  });

  c.group("db: collections and drop", () => {
    c.test("collections() lists { name, kind } sorted by name", async (db) => {
      await db.createList("m");
      await db.createTable({ ...SCHEMA, name: "b" });
      await db.createDict("z");
      await db.createDict("a");
      assert.deepEqual(await db.collections(), [
        { name: "a", kind: "dict" },
        { name: "b", kind: "table" },
        { name: "m", kind: "list" },
        { name: "z", kind: "dict" },
      ]);
    });

    c.test("collections() returns a fresh array each time", async (db) => {
      await db.createDict("a");
      const list = await db.collections();
      list.push({ name: "fake", kind: "dict" });
      list[0].name = "changed";
      assert.deepEqual(await db.collections(), [{ name: "a", kind: "dict" }]);
    });

    c.test("drop resolves to whether the collection existed", async (db) => {
      await db.createDict("d");
      await db.createList("l");
      await db.createTable(SCHEMA);
      assert.equal(await db.drop("d"), true);
      assert.equal(await db.drop("d"), false);
      assert.equal(await db.drop("nope"), false);
      assert.equal(await db.drop("l"), true);
      assert.equal(await db.drop("t"), true);
      assert.deepEqual(await db.collections(), []);
      await missing(db, () => db.getDict("d"));
      await missing(db, () => db.getList("l"));
      await missing(db, () => db.getTable("t"));
    });

    c.test("a dropped name can be created again, empty, as any kind", async (db) => {
      await (await db.createDict("x")).set("a", 1);
      await db.drop("x");
      assert.equal(await length(await db.createList("x")), 0);
      await db.drop("x");
      assert.equal(await size(await db.createDict("x")), 0);
      assert.deepEqual(await db.collections(), [{ name: "x", kind: "dict" }]);
    });
  });

  c.group("db: errors come out as their classes", () => {
    c.test("every error class, with its code and message, from every kind of call", async (db) => {
      const d = await db.createDict("errors");
      const usable = await db.createDict("errors_usable");
      const l = await db.createList("errors_list", [1]);
      const t = await db.createTable(
        { name: "errors_t", columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const,
      );
      await t.insert({ id: 1 });
      const cases: [() => unknown, new (message: string) => Error][] = [
        [() => d.pop("missing"), KeyNotFoundError],
        [() => d.popItem(), KeyNotFoundError],
        [() => db.getList("errors"), WrongKindError],
        [() => db.getDict("nope"), NotFoundError],
        [() => db.createDict("errors"), AlreadyExistsError],
        [() => l.get(5), IndexOutOfRangeError],
        [() => l.remove(42), ValueNotFoundError],
        [() => t.insert({ id: 1 }), DuplicateKeyError],
        [() => t.insert({ id: "x" as never }), ValidationError],
        [() => db.createTable({ name: "bad", columns: [] }), SchemaError],
        [() => d.set("k", new Map() as never), ValidationError],
        [() => d.set("k", (() => 1) as never), ValidationError],
        [() => d.set({} as never, 1), ValidationError],
        [() => db.call("dict.nope", [db.n("errors")]), ProtocolError],
        [() => db.call("dict.set", [db.n("errors")]), ValidationError],
        [() => db.call("dict.set", [db.n("errors"), "k", 1, 2]), ValidationError],
        [() => db.call("dict.set", "errors" as never), ValidationError],
        [() => db.call("nope", []), ProtocolError],
      ];
      for (const [i, [fn, Class]] of cases.entries()) {
        await db.rejects(fn, Class, `case ${i}`);
        // The connection (or database) stays usable after every error.
        await usable.set(i, "usable");
        assert.equal(await usable.get(i), "usable");
      }
      assert.equal(await size(d), 0, "no failed call stored anything");
    });

    c.test("call() runs any op of the op table by name", async (db) => {
      await db.call("db.createDict", [db.n("d")]);
      assert.equal(await db.call("dict.set", [db.n("d"), "k", 1]), undefined);
      assert.equal(await db.call("dict.get", [db.n("d"), "k"]), 1);
      assert.deepEqual(await db.call("dict.keys", [db.n("d")]), ["k"]);
      assert.equal(await db.call("db.getDict", [db.n("d")]), null);
      assert.deepEqual(await (await db.getDict("d")).toObject(), { k: 1 });
    });
  });

  c.group("db: atomic batches", () => {
    c.test("an atomic batch returns every result, and all of it happens", async (db) => {
      const d = await db.createDict("atomic");
      const results = await db.atomic([
        { op: "dict.set", args: [db.n("atomic"), "a", 1] },
        { op: "dict.pop", args: [db.n("atomic"), "a"] },
        { op: "db.createList", args: [db.n("l"), [1, 2]] },
        { op: "list.pop", args: [db.n("l")] },
      ]);
      assert.deepEqual(results, [undefined, 1, null, 2]);
      assert.equal(await d.has("a"), false);
      assert.deepEqual(await (await db.getList("l")).toArray(), [1]);
    });

    c.test("a failed atomic batch throws the first error and applies nothing", async (db) => {
      const d = await db.createDict("atomic");
      await db.rejects(
        () =>
          db.atomic([{ op: "dict.set", args: [db.n("atomic"), "b", 1] }, {
            op: "dict.pop",
            args: [db.n("atomic"), "zz"],
          }]),
        KeyNotFoundError,
      );
      assert.equal(await d.has("b"), false);
      await db.rejects(
        () => db.atomic([{ op: "dict.set", args: [db.n("atomic"), "b", 1] }, { op: "dict.nope", args: [] }]),
        ProtocolError,
      );
      await db.rejects(
        () => db.atomic([{ op: "db.createDict", args: [db.n("new")] }, { op: "dict.set", args: [db.n("new")] }]),
        ValidationError,
      );
      assert.equal(await d.has("b"), false);
      assert.deepEqual(await db.collections(), [{ name: "atomic", kind: "dict" }]);
    });

    c.test("a failed atomic batch restores dict key order, list element order and table row positions exactly", async (db) => {
      const d = await db.createDict<Value>("d", [["a", 1], ["b", { x: 1 }], ["c", 3], [4, 4]]);
      const l = await db.createList<Value>("l", [3, "a", { k: 1 }, [2], null, 1]);
      const t = await db.createTable(SCHEMA);
      await t.insertMany([{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }, { id: 4, v: null }]);
      const state = async () => [[...await d.entries()], await l.toArray(), await t.toArray()];
      const before = await state();
      const [dn, ln, tn] = [db.n("d"), db.n("l"), db.n("t")];
      await db.rejects(() =>
        db.atomic([
          { op: "dict.delete", args: [dn, "a"] },
          { op: "dict.set", args: [dn, "a", 100] },
          { op: "dict.set", args: [dn, "b", { x: 2 }] },
          { op: "dict.popItem", args: [dn] },
          { op: "dict.update", args: [dn, { z: 1, b: 0 }] },
          { op: "dict.clear", args: [dn] },
          { op: "list.append", args: [ln, 9] },
          { op: "list.set", args: [ln, 0, "x"] },
          { op: "list.insert", args: [ln, 2, "ins"] },
          { op: "list.remove", args: [ln, null] },
          { op: "list.reverse", args: [ln] },
          { op: "list.sort", args: [ln] },
          { op: "list.clear", args: [ln] },
          { op: "table.delete", args: [tn, 2] },
          { op: "table.insert", args: [tn, { id: 2, v: "b again" }] },
          { op: "table.update", args: [tn, 1, { v: "A" }] },
          { op: "table.patch", args: [tn, 3, { v: "C" }] },
          { op: "table.upsert", args: [tn, { id: 5, v: "e" }] },
          { op: "table.insertMany", args: [tn, [{ id: 6 }, { id: 7 }]] },
          { op: "table.insert", args: [tn, { id: 1 }] },
        ]), DuplicateKeyError);
      assert.deepEqual(await state(), before);
      assert.deepEqual(await d.popItem(), [4, 4]);
    });
  });

  c.group("db: stats (Redis's INFO)", () => {
    c.test("stats() has the same shape on every target, and counts what was written", async (db) => {
      await db.createDict("d", { a: 1, b: "x".repeat(200), c: [1, 2, 3] });
      await db.createList("l", [1, 2]);
      const t = await db.createTable({ ...SCHEMA, name: "t" });
      await loose(t).insert({ id: 1, v: "one" });
      const s = await db.stats();
      assert.deepEqual(shape(s), STATS_SHAPE, "the fields and their types");
      // A remote target shares its server with the other tests: at least ours.
      assert.ok(s.kinds.dict.collections >= 1 && s.kinds.dict.items >= 3, "dict counts");
      assert.ok(s.kinds.list.collections >= 1 && s.kinds.list.items >= 2, "list counts");
      assert.ok(s.kinds.table.collections >= 1 && s.kinds.table.items >= 1, "table counts");
      assert.equal(s.collections, s.kinds.dict.collections + s.kinds.list.collections + s.kinds.table.collections);
      assert.equal(s.items, s.kinds.dict.items + s.kinds.list.items + s.kinds.table.items);
      assert.ok(s.kinds.dict.approxBytes >= 200, `about the 200-character value at least: ${s.kinds.dict.approxBytes}`);
      assert.equal(s.approxBytes, s.kinds.dict.approxBytes + s.kinds.list.approxBytes + s.kinds.table.approxBytes);
      assert.ok(s.lsn >= 4, "four writes took an LSN each");
      assert.equal(s.durableLsn, s.lsn, "in memory everything counts as durable");
      assert.match(s.historyId, /^[0-9a-f]{32}$/, "the history the LSNs belong to");
      // Both the embedded database and the server here are memory-only.
      assert.equal(s.storage, null);
      assert.equal(s.sync, "interval");
      assert.deepEqual([s.wal, s.fsync, s.snapshot, s.snapshots, s.recovery], [null, null, null, null, null]);
      assert.equal(s.storageError, null);
      assert.ok(s.openedAt <= Date.now() && s.uptimeMs >= 0);
      assert.ok(s.watchers >= 0);
      // The op by name answers the same.
      const byName = await db.call("db.stats", []) as Record<string, unknown>;
      assert.deepEqual(shape(byName), STATS_SHAPE);
      assert.ok((byName.lsn as number) >= s.lsn);
    });

    c.test("stats() sees writes and drops at once", async (db) => {
      const before = await db.stats();
      const d = await db.createDict("d");
      await d.update({ a: 1, b: 2, c: 3, d: 4, e: 5 });
      const mid = await db.stats();
      assert.equal(mid.lsn, before.lsn + 2);
      assert.equal(mid.kinds.dict.collections, before.kinds.dict.collections + 1);
      assert.equal(mid.kinds.dict.items, before.kinds.dict.items + 5);
      await db.drop("d");
      const after = await db.stats();
      assert.equal(after.kinds.dict.collections, before.kinds.dict.collections);
      assert.equal(after.kinds.dict.items, before.kinds.dict.items);
    });

    c.test("db.stats takes no arguments", async (db) => {
      const e = await db.rejects(() => db.call("db.stats", [1]), ValidationError);
      assert.match(e.message, /db\.stats/);
    });
  });
}

/** Every field's type, recursively: what must be alike on every target. */
function shape(v: unknown): unknown {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, shape(x)]));
}

const KIND_SHAPE = { collections: "number", items: "number", approxBytes: "number" };
/** The shape of a memory-only database's stats (durability facts are null without a directory). */
const STATS_SHAPE = {
  lsn: "number",
  collections: "number",
  items: "number",
  approxBytes: "number",
  kinds: { dict: KIND_SHAPE, list: KIND_SHAPE, table: KIND_SHAPE },
  durableLsn: "number",
  historyId: "string",
  sync: "string",
  storage: "null",
  wal: "null",
  fsync: "null",
  snapshot: "null",
  snapshots: "null",
  recovery: "null",
  openedAt: "number",
  uptimeMs: "number",
  watchers: "number",
  storageError: "null",
};
