/**
 * The admin page served at `GET /` and `GET /admin`: one static HTML
 * document with its style and script inline, the same bytes for everyone
 * (no data and no secret is ever templated into it). Its script loads the
 * server's own client bundle (`/client.js`) and talks to the database
 * through it, after logging in with the password; it reads `/metrics` for
 * the live charts. Nothing comes from outside the server.
 *
 * ```
 *  ┌ header: server · auth state · Log out ────────────────────────────┐
 *  │ Live: ops/s chart · latency p50/p99 chart      (GET /metrics, 1 s) │
 *  │ Collections: name · kind · size · Drop   │ Browse: page size, ←/→ │
 *  │                                          │ Query (tables): form,  │
 *  │                                          │ JSON, result table     │
 *  └───────────────────────────────────────────────────────────────────┘
 * ```
 *
 * The style and script are exported on their own so that the server can
 * allow exactly them in its Content-Security-Policy by hash.
 *
 * @module
 */

import { ADMIN_LIB } from "./admin_lib.ts";
import { ADMIN_APP } from "./admin_app.ts";

/**
 * The page's style sheet (inline in {@linkcode ADMIN_HTML}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADMIN_STYLE } from "./admin_page.ts";
 * assert.doesNotMatch(ADMIN_STYLE, /url\(/); // loads nothing
 * ```
 */
export const ADMIN_STYLE: string = `
:root { --fg: #1d2330; --muted: #667085; --line: #d9dee7; --bg: #f6f7f9; --panel: #fff; --accent: #2f6fde;
  --danger: #c2352b; --ok: #1c8a4a; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); }
header { display: flex; gap: 1rem; align-items: baseline; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
header h1 span { font-weight: 400; color: #aab4c8; }
header #server { color: #cfd6e4; font-family: ui-monospace, monospace; }
header #auth-state { color: #9fe0b8; margin-left: auto; }
header button { background: transparent; color: #fff; border-color: #56607a; }
h2 { font-size: 1rem; margin: 0 0 .6rem; display: flex; gap: .6rem; align-items: center; }
button, select, input, textarea { font: inherit; color: inherit; }
button { border: 1px solid var(--line); background: #fff; border-radius: 4px; padding: .2rem .7rem; cursor: pointer; white-space: nowrap; }
button:disabled { opacity: .45; cursor: default; }
button.danger { color: var(--danger); border-color: #e8b4b0; }
button.danger:not(:disabled):hover { background: var(--danger); color: #fff; }
button.small { padding: 0 .5rem; font-size: .85em; }
button.link { border: 0; background: none; padding: 0; color: var(--accent); text-align: left; white-space: normal; word-break: break-all; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
input, select, textarea { border: 1px solid var(--line); border-radius: 4px; padding: .2rem .4rem; background: #fff; }
#status { margin: .6rem 1.2rem 0; padding: .4rem .7rem; border-radius: 4px; }
#status.error { background: #fdecea; color: var(--danger); }
#status.info { background: #e8f4ec; color: var(--ok); }
.error { color: var(--danger); }
.note { color: var(--muted); margin: .4rem 0 0; }
#login { max-width: 22rem; margin: 4rem auto; background: var(--panel); padding: 1.2rem; border: 1px solid var(--line); border-radius: 6px; }
#login label { display: grid; gap: .3rem; margin-bottom: .8rem; }
main { display: grid; grid-template-columns: minmax(16rem, 24rem) 1fr; gap: 1rem; padding: 1rem 1.2rem; align-items: start; }
main > section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; min-width: 0; overflow-x: auto; }
#metrics-panel { grid-column: 1 / -1; }
#browse-panel, #query-panel { grid-column: 2; }
#collections-panel { grid-column: 1; grid-row: 2 / span 2; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; }
figcaption { color: var(--muted); margin-bottom: .2rem; }
figcaption b { color: var(--fg); font-variant-numeric: tabular-nums; }
svg.chart { width: 300px; height: 80px; background: #fbfcfd; border: 1px solid var(--line); display: block; overflow: visible; }
svg .axis, svg .grid { stroke: var(--line); }
svg .grid { stroke-dasharray: 3 3; }
svg .label { font-size: 10px; fill: var(--muted); }
svg .line { fill: none; stroke-width: 1.5; }
svg .ops, .swatch.ops { stroke: var(--accent); color: var(--accent); }
svg .errors, .swatch.errors { stroke: var(--danger); color: var(--danger); }
svg .p50, .swatch.p50 { stroke: var(--ok); color: var(--ok); }
svg .p99, .swatch.p99 { stroke: #c98a16; color: #c98a16; }
.swatch { font-weight: 700; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #f2f4f7; }
.scroll th { position: sticky; top: 0; }
th small { color: var(--muted); font-weight: 400; }
td { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; white-space: pre-wrap; word-break: break-word; }
td.null { color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.kind { font-family: inherit; }
tr.selected { background: #eaf1fd; }
.scroll { max-height: 32rem; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
.pager, .query-form { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin-bottom: .6rem; }
.kindbadge { font-size: .75rem; font-weight: 400; border: 1px solid var(--line); border-radius: 10px; padding: 0 .5rem; color: var(--muted); }
#browse-name { font-family: ui-monospace, monospace; word-break: break-all; }
#q-json { width: 100%; min-height: 7rem; font-family: ui-monospace, monospace; font-size: .85em; }
#q-limit { width: 5rem; }
dialog { border: 1px solid var(--line); border-radius: 6px; max-width: 28rem; }
dialog::backdrop { background: rgba(20, 24, 33, .45); }
dialog menu { display: flex; justify-content: flex-end; gap: .6rem; padding: 0; margin: 1rem 0 0; }
dialog input { width: 100%; }
#drop-name { font-family: ui-monospace, monospace; word-break: break-all; }
@media (max-width: 50rem) { main { grid-template-columns: 1fr; } #browse-panel, #query-panel, #collections-panel { grid-column: 1; grid-row: auto; } }
`;

/**
 * The page's script (inline in {@linkcode ADMIN_HTML}, a module script):
 * the pure functions of `admin_lib.ts`, then the DOM code of `admin_app.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADMIN_SCRIPT } from "./admin_page.ts";
 * assert.doesNotMatch(ADMIN_SCRIPT, /<\/script/i); // cannot end its element early
 * ```
 */
export const ADMIN_SCRIPT: string = ADMIN_LIB + ADMIN_APP;

const BODY = `
<header>
  <h1>CyberDB <span>admin</span></h1>
  <span id="server"></span>
  <span id="auth-state"></span>
  <button type="button" id="logout" hidden>Log out</button>
</header>
<p id="status" role="status" hidden></p>
<section id="login" hidden>
  <form id="login-form" method="post" autocomplete="on">
    <h2>Log in</h2>
    <label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit" id="login-button" class="primary">Log in</button>
    <p id="login-error" class="error" role="alert"></p>
  </form>
</section>
<main id="main" hidden>
  <section id="metrics-panel">
    <h2>Live</h2>
    <div class="charts">
      <figure>
        <figcaption><span class="swatch ops">Operations</span> <b id="ops-rate">&ndash;</b> <span class="swatch errors" id="err-rate"></span></figcaption>
        <svg id="chart-ops" class="chart" viewBox="0 0 300 80" role="img" aria-label="Operations per second, last minute"></svg>
      </figure>
      <figure>
        <figcaption>Latency <span class="swatch p50">p50</span> <b id="lat-p50">&ndash;</b> <span class="swatch p99">p99</span> <b id="lat-p99">&ndash;</b></figcaption>
        <svg id="chart-latency" class="chart" viewBox="0 0 300 80" role="img" aria-label="Latency in milliseconds, last minute"></svg>
      </figure>
    </div>
    <p id="metrics-note" class="note"></p>
  </section>
  <section id="collections-panel">
    <h2>Collections <button type="button" id="refresh" class="small">Refresh</button></h2>
    <table id="collections">
      <thead><tr><th>Name</th><th>Kind</th><th>Size</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="collections-note" class="note"></p>
  </section>
  <section id="browse-panel" hidden>
    <h2><span id="browse-kind" class="kindbadge"></span> <span id="browse-name"></span></h2>
    <div class="pager">
      <label>Page size <select id="page-size">
        <option>10</option><option selected>25</option><option>50</option><option>100</option>
      </select></label>
      <button type="button" id="prev">&larr; Prev</button>
      <span id="page-info"></span>
      <button type="button" id="next">Next &rarr;</button>
    </div>
    <div class="scroll"><table id="browse"></table></div>
  </section>
  <section id="query-panel" hidden>
    <h2>Query</h2>
    <div class="query-form">
      <label>Where <select id="q-column"></select></label>
      <select id="q-op" aria-label="Operator"></select>
      <input id="q-value" aria-label="Value" placeholder="value (a, b for in / between)">
      <label>Order by <select id="q-order"></select></label>
      <select id="q-direction" aria-label="Direction"><option value="asc">ascending</option><option value="desc">descending</option></select>
      <label>Limit <input id="q-limit" type="number" min="0"></label>
    </div>
    <textarea id="q-json" spellcheck="false" aria-label="Query as JSON"></textarea>
    <p class="note">The query as JSON (where, select, orderBy, limit, offset, groupBy, aggregates; values tagged as in the HTTP API, e.g. {"$date": "2024-05-01T00:00:00Z"}). Edit it freely; Ctrl+Enter runs it.</p>
    <button type="button" id="q-run" class="primary">Run</button>
    <p id="q-error" class="error" role="alert"></p>
    <p id="q-info" class="note"></p>
    <div class="scroll"><table id="q-result"></table></div>
  </section>
</main>
<dialog id="drop-dialog">
  <h2>Drop the <span id="drop-kind"></span>&nbsp;<span id="drop-name"></span>?</h2>
  <p>It holds <span id="drop-size"></span>. Dropping deletes them for good: this cannot be undone.</p>
  <label>Type the name to confirm <input id="drop-input" autocomplete="off" spellcheck="false"></label>
  <menu>
    <button type="button" id="drop-cancel">Cancel</button>
    <button type="button" id="drop-confirm" class="danger" disabled>Drop</button>
  </menu>
</dialog>
`;

/**
 * The whole page, byte for byte what `GET /admin` answers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADMIN_HTML } from "./admin_page.ts";
 * assert.match(ADMIN_HTML, /^<!doctype html>/);
 * assert.doesNotMatch(ADMIN_HTML, /\bsrc="?https?:|\bhref="?https?:/); // nothing from elsewhere
 * ```
 */
export const ADMIN_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>CyberDB admin</title>
<link rel="icon" href="data:,">
<style>${ADMIN_STYLE}</style>
</head>
<body>${BODY}<script type="module">${ADMIN_SCRIPT}</script>
</body>
</html>
`;
