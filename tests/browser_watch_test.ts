// The change feed in a real browser (issue 11 item 5): two pages of one
// app on one server — one watches (client.watch over the WebSocket, and an
// EventSource on the server's event stream with a token from
// client.watchUrl, since a browser's EventSource cannot send the password),
// the other writes; what the first page saw is what the second wrote. The
// same Chromium fixture as tests/browser_test.ts, two pages at once.
import { it } from "node:test";
import assert from "node:assert/strict";
import { driveChromium } from "./fixtures/chromium.ts";
import { connect } from "../client.ts";
import { startServer, tempDir } from "./server_process.ts";

const PASSWORD = "browser-watch-pw";

const HEAD = `<!doctype html><html><head><title>running</title></head><body><pre id="out">waiting</pre>`;

/** The watching page: reports what it saw once the writer's last write ("done") arrived both ways. */
const WATCHER = (server: string, ws: string) =>
  `${HEAD}<script type="module">
  import { connect } from "${server}/client.js";
  const out = document.getElementById("out");
  const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error("no " + what + " within " + ms + " ms")), ms));
  try {
    const client = await connect("${ws}", { password: "${PASSWORD}" });
    const shared = await client.getDict("shared");
    const changes = client.watch({ collections: ["shared"] });
    const startedAt = await changes.ready();
    // EventSource cannot send the password: the URL carries a short-lived token.
    const url = await client.watchUrl({ collections: ["shared"] });
    const viaSse = [];
    let sseReady;
    const sseStarted = new Promise((resolve) => (sseReady = resolve));
    const sseDone = new Promise((resolve, reject) => {
      const events = new EventSource(url);
      events.addEventListener("ready", (e) => {
        viaSse.push({ ready: Number(e.lastEventId.split(":").pop()) }); // id: "<history>:<lsn>"
        sseReady();
      });
      events.onmessage = (e) => {
        const batch = JSON.parse(e.data);
        for (const c of batch.changes) viaSse.push({ id: Number(e.lastEventId.split(":").pop()), type: c.type, key: c.key, value: c.value });
        if (batch.changes.some((c) => c.key === "done")) {
          events.close();
          resolve();
        }
      };
      events.addEventListener("fail", (e) => reject(new Error(e.data)));
    });
    await Promise.race([sseStarted, timeout(10000, "event stream")]);
    await shared.set("watcher ready", startedAt);
    const viaWs = [];
    const wsDone = (async () => {
      for await (const batch of changes) {
        for (const c of batch) viaWs.push({ lsn: c.lsn, type: c.type, key: c.key, value: c.value });
        if (batch.some((c) => c.key === "done")) break;
      }
    })();
    await Promise.race([Promise.all([wsDone, sseDone]), timeout(20000, "changes from the writer")]);
    out.textContent = JSON.stringify({ startedAt, viaWs, viaSse });
    await client.close();
  } catch (e) {
    out.textContent = "ERROR " + (e && e.stack || e);
  }
  document.title = "done";
</script></body></html>`;

/** The writing page: waits until the watcher says it watches, then writes. */
const WRITER = (server: string, ws: string) =>
  `${HEAD}<script type="module">
  import { connect } from "${server}/client.js";
  const out = document.getElementById("out");
  try {
    const client = await connect("${ws}", { password: "${PASSWORD}" });
    const shared = await client.getDict("shared");
    for (let i = 0; i < 400 && !(await shared.has("watcher ready")); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await shared.has("watcher ready"))) throw new Error("the watcher never got ready");
    await shared.set("greeting", "hello from the other page");
    await shared.set("count", 1);
    await shared.increment("count");
    await shared.delete("greeting");
    await shared.set("done", true);
    out.textContent = "wrote";
    await client.close();
  } catch (e) {
    out.textContent = "ERROR " + (e && e.stack || e);
  }
  document.title = "done";
</script></body></html>`;

it("two pages on one server: one writes, the other's watch and EventSource see it", async () => {
  const work = await tempDir("cyberdb-chromium-watch-");
  const server = await startServer(["--memory", "--password", PASSWORD]);
  const setup = await connect(server.http, { password: PASSWORD });
  await setup.createDict("shared");
  await setup.createDict("elsewhere");
  const { createServer } = await import("node:http");
  // The app's pages come from a loopback origin of their own (see tests/browser_test.ts).
  const pageServer = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(req.url === "/write" ? WRITER(server.http, server.ws) : WATCHER(server.http, server.ws));
  });
  await new Promise<void>((r) => pageServer.listen(0, "127.0.0.1", () => r()));
  const pages = `http://127.0.0.1:${(pageServer.address() as { port: number }).port}`;
  try {
    const run = await driveChromium(work.dir, [`together:${pages}/watch ${pages}/write`]);
    const [watcher, writer] = run.texts.map((text) => ({ text, log: run.log }));
    assert.equal(writer.text, "wrote", `The writing page failed: ${writer.text}\n${writer.log.join("\n")}`);
    assert.ok(
      watcher.text && !watcher.text.startsWith("ERROR") && watcher.text !== "waiting",
      `The watching page failed: ${watcher.text}\n${watcher.log.join("\n")}\nserver:\n${server.output()}`,
    );
    const shown = JSON.parse(watcher.text!);
    const start = shown.startedAt as number;
    const expected = [
      { lsn: start + 1, type: "set", key: "watcher ready", value: start },
      { lsn: start + 2, type: "set", key: "greeting", value: "hello from the other page" },
      { lsn: start + 3, type: "set", key: "count", value: 1 },
      { lsn: start + 4, type: "set", key: "count", value: 2 },
      { lsn: start + 5, type: "delete", key: "greeting" },
      { lsn: start + 6, type: "set", key: "done", value: true },
    ];
    assert.deepStrictEqual(shown.viaWs, expected);
    // The event stream: ids are the LSNs, the first event says where it starts (before "watcher ready").
    assert.deepStrictEqual(shown.viaSse, [
      { ready: start },
      ...expected.map(({ lsn, ...rest }) => ({ id: lsn, ...rest })),
    ]);
  } finally {
    await setup.close();
    await new Promise((r) => pageServer.close(r));
    assert.equal(await server.stop(), 0);
    await work.remove();
  }
});
