// The client's own behaviour, over both transports (WebSocket and HTTP)
// against a real server process of the runtime under test, on a free
// loopback port: pipelining, pooled proxies, passwords, unreachable and
// silent servers, close. What a remote dict, list or table does is in the
// contract suite (tests/contract_test.ts), which runs the same tests
// embedded, over WebSocket and over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Client, ClosedError, connect, ConnectionError, CyberDBError } from "../client.ts";
import { createServer } from "node:net";
import { type ServerProcess, startServer, webSocket } from "./server_process.ts";

const PASSWORD = "s3cret-ü";

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory", "--password", PASSWORD]);
});
after(async () => {
  assert.equal(await server.stop(), 0, "the server exits 0 on SIGTERM");
});

for (const kind of ["ws", "http"] as const) {
  describe(`client over ${kind}`, () => {
    let client: Client;
    const n = (s: string) => `${kind}_${s}`;
    before(async () => {
      client = await connect(kind === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
        batchSize: 7,
      });
      assert.equal(client.kind, kind);
    });
    after(async () => {
      await client.close();
    });

    it("pipelines many concurrent calls and answers each in order", async () => {
      const d = await client.createDict<number>(n("pipe"));
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => d.set(i, i).then(() => d.get(i))));
      assert.deepStrictEqual(results, Array.from({ length: 500 }, (_, i) => i));
      const mixed = await Promise.allSettled([d.get(1), d.pop("nope"), d.get(2)]);
      assert.equal(mixed[0].status, "fulfilled");
      assert.equal(mixed[1].status, "rejected");
      assert.deepStrictEqual(mixed[2], { status: "fulfilled", value: 2 });
    });

    it("runs more streamed answers at once than the server streams per socket: the rest wait for a slot", async () => {
      const t = await client.createTable(
        { name: n("streams"), columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const,
      );
      await t.insertMany(Array.from({ length: 40 }, (_, i) => ({ id: i })));
      const read = async () => {
        let rows = 0;
        for await (const batch of t.stream({ orderBy: [{ column: "id", direction: "desc" }] }, { batchRows: 5 })) {
          rows += batch.length;
        }
        return rows;
      };
      // 200 answers of 8 batches each, all asked for at once (the server runs 64 per socket).
      assert.deepStrictEqual(
        await Promise.all(Array.from({ length: 200 }, read)),
        Array.from({ length: 200 }, () => 40),
      );
      // Streams left early give their slot back too.
      for (let i = 0; i < 100; i++) {
        for await (const _batch of t.stream({}, { batchRows: 5 })) break;
      }
      assert.equal((await Promise.all(Array.from({ length: 100 }, () => t.query()))).flat().length, 4000);
    });

    it("lends pooled proxies that go back on close", async () => {
      await client.createDict(n("proxy"));
      {
        await using proxy = client.getProxy();
        const d = await proxy.getDict(n("proxy"));
        await d.set("k", 1);
      }
      const p = client.getProxy();
      assert.equal(await (await p.getDict(n("proxy"))).get("k"), 1);
      await p.close();
      await assert.rejects(p.collections(), ClosedError);
    });

    it("refuses a wrong password and an unreachable server with typed errors", async () => {
      await assert.rejects(
        connect(kind === "ws" ? server.ws : server.http, { password: "wrong", WebSocket: await webSocket() }),
        (e: unknown) => e instanceof CyberDBError && e.code === "AUTH",
      );
      await assert.rejects(
        connect(kind === "ws" ? server.ws : server.http, { WebSocket: await webSocket() }),
        (e: unknown) => e instanceof CyberDBError && e.code === "AUTH",
      );
      await assert.rejects(
        connect(`${kind}://127.0.0.1:1`, { password: PASSWORD, WebSocket: await webSocket(), timeout: 5000 }),
        ConnectionError,
      );
    });

    it("gives up on a silent server after the timeout with ConnectionError", async () => {
      // Accepts TCP connections and never answers a byte.
      const sockets = new Set<{ destroy(): void }>();
      const silent = createServer((s) => void sockets.add(s));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
      const port = (silent.address() as { port: number }).port;
      try {
        await assert.rejects(
          connect(`${kind}://127.0.0.1:${port}`, { password: PASSWORD, WebSocket: await webSocket(), timeout: 300 }),
          ConnectionError,
        );
      } finally {
        silent.close();
        for (const s of sockets) s.destroy();
      }
    });

    it("fails calls after close() with ClosedError", async () => {
      const c = await connect(kind === "ws" ? server.ws : server.http, {
        password: PASSWORD,
        WebSocket: await webSocket(),
      });
      const d = await c.createDict(n("closed"));
      await c.close();
      await assert.rejects(d.get("x"), ClosedError);
      await c.close();
    });
  });
}
