/**
 * Engine benchmark: the embedded API (DESIGN §3), memory-only database,
 * against anchors measured in the same process:
 *
 * - `Table.insert` / `get` on 1M rows `{ id, name, age }` vs LokiJS
 *   (`unique: ["id"]`, `insert` / `by`) and TinyBase (`setRow` / `getRow`),
 *   plus `insertMany` in batches of 1000;
 * - `CyberDict.set` / `get` (small values, string and number keys) vs `Map`;
 * - `CyberDict.set` / `get` with small flat object values vs `Map` (issue 14);
 * - `CyberDict.toObject()` of 20k keys vs a plain object built from a `Map`;
 * - bytes per table row vs an array of plain objects.
 *
 * Prints one markdown table; every figure is a ratio against its anchor, with
 * the absolute rates beside it. Each section runs in a fresh process of the
 * same runtime (see `runSections` in harness.ts for why); within a section,
 * contenders run in interleaved rounds and each returns a checksum that must
 * equal its anchor's, so no work can be skipped.
 *
 * Environment: `BENCH_SCALE=0.1` shrinks every size (smoke run);
 * `BENCH_ONLY=table,dict` runs some sections (table, insertMany, dict,
 * dictObject, toObject, memory);
 * `BENCH_SECTION=dict` runs one section in this process (for profiling) and
 * prints its own table.
 *
 * Run: `node scripts/bench.mjs --file bench/engine_bench.ts` (Deno and Bun), or
 * `deno run -A --v8-flags=--expose-gc bench/engine_bench.ts`, or
 * `bun run bench/engine_bench.ts`.
 *
 * @module
 */
import { Database } from "../mod.ts";
import Loki from "lokijs";
import { createStore } from "tinybase";
import process from "node:process";
import {
  type Case,
  compare,
  currentSection,
  emitSectionResult,
  forceGc,
  formatBytes,
  formatRate,
  measureMemory,
  now,
  pairedRatio,
  progress,
  type ReportLine,
  reportTable,
  type Result,
  rng,
  runSections,
  runtimeInfo,
  sameChecksum,
  scaled,
  type SectionResult,
  shuffled,
  strSum,
  verdict,
} from "./harness.ts";

/** Rows in every table benchmark. */
const ROWS = scaled(1_000_000);
/** Random lookups per timed get call (into the full ROWS-row tables). */
const LOOKUPS = Math.min(ROWS, scaled(200_000));
/** Keys per dict call: enough to leave the CPU caches, few enough for 7 rounds. */
const DICT_N = scaled(250_000);
const BATCH = 1000;
const TARGET_DICT = 0.33;
/** table.insert / get vs TinyBase. */
const TARGET_TABLE = 2;
/** table.insert / get vs LokiJS: issue 14 restated the earlier "2x" as "at least as fast" (1.0x). */
const TARGET_TABLE_LOKI = 1;
/** Issue 14: dict get / set of small object values ≥ 0.5x a Map's. */
const TARGET_DICT_OBJECT = 0.5;
/** Keys of the dict read whole by `toObject()` (issue 14's whole-dict read). */
const TO_OBJECT_N = 20_000;
const SECTIONS = ["table", "insertMany", "dict", "dictObject", "toObject", "memory"] as const;

const started = now();
const rt = runtimeInfo();

// ---------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------

const FIRST = [
  "ada",
  "bob",
  "cy",
  "dee",
  "eve",
  "fay",
  "gus",
  "hal",
  "ivy",
  "jo",
  "kai",
  "lu",
  "max",
  "ned",
  "ola",
  "pia",
];

/** Row i's name: a fresh short string (5–12 chars) built on each call. */
function nameOf(i: number): string {
  return FIRST[i & 15] + "_" + ((i * 2654435761) >>> 0).toString(36).slice(0, 1 + (i % 7));
}

/** Row i's age: 0..99. */
function ageOf(i: number): number {
  return (i * 37 + 11) % 100;
}

/** Row columns, built before the timed table sections; row objects are made inside the timed loops. */
let names: string[] = [];
let ages: number[] = [];
let rowOrder: Int32Array = new Int32Array(0);
function makeTableData(): void {
  names = new Array(ROWS);
  ages = new Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    names[i] = nameOf(i);
    ages[i] = ageOf(i);
  }
  rowOrder = shuffled(ROWS, 7);
}

/**
 * Dict data: string keys "k:<base36>" and number keys (unique, not dense),
 * small values mixing ints, floats and short strings, a random lookup order.
 */
function dictData() {
  const rand = rng(20240601);
  const strKeys: string[] = new Array(DICT_N);
  const numKeys: number[] = new Array(DICT_N);
  const vals: (number | string)[] = new Array(DICT_N);
  for (let i = 0; i < DICT_N; i++) {
    strKeys[i] = "k:" + i.toString(36);
    numKeys[i] = i * 3 + 1;
    const r = rand();
    vals[i] = i % 3 === 0 ? "v" + Math.floor(r * 1e6).toString(36) : i % 3 === 1 ? Math.floor(r * 1e9) : r * 1000;
  }
  return { strKeys, numKeys, vals, order: shuffled(DICT_N, 99) };
}

function valSum(v: unknown): number {
  return typeof v === "number" ? v : strSum(v as string);
}

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------

let db!: Database;
let seq = 0;
const fresh = (prefix: string) => `${prefix}_${seq++}`;

const schema = (name: string) => ({
  name,
  columns: [
    { name: "id", type: "Int64", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32" },
  ],
} as const);

type Row = { id: number; name: string; age: number };
// deno-lint-ignore no-explicit-any
type AnyTable = any;
// deno-lint-ignore no-explicit-any
type LokiCollection = any;
type TinyStore = ReturnType<typeof createStore>;

function newTable(): AnyTable {
  return db.createTable(schema(fresh("t")));
}
function dropTable(t: AnyTable): void {
  db.drop(t.name);
}
function newLoki(): LokiCollection {
  const l = new Loki("bench.db", { autosave: false });
  return l.addCollection("t", { unique: ["id"] });
}

function cyberInsertAll(t: AnyTable, n: number): number {
  for (let i = 0; i < n; i++) t.insert({ id: i, name: names[i], age: ages[i] });
  return t.count();
}
function lokiInsertAll(c: LokiCollection, n: number): number {
  for (let i = 0; i < n; i++) c.insert({ id: i, name: names[i], age: ages[i] });
  return c.count();
}
function tinyInsertAll(s: TinyStore, n: number): number {
  for (let i = 0; i < n; i++) s.setRow("t", String(i), { id: i, name: names[i], age: ages[i] });
  return s.getRowCount("t");
}

// ---------------------------------------------------------------------------
// Report rows
// ---------------------------------------------------------------------------

type Line = ReportLine;
const lines: Line[] = [];
const notes: string[] = [];

function ms(r: Result): string {
  return r.samples.map((s) => s.toFixed(0)).join("/");
}

function speedLine(what: string, mine: Result, anchor: Result, target?: number): void {
  sameChecksum(mine, anchor);
  const ratio = pairedRatio(mine, anchor);
  lines.push({
    what,
    mine: formatRate(mine.opsPerSec),
    anchor: anchor.name,
    anchorValue: formatRate(anchor.opsPerSec),
    ratio,
    target: target === undefined ? "—" : `≥ ${target}x`,
    result: target === undefined ? "info" : verdict(ratio, target),
    spread: `${(mine.spread * 100).toFixed(0)}% / ${(anchor.spread * 100).toFixed(0)}%`,
  });
  notes.push(`${what} vs ${anchor.name}: checksum ${mine.checksum}; ms per call ${ms(mine)} vs ${ms(anchor)}`);
}

function done(what: string): void {
  progress(`${what} done (${((now() - started) / 1000).toFixed(1)} s)`);
}

// ---------------------------------------------------------------------------
// Section "table": insert, then get on the last round's structures
// ---------------------------------------------------------------------------

function sectionTable(): void {
  makeTableData();
  // The last insert round's structures are kept for the get benchmark
  // (building 1M TinyBase rows again would cost another 10 s).
  let keptTable: AnyTable;
  let keptLoki: LokiCollection;
  let keptStore: TinyStore | undefined;
  const WARM = Math.max(1000, Math.round(ROWS / 20));
  const insertCases: Case<unknown>[] = [
    {
      name: "CyberDB",
      ops: ROWS,
      setup: newTable,
      run: (t) => cyberInsertAll(t, ROWS),
      teardown: (t) => {
        if (keptTable) dropTable(keptTable);
        keptTable = t;
      },
      warmupRun: () => dropTable(((t) => (cyberInsertAll(t, WARM), t))(newTable())),
    },
    {
      name: "LokiJS",
      ops: ROWS,
      setup: newLoki,
      run: (c) => lokiInsertAll(c, ROWS),
      teardown: (c) => (keptLoki = c),
      warmupRun: () => lokiInsertAll(newLoki(), WARM),
    },
    {
      name: "TinyBase",
      ops: ROWS,
      setup: () => createStore(),
      run: (s) => tinyInsertAll(s as TinyStore, ROWS),
      teardown: (s) => (keptStore = s as TinyStore),
      warmupRun: () => tinyInsertAll(createStore(), WARM),
      maxRounds: 1, // 7–15 s per call at 1M rows
    },
  ];
  const [ci, li, ti] = compare(insertCases, { warmup: 1, rounds: 3 });
  speedLine(`table.insert (${ROWS} rows)`, ci, li, TARGET_TABLE_LOKI);
  speedLine(`table.insert (${ROWS} rows)`, ci, ti, TARGET_TABLE);
  done("table insert");

  const t = keptTable;
  const c = keptLoki;
  const s = keptStore!;
  const rowSum = (r: { name?: unknown; age?: unknown } | null | undefined) =>
    r ? (r.age as number) + strSum(r.name as string) : -1000;
  const getCases: Case<void>[] = [
    {
      name: "CyberDB",
      ops: LOOKUPS,
      run: () => {
        let sum = 0;
        for (let i = 0; i < LOOKUPS; i++) sum += rowSum(t.get(rowOrder[i]));
        return sum;
      },
    },
    {
      name: "LokiJS",
      ops: LOOKUPS,
      run: () => {
        let sum = 0;
        for (let i = 0; i < LOOKUPS; i++) sum += rowSum(c.by("id", rowOrder[i]));
        return sum;
      },
    },
    {
      name: "TinyBase",
      ops: LOOKUPS,
      run: () => {
        let sum = 0;
        for (let i = 0; i < LOOKUPS; i++) sum += rowSum(s.getRow("t", String(rowOrder[i])));
        return sum;
      },
    },
  ];
  // No forced GC between get calls: they make little garbage, and a full GC
  // of three 1M-row stores costs ~0.5 s each time.
  const [cg, lg, tg] = compare(getCases, { warmup: 1, rounds: 5, gcBetween: false });
  speedLine(`table.get by key (${LOOKUPS} random hits in ${ROWS} rows)`, cg, lg, TARGET_TABLE_LOKI);
  speedLine(`table.get by key (${LOOKUPS} random hits in ${ROWS} rows)`, cg, tg, TARGET_TABLE);
  done("table get");
}

// ---------------------------------------------------------------------------
// Section "insertMany": batches of 1000
// ---------------------------------------------------------------------------

function sectionInsertMany(): void {
  makeTableData();
  const WARM = Math.max(BATCH, Math.round(ROWS / 20));
  const makeBatch = (b: number, n: number): Row[] => {
    const from = b * BATCH;
    const to = Math.min(n, from + BATCH);
    const rows: Row[] = new Array(to - from);
    for (let i = from; i < to; i++) rows[i - from] = { id: i, name: names[i], age: ages[i] };
    return rows;
  };
  const cyberMany = (t: AnyTable, n: number) => {
    for (let b = 0; b * BATCH < n; b++) t.insertMany(makeBatch(b, n));
    return t.count();
  };
  const lokiMany = (c: LokiCollection, n: number) => {
    for (let b = 0; b * BATCH < n; b++) c.insert(makeBatch(b, n));
    return c.count();
  };
  const tinyMany = (store: TinyStore, n: number) => {
    for (let b = 0; b * BATCH < n; b++) {
      const rows = makeBatch(b, n);
      store.transaction(() => {
        for (const r of rows) store.setRow("t", String(r.id), r);
      });
    }
    return store.getRowCount("t");
  };
  const manyCases: Case<unknown>[] = [
    {
      name: "CyberDB",
      ops: ROWS,
      setup: newTable,
      run: (t) => cyberMany(t, ROWS),
      teardown: dropTable,
      warmupRun: () => dropTable(((t) => (cyberMany(t, WARM), t))(newTable())),
    },
    {
      name: "LokiJS",
      ops: ROWS,
      setup: newLoki,
      run: (c) => lokiMany(c, ROWS),
      warmupRun: () => lokiMany(newLoki(), WARM),
    },
    {
      name: "TinyBase",
      ops: ROWS,
      setup: () => createStore(),
      run: (s) => tinyMany(s as TinyStore, ROWS),
      warmupRun: () => tinyMany(createStore(), WARM),
      maxRounds: 1,
    },
  ];
  const [cm, lm, tm] = compare(manyCases, { warmup: 1, rounds: 3 });
  speedLine(`table.insertMany, batches of ${BATCH} (${ROWS} rows)`, cm, lm);
  speedLine(`table.insertMany, batches of ${BATCH} (${ROWS} rows)`, cm, tm);
  done("table insertMany");
}

// ---------------------------------------------------------------------------
// Section "dict": CyberDict vs Map
// ---------------------------------------------------------------------------

function dictCases(
  keys: readonly (string | number)[],
  dictVals: readonly (number | string)[],
  dictOrder: Int32Array,
  label: string,
): void {
  const setCases: Case<{ set(k: string | number, v: unknown): unknown; size: number }>[] = [
    {
      name: "CyberDict",
      ops: DICT_N,
      setup: () => db.createDict(fresh("d")),
      run: (d) => {
        for (let i = 0; i < DICT_N; i++) d.set(keys[i], dictVals[i]);
        return d.size;
      },
      // deno-lint-ignore no-explicit-any
      teardown: (d: any) => db.drop(d.name),
    },
    {
      name: "Map",
      ops: DICT_N,
      setup: () => new Map<string | number, unknown>(),
      run: (m) => {
        for (let i = 0; i < DICT_N; i++) m.set(keys[i], dictVals[i]);
        return m.size;
      },
    },
  ];
  const [ds, ms] = compare(setCases, { warmup: 2, rounds: 7 });
  speedLine(`dict.set, ${label} keys (${DICT_N} new keys)`, ds, ms, TARGET_DICT);

  const dname = fresh("dget");
  const d = db.createDict(dname);
  const m = new Map<string | number, unknown>();
  for (let i = 0; i < DICT_N; i++) {
    d.set(keys[i], dictVals[i]);
    m.set(keys[i], dictVals[i]);
  }
  const getCases: Case<void>[] = [
    {
      name: "CyberDict",
      ops: DICT_N,
      run: () => {
        let sum = 0;
        for (let i = 0; i < DICT_N; i++) sum += valSum(d.get(keys[dictOrder[i]]));
        return sum;
      },
    },
    {
      name: "Map",
      ops: DICT_N,
      run: () => {
        let sum = 0;
        for (let i = 0; i < DICT_N; i++) sum += valSum(m.get(keys[dictOrder[i]]));
        return sum;
      },
    },
  ];
  const [dg, mg] = compare(getCases, { warmup: 2, rounds: 7 });
  speedLine(`dict.get, ${label} keys (${DICT_N} hits, random order)`, dg, mg, TARGET_DICT);
  db.drop(dname);
  done(`dict ${label} keys`);
}

function sectionDict(): void {
  const d = dictData();
  dictCases(d.strKeys, d.vals, d.order, "string");
  dictCases(d.numKeys, d.vals, d.order, "number");
}

// ---------------------------------------------------------------------------
// Section "dictObject": CyberDict vs Map with small object values
// ---------------------------------------------------------------------------

/** A small flat record, as a session or a cached user would be. */
type Small = { name: string; age: number; score: number; active: boolean };

/** Parallel field arrays for the object values; the objects are built inside the timed loops. */
function objectData(n: number) {
  const rand = rng(20241114);
  const keys: string[] = new Array(n);
  const scores: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = "k:" + i.toString(36);
    scores[i] = Math.floor(rand() * 1e6) / 100;
  }
  const names = Array.from({ length: n }, (_, i) => nameOf(i));
  return { keys, names, ages: Array.from({ length: n }, (_, i) => ageOf(i)), scores };
}

function smallSum(v: Small | undefined): number {
  return v === undefined ? -1000 : v.age + strSum(v.name) + (v.active ? 1 : 0);
}

function sectionDictObject(): void {
  const { keys, names: nm, ages: ag, scores } = objectData(DICT_N);
  const order = shuffled(DICT_N, 99);
  const small = (i: number): Small => ({ name: nm[i], age: ag[i], score: scores[i], active: (i & 1) === 0 });
  const setCases: Case<{ set(k: string, v: Small): unknown; size: number }>[] = [
    {
      name: "CyberDict",
      ops: DICT_N,
      setup: () => db.createDict(fresh("o")),
      run: (d) => {
        for (let i = 0; i < DICT_N; i++) d.set(keys[i], small(i));
        return d.size;
      },
      // deno-lint-ignore no-explicit-any
      teardown: (d: any) => db.drop(d.name),
    },
    {
      name: "Map",
      ops: DICT_N,
      setup: () => new Map<string, Small>(),
      run: (m) => {
        for (let i = 0; i < DICT_N; i++) m.set(keys[i], small(i));
        return m.size;
      },
    },
  ];
  const [ds, ms] = compare(setCases, { warmup: 2, rounds: 7 });
  speedLine(`dict.set, object values {4 fields} (${DICT_N} new keys)`, ds, ms, TARGET_DICT_OBJECT);

  const dname = fresh("oget");
  const d = db.createDict<Small>(dname);
  const m = new Map<string, Small>();
  for (let i = 0; i < DICT_N; i++) {
    d.set(keys[i], small(i));
    m.set(keys[i], small(i));
  }
  const getCases: Case<void>[] = [
    {
      name: "CyberDict",
      ops: DICT_N,
      run: () => {
        let sum = 0;
        for (let i = 0; i < DICT_N; i++) sum += smallSum(d.get(keys[order[i]]));
        return sum;
      },
    },
    {
      name: "Map",
      ops: DICT_N,
      run: () => {
        let sum = 0;
        for (let i = 0; i < DICT_N; i++) sum += smallSum(m.get(keys[order[i]]));
        return sum;
      },
    },
  ];
  const [dg, mg] = compare(getCases, { warmup: 2, rounds: 7 });
  speedLine(`dict.get, object values {4 fields} (${DICT_N} hits, random order)`, dg, mg, TARGET_DICT_OBJECT);
  db.drop(dname);
  done("dict object values");
}

// ---------------------------------------------------------------------------
// Section "toObject": the whole dict as a plain object
// ---------------------------------------------------------------------------

function sectionToObject(): void {
  const { keys, names: nm, ages: ag, scores } = objectData(TO_OBJECT_N);
  const small = (i: number): Small => ({ name: nm[i], age: ag[i], score: scores[i], active: (i & 1) === 0 });
  const d = db.createDict<Small>(fresh("whole"));
  const m = new Map<string, Small>();
  for (let i = 0; i < TO_OBJECT_N; i++) {
    d.set(keys[i], small(i));
    m.set(keys[i], small(i));
  }
  // Several reads per timed call: one read of 20k keys takes a few ms.
  const READS = 10;
  const total = (o: Record<string, Small>) => {
    let sum = 0;
    for (const k in o) sum += o[k].age;
    return sum;
  };
  const cases: Case<void>[] = [
    {
      name: "CyberDict",
      ops: READS * TO_OBJECT_N,
      run: () => {
        let sum = 0;
        for (let r = 0; r < READS; r++) sum += total(d.toObject());
        return sum;
      },
    },
    {
      name: "plain object built from a Map",
      ops: READS * TO_OBJECT_N,
      run: () => {
        let sum = 0;
        for (let r = 0; r < READS; r++) {
          const o: Record<string, Small> = {};
          for (const [k, v] of m) o[k] = v;
          sum += total(o);
        }
        return sum;
      },
    },
  ];
  const [c, p] = compare(cases, { warmup: 2, rounds: 7 });
  speedLine(`dict.toObject(), object values (${TO_OBJECT_N} keys), keys/s`, c, p);
  done("toObject");
}

// ---------------------------------------------------------------------------
// Section "memory": bytes per row
// ---------------------------------------------------------------------------

function sectionMemory(): void {
  // Rows are generated inside build() with fresh name strings, so each side
  // pays for its own strings.
  const plain = measureMemory(ROWS, () => {
    const arr: Row[] = new Array(ROWS);
    for (let i = 0; i < ROWS; i++) arr[i] = { id: i, name: nameOf(i), age: ageOf(i) };
    return arr;
  }, (arr) => arr.length + arr[ROWS - 1].age);
  const mine = measureMemory(ROWS, () => {
    const t = newTable();
    for (let i = 0; i < ROWS; i++) t.insert({ id: i, name: nameOf(i), age: ageOf(i) });
    return t;
  }, (t) => {
    const n = t.count() + t.get(ROWS - 1).age;
    dropTable(t);
    return n;
  });
  if (mine.check !== plain.check) throw new Error(`Memory checksums differ: ${mine.check} vs ${plain.check}.`);
  lines.push({
    what: `memory per table row (${ROWS} rows)`,
    mine: `${mine.bytesPerItem.toFixed(0)} B/row`,
    anchor: "plain objects in an array",
    anchorValue: `${plain.bytesPerItem.toFixed(0)} B/row`,
    ratio: mine.bytesPerItem / plain.bytesPerItem,
    target: "— (lower is better)",
    result: "info",
    spread: "",
  });
  notes.push(
    `memory: CyberDB ${formatBytes(mine.bytes)} vs plain ${formatBytes(plain.bytes)} for ${ROWS} rows` +
      ` (${rt.name === "bun" ? "heapUsed" : "heapUsed + external"} after forced GC${
        mine.gcForced ? "" : "; GC could NOT be forced: approximate"
      })`,
  );
  done("memory");
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function runSection(name: string): Promise<SectionResult> {
  db = await Database.open();
  if (name === "table") sectionTable();
  else if (name === "insertMany") sectionInsertMany();
  else if (name === "dict") sectionDict();
  else if (name === "dictObject") sectionDictObject();
  else if (name === "toObject") sectionToObject();
  else if (name === "memory") sectionMemory();
  else throw new Error(`Unknown section "${name}": use one of ${SECTIONS.join(", ")}.`);
  await db.close();
  return { lines, notes };
}

function printReport(results: SectionResult[]): void {
  const all = results.flatMap((r) => r.lines);
  console.log(`\n### engine_bench — ${rt.label}\n`);
  console.log(reportTable(all));
  console.log(
    `\nRates: medians of interleaved rounds. Ratio: CyberDB throughput / anchor throughput, the median of` +
      ` per-round ratios (both ran back to back in one process); memory: bytes ratio, lower is better.` +
      ` Spread: (slowest - fastest) / median.`,
  );
  for (const n of results.flatMap((r) => r.notes)) console.log(`- ${n}`);
  console.log(`\ntotal ${((now() - started) / 1000).toFixed(1)} s`);
}

const only = (process.env.BENCH_ONLY ?? "").split(",").map((x) => x.trim()).filter(Boolean);
const section = currentSection();
if (section) {
  const result = await runSection(section);
  // Started by runSections: hand the rows over. Started by hand: print them.
  if (process.env.BENCH_SECTION_CHILD) emitSectionResult(result);
  else printReport([result]);
} else {
  const gcOk = forceGc();
  const chosen = only.length ? SECTIONS.filter((s) => only.includes(s)) : [...SECTIONS];
  progress(
    `${rt.label}: sections ${chosen.join(", ")}, each in a fresh process; table rows ${ROWS}, dict keys ${DICT_N}` +
      (gcOk ? "" : "; forced GC NOT available (memory figures include garbage)"),
  );
  printReport(runSections<SectionResult>(import.meta.url, chosen));
}
