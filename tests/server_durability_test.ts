// The server on disk: kill -9 under write load in --sync always loses no
// acknowledged write; SIGTERM flushes, snapshots and exits 0; a WebSocket
// client reconnects (with backoff) to a restarted server.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, ConnectionError, type RemoteDict, type RemoteList } from "../client.ts";
import { type ServerProcess, startServer, tempDir, webSocket } from "./server_process.ts";

const PASSWORD = "durable";

describe("server durability", () => {
  let tmp: { dir: string; remove(): Promise<void> };
  before(async () => {
    tmp = await tempDir("cyberdb-server-");
  });
  after(async () => {
    await tmp.remove();
  });

  it("keeps every write acknowledged in --sync always across kill -9", async () => {
    const dir = `${tmp.dir}/always`;
    const args = ["--dir", dir, "--sync", "always", "--password", PASSWORD];
    const first = await startServer(args);
    const WebSocket = await webSocket();
    const setup = await connect(first.ws, { password: PASSWORD, WebSocket });
    await setup.createDict("acked");
    await setup.createList("appended");
    const acked = new Map<string, number>();
    const appended: string[] = [];
    let stop = false;
    const deadline = Date.now() + 10_000;
    // Writers over both transports, a few calls in flight each.
    const writer = async (w: number, url: string) => {
      const c = await connect(url, { password: PASSWORD, WebSocket, reconnect: false, timeout: 10_000 });
      const d = await c.getDict<number>("acked");
      const l = await c.getList<string>("appended");
      const lane = async (lane: number) => {
        for (let i = 0; !stop && Date.now() < deadline && i < 10_000; i++) {
          const key = `w${w}_${lane}_${i}`;
          try {
            await d.set(key, i);
            acked.set(key, i);
            await l.append(key);
            appended.push(key);
          } catch (e) {
            if (!(e instanceof ConnectionError)) throw e;
            return;
          }
        }
      };
      await Promise.all([0, 1, 2, 3].map(lane));
      await c.close().catch(() => {});
    };
    const writers = Array.from({ length: 6 }, (_, w) => writer(w, w % 3 === 2 ? first.http : first.ws));
    // Kill once a good number of writes went through (or at the deadline).
    while (acked.size < 400 && Date.now() < deadline - 5000) await new Promise((r) => setTimeout(r, 20));
    await first.kill();
    stop = true;
    await Promise.all(writers);
    await setup.close().catch(() => {});
    assert.ok(acked.size > 0);

    const second = await startServer(args);
    const c = await connect(second.http, { password: PASSWORD });
    const d = await c.getDict("acked");
    const stored = new Map((await d.entries()) as [string, number][]);
    for (const [k, v] of acked) assert.equal(stored.get(k), v, `acknowledged write ${k} survived`);
    const list = new Set(await (await c.getList<string>("appended")).toArray());
    for (const k of appended) assert.ok(list.has(k), `acknowledged append ${k} survived`);
    await c.close();
    assert.equal(await second.stop(), 0);
  });

  it("flushes and snapshots on SIGTERM, exits 0, and serves the data again", async () => {
    const dir = `${tmp.dir}/graceful`;
    const args = ["--dir", dir, "--password", PASSWORD, "--flush-interval", "60000"];
    const first = await startServer(args);
    const c = await connect(first.ws, { password: PASSWORD, WebSocket: await webSocket() });
    const d = await c.createDict("d");
    await Promise.all(Array.from({ length: 200 }, (_, i) => d.set(i, { i, s: "v".repeat(i % 7) })));
    const t = await c.createTable(
      { name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "b", type: "Binary" }] } as const,
    );
    await t.insert({ id: 1, b: new Uint8Array([1, 2]) });
    await c.close();
    assert.equal(await first.stop(), 0);
    const second = await startServer(args);
    const c2 = await connect(second.http, { password: PASSWORD });
    assert.equal(await (await c2.getDict("d")).size(), 200);
    assert.deepStrictEqual(await (await c2.getDict("d")).get(150), { i: 150, s: "v".repeat(150 % 7) });
    assert.deepStrictEqual((await (await c2.getTable("t")).get(1))?.b, new Uint8Array([1, 2]));
    await c2.close();
    assert.equal(await second.stop(), 0);
  });

  it("reconnects a WebSocket client with backoff after the server restarts", async () => {
    const dir = `${tmp.dir}/reconnect`;
    let server: ServerProcess = await startServer(["--dir", dir, "--password", PASSWORD]);
    const port = server.port;
    const c = await connect(server.ws, {
      password: PASSWORD,
      WebSocket: await webSocket(),
      reconnect: { minDelay: 20, maxDelay: 200 },
    });
    const d: RemoteDict = await c.createDict("d");
    const l: RemoteList = await c.createList("l");
    await d.set("before", 1);
    assert.equal(await server.stop(), 0);
    // Calls made while the server is down wait (within their timeout) for it to come back.
    const pending = d.get("before");
    server = await startServer(["--dir", dir, "--password", PASSWORD], { port });
    assert.equal(await pending, 1);
    await l.append("after");
    assert.deepStrictEqual(await l.toArray(), ["after"]);
    await c.close();
    assert.equal(await server.stop(), 0);
  });
});
