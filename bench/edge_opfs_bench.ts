/**
 * The OPFS part of the edge benchmarks (issue 12): the database in a
 * browser's dedicated Worker, on `OpfsStorage`, against raw OPFS sync access
 * handle appends of the same bytes. Runs in the headless Chromium of the npm
 * package @sparticuz/chromium (fixtures/drive_chromium.ts, a Node child),
 * from any runtime:
 *
 *   node scripts/bench.mjs deno --file bench/edge_opfs_bench.ts
 *   BENCH_SCALE=0.2 deno run -A bench/edge_opfs_bench.ts          # smoke run
 *
 * Cases, in interleaved rounds inside one worker (bench/opfs_bench_worker.ts):
 *
 * - **64 writers**: `sync: "always"`, 64 concurrent writers each looping
 *   `d.set(key, i); await db.flush()` — group commit shares each flush.
 *   Anchor: the records' own bytes (read from that run's log once its clock
 *   stopped) appended to a raw sync handle, 64 records per write, one
 *   `flush()` per write. Target ≥ 0.8x. An info row runs the same case
 *   behind a tracing wrapper (the exact writes and flushes, and the time in
 *   them), against a replay of those steps.
 * - Info row (stop 19): the same case with `preallocate: 0`, appending to
 *   the log rather than overwriting the zeros it keeps written ahead.
 * - Info rows on the 64-writer case (stop 18): the same writers on
 *   MemoryStorage (the engine's own work, no I/O); the batched anchor plus
 *   that much CPU after each flush (the ceiling of any one-thread engine
 *   that needs that CPU per cycle); a prototype with the WAL's
 *   writes and flushes done by a nested Worker that owns the sync handle (the
 *   two-thread design, measured before building it into OpfsStorage); and 64
 *   awaiting writers over a minimal group commit on a raw handle, no
 *   database (what a closed loop of writers costs by itself).
 * - **1 writer**: set + await flush() per record, vs raw write + flush()
 *   per record; and the 64-writer run against that floor (what group
 *   commit buys).
 *
 * The ratio is the median over rounds of the per-round ratio; the rates are
 * medians.
 *
 * @module
 */
import process from "node:process";
import { formatRate, formatRatio, markdownTable, median, progress, runtimeInfo, verdict } from "./harness.ts";
import { bundleForBrowser, driveChromium, servePages } from "../tests/fixtures/chromium.ts";
import { tempDir } from "../tests/server_process.ts";

const TARGET = 0.8;
const scale = Number(process.env.BENCH_SCALE ?? "1") || 1;
const params = {
  writers: 64,
  perWriter: Math.max(5, Math.round(100 * scale)),
  single: Math.max(50, Math.round(500 * scale)),
  // 31, not 15: a flush's latency swings from round to round (per-round
  // ratios 0.5–1.7), and the median of 15 still moved by ±4% between runs.
  rounds: Math.max(3, Math.round(31 * Math.min(1, scale * 2))),
};

const PAGE = `<!doctype html><html><head><title>running</title></head><body><pre id="out">waiting</pre>
<script type="module">
const out = document.getElementById("out");
const w = new Worker("/worker.js", { type: "module" });
w.onmessage = (e) => { out.textContent = e.data.ok ? JSON.stringify(e.data.value) : "ERROR " + e.data.error; document.title = "done"; };
w.onerror = (e) => { out.textContent = "ERROR " + e.message; document.title = "done"; };
w.postMessage(${JSON.stringify(params)});
</script></body></html>`;

interface Output {
  rounds: Record<string, number>[];
  checks: Record<string, number>[];
  info: {
    dbFlushes: number[];
    dbWrites: number[];
    bytes: number;
    records: number;
    dbSyncMs: number[];
    dbWriteMs: number[];
    batchSyncMs: number[];
    ceilingCpuUs: number[];
    threadFlushes: number[];
    threadWaitMs: number[];
    threadFlushMs: number[];
  };
  userAgent: string;
}

progress(
  `OPFS bench: ${params.writers} writers × ${params.perWriter}, 1 writer × ${params.single}, ${params.rounds} rounds`,
);
const started = performance.now();
const work = await tempDir("cyberdb-opfs-bench-");
const pages = await servePages({
  "/": { html: PAGE },
  "/worker.js": { js: await bundleForBrowser("import './bench/opfs_bench_worker.ts';") },
});
let out: Output;
try {
  const { texts: [text], log } = await driveChromium(work.dir, [`${pages.origin}/`]);
  if (!text || text.startsWith("ERROR") || text === "waiting") {
    throw new Error(`The bench page failed: ${text}\n${log.join("\n")}`);
  }
  out = JSON.parse(text);
} finally {
  await pages.close();
  await work.remove();
}

// Same work: every case wrote the records it should.
const total = params.writers * params.perWriter;
for (const c of out.checks) {
  for (const [name, n] of Object.entries(c)) {
    const want = name === "single" || name === "rawSingle" ? params.single : total;
    if (n !== want) throw new Error(`Case ${name} wrote ${n} records, not ${want}: the contenders did different work.`);
  }
}

const rate = (name: string, n: number) => median(out.rounds.map((r) => n / (r[name] / 1000)));
const ratio = (mine: string, anchor: string) => median(out.rounds.map((r) => r[anchor] / r[mine]));
const spread = (name: string) => {
  const ms = out.rounds.map((r) => r[name]);
  return `${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)} ms`;
};

const label = `OPFS, sync "always", ${params.writers} writers × ${params.perWriter} (set + await flush())`;
const rows: string[][] = [];
const row = (
  what: string,
  mine: string,
  n: number,
  anchorName: string,
  anchor: string,
  nA: number,
  target?: number,
) => {
  const r = ratio(mine, anchor) * (n / nA) ** 0; // same record counts: time ratio = rate ratio
  rows.push([
    what,
    formatRate(rate(mine, n)),
    anchorName,
    formatRate(rate(anchor, nA)),
    formatRatio(r),
    target === undefined ? "—" : `≥ ${target}x`,
    target === undefined ? "info" : verdict(r, target),
    `${spread(mine)} / ${spread(anchor)}`,
  ]);
};
row(`${label}, durable writes/s`, "db", total, "raw handle, 64 records per write + flush()", "batch", total, TARGET);
row(
  `${label}, with preallocate: 0 (the log appends instead of overwriting zeros written ahead), durable writes/s`,
  "plain",
  total,
  "raw handle, 64 records per write + flush()",
  "batch",
  total,
);
row(
  `${label}, I/O in a nested Worker (prototype), durable writes/s`,
  "thread",
  total,
  "raw handle, 64 records per write + flush()",
  "batch",
  total,
);
row(
  `The db case on MemoryStorage in the same worker (no I/O: the engine's own work), durable writes/s`,
  "memory",
  total,
  "raw handle, 64 records per write + flush()",
  "batch",
  total,
);
row(
  `Ceiling of one thread: the batched anchor + the engine's own CPU time per cycle (a loop, after each flush)`,
  "ceiling",
  total,
  "raw handle, 64 records per write + flush()",
  "batch",
  total,
);
row(
  `No database: 64 awaiting writers, each handing a pre-encoded record to a minimal group commit on a raw handle`,
  "closed",
  total,
  "raw handle, 64 records per write + flush()",
  "batch",
  total,
);
row(
  `${label}, behind the bench's tracing wrapper (its writes and flushes recorded), durable writes/s`,
  "traced",
  total,
  "raw replay of that run's own writes + flushes",
  "replay",
  total,
);
row(
  `OpfsStorage alone: the batched anchor's steps through its StorageFile`,
  "adapter",
  total,
  "raw handle, 64 records per write + flush()",
  "batch",
  total,
);
// Different record counts: compare rates, not times.
const gain = median(out.rounds.map((r) => (total / r.db) / (params.single / r.rawSingle)));
rows.push([
  `${label}, durable writes/s`,
  formatRate(rate("db", total)),
  "raw handle, write + flush() per record",
  formatRate(rate("rawSingle", params.single)),
  formatRatio(gain),
  "—",
  "info",
  `${spread("db")} / ${spread("rawSingle")}`,
]);
row(
  `OPFS, sync "always", 1 writer × ${params.single} (set + await flush())`,
  "single",
  params.single,
  "raw handle, write + flush() per record",
  "rawSingle",
  params.single,
);

console.log(
  `\n## edge_opfs_bench — ${runtimeInfo().label} driving ${
    /Chrome\/[\d.]+/.exec(out.userAgent)?.[0] ?? out.userAgent
  } (headless, @sparticuz/chromium)\n`,
);
console.log(
  markdownTable(
    ["benchmark", "CyberDB", "anchor", "anchor", "ratio", "target", "result", "spread (mine / anchor)"],
    rows,
  ),
);
const flushes = median(out.info.dbFlushes);
const writes = median(out.info.dbWrites);
console.log(
  `\n- db runs: median ${flushes} flushes and ${writes} writes per run of ${total} records ` +
    `(${(total / flushes).toFixed(1)} records per flush), ${(out.info.bytes / out.info.records).toFixed(1)} B/record.`,
);
const cycle = (ms: number) => `${((ms / flushes) * 1000).toFixed(0)} µs`;
const dbMs = median(out.rounds.map((r) => r.db));
const tracedMs = median(out.rounds.map((r) => r.traced));
const batchMs = median(out.rounds.map((r) => r.batch));
console.log(
  `- time per flush cycle (medians): db ${cycle(dbMs)}; traced db ${cycle(tracedMs)} = flush() ${
    cycle(median(out.info.dbSyncMs))
  } + write() ${cycle(median(out.info.dbWriteMs))} + the rest ${
    cycle(tracedMs - median(out.info.dbSyncMs) - median(out.info.dbWriteMs))
  } (writers resuming, set + log encoding, promises); ` +
    `raw batched ${cycle(batchMs)} = flush() ${cycle(median(out.info.batchSyncMs))} + the rest ${
      cycle(batchMs - median(out.info.batchSyncMs))
    }.`,
);
const memMs = median(out.rounds.map((r) => r.memory));
console.log(
  `- the same 64 writers on MemoryStorage in the same worker (no I/O: the engine's own work): ${
    cycle(memMs)
  } per cycle of 64 records (${
    ((memMs / total) * 1000).toFixed(2)
  } µs per record); the batched anchor with that much ` +
    `CPU work after each flush (median ${median(out.info.ceilingCpuUs).toFixed(0)} µs): ${
      cycle(median(out.rounds.map((r) => r.ceiling)))
    } per cycle, against the db's ${cycle(dbMs)}.`,
);
const tFlushes = median(out.info.threadFlushes);
const tMs = median(out.rounds.map((r) => r.thread));
const tCycle = (ms: number) => `${((ms / tFlushes) * 1000).toFixed(0)} µs`;
console.log(
  `- I/O in a nested Worker (prototype): ${tFlushes} flushes per run (${
    (total / tFlushes).toFixed(1)
  } records per flush); ` +
    `per cycle ${tCycle(tMs)} = waiting for the I/O worker's answer ${tCycle(median(out.info.threadWaitMs))} ` +
    `(of which its flush() ${tCycle(median(out.info.threadFlushMs))}) + the engine's own work ${
      tCycle(tMs - median(out.info.threadWaitMs))
    }.`,
);
console.log(
  `- per-round ratios vs the batched anchor (I/O worker prototype): ${
    out.rounds.map((r) => (r.batch / r.thread).toFixed(2)).join(", ")
  }.`,
);
console.log(
  `- per-round ratios vs the batched anchor: ${out.rounds.map((r) => (r.batch / r.db).toFixed(2)).join(", ")}.`,
);
console.log(`- ${((performance.now() - started) / 1000).toFixed(1)} s including the Chromium start.\n`);
