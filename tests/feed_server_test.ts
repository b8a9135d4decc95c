// The change feed over the wire (issue 11 item 5), against real server
// processes: the model-based property test over WebSocket and over
// Server-Sent Events — random histories written by another client, the
// server stopped and started again halfway (the watchers reconnect and
// resume from the last LSN they delivered: no gap, no repeat), a watcher
// from LSN 0 reading the log of the restarted server — each model equal to
// the server at the end; then the wire's corners: LAGGED for a consumer
// that does not read (server memory bounded), RESET, the SSE format as curl
// and EventSource see it (id = LSN, Last-Event-ID), tokens, origin rules,
// bad input, and table.watch remotely.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Change,
  type Client,
  connect,
  LaggedError,
  NotFoundError,
  ResetError,
  ValidationError,
} from "../client.ts";
import { encode } from "../src/wire/codec.ts";
import { Model, NAMES, randomOp, type Readable, readState, rng } from "./fixtures/feed_model.ts";
import { rawSocket, sseEvents as events, startServer, tempDir, webSocket } from "./server_process.ts";

const PW = "feed-pw";

function readable(c: Client): Readable {
  return {
    collections: () => c.collections(),
    dictEntries: async (name) => {
      const d = await c.getDict(name);
      const out: [string | number, unknown, number][] = [];
      for (const [k, v] of await d.entries()) out.push([k, v, (await d.getEntry(k))!.version]);
      return out as never;
    },
    listItems: async (name) => (await c.getList(name)).toArray(),
    tableRows: async (name) => {
      const t = await c.getTable(name);
      const rows = await t.toArray();
      return await Promise.all(
        rows.map(async (row) => [row.id as number, row, (await t.getEntry(row.id as number))!.version]),
      ) as never;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(ok: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Random writes through `c`: single ops, atomic batches rolled back by a failing op or a failed check. */
async function history(c: Client, seed: number, steps: number): Promise<void> {
  const r = rng(seed);
  for (let i = 0; i < steps; i++) {
    const roll = r.int(15);
    try {
      if (roll === 0) {
        const ops = [randomOp(r, 30), randomOp(r, 30)];
        // A third roll back: the last op fails, so none is applied.
        if (r.chance(0.35)) ops.push({ op: "list.pop", args: ["no such list"] });
        await c.atomic(ops);
      } else if (roll === 1) {
        const d = r.pick(NAMES.dict);
        await c.atomic([{ op: "dict.set", args: [d, "never", 1] }], {
          checks: [{ collection: d, key: "never", version: 1e9 }],
        });
      } else {
        const op = randomOp(r, 30);
        await c.call(op.op, op.args);
      }
    } catch { /* a refused write changes nothing */ }
  }
}

/** Reads a watch into a model until stopped; a model that cannot apply a batch fails the waits on it. */
function follow(stream: AsyncIterable<import("../client.ts").Change[]>): { model: Model; lsn(): number } {
  const model = new Model();
  let error: unknown = null;
  (async () => {
    for await (const batch of stream) model.apply(batch);
  })().catch((e) => (error = e));
  return {
    model,
    lsn() {
      if (error !== null) throw error;
      return model.lsn;
    },
  };
}

/**
 * The property test: random histories written by one client while a
 * watcher over WebSocket and one over SSE build models from the changes;
 * halfway the server is stopped (`"stop"`) or killed while writes are in
 * flight (`"kill"`) and started again on the same port; the watchers resume
 * from the last LSN they delivered. At the end each model equals the server,
 * both saw the same commits once each, and watchers from LSN 0 read the
 * same from the restarted server's log.
 */
async function modelAcrossRestart(extraFlags: string[], how: "stop" | "kill"): Promise<void> {
  const data = await tempDir("cyberdb-feed-");
  const flags = ["--dir", data.dir, "--password", PW, ...extraFlags];
  let server = await startServer(flags);
  const port = server.port;
  const WebSocket = await webSocket();
  const writer = await connect(server.ws, { password: PW, WebSocket });
  const wsClient = await connect(server.ws, { password: PW, WebSocket });
  const sseClient = await connect(server.http, { password: PW });
  try {
    const wsWatch = wsClient.watch();
    const sseWatch = sseClient.watch();
    assert.equal(await wsWatch.ready(), 0);
    assert.equal(await sseWatch.ready(), 0);
    const history0 = wsWatch.history;
    const ws = follow(wsWatch);
    const sse = follow(sseWatch);
    // Caught up: both models at the server's LSN now (the expirer may commit any time, so asked afresh).
    const caughtUp = async () => {
      const lsn = await writer.lsn();
      return ws.lsn() === lsn && sse.lsn() === lsn;
    };
    await history(writer, 21, 250);
    assert.ok(await writer.lsn() > 60, `only ${await writer.lsn()} commits`);
    await until(caughtUp, "the watchers before the restart");

    if (how === "stop") {
      // Stopped and started again on the same port: the watchers reconnect and resume.
      assert.equal(await server.stop(), 0);
      server = await startServer(flags, { port });
    } else {
      // Killed with writes in flight: those may or may not have happened, and the models must say which.
      const more = history(writer, 23, 100);
      await sleep(30);
      await server.kill();
      server = await startServer(flags, { port });
      await more;
    }
    await history(writer, 22, 150);
    // Every short expiry (30 ms) passes, and the server removes those keys: deletes.
    const lastShort = ws.model.expiries().filter((at) => at < Date.now() + 60_000).reduce(
      (a, b) => Math.max(a, b),
      0,
    );
    await until(() => Date.now() > lastShort, "the short expiries to pass");
    await until(
      async () => ws.model.due(Date.now()) === 0 && await caughtUp(),
      "the watchers to catch up with every write and every expiry",
    );
    const now = Date.now();
    const server_ = await readState(readable(writer));
    assert.deepStrictEqual(ws.model.state(now), server_, "over WebSocket");
    assert.deepStrictEqual(sse.model.state(now), server_, "over SSE");
    // No gap, no repeat: both saw every commit, once, in order, in one history.
    assert.deepStrictEqual(sse.model.seen, ws.model.seen);
    assert.equal(wsWatch.history, history0, "the same history: the resume went on");

    // A new watcher from LSN 0 reads the restarted server's log.
    const fromLog = follow(sseClient.watch({ from: 0 }));
    const wsFromLog = follow(wsClient.watch({ from: 0 }));
    const last = await writer.lsn();
    await until(() => fromLog.lsn() === last && wsFromLog.lsn() === last, "the watchers from the log");
    assert.deepStrictEqual(fromLog.model.seen, ws.model.seen);
    assert.deepStrictEqual(fromLog.model.state(now), server_, "from the log");
    assert.deepStrictEqual(wsFromLog.model.state(now), server_, "from the log, over WebSocket");
    // Every commit that changed data was a batch (createIndex changes none).
    assert.ok(ws.model.seen.length > last * 0.8, `${ws.model.seen.length} batches of ${last} commits`);
  } finally {
    await Promise.all([writer.close(), wsClient.close(), sseClient.close()]);
    assert.equal(await server.stop(), 0);
    await data.remove();
  }
}

describe("change feed over the wire: the model built from the changes is the server", () => {
  it("over WebSocket and SSE, across a server restart, and from the log of the restarted server", async () => {
    await modelAcrossRestart(["--flush-interval", "10"], "stop");
  });

  it("with --sync always (every watch durable), across a kill with writes in flight: the watchers resume exactly", async () => {
    // No watcher can have seen a commit the kill lost, so the history goes on (durable/history.ts).
    await modelAcrossRestart(["--sync", "always"], "kill");
  });
});

describe("change feed over the wire: slow consumers, resets, bad input", () => {
  it("a watcher that does not read gets LAGGED with its LSN; the server sends it nothing meanwhile", async () => {
    const server = await startServer(["--memory", "--watch-buffer", "8"]);
    const raw = await rawSocket(`${server.ws}/v1/ws`);
    try {
      raw.ws.send(encode({ id: 0, op: "auth", args: [null] }));
      await raw.next();
      // Credit for one batch only, never granted more until the end.
      raw.ws.send(encode({ id: 7, watch: {}, credit: 1 }));
      const first = await raw.next() as { value: { history: string } };
      assert.match(first.value.history, /^[0-9a-f]{32}$/);
      assert.deepStrictEqual(first, {
        ok: true,
        more: true,
        id: 7,
        value: { lsn: 0, changes: [], history: first.value.history },
      });
      const c = await connect(server.http);
      const d = await c.createDict("d");
      assert.equal(((await raw.next()) as { value: { lsn: number } }).value.lsn, 1);
      for (let i = 0; i < 30; i++) await d.set(i, "x".repeat(100));
      // Nothing was sent beyond the credit: a reply asked for now comes before any watch frame.
      raw.ws.send(encode({ id: 8, op: "db.lsn", args: [] }));
      assert.deepStrictEqual(await raw.next(), { id: 8, ok: true, value: 31 });
      raw.ws.send(encode({ id: 7, credit: 100 }));
      const end = await raw.next() as { id: number; ok: boolean; error: { code: string; message: string } };
      assert.equal(end.ok, false);
      assert.equal(end.error.code, "LAGGED");
      assert.match(end.error.message, /from: 1\b/);
      // The client: a LaggedError carrying the LSN to resume from, then RESET from a memory-only server.
      const WebSocket = await webSocket();
      const client = await connect(server.ws, { WebSocket });
      const w = client.watch({ collections: ["d"] });
      const at = await w.ready();
      for (let i = 0; i < 300; i++) await d.set("k", i);
      let lagged: LaggedError | null = null;
      let got = 0;
      try {
        for await (const _ of w) got++;
      } catch (e) {
        lagged = e as LaggedError;
      }
      assert.ok(lagged instanceof LaggedError, String(lagged));
      assert.equal(lagged.lsn, at + got);
      assert.ok(got >= 1 && got < 300, `${got} batches before the lag`);
      await assert.rejects(client.watch({ from: lagged.lsn }).next(), ResetError);
      await client.close();
      await c.close();
    } finally {
      raw.ws.close();
      assert.equal(await server.stop(), 0);
    }
  });

  it("bad watches are typed errors, and the connection stays usable", async () => {
    const server = await startServer(["--memory", "--password", PW]);
    const WebSocket = await webSocket();
    for (const url of [server.ws, server.http]) {
      const c = await connect(url, { password: PW, WebSocket });
      try {
        await c.createDict("d");
        await assert.rejects(c.watch({ collections: ["nope"] }).next(), NotFoundError);
        await assert.rejects(
          c.watch({ from: 99 }).next(),
          (e) => e instanceof ValidationError && /beyond/.test(e.message),
        );
        assert.throws(() => c.watch({ from: -1 }), ValidationError);
        assert.throws(() => c.watch({ colections: ["d"] } as never), ValidationError);
        assert.throws(() => c.watch({ durable: "yes" } as never), ValidationError);
        assert.throws(() => c.watch({ collections: [] }), ValidationError);
        // Still usable, and a good watch works.
        const w = c.watch({ collections: ["d"] });
        const at = await w.ready();
        await (await c.getDict("d")).set("a", 1);
        assert.deepStrictEqual((await w.next()).value, [
          { lsn: at + 1, collection: "d", kind: "dict", type: "set", key: "a", value: 1 },
        ]);
        await w.return();
        await c.drop("d");
      } finally {
        await c.close();
      }
    }
    assert.equal(await server.stop(), 0);
  });

  it("a server in sync always delivers a write only once it is on disk, to watches over both transports", async () => {
    const data = await tempDir("cyberdb-feed-always-");
    const server = await startServer(["--dir", data.dir, "--sync", "always"]);
    const WebSocket = await webSocket();
    const ws = await connect(server.ws, { WebSocket });
    const http = await connect(server.http);
    try {
      const a = ws.watch();
      const b = http.watch();
      await a.ready();
      await b.ready();
      const d = await ws.createDict("d");
      await d.set("k", 1);
      for (const w of [a, b]) {
        assert.deepStrictEqual(((await w.next()).value as Change[]).map((c) => c.type), ["create"]);
        assert.deepStrictEqual((await w.next()).value, [
          { lsn: 2, collection: "d", kind: "dict", type: "set", key: "k", value: 1 },
        ]);
      }
      await a.return();
      await b.return();
    } finally {
      await ws.close();
      await http.close();
      assert.equal(await server.stop(), 0);
      await data.remove();
    }
  });

  it("table.watch remotely: enter, change, leave", async () => {
    const server = await startServer(["--memory"]);
    const WebSocket = await webSocket();
    const c = await connect(server.ws, { WebSocket });
    try {
      const t = await c.createTable(
        {
          name: "t",
          columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "score", type: "Int32" }],
        } as const,
      );
      await t.insert({ id: 1, score: 10 });
      const top = t.watch({ where: { column: "score", op: ">=", value: 10 } });
      assert.deepStrictEqual((await top.next()).value, [{ lsn: 2, type: "enter", key: 1, row: { id: 1, score: 10 } }]);
      await t.insert({ id: 2, score: 5 });
      await t.patch(2, { score: 50 });
      await t.patch(1, { score: 11 });
      await t.delete(2);
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(...((await top.next()).value ?? []));
      assert.deepStrictEqual(seen, [
        { lsn: 4, type: "enter", key: 2, row: { id: 2, score: 50 } },
        { lsn: 5, type: "change", key: 1, row: { id: 1, score: 11 } },
        { lsn: 6, type: "leave", key: 2 },
      ]);
      await top.return();
    } finally {
      await c.close();
      assert.equal(await server.stop(), 0);
    }
  });
});

describe("GET /v1/watch: Server-Sent Events", () => {
  it("watch tokens: valid until they expire, for the password that issued them only", async () => {
    const { TOKEN_TTL_MS, WatchTokens } = await import("../src/server/watch.ts");
    const tokens = new WatchTokens("secret");
    const now = 1_700_000_000_000;
    const { token, expiresAt } = await tokens.issue(now);
    assert.equal(expiresAt, now + TOKEN_TTL_MS);
    assert.equal(await tokens.check(token, now + TOKEN_TTL_MS - 1), null);
    assert.match((await tokens.check(token, now + TOKEN_TTL_MS))!.message, /expired/);
    assert.match((await new WatchTokens("other").check(token, now))!.message, /not valid/);
    assert.match((await tokens.check("nonsense", now))!.message, /malformed/);
    // The expiry is part of what is signed: a longer life cannot be forged.
    const [, mac] = token.split(".");
    assert.match((await tokens.check(`${(now * 2).toString(36)}.${mac}`, now))!.message, /not valid/);
  });

  it("id is <history>:<LSN>, Last-Event-ID resumes, values are tagged JSON; auth by header or token", async () => {
    const server = await startServer(["--memory", "--password", PW]);
    const auth = { authorization: `Bearer ${PW}` };
    try {
      const c = await connect(server.http, { password: PW });
      // A memory-only server resumes from the commits its feed recorded: it records while anyone watches.
      const keep = c.watch();
      await keep.ready();
      const d = await c.createDict("d");
      await d.set("a", 1n);
      await d.set("b", new Uint8Array([1, 2]));
      const res = await fetch(`${server.http}/v1/watch?collections=d&from=1`, { headers: auth });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
      const got = await events(res, 3);
      const h = (await c.stats()).historyId;
      assert.match(h, /^[0-9a-f]{32}$/);
      assert.deepStrictEqual(got, [
        { id: `${h}:1`, event: "ready", data: `{"lsn":1,"history":"${h}"}` },
        {
          id: `${h}:2`,
          data:
            '{"lsn":2,"changes":[{"lsn":2,"collection":"d","kind":"dict","type":"set","key":"a","value":{"$bigint":"1"}}]}',
        },
        {
          id: `${h}:3`,
          data:
            '{"lsn":3,"changes":[{"lsn":3,"collection":"d","kind":"dict","type":"set","key":"b","value":{"$bytes":"AQI="}}]}',
        },
      ]);
      // An EventSource reconnecting sends the last id it saw.
      const again = await fetch(`${server.http}/v1/watch`, { headers: { ...auth, "last-event-id": `${h}:2` } });
      assert.deepStrictEqual((await events(again, 2)).map((e) => e.id), [`${h}:2`, `${h}:3`]);
      // A bare LSN (an older client's id) still resumes, as this history's.
      const bare = await fetch(`${server.http}/v1/watch`, { headers: { ...auth, "last-event-id": "2" } });
      assert.deepStrictEqual((await events(bare, 2)).map((e) => e.id), [`${h}:2`, `${h}:3`]);
      // Unauthenticated: 401. A token from an authenticated call opens the stream (and nothing else).
      const none = await fetch(`${server.http}/v1/watch`);
      assert.equal(none.status, 401);
      assert.equal((await none.json()).error.code, "AUTH");
      const url = await c.watchUrl({ collections: ["d"], from: 2 });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/watch\?collections=d&from=2&token=[0-9a-z]+\.[\w-]{43}$/);
      const byToken = await fetch(url);
      assert.equal(byToken.status, 200);
      assert.deepStrictEqual((await events(byToken, 2)).map((e) => e.id), [`${h}:2`, `${h}:3`]);
      const token = new URL(url).searchParams.get("token")!;
      const forged = token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA");
      const bad = await fetch(`${server.http}/v1/watch?token=${forged}`);
      assert.equal(bad.status, 401);
      assert.match((await bad.json()).error.message, /not valid/);
      const rpc = await fetch(`${server.http}/v1/rpc?token=${token}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ op: "db.collections", args: [] }),
      });
      assert.equal(rpc.status, 401, "a token opens event streams only");
      await rpc.body?.cancel();
      await keep.return();
      // Errors before the stream are ordinary replies (an EventSource then stops retrying).
      const cases: [string, Record<string, string>, number, string][] = [
        ["?collections=nope", auth, 404, "NOT_FOUND"],
        ["?from=abc", auth, 400, "PROTOCOL"],
        ["?from=99", auth, 400, "VALIDATION"],
        ["", { ...auth, "last-event-id": "99" }, 410, "RESET"],
        ["", { ...auth, "last-event-id": `${"0".repeat(32)}:2` }, 410, "RESET"],
        ["?from=00000000000000000000000000000000:2", auth, 410, "RESET"],
        ["", { ...auth, "last-event-id": "a:b:2" }, 400, "PROTOCOL"],
        ["?colections=d", auth, 400, "PROTOCOL"],
      ];
      for (const [query, headers, status, code] of cases) {
        const r = await fetch(`${server.http}/v1/watch${query}`, { headers });
        assert.equal(r.status, status, query);
        assert.equal((await r.json()).error.code, code, query);
      }
      await c.close();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it("without a password: loopback pages may watch, other origins are refused", async () => {
    const server = await startServer(["--memory"]);
    try {
      const evil = await fetch(`${server.http}/v1/watch`, { headers: { origin: "http://evil.example" } });
      assert.equal(evil.status, 403);
      await evil.body?.cancel();
      const local = await fetch(`${server.http}/v1/watch`, { headers: { origin: "http://localhost:5173" } });
      assert.equal(local.status, 200);
      assert.equal(local.headers.get("access-control-allow-origin"), "http://localhost:5173");
      const [ready] = await events(local, 1);
      const h = ready.id!.split(":")[0];
      assert.deepStrictEqual(ready, { id: `${h}:0`, event: "ready", data: `{"lsn":0,"history":"${h}"}` });
      // The token route answers an empty token: none is needed.
      const t = await fetch(`${server.http}/v1/watch/token`, { method: "POST" });
      assert.deepStrictEqual(await t.json(), { ok: true, value: { token: "", expiresAt: null } });
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
