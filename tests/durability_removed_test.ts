// Files removed under a running database (real files): a write must never be
// acknowledged into a file that a restart will not find.
// - wal/ deleted: noticed at the next fsync (the open segment is no longer
//   the file at its path); memory, which holds every write, is snapshotted
//   to replace the lost log, a new segment starts, and only then are the
//   writes acknowledged — a restart has all of them.
// - LOCK deleted (or the whole directory): another process may own the
//   directory now, so every further write is refused with StorageError;
//   close() leaves the other process's LOCK alone.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { Database, StorageError, type Value } from "../mod.ts";
import { Machine, removeDir, sleep, spawnChild, tempDir, within } from "./fixtures/durability_common.ts";
import { settle, VirtualScheduler } from "./fixtures/virtual_scheduler.ts";

async function eventually(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`Never happened within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

const lockLost = (e: unknown) => {
  assert.ok(e instanceof StorageError, `StorageError, got ${e}`);
  assert.match(e.message, /lock file ".*LOCK" was removed or replaced/);
  return true;
};

describe("Files removed under a running database", () => {
  for (const sync of ["always", "interval"] as const) {
    for (const snapshotFirst of [false, true]) {
      it(`sync "${sync}"${snapshotFirst ? ", after a snapshot" : ""}: wal/ deleted → the log is re-based on a snapshot of memory before anything more is acknowledged; a restart has every write`, async () => {
        const dir = await tempDir("walgone");
        try {
          const lines: string[] = [];
          const db = await Database.open({
            dir,
            sync,
            flushInterval: 20,
            snapshotInterval: 0,
            logger: (l) => lines.push(l),
          });
          const d = db.createDict<Value>("d");
          for (let i = 0; i < 20; i++) d.set(`a${i}`, i);
          await db.flush();
          if (snapshotFirst) {
            await db.snapshot();
            d.set("after-snapshot", true);
            await db.flush();
          }
          await rm(join(dir, "wal"), { recursive: true, force: true });
          d.set("b", 2);
          await within(db.flush(), 30_000, "flush after wal/ was deleted"); // acknowledged: once the snapshot is durable
          assert.ok(lines.some((l) => /was removed or replaced/.test(l)), `noticed: ${lines.join(" | ")}`);
          assert.ok(
            lines.some((l) => /snapshot .*\.snap at LSN/.test(l)),
            `re-based on a snapshot: ${lines.join(" | ")}`,
          );
          await eventually(() => db.storageError === null, 20_000, "writes accepted again");
          d.set("c", 3);
          await db.flush();
          const expected = d.toObject();
          // What a crash now would leave (close() would snapshot and hide a lost log).
          const copy = await tempDir("walgone-copy");
          await cp(dir, copy, { recursive: true });
          await rm(join(copy, "LOCK"));
          await db.close();
          try {
            const again = await Database.open({ dir: copy });
            assert.deepEqual(again.getDict("d").toObject(), expected);
            await again.close();
          } finally {
            await removeDir(copy);
          }
        } finally {
          await removeDir(dir);
        }
      });
    }
  }

  it('LOCK deleted and the directory opened by another process: "always" writes are refused (StorageError), reads go on, close leaves the other LOCK alone', async () => {
    const dir = await tempDir("lockgone");
    const clock = new VirtualScheduler();
    const db = await Database.open({ dir, sync: "always", snapshotInterval: 0, scheduler: clock });
    const child = spawnChild("db_worker.ts", [JSON.stringify({ dir, sync: "always", script: "lock" })]);
    try {
      const d = db.createDict<Value>("d");
      d.set("a", 1);
      await db.flush();
      await rm(join(dir, "LOCK"));
      await child.waitFor((l) => l === "flushed", 90_000, "the second process to open the directory");
      d.set("b", 2);
      await assert.rejects(within(db.flush(), 30_000, "flush"), lockLost);
      assert.ok(db.storageError !== null && lockLost(db.storageError));
      assert.throws(() => d.set("c", 3), lockLost);
      assert.equal(d.get("a"), 1, "reads go on");
      // No recovery: no retry is ever scheduled, and a minute later it is still refused.
      await settle();
      assert.deepEqual(clock.pending(), [], "no retry timer");
      await clock.advance(60_000);
      assert.throws(() => d.set("c", 3), lockLost);
      await db.close(); // nothing acknowledged is pending in "always"
      const lock = JSON.parse(await readFile(join(dir, "LOCK"), "utf8"));
      assert.equal(lock.pid, child.pid, "the other process's LOCK is left in place");
    } finally {
      await child.kill();
      await db.close().catch(() => {});
      await removeDir(dir);
    }
  });

  it("the whole directory deleted: writes are refused, and close() still returns", async () => {
    const dir = await tempDir("dirgone");
    try {
      const db = await Database.open({ dir, sync: "always", snapshotInterval: 0 });
      db.createDict("d").set("a", 1);
      await db.flush();
      await rm(dir, { recursive: true, force: true });
      db.getDict("d").set("b", 2);
      await assert.rejects(within(db.flush(), 30_000, "flush"), lockLost);
      assert.throws(() => db.createDict("x"), lockLost);
      await within(db.close(), 30_000, "close");
    } finally {
      await removeDir(dir);
    }
  });

  it("MemoryStorage: a removed LOCK stops acknowledgements too", async () => {
    const machine = new Machine();
    const db = await Database.open({ storage: machine.process(), dir: "db", sync: "always", snapshotInterval: 0 });
    db.createDict("d").set("a", 1);
    await db.flush();
    await machine.disk.remove("db/LOCK");
    db.getDict("d").set("b", 2);
    await assert.rejects(db.flush(), lockLost);
    await db.close();
  });
});
