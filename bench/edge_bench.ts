/**
 * Edge benchmarks (issue 12), one section per edge:
 *
 * - `cloudflare`: a CyberDBObject in workerd (the npm binary, the runtime
 *   Cloudflare runs; Durable Object storage on SQLite in a temp directory)
 *   behind the project's own Worker, over a WebSocket, `sync: "always"`;
 *   one client keeps 1,000 `dict.set` calls in flight (1,000 loops, each
 *   sending its next set once the last was answered). Writes/s against the
 *   same client on the project's own server with `--sync always --dir`
 *   (Deno and Node; target: the object ≥ 0.5x the server) and against the
 *   same object with no storage (`CYBERDB_MEMORY=1`: the limit the object's
 *   event loop sets). An info row sends the same 1,000 sets as one message
 *   (`client.atomic`): one event, one commit.
 *
 * Rounds are interleaved (each target once per round, order rotated), the
 * figure is the median round; the load average is printed with the table.
 *
 * ```sh
 * node scripts/bench.mjs deno --file bench/edge_bench.ts
 * BENCH_ONLY=cloudflare BENCH_SCALE=0.3 node --import tsx bench/edge_bench.ts
 * ```
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { connect, type WebSocketConstructor } from "../client.ts";
import { bundleWorker, startWorkerd, tempDir, type Workerd, workerdBinary } from "../tests/fixtures/workerd.ts";
import { formatRate, formatRatio, freePort, median, printTable, progress, runtimeInfo, verdict } from "./harness.ts";

const SCALE = Number(process.env.BENCH_SCALE ?? 1) || 1;
const ROUNDS = 5;
const ROUND_MS = Math.max(300, Math.round(1500 * SCALE));
const IN_FLIGHT = 1000;
const PASSWORD = "bench";
const root = new URL("..", import.meta.url).pathname;

async function webSocket(): Promise<WebSocketConstructor> {
  const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  return g ?? (await import("ws")).WebSocket as unknown as WebSocketConstructor;
}

/** The project's own server as a process, `--sync always` on a temp directory. */
async function ourServer(runtime: "deno" | "node", dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const [cmd, base] = runtime === "deno"
    ? [join(root, "node_modules/.bin/deno"), ["run", "-A", "server.ts"]]
    : ["node", ["--import", "tsx", "server.ts"]];
  const args = [...base, "--port", String(port), "--dir", dir, "--sync", "always", "--password", PASSWORD];
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  let out = "";
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (out += b));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime} server did not start:\n${out}`)), 30_000);
    const check = () => {
      if (/cyberdb listening/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

interface Target {
  name: string;
  /** One round: `IN_FLIGHT` calls kept in flight for `ROUND_MS`; resolves to the writes per second. */
  round(r: number): Promise<number>;
  /** WebSocket frames the client sent per write in the rounds so far (frame coalescing joins a tick's calls). */
  framesPerWrite(): number;
  close(): Promise<void>;
}

/** The runtime's WebSocket, counting the frames sent through it into `count.frames`. */
async function countingWebSocket(count: { frames: number }): Promise<WebSocketConstructor> {
  const Base = await webSocket();
  return class extends (Base as unknown as new (...a: unknown[]) => { send(d: unknown): void }) {
    override send(data: unknown): void {
      count.frames++;
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

/**
 * A client of `url` keeping `IN_FLIGHT` sets in flight (each of `IN_FLIGHT`
 * loops sends its next set when the last was answered), or with `atomic`,
 * one message of `IN_FLIGHT` sets at a time.
 */
async function target(name: string, url: string, atomic = false): Promise<Target> {
  const count = { frames: 0 };
  const client = await connect(url, { password: PASSWORD, WebSocket: await countingWebSocket(count) });
  let frames = 0;
  let total = 0;
  return {
    name,
    framesPerWrite: () => frames / total,
    async round(r) {
      // Untimed. The object with no storage starts empty whenever it starts again, which an
      // idle one does after its eviction (about 10 s; every target idles while the others run).
      const dict = await client.createDict("bench").catch(() => client.getDict("bench"));
      const frames0 = count.frames;
      const t0 = performance.now();
      const end = t0 + ROUND_MS;
      let writes = 0;
      if (atomic) {
        while (performance.now() < end) {
          await client.atomic(Array.from({ length: IN_FLIGHT }, (_, i) => ({ op: "dict.set", args: ["bench", i, r] })));
          writes += IN_FLIGHT;
        }
      } else {
        await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, i) => {
          while (performance.now() < end) {
            await dict.set(i, r);
            writes++;
          }
        }));
      }
      const rate = writes / ((performance.now() - t0) / 1000);
      if (r >= 0) {
        frames += count.frames - frames0;
        total += writes;
      }
      return rate;
    },
    close: () => client.close(),
  };
}

async function cloudflare(): Promise<void> {
  const info = runtimeInfo();
  const workerdVersion = spawnSync(workerdBinary(), ["--version"], { encoding: "utf8" }).stdout.trim();
  progress(
    `cloudflare: ${workerdVersion}, client ${info.label}, ${ROUNDS} rounds of ${ROUND_MS} ms, ${IN_FLIGHT} calls in flight`,
  );
  const tmp = await tempDir("edge-bench");
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const script = (await bundleWorker("examples/cloudflare_worker.ts", tmp.path)).path;
    const worker = async (name: string, vars: Record<string, string>): Promise<Workerd> => {
      const w = await startWorkerd({
        script,
        persist: join(tmp.path, name),
        vars: { CYBERDB_PASSWORD: PASSWORD, ...vars },
      });
      stops.push(() => w.stop());
      return w;
    };
    const durable = await worker("durable", {});
    const memory = await worker("memory", { CYBERDB_MEMORY: "1" });
    const deno = await ourServer("deno", join(tmp.path, "deno"));
    stops.push(deno.stop);
    const node = await ourServer("node", join(tmp.path, "node"));
    stops.push(node.stop);
    const targets = [
      await target("Durable Object, sync always (DurableObjectStorage)", `${durable.ws}/db/bench`),
      await target("our server on Deno, --sync always", deno.url),
      await target("our server on Node, --sync always", node.url),
      await target("Durable Object, no storage (CYBERDB_MEMORY=1)", `${memory.ws}/db/bench`),
      await target("Durable Object, sync always, the 1,000 sets as one message", `${durable.ws}/db/atomic`, true),
    ];
    for (const t of targets) stops.push(() => t.close());
    // Warm-up: a round each (the object's first writes create its tables and segment).
    for (const t of targets) await t.round(-1);
    const rates: number[][] = targets.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < targets.length; j++) {
        const i = (j + r) % targets.length;
        try {
          rates[i].push(await targets[i].round(r));
        } catch (e) {
          throw new Error(`${targets[i].name}, round ${r}: ${e instanceof Error ? e.message : e}`);
        }
      }
      progress(`cloudflare: round ${r + 1}/${ROUNDS}`);
    }
    const [dObj, dDeno, dNode, dMem, dOne] = rates.map(median);
    const load = loadavg().map((x) => x.toFixed(2)).join(" / ");
    console.log(
      `\n### edge_bench cloudflare — ${workerdVersion}, client ${info.label}; ${IN_FLIGHT} calls in flight, ` +
        `median of ${ROUNDS} rounds of ${ROUND_MS} ms; load average (1/5/15 min) ${load}\n`,
    );
    const fpw = (i: number) => targets[i].framesPerWrite().toFixed(3);
    printTable(["target", "writes/s", "vs the object", "target", "result", "frames sent per write"], [
      [targets[0].name, formatRate(dObj), "1x", "", "", fpw(0)],
      [targets[1].name, formatRate(dDeno), formatRatio(dObj / dDeno), "≥ 0.5x", verdict(dObj / dDeno, 0.5), fpw(1)],
      [targets[2].name, formatRate(dNode), formatRatio(dObj / dNode), "≥ 0.5x", verdict(dObj / dNode, 0.5), fpw(2)],
      [targets[3].name, formatRate(dMem), formatRatio(dObj / dMem), "—", "the limit", fpw(3)],
      [targets[4].name, formatRate(dOne), formatRatio(dObj / dOne), "—", "info", fpw(4)],
    ]);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await tmp.remove();
  }
}

const SECTIONS: Record<string, () => Promise<void>> = { cloudflare };

const only = process.env.BENCH_ONLY?.split(",").map((s) => s.trim()).filter((s) => s !== "");
for (const [name, run] of Object.entries(SECTIONS)) {
  if (only === undefined || only.includes(name)) await run();
}
