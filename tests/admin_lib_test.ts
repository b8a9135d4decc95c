// The admin page's pure functions (src/server/admin_lib.ts), run as the page
// runs them — the same JavaScript text — without a browser: the Prometheus
// text parser, rates and quantiles from two readings, the value printer,
// the JSON tags of hand-typed queries, the page's base path and the
// Authorization header it sends to /metrics.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_LIB, ADMIN_LIB_NAMES } from "../src/server/admin_lib.ts";
import { passwordFromHeader } from "../src/server/auth.ts";
import { fromJsonValue, toJsonValue } from "../src/wire/json.ts";

type Sample = { name: string; labels: Record<string, string>; value: number };
type Reading = { ops: number; errors: number; sum: number; count: number; buckets: [number, number][] };
type Rates = { opsPerSec: number; errorsPerSec: number; mean: number | null; p50: number | null; p99: number | null };

interface Lib {
  basePath(p: string): string;
  authorization(p: string): string;
  parseMetrics(text: string): Sample[];
  summarize(samples: Sample[]): Reading;
  rates(prev: Reading, cur: Reading, seconds: number): Rates;
  quantile(q: number, buckets: [number, number][]): number | null;
  formatValue(v: unknown, max?: number): string;
  formatRate(perSec: number): string;
  formatSeconds(s: number | null): string;
  fromTagged(v: unknown): unknown;
  toTagged(v: unknown): unknown;
  convertOperand(text: string, type: string): unknown;
  resultColumns(rows: Record<string, unknown>[], select?: string[]): string[];
}

const lib = new Function(`${ADMIN_LIB}\nreturn { ${ADMIN_LIB_NAMES.join(", ")} };`)() as Lib;

/** What a server's /metrics says after some dict.set and one failed dict.pop (the names the page reads). */
const METRICS = `# HELP cyberdb_ops_total Operations run, by op and outcome.
# TYPE cyberdb_ops_total counter
cyberdb_ops_total{op="dict.set",outcome="ok"} 90
cyberdb_ops_total{op="dict.pop",outcome="KEY_NOT_FOUND"} 10
# HELP cyberdb_op_duration_seconds Time to run an op.
# TYPE cyberdb_op_duration_seconds histogram
cyberdb_op_duration_seconds_bucket{op="dict.set",le="0.001"} 50
cyberdb_op_duration_seconds_bucket{op="dict.set",le="0.01"} 85
cyberdb_op_duration_seconds_bucket{op="dict.set",le="0.1"} 90
cyberdb_op_duration_seconds_bucket{op="dict.set",le="+Inf"} 90
cyberdb_op_duration_seconds_sum{op="dict.set"} 0.2
cyberdb_op_duration_seconds_count{op="dict.set"} 90
cyberdb_op_duration_seconds_bucket{op="dict.pop",le="0.001"} 0
cyberdb_op_duration_seconds_bucket{op="dict.pop",le="0.01"} 5
cyberdb_op_duration_seconds_bucket{op="dict.pop",le="0.1"} 10
cyberdb_op_duration_seconds_bucket{op="dict.pop",le="+Inf"} 10
cyberdb_op_duration_seconds_sum{op="dict.pop"} 0.3
cyberdb_op_duration_seconds_count{op="dict.pop"} 10
cyberdb_connections 2
`;

describe("admin page: the Prometheus text parser", () => {
  it("reads names, labels and values, skipping comments and blank lines", () => {
    const samples = lib.parseMetrics(METRICS);
    assert.equal(samples.length, 15);
    assert.deepEqual({ ...samples[0] }, {
      name: "cyberdb_ops_total",
      labels: samples[0].labels,
      value: 90,
    });
    assert.deepEqual({ ...samples[0].labels }, { op: "dict.set", outcome: "ok" });
    assert.equal(samples[5].labels.le, "+Inf");
    assert.deepEqual({ ...samples[14] }, { name: "cyberdb_connections", labels: samples[14].labels, value: 2 });
    assert.deepEqual({ ...samples[14].labels }, {});
  });

  it("unescapes label values and reads every number form, with or without a timestamp", () => {
    const text = 'm{a="q\\"uote",b="back\\\\slash",c="new\\nline",d="{,}="} 1.5e-3 1700000000000\r\n' +
      'm_inf +Inf\nm_ninf -Inf\nm_nan NaN\nm_int  42\nm{ x = "1" , } .5\n';
    const s = lib.parseMetrics(text);
    assert.deepEqual({ ...s[0].labels }, { a: 'q"uote', b: "back\\slash", c: "new\nline", d: "{,}=" });
    assert.equal(s[0].value, 0.0015);
    assert.deepEqual(s.slice(1, 5).map((x) => x.value), [Infinity, -Infinity, NaN, 42]);
    assert.deepEqual({ ...s[5].labels }, { x: "1" });
    assert.equal(s[5].value, 0.5);
  });

  it("keeps a __proto__ label as a label", () => {
    const [s] = lib.parseMetrics('m{__proto__="x"} 1');
    assert.equal(Object.getPrototypeOf(s.labels), null);
    assert.equal(s.labels.__proto__, "x");
  });

  it("refuses lines that are not samples, naming the line", () => {
    const bad = [
      ['ok 1\n{x="1"} 2', /line 2 does not start with a metric name/],
      ['m{x="1} 2', /line 1 has an unterminated label value/],
      ["m{x=1} 2", /line 1 has a label value without quotes/],
      ['m{x="1" y="2"} 2', /not separated by commas/],
      ['m{x="\\t"} 2', /unknown escape/],
      ["m", /has no value/],
      ["m 1 2 3", /has no value or more/],
      ["m one", /not a number/],
      ['m{="1"} 2', /label without a name/],
    ] as const;
    for (const [text, message] of bad) assert.throws(() => lib.parseMetrics(text), message, text);
  });

  it("quotes an offending line capped in length", () => {
    assert.throws(() => lib.parseMetrics("m " + "x".repeat(10_000)), (e: Error) => e.message.length < 200);
  });
});

describe("admin page: rates and latency from two readings", () => {
  it("sums ops, errors and the histogram over every op", () => {
    const r = lib.summarize(lib.parseMetrics(METRICS));
    assert.equal(r.ops, 100);
    assert.equal(r.errors, 10);
    assert.equal(r.count, 100);
    assert.ok(Math.abs(r.sum - 0.5) < 1e-12);
    assert.deepEqual(r.buckets, [[0.001, 50], [0.01, 90], [0.1, 100], [Infinity, 100]]);
  });

  it("computes quantiles as Prometheus' histogram_quantile does", () => {
    const b: [number, number][] = [[0.001, 50], [0.01, 90], [0.1, 100], [Infinity, 100]];
    assert.equal(lib.quantile(0.5, b), 0.001);
    assert.ok(Math.abs(lib.quantile(0.99, b)! - 0.091) < 1e-12); // 0.01 + 0.09 * (99 - 90) / 10
    assert.ok(Math.abs(lib.quantile(0.25, b)! - 0.0005) < 1e-12); // the first bucket starts at 0
    // Past the largest finite bound: that bound.
    assert.equal(lib.quantile(0.99, [[0.001, 1], [Infinity, 100]]), 0.001);
    assert.equal(lib.quantile(0.5, []), null);
    assert.equal(lib.quantile(0.5, [[0.001, 0], [Infinity, 0]]), null);
  });

  it("turns two readings into per-second rates and the latency of the ops in between", () => {
    const before = lib.summarize(lib.parseMetrics(METRICS));
    const after = lib.summarize(lib.parseMetrics(
      METRICS.replace('outcome="ok"} 90', 'outcome="ok"} 290')
        .replace('le="0.001"} 50', 'le="0.001"} 250')
        .replace(/(op="dict.set",le="(0.01|0.1|\+Inf)"\}) (\d+)/g, (_, k, _le, n) => `${k} ${Number(n) + 200}`)
        .replace('_sum{op="dict.set"} 0.2', '_sum{op="dict.set"} 0.3')
        .replace('_count{op="dict.set"} 90', '_count{op="dict.set"} 290'),
    ));
    const r = lib.rates(before, after, 2);
    assert.equal(r.opsPerSec, 100);
    assert.equal(r.errorsPerSec, 0);
    assert.ok(Math.abs(r.mean! - 0.0005) < 1e-12); // 0.1 s over 200 ops
    assert.equal(r.p99, 0.001 * 0.99); // all 200 in the first bucket
    // Nothing happened: no latency, zero rates.
    assert.deepEqual(lib.rates(after, after, 1), { opsPerSec: 0, errorsPerSec: 0, mean: null, p50: null, p99: null });
  });

  it("takes a counter that went down for a restart, as Prometheus does", () => {
    const before = lib.summarize(lib.parseMetrics(METRICS));
    const restarted = lib.summarize(lib.parseMetrics('cyberdb_ops_total{op="dict.set",outcome="ok"} 6\n'));
    assert.equal(lib.rates(before, restarted, 2).opsPerSec, 3);
  });

  it("prints rates and durations short", () => {
    assert.equal(lib.formatRate(0), "0.0 ops/s");
    assert.equal(lib.formatRate(2.25), "2.3 ops/s");
    assert.equal(lib.formatRate(1234.4), "1234 ops/s");
    assert.equal(lib.formatSeconds(null), "\u2013");
    assert.equal(lib.formatSeconds(0.0000123), "12.3 \u00b5s");
    assert.equal(lib.formatSeconds(0.0025), "2.5 ms");
    assert.equal(lib.formatSeconds(1.5), "1.5 s");
  });
});

describe("admin page: values printed readably", () => {
  it("tells every kind of value apart", () => {
    const f = lib.formatValue;
    assert.equal(f("0"), '"0"');
    assert.equal(f(0), "0");
    assert.equal(f(-0), "-0");
    assert.equal(f(NaN), "NaN");
    assert.equal(f(-Infinity), "-Infinity");
    assert.equal(f(2n ** 63n), "9223372036854775808n");
    assert.equal(f(null), "null");
    assert.equal(f(undefined), "undefined");
    assert.equal(f(false), "false");
    assert.equal(f(new Date(0)), "Date(1970-01-01T00:00:00.000Z)");
    assert.equal(f(new Date(NaN)), "Date(Invalid)");
    assert.equal(f(new Uint8Array([0, 15, 255])), "bytes(3) 00 0f ff");
    assert.equal(f(new Uint8Array(0)), "bytes(0)");
    assert.equal(f(new Map<unknown, unknown>([["a", 1], [2, [3n]]])), 'Map(2) {"a" => 1, 2 => [3n]}');
    assert.equal(f(new Set(["x", null])), 'Set(2) {"x", null}');
    assert.equal(f({ a: [1, { b: "c" }], "odd key": true, $x: 1 }), '{a: [1, {b: "c"}], "odd key": true, $x: 1}');
    assert.equal(f('<img src=x onerror="alert(1)">'), '"<img src=x onerror=\\"alert(1)\\">"');
  });

  it("caps long values, and stops walking them once the cap is reached", () => {
    assert.equal(lib.formatValue("x".repeat(1000), 10), '"xxxxxxxxx...');
    const bytes = lib.formatValue(new Uint8Array(1000));
    assert.match(bytes, /^bytes\(1000\) (00 ){63}00 \.\.\.$/);
    const started = performance.now();
    const huge = lib.formatValue(new Array(2_000_000).fill({ a: 1 }), 100);
    assert.equal(huge.length, 103);
    // Generous: walking all two million would take far longer on any machine.
    assert.ok(performance.now() - started < 1000, "formatValue walked past its cap");
  });

  it("never throws, on a cycle either", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.match(lib.formatValue(cyclic, 100_000), /^\{self: \{self: .*\.\.\.\}+$/);
  });
});

describe("admin page: queries typed as JSON", () => {
  it("reads the HTTP API's tags, as the server does", () => {
    const tagged = {
      where: {
        and: [
          { column: "at", op: ">=", value: { $date: "2024-05-01T00:00:00.000Z" } },
          { column: "n", op: "in", value: [{ $bigint: "9007199254740993" }, { $num: "-0" }, { $num: "NaN" }] },
          { column: "b", op: "=", value: { $bytes: "AQID" } },
          { column: "j", op: "=", value: { $obj: { $x: { $bigint: "1" } } } },
        ],
      },
      limit: 5,
    };
    const mine = lib.fromTagged(tagged);
    assert.deepEqual(mine, fromJsonValue(tagged));
    assert.deepEqual(lib.toTagged(mine), toJsonValue(mine));
    assert.deepEqual(lib.fromTagged(lib.toTagged(mine)), mine);
  });

  it("keeps a __proto__ key an own property", () => {
    const v = lib.fromTagged(JSON.parse('{"__proto__": {"polluted": 1}}')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.hasOwn(v, "__proto__"));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("refuses a tag it does not know or a bad tagged value", () => {
    for (const bad of [{ $set: [1] }, { $bigint: "1.5" }, { $date: "not a date" }, { $num: "1" }]) {
      assert.throws(() => lib.fromTagged(bad), /tag .* holds/, JSON.stringify(bad));
    }
  });

  it("converts the form's operand to the column's type", () => {
    assert.equal(lib.convertOperand(" 42 ", "Int32"), 42);
    assert.equal(lib.convertOperand("1.5", "Float64"), 1.5);
    assert.throws(() => lib.convertOperand("abc", "UInt8"), /"abc" is not a number/);
    assert.throws(() => lib.convertOperand("", "Int64"), /is not a number/);
    assert.equal(lib.convertOperand("true", "Boolean"), true);
    assert.throws(() => lib.convertOperand("yes", "Boolean"), /not true or false/);
    assert.deepEqual(lib.convertOperand("2024-05-01", "Date"), new Date("2024-05-01"));
    assert.throws(() => lib.convertOperand("soon", "Datetime"), /is not a date/);
    assert.equal(lib.convertOperand(" Ada ", "Utf8"), " Ada ");
  });

  it("orders result columns by select, else by first appearance", () => {
    assert.deepEqual(lib.resultColumns([{ a: 1, b: 2 }, { c: 3, a: 4 }]), ["a", "b", "c"]);
    assert.deepEqual(lib.resultColumns([{ a: 1, b: 2 }], ["b", "a"]), ["b", "a"]);
    assert.deepEqual(lib.resultColumns([]), []);
  });
});

describe("admin page: where the server is and how to authenticate", () => {
  it("finds the routes' base from the page's path", () => {
    const cases: [string, string][] = [
      ["/", ""],
      ["/admin", ""],
      ["/admin/", ""],
      ["/db/orders", "/db/orders"],
      ["/db/orders/", "/db/orders"],
      ["/db/orders/admin", "/db/orders"],
    ];
    for (const [path, base] of cases) assert.equal(lib.basePath(path), base, path);
  });

  it("sends a password the server reads back, ASCII or not", () => {
    assert.equal(lib.authorization("secret"), "Bearer secret");
    for (const pw of ["secret", "pässwörd", "with space", "日本語", ""]) {
      assert.equal(passwordFromHeader(lib.authorization(pw)), pw, pw);
    }
  });
});
