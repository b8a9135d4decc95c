// The write-ahead log: CRC-32C, framing and its torn-tail / corruption rules,
// segment naming, the reader's LSN checks and repair, and the writer's group
// commit, sync modes, rotation and failure handling — on MemoryStorage (with
// crash simulation) and on real files.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Packr } from "msgpackr";
import { ClosedError, CorruptionError, StorageError, TooLargeError } from "../src/errors.ts";
import {
  applyCut,
  checkFrame,
  crc32c,
  encodeFrame,
  encodeFrames,
  HEADER_BYTES,
  listSegments,
  parseSegmentName,
  readWal,
  recoverWal,
  scanFrames,
  segmentName,
  segmentWritable,
  walDir,
  type WalRecord,
  WalWriter,
} from "../src/log/mod.ts";
import { DenoStorage, MemoryStorage, NodeStorage } from "../src/storage/mod.ts";
import { decodeRange, encode } from "../src/wire/codec.ts";
import { encodeOpRecordInto, releaseInto } from "../src/wire/fast_encode.ts";
import type { Storage, StorageFile } from "../src/storage/types.ts";
import { settle, VirtualScheduler } from "./fixtures/virtual_scheduler.ts";

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const enc = (s: string) => new TextEncoder().encode(s);
const tick = (ms = 0) => new Promise<void>((r) => setTimeout(r, ms));

function rec(lsn: number, value: unknown = lsn): WalRecord {
  return { lsn, op: "dict.set", args: ["d", `k${lsn}`, value] };
}

function rejectsWith(cls: new (...a: never[]) => Error, check?: (e: Error) => void) {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    check?.(e as Error);
    return true;
  };
}

/** A storage that counts writes and syncs on its files, and can be told to fail them. */
function instrumented(inner: Storage) {
  const stats = {
    writes: 0,
    syncs: 0,
    bytes: 0,
    failWrite: false,
    failSync: false,
    syncGate: null as Promise<void> | null,
  };
  const wrap = (f: StorageFile): StorageFile => ({
    write(d) {
      if (stats.failWrite) return Promise.reject(new Error("Injected write failure (ENOSPC)"));
      stats.writes++;
      stats.bytes += d.length;
      return f.write(d);
    },
    async sync() {
      if (stats.failSync) throw new Error("Injected sync failure (EIO)");
      stats.syncs++;
      await stats.syncGate;
      return f.sync();
    },
    truncate: (n) => f.truncate(n),
    size: () => f.size(),
    close: () => f.close(),
  });
  const storage: Storage = {
    kind: inner.kind,
    mkdir: (p) => inner.mkdir(p),
    list: (p) => inner.list(p),
    read: (p) => inner.read(p),
    size: (p) => inner.size(p),
    openAppend: async (p) => wrap(await inner.openAppend(p)),
    create: async (p) => wrap(await inner.create(p)),
    rename: (a, b) => inner.rename(a, b),
    remove: (p) => inner.remove(p),
    syncDir: (p) => inner.syncDir(p),
    lock: (p) => inner.lock(p),
  };
  return { storage, stats };
}

async function writeLog(storage: Storage, dir: string, from: number, to: number, options = {}) {
  const w = await WalWriter.open(storage, dir, { sync: "manual", lastLsn: from - 1, ...options });
  for (let lsn = from; lsn <= to; lsn++) w.append(rec(lsn));
  await w.close();
}

/** The database's codec (persistence.ts): encoded in place where it can. */
const codec = { encode, decode: decodeRange, encodeOpInto: encodeOpRecordInto };

const lsns = (records: WalRecord[]) => records.map((r) => r.lsn);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe("crc32c", () => {
  it("matches the standard check values", () => {
    assert.equal(crc32c(enc("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  it("continues from a previous CRC and honours start/end", () => {
    const all = new Uint8Array(1000).map((_, i) => (i * 13 + 7) & 0xff);
    for (const split of [0, 1, 7, 8, 9, 500, 999, 1000]) {
      assert.equal(crc32c(all.subarray(split), crc32c(all.subarray(0, split))), crc32c(all));
    }
    assert.equal(crc32c(all, 0, 3, 20), crc32c(all.subarray(3, 20)));
  });

  it("agrees with the bit-by-bit definition for every length of block and tail", () => {
    const bitwise = (bytes: Uint8Array) => {
      let c = ~0;
      for (const b of bytes) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    const all = new Uint8Array(80).map((_, i) => (i * 151 + 29) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= all.length; end++) {
        assert.equal(crc32c(all, 0, start, end), bitwise(all.subarray(start, end)), `[${start}, ${end})`);
      }
    }
  });
});

describe("frames", () => {
  const payloads = [enc("first"), enc("second record"), new Uint8Array(300).fill(9), enc("last one")];
  const bytes = encodeFrames(payloads);
  const lastStart = bytes.length - (HEADER_BYTES + payloads[3].length);

  it("lays out u32 LE length, u32 LE CRC-32C, payload", () => {
    const f = encodeFrame(enc("123456789"));
    assert.deepEqual([...f.subarray(0, 8)], [9, 0, 0, 0, 0x83, 0x92, 0x06, 0xe3]);
    assert.deepEqual(f.subarray(8), enc("123456789"));
  });

  it("round-trips through scanFrames with zero-copy payload views", () => {
    const scan = scanFrames(bytes, { file: "wal/x.wal", last: false });
    assert.deepEqual(scan.payloads, payloads);
    assert.equal(scan.end, bytes.length);
    assert.equal(scan.cut, undefined);
    assert.equal(scan.offsets[0], 0);
    for (const p of scan.payloads) assert.equal(p.buffer, bytes.buffer);
  });

  it("a last segment cut at every byte of its last frame is a torn tail; the prefix is kept", () => {
    for (let n = lastStart + 1; n < bytes.length; n++) {
      const scan = scanFrames(bytes.subarray(0, n), { file: "wal/x.wal", last: true });
      assert.equal(scan.payloads.length, 3, `cut at ${n}`);
      assert.equal(scan.end, lastStart);
      assert.equal(scan.cut?.torn, true);
      assert.equal(scan.cut?.offset, lastStart);
      assert.equal(scan.cut?.bytes, n - lastStart);
    }
    // Cut exactly at a frame boundary: nothing torn.
    assert.equal(scanFrames(bytes.subarray(0, lastStart), { file: "f", last: true }).cut, undefined);
  });

  it("the same cuts in a segment that is not the last are CorruptionError", () => {
    for (let n = lastStart + 1; n < bytes.length; n++) {
      assert.throws(
        () => scanFrames(bytes.subarray(0, n), { file: "wal/a.wal", last: false }),
        rejectsWith(CorruptionError, (e) => {
          assert.equal((e as CorruptionError).file, "wal/a.wal");
          assert.equal((e as CorruptionError).offset, lastStart);
        }),
      );
    }
  });

  it("a checksum mismatch in the final frame, ending at EOF, is torn", () => {
    const copy = bytes.slice();
    copy[copy.length - 1] ^= 1;
    const scan = scanFrames(copy, { file: "f", last: true });
    assert.equal(scan.cut?.torn, true);
    assert.equal(scan.cut?.reason, "checksum mismatch");
    assert.equal(scan.payloads.length, 3);
  });

  it("a flipped payload or CRC byte in a middle frame is CorruptionError at that frame, with what to do", () => {
    const start = HEADER_BYTES + payloads[0].length; // the second frame
    const end = start + HEADER_BYTES + payloads[1].length;
    for (let i = start + 4; i < end; i++) {
      const copy = bytes.slice();
      copy[i] ^= 0x10;
      for (const last of [true, false]) {
        assert.throws(
          () => scanFrames(copy, { file: "wal/00000000000000000001.wal", last }),
          rejectsWith(CorruptionError, (e) => {
            assert.equal((e as CorruptionError).offset, start);
            assert.match(e.message, /00000000000000000001\.wal/);
            assert.match(e.message, new RegExp(`byte ${start}\\b`));
            assert.match(e.message, /repair: true/);
          }),
        );
      }
    }
  });

  it("zero-length frames, lengths above the limit and zero-filled tails", () => {
    const zeroLen = bytes.slice();
    zeroLen.fill(0, 0, 4);
    assert.throws(() => scanFrames(zeroLen, { file: "f", last: true }), /zero-length/);
    const huge = bytes.slice();
    huge[3] = 0x80;
    assert.throws(() => scanFrames(huge, { file: "f", last: true }), /above the limit/);
    assert.throws(() => scanFrames(bytes, { file: "f", last: true, maxFrameBytes: 100 }), /above the limit/);
    const zeros = new Uint8Array(bytes.length + 4096);
    zeros.set(bytes);
    const scan = scanFrames(zeros, { file: "f", last: true });
    assert.equal(scan.payloads.length, 4);
    assert.equal(scan.cut?.torn, true);
    assert.equal(scan.cut?.reason, "zero-filled tail");
    assert.throws(() => scanFrames(zeros, { file: "f", last: false }), CorruptionError);
  });

  it("a damaged final frame followed only by zeros is torn (a preallocated segment after a crash); before anything else it is damage", () => {
    const lastStart = bytes.length - (HEADER_BYTES + payloads[3].length);
    const withZeros = new Uint8Array(bytes.length + 4096);
    withZeros.set(bytes);
    withZeros.fill(0, bytes.length - 3, bytes.length); // the record's last bytes never landed
    const scan = scanFrames(withZeros, { file: "f", last: true });
    assert.equal(scan.payloads.length, 3);
    assert.deepEqual(scan.cut, {
      offset: lastStart,
      bytes: withZeros.length - lastStart,
      reason: "checksum mismatch",
      torn: true,
    });
    // Not the last segment: damage.
    assert.throws(() => scanFrames(withZeros, { file: "f", last: false }), CorruptionError);
    // Something other than zeros after it: damage, whatever follows.
    const notZeros = withZeros.slice();
    notZeros[notZeros.length - 1] = 1;
    assert.throws(() => scanFrames(notZeros, { file: "f", last: true }), CorruptionError);
  });

  it("repair reports the first bad frame as a cut instead of throwing", () => {
    const copy = bytes.slice();
    copy[HEADER_BYTES + 1] ^= 0xff; // payload of the first frame
    const scan = scanFrames(copy, { file: "f", last: false, repair: true });
    assert.equal(scan.payloads.length, 0);
    assert.deepEqual(scan.cut, { offset: 0, bytes: bytes.length, reason: "checksum mismatch", torn: false });
  });

  it("checkFrame returns the payload length of a good frame", () => {
    assert.equal(checkFrame(bytes, 0, false), payloads[0].length);
  });
});

describe("segment names", () => {
  it("are the 20-digit first LSN and parse back", () => {
    assert.equal(segmentName(1), "00000000000000000001.wal");
    assert.equal(parseSegmentName(segmentName(2 ** 53 - 1)), 2 ** 53 - 1);
    assert.equal(parseSegmentName("00000000000000000001.wal.tmp"), null);
    assert.equal(parseSegmentName("1.wal"), null);
    assert.throws(() => segmentName(-1), RangeError);
    assert.equal(walDir("data/"), "data/wal");
  });

  it("listSegments sorts by LSN and ignores strangers", async () => {
    const s = new MemoryStorage();
    await s.mkdir("db/wal");
    for (const n of [segmentName(10), "notes.txt", segmentName(2)]) s.poke(`db/wal/${n}`, new Uint8Array(0));
    assert.deepEqual((await listSegments(s, "db")).map((x) => x.firstLsn), [2, 10]);
    assert.deepEqual(await listSegments(s, "nowhere"), []);
  });
});

describe("readWal", () => {
  it("reads every record back in order, across segments, with afterLsn", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 50, { segmentBytes: 300 });
    await s.poke("db/wal/README", enc("not a segment")); // ignored
    const segs = await listSegments(s, "db");
    assert.ok(segs.length > 3, "rotated");
    const all = await readWal(s, "db");
    assert.deepEqual(lsns(all.records), range(1, 50));
    assert.deepEqual(all.records[6], rec(7));
    assert.equal(all.lastLsn, 50);
    assert.equal(all.cut, null);
    const tail = await readWal(s, "db", { afterLsn: 30 });
    assert.deepEqual(lsns(tail.records), range(31, 50));
    assert.equal(tail.lastLsn, 50);
    const seen: number[] = [];
    const streamed = await readWal(s, "db", { afterLsn: 45, onRecord: (r) => seen.push(r.lsn) });
    assert.deepEqual(seen, range(46, 50));
    assert.equal(streamed.records.length, 0);
    assert.equal(streamed.count, 5);
  });

  it("an empty or missing log has no records and lastLsn null", async () => {
    const r = await readWal(new MemoryStorage(), "db");
    assert.deepEqual(r, { records: [], lastLsn: null, count: 0, segments: [], cut: null });
  });

  it("reads transactions as one record", async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", { sync: "always", lastLsn: 0 });
    const tx: WalRecord = {
      lsn: 1,
      ops: [{ op: "dict.set", args: ["d", 1, 2] }, { op: "list.append", args: ["l", "x"] }],
    };
    w.append(tx);
    await w.close();
    assert.deepEqual((await readWal(s, "db")).records, [tx]);
  });

  it("a torn last record at any byte is cut and reported; applyCut makes it durable", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 5);
    const [seg] = await listSegments(s, "db");
    const full = s.peek(seg.path)!;
    const lastStart = scanFrames(full, { file: seg.file, last: true }).offsets[4];
    for (let n = lastStart + 1; n < full.length; n++) {
      s.poke(seg.path, full.subarray(0, n));
      const r = await readWal(s, "db");
      assert.deepEqual(lsns(r.records), [1, 2, 3, 4]);
      assert.equal(r.lastLsn, 4);
      assert.deepEqual(
        { ...r.cut, reason: undefined },
        {
          file: seg.file,
          path: seg.path,
          offset: lastStart,
          bytes: n - lastStart,
          torn: true,
          reason: undefined,
          dropped: [],
        },
      );
    }
    const r = await readWal(s, "db");
    await applyCut(s, "db", r.cut!);
    s.crash();
    assert.equal(await s.size(seg.path), lastStart);
    assert.equal((await readWal(s, "db")).cut, null);
  });

  it("damage before the last segment's tail is CorruptionError naming file and offset", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 40, { segmentBytes: 400 });
    const segs = await listSegments(s, "db");
    for (const target of [segs[0], segs[segs.length - 1]]) {
      const original = s.peek(target.path)!;
      const damaged = original.slice();
      damaged[HEADER_BYTES + 2] ^= 0x40; // first record's payload
      s.poke(target.path, damaged);
      await assert.rejects(
        readWal(s, "db"),
        rejectsWith(CorruptionError, (e) => {
          assert.equal((e as CorruptionError).file, target.file);
          assert.equal((e as CorruptionError).offset, 0);
        }),
      );
      s.poke(target.path, original);
    }
    // A torn tail in a segment that is not the last is damage too.
    const first = s.peek(segs[0].path)!;
    s.poke(segs[0].path, first.subarray(0, first.length - 3));
    await assert.rejects(readWal(s, "db"), CorruptionError);
  });

  it("repair cuts at the first bad record and drops the segments after it", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 40, { segmentBytes: 400 });
    const segs = await listSegments(s, "db");
    const damaged = s.peek(segs[1].path)!.slice();
    const firstLen = checkFrame(damaged, 0, false) as number;
    damaged[HEADER_BYTES + firstLen + HEADER_BYTES + 1] ^= 1; // second record of segment 2
    s.poke(segs[1].path, damaged);
    const r = await readWal(s, "db", { repair: true });
    assert.deepEqual(lsns(r.records), range(1, segs[1].firstLsn));
    assert.equal(r.cut?.torn, false);
    assert.equal(r.cut?.offset, HEADER_BYTES + firstLen);
    assert.deepEqual(r.cut?.dropped, segs.slice(2).map((x) => x.path));
    await applyCut(s, "db", r.cut!);
    s.crash();
    assert.equal((await listSegments(s, "db")).length, 2);
    const again = await readWal(s, "db");
    assert.equal(again.cut, null);
    assert.equal(again.lastLsn, segs[1].firstLsn);
  });

  async function logOf(records: WalRecord[], name = segmentName(records[0]?.lsn ?? 1)) {
    const s = new MemoryStorage();
    await s.mkdir("db/wal");
    const p = new Packr({ useRecords: false });
    s.poke(`db/wal/${name}`, encodeFrames(records.map((r) => p.pack(r))));
    return s;
  }

  it("LSN regressions, gaps and misnamed segments are CorruptionError", async () => {
    await assert.rejects(readWal(await logOf([rec(1), rec(2), rec(2)]), "db"), /does not follow/);
    await assert.rejects(readWal(await logOf([rec(1), rec(3)]), "db"), /LSNs 2\.\.2 are missing/);
    await assert.rejects(readWal(await logOf([rec(5), rec(6)], segmentName(4)), "db"), /starts with LSN 5/);
    await assert.rejects(readWal(await logOf([rec(5)]), "db", { afterLsn: 2 }), /LSNs 3\.\.4 are missing/);
    // A gap that a snapshot covers loses nothing.
    const covered = await readWal(await logOf([rec(1), rec(4), rec(5)]), "db", { afterLsn: 3 });
    assert.deepEqual(lsns(covered.records), [4, 5]);
    const repaired = await readWal(await logOf([rec(1), rec(2), rec(4)]), "db", { repair: true });
    assert.deepEqual(lsns(repaired.records), [1, 2]);
    assert.match(repaired.cut!.reason, /missing/);
  });

  it("a checksum-valid payload that does not decode, or is not a record, is CorruptionError", async () => {
    const s = new MemoryStorage();
    await s.mkdir("db/wal");
    const p = new Packr({ useRecords: false });
    const good = encodeFrame(p.pack(rec(1)));
    const path = `db/wal/${segmentName(1)}`;
    s.poke(path, encodeFrames([p.pack(rec(1)), p.pack(rec(2)).subarray(0, 5)]));
    await assert.rejects(
      readWal(s, "db"),
      rejectsWith(CorruptionError, (e) => {
        assert.equal((e as CorruptionError).offset, good.length);
        assert.match(e.message, /does not decode/);
      }),
    );
    s.poke(path, encodeFrames([p.pack(rec(1)), p.pack(rec(2)), new Uint8Array([0x01, 0x02])]));
    await assert.rejects(readWal(s, "db"), /does not decode/); // two values in one payload
    s.poke(path, encodeFrames([p.pack(rec(1)), p.pack({ lsn: 2, op: 7 })]));
    await assert.rejects(readWal(s, "db"), /neither/);
    s.poke(path, encodeFrames([p.pack(rec(1)), new Uint8Array([0xc0])])); // nil
    await assert.rejects(readWal(s, "db"), /not a record/);
  });
});

describe("WalWriter on MemoryStorage", () => {
  it("appendOp (encoded in place) writes the bytes append writes, falls back for what it cannot, rotates alike", async () => {
    const ops: [string, unknown[]][] = [];
    for (let i = 0; i < 3000; i++) {
      const v = i % 7 === 0
        ? -0
        : i % 11 === 0
        ? BigInt(i)
        : i % 13 === 0
        ? "é".repeat(i)
        : i % 5 === 0
        ? { n: [i, "x"] }
        : i;
      ops.push(["dict.set", ["d", `k${i}`, v]]);
    }
    ops.push(["list.append", ["l", "x".repeat(40_000)]]); // more than the room kept for in-place encoding
    const logOf = async (fast: boolean) => {
      const storage = new MemoryStorage();
      const w = await WalWriter.open(storage, "db", { sync: "manual", lastLsn: 0, segmentBytes: 20_000, codec });
      let bytes = 0;
      ops.forEach(([op, args], i) => bytes += fast ? w.appendOp(i + 1, op, args) : w.append({ lsn: i + 1, op, args }));
      await w.close();
      const files = (await listSegments(storage, "db")).map((s) => s.path);
      return { bytes, files, data: await Promise.all(files.map((f) => storage.read(f))) };
    };
    const slow = await logOf(false);
    const fast = await logOf(true);
    assert.equal(fast.bytes, slow.bytes);
    assert.deepEqual(fast.files, slow.files);
    assert.ok(fast.files.length > 5, "several segments");
    assert.deepEqual(fast.data, slow.data);
    // And the wrong LSN is refused the same way.
    const w = await WalWriter.open(new MemoryStorage(), "db", { sync: "manual", lastLsn: 0, codec });
    assert.throws(() => w.appendOp(5, "dict.set", ["d", "k", 1]), RangeError);
    await w.close();
    assert.throws(() => w.appendOp(1, "dict.set", ["d", "k", 1]), ClosedError);
  });

  it("closing lets the codec go of the batch buffer it encoded into (fast_encode no longer holds it)", async () => {
    let released: Uint8Array | null = null;
    const releasing = { ...codec, release: (target: Uint8Array) => void (released = target, releaseInto(target)) };
    const w = await WalWriter.open(new MemoryStorage(), "db", { sync: "always", lastLsn: 0, codec: releasing });
    // (1.5: a value for the general path, which keeps the buffer it wrote into; the fast path keeps nothing.)
    w.appendOp(1, "dict.set", ["d", "k", 1.5]);
    await w.close();
    assert.ok(released !== null, "release was called");
    assert.equal(releaseInto(released!), false, "fast_encode holds the closed writer's buffer no more");
  });

  it("group commit: many appends in one task are one write and one sync", async () => {
    const { storage, stats } = instrumented(new MemoryStorage());
    const w = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 0 });
    for (let lsn = 1; lsn <= 1000; lsn++) w.append(rec(lsn));
    await w.durable();
    assert.equal(stats.writes, 1);
    assert.equal(stats.syncs, 1);
    // Appends made in later tasks while an fsync is in flight share the next commit.
    let open!: () => void;
    stats.syncGate = new Promise<void>((r) => (open = r));
    w.append(rec(1001));
    await tick(); // its commit is now stuck in sync
    for (let lsn = 1002; lsn <= 1010; lsn++) {
      w.append(rec(lsn));
      await tick();
    }
    open();
    stats.syncGate = null;
    await w.flush();
    assert.equal(stats.writes, 3);
    assert.equal(stats.syncs, 3);
    const before = { ...stats };
    await w.flush(); // nothing new: no I/O
    assert.deepEqual(stats, before);
    await w.close();
    assert.deepEqual(lsns((await readWal(storage, "db")).records), range(1, 1010));
  });

  it("flush() calls made before a write starts share one promise; one made during a write waits for the next fsync", async () => {
    const inner = new MemoryStorage();
    const { storage, stats } = instrumented(inner);
    const w = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 0 });
    // 64 writers in one task: one promise, one write, one sync.
    const flushes: Promise<void>[] = [];
    for (let lsn = 1; lsn <= 64; lsn++) {
      w.append(rec(lsn));
      flushes.push(w.flush());
    }
    assert.equal(new Set(flushes).size, 1, "one shared promise");
    await flushes[0];
    assert.equal(stats.syncs, 1);
    inner.crash();
    assert.deepEqual(lsns((await readWal(storage, "db")).records), range(1, 64), "durable once resolved");

    // A flush() made after the write began does not join: 65's flush is answered by 65's fsync
    // while 66's is still held.
    const w2 = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 64 });
    let open65!: () => void;
    let open66!: () => void;
    stats.syncGate = new Promise<void>((r) => (open65 = r));
    w2.append(rec(65));
    let firstDone = false;
    const first = w2.flush().then(() => (firstDone = true));
    await tick(); // 65 is written, its fsync held
    w2.append(rec(66));
    let secondDone = false;
    const second = w2.flush().then(() => (secondDone = true));
    stats.syncGate = new Promise<void>((r) => (open66 = r));
    open65();
    for (let i = 0; i < 20 && !firstDone; i++) await tick();
    assert.equal(firstDone, true, "65's flush is answered by 65's fsync");
    assert.equal(secondDone, false, "66 waits for its own fsync");
    open66();
    stats.syncGate = null;
    await Promise.all([first, second]);
    await w2.close();
    assert.deepEqual(lsns((await readWal(storage, "db")).records), range(1, 66));
  });

  it('"always": durable() resolves after the fsync that covers the records', async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", { sync: "always", lastLsn: 0 });
    w.append(rec(1));
    w.append(rec(2));
    const done = w.durable();
    assert.equal(w.pendingBytes > 0, true);
    await done;
    const [seg] = await listSegments(s, "db");
    s.crash();
    assert.deepEqual(lsns((await readWal(s, "db")).records), [1, 2]);
    assert.equal(seg.firstLsn, 1);
  });

  it('"interval": written at the end of the task, fsynced when the interval ends (on an unref\'d timer until awaited), or by flush()', async () => {
    const s = new MemoryStorage();
    const clock = new VirtualScheduler();
    const w = await WalWriter.open(s, "db", { sync: "interval", flushInterval: 30, lastLsn: 0, scheduler: clock });
    w.append(rec(1));
    await settle();
    const [seg] = await listSegments(s, "db");
    const synced = () => s.peek(seg.path, { durable: true })?.length ?? 0;
    assert.ok(s.peek(seg.path)!.length > 0, "written at the end of the task");
    assert.equal(synced(), 0, "not yet synced");
    assert.deepEqual(clock.pending(), [{ in: 30, unref: true }], "one fsync timer, keeping no process alive");
    await clock.advance(29);
    assert.equal(synced(), 0, "not synced before the interval ends");
    let durable = false;
    const done = w.durable().then(() => (durable = true));
    assert.deepEqual(clock.pending(), [{ in: 1, unref: false }], "awaited: it keeps the process alive, same due time");
    await settle();
    assert.equal(durable, false, "durable() waits for the interval");
    await clock.advance(1);
    await done;
    assert.equal(synced(), s.peek(seg.path)!.length, "the timer's fsync covers the record");
    w.append(rec(2));
    assert.deepEqual(clock.pending(), [{ in: 30, unref: true }], "the next record sets the next timer");
    await w.flush();
    assert.equal(synced(), s.peek(seg.path)!.length);
    await w.close();
    assert.deepEqual(clock.pending(), [], "close() clears the timer");
  });

  it('"manual": nothing reaches storage until flush()', async () => {
    const { storage, stats } = instrumented(new MemoryStorage());
    const w = await WalWriter.open(storage, "db", { sync: "manual", lastLsn: 0 });
    for (let lsn = 1; lsn <= 10; lsn++) w.append(rec(lsn));
    await tick(5);
    assert.equal(stats.writes, 0);
    assert.deepEqual(await listSegments(storage, "db"), []);
    let durable = false;
    const d = w.durable().then(() => (durable = true));
    await tick(5);
    assert.equal(durable, false, "durable() waits for the next flush in manual mode");
    await w.flush();
    await d;
    assert.equal(stats.writes, 1);
    assert.equal(stats.syncs, 1);
    await w.close();
  });

  it('"manual": a record appended after flush() resolved waits for the next flush, even when that flush crossed a segment boundary', async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", { sync: "manual", lastLsn: 0 });
    w.append(rec(1));
    await w.flush();
    w.append(rec(2));
    w.rotate(); // (a snapshot captured the state at LSN 2: record 3 starts a new segment)
    const flushing = w.flush(); // for record 2; record 3, of the same task, joins its group commit
    w.append(rec(3));
    await flushing; // resolves once record 2 is durable, before record 3's segment exists
    w.append(rec(4)); // never flushed
    await tick(5);
    s.crash();
    assert.deepEqual(lsns((await readWal(s, "db")).records), [1, 2, 3], "the unflushed record 4 reached the disk");
  });

  it("crash() keeps exactly the batches that were synced", async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", { sync: "interval", lastLsn: 0, scheduler: new VirtualScheduler() });
    for (let lsn = 1; lsn <= 5; lsn++) w.append(rec(lsn));
    await w.flush();
    for (let lsn = 6; lsn <= 9; lsn++) w.append(rec(lsn));
    await tick(); // written, never synced
    s.crash();
    const r = await readWal(s, "db");
    assert.deepEqual(lsns(r.records), range(1, 5));
    assert.equal(r.cut, null);
    // The writer's handle died with the crash: its next flush fails loudly.
    w.append(rec(10));
    const died = rejectsWith(
      StorageError,
      (e) => assert.ok(e.cause instanceof ClosedError, `caused by ClosedError: ${e.cause}`),
    );
    await assert.rejects(w.flush(), died);
    await assert.rejects(w.close(), died);
  });

  it("a crash between rotations never leaves a later segment without the earlier one's tail", async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", {
      sync: "interval",
      segmentBytes: 200,
      lastLsn: 0,
      scheduler: new VirtualScheduler(),
    });
    for (let lsn = 1; lsn <= 30; lsn++) w.append(rec(lsn));
    await tick(); // rotations sync each finished segment; the current one stays unsynced
    s.crash();
    const r = await readWal(s, "db");
    assert.equal(r.cut, null);
    assert.deepEqual(lsns(r.records), range(1, r.lastLsn ?? 0));
    assert.ok((r.lastLsn ?? 0) > 0);
  });

  it("rotates past segmentBytes, naming each segment by its first LSN", async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", { sync: "always", segmentBytes: 256, lastLsn: 0 });
    for (let lsn = 1; lsn <= 20; lsn++) {
      w.append(rec(lsn));
      if (lsn % 3 === 0) await w.durable();
    }
    w.append({ lsn: 21, op: "dict.set", args: ["d", "big", "x".repeat(1000)] }); // alone, above the limit
    w.append(rec(22));
    await w.close();
    const segs = await listSegments(s, "db");
    assert.ok(segs.length >= 5);
    for (const seg of segs) {
      const size = (await s.size(seg.path))!;
      const first = scanFrames(s.peek(seg.path)!, { file: seg.file, last: false });
      assert.ok(size <= 256 || first.payloads.length === 1, `${seg.name}: ${size} bytes`);
      const r = await readWal(s, "db", { afterLsn: seg.firstLsn - 1 });
      assert.equal(r.records[0].lsn, seg.firstLsn);
    }
    assert.deepEqual(lsns((await readWal(s, "db")).records), range(1, 22));
  });

  it("a reopened writer starts a new segment that continues the LSNs", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 3);
    const first = await readWal(s, "db");
    const w = await WalWriter.open(s, "db", { sync: "always", lastLsn: first.lastLsn });
    assert.throws(() => w.append(rec(5)), RangeError);
    w.append(rec(4));
    await w.close();
    assert.deepEqual((await listSegments(s, "db")).map((x) => x.firstLsn), [1, 4]);
    assert.deepEqual(lsns((await readWal(s, "db")).records), [1, 2, 3, 4]);
    assert.ok(w.bytes > 0);
  });

  it("refuses to overwrite a segment that already holds the records it would write", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 3);
    const w = await WalWriter.open(s, "db", { sync: "always", lastLsn: 0 }); // wrong: the log ends at 3
    w.append(rec(1));
    await assert.rejects(
      w.flush(),
      rejectsWith(StorageError, (e) => {
        assert.ok(e.cause instanceof CorruptionError);
        assert.match(e.message, /already holds records from LSN 1/);
      }),
    );
    assert.deepEqual(lsns((await readWal(s, "db")).records), [1, 2, 3]);
  });

  it("records appended (and a rotation asked for) while a segment is being created land in the right segments", async () => {
    const inner = new MemoryStorage();
    let open!: () => void;
    let gate: Promise<void> | null = new Promise<void>((r) => (open = r));
    const storage: Storage = {
      ...instrumented(inner).storage,
      create: async (p) => {
        await gate; // the first segment's creation is slow
        return await inner.create(p);
      },
    };
    const w = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 0 });
    w.append(rec(1));
    await tick(); // its commit now waits in create()
    w.append(rec(2));
    w.rotate(); // a snapshot at LSN 2: LSN 3 starts a new segment
    w.append(rec(3));
    gate = null;
    open();
    await w.flush();
    w.append(rec(4));
    await w.close();
    assert.deepEqual((await listSegments(inner, "db")).map((x) => x.firstLsn), [1, 3]);
    const r = await readWal(inner, "db");
    assert.deepEqual(lsns(r.records), [1, 2, 3, 4]);
  });

  it("removeSegmentsUpTo never removes the empty segment a clean close left, once this writer writes into it", async () => {
    const s = new MemoryStorage();
    const first = await WalWriter.open(s, "db", { sync: "always", lastLsn: 0 });
    for (let lsn = 1; lsn <= 3; lsn++) first.append(rec(lsn));
    await first.close();
    await first.seal(); // wal/4, empty
    let open!: () => void;
    let gate: Promise<void> | null = null;
    const storage: Storage = {
      ...instrumented(s).storage,
      create: async (p) => {
        await gate;
        return await s.create(p);
      },
    };
    const w = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 3 });
    for (let lsn = 4; lsn <= 6; lsn++) w.append(rec(lsn));
    await w.flush();
    gate = new Promise<void>((r) => (open = r));
    w.rotate();
    w.append(rec(7));
    await tick(5); // wal/4 is closed, wal/7 is being created: no current segment
    // An older snapshot at 5 covers wal/1 (1..3) but not wal/4 (4..6).
    assert.deepEqual(await w.removeSegmentsUpTo(5), [`db/wal/${segmentName(1)}`]);
    gate = null;
    open();
    await w.close();
    assert.deepEqual(lsns((await readWal(s, "db", { afterLsn: 3 })).records), [4, 5, 6, 7]);
  });

  it("removeSegmentsUpTo drops covered segments, never the current one", async () => {
    const s = new MemoryStorage();
    const w = await WalWriter.open(s, "db", { sync: "always", segmentBytes: 200, lastLsn: 0 });
    for (let lsn = 1; lsn <= 30; lsn++) w.append(rec(lsn));
    await w.flush();
    const segs = await listSegments(s, "db");
    const bytesBefore = w.bytes;
    const removed = await w.removeSegmentsUpTo(segs[2].firstLsn - 1);
    assert.deepEqual(removed, [segs[0].path, segs[1].path]);
    assert.ok(w.bytes < bytesBefore);
    await w.removeSegmentsUpTo(1000);
    const left = await listSegments(s, "db");
    assert.deepEqual(left.map((x) => x.name), [segs[segs.length - 1].name], "the current segment stays");
    await w.close();
    s.crash();
    assert.deepEqual((await listSegments(s, "db")).map((x) => x.name), [segs[segs.length - 1].name]);
    const r = await readWal(s, "db", { afterLsn: 30 });
    assert.equal(r.lastLsn, 30);
  });

  it("removeSegmentsUpTo bounds segments from before the writer by its lastLsn", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 10);
    const w = await WalWriter.open(s, "db", { sync: "always", lastLsn: 10 });
    assert.deepEqual(await w.removeSegmentsUpTo(9), []);
    assert.deepEqual(await w.removeSegmentsUpTo(10), [`db/wal/${segmentName(1)}`]);
    await w.close();
  });

  it("a failed write rejects flush(), reaches onError, and stops further appends", async () => {
    const { storage, stats } = instrumented(new MemoryStorage());
    const errors: unknown[] = [];
    const w = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 0, onError: (e) => errors.push(e) });
    w.append(rec(1));
    await w.flush();
    stats.failWrite = true;
    w.append(rec(2));
    const enospc = rejectsWith(StorageError, (e) => {
      assert.match(e.message, /no space left on device \(ENOSPC\)/);
      assert.match(e.message, /"db\/wal\/00000000000000000001\.wal"/, "names the segment");
      assert.match(String(e.cause), /Injected write failure/);
    });
    await assert.rejects(w.flush(), enospc);
    assert.equal(errors.length, 1);
    assert.equal(w.failure?.kind, "io");
    assert.throws(() => w.append(rec(3)), enospc);
    await assert.rejects(w.durable(), enospc);
    await assert.rejects(w.close(), enospc);
  });

  it("recover() cuts the segment back to its durable size and writes every record not yet durable again", async () => {
    const disk = new MemoryStorage();
    const w = await WalWriter.open(disk, "db", { sync: "interval", lastLsn: 0, scheduler: new VirtualScheduler() });
    for (let lsn = 1; lsn <= 3; lsn++) w.append(rec(lsn));
    await w.flush();
    const seg = `db/wal/${segmentName(1)}`;
    const durable = disk.peek(seg)!.length;
    disk.setFault({ capacity: disk.peek(seg)!.length + 30 }); // room for part of the next batch
    for (let lsn = 4; lsn <= 8; lsn++) w.append(rec(lsn, "v".repeat(20)));
    await assert.rejects(w.flush(), /ENOSPC/);
    assert.ok(disk.peek(seg)!.length > durable, "a short write left part of the batch behind");
    assert.equal(w.unsynced, true);
    await assert.rejects(w.recover(), /ENOSPC/); // still full
    disk.setFault(null);
    await w.recover();
    assert.equal(w.failure, null);
    assert.equal(w.unsynced, false);
    w.append(rec(9));
    await w.close();
    const r = await readWal(disk, "db");
    assert.equal(r.cut, null, "no torn bytes: the partial batch was cut away before the rewrite");
    assert.deepEqual(lsns(r.records), range(1, 9));
  });

  it("after a failed write, recover() keeps what earlier writes handed over; after a failed fsync it writes all of it again", async () => {
    const { storage, stats } = instrumented(new MemoryStorage());
    const w = await WalWriter.open(storage, "db", { sync: "interval", lastLsn: 0, scheduler: new VirtualScheduler() });
    const frames: number[] = [0];
    for (let lsn = 1; lsn <= 3; lsn++) frames[lsn] = w.append(rec(lsn));
    await tick(); // written at the end of the task, not fsynced
    const before = stats.bytes;
    stats.failWrite = true;
    frames[4] = w.append(rec(4));
    await assert.rejects(w.flush(), StorageError);
    stats.failWrite = false;
    await w.recover();
    assert.equal(stats.bytes - before, frames[4], "only the failed write is written again");
    for (let lsn = 5; lsn <= 6; lsn++) frames[lsn] = w.append(rec(lsn));
    await tick();
    const before2 = stats.bytes;
    stats.failSync = true;
    await assert.rejects(w.flush(), StorageError);
    stats.failSync = false;
    await w.recover();
    assert.equal(stats.bytes - before2, frames[5] + frames[6], "everything since the last good fsync is written again");
    await w.close();
    const r = await readWal(storage, "db");
    assert.equal(r.cut, null);
    assert.deepEqual(lsns(r.records), range(1, 6));
  });

  it("discard() drops what was never durable; recover() then continues from the last fsynced LSN", async () => {
    const disk = new MemoryStorage();
    const w = await WalWriter.open(disk, "db", { sync: "always", lastLsn: 0 });
    w.append(rec(1));
    await w.flush();
    disk.setFault({ readOnly: true });
    w.append(rec(2));
    w.append(rec(3));
    await assert.rejects(w.flush(), /read-only file system \(EROFS\)/);
    w.discard();
    assert.equal(w.lastLsn, 1);
    assert.equal(w.unsynced, false);
    disk.setFault(null);
    await w.recover();
    w.append(rec(2, "again"));
    await w.close();
    const r = await readWal(disk, "db");
    assert.deepEqual(r.records.map((x) => [x.lsn, "op" in x ? x.args[2] : null]), [[1, 1], [2, "again"]]);
  });

  it("a segment removed under the writer is noticed after its fsync: nothing is acknowledged, waiters wait for rebased()", async () => {
    const disk = new MemoryStorage();
    const kinds: string[] = [];
    const w = await WalWriter.open(disk, "db", { sync: "always", lastLsn: 0, onError: (_e, kind) => kinds.push(kind) });
    w.append(rec(1));
    await w.flush();
    await disk.remove(`db/wal/${segmentName(1)}`);
    w.append(rec(2));
    let acknowledged = false;
    const waiting = w.durable().then(() => (acknowledged = true));
    await tick(5);
    assert.deepEqual(kinds, ["removed"]);
    assert.equal(acknowledged, false, "not acknowledged into a removed file");
    assert.match(w.failure!.error.message, /was removed or replaced/);
    w.rebased(2); // the owner wrote a snapshot at LSN 2
    await waiting;
    w.append(rec(3));
    await w.close();
    assert.deepEqual((await listSegments(disk, "db")).map((x) => x.firstLsn), [3]);
  });

  it("a failing verify hook stops the writer with kind lock and rejects the waiters", async () => {
    const disk = new MemoryStorage();
    let refuse: StorageError | null = null;
    const kinds: string[] = [];
    const w = await WalWriter.open(disk, "db", {
      sync: "always",
      lastLsn: 0,
      verify: () => Promise.resolve(refuse),
      onError: (_e, kind) => kinds.push(kind),
    });
    w.append(rec(1));
    await w.flush();
    refuse = new StorageError("Lock gone");
    w.append(rec(2));
    await assert.rejects(w.flush(), /Lock gone/);
    assert.deepEqual(kinds, ["lock"]);
    await assert.rejects(w.recover(), /Lock gone/);
    await assert.rejects(w.close(), /Lock gone/);
  });

  it("a failed fsync rejects flush(), also when nobody was waiting", async () => {
    const { storage, stats } = instrumented(new MemoryStorage());
    const w = await WalWriter.open(storage, "db", { sync: "always", lastLsn: 0 });
    stats.failSync = true;
    w.append(rec(1)); // committed at the end of this task, with nobody awaiting it
    await tick(5);
    const eio = rejectsWith(StorageError, (e) => {
      assert.match(e.message, /I\/O error \(EIO\)/);
      assert.match(String(e.cause), /Injected sync failure/);
    });
    await assert.rejects(w.flush(), eio);
    await assert.rejects(w.close(), eio);
  });

  it("rejects bad options", async () => {
    const s = new MemoryStorage();
    await assert.rejects(WalWriter.open(s, "db", { sync: "sometimes" as "always" }), RangeError);
    await assert.rejects(WalWriter.open(s, "db", { flushInterval: -1 }), RangeError);
    await assert.rejects(WalWriter.open(s, "db", { lastLsn: 1.5 }), RangeError);
  });

  it("refuses records above the frame limit, and appends after close", async () => {
    const w = await WalWriter.open(new MemoryStorage(), "db", { maxFrameBytes: 64, lastLsn: 0 });
    assert.throws(() => w.append({ lsn: 1, op: "dict.set", args: ["d", "k", "x".repeat(100)] }), TooLargeError);
    w.append(rec(1));
    await w.close();
    await w.close();
    assert.throws(() => w.append(rec(2)), ClosedError);
    await w.flush();
  });

  it("segmentWritable appends each chunk and syncs on close", async () => {
    const s = new MemoryStorage();
    const stream = segmentWritable(await s.create("seg"));
    const writer = stream.getWriter();
    await writer.write(encodeFrame(enc("a")));
    await writer.write(encodeFrame(enc("b")));
    await writer.close();
    await s.syncDir(".");
    s.crash();
    assert.deepEqual(scanFrames((await s.read("seg"))!, { file: "seg", last: true }).payloads, [enc("a"), enc("b")]);
  });
});

describe("recoverWal", () => {
  it("cuts a torn tail durably, says so once, and continues the LSNs", async () => {
    const s = new MemoryStorage();
    await writeLog(s, "db", 1, 6);
    const [seg] = await listSegments(s, "db");
    const full = s.peek(seg.path)!;
    s.poke(seg.path, full.subarray(0, full.length - 4));
    const lines: string[] = [];
    const seen: number[] = [];
    const r = await recoverWal(s, "db", {
      afterLsn: 2,
      sync: "always",
      logger: (l) => lines.push(l),
      onRecord: (x) => seen.push(x.lsn),
    });
    assert.deepEqual(seen, [3, 4, 5]);
    assert.equal(r.nextLsn, 6);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /torn/);
    assert.ok(lines[0].includes(seg.file));
    r.writer.append(rec(6, "new"));
    await r.writer.close();
    s.crash();
    const again = await recoverWal(s, "db", { afterLsn: 2, logger: (l) => lines.push(l) });
    assert.deepEqual(lsns(again.records), [3, 4, 5, 6]);
    assert.equal(lines.length, 1, "nothing left to cut");
    await again.writer.close();
  });

  it("an empty directory starts at LSN 1, or after the snapshot", async () => {
    const a = await recoverWal(new MemoryStorage(), "db");
    assert.equal(a.nextLsn, 1);
    await a.writer.close();
    const b = await recoverWal(new MemoryStorage(), "db", { afterLsn: 41 });
    assert.equal(b.nextLsn, 42);
    await b.writer.close();
  });
});

const realStorages: [string, () => Storage][] = [["node", () => new NodeStorage()]];
if (isDeno) realStorages.push(["deno", () => new DenoStorage()]);

for (const [name, make] of realStorages) {
  describe(`WalWriter and readWal on real files: ${name}`, () => {
    it("write, rotate, reopen, tear, recover", async () => {
      const dir = await mkdtemp(join(tmpdir(), "cyberdb-wal-"));
      try {
        const s = make();
        const w = await WalWriter.open(s, dir, { sync: "always", segmentBytes: 1024, lastLsn: 0 });
        for (let lsn = 1; lsn <= 300; lsn++) {
          w.append(rec(lsn, { n: lsn, bin: new Uint8Array([lsn & 0xff]), big: BigInt(lsn) << 40n }));
          if (lsn % 50 === 0) await w.durable();
        }
        await w.close();
        const fresh = make();
        const r = await readWal(fresh, dir);
        assert.deepEqual(lsns(r.records), range(1, 300));
        const value =
          (r.records[9] as unknown as { args: [string, string, { n: number; big: bigint; bin: Uint8Array }] }).args[2];
        assert.equal(value.n, 10);
        assert.equal(value.big, 10n << 40n);
        assert.deepEqual([...value.bin], [10]);
        assert.ok(r.segments.length > 5);
        // Tear the last record, as a crash mid-write would.
        const last = r.segments[r.segments.length - 1];
        const size = (await fresh.size(last.path))!;
        const f = await fresh.openAppend(last.path);
        await f.truncate(size - 2);
        await f.close();
        const torn = await readWal(fresh, dir);
        assert.equal(torn.cut?.torn, true);
        assert.equal(torn.lastLsn, 299);
        await applyCut(fresh, dir, torn.cut!);
        const w2 = await WalWriter.open(fresh, dir, { sync: "always", lastLsn: torn.lastLsn });
        w2.append(rec(300, "again"));
        await w2.close();
        const after = await readWal(make(), dir);
        assert.equal(after.cut, null);
        assert.deepEqual(lsns(after.records), range(1, 300));
        assert.deepEqual(after.records[299], rec(300, "again"));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
