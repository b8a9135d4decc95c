/**
 * Frame coalescing on the plain server (issue 12 item 5): the WebSocket
 * client sends the calls made in one tick as one array frame to a server
 * whose hello says `pipeline: true`; `connect(url, { coalesce: false })`
 * sends every call as a frame of its own, as the client did before. This
 * bench measures both against the same server in the same run:
 *
 * - **unpipelined**: 50 clients, each awaiting every call before the next
 *   (one call in flight per client, so one call per tick: coalescing has
 *   nothing to join and must cost nothing);
 * - **burst ×16**: 50 clients, each firing 16 calls at once
 *   (`Promise.all`, all in one tick) and awaiting them all before the next
 *   16: the pattern coalescing is for.
 *
 * `dict.set` and `dict.get` of 16-byte values, against our server on Deno
 * and on Bun (`--memory`). The figure is ops/s with coalescing on over ops/s
 * with it off: the median of the per-round ratios (each round runs both,
 * order alternating), with the range of the rounds. A column counts the
 * frames the clients sent per call, so the run shows the coalescing took
 * place.
 *
 * ```sh
 * node scripts/bench.mjs --file bench/coalesce_bench.ts          # Deno and Bun as the client runtime
 * BENCH_SCALE=0.3 deno run -A bench/coalesce_bench.ts             # shorter rounds
 * BENCH_ONLY=unpipelined COALESCE_ROUNDS=11 deno run -A bench/coalesce_bench.ts
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import process from "node:process";
import { connect, type WebSocketConstructor } from "../client.ts";
import { formatRate, formatRatio, freePort, median, printTable, progress, runtimeInfo } from "./harness.ts";

const CLIENTS = 50;
const BURST = 16;
const SCALE = Number(process.env.BENCH_SCALE ?? 1) || 1;
const ROUND_MS = Math.max(300, Math.round(1500 * SCALE));
const ROUNDS = Number(process.env.COALESCE_ROUNDS ?? 9) || 9;
/** BENCH_ONLY=unpipelined or burst: one of the two cases. */
const ONLY = (process.env.BENCH_ONLY ?? "").split(",").map((x) => x.trim()).filter(Boolean);
const KEYS = 1000;
const VALUE = "v".repeat(16);
const PASSWORD = "bench";
const root = new URL("..", import.meta.url).pathname;

/** Our server (`--memory`) as a process on a free port, stopped by its pid. */
async function ourServer(runtime: "deno" | "bun"): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const [cmd, pre] = runtime === "deno"
    ? [`${root}node_modules/.bin/deno`, ["run", "-A", "--no-lock", "server.ts"]]
    : [`${root}node_modules/.bin/bun`, ["run", "server.ts"]];
  const child = spawn(cmd, [...pre, "--port", String(port), "--memory", "--password", PASSWORD], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out.slice(-2000)}`)), 30_000);
    const check = (b: unknown) => {
      if (out.length < 100_000) out += b;
      if (/cyberdb listening/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    exited.then(() => reject(new Error(`${cmd} exited:\n${out.slice(-2000)}`)));
  });
  return {
    port,
    stop: async () => {
      try {
        process.kill(child.pid!, "SIGTERM");
      } catch { /* gone */ }
      await exited;
    },
  };
}

/** The runtime's WebSocket, counting the frames every client of this process sends. */
let framesSent = 0;
async function countingWebSocket(): Promise<WebSocketConstructor> {
  const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const Base = g ?? (await import("ws")).WebSocket as unknown as WebSocketConstructor;
  return class extends (Base as unknown as new (...a: unknown[]) => { send(d: unknown): void }) {
    override send(data: unknown): void {
      framesSent++;
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

interface Conn {
  set(k: string): Promise<unknown>;
  get(k: string): Promise<unknown>;
  close(): Promise<unknown>;
}

interface Target {
  server: string;
  coalesce: boolean;
  conns: Conn[];
}

interface Sample {
  ops: number;
  ms: number;
  frames: number;
  lat: number[];
}

/**
 * One round: every client runs its loop for ROUND_MS; `burst` calls per
 * step, all made in one tick, the next step once all are answered.
 */
async function round(t: Target, op: "set" | "get", burst: number): Promise<Sample> {
  const lat: number[] = [];
  let ops = 0;
  const frames0 = framesSent;
  const start = performance.now();
  const end = start + ROUND_MS;
  await Promise.all(t.conns.map(async (c, ci) => {
    let i = 0;
    while (performance.now() < end) {
      const t0 = performance.now();
      if (burst === 1) {
        const k = `k${ci}_${i++ % KEYS}`;
        await (op === "set" ? c.set(k) : c.get(k));
      } else {
        const calls: Promise<unknown>[] = [];
        for (let j = 0; j < burst; j++) {
          const k = `k${ci}_${i++ % KEYS}`;
          calls.push(op === "set" ? c.set(k) : c.get(k));
        }
        await Promise.all(calls);
      }
      lat.push(performance.now() - t0);
      ops += burst;
    }
  }));
  return { ops, ms: performance.now() - start, frames: framesSent - frames0, lat };
}

function pct(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

async function openConns(port: number, coalesce: boolean, WebSocket: WebSocketConstructor): Promise<Conn[]> {
  return await Promise.all(Array.from({ length: CLIENTS }, async () => {
    const c = await connect(`ws://127.0.0.1:${port}`, { password: PASSWORD, WebSocket, coalesce });
    const d = await c.getDict("bench");
    return { set: (k: string) => d.set(k, VALUE), get: (k: string) => d.get(k), close: () => c.close() };
  }));
}

async function main(): Promise<void> {
  const info = runtimeInfo();
  const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(
    `# coalesce_bench — client runtime ${info.label}; ${CLIENTS} clients, ${ROUND_MS} ms rounds × ${ROUNDS}; ` +
      `load average at start ${load()}`,
  );
  const WebSocket = await countingWebSocket();
  const servers: { name: string; port: number; stop(): Promise<void> }[] = [];
  const targets: Target[] = [];
  try {
    for (const rt of ["deno", "bun"] as const) {
      const s = await ourServer(rt);
      const name = rt === "deno" ? "Deno server" : "Bun server";
      servers.push({ name, ...s });
      const admin = await connect(`ws://127.0.0.1:${s.port}`, { password: PASSWORD });
      const d = await admin.createDict("bench");
      // Every key a get asks for exists.
      for (let ci = 0; ci < CLIENTS; ci++) {
        await Promise.all(Array.from({ length: KEYS }, (_, i) => d.set(`k${ci}_${i}`, VALUE)));
      }
      await admin.close();
      for (const coalesce of [false, true]) {
        targets.push({ server: name, coalesce, conns: await openConns(s.port, coalesce, WebSocket) });
      }
    }
    const rows: string[][] = [];
    const modes = ([["unpipelined", 1], [`burst ×${BURST}`, BURST]] as const).filter(([m]) =>
      ONLY.length === 0 || ONLY.includes(m.split(" ")[0])
    );
    for (const [mode, burst] of modes) {
      for (const op of ["set", "get"] as const) {
        for (const server of servers) {
          const off = targets.find((t) => t.server === server.name && !t.coalesce)!;
          const on = targets.find((t) => t.server === server.name && t.coalesce)!;
          await round(off, op, burst); // warm-up
          await round(on, op, burst);
          const samples = new Map<Target, Sample[]>([[off, []], [on, []]]);
          for (let r = 0; r < ROUNDS; r++) {
            for (const t of r % 2 === 0 ? [off, on] : [on, off]) samples.get(t)!.push(await round(t, op, burst));
          }
          progress(`${op} ${mode}, ${server.name}: ${ROUNDS} rounds`);
          const rate = (s: Sample) => s.ops / s.ms * 1000;
          const ratios = samples.get(on)!.map((s, i) => rate(s) / rate(samples.get(off)![i]));
          for (const t of [off, on]) {
            const ss = samples.get(t)!;
            const lat = ss.flatMap((s) => s.lat).sort((a, b) => a - b);
            const frames = ss.reduce((n, s) => n + s.frames, 0) / ss.reduce((n, s) => n + s.ops, 0);
            rows.push([
              `${op} ${mode}`,
              server.name,
              t.coalesce ? "on" : "off",
              formatRate(median(ss.map(rate))),
              `${pct(lat, 0.5).toFixed(2)} ms`,
              `${pct(lat, 0.99).toFixed(2)} ms`,
              frames.toFixed(3),
              t.coalesce
                ? `${formatRatio(median(ratios))} (${formatRatio(Math.min(...ratios))}–${
                  formatRatio(Math.max(...ratios))
                })`
                : "anchor",
            ]);
          }
        }
      }
    }
    console.log(
      `\n(latency: per call unpipelined, per burst of ${BURST} in the burst rows; load at the end ${load()})`,
    );
    printTable(
      ["case", "server", "coalescing", "ops/s", "p50", "p99", "frames/call", "on/off (range)"],
      rows,
      ["left", "left", "left", "right", "right", "right", "right", "right"],
    );
    for (const t of targets) await Promise.all(t.conns.map((c) => c.close()));
  } finally {
    for (const s of servers) await s.stop();
  }
}

await main();
