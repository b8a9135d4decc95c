/**
 * Query benchmark (issue 5): a 1M-row table `{ id, name (1 000 distinct),
 * age, score }`, memory-only, against anchors measured in the same process:
 *
 * - filter `age > 30` + group by name with mean(score): vs nodejs-polars on
 *   the same data (target: at most 3x Polars' time), vs LokiJS `find` +
 *   reduce (target ≥ 5x faster), vs plain `Array.filter` / `reduce` over
 *   objects (target ≥ 1x);
 * - top-100 by score: vs plain JS sort, vs Polars;
 * - equality lookup on an indexed non-key column (`name`): vs a full scan
 *   (target ≥ 100x) and vs LokiJS's binary index;
 * - `toArrow()` of 1M rows vs building the Arrow table directly from plain
 *   arrays with apache-arrow.
 *
 * Every figure is a ratio of throughputs (> 1: CyberDB is faster), the
 * median of per-round ratios of interleaved rounds; each contender returns a
 * checksum that must equal CyberDB's, so no one skips work. Each section runs
 * in a fresh process of the same runtime (see `runSections` in harness.ts).
 *
 * Environment: `BENCH_SCALE=0.1` shrinks the table (smoke run);
 * `BENCH_ONLY=groupby,top,lookup,arrow` runs some sections;
 * `BENCH_SECTION=groupby` runs one section in this process and prints it.
 *
 * Run: `node scripts/bench.mjs --file bench/query_bench.ts` (Deno and Bun), or
 * `deno run -A --v8-flags=--expose-gc bench/query_bench.ts`, or
 * `bun run bench/query_bench.ts`.
 *
 * @module
 */
import { Database } from "../mod.ts";
import { toArrow } from "../arrow.ts";
import { Float64, Int32, Table as ArrowTable, Utf8, vectorFromArray } from "apache-arrow";
import Loki from "lokijs";
import pl from "nodejs-polars";
import process from "node:process";
import {
  type Case,
  compare,
  currentSection,
  emitSectionResult,
  forceGc,
  formatRate,
  formatRatio,
  now,
  pairedRatio,
  progress,
  type ReportLine,
  reportTable,
  type Result,
  rng,
  runSections,
  runtimeInfo,
  scaled,
  type SectionResult,
  verdict,
} from "./harness.ts";

const ROWS = scaled(1_000_000);
const NAMES = 1000;
/** Lookups per full-scan call (a whole pass each); the indexed contenders repeat the same ones REPS times. */
const SCANS = 3;
const REPS = 200;
const SECTIONS = ["groupby", "top", "lookup", "arrow"] as const;

const rt = runtimeInfo();
const started = now();

// deno-lint-ignore no-explicit-any
type Any = any;

type Line = ReportLine;
const lines: Line[] = [];
const notes: string[] = [];

// ---------------------------------------------------------------------------
// Data: the same rows for every contender
// ---------------------------------------------------------------------------

interface Data {
  ids: number[];
  names: string[];
  ages: number[];
  scores: number[];
  nameList: string[];
}

function makeData(): Data {
  const r = rng(5);
  const nameList = Array.from({ length: NAMES }, (_, i) => `name_${(i * 7919 % 10007).toString(36)}_${i}`);
  const ids = new Array<number>(ROWS);
  const names = new Array<string>(ROWS);
  const ages = new Array<number>(ROWS);
  const scores = new Array<number>(ROWS);
  for (let i = 0; i < ROWS; i++) {
    ids[i] = i;
    names[i] = nameList[Math.floor(r() * NAMES)];
    ages[i] = Math.floor(r() * 100);
    scores[i] = Math.round(r() * 1e6) / 1e4;
  }
  return { ids, names, ages, scores, nameList };
}

const SCHEMA = {
  name: "people",
  columns: [
    { name: "id", type: "Int32", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32" },
    { name: "score", type: "Float64" },
  ],
} as const;

type Row = { id: number; name: string; age: number; score: number };

async function cyberTable(d: Data, name = "people"): Promise<{ db: Database; t: Any }> {
  const db = await Database.open();
  const t = db.createTable({ ...SCHEMA, name });
  const BATCH = 10_000;
  for (let i = 0; i < ROWS; i += BATCH) {
    const rows: Row[] = [];
    for (let k = i; k < Math.min(ROWS, i + BATCH); k++) {
      rows.push({ id: d.ids[k], name: d.names[k], age: d.ages[k], score: d.scores[k] });
    }
    t.insertMany(rows);
  }
  return { db, t };
}

function plainRows(d: Data): Row[] {
  const rows = new Array<Row>(ROWS);
  for (let i = 0; i < ROWS; i++) rows[i] = { id: d.ids[i], name: d.names[i], age: d.ages[i], score: d.scores[i] };
  return rows;
}

function lokiCollection(d: Data, indices: string[]): Any {
  const l = new Loki("query.db", { autosave: false });
  const c = l.addCollection("people", { unique: ["id"], indices });
  for (let i = 0; i < ROWS; i++) c.insert({ id: d.ids[i], name: d.names[i], age: d.ages[i], score: d.scores[i] });
  return c;
}

function polarsFrame(d: Data): Any {
  return pl.DataFrame({
    id: pl.Series("id", Int32Array.from(d.ids)),
    name: pl.Series("name", d.names),
    age: pl.Series("age", Int32Array.from(d.ages)),
    score: pl.Series("score", Float64Array.from(d.scores)),
  });
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

function spreadOf(a: Result, b: Result): string {
  return `${(a.spread * 100).toFixed(0)}% / ${(b.spread * 100).toFixed(0)}%`;
}

function ms(r: Result): string {
  const per = r.medianMs / r.ops;
  return per >= 1
    ? `${per.toFixed(1)} ms`
    : per >= 0.001
    ? `${(per * 1000).toFixed(1)} µs`
    : `${(per * 1e6).toFixed(0)} ns`;
}

/** One table line: `ratio` = mine's throughput / anchor's; `target` a minimum ratio (or null for info). */
function line(
  what: string,
  mine: Result,
  anchorName: string,
  anchor: Result,
  target: number | null,
  targetText?: string,
): void {
  const ratio = pairedRatio(mine, anchor);
  lines.push({
    what,
    mine: ms(mine),
    anchor: anchorName,
    anchorValue: ms(anchor),
    ratio,
    target: target === null ? "—" : targetText ?? `≥ ${formatRatio(target)}`,
    result: target === null ? "info" : verdict(ratio, target),
    spread: spreadOf(mine, anchor),
  });
}

function same(label: string, results: Result[]): void {
  const sums = results.map((r) => r.checksum);
  if (sums.some((s) => s !== sums[0])) {
    throw new Error(
      `${label}: checksums differ (${
        results.map((r) => `${r.name}=${r.checksum}`).join(", ")
      }): the contenders do not compute the same answer.`,
    );
  }
}

function done(what: string): void {
  progress(`${what} done (${((now() - started) / 1000).toFixed(1)} s)`);
}

// ---------------------------------------------------------------------------
// Section "groupby": filter age > 30, group by name, mean(score)
// ---------------------------------------------------------------------------

/** A checksum of a name → mean answer that tolerates last-bit differences in the means. */
function groupSum(count: number, meanTotal: number): number {
  return count * 1e9 + Math.round(meanTotal);
}

/** The plain-JS group-by both plain arrays and LokiJS's found documents go through: mean(score) per name. */
function meanByName(found: Row[]): number {
  const acc = new Map<string, { sum: number; n: number }>();
  for (const r of found) {
    const a = acc.get(r.name);
    if (a === undefined) acc.set(r.name, { sum: r.score, n: 1 });
    else {
      a.sum += r.score;
      a.n++;
    }
  }
  let total = 0;
  for (const a of acc.values()) total += a.sum / a.n;
  return groupSum(acc.size, total);
}

async function sectionGroupBy(): Promise<void> {
  const d = makeData();
  const { db, t } = await cyberTable(d);
  const query = {
    where: { column: "age", op: ">", value: 30 },
    groupBy: ["name"],
    aggregates: { mean: { op: "mean", column: "score" } },
  };
  const rows = plainRows(d);
  const loki = lokiCollection(d, []);
  const df = polarsFrame(d);
  progress(`groupby: data ready (${ROWS} rows)`);
  const cases: Case[] = [
    {
      name: "CyberDB",
      ops: 1,
      run: () => {
        const out = t.query(query) as { name: string; mean: number }[];
        let total = 0;
        for (const g of out) total += g.mean;
        return groupSum(out.length, total);
      },
    },
    {
      name: "plain",
      ops: 1,
      run: () => {
        return meanByName(rows.filter((r) => r.age > 30));
      },
    },
    {
      name: "LokiJS",
      ops: 1,
      maxRounds: 5,
      run: () => {
        const found: Row[] = loki.find({ age: { $gt: 30 } });
        return meanByName(found);
      },
    },
    {
      name: "Polars",
      ops: 1,
      run: () => {
        const out = df.filter(pl.col("age").gt(30)).groupBy("name").agg(pl.col("score").mean().alias("mean"));
        return groupSum(out.height, out.getColumn("mean").sum());
      },
    },
  ];
  // Three warm-up calls each: the columnar path is a handful of loops that V8 needs a few calls to optimise.
  const [mine, plain, lk, polars] = compare(cases, { warmup: 3, rounds: 9 });
  same("groupby", [mine, plain, lk, polars]);
  const what = `filter age > 30, group by name, mean(score) (${ROWS} rows)`;
  line(what, mine, "Polars", polars, 1 / 3, "≥ 0.33x (≤ 3x Polars' time)");
  line(what, mine, "LokiJS find + reduce", lk, 5);
  line(what, mine, "plain Array.filter/reduce", plain, 1);
  await db.close();
  done("groupby");
}

// ---------------------------------------------------------------------------
// Section "top": top-100 by score
// ---------------------------------------------------------------------------

async function sectionTop(): Promise<void> {
  const d = makeData();
  const { db, t } = await cyberTable(d);
  const rows = plainRows(d);
  const df = polarsFrame(d);
  const sum = (ids: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < ids.length; i++) s = (s * 31 + ids[i]) % 1_000_000_007;
    return s;
  };
  progress(`top: data ready (${ROWS} rows)`);
  // Ties broken by id (= insertion order; Polars: a stable sort) everywhere, so the answers are identical.
  const cases: Case[] = [
    {
      name: "CyberDB",
      ops: 1,
      run: () =>
        sum(
          (t.query({
            orderBy: [{ column: "score", direction: "desc" }, { column: "id" }],
            limit: 100,
            select: ["id"],
          }) as Row[]).map((r) => r.id),
        ),
    },
    {
      name: "plain sort",
      ops: 1,
      run: () => sum(rows.slice().sort((a, b) => b.score - a.score || a.id - b.id).slice(0, 100).map((r) => r.id)),
    },
    {
      name: "Polars",
      ops: 1,
      run: () => sum(df.sort("score", true, true, true).head(100).getColumn("id").toArray()),
    },
  ];
  const [mine, plain, polars] = compare(cases, { warmup: 1, rounds: 7 });
  same("top", [mine, plain, polars]);
  const what = `top-100 by score (${ROWS} rows)`;
  line(what, mine, "plain JS sort", plain, null);
  line(what, mine, "Polars", polars, null);
  await db.close();
  done("top");
}

// ---------------------------------------------------------------------------
// Section "lookup": equality on an indexed non-key column
// ---------------------------------------------------------------------------

async function sectionLookup(): Promise<void> {
  const d = makeData();
  const { db, t } = await cyberTable(d);
  t.createIndex("name");
  const { db: db2, t: scan } = await cyberTable(d, "unindexed");
  const loki = lokiCollection(d, ["name"]);
  const r = rng(11);
  const probes = Array.from({ length: SCANS }, () => d.nameList[Math.floor(r() * NAMES)]);
  progress(`lookup: data ready (${ROWS} rows, two tables and LokiJS)`);
  const lookupSum = (found: Row[]) => {
    let s = found.length;
    for (const x of found) s += x.id;
    return s;
  };
  const q = (name: string) => ({ where: { column: "name", op: "=", value: name } });
  const cases: Case[] = [
    {
      name: "CyberDB (index)",
      ops: SCANS,
      run: () => {
        // The scan's probes, repeated to make the call measurable.
        let s = 0;
        for (let k = 0; k < REPS; k++) for (let i = 0; i < SCANS; i++) s += lookupSum(t.query(q(probes[i])));
        return s / REPS;
      },
    },
    {
      name: "CyberDB (full scan)",
      ops: SCANS,
      maxRounds: 5,
      run: () => {
        let s = 0;
        for (let i = 0; i < SCANS; i++) s += lookupSum(scan.query(q(probes[i])));
        return s;
      },
    },
    {
      name: "LokiJS (binary index)",
      ops: SCANS,
      run: () => {
        let s = 0;
        for (let k = 0; k < REPS; k++) for (let i = 0; i < SCANS; i++) s += lookupSum(loki.find({ name: probes[i] }));
        return s / REPS;
      },
    },
  ];
  // The indexed cases do REPS passes per call: count every lookup.
  for (const c of [cases[0], cases[2]]) c.ops = SCANS * REPS;
  const [ix, full, lk] = compare(cases, { warmup: 1, rounds: 7 });
  same("lookup", [ix, full, lk]);
  const hits = t.count({ column: "name", op: "=", value: probes[0] });
  const what = `lookup name = x, indexed (~${hits} rows of ${ROWS} per lookup)`;
  line(what, ix, "full scan (same query, no index)", full, 100);
  line(what, ix, "LokiJS find, binary index", lk, null);
  await db.close();
  await db2.close();
  done("lookup");
}

// ---------------------------------------------------------------------------
// Section "arrow": toArrow() vs apache-arrow from plain arrays
// ---------------------------------------------------------------------------

async function sectionArrow(): Promise<void> {
  const d = makeData();
  const { db, t } = await cyberTable(d);
  progress(`arrow: data ready (${ROWS} rows)`);
  const check = (a: ArrowTable) =>
    a.numRows + (a.getChild("score")!.get(ROWS - 1) as number) + (a.getChild("name")!.get(7) as string).length;
  const cases: Case[] = [
    { name: "toArrow", ops: 1, run: () => check(toArrow(t)) },
    {
      name: "apache-arrow from arrays",
      ops: 1,
      run: () =>
        check(
          new ArrowTable({
            id: vectorFromArray(d.ids, new Int32()),
            name: vectorFromArray(d.names, new Utf8()),
            age: vectorFromArray(d.ages, new Int32()),
            score: vectorFromArray(d.scores, new Float64()),
          }),
        ),
    },
  ];
  const [mine, anchor] = compare(cases, { warmup: 1, rounds: 7 });
  same("arrow", [mine, anchor]);
  line(
    `toArrow() of ${ROWS} rows (Int32, Utf8, Int32, Float64)`,
    mine,
    "apache-arrow vectorFromArray from plain arrays",
    anchor,
    null,
  );
  notes.push(
    `toArrow() of ${ROWS} rows: ${mine.medianMs.toFixed(0)} ms (${
      formatRate(ROWS / (mine.medianMs / 1000)).replace("/s", " rows/s")
    })`,
  );
  await db.close();
  done("arrow");
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function runSection(name: string): Promise<SectionResult> {
  if (name === "groupby") await sectionGroupBy();
  else if (name === "top") await sectionTop();
  else if (name === "lookup") await sectionLookup();
  else if (name === "arrow") await sectionArrow();
  else throw new Error(`Unknown section "${name}": use one of ${SECTIONS.join(", ")}.`);
  return { lines, notes };
}

function printReport(results: SectionResult[]): void {
  const all = results.flatMap((r) => r.lines);
  console.log(`\n### query_bench — ${rt.label}\n`);
  console.log(reportTable(all));
  console.log(
    `\nTimes: median per operation (one query, one lookup, one export) over interleaved rounds. Ratio: CyberDB` +
      ` throughput / anchor throughput, the median of per-round ratios (> 1: CyberDB is faster). Spread:` +
      ` (slowest - fastest) / median.`,
  );
  for (const n of results.flatMap((r) => r.notes)) console.log(`- ${n}`);
  console.log(`\ntotal ${((now() - started) / 1000).toFixed(1)} s`);
}

const only = (process.env.BENCH_ONLY ?? "").split(",").map((x) => x.trim()).filter(Boolean);
const section = currentSection();
if (section) {
  const result = await runSection(section);
  if (process.env.BENCH_SECTION_CHILD) emitSectionResult(result);
  else printReport([result]);
} else {
  const gcOk = forceGc();
  const chosen = only.length ? SECTIONS.filter((s) => only.includes(s)) : [...SECTIONS];
  progress(
    `${rt.label}: sections ${chosen.join(", ")}, each in a fresh process; ${ROWS} rows` +
      (gcOk ? "" : "; forced GC NOT available"),
  );
  printReport(runSections<SectionResult>(import.meta.url, chosen));
}
