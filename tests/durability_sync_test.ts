// Sync modes under simulated power cuts (MemoryStorage through Machine):
//   "manual"   loses what was not flushed, and nothing else;
//   "interval" loses at most the writes since the last interval fsync;
//   "always"   loses nothing whose flush() resolved (group commit, many
//              concurrent writers), and commits at the end of each task;
// and a database whose log cannot be written stops acknowledging anything.
// No timing assertions: waits poll for the condition with generous deadlines.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  Database,
  defineSchema,
  type Storage,
  StorageError,
  type StorageFile,
  ValidationError,
  type Value,
} from "../mod.ts";
import { abandon, canon, dump, Machine, seedFromEnv, sleep, within } from "./fixtures/durability_common.ts";
import { prng, randInt } from "./fixtures/prng.ts";
import { settle, until, VirtualScheduler } from "./fixtures/virtual_scheduler.ts";

const SEED = seedFromEnv("CYBERDB_SYNC_SEED");
const replay = `[replay with CYBERDB_SYNC_SEED=${SEED}]`;

const schema = defineSchema(
  {
    name: "t",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "v", type: "Json" },
    ],
  } as const,
);

function open(machine: Machine, options: Parameters<typeof Database.open>[0] = {}) {
  return within(
    Database.open({ storage: machine.process(), dir: "db", snapshotInterval: 0, ...options }),
    30_000,
    "Database.open",
  );
}

/** Writes batch `b` (a dict set, a list append, a table upsert and a transaction). */
function batch(db: Database, b: number): void {
  if (db.collections().length === 0) {
    db.createDict("d");
    db.createList("l");
    db.createTable(schema);
  }
  db.getDict<Value>("d").set(`k${b % 7}`, b);
  db.getList<Value>("l").append(b);
  db.getTable<typeof schema>("t").upsert({ id: b % 5, v: [b, -0] });
  db.transaction(() => {
    db.getDict<Value>("d").set("tx", b);
    db.getList<Value>("l").append(["tx", b]);
  });
}

/** The WAL files' sizes: what the OS has (`durable: false`) or what survives a crash. */
async function walBytes(machine: Machine, durable: boolean): Promise<number> {
  let n = 0;
  for (const name of await machine.disk.list("db/wal")) {
    n += machine.disk.peek(`db/wal/${name}`, { durable })?.length ?? 0;
  }
  return n;
}

/** Polls `cond` until it holds; fails (honestly) if it never does within `ms`. */
async function eventually(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`Never happened within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

describe('sync: "manual"', () => {
  it("loses what was not flushed and nothing else", async () => {
    const machine = new Machine();
    const db = await open(machine, { sync: "manual" });
    for (let b = 0; b < 10; b++) batch(db, b);
    await db.flush();
    const flushed = dump(db);
    const onDisk = await walBytes(machine, false);
    for (let b = 10; b < 20; b++) batch(db, b);
    await sleep(50);
    assert.equal(await walBytes(machine, false), onDisk, "nothing is written until flush()");
    machine.crash();
    await abandon(db);
    const again = await open(machine, { sync: "manual" });
    assert.deepStrictEqual(dump(again), flushed);
    await again.close();
  });

  it("several flushes: each one is kept, the unflushed tail is lost", async () => {
    const machine = new Machine();
    let db = await open(machine, { sync: "manual" });
    let expected: unknown[] = [];
    let b = 0;
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 5; k++) batch(db, b++);
      await db.flush();
      await db.flush(); // nothing new: resolves at once
      expected = dump(db);
      for (let k = 0; k < 3; k++) batch(db, 1000 + b++); // never flushed
      machine.crash();
      await abandon(db);
      db = await open(machine, { sync: "manual" });
      assert.deepStrictEqual(dump(db), expected, `round ${round}`);
    }
    await db.close();
  });

  for (const trigger of ["size", "timer"] as const) {
    it(`an automatic snapshot (by ${trigger}) waits for the next flush() and holds exactly what that flush made durable`, async () => {
      const machine = new Machine();
      const clock = new VirtualScheduler();
      const options = trigger === "size"
        ? { sync: "manual", snapshotWalBytes: 256 } as const
        : { sync: "manual", snapshotInterval: 1000, snapshotWalBytes: 0 } as const;
      const db = await open(machine, { ...options, scheduler: clock });
      const snapshots = async () => (await machine.disk.list("db/snapshots")).filter((n) => n.endsWith(".snap"));
      batch(db, 0);
      await db.flush();
      await settle();
      const before = await snapshots();
      // Never flushed: well past 256 log bytes, and over a whole snapshot interval.
      for (let b = 1; b < 30; b++) batch(db, b);
      await clock.advance(1000);
      await settle();
      assert.deepEqual(
        await snapshots(),
        before,
        'a snapshot before flush() would make writes durable that sync "manual" never wrote',
      );
      // The flush it waits for. The snapshot is of the state at the call; a write
      // later in the same task is not in it (the flush's group commit logs it).
      const flushing = db.flush();
      const atFlush = dump(db);
      batch(db, 30);
      await flushing;
      const flushed = dump(db);
      batch(db, 31); // never flushed
      await until(
        async () => (await snapshots()).length > before.length,
        "the automatic snapshot that was due, after the flush() (none was ever taken)",
        10_000,
      );
      machine.crash();
      await abandon(db);
      // The snapshot alone (its log gone) gives the flushed state: nothing less, nothing unflushed.
      const snapshotOnly = machine.clone();
      for (const name of await snapshotOnly.disk.list("db/wal")) await snapshotOnly.disk.remove(`db/wal/${name}`);
      const fromSnapshot = await open(snapshotOnly, { sync: "manual" });
      assert.deepStrictEqual(dump(fromSnapshot), atFlush, "the snapshot holds exactly the state flush() was called on");
      await fromSnapshot.close();
      // And the whole directory: the last flushed state.
      const again = await open(machine, { sync: "manual" });
      assert.deepStrictEqual(dump(again), flushed, "after a crash the state is the last flushed one");
      await again.close();
    });
  }

  it("close() flushes", async () => {
    const machine = new Machine();
    const db = await open(machine, { sync: "manual" });
    for (let b = 0; b < 5; b++) batch(db, b);
    const expected = dump(db);
    await db.close();
    machine.crash();
    const again = await open(machine, { sync: "manual" });
    assert.deepStrictEqual(dump(again), expected);
    await again.close();
  });
});

describe('sync: "interval"', () => {
  it("writes are durable once one interval has passed, without flush(), and not before", async () => {
    const machine = new Machine();
    const clock = new VirtualScheduler();
    const db = await open(machine, { sync: "interval", flushInterval: 20, scheduler: clock });
    let expected: unknown[] = [];
    for (let round = 0; round < 4; round++) {
      for (let k = 0; k < 5; k++) batch(db, round * 10 + k);
      expected = dump(db);
      await clock.advance(19);
      const written = await walBytes(machine, false);
      assert.ok(written > 0, `round ${round}: written at the end of the task`);
      assert.ok((await walBytes(machine, true)) < written, `round ${round}: not fsynced before the interval ends`);
      await clock.advance(1);
      assert.equal(await walBytes(machine, true), written, `round ${round}: the interval fsync covers every write`);
    }
    machine.crash();
    await abandon(db);
    const again = await open(machine, { sync: "interval", flushInterval: 20 });
    assert.deepStrictEqual(dump(again), expected);
    await again.close();
  });

  it(`a crash loses at most the writes of the last flushInterval ms (a prefix stays) ${replay}`, async () => {
    const rand = prng(SEED);
    const machine = new Machine();
    const clock = new VirtualScheduler();
    const db = await open(machine, { sync: "interval", flushInterval: 15, scheduler: clock });
    const model = await Database.open();
    const prefixes: string[] = [canon(dump(model))];
    const at: number[] = []; // when batch b was written, on the virtual clock
    let durableFrom = 0;
    for (let b = 0; b < 40; b++) {
      batch(db, b);
      batch(model, b);
      at.push(clock.now());
      prefixes.push(canon(dump(model)));
      if (b === 19) {
        await db.flush();
        durableFrom = prefixes.length - 1;
      }
      await clock.advance(randInt(rand, 0, 8));
    }
    // Every batch written at least one interval ago was fsynced by the timer.
    const olderThanInterval = at.filter((t) => t + 15 <= clock.now()).length;
    machine.crash();
    await abandon(db);
    const again = await open(machine, { sync: "interval" });
    const k = prefixes.lastIndexOf(canon(dump(again)));
    assert.ok(k >= 0, "the recovered state is the state after a prefix of the writes");
    assert.ok(k >= durableFrom, `flushed writes survive: recovered ${k} batches, ${durableFrom} were flushed`);
    assert.ok(
      k >= olderThanInterval,
      `writes older than flushInterval survive: recovered ${k} batches, ${olderThanInterval} were older ${replay}`,
    );
    await again.close();
    await model.close();
  });

  it("flush() forces the fsync at once", async () => {
    const machine = new Machine();
    // A clock that never moves: no interval fsync comes to help.
    const db = await open(machine, { sync: "interval", flushInterval: 20, scheduler: new VirtualScheduler() });
    for (let b = 0; b < 5; b++) batch(db, b);
    await db.flush();
    const expected = dump(db);
    machine.crash();
    await abandon(db);
    const again = await open(machine);
    assert.deepStrictEqual(dump(again), expected);
    await again.close();
  });
});

describe('sync: "always"', () => {
  it("every write whose flush() resolved is present after a crash", async () => {
    const machine = new Machine();
    const db = await open(machine, { sync: "always" });
    for (let b = 0; b < 10; b++) {
      batch(db, b);
      await db.flush();
    }
    const expected = dump(db);
    machine.crash();
    await abandon(db);
    const again = await open(machine, { sync: "always" });
    assert.deepStrictEqual(dump(again), expected);
    await again.close();
  });

  it("writes are committed at the end of their task, without flush()", async () => {
    const machine = new Machine();
    const db = await open(machine, { sync: "always" });
    for (let b = 0; b < 5; b++) batch(db, b);
    const expected = dump(db);
    await eventually(
      async () =>
        (await walBytes(machine, true)) === (await walBytes(machine, false)) && (await walBytes(machine, true)) > 0,
      30_000,
      "the end-of-task group commit",
    );
    machine.crash();
    await abandon(db);
    const again = await open(machine, { sync: "always" });
    assert.deepStrictEqual(dump(again), expected);
    await again.close();
  });

  for (const snapshotWalBytes of [0, 1024]) {
    it(`64 concurrent writers, crash at a random moment: acknowledged writes survive, order kept (snapshotWalBytes ${snapshotWalBytes}) ${replay}`, async () => {
      const rand = prng(SEED + snapshotWalBytes);
      for (let run = 0; run < 5; run++) {
        const machine = new Machine();
        const db = await open(machine, { sync: "always", snapshotWalBytes });
        db.createList("l");
        db.createDict("d");
        await db.flush();
        const acked: string[] = [];
        let crashed = false;
        const writers = Array.from({ length: 64 }, async (_, w) => {
          const r = prng(SEED ^ (w * 7919 + run));
          for (let s = 0; !crashed && s < 200; s++) {
            try {
              if (r() < 0.3) {
                db.transaction(() => {
                  db.getList<Value>("l").append(`${w}:${s}`);
                  db.getDict<Value>("d").set(`w${w}`, s);
                });
              } else db.getList<Value>("l").append(`${w}:${s}`);
              await db.flush();
            } catch {
              return; // the crash closed the database
            }
            if (!crashed) acked.push(`${w}:${s}`);
            if (r() < 0.3) await sleep(0);
          }
        });
        await sleep(randInt(rand, 0, 40));
        const issued = db.getList<Value>("l").toArray();
        const issuedDict = db.getDict<Value>("d").toObject();
        crashed = true;
        machine.crash();
        await within(Promise.all(writers), 30_000, "the writers to stop after the crash");
        await abandon(db);
        const again = await open(machine, { sync: "always" });
        const got = again.getList<Value>("l").toArray();
        const ctx =
          `run ${run}, ${acked.length} acknowledged, ${issued.length} issued, ${got.length} recovered ${replay}`;
        assert.deepStrictEqual(
          got,
          issued.slice(0, got.length),
          `the recovered list is a prefix of the issued one (${ctx})`,
        );
        const present = new Set(got as string[]);
        const lost = acked.filter((a) => !present.has(a));
        assert.deepStrictEqual(lost, [], `acknowledged writes lost (${ctx})`);
        // Transactions are all or nothing: each writer's dict entry matches its last recovered tx.
        for (const [k, v] of again.getDict<Value>("d").entries()) {
          assert.ok(
            present.has(`${String(k).slice(1)}:${v}`),
            `dict ${String(k)}=${v} comes with its list entry (${ctx})`,
          );
          assert.ok(issuedDict[String(k)] !== undefined);
        }
        await again.close();
      }
    });
  }
});

describe("snapshotInterval", () => {
  it("a snapshot every snapshotInterval ms while there are new writes, none while idle, on a timer that keeps no process alive", async () => {
    const machine = new Machine();
    const clock = new VirtualScheduler();
    const db = await open(machine, { sync: "always", snapshotInterval: 1000, snapshotWalBytes: 0, scheduler: clock });
    const snapshots = async () => (await machine.disk.list("db/snapshots")).filter((n) => n.endsWith(".snap"));
    assert.deepEqual(clock.pending(), [{ in: 1000, unref: true }]);
    await clock.advance(1000);
    assert.deepEqual(await snapshots(), [], "nothing written: no snapshot");
    batch(db, 0);
    await db.flush();
    await clock.advance(999);
    assert.deepEqual(await snapshots(), [], "not before the interval ends");
    await clock.advance(1);
    await until(async () => (await snapshots()).length === 1, "the snapshot of the interval");
    const [first] = await snapshots();
    await clock.advance(3000);
    assert.deepEqual(await snapshots(), [first], "idle: no new snapshot");
    batch(db, 1);
    await db.flush();
    await clock.advance(1000);
    await until(async () => (await snapshots()).length === 2, "the next interval's snapshot");
    assert.deepEqual(clock.pending(), [{ in: 1000, unref: true }], "one timer, set again each time");
    await db.close();
    assert.deepEqual(clock.pending(), [], "close() clears it");
  });

  it("a scheduler option that is not a Scheduler is refused up front", async () => {
    for (const scheduler of [null, 5, {}, { now: () => 0, setTimeout: () => 0 }]) {
      await assert.rejects(
        Database.open({ storage: new Machine().process(), dir: "db", scheduler: scheduler as never }),
        (e: unknown) =>
          e instanceof ValidationError &&
          /Option scheduler .* is not a Scheduler: pass \{ now, setTimeout/.test(e.message),
      );
    }
  });
});

describe("snapshotWalBytes", () => {
  it("a log that grew past the limit while a snapshot was being written gets its own snapshot without waiting for another write", async () => {
    const machine = new Machine();
    const inner = machine.process();
    // Holds the rename of the first snapshot until released: writes land while it is in progress.
    let hold = null as Promise<void> | null;
    let held = null as (() => void) | null;
    let renames = 0;
    const storage = {
      ...inner,
      rename: async (a: string, b: string) => {
        if (b.endsWith(".snap") && renames++ === 0) {
          hold = new Promise<void>((r) => (held = r));
          await hold;
        }
        return inner.rename(a, b);
      },
    };
    const lines: string[] = [];
    const db = await within(
      Database.open({
        storage,
        dir: "db",
        sync: "always",
        snapshotWalBytes: 512,
        snapshotInterval: 0,
        logger: (l) => lines.push(l),
      }),
      30_000,
      "open",
    );
    try {
      const d = db.createDict<Value>("d");
      for (let i = 0; i < 30; i++) d.set(`k${i}`, "x".repeat(20)); // past 512 bytes: the first snapshot starts
      await eventually(() => hold !== null, 30_000, "the first snapshot reaches its rename");
      for (let i = 0; i < 30; i++) d.set(`k${i}`, "y".repeat(20)); // past 512 bytes again, during that snapshot
      await db.flush();
      held!();
      await eventually(
        () => lines.filter((l) => /snapshot .*\.snap/.test(l)).length >= 1,
        30_000,
        "the first snapshot completes",
      );
      // No further writes: the log is past the limit, so a second snapshot is due.
      await eventually(
        () => lines.filter((l) => /snapshot .*\.snap/.test(l)).length >= 2,
        10_000,
        `a second snapshot for the ${30} writes made during the first (log lines: ${lines.join(" | ")})`,
      );
    } finally {
      held?.();
      await db.close();
    }
  });
});

describe("a crash at every single storage operation", () => {
  /** Write i: one record each (a set, an append, an upsert or a transaction). */
  function write(db: Database, i: number): void {
    if (i === 0) {
      db.transaction(() => {
        db.createDict("d");
        db.createList("l");
        db.createTable(schema);
      });
      return;
    }
    const d = db.getDict<Value>("d");
    const l = db.getList<Value>("l");
    const t = db.getTable<typeof schema>("t");
    if (i % 4 === 0) d.set(`k${i % 6}`, [i, "p".repeat(i % 5 === 0 ? 300 : 5)]);
    else if (i % 4 === 1) l.append(i);
    else if (i % 4 === 2) t.upsert({ id: i % 7, v: { i } });
    else {
      db.transaction(() => {
        d.set("tx", i);
        l.append(["tx", i]);
        t.delete((i + 3) % 7);
      });
    }
  }

  /** Two processes' worth of writes, flushes, explicit and automatic snapshots, rotation and a close. */
  async function scenario(
    machine: Machine,
    sync: "always" | "interval" | "manual",
    acked: { n: number },
  ): Promise<void> {
    let i = 0;
    for (let proc = 0; proc < 2; proc++) {
      // Virtual time: the interval fsync runs at the same point of every run, so the runs count the same operations.
      const clock = new VirtualScheduler();
      const db = await Database.open({
        storage: machine.process(),
        dir: "db",
        sync,
        flushInterval: 5,
        scheduler: clock,
        snapshotInterval: 0,
        snapshotWalBytes: 700,
        segmentBytes: 600,
      });
      for (let round = 0; round < 5; round++) {
        for (let j = 0; j < 4; j++) {
          write(db, i++);
          if (j === 2) await clock.advance(5);
        }
        await db.flush();
        acked.n = i;
        if (round % 3 === 1) await db.snapshot();
      }
      await db.close();
    }
  }

  for (const sync of ["always", "interval", "manual"] as const) {
    it(`sync "${sync}": reopen works and holds every acknowledged write, as a prefix, whatever operation the crash hit`, async () => {
      const model = await Database.open();
      const prefixes = [canon(dump(model))];
      for (let i = 0; i < 40; i++) {
        write(model, i);
        prefixes.push(canon(dump(model)));
      }
      await model.close();
      // A run without a crash counts the storage operations.
      const counting = new Machine();
      let total = 0;
      counting.onOp = () => void total++;
      await scenario(counting, sync, { n: 0 });
      assert.ok(total > 50, `the scenario does real I/O (${total} operations)`);
      if (process.env.CYBERDB_SYNC_VERBOSE) console.log(`${sync}: ${total} storage operations`);
      for (let n = 1; n <= total + 1; n++) {
        const machine = new Machine();
        let count = 0;
        machine.onOp = () => {
          if (++count === n) machine.crash();
        };
        const acked = { n: 0 };
        await within(
          scenario(machine, sync, acked).catch(() => {}),
          30_000,
          `the scenario with a crash at operation ${n}`,
        );
        machine.onOp = null;
        if (count < n) machine.crash(); // the crash point was past the end: crash anyway
        const before = machine.clone();
        let db: Database;
        try {
          db = await within(Database.open({ storage: machine.process(), dir: "db" }), 30_000, "reopen");
        } catch (e) {
          assert.fail(`reopen after a crash at storage operation ${n} of ${total} failed: ${(e as Error)?.stack ?? e}`);
        }
        const k = prefixes.indexOf(canon(dump(db)));
        assert.ok(k >= 0, `crash at storage operation ${n} of ${total}: the state is no prefix of the writes`);
        assert.ok(
          k >= acked.n,
          `crash at storage operation ${n} of ${total}: ${acked.n} writes were acknowledged, only ${k} came back`,
        );
        await db.close();
        if (n % 6 !== 0) continue;
        // A second crash during the recovery of the first one changes nothing.
        const crashed = before.clone();
        let recoveryOps = 0;
        crashed.onOp = () => void recoveryOps++;
        await (await Database.open({ storage: crashed.process(), dir: "db" })).close();
        if (process.env.CYBERDB_SYNC_VERBOSE) console.log(`crash at ${n}: ${recoveryOps} recovery operations`);
        for (let m = 1; m <= recoveryOps; m++) {
          const again = before.clone();
          let c = 0;
          again.onOp = () => {
            if (++c === m) again.crash();
          };
          await within(
            Database.open({ storage: again.process(), dir: "db" }).then(abandon, () => {}),
            30_000,
            "recovery",
          );
          again.onOp = null;
          if (c < m) again.crash();
          const db2 = await within(
            Database.open({ storage: again.process(), dir: "db" }),
            30_000,
            "reopen after two crashes",
          ).catch((e) =>
            assert.fail(
              `reopen after a crash at operation ${n} and another at recovery operation ${m} failed: ${
                (e as Error)?.stack ?? e
              }`,
            )
          );
          const k2 = prefixes.indexOf(canon(dump(db2)));
          await db2.close();
          assert.equal(
            k2,
            k,
            `a crash at recovery operation ${m} (after one at operation ${n}) changed the recovered state`,
          );
        }
      }
    });
  }
});

describe("close() when the close-time snapshot fails", () => {
  it("still closes the log (no file handle or timer left behind), releases the lock, and keeps every write", async () => {
    const machine = new Machine();
    const inner = machine.process();
    let open = 0;
    let failSnapshots = false;
    const track = (f: StorageFile): StorageFile => {
      open++;
      let closed = false;
      return {
        ...f,
        write: (d) => f.write(d),
        sync: () => f.sync(),
        truncate: (n) => f.truncate(n),
        size: () => f.size(),
        close: async () => {
          if (!closed) open--;
          closed = true;
          await f.close();
        },
      };
    };
    const storage: Storage = {
      ...inner,
      openAppend: async (p) => track(await inner.openAppend(p)),
      create: async (p) => {
        if (failSnapshots && p.includes("snapshots/")) throw new Error("Injected ENOSPC: no space left on device");
        return track(await inner.create(p));
      },
    };
    const db = await Database.open({ storage, dir: "db", sync: "interval", flushInterval: 50, snapshotInterval: 0 });
    db.createDict("d").set("a", 1);
    await db.flush();
    db.getDict("d").set("b", 2);
    failSnapshots = true;
    await db.close().catch(() => {}); // the snapshot fails; close may say so
    assert.equal(open, 0, "every file the database opened is closed (the open log segment was left open)");
    failSnapshots = false;
    // The lock is free and nothing was lost: the log still holds both writes.
    const again = await within(Database.open({ storage: machine.process(), dir: "db" }), 30_000, "reopen");
    assert.deepStrictEqual(again.getDict("d").toObject(), { a: 1, b: 2 });
    await again.close();
  });
});

describe("a log that cannot be written stops acknowledging", () => {
  for (const sync of ["always", "interval", "manual"] as const) {
    it(`sync "${sync}": after the disk goes away, flush() rejects and later writes throw StorageError`, async () => {
      const machine = new Machine();
      const db = await open(machine, { sync });
      db.createDict("d").set("a", 1);
      await db.flush();
      machine.crash(); // this process's storage fails from now on
      db.getDict("d").set("b", 2);
      await assert.rejects(within(db.flush(), 30_000, "flush after the disk failed"));
      await eventually(
        () => {
          try {
            db.getDict("d").set("c", 3);
            return false;
          } catch (e) {
            assert.ok(e instanceof StorageError, `expected StorageError, got ${e}`);
            return true;
          }
        },
        30_000,
        "writes are refused once the log failed",
      );
      await abandon(db);
      const again = await open(machine);
      assert.deepStrictEqual(again.getDict("d").toObject(), { a: 1 });
      await again.close();
    });
  }
});
