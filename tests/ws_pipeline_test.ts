// Fewer round trips (issue 12 item 5): the WebSocket client sends the calls
// made in one tick as one frame, an array of requests, and the server takes
// such a frame as a non-atomic pipeline — each request answered on its own,
// in order. A Durable Object commits once per message, so this is what lets
// many calls share one storage commit there; every server gains fewer
// frames and fewer events.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type WebSocketConstructor } from "../client.ts";
import { encode } from "../src/wire/codec.ts";
import { rawWs } from "./fixtures/raw_ws.ts";
import { type ServerProcess, startServer, webSocket } from "./server_process.ts";

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory"]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

type Frame = { id?: unknown; ok?: unknown; value?: unknown; error?: { code: string } };

describe("pipeline frames", () => {
  it("the server answers each request of an array frame on its own, in order, and the socket stays open", async () => {
    const ws = await rawWs(server.port);
    assert.equal(ws.status, 101);
    ws.send(encode({ id: 0, op: "auth", args: [null] }));
    ws.send(encode([
      { id: 1, op: "db.createDict", args: ["pipe"] },
      { id: 2, op: "dict.set", args: ["pipe", "k", 1] },
      { id: 3, op: "no.such.op", args: [] },
      { id: 4, op: "dict.get", args: ["pipe", "k"] },
      { id: 5, atomic: true, ops: [{ op: "dict.set", args: ["pipe", "k", 2] }] },
      { id: 6, op: "dict.get", args: ["pipe", "k"] },
    ]));
    const frames = (await ws.waitFrames(7)) as Frame[];
    assert.deepEqual(frames.map((f) => f.id), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(frames[3].error?.code, "PROTOCOL", "a bad request fails alone");
    assert.equal(frames[4].value, 1);
    assert.equal(frames[6].value, 2);
    assert.equal((frames[0].value as { pipeline?: unknown }).pipeline, true, "the hello says pipelines are taken");
    ws.send(encode({ id: 7, op: "dict.size", args: ["pipe"] }));
    assert.equal(((await ws.waitFrames(8)) as Frame[])[7].value, 1, "still open");
    ws.destroy();
  });

  it("the client sends the calls of one tick as one frame", async () => {
    const Base = await webSocket();
    let sent = 0;
    // A WebSocket that counts what the client sends.
    const Counting = class extends (Base as unknown as new (...a: unknown[]) => { send(d: unknown): void }) {
      override send(data: unknown): void {
        sent++;
        super.send(data);
      }
    } as unknown as WebSocketConstructor;
    const client = await connect(server.ws, { WebSocket: Counting });
    const d = await client.createDict("one_tick");
    const before = sent;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => d.set(i, i)));
    assert.equal(results.length, 200);
    assert.equal(sent - before, 1, `200 calls in one tick went out in ${sent - before} frames`);
    assert.equal(await d.size(), 200);
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => d.get(i)));
    assert.deepEqual(values, Array.from({ length: 200 }, (_, i) => i), "each call got its own answer");
    await client.close();
  });

  it("with coalesce: false the client sends every call as a frame of its own, with the same answers in order", async () => {
    const Base = await webSocket();
    let sent = 0;
    const Counting = class extends (Base as unknown as new (...a: unknown[]) => { send(d: unknown): void }) {
      override send(data: unknown): void {
        sent++;
        super.send(data);
      }
    } as unknown as WebSocketConstructor;
    const client = await connect(server.ws, { WebSocket: Counting, coalesce: false });
    const d = await client.createDict("one_each");
    const before = sent;
    await Promise.all(Array.from({ length: 200 }, (_, i) => d.set(i, i * 2)));
    assert.equal(sent - before, 200, "one frame per call");
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => d.get(i)));
    assert.deepEqual(values, Array.from({ length: 200 }, (_, i) => i * 2));
    await client.close();
  });
});
