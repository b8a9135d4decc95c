// Restarts that do not replay the whole log: a clean close leaves nothing to
// replay and no log segment to read; a recovery that replayed records writes
// a snapshot soon after (so the next open, even after another crash, loads it
// instead of replaying again); and log segments a snapshot covers are skipped
// by name, never read. Real files (the runtime's own Storage) and simulated
// power cuts (MemoryStorage through Machine).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, type Storage, type Value } from "../mod.ts";
import { defaultStorage } from "../src/storage/mod.ts";
import { abandon, dump, Machine, removeDir, sleep, tempDir, within } from "./fixtures/durability_common.ts";

/** A Storage that counts the log segments read (and their bytes); everything else passes through. */
function counting(inner: Storage): { storage: Storage; walReads: string[]; walBytes: () => number } {
  const walReads: string[] = [];
  let bytes = 0;
  const storage: Storage = {
    kind: inner.kind,
    mkdir: (p) => inner.mkdir(p),
    list: (p) => inner.list(p),
    read: async (p) => {
      const got = await inner.read(p);
      if (/(^|\/)wal\/[^/]+\.wal$/.test(p)) {
        walReads.push(p);
        bytes += got?.length ?? 0;
      }
      return got;
    },
    size: (p) => inner.size(p),
    openAppend: (p) => inner.openAppend(p),
    create: (p) => inner.create(p),
    rename: (a, b) => inner.rename(a, b),
    remove: (p) => inner.remove(p),
    syncDir: (p) => inner.syncDir(p),
    lock: (p) => inner.lock(p),
    unrefTimer: (t) => inner.unrefTimer?.(t),
  };
  return { storage, walReads, walBytes: () => bytes };
}

/** The records an open replayed, from its logger line (none printed: 0). */
function replayed(lines: string[]): number {
  const m = lines.map((l) => /replayed (\d+) log records/.exec(l)).find((x) => x !== null);
  return m ? Number(m[1]) : 0;
}

function write(db: Database, from: number, n: number): void {
  const d = db.collections().length === 0 ? db.createDict<Value>("d") : db.getDict<Value>("d");
  for (let i = from; i < from + n; i++) d.set(`k${i}`, { i, pad: "p".repeat(40) });
}

async function eventually(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`Never happened within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

describe("Restarts do not replay the log again", () => {
  it("after a clean close, reopen replays 0 records and reads no log segment (real files, several segments)", async () => {
    const dir = await tempDir("restart");
    try {
      const db = await Database.open({ dir, segmentBytes: 2048, snapshotInterval: 0 });
      write(db, 0, 200);
      await db.close();
      const lines: string[] = [];
      const { storage, walReads, walBytes } = counting(await defaultStorage());
      const again = await Database.open({ dir, storage, logger: (l) => lines.push(l) });
      assert.equal(again.getDict("d").size, 200);
      assert.equal(replayed(lines), 0, `replayed nothing: ${lines.join(" | ")}`);
      assert.equal(walBytes(), 0, `no log bytes read; read ${walReads.join(", ")}`);
      // A second cycle with writes behaves the same.
      write(again, 200, 50);
      await again.close();
      const lines2: string[] = [];
      const c2 = counting(await defaultStorage());
      const third = await Database.open({ dir, storage: c2.storage, logger: (l) => lines2.push(l) });
      assert.equal(third.getDict("d").size, 250);
      assert.equal(replayed(lines2), 0, `replayed nothing: ${lines2.join(" | ")}`);
      assert.equal(c2.walBytes(), 0, `no log bytes read; read ${c2.walReads.join(", ")}`);
      await third.close();
    } finally {
      await removeDir(dir);
    }
  });

  it("a reopen after a crash replays the log; closing it then leaves the next open nothing to replay", async () => {
    const machine = new Machine();
    const db = await Database.open({ storage: machine.process(), dir: "db", sync: "always", snapshotInterval: 0 });
    write(db, 0, 100);
    await db.flush();
    machine.crash();
    await abandon(db);
    const lines: string[] = [];
    const again = await within(
      Database.open({ storage: machine.process(), dir: "db", snapshotInterval: 0, logger: (l) => lines.push(l) }),
      30_000,
      "reopen",
    );
    assert.equal(replayed(lines), 101, `the crash left the records in the log only: ${lines.join(" | ")}`);
    const expected = dump(again);
    await again.close();
    const lines2: string[] = [];
    const third = await Database.open({ storage: machine.process(), dir: "db", logger: (l) => lines2.push(l) });
    assert.deepStrictEqual(dump(third), expected);
    assert.equal(replayed(lines2), 0, `close after recovery wrote a snapshot: ${lines2.join(" | ")}`);
    await third.close();
  });

  it("a recovery that replayed records snapshots soon after, without close: a crash then replays nothing", async () => {
    const machine = new Machine();
    const db = await Database.open({ storage: machine.process(), dir: "db", sync: "always", snapshotInterval: 0 });
    write(db, 0, 100);
    await db.flush();
    machine.crash();
    await abandon(db);
    const lines: string[] = [];
    const again = await Database.open({
      storage: machine.process(),
      dir: "db",
      snapshotInterval: 0,
      logger: (l) => lines.push(l),
    });
    assert.equal(replayed(lines), 101);
    const expected = dump(again);
    // The background snapshot is durable once its file is renamed into place and the directory synced.
    await eventually(
      () => lines.some((l) => /snapshot .*\.snap at LSN 101/.test(l)),
      30_000,
      "a snapshot after recovery",
    );
    machine.crash();
    await abandon(again);
    const lines2: string[] = [];
    const third = await Database.open({ storage: machine.process(), dir: "db", logger: (l) => lines2.push(l) });
    assert.deepStrictEqual(dump(third), expected);
    assert.equal(replayed(lines2), 0, `the post-recovery snapshot covers the log: ${lines2.join(" | ")}`);
    await third.close();
  });

  it("after a crash, log segments wholly covered by the snapshot are not read (only the ones after it)", async () => {
    const machine = new Machine();
    const db = await Database.open({
      storage: machine.process(),
      dir: "db",
      sync: "always",
      snapshotInterval: 0,
      segmentBytes: 1 << 20,
    });
    write(db, 0, 300); // one big segment, far below segmentBytes
    await db.flush();
    await db.snapshot();
    write(db, 300, 5);
    await db.flush();
    machine.crash();
    await abandon(db);
    const counted = counting(machine.process());
    const lines: string[] = [];
    const again = await Database.open({ storage: counted.storage, dir: "db", logger: (l) => lines.push(l) });
    assert.equal(again.getDict("d").size, 305);
    assert.equal(replayed(lines), 5);
    const segments = (await machine.disk.list("db/wal")).filter((n) => n.endsWith(".wal"));
    const covered = segments.filter((n) => Number.parseInt(n, 10) <= 301);
    assert.ok(covered.length > 0, `the snapshot's records are in their own segments: ${segments}`);
    for (const name of covered) {
      assert.ok(
        !counted.walReads.includes(`db/wal/${name}`),
        `segment ${name}, covered by the snapshot at LSN 301, was read`,
      );
    }
    await again.close();
  });
});
