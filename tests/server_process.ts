// Test helper (not a test file): spawns `server.ts` as a real process with
// the runtime under test (CYBERDB_TEST_RUNTIME, set by scripts/test.mjs),
// waits for its listening line, and stops it by its own pid.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { WebSocketConstructor } from "../client.ts";
import type { LoadProgress } from "../src/durable/options.ts";

export const root = new URL("..", import.meta.url).pathname;

/** deno | bun | node: the runtime these tests run on. */
export function runtime(): "deno" | "bun" | "node" {
  const env = process.env.CYBERDB_TEST_RUNTIME;
  if (env === "deno" || env === "bun" || env === "node") return env;
  if (typeof (globalThis as { Deno?: unknown }).Deno !== "undefined") return "deno";
  if ((process.versions as Record<string, string | undefined>).bun) return "bun";
  return "node";
}

/**
 * The command that runs server.ts on runtime `rt`; `entry` names another
 * script and its first arguments (`["cli.ts", "serve"]`).
 */
export function command(rt: string = runtime(), entry: string[] = ["server.ts"]): [string, string[]] {
  if (rt === "deno") return [join(root, "node_modules/.bin/deno"), ["run", "-A", ...entry]];
  if (rt === "bun") return [join(root, "node_modules/.bin/bun"), ["run", ...entry]];
  // Under Deno or Bun, process.execPath is not node.
  const node = runtime() === "node" ? process.execPath : "node";
  return [node, ["--import", "tsx", ...entry]];
}

export interface ServerProcess {
  port: number;
  http: string;
  ws: string;
  child: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `ms`; resolves with the exit code. */
  stop(ms?: number): Promise<number | string>;
  /** SIGKILL now (a crash). */
  kill(): Promise<number | string>;
}

/**
 * Starts a server; `args` are extra flags. Uses --port 0 and 127.0.0.1 unless given.
 * `prefix` runs the server command through another one that ends by exec'ing it
 * (e.g. `nsenter … --`), so that the child's pid is still the server's.
 * Resolves once the server printed its listening line (it is ready), or with
 * `waitFor` (a pattern whose group 1 is the port) once that line appeared,
 * e.g. the line a server prints when its port opens while it still loads.
 * `entry` starts another script than server.ts (`["cli.ts", "serve"]`).
 */
export async function startServer(
  args: string[],
  options: { port?: number; timeout?: number; prefix?: string[]; waitFor?: RegExp; entry?: string[] } = {},
): Promise<ServerProcess> {
  const [server, base] = command(runtime(), options.entry);
  const full = [server, ...base, "--host", "127.0.0.1", "--port", String(options.port ?? 0), ...args];
  const argv = [...(options.prefix ?? []), ...full];
  const child = spawn(argv[0], argv.slice(1), {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (out += b));
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1));
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`Server did not print its listening line within ${options.timeout ?? 30_000} ms:\n${out}`));
    }, options.timeout ?? 30_000);
    const line = options.waitFor ?? /cyberdb listening on http:\/\/127\.0\.0\.1:(\d+)/;
    const check = () => {
      const m = line.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        child.stderr!.off("data", check);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Server exited (${code}) before listening:\n${out}`));
    });
  });
  const end = (signal: "SIGTERM" | "SIGKILL") => {
    // process.kill by pid: Deno's child.kill() reports the signal even when the child exits 0 itself.
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid!, signal);
      } catch { /* already gone */ }
    }
    return exited;
  };
  return {
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    child,
    output: () => out,
    exited,
    async stop(ms = 15_000) {
      const timer = setTimeout(() => end("SIGKILL"), ms);
      const code = await end("SIGTERM");
      clearTimeout(timer);
      return code;
    },
    kill: () => end("SIGKILL"),
  };
}

/** The WebSocket constructor for this runtime (the `ws` package on Node 20). */
export async function webSocket(): Promise<WebSocketConstructor> {
  const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (g) return g;
  return (await import("ws")).WebSocket as unknown as WebSocketConstructor;
}

/** A fresh temporary directory and its remover. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A raw WebSocket with its frames collected, for protocol tests. */
export async function rawSocket(url: string): Promise<{
  ws: InstanceType<WebSocketConstructor>;
  frames: unknown[];
  closed: Promise<{ code: number }>;
  next(): Promise<unknown>;
}> {
  const { decode } = await import("../src/wire/codec.ts");
  const Ctor = await webSocket();
  const ws = new Ctor(url);
  ws.binaryType = "arraybuffer";
  const frames: unknown[] = [];
  const waiters: ((f: unknown) => void)[] = [];
  let onClose!: (ev: { code: number }) => void;
  const closed = new Promise<{ code: number }>((r) => (onClose = r));
  ws.onmessage = (ev) => {
    const f = decode(new Uint8Array(ev.data as ArrayBuffer));
    const w = waiters.shift();
    if (w) w(f);
    else frames.push(f);
  };
  ws.onclose = (ev) => {
    onClose({ code: ev.code });
    for (const w of waiters.splice(0)) w(undefined);
  };
  ws.onerror = () => {};
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    closed.then(() => reject(new Error("Socket closed before opening")));
  });
  return {
    ws,
    frames,
    closed,
    next: () =>
      frames.length > 0 ? Promise.resolve(frames.shift()) : new Promise((r) => {
        waiters.push(r);
        closed.then(() => r(undefined));
      }),
  };
}

/** The events of a `text/event-stream` body, read until `count` data events (or the end). */
export async function sseEvents(
  res: Response,
  count: number,
): Promise<{ id?: string; event?: string; data: string }[]> {
  const out: { id?: string; event?: string; data: string }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (out.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += value;
    for (let end = buf.indexOf("\n\n"); end >= 0 && out.length < count; end = buf.indexOf("\n\n")) {
      const e: { id?: string; event?: string; data: string } = { data: "" };
      for (const line of buf.slice(0, end).split("\n")) {
        const [field, ...rest] = line.split(":");
        const v = rest.join(":").replace(/^ /, "");
        if (field === "id") e.id = v;
        else if (field === "event") e.event = v;
        else if (field === "data") e.data = v;
      }
      buf = buf.slice(end + 2);
      if (e.data !== "") out.push(e);
    }
  }
  await reader.cancel();
  return out;
}

/**
 * The URL a server process prints once it listens ("cyberdb listening on …"), read from its stdout and stderr; the
 * promise fails with the output when the process exits first or prints nothing of the kind within `limitMs`.
 */
export function listeningUrl(child: ChildProcess, what: () => string, limitMs = 120_000): Promise<string> {
  let out = "";
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what()}: no listening line within ${limitMs / 1000} s:\n${out}`)),
      limitMs,
    );
    const seen = (b: Buffer) => {
      out += b;
      const m = /cyberdb listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what()} exited (${code}):\n${out}`));
    });
  });
}

/** A load a quarter done, a quarter into the log: what the loading tests serve while the test holds the database. */
export const LOADING_PROGRESS: LoadProgress = {
  phase: "log",
  records: 12_000,
  bytes: 3_000_000,
  totalBytes: 12_000_000,
  elapsedMs: 1500,
  phaseMs: 1500,
  snapshotItems: 0,
  logRecords: 12_000,
};
