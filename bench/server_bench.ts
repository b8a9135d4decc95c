/**
 * Server benchmark: 50 concurrent clients doing `set` and `get` of small
 * values, non-pipelined (1 call in flight per client) and pipelined (16 in
 * flight per client), against our server on Deno and on Bun over WebSocket
 * and HTTP, and against redis-server (Debian's) on the same machine driven
 * by ioredis with the same concurrency. Every figure: ops/s, p50/p99
 * latency, the server's CPU time per operation, and the ratio ours/Redis
 * of both measured in the same run, in interleaved rounds. Targets (issue
 * 14): WebSocket ≥ 1.0× Redis's ops/s, non-pipelined and pipelined; HTTP
 * non-pipelined ≥ 0.5×; server CPU per op ≤ 1.0× Redis's.
 *
 * Server CPU: utime + stime of the server's process from `/proc/<pid>/stat`
 * (in clock ticks, `getconf CLK_TCK`) read before and after each round,
 * divided by the operations of the round. Linux only: elsewhere the column
 * says n/a. The client runs in this process, so its CPU is not counted.
 *
 * ```sh
 * node scripts/bench.mjs --file bench/server_bench.ts      # Deno and Bun as the client runtime
 * BENCH_SCALE=0.3 deno run -A bench/server_bench.ts         # shorter rounds
 * ```
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { connect } from "../client.ts";
import { formatRate, formatRatio, freePort, printTable, progress, runtimeInfo, verdict } from "./harness.ts";

const CLIENTS = 50;
const PIPELINE = 16;
const SCALE = Number(process.env.BENCH_SCALE ?? 1) || 1;
const ROUND_MS = Math.max(300, Math.round(1500 * SCALE));
const ROUNDS = 2;
const KEYS = 1000;
const VALUE = "v".repeat(16);
const root = new URL("..", import.meta.url).pathname;

interface Target {
  name: string;
  /** The server's process id, for its CPU time. */
  pid: number;
  /** One connection's set/get. */
  open(): Promise<{ set(k: string): Promise<unknown>; get(k: string): Promise<unknown>; close(): Promise<unknown> }>;
}

interface Sample {
  ops: number;
  ms: number;
  lat: number[];
  /** Server CPU seconds (user + system) spent in the round; NaN where /proc is not there. */
  cpu: number;
}

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`; 100 on Linux in practice). */
const CLK_TCK = (() => {
  try {
    const n = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout);
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds (user + system) process `pid` has used, from `/proc/<pid>/stat`
 * (fields 14 and 15, counted after the `(comm)` field, which may hold
 * spaces); NaN where there is no /proc (not Linux).
 */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

function startProcess(
  cmd: string,
  args: string[],
  ready: RegExp,
): Promise<{ pid: number; out: () => string; stop(): Promise<void> }> {
  const child = spawn(cmd, args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (out += b));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out}`)), 30_000);
    const check = () => {
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({
          pid: child.pid!,
          out: () => out,
          stop: async () => {
            try {
              process.kill(child.pid!, "SIGTERM");
            } catch { /* gone */ }
            await exited;
          },
        });
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    exited.then(() => reject(new Error(`${cmd} exited:\n${out}`)));
  });
}

async function ourServer(runtime: "deno" | "bun") {
  const port = await freePort();
  const cmd = runtime === "deno"
    ? [`${root}node_modules/.bin/deno`, ["run", "-A", "server.ts"]]
    : [`${root}node_modules/.bin/bun`, ["run", "server.ts"]];
  const p = await startProcess(cmd[0] as string, [
    ...cmd[1] as string[],
    "--port",
    String(port),
    "--memory",
    "--password",
    "bench",
  ], /cyberdb listening/);
  return { port, pid: p.pid, stop: p.stop };
}

function ours(label: string, url: string, pid: number): Target {
  return {
    name: label,
    pid,
    async open() {
      const c = await connect(url, { password: "bench" });
      const d = await c.getDict("bench");
      return { set: (k) => d.set(k, VALUE), get: (k) => d.get(k), close: () => c.close() };
    },
  };
}

async function redisTarget(): Promise<{ target: Target; stop(): Promise<void> } | null> {
  const port = await freePort();
  let p;
  try {
    p = await startProcess("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ], /Ready to accept connections/);
  } catch (e) {
    progress(
      `redis-server could not start (${
        e instanceof Error ? e.message.split("\n")[0] : e
      }): apt-get install -y redis-server`,
    );
    return null;
  }
  const { Redis } = await import("ioredis");
  return {
    target: {
      name: "Redis (ioredis)",
      pid: p.pid,
      async open() {
        const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
        await r.connect();
        return { set: (k) => r.set(k, VALUE), get: (k) => r.get(k), close: () => r.quit() };
      },
    },
    stop: p.stop,
  };
}

/** One round: CLIENTS connections, `inflight` loops each, for ROUND_MS. */
async function round(
  target: Target,
  conns: Awaited<ReturnType<Target["open"]>>[],
  op: "set" | "get",
  inflight: number,
): Promise<Sample> {
  const lat: number[] = [];
  let ops = 0;
  const cpu0 = cpuSeconds(target.pid);
  const start = performance.now();
  const end = start + ROUND_MS;
  await Promise.all(conns.flatMap((c, ci) =>
    Array.from({ length: inflight }, async (_, li) => {
      let i = li;
      while (performance.now() < end) {
        const k = `k${ci}_${i++ % KEYS}`;
        const t = performance.now();
        await (op === "set" ? c.set(k) : c.get(k));
        lat.push(performance.now() - t);
        ops++;
      }
    })
  ));
  const ms = performance.now() - start;
  return { ops, ms, lat, cpu: cpuSeconds(target.pid) - cpu0 };
}

/** The 1/5/15-minute load averages, from /proc/loadavg (Linux), for the heading. */
function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

async function main() {
  const info = runtimeInfo();
  console.log(
    `# Server benchmark — client runtime ${info.label}; ${CLIENTS} clients, ${ROUND_MS} ms rounds × ${ROUNDS}; ` +
      `load ${loadAverage()}; CPU from /proc (CLK_TCK ${CLK_TCK})`,
  );
  const servers = { deno: await ourServer("deno"), bun: await ourServer("bun") };
  const redis = await redisTarget();
  const targets: Target[] = [
    ...(redis ? [redis.target] : []),
    ours("Deno server, WebSocket", `ws://127.0.0.1:${servers.deno.port}`, servers.deno.pid),
    ours("Deno server, HTTP", `http://127.0.0.1:${servers.deno.port}`, servers.deno.pid),
    ours("Bun server, WebSocket", `ws://127.0.0.1:${servers.bun.port}`, servers.bun.pid),
    ours("Bun server, HTTP", `http://127.0.0.1:${servers.bun.port}`, servers.bun.pid),
  ];
  try {
    // Create the dict once per server, and prefill keys for get.
    for (const port of [servers.deno.port, servers.bun.port]) {
      const c = await connect(`ws://127.0.0.1:${port}`, { password: "bench" });
      await c.createDict("bench");
      await c.close();
    }
    const conns = new Map<Target, Awaited<ReturnType<Target["open"]>>[]>();
    for (const t of targets) conns.set(t, await Promise.all(Array.from({ length: CLIENTS }, () => t.open())));
    const rows: string[][] = [];
    for (const [mode, inflight] of [["non-pipelined", 1], [`pipelined ×${PIPELINE}`, PIPELINE]] as const) {
      for (const op of ["set", "get"] as const) {
        const best = new Map<Target, Sample>();
        for (let r = 0; r < ROUNDS; r++) {
          // Interleaved: every contender once per round, so drift hits all alike.
          for (const t of targets) {
            const s = await round(t, conns.get(t)!, op, inflight);
            const prev = best.get(t);
            if (!prev || s.ops / s.ms > prev.ops / prev.ms) best.set(t, s);
          }
          progress(`${op} ${mode}: round ${r + 1}/${ROUNDS}`);
        }
        const anchor = redis ? best.get(redis.target)! : null;
        const anchorRate = anchor ? anchor.ops / anchor.ms * 1000 : NaN;
        const anchorCpu = anchor ? anchor.cpu / anchor.ops * 1e6 : NaN;
        for (const t of targets) {
          const s = best.get(t)!;
          const rate = s.ops / s.ms * 1000;
          const cpu = s.cpu / s.ops * 1e6;
          const sorted = s.lat.sort((a, b) => a - b);
          const ratio = rate / anchorRate;
          const cpuRatio = cpu / anchorCpu;
          // Issue 14: WebSocket ≥ 1.0x both ways, HTTP non-pipelined ≥ 0.5x; HTTP pipelined has no target.
          const target = t.name.includes("WebSocket") ? 1.0 : inflight === 1 ? 0.5 : NaN;
          const isAnchor = t === redis?.target;
          rows.push([
            `${op} ${mode}`,
            t.name,
            formatRate(rate),
            `${pct(sorted, 0.5).toFixed(2)} ms`,
            `${pct(sorted, 0.99).toFixed(2)} ms`,
            isAnchor ? "anchor" : Number.isNaN(ratio) ? "n/a" : formatRatio(ratio),
            isAnchor || Number.isNaN(target) || Number.isNaN(ratio) ? "" : verdict(ratio, target),
            Number.isNaN(cpu) ? "n/a" : `${cpu.toFixed(1)} µs`,
            isAnchor ? "anchor" : Number.isNaN(cpuRatio) ? "n/a" : formatRatio(cpuRatio),
            isAnchor || Number.isNaN(cpuRatio) ? "" : verdict(cpuRatio, 1.0, false),
          ]);
        }
      }
    }
    printTable(
      ["case", "server", "ops/s", "p50", "p99", "ours/Redis", "target", "server CPU/op", "CPU ours/Redis", "target"],
      rows,
      ["left", "left", "right", "right", "right", "right", "left", "right", "right", "left"],
    );
    for (const list of conns.values()) await Promise.all(list.map((c) => c.close()));
  } finally {
    await servers.deno.stop();
    await servers.bun.stop();
    await redis?.stop();
  }
}

await main();
