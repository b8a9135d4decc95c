// The change feed, embedded (issue 11 item 5): a model-based property test —
// random histories of writes, transactions (rolled back too), atomic batches
// with failed checks, increments, expiries and drops, whose changes, applied
// to an empty model, give the database exactly (values, order, versions,
// expiries) — through subscribe, through watch, from the log after the
// feed's memory moved on, and across a reopen; then the contract's corners:
// delivery on a microtask and never inside a write, durable delivery,
// ResetError and LaggedError, bad input, table.watch, expiry as deletes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Change,
  ConflictError,
  Database,
  LaggedError,
  NotFoundError,
  ResetError,
  ValidationError,
} from "../mod.ts";
import { MemoryStorage } from "../storage.ts";
import { Model, NAMES, randomOp, type Readable, readState, rng } from "./fixtures/feed_model.ts";

/** An embedded database read the way the model is. */
function readable(db: Database): Readable {
  return {
    collections: () => db.collections(),
    dictEntries: (name) => {
      const d = db.getDict(name);
      return [...d.entries()].map(([k, v]) => [k, v, d.getEntry(k)!.version]);
    },
    listItems: (name) => db.getList(name).toArray(),
    tableRows: (name) => {
      const t = db.getTable(name);
      const pk = t.schema.columns.find((c) => c.primaryKey)!.name;
      return t.toArray().map((row) => [row[pk] as number, row, t.getEntry(row[pk] as number)!.version]);
    },
  };
}

/** Lets timers run (the expirer, the log writer) — one turn of the event loop. */
function turn(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1));
}

/** Waits (bounded) until `ok()` holds, turning the event loop meanwhile. */
async function until(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await turn();
  }
}

/**
 * Runs `steps` random writes against `db`: single ops, transactions (a
 * third of them rolled back by a throw at the end), atomic batches whose
 * check fails (nothing applied), and clock steps past short expiries.
 */
async function history(
  db: Database,
  seed: number,
  steps: number,
  clock: { now: number },
  onStep?: (i: number) => Promise<void> | void,
): Promise<void> {
  const r = rng(seed);
  const run = (op: { op: string; args: unknown[] }) => {
    try {
      db.execute(op.op, op.args);
    } catch { /* a refused write changes nothing */ }
  };
  for (let i = 0; i < steps; i++) {
    const roll = r.int(20);
    if (roll === 0) {
      try {
        db.transaction(() => {
          for (let j = r.int(4) + 1; j > 0; j--) run(randomOp(r, 50));
          if (r.chance(0.35)) throw new Error("roll back");
        });
      } catch (e) {
        assert.equal((e as Error).message, "roll back");
      }
    } else if (roll === 1) {
      const d = r.pick(NAMES.dict);
      assert.throws(() =>
        db.atomic({
          checks: [{ collection: d, key: "never", version: 1e9 }],
          ops: [{ op: "dict.set", args: [d, "never", 1] }],
        }), (e) => e instanceof ConflictError || e instanceof NotFoundError);
    } else if (roll === 2) {
      clock.now += r.chance(0.5) ? 60 : 5;
    } else {
      run(randomOp(r, 50));
    }
    await onStep?.(i);
  }
}

async function assertSame(db: Database, model: Model, now: number, what: string): Promise<void> {
  assert.equal(model.lsn <= db.lsn, true);
  assert.deepStrictEqual(model.state(now), await readState(readable(db)), what);
}

describe("change feed, embedded: the model built from the changes is the database", () => {
  for (const seed of [1, 2, 3]) {
    it(`memory-only, subscribe and watch, seed ${seed}`, async () => {
      const clock = { now: 1_000_000 };
      const db = await Database.open({ clock: () => clock.now });
      const bySubscribe = new Model();
      const byWatch = new Model();
      const stop = db.subscribe((batch) => bySubscribe.apply(batch));
      const changes = db.watch();
      let reading = true;
      const reader = (async () => {
        for await (const batch of changes) {
          byWatch.apply(batch);
          if (!reading && byWatch.lsn >= db.lsn) break;
        }
      })();
      await history(db, seed, 600, clock, async (i) => {
        if (i % 50 !== 49) return;
        // Every delivered batch applied, nothing more to come: compare.
        await until(() => bySubscribe.lsn === db.lsn || db.lsn === 0, "the subscriber");
        await assertSame(db, bySubscribe, clock.now, `after step ${i}`);
      });
      // Let the expirer remove what expired: each removal comes as a delete.
      clock.now += 1000;
      await until(() => bySubscribe.due(clock.now) === 0, "the expired keys' deletes");
      await assertSame(db, bySubscribe, clock.now, "at the end");
      reading = false;
      db.createDict("__end__");
      await reader;
      stop();
      // The iterator saw the very batches the subscriber saw.
      assert.deepStrictEqual(byWatch.seen, bySubscribe.seen);
      assert.deepStrictEqual(byWatch.state(clock.now), bySubscribe.state(clock.now));
      assert.ok(bySubscribe.seen.length > 200, `only ${bySubscribe.seen.length} commits`);
      await db.close();
    });
  }
});

describe("change feed, embedded: resuming from the log and across a reopen", () => {
  it("a watch from LSN 0 reads the log once the feed's memory moved on; a reopen resumes where a watch stopped", async () => {
    const storage = new MemoryStorage();
    const clock = { now: 2_000_000 };
    const options = {
      dir: "db",
      storage,
      clock: () => clock.now,
      flushInterval: 5,
      watchBuffer: { commits: 8 },
    };
    let db = await Database.open(options);
    const live = new Model();
    const durable = new Model();
    let stopLive = db.subscribe((b) => live.apply(b));
    let stopDurable = db.subscribe((b) => durable.apply(b), { durable: true });
    // A watch stopped halfway, to be resumed after the reopen.
    const half = new Model();
    const halfWatch = db.watch();
    // Read as it goes (the feed keeps 8 commits), for 150 steps, then stopped.
    await history(db, 11, 300, clock, async (i) => {
      if (i < 150) { while (half.lsn < db.lsn) half.apply((await halfWatch.next()).value as Change[]); }
    });
    const stoppedAt = halfWatch.lsn;
    assert.equal(stoppedAt, half.lsn);
    await halfWatch.return();
    await history(db, 12, 300, clock);
    await until(() => live.lsn === db.lsn, "the live subscriber");
    await assertSame(db, live, clock.now, "live, before the reopen");
    // The feed holds 8 commits: everything before comes back from the log.
    assert.ok(db.lsn > 100);
    const fromLog = new Model();
    const all = db.watch({ from: 0 });
    while (fromLog.lsn < db.lsn) fromLog.apply((await all.next()).value as Change[]);
    await all.return();
    assert.deepStrictEqual(fromLog.seen, live.seen);
    await assertSame(db, fromLog, clock.now, "read back from the log");
    // Durable delivery: everything, once the interval fsync covered it.
    await db.flush();
    await until(() => durable.lsn === db.lsn, "the durable subscriber");
    assert.deepStrictEqual(durable.seen, live.seen);
    stopLive();
    stopDurable();
    await db.close();

    // Reopened: the feed's memory is empty; the stopped watch goes on from the log.
    db = await Database.open(options);
    const resumed = db.watch({ from: stoppedAt });
    while (half.lsn < db.lsn) half.apply((await resumed.next()).value as Change[]);
    await assertSame(db, half, clock.now, "resumed after the reopen");
    // And new writes after it, live.
    stopLive = db.subscribe((b) => live.apply(b), { from: live.lsn });
    stopDurable = db.subscribe((b) => durable.apply(b), { from: durable.lsn, durable: true });
    await history(db, 13, 200, clock);
    clock.now += 1000;
    await until(() => live.due(clock.now) === 0 && live.lsn === db.lsn, "the expired keys' deletes");
    await assertSame(db, live, clock.now, "live, after the reopen");
    while (half.lsn < db.lsn) half.apply((await resumed.next()).value as Change[]);
    assert.deepStrictEqual(half.state(clock.now), live.state(clock.now));
    await resumed.return();
    await db.flush();
    await until(() => durable.lsn === db.lsn, "the durable subscriber after the reopen");
    assert.deepStrictEqual(durable.seen, live.seen);
    stopLive();
    stopDurable();
    await db.close();
  });

  it("from the log, a table's rows are keyed as they were then, across a drop and a create with another key", async () => {
    const db = await Database.open({ dir: "db", storage: new MemoryStorage(), flushInterval: 5 });
    const byId = db.createTable(
      {
        name: "t",
        columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "code", type: "Utf8" }],
      } as const,
    );
    byId.insert({ id: 1, code: "a" });
    const from = db.lsn; // nobody watches: the feed records nothing, the log has it all
    byId.upsert({ id: 2, code: "b" });
    db.transaction(() => {
      byId.patch(1, { code: "z" });
      db.drop("t");
      db.createTable(
        {
          name: "t",
          columns: [{ name: "code", type: "Utf8", primaryKey: true }, { name: "id", type: "Int32" }],
        } as const,
      ).insert({ code: "c", id: 3 });
    });
    const changes = db.watch({ from });
    const seen: unknown[] = [];
    while (seen.length < 5) {
      seen.push(...((await changes.next()).value as Change[]).map((c) => [c.type, "key" in c ? c.key : c.collection]));
    }
    assert.deepStrictEqual(seen, [["upsert", 2], ["upsert", 1], ["drop", "t"], ["create", "t"], ["upsert", "c"]]);
    await changes.return();
    await db.close();
  });

  it("from the log, rows written before a drop the feed recorded later are keyed by the dropped table's key", async () => {
    const db = await Database.open({ dir: "db", storage: new MemoryStorage(), flushInterval: 5 });
    const t = db.createTable(
      {
        name: "t",
        columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "code", type: "Utf8" }],
      } as const,
    );
    const from = db.lsn;
    t.insert({ id: 7, code: "x" }); // only in the log: nobody watches yet
    const other = db.watch(); // the feed records from here on
    db.drop("t");
    db.createTable({ name: "t", columns: [{ name: "code", type: "Utf8", primaryKey: true }] } as const);
    const changes = db.watch({ from });
    assert.deepStrictEqual(((await changes.next()).value as Change[]).map((c) => [c.type, "key" in c ? c.key : null]), [
      ["upsert", 7],
    ]);
    await changes.return();
    await other.return();
    await db.close();
  });

  it("a resume older than memory and the log is a ResetError; a consumer left behind gets a LaggedError it can resume from", async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ dir: "db", storage, watchBuffer: { commits: 4 }, flushInterval: 5 });
    const d = db.createDict("d");
    const slow = db.watch({ collections: ["d"] });
    for (let i = 0; i < 20; i++) d.set(i, i);
    // Two snapshots: the log before the older one is removed.
    await db.snapshot();
    for (let i = 0; i < 5; i++) d.set(i, -i);
    await db.snapshot();
    d.set("last", 1);
    await assert.rejects(
      db.watch({ from: 0 }).next(),
      (e) => e instanceof ResetError && /read the data again/.test(e.message),
    );
    const error = await slow.next().then(() => null, (e) => e);
    assert.ok(error instanceof LaggedError, String(error));
    assert.equal(error.code, "LAGGED");
    assert.equal(error.lsn, 1);
    // After a lag the stream is over; resuming from its LSN goes to the log, which no longer has it.
    await assert.rejects(slow.next(), LaggedError);
    await assert.rejects(db.watch({ from: error.lsn }).next(), ResetError);
    // Memory only: nothing but the ring (recording while a watch is open), and the answer comes at once.
    const mem = await Database.open({ watchBuffer: { commits: 2 } });
    const m = mem.createDict("m");
    m.set("before", 0);
    const open = mem.watch({ collections: ["m"] });
    for (let i = 0; i < 5; i++) m.set(i, i);
    assert.throws(() => mem.watch({ from: 1 }), ResetError);
    assert.throws(() => mem.subscribe(() => {}, { from: 0 }), ResetError);
    const near = mem.watch({ from: 5 });
    assert.deepStrictEqual((await near.next()).value, [
      { lsn: 6, collection: "m", kind: "dict", type: "set", key: 3, value: 3 },
    ]);
    await open.return();
    await mem.close();
    // Nobody watching, the feed records nothing: a memory-only database cannot resume at all then.
    const idle = await Database.open();
    idle.createDict("i");
    idle.createDict("j");
    assert.throws(
      () => idle.watch({ from: 1 }),
      (e) => e instanceof ResetError && /memory starts at LSN 3/.test(e.message),
    );
    await idle.close();
    await db.close();
  });
});

describe("change feed, embedded: delivery", () => {
  it("subscribe runs on a microtask after the commit, never inside a write; a rolled-back transaction delivers nothing", async () => {
    const db = await Database.open();
    const d = db.createDict<number>("d");
    const calls: { lsn: number; inWrite: boolean; types: string[] }[] = [];
    let writing = false;
    db.subscribe((changes) => calls.push({ lsn: changes[0].lsn, inWrite: writing, types: changes.map((c) => c.type) }));
    writing = true;
    d.set("a", 1);
    db.transaction(() => {
      d.set("b", 2);
      d.delete("a");
    });
    assert.equal(calls.length, 0, "nothing inside the writes");
    try {
      db.transaction(() => {
        d.set("c", 3);
        throw new Error("no");
      });
    } catch { /* rolled back */ }
    writing = false;
    await Promise.resolve();
    assert.deepStrictEqual(calls, [
      { lsn: 2, inWrite: false, types: ["set"] },
      { lsn: 3, inWrite: false, types: ["set", "delete"] },
    ]);
    assert.equal(db.lsn, 3, "the rollback took no LSN");
    // A listener may write: its write is a commit of its own, delivered after it.
    const seen: number[] = [];
    const stop = db.subscribe((changes) => {
      seen.push(changes[0].lsn);
      if (changes[0].lsn === 4) d.set("from-listener", 1);
    });
    d.set("x", 1);
    await new Promise((r) => setTimeout(r, 0));
    assert.deepStrictEqual(seen, [4, 5]);
    stop();
    d.set("y", 1);
    await new Promise((r) => setTimeout(r, 0));
    assert.deepStrictEqual(seen, [4, 5], "nothing after unsubscribing");
    await db.close();
  });

  it("changes are copies: changing one changes neither the database nor another watcher's", async () => {
    const db = await Database.open();
    const d = db.createDict("d");
    const a = db.watch();
    const b = db.watch();
    d.set("k", { list: [1, 2] });
    const [ca] = (await a.next()).value as Change[];
    const [cb] = (await b.next()).value as Change[];
    assert.ok(ca.kind === "dict" && ca.type === "set" && cb.kind === "dict" && cb.type === "set");
    (ca.value as { list: number[] }).list.push(3);
    assert.deepStrictEqual(cb.value, { list: [1, 2] });
    assert.deepStrictEqual(d.get("k"), { list: [1, 2] });
    await db.close();
    assert.deepStrictEqual(await a.next(), { value: undefined, done: true }, "closing the database ends the watch");
  });

  it("durable: in sync manual nothing is delivered before flush(); in memory at once", async () => {
    const db = await Database.open({ dir: "db", storage: new MemoryStorage(), sync: "manual" });
    const d = db.createDict("d");
    const durable: number[] = [];
    const live: number[] = [];
    db.subscribe((c) => durable.push(c[0].lsn), { durable: true });
    db.subscribe((c) => live.push(c[0].lsn));
    d.set("a", 1);
    d.set("b", 2);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepStrictEqual(live, [2, 3]);
    assert.deepStrictEqual(durable, []);
    await db.flush();
    await until(() => durable.length === 2, "the durable batches");
    assert.deepStrictEqual(durable, [2, 3]);
    await db.close();
    const mem = await Database.open();
    const got: number[] = [];
    mem.subscribe((c) => got.push(c[0].lsn), { durable: true });
    mem.createDict("m");
    await Promise.resolve();
    assert.deepStrictEqual(got, [1]);
    await mem.close();
  });

  it("sync always: writes rolled back after a failed fsync reset the watchers that saw them; durable ones never saw them", async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ dir: "db", storage, sync: "always" });
    const d = db.createDict("d");
    d.set("kept", 1);
    await db.flush();
    const errors: unknown[] = [];
    const live: number[] = [];
    const durable: number[] = [];
    db.subscribe((c) => live.push(c[0].lsn), { onError: (e) => errors.push(e) });
    db.subscribe((c) => durable.push(c[0].lsn), { durable: true, onError: (e) => errors.push(e) });
    // Seen by both: the live watch has taken the history file away (durable/history.ts), so
    // from now on it is shown commits before their fsync.
    d.set("seen", 0);
    await db.flush();
    await until(() => live.length === 1 && durable.length === 1, "the first batch");
    storage.setFault({ readOnly: true });
    d.set("lost", 2);
    await until(() => live.length === 2, "the live watch to see the write before its fsync");
    await assert.rejects(db.flush());
    await until(() => errors.length > 0, "the reset");
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ResetError, String(errors[0]));
    assert.deepStrictEqual(live, [3, 4]);
    assert.deepStrictEqual(durable, [3]);
    storage.setFault(null);
    await until(() => db.storageError === null, "the disk back");
    assert.equal(d.get("lost"), undefined);
    d.set("after", 3);
    await db.flush();
    await until(() => durable.length === 2, "the durable batch");
    assert.deepStrictEqual(durable, [3, 4], "LSN 4 again: the write after the rollback");
    await db.close();
  });

  it("expired keys come as deletes, from the background removal", async () => {
    const clock = { now: 5_000 };
    const db = await Database.open({ clock: () => clock.now });
    const d = db.createDict("sessions");
    const changes = db.watch({ collections: ["sessions"] });
    d.set("s1", "alice", { expireIn: 100 });
    assert.deepStrictEqual((await changes.next()).value, [
      { lsn: 2, collection: "sessions", kind: "dict", type: "set", key: "s1", value: "alice", expireAt: 5_100 },
    ]);
    d.expire("s1", 50);
    assert.deepStrictEqual((await changes.next()).value, [
      { lsn: 3, collection: "sessions", kind: "dict", type: "expire", key: "s1", expireAt: 5_050 },
    ]);
    clock.now = 5_050;
    // The expirer's timer never keeps a process alive: this test's does, while it waits.
    const alive = setInterval(() => {}, 10);
    const removed = await changes.next().finally(() => clearInterval(alive));
    assert.deepStrictEqual(removed.value, [
      { lsn: 4, collection: "sessions", kind: "dict", type: "delete", key: "s1" },
    ]);
    await db.close();
  });
});

describe("change feed: many watchers of one collection share one batch", () => {
  it("cursors filtered to the commit's collections get the same array, so the server encodes it once; others a filtered copy", async () => {
    const { packedBatch } = await import("../src/server/watch.ts");
    const db = await Database.open();
    const d = db.createDict<number>("d");
    const e = db.createDict<number>("e");
    const onD = [0, 1, 2].map(() => db.watchCursor({ collections: ["d"] }));
    const onBoth = db.watchCursor({ collections: ["d", "e"] });
    const all = db.watchCursor();
    d.set("a", 1);
    const batches = [...onD, onBoth, all].map((c) => c.poll()!);
    for (const b of batches) assert.equal(b.changes, batches[0].changes, "one array for every watcher");
    const bytes = batches.map((b) => packedBatch(b));
    for (const x of bytes) assert.equal(x, bytes[0], "encoded once");
    // A commit that also touches another collection: the "d" watchers get only their part.
    db.transaction(() => {
      d.set("b", 2);
      e.set("c", 3);
    });
    const [mine, both, every] = [onD[0].poll()!, onBoth.poll()!, all.poll()!];
    assert.deepStrictEqual(mine.changes.map((c) => c.collection), ["d"]);
    assert.equal(both.changes, every.changes);
    assert.equal(every.changes.length, 2);
    for (const c of [...onD, onBoth, all]) c.close();
    await db.close();
  });
});

describe("change feed, embedded: bad input", () => {
  it("options are checked at once, and nothing is watched", async () => {
    const db = await Database.open();
    db.createDict("d");
    const bad: [unknown, typeof ValidationError | typeof NotFoundError, RegExp][] = [
      ["all", ValidationError, /not an object/],
      [[], ValidationError, /not an object/],
      [{ collection: ["d"] }, ValidationError, /option "collection" is unknown/],
      [{ collections: "d" }, ValidationError, /non-empty array/],
      [{ collections: [] }, ValidationError, /non-empty array/],
      [{ collections: [1] }, ValidationError, /not a non-empty string/],
      [{ collections: ["d", "nope"] }, NotFoundError, /"nope"/],
      [{ from: -1 }, ValidationError, /not an LSN/],
      [{ from: 1.5 }, ValidationError, /not an LSN/],
      [{ from: "0" }, ValidationError, /not an LSN/],
      [{ from: 2 }, ValidationError, /beyond the last LSN 1/],
      [{ durable: "yes" }, ValidationError, /not a boolean/],
    ];
    for (const [options, Class, message] of bad) {
      assert.throws(() => db.watch(options as never), (e) => e instanceof Class && message.test((e as Error).message));
      assert.throws(() => db.subscribe(() => {}, options as never), Class);
    }
    assert.throws(() => db.subscribe("fn" as never), ValidationError);
    assert.throws(() => db.subscribe(() => {}, { onError: 1 } as never), ValidationError);
    // A resumed watch may name a collection dropped since.
    const open = db.watch();
    db.drop("d");
    const resumed = db.watch({ collections: ["d"], from: 1 });
    assert.deepStrictEqual((await resumed.next()).value, [
      { lsn: 2, collection: "d", kind: "db", type: "drop", collectionKind: "dict" },
    ]);
    await open.return();
    await db.close();
    assert.throws(() => db.watch(), /closed/);
  });
});

describe("table.watch: rows entering, changing in and leaving a filter", () => {
  it("tells enter, change and leave, a transaction as one batch, and ends with the table", async () => {
    const db = await Database.open();
    const t = db.createTable(
      {
        name: "tasks",
        columns: [
          { name: "id", type: "Int32", primaryKey: true },
          { name: "owner", type: "Utf8" },
          { name: "done", type: "Boolean" },
        ],
      } as const,
    );
    t.insert({ id: 1, owner: "ada", done: false });
    t.insert({ id: 2, owner: "bob", done: false });
    const open = t.watch({
      where: { and: [{ column: "owner", op: "=", value: "ada" }, { column: "done", op: "=", value: false }] },
    });
    const next = async () => (await open.next()).value;
    assert.deepStrictEqual(await next(), [{
      lsn: 3,
      type: "enter",
      key: 1,
      row: { id: 1, owner: "ada", done: false },
    }]);
    t.patch(2, { done: true }); // never in the filter: no batch
    t.insert({ id: 3, owner: "ada", done: false });
    assert.deepStrictEqual(await next(), [{
      lsn: 5,
      type: "enter",
      key: 3,
      row: { id: 3, owner: "ada", done: false },
    }]);
    db.transaction(() => {
      t.patch(1, { done: true });
      t.upsert({ id: 3, owner: "ada", done: false });
      t.update(2, { owner: "ada", done: false });
    });
    assert.deepStrictEqual(await next(), [
      { lsn: 6, type: "leave", key: 1, row: { id: 1, owner: "ada", done: true } },
      { lsn: 6, type: "change", key: 3, row: { id: 3, owner: "ada", done: false } },
      { lsn: 6, type: "enter", key: 2, row: { id: 2, owner: "ada", done: false } },
    ]);
    t.delete(3);
    assert.deepStrictEqual(await next(), [{ lsn: 7, type: "leave", key: 3 }]);
    db.drop("tasks");
    assert.deepStrictEqual(await next(), [{ lsn: 8, type: "leave", key: 2 }]);
    assert.deepStrictEqual(await open.next(), { value: undefined, done: true });
    await db.close();
  });

  it("bad queries are a ValidationError at once", async () => {
    const db = await Database.open();
    const t = db.createTable({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const);
    assert.throws(() => t.watch({ where: { column: "nope", op: "=", value: 1 } } as never), ValidationError);
    assert.throws(() => t.watch({ orderBy: [{ column: "id" }] } as never), /takes \{ where \} only/);
    assert.throws(() => t.watch("all" as never), ValidationError);
    await db.close();
  });
});
