// Batch frames (issue 14): a frame of many requests is run and answered as
// one unit. A client whose server's hello says `batch: true` sends the calls
// of one tick as `{ batch: [requests] }`; the server runs them in order and
// answers with ONE frame, an array of the replies (one frame, one send, one
// fsync wait under `sync: "always"`). Streamed calls, watches, cancels and
// credits inside a batch keep their own frames and their place in the order.
// A client that did not opt in (a bare array of requests, or one frame per
// request) still gets one frame per reply.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type WebSocketConstructor } from "../client.ts";
import { encode } from "../src/wire/codec.ts";
import { type RawWs, rawWs } from "./fixtures/raw_ws.ts";
import { type ServerProcess, startServer, tempDir, webSocket } from "./server_process.ts";

type Reply = {
  id?: unknown;
  ok?: unknown;
  value?: unknown;
  more?: unknown;
  error?: { code: string };
};

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory"]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

/** An authenticated raw socket, its hello checked for `batch: true`. */
async function authed(): Promise<RawWs> {
  const ws = await rawWs(server.port);
  assert.equal(ws.status, 101);
  ws.send(encode({ id: 0, op: "auth", args: [null] }));
  const [hello] = (await ws.waitFrames(1)) as Reply[];
  assert.equal((hello.value as { batch?: unknown }).batch, true, "the hello says batches are taken");
  ws.frames.length = 0;
  return ws;
}

/** Waits (bounded) until `done` holds for the frames received so far. */
async function framesUntil(ws: RawWs, done: (frames: unknown[]) => boolean): Promise<unknown[]> {
  for (let i = 0; i < 200 && !done(ws.frames); i++) await ws.waitFrames(ws.frames.length + 1, 100);
  assert.ok(done(ws.frames), `the frames expected did not come: ${JSON.stringify(ws.frames).slice(0, 400)}`);
  return ws.frames;
}

/** Every reply received, in order, the replies of array frames taken one by one. */
function replies(frames: unknown[]): Reply[] {
  return frames.flatMap((f) => (Array.isArray(f) ? f : [f])) as Reply[];
}

/** A WebSocket class that counts the frames the client sends and receives. */
async function counting(): Promise<{ Ctor: WebSocketConstructor; sent: () => number; received: () => number }> {
  const Base = (await webSocket()) as unknown as new (...a: unknown[]) => {
    send(d: unknown): void;
    get onmessage(): ((ev: unknown) => void) | null;
    set onmessage(fn: ((ev: unknown) => void) | null);
  };
  let sent = 0;
  let received = 0;
  const Counting = class extends Base {
    override send(data: unknown): void {
      sent++;
      super.send(data);
    }
    override set onmessage(fn: ((ev: unknown) => void) | null) {
      super.onmessage = fn === null ? null : (ev: unknown) => {
        received++;
        fn(ev);
      };
    }
    override get onmessage(): ((ev: unknown) => void) | null {
      return super.onmessage;
    }
  };
  return { Ctor: Counting as unknown as WebSocketConstructor, sent: () => sent, received: () => received };
}

describe("batch frames", () => {
  it("a batch is answered by one array frame, in order; a failing request in the middle fails alone", async () => {
    const ws = await authed();
    ws.send(encode({
      batch: [
        { id: 1, op: "db.createDict", args: ["b1"] },
        { id: 2, op: "dict.set", args: ["b1", "k", 1] },
        { id: 3, op: "no.such.op", args: [] },
        { id: 4, op: "dict.get", args: ["b1", "k"] },
        { id: 5, atomic: true, ops: [{ op: "dict.set", args: ["b1", "k", 2] }] },
        { id: 6, op: "dict.increment", args: ["b1", "s"] },
        { id: 7, op: "dict.set", args: ["b1", "s", "text"] },
        { id: 8, op: "dict.increment", args: ["b1", "s"] },
        { id: 9, op: "dict.get", args: ["b1", "k"] },
      ],
    }));
    const [frame] = await ws.waitFrames(1);
    assert.ok(Array.isArray(frame), "one frame: an array of the replies");
    const r = frame as Reply[];
    assert.deepEqual(r.map((x) => x.id), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(r[2].ok, false);
    assert.equal(r[2].error?.code, "PROTOCOL", "an unknown op fails alone");
    assert.equal(r[3].value, 1, "runs in order: the get sees the set before it");
    assert.equal(r[4].ok, true, "an atomic batch inside a batch");
    assert.equal((r[4].value as unknown[]).length, 1);
    assert.equal(r[5].value, 1);
    assert.equal(r[7].ok, false, "incrementing text fails, alone");
    assert.equal(r[8].value, 2);
    // A single request afterwards: a plain frame, and the socket is still open.
    ws.send(encode({ id: 10, op: "dict.size", args: ["b1"] }));
    const [, single] = (await ws.waitFrames(2)) as Reply[];
    assert.deepEqual(single, { id: 10, ok: true, value: 2 });
    ws.destroy();
  });

  it("a client that did not opt in (a bare array of requests) still gets one frame per reply", async () => {
    const ws = await authed();
    ws.send(encode([
      { id: 1, op: "db.createDict", args: ["old"] },
      { id: 2, op: "dict.set", args: ["old", "k", 1] },
      { id: 3, op: "no.such.op", args: [] },
      { id: 4, op: "dict.get", args: ["old", "k"] },
    ]));
    const frames = (await ws.waitFrames(4)) as Reply[];
    assert.ok(frames.every((f) => !Array.isArray(f)), "no array frame to a client that did not ask for one");
    assert.deepEqual(frames.map((f) => f.id), [1, 2, 3, 4]);
    assert.equal(frames[2].error?.code, "PROTOCOL");
    assert.equal(frames[3].value, 1);
    ws.destroy();
  });

  it("streamed calls, watches and cancels inside a batch run in their place and keep their own frames", async () => {
    const ws = await authed();
    const pairs = Array.from({ length: 25 }, (_, i) => [`k${String(i).padStart(2, "0")}`, i]);
    ws.send(encode({
      batch: [
        { id: 1, op: "db.createDict", args: ["mix"] },
        { id: 2, op: "dict.update", args: ["mix", pairs] },
      ],
    }));
    await framesUntil(ws, (f) => replies(f).length === 2);
    ws.frames.length = 0;
    ws.send(encode({
      batch: [
        { id: 10, op: "dict.set", args: ["mix", "x", "before"] },
        { id: 11, op: "dict.entries", args: ["mix"], stream: 10 },
        { id: 12, op: "dict.set", args: ["mix", "x", "after"] },
        { id: 13, watch: { collections: ["mix"] } },
        { id: 14, op: "dict.set", args: ["mix", "x", "watched"] },
        { id: 15, op: "dict.get", args: ["mix", "x"] },
        [{ id: 16, op: "dict.size", args: ["mix"] }],
        { id: 17, op: "dict.size", args: ["mix"] },
      ],
    }));
    const byId = (frames: unknown[], id: number) => replies(frames).filter((r) => r.id === id);
    const frames = await framesUntil(
      ws,
      (f) =>
        byId(f, 11).some((r) => r.more !== true) && byId(f, 13).length >= 2 &&
        [10, 12, 14, 15, 17].every((id) => byId(f, id).length === 1),
    );
    // The streamed answer: in batches of at most 10, taken when it ran (after 10, before 12).
    const stream = byId(frames, 11);
    assert.ok(stream.length >= 3 && stream.every((r) => !Array.isArray(r) && r.ok === true));
    assert.ok(stream.slice(0, -1).every((r) => r.more === true));
    assert.ok(stream.every((r) => (r.value as unknown[]).length <= 10));
    const entries = stream.flatMap((r) => r.value as [string, unknown][]);
    assert.equal(entries.length, 26);
    assert.deepEqual(entries.find(([k]) => k === "x"), ["x", "before"]);
    // Each streamed batch is a frame of its own, never inside an array of replies.
    for (const f of frames) if (Array.isArray(f)) assert.ok(f.every((r: Reply) => r.id !== 11 && r.id !== 13));
    // The watch started after 12 and before 14: its first change is 14's write.
    const watch = byId(frames, 13);
    assert.equal(watch[0].more, true);
    assert.deepEqual((watch[0].value as { changes: unknown[] }).changes, []);
    assert.ok(JSON.stringify(watch[1].value).includes("watched"), "the watch sees the write after it");
    assert.ok(!JSON.stringify(watch[1].value).includes("after"), "and not the one before it");
    assert.equal(byId(frames, 15)[0].value, "watched");
    // A malformed element (an array: it has no id) fails alone; the socket stays open.
    assert.equal(byId(frames, 16).length, 0);
    assert.deepEqual(replies(frames).filter((r) => r.id === null).map((r) => r.error?.code), ["PROTOCOL"]);
    assert.equal(byId(frames, 17)[0].value, 26);
    // 14 and 15 ran together after the watch: one array frame.
    assert.ok(frames.some((f) => Array.isArray(f) && f.length === 2 && f[0].id === 14 && f[1].id === 15));

    // A cancel inside a batch stops the watch; the requests around it are answered.
    ws.frames.length = 0;
    ws.send(encode({
      batch: [
        { id: 20, op: "dict.get", args: ["mix", "x"] },
        { id: 13, cancel: true },
        { id: 21, op: "dict.set", args: ["mix", "x", "unwatched"] },
        { id: 22, op: "dict.get", args: ["mix", "x"] },
      ],
    }));
    const after = await framesUntil(ws, (f) => [20, 21, 22].every((id) => byId(f, id).length === 1));
    assert.equal(byId(after, 22)[0].value, "unwatched");
    // A request sent after the batch is answered after it: no change frame of the cancelled watch came between.
    ws.send(encode({ id: 23, op: "dict.size", args: ["mix"] }));
    const last = await framesUntil(ws, (f) => byId(f, 23).length === 1);
    assert.equal(byId(last, 13).length, 0, "the watch was cancelled before the write after it");
    ws.destroy();
  });

  it("the client sends the calls of one tick as one frame and gets their replies in one frame", async () => {
    const c = await counting();
    const client = await connect(server.ws, { WebSocket: c.Ctor });
    const d = await client.createDict("one_tick_batch");
    await d.set("s", "text");
    const [sent, received] = [c.sent(), c.received()];
    // The 101st call fails (incrementing text); the ones around it do not.
    const calls = [
      ...Array.from({ length: 100 }, (_, i) => d.set(i, i)),
      d.increment("s"),
      ...Array.from({ length: 100 }, (_, i) => d.set(100 + i, 100 + i)),
    ];
    const settled = await Promise.allSettled(calls);
    assert.equal(c.sent() - sent, 1, "one frame out");
    assert.equal(c.received() - received, 1, "one frame back");
    assert.deepEqual(settled.map((s) => s.status).filter((s) => s === "rejected").length, 1);
    assert.equal(settled[100].status, "rejected");
    assert.equal(((settled[100] as PromiseRejectedResult).reason as { code?: string }).code, "VALIDATION");
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => d.get(i)));
    assert.deepEqual(values, Array.from({ length: 200 }, (_, i) => i), "each call got its own answer");
    // A stream and a watch made in the same tick as plain calls.
    const w = client.watch({ collections: ["one_tick_batch"] });
    const first = w.next();
    const [, entries, size] = await Promise.all([d.set("w", 1), d.entries(), d.size()]);
    assert.equal(entries.length, 202);
    assert.equal(size, 202);
    // (The watch may start after the calls above: a later write reaches it either way.)
    await d.set("w", 2);
    assert.equal((await first).done, false);
    await w.return();
    await client.close();
  });

  it("replies past half the output limit continue in another array frame, in order", async () => {
    // 64 KiB of output allowed: array frames of at most 32 KiB of replies.
    const small = await startServer(["--memory", "--max-output-bytes", String(64 * 1024)]);
    try {
      const ws = await rawWs(small.port);
      ws.send(encode({ id: 0, op: "auth", args: [null] }));
      await ws.waitFrames(1);
      ws.frames.length = 0;
      const big = "x".repeat(10_000);
      ws.send(encode({
        batch: [
          { id: 1, op: "db.createDict", args: ["big"] },
          { id: 2, op: "dict.set", args: ["big", "k", big] },
          // ~50 KB of replies: under the limit in all, over half of it (what one frame may carry).
          ...Array.from({ length: 5 }, (_, i) => ({ id: 3 + i, op: "dict.get", args: ["big", "k"] })),
        ],
      }));
      const frames = await framesUntil(ws, (f) => replies(f).length === 7);
      assert.ok(frames.length >= 2, `7 replies of ~50 KB in ${frames.length} frames`);
      assert.ok(frames.every((f) => Array.isArray(f)), "each frame an array of replies");
      const all = replies(frames);
      assert.deepEqual(all.map((r) => r.id), Array.from({ length: 7 }, (_, i) => i + 1));
      assert.ok(all.slice(2).every((r) => r.value === big));
      ws.destroy();
    } finally {
      assert.equal(await small.stop(), 0);
    }
  });

  it('sync: "always": every write of a batch answered ok survives a SIGKILL', async () => {
    const tmp = await tempDir("cyberdb-batch-");
    try {
      const s = await startServer(["--dir", tmp.dir, "--sync", "always"]);
      const client = await connect(s.ws, { WebSocket: await webSocket() });
      const d = await client.createDict("durable");
      await Promise.all(Array.from({ length: 300 }, (_, i) => d.set(i, `v${i}`)));
      await s.kill();
      await client.close();
      const again = await startServer(["--dir", tmp.dir, "--sync", "always"]);
      const c2 = await connect(again.ws, { WebSocket: await webSocket() });
      const d2 = await c2.getDict("durable");
      assert.equal(await d2.size(), 300);
      assert.equal(await d2.get(299), "v299");
      await c2.close();
      assert.equal(await again.stop(), 0);
    } finally {
      await tmp.remove();
    }
  });
});
