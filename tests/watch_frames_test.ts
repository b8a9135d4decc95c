// WebSocket watch frames (stop 17): a watch that asked with `batches: true`
// gets the batches waiting for it in one frame (an array of { lsn, changes },
// bounded by its credit); a watch that did not — an older client — gets one
// batch per frame, as before. Frames shared between watchers (made once per
// turn of the server's event loop) never mix up ids or filters. Against a
// real server process, over raw sockets, so the frames themselves are seen.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../client.ts";
import { RemoteChangeStream, WatchQueue } from "../src/client/watch.ts";
import { encode } from "../src/wire/codec.ts";
import { rawSocket, startServer } from "./server_process.ts";

type Raw = Awaited<ReturnType<typeof rawSocket>>;
type Batch = { lsn: number; changes: { collection: string; key?: unknown }[] };
type Frame = { id: unknown; ok: boolean; more?: boolean; value: Batch | Batch[] };

/** An authenticated raw socket with watch `id` open (credit 1, so frames wait for credit), past its start frame. */
async function watcher(url: string, id: number | string, watch: unknown, batches: boolean): Promise<Raw> {
  const raw = await rawSocket(url);
  raw.ws.send(encode({ id: 0, op: "auth", args: [null] }));
  await raw.next();
  raw.ws.send(encode(batches ? { id, watch, credit: 1, batches: true } : { id, watch, credit: 1 }));
  const start = await raw.next() as Frame;
  assert.equal(start.id, id);
  assert.deepStrictEqual((start.value as Batch).changes, []);
  return raw;
}

/** Asks the server its LSN over `raw`: the reply comes before any watch frame the server had not sent. */
async function lsnOver(raw: Raw): Promise<number> {
  raw.ws.send(encode({ id: 999, op: "db.lsn", args: [] }));
  const reply = await raw.next() as { id: number; value: number };
  assert.equal(reply.id, 999, `expected the db.lsn reply, got ${JSON.stringify(reply)}`);
  return reply.value;
}

const lsns = (f: Frame) => (Array.isArray(f.value) ? f.value : [f.value]).map((b) => b.lsn);

describe("watch frames: several batches per frame for clients that ask, one for the others", () => {
  it("batches: true gets what waits in one frame, within its credit; without it, one frame per batch", async () => {
    const server = await startServer(["--memory"]);
    const c = await connect(server.http);
    const d = await c.createDict("a");
    await c.createDict("b");
    const url = `${server.ws}/v1/ws`;
    // The same watch id on three sockets (every client numbers its own): new, new with a filter, old.
    const multi = await watcher(url, 7, {}, true);
    const filtered = await watcher(url, 7, { collections: ["a"] }, true);
    const old = await watcher(url, 7, {}, false);
    // A twin of `multi`: the server makes their frames once and sends the same bytes to both.
    const twin = await watcher(url, 7, {}, true);
    try {
      // One credit each: the first write goes out; the rest waits for credit.
      await d.set("first", 0);
      for (const raw of [multi, filtered, old, twin]) assert.deepStrictEqual(lsns(await raw.next() as Frame), [3]);
      const b = await c.getDict("b");
      for (let i = 0; i < 10; i++) await (i % 3 === 0 ? b : d).set(`k${i}`, i); // LSNs 4..13; b at 4, 7, 10, 13
      for (const raw of [multi, filtered, old, twin]) assert.equal(await lsnOver(raw), 13);

      // Credit 4: one frame of 4 batches; then the rest in one frame.
      multi.ws.send(encode({ id: 7, credit: 4 }));
      const m1 = await multi.next() as Frame;
      assert.ok(Array.isArray(m1.value), "an array of batches");
      assert.deepStrictEqual({ id: m1.id, ok: m1.ok, more: m1.more, lsns: lsns(m1) }, {
        id: 7,
        ok: true,
        more: true,
        lsns: [4, 5, 6, 7],
      });
      multi.ws.send(encode({ id: 7, credit: 100 }));
      const m2 = await multi.next() as Frame;
      assert.deepStrictEqual(lsns(m2), [8, 9, 10, 11, 12, 13]);
      // The twin, with all its credit at once: the same frames' worth, in one frame, the same changes.
      twin.ws.send(encode({ id: 7, credit: 100 }));
      const t = await twin.next() as Frame;
      assert.deepStrictEqual(t.value, [...m1.value as Batch[], ...m2.value as Batch[]]);

      // The filtered watch: only collection "a", in one frame.
      filtered.ws.send(encode({ id: 7, credit: 100 }));
      const f = await filtered.next() as Frame;
      assert.deepStrictEqual(lsns(f), [5, 6, 8, 9, 11, 12]);
      for (const batch of f.value as Batch[]) assert.ok(batch.changes.every((x) => x.collection === "a"));

      // The older client: one batch per frame, the value a { lsn, changes } as before.
      old.ws.send(encode({ id: 7, credit: 100 }));
      for (let lsn = 4; lsn <= 13; lsn++) {
        const frame = await old.next() as Frame;
        assert.ok(!Array.isArray(frame.value), `frame of LSN ${lsn} carries one batch`);
        assert.equal((frame.value as Batch).lsn, lsn);
        assert.equal((frame.value as Batch).changes[0].key, `k${lsn - 4}`);
      }

      // One batch waiting: a plain { lsn, changes } for everyone.
      await d.set("last", 1);
      for (const raw of [multi, filtered, old, twin]) {
        const frame = await raw.next() as Frame;
        assert.ok(!Array.isArray(frame.value));
        assert.deepStrictEqual(lsns(frame), [14]);
      }
      // Nothing else was sent.
      for (const raw of [multi, filtered, old, twin]) {
        assert.equal(await lsnOver(raw), 14);
        assert.equal(raw.frames.length, 0);
      }
    } finally {
      for (const raw of [multi, filtered, old, twin]) raw.ws.close();
      await c.close();
      assert.equal(await server.stop(), 0);
    }
  });

  it("a string id and a number id with the same digits get their own frames", async () => {
    const server = await startServer(["--memory"]);
    const c = await connect(server.http);
    const d = await c.createDict("a");
    const url = `${server.ws}/v1/ws`;
    const num = await watcher(url, 5, {}, true);
    const str = await watcher(url, "5", {}, true);
    try {
      await d.set("x", 1);
      for (const raw of [num, str]) await raw.next();
      await d.set("y", 2);
      await d.set("z", 3);
      for (const raw of [num, str]) {
        assert.equal(await lsnOver(raw), 4);
        raw.ws.send(encode({ id: raw === num ? 5 : "5", credit: 10 }));
      }
      const [a, b] = [await num.next() as Frame, await str.next() as Frame];
      assert.equal(a.id, 5);
      assert.equal(b.id, "5");
      assert.deepStrictEqual([lsns(a), lsns(b)], [[3, 4], [3, 4]]);
    } finally {
      num.ws.close();
      str.ws.close();
      await c.close();
      assert.equal(await server.stop(), 0);
    }
  });

  it("a LAGGED watcher that asked for batches gets the error, with the LSN to resume from", async () => {
    const server = await startServer(["--memory", "--watch-buffer", "8"]);
    const c = await connect(server.http);
    const d = await c.createDict("d");
    const raw = await watcher(`${server.ws}/v1/ws`, 3, {}, true);
    try {
      await d.set(0, "x");
      assert.deepStrictEqual(lsns(await raw.next() as Frame), [2]);
      for (let i = 0; i < 30; i++) await d.set(i, "x".repeat(100));
      raw.ws.send(encode({ id: 3, credit: 100 }));
      const end = await raw.next() as { id: number; ok: boolean; error: { code: string; message: string } };
      assert.equal(end.ok, false);
      assert.equal(end.error.code, "LAGGED");
      assert.match(end.error.message, /from: 2\b/);
    } finally {
      raw.ws.close();
      await c.close();
      assert.equal(await server.stop(), 0);
    }
  });
});

describe("watch frames: the client's queue", () => {
  it("takes an array of batches as that many values, in order, each taken counted once (credit)", async () => {
    let taken = 0;
    const q = new WatchQueue(() => {});
    q.onTake = () => taken++;
    q.push({ lsn: 1, changes: [] });
    q.push([{ lsn: 2, changes: [{ lsn: 2 }] }, { lsn: 3, changes: [{ lsn: 3 }] }]);
    q.push({ lsn: 4, changes: [{ lsn: 4 }] });
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await q.next()).lsn);
    assert.deepStrictEqual(got, [1, 2, 3, 4]);
    assert.equal(taken, 4);
    // A malformed element ends the watch, as a malformed single value does.
    q.push([{ lsn: 5, changes: [] }, { nope: true }]);
    assert.equal((await q.next()).lsn, 5);
    await assert.rejects(q.next(), /not \{ lsn, changes \}/);
  });

  it("a stream takes batches already received at once, in order, skipping the start value and repeats", async () => {
    const q = new WatchQueue(() => {});
    let opened = 0;
    const stream = new RemoteChangeStream(() => {
      opened++;
      return q;
    }, {});
    q.push({ lsn: 10, changes: [] });
    assert.equal(await stream.ready(), 10);
    const change = (lsn: number) => ({ lsn, collection: "d", kind: "dict", type: "set", key: lsn, value: lsn });
    // One frame of three batches, then one repeating the last (never delivered twice), then one more.
    q.push([{ lsn: 11, changes: [change(11)] }, { lsn: 12, changes: [change(12)] }, {
      lsn: 13,
      changes: [change(13)],
    }]);
    q.push({ lsn: 13, changes: [change(13)] });
    q.push({ lsn: 14, changes: [change(14)] });
    assert.equal(q.poll()?.lsn, 11, "poll takes what waits");
    const got: number[] = [];
    // Several calls at once: answered in order, each once.
    const calls = [stream.next(), stream.next(), stream.next()];
    for (const r of await Promise.all(calls)) got.push((r.value as { lsn: number }[])[0].lsn);
    assert.deepStrictEqual(got, [12, 13, 14]);
    assert.equal(stream.lsn, 14);
    assert.equal(q.poll(), undefined);
    // Nothing waits: the next call waits for the next value.
    const later = stream.next();
    q.push({ lsn: 15, changes: [change(15)] });
    assert.equal(((await later).value as { lsn: number }[])[0].lsn, 15);
    await stream.return();
    assert.deepStrictEqual(await stream.next(), { value: undefined, done: true });
    assert.equal(opened, 1);
  });
});
