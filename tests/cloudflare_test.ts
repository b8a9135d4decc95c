// CyberDB on Cloudflare, for real: the Worker and CyberDBObject bundled for
// the browser platform and run in the workerd binary from npm (the runtime
// Cloudflare runs), on 127.0.0.1, Durable Objects on SQLite in a directory
// of this test's own (tests/fixtures/workerd.ts; the test's own Worker,
// tests/fixtures/cf_test_worker.ts, adds probes).
//
// - The one Storage conformance suite, run inside a Durable Object against
//   DurableObjectStorage(ctx.storage), each case reported here as a test of
//   its own (a case that fails or did not run fails).
// - The item-1 refusal inside workerd: Database.open({ dir }) without a
//   storage, in the Worker and in a Durable Object.
// - The unchanged client of this runtime (Deno, Bun, Node) against two
//   databases routed by name, over WebSocket and HTTP; an unauthenticated
//   socket refused.
// - Hibernation (Node's run only: it waits for workerd to evict the idle
//   object, 10 s, and workerd is the same program whatever runs this file):
//   sockets authenticated by header and by auth frame stay usable on the
//   fresh instance, an object restarted on the same storage keeps its data.
// The crash loop is tests/cloudflare_crash_test.ts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { AlreadyExistsError, AuthError, connect, NotFoundError, TooLargeError } from "../client.ts";
import { CLIENT_BUNDLE } from "../src/cloudflare/client_bundle.ts";
import { encode } from "../src/wire/codec.ts";
import { MemoryStorage } from "../src/storage/memory.ts";
import { conformanceCases } from "./fixtures/storage_conformance.ts";
import { bundleWorker, startWorkerd, tempDir, type Workerd } from "./fixtures/workerd.ts";
import { rawSocket, runtime, webSocket } from "./server_process.ts";

const PASSWORD = "edge-secret";
const OBJECTS = [
  { className: "CyberDBObject", binding: "CYBERDB" },
  { className: "ProbeObject", binding: "PROBE" },
];

/** The suite's case names, known before anything runs (a case missing from the report fails). */
const CASE_NAMES = conformanceCases({
  kind: "durable-object",
  make: () => new MemoryStorage(),
  reopen: (s) => s,
  dir: () => Promise.resolve({ path: "x", remove: () => Promise.resolve() }),
}).map((c) => c.name);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function json(w: Workerd, path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${w.http}${path}`, init);
  return { status: r.status, body: await r.json() };
}

async function instance(w: Workerd, name: string): Promise<string> {
  const { body } = await json(w, `/db/${name}/_instance`);
  return String(body);
}

describe(`Cloudflare: CyberDB inside workerd (client on ${runtime()})`, () => {
  let dir: { path: string; remove(): Promise<void> };
  let script: string;
  let w: Workerd;
  let report: { name: string; ok: boolean; error?: string }[] = [];

  before(async () => {
    dir = await tempDir("workerd");
    script = (await bundleWorker("tests/fixtures/cf_test_worker.ts", dir.path)).path;
    w = await startWorkerd({
      script,
      persist: join(dir.path, "state"),
      objects: OBJECTS,
      vars: { CYBERDB_PASSWORD: PASSWORD },
    });
    const r = await json(w, "/probe/conformance");
    assert.equal(r.status, 200, `the conformance probe answered ${JSON.stringify(r.body)}\n${w.output()}`);
    report = r.body as typeof report;
  });

  after(async () => {
    await w?.stop();
    await dir?.remove();
  });

  describe("Storage conformance inside a Durable Object: DurableObjectStorage over ctx.storage.sql", () => {
    for (const name of CASE_NAMES) {
      it(name, () => {
        const r = report.find((x) => x.name === name);
        assert.ok(
          r !== undefined,
          `the case did not run inside workerd; ran: ${report.map((x) => x.name).join(" | ")}`,
        );
        assert.ok(r.ok, r.error);
      });
    }
    it("ran every case of the suite and no other", () => {
      assert.deepEqual(report.map((x) => x.name), CASE_NAMES);
    });
  });

  it("Database.open({ dir }) without a storage in workerd is a ValidationError naming what to pass (Worker and Durable Object)", async () => {
    for (const path of ["/refusal", "/probe/refusal"]) {
      const { body } = await json(w, path);
      const r = body as { opened: boolean; name: string; code: string; message: string };
      assert.equal(r.opened, false, `${path}: opened a database that would live in memory only`);
      assert.equal(r.name, "ValidationError", path);
      assert.equal(r.code, "VALIDATION", path);
      assert.match(r.message, /"data"/, "quotes the dir");
      assert.match(r.message, /workerd/);
      assert.match(r.message, /new DurableObjectStorage\(ctx\.storage\)/, "names the storage to pass");
      assert.match(r.message, /CyberDBObject/);
    }
  });

  it("the unchanged client reaches two databases routed by name, over WebSocket and HTTP", async () => {
    const WebSocket = await webSocket();
    const alpha = await connect(`${w.ws}/db/alpha`, { password: PASSWORD, WebSocket });
    const beta = await connect(`${w.ws}/db/beta`, { password: PASSWORD, WebSocket });
    const alphaHttp = await connect(`${w.http}/db/alpha`, { password: PASSWORD });
    try {
      // The same names in two databases: two objects, nothing shared.
      const a = await alpha.createDict("d", { who: "alpha" });
      const b = await beta.createDict("d", { who: "beta" });
      await a.set("n", 1);
      await b.set("n", 2);
      assert.equal(await a.get("who"), "alpha");
      assert.equal(await b.get("who"), "beta");
      assert.equal(await (await alphaHttp.getDict("d")).get("n"), 1, "HTTP sees the same database as WebSocket");
      await alpha.createList("only-alpha", [1, 2, 3]);
      assert.deepEqual((await beta.collections()).map((c) => c.name), ["d"]);
      await assert.rejects(beta.getList("only-alpha"), NotFoundError);
      await assert.rejects(alpha.createDict("d"), AlreadyExistsError);
      // The connection stays usable after errors; 1,000 writes in flight are all acknowledged.
      await Promise.all(Array.from({ length: 1000 }, (_, i) => a.set(`k${i}`, i)));
      assert.equal(await a.size(), 1002);
      assert.equal(await (await alphaHttp.getDict("d")).get("k999"), 999);
      // A value larger than the 2 MiB a Durable Object takes in one row: chunked by the storage.
      const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
      await b.set("big", big);
      assert.deepEqual(await b.get("big"), big);
      // Past the object's request limit (16 MiB by default), refused before it is sent.
      await assert.rejects(b.set("huge", new Uint8Array(17 * 1024 * 1024)), TooLargeError);
      // A table, a transaction, an atomic batch.
      const t = await beta.createTable({
        name: "users",
        columns: [{ name: "id", type: "Int64", primaryKey: true }, { name: "name", type: "Utf8" }],
      });
      await t.insertMany([{ id: 1, name: "ada" }, { id: 2, name: "bo" }]);
      assert.deepEqual(await t.get(2), { id: 2, name: "bo" });
      await beta.atomic([{ op: "dict.set", args: ["d", "x", 1] }, { op: "table.delete", args: ["users", 1] }]);
      assert.equal(await t.count(), 1);
    } finally {
      await alpha.close();
      await beta.close();
      await alphaHttp.close();
    }
  });

  it("GET /db/<name>/client.js serves the prebuilt client bundle; /health answers without a password", async () => {
    const r = await fetch(`${w.http}/db/alpha/client.js`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /javascript/);
    assert.equal(await r.text(), CLIENT_BUNDLE);
    assert.equal((await json(w, "/db/alpha/health")).status, 200);
    assert.deepEqual((await json(w, "/health")).body, { ok: true });
  });

  it("the Worker refuses paths outside /db/<name> and bad names", async () => {
    assert.equal((await json(w, "/v1/rpc")).status, 404);
    const bad = await json(w, "/db/a%20b/health");
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /VALIDATION/);
  });

  it("an unauthenticated socket is refused: any request before auth is AUTH and closes it; a wrong password is AuthError", async () => {
    const s = await rawSocket(`${w.ws}/db/alpha/v1/ws`);
    s.ws.send(encode({ id: 1, op: "db.collections", args: [] }));
    const reply = await s.next() as { id: number; ok: boolean; error: { code: string } };
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, "AUTH");
    assert.equal((await s.closed).code, 1008);

    const wrong = await rawSocket(`${w.ws}/db/alpha/v1/ws`);
    wrong.ws.send(encode({ id: 0, op: "auth", args: ["not-the-password"] }));
    assert.equal(((await wrong.next()) as { error: { code: string } }).error.code, "AUTH");
    assert.equal((await wrong.closed).code, 1008);

    await assert.rejects(connect(`${w.ws}/db/alpha`, { password: "wrong", WebSocket: await webSocket() }), AuthError);
    const http = await fetch(`${w.http}/db/alpha/v1/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "db.collections", args: [] }),
    });
    assert.equal(http.status, 401);
    await http.body?.cancel();
  });

  // workerd evicts an idle object after 10 s; that wait is the same whatever runtime runs the client: Node's run only.
  if (runtime() === "node") {
    it("hibernation: sockets authenticated by header and by auth frame stay usable after the object is evicted and woken", async () => {
      const WebSocket = await webSocket();
      const client = await connect(`${w.ws}/db/sleepy`, { password: PASSWORD, WebSocket });
      // A browser's way: no header, the password in the first frame only.
      const browser = await rawSocket(`${w.ws}/db/sleepy/v1/ws`);
      const watcher = await connect(`${w.ws}/db/sleepy`, { password: PASSWORD, WebSocket });
      try {
        const d = await client.createDict("d");
        await d.set("before", 1);
        // A watch's cursor is lost with the hibernated instance: the object closes
        // the watching socket when it wakes, and the client resumes from its last change.
        const seen: string[] = [];
        const watch = watcher.watch({ collections: ["d"], from: await client.lsn() });
        void (async () => {
          for await (const batch of watch) for (const c of batch) seen.push(String((c as { key?: unknown }).key));
        })().catch(() => {});
        browser.ws.send(encode({ id: 0, op: "auth", args: [PASSWORD] }));
        assert.equal(((await browser.next()) as { ok: boolean }).ok, true);
        const first = await instance(w, "sleepy");
        // Idle: no request, no message. workerd evicts after 10 s without events; allow two rounds.
        let woken = first;
        for (let round = 0; round < 2 && woken === first; round++) {
          await sleep(12_000);
          // The first event after the wait goes through a socket, not HTTP: it wakes the object.
          await d.set(`after-${round}`, round);
          woken = await instance(w, "sleepy");
        }
        assert.notEqual(woken, first, "the object was never evicted: nothing was tested");
        // The header-authenticated client goes on, on the fresh instance, with the data recovered.
        assert.equal(await d.get("before"), 1);
        assert.equal(await d.size(), 1 + [...(await d.keys())].filter((k) => String(k).startsWith("after-")).length);
        // The frame-authenticated socket too: its state came back from its attachment.
        browser.ws.send(encode({ id: 7, op: "dict.get", args: ["d", "before"] }));
        assert.deepEqual(await browser.next(), { id: 7, ok: true, value: 1 });
        await d.set("seen-after-wake", 1);
        for (let i = 0; i < 100 && !seen.includes("seen-after-wake"); i++) await sleep(100);
        assert.ok(seen.includes("seen-after-wake"), `the watch did not resume after the wake: saw ${seen.join(", ")}`);
        assert.equal(seen.filter((k) => k === "seen-after-wake").length, 1, "no change twice");
      } finally {
        browser.ws.close();
        await watcher.close();
        await client.close();
      }
    });

    it("a restarted workerd finds every database as it was (the objects recover from their SQLite)", async () => {
      const WebSocket = await webSocket();
      const before = await connect(`${w.ws}/db/restart`, { password: PASSWORD, WebSocket });
      const d = await before.createDict("d");
      await Promise.all(Array.from({ length: 200 }, (_, i) => d.set(i, i * 2)));
      await before.close();
      await w.stop();
      w = await startWorkerd({
        script,
        persist: join(dir.path, "state"),
        objects: OBJECTS,
        vars: { CYBERDB_PASSWORD: PASSWORD },
      });
      const again = await connect(`${w.ws}/db/restart`, { password: PASSWORD, WebSocket });
      try {
        const e = await again.getDict("d");
        assert.equal(await e.size(), 200);
        assert.equal(await e.get(199), 398);
        assert.equal(await (await again.getDict("d")).get(0), 0);
      } finally {
        await again.close();
      }
    });
  }
});
