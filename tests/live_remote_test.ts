// Live data over the wire (issue 11 items 1-4): versions, check-and-set,
// counters and expiry through real server processes, over WebSocket and
// HTTP — many clients counting at once end exact, conflicts name the
// versions, expiries and versions survive a restart.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Client, ConflictError, connect, ValidationError } from "../client.ts";
import { type ServerProcess, startServer, tempDir, webSocket } from "./server_process.ts";

const PASSWORD = "live-pw";

let server: ServerProcess;
before(async () => {
  server = await startServer(["--memory", "--password", PASSWORD]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

async function clients(n: number, url = server.ws): Promise<Client[]> {
  const WebSocket = await webSocket();
  return await Promise.all(Array.from({ length: n }, () => connect(url, { password: PASSWORD, WebSocket })));
}

/** Adds 1 to `key` by read, check-and-set, retry on conflict; returns how many conflicts it met. */
async function casIncrement(c: Client, dict: string, key: string): Promise<number> {
  const d = await c.getDict<number>(dict);
  for (let conflicts = 0; conflicts < 10_000; conflicts++) {
    const e = await d.getEntry(key);
    try {
      await c.atomic([{ op: "dict.set", args: [dict, key, (e?.value ?? 0) + 1] }], {
        checks: [{ collection: dict, key, version: e?.version ?? null }],
      });
      return conflicts;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      assert.match(err.message, /expected (version \d+|no entry), found version \d+/);
    }
  }
  throw new Error("no progress after 10000 conflicts");
}

describe("counters from many clients end exact", () => {
  for (const n of [4, 32]) {
    it(`${n} clients incrementing one counter with increment()`, async () => {
      const cs = await clients(n);
      await cs[0].createDict(`inc${n}`);
      const per = 800 / n;
      await Promise.all(cs.map(async (c) => {
        const d = await c.getDict(`inc${n}`);
        for (let i = 0; i < per; i++) await d.increment("hits");
      }));
      assert.equal(await (await cs[0].getDict(`inc${n}`)).get("hits"), 800);
      await Promise.all(cs.map((c) => c.close()));
    });

    it(`${n} clients incrementing one counter by check-and-set, retrying on conflict`, async () => {
      const cs = await clients(n);
      await cs[0].createDict(`cas${n}`);
      const per = Math.floor(400 / n);
      let conflicts = 0;
      await Promise.all(cs.map(async (c) => {
        for (let i = 0; i < per; i++) conflicts += await casIncrement(c, `cas${n}`, "hits");
      }));
      assert.equal(await (await cs[0].getDict(`cas${n}`)).get("hits"), per * n);
      // With more than one client racing, some reads went stale.
      assert.ok(n === 1 || conflicts > 0, "no conflict was ever reported");
      await Promise.all(cs.map((c) => c.close()));
    });
  }
});

describe("versions, checks, counters and expiry over both transports", () => {
  for (const transport of ["ws", "http"] as const) {
    it(`${transport}: getEntry, lsn, atomic with checks, increment, expire, ttl and their errors`, async () => {
      const [c] = await clients(1, transport === "ws" ? server.ws : server.http);
      const d = await c.createDict<number | string>(`remote_${transport}`);
      await d.set("a", 1);
      const e = (await d.getEntry("a"))!;
      assert.equal(e.value, 1);
      assert.equal(e.version, await c.lsn());
      assert.equal(await d.getEntry("none"), undefined);
      const t = await c.createTable(
        {
          name: `rows_${transport}`,
          columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "v", type: "Utf8" }],
        } as const,
      );
      await t.insert({ id: 1, v: "x" });
      const r = (await t.getEntry(1))!;
      assert.deepEqual(r.row, { id: 1, v: "x" });
      assert.deepEqual(
        await c.atomic([{ op: "dict.set", args: [d.name, "a", 2] }, {
          op: "table.patch",
          args: [t.name, 1, { v: "y" }],
        }], {
          checks: [{ collection: d.name, key: "a", version: e.version }, {
            collection: t.name,
            key: 1,
            version: r.version,
          }],
        }),
        [undefined, undefined],
      );
      const stale = await c.atomic([{ op: "dict.set", args: [d.name, "a", 3] }], {
        checks: [{ collection: d.name, key: "a", version: e.version }],
      }).catch((err) => err);
      assert.ok(stale instanceof ConflictError, String(stale));
      assert.equal(await d.get("a"), 2);
      await assert.rejects(
        c.atomic([{ op: "dict.set", args: [d.name, "a", 3] }], {
          checks: [{ collection: d.name, key: "a", version: -1 }],
        }),
        ValidationError,
      );
      assert.equal(await d.increment("n", 5), 5);
      assert.equal(await d.increment("n"), 6);
      await d.set("s", "text");
      await assert.rejects(d.increment("s"), ValidationError);
      await assert.rejects(d.set("x", 1, { expireIn: -5 }), ValidationError);
      await d.set("x", 1, { expireIn: 60_000 });
      const ttl = (await d.ttl("x"))!;
      assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
      assert.equal(await d.ttl("a"), null);
      assert.equal(await d.ttl("none"), undefined);
      assert.equal(await d.expire("x", null), true);
      assert.equal(await d.ttl("x"), null);
      assert.equal(await d.expire("none", 1000), false);
      await c.close();
    });
  }

  it("an expired key is gone from every read over the wire", async () => {
    const [c] = await clients(1);
    const d = await c.createDict("short");
    await d.set("keep", 1);
    await d.set("k", "v", { expireIn: 150 });
    assert.equal(await d.get("k"), "v");
    // Real time here (a server process has its own clock): bounded.
    const deadline = Date.now() + 5_000;
    while ((await d.has("k")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await d.get("k"), undefined);
    assert.equal(await d.size(), 1);
    assert.deepEqual(await d.toObject(), { keep: 1 });
    assert.deepEqual(await d.keys(), ["keep"]);
    const seen: unknown[] = [];
    for await (const [k] of d) seen.push(k);
    assert.deepEqual(seen, ["keep"]);
    await c.close();
  });
});

describe("versions and expiry survive a server restart", () => {
  it("the same versions, LSN and remaining expiry after SIGTERM and a new server on the same directory", async () => {
    const tmp = await tempDir("cyberdb-live-remote-");
    try {
      let s = await startServer(["--dir", tmp.dir, "--password", PASSWORD]);
      let c = await connect(s.http, { password: PASSWORD });
      const d = await c.createDict("persist");
      await d.set("a", 1);
      await d.set("b", 2, { expireIn: 600_000 });
      await d.increment("n", 3n);
      const want = [await d.getEntry("a"), await d.getEntry("b"), await d.getEntry("n"), await c.lsn()];
      await c.close();
      assert.equal(await s.stop(), 0);
      s = await startServer(["--dir", tmp.dir, "--password", PASSWORD]);
      c = await connect(s.http, { password: PASSWORD });
      const d2 = await c.getDict("persist");
      assert.deepEqual([await d2.getEntry("a"), await d2.getEntry("b"), await d2.getEntry("n"), await c.lsn()], want);
      const ttl = (await d2.ttl("b"))!;
      assert.ok(ttl > 500_000 && ttl <= 600_000, `ttl ${ttl}`);
      await c.close();
      assert.equal(await s.stop(), 0);
    } finally {
      await tmp.remove();
    }
  });
});
