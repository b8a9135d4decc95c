// The log keeps zeros written ahead of its end on a real file system
// (WalWriterOptions.preallocate, CreateOptions.preallocate), so that each
// fsync overwrites blocks instead of growing the file. What must hold: a
// crash image (the segment with its zeros) opens with every acknowledged
// record and cuts the zeros with a log line; a record torn just before the
// zeros is a torn tail, not damage; and only the segment being written ever
// has zeros — closing or rotating a segment cuts them off.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Database } from "../src/api/database.ts";
import { CorruptionError } from "../src/errors.ts";
import { scanFrames } from "../src/log/frame.ts";
import { type PositionalFile, PreallocatedWrites } from "../src/storage/preallocate.ts";
import { startServer, tempDir } from "./server_process.ts";
import { connect } from "../client.ts";

const RECORDS = 200;

/** The log segments of `dir`, oldest first, with their bytes on disk. */
async function segments(dir: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  const names = (await readdir(join(dir, "wal"))).filter((n) => n.endsWith(".wal")).sort();
  return await Promise.all(
    names.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(join(dir, "wal", name))) })),
  );
}

/** Whether `bytes` is whole frames only (no zeros, nothing torn): what a closed segment must be. */
function wholeFrames(bytes: Uint8Array): boolean {
  try {
    scanFrames(bytes, { file: "x", last: false });
    return true;
  } catch (e) {
    if (e instanceof CorruptionError) return false;
    throw e;
  }
}

describe("PreallocatedWrites (the zeros of Node's and Deno's files)", () => {
  /** A file of at most `capacity` bytes, as a full disk is: a write past it stores what fits, then fails. */
  function smallFile(capacity: number) {
    let bytes = new Uint8Array(0);
    const writes: { at: number; length: number }[] = [];
    const file: PositionalFile = {
      writeAt(data, at) {
        writes.push({ at, length: data.length });
        const fits = Math.max(0, Math.min(data.length, capacity - at));
        if (fits === 0) return Promise.reject(Object.assign(new Error("ENOSPC: no space left"), { code: "ENOSPC" }));
        const grown = new Uint8Array(Math.max(bytes.length, at + fits));
        grown.set(bytes);
        grown.set(data.subarray(0, fits), at);
        bytes = grown;
        return Promise.resolve(fits);
      },
      truncate(size) {
        const cut = new Uint8Array(size);
        cut.set(bytes.subarray(0, size));
        bytes = cut;
        return Promise.resolve();
      },
      sync: () => Promise.resolve(),
    };
    return { file, writes, bytes: () => bytes };
  }

  it("zeros that do not fit are skipped, never the append; none are tried again; close leaves exactly the appends", async () => {
    const disk = smallFile(150);
    const w = new PreallocatedWrites(64, disk.file);
    await w.append(new Uint8Array(30).fill(1)); // zeros 30..94 fit
    assert.equal(disk.bytes().length, 94);
    await w.append(new Uint8Array(70).fill(2)); // 30..100, then zeros 100..164: only 50 of them fit
    assert.equal(w.end, 100, "the append stands");
    const tried = disk.writes.length;
    await w.append(new Uint8Array(10).fill(3)); // no zeros tried any more
    assert.equal(disk.writes.length, tried + 1);
    assert.equal(w.end, 110);
    await assert.rejects(w.append(new Uint8Array(50)), /ENOSPC/); // an append that does not fit fails
    assert.equal(w.end, 110);
    await w.close(); // cuts the zeros and the failed append's part
    assert.deepEqual(
      [...disk.bytes()],
      [...new Uint8Array(30).fill(1), ...new Uint8Array(70).fill(2), ...new Uint8Array(10).fill(3)],
    );
  });
});

describe("a preallocated log on a real file system", () => {
  let work: { dir: string; remove(): Promise<void> };
  before(async () => {
    work = await tempDir("cyberdb-prealloc-");
  });
  after(async () => {
    await work.remove();
  });

  /**
   * A database with RECORDS flushed writes, copied while still open — the
   * directory a crash would leave, zeros and all — then closed. Returns the
   * copy (its LOCK removed: its holder, this process, is alive).
   */
  async function crashImage(name: string): Promise<string> {
    const dir = join(work.dir, name);
    const db = await Database.open({ dir, sync: "always", snapshotInterval: 0 });
    const d = db.createDict("d");
    for (let i = 0; i < RECORDS; i++) d.set(`k${i}`, i);
    await db.flush();
    const [open] = (await segments(dir)).slice(-1);
    assert.ok(!wholeFrames(open.bytes), "the open segment ends in zeros");
    assert.ok(open.bytes.subarray(open.bytes.length - 1024 * 1024).every((b) => b === 0), "a MiB of zeros ahead");
    const copy = join(work.dir, `${name}-crash`);
    await cp(dir, copy, { recursive: true });
    await rm(join(copy, "LOCK"));
    await db.close();
    for (const s of await segments(dir)) assert.ok(wholeFrames(s.bytes), `closed: ${s.name} holds no zeros`);
    return copy;
  }

  it("a crash image opens with every flushed record, and the zeros are cut with a log line", async () => {
    const copy = await crashImage("zeros");
    const lines: string[] = [];
    const db = await Database.open({ dir: copy, logger: (l) => lines.push(l) });
    try {
      const d = db.getDict<number>("d");
      assert.equal(d.size, RECORDS);
      for (let i = 0; i < RECORDS; i++) assert.equal(d.get(`k${i}`), i);
      assert.ok(lines.some((l) => /Cut a torn \d+-byte tail of zeros off/.test(l)), lines.join("\n"));
    } finally {
      await db.close();
    }
    for (const s of await segments(copy)) assert.ok(wholeFrames(s.bytes), `after recovery: ${s.name} holds no zeros`);
  });

  it("a record torn just before the zeros is a torn tail: every record before it opens", async () => {
    const copy = await crashImage("torn");
    const [last] = (await segments(copy)).slice(-1);
    const bytes = last.bytes;
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    bytes.fill(0, end - 4, end); // the last record's final bytes never landed
    await writeFile(join(copy, "wal", last.name), bytes);
    const lines: string[] = [];
    const db = await Database.open({ dir: copy, logger: (l) => lines.push(l) });
    try {
      const d = db.getDict<number>("d");
      assert.equal(d.size, RECORDS - 1);
      assert.equal(d.get(`k${RECORDS - 2}`), RECORDS - 2);
      assert.equal(d.has(`k${RECORDS - 1}`), false);
      assert.ok(lines.some((l) => /torn/.test(l) && /checksum mismatch/.test(l)), lines.join("\n"));
    } finally {
      await db.close();
    }
  });

  it("rotation cuts each finished segment's zeros: only the segment being written has any", async () => {
    const dir = join(work.dir, "rotate");
    const db = await Database.open({ dir, sync: "always", segmentBytes: 4096, snapshotInterval: 0 });
    try {
      const d = db.createDict("d");
      for (let i = 0; i < 300; i++) {
        d.set(`key ${i}`, "v".repeat(50));
        if (i % 10 === 9) await db.flush();
      }
      await db.flush();
      const all = await segments(dir);
      assert.ok(all.length >= 4, `rotated into ${all.length} segments`);
      for (const s of all.slice(0, -1)) assert.ok(wholeFrames(s.bytes), `finished ${s.name} holds no zeros`);
      assert.ok(!wholeFrames(all[all.length - 1].bytes), "the segment being written has its zeros");
    } finally {
      await db.close();
    }
    const again = await Database.open({ dir });
    try {
      assert.equal(again.getDict("d").size, 300);
    } finally {
      await again.close();
    }
  });

  it("a server writes zeros ahead by default, and plain appends with --preallocate 0", async () => {
    for (const flag of [[], ["--preallocate", "0"]]) {
      const dir = join(work.dir, `server${flag.length}`);
      const server = await startServer(["--dir", dir, "--sync", "always", ...flag]);
      try {
        const c = await connect(server.http);
        await (await c.createDict("d")).set("k", 1);
        await c.close();
        const [open] = (await segments(dir)).slice(-1);
        assert.equal(wholeFrames(open.bytes), flag.length > 0, `zeros ahead with ${JSON.stringify(flag)}`);
      } finally {
        assert.equal(await server.stop(), 0);
      }
    }
  });

  it("preallocate: 0 writes plain appends", async () => {
    const dir = join(work.dir, "plain");
    const db = await Database.open({ dir, sync: "always", preallocate: 0 });
    try {
      db.createDict("d").set("k", 1);
      await db.flush();
      for (const s of await segments(dir)) assert.ok(wholeFrames(s.bytes), `${s.name} holds no zeros`);
    } finally {
      await db.close();
    }
  });
});
