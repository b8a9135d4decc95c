/**
 * The DOM half of the admin page's script (see `admin_page.ts`), as
 * JavaScript text run after the pure half (`admin_lib.ts`): log in, list
 * collections, page through one, query a table, chart the live metrics,
 * drop a collection.
 *
 * Every piece of data reaches the page as text — `textContent`, `append`
 * of strings, `value` of inputs, `setAttribute` of non-event attributes —
 * and never through `innerHTML`: a key like `<img src=x onerror=...>` is
 * shown as those characters. The password lives in `sessionStorage` (gone
 * when the tab closes) and in memory, never in a URL; the server is reached
 * through its own client bundle (`/client.js`, over HTTP) and `/metrics`.
 *
 * Function declarations and `var`/`let` only, no backticks and no `${`:
 * the text sits inside `String.raw` as written.
 *
 * @module
 */

/**
 * The admin page's DOM code, as JavaScript text (runs after `ADMIN_LIB`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADMIN_APP } from "./admin_app.ts";
 * assert.doesNotMatch(ADMIN_APP, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
 * ```
 */
export const ADMIN_APP: string = String.raw`
// ---- admin page: the DOM (src/server/admin_app.ts) ----

var PASSWORD_KEY = "cyberdb-admin-password";
var POLL_MS = 1000;
var WINDOW = 60;
var QUERY_CAP = 1000;
var SIZE_OP = { dict: "dict.size", list: "list.length", table: "table.count" };
var NOUN = { dict: "entries", list: "items", table: "rows" };

var state = {
  base: "",
  mod: null,
  needsPassword: false,
  client: null,
  password: undefined,
  selected: null,
  schema: null,
  page: 0,
  cursors: [0],
  pageSize: 25,
  loadSeq: 0,
  session: 0,
  timer: 0,
  last: null,
  samples: [],
  dropping: null,
  attempt: 0,
};

function $(id) {
  return document.getElementById(id);
}

// An element with text children (strings become text nodes, never markup).
function h(tag, props, children) {
  var node = document.createElement(tag);
  if (props) {
    for (var k of Object.keys(props)) {
      if (k === "text") node.textContent = props[k];
      else if (k === "class") node.className = props[k];
      else if (/^on/i.test(k)) throw new Error("Event handlers are added with addEventListener");
      else node.setAttribute(k, props[k]);
    }
  }
  if (children) for (var c of children) node.append(c);
  return node;
}

function svgNode(tag, attrs) {
  var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (var k of Object.keys(attrs)) node.setAttribute(k, String(attrs[k]));
  return node;
}

function errorText(e) {
  if (e && typeof e.code === "string") return e.code + ": " + e.message;
  return e && e.message ? e.message : String(e);
}

function say(text, isError) {
  var s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "info";
  s.hidden = text === "";
}

// A cell: the value as text, its longer form as the tooltip.
function valueCell(v) {
  var text = formatValue(v);
  var td = h("td", { text: text });
  if (v === null || v === undefined) td.className = "null";
  if (text.length >= 500) td.setAttribute("title", formatValue(v, 20000));
  return td;
}

function fillTable(table, header, rows) {
  var thead = table.tHead || table.createTHead();
  var tbody = table.tBodies[0] || table.createTBody();
  thead.replaceChildren(h("tr", null, header.map(function (c) {
    return typeof c === "string" ? h("th", { text: c }) : h("th", null, [c.name, " ", h("small", { text: c.type })]);
  })));
  tbody.replaceChildren.apply(tbody, rows.map(function (cells) {
    return h("tr", null, cells.map(function (c) { return c instanceof Node ? c : valueCell(c); }));
  }));
}

// ---- start, log in, log out ----

async function start() {
  state.base = basePath(location.pathname);
  $("server").textContent = location.host + state.base;
  wire();
  try {
    var res = await fetch(state.base + "/admin/info", { cache: "no-store" });
    var info = await res.json();
    if (!info || info.ok !== true) throw new Error((info && info.error && info.error.message) || "HTTP " + res.status);
    state.needsPassword = info.value.password === true;
    state.mod = await import(state.base + "/client.js");
  } catch (e) {
    say("The server did not hand out what this page needs (/admin/info, /client.js): " + errorText(e), true);
    return;
  }
  if (!state.needsPassword) {
    await enter(undefined);
    return;
  }
  var saved = sessionStorage.getItem(PASSWORD_KEY);
  if (saved === null) showLogin("");
  else await enter(saved);
}

function showLogin(error) {
  $("main").hidden = true;
  $("logout").hidden = true;
  $("auth-state").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = error;
  $("password").focus();
}

// What /health says while the server still loads its data (503, status
// "loading", the progress in its message), or null when it is not loading.
async function loadingMessage() {
  try {
    var res = await fetch(state.base + "/health", { cache: "no-store" });
    var body = await res.json();
    return body && body.status === "loading" && body.error ? String(body.error.message) : null;
  } catch (e) {
    return null;
  }
}

// Says how far the server's loading is, and calls enter() again in a second.
function retryWhileLoading(message, attempt, password) {
  say(message + " (this page tries again every second)", false);
  setTimeout(function () { if (attempt === state.attempt) guarded(function () { return enter(password); }); }, 1000);
}

// Connects with the password (or none); on success shows the database. While
// the server is still loading, says so and tries again every second.
async function enter(password) {
  var attempt = ++state.attempt;
  var client;
  try {
    client = await state.mod.connect(location.origin + state.base, password === undefined ? {} : { password: password });
  } catch (e) {
    var loading = e && e.code === "AUTH" ? null : await loadingMessage();
    if (attempt !== state.attempt) return;
    if (loading !== null) {
      retryWhileLoading(loading, attempt, password);
      return;
    }
    if (password !== undefined) sessionStorage.removeItem(PASSWORD_KEY);
    if (state.needsPassword) showLogin(e && e.code === "AUTH" ? e.message : errorText(e));
    else say(errorText(e), true);
    return;
  }
  // A client connects to a loading server too (the password checked, nothing
  // run): wait here until it is ready rather than fail every request.
  var stillLoading = attempt === state.attempt ? await loadingMessage() : null;
  if (attempt !== state.attempt || stillLoading !== null) {
    await client.close().catch(function () {});
    if (stillLoading !== null && attempt === state.attempt) retryWhileLoading(stillLoading, attempt, password);
    return;
  }
  state.client = client;
  state.password = password;
  if (password !== undefined) sessionStorage.setItem(PASSWORD_KEY, password);
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("main").hidden = false;
  $("logout").hidden = !state.needsPassword;
  $("auth-state").textContent = state.needsPassword ? "logged in" : "no password (loopback only)";
  say("", false);
  startMetrics();
  await refreshCollections();
}

async function logout() {
  state.attempt++;
  sessionStorage.removeItem(PASSWORD_KEY);
  stopMetrics();
  var client = state.client;
  state.client = null;
  state.password = undefined;
  closeBrowser();
  $("collections").tBodies[0].replaceChildren();
  if (client) await client.close().catch(function () {});
  say("", false);
  showLogin("");
}

// Runs an action, showing its failure in the status line.
async function guarded(fn) {
  try {
    await fn();
  } catch (e) {
    say(errorText(e), true);
  }
}

// ---- collections ----

async function refreshCollections() {
  var client = state.client;
  if (!client) return;
  var list = await client.collections();
  var sizes = await Promise.all(list.map(function (c) {
    return client.call(SIZE_OP[c.kind], [c.name]).catch(function (e) { return e; });
  }));
  if (client !== state.client) return;
  var rows = list.map(function (c, i) {
    var open = h("button", { type: "button", class: "link", text: c.name, "data-name": c.name });
    open.addEventListener("click", function () { guarded(function () { return select(c); }); });
    var drop = h("button", { type: "button", class: "danger small", text: "Drop", "data-drop": c.name });
    drop.addEventListener("click", function () { askDrop(c, sizes[i]); });
    var size = sizes[i] instanceof Error ? h("td", { text: "?", title: errorText(sizes[i]) }) : h("td", { text: String(sizes[i]), class: "num" });
    var tr = h("tr", null, [h("td", null, [open]), h("td", { text: c.kind, class: "kind " + c.kind }), size, h("td", null, [drop])]);
    if (state.selected && state.selected.name === c.name) tr.className = "selected";
    return tr;
  });
  $("collections").tBodies[0].replaceChildren.apply($("collections").tBodies[0], rows);
  $("collections-note").textContent = list.length === 0
    ? "No collections yet: create one with the client or the CLI."
    : list.length + (list.length === 1 ? " collection" : " collections");
  if (state.selected && !list.some(function (c) { return c.name === state.selected.name && c.kind === state.selected.kind; })) {
    closeBrowser();
  }
}

function markSelected() {
  for (var tr of $("collections").tBodies[0].rows) {
    var b = tr.querySelector("button.link");
    tr.className = state.selected && b && b.dataset.name === state.selected.name ? "selected" : "";
  }
}

function closeBrowser() {
  state.selected = null;
  state.schema = null;
  $("browse-panel").hidden = true;
  $("query-panel").hidden = true;
  markSelected();
}

// ---- paging through a collection ----

async function select(c) {
  state.selected = { name: c.name, kind: c.kind };
  state.page = 0;
  state.cursors = [0];
  state.schema = null;
  $("browse-kind").textContent = c.kind;
  $("browse-name").textContent = c.name;
  $("browse-panel").hidden = false;
  $("query-panel").hidden = c.kind !== "table";
  fillTable($("browse"), [], []);
  fillTable($("q-result"), [], []);
  $("q-info").textContent = "";
  $("q-error").textContent = "";
  markSelected();
  if (c.kind === "table") {
    var schema = await state.client.call("table.schema", [c.name]);
    if (!state.selected || state.selected.name !== c.name) return;
    state.schema = schema;
    setupQuery(schema);
  }
  await loadPage();
}

async function loadPage() {
  var sel = state.selected;
  if (!sel) return;
  var seq = ++state.loadSeq;
  var client = state.client;
  var n = state.pageSize;
  var first = state.page * n;
  // The size and the page in one round trip (the client sends the calls of a tick together).
  var read = sel.kind === "list"
    ? client.call("list.slice", [sel.name, first, first + n])
    : client.call(sel.kind + ".scan", [sel.name, state.cursors[state.page], n]);
  var answers = await Promise.all([client.call(SIZE_OP[sel.kind], [sel.name]), read]);
  var total = answers[0];
  var header;
  var rows;
  var hasNext;
  if (sel.kind === "list") {
    header = ["#", "Value"];
    rows = answers[1].map(function (v, i) { return [h("td", { text: String(first + i), class: "num" }), v]; });
    hasNext = first + n < total;
  } else {
    var next = answers[1][0];
    if (seq === state.loadSeq) state.cursors[state.page + 1] = next;
    if (sel.kind === "dict") {
      header = ["Key", "Value"];
      rows = answers[1][1].map(function (e) { return [h("td", { text: formatValue(e[0]), class: "key" }), e[1]]; });
    } else {
      var columns = state.schema ? state.schema.columns : [];
      header = columns;
      rows = answers[1][1].map(function (r) { return columns.map(function (col) { return r[col.name]; }); });
    }
    hasNext = next !== null && first + rows.length < total;
  }
  if (seq !== state.loadSeq || state.selected !== sel) return;
  fillTable($("browse"), header, rows);
  $("page-info").textContent = rows.length === 0
    ? (state.page === 0 ? "Empty" : "No more " + NOUN[sel.kind])
    : (sel.kind === "list" ? "Items " : NOUN[sel.kind].charAt(0).toUpperCase() + NOUN[sel.kind].slice(1) + " ") +
      (first + 1) + "\u2013" + (first + rows.length) + " of " + total;
  $("prev").disabled = state.page === 0;
  $("next").disabled = !hasNext;
}

// ---- queries ----

var OPS = ["=", "!=", "<", "<=", ">", ">=", "in", "between", "startsWith", "contains", "isNull"];

function options(select, values, blank) {
  var list = blank === undefined ? [] : [h("option", { value: "", text: blank })];
  for (var v of values) list.push(h("option", { value: v, text: v }));
  select.replaceChildren.apply(select, list);
}

function setupQuery(schema) {
  var names = schema.columns.map(function (c) { return c.name; });
  options($("q-column"), names, "(every row)");
  options($("q-op"), OPS);
  options($("q-order"), names, "(insertion order)");
  $("q-value").value = "";
  $("q-limit").value = "50";
  buildJson();
}

function columnType(name) {
  var cols = state.schema ? state.schema.columns : [];
  for (var c of cols) if (c.name === name) return c.type;
  return "Utf8";
}

// The query the form describes.
function formQuery() {
  var q = {};
  var column = $("q-column").value;
  if (column !== "") {
    var op = $("q-op").value;
    var type = columnType(column);
    var text = $("q-value").value;
    if (op === "isNull") q.where = { column: column, op: op };
    else if (op === "in") {
      q.where = { column: column, op: op, value: text.split(",").map(function (t) { return convertOperand(t, type); }) };
    } else if (op === "between") {
      var ends = text.split(",");
      if (ends.length !== 2) throw new Error("between takes two values separated by a comma, e.g. 18, 65");
      q.where = { column: column, op: op, value: ends.map(function (t) { return convertOperand(t, type); }) };
    } else if (op === "startsWith" || op === "contains") q.where = { column: column, op: op, value: text };
    else q.where = { column: column, op: op, value: convertOperand(text, type) };
  }
  var order = $("q-order").value;
  if (order !== "") q.orderBy = [{ column: order, direction: $("q-direction").value }];
  var limit = $("q-limit").value.trim();
  if (limit !== "") q.limit = Number(limit);
  return q;
}

function buildJson() {
  $("q-value").disabled = $("q-op").value === "isNull" || $("q-column").value === "";
  try {
    $("q-json").value = JSON.stringify(toTagged(formQuery()), null, 2);
    $("q-error").textContent = "";
  } catch (e) {
    $("q-error").textContent = errorText(e);
  }
}

async function runQuery() {
  var sel = state.selected;
  if (!sel || sel.kind !== "table") return;
  $("q-error").textContent = "";
  $("q-info").textContent = "";
  var q;
  try {
    q = fromTagged(JSON.parse($("q-json").value));
    if (typeof q !== "object" || q === null || Array.isArray(q)) throw new Error("A query is an object like {\"where\": ..., \"limit\": 10}");
  } catch (e) {
    $("q-error").textContent = "The query is not valid: " + errorText(e);
    return;
  }
  // At most QUERY_CAP rows come to the page; a larger or missing limit is capped.
  var capped = q.limit === undefined || (typeof q.limit === "number" && q.limit > QUERY_CAP);
  var sent = Object.assign({}, q);
  if (capped) sent.limit = QUERY_CAP;
  var answer;
  try {
    answer = await state.client.call("table.query", [sel.name, sent]);
  } catch (e) {
    fillTable($("q-result"), [], []);
    $("q-error").textContent = errorText(e);
    return;
  }
  if (state.selected !== sel) return;
  var rows = answer;
  if (!Array.isArray(answer)) {
    // format: "columns" — shown as rows all the same.
    var names = Object.keys(answer);
    var count = names.length ? answer[names[0]].length : 0;
    rows = [];
    for (var i = 0; i < count; i++) {
      var row = {};
      for (var name of names) setOwn(row, name, answer[name][i]);
      rows.push(row);
    }
  }
  var columns = resultColumns(rows, q.select);
  fillTable($("q-result"), columns, rows.map(function (r) { return columns.map(function (c) { return Object.hasOwn(r, c) ? r[c] : undefined; }); }));
  $("q-info").textContent = rows.length + (rows.length === 1 ? " row" : " rows") +
    (capped && rows.length === QUERY_CAP ? " (the first " + QUERY_CAP + ": give a limit to see others)" : "");
}

// ---- live metrics ----

function startMetrics() {
  stopMetrics();
  state.samples = [];
  state.last = null;
  var session = ++state.session;
  tick(session);
}

function stopMetrics() {
  state.session++;
  clearTimeout(state.timer);
}

function metricsNote(text) {
  $("metrics-note").textContent = text;
}

async function tick(session) {
  if (session !== state.session || !state.client) return;
  var delay = POLL_MS;
  try {
    var headers = state.password === undefined ? {} : { authorization: authorization(state.password) };
    var res = await fetch(state.base + "/metrics", { headers: headers, cache: "no-store" });
    if (session !== state.session) return;
    if (res.status === 404) {
      metricsNote("This server has no /metrics endpoint: the charts stay empty.");
      delay = 10 * POLL_MS;
    } else if (!res.ok) {
      metricsNote("/metrics answered " + res.status + ": " + (await res.text()).slice(0, 200));
    } else {
      var now = performance.now();
      var reading = summarize(parseMetrics(await res.text()));
      if (state.last !== null) addSample(rates(state.last.reading, reading, (now - state.last.at) / 1000));
      state.last = { reading: reading, at: now };
      metricsNote("");
    }
  } catch (e) {
    if (session === state.session) metricsNote("Reading /metrics failed: " + errorText(e));
  }
  if (session === state.session) state.timer = setTimeout(function () { tick(session); }, delay);
}

function addSample(r) {
  state.samples.push(r);
  if (state.samples.length > WINDOW) state.samples.shift();
  $("ops-rate").textContent = formatRate(r.opsPerSec);
  $("err-rate").textContent = r.errorsPerSec > 0 ? formatRate(r.errorsPerSec).replace("ops", "errors") : "";
  $("lat-p50").textContent = formatSeconds(r.p50);
  $("lat-p99").textContent = formatSeconds(r.p99);
  var pick = function (key, scale) {
    return state.samples.map(function (s) { return s[key] === null ? null : s[key] * scale; });
  };
  drawChart($("chart-ops"), [{ cls: "ops", values: pick("opsPerSec", 1) }, { cls: "errors", values: pick("errorsPerSec", 1) }], "/s");
  drawChart($("chart-latency"), [{ cls: "p50", values: pick("p50", 1000) }, { cls: "p99", values: pick("p99", 1000) }], " ms");
}

// A round number at least as large as max, for the top of a chart.
function niceMax(max) {
  if (!(max > 0)) return 1;
  var step = Math.pow(10, Math.floor(Math.log10(max)));
  for (var m of [1, 2, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

// Line charts of the last WINDOW samples, right-aligned (the newest at the
// right edge), scaled from 0 to a round maximum that is printed at the top.
function drawChart(svg, series, unit) {
  var W = 300;
  var H = 80;
  var max = 0;
  for (var s of series) for (var v of s.values) if (v !== null && v > max) max = v;
  var top = niceMax(max);
  var nodes = [
    svgNode("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }),
    svgNode("line", { x1: 0, y1: 1, x2: W, y2: 1, class: "grid" }),
  ];
  var label = svgNode("text", { x: 3, y: 12, class: "label" });
  label.textContent = (top < 10 ? String(top) : String(Math.round(top))) + unit;
  nodes.push(label);
  var count = 0;
  for (var s2 of series) {
    var points = [];
    var n = s2.values.length;
    s2.values.forEach(function (v, i) {
      if (v === null) return;
      var x = W - (n - 1 - i) * (W / (WINDOW - 1));
      var y = H - (v / top) * (H - 2);
      points.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    count = Math.max(count, n);
    nodes.push(svgNode("polyline", { points: points.join(" "), class: "line " + s2.cls, "data-series": s2.cls }));
  }
  svg.replaceChildren.apply(svg, nodes);
  svg.setAttribute("data-samples", String(count));
  svg.setAttribute("data-max", String(max));
}

// ---- dropping ----

function askDrop(c, size) {
  state.dropping = c;
  $("drop-kind").textContent = c.kind;
  $("drop-name").textContent = c.name;
  $("drop-size").textContent = size instanceof Error || size === undefined ? "all its " + NOUN[c.kind] : size + " " + NOUN[c.kind];
  $("drop-input").value = "";
  $("drop-confirm").disabled = true;
  $("drop-dialog").showModal();
  $("drop-input").focus();
}

async function confirmDrop() {
  var c = state.dropping;
  if (!c || $("drop-input").value !== c.name) return;
  state.dropping = null;
  $("drop-dialog").close();
  try {
    // With its kind: a collection made again under the name as another kind stays.
    var dropped = await state.client.call("db.drop", [c.name, c.kind]);
    say(dropped ? "Dropped the " + c.kind + " " + JSON.stringify(c.name) + "." : "The " + c.kind + " " + JSON.stringify(c.name) + " was gone already.", false);
  } catch (e) {
    say(errorText(e), true);
  }
  if (state.selected && state.selected.name === c.name) closeBrowser();
  await guarded(refreshCollections);
}

// ---- events ----

function wire() {
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("password");
    var password = input.value;
    input.value = "";
    $("login-error").textContent = "";
    guarded(function () { return enter(password); });
  });
  $("logout").addEventListener("click", function () { guarded(logout); });
  $("refresh").addEventListener("click", function () { guarded(refreshCollections); });
  $("page-size").addEventListener("change", function () {
    state.pageSize = Number($("page-size").value);
    state.page = 0;
    state.cursors = [0];
    guarded(loadPage);
  });
  $("prev").addEventListener("click", function () {
    if (state.page > 0) state.page--;
    guarded(loadPage);
  });
  $("next").addEventListener("click", function () {
    if (state.cursors[state.page + 1] === null) return;
    state.page++;
    guarded(loadPage);
  });
  for (var id of ["q-column", "q-op", "q-value", "q-order", "q-direction", "q-limit"]) {
    $(id).addEventListener("input", buildJson);
  }
  $("q-run").addEventListener("click", function () { guarded(runQuery); });
  $("q-json").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) guarded(runQuery);
  });
  $("drop-input").addEventListener("input", function () {
    $("drop-confirm").disabled = !state.dropping || $("drop-input").value !== state.dropping.name;
  });
  $("drop-input").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); guarded(confirmDrop); }
  });
  $("drop-cancel").addEventListener("click", function () {
    state.dropping = null;
    $("drop-dialog").close();
  });
  $("drop-confirm").addEventListener("click", function () { guarded(confirmDrop); });
}

start().catch(function (e) { say(errorText(e), true); });
`;
