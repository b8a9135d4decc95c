// One client suite, run over both transports (WebSocket and HTTP) against a
// real server process of the runtime under test, on a free loopback port.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AlreadyExistsError,
  type Client,
  ClosedError,
  connect,
  ConnectionError,
  CyberDBError,
  DuplicateKeyError,
  IndexOutOfRangeError,
  KeyNotFoundError,
  NotFoundError,
  SchemaError,
  ValidationError,
  ValueNotFoundError,
  WrongKindError,
} from "../client.ts";
import { createServer } from "node:net";
import { type ServerProcess, startServer, webSocket } from "./server_process.ts";

const PASSWORD = "s3cret-ü";

const VALUES: [string, unknown][] = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["zero", 0],
  ["negative zero", -0],
  ["float", 1.5],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
  ["max safe int", Number.MAX_SAFE_INTEGER],
  ["empty string", ""],
  ["unicode", "héllo 🎉 \u0000 end"],
  ["bigint 1n", 1n],
  ["bigint 2^63", 2n ** 63n],
  ["bigint -2^63", -(2n ** 63n)],
  ["bigint 2^64-1", 2n ** 64n - 1n],
  ["empty binary", new Uint8Array(0)],
  ["binary", new Uint8Array([0, 1, 127, 128, 255])],
  ["date", new Date(Date.UTC(2024, 1, 29, 12, 30, 45, 123))],
  ["epoch", new Date(0)],
  ["empty array", []],
  ["empty object", {}],
  ["nested", { a: [1, { b: null, c: [-0, 2n, new Uint8Array([9])] }], d: new Date(5), "": "empty key" }],
];

function same(actual: unknown, expected: unknown, what: string) {
  if (typeof expected === "number" && (Number.isNaN(expected) || Object.is(expected, -0))) {
    assert.ok(Object.is(actual, expected), `${what}: ${String(actual)} is not ${String(expected)}`);
  } else {
    assert.deepStrictEqual(actual, expected, what);
  }
}

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

    it("round-trips every value type through dicts and lists", async () => {
      const d = await client.createDict(n("values"));
      const l = await client.createList(n("values_list"));
      for (const [what, v] of VALUES) {
        await d.set(what, v as never);
        await l.append(v as never);
      }
      for (const [i, [what, v]] of VALUES.entries()) {
        same(await d.get(what), v, `dict ${what}`);
        same(await l.get(i), v, `list ${what}`);
      }
      const all = await d.toObject();
      same(all["negative zero"], -0, "toObject keeps -0");
      assert.deepStrictEqual(await d.keys(), VALUES.map(([k]) => k));
    });

    it("keeps falsy values, and tells a missing key from null", async () => {
      const d = await client.createDict(n("falsy"));
      for (const [k, v] of [["zero", 0], ["empty", ""], ["false", false], ["null", null]] as const) {
        await d.set(k, v);
        same(await d.get(k), v, k);
        assert.equal(await d.has(k), true);
      }
      assert.equal(await d.get("missing"), undefined);
      assert.equal(await d.get("missing", 0), 0);
      assert.equal(await d.get("null", "fallback"), null);
      await d.set(0, "int key").then((self) => self.set("0", "string key"));
      assert.equal(await d.get(0), "int key");
      assert.equal(await d.get("0"), "string key");
    });

    it("round-trips a 32 MiB value with the password checked (never mistaken for a wrong one)", async () => {
      const big = new Uint8Array(32 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4093) big[i] = i % 251;
      const d = await client.createDict(n("big"));
      await d.set("blob", big);
      const back = await d.get("blob") as Uint8Array;
      assert.ok(back instanceof Uint8Array);
      assert.equal(back.length, big.length);
      for (let i = 0; i < big.length; i += 4093) if (back[i] !== big[i]) assert.fail(`Byte ${i} differs`);
      const text = "x".repeat(8 * 1024 * 1024);
      await d.set("text", text);
      assert.equal((await d.get("text") as string).length, text.length);
      assert.equal(await d.delete("blob"), true);
      assert.equal(await d.size(), 1);
    });

    it("pop() and popItem() return what they removed", async () => {
      const d = await client.createDict(n("pop"));
      await d.update({ a: 1, b: 0 });
      assert.equal(await d.pop("a"), 1);
      assert.equal(await d.pop("a", "gone"), "gone");
      assert.deepStrictEqual(await d.popItem(), ["b", 0]);
      const l = await client.createList(n("pop_list"), [1, 2, 3, 0]);
      assert.equal(await l.pop(), 0);
      assert.equal(await l.pop(0), 1);
      assert.deepStrictEqual(await l.toArray(), [2, 3]);
    });

    it("throws the server's error class, code and message, and stays usable", async () => {
      const d = await client.createDict(n("errors"));
      const usable = await client.createDict(n("errors_usable"));
      const l = await client.createList(n("errors_list"), [1]);
      const t = await client.createTable({ name: n("errors_t"), columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const);
      await t.insert({ id: 1 });
      const cases: [() => Promise<unknown>, new (...a: never[]) => CyberDBError, string][] = [
        [() => d.pop("missing"), KeyNotFoundError, "KEY_NOT_FOUND"],
        [() => d.popItem(), KeyNotFoundError, "KEY_NOT_FOUND"],
        [() => client.getList(n("errors")), WrongKindError, "WRONG_KIND"],
        [() => client.getDict(n("nope")), NotFoundError, "NOT_FOUND"],
        [() => client.createDict(n("errors")), AlreadyExistsError, "ALREADY_EXISTS"],
        [() => l.get(5), IndexOutOfRangeError, "INDEX_OUT_OF_RANGE"],
        [() => l.remove(42), ValueNotFoundError, "VALUE_NOT_FOUND"],
        [() => t.insert({ id: 1 }), DuplicateKeyError, "DUPLICATE_KEY"],
        [() => t.insert({ id: "x" as never }), ValidationError, "VALIDATION"],
        [() => client.createTable({ name: n("bad"), columns: [] }), SchemaError, "SCHEMA"],
        [() => d.set("k", new Map() as never), ValidationError, "VALIDATION"],
        [() => d.set("k", (() => 1) as never), ValidationError, "VALIDATION"],
        [() => d.set({} as never, 1), ValidationError, "VALIDATION"],
        [() => client.call("dict.nope", [n("errors")]), CyberDBError, "PROTOCOL"],
        [() => client.call("dict.set", [n("errors")]), ValidationError, "VALIDATION"],
      ];
      for (const [i, [fn, Class, code]] of cases.entries()) {
        await assert.rejects(fn, (e: unknown) => {
          assert.ok(e instanceof Class, `${String(e)} is a ${Class.name}`);
          assert.equal((e as CyberDBError).code, code);
          assert.ok((e as Error).message.length > 10, "the message explains");
          return true;
        }, `case ${i} (${code}) rejects`);
        await usable.set(i, "usable");
        assert.equal(await usable.get(i), "usable");
      }
      assert.equal(await d.size(), 0, "no failed call stored anything");
    });

    it("has every dict method", async () => {
      const d = await client.createDict<number>(n("dict_api"), new Map<string | number, number>([["x", 1], [2, 2]]));
      assert.equal(await d.size(), 2);
      await d.update([["y", 3]]);
      assert.deepStrictEqual(await d.entries(), [["x", 1], [2, 2], ["y", 3]]);
      assert.deepStrictEqual(await d.values(), [1, 2, 3]);
      assert.equal(await d.setDefault("x", 9), 1);
      assert.equal(await d.setDefault("z", 9), 9);
      assert.deepStrictEqual(await d.toJSON(), { x: 1, 2: 2, y: 3, z: 9 });
      assert.equal(await d.delete("nope"), false);
      await d.clear();
      assert.equal(await d.size(), 0);
      assert.equal(d.name, n("dict_api"));
    });

    it("has every list method", async () => {
      const l = await client.createList<number | { k: number }>(n("list_api"), new Set([3, 1, 2]));
      assert.equal(await l.length(), 3);
      await l.extend([5, 4]);
      await l.insert(0, 0);
      await l.set(-1, 40);
      assert.deepStrictEqual(await l.slice(1, -1), [3, 1, 2, 5]);
      assert.deepStrictEqual(await l.slice(), [0, 3, 1, 2, 5, 40]);
      assert.equal(await l.indexOf(2), 3);
      assert.equal(await l.indexOf(99), -1);
      assert.equal(await l.count(3), 1);
      await l.sort();
      assert.deepStrictEqual(await l.toArray(), [0, 1, 2, 3, 5, 40]);
      await l.sort({ reverse: true });
      await l.reverse();
      await l.remove(0);
      assert.deepStrictEqual(await l.toJSON(), [1, 2, 3, 5, 40]);
      await l.clear();
      await l.extend([{ k: 2 }, { k: 1 }]);
      await l.sort({ key: "k" });
      assert.deepStrictEqual(await l.toArray(), [{ k: 1 }, { k: 2 }]);
    });

    it("has every table method, with typed rows", async () => {
      const users = await client.createTable({
        name: n("users"),
        columns: [
          { name: "id", type: "Int64", primaryKey: true },
          { name: "name", type: "Utf8" },
          { name: "age", type: "Int32", nullable: true },
          { name: "photo", type: "Binary", nullable: true },
          { name: "born", type: "Date", nullable: true },
        ],
      } as const);
      await users.insert({ id: 1n, name: "Ada", age: 36 });
      await users.insertMany([{ id: 2, name: "Grace" }, { id: 3, name: "Linus", age: 28, photo: new Uint8Array([1]) }]);
      await users.update(2, { id: 2, name: "Grace", age: 45, born: new Date(0) });
      await users.patch(3, { age: 29 });
      await users.upsert({ id: 4, name: "Ken" });
      assert.equal(await users.delete(4), true);
      assert.equal(await users.delete(4), false);
      const ada = await users.get(1);
      const name: string | undefined = ada?.name;
      assert.equal(name, "Ada");
      assert.equal(await users.get(99), undefined);
      assert.equal(await users.has(3), true);
      assert.equal(await users.count(), 3);
      assert.deepStrictEqual((await users.rows()).map((r) => r.age), [36, 45, 29]);
      assert.deepStrictEqual((await users.toArray())[1].born, new Date(0));
      assert.deepStrictEqual((await users.get(3))?.photo, new Uint8Array([1]));
      assert.equal((await users.schema()).columns.length, 5);
      assert.equal((await users.toJSON()).length, 3);
      const again = await client.getTable(n("users"));
      assert.equal(await again.count(), 3);
    });

    it("streams dicts, lists and tables with for await, in batches", async () => {
      const d = await client.createDict<number>(n("iter"));
      const l = await client.createList<number>(n("iter_list"));
      const t = await client.createTable({ name: n("iter_t"), columns: [{ name: "id", type: "Int32", primaryKey: true }] } as const);
      const N = 50;
      await Promise.all(Array.from({ length: N }, (_, i) => Promise.all([d.set(i, i * 2), l.append(i), t.insert({ id: i })])));
      const entries: [unknown, number][] = [];
      for await (const e of d) entries.push(e);
      assert.equal(entries.length, N);
      assert.ok(entries.every(([k, v]) => v === (k as number) * 2));
      const items: number[] = [];
      for await (const v of l) items.push(v);
      assert.deepStrictEqual(items.sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
      let rows = 0;
      for await (const _row of t) rows++;
      assert.equal(rows, N);
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

    it("runs atomic batches all or nothing", async () => {
      const d = await client.createDict(n("atomic"));
      const ok = await client.atomic([
        { op: "dict.set", args: [n("atomic"), "a", 1] },
        { op: "dict.pop", args: [n("atomic"), "a"] },
      ]);
      assert.deepStrictEqual(ok, [undefined, 1]);
      await assert.rejects(
        client.atomic([{ op: "dict.set", args: [n("atomic"), "b", 1] }, { op: "dict.pop", args: [n("atomic"), "zz"] }]),
        KeyNotFoundError,
      );
      assert.equal(await d.has("b"), false);
    });

    it("lists and drops collections", async () => {
      await client.createList(n("dropme"));
      assert.ok((await client.collections()).some((c) => c.name === n("dropme") && c.kind === "list"));
      assert.equal(await client.drop(n("dropme")), true);
      assert.equal(await client.drop(n("dropme")), false);
      await assert.rejects(client.getList(n("dropme")), NotFoundError);
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
      const c = await connect(kind === "ws" ? server.ws : server.http, { password: PASSWORD, WebSocket: await webSocket() });
      const d = await c.createDict(n("closed"));
      await c.close();
      await assert.rejects(d.get("x"), ClosedError);
      await c.close();
    });
  });
}
