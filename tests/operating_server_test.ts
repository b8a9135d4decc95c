// Operating the server (issue 13 item 4), against real server processes:
// the port opens before a large database has loaded, and meanwhile /health
// answers 503 "loading" and every request (HTTP, WebSocket, Arrow, watches)
// LOADING — after authentication, which still applies — while progress
// lines go to stderr; a server stopped while loading exits cleanly;
// GET /metrics in the Prometheus text format, protected like the API;
// --verbose lines; client.stats() of a durable server.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Database } from "../mod.ts";
import { AuthError, type Change, type Client, connect, LoadingError, NotFoundError } from "../client.ts";
import { encode } from "../src/wire/codec.ts";
import { rawSocket, runtime, type ServerProcess, startServer, tempDir, webSocket } from "./server_process.ts";
import { checkHistograms, parseExposition } from "./fixtures/prometheus.ts";

const PASSWORD = "operating-pw";
const BEARER = { authorization: `Bearer ${PASSWORD}` };
const BASIC = { authorization: `Basic ${Buffer.from(":" + PASSWORD).toString("base64")}` };
/** The line a server prints when its port opens while it loads; group 1 is the port. */
const PORT_OPEN = /cyberdb: port open on http:\/\/127\.0\.0\.1:(\d+) while loading/;

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The server's stats, or a value, over HTTP. */
async function rpc(url: string, op: string, args: unknown[] = [], headers: Record<string, string> = BEARER) {
  const res = await fetch(`${url}/v1/rpc`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ op, args }),
  });
  return { status: res.status, body: await res.json() };
}

async function metrics(url: string, headers: Record<string, string> = BEARER): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await res.text());
}

/** Snapshot items, then log records after the snapshot. */
const SNAPSHOT_ITEMS = 100_000;
const LOG_RECORDS = 300_000;

/**
 * Writes a database that takes a while to load, with a real Database: a
 * snapshot of SNAPSHOT_ITEMS entries and LOG_RECORDS log records after it
 * (two sessions, each closed with a snapshot; the second snapshot is then
 * removed, as if the process had crashed before writing it).
 */
async function bigDatabase(dir: string): Promise<void> {
  const options = { dir, snapshotInterval: 0, snapshotWalBytes: 0 };
  let db = await Database.open(options);
  const d = db.createDict("big");
  for (let i = 0; i < SNAPSHOT_ITEMS; i++) d.set(i, `value ${i}`);
  await db.close();
  db = await Database.open(options);
  const d2 = db.getDict("big");
  for (let i = SNAPSHOT_ITEMS; i < SNAPSHOT_ITEMS + LOG_RECORDS; i++) d2.set(i, `value ${i}`);
  await db.close();
  const snaps = (await readdir(join(dir, "snapshots"))).filter((n) => n.endsWith(".snap")).sort();
  assert.equal(snaps.length, 2);
  await rm(join(dir, "snapshots", snaps[1]));
}

describe("a server loading a large database", () => {
  let data: { dir: string; remove(): Promise<void> };
  before(async () => {
    data = await tempDir("cyberdb-loading-");
    await bigDatabase(data.dir);
  });
  after(async () => {
    await data?.remove();
  });

  it("stopped while it loads, exits 0 at once", async () => {
    const server = await startServer(["--dir", data.dir, "--password", PASSWORD], {
      waitFor: PORT_OPEN,
      timeout: 60_000,
    });
    const health = await fetch(`${server.http}/health`);
    assert.equal(health.status, 503, "still loading");
    await health.body?.cancel();
    assert.equal(await server.stop(), 0);
    assert.match(server.output(), /cyberdb: stopped while loading/);
    assert.doesNotMatch(server.output(), /cyberdb listening on/);
  });

  it("opens its port at once, answers LOADING (after auth) until loaded, then serves everything", async () => {
    const server = await startServer(["--dir", data.dir, "--password", PASSWORD], {
      waitFor: PORT_OPEN,
      timeout: 60_000,
    });
    let client: Client | undefined;
    let exit: number | string = "not stopped";
    try {
      // Every kind of request at once, while the server loads.
      const Ws = await webSocket();
      const [health, noAuth, call, arrow, sse, scrape, viaClient, viaSocket] = await Promise.all([
        fetch(`${server.http}/health`).then(async (r) => ({ status: r.status, body: await r.json() })),
        rpc(server.http, "db.collections", [], {}),
        rpc(server.http, "dict.get", ["big", 1]),
        fetch(`${server.http}/v1/arrow/big`, { headers: BEARER }).then(async (r) => ({
          status: r.status,
          body: await r.json(),
        })),
        fetch(`${server.http}/v1/watch`, { headers: BEARER }).then(async (r) => ({
          status: r.status,
          body: await r.json(),
        })),
        fetch(`${server.http}/metrics`, { headers: BEARER }).then(async (r) => parseExposition(await r.text())),
        (async () => {
          client = await connect(server.ws, { password: PASSWORD, WebSocket: Ws, reconnect: false });
          return await client.lsn().then(() => null, (e) => e);
        })(),
        (async () => {
          const raw = await rawSocket(`${server.ws}/v1/ws`);
          raw.ws.send(encode({ id: 1, op: "auth", args: [PASSWORD] }));
          const hello = await raw.next() as { ok: boolean };
          raw.ws.send(encode({ id: 2, watch: {} }));
          const watch = await raw.next();
          raw.ws.send(encode({ id: 3, op: "db.lsn", args: [] }));
          const lsn = await raw.next();
          raw.ws.close();
          return { hello, watch, lsn };
        })(),
      ]);
      // Only meaningful if the load outlasted the probes: then every one of them met it.
      const still = await fetch(`${server.http}/health`);
      assert.equal(
        still.status,
        503,
        "the database loaded before the probes were answered: make bigDatabase() larger",
      );
      await still.body?.cancel();

      assert.equal(health.status, 503);
      assert.equal(health.body.status, "loading");
      // null only before the first report, at the very start.
      const progress = health.body.progress;
      assert.ok(progress === null || ["snapshot", "log"].includes(progress.phase), JSON.stringify(progress));
      assert.equal(health.body.error.code, "LOADING");
      assert.deepEqual([noAuth.status, noAuth.body.error.code], [401, "AUTH"], "auth applies while loading");
      for (const [what, r] of [["rpc", call], ["arrow", arrow], ["sse watch", sse]] as const) {
        assert.equal(r.status, 503, what);
        assert.equal(r.body.error.code, "LOADING", what);
        assert.match(r.body.error.message, /^The server is still loading its data\b.*: retry in a moment/, what);
      }
      assert.equal(scrape.get("cyberdb_loading"), 1);
      assert.ok(viaClient instanceof LoadingError, `the client throws LoadingError: ${viaClient}`);
      assert.equal(viaSocket.hello.ok, true, "a WebSocket authenticates while loading");
      for (const frame of [viaSocket.watch, viaSocket.lsn] as { ok: boolean; error: { code: string } }[]) {
        assert.deepEqual([frame.ok, frame.error.code], [false, "LOADING"]);
      }

      // Ready: the listening line comes after the port-open line and the final progress line.
      await until(() => /cyberdb listening on/.test(server.output()), "the listening line", 120_000);
      const out = server.output();
      assert.ok(out.search(PORT_OPEN) < out.indexOf("cyberdb listening on"), out);
      assert.match(
        out,
        /cyberdb: loaded 100,000 snapshot items and 300,000 log records \(\d+\.\d MB, [\d.]+ MB\/s\) in \d+\.\d s/,
      );
      for (const line of out.split("\n").filter((l) => l.startsWith("cyberdb: loading "))) {
        assert.match(
          line,
          /^cyberdb: loading (snapshot: [\d,]+ items|log: [\d,]+ records), \d+\.\d( of \d+\.\d)? MB( \(\d+%\))?, ([\d.]+|-) MB\/s, \d+\.\d s$/,
        );
      }
      const ready = await fetch(`${server.http}/health`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      // The same client, unchanged, now reads everything.
      const big = await client!.getDict("big");
      assert.equal(await big.size(), SNAPSHOT_ITEMS + LOG_RECORDS);
      assert.equal(await big.get(SNAPSHOT_ITEMS + LOG_RECORDS - 1), `value ${SNAPSHOT_ITEMS + LOG_RECORDS - 1}`);
      const stats = await client!.stats();
      assert.deepEqual(
        [stats.recovery?.snapshotItems, stats.recovery?.logRecords],
        [SNAPSHOT_ITEMS, LOG_RECORDS],
      );
      assert.ok(stats.recovery!.ms > 0);
      const after = await metrics(server.http);
      assert.equal(after.get("cyberdb_loading"), 0);
      assert.equal(after.get("cyberdb_recovery_records"), SNAPSHOT_ITEMS + LOG_RECORDS);
      assert.equal(after.get("cyberdb_lsn"), 1 + SNAPSHOT_ITEMS + LOG_RECORDS);
      assert.ok(after.get("cyberdb_recovery_seconds")! > 0);
      assert.ok(
        after.get('cyberdb_ops_total{op="dict.get",outcome="LOADING"}')! >= 1,
        "the requests answered LOADING are counted",
      );
    } finally {
      await client?.close();
      exit = await server.stop();
    }
    assert.equal(exit, 0, `the server exits 0 on SIGTERM:\n${server.output()}`);
  });

  it("a call made while the server was down waits through its loading, within its timeout", async () => {
    let server = await startServer(["--dir", data.dir, "--password", PASSWORD], { timeout: 120_000 });
    const port = server.port;
    const client = await connect(server.ws, {
      password: PASSWORD,
      WebSocket: await webSocket(),
      reconnect: { minDelay: 10, maxDelay: 50 },
      timeout: 120_000,
    });
    try {
      const big = await client.getDict("big");
      // The client reconnects every 50 ms at most, so it meets the loading
      // server — unless a loaded machine starves it until the load is over.
      // Each attempt must answer the call; one of at most three must have
      // met the loading server, answered LOADING and sent the call again.
      const loadingMet: number[] = [];
      for (let attempt = 0; attempt < 3 && !loadingMet.some((n) => n >= 1); attempt++) {
        assert.equal(await server.stop(), 0);
        const pending = big.get(7);
        server = await startServer(["--dir", data.dir, "--password", PASSWORD], {
          port,
          waitFor: PORT_OPEN,
          timeout: 120_000,
        });
        assert.equal(await pending, "value 7");
        const s = await metrics(server.http);
        loadingMet.push(s.get('cyberdb_ops_total{op="dict.get",outcome="LOADING"}') ?? 0);
        assert.equal(s.get('cyberdb_ops_total{op="dict.get",outcome="ok"}'), 1);
      }
      assert.ok(loadingMet.some((n) => n >= 1), `answered LOADING first in one of the attempts (${loadingMet})`);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it("a watch resumes through a restart while the server loads; a new HTTP client connects meanwhile", async () => {
    let server = await startServer(["--dir", data.dir, "--password", PASSWORD], { timeout: 120_000 });
    const port = server.port;
    const Ws = await webSocket();
    const client = await connect(server.ws, {
      password: PASSWORD,
      WebSocket: Ws,
      reconnect: { minDelay: 10, maxDelay: 50 },
      timeout: 120_000,
    });
    let http: Client | undefined;
    try {
      const changes = client.watch({ collections: ["big"] });
      const start = await changes.ready();
      const big = await client.getDict("big");
      await big.set("w1", 1);
      const keys = (r: IteratorResult<Change[]>) =>
        (r.value as Change[]).map((c) => [c.lsn, (c as { key?: unknown }).key]);
      assert.deepEqual(keys(await changes.next()), [[start + 1, "w1"]]);
      assert.equal(await server.stop(), 0);
      server = await startServer(["--dir", data.dir, "--password", PASSWORD], {
        port,
        waitFor: PORT_OPEN,
        timeout: 120_000,
      });
      // Waiting for the next change now: the watch reconnects while the server loads.
      const second = changes.next();
      // While it loads: a new HTTP client connects (its calls get LOADING), a new watch says LOADING.
      const [call, fresh] = await Promise.all([
        connect(server.http, { password: PASSWORD }).then((c) => {
          http = c;
          return c.lsn().then(() => null, (e) => e);
        }),
        connect(server.ws, { password: PASSWORD, WebSocket: Ws, reconnect: false }).then(async (c) => {
          try {
            return await c.watch().ready().then(() => null, (e) => e);
          } finally {
            await c.close();
          }
        }),
      ]);
      const still = await fetch(`${server.http}/health`);
      assert.equal(still.status, 503, "the database loaded before the probes were answered: make bigDatabase() larger");
      await still.body?.cancel();
      assert.ok(call instanceof LoadingError, `an HTTP call while loading: ${call}`);
      assert.ok(fresh instanceof LoadingError, `a new watch while loading: ${fresh}`);

      await until(() => /cyberdb listening on/.test(server.output()), "the listening line", 120_000);
      await big.set("w2", 2);
      // The watch resumed after w1: w2 next, nothing lost, nothing twice.
      assert.deepEqual(keys(await second), [[start + 2, "w2"]]);
      const s = await metrics(server.http);
      assert.ok(
        s.get('cyberdb_ops_total{op="watch",outcome="LOADING"}')! >= 2,
        "the new watch and the resuming one were answered LOADING",
      );
      await changes.return();
    } finally {
      await http?.close();
      await client.close();
      await server.stop();
    }
  });
});

describe("GET /metrics, client.stats() and --verbose", () => {
  let data: { dir: string; remove(): Promise<void> };
  let server: ServerProcess;
  before(async () => {
    data = await tempDir("cyberdb-metrics-");
    server = await startServer(["--dir", data.dir, "--password", PASSWORD, "--sync", "always", "--verbose"]);
  });
  after(async () => {
    await server?.stop();
    await data?.remove();
  });

  it("is protected like the API: Bearer or Basic, else 401", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
      const res = await fetch(`${server.http}/metrics`, { headers });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, "AUTH");
    }
    await metrics(server.http, BASIC);
    const samples = await metrics(server.http, BEARER);
    assert.ok(samples.get("cyberdb_auth_failures_total")! >= 2);
  });

  it("counts ops by outcome with latency histograms, connections, bytes, the log and fsyncs", async () => {
    const Ws = await webSocket();
    const ws = await connect(server.ws, { password: PASSWORD, WebSocket: Ws });
    const http = await connect(server.http, { password: PASSWORD });
    try {
      const before = await metrics(server.http);
      const d = await ws.createDict("m");
      for (let i = 0; i < 20; i++) await d.set(`k${i}`, "v".repeat(100));
      await assert.rejects(d.pop("missing"), { code: "KEY_NOT_FOUND" });
      const h = await http.getDict("m");
      for (let i = 0; i < 5; i++) assert.equal(await h.get(`k${i}`), "v".repeat(100));
      await assert.rejects(http.call("no.such.op", []), { code: "PROTOCOL" });
      await ws.atomic([{ op: "dict.set", args: ["m", "a", 1] }]);

      const s = await metrics(server.http);
      const delta = (key: string) => (s.get(key) ?? 0) - (before.get(key) ?? 0);
      assert.equal(delta('cyberdb_ops_total{op="dict.set",outcome="ok"}'), 20);
      assert.equal(delta('cyberdb_ops_total{op="dict.pop",outcome="KEY_NOT_FOUND"}'), 1);
      assert.equal(delta('cyberdb_ops_total{op="dict.get",outcome="ok"}'), 5);
      assert.equal(delta('cyberdb_ops_total{op="unknown",outcome="PROTOCOL"}'), 1);
      assert.equal(delta('cyberdb_ops_total{op="atomic",outcome="ok"}'), 1);
      assert.equal(delta('cyberdb_op_duration_seconds_count{op="dict.set"}'), 20);
      assert.ok(s.get('cyberdb_op_duration_seconds_sum{op="dict.set"}')! > 0);
      checkHistograms(s, "cyberdb_op_duration_seconds");
      checkHistograms(s, "cyberdb_fsync_duration_seconds");
      assert.equal(s.get('cyberdb_connections{transport="ws"}'), 1, "the WebSocket client");
      assert.ok(s.get('cyberdb_connections{transport="http"}')! >= 1, "this scrape");
      assert.ok(s.get('cyberdb_connections_total{transport="ws"}')! >= 1);
      for (const t of ["http", "ws"]) {
        assert.ok(delta(`cyberdb_bytes_received_total{transport="${t}"}`) > 0, `received over ${t}`);
        assert.ok(delta(`cyberdb_bytes_sent_total{transport="${t}"}`) > 0, `sent over ${t}`);
      }
      assert.ok(delta('cyberdb_bytes_received_total{transport="ws"}') > 20 * 100, "the values written");
      assert.ok(delta("cyberdb_wal_bytes_total") > 20 * 100, "the log took the values");
      assert.ok(delta("cyberdb_fsync_duration_seconds_count") >= 1, "sync always fsyncs");
      assert.equal(s.get("cyberdb_lsn"), await ws.lsn());
      assert.equal(s.get('cyberdb_collections{kind="dict"}'), 1);
      assert.equal(s.get('cyberdb_items{kind="dict"}'), 21);
      assert.ok(s.get('cyberdb_data_approx_bytes{kind="dict"}')! >= 20 * 100);
      assert.equal(s.get("cyberdb_loading"), 0);
      assert.equal(s.get("cyberdb_snapshot_age_seconds"), undefined, "no snapshot yet in a new directory");

      const stats = await ws.stats();
      assert.equal(stats.storage, runtime() === "deno" ? "deno" : "node");
      assert.equal(stats.sync, "always");
      assert.ok(stats.wal!.bytes > 20 * 100 && stats.fsync!.count >= 1);
      assert.equal(stats.durableLsn, stats.lsn, "sync always: everything answered is on disk");
      assert.deepEqual(await http.stats().then((x) => Object.keys(x)), Object.keys(stats), "the same shape over HTTP");
    } finally {
      await ws.close();
      await http.close();
    }
  });

  it("--verbose writes one short line per connection, refused password and failed op", async () => {
    const Ws = await webSocket();
    await assert.rejects(connect(server.ws, { password: "wrong", WebSocket: Ws, reconnect: false }), AuthError);
    const ws = await connect(server.ws, { password: PASSWORD, WebSocket: Ws });
    await assert.rejects(ws.call("dict.get", ["nope", "x".repeat(100_000)]), NotFoundError);
    await rpc(server.http, "list.pop", ["nope-list"]);
    await ws.close();
    const lines = () => server.output().split("\n");
    await until(
      () => lines().some((l) => /^cyberdb: ws 127\.0\.0\.1 closed after [\d.]+ s, \d+ requests$/.test(l)),
      "the close line",
    );
    const out = lines();
    const has = (re: RegExp) => assert.ok(out.some((l) => re.test(l)), `a line like ${re}:\n${out.join("\n")}`);
    has(/^cyberdb: auth refused for 127\.0\.0\.1: Wrong password/);
    has(/^cyberdb: ws 127\.0\.0\.1 opened/);
    has(/^cyberdb: ws 127\.0\.0\.1 dict\.get\("nope", "xxx.*\) failed with NOT_FOUND: /);
    has(/^cyberdb: http 127\.0\.0\.1 list\.pop\("nope-list"\) failed with NOT_FOUND: /);
    for (const l of out) assert.ok(l.length < 1000, `a line is never long: ${l.length} characters`);
  });

  it("after a restart: snapshot age and size, recovery time; no --verbose lines without the flag", async () => {
    assert.equal(await server.stop(), 0);
    server = await startServer(["--dir", data.dir, "--password", PASSWORD]);
    const s = await metrics(server.http);
    assert.ok(s.get("cyberdb_snapshot_age_seconds")! >= 0, "the snapshot written at close, loaded at open");
    assert.ok(s.get("cyberdb_snapshot_bytes")! > 0);
    assert.equal(s.get("cyberdb_snapshot_lsn"), s.get("cyberdb_lsn"));
    assert.ok(s.get("cyberdb_recovery_seconds")! >= 0);
    assert.equal(s.get("cyberdb_snapshot_duration_seconds"), undefined, "this process has written none yet");
    assert.deepEqual(
      [s.get('cyberdb_snapshots_total{outcome="ok"}'), s.get('cyberdb_snapshots_total{outcome="error"}')],
      [0, 0],
    );
    await rpc(server.http, "list.pop", ["nope-list"]);
    const res = await fetch(`${server.http}/metrics`);
    assert.equal(res.status, 401);
    await res.body?.cancel();
    assert.doesNotMatch(server.output(), /failed with|auth refused/);
  });
});
