// The admin page (issue 13 item 5) against real server processes: what the
// server answers at / and /admin (one static page, a CSP that allows only
// its own inline script and style, nothing of the data in it), then the page
// itself in real Chromium (the headless Chromium of @sparticuz/chromium,
// driven command by command through fixtures/page_driver.ts): logging in
// with a wrong and the right password, collections with kinds and sizes,
// paging a dict, a list and a table, values printed readably, a query as a
// result table, markup in keys, values and names shown as text, the live
// chart moving after operations, dropping with a typed confirmation, a server
// without a password, and the page behind the Cloudflare Worker at
// /db/<name>/admin. The test writes a screenshot to .tmp/admin.png.
import { after, before, describe, it } from "node:test";
import type { UpgradeWebSocket } from "hono/ws";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { connect } from "../client.ts";
import type { Client } from "../client.ts";
import { Database } from "../mod.ts";
import { createApp } from "../src/server/app.ts";
import { buildClientBundle } from "../src/server/bundle.ts";
import { loadGlue } from "../src/server/runtime.ts";
import { ADMIN_HTML, ADMIN_SCRIPT, ADMIN_STYLE } from "../src/server/admin_page.ts";
import { LOADING_PROGRESS, root, runtime, type ServerProcess, startServer, tempDir } from "./server_process.ts";
import { type ChromiumTab, openChromium } from "./fixtures/chromium.ts";
import { bundleWorker, startWorkerd, tempDir as workerdDir, type Workerd } from "./fixtures/workerd.ts";

const PASSWORD = "admin-page-pw";
/** Where the test leaves its screenshot of the page for people to look at (see docs/admin.md). */
const SCREENSHOT = join(root, ".tmp", "admin.png");

/** Markup a careless page would run or render: each must show as these characters. */
const XSS_NAME = "<img src=x onerror=window.__xss=1>";
const XSS_KEY = "<img src=x onerror=window.__xss=2>";
const XSS_VALUE = "<script>window.__xss=3</script><b>bold</b>";
const XSS_ROW = "<img src=x onerror=window.__xss=4>";

const USERS = {
  name: "users",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32", nullable: true },
    { name: "joined", type: "Date" },
  ],
} as const;

type UserRow = { id: number; name: string; age: number | null; joined: Date };

function user(i: number): UserRow {
  return {
    id: i,
    name: i === 7 ? XSS_ROW : `user ${i}`,
    age: i % 10 === 3 ? null : 20 + ((i * 7) % 45),
    joined: new Date(Date.UTC(2024, 0, 1 + i)),
  };
}

/** The data the page is shown: every kind of collection and of value. */
async function seed(c: Client): Promise<void> {
  const settings = await c.createDict("settings");
  await settings.set(0, "number zero");
  await settings.set("0", "string zero");
  await settings.set("big", 2n ** 63n);
  await settings.set("when", new Date(Date.UTC(2024, 4, 1)));
  await settings.set("bytes", new Uint8Array([1, 2, 255]));
  await settings.set("nested", { a: [1, { b: null }], "odd key": -0 });
  await settings.update(Array.from({ length: 54 }, (_, i): [string, number] => [`k${String(i).padStart(2, "0")}`, i]));
  await c.createList("events", Array.from({ length: 30 }, (_, i) => `event ${i}`));
  const users = await c.createTable(USERS);
  await users.insertMany(Array.from({ length: 40 }, (_, i) => user(i)));
  const xss = await c.createDict("xss");
  await xss.set(XSS_KEY, XSS_VALUE);
  await c.createDict(XSS_NAME);
}

/** The text of each cell of each body row of a table. */
const rowsOf = (table: string) =>
  `[...document.querySelectorAll(${
    JSON.stringify(`${table} tbody tr`)
  })].map((tr) => [...tr.cells].map((td) => td.textContent))`;
const headOf = (table: string) =>
  `[...document.querySelectorAll(${JSON.stringify(`${table} thead th`)})].map((th) => th.textContent)`;
const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? null)`;
const hidden = (selector: string) => `document.querySelector(${JSON.stringify(selector)}).hidden`;

/** Waits until the element's text is `want`, then returns it (a clear message when it never is). */
async function waitText(tab: ChromiumTab, selector: string, want: string): Promise<void> {
  try {
    await tab.wait(`(${text(selector)}) === ${JSON.stringify(want)}`, 15_000);
  } catch (e) {
    const now = await tab.eval(text(selector));
    throw new Error(`${selector} shows ${JSON.stringify(now)}, not ${JSON.stringify(want)}\n${(e as Error).message}`);
  }
}

/** The SHA-256 of a text in base64, as CSP hash sources write it. */
async function sha256(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return btoa(String.fromCharCode(...d));
}

describe("admin page: what the server answers", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(["--memory", "--password", PASSWORD]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it("serves one static page at / and /admin with no data in it, without asking for the password", async () => {
    const c = await connect(server.http, { password: PASSWORD });
    await c.createDict("secret-collection-name");
    await c.close();
    const bodies: string[] = [];
    for (const path of ["/", "/admin", "/admin/"]) {
      const res = await fetch(server.http + path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
      bodies.push(await res.text());
    }
    assert.equal(bodies[0], ADMIN_HTML);
    assert.deepEqual(new Set(bodies), new Set([ADMIN_HTML]));
    assert.doesNotMatch(ADMIN_HTML, /secret-collection-name|admin-page-pw/);
    // Nothing from another origin: every src and href is the page's own.
    for (const m of ADMIN_HTML.matchAll(/\b(?:src|href)=["']?([^"'\s>]+)/g)) assert.match(m[1], /^data:,$/, m[0]);
  });

  it("allows exactly its inline script and style by hash, and nothing from elsewhere", async () => {
    const res = await fetch(`${server.http}/admin`);
    const html = await res.text();
    const csp = res.headers.get("content-security-policy") ?? "";
    const script = /<script type="module">([\s\S]*)<\/script>/.exec(html)![1];
    const style = /<style>([\s\S]*)<\/style>/.exec(html)![1];
    assert.equal(script, ADMIN_SCRIPT);
    assert.equal(style, ADMIN_STYLE);
    assert.deepEqual(csp.split("; "), [
      "default-src 'none'",
      `script-src 'self' 'sha256-${await sha256(script)}'`,
      `style-src 'sha256-${await sha256(style)}'`,
      "connect-src 'self'",
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ]);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  });

  it("tells the page whether to ask for a password (GET /admin/info, no password needed)", async () => {
    const res = await fetch(`${server.http}/admin/info`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, value: { password: true } });
    // Asking spends none of the peer's allowed wrong passwords: many asks, then the right password at once.
    for (let i = 0; i < 20; i++) await (await fetch(`${server.http}/admin/info`)).body?.cancel();
    const c = await connect(server.http, { password: PASSWORD });
    assert.ok(Array.isArray(await c.collections()));
    await c.close();
  });

  it("is left out with { admin: false }", async () => {
    const db = await Database.open();
    // Never called: no WebSocket is opened here.
    const upgradeWebSocket = (() => () => new Response(null, { status: 500 })) as unknown as UpgradeWebSocket;
    const on = createApp(db, { upgradeWebSocket });
    const off = createApp(db, { upgradeWebSocket, admin: false });
    assert.equal((await on.app.request("/admin")).status, 200);
    assert.deepEqual(await (await on.app.request("/admin/info")).json(), { ok: true, value: { password: false } });
    for (const path of ["/", "/admin", "/admin/info"]) assert.equal((await off.app.request(path)).status, 404, path);
    await db.close();
  });
});

describe(`admin page in Chromium (server on ${runtime()})`, () => {
  let work: { dir: string; remove(): Promise<void> };
  let tab: ChromiumTab;
  let server: ServerProcess;
  let client: Client;

  before(async () => {
    work = await tempDir("cyberdb-admin-");
    server = await startServer(["--memory", "--password", PASSWORD]);
    client = await connect(server.http, { password: PASSWORD });
    await seed(client);
    tab = await openChromium(work.dir);
  });

  after(async () => {
    await tab?.close();
    await client?.close();
    if (server) assert.equal(await server.stop(), 0);
    await work?.remove();
  });

  it("refuses a wrong password, keeping it nowhere", async () => {
    await tab.do("goto", { url: `${server.http}/` });
    await tab.wait(`!${hidden("#login")}`);
    assert.equal(await tab.eval(hidden("#main")), true);
    await tab.do("fill", { selector: "#password", value: "not-the-password" });
    await tab.do("click", { selector: "#login-button" });
    await tab.wait(`(${text("#login-error")}) !== ""`);
    assert.match(String(await tab.eval(text("#login-error"))), /^Wrong password/);
    assert.equal(await tab.eval(hidden("#main")), true);
    assert.deepEqual(await tab.eval("[sessionStorage.length, localStorage.length, document.cookie, location.href]"), [
      0,
      0,
      "",
      `${server.http}/`,
    ]);
  });

  it("logs in with the right password, which lives in sessionStorage only (never in the URL)", async () => {
    await tab.do("fill", { selector: "#password", value: PASSWORD });
    await tab.do("click", { selector: "#login-button" });
    await tab.wait(`!${hidden("#main")}`);
    assert.equal(await tab.eval(hidden("#login")), true);
    assert.equal(await tab.eval(text("#auth-state")), "logged in");
    const stored = await tab.eval<[string, string | null, number, string]>(
      "[location.href, sessionStorage.getItem('cyberdb-admin-password'), localStorage.length, document.cookie]",
    );
    assert.deepEqual(stored, [`${server.http}/`, PASSWORD, 0, ""]);
    assert.equal(await tab.eval("document.querySelector('#password').value"), "");
    // A reload of the tab stays logged in; the login form is not shown again.
    await tab.do("reload");
    await tab.wait(`document.querySelectorAll('#collections tbody tr').length > 0`);
    assert.equal(await tab.eval(hidden("#login")), true);
  });

  it("lists every collection with its kind and size, names shown as text", async () => {
    await tab.wait(`document.querySelectorAll('#collections tbody tr').length === 5`);
    const rows = await tab.eval<string[][]>(rowsOf("#collections"));
    assert.deepEqual(rows, [
      [XSS_NAME, "dict", "0", "Drop"],
      ["events", "list", "30", "Drop"],
      ["settings", "dict", "60", "Drop"],
      ["users", "table", "40", "Drop"],
      ["xss", "dict", "1", "Drop"],
    ]);
    assert.equal(await tab.eval(text("#collections-note")), "5 collections");
  });

  it("pages through a dict: page size, next and previous, values printed readably", async () => {
    await tab.do("click", { selector: 'button[data-name="settings"]' });
    await waitText(tab, "#page-info", "Entries 1\u201325 of 60");
    assert.equal(await tab.eval(text("#browse-kind")), "dict");
    assert.equal(await tab.eval(text("#browse-name")), "settings");
    assert.deepEqual(await tab.eval(headOf("#browse")), ["Key", "Value"]);
    const first = await tab.eval<string[][]>(rowsOf("#browse"));
    assert.equal(first.length, 25);
    assert.deepEqual(first.slice(0, 7), [
      ["0", '"number zero"'],
      ['"0"', '"string zero"'],
      ['"big"', "9223372036854775808n"],
      ['"when"', "Date(2024-05-01T00:00:00.000Z)"],
      ['"bytes"', "bytes(3) 01 02 ff"],
      ['"nested"', '{a: [1, {b: null}], "odd key": -0}'],
      ['"k00"', "0"],
    ]);
    assert.equal(await tab.eval("document.querySelector('#prev').disabled"), true);
    await tab.do("click", { selector: "#next" });
    await waitText(tab, "#page-info", "Entries 26\u201350 of 60");
    assert.deepEqual((await tab.eval<string[][]>(rowsOf("#browse")))[0], ['"k19"', "19"]);
    await tab.do("click", { selector: "#next" });
    await waitText(tab, "#page-info", "Entries 51\u201360 of 60");
    const last = await tab.eval<string[][]>(rowsOf("#browse"));
    assert.deepEqual(last.at(-1), ['"k53"', "53"]);
    assert.equal(last.length, 10);
    assert.equal(await tab.eval("document.querySelector('#next').disabled"), true);
    await tab.do("click", { selector: "#prev" });
    await waitText(tab, "#page-info", "Entries 26\u201350 of 60");
    await tab.do("select", { selector: "#page-size", value: "10" });
    await waitText(tab, "#page-info", "Entries 1\u201310 of 60");
    assert.equal((await tab.eval<string[][]>(rowsOf("#browse"))).length, 10);
    assert.equal(await tab.eval(hidden("#query-panel")), true); // queries are for tables
  });

  it("pages through a list by index", async () => {
    await tab.do("click", { selector: 'button[data-name="events"]' });
    await waitText(tab, "#page-info", "Items 1\u201310 of 30");
    assert.deepEqual(await tab.eval(headOf("#browse")), ["#", "Value"]);
    assert.deepEqual((await tab.eval<string[][]>(rowsOf("#browse")))[0], ["0", '"event 0"']);
    await tab.do("click", { selector: "#next" });
    await tab.do("click", { selector: "#next" });
    await waitText(tab, "#page-info", "Items 21\u201330 of 30");
    assert.deepEqual((await tab.eval<string[][]>(rowsOf("#browse"))).at(-1), ["29", '"event 29"']);
    assert.equal(await tab.eval("document.querySelector('#next').disabled"), true);
  });

  it("pages through a table with its schema's columns", async () => {
    await tab.do("click", { selector: 'button[data-name="users"]' });
    await waitText(tab, "#page-info", "Rows 1\u201310 of 40");
    assert.deepEqual(await tab.eval(headOf("#browse")), ["id Int32", "name Utf8", "age Int32", "joined Date"]);
    const rows = await tab.eval<string[][]>(rowsOf("#browse"));
    assert.deepEqual(rows[3], ["3", '"user 3"', "null", "Date(2024-01-04T00:00:00.000Z)"]);
    assert.deepEqual(rows[7], ["7", JSON.stringify(XSS_ROW), "24", "Date(2024-01-08T00:00:00.000Z)"]);
    assert.equal(await tab.eval(hidden("#query-panel")), false);
  });

  it("runs a query built in the form and shows the answer as a table", async () => {
    await tab.do("select", { selector: "#q-column", value: "age" });
    await tab.do("select", { selector: "#q-op", value: ">=" });
    await tab.do("fill", { selector: "#q-value", value: "50" });
    await tab.do("select", { selector: "#q-order", value: "age" });
    await tab.do("select", { selector: "#q-direction", value: "desc" });
    await tab.do("fill", { selector: "#q-limit", value: "5" });
    const query = {
      where: { column: "age", op: ">=", value: 50 },
      orderBy: [{ column: "age", direction: "desc" }],
      limit: 5,
    };
    assert.deepEqual(JSON.parse(await tab.eval<string>("document.querySelector('#q-json').value")), query);
    await tab.do("click", { selector: "#q-run" });
    await waitText(tab, "#q-info", "5 rows");
    // The same query through the client, printed as the page prints values.
    const users = await client.getTable("users");
    const want = (await users.query(query as never)) as unknown as UserRow[];
    assert.equal(want.length, 5);
    assert.deepEqual(await tab.eval(headOf("#q-result")), ["id", "name", "age", "joined"]);
    assert.deepEqual(
      await tab.eval(rowsOf("#q-result")),
      want.map((r) => [String(r.id), JSON.stringify(r.name), String(r.age), `Date(${r.joined.toISOString()})`]),
    );
    const ages = want.map((r) => r.age!);
    assert.deepEqual(ages, [...ages].sort((a, b) => b - a));
    assert.ok(ages.every((a) => a >= 50));
  });

  it("runs a query typed as JSON, with tagged values and select", async () => {
    await tab.do("fill", {
      selector: "#q-json",
      value: JSON.stringify({
        where: { column: "joined", op: "<", value: { $date: "2024-01-04T00:00:00.000Z" } },
        select: ["name", "joined"],
      }),
    });
    await tab.do("click", { selector: "#q-run" });
    await waitText(tab, "#q-info", "3 rows");
    assert.deepEqual(await tab.eval(headOf("#q-result")), ["name", "joined"]);
    assert.deepEqual(await tab.eval(rowsOf("#q-result")), [
      ['"user 0"', "Date(2024-01-01T00:00:00.000Z)"],
      ['"user 1"', "Date(2024-01-02T00:00:00.000Z)"],
      ['"user 2"', "Date(2024-01-03T00:00:00.000Z)"],
    ]);
    assert.equal(await tab.eval(text("#q-error")), "");
  });

  it("shows a bad query's error and no stale result", async () => {
    await tab.do("fill", { selector: "#q-json", value: '{"where": {"column": "nope", "op": "=", "value": 1}}' });
    await tab.do("click", { selector: "#q-run" });
    await tab.wait(`(${text("#q-error")}) !== ""`);
    assert.match(String(await tab.eval(text("#q-error"))), /^VALIDATION: Column "nope" .*not in table "users"/);
    assert.deepEqual(await tab.eval(rowsOf("#q-result")), []);
    await tab.do("fill", { selector: "#q-json", value: "{ not json" });
    await tab.do("click", { selector: "#q-run" });
    await tab.wait(`/^The query is not valid/.test(${text("#q-error")})`);
  });

  it("shows markup in names, keys, values and rows as text, never as elements", async () => {
    await tab.do("click", { selector: 'button[data-name="xss"]' });
    await waitText(tab, "#page-info", "Entries 1\u20131 of 1");
    assert.deepEqual(await tab.eval(rowsOf("#browse")), [[JSON.stringify(XSS_KEY), JSON.stringify(XSS_VALUE)]]);
    // The name of the first collection, and the drop dialog naming it.
    assert.equal(await tab.eval("document.querySelector('#collections tbody button.link').textContent"), XSS_NAME);
    await tab.do("click", { selector: "#collections tbody tr:first-child button.danger" });
    await tab.wait("document.querySelector('#drop-dialog').open");
    assert.equal(await tab.eval(text("#drop-name")), XSS_NAME);
    await tab.do("click", { selector: "#drop-cancel" });
    // No element came out of the data, and nothing of it ran.
    const made = await tab.eval<number>(
      "document.querySelectorAll('#collections img, #browse img, #browse script, #browse b, #q-result img, #drop-dialog img').length",
    );
    assert.equal(made, 0);
    assert.equal(
      await tab.eval("document.querySelectorAll('img').length + document.querySelectorAll('script').length"),
      1,
    );
    assert.equal(await tab.eval("typeof window.__xss"), "undefined");
  });

  it("charts live operations per second and latency from /metrics", async () => {
    // A reading a second: wait for a quiet interval first, then make some operations.
    const chart = "document.querySelector('#chart-ops')";
    try {
      await tab.wait(`Number(${chart}.dataset.samples) >= 2 && /^0\\.0 ops\\/s$/.test(${text("#ops-rate")})`, 20_000);
    } catch (e) {
      const note = await tab.eval(text("#metrics-note"));
      throw new Error(`The chart never showed a quiet second; the page says: ${JSON.stringify(note)}\n${e}`);
    }
    const d = await client.getDict("settings");
    const until = Date.now() + 2500;
    let writes = 0;
    // Spread over more than two readings, so that one falls inside.
    while (Date.now() < until) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => d.set(`load${i}`, writes + i)));
      writes += 50;
    }
    const rate = await tab.wait<string>(`Number.parseFloat(${text("#ops-rate")}) > 0 && ${text("#ops-rate")}`);
    assert.match(rate, /^\d+(\.\d)? ops\/s$/);
    assert.ok(Number.parseFloat(rate) <= writes, `${rate} after ${writes} writes`);
    assert.match(String(await tab.eval(text("#lat-p99"))), /^[\d.]+ (\u00b5s|ms|s)$/);
    // The line rose above the baseline (y = 80) at some point.
    const ys = await tab.eval<number[]>(
      `${chart}.querySelector('polyline[data-series=ops]').getAttribute('points').trim().split(' ').map((p) => Number(p.split(',')[1]))`,
    );
    assert.ok(ys.length >= 2, `points: ${ys}`);
    assert.ok(Math.min(...ys) < 79, `the ops line never rose: ${ys}`);
    assert.ok(Number(await tab.eval(`${chart}.dataset.max`)) > 0);
  });

  it("writes a screenshot for people to look at", async () => {
    await tab.do("click", { selector: 'button[data-name="users"]' });
    await waitText(tab, "#page-info", "Rows 1\u201310 of 40");
    await tab.do("select", { selector: "#q-column", value: "age" });
    await tab.do("select", { selector: "#q-op", value: "between" });
    await tab.do("fill", { selector: "#q-value", value: "30, 45" });
    await tab.do("select", { selector: "#q-order", value: "age" });
    await tab.do("click", { selector: "#q-run" });
    await tab.wait(`/^\\d+ rows$/.test(${text("#q-info")})`);
    await mkdir(join(root, ".tmp"), { recursive: true });
    await tab.do("screenshot", { path: SCREENSHOT });
  });

  it("drops a collection only once its name is typed to confirm", async () => {
    await tab.do("click", { selector: 'button[data-drop="events"]' });
    await tab.wait("document.querySelector('#drop-dialog').open");
    assert.equal(await tab.eval(text("#drop-name")), "events");
    assert.equal(await tab.eval(text("#drop-size")), "30 items");
    assert.equal(await tab.eval("document.querySelector('#drop-confirm').disabled"), true);
    await tab.do("fill", { selector: "#drop-input", value: "event" });
    assert.equal(await tab.eval("document.querySelector('#drop-confirm').disabled"), true);
    await tab.do("press", { selector: "#drop-input", key: "Enter" }); // not the name: nothing happens
    await tab.do("click", { selector: "#drop-cancel" });
    assert.equal(await tab.eval("document.querySelector('#drop-dialog').open"), false);
    assert.ok((await client.collections()).some((c) => c.name === "events"), "cancel dropped it");

    await tab.do("click", { selector: 'button[data-drop="events"]' });
    await tab.do("fill", { selector: "#drop-input", value: "events" });
    assert.equal(await tab.eval("document.querySelector('#drop-confirm').disabled"), false);
    await tab.do("click", { selector: "#drop-confirm" });
    await tab.wait(`!document.querySelector('button[data-name="events"]')`);
    assert.equal(await tab.eval(text("#status")), 'Dropped the list "events".');
    assert.ok(!(await client.collections()).some((c) => c.name === "events"), "the server still has it");
  });

  it("closes the view of a collection it dropped", async () => {
    assert.equal(await tab.eval(text("#browse-name")), "users");
    await tab.do("click", { selector: 'button[data-drop="users"]' });
    await tab.do("fill", { selector: "#drop-input", value: "users" });
    await tab.do("press", { selector: "#drop-input", key: "Enter" });
    await tab.wait(`!document.querySelector('button[data-name="users"]')`);
    assert.equal(await tab.eval(hidden("#browse-panel")), true);
    assert.equal(await tab.eval(hidden("#query-panel")), true);
    assert.deepEqual((await client.collections()).map((c) => c.name), [XSS_NAME, "settings", "xss"]);
  });

  it("logs out: the password is forgotten", async () => {
    await tab.do("click", { selector: "#logout" });
    await tab.wait(`!${hidden("#login")}`);
    assert.equal(await tab.eval(hidden("#main")), true);
    assert.equal(await tab.eval("sessionStorage.length"), 0);
    await tab.do("reload");
    await tab.wait(`!${hidden("#login")}`);
    assert.equal(await tab.eval(hidden("#main")), true);
  });

  it("says the server is still loading its data, and shows the database once it has loaded", async () => {
    // A server held in loading on cue: this runtime's own HTTP server in
    // process, serving a database promise the test resolves (a real process
    // loads for as long as its files take, not for as long as a test needs).
    let open!: (db: Database) => void;
    const pending = new Promise<Database>((r) => (open = r));
    const glue = await loadGlue();
    const served = await glue.serve(
      (upgradeWebSocket, limits) =>
        createApp(pending, {
          upgradeWebSocket,
          ...limits,
          password: PASSWORD,
          loadProgress: () => LOADING_PROGRESS,
          clientBundle: buildClientBundle,
          notice: () => {},
        }).app,
      { hostname: "127.0.0.1", port: 0, maxPayload: 1 << 20, maxOutputBytes: 1 << 24 },
    );
    const db = await Database.open();
    try {
      await tab.do("goto", { url: `http://127.0.0.1:${served.port}/admin` });
      await tab.wait(`!${hidden("#login")}`);
      await tab.do("fill", { selector: "#password", value: PASSWORD });
      await tab.do("click", { selector: "#login-button" });
      await tab.wait(`/still loading/.test(${text("#status")})`);
      assert.match(
        String(await tab.eval(text("#status"))),
        /^The server is still loading its data \(log: 12,000 records.*\(this page tries again every second\)$/,
      );
      assert.equal(await tab.eval(hidden("#main")), true);
      db.createDict("loaded", { k: 1 });
      open(db);
      await tab.wait(`document.querySelectorAll('#collections tbody tr').length === 1`);
      assert.deepEqual(await tab.eval(rowsOf("#collections")), [["loaded", "dict", "1", "Drop"]]);
      assert.equal(await tab.eval(hidden("#status")), true);
    } finally {
      // The page polls /metrics: away from it first, so that no request keeps the server open.
      await tab.do("goto", { url: "about:blank" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([served.shutdown(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
      await db.close();
    }
  });

  it("asks for no password where the server has none", async () => {
    const open = await startServer(["--memory"]);
    try {
      await tab.do("goto", { url: `${open.http}/admin` });
      await waitText(tab, "#collections-note", "No collections yet: create one with the client or the CLI.");
      assert.equal(await tab.eval(hidden("#login")), true);
      assert.equal(await tab.eval(hidden("#logout")), true);
      assert.equal(await tab.eval(text("#auth-state")), "no password (loopback only)");
      const c = await connect(open.http);
      await c.createList("queue", [1, 2]);
      await c.close();
      await tab.do("click", { selector: "#refresh" });
      await tab.wait(`document.querySelectorAll('#collections tbody tr').length === 1`);
      assert.deepEqual(await tab.eval(rowsOf("#collections")), [["queue", "list", "2", "Drop"]]);
    } finally {
      assert.equal(await open.stop(), 0);
    }
  });

  it("works behind the Cloudflare Worker at /db/<name>/admin and /db/<name>", async () => {
    const dir = await workerdDir("admin");
    let w: Workerd | undefined;
    try {
      const script = (await bundleWorker("tests/fixtures/cf_test_worker.ts", dir.path)).path;
      w = await startWorkerd({
        script,
        persist: join(dir.path, "state"),
        objects: [{ className: "CyberDBObject", binding: "CYBERDB" }, { className: "ProbeObject", binding: "PROBE" }],
        vars: { CYBERDB_PASSWORD: PASSWORD },
      });
      const c = await connect(`${w.http}/db/shop`, { password: PASSWORD });
      await c.createDict("carts", { ada: 3 });
      await c.close();
      // Logged in once at /db/shop/admin; /db/shop (no slash) then finds the password in the tab's session.
      for (const path of ["/db/shop/admin", "/db/shop"]) {
        await tab.do("goto", { url: `${w.http}${path}` });
        if (path === "/db/shop/admin") {
          await tab.wait(`!${hidden("#login")}`);
          await tab.do("fill", { selector: "#password", value: PASSWORD });
          await tab.do("click", { selector: "#login-button" });
        }
        await tab.wait(`document.querySelectorAll('#collections tbody tr').length === 1`);
        assert.deepEqual(await tab.eval(rowsOf("#collections")), [["carts", "dict", "1", "Drop"]], path);
        assert.equal(await tab.eval(text("#server")), `127.0.0.1:${w.port}/db/shop`);
      }
    } finally {
      await w?.stop();
      await dir.remove();
    }
  });
});
