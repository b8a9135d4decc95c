// History ids (issue 11, resuming): an LSN names a write only within one
// history. A memory-only server that restarts counts from 0 again, so a
// watcher resuming "after LSN N" there must be told RESET — not resume
// silently once the new server passed N, skipping the new history up to it.
// A durable directory keeps its id while its LSNs surely continue: across a
// clean close, and across a crash if every watch was durable; a crash after a
// watch saw commits before their fsync, a cut log, a new directory or one
// without the file get a new one. Clients that send no id behave as before.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Change, type Client, connect, ResetError } from "../client.ts";
import { CorruptionError, Database, ValidationError } from "../mod.ts";
import { abandon, Machine } from "./fixtures/durability_common.ts";
import { type ServerProcess, sseEvents, startServer, tempDir, webSocket } from "./server_process.ts";

/** Whether `path` exists. */
async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** Takes batches from `stream` until one has LSN `lsn` (bounded). */
async function takeUntil(stream: AsyncIterator<Change[]>, lsn: number): Promise<Change[]> {
  const seen: Change[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = await stream.next();
    assert.equal(r.done, false);
    seen.push(...r.value);
    if (r.value[0].lsn >= lsn) return seen;
  }
  throw new Error(`LSN ${lsn} did not come`);
}

/** `n` commits on a fresh connection to `url`; the server's LSN after them. */
async function writes(url: string, n: number): Promise<number> {
  const c = await connect(url);
  try {
    const d = (await c.collections()).some((x) => x.name === "d") ? await c.getDict("d") : await c.createDict("d");
    for (let i = 0; i < n; i++) await d.set(`k${i}`, i);
    return await c.lsn();
  } finally {
    await c.close();
  }
}

/**
 * A server on a fresh directory (with `flags`) and a client whose watch has
 * seen its first writes (LSN `before`, history `id`); `restart` stops it
 * cleanly or kills it and starts it again on the same port (answering its
 * HTTP URL). Everything is stopped and removed afterwards.
 */
async function watchedServer(
  flags: string[],
  check: (t: {
    dir: string;
    client: Client;
    stream: ReturnType<Client["watch"]>;
    before: number;
    id: string;
    restart(how: "stop" | "kill"): Promise<string>;
  }) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir("cyberdb-history-");
  let server = await startServer(["--dir", tmp.dir, ...flags]);
  let client: Client | null = null;
  try {
    client = await connect(server.ws, { WebSocket: await webSocket(), timeout: 30_000 });
    const stream = client.watch();
    await stream.ready();
    const before = await writes(server.http, 3);
    await takeUntil(stream, before);
    const restart = async (how: "stop" | "kill") => {
      if (how === "stop") assert.equal(await server.stop(), 0);
      else await server.kill();
      server = await startServer(["--dir", tmp.dir, ...flags], { port: server.port });
      return server.http;
    };
    await check({ dir: tmp.dir, client, stream, before, id: stream.history!, restart });
  } finally {
    await client?.close();
    await server.stop();
    await tmp.remove();
  }
}

/**
 * Kills `server` (no goodbye) and starts a new memory-only one on its port,
 * with a watcher (`keeper`, closed by the caller) so that its feed records
 * from LSN 0: "after LSN N" is then a position it can serve — the case where
 * a resume would otherwise go on silently from another history.
 */
async function restartMemory(server: ServerProcess): Promise<{ server: ServerProcess; keeper: Client }> {
  await server.kill();
  const next = await startServer(["--memory"], { port: server.port });
  const keeper = await connect(next.http);
  await keeper.watch().ready();
  return { server: next, keeper };
}

describe("a memory-only server restarted: resuming watchers get RESET, never a silent gap", () => {
  for (const transport of ["ws", "http"] as const) {
    it(`client.watch over ${transport}`, async () => {
      let server = await startServer(["--memory"]);
      let client: Client | null = null;
      let keeper: Client | null = null;
      try {
        const url = transport === "ws" ? server.ws : server.http;
        const http = server.http;
        client = await connect(url, { WebSocket: await webSocket(), timeout: 30_000 });
        const stream = client.watch();
        await stream.ready();
        const before = await writes(http, 4); // create + 4 sets: LSN 5
        await takeUntil(stream, before);
        assert.equal(stream.lsn, before);
        const first = stream.history!;
        assert.match(first, /^[0-9a-f]{32}$/);
        assert.equal(await client.historyId(), first);

        // Killed (no goodbye), and a new memory-only server on the same port
        // passes the LSN the watcher saw before the watcher asks again.
        ({ server, keeper } = await restartMemory(server));
        const now = await writes(http, before + 3);
        assert.ok(now > before);
        await assert.rejects(stream.next(), (e: unknown) => {
          assert.ok(e instanceof ResetError, String(e));
          assert.match((e as Error).message, /history/);
          return true;
        });

        // Read again and watch anew from the server's LSN: works, with the new history.
        const d = await client.getDict<number>("d");
        assert.equal(await d.get("k6"), 6);
        const fresh = client.watch();
        assert.equal(await fresh.ready(), now);
        assert.notEqual(fresh.history, first);
        await d.set("after", 1);
        const [c] = await takeUntil(fresh, now + 1);
        assert.deepStrictEqual([c.lsn, c.type, (c as { key?: unknown }).key], [now + 1, "set", "after"]);
        await fresh.return();
      } finally {
        await keeper?.close();
        await client?.close();
        await server.stop();
      }
    });
  }

  it("a resume without a history id (an older client) behaves as before", async () => {
    let server = await startServer(["--memory"]);
    try {
      await writes(server.http, 2);
      let keeper: Client;
      ({ server, keeper } = await restartMemory(server));
      const client = await connect(server.ws, { WebSocket: await webSocket() });
      const now = await writes(server.http, 5);
      // The position alone is taken as this server's: today's behaviour, no RESET.
      const old = client.watch({ from: 3 });
      assert.equal(await old.ready(), 3);
      const seen = await takeUntil(old, now);
      assert.deepStrictEqual(seen.map((c) => c.lsn), [4, 5, 6]);
      await old.return();
      // With this server's id it resumes too; with another it is RESET.
      const h = (await client.stats()).historyId;
      const same = client.watch({ from: 3, history: h });
      assert.equal(await same.ready(), 3);
      await same.return();
      await assert.rejects(client.watch({ from: 3, history: "0".repeat(32) }).ready(), ResetError);
      await keeper.close();
      await client.close();
    } finally {
      await server.stop();
    }
  });
});

describe("SSE: Last-Event-ID carries the history", () => {
  it("an EventSource resuming on a restarted memory-only server gets 410 RESET; a bare LSN resumes as before", async () => {
    let server = await startServer(["--memory"]);
    try {
      const res = await fetch(`${server.http}/v1/watch`);
      await writes(server.http, 2);
      const ids = await eventIds(res, 4); // ready, then LSNs 1 to 3
      const last = ids[3];
      assert.match(last, /^[0-9a-f]{32}:3$/);
      let keeper: Client;
      ({ server, keeper } = await restartMemory(server));
      await writes(server.http, 6);
      const reset = await fetch(`${server.http}/v1/watch`, { headers: { "last-event-id": last } });
      assert.equal(reset.status, 410);
      const body = await reset.json();
      assert.equal(body.error.code, "RESET");
      assert.match(body.error.message, /history/);
      // An older client's bare id: resumes after it, on this server's history.
      const bare = await fetch(`${server.http}/v1/watch`, { headers: { "last-event-id": "3" } });
      assert.equal(bare.status, 200);
      const got = await eventIds(bare, 2);
      assert.match(got[1], /^[0-9a-f]{32}:4$/);
      assert.notEqual(got[1].split(":")[0], last.split(":")[0]);
      await keeper.close();
    } finally {
      await server.stop();
    }
  });
});

describe("a durable directory keeps its history id", () => {
  it("across a server restart the id stays and a watcher resumes with no gap and no repeat", async () => {
    await watchedServer([], async ({ dir, stream, before, id, restart }) => {
      assert.equal(await exists(join(dir, "HISTORY")), false, "removed once a watch saw commits before their fsync");
      const http = await restart("stop");
      assert.equal((await readFile(join(dir, "HISTORY"), "utf8")).trim(), id, "left by the clean stop");
      const now = await writes(http, 2);
      const seen = await takeUntil(stream, now);
      assert.deepStrictEqual(seen.map((c) => c.lsn), [before + 1, before + 2]);
      assert.equal(stream.history, id);
      await stream.return();
    });
  });

  it("a server killed (no clean stop) starts a new history: a watcher resuming past the restart gets RESET", async () => {
    // A watch that is not durable sees commits before their fsync, and a
    // crash may lose them; the LSNs after the restart then name other writes.
    // Whatever this crash lost, the resume must not go on as if nothing had.
    await watchedServer([], async ({ client, stream, before, id, restart }) => {
      const now = await writes(await restart("kill"), before + 2);
      assert.ok(now > before);
      await assert.rejects(stream.next(), (e: unknown) => {
        assert.ok(e instanceof ResetError, String(e));
        return true;
      });
      const fresh = client.watch();
      assert.equal(await fresh.ready(), now);
      assert.notEqual(fresh.history, id);
      await fresh.return();
    });
  });

  it("a server whose watches are all durable (--sync always) keeps its history across a kill: the watcher resumes", async () => {
    // No watch saw a commit before its fsync, so a crash lost nothing anyone saw.
    await watchedServer(["--sync", "always"], async ({ dir, stream, before, id, restart }) => {
      assert.equal((await readFile(join(dir, "HISTORY"), "utf8")).trim(), id, "kept while running");
      const now = await writes(await restart("kill"), 2);
      const seen = await takeUntil(stream, now);
      assert.deepStrictEqual(seen.map((c) => c.lsn), [before + 1, before + 2]);
      assert.equal(stream.history, id);
      await stream.return();
    });
  });

  it("embedded: the first watch that is not durable removes the file before it sees anything; a clean close writes it back", async () => {
    const tmp = await tempDir("cyberdb-history-");
    const file = join(tmp.dir, "HISTORY");
    try {
      const db = await Database.open({ dir: tmp.dir, sync: "interval", flushInterval: 60_000 });
      const id = db.historyId;
      assert.equal((await readFile(file, "utf8")).trim(), id, "written when the history starts");
      const d = db.createDict("d");
      const durable = db.watch({ durable: true })[Symbol.asyncIterator]();
      d.set("a", 1);
      await db.flush();
      assert.equal((await durable.next()).value[0].key, "a");
      assert.equal(await exists(file), true, "durable watches leave it");
      const eager = db.watch()[Symbol.asyncIterator]();
      d.set("b", 2); // not flushed: the eager watch sees it only once the file is gone
      const [c] = (await eager.next()).value;
      assert.equal(c.key, "b");
      assert.equal(await exists(file), false, "gone before a commit that is not on disk was seen");
      await eager.return!();
      await durable.return!();
      await db.close();
      assert.equal((await readFile(file, "utf8")).trim(), id, "back after the clean close");
      const again = await Database.open({ dir: tmp.dir });
      assert.equal(again.historyId, id);
      await again.close();
    } finally {
      await tmp.remove();
    }
  });

  it("embedded: a power cut keeps the history when every watch was durable, and a torn tail does too; a repair starts a new one", async () => {
    const machine = new Machine();
    const open = (more: object = {}) =>
      Database.open({ storage: machine.process(), dir: "db", sync: "always", snapshotWalBytes: 0, ...more });
    let db = await open();
    const id = db.historyId;
    const d = db.createDict("d");
    const seen = db.watch({ durable: true })[Symbol.asyncIterator]();
    for (let i = 0; i < 20; i++) d.set(`k${i}`, i);
    await db.flush();
    assert.equal((await seen.next()).value[0].lsn, 2);
    machine.crash();
    await abandon(db);
    // A durable watch saw only what was on disk: the history goes on.
    db = await open();
    assert.equal(db.historyId, id);
    assert.equal(db.getDict("d").size, 20);
    machine.crash();
    await abandon(db);
    // Half a record at the end (a write the crash tore): cut at open; it was never on disk, so never seen.
    const segment = machine.disk.paths().filter((p) => p.endsWith(".wal")).sort().at(-1)!;
    const bytes = machine.disk.peek(segment)!;
    machine.disk.poke(segment, new Uint8Array([...bytes, 9, 0, 0, 0, 1, 2]));
    const lines: string[] = [];
    db = await open({ logger: (line: string) => lines.push(line) });
    assert.ok(lines.some((l) => /cut/i.test(l)), `the torn tail was cut: ${lines.join(" | ")}`);
    assert.equal(db.historyId, id, "a torn tail held nothing anyone saw");
    machine.crash();
    await abandon(db);
    // Damage inside the log: a repair cuts records that were on disk, which a watcher may have seen.
    const oldest = machine.disk.paths().filter((p) => p.endsWith(".wal")).sort()[0];
    const damaged = machine.disk.peek(oldest)!.slice();
    damaged[50] ^= 0xff; // inside the second record, with good ones after it
    machine.disk.poke(oldest, damaged);
    await assert.rejects(open(), CorruptionError);
    machine.crash();
    lines.length = 0;
    db = await open({ repair: true, logger: (line: string) => lines.push(line) });
    assert.ok(db.getDict("d").size < 20, "the repair cut records");
    assert.notEqual(db.historyId, id);
    assert.ok(lines.some((l) => /new history/.test(l)), lines.join("\n"));
    await db.close();
  });

  it("embedded: kept across opens, new for a new directory or one without the file; checked by watch", async () => {
    const tmp = await tempDir("cyberdb-history-");
    try {
      const a = join(tmp.dir, "a");
      let db = await Database.open({ dir: a });
      const id = db.historyId;
      assert.match(id, /^[0-9a-f]{32}$/);
      db.createDict("d").set("x", 1);
      const seen = { from: db.lsn, history: id };
      await db.close();
      db = await Database.open({ dir: a });
      assert.equal(db.historyId, id);
      assert.equal(db.stats().historyId, id);
      db.watch(seen).return();
      await db.close();
      // Replaced by a fresh directory (as `cyberdb load` makes one): another history.
      const b = await Database.open({ dir: join(tmp.dir, "b") });
      b.createDict("d").set("y", 1);
      assert.equal(b.lsn, seen.from);
      assert.notEqual(b.historyId, id);
      assert.throws(() => b.watch(seen), ResetError);
      assert.throws(() => b.subscribe(() => {}, seen), ResetError);
      // Without `history` a `from` is this history's, as before.
      b.watch({ from: seen.from }).return();
      assert.throws(() => b.watch({ from: 1, history: "not an id" }), ValidationError);
      await b.close();
      // A directory from before history ids: gets one on open, and keeps it.
      await rm(join(a, "HISTORY"));
      db = await Database.open({ dir: a });
      const made = db.historyId;
      assert.notEqual(made, id);
      assert.equal(db.lsn, seen.from, "the data is all there");
      await db.close();
      db = await Database.open({ dir: a });
      assert.equal(db.historyId, made);
      await db.close();
      // Memory-only: a new history on every open.
      const m1 = await Database.open();
      const m2 = await Database.open();
      assert.notEqual(m1.historyId, m2.historyId);
      await m1.close();
      await m2.close();
    } finally {
      await tmp.remove();
    }
  });
});

/** The `id:` of the first `count` events of an event stream. */
async function eventIds(res: Response, count: number): Promise<string[]> {
  assert.equal(res.status, 200);
  return (await sseEvents(res, count)).map((e) => e.id!);
}
