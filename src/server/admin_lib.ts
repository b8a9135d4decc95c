/**
 * The pure half of the admin page's script (see `admin_page.ts`): reading
 * the Prometheus text of `GET /metrics`, turning two readings into rates
 * and latency quantiles, printing values readably, and the JSON tags of
 * queries typed by hand. It is JavaScript kept as text, because the page is
 * served as it is by every server — the Durable Object included, which can
 * neither read files nor run a bundler — and nothing is built for it.
 * It names no DOM global, so tests run it as it is (`new Function`).
 *
 * Function declarations only, no backticks and no `${`: the text sits
 * inside `String.raw` as written.
 *
 * @module
 */

/**
 * The names {@linkcode ADMIN_LIB} declares, for tests that run it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADMIN_LIB, ADMIN_LIB_NAMES } from "./admin_lib.ts";
 * const lib = new Function(`${ADMIN_LIB}\nreturn { ${ADMIN_LIB_NAMES.join(", ")} };`)();
 * assert.equal(lib.formatValue(2n ** 64n - 1n), "18446744073709551615n");
 * ```
 */
export const ADMIN_LIB_NAMES = [
  "basePath",
  "authorization",
  "parseMetrics",
  "summarize",
  "rates",
  "quantile",
  "formatValue",
  "formatRate",
  "formatSeconds",
  "fromTagged",
  "toTagged",
  "convertOperand",
  "resultColumns",
] as const;

/**
 * The pure functions of the admin page, as JavaScript text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADMIN_LIB } from "./admin_lib.ts";
 * const { parseMetrics } = new Function(`${ADMIN_LIB}\nreturn { parseMetrics };`)();
 * const [sample] = parseMetrics('cyberdb_ops_total{op="dict.set",outcome="ok"} 3\n');
 * assert.deepEqual({ ...sample.labels }, { op: "dict.set", outcome: "ok" });
 * assert.equal(sample.value, 3);
 * ```
 */
export const ADMIN_LIB: string = String.raw`
// ---- admin page: pure functions (src/server/admin_lib.ts) ----

// The path the server's routes live under, from the page's own path: "" when
// served at / or /admin, "/db/orders" behind the Cloudflare Worker.
function basePath(pathname) {
  return pathname.replace(/\/admin\/?$/, "").replace(/\/+$/, "");
}

// The Authorization header for a password, as the client sends it: Bearer for
// printable ASCII, Basic with the UTF-8 bytes of ":" + password otherwise.
function authorization(password) {
  if (/^[\x21-\x7e]*$/.test(password)) return "Bearer " + password;
  var bin = "";
  var bytes = new TextEncoder().encode(":" + password);
  for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return "Basic " + btoa(bin);
}

// Prometheus text format 0.0.4: one sample per line,
//   name{label="value",...} value [timestamp]
// with # comments (HELP, TYPE) and blank lines skipped. Label values escape
// backslash, double quote and newline. Returns [{ name, labels, value }];
// throws naming the line when one is not a sample.
function parseMetrics(text) {
  var samples = [];
  var lines = text.split("\n");
  for (var n = 0; n < lines.length; n++) {
    var line = lines[n].replace(/\r$/, "").trim();
    if (line === "" || line.charAt(0) === "#") continue;
    samples.push(parseSample(line, n + 1));
  }
  return samples;
}

function metricsError(n, why, line) {
  var shown = line.length > 80 ? line.slice(0, 80) + "..." : line;
  return new Error("Metrics line " + n + " " + why + ": " + JSON.stringify(shown));
}

function parseSample(line, n) {
  var m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (m === null) throw metricsError(n, "does not start with a metric name", line);
  var i = m[0].length;
  var labels = Object.create(null);
  var skip = function () { while (line.charAt(i) === " " || line.charAt(i) === "\t") i++; };
  skip();
  if (line.charAt(i) === "{") {
    i++;
    for (;;) {
      skip();
      if (line.charAt(i) === "}") { i++; break; }
      var lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (lm === null) throw metricsError(n, "has a label without a name", line);
      i += lm[0].length;
      skip();
      if (line.charAt(i) !== "=") throw metricsError(n, "has a label without =", line);
      i++;
      skip();
      if (line.charAt(i) !== '"') throw metricsError(n, "has a label value without quotes", line);
      i++;
      var value = "";
      for (;;) {
        if (i >= line.length) throw metricsError(n, "has an unterminated label value", line);
        var c = line.charAt(i++);
        if (c === '"') break;
        if (c === "\\") {
          var e = line.charAt(i++);
          if (e === "n") value += "\n";
          else if (e === "\\" || e === '"') value += e;
          else throw metricsError(n, "has an unknown escape in a label value", line);
        } else value += c;
      }
      labels[lm[0]] = value;
      skip();
      if (line.charAt(i) === ",") { i++; continue; }
      if (line.charAt(i) === "}") { i++; break; }
      throw metricsError(n, "has labels that are not separated by commas", line);
    }
  }
  var rest = line.slice(i).trim().split(/\s+/);
  if (rest[0] === "" || rest.length > 2) throw metricsError(n, "has no value or more than a value and a timestamp", line);
  var v = parseNumber(rest[0]);
  if (v === null) throw metricsError(n, "has a value that is not a number", line);
  return { name: m[0], labels: labels, value: v };
}

function parseNumber(s) {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  return Number(s);
}

// One reading of the server's metrics, summed over ops: operations counted
// (and those that failed: outcome other than "ok"), and the latency
// histogram with its cumulative buckets as [[le, count], ...] sorted by le.
function summarize(samples) {
  var out = { ops: 0, errors: 0, sum: 0, count: 0, buckets: [] };
  var buckets = new Map();
  for (var k = 0; k < samples.length; k++) {
    var s = samples[k];
    if (s.name === "cyberdb_ops_total") {
      out.ops += s.value;
      if (s.labels.outcome !== "ok") out.errors += s.value;
    } else if (s.name === "cyberdb_op_duration_seconds_bucket") {
      var le = parseNumber(s.labels.le === undefined ? "" : s.labels.le);
      if (le === null || Number.isNaN(le)) continue;
      buckets.set(le, (buckets.get(le) || 0) + s.value);
    } else if (s.name === "cyberdb_op_duration_seconds_sum") out.sum += s.value;
    else if (s.name === "cyberdb_op_duration_seconds_count") out.count += s.value;
  }
  out.buckets = Array.from(buckets).sort(function (a, b) { return a[0] - b[0]; });
  return out;
}

// A counter's increase; a counter that went down was reset (the server
// restarted), and then all of its value is new, as Prometheus counts it.
function increase(before, after) {
  return after >= before ? after - before : after;
}

// What happened between two readings seconds apart: operations and errors
// per second, and the mean, median and 99th percentile latency in seconds
// of the operations in between (null when there were none).
function rates(prev, cur, seconds) {
  var before = new Map(prev.buckets);
  var deltas = cur.buckets.map(function (b) { return [b[0], increase(before.get(b[0]) || 0, b[1])]; });
  var n = increase(prev.count, cur.count);
  return {
    opsPerSec: seconds > 0 ? increase(prev.ops, cur.ops) / seconds : 0,
    errorsPerSec: seconds > 0 ? increase(prev.errors, cur.errors) / seconds : 0,
    mean: n > 0 ? increase(prev.sum, cur.sum) / n : null,
    p50: quantile(0.5, deltas),
    p99: quantile(0.99, deltas),
  };
}

// The q-quantile of a cumulative histogram [[le, count], ...] sorted by le,
// as Prometheus' histogram_quantile: linear within the bucket it falls in
// (the first from 0); in the +Inf bucket, the largest finite bound.
function quantile(q, buckets) {
  if (buckets.length === 0) return null;
  var total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  var rank = q * total;
  var lowLe = 0;
  var lowCount = 0;
  for (var k = 0; k < buckets.length; k++) {
    var le = buckets[k][0];
    var count = buckets[k][1];
    if (count >= rank) {
      if (le === Infinity) return lowLe;
      if (count === lowCount) return le;
      return lowLe + (le - lowLe) * (rank - lowCount) / (count - lowCount);
    }
    lowLe = le;
    lowCount = count;
  }
  return lowLe;
}

function formatRate(perSec) {
  return (perSec < 10 ? perSec.toFixed(1) : String(Math.round(perSec))) + " ops/s";
}

function formatSeconds(s) {
  if (s === null || s === undefined) return "\u2013";
  if (s < 0.001) return (s * 1e6).toPrecision(3).replace(/\.?0+$/, "") + " \u00b5s";
  if (s < 1) return (s * 1000).toPrecision(3).replace(/\.?0+$/, "") + " ms";
  return s.toPrecision(3).replace(/\.?0+$/, "") + " s";
}

// A value as one line of readable text, at most max characters (then "..."):
// strings quoted (so that the key "0" and the key 0 differ), 12n for
// bigints, Date(ISO), bytes(n) and their hex, Map(n) {k => v}, Set(n) {v},
// arrays and objects as in JavaScript. Never throws.
function formatValue(v, max) {
  var limit = max === undefined ? 500 : max;
  var parts = [];
  var len = 0;
  var full = false;
  function put(s) {
    if (full) return;
    if (len + s.length > limit) {
      parts.push(s.slice(0, Math.max(0, limit - len)), "...");
      full = true;
      return;
    }
    parts.push(s);
    len += s.length;
  }
  function hex(bytes) {
    var out = [];
    for (var i = 0; i < bytes.length; i++) out.push((bytes[i] < 16 ? "0" : "") + bytes[i].toString(16));
    return out.join(" ");
  }
  function each(items, write) {
    var first = true;
    for (var item of items) {
      if (full) return;
      if (!first) put(", ");
      first = false;
      write(item);
    }
  }
  function walk(x, depth) {
    if (full) return;
    switch (typeof x) {
      case "string": return put(JSON.stringify(x));
      case "number": return put(Object.is(x, -0) ? "-0" : String(x));
      case "bigint": return put(String(x) + "n");
      case "boolean": return put(String(x));
      case "undefined": return put("undefined");
      case "object": break;
      default: return put(typeof x);
    }
    if (x === null) return put("null");
    if (depth > 32) return put("...");
    if (x instanceof Date) return put(Number.isNaN(x.getTime()) ? "Date(Invalid)" : "Date(" + x.toISOString() + ")");
    if (x instanceof Uint8Array) {
      put("bytes(" + x.length + ")");
      if (x.length > 0) put(" " + hex(x.subarray(0, 64)) + (x.length > 64 ? " ..." : ""));
      return;
    }
    if (x instanceof Map) {
      put("Map(" + x.size + ") {");
      each(x, function (e) { walk(e[0], depth + 1); put(" => "); walk(e[1], depth + 1); });
      return put("}");
    }
    if (x instanceof Set) {
      put("Set(" + x.size + ") {");
      each(x, function (e) { walk(e, depth + 1); });
      return put("}");
    }
    if (Array.isArray(x)) {
      put("[");
      each(x, function (e) { walk(e, depth + 1); });
      return put("]");
    }
    put("{");
    each(Object.keys(x), function (k) {
      put(/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));
      put(": ");
      walk(x[k], depth + 1);
    });
    put("}");
  }
  try {
    walk(v, 0);
  } catch (e) {
    return "(a value that cannot be shown)";
  }
  return parts.join("");
}

function base64ToBytes(s) {
  var bin = atob(s);
  var out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes) {
  var bin = "";
  for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

function setOwn(o, k, v) {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

// JSON with the HTTP API's tags (docs: src/wire/json.ts) to values:
// {"$bigint":"12"}, {"$date":"2024-01-01T00:00:00Z"}, {"$bytes":"AQID"},
// {"$num":"-0" | "NaN" | "Infinity" | "-Infinity"}, {"$obj":{...}} for a
// stored one-key "$..." object. Throws on a bad tag.
function fromTagged(v) {
  if (Array.isArray(v)) return v.map(fromTagged);
  if (typeof v !== "object" || v === null) return v;
  var keys = Object.keys(v);
  if (keys.length === 1 && keys[0].charAt(0) === "$") {
    var tag = keys[0];
    var t = v[tag];
    if (tag === "$bigint" && typeof t === "string" && /^-?\d{1,20}$/.test(t)) return BigInt(t);
    if (tag === "$date" && typeof t === "string" && !Number.isNaN(new Date(t).getTime())) return new Date(t);
    if (tag === "$bytes" && typeof t === "string") return base64ToBytes(t);
    if (tag === "$num" && (t === "-0" || t === "NaN" || t === "Infinity" || t === "-Infinity")) return Number(t);
    if (tag === "$obj" && typeof t === "object" && t !== null && !Array.isArray(t)) {
      var inner = {};
      for (var ik of Object.keys(t)) setOwn(inner, ik, fromTagged(t[ik]));
      return inner;
    }
    throw new Error("The tag " + JSON.stringify(tag).slice(0, 40) + " holds " + JSON.stringify(t).slice(0, 60) +
      ": use $bigint, $date, $bytes or $num as in the HTTP API's JSON");
  }
  var out = {};
  for (var k of keys) setOwn(out, k, fromTagged(v[k]));
  return out;
}

// Values to JSON-safe data with those tags (the inverse of fromTagged).
function toTagged(v) {
  if (typeof v === "bigint") return { $bigint: String(v) };
  if (typeof v === "number") {
    if (Object.is(v, -0)) return { $num: "-0" };
    return Number.isFinite(v) ? v : { $num: String(v) };
  }
  if (typeof v !== "object" || v === null) return v;
  if (v instanceof Date) return { $date: v.toISOString() };
  if (v instanceof Uint8Array) return { $bytes: bytesToBase64(v) };
  if (Array.isArray(v)) return v.map(toTagged);
  var out = {};
  for (var k of Object.keys(v)) setOwn(out, k, toTagged(v[k]));
  var keys = Object.keys(out);
  return keys.length === 1 && keys[0].charAt(0) === "$" ? { $obj: out } : out;
}

// The operand typed into the query form, as the column's type wants it.
function convertOperand(text, type) {
  var t = text.trim();
  if (/^(U?Int(8|16|32|64)|Float(32|64))$/.test(type)) {
    if (t === "" || !Number.isFinite(Number(t))) throw new Error(JSON.stringify(t.slice(0, 40)) + " is not a number: " + type + " columns compare with numbers");
    return Number(t);
  }
  if (type === "Boolean") {
    if (t === "true" || t === "false") return t === "true";
    throw new Error(JSON.stringify(t.slice(0, 40)) + " is not true or false: Boolean columns compare with those");
  }
  if (type === "Date" || type === "Datetime") {
    var d = new Date(t);
    if (Number.isNaN(d.getTime())) throw new Error(JSON.stringify(t.slice(0, 40)) + " is not a date: write it like 2024-05-01 or 2024-05-01T12:00:00Z");
    return d;
  }
  return text;
}

// The columns of a query's answer, in order: select's order when given,
// else every key in order of first appearance.
function resultColumns(rows, select) {
  if (Array.isArray(select) && select.length > 0) return select.slice();
  var seen = new Set();
  for (var r = 0; r < rows.length; r++) for (var k of Object.keys(rows[r])) seen.add(k);
  return Array.from(seen);
}
`;
