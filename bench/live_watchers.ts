/**
 * A child process of `live_bench.ts`: opens some of the fan-out's watchers
 * (our `client.watch` over WebSocket, or ioredis `SUBSCRIBE`), records the
 * delivery latency of every message it receives, and answers the parent on
 * stdin/stdout. Not a bench of its own (its name does not end in
 * `_bench.ts`, so `scripts/bench.mjs` does not run it).
 *
 * Every message carries its writer's timestamp (`performance.timeOrigin +
 * performance.now()`, ms since the epoch with sub-ms digits): every process
 * of the bench runs on this machine, so one clock serves all, and the
 * latency is this process's clock at receipt minus the value.
 *
 * ```
 * env  LW_KIND=ours LW_URL=ws://127.0.0.1:PORT LW_PASSWORD=bench LW_NAME=live LW_COUNT=250
 *      LW_KIND=redis LW_PORT=PORT LW_NAME=live LW_COUNT=250
 * stdout  "ready"                          once every watcher is subscribed
 * stdin   "reset\n"  → stdout "reset"      zero the counters (a round starts)
 * stdin   "report\n" → stdout one JSON     { count, hist, errors, cpuMs } since the reset
 * stdin   "quit\n"                         close every connection and exit
 * ```
 *
 * Latencies go into a log histogram (2% wide buckets from 10 µs), so a
 * round of millions of messages costs a few kilobytes to hand over.
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { connect } from "../client.ts";

const kind = process.env.LW_KIND;
const count = Number(process.env.LW_COUNT ?? 0);
const name = process.env.LW_NAME ?? "live";

/** Histogram buckets: bucket b holds latencies in [10 µs × 1.02^b, 10 µs × 1.02^(b+1)). */
const HIST_BASE_MS = 0.01;
const HIST_GROWTH = 1.02;
const BUCKETS = 1000; // 10 µs × 1.02^1000 ≈ 4 000 s: everything fits
const LOG_GROWTH = Math.log(HIST_GROWTH);

let hist = new Float64Array(BUCKETS);
let received = 0;
let errors: string[] = [];

function clock(): number {
  return performance.timeOrigin + performance.now();
}

function record(sentAt: number): void {
  const lat = clock() - sentAt;
  received++;
  const b = lat <= HIST_BASE_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(lat / HIST_BASE_MS) / LOG_GROWTH));
  hist[b]++;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const closers: (() => Promise<unknown>)[] = [];

async function openOurs(): Promise<void> {
  const url = process.env.LW_URL!;
  const password = process.env.LW_PASSWORD;
  const opened = Array.from({ length: count }, async () => {
    const client = await connect(url, password ? { password } : {});
    const changes = client.watch({ collections: [name] });
    await changes.ready();
    closers.push(async () => {
      await changes.return();
      await client.close();
    });
    (async () => {
      try {
        for await (const batch of changes) {
          for (const c of batch) {
            if (c.kind === "dict" && c.type === "set" && typeof c.value === "number") record(c.value);
          }
        }
      } catch (e) {
        if (errors.length < 20) errors.push(e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : String(e));
      }
    })();
  });
  await Promise.all(opened);
}

async function openRedis(): Promise<void> {
  const { Redis } = await import("ioredis");
  const port = Number(process.env.LW_PORT);
  const opened = Array.from({ length: count }, async () => {
    const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
    await r.connect();
    // PUBLISH: the message is the timestamp; keyevent: the message is the key, which ends with it.
    r.on("message", (_channel: string, message: string) => record(Number(message.slice(message.lastIndexOf(":") + 1))));
    r.on("error", (e: Error) => {
      if (errors.length < 20) errors.push(`${e.name}: ${e.message.slice(0, 200)}`);
    });
    await r.subscribe(name);
    closers.push(() => r.quit().catch(() => {}));
  });
  await Promise.all(opened);
}

let cpuAtReset = cpuMs();
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const cmd = line.trim();
  if (cmd === "reset") {
    hist = new Float64Array(BUCKETS);
    received = 0;
    errors = [];
    cpuAtReset = cpuMs();
    console.log("reset");
  } else if (cmd === "report") {
    const buckets: [number, number][] = [];
    for (let b = 0; b < BUCKETS; b++) if (hist[b] > 0) buckets.push([b, hist[b]]);
    console.log(JSON.stringify({ count: received, hist: buckets, errors, cpuMs: cpuMs() - cpuAtReset }));
  } else if (cmd === "quit") {
    await Promise.all(closers.map((c) => c().catch(() => {})));
    process.exit(0);
  }
});

try {
  if (kind === "ours") await openOurs();
  else if (kind === "redis") await openRedis();
  else throw new Error(`LW_KIND ${JSON.stringify(kind)} is neither "ours" nor "redis"`);
  console.log("ready");
} catch (e) {
  console.error(`live_watchers: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
}
