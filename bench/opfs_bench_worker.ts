// The dedicated Worker of bench/edge_opfs_bench.ts (bundled for Chromium by
// it; not a bench of its own). On `{ writers, perWriter, single, rounds }`
// it measures, in interleaved rounds after one warm-up round:
//
//   db     64 writers, each `d.set(key, i); await db.flush()` in a loop, on a
//          database with sync: "always" over OpfsStorage: group commit
//   plain  the db case with `preallocate: 0` (the log appends instead of
//          overwriting zeros written ahead)
//   batch  the same records' bytes (taken from the db run's own log) appended
//          to a raw sync access handle, 64 records per write, one flush()
//          per write: the ideal one-flush-per-batch the target is set against
//   adapter  the batched steps through OpfsStorage's StorageFile: the adapter's own cost
//   memory the db case on MemoryStorage: the engine's own work per cycle, without I/O
//   ceiling the batched anchor plus, after each flush, a CPU loop as long as
//          the memory case's time per cycle: what one thread doing both needs
//   thread the db case with the WAL's I/O in a nested Worker (a prototype, below)
//   closed 64 awaiting writers over a minimal group commit on a raw handle, no database
//   replay the db run's exact writes and flushes, replayed on a raw handle
//   single / rawSingle  1 writer, set + await flush() each, vs raw
//          write + flush() per record (the floor group commit lifts)
//
// and posts `{ rounds: [{ case: ms }...], records, bytes, flushes, writes }`.
import { Database } from "../src/api/database.ts";
import { OpfsStorage } from "../src/storage/opfs.ts";
import { MemoryStorage } from "../src/storage/memory.ts";
import { concatBytes } from "../src/wire/codec.ts";
import type { CreateOptions, Storage, StorageFile, StorageLock } from "../src/storage/types.ts";

interface SyncHandle {
  write(b: Uint8Array, o: { at: number }): number;
  flush(): void;
  close(): void;
  truncate(n: number): void;
}
interface Dir {
  getDirectoryHandle(n: string, o?: { create?: boolean }): Promise<Dir>;
  getFileHandle(n: string, o?: { create?: boolean }): Promise<{ createSyncAccessHandle(): Promise<SyncHandle> }>;
  removeEntry(n: string, o?: { recursive?: boolean }): Promise<void>;
}
const opfsRoot = () =>
  (globalThis as unknown as { navigator: { storage: { getDirectory(): Promise<Dir> } } }).navigator.storage
    .getDirectory();

/** One step of the traced log I/O: bytes written, or a flush (null). */
type Step = Uint8Array | null;

/** Records the WAL segment's writes and flushes of a database, while `tracing`. */
class TracingStorage implements Storage {
  readonly kind = "opfs" as const;
  tracing = false;
  steps: Step[] = [];
  /** Time spent inside the wrapped files' write() and sync() while tracing, ms. */
  writeMs = 0;
  syncMs = 0;
  #inner: Storage;
  constructor(inner: Storage) {
    this.#inner = inner;
  }
  #wrap(file: StorageFile, path: string): StorageFile {
    const wal = path.includes("/wal/");
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      async write(data) {
        if (!(wal && self.tracing)) return await file.write(data);
        self.steps.push(data.slice());
        const t = performance.now();
        await file.write(data);
        self.writeMs += performance.now() - t;
      },
      async sync() {
        if (!(wal && self.tracing)) return await file.sync();
        self.steps.push(null);
        const t = performance.now();
        await file.sync();
        self.syncMs += performance.now() - t;
      },
      truncate: (n) => file.truncate(n),
      size: () => file.size(),
      close: () => file.close(),
      identity: () => file.identity!(),
    };
  }
  mkdir(p: string) {
    return this.#inner.mkdir(p);
  }
  list(p: string) {
    return this.#inner.list(p);
  }
  read(p: string) {
    return this.#inner.read(p);
  }
  size(p: string) {
    return this.#inner.size(p);
  }
  identity(p: string) {
    return this.#inner.identity!(p);
  }
  async openAppend(p: string) {
    return this.#wrap(await this.#inner.openAppend(p), p);
  }
  async create(p: string, options?: CreateOptions) {
    return this.#wrap(await this.#inner.create(p, options), p);
  }
  rename(a: string, b: string) {
    return this.#inner.rename(a, b);
  }
  remove(p: string) {
    return this.#inner.remove(p);
  }
  syncDir(p: string) {
    return this.#inner.syncDir(p);
  }
  lock(p: string): Promise<StorageLock> {
    return this.#inner.lock(p);
  }
}

/** The WAL frames in `bytes` (`u32 length | u32 crc | payload`, little-endian), as separate arrays. */
function frames(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const length = view.getUint32(at, true);
    if (length === 0) break; // zeros written ahead (preallocate): the end of the records
    const end = at + 8 + length;
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

// ---- prototype: the WAL's writes and flushes done by a nested Worker --------
// Measures the two-thread design before building it into OpfsStorage: the
// segment's write() posts its bytes (transferred) to a second worker that
// owns a sync handle on a file of its own, and sync() waits for that
// worker's flush. Everything else goes through OpfsStorage as usual.

const IO_SOURCE = `
const files = new Map();
onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.op === "open") {
      let d = await navigator.storage.getDirectory();
      for (const p of m.dir) d = await d.getDirectoryHandle(p, { create: true });
      const h = await (await d.getFileHandle(m.name, { create: true })).createSyncAccessHandle();
      h.truncate(0);
      files.set(m.id, { h, at: 0, error: null });
      postMessage({ seq: m.seq });
    } else if (m.op === "write") {
      const f = files.get(m.id);
      if (f.error === null) {
        try { f.at += f.h.write(new Uint8Array(m.bytes), { at: f.at }); } catch (err) { f.error = String(err); }
      }
    } else if (m.op === "flush") {
      const f = files.get(m.id);
      const t = performance.now();
      if (f.error === null) f.h.flush();
      postMessage({ seq: m.seq, error: f.error, ms: performance.now() - t });
    } else if (m.op === "close") {
      files.get(m.id).h.close();
      files.delete(m.id);
      postMessage({ seq: m.seq });
    }
  } catch (err) {
    postMessage({ seq: m.seq, error: String(err) });
  }
};`;

class IoThread {
  #worker: { postMessage(m: unknown, t?: unknown[]): void; terminate(): void };
  #seq = 0;
  #pending = new Map<number, { resolve(v: { ms?: number }): void; reject(e: unknown): void }>();
  constructor() {
    const g = globalThis as unknown as {
      Worker: new (u: string) => IoThread["worker"];
      URL: { createObjectURL(b: unknown): string };
      Blob: new (parts: string[], o: { type: string }) => unknown;
    };
    this.#worker = new g.Worker(g.URL.createObjectURL(new g.Blob([IO_SOURCE], { type: "text/javascript" })));
    (this.#worker as unknown as { onmessage: (e: { data: { seq: number; error?: string; ms?: number } }) => void })
      .onmessage = (e) => {
        const p = this.#pending.get(e.data.seq)!;
        this.#pending.delete(e.data.seq);
        if (e.data.error) p.reject(new Error(e.data.error));
        else p.resolve(e.data);
      };
  }
  get worker() {
    return this.#worker;
  }
  call(m: Record<string, unknown>, transfer?: unknown[]): Promise<{ ms?: number }> {
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      this.#worker.postMessage({ ...m, seq }, transfer);
    });
  }
  post(m: Record<string, unknown>, transfer?: unknown[]): void {
    this.#worker.postMessage(m, transfer);
  }
  close(): void {
    this.#worker.terminate();
  }
}

let remoteFiles = 0;

/** OpfsStorage, except that WAL segments live in the I/O worker's files. */
class TwoThreadStorage extends TracingStorage {
  io = new IoThread();
  /** While tracing: flushes, ms the engine waited for their answers, ms the I/O worker spent in flush(). */
  flushes = 0;
  waitMs = 0;
  flushMs = 0;
  override async create(p: string): Promise<StorageFile> {
    if (!p.includes("/wal/")) return await super.create(p);
    const id = ++remoteFiles;
    const parts = p.split("/");
    await this.io.call({ op: "open", id, dir: [BASE, "io"], name: `${id}-${parts[parts.length - 1]}` });
    let end = 0;
    const io = this.io;
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      write(data) {
        const copy = data.slice();
        end += copy.length;
        io.post({ op: "write", id, bytes: copy.buffer }, [copy.buffer]);
        return Promise.resolve();
      },
      async sync() {
        const t = performance.now();
        const r = await io.call({ op: "flush", id });
        if (self.tracing) {
          self.waitMs += performance.now() - t;
          self.flushMs += r.ms ?? 0;
          self.flushes++;
        }
      },
      truncate: () => Promise.reject(new Error("not in the prototype")),
      size: () => Promise.resolve(end),
      close: async () => {
        await io.call({ op: "close", id });
      },
      identity: () => Promise.resolve(`io:${p}`),
    };
  }
  override openAppend(p: string): Promise<StorageFile> {
    return this.create(p);
  }
  override identity(p: string) {
    return p.includes("/wal/") ? Promise.resolve(`io:${p}`) : super.identity(p);
  }
}

let runs = 0;
const BASE = "opfs-bench";

function fresh(): string {
  return `${BASE}/run-${++runs}`;
}

async function removeRun(path: string): Promise<void> {
  const base = await (await opfsRoot()).getDirectoryHandle(BASE, { create: true });
  await base.removeEntry(path.slice(BASE.length + 1), { recursive: true }).catch(() => {});
}

interface DbRun {
  ms: number;
  records: number;
  steps: Step[];
  writeMs: number;
  syncMs: number;
  /** For "thread": its flushes and timings. */
  io: { flushes?: number; waitMs?: number; flushMs?: number };
}

/**
 * 64 writers, each `d.set(key, i); await db.flush()` in a loop, on OpfsStorage,
 * on MemoryStorage (`"memory"`), with the WAL's I/O in a nested Worker
 * (`"thread"`, the prototype above), or on OpfsStorage behind the tracing
 * wrapper (`"traced"`: the exact writes and flushes, and the time inside
 * them). The timed `"opfs"` and `"memory"` cases run on the plain storage —
 * a wrapper's extra promise hops are the bench's cost, not the database's —
 * and take their records' bytes from the log itself, after the clock stops.
 */
async function dbRun(
  writers: number,
  perWriter: number,
  kind: "opfs" | "memory" | "thread" | "traced" = "opfs",
  preallocate?: number,
): Promise<DbRun> {
  const dir = fresh();
  const plain = kind === "memory" ? new MemoryStorage() : new OpfsStorage();
  const storage = kind === "thread"
    ? new TwoThreadStorage(new OpfsStorage())
    : kind === "traced"
    ? new TracingStorage(plain)
    : plain;
  const db = await Database.open({ dir, sync: "always", storage, snapshotInterval: 0, preallocate });
  const d = db.createDict("d");
  d.set("warm", 0);
  await db.flush(); // the segment exists before the timed part
  if (storage instanceof TracingStorage) storage.tracing = true;
  const keys = Array.from({ length: writers }, (_, w) => Array.from({ length: perWriter }, (_, i) => `w${w}:${i}`));
  const start = performance.now();
  const writer = async (w: number) => {
    for (let i = 0; i < perWriter; i++) {
      d.set(keys[w][i], i);
      await db.flush();
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  const ms = performance.now() - start;
  const records = d.size - 1;
  let steps: Step[];
  if (storage instanceof TracingStorage) {
    storage.tracing = false;
    steps = storage.steps;
  } else {
    steps = [await loggedRecords(storage, dir, records)];
  }
  await db.close();
  if (storage instanceof TwoThreadStorage) storage.io.close();
  await removeRun(dir);
  const traced = storage instanceof TracingStorage ? storage : { writeMs: 0, syncMs: 0 };
  return { ms, records, steps, writeMs: traced.writeMs, syncMs: traced.syncMs, io: storage as DbRun["io"] };
}

/** The last `records` frames of the log in `dir` (the timed part of a run), as one buffer. */
async function loggedRecords(storage: Storage, dir: string, records: number): Promise<Uint8Array> {
  const wal: Uint8Array[] = [];
  for (const name of (await storage.list(`${dir}/wal`)).sort()) {
    for (const f of frames((await storage.read(`${dir}/wal/${name}`))!)) wal.push(f);
  }
  return concatBytes(wal.slice(wal.length - records));
}

async function singleDb(n: number): Promise<{ ms: number; records: number }> {
  const dir = fresh();
  const db = await Database.open({ dir, sync: "always", storage: new OpfsStorage(), snapshotInterval: 0 });
  const d = db.createDict("d");
  d.set("warm", 0);
  await db.flush();
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    d.set(`s:${i}`, i);
    await db.flush();
  }
  const ms = performance.now() - start;
  const records = d.size - 1;
  await db.close();
  await removeRun(dir);
  return { ms, records };
}

/**
 * Burns about `us` µs of CPU with no clock in the loop (a worker's clock
 * moves in 100 µs steps): `spinPerUs` iterations per µs, calibrated once.
 */
let spinPerUs = 0;
let spinSink = 0;
function spinFor(us: number): void {
  let x = spinSink;
  for (let i = Math.round(us * spinPerUs); i > 0; i--) x = (x * 1103515245 + 12345) | 0;
  spinSink = x;
}
function calibrateSpin(): void {
  const n = 2_000_000;
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    spinPerUs = 1;
    const t = performance.now();
    spinFor(n);
    best = Math.min(best, performance.now() - t);
  }
  spinPerUs = n / (best * 1000);
}

/**
 * Appends `steps` to a fresh file through a raw sync access handle; a null
 * step is a flush. With `cpuUs`, each flush is followed by that much CPU
 * work (a loop): the anchor plus an engine's own time per cycle.
 */
async function raw(steps: Step[], cpuUs = 0): Promise<{ ms: number; records: number; syncMs: number }> {
  const dir = fresh();
  const parts = dir.split("/");
  let d = await opfsRoot();
  for (const p of parts) d = await d.getDirectoryHandle(p, { create: true });
  const h = await (await d.getFileHandle("raw.wal", { create: true })).createSyncAccessHandle();
  let at = 0;
  let syncMs = 0;
  // Counted before the clock starts: the anchor does nothing but its I/O.
  const records = steps.reduce((n, s) => n + (s === null ? 0 : frames(s).length), 0);
  const start = performance.now();
  for (const step of steps) {
    if (step === null) {
      const t = performance.now();
      h.flush();
      syncMs += performance.now() - t;
      if (cpuUs > 0) spinFor(cpuUs);
    } else {
      at += h.write(step, { at });
    }
  }
  const ms = performance.now() - start;
  h.close();
  await removeRun(dir);
  return { ms, records, syncMs };
}

/**
 * The floor of any closed loop like the db case's, without a database: 64
 * async writers each hand over a pre-encoded record and await a shared
 * promise; at the end of the task the records are joined, written and
 * flushed in one go (the least a group commit can do), then the promise
 * resolves. Its distance to the batched anchor is what 64 awaiting writers
 * cost by themselves.
 */
async function closedRaw(steps: Step[], writers: number): Promise<{ ms: number; records: number }> {
  const dir = fresh();
  let d = await opfsRoot();
  for (const p of dir.split("/")) d = await d.getDirectoryHandle(p, { create: true });
  const h = await (await d.getFileHandle("closed.wal", { create: true })).createSyncAccessHandle();
  const all = steps.flatMap((s) => (s === null ? [] : frames(s)));
  const perWriter = Math.ceil(all.length / writers);
  let at = 0;
  let pending: Uint8Array[] = [];
  let waiting: { promise: Promise<void>; resolve: () => void } | null = null;
  const commit = () => {
    const group = pending;
    const done = waiting!;
    pending = [];
    waiting = null;
    at += h.write(concatBytes(group), { at });
    h.flush();
    done.resolve();
  };
  const flush = (record: Uint8Array): Promise<void> => {
    pending.push(record);
    if (waiting === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      waiting = { promise, resolve };
      queueMicrotask(commit);
    }
    return waiting.promise;
  };
  let records = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let i = w * perWriter; i < Math.min(all.length, (w + 1) * perWriter); i++) {
      records++;
      await flush(all[i]);
    }
  }));
  const ms = performance.now() - start;
  h.close();
  await removeRun(dir);
  return { ms, records };
}

/** Replays `steps` through OpfsStorage's own StorageFile (write + sync): the adapter's cost without the engine. */
async function viaStorage(steps: Step[]): Promise<{ ms: number; records: number }> {
  const dir = fresh();
  const storage = new OpfsStorage();
  await storage.mkdir(dir);
  const file = await storage.create(`${dir}/adapter.wal`);
  const records = steps.reduce((n, s) => n + (s === null ? 0 : frames(s).length), 0);
  const start = performance.now();
  for (const step of steps) {
    if (step === null) await file.sync();
    else await file.write(step);
  }
  const ms = performance.now() - start;
  await file.close();
  await removeRun(dir);
  return { ms, records };
}

/** The records of `steps`, regrouped: `per` records per write, one flush after each. */
function batched(steps: Step[], per: number): Step[] {
  const all = steps.flatMap((s) => (s === null ? [] : frames(s)));
  const out: Step[] = [];
  for (let i = 0; i < all.length; i += per) {
    out.push(concatBytes(all.slice(i, i + per)), null);
  }
  return out;
}

interface Params {
  writers: number;
  perWriter: number;
  single: number;
  rounds: number;
}

async function bench(p: Params) {
  const rounds: Record<string, number>[] = [];
  const checks: Record<string, number>[] = [];
  /** The latest traced db run's writes and flushes, and the latest db run's records (one step). */
  let trace: Step[] = [];
  let records: Step[] = [];
  const info = {
    dbFlushes: [] as number[],
    dbWrites: [] as number[],
    bytes: 0,
    records: 0,
    /** Per round: ms inside flush() and write() of the db run, ms inside flush() of the batched raw run. */
    dbSyncMs: [] as number[],
    dbWriteMs: [] as number[],
    batchSyncMs: [] as number[],
    /** The two-thread prototype: flushes per run, ms the engine waited for them, ms the I/O worker spent in flush(). */
    /** Per round: µs of CPU the ceiling case spent per cycle (the MemoryStorage run's time per 64 records). */
    ceilingCpuUs: [] as number[],
    threadFlushes: [] as number[],
    threadWaitMs: [] as number[],
    threadFlushMs: [] as number[],
  };
  calibrateSpin();
  let memoryCycleUs = 0;
  for (let r = 0; r <= p.rounds; r++) {
    // Interleaved, and rotated each round so that no case always runs first.
    const order = [
      "db",
      "plain",
      "traced",
      "memory",
      "ceiling",
      "thread",
      "closed",
      "batch",
      "adapter",
      "replay",
      "single",
      "rawSingle",
    ];
    const rotated = [...order.slice(r % order.length), ...order.slice(0, r % order.length)];
    const ms: Record<string, number> = {};
    const recs: Record<string, number> = {};
    for (const c of rotated) {
      if (c === "db") {
        const run = await dbRun(p.writers, p.perWriter);
        ms.db = run.ms;
        recs.db = run.records;
        records = run.steps;
      } else if (c === "plain") {
        const run = await dbRun(p.writers, p.perWriter, "opfs", 0);
        ms.plain = run.ms;
        recs.plain = run.records;
      } else if (c === "traced") {
        const run = await dbRun(p.writers, p.perWriter, "traced");
        ms.traced = run.ms;
        recs.traced = run.records;
        trace = run.steps;
        info.dbFlushes.push(trace.filter((s) => s === null).length);
        info.dbWrites.push(trace.filter((s) => s !== null).length);
        info.dbSyncMs.push(run.syncMs);
        info.dbWriteMs.push(run.writeMs);
        info.bytes = trace.reduce((n, s) => n + (s?.length ?? 0), 0);
        info.records = run.records;
      } else if (c === "memory") {
        const run = await dbRun(p.writers, p.perWriter, "memory");
        ms.memory = run.ms;
        recs.memory = run.records;
        memoryCycleUs = (run.ms * 1000) / p.perWriter; // one cycle per 64 records
      } else if (c === "ceiling") {
        // The batched anchor plus the engine's own time per cycle (from the
        // latest MemoryStorage run), one after the other, as one thread must.
        if (memoryCycleUs === 0) {
          memoryCycleUs = ((await dbRun(p.writers, p.perWriter, "memory")).ms * 1000) / p.perWriter;
        }
        if (records.length === 0) records = (await dbRun(p.writers, p.perWriter)).steps;
        const run = await raw(batched(records, p.writers), memoryCycleUs);
        ms.ceiling = run.ms;
        recs.ceiling = run.records;
        info.ceilingCpuUs.push(memoryCycleUs);
      } else if (c === "thread") {
        const run = await dbRun(p.writers, p.perWriter, "thread");
        ms.thread = run.ms;
        recs.thread = run.records;
        info.threadFlushes.push(run.io.flushes!);
        info.threadWaitMs.push(run.io.waitMs!);
        info.threadFlushMs.push(run.io.flushMs!);
      } else if (c === "single") {
        const run = await singleDb(p.single);
        ms.single = run.ms;
        recs.single = run.records;
      } else {
        // The raw cases write the latest db run's records (from this round or
        // the one before); "replay" repeats the latest traced run's steps.
        if (records.length === 0) records = (await dbRun(p.writers, p.perWriter)).steps;
        if (c === "replay" && trace.length === 0) trace = (await dbRun(p.writers, p.perWriter, "traced")).steps;
        const steps = c === "batch" || c === "adapter"
          ? batched(records, p.writers)
          : c === "replay"
          ? trace
          : frames(records[0]!).slice(0, p.single).flatMap((f) => [f, null]);
        if (c === "closed") {
          const run = await closedRaw(records, p.writers);
          ms[c] = run.ms;
          recs[c] = run.records;
          continue;
        }
        if (c === "adapter") {
          const run = await viaStorage(steps);
          ms[c] = run.ms;
          recs[c] = run.records;
          continue;
        }
        const run = await raw(steps);
        if (c === "batch") info.batchSyncMs.push(run.syncMs);
        ms[c] = run.ms;
        recs[c] = run.records;
      }
    }
    if (r > 0) {
      rounds.push(ms);
      checks.push(recs);
    }
  }
  return {
    rounds,
    checks,
    info,
    userAgent: (globalThis as unknown as { navigator: { userAgent: string } }).navigator.userAgent,
  };
}

(globalThis as unknown as { onmessage: (e: { data: Params }) => void }).onmessage = async (e) => {
  const post = (m: unknown) => (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(m);
  try {
    const root = await opfsRoot();
    await root.removeEntry(BASE, { recursive: true }).catch(() => {});
    post({ ok: true, value: await bench(e.data) });
  } catch (err) {
    post({ ok: false, error: String((err as Error)?.stack ?? err) });
  }
};
