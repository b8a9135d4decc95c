/**
 * Deno KV benchmark (issue 12): a database on `DenoKvStorage` with
 * `sync: "always"`, W concurrent writers each looping
 * `d.set(...); await db.flush()`, in durable writes/s — against the anchor
 * of raw `kv.atomic()` commits of the very same batches: a tracing wrapper
 * records the bytes of every group commit the database made (the bytes
 * written to its log between two syncs), and the raw loop commits each
 * batch as new KV values (at most 64 KiB each, 11 per commit: the limits the
 * storage obeys too) in one `kv.atomic()` each. The ratio is what the
 * database costs on top of the KV commits themselves: the writers, the log
 * encoding, the tail-chunk rewrite, the inode size and the lease check
 * inside each commit, and the identity and lease reads beside it.
 *
 * Rows: 64 writers (group commit at work) and 1 writer (one commit per
 * write). Each run gets a fresh KV file on the temp disk; rounds interleave
 * the contenders (bench/harness.ts `compareAsync`).
 *
 * Run: `node scripts/bench.mjs deno --file bench/edge_kv_bench.ts` (adds
 * `--unstable-kv`), or `deno run -A --unstable-kv --v8-flags=--expose-gc
 * bench/edge_kv_bench.ts`. `BENCH_SCALE=0.1` shrinks it. Under Bun and Node
 * it says Deno KV needs Deno and exits 0.
 *
 * @module
 */
import { Database } from "../mod.ts";
import type { CyberDict } from "../mod.ts";
import { DenoKvStorage } from "../src/storage/deno_kv.ts";
import type { Storage, StorageFile, StorageLock } from "../src/storage/types.ts";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import {
  type AsyncCase,
  compareAsync,
  formatRate,
  formatRatio,
  pairedRatio,
  printTable,
  progress,
  type Result,
  runtimeInfo,
  sameChecksum,
  scaled,
} from "./harness.ts";

const CHUNK = 65_536;
const VALUES_PER_COMMIT = 11;

/** A Storage that passes everything to `inner` and records each log batch: the bytes written between two syncs. */
class TracingStorage implements Storage {
  readonly kind: Storage["kind"];
  batches: Uint8Array[] = [];
  tracing = false;
  #inner: Storage;
  constructor(inner: Storage) {
    this.#inner = inner;
    this.kind = inner.kind;
  }
  #wrap(path: string, file: StorageFile): StorageFile {
    if (!path.endsWith(".wal")) return file;
    let parts: Uint8Array[] = [];
    return {
      write: (data) => {
        if (this.tracing) parts.push(data.slice());
        return file.write(data);
      },
      sync: async () => {
        await file.sync();
        if (this.tracing && parts.length > 0) {
          const total = parts.reduce((n, p) => n + p.length, 0);
          const batch = new Uint8Array(total);
          let at = 0;
          for (const p of parts) {
            batch.set(p, at);
            at += p.length;
          }
          this.batches.push(batch);
        }
        parts = [];
      },
      truncate: (size) => file.truncate(size),
      size: () => file.size(),
      close: () => file.close(),
      identity: file.identity ? () => file.identity!() : undefined,
    };
  }
  mkdir(path: string): Promise<void> {
    return this.#inner.mkdir(path);
  }
  list(path: string): Promise<string[]> {
    return this.#inner.list(path);
  }
  read(path: string): Promise<Uint8Array | null> {
    return this.#inner.read(path);
  }
  size(path: string): Promise<number | null> {
    return this.#inner.size(path);
  }
  async openAppend(path: string): Promise<StorageFile> {
    return this.#wrap(path, await this.#inner.openAppend(path));
  }
  async create(path: string): Promise<StorageFile> {
    return this.#wrap(path, await this.#inner.create(path));
  }
  rename(from: string, to: string): Promise<void> {
    return this.#inner.rename(from, to);
  }
  remove(path: string): Promise<void> {
    return this.#inner.remove(path);
  }
  syncDir(path: string): Promise<void> {
    return this.#inner.syncDir(path);
  }
  identity(path: string): Promise<string | null> {
    return this.#inner.identity!(path);
  }
  lock(path: string): Promise<StorageLock> {
    return this.#inner.lock(path);
  }
  unrefTimer(timer: unknown): void {
    this.#inner.unrefTimer?.(timer);
  }
}

/** Frames in a log batch (`u32 length | u32 crc | payload` each): the records it holds. */
function frames(batch: Uint8Array): number {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  let n = 0;
  for (let at = 0; at + 8 <= batch.length; at += 8 + view.getUint32(at, true)) n++;
  return n;
}

interface DbRun {
  dir: string;
  storage: DenoKvStorage;
  tracer: TracingStorage;
  db: Database;
  d: CyberDict<number>;
  keep: boolean;
}
interface RawRun {
  dir: string;
  kv: Deno.Kv;
  batches: Uint8Array[];
}

const tmp = () => mkdtempSync(join(os.tmpdir(), "cyberdb-kvbench-"));

async function section(writers: number, perWriter: number): Promise<[Result, Result, Uint8Array[]]> {
  let trace: Uint8Array[] = [];
  const keys = Array.from({ length: writers }, (_, w) => Array.from({ length: perWriter }, (_, i) => `w${w}:${i}`));
  const cases: AsyncCase<DbRun | RawRun>[] = [
    {
      name: `database on DenoKvStorage, ${writers} writer(s)`,
      ops: writers * perWriter,
      setup: async () => {
        const dir = tmp();
        const storage = new DenoKvStorage({ path: join(dir, "db.kv") });
        const tracer = new TracingStorage(storage);
        const db = await Database.open({ dir: "db", storage: tracer, sync: "always" });
        const d = db.createDict<number>("d");
        d.set("warm", 0);
        await db.flush(); // the segment exists before the timed part
        tracer.tracing = true;
        return { dir, storage, tracer, db, d, keep: true };
      },
      run: async (state) => {
        const s = state as DbRun;
        const writer = async (w: number) => {
          for (let i = 0; i < perWriter; i++) {
            s.d.set(keys[w][i], i);
            await s.db.flush();
          }
        };
        await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
        return s.d.size - 1;
      },
      teardown: async (state) => {
        const s = state as DbRun;
        s.tracer.tracing = false;
        trace = s.tracer.batches;
        await s.db.close();
        s.storage.close();
        rmSync(s.dir, { recursive: true, force: true });
      },
    },
    {
      name: `raw kv.atomic() of the same ${writers === 1 ? "commits" : "batches"}`,
      ops: writers * perWriter,
      setup: async () => {
        const dir = tmp();
        return { dir, kv: await Deno.openKv(join(dir, "raw.kv")), batches: trace };
      },
      run: async (state) => {
        const s = state as RawRun;
        let records = 0;
        for (const [b, batch] of s.batches.entries()) {
          // New values only (an append): the cheapest way to make these bytes durable in KV.
          for (let at = 0, v = 0; at < batch.length || at === 0; v += VALUES_PER_COMMIT) {
            const op = s.kv.atomic();
            for (let k = 0; k < VALUES_PER_COMMIT && at < batch.length; k++, at += CHUNK) {
              op.set(["raw", b, v + k], batch.subarray(at, at + CHUNK));
            }
            if (!(await op.commit()).ok) throw new Error("A raw commit failed.");
            if (at >= batch.length) break;
          }
          records += frames(batch);
        }
        return records;
      },
      teardown: (state) => {
        const s = state as RawRun;
        s.kv.close();
        rmSync(s.dir, { recursive: true, force: true });
      },
    },
  ];
  // The raw case replays the trace of the latest database run (the warm-up
  // runs the database first, so there is always one).
  const [mine, anchor] = await compareAsync(cases, { warmup: 1, rounds: 5 });
  sameChecksum(mine, anchor);
  return [mine, anchor, trace];
}

if (runtimeInfo().name !== "deno") {
  console.log(`edge_kv_bench: Deno KV (Deno.openKv) needs Deno; nothing to measure under ${runtimeInfo().label}.`);
} else if (typeof (Deno as { openKv?: unknown }).openKv !== "function") {
  console.error("edge_kv_bench: run Deno with --unstable-kv (node scripts/bench.mjs deno adds it).");
  Deno.exit(2);
} else {
  console.log(`# edge_kv_bench — ${runtimeInfo().label}\n`);
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const [writers, perWriter] of [[64, scaled(200, 5)], [1, scaled(1000, 50)]]) {
    progress(`${writers} writer(s) × ${perWriter}`);
    const [mine, anchor, trace] = await section(writers, perWriter);
    const bytes = trace.reduce((n, b) => n + b.length, 0);
    rows.push([
      `sync "always", ${writers} writer(s) × ${perWriter} (set + await flush())`,
      formatRate(mine.opsPerSec),
      formatRate(anchor.opsPerSec),
      formatRatio(pairedRatio(mine, anchor)),
      `${trace.length}`,
      `${(writers * perWriter / trace.length).toFixed(1)}`,
      `${(bytes / trace.length).toFixed(0)} B`,
    ]);
    notes.push(
      `${writers} writer(s): ms per run ${mine.samples.map((x) => x.toFixed(0)).join(" ")} (database) vs ${
        anchor.samples.map((x) => x.toFixed(0)).join(" ")
      } (raw)`,
    );
  }
  printTable(
    ["benchmark", "database writes/s", "raw kv.atomic() writes/s", "ratio", "commits", "writes/commit", "bytes/commit"],
    rows,
  );
  for (const n of notes) console.log(`- ${n}`);
}
