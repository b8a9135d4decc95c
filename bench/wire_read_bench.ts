/**
 * Issue 14, "whole-dict read of 20k keys over the wire": a dict of 20 000
 * keys, each value a small object `{ name, age, score, active }`, read whole
 * by a client from a server on this machine, against
 *
 * - **Python CyberDB** (the predecessor project, https://github.com/Cyberbolt/CyberDB):
 *   `CyberDict.todict()` from its Python client against its server holding
 *   the same keys and values (`bench/wire_read_cyberdb.py` drives both; the
 *   server runs in a process of its own). The target: ≥ 5x its keys/s.
 * - **a plain object build**, embedded: the same 20k values copied by
 *   assignment from a `Map` into a new object, no server, no copy of the
 *   values: what a read over the wire cannot beat (info).
 *
 * Our side: a real server process (`server.ts --memory`, on a free port, on
 * the same runtime as the bench) and `remoteDict.toObject()` over WebSocket
 * and over HTTP. Every timed call makes `READS` whole reads back to back and
 * sums the `age` of every value read (the checksum, the same on every side;
 * Python's side does the same loop over its `dict`). Rounds are interleaved
 * (A B C D, B C D A, …); a ratio is the median of per-round throughput ratios.
 * Python's time is measured by Python around its loop (the pipe that asks
 * for a round is not counted).
 *
 * Setup of Python CyberDB (not on PyPI here; nothing of it enters this repo):
 *
 * ```sh
 * apt-get install -y python3-apscheduler python3-pycryptodome    # Debian's python3
 * mkdir -p /work/.tmp/cyberdb-py /work/.tmp/pydeps/obj_encrypt
 * git -C <CyberDB clone> archive HEAD | tar -x -C /work/.tmp/cyberdb-py
 * # obj-encrypt (Cyberbolt/obj_encrypt): its obj_encrypt/__init__.py into
 * # /work/.tmp/pydeps/obj_encrypt/; Debian ships pycryptodome as "Cryptodome":
 * ln -s /usr/lib/python3/dist-packages/Cryptodome /work/.tmp/pydeps/Crypto
 * export CYBERDB_PY=/work/.tmp/cyberdb-py:/work/.tmp/pydeps    # a PYTHONPATH
 * export CYBERDB_PYTHON=/usr/bin/python3                          # default: /usr/bin/python3
 * ```
 *
 * Without `CYBERDB_PY` the Python rows print "not available: set CYBERDB_PY…".
 *
 * ```sh
 * node scripts/bench.mjs deno bun node --file bench/wire_read_bench.ts
 * WIRE_READ_ROUNDS=5 deno run -A bench/wire_read_bench.ts
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import process from "node:process";
import { createInterface } from "node:readline";
import { connect } from "../client.ts";
import { startServer, webSocket } from "../tests/server_process.ts";
import { forceGc, formatRate, formatRatio, median, now, printTable, progress, rng, runtimeInfo } from "./harness.ts";

const N = 20_000;
/** Whole reads per timed call: one read takes a few ms. */
const READS = 5;
const ROUNDS = Number(process.env.WIRE_READ_ROUNDS ?? 9) || 9;
const TARGET = 5;
const PASSWORD = "bench";
const here = new URL(".", import.meta.url).pathname;

interface Small {
  name: string;
  age: number;
  score: number;
  active: boolean;
}

/** The dict's keys and values: deterministic, the same for every contender. */
function data(): { keys: string[]; values: Small[] } {
  const rand = rng(14_20_000);
  const keys: string[] = [];
  const values: Small[] = [];
  for (let i = 0; i < N; i++) {
    keys.push("user:" + i.toString(36));
    values.push({
      name: "n" + Math.floor(rand() * 1e9).toString(36),
      age: Math.floor(rand() * 100),
      score: Math.round(rand() * 1e6) / 100,
      active: rand() < 0.5,
    });
  }
  return { keys, values };
}

/** One contender: `run()` does READS whole reads and resolves to its ms and checksum. */
interface Contender {
  name: string;
  run(): Promise<{ ms: number; sum: number }>;
  close(): Promise<void>;
}

function ageSum(o: Record<string, Small>): number {
  let sum = 0;
  for (const k in o) sum += o[k].age;
  return sum;
}

async function timed(read: () => Promise<Record<string, Small>> | Record<string, Small>) {
  forceGc(1);
  const t0 = now();
  let sum = 0;
  for (let r = 0; r < READS; r++) sum += ageSum(await read());
  return { ms: now() - t0, sum };
}

async function ours(keys: string[], values: Small[]): Promise<Contender[]> {
  const server = await startServer(["--memory", "--password", PASSWORD]);
  const WebSocket = await webSocket();
  const ws = await connect(server.ws, { password: PASSWORD, WebSocket });
  const http = await connect(server.http, { password: PASSWORD });
  const d = await ws.createDict<Small>("whole");
  for (let i = 0; i < N; i += 1000) {
    await d.update(keys.slice(i, i + 1000).map((k, j): [string, Small] => [k, values[i + j]]));
  }
  const hd = await http.getDict<Small>("whole");
  const stop = async () => {
    await ws.close();
    await http.close();
    await server.stop();
  };
  return [
    { name: "toObject() over WebSocket", run: () => timed(() => d.toObject()), close: stop },
    { name: "toObject() over HTTP", run: () => timed(() => hd.toObject()), close: async () => {} },
  ];
}

function plainBuild(keys: string[], values: Small[]): Contender {
  const m = new Map<string, Small>();
  for (let i = 0; i < N; i++) m.set(keys[i], values[i]);
  return {
    name: "plain object build from a Map (embedded)",
    run: () =>
      timed(() => {
        const o: Record<string, Small> = {};
        for (const [k, v] of m) o[k] = v;
        return o;
      }),
    close: async () => {},
  };
}

/** Python CyberDB through bench/wire_read_cyberdb.py, or why it cannot run. */
async function python(keys: string[], values: Small[]): Promise<Contender | string> {
  const path = process.env.CYBERDB_PY;
  if (!path) {
    return "not available: set CYBERDB_PY to a PYTHONPATH holding Python CyberDB and obj_encrypt (see the bench header)";
  }
  const exe = process.env.CYBERDB_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
  const child = spawn(exe, [here + "wire_read_cyberdb.py"], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, PYTHONPATH: path },
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error("Python CyberDB's driver ended early (its error is above)");
    return JSON.parse(value);
  };
  child.stdin!.write(JSON.stringify({ keys, values }) + "\n");
  const ready = await next();
  progress(`Python CyberDB ready (${ready.bytes} bytes pickled)`);
  return {
    name: "Python CyberDB todict()",
    run: async () => {
      child.stdin!.write(JSON.stringify({ reads: READS }) + "\n");
      const r = await next();
      return { ms: r.ms as number, sum: r.check as number };
    },
    close: async () => {
      child.stdin!.end(JSON.stringify({ quit: true }) + "\n");
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const info = runtimeInfo();
  const { keys, values } = data();
  const py = await python(keys, values);
  const contenders: Contender[] = [...await ours(keys, values), plainBuild(keys, values)];
  if (typeof py !== "string") contenders.push(py);
  const ms: number[][] = contenders.map(() => []);
  let expected: number | undefined;
  for (const c of contenders) await c.run(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length;
      const out = await contenders[i].run();
      expected ??= out.sum;
      if (out.sum !== expected) {
        throw new Error(`Checksums differ: "${contenders[i].name}" ${out.sum} vs ${expected}: not the same work`);
      }
      ms[i].push(out.ms);
    }
    progress(`round ${r + 1}/${ROUNDS}`);
  }
  for (const c of contenders) await c.close();

  const keysPerSec = (i: number) => (READS * N) / (median(ms[i]) / 1000);
  const ratio = (i: number, a: number) => median(ms[i].map((t, r) => ms[a][r] / t));
  const range = (i: number, a: number) => {
    const rs = ms[i].map((t, r) => ms[a][r] / t).sort((x, y) => x - y);
    return `${formatRatio(rs[0])}–${formatRatio(rs[rs.length - 1])}`;
  };
  const plain = contenders.findIndex((c) => c.name.startsWith("plain"));
  const pyAt = typeof py === "string" ? -1 : contenders.length - 1;
  const rows = contenders.map((c, i) => [
    c.name,
    `${(median(ms[i]) / READS).toFixed(2)} ms`,
    formatRate(keysPerSec(i)),
    pyAt < 0
      ? (i === 0 ? py as string : "—")
      : i === pyAt
      ? "1.00x"
      : `${formatRatio(ratio(i, pyAt))} (${range(i, pyAt)})`,
    i === plain ? "1.00x" : `${formatRatio(ratio(i, plain))} (${range(i, plain)})`,
    pyAt < 0 || i >= plain ? "—" : ratio(i, pyAt) >= TARGET ? "met" : "MISSED",
  ]);
  console.log(
    `\n## wire_read_bench — ${info.label} client and server, ${N} keys, load ${
      loadavg().map((x) => x.toFixed(1)).join(" ")
    }\n`,
  );
  printTable(
    [
      "whole read of the dict",
      "ms per read",
      "keys/s",
      "vs Python CyberDB (range)",
      "vs plain build (range)",
      "≥ 5x Python",
    ],
    rows,
  );
  console.log(
    `\nMedians of ${ROUNDS} interleaved rounds of ${READS} reads; ratios are medians of per-round ratios (> 1: faster).`,
  );
}

await main();
// Lingering handles (readline, sockets) must not keep the process alive.
process.exit(0);
