// Durability round trips: every value type, every collection kind and every
// write op (transactions and savepoints included) come back exactly after
// close + reopen, after a crash that follows flush() (MemoryStorage.crash()
// and a SIGKILLed child process on real files), across explicit and
// automatic snapshots; Table.open schemas; directory locks.
import { describe, it } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { readdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { Database, defineSchema, LockedError, SchemaError, Table, type Value } from "../mod.ts";
import {
  abandon,
  allTypesSchema,
  allValues,
  byNameSchema,
  canon,
  dump,
  Machine,
  PHASES,
  populate,
  removeDir,
  seedFromEnv,
  sleep,
  spawnChild,
  tempDir,
  within,
} from "./fixtures/durability_common.ts";
import { prng, randInt } from "./fixtures/prng.ts";
import { VirtualScheduler } from "./fixtures/virtual_scheduler.ts";

type Sync = "always" | "interval" | "manual";
const SEED = seedFromEnv("CYBERDB_ROUNDTRIP_SEED");
const SYNCS: Sync[] = ["always", "interval", "manual"];

/** The state the round-trip script must come back with, computed in memory. */
async function expectedState(phases = PHASES.length): Promise<unknown[]> {
  const model = await Database.open();
  for (let p = 0; p < phases; p++) PHASES[p](model);
  const d = dump(model);
  await model.close();
  return d;
}

/** Spot checks that deepStrictEqual already covers, spelled out for the edge values. */
function spotCheck(db: Database): void {
  const d = db.getDict("values");
  const values = allValues();
  values.forEach((v, i) => {
    const got = d.get(`v${i}`) as Value;
    if (typeof v === "number") assert.ok(Object.is(got, v), `values.v${i}: ${String(got)} is not ${String(v)}`);
    else assert.deepStrictEqual(got, v, `values.v${i}`);
  });
  assert.equal(typeof d.get("v17"), "bigint"); // 1n stays a bigint
  assert.equal(d.get("v21"), 2n ** 64n - 1n);
  assert.equal(d.get("v20"), -(2n ** 63n));
  assert.equal(d.get(0), "negative zero key is key 0");
  assert.equal(d.get("0"), "string zero");
  const bin = d.get("v29");
  assert.ok(bin instanceof Uint8Array && bin.constructor === Uint8Array, "binary comes back as a plain Uint8Array");
  const at = db.getTable<typeof allTypesSchema>("alltypes").get(1);
  assert.ok(at !== undefined && Object.is(at.f64, -0) && Object.is(at.f32, -0));
}

/** Opens "db" on a new process of `machine`. */
async function openMem(machine: Machine, extra: Partial<Parameters<typeof Database.open>[0]> = {}) {
  return await within(
    Database.open({ storage: machine.process(), dir: "db", snapshotInterval: 0, ...extra }),
    30_000,
    "Database.open",
  );
}

async function listSnapshots(machine: Machine): Promise<string[]> {
  return (await machine.disk.list("db/snapshots")).filter((n) => n.endsWith(".snap"));
}

describe("Round trip: close and reopen", () => {
  it("every value type, collection kind and write op survives close + reopen (real files)", async () => {
    const dir = await tempDir("rt");
    try {
      const expected = await expectedState();
      const db = await Database.open({ dir });
      populate(db);
      assert.deepStrictEqual(dump(db), expected, "the script itself is deterministic");
      await db.close();
      const again = await within(Database.open({ dir }), 30_000, "reopen");
      assert.deepStrictEqual(dump(again), expected);
      spotCheck(again);
      await again.close();
      // A second close/reopen cycle reads the close-time snapshot only.
      const third = await Database.open({ dir });
      assert.deepStrictEqual(dump(third), expected);
      await third.close();
    } finally {
      await removeDir(dir);
    }
  });

  for (const sync of SYNCS) {
    it(`sync "${sync}": close + reopen on MemoryStorage, then more writes and another reopen`, async () => {
      const machine = new Machine();
      const db = await openMem(machine, { sync });
      populate(db);
      await db.close();
      const again = await openMem(machine, { sync });
      assert.deepStrictEqual(dump(again), await expectedState());
      again.getDict<Value>("dictOps").set("after reopen", [1n, -0]);
      again.getList<Value>("listOps").append("after reopen");
      again.getTable<typeof byNameSchema>("byname").upsert({ name: "after", n: -0 });
      const expected = dump(again);
      await again.close();
      const third = await openMem(machine, { sync });
      assert.deepStrictEqual(dump(third), expected);
      await third.close();
    });
  }
});

describe("Round trip without close: flush(), then crash", () => {
  for (const sync of SYNCS) {
    it(`sync "${sync}": MemoryStorage.crash() after flush() loses nothing`, async () => {
      const machine = new Machine();
      const db = await openMem(machine, { sync });
      populate(db);
      await db.flush();
      machine.crash();
      const again = await openMem(machine, { sync });
      assert.deepStrictEqual(dump(again), await expectedState());
      spotCheck(again);
      await again.close();
      await abandon(db);
    });
  }

  for (const sync of SYNCS) {
    it(`sync "${sync}": real files, a child process that flushed is SIGKILLed, reopen has everything`, async () => {
      const dir = await tempDir("rtkill");
      const child = spawnChild("db_worker.ts", [JSON.stringify({ dir, sync, script: "populate" })]);
      try {
        await child.waitFor((l) => l === "flushed", 90_000, "the child to flush");
        await child.kill();
        const db = await within(Database.open({ dir }), 30_000, "reopen after SIGKILL");
        assert.deepStrictEqual(dump(db), await expectedState());
        spotCheck(db);
        await db.close();
        const again = await Database.open({ dir });
        assert.deepStrictEqual(dump(again), await expectedState());
        await again.close();
      } finally {
        await child.kill();
        await removeDir(dir);
      }
    });
  }
});

describe("Replay of the log alone (no snapshot)", () => {
  it("runs of writes to one collection, then drops and re-creations of its name, land where they were made", async () => {
    const machine = new Machine();
    const db = await openMem(machine, { snapshotWalBytes: 0 });
    const x = db.createDict("x");
    x.set("a", 1);
    x.set("b", 2);
    db.drop("x");
    const l = db.createList("x");
    l.append(1);
    l.append(2);
    db.transaction(() => {
      db.drop("x");
      db.createDict("x").set("c", 3);
    });
    db.getDict("x").set("d", 4);
    db.createDict("y").set("a", 1);
    db.getDict("x").set("e", 5);
    db.getDict("y").set("b", -0); // the general encoder, between fast records
    db.getDict("x").set("f", 6);
    await db.flush();
    machine.crash();
    const again = await openMem(machine, { snapshotWalBytes: 0 });
    assert.equal(again.durabilityCounters?.recovery.logRecords, 14);
    assert.deepEqual(again.getDict("x").toObject(), { c: 3, d: 4, e: 5, f: 6 });
    assert.deepEqual(again.getDict("y").toObject(), { a: 1, b: -0 });
    assert.ok(Object.is(again.getDict("y").get("b"), -0));
    await again.close();
    await abandon(db);
  });
});

describe("Round trip across snapshots", () => {
  it("snapshot(), more writes, close → reopen (real files)", async () => {
    const dir = await tempDir("rtsnap");
    try {
      const db = await Database.open({ dir, snapshotInterval: 0 });
      PHASES[0](db);
      PHASES[1](db);
      await db.snapshot();
      const snaps = (await readdir(join(dir, "snapshots"))).filter((n) => n.endsWith(".snap"));
      assert.equal(snaps.length, 1, `one snapshot file: ${snaps}`);
      for (const p of PHASES.slice(2)) p(db);
      await db.close();
      const again = await Database.open({ dir });
      assert.deepStrictEqual(dump(again), await expectedState());
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  for (const sync of SYNCS) {
    it(`sync "${sync}": snapshot() twice between phases, flush, crash → everything back`, async () => {
      const machine = new Machine();
      const db = await openMem(machine, { sync });
      for (let p = 0; p < PHASES.length; p++) {
        PHASES[p](db);
        if (p === 1 || p === 3) await db.snapshot();
      }
      await db.flush();
      assert.equal((await listSnapshots(machine)).length, 2, "two snapshot generations are kept");
      machine.crash();
      const again = await openMem(machine, { sync });
      assert.deepStrictEqual(dump(again), await expectedState());
      await again.close();
      await abandon(db);
    });
  }

  it("a snapshot taken right after reopen, then a crash, keeps everything", async () => {
    const machine = new Machine();
    const db = await openMem(machine, { sync: "always" });
    PHASES[0](db);
    PHASES[1](db);
    await db.flush();
    machine.crash();
    await abandon(db);
    const again = await openMem(machine, { sync: "always" });
    await again.snapshot();
    for (const p of PHASES.slice(2)) p(again);
    await again.flush();
    machine.crash();
    await abandon(again);
    const third = await openMem(machine, { sync: "always" });
    assert.deepStrictEqual(dump(third), await expectedState());
    await third.close();
  });

  for (const sync of SYNCS) {
    it(`sync "${sync}": real files, snapshot mid-script in a child, SIGKILL after flush`, async () => {
      const dir = await tempDir("rtsnapkill");
      const child = spawnChild("db_worker.ts", [JSON.stringify({ dir, sync, script: "populate", snapshotAfter: 2 })]);
      try {
        await child.waitFor((l) => l === "flushed", 90_000, "the child to flush");
        await child.kill();
        const snaps = (await readdir(join(dir, "snapshots"))).filter((n) => n.endsWith(".snap"));
        assert.equal(snaps.length, 1, `the child's snapshot is on disk: ${snaps}`);
        const db = await within(Database.open({ dir }), 30_000, "reopen after SIGKILL");
        assert.deepStrictEqual(dump(db), await expectedState());
        await db.close();
      } finally {
        await child.kill();
        await removeDir(dir);
      }
    });
  }

  for (const sync of SYNCS) {
    it(`sync "${sync}": tiny snapshotWalBytes — automatic snapshots mid-stream, then crash`, async () => {
      const machine = new Machine();
      const lines: string[] = [];
      const db = await openMem(machine, { sync, snapshotWalBytes: 512, logger: (l) => lines.push(l) });
      const model = await Database.open();
      const snapshotsSeen = new Set<string>();
      for (let p = 0; p < PHASES.length; p++) {
        PHASES[p](db);
        PHASES[p](model);
        // Many small writes, each in its own task, so that snapshots start between them.
        const d = p === 0 ? db.createDict<Value>("stream") : db.getDict<Value>("stream");
        const md = p === 0 ? model.createDict<Value>("stream") : model.getDict<Value>("stream");
        for (let i = 0; i < 25; i++) {
          d.set(`p${p}i${i % 7}`, [p, i, "y".repeat(i * 10)]);
          md.set(`p${p}i${i % 7}`, [p, i, "y".repeat(i * 10)]);
          await sleep(0);
          for (const n of await listSnapshots(machine)) snapshotsSeen.add(n);
        }
        await db.flush();
      }
      await db.flush();
      for (const n of await listSnapshots(machine)) snapshotsSeen.add(n);
      // "manual" may defer or skip automatic snapshots (they must not make unflushed writes durable).
      if (sync !== "manual") {
        assert.ok(snapshotsSeen.size >= 3, `automatic snapshots were taken mid-stream: ${[...snapshotsSeen]}`);
      }
      assert.ok((await listSnapshots(machine)).length <= 2, "at most two snapshot generations stay");
      const expected = dump(model);
      await model.close();
      machine.crash();
      const again = await openMem(machine, { sync });
      assert.deepStrictEqual(dump(again), expected);
      await again.close();
      await abandon(db);
      // And once more after a clean close (close-time snapshot over the automatic ones).
      const third = await openMem(machine, { sync });
      assert.deepStrictEqual(dump(third), expected);
      await third.close();
    });
  }

  it("snapshots drop the log segments they cover: the log reaches back to the previous snapshot and no further", async () => {
    const dir = await tempDir("retention");
    try {
      const db = await Database.open({ dir, segmentBytes: 512, snapshotInterval: 0, sync: "always" });
      const l = db.createList<Value>("l");
      const snapLsns: number[] = [];
      let lsn = 1;
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 60; i++) {
          l.append([round, i, "r".repeat(20)]);
          lsn++;
        }
        await db.flush();
        await db.snapshot();
        snapLsns.push(lsn);
        const segs = (await readdir(join(dir, "wal"))).filter((n) => n.endsWith(".wal")).map(Number.parseFloat).sort((
          a,
          b,
        ) => a - b);
        const snaps = (await readdir(join(dir, "snapshots"))).filter((n) => n.endsWith(".snap")).map(Number.parseFloat)
          .sort((a, b) => a - b);
        assert.deepStrictEqual(snaps, snapLsns.slice(-2), `round ${round}: the newest two snapshots are kept`);
        const keepFrom = snapLsns.length >= 2 ? snapLsns[snapLsns.length - 2] + 1 : 1;
        assert.ok(segs[0] <= keepFrom, `round ${round}: the log still holds LSN ${keepFrom} (segments ${segs})`);
        assert.ok(
          segs.length < 2 || segs[1] > keepFrom,
          `round ${round}: segments wholly before LSN ${keepFrom} are removed (segments ${segs})`,
        );
      }
      const expected = dump(db);
      await db.close();
      const again = await Database.open({ dir });
      assert.deepStrictEqual(dump(again), expected);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("real files, tiny snapshotWalBytes: automatic snapshots, close, reopen", async () => {
    const dir = await tempDir("rttiny");
    try {
      const db = await Database.open({ dir, snapshotWalBytes: 256, snapshotInterval: 0 });
      for (const p of PHASES) {
        p(db);
        await db.flush();
        await sleep(5);
      }
      await db.close();
      const again = await Database.open({ dir, snapshotWalBytes: 256 });
      assert.deepStrictEqual(dump(again), await expectedState());
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("many generations: write, flush, crash or close, reopen — matches the model every time", async () => {
    const machine = new Machine();
    const model = await Database.open();
    let db = await openMem(machine, { sync: "manual", snapshotWalBytes: 2048 });
    for (let gen = 0; gen < PHASES.length; gen++) {
      PHASES[gen](db);
      PHASES[gen](model);
      if (gen % 2 === 1) await db.snapshot();
      const extra = gen === 0 ? db.createList<Value>("gens") : db.getList<Value>("gens");
      const mextra = gen === 0 ? model.createList<Value>("gens") : model.getList<Value>("gens");
      extra.append(gen);
      mextra.append(gen);
      await db.flush();
      if (gen % 3 === 2) await db.close();
      else {
        machine.crash();
        await abandon(db);
      }
      db = await openMem(machine, { sync: "manual", snapshotWalBytes: 2048 });
      assert.deepStrictEqual(dump(db), dump(model), `generation ${gen}`);
    }
    await db.close();
    await model.close();
  });
});

// ---- random histories ------------------------------------------------------------

const tSchema = defineSchema(
  {
    name: "t",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "s", type: "Utf8" },
      { name: "j", type: "Json", nullable: true },
      { name: "f", type: "Float64", nullable: true },
    ],
  } as const,
);

type Op = (db: Database) => void;

function randomValue(rand: () => number): Value {
  const small: Value[] = [
    null,
    true,
    false,
    0,
    -0,
    1,
    -1,
    2.5,
    NaN,
    Infinity,
    -Infinity,
    0n,
    -(2n ** 63n),
    2n ** 64n - 1n,
    "",
    "s",
    "✓🌍",
    new Uint8Array([1, 2]),
    new Uint8Array(0),
    new Date(0),
    new Date(-5),
    [],
    {},
    [1, [2, { a: -0 }]],
    { k: [null, 1n], "": "" },
  ];
  const r = rand();
  if (r < 0.85) return small[randInt(rand, 0, small.length - 1)];
  if (r < 0.95) return { n: randInt(rand, 0, 100), arr: [randInt(rand, -5, 5), "x".repeat(randInt(rand, 0, 50))] };
  return "big".repeat(randInt(rand, 100, 3000));
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // expected failures (missing keys, empty lists, duplicates...) must leave no trace
  }
}

/** One random write (or failing write), its choices fixed now so that it replays identically. */
function randomOp(rand: () => number, depth = 0): Op {
  const op = randomOpInner(rand, depth);
  return op;
}

const VERBOSE = !!process.env.CYBERDB_ROUNDTRIP_VERBOSE;

function randomOpInner(rand: () => number, depth: number): Op {
  const pick = <T>(xs: readonly T[]) => xs[randInt(rand, 0, xs.length - 1)];
  const dn = pick(["d1", "d2"]);
  const ln = pick(["l1", "l2"]);
  const key = pick(["a", "b", "c", 0, 1, -0, 2.5, "0"] as const);
  const v = randomValue(rand);
  const v2 = randomValue(rand);
  const i = randInt(rand, -4, 6);
  const id = randInt(rand, 0, 8);
  const r = randInt(rand, 0, 33);
  const d = (
    db: Database,
  ) => (db.collections().some((c) => c.name === dn) ? db.getDict<Value>(dn) : db.createDict<Value>(dn));
  const l = (
    db: Database,
  ) => (db.collections().some((c) => c.name === ln) ? db.getList<Value>(ln) : db.createList<Value>(ln));
  const t = (
    db: Database,
  ) => (db.collections().some((c) => c.name === "t") ? db.getTable<typeof tSchema>("t") : db.createTable(tSchema));
  const row = { id, s: `s${r}`, j: rand() < 0.3 ? null : v, f: rand() < 0.2 ? null : -0 };
  const dropTarget = pick([dn, ln, "t"]);
  if (VERBOSE) {
    console.log(
      `${"  ".repeat(depth)}op r=${r} dn=${dn} ln=${ln} key=${String(key)} i=${i} id=${id} v=${
        canon(v).slice(0, 60)
      } v2=${canon(v2).slice(0, 60)}`,
    );
  }
  switch (r) {
    case 0:
    case 1:
    case 2:
      return (db) => quietly(() => d(db).set(key, v));
    case 3:
      return (db) => quietly(() => d(db).delete(key));
    case 4:
      return (db) => quietly(() => d(db).pop(key));
    case 5:
      return (db) => quietly(() => d(db).popItem());
    case 6:
      return (db) => quietly(() => d(db).setDefault(key, v));
    case 7:
      return (db) => quietly(() => d(db).update([[key, v], ["u", v2]]));
    case 8:
      return (db) => quietly(() => (i < 0 ? d(db).clear() : d(db).set("c", v)));
    case 9:
    case 10:
      return (db) => quietly(() => l(db).append(v));
    case 11:
      return (db) => quietly(() => l(db).extend([v, v2]));
    case 12:
      return (db) => quietly(() => l(db).insert(i, v));
    case 13:
      return (db) => quietly(() => l(db).set(i, v));
    case 14:
      return (db) => quietly(() => l(db).pop(i % 3 === 0 ? undefined : i));
    case 15:
      return (db) => quietly(() => l(db).remove(v));
    case 16:
      return (db) => quietly(() => l(db).reverse());
    case 17:
      return (db) => quietly(() => l(db).sort(i % 2 ? { reverse: true } : {}));
    case 18:
      return (db) => quietly(() => l(db).sort({ key: "n" })); // fails unless every element is an object
    case 19:
      return (db) => quietly(() => (i === 6 ? l(db).clear() : l(db).append(v2)));
    case 20:
      return (db) => quietly(() => t(db).insert(row));
    case 21:
      return (db) => quietly(() => t(db).insertMany([row, { ...row, id: id + 10 }]));
    case 22:
      return (db) => quietly(() => t(db).update(id, { id, s: "updated", j: v2, f: 1.5 }));
    case 23:
      return (db) => quietly(() => t(db).patch(id, { j: v2 }));
    case 24:
    case 25:
      return (db) => quietly(() => t(db).upsert(row));
    case 26:
      return (db) => quietly(() => t(db).delete(id));
    case 27:
      return (db) => quietly(() => t(db).insert({ ...row, s: 5 as unknown as string })); // ValidationError
    case 28:
      return (db) => quietly(() => db.drop(dropTarget));
    default: {
      if (depth > 2) return (db) => quietly(() => d(db).set("deep", depth));
      const inner = Array.from({ length: randInt(rand, 1, 5) }, () => randomOp(rand, depth + 1));
      const fail = rand() < 0.3;
      const nested = rand() < 0.5 ? randomOp(rand, depth + 1) : null;
      const nestedFails = rand() < 0.5;
      return (db) =>
        quietly(() =>
          db.transaction(() => {
            for (const op of inner) op(db);
            if (nested) {
              quietly(() =>
                db.transaction(() => {
                  nested(db);
                  if (nestedFails) throw new Error("savepoint rolled back");
                })
              );
            }
            if (fail) throw new Error("transaction rolled back");
          })
        );
    }
  }
}

describe(`Random histories (seed ${SEED})`, () => {
  it("random writes, flushes, snapshots, crashes and reopens: the state always matches a model", async () => {
    const rand = prng(SEED);
    const ops: Op[] = [];
    let flushed = 0;
    const machine = new Machine();
    // Virtual time, moved by the history itself: interval fsyncs happen at the same steps on every replay.
    const clock = new VirtualScheduler();
    const model = { db: await Database.open() };
    const options = () => ({
      sync: (["always", "interval", "manual"] as const)[randInt(rand, 0, 2)],
      flushInterval: randInt(rand, 1, 30),
      scheduler: clock,
      snapshotWalBytes: [0, 300, 4096][randInt(rand, 0, 2)],
      segmentBytes: [undefined, 512, 4096][randInt(rand, 0, 2)],
    });
    let opts = options();
    let db = await openMem(machine, opts);
    for (let step = 0; step < 1200; step++) {
      const ctx = `[replay with CYBERDB_ROUNDTRIP_SEED=${SEED}; step ${step}, options ${JSON.stringify(opts)}]`;
      const r = rand();
      if (VERBOSE) console.log(`step ${step} r=${r.toFixed(3)} flushed=${flushed} ops=${ops.length}`);
      if (r < 0.8) {
        const op = randomOp(rand);
        ops.push(op);
        op(db);
        op(model.db);
        if (rand() < 0.2) await clock.advance(randInt(rand, 0, 30));
      } else if (r < 0.88) {
        await db.flush();
        flushed = ops.length;
      } else if (r < 0.92) {
        await db.snapshot();
      } else {
        const how = randInt(rand, 0, 2); // 0: close, 1: flush + crash, 2: crash (manual loses the unflushed tail)
        if (how === 0) {
          await db.close();
          flushed = ops.length;
        } else {
          if (how === 1) {
            await db.flush();
            flushed = ops.length;
          }
          const lossy = opts.sync === "manual" && how === 2;
          if (!lossy) {
            await db.flush(); // make the expectation exact in every mode
            flushed = ops.length;
          }
          if (VERBOSE) console.log(`crash how=${how} lossy=${lossy} flushed=${flushed} ops=${ops.length}`);
          machine.crash();
          await abandon(db);
          if (flushed < ops.length) {
            // "manual" loses the writes after the last flush() — but a snapshot taken since
            // (explicit, or automatic by size) may hold some of them: any prefix from the
            // last flush on is consistent. The model forgets what the crash lost.
            db = await openMem(machine, opts);
            const got = canon(dump(db));
            await db.close();
            await model.db.close();
            model.db = await Database.open();
            for (let k = 0; k < flushed; k++) ops[k](model.db);
            let k = flushed;
            while (canon(dump(model.db)) !== got && k < ops.length) ops[k++](model.db);
            if (VERBOSE) console.log(`lossy crash kept ${k} of ${ops.length} ops (flushed ${flushed})`);
            ops.length = k;
          }
        }
        opts = options();
        db = await openMem(machine, opts);
        assert.deepStrictEqual(dump(db), dump(model.db), `after reopen ${ctx}`);
      }
    }
    await db.close();
    db = await openMem(machine);
    assert.deepStrictEqual(dump(db), dump(model.db), `final reopen [seed ${SEED}]`);
    await db.close();
    await model.db.close();
  });
});

describe("Recovery progress", () => {
  it("open reports the snapshot it loaded and the records it replayed through logger, and prints nothing without one", async () => {
    const machine = new Machine();
    const db = await openMem(machine, { sync: "always" });
    PHASES[0](db);
    PHASES[1](db);
    await db.snapshot();
    PHASES[2](db);
    await db.flush();
    machine.crash();
    await abandon(db);
    const clone = machine.clone();
    const lines: string[] = [];
    const again = await openMem(machine, { logger: (l) => lines.push(l) });
    await again.close();
    assert.ok(
      lines.some((l) => /snapshot/i.test(l) && l.includes(".snap")),
      `names the snapshot it loaded: ${lines.join(" | ")}`,
    );
    assert.ok(lines.some((l) => /replayed \d+/i.test(l)), `counts the records it replayed: ${lines.join(" | ")}`);
    // Without a logger the embedded API is quiet.
    const printed: unknown[] = [];
    const saved = {
      log: console.log,
      info: console.info,
      warn: console.warn,
      error: console.error,
      debug: console.debug,
    };
    for (const k of Object.keys(saved) as (keyof typeof saved)[]) {
      console[k] = (...a: unknown[]) => void printed.push(a);
    }
    try {
      const quiet = await openMem(clone);
      await quiet.close();
    } finally {
      Object.assign(console, saved);
    }
    assert.deepStrictEqual(printed, [], "nothing printed without a logger");
  });
});

describe("Table.open", () => {
  it("reopens a standalone table with its rows (real files)", async () => {
    const dir = await tempDir("tbl");
    try {
      const t = await Table.open(byNameSchema, { dir });
      t.insertMany([{ name: "a", n: 1 }, { name: "b", n: -0, tags: [1n] }]);
      t.patch("a", { tags: { x: NaN } });
      t.delete("b");
      t.upsert({ name: "c", n: Infinity });
      const rows = t.toArray();
      await t.close();
      const again = await Table.open(byNameSchema, { dir });
      assert.deepStrictEqual(again.toArray(), rows);
      again.insert({ name: "d", n: 4 });
      await again.flush();
      const rows2 = again.toArray();
      await again.close();
      const third = await Table.open(byNameSchema, { dir });
      assert.deepStrictEqual(third.toArray(), rows2);
      await third.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("another schema for the stored table → SchemaError, and the directory is not left locked", async () => {
    const dir = await tempDir("tblschema");
    try {
      const t = await Table.open(byNameSchema, { dir });
      t.insert({ name: "kept", n: 1 });
      await t.close();
      const variants = [
        { ...byNameSchema, columns: [...byNameSchema.columns, { name: "extra", type: "Int32", nullable: true }] },
        {
          ...byNameSchema,
          columns: [byNameSchema.columns[0], { name: "n", type: "Float32" }, byNameSchema.columns[2]],
        },
        {
          ...byNameSchema,
          columns: [byNameSchema.columns[0], byNameSchema.columns[1], { name: "tags", type: "Json" }],
        },
      ] as const;
      for (const schema of variants) {
        await assert.rejects(Table.open(schema, { dir }), (e: unknown) => {
          assert.ok(e instanceof SchemaError, `expected SchemaError, got ${e}`);
          return true;
        });
      }
      const again = await Table.open(byNameSchema, { dir });
      assert.deepStrictEqual(again.toArray(), [{ name: "kept", n: 1, tags: null }]);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("a malformed schema → SchemaError, also when the directory already holds the table", async () => {
    const dir = await tempDir("tblbad");
    try {
      const bad = [
        { name: "byname", columns: null },
        { name: "byname" },
        { name: "byname", columns: [null] },
        { name: "byname", columns: [{ name: "name", type: "Utf8", primaryKey: true }, 7] },
      ];
      // Empty directory: the schema is compiled (and refused) on create.
      for (const schema of bad) {
        await assert.rejects(Table.open(schema as never, { dir }), (e: unknown) => {
          assert.ok(e instanceof SchemaError, `empty dir, ${JSON.stringify(schema)}: expected SchemaError, got ${e}`);
          return true;
        });
      }
      const t = await Table.open(byNameSchema, { dir });
      t.insert({ name: "kept", n: 1 });
      await t.close();
      // The table exists: the schema is compared with the stored one, and must still be refused as SchemaError.
      for (const schema of bad) {
        await assert.rejects(Table.open(schema as never, { dir }), (e: unknown) => {
          assert.ok(
            e instanceof SchemaError,
            `stored table, ${JSON.stringify(schema)}: expected SchemaError, got ${e}`,
          );
          return true;
        });
      }
      const again = await Table.open(byNameSchema, { dir });
      assert.equal(again.count(), 1);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("Table.open after a crash (MemoryStorage) keeps the flushed rows", async () => {
    const machine = new Machine();
    const t = await Table.open(allTypesSchema, { storage: machine.process(), dir: "tbl", sync: "always" });
    const db = await Database.open();
    const model = db.createTable(allTypesSchema);
    for (let k = 0; k < 5; k++) {
      const row = {
        id: k,
        i8: k,
        i16: k,
        i32: k,
        u8: k,
        u16: k,
        u32: k,
        u64: k,
        f32: k / 3,
        f64: -k,
        ok: true,
        s: `${k}`,
        s2: null,
        bin: new Uint8Array([k]),
        day: new Date(k),
        at: new Date(-k),
        doc: [k],
        maybe: null,
      };
      t.insert(row);
      model.insert(row);
    }
    await t.flush();
    machine.crash();
    await abandon(t);
    const again = await Table.open(allTypesSchema, { storage: machine.process(), dir: "tbl" });
    assert.deepStrictEqual(again.toArray(), model.toArray());
    await again.close();
    await db.close();
  });
});

describe("Directory lock", () => {
  it("a second Database.open on the same dir in this process → LockedError; after close it opens", async () => {
    const dir = await tempDir("lock");
    try {
      const db = await Database.open({ dir });
      db.createDict("d", { a: 1 });
      await assert.rejects(Database.open({ dir }), LockedError);
      await assert.rejects(Database.open({ dir: join(dir, ".") }), LockedError);
      await assert.rejects(Table.open(byNameSchema, { dir }), LockedError);
      assert.equal(db.getDict("d").get("a"), 1, "the holder is unaffected");
      await db.close();
      const again = await Database.open({ dir });
      assert.equal(again.getDict("d").get("a"), 1);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("the same directory through a symlink in this process → LockedError (the first holder's writes are kept)", async () => {
    const dir = await tempDir("locklink");
    const link = `${dir}-link`;
    try {
      await symlink(dir, link);
      const db = await Database.open({ dir, sync: "always" });
      db.createDict("d").set("a", 1);
      await db.flush();
      let second: Database | null = null;
      try {
        second = await Database.open({ dir: link, sync: "always" });
      } catch (e) {
        assert.ok(e instanceof LockedError, `expected LockedError, got ${e}`);
      }
      if (second !== null) {
        // Two live databases on one directory: show what it costs before failing.
        second.createDict("other").set("b", 2);
        await second.close();
        db.getDict("d").set("z", 3);
        await db.close();
        const after = await Database.open({ dir });
        const state = after.getDict("d").toObject();
        await after.close();
        assert.fail(
          `Database.open through a symlink of a directory this process holds succeeded (a second writer on one log); ` +
            `after both closed, dict d is ${JSON.stringify(state)} (acknowledged {"a":1,"z":3})`,
        );
      }
      await db.close();
    } finally {
      await removeDir(link);
      await removeDir(dir);
    }
  });

  it("after a SIGKILLed holder, processes racing to open the directory: exactly one wins, the others get LockedError", async () => {
    const dir = await tempDir("lockrace");
    const holder = spawnChild("db_worker.ts", [JSON.stringify({ dir, sync: "always", script: "lock" })]);
    const racers: ReturnType<typeof spawnChild>[] = [];
    try {
      await holder.waitFor((l) => l === "flushed", 90_000, "the holder to open");
      await holder.kill();
      for (let i = 0; i < 3; i++) racers.push(spawnChild("db_worker.ts", [JSON.stringify({ dir, script: "race" })]));
      const outcomes = await Promise.all(
        racers.map((c) =>
          c.waitFor((l) => l === "opened" || l === "locked" || l.startsWith("error"), 90_000, "the racer's outcome")
        ),
      );
      assert.equal(outcomes.filter((o) => o === "opened").length, 1, `exactly one racer opens: ${outcomes.join(", ")}`);
      assert.equal(
        outcomes.filter((o) => o === "locked").length,
        racers.length - 1,
        `the others: LockedError: ${outcomes.join(", ")}`,
      );
    } finally {
      await holder.kill();
      for (const c of racers) await c.kill();
      await removeDir(dir);
    }
  });

  it("same MemoryStorage: LockedError while open, reopen after crash()", async () => {
    const machine = new Machine();
    const db = await openMem(machine);
    await assert.rejects(openMem(machine), LockedError);
    machine.crash();
    const again = await openMem(machine);
    await again.close();
    await abandon(db);
  });

  it("a directory held by another live process → LockedError; after SIGKILL it reopens with the child's writes", async () => {
    const dir = await tempDir("lockproc");
    const child = spawnChild("db_worker.ts", [JSON.stringify({ dir, sync: "always", script: "lock" })]);
    try {
      await child.waitFor((l) => l === "flushed", 90_000, "the child to open and flush");
      await assert.rejects(Database.open({ dir }), (e: unknown) => {
        assert.ok(e instanceof LockedError, `expected LockedError, got ${e}`);
        assert.ok(
          e.message.includes(String(child.pid)),
          `the message names the holder's pid ${child.pid}: ${e.message}`,
        );
        return true;
      });
      await child.kill();
      const db = await within(Database.open({ dir }), 30_000, "reopen after the holder was killed");
      assert.deepStrictEqual(db.getDict("fromChild").toObject(), { pid: child.pid });
      await assert.rejects(Database.open({ dir }), LockedError);
      await db.close();
    } finally {
      await child.kill();
      await removeDir(dir);
    }
  });
});
