// DenoKvStorage (src/storage/deno_kv.ts): the Storage interface over Deno KV.
//
// Under Deno (run with --unstable-kv, as scripts/test.mjs does): the one
// Storage conformance suite against a real KV file; what a KV commit holds
// (one group commit = one atomic commit; a sync too big for one commit is
// still all or nothing); the lease as a fence; and a database on Deno KV in
// real child processes (tests/fixtures/kv_worker.ts) killed with SIGKILL:
// every flushed write survives, a second process gets LockedError, a dead
// holder's lease runs out and is taken over. Those children are Deno
// processes whatever runs this file, so they run once, from the Deno run.
//
// Under Bun and Node: DenoKvStorage refuses to be built, with the error
// that says what to use instead.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { LockedError, StorageError, ValidationError } from "../src/errors.ts";
import { Database } from "../src/api/database.ts";
import { DenoKvStorage } from "../src/storage/mod.ts";
import { conformanceCases } from "./fixtures/storage_conformance.ts";
import {
  crashCount,
  crashSetup,
  crashWrite,
  dump,
  seedFromEnv,
  sleep,
  spawnChild,
  within,
} from "./fixtures/durability_common.ts";
import { prng, randInt } from "./fixtures/prng.ts";

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const enc = (s: string) => new TextEncoder().encode(s);

/** A KV whose commits are counted: the real store, looked at, not replaced. */
function counted(real: Deno.Kv): { kv: Deno.Kv; commits: () => number } {
  let commits = 0;
  const kv = new Proxy(real, {
    get(target, prop) {
      if (prop === "atomic") {
        return () => {
          const op = target.atomic();
          const commit = op.commit.bind(op);
          op.commit = () => {
            commits++;
            return commit();
          };
          return op;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { kv, commits: () => commits };
}

if (!isDeno) {
  describe("DenoKvStorage outside Deno", () => {
    it("refuses to be built, naming Deno and what to use instead (nothing silently elsewhere)", () => {
      for (const options of [undefined, { path: "./data.kv" }, { kv: {} as never }]) {
        assert.throws(() => new DenoKvStorage(options), (e: unknown) => {
          assert.ok(e instanceof ValidationError, `ValidationError, got ${e}`);
          assert.match(e.message, /^DenoKvStorage needs Deno/);
          assert.match(e.message, /NodeStorage/);
          assert.match(e.message, /--unstable-kv/);
          return true;
        });
      }
    });
  });
} else {
  let scratch = "";
  let kv: Deno.Kv;
  let kv2: Deno.Kv; // a second connection to the same file: sees only what was committed
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "cyberdb-kv-"));
    kv = await Deno.openKv(join(scratch, "conformance.kv"));
    kv2 = await Deno.openKv(join(scratch, "conformance.kv"));
  });
  after(async () => {
    kv.close();
    kv2.close();
    await rm(scratch, { recursive: true, force: true });
  });

  describe("DenoKvStorage: the Storage conformance suite on a real KV file", () => {
    let n = 0;
    const cases = conformanceCases({
      kind: "deno-kv",
      make: () => new DenoKvStorage({ kv }),
      reopen: () => new DenoKvStorage({ kv: kv2 }),
      // A fresh directory per case; the whole KV file goes in after().
      dir: () => Promise.resolve({ path: `/case${++n}/dir`, remove: () => Promise.resolve() }),
    });
    assert.ok(cases.length >= 17, `the suite has its cases (${cases.length})`);
    for (const c of cases) it(c.name, () => c.run());
  });

  describe("DenoKvStorage: commits", () => {
    it('one group commit is one atomic KV commit (a database with sync "always")', async () => {
      const c = counted(kv);
      const storage = new DenoKvStorage({ kv: c.kv, prefix: ["group"] });
      const db = await Database.open({ dir: "db", storage, sync: "always" });
      try {
        const d = db.createDict("d");
        await db.flush();
        for (let round = 0; round < 3; round++) {
          const before = c.commits();
          for (let i = 0; i < 200; i++) d.set(`k${i}`, [round, i, "x".repeat(100)]); // one task: one group
          await db.flush();
          assert.equal(c.commits() - before, 1, `round ${round}: 200 writes, one commit`);
        }
      } finally {
        await db.close();
      }
    });

    it("a sync larger than one commit is split, and is all or nothing: staged chunks never show", async () => {
      const c = counted(kv);
      const s = new DenoKvStorage({ kv: c.kv });
      await s.mkdir("/split");
      const first = new Uint8Array(2 * 1024 * 1024 + 5).map((_, i) => i % 253);
      const f = await s.create("/split/f");
      await f.write(first);
      let before = c.commits();
      await f.sync();
      const synced = c.commits() - before;
      // 33 chunks of 64 KiB: 11 a commit (819,200 bytes a commit at most).
      assert.ok(synced >= 1 && synced <= 3, `${synced} commits for 2 MiB`);
      // 1.5 MiB more, not synced: whole chunks already went out (staged), the size did not.
      before = c.commits();
      await f.write(new Uint8Array(1536 * 1024).fill(7));
      assert.ok(c.commits() - before >= 1, "a big unsynced write was staged in KV");
      const fresh = new DenoKvStorage({ kv: kv2 }); // as after a crash here
      assert.equal(await fresh.size("/split/f"), first.length);
      assert.deepEqual(await fresh.read("/split/f"), first);
      assert.equal(await f.size(), first.length + 1536 * 1024);
      await f.close();
      assert.equal(await fresh.size("/split/f"), first.length + 1536 * 1024);
    });

    it("calls on a file not awaited one by one apply in call order; a write during a sync is not lost", async () => {
      const s = new DenoKvStorage({ kv, prefix: ["order"] });
      await s.mkdir("/o");
      const f = await s.create("/o/f");
      await f.write(enc("0123456789"));
      await f.sync();
      await Promise.all([f.truncate(2), f.write(enc("Z")), f.sync(), f.write(enc("!")), f.sync(), f.write(enc("?"))]);
      await f.close();
      assert.equal(new TextDecoder().decode((await s.read("/o/f"))!), "01Z!?");
    });

    it("a path too long for a KV key is a ValidationError saying so", async () => {
      const s = new DenoKvStorage({ kv });
      await assert.rejects(s.mkdir("/" + "d".repeat(3000)), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.match(e.message, /Deno KV key/);
        assert.ok(e.message.length < 400, "the path is cut in the message");
        return true;
      });
    });

    it("options are checked: kv and path together, a bad leaseMs", () => {
      assert.throws(() => new DenoKvStorage({ kv, path: "x.kv" }), ValidationError);
      assert.throws(() => new DenoKvStorage({ leaseMs: 0 }), /leaseMs/);
      assert.throws(() => new DenoKvStorage({ leaseMs: 1.5 }), ValidationError);
    });

    it("without --unstable-kv, constructing it says which flag to add", () => {
      const mod = new URL("../src/storage/deno_kv.ts", import.meta.url).href;
      const code = `import { DenoKvStorage } from ${JSON.stringify(mod)};
try { new DenoKvStorage(); console.log("built"); } catch (e) { console.log(e.code + " " + e.message); }`;
      const r = spawnSync(process.execPath, ["eval", "--quiet", code], {
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1" },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^VALIDATION Deno\.openKv is missing/);
      assert.match(r.stdout, /--unstable-kv/);
    });
  });

  describe("DenoKvStorage: the lease", () => {
    it("a second opener gets LockedError; a lease no longer renewed runs out and is taken over; the old holder then writes nothing", async () => {
      const a = new DenoKvStorage({ kv, leaseMs: 300, prefix: ["lease"] });
      const b = new DenoKvStorage({ kv: kv2, leaseMs: 300, prefix: ["lease"] });
      await a.mkdir("/db");
      const lockA = await a.lock("/db/LOCK");
      const file = await a.create("/db/data");
      await file.write(enc("a1"));
      await file.sync();
      await assert.rejects(b.lock("/db/LOCK"), (e: unknown) => {
        assert.ok(e instanceof LockedError);
        assert.match(e.message, new RegExp(`held by process ${process.pid} \\(deno\\)`));
        assert.match(e.message, /close the database/);
        return true;
      });
      // Still refused after a lease's length: a holder renews while it runs.
      await sleep(450);
      await assert.rejects(b.lock("/db/LOCK"), LockedError);
      assert.equal(await lockA.held!(), true);

      a.close(); // stops renewing (kv passed in stays open): a holder paused or dead
      let lockB = null;
      for (let i = 0; i < 40 && lockB === null; i++) {
        lockB = await b.lock("/db/LOCK").catch((e) => {
          if (!(e instanceof LockedError)) throw e;
          return null;
        });
        if (lockB === null) await sleep(50);
      }
      assert.ok(lockB, "the lease ran out and was taken over");
      // A's writes are fenced off: nothing of it lands any more.
      await file.write(enc("a2"));
      await assert.rejects(file.sync(), (e: unknown) => {
        assert.ok(e instanceof LockedError, `LockedError, got ${e}`);
        assert.match(e.message, /taken over by another process/);
        return true;
      });
      await assert.rejects(a.create("/db/other"), LockedError);
      assert.equal(await lockA.held!(), false);
      await lockA.release(); // must not free B's lock
      assert.equal(await lockB.held!(), true);
      assert.equal(new TextDecoder().decode((await b.read("/db/data"))!), "a1");
      await lockB.release();
      assert.deepEqual(await b.list("/db"), ["data"]);
      b.close();
    });
  });

  describe("DenoKvStorage: a database that lost its lease", () => {
    it("acknowledges nothing more and keeps saying why; the new holder's data is untouched", async () => {
      const a = new DenoKvStorage({ kv, leaseMs: 200, prefix: ["lost"] });
      const dbA = await Database.open({ dir: "db", storage: a, sync: "always" });
      dbA.createDict("d").set("a", 1);
      await dbA.flush();
      a.close(); // stops renewing: as a holder paused past its lease
      let dbB: Database | null = null;
      for (let i = 0; i < 40 && dbB === null; i++) {
        dbB = await Database.open({ dir: "db", storage: new DenoKvStorage({ kv: kv2, prefix: ["lost"] }) })
          .catch((e) => {
            if (!(e instanceof LockedError)) throw e;
            return sleep(50).then(() => null);
          });
      }
      assert.ok(dbB, "the lease ran out and was taken over");
      dbB.getDict("d").set("b", 2);
      await dbB.flush();
      const takenOver = /taken over by another process/;
      dbA.getDict("d").set("a2", 2);
      await assert.rejects(dbA.flush(), (e: unknown) => e instanceof StorageError && takenOver.test(e.message));
      // Still refused after the recovery loop had time to retry (it must not believe it recovered).
      await sleep(400);
      assert.match(dbA.storageError?.message ?? "(none)", takenOver);
      assert.throws(() => dbA.getDict("d").set("a3", 3), StorageError);
      await dbB.close();
      await dbA.close().catch(() => {}); // it may say what it could not write
      const dbC = await Database.open({ dir: "db", storage: new DenoKvStorage({ kv, prefix: ["lost"] }) });
      assert.deepEqual(dbC.getDict("d").toObject(), { a: 1, b: 2 });
      await dbC.close();
    });
  });

  describe("A database on Deno KV in child processes", () => {
    const LEASE_MS = 1000;
    const SEED = seedFromEnv("CYBERDB_CRASH_SEED");

    /** Opens the database on `path`, waiting out a dead holder's lease (bounded). */
    async function reopen(path: string, dir: string): Promise<{ db: Database; storage: DenoKvStorage }> {
      const storage = new DenoKvStorage({ path, leaseMs: LEASE_MS });
      const deadline = Date.now() + 15_000;
      while (true) {
        try {
          return { db: await Database.open({ dir, storage }), storage };
        } catch (e) {
          if (!(e instanceof LockedError) || Date.now() > deadline) {
            storage.close();
            throw e;
          }
          await sleep(100);
        }
      }
    }

    it("a second process gets LockedError naming the holder; once the holder is SIGKILLed, its lease runs out and the next opener takes over", async () => {
      const path = join(scratch, "hold.kv");
      const child = spawnChild("kv_worker.ts", [JSON.stringify({ mode: "hold", path, dir: "db", leaseMs: LEASE_MS })]);
      try {
        await child.waitFor((l) => l.startsWith("locked "), 60_000, "the child to lock");
        // Longer than a lease: the child renews it.
        await sleep(LEASE_MS * 1.5);
        const storage = new DenoKvStorage({ path, leaseMs: LEASE_MS });
        await assert.rejects(Database.open({ dir: "db", storage }), (e: unknown) => {
          assert.ok(e instanceof LockedError, `LockedError, got ${e}`);
          assert.match(e.message, new RegExp(`held by process ${child.pid} \\(deno\\)`));
          return true;
        });
        await child.kill();
        const killedAt = Date.now();
        const { db, storage: s2 } = await reopen(path, "db");
        const waited = Date.now() - killedAt;
        db.createDict("after").set("k", 1);
        await db.close();
        s2.close();
        storage.close();
        assert.ok(waited < 15_000, `took over after ${waited} ms`);
      } finally {
        await child.kill();
      }
    });

    it("SIGKILL while writing (the crash test's stream): every flushed write is there, the state is a prefix of the writes", async () => {
      const path = join(scratch, "stream.kv");
      const rand = prng(SEED);
      const model = await Database.open();
      crashSetup(model);
      {
        const { db, storage } = await reopen(path, "db");
        crashSetup(db);
        await db.close();
        storage.close();
      }
      try {
        for (let g = 0; g < 4; g++) {
          const opts = {
            mode: "stream",
            path,
            dir: "db",
            leaseMs: LEASE_MS,
            g,
            seed: SEED,
            sync: g % 2 === 0 ? "always" : "interval",
            snapshotWalBytes: [4096, 65536][g % 2],
          };
          const where = `[CYBERDB_CRASH_SEED=${SEED}, generation ${g}, ${JSON.stringify(opts)}]`;
          const child = spawnChild("kv_worker.ts", [JSON.stringify(opts)]);
          let acked = 0;
          child.onLine((l) => {
            if (l.startsWith("ack ")) acked = Math.max(acked, Number(l.slice(4)));
          });
          try {
            await child.waitFor((l) => l === "ready", 60_000, `the child to open ${where}`);
            await sleep(randInt(rand, 0, 250));
          } finally {
            await child.kill();
          }
          assert.equal(child.exit?.signal, "SIGKILL", `the child ran until killed ${where}\n${child.output()}`);
          const { db, storage } = await within(reopen(path, "db"), 30_000, `reopen ${where}`);
          try {
            const k = crashCount(db, g);
            assert.ok(k >= acked, `only ${k} writes came back but ${acked} were flushed ${where}`);
            if (process.env.CYBERDB_CRASH_VERBOSE) console.log(`kv stream g${g}: recovered ${k}, acked ${acked}`);
            for (let i = 0; i < k; i++) crashWrite(model, g, i);
            assert.deepStrictEqual(dump(db), dump(model), `not the state after the first ${k} writes ${where}`);
          } finally {
            await db.close();
            storage.close();
          }
        }
      } finally {
        await model.close();
      }
    });

    it("SIGKILL during syncs bigger than one KV commit (2.4 MB): a group is all there or not at all", async () => {
      const path = join(scratch, "groups.kv");
      const rand = prng(SEED ^ 0x5eed);
      {
        const { db, storage } = await reopen(path, "db");
        db.createDict("big");
        await db.close();
        storage.close();
      }
      for (let round = 0; round < 3; round++) {
        const child = spawnChild("kv_worker.ts", [
          JSON.stringify({ mode: "groups", path, dir: "db", leaseMs: LEASE_MS }),
        ]);
        let acked = 0;
        child.onLine((l) => {
          if (l.startsWith("ack ")) acked = Math.max(acked, Number(l.slice(4)));
        });
        try {
          await child.waitFor((l) => l.startsWith("ack "), 60_000, "a first group");
          await sleep(randInt(rand, 0, 300));
        } finally {
          await child.kill();
        }
        const { db, storage } = await within(reopen(path, "db"), 30_000, `reopen, round ${round}`);
        try {
          const d = db.getDict<Uint8Array>("big");
          const n = d.size;
          assert.ok(n >= acked, `only ${n} values came back but ${acked} were flushed (seed ${SEED})`);
          if (process.env.CYBERDB_CRASH_VERBOSE) {
            console.log(`kv groups round ${round}: recovered ${n}, acked ${acked}`);
          }
          assert.equal(n % 8, 0, `${n} values: a group of 8 (one sync) came back in part (seed ${SEED})`);
          for (let i = 0; i < n; i++) {
            const v = d.get(`v${i}`);
            assert.ok(v instanceof Uint8Array && v.length === 300_000, `value ${i}`);
            assert.ok(v[0] === (i & 255) && v[299_999] === (i & 255), `value ${i} holds its bytes`);
          }
          // Keep the database small: the next child starts from an empty dict.
          d.clear();
          await db.flush();
        } finally {
          await db.close();
          storage.close();
        }
      }
    });
  });

  describe("DenoKvStorage: errors of a store changed behind its back", () => {
    it("a file whose chunks were deleted outside CyberDB reads as StorageError, not as short data", async () => {
      const s = new DenoKvStorage({ kv, prefix: ["tamper"] });
      await s.mkdir("/t");
      const f = await s.create("/t/f");
      await f.write(new Uint8Array(200_000).fill(1));
      await f.close();
      const ino = (await s.identity("/t/f"))!.slice(3);
      await kv.delete(["tamper", "chunk", ino, 1]);
      await assert.rejects(s.read("/t/f"), StorageError);
    });
  });
}
