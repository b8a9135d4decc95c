// The client in a real browser: the headless Chromium of the npm package
// @sparticuz/chromium, driven by playwright-core,
// loads /client.js from a running server into a page, authenticates over
// WebSocket (first-frame auth), writes and reads a dict, a list and a table,
// and shows the results; the test reads what the page shows.
// Playwright drives browsers from Node only, so the browser itself is driven
// by a Node child (fixtures/drive_chromium.ts) on every runtime, while the
// server the page talks to runs on the runtime under test.
import { it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../client.ts";
import { startServer, tempDir } from "./server_process.ts";
import { bundleForBrowser, driveChromium, servePages } from "./fixtures/chromium.ts";

const PASSWORD = "browser-pw";

const PAGE = (server: string, ws: string) =>
  `<!doctype html>
<html><head><title>running</title></head><body>
<pre id="out">waiting</pre>
<script type="module">
  import { connect, KeyNotFoundError, AuthError } from "${server}/client.js";
  import { Database, MemoryStorage } from "/engine.js";
  const out = document.getElementById("out");
  try {
    // The embedded engine in the page: a dir without a storage is refused
    // (a page has no durable default), memory on purpose works.
    let noDurable = "none";
    try { await Database.open({ dir: "app" }); } catch (e) { noDurable = e.code + (/MemoryStorage/.test(e.message) ? " names MemoryStorage" : "") + (/OpfsStorage/.test(e.message) && /dedicated Worker/.test(e.message) ? " and OpfsStorage in a Worker" : ""); }
    const embedded = await Database.open({ dir: "app", storage: new MemoryStorage() });
    embedded.createDict("d").set("k", "v");
    const memoryOnPurpose = embedded.getDict("d").get("k");
    await embedded.close();
    let wrong = "none";
    try { await connect("${ws}", { password: "wrong" }); } catch (e) { wrong = e instanceof AuthError ? e.code : String(e); }
    const client = await connect("${ws}", { password: "${PASSWORD}" });
    const d = await client.createDict("web_dict");
    await d.set("greeting", "hello from Chromium");
    await d.set(0, 0);
    await d.set("big", 2n ** 63n);
    await d.set("bytes", new Uint8Array([1, 2, 3]));
    let missing = "none";
    try { await d.pop("missing"); } catch (e) { missing = e instanceof KeyNotFoundError ? e.code : String(e); }
    const l = await client.createList("web_list", [3, 1, 2]);
    await l.sort();
    await l.append("four");
    const t = await client.createTable({
      name: "web_table",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "name", type: "Utf8" }],
    });
    await t.insert({ id: 1, name: "Ada" });
    await t.upsert({ id: 2, name: "Grace" });
    const entries = [];
    for await (const [k, v] of d) entries.push(k);
    out.textContent = JSON.stringify({
      noDurable,
      memoryOnPurpose,
      wrong,
      missing,
      greeting: await d.get("greeting"),
      zero: await d.get(0),
      big: String(await d.get("big")),
      bytes: Array.from(await d.get("bytes")),
      size: await d.size(),
      entries,
      list: await l.toArray(),
      popped: await l.pop(),
      row: await t.get(2),
      count: await t.count(),
    });
    await client.close();
  } catch (e) {
    out.textContent = "ERROR " + (e && e.stack || e);
  }
  document.title = "done";
</script></body></html>`;

it("runs the client in Chromium: /client.js, WebSocket auth, dict, list and table", async () => {
  const work = await tempDir("cyberdb-chromium-");
  const server = await startServer(["--memory", "--password", PASSWORD]);
  // The app page comes from a loopback origin of its own, as a real web app
  // would (a page intercepted in-browser counts as public to Chromium's local
  // network checks and may not open loopback sockets); /client.js is thus
  // loaded cross-origin, through the server's CORS headers.
  // mod.ts and storage.ts bundled for the browser.
  const engine = await bundleForBrowser("export * from './mod.ts'; export { MemoryStorage } from './storage.ts';");
  const pages = await servePages({ "/": { html: PAGE(server.http, server.ws) }, "/engine.js": { js: engine } });
  try {
    const { texts: [text], log } = await driveChromium(work.dir, [`${pages.origin}/`]);
    assert.ok(
      text && !text.startsWith("ERROR") && text !== "waiting",
      `The page failed: ${text}\n${log.join("\n")}\nserver:\n${server.output()}`,
    );
    const shown = JSON.parse(text!);
    assert.deepStrictEqual(shown, {
      noDurable: "VALIDATION names MemoryStorage and OpfsStorage in a Worker",
      memoryOnPurpose: "v",
      wrong: "AUTH",
      missing: "KEY_NOT_FOUND",
      greeting: "hello from Chromium",
      zero: 0,
      big: "9223372036854775808",
      bytes: [1, 2, 3],
      size: 4,
      entries: ["greeting", 0, "big", "bytes"],
      list: [1, 2, 3, "four"],
      popped: "four",
      row: { id: 2, name: "Grace" },
      count: 2,
    });
    // What the browser wrote is on the server.
    const c = await connect(server.http, { password: PASSWORD });
    assert.equal(await (await c.getDict("web_dict")).get("greeting"), "hello from Chromium");
    assert.deepStrictEqual(await (await c.getList("web_list")).toArray(), [1, 2, 3]);
    await c.close();
  } finally {
    await pages.close();
    assert.equal(await server.stop(), 0);
    await work.remove();
  }
});
