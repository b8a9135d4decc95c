// A disk that fills up or turns read-only under a running database
// (MemoryStorage's fault switch, through Machine so that power cuts can
// follow): the failed write becomes a StorageError naming the condition,
// writes are refused before they change memory, reads keep working,
// db.storageError says so, and writes resume by themselves once the disk
// takes the log again. "interval"/"manual" keep what they acknowledged;
// "always" rolls back what it told its writers had failed. close() on a
// failed disk: clean when nothing acknowledged is pending, else a clear
// StorageError — and the lock is released either way.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, NotFoundError, StorageError, type Value } from "../mod.ts";
import { abandon, Machine, within } from "./fixtures/durability_common.ts";
import { settle, VirtualScheduler } from "./fixtures/virtual_scheduler.ts";

type Sync = "always" | "interval" | "manual";
const SYNCS: Sync[] = ["always", "interval", "manual"];

/** Every byte the disk holds now: a capacity of exactly this makes it full. */
function used(machine: Machine): number {
  let n = 0;
  for (const p of machine.disk.paths()) n += machine.disk.peek(p)?.length ?? 0;
  return n;
}

function open(machine: Machine, sync: Sync, scheduler?: VirtualScheduler) {
  return within(
    Database.open({ storage: machine.process(), dir: "db", sync, flushInterval: 20, snapshotInterval: 0, scheduler }),
    30_000,
    "Database.open",
  );
}

/** Runs the retry timers on `clock` until the database accepts writes again (each failed retry sets the next). */
async function resumed(db: Database, clock: VirtualScheduler): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await settle();
    if (db.storageError === null) return;
    if (clock.pending().length > 0) await clock.next();
  }
  assert.fail(`Writes are still refused after 20 retries: ${db.storageError?.message}`);
}

const refused = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof StorageError, `expected StorageError, got ${e}`);
  assert.equal(e.code, "STORAGE");
  assert.match(e.message, pattern);
  return true;
};

const faults = [
  {
    name: "disk full",
    set: (m: Machine) => m.disk.setFault({ capacity: used(m) }),
    message: /no space left on device \(ENOSPC\)/,
  },
  {
    name: "read-only",
    set: (m: Machine) => m.disk.setFault({ readOnly: true }),
    message: /read-only file system \(EROFS\)/,
  },
];

describe("The disk refuses the log", () => {
  for (const fault of faults) {
    for (const sync of SYNCS) {
      it(`${fault.name}, sync "${sync}": refused before applied, reads served, resumes when the disk recovers, nothing acknowledged lost`, async () => {
        const machine = new Machine();
        const clock = new VirtualScheduler();
        const db = await open(machine, sync, clock);
        const d = db.createDict<Value>("d");
        const l = db.createList<Value>("l", [1]);
        d.set("a", 1);
        await db.flush();
        assert.equal(db.storageError, null);

        fault.set(machine);
        d.set("b", 2); // the batch that fails: acknowledged in "interval" and "manual", not in "always"
        l.append(2);
        const created = db.createDict("made-in-failed-batch");
        await assert.rejects(db.flush(), refused(fault.message));
        if (sync === "always") {
          // Its writer hears "failed" only once the write is gone: no read after the error sees it.
          assert.equal(d.has("b"), false, "rolled back before flush() rejected");
          assert.equal(db.unsynced, false);
        }
        assert.ok(db.storageError !== null, "db.storageError is set once flush() rejected");
        const state = db.storageError as StorageError | null; // (narrowed to null by the check above)
        assert.ok(state instanceof StorageError);
        assert.match(state.message, fault.message);
        assert.match(state.message, /"db\/wal\/\d{20}\.wal"/, "quotes the segment");
        assert.match(state.message, /writes are refused/, "says what happens");

        // Every write path refuses up front and changes nothing.
        const before = JSON.stringify({ d: d.toObject(), l: l.toArray(), c: db.collections() });
        assert.throws(() => d.set("c", 3), refused(fault.message));
        assert.throws(() => l.append(3), refused(fault.message));
        assert.throws(() => db.createDict("x"), refused(fault.message));
        assert.throws(() => db.transaction(() => d.set("t", 1)), refused(fault.message));
        assert.throws(() => db.execute("dict.set", ["d", "e", 1]), refused(fault.message));
        assert.throws(() => db.executeAtomic([{ op: "list.append", args: ["l", 9] }]), refused(fault.message));
        assert.throws(() => db.drop("d"), refused(fault.message));
        await assert.rejects(db.flush(), refused(fault.message));
        // "always" may still be rolling back; reads of untouched data work meanwhile.
        assert.equal(d.get("a"), 1);
        assert.deepEqual(db.execute("dict.get", ["d", "a"]), 1);

        if (sync === "always") {
          // Its writers were told the batch failed: it is rolled back, and handles keep working.
          assert.deepEqual(d.toObject(), { a: 1 });
          assert.deepEqual(l.toArray(), [1]);
          assert.equal(db.unsynced, false);
          assert.throws(() => created.size, NotFoundError, "a collection created in the failed batch is gone");
          assert.deepEqual(db.collections().map((c) => c.name), ["d", "l"]);
        } else {
          assert.equal(JSON.stringify({ d: d.toObject(), l: l.toArray(), c: db.collections() }), before);
          assert.deepEqual(d.toObject(), { a: 1, b: 2 });
          assert.equal(db.unsynced, true);
        }

        machine.disk.setFault(null);
        await resumed(db, clock);
        d.set("c", 3);
        l.append(4);
        await db.flush();
        assert.equal(db.unsynced, false);
        const expected = sync === "always" ? { a: 1, c: 3 } : { a: 1, b: 2, c: 3 };
        assert.deepEqual(d.toObject(), expected);

        // A power cut now: everything acknowledged is there, nothing else.
        machine.crash();
        await abandon(db);
        const again = await open(machine, sync);
        assert.deepEqual(again.getDict("d").toObject(), expected);
        assert.deepEqual(again.getList("l").toArray(), sync === "always" ? [1, 4] : [1, 2, 4]);
        assert.equal(again.collections().some((c) => c.name === "made-in-failed-batch"), sync !== "always");
        await again.close();
      });
    }
  }

  it('"always": a failed transaction and table writes are rolled back whole; a collection dropped in the failed batch comes back', async () => {
    const machine = new Machine();
    const clock = new VirtualScheduler();
    const db = await open(machine, "always", clock);
    const t = db.createTable(
      { name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "v", type: "Utf8" }] } as const,
    );
    t.insert({ id: 1, v: "one" });
    const gone = db.createList("gone", ["kept"]);
    await db.flush();
    machine.disk.setFault({ readOnly: true });
    db.transaction(() => {
      t.insert({ id: 2, v: "two" });
      t.update(1, { id: 1, v: "uno" });
    });
    db.drop("gone");
    await assert.rejects(db.flush(), StorageError);
    assert.equal(t.count(), 1, "rolled back before flush() rejected");
    assert.deepEqual(t.toArray(), [{ id: 1, v: "one" }]);
    assert.deepEqual(db.getList("gone").toArray(), ["kept"]);
    assert.throws(() => gone.length, NotFoundError, "a handle taken before the (undone) drop must be taken again");
    machine.disk.setFault(null);
    await resumed(db, clock);
    t.insert({ id: 3, v: "three" });
    await db.close();
    const again = await open(machine, "always");
    assert.deepEqual(again.getTable("t").toArray(), [{ id: 1, v: "one" }, { id: 3, v: "three" }]);
    assert.deepEqual(again.getList("gone").toArray(), ["kept"]);
    await again.close();
  });

  for (const sync of SYNCS) {
    it(
      `close() on a failed disk, sync "${sync}": ${
        sync === "always"
          ? "nothing acknowledged is pending, so it closes cleanly"
          : "acknowledged writes are pending, so it rejects"
      }; the lock is released`,
      async () => {
        const machine = new Machine();
        const db = await open(machine, sync);
        const d = db.createDict<Value>("d");
        d.set("a", 1);
        await db.flush();
        machine.disk.setFault({ readOnly: true });
        d.set("b", 2);
        await assert.rejects(db.flush(), StorageError);
        if (sync === "always") {
          await within(db.close(), 30_000, "close");
        } else {
          await assert.rejects(within(db.close(), 30_000, "close"), (e: unknown) => {
            assert.ok(e instanceof StorageError, `StorageError, got ${e}`);
            assert.match(e.message, /1 acknowledged write\(s\) that could not be made durable/);
            assert.match(e.message, /read-only file system \(EROFS\)/);
            return true;
          });
        }
        machine.disk.setFault(null);
        const again = await open(machine, sync); // the lock was released
        assert.deepEqual(again.getDict("d").toObject(), { a: 1 });
        await again.close();
      },
    );
  }

  for (const sync of SYNCS) {
    it(`sync "${sync}": retries after 100 ms, doubling up to 5 s, on timers that keep no process alive, until the disk takes the log again`, async () => {
      const machine = new Machine();
      const clock = new VirtualScheduler();
      const db = await open(machine, sync, clock);
      const d = db.createDict<Value>("d");
      d.set("a", 1);
      await db.flush();
      await clock.advance(1000); // (the interval fsync, if any, is behind us)
      machine.disk.setFault({ readOnly: true });
      d.set("b", 2);
      await assert.rejects(db.flush(), StorageError);
      const waits: number[] = [];
      for (let i = 0; i < 9; i++) {
        await settle();
        assert.deepEqual(clock.pending().map((t) => t.unref), [true], "one retry timer, unref'd");
        waits.push(await clock.next());
        assert.ok(db.storageError !== null, "the disk still refuses");
      }
      assert.deepEqual(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
      machine.disk.setFault(null);
      assert.equal(await clock.next(), 5000);
      await settle();
      assert.equal(db.storageError, null, "the retry after the disk came back succeeded");
      assert.deepEqual(clock.pending(), [], "no more retries");
      d.set("c", 3);
      await db.close();
      const again = await open(machine, sync);
      assert.deepEqual(again.getDict("d").toObject(), sync === "always" ? { a: 1, c: 3 } : { a: 1, b: 2, c: 3 });
      await again.close();
    });
  }

  it("close() when the disk came back meanwhile writes everything and closes cleanly", async () => {
    const machine = new Machine();
    const clock = new VirtualScheduler(); // never moved: close() must not wait for the retry timer
    const db = await open(machine, "interval", clock);
    const d = db.createDict<Value>("d");
    d.set("a", 1);
    await db.flush();
    machine.disk.setFault({ capacity: used(machine) });
    d.set("b", "x".repeat(1000));
    await assert.rejects(db.flush(), StorageError);
    await settle(); // the first retry, at once, failed too
    assert.equal(clock.pending().length, 1, "the next retry waits for its timer");
    machine.disk.setFault(null);
    await within(db.close(), 10_000, "close() without the retry timer"); // one more try succeeds, at once
    const again = await open(machine, "interval");
    assert.deepEqual(again.getDict("d").toObject(), { a: 1, b: "x".repeat(1000) });
    await again.close();
  });
});
