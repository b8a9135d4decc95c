// Load: 120 concurrent WebSocket clients doing mixed reads and writes for a
// bounded time (and a bounded count) on loopback; no errors, and every
// acknowledged write is accounted for at the end.
import { it } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect } from "../client.ts";
import { startServer, tempDir, webSocket } from "./server_process.ts";

const CLIENTS = 120;
const PASSWORD = "load";

it(`serves ${CLIENTS} concurrent WebSocket clients with no lost write`, async () => {
  const tmp = await tempDir("cyberdb-load-");
  const server = await startServer(["--dir", tmp.dir, "--password", PASSWORD]);
  try {
    const WebSocket = await webSocket();
    const setup = await connect(server.ws, { password: PASSWORD, WebSocket });
    await setup.createDict("kv");
    await setup.createList("log");
    await setup.createTable(
      {
        name: "counts",
        columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "n", type: "Int32" }],
      } as const,
    );
    const clients: Client[] = await Promise.all(
      Array.from({ length: CLIENTS }, () => connect(server.ws, { password: PASSWORD, WebSocket })),
    );
    const deadline = Date.now() + 3000;
    const done = await Promise.all(clients.map(async (c, id) => {
      const kv = await c.getDict<number>("kv");
      const log = await c.getList<string>("log");
      const counts = await c.getTable("counts");
      let writes = 0;
      for (let i = 0; i < 200 && (i < 3 || Date.now() < deadline); i++) {
        await kv.set(`c${id}_${i}`, i);
        await log.append(`c${id}_${i}`);
        await counts.upsert({ id, n: i + 1 });
        writes = i + 1;
        // Reads: own earlier write, someone else's key (maybe missing), sizes.
        assert.equal(await kv.get(`c${id}_${Math.floor(i / 2)}`), Math.floor(i / 2));
        const other = await kv.get(`c${(id + 1) % CLIENTS}_${i}`);
        assert.ok(other === undefined || other === i);
        assert.ok(await log.length() >= i + 1);
      }
      return writes;
    }));
    const total = done.reduce((a, b) => a + b, 0);
    const kv = await setup.getDict("kv");
    assert.equal(await kv.size(), total);
    const log = await (await setup.getList<string>("log")).toArray();
    assert.equal(log.length, total);
    assert.equal(new Set(log).size, total);
    const counts = await (await setup.getTable("counts")).toArray();
    assert.equal(counts.length, CLIENTS);
    for (const row of counts) assert.equal(row.n, done[row.id as number]);
    for (let id = 0; id < CLIENTS; id += 17) {
      assert.equal(await kv.get(`c${id}_${done[id] - 1}`), done[id] - 1);
    }
    await Promise.all(clients.map((c) => c.close()));
    await setup.close();
  } finally {
    assert.equal(await server.stop(), 0);
    await tmp.remove();
  }
});
