// OpfsStorage in a real browser: the headless Chromium of the npm package
// @sparticuz/chromium (driven by a Node child, fixtures/drive_chromium.ts).
// One browser run per test file (each start costs seconds), along three steps:
//
//   1. /conformance.html   a dedicated Worker runs the one Storage conformance
//                          suite on OpfsStorage; each case becomes an it() here
//   2. /writer.html        a Worker opens { dir } (OPFS by default there),
//                          serves it to other tabs (serveTabs) and writes
//                          k0, k1, … flushing every batch; meanwhile a second
//                          Worker and a second tab try the same dir
//                          (LockedError), and the second tab uses it through
//                          connectTab; then the page kills the Worker with
//                          terminate() — no close() — and remembers the last
//                          key whose flush() had resolved; the second tab's
//                          standby Worker takes over and the tab's client,
//                          reconnected, reads on
//   3. reload              the page comes back, a new Worker opens the
//                          directory (waiting for the lock: a busy worker
//                          dies up to 2 s after terminate()): every flushed
//                          key is there
//
// The run happens once, in before(); the it()s read its results.
import { after, before, describe, it } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { tempDir } from "./server_process.ts";
import { bundleForBrowser, driveChromium, servePages } from "./fixtures/chromium.ts";
import { conformanceCases } from "./fixtures/storage_conformance.ts";

/** Shared by every page: talk to a worker, finish the step. */
const COMMON = `
const out = document.getElementById("out");
function finish(value) { out.textContent = JSON.stringify(value); document.title = "done"; }
function fail(e) { out.textContent = "ERROR " + (e && e.stack || e); document.title = "done"; }
window.addEventListener("error", (e) => fail(e.message));
let calls = 0;
function call(worker, msg) {
  const id = ++calls;
  return new Promise((resolve, reject) => {
    const on = (e) => {
      if (e.data.id !== id) return;
      worker.removeEventListener("message", on);
      e.data.ok ? resolve(e.data.value) : reject(new Error(e.data.error));
    };
    worker.addEventListener("message", on);
    worker.addEventListener("error", (e) => reject(new Error("worker error: " + e.message)));
    worker.postMessage({ ...msg, id });
  });
}
const worker = () => new Worker("/worker.js", { type: "module" });
function within(ms, what, promise) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(what + " took over " + ms + " ms")), ms))]);
}
`;

const page = (script: string) =>
  `<!doctype html><html><head><title>running</title></head><body><pre id="out">waiting</pre>
<script type="module">${COMMON}
try { ${script} } catch (e) { fail(e); }
</script></body></html>`;

const CONFORMANCE = page(
  `finish(await within(45000, "the conformance suite", call(worker(), { cmd: "conformance" })));`,
);

const DIR = "kill-test";
/** Flushes (of 25 keys each) to wait for before the kill. */
const FLUSHES = 20;

const WRITER = page(`
if (sessionStorage.getItem("upTo") !== null) {
  // Step 3, after the reload: a new worker opens the directory the killed one had open.
  const upTo = Number(sessionStorage.getItem("upTo"));
  sessionStorage.clear();
  finish({ upTo, found: await within(20000, "reading back", call(worker(), { cmd: "readAll", dir: "${DIR}", upTo })) });
} else {
  const writer = worker();
  let flushed = -1;
  writer.addEventListener("message", (e) => { if (e.data.progress !== undefined) flushed = e.data.progress; });
  const writing = call(writer, { cmd: "write", dir: "${DIR}", batch: 25, max: 1000000 });
  writing.catch(() => {});
  await within(20000, "${FLUSHES} flushes", new Promise((resolve, reject) => {
    writing.then(() => reject(new Error("the writer stopped")), reject);
    const poll = setInterval(() => { if (flushed >= ${FLUSHES * 25 - 1}) { clearInterval(poll); resolve(); } }, 10);
  }));
  // While the writer holds the directory: a second worker of this page,
  // which waits 300 ms for the lock before giving up...
  const secondWorker = await within(10000, "the second worker", call(worker(), { cmd: "tryOpen", dir: "${DIR}", lockTimeout: 300 }));
  // ...and a second tab (see SECOND_TAB), which reports over a BroadcastChannel.
  const channel = new BroadcastChannel("opfs-test");
  const inbox = [];
  let wake = () => {};
  channel.onmessage = (e) => { inbox.push(e.data); wake(); };
  const next = (phase) => within(20000, "the second tab's " + phase, new Promise((resolve) => {
    const look = () => { const i = inbox.findIndex((m) => m.phase === phase); if (i >= 0) resolve(inbox.splice(i, 1)[0]); else wake = look; };
    look();
  }));
  const tab = window.open("/second.html");
  if (tab === null) throw new Error("window.open was refused (popup blocking?)");
  const secondTab = await next("locked");
  // Kill the writer without closing its database. Every progress message
  // received so far was sent after its flush() resolved.
  const upTo = flushed;
  writer.terminate();
  channel.postMessage({ phase: "killed", upTo });
  const failover = await next("failover");
  tab.close();
  sessionStorage.setItem("upTo", String(upTo));
  finish({ upTo, secondWorker, secondTab, failover });
}
`);

/**
 * The second tab: its worker cannot open the directory; the tab reaches the
 * writer's database through connectTab, and a standby worker of its own
 * takes over once the writer is killed.
 */
const SECOND_TAB = page(`
const { connectTab } = await import("/tabs.js"); // not a static import: the page's code runs inside try { }
const channel = new BroadcastChannel("opfs-test");
const killed = new Promise((resolve) => (channel.onmessage = (e) => { if (e.data.phase === "killed") resolve(e.data.upTo); }));
const result = await within(10000, "opening in the second tab", call(worker(), { cmd: "tryOpen", dir: "${DIR}", lockTimeout: 0 }));
const standby = worker();
call(standby, { cmd: "standby", dir: "${DIR}" }).catch(() => {});
const client = await within(10000, "connectTab", connectTab("${DIR}", { timeout: 5000 }));
const d = await client.getDict("d");
const k0 = await d.get("k0");
await d.set("tab", "hello");
const small = await client.createDict("small");
await client.atomic([{ op: "dict.set", args: ["small", "a", 1] }, { op: "dict.set", args: ["small", "b", 2] }]);
const iterated = [];
for await (const [k, v] of small) iterated.push([k, v]);
channel.postMessage({ phase: "locked", ...result, k0, tab: await d.get("tab"), iterated });
// The writer is killed: the next calls fail until the standby serves, then work again.
const upTo = await within(20000, "the kill", killed);
const errors = [];
let after = null;
const deadline = Date.now() + 20000;
while (after === null && Date.now() < deadline) {
  try {
    after = { last: await d.get("k" + upTo), tab: await d.get("tab") };
  } catch (e) {
    if (errors.length < 5) errors.push(e.code);
    await new Promise((r) => setTimeout(r, 100));
  }
}
await client.close();
channel.postMessage({ phase: "failover", after, errors });
finish({ after });
`);

interface CaseResult {
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

const caseNames = conformanceCases({
  kind: "opfs",
  make: () => {
    throw new Error("names only");
  },
  reopen: (s) => s,
  dir: () => Promise.reject(new Error("names only")),
}).map((c) => c.name);

describe("OpfsStorage in Chromium (a dedicated Worker; one browser run)", () => {
  let conformance: CaseResult[] | null = null;
  let written: {
    upTo: number;
    secondWorker: { code?: string; message?: string };
    secondTab: { code?: string; message?: string; k0: number; tab: string; iterated: [string, number][] };
    failover: { after: { last: number; tab: string } | null; errors: string[] };
  } | null = null;
  let reloaded: {
    upTo: number;
    found: { keys: number; missing: string[]; wrong: string[]; extra: number; prefix: boolean; tab: string | null };
  } | null = null;
  let failure = "";
  let work: { dir: string; remove(): Promise<void> } | null = null;

  before(async () => {
    work = await tempDir("cyberdb-opfs-");
    const js = await bundleForBrowser("import './tests/fixtures/opfs_worker.ts';");
    const pages = await servePages({
      "/conformance.html": { html: CONFORMANCE },
      "/writer.html": { html: WRITER },
      "/second.html": { html: SECOND_TAB },
      "/worker.js": { js },
      "/tabs.js": { js: await bundleForBrowser("export { connectTab } from './browser.ts';") },
    });
    try {
      const { texts, log } = await driveChromium(work.dir, [
        `${pages.origin}/conformance.html`,
        `${pages.origin}/writer.html`,
        "reload",
      ]);
      const parse = (i: number) => {
        const t = texts[i];
        if (!t || t.startsWith("ERROR") || t === "waiting") {
          failure += `step ${i + 1} failed: ${t}\n`;
          return null;
        }
        return JSON.parse(t);
      };
      conformance = parse(0);
      written = parse(1);
      if (process.env.OPFS_TEST_VERBOSE) console.log(JSON.stringify(written));
      reloaded = parse(2);
      if (failure) failure += log.join("\n");
    } finally {
      await pages.close();
    }
  });

  after(async () => {
    await work?.remove();
  });

  it("the browser ran every step", () => {
    assert.equal(failure, "");
  });

  it("the worker ran every case of the Storage conformance suite, and no other", () => {
    assert.deepEqual(conformance?.map((c) => c.name), caseNames);
  });

  for (const name of caseNames) {
    it(`conformance in a dedicated Worker: ${name}`, () => {
      const result = conformance?.find((c) => c.name === name);
      assert.ok(result, `the case did not run in the worker: ${failure}`);
      assert.ok(result.ok, result.error);
    });
  }

  it("a second worker and a second tab get LockedError while a worker has the database open", () => {
    assert.ok(written, failure);
    for (const [who, r] of [["second worker", written.secondWorker], ["second tab", written.secondTab]] as const) {
      assert.equal(r.code, "LOCKED", `${who}: ${JSON.stringify(r)}`);
      assert.match(r.message!, /another tab or worker/, who);
      assert.match(r.message!, /LOCK/, who);
    }
  });

  it("write, terminate() the worker without closing, reload the page: every flushed write is there", () => {
    assert.ok(written && reloaded, failure);
    assert.equal(reloaded.upTo, written.upTo);
    assert.ok(written.upTo >= FLUSHES * 25 - 1, `only ${written.upTo + 1} keys were flushed before the kill`);
    assert.deepEqual(reloaded.found.missing, [], "flushed keys missing after the reload");
    assert.deepEqual(reloaded.found.wrong, [], "keys with wrong values");
    assert.ok(reloaded.found.prefix, `the keys found are not a prefix: ${JSON.stringify(reloaded.found)}`);
    assert.equal(reloaded.found.tab, "hello", "the write the second tab made through the worker");
  });

  it("another tab reaches the worker's database with connectTab, and a standby worker takes over when the owner dies", () => {
    assert.ok(written, failure);
    assert.equal(written.secondTab.k0, 0);
    assert.equal(written.secondTab.tab, "hello");
    assert.deepEqual(written.secondTab.iterated, [["a", 1], ["b", 2]], "atomic, then for await over a dict");
    assert.deepEqual(
      written.failover.after,
      { last: written.upTo, tab: "hello" },
      `after the kill: ${JSON.stringify(written.failover)}`,
    );
    for (const code of written.failover.errors) assert.equal(code, "CONNECTION", "calls during the switch-over");
  });
});
