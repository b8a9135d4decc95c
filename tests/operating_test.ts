// Operating a database (issue 13 item 4), in process: the progress an open
// reports (the log reader's and the database's), db.stats() on a durable
// database, the app serving while its database loads (a promise it is
// handed, resolved by the test: no timing), the Prometheus text of
// /metrics, the --verbose lines and the --verbose flag. The same against
// real server processes: tests/operating_server_test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, type LoadProgress, StorageError } from "../mod.ts";
import { MemoryStorage } from "../storage.ts";
import { parseConfig } from "../server.ts";
import { createApp } from "../src/server/app.ts";
import { Metrics, Monitor, now, OP_BUCKETS } from "../src/server/metrics.ts";
import { loadingError, progressLine } from "../src/server/loading.ts";
import { readWal, type WalProgress } from "../src/log/reader.ts";
import { WalWriter } from "../src/log/writer.ts";
import type { UpgradeWebSocket } from "hono/ws";
import { abandon, Machine } from "./fixtures/durability_common.ts";
import { checkHistograms, parseExposition } from "./fixtures/prometheus.ts";
import { LOADING_PROGRESS } from "./server_process.ts";

/** Routes other than /v1/ws never upgrade: a stand-in that says so if they did. */
const noUpgrade = (() => {
  throw new Error("no WebSocket in this test");
}) as unknown as UpgradeWebSocket;

describe("progress of an open", () => {
  it("readWal tells records and bytes as it goes, ending at the total", async () => {
    const storage = new MemoryStorage();
    const wal = await WalWriter.open(storage, "db", { lastLsn: 0, segmentBytes: 16 * 1024 });
    for (let lsn = 1; lsn <= 3000; lsn++) wal.append({ lsn, op: "dict.set", args: ["d", lsn, "x".repeat(40)] });
    await wal.close();
    const seen: WalProgress[] = [];
    let replayed = 0;
    const result = await readWal(storage, "db", {
      onRecord: () => replayed++,
      onProgress: (p) => void seen.push({ ...p }),
    });
    assert.equal(replayed, 3000);
    assert.ok(result.segments.length > 5, "several segments");
    assert.ok(seen.length >= result.segments.length, "told at least once per segment");
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i].records >= seen[i - 1].records && seen[i].bytes >= seen[i - 1].bytes, "never backwards");
    }
    let total = 0;
    for (const s of result.segments) total += (await storage.size(s.path)) ?? 0;
    assert.deepEqual(seen.at(-1), { records: 3000, bytes: total, totalBytes: total });
  });

  it("Database.open tells each phase, then done with what it loaded", async () => {
    const machine = new Machine();
    let db = await Database.open({ dir: "db", storage: machine.process() });
    const d = db.createDict("d");
    for (let i = 0; i < 5000; i++) d.set(i, `value ${i}`);
    await db.close(); // snapshot at LSN 5001
    db = await Database.open({ dir: "db", storage: machine.process(), snapshotWalBytes: 0 });
    for (let i = 0; i < 3000; i++) db.getDict("d").set(`k${i}`, i);
    await db.flush();
    // A crash now: the next opener finds the snapshot and 3000 records after it.
    machine.crash();
    await abandon(db);

    const seen: LoadProgress[] = [];
    const reopened = await Database.open({
      dir: "db",
      storage: machine.process(),
      snapshotWalBytes: 0,
      onProgress: (p) => seen.push(p),
    });
    const phases = seen.map((p) => p.phase);
    assert.equal(phases[0], "snapshot");
    assert.ok(phases.indexOf("log") > 0, `log after snapshot: ${phases}`);
    assert.deepEqual(phases.filter((p) => p === "done"), ["done"]);
    assert.equal(phases.at(-1), "done");
    const done = seen.at(-1)!;
    assert.equal(done.snapshotItems, 5000);
    assert.equal(done.logRecords, 3000);
    assert.equal(done.records, 8000);
    assert.equal(done.bytes, done.totalBytes);
    assert.ok(done.bytes > 5000 * 10, `bytes read: ${done.bytes}`);
    assert.ok(done.elapsedMs >= 0);
    for (const p of seen) assert.ok(p.bytes <= p.totalBytes || p.totalBytes === 0, JSON.stringify(p));
    const stats = reopened.stats();
    assert.deepEqual(
      [stats.recovery?.snapshotItems, stats.recovery?.logRecords, stats.recovery?.bytes],
      [5000, 3000, done.bytes],
    );
    assert.equal(stats.snapshot?.written, false, "the snapshot found at open");
    assert.equal(stats.snapshot?.lsn, 5001);
    await reopened.close();
  });

  it("a progress callback that throws does not fail the open", async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({
      dir: "db",
      storage,
      onProgress: () => {
        throw new Error("display broke");
      },
    });
    db.createDict("d");
    await db.close();
  });

  it("onProgress must be a function", async () => {
    await assert.rejects(Database.open({ onProgress: 5 as never }), /onProgress/);
  });

  it("a memory-only database reports no progress", async () => {
    const seen: LoadProgress[] = [];
    const db = await Database.open({ onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen, []);
    await db.close();
  });
});

describe("db.stats() of a durable database", () => {
  it("counts log bytes, fsyncs and snapshots; says why writes are refused", async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ dir: "db", storage, sync: "always" });
    const s0 = db.stats();
    assert.equal(s0.storage, "memory");
    assert.equal(s0.sync, "always");
    assert.deepEqual(s0.wal, { bytes: 0, bytesSinceSnapshot: 0 });
    assert.equal(s0.snapshot, null, "a new directory has no snapshot");
    const d = db.createDict("d");
    d.set("a", "x".repeat(1000));
    await db.flush();
    const s1 = db.stats();
    assert.ok(s1.wal!.bytes > 1000, `log bytes: ${s1.wal!.bytes}`);
    assert.equal(s1.wal!.bytesSinceSnapshot, s1.wal!.bytes);
    assert.ok(s1.fsync!.count >= 1, "sync always fsyncs");
    assert.equal(s1.durableLsn, 2);
    const counters = db.durabilityCounters!;
    assert.equal(
      counters.fsync.buckets.reduce((a, b) => a + b, 0),
      counters.fsync.count,
      "the histogram counts each fsync",
    );

    await db.snapshot();
    const s2 = db.stats();
    assert.equal(s2.snapshot?.lsn, 2);
    assert.equal(s2.snapshot?.written, true);
    assert.ok(typeof s2.snapshot?.durationMs === "number" && s2.snapshot.bytes > 1000);
    assert.ok(Math.abs(s2.snapshot!.at - Date.now()) < 60_000);
    assert.deepEqual(s2.snapshots, { written: 1, failed: 0 });
    assert.equal(s2.wal!.bytesSinceSnapshot, 0, "the snapshot started a new count");
    assert.equal(s2.wal!.bytes, s1.wal!.bytes, "the total goes on");

    storage.setFault({ readOnly: true });
    d.set("b", 1);
    await assert.rejects(db.flush(), StorageError);
    const s3 = db.stats();
    assert.equal(s3.storageError?.code, "STORAGE");
    assert.match(s3.storageError!.message, /^[A-Z]/);
    storage.setFault(null);
    await db.close().catch(() => {});
  });

  it("approxBytes is about the encoded size of the data, sampled", async () => {
    const db = await Database.open();
    const big = "y".repeat(1000);
    db.createDict("d", Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, big])));
    db.createList("l", Array.from({ length: 500 }, () => ({ name: "n".repeat(100), tags: [1, 2, 3] })));
    const t = db.createTable({
      name: "t",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "s", type: "Utf8" }],
    });
    for (let i = 0; i < 300; i++) t.insert({ id: i, s: "z".repeat(500) });
    const s = db.stats();
    const within = (got: number, want: number, what: string) =>
      assert.ok(got > want * 0.8 && got < want * 1.5, `${what}: ${got}, about ${want}`);
    within(s.kinds.dict.approxBytes, 200 * 1000, "dict");
    within(s.kinds.list.approxBytes, 500 * 120, "list");
    within(s.kinds.table.approxBytes, 300 * 500, "table");
    assert.equal(s.items, 1000);
    await db.close();
  });
});

describe("the app while its database loads (a promise, resolved by the test)", () => {
  it("answers /health 503 loading and every authorized request LOADING, then serves", async () => {
    let open!: (db: Database) => void;
    const pending = new Promise<Database>((r) => (open = r));
    const { app } = createApp(pending, {
      upgradeWebSocket: noUpgrade,
      password: "pw",
      loadProgress: () => LOADING_PROGRESS,
      notice: () => {},
    });
    const rpc = (body: unknown, auth = "Bearer pw") =>
      app.request("/v1/rpc", {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    const health = await app.request("/health");
    assert.equal(health.status, 503);
    const h = await health.json();
    assert.equal(h.status, "loading");
    assert.deepEqual(h.progress, LOADING_PROGRESS);
    assert.equal(h.error.code, "LOADING");

    assert.equal((await rpc({ op: "db.collections", args: [] }, "Bearer wrong")).status, 401, "auth still applies");
    for (
      const body of [
        { op: "db.collections", args: [] },
        [{ op: "dict.get", args: ["d", "k"] }],
        { atomic: true, ops: [{ op: "dict.set", args: ["d", "k", 1] }] },
      ]
    ) {
      const res = await rpc(body);
      const json = await res.json();
      const reply = Array.isArray(json) ? json[0] : json;
      assert.equal(reply.error.code, "LOADING", JSON.stringify(body));
      assert.match(reply.error.message, /still loading.*log: 12,000 records, 3\.0 of 12\.0 MB \(25%\).*retry/);
      if (!Array.isArray(json)) assert.equal(res.status, 503);
    }
    const arrow = await app.request("/v1/arrow/t", { headers: { authorization: "Bearer pw" } });
    assert.equal(arrow.status, 503);
    assert.equal((await arrow.json()).error.code, "LOADING");
    const sse = await app.request("/v1/watch", { headers: { authorization: "Bearer pw" } });
    assert.equal(sse.status, 503);
    assert.equal((await sse.json()).error.code, "LOADING");
    const metrics = await app.request("/metrics", { headers: { authorization: "Bearer pw" } });
    assert.equal(metrics.status, 200);
    const samples = parseExposition(await metrics.text());
    assert.equal(samples.get("cyberdb_loading"), 1);
    assert.equal(samples.get('cyberdb_ops_total{op="db.collections",outcome="LOADING"}'), 1);
    assert.equal(samples.get("cyberdb_lsn"), undefined, "no database metrics before it is there");

    const db = await Database.open();
    open(db);
    await pending;
    assert.equal((await app.request("/health")).status, 200);
    assert.deepEqual(await (await rpc({ op: "db.createDict", args: ["d"] })).json(), { ok: true, value: null });
    const after = parseExposition(
      await (await app.request("/metrics", { headers: { authorization: "Bearer pw" } })).text(),
    );
    assert.equal(after.get("cyberdb_loading"), 0);
    assert.equal(after.get("cyberdb_lsn"), 1);
    assert.equal(after.get('cyberdb_collections{kind="dict"}'), 1);
    await db.close();
  });

  it("a database that fails to open is not waited for", async () => {
    const failing = Promise.reject(new StorageError("No disk"));
    const { app } = createApp(failing, { upgradeWebSocket: noUpgrade, notice: () => {} });
    await failing.catch(() => {});
    const res = await app.request("/v1/rpc", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "db.lsn", args: [] }),
    });
    assert.equal((await res.json()).error.code, "CLOSED");
  });
});

describe("/metrics text and --verbose lines", () => {
  it("histograms are cumulative per op, with +Inf equal to the count", () => {
    const m = new Metrics();
    const get = m.slot("dict.get");
    for (const s of [0.000001, 0.00003, 0.0004, 0.004, 0.04, 0.4, 4, 40]) m.observe(get, s, null);
    m.observe(m.slot("dict.set"), 0.001, "STORAGE");
    const samples = parseExposition(m.render({ connections: { http: 1, ws: 2, sse: 0 }, loading: false, db: null }));
    checkHistograms(samples, "cyberdb_op_duration_seconds");
    assert.equal(samples.get('cyberdb_op_duration_seconds_count{op="dict.get"}'), 8);
    assert.equal(samples.get(`cyberdb_op_duration_seconds_bucket{op="dict.get",le="${OP_BUCKETS[0]}"}`), 1);
    assert.equal(samples.get('cyberdb_op_duration_seconds_bucket{op="dict.get",le="+Inf"}'), 8);
    assert.ok(Math.abs(samples.get('cyberdb_op_duration_seconds_sum{op="dict.get"}')! - 44.444431) < 1e-6);
    assert.equal(samples.get('cyberdb_ops_total{op="dict.get",outcome="ok"}'), 8);
    assert.equal(samples.get('cyberdb_ops_total{op="dict.set",outcome="STORAGE"}'), 1);
    assert.equal(samples.get('cyberdb_ops_total{op="dict.set",outcome="ok"}'), undefined, "only what happened");
    assert.equal(samples.get('cyberdb_connections{transport="ws"}'), 2);
    assert.equal(samples.get('cyberdb_op_duration_seconds_count{op="dict.has"}'), undefined);
  });

  it("an op name a client made up is counted as unknown, never as a label of its own", () => {
    const m = new Metrics();
    m.observe(m.slot('evil"} 1\n# TYPE x counter'), 0.001, "PROTOCOL");
    m.observe(m.slot(42), 0.001, "PROTOCOL");
    const text = m.render({ connections: { http: 0, ws: 0, sse: 0 }, loading: true, db: null });
    assert.doesNotMatch(text, /evil/);
    assert.equal(parseExposition(text).get('cyberdb_ops_total{op="unknown",outcome="PROTOCOL"}'), 2);
  });

  it("--verbose lines keep values and messages short", () => {
    const lines: string[] = [];
    const monitor = new Monitor({ verbose: (l) => lines.push(l) });
    const t0 = now();
    monitor.op(monitor.metrics.slot("dict.set"), ["d", "k", "v".repeat(100_000)], t0, {
      code: "VALIDATION",
      message: "Value is bad: " + "m".repeat(100_000),
    }, { transport: "http", peer: "10.0.0.9" });
    monitor.op(monitor.metrics.slot("dict.get"), ["d", "k"], t0, null);
    monitor.authFailed("10.0.0.9", "Wrong password: check it");
    monitor.connection("ws", "10.0.0.9", "opened");
    assert.equal(lines.length, 3, "a success is not a line");
    assert.match(
      lines[0],
      /^cyberdb: http 10\.0\.0\.9 dict\.set\("d", "k", "vvv[v.]*"?\) failed with VALIDATION: Value is bad: m+\.\.\.$/,
    );
    for (const l of lines) assert.ok(l.length < 600, `short: ${l.length}`);
    assert.equal(lines[1], "cyberdb: auth refused for 10.0.0.9: Wrong password: check it");
    assert.equal(lines[2], "cyberdb: ws 10.0.0.9 opened");
    const quiet = new Monitor();
    quiet.op(quiet.metrics.slot("dict.set"), [], t0, { code: "VALIDATION", message: "x" });
    assert.equal(quiet.verbose, false);
  });

  it("progress lines and the LOADING message say how far loading is", () => {
    const p: LoadProgress = {
      phase: "snapshot",
      records: 1_234_567,
      bytes: 50_000_000,
      totalBytes: 200_000_000,
      elapsedMs: 3_000,
      phaseMs: 2_000,
      snapshotItems: 0,
      logRecords: 0,
    };
    assert.equal(
      progressLine(p),
      "cyberdb: loading snapshot: 1,234,567 items, 50.0 of 200.0 MB (25%), 25.0 MB/s, 3.0 s",
    );
    assert.equal(
      progressLine({
        ...p,
        phase: "done",
        records: 1500,
        bytes: 8e6,
        totalBytes: 8e6,
        snapshotItems: 1000,
        logRecords: 500,
        elapsedMs: 2_000,
      }),
      "cyberdb: loaded 1,000 snapshot items and 500 log records (8.0 MB, 4.0 MB/s) in 2.0 s",
    );
    const e = loadingError(p);
    assert.equal(e.code, "LOADING");
    assert.equal(
      e.message,
      "The server is still loading its data (snapshot: 1,234,567 items, 50.0 of 200.0 MB (25%) after 3.0 s): " +
        "retry in a moment; GET /health answers 200 once it is ready",
    );
  });

  it("--verbose and CYBERDB_VERBOSE turn the lines on", () => {
    assert.equal(parseConfig([], {}).verbose, false);
    assert.equal(parseConfig(["--verbose"], {}).verbose, true);
    assert.equal(parseConfig(["--verbose=false"], {}).verbose, false);
    assert.equal(parseConfig([], { CYBERDB_VERBOSE: "1" }).verbose, true);
    assert.equal(parseConfig(["--verbose", "--port", "0"], {}).port, 0, "a switch takes no value");
  });

  it("--preallocate and CYBERDB_PREALLOCATE size the zeros ahead of the log; bad values and --memory are refused", () => {
    assert.equal(parseConfig([], {}).preallocate, undefined, "the database's default");
    assert.equal(parseConfig(["--preallocate", "0"], {}).preallocate, 0);
    assert.equal(parseConfig([], { CYBERDB_PREALLOCATE: "4194304" }).preallocate, 4194304);
    for (const bad of ["-1", "1.5", "lots", ""]) {
      assert.throws(() => parseConfig(["--preallocate", bad], {}), (e: Error) => {
        assert.equal((e as { code?: string }).code, "VALIDATION");
        assert.match(e.message, /--preallocate .* is not an integer from 0 to 1073741824/);
        return true;
      });
    }
    assert.throws(() => parseConfig(["--memory", "--preallocate", "0"], {}), /does nothing with --memory/);
  });
});
