/**
 * The CyberDB server: flags/env → `Database.open` → Hono app → serve, on
 * Deno (`deno run -A server.ts`), Bun (`bun run server.ts`) or Node
 * (`npm run start:node`). Run as the main module it serves; imported
 * (`@cyberdb/core/server`) it hands out the app factory so the database
 * routes can be mounted in another Hono app.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Database } from "@cyberdb/core";
 * import { connect } from "@cyberdb/core/client";
 * import { createApp } from "@cyberdb/core/server";
 *
 * const db = await Database.open(); // { dir: "./data" } to persist
 * const parent = new Hono();
 * parent.route("/db", createApp(db, { upgradeWebSocket, password: "secret" }).app);
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, parent.fetch);
 *
 * const client = await connect(`http://127.0.0.1:${server.addr.port}/db`, { password: "secret" });
 * await (await client.createDict("d")).set("k", 1);
 * assert.equal(db.getDict("d").get("k"), 1); // the same database, embedded and served
 * await client.close();
 * await server.shutdown();
 * await db.close();
 * ```
 *
 * @module
 */

import { Database, type LoadProgress } from "./src/api/database.ts";
import { CyberDBError } from "./src/errors.ts";
import { createApp, type CyberApp } from "./src/server/app.ts";
import { buildClientBundle } from "./src/server/bundle.ts";
import { parseConfig, type ServerConfig } from "./src/server/config.ts";
import { loadGlue, type RuntimeGlue } from "./src/server/runtime.ts";
import { progressLine } from "./src/server/loading.ts";

export { APP_DEFAULTS, type AppOptions, createApp, type CyberApp } from "./src/server/app.ts";
export type { ErrorLogger } from "./src/server/rpc.ts";
export { DEFAULTS, isLoopback, parseConfig, type ServerConfig, USAGE } from "./src/server/config.ts";
export { buildClientBundle } from "./src/server/bundle.ts";

/** A running server, as returned by {@linkcode startServer}. */
export interface RunningServer {
  /** The real port (useful with `port: 0`). */
  port: number;
  /** `http://HOST:PORT` (or `https://` with TLS). */
  url: string;
  /** The database being served. */
  db: Database;
  /** Stops accepting, finishes in-flight requests, closes the database (flush + snapshot). */
  close(): Promise<void>;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  /**
   * Told the server's URL as soon as the port is open — before the
   * database has loaded: until then `/health` answers 503 `loading` and
   * every request `LOADING`. `startServer` itself resolves once it is ready.
   */
  onListen?: (url: string) => void;
  /**
   * Told how far loading has come, as `Database.open`'s `onProgress` (the
   * server prints its own lines besides). The first call comes once the
   * directory's lock is taken and names this process.
   */
  onProgress?: (progress: LoadProgress) => void;
}

function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * What `GET /client.js` serves. Run from a checkout (client.ts on disk beside
 * this file, esbuild installed), a bundle built from client.ts now, so the
 * page follows the source as it changes. Run from the npm package (dist/
 * holds no .ts, esbuild is not a dependency) or from a `jsr:`/https URL (no
 * file to build from), the prebuilt bundle that ships with the package
 * (src/cloudflare/client_bundle.ts, which tests/cloudflare_bundle_test.ts
 * keeps equal to what client.ts builds to).
 */
async function clientBundle(): Promise<string> {
  const source = new URL("./client.ts", import.meta.url);
  if (source.protocol === "file:") {
    const { existsSync } = await import("node:fs");
    const { fileURLToPath } = await import("node:url");
    if (existsSync(fileURLToPath(source)) && await esbuildInstalled()) return await buildClientBundle();
  }
  return (await import("./src/cloudflare/client_bundle.ts")).CLIENT_BUNDLE;
}

/** Whether esbuild resolves here: a devDependency, so a checkout has it and a consumer does not. */
async function esbuildInstalled(): Promise<boolean> {
  try {
    await import("esbuild");
    return true;
  } catch {
    return false;
  }
}

/**
 * Serves the database of `config` with this runtime's server: the port
 * opens first, and while the database loads (a large log takes a while)
 * `/health` answers 503 `loading` with the progress and every request is
 * answered `LOADING`, while progress lines go to stderr. Resolves once the
 * database is loaded and served.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * const server = await startServer(parseConfig(["--port", "0", "--memory"], {}), {
 *   onListen: (url) => console.error(`port open on ${url}, loading`),
 * });
 * assert.equal(server.url, `http://127.0.0.1:${server.port}`); // the port picked
 * const res = await fetch(`${server.url}/health`);
 * assert.equal((await res.json()).status, "ok");
 * server.db.createDict("d"); // the database being served
 * await server.close();
 * ```
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const glue = await loadGlue();
  const watchBuffer = config.watchBuffer === undefined ? {} : { watchBuffer: { commits: config.watchBuffer } };
  let progress: LoadProgress | null = null;
  const opening = Database.open(
    config.dir === null ? { sync: config.sync, ...watchBuffer } : {
      ...watchBuffer,
      dir: config.dir,
      sync: config.sync,
      ...(config.repair ? { repair: true } : {}),
      // Recovery progress, snapshots, and the disk refusing or accepting writes again.
      logger: (line: string) => console.error(line),
      // A line about once a second while loading takes that long, and one at the end.
      onProgress: (p) => {
        progress = p;
        if (p.phase === "done" || p.elapsedMs >= 1000) console.error(progressLine(p));
        options.onProgress?.(p);
      },
      ...(config.flushInterval !== undefined ? { flushInterval: config.flushInterval } : {}),
      ...(config.snapshotInterval !== undefined ? { snapshotInterval: config.snapshotInterval } : {}),
      ...(config.preallocate !== undefined ? { preallocate: config.preallocate } : {}),
    },
  );
  // Awaited below; a failure before then must not count as unhandled.
  opening.catch(() => {});
  const closeOpening = () => opening.then((db) => db.close(), () => {});
  let tls: { cert: string; key: string } | undefined;
  if (config.cert !== undefined && config.key !== undefined) {
    const { readFile } = await import("node:fs/promises");
    try {
      tls = { cert: await readFile(config.cert, "utf8"), key: await readFile(config.key, "utf8") };
    } catch (e) {
      await closeOpening();
      throw e;
    }
  }
  let cyber: CyberApp | undefined;
  let served;
  try {
    served = await glue.serve((upgradeWebSocket, limits) => {
      cyber = createApp(opening, {
        upgradeWebSocket,
        password: config.password,
        allowOrigin: config.allowOrigin,
        maxRequestBytes: config.maxRequestBytes,
        maxFrameBytes: limits.maxFrameBytes,
        maxOutputBytes: config.maxOutputBytes,
        authTimeout: config.authTimeout,
        maxUnauthenticated: config.maxUnauthenticated,
        maxUnauthenticatedPerPeer: config.maxUnauthenticatedPerPeer,
        clientBundle,
        verbose: config.verbose,
        loadProgress: () => progress,
      });
      return cyber.app;
    }, {
      hostname: config.host,
      port: config.port,
      maxPayload: config.maxRequestBytes,
      maxOutputBytes: config.maxOutputBytes,
      ...tls,
    });
  } catch (e) {
    await closeOpening();
    throw e;
  }
  const { port, shutdown } = served;
  const url = `${tls ? "https" : "http"}://${formatHost(config.host)}:${port}`;
  options.onListen?.(url);
  let db: Database;
  try {
    db = await opening;
  } catch (e) {
    // Nothing to serve: stop listening, and say why (the caller prints it).
    await Promise.race([Promise.all([cyber!.drain(), shutdown()]), new Promise((r) => setTimeout(r, 2000))]);
    throw e;
  }
  let closing: Promise<void> | null = null;
  return {
    port,
    url,
    db,
    close() {
      closing ??= (async () => {
        const stopped = Promise.all([cyber!.drain(), shutdown()]);
        // Never hang on a peer that will not let go: in-flight work gets 10 s.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const giveUp = new Promise((r) => (timer = setTimeout(r, 10_000)));
        await Promise.race([stopped, giveUp]);
        // Cleared, or a script that closed its server would live on for the 10 s.
        clearTimeout(timer);
        await db.close();
      })();
      return closing;
    },
  };
}

function runtimeArgs(): { argv: string[]; env: Record<string, string | undefined> } {
  const g = globalThis as { Deno?: { args: string[]; env: { toObject(): Record<string, string> } } };
  if (g.Deno) return { argv: g.Deno.args, env: g.Deno.env.toObject() };
  return { argv: process.argv.slice(2), env: process.env };
}

/** Why the server could not start, with the address it tried (Deno's "address in use" names none). */
function startFailure(e: unknown, config: ServerConfig | undefined): string {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  const where = config === undefined ? "" : ` on ${formatHost(config.host)}:${config.port}`;
  if (code === "EADDRINUSE" || /address already in use|AddrInUse/i.test(message)) {
    return `Could not start the server${where}: the address is already in use (${message}); ` +
      "stop the process that holds it, or pick another --port (0 = any free port)";
  }
  return `Could not start the server${where}: ${message}`;
}

/**
 * For a damaged database: what the server and the `cyberdb` command offer
 * (the error itself speaks of `Database.open`'s `{ repair: true }`).
 */
function repairHint(e: CyberDBError, config: ServerConfig | undefined): string {
  if (e.code !== "CORRUPTION" || config?.dir == null) return "";
  const dir = /^[\w@%+=:,./-]+$/.test(config.dir) ? config.dir : JSON.stringify(config.dir);
  const lines = [`See what is damaged, changing nothing: cyberdb check ${dir}`];
  if (/cannot be replayed/.test(e.message)) {
    // A record that checks out but does not apply: --repair cuts bad frames only; cyberdb repair cuts there too.
    lines.push(`Cut the log before that record (it shows what goes and asks first): cyberdb repair ${dir}`);
  } else if (e.message.includes("{ repair: true }")) {
    lines.push(
      `Cut the log there: start the server with --repair (the cut is printed), or run cyberdb repair ${dir} ` +
        "(shows what goes, asks first, keeps a copy of the cut bytes)",
    );
  }
  return "\n" + lines.join("\n");
}

/**
 * Serves per flags and environment until SIGINT/SIGTERM, then shuts down
 * cleanly and exits 0: what `deno run -A server.ts` runs, and `cyberdb
 * serve`. `--help` prints the flags. A bad flag or a failed start prints
 * why and exits the process (2 for a bad flag, 1 otherwise). Resolves once
 * the server listens.
 *
 * @example
 * ```ts ignore
 * import { runServer } from "@cyberdb/core/server";
 * // Serves ./data on 127.0.0.1:9980 until SIGINT or SIGTERM, as `server.ts --dir ./data` would.
 * await runServer(["--dir", "./data"], { CYBERDB_PASSWORD: "123456" });
 * ```
 */
export async function runServer(argv: readonly string[], env: Record<string, string | undefined>): Promise<void> {
  const glue: RuntimeGlue = await loadGlue();
  if (argv.includes("--help") || argv.includes("-h")) {
    const { USAGE } = await import("./src/server/config.ts");
    console.log(USAGE);
    return;
  }
  let server: RunningServer | null = null;
  let config: ServerConfig | undefined;
  let stopping = false;
  // While loading, stopping at once is safe (loading writes nothing) — but
  // only once the lock file names this process: exiting between its
  // creation and that would leave a lock the next start cannot judge.
  let lockNamesUs = false;
  const stopWhileLoading = () => {
    console.error("cyberdb: stopped while loading");
    glue.exit(0);
  };
  glue.onSignals(() => {
    // A second signal means "now": skip the graceful part.
    if (stopping) glue.exit(1);
    stopping = true;
    if (server === null) {
      if (lockNamesUs || config?.dir === null) stopWhileLoading();
      return; // at the first progress report (or when started, or failed)
    }
    server.close().then(() => glue.exit(0), (e) => {
      console.error("cyberdb: shutdown failed:", e);
      glue.exit(1);
    });
  });
  try {
    config = parseConfig(argv, env);
    const dir = config.dir;
    server = await startServer(config, {
      // Only worth a line when there is something to load.
      onListen: dir === null
        ? undefined
        : (url) =>
          console.error(`cyberdb: port open on ${url} while loading ${dir}; requests get LOADING until it is ready`),
      onProgress: () => {
        lockNamesUs = true;
        if (stopping) stopWhileLoading();
      },
    });
  } catch (e) {
    console.error(e instanceof CyberDBError ? e.message + repairHint(e, config) : startFailure(e, config));
    glue.exit(e instanceof CyberDBError && e.code === "VALIDATION" ? 2 : 1);
  }
  if (stopping) {
    // Stopped before loading could report (a small database): close it cleanly.
    await server.close().catch((e) => console.error("cyberdb: shutdown failed:", e));
    glue.exit(0);
  }
  console.log(`cyberdb listening on ${server.url}`);
}

function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (meta.main !== undefined) return meta.main;
  // Node 20 has no import.meta.main: compare the entry script with this file.
  const entry = (globalThis as { process?: { argv?: string[] } }).process?.argv?.[1];
  if (!entry) return false;
  const here = decodeURIComponent(new URL(import.meta.url).pathname);
  return entry === here || entry.replace(/\.ts$/, "") === here.replace(/\.ts$/, "");
}

if (isMain()) {
  const { argv, env } = runtimeArgs();
  await runServer(argv, env);
}
