// Live data, embedded (issue 11 items 1-4, DESIGN §9): LSNs and versions,
// check-and-set, counters and expiry — with the `clock` option instead of
// sleeping, and across snapshots, recovery and replay on real files.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ConflictError,
  type CyberDict,
  Database,
  NotFoundError,
  ValidationError,
  type Value,
  WrongKindError,
} from "../mod.ts";
import { MemoryStorage } from "../storage.ts";
import { throwsErr } from "./fixtures/assert_errors.ts";
import { tempDir } from "./server_process.ts";
import { prng } from "./fixtures/prng.ts";
import { encode } from "../src/wire/codec.ts";
import { encodeFrame } from "../src/log/frame.ts";
import { crc32c } from "../src/log/crc32c.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

const USERS = {
  name: "users",
  columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "name", type: "Utf8" }, {
    name: "age",
    type: "Int32",
    nullable: true,
  }],
} as const;

describe("LSNs and versions", () => {
  let db: Database;
  beforeEach(async () => {
    db = await Database.open();
  });
  afterEach(() => db.close());

  it("every committed call takes exactly one LSN, in memory too; reads, refused writes and rollbacks take none", () => {
    assert.equal(db.lsn, 0);
    const d = db.createDict("d"); // 1
    assert.equal(db.lsn, 1);
    d.set("a", 1); // 2
    d.get("a");
    d.has("a");
    [...d.entries()];
    assert.equal(db.lsn, 2);
    throwsErr(() => d.set("b", (() => 1) as never), ValidationError, "VALIDATION");
    assert.equal(db.lsn, 2, "a refused write takes no LSN");
    assert.equal(d.delete("missing"), false);
    assert.equal(db.lsn, 2, "a delete of nothing writes nothing");
    db.transaction(() => {
      d.set("b", 2);
      d.set("c", 3);
      db.createList("l", [1]);
    }); // 3
    assert.equal(db.lsn, 3, "a transaction is one LSN");
    assert.throws(() =>
      db.transaction(() => {
        d.set("x", 1);
        throw new Error("roll back");
      })
    );
    assert.equal(db.lsn, 3, "a rolled-back transaction takes none");
    const t = db.createTable(USERS); // 4
    t.insertMany([{ id: 1, name: "a" }, { id: 2, name: "b" }]); // 5
    db.atomic({ ops: [{ op: "dict.set", args: ["d", "z", 0] }, { op: "list.append", args: ["l", 2] }] }); // 6
    assert.equal(db.lsn, 6);
  });

  it("dict entries and table rows carry the LSN of their last write", () => {
    const d = db.createDict("d");
    d.set("a", 1);
    const first = db.lsn;
    d.set("b", 2);
    assert.deepEqual(d.getEntry("a"), { key: "a", value: 1, version: first });
    assert.equal(d.getEntry("b")!.version, first + 1);
    d.update({ a: 10, c: 3 });
    assert.equal(d.getEntry("a")!.version, db.lsn);
    assert.equal(d.getEntry("c")!.version, db.lsn);
    assert.equal(d.getEntry("b")!.version, first + 1, "an untouched key keeps its version");
    d.delete("b");
    assert.equal(d.getEntry("b"), undefined);
    const t = db.createTable(USERS);
    t.insert({ id: 1, name: "ada" });
    const inserted = db.lsn;
    assert.deepEqual(t.getEntry(1), { row: { id: 1, name: "ada", age: null }, version: inserted });
    t.patch(1, { age: 36 });
    assert.deepEqual(t.getEntry(1), { row: { id: 1, name: "ada", age: 36 }, version: inserted + 1 });
    t.upsert({ id: 2, name: "bob", age: null });
    db.transaction(() => {
      t.update(2, { name: "bo", age: 1 });
      d.set("a", 11);
    });
    assert.equal(t.getEntry(2)!.version, db.lsn);
    assert.equal(d.getEntry("a")!.version, db.lsn, "every write of a transaction gets its LSN");
    assert.equal(t.getEntry(99), undefined);
  });

  it("a rolled-back transaction restores the versions it overwrote", () => {
    const d = db.createDict("d");
    d.set("a", 1);
    const t = db.createTable(USERS);
    t.insert({ id: 1, name: "ada" });
    const before = [d.getEntry("a"), t.getEntry(1)];
    assert.throws(() =>
      db.transaction(() => {
        d.set("a", 2);
        d.delete("a");
        d.set("a", 3);
        t.patch(1, { age: 1 });
        t.delete(1);
        throw new Error("no");
      })
    );
    assert.deepEqual([d.getEntry("a"), t.getEntry(1)], before);
  });

  it("a returned entry is a copy", () => {
    const d = db.createDict<Value>("d");
    d.set("o", { x: [1] });
    const e = d.getEntry("o")!;
    (e.value as { x: number[] }).x.push(2);
    assert.deepEqual(d.get("o"), { x: [1] });
  });
});

describe("LSNs when nobody reads the log entries", () => {
  // A memory database nobody watches builds no log entries (nothing reads
  // them): every write still takes its LSN. The same writes on a database
  // with a watcher open (which reads them) must give the same LSNs.
  it("every kind of write takes one LSN, as when a watcher reads the entries", async () => {
    const clock = manualClock();
    const plain = await Database.open({ clock: clock.now });
    const watched = await Database.open({ clock: clock.now });
    const seen: number[] = [];
    watched.createDict("_");
    const stop = watched.subscribe((changes) => seen.push(...changes.map((c) => c.lsn)));
    const steps: [string, (db: Database) => unknown][] = [
      ["createDict", (db) => db.createDict("d", { a: 1 })],
      ["set", (db) => db.getDict("d").set("b", 2)],
      ["set expireIn", (db) => db.getDict("d").set("c", 3, { expireIn: 10 })],
      ["expire", (db) => db.getDict("d").expire("b", 50)],
      ["increment", (db) => db.getDict("d").increment("n")],
      ["setDefault", (db) => db.getDict("d").setDefault("e", 5)],
      ["update", (db) => db.getDict("d").update({ f: 6 })],
      ["delete", (db) => db.getDict("d").delete("a")],
      ["expired set", (db) => (clock.advance(20), db.getDict("d").set("c", 4))],
      ["clear", (db) => db.getDict("d").clear()],
      ["createList", (db) => db.createList("l", [3, 1])],
      ["append", (db) => db.getList("l").append(2)],
      ["extend []", (db) => db.getList("l").extend([])],
      ["extend", (db) => db.getList("l").extend([5, 4])],
      ["insert", (db) => db.getList("l").insert(0, 9)],
      ["set index", (db) => db.getList("l").set(0, 8)],
      ["pop", (db) => db.getList("l").pop()],
      ["remove", (db) => db.getList("l").remove(8)],
      ["reverse", (db) => db.getList("l").reverse()],
      ["sort", (db) => db.getList("l").sort()],
      ["clear list", (db) => db.getList("l").clear()],
      ["createTable", (db) => db.createTable(USERS)],
      ["insert row", (db) => db.getTable("users").insert({ id: 1, name: "a", age: 1 })],
      ["insertMany []", (db) => db.getTable("users").insertMany([])],
      ["insertMany", (db) => db.getTable("users").insertMany([{ id: 2, name: "b" }, { id: 3, name: "c" }])],
      ["update row", (db) => db.getTable("users").update(1, { id: 1, name: "z", age: 2 })],
      ["patch", (db) => db.getTable("users").patch(2, { age: 7 })],
      ["upsert", (db) => db.getTable("users").upsert({ id: 4, name: "d" })],
      ["delete row", (db) => db.getTable("users").delete(3)],
      ["createIndex", (db) => db.getTable("users").createIndex("name")],
      ["dropIndex", (db) => db.getTable("users").dropIndex("name")],
      ["transaction", (db) => db.transaction(() => db.getDict("d").set("t", 1))],
      ["drop", (db) => db.drop("l")],
    ];
    const start = { plain: plain.lsn, watched: watched.lsn };
    for (const [what, step] of steps) {
      step(plain);
      step(watched);
      assert.equal(plain.lsn - start.plain, watched.lsn - start.watched, `after ${what}`);
    }
    await new Promise((r) => setTimeout(r, 0));
    assert.ok(seen.length > 20, "the watcher saw the writes");
    assert.deepEqual(plain.getDict("d").getEntry("t"), { key: "t", value: 1, version: plain.lsn - 1 });
    stop();
    await plain.close();
    await watched.close();
  });
});

describe("versions and expiry survive snapshots and recovery (real files)", () => {
  it("reopen after a snapshot, after a crash-style reopen of the log, and after both gives the same versions and expiries", async () => {
    const tmp = await tempDir("cyberdb-live-");
    const clock = manualClock();
    try {
      const open = () => Database.open({ dir: tmp.dir, sync: "always", clock: clock.now, snapshotWalBytes: 0 });
      let db = await open();
      const d = db.createDict("d");
      d.set("a", 1);
      d.set("soon", "x", { expireIn: 5_000 });
      d.set("later", "y", { expireIn: 60_000 });
      const t = db.createTable(USERS);
      t.insert({ id: 1, name: "ada" });
      await db.snapshot();
      d.increment("n", 5);
      t.patch(1, { age: 2 });
      d.expire("a", 10_000);
      const seen = () => {
        const dd = db.getDict("d");
        const tt = db.getTable<typeof USERS>("users");
        return {
          lsn: db.lsn,
          entries: ["a", "soon", "later", "n"].map((k) => [dd.getEntry(k), dd.ttl(k)]),
          row: tt.getEntry(1),
        };
      };
      const want = seen();
      await db.close();
      db = await open();
      assert.deepEqual(seen(), want, "after snapshot + log");
      await db.snapshot();
      await db.close();
      db = await open();
      assert.deepEqual(seen(), want, "after a snapshot alone");
      // Time passes while closed: "soon" and "a" expired; replay and load
      // restore them as they were, and reads no longer see them.
      clock.advance(20_000);
      assert.equal(db.getDict("d").get("soon"), undefined);
      assert.equal(db.getDict("d").get("a"), undefined);
      assert.equal(db.getDict("d").ttl("later"), 40_000);
      await db.close();
    } finally {
      await tmp.remove();
    }
  });

  it("a log written while keys expired replays to the same state, whatever the clock says at replay", async () => {
    const storage = new MemoryStorage();
    const clock = manualClock();
    const opts = {
      dir: "db",
      storage,
      sync: "always" as const,
      clock: clock.now,
      snapshotWalBytes: 0,
      snapshotInterval: 0,
    };
    const db = await Database.open(opts);
    const d = db.createDict("d");
    d.set("k", 1, { expireIn: 1_000 });
    d.set("other", 0);
    clock.advance(2_000); // "k" expired, not yet removed
    d.set("k", 2); // logged with the removal of the expired "k": "k" goes to the end
    d.increment("gone", 1);
    d.set("gone", 0, { expireIn: 10 });
    clock.advance(20);
    d.setDefault("gone", 9); // expired: a fresh key
    const order = [...d.entries()];
    const versions = [...d.keys()].map((k) => d.getEntry(k)!.version);
    await db.flush();
    storage.crash(); // no close: the next open replays the log
    // Replay a long time later: nothing it replays depends on the clock.
    clock.advance(1_000_000);
    const again = await Database.open(opts);
    const d2 = again.getDict("d");
    assert.deepEqual([...d2.entries()], order);
    assert.deepEqual([...d2.keys()].map((k) => d2.getEntry(k)!.version), versions);
    await again.close();
  });

  it("a snapshot of format 1 (before versions and expiry) still loads: versions 0, no expiry", async () => {
    // Format 1, written byte by byte as the earlier build wrote it (see the diagram in src/snapshot/snapshot.ts).
    const schema = {
      name: "t",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "s", type: "Utf8" }],
    };
    const frames = [
      {
        lsn: 7,
        collections: [{ name: "d", kind: "dict", count: 2 }, {
          name: "t",
          kind: "table",
          schema,
          indexes: [],
          count: 1,
        }],
      },
      { c: 0, items: ["a", 1, "b", { x: 2 }] },
      { c: 1, items: [[1, "one"]] },
      { end: true, frames: 3 },
    ].map((f) => encodeFrame(encode(f)));
    const header = new Uint8Array(28);
    const view = new DataView(header.buffer);
    header.set(new TextEncoder().encode("CYDBSNAP"), 0);
    view.setUint32(8, 1, true);
    view.setBigUint64(16, 7n, true);
    view.setUint32(24, crc32c(header.subarray(0, 24)), true);
    const storage = new MemoryStorage();
    await storage.mkdir("db/snapshots");
    const file = await storage.create("db/snapshots/00000000000000000007.snap");
    await file.write(header);
    for (const f of frames) await file.write(f);
    await file.sync();
    await file.close();
    const db = await Database.open({ dir: "db", storage });
    assert.equal(db.lsn, 7);
    assert.deepEqual(db.getDict("d").getEntry("b"), { key: "b", value: { x: 2 }, version: 0 });
    assert.equal(db.getDict("d").ttl("a"), null);
    assert.deepEqual(db.getTable("t").getEntry(1), { row: { id: 1, s: "one" }, version: 0 });
    db.getDict("d").set("a", 2);
    assert.equal(db.getDict("d").getEntry("a")!.version, 8, "the next write continues after the snapshot's LSN");
    await db.close();
  });
});

describe("check-and-set: db.atomic({ checks, ops })", () => {
  let db: Database;
  beforeEach(async () => {
    db = await Database.open();
  });
  afterEach(() => db.close());

  it("applies the ops when every check holds, nothing and ConflictError when one fails", () => {
    const d = db.createDict<number>("acct");
    const t = db.createTable(USERS);
    d.set("ada", 100);
    t.insert({ id: 1, name: "ada" });
    const e = d.getEntry("ada")!;
    const r = t.getEntry(1)!;
    const results = db.atomic({
      checks: [
        { collection: "acct", key: "ada", version: e.version },
        { collection: "acct", key: "bob", version: null },
        { collection: "users", key: 1, version: r.version },
      ],
      ops: [
        { op: "dict.set", args: ["acct", "ada", 70] },
        { op: "dict.set", args: ["acct", "bob", 30] },
        { op: "dict.get", args: ["acct", "ada"] },
      ],
    });
    assert.deepEqual(results, [undefined, undefined, 70]);
    const lsn = db.lsn;
    const err = throwsErr(
      () =>
        db.atomic({
          checks: [{ collection: "acct", key: "ada", version: e.version }],
          ops: [{ op: "dict.set", args: ["acct", "ada", 0] }],
        }),
      ConflictError,
      "CONFLICT",
    );
    assert.match(err.message, /"acct".*"ada".*expected version \d+, found version \d+/);
    assert.equal(d.get("ada"), 70);
    assert.equal(db.lsn, lsn, "a failed check takes no LSN");
    const absent = throwsErr(
      () =>
        db.atomic({
          checks: [{ collection: "acct", key: "bob", version: null }],
          ops: [{ op: "dict.delete", args: ["acct", "bob"] }],
        }),
      ConflictError,
      "CONFLICT",
    );
    assert.match(absent.message, /expected no entry, found version/);
    assert.equal(d.get("bob"), 30);
  });

  it("an expired key counts as absent for a check", () => {
    const clock = manualClock();
    return Database.open({ clock: clock.now }).then(async (db2) => {
      const d = db2.createDict("d");
      d.set("k", 1, { expireIn: 10 });
      clock.advance(10);
      db2.atomic({
        checks: [{ collection: "d", key: "k", version: null }],
        ops: [{ op: "dict.set", args: ["d", "k", 2] }],
      });
      assert.equal(d.get("k"), 2);
      await db2.close();
    });
  });

  it("malformed checks are refused, nothing changed", () => {
    db.createDict("d").set("k", 1);
    db.createList("l");
    const lsn = db.lsn;
    const ops = [{ op: "dict.set", args: ["d", "k", 2] }];
    for (
      const checks of [
        "no",
        [null],
        [{ key: "k", version: 1 }],
        [{ collection: "d", version: 1 }],
        [{ collection: "d", key: "k", version: -1 }],
        [{ collection: "d", key: "k", version: "1" }],
        [{ collection: "d", key: { bad: 1 }, version: 1 }],
      ]
    ) {
      throwsErr(
        () => db.atomic({ checks: checks as never, ops }),
        ValidationError,
        "VALIDATION",
        JSON.stringify(checks),
      );
    }
    throwsErr(
      () => db.atomic({ checks: [{ collection: "nope", key: 1, version: 1 }], ops }),
      NotFoundError,
      "NOT_FOUND",
    );
    throwsErr(
      () => db.atomic({ checks: [{ collection: "l", key: 0, version: 1 }], ops }),
      WrongKindError,
      "WRONG_KIND",
    );
    assert.equal(db.getDict("d").get("k"), 1);
    assert.equal(db.lsn, lsn);
  });
});

describe("counters: dict.increment", () => {
  let db: Database;
  let d: CyberDict;
  beforeEach(async () => {
    db = await Database.open();
    d = db.createDict("c");
  });
  afterEach(() => db.close());

  it("starts a missing key at 0, adds, keeps bigints bigint, and returns the new value", () => {
    assert.equal(d.increment("a"), 1);
    assert.equal(d.increment("a", 41), 42);
    assert.equal(d.increment("a", -2.5), 39.5);
    assert.equal(d.increment("b", 5n), 5n);
    assert.equal(d.increment("b", 3), 8n, "a bigint stays a bigint");
    assert.equal(d.increment("c", 1n), 1n);
    d.set("n", 10);
    assert.equal(d.increment("n", 2n), 12, "a number stays a number");
    assert.equal(d.get("a"), 39.5);
  });

  it("refuses non-numbers and out-of-range results, changing nothing", () => {
    d.set("s", "text");
    d.set("big", 2n ** 64n - 1n);
    d.set("num", 1);
    const lsn = db.lsn;
    for (
      const [key, by] of [
        ["s", 1],
        ["num", "1"],
        ["num", NaN],
        ["num", Infinity],
        ["num", null],
        ["big", 1],
        ["big", 0.5],
        ["num", 2n ** 60n],
      ] as [string, unknown][]
    ) {
      throwsErr(() => d.increment(key, by as number), ValidationError, "VALIDATION", `${key} by ${String(by)}`);
    }
    assert.equal(db.lsn, lsn);
    assert.deepEqual(d.toObject(), { s: "text", big: 2n ** 64n - 1n, num: 1 });
  });

  it("is logged as the resulting set, and keeps the key's expiry", async () => {
    const storage = new MemoryStorage();
    const clock = manualClock();
    const db2 = await Database.open({ dir: "db", storage, clock: clock.now });
    const c = db2.createDict("c");
    c.set("hits", 1, { expireIn: 1_000 });
    c.increment("hits", 2);
    assert.equal(c.ttl("hits"), 1_000, "the expiry is kept");
    await db2.close();
    const db3 = await Database.open({ dir: "db", storage, clock: clock.now });
    assert.equal(db3.getDict("c").get("hits"), 3);
    assert.equal(db3.getDict("c").ttl("hits"), 1_000);
    await db3.close();
  });
});

describe("expiry", () => {
  let clock: ReturnType<typeof manualClock>;
  let db: Database;
  let d: CyberDict;
  beforeEach(async () => {
    clock = manualClock();
    db = await Database.open({ clock: clock.now });
    d = db.createDict("d");
  });
  afterEach(() => db.close());

  it("an expired key is invisible at once to every read", () => {
    d.set("keep", 1);
    d.set("k", "v", { expireIn: 100 });
    d.set("z", 2);
    assert.equal(d.ttl("k"), 100);
    clock.advance(99);
    assert.equal(d.get("k"), "v");
    clock.advance(1);
    assert.equal(d.get("k"), undefined);
    assert.equal(d.get("k", "fallback"), "fallback");
    assert.equal(d.has("k"), false);
    assert.equal(d.size, 2);
    assert.deepEqual([...d.keys()], ["keep", "z"]);
    assert.deepEqual([...d.values()], [1, 2]);
    assert.deepEqual([...d], [["keep", 1], ["z", 2]]);
    assert.deepEqual(d.toObject(), { keep: 1, z: 2 });
    assert.equal(d.getEntry("k"), undefined);
    assert.equal(d.ttl("k"), undefined);
    assert.deepEqual(db.execute("dict.scan", ["d", 0, 10]), [null, [["keep", 1], ["z", 2]]]);
    assert.equal(d.pop("k", "none"), "none");
    assert.equal(d.delete("k"), false);
    assert.equal(d.expire("k", 100), false);
    assert.deepEqual(d.popItem(), ["z", 2], "popItem skips the expired key");
    assert.equal(d.increment("k"), 1, "increment starts again from 0");
    assert.equal(d.ttl("k"), null, "a new key has no expiry");
  });

  it("size counts what iteration sees, with few keys due and with many (a pass over the slots then)", () => {
    // Many keys due at once took a heap walk with a set of every due key on each `size`
    // (350-690 ms for a million); past a small budget it is now one pass over the slots.
    const rand = prng(7);
    for (let i = 0; i < 6_000; i++) {
      const r = rand();
      if (r < 0.6) d.set(i, i, { expireIn: 1 + Math.floor(rand() * 200) });
      else d.set(i, i);
    }
    for (let round = 0; round < 40; round++) {
      // Overwrites, deletes, expiries changed and rolled back: stale and repeated heap entries.
      for (let j = 0; j < 150; j++) {
        const k = Math.floor(rand() * 6_000);
        const r = rand();
        if (r < 0.3) d.set(k, -k, { expireIn: 1 + Math.floor(rand() * 200) });
        else if (r < 0.5) d.delete(k);
        else if (r < 0.7) d.expire(k, rand() < 0.5 ? null : 1 + Math.floor(rand() * 100));
        else {
          assert.throws(() =>
            db.transaction(() => {
              d.set(k, 0, { expireIn: 5 });
              d.expire((k + 1) % 6_000, 1);
              throw new Error("roll back");
            }), /roll back/);
        }
      }
      clock.advance(Math.floor(rand() * 12));
      assert.equal(d.size, [...d.keys()].length, `round ${round}`);
    }
    clock.advance(1_000);
    assert.equal(d.size, [...d.keys()].length);
  });

  it("set without expireIn clears the expiry; expire(null) too; ttl counts down", () => {
    d.set("a", 1, { expireIn: 50 });
    d.set("a", 2);
    assert.equal(d.ttl("a"), null);
    d.expire("a", 1_000);
    clock.advance(400);
    assert.equal(d.ttl("a"), 600);
    d.expire("a", null);
    clock.advance(10_000);
    assert.equal(d.get("a"), 2);
  });

  it("a write on an expired key treats it as absent: it goes to the end, and the removal shares the call's LSN", () => {
    d.set("a", 1, { expireIn: 10 });
    d.set("b", 2);
    clock.advance(10);
    const lsn = db.lsn;
    d.set("a", 3);
    assert.equal(db.lsn, lsn + 1, "one call, one LSN");
    assert.deepEqual([...d.keys()], ["b", "a"]);
    d.set("c", 1, { expireIn: 10 });
    d.set("d", 1);
    clock.advance(10);
    assert.equal(d.setDefault("c", 7), 7);
    assert.deepEqual([...d.keys()], ["b", "a", "d", "c"]);
    d.update({ d: 0, e: 1 });
    assert.equal(d.size, 5);
  });

  it("expired keys are removed in the background, as logged deletes, a bounded batch per record", async () => {
    const storage = new MemoryStorage();
    const c = manualClock();
    const opts = { dir: "db", storage, clock: c.now, snapshotInterval: 0, snapshotWalBytes: 0 };
    const db2 = await Database.open(opts);
    const e = db2.createDict("d");
    for (let i = 0; i < 1_500; i++) e.set(i, i, { expireIn: 5 });
    e.set("stay", 1);
    c.advance(5);
    assert.equal(e.size, 1, "invisible at once");
    const lsn = db2.lsn;
    // The expirer looks at least every 100 ms: bounded waits for it to finish.
    for (let i = 0; i < 100 && db2.lsn - lsn < 3; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(db2.lsn - lsn >= 3, `the removals were committed in bounded batches (${db2.lsn - lsn} records)`);
    await db2.close();
    // Back at a time when nothing had expired: a key still stored would show.
    const db3 = await Database.open({ ...opts, clock: () => 0 });
    assert.deepEqual([...db3.getDict("d").keys()], ["stay"], "the expired keys were removed, not just hidden");
    await db3.close();
  });

  it("refuses a bad expireIn, expire or clock, changing nothing", async () => {
    d.set("a", 1);
    const lsn = db.lsn;
    for (const bad of [0, -1, NaN, Infinity, "10", null, {}]) {
      throwsErr(() => d.set("a", 2, { expireIn: bad as number }), ValidationError, "VALIDATION", String(bad));
    }
    for (const bad of [{ expire: 5 }, "5", [5]]) {
      throwsErr(() => d.set("a", 2, bad as never), ValidationError, "VALIDATION", JSON.stringify(bad));
    }
    for (const bad of [0, -5, NaN, "5", undefined]) {
      throwsErr(() => d.expire("a", bad as number), ValidationError, "VALIDATION", String(bad));
    }
    assert.equal(d.get("a"), 1);
    assert.equal(d.ttl("a"), null);
    assert.equal(db.lsn, lsn);
    await assert.rejects(Database.open({ clock: 5 as never }), ValidationError);
  });
});
