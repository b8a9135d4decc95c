// Corruption: for many seeded single-byte flips and truncations of WAL
// segments and snapshot files, opening either recovers exactly the state
// after a prefix of the acknowledged writes, or throws CorruptionError naming
// the file and offset of the first bad record — never another error, never a
// hang, never wrong data. Which of the two, and which prefix, is predicted
// from the frame layout (DESIGN §6): damage in the last record of the last
// segment is a torn tail (cut, logged); anywhere else in the log it is
// CorruptionError; a damaged snapshot falls back to the previous one plus the
// log. `repair: true` cuts at the first bad record and opens.
//
// CYBERDB_CORRUPTION_SEED replays a failing run.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError, Database, defineSchema, type Value } from "../mod.ts";
import { MemoryStorage } from "../src/storage/memory.ts";
import {
  abandon,
  canon,
  dump,
  Machine,
  removeDir,
  seedFromEnv,
  tempDir,
  within,
} from "./fixtures/durability_common.ts";
import { prng, randInt } from "./fixtures/prng.ts";

const SEED = seedFromEnv("CYBERDB_CORRUPTION_SEED");
const replay = `[replay with CYBERDB_CORRUPTION_SEED=${SEED}]`;

const schema = defineSchema(
  {
    name: "t",
    columns: [
      { name: "id", type: "Int32", primaryKey: true },
      { name: "v", type: "Json", nullable: true },
      { name: "b", type: "Binary" },
    ],
  } as const,
);

/**
 * Write `i` (1-based) of the acknowledged sequence. Each logs exactly one
 * record, so write i is LSN i.
 */
function write(db: Database, i: number): void {
  if (i === 1) {
    db.transaction(() => {
      db.createDict("d");
      db.createList("l");
      db.createTable(schema);
    });
    return;
  }
  const rand = prng(i * 7919);
  const d = db.getDict<Value>("d");
  const l = db.getList<Value>("l");
  const t = db.getTable<typeof schema>("t");
  const payload: Value = rand() < 0.1 ? "z".repeat(randInt(rand, 100, 3000)) : { i, n: -0, big: BigInt(i) * 2n ** 40n };
  switch (i % 6) {
    case 0:
      d.set(`k${i % 17}`, [i, payload]);
      break;
    case 1:
      l.append(i);
      break;
    case 2:
      t.upsert({ id: i % 23, v: payload, b: new Uint8Array([i & 255, 0, 255]) });
      break;
    case 3:
      db.transaction(() => {
        d.set("tx", i);
        l.append(["tx", i]);
        t.upsert({ id: 100 + (i % 5), v: null, b: new Uint8Array(0) });
        if (l.length > 20) l.pop(0);
      });
      break;
    case 4:
      d.update({ [`u${i % 5}`]: payload, last: i });
      break;
    default:
      l.extend([i, -i, new Date(i)]);
  }
}

/** One built database directory: its files, and the model state after each write. */
interface Image {
  name: string;
  files: Map<string, Uint8Array>; // path relative to the db dir → bytes
  n: number; // writes acknowledged (all of them)
  floor: number; // the newest snapshot's LSN (0: none)
  segments: { file: string; first: number; frames: { o: number; e: number }[] }[];
  snapshots: string[]; // oldest first
}

/** dumps[k] = the state after the first k writes; canons[k] its canonical string. */
let dumps: unknown[][] = [];
let canons: string[] = [];

async function states(n: number): Promise<void> {
  if (dumps.length > n) return;
  const model = await Database.open();
  dumps = [dump(model)];
  for (let i = 1; i <= n; i++) {
    write(model, i);
    dumps.push(dump(model));
  }
  canons = dumps.map(canon);
  await model.close();
}

/**
 * Builds an image on MemoryStorage: `plan` lists generations, each a list of
 * steps: a number of writes, or "snap". Every generation ends with flush()
 * and a crash (so every reopen starts a new segment and no close snapshot is
 * taken).
 */
async function build(name: string, plan: (number | "snap")[][], segmentBytes?: number): Promise<Image> {
  const machine = new Machine();
  const storage = machine.disk;
  let i = 0;
  for (const gen of plan) {
    // No automatic snapshots (by time, by log size, after recovery): only the planned ones.
    const db = await Database.open({
      storage: machine.process(),
      dir: "db",
      sync: "always",
      snapshotInterval: 0,
      snapshotWalBytes: 0,
      segmentBytes,
    });
    for (const step of gen) {
      if (step === "snap") await db.snapshot();
      else for (let k = 0; k < step; k++) write(db, ++i);
    }
    await db.flush();
    machine.crash();
    await abandon(db);
  }
  await states(i);
  const files = new Map<string, Uint8Array>();
  for (const p of storage.paths()) {
    if (!p.startsWith("db/") || p === "db/LOCK") continue;
    files.set(p.slice(3), storage.peek(p, { durable: true })!);
  }
  const segments = [...files.keys()].filter((f) => f.startsWith("wal/")).sort().map((file) => {
    const bytes = files.get(file)!;
    const frames: { o: number; e: number }[] = [];
    for (let o = 0; o < bytes.length;) {
      const len = new DataView(bytes.buffer, bytes.byteOffset + o, 4).getUint32(0, true);
      frames.push({ o, e: o + 8 + len });
      o += 8 + len;
    }
    return { file, first: Number(file.slice(4, 24)), frames };
  });
  const snapshots = [...files.keys()].filter((f) => f.startsWith("snapshots/")).sort();
  const floor = snapshots.length ? Number(snapshots[snapshots.length - 1].slice(10, 30)) : 0;
  return { name, files, n: i, floor, segments, snapshots };
}

/** A fresh MemoryStorage holding `files` under "db/". */
function storageWith(files: Map<string, Uint8Array>): MemoryStorage {
  const s = new MemoryStorage();
  const dirs = new Set(["db", "db/wal", "db/snapshots"]);
  for (const p of files.keys()) dirs.add(`db/${p}`.slice(0, `db/${p}`.lastIndexOf("/")));
  for (const d of dirs) void s.mkdir(d);
  for (const [p, b] of files) s.poke(`db/${p}`, b);
  return s;
}

type Mutation = { file: string; kind: "flip"; at: number; xor: number } | {
  file: string;
  kind: "truncate";
  at: number;
};

function mutate(files: Map<string, Uint8Array>, m: Mutation): Map<string, Uint8Array> {
  const out = new Map(files);
  const bytes = files.get(m.file)!;
  if (m.kind === "flip") {
    const b = bytes.slice();
    b[m.at] ^= m.xor;
    out.set(m.file, b);
  } else out.set(m.file, bytes.slice(0, m.at));
  return out;
}

type Outcome = { state: number; torn?: boolean } | { corrupt: { file: string; offset: number }; repairState: number };

/**
 * What opening the image with mutation `m` must do: the allowed outcomes
 * (usually exactly one).
 */
function predict(img: Image, m: Mutation): Outcome[] {
  if (m.file.startsWith("snapshots/")) {
    // Either snapshot damaged: the other one (or the log from LSN 1) replaces it.
    return [{ state: img.n }];
  }
  const si = img.segments.findIndex((s) => s.file === m.file);
  const seg = img.segments[si];
  const isLast = si === img.segments.length - 1;
  const next = img.segments[si + 1];
  // A segment whose successor starts at or below floor + 1 is wholly covered by the snapshot.
  if (!isLast && next.first <= img.floor + 1) return [{ state: img.n }];
  const F = img.floor;
  if (m.kind === "truncate") {
    const j = seg.frames.findIndex((f) => f.o <= m.at && m.at < f.e);
    const boundary = seg.frames[j].o === m.at;
    const L = seg.first + j - 1; // the last intact record before the cut
    if (isLast) return [{ state: Math.max(F, L), torn: !boundary }];
    if (!boundary) return [{ corrupt: { file: m.file, offset: seg.frames[j].o }, repairState: Math.max(F, L) }];
    return [{ corrupt: { file: next.file, offset: 0 }, repairState: Math.max(F, L) }];
  }
  const j = seg.frames.findIndex((f) => f.o <= m.at && m.at < f.e);
  const frame = seg.frames[j];
  const L = seg.first + j - 1;
  const corrupt: Outcome = { corrupt: { file: m.file, offset: frame.o }, repairState: Math.max(F, L) };
  const lastFrame = isLast && j === seg.frames.length - 1;
  if (m.at - frame.o < 4) {
    // The length field: a longer length runs past the end (a torn tail, in the last segment).
    return isLast ? [corrupt, { state: Math.max(F, L), torn: true }] : [corrupt];
  }
  return lastFrame ? [{ state: Math.max(F, L), torn: true }] : [corrupt];
}

function describeOutcome(o: Outcome): string {
  return "state" in o
    ? `state after ${o.state} writes${o.torn ? " (torn tail cut)" : ""}`
    : `CorruptionError at ${o.corrupt.file}:${o.corrupt.offset}`;
}

/** Which prefix a state equals, for failure messages. */
function whichPrefix(state: unknown[]): string {
  const k = canons.lastIndexOf(canon(state));
  return k >= 0 ? `the state after ${k} writes` : "no prefix of the writes (wrong data)";
}

type OpenResult = { ok: true; state: unknown[]; lines: string[] } | { ok: false; error: unknown; lines: string[] };

async function tryOpen(open: (logger: (l: string) => void) => Promise<Database>, what: string): Promise<OpenResult> {
  const lines: string[] = [];
  try {
    const db = await within(open((l) => lines.push(l)), 20_000, what);
    try {
      return { ok: true, state: dump(db), lines };
    } finally {
      await db.close();
    }
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("Timed out")) throw error;
    return { ok: false, error, lines };
  }
}

/** Checks one open result against the allowed outcomes; returns the outcome it matched. */
function check(r: OpenResult, allowed: Outcome[], ctx: string): Outcome {
  if (r.ok) {
    const match = allowed.find((o) => "state" in o && isState(r.state, o.state));
    assert.ok(
      match !== undefined,
      `open gave ${whichPrefix(r.state)}; expected ${allowed.map(describeOutcome).join(" or ")} ${ctx}\nlog: ${
        r.lines.join("\n")
      }`,
    );
    if ("state" in match && match.torn) {
      assert.ok(
        r.lines.some((l) => /torn/i.test(l)),
        `a torn tail is cut with a log line ${ctx}; got: ${r.lines.join(" | ")}`,
      );
    }
    return match;
  }
  const e = r.error as Error & { file?: string; offset?: number };
  assert.ok(
    e instanceof CorruptionError,
    `open threw ${e?.name}: ${e?.message}; only CorruptionError is allowed ${ctx}\n${e?.stack}`,
  );
  const match = allowed.find((o) => "corrupt" in o && o.corrupt.file === e.file && o.corrupt.offset === e.offset);
  assert.ok(
    match !== undefined,
    `open threw CorruptionError at ${e.file}:${e.offset} (${e.message}); expected ${
      allowed.map(describeOutcome).join(" or ")
    } ${ctx}`,
  );
  assert.ok(e.message.includes(e.file!), `the message names the file: ${e.message}`);
  return match;
}

function isState(state: unknown[], k: number): boolean {
  return canon(state) === canons[k];
}

/** Writes `files` into a real directory (for the real storage adapters). */
async function materialize(files: Map<string, Uint8Array>, dir: string): Promise<void> {
  await mkdir(join(dir, "wal"), { recursive: true });
  await mkdir(join(dir, "snapshots"), { recursive: true });
  for (const [p, b] of files) await writeFile(join(dir, p), b);
}

// The images: several segments (every reopen starts one) and two snapshots.
const PLANS = {
  // wal/61 (61..80), wal/81 (81..110), wal/111 (111..130), wal/131 (131..150); snapshots at
  // 60 and 130. A snapshot starts a new segment, so wal/1 and wal/31 (1..60) are removed.
  twoSnapshots: [[30], [30, "snap", 20], [30], [20, "snap", 20]],
  // wal/1, wal/31, wal/61; no snapshot: every segment is read.
  logOnly: [[30], [30], [30]],
  // wal/1 (1..30), wal/31 (31..50); one snapshot at 30.
  oneSnapshot: [[30, "snap", 20]],
  // 1 KiB segments: the log rotates inside one process; snapshots at 60 and 110.
  rotated: [[60, "snap", 50, "snap", 30]],
  // 1 KiB segments, two processes, no snapshot.
  rotatedLogOnly: [[60], [60]],
} as const;

type Plan = (number | "snap")[][];

async function buildAll() {
  return {
    twoSnapshots: await build("twoSnapshots", PLANS.twoSnapshots as unknown as Plan),
    logOnly: await build("logOnly", PLANS.logOnly as unknown as Plan),
    oneSnapshot: await build("oneSnapshot", PLANS.oneSnapshot as unknown as Plan),
    rotated: await build("rotated", PLANS.rotated as unknown as Plan, 1024),
    rotatedLogOnly: await build("rotatedLogOnly", PLANS.rotatedLogOnly as unknown as Plan, 1024),
  };
}

/** The segments run on without gaps or overlaps up to the last write. */
function assertContiguous(img: Image): void {
  for (let i = 1; i < img.segments.length; i++) {
    const prev = img.segments[i - 1];
    assert.equal(
      img.segments[i].first,
      prev.first + prev.frames.length,
      `${img.name}: ${img.segments[i].file} follows ${prev.file}`,
    );
  }
  const last = img.segments[img.segments.length - 1];
  assert.equal(last.first + last.frames.length - 1, img.n, `${img.name}: the log ends at the last write`);
}

describe(`Corruption (seed ${SEED})`, () => {
  it("the images have the layout the predictions assume", async () => {
    const { twoSnapshots, logOnly, oneSnapshot, rotated, rotatedLogOnly } = await buildAll();
    for (const img of [twoSnapshots, logOnly, oneSnapshot, rotated, rotatedLogOnly]) assertContiguous(img);
    assert.ok(rotated.segments.length >= 4, `small segments rotate: ${rotated.segments.map((s) => s.file)}`);
    assert.ok(rotated.segments[0].first <= 61, "the log reaches back to the older snapshot");
    assert.deepStrictEqual(rotated.snapshots, [
      "snapshots/00000000000000000060.snap",
      "snapshots/00000000000000000110.snap",
    ]);
    assert.equal(rotatedLogOnly.segments[0].first, 1);
    assert.ok(
      rotatedLogOnly.segments.length >= 6,
      `small segments rotate: ${rotatedLogOnly.segments.map((s) => s.file)}`,
    );
    assert.deepStrictEqual(twoSnapshots.segments.map((s) => s.first), [61, 81, 111, 131]);
    assert.deepStrictEqual(twoSnapshots.snapshots, [
      "snapshots/00000000000000000060.snap",
      "snapshots/00000000000000000130.snap",
    ]);
    assert.equal(twoSnapshots.n, 150);
    assert.deepStrictEqual(twoSnapshots.segments.map((s) => s.frames.length), [20, 30, 20, 20]);
    assert.deepStrictEqual(logOnly.segments.map((s) => s.first), [1, 31, 61]);
    assert.deepStrictEqual(logOnly.segments.map((s) => s.frames.length), [30, 30, 30]);
    assert.deepStrictEqual(logOnly.snapshots, []);
    assert.deepStrictEqual(oneSnapshot.segments.map((s) => s.first), [1, 31]);
    assert.deepStrictEqual(oneSnapshot.snapshots, ["snapshots/00000000000000000030.snap"]);
    // Undamaged, each opens to the full state.
    for (const img of [twoSnapshots, logOnly, oneSnapshot, rotated, rotatedLogOnly]) {
      const r = await tryOpen(
        (logger) => Database.open({ storage: storageWith(img.files), dir: "db", logger }),
        img.name,
      );
      check(r, [{ state: img.n }], `(undamaged ${img.name})`);
    }
  });

  it("random single-byte flips and truncations: a consistent prefix or CorruptionError at the right place, and repair opens", async () => {
    const images = await buildAll();
    const rand = prng(SEED);
    const realDir = await tempDir("corrupt");
    let trials = 0;
    const tally = new Map<string, number>();
    try {
      for (const img of Object.values(images)) {
        const names = [...img.files.keys()].sort();
        const count = img.name === "oneSnapshot" ? 60 : 100;
        for (let t = 0; t < count; t++) {
          // Favor the segments that are read and the snapshots.
          const file = names[randInt(rand, 0, names.length - 1)];
          const size = img.files.get(file)!.length;
          const m: Mutation = rand() < 0.65
            ? { file, kind: "flip", at: randInt(rand, 0, size - 1), xor: randInt(rand, 1, 255) }
            : { file, kind: "truncate", at: randInt(rand, 0, size - 1) };
          const ctx = `${replay} image ${img.name}, trial ${t}, ${JSON.stringify(m)} (file size ${size})`;
          const allowed = predict(img, m);
          const files = mutate(img.files, m);
          const r = await tryOpen(
            (logger) => Database.open({ storage: storageWith(files), dir: "db", snapshotInterval: 0, logger }),
            ctx,
          );
          const got = check(r, allowed, ctx);
          const key = `${img.name} ${m.file.split("/")[0]} ${m.kind} → ${
            "state" in got ? (got.torn ? "torn" : "prefix") : "CorruptionError"
          }`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          trials++;
          if ("corrupt" in got) {
            // repair: true cuts at the first bad record and opens; the cut is durable.
            const storage = storageWith(files);
            const rr = await tryOpen(
              (logger) => Database.open({ storage, dir: "db", repair: true, logger }),
              `repair ${ctx}`,
            );
            check(rr, [{ state: got.repairState }], `(repair: true) ${ctx}`);
            assert.ok(
              rr.lines.some((l) => /repair/i.test(l)),
              `repair says what it cut ${ctx}: ${rr.lines.join(" | ")}`,
            );
            const again = await tryOpen(
              (logger) => Database.open({ storage, dir: "db", logger }),
              `reopen after repair ${ctx}`,
            );
            check(again, [{ state: got.repairState }], `(reopen after repair) ${ctx}`);
          }
          // Every 8th trial: the same bytes through the runtime's real storage adapter.
          if (t % 8 === 0) {
            const dir = join(realDir, `${img.name}-${t}`);
            await materialize(files, dir);
            const rd = await tryOpen(
              (logger) => Database.open({ dir, snapshotInterval: 0, logger }),
              `real files ${ctx}`,
            );
            const gotReal = check(rd, allowed, `(real files) ${ctx}`);
            assert.deepStrictEqual(gotReal, got, `the real storage agrees with MemoryStorage ${ctx}`);
            await removeDir(dir);
          }
        }
      }
    } finally {
      await removeDir(realDir);
    }
    assert.ok(trials >= 400);
    // Each kind of outcome was exercised (the seeds are random; these are common enough).
    const kinds = [...tally.keys()].join("\n");
    for (
      const want of [
        /wal flip → CorruptionError/,
        /wal truncate → torn/,
        /snapshots flip → prefix/,
        /snapshots truncate → prefix/,
      ]
    ) {
      assert.ok(
        /* at least one */ [...tally.keys()].some((k) => want.test(k)),
        `outcome ${want} was never produced ${replay}:\n${kinds}`,
      );
    }
  });
});

describe("Corruption: the cases that must hold, one by one", () => {
  it("only the newest snapshot damaged → the previous snapshot plus the log give the full state", async () => {
    const { twoSnapshots: img } = await buildAll();
    const newest = img.snapshots[1];
    const size = img.files.get(newest)!.length;
    for (
      const m of [
        { file: newest, kind: "flip", at: 0, xor: 1 },
        { file: newest, kind: "flip", at: 30, xor: 0x80 },
        { file: newest, kind: "flip", at: Math.floor(size / 2), xor: 0xff },
        { file: newest, kind: "flip", at: size - 1, xor: 4 },
        { file: newest, kind: "truncate", at: size - 1 },
        { file: newest, kind: "truncate", at: 10 },
        { file: newest, kind: "truncate", at: 0 },
      ] as Mutation[]
    ) {
      const r = await tryOpen(
        (logger) => Database.open({ storage: storageWith(mutate(img.files, m)), dir: "db", logger }),
        JSON.stringify(m),
      );
      check(r, [{ state: img.n }], JSON.stringify(m));
      assert.ok(
        r.lines.some((l) => l.includes(newest.slice(10)) && /older snapshot/.test(l)),
        `the fallback is logged: ${r.lines.join(" | ")}`,
      );
    }
  });

  it("after a fallback, the next snapshot still leaves a usable fallback (the damaged one does not count as a generation)", async () => {
    const { twoSnapshots: img } = await buildAll();
    const newest = img.snapshots[1];
    const machine = new Machine(storageWith(mutate(img.files, { file: newest, kind: "flip", at: 40, xor: 0xff })));
    const model = await Database.open();
    for (let i = 1; i <= img.n; i++) write(model, i);
    const db = await Database.open({ storage: machine.process(), dir: "db", sync: "always", snapshotInterval: 0 });
    assert.deepStrictEqual(dump(db), dump(model), "fell back to the previous snapshot plus the log");
    for (let i = img.n + 1; i <= img.n + 10; i++) {
      write(db, i);
      write(model, i);
    }
    await db.snapshot(); // a new newest snapshot; the valid previous one must stay as the fallback
    for (let i = img.n + 11; i <= img.n + 20; i++) {
      write(db, i);
      write(model, i);
    }
    await db.flush();
    machine.crash();
    await abandon(db);
    // Now the new snapshot is damaged too.
    const snaps = (await machine.disk.list("db/snapshots")).filter((n) => n.endsWith(".snap")).sort();
    const latest = `db/snapshots/${snaps[snaps.length - 1]}`;
    const bytes = machine.disk.peek(latest, { durable: true })!;
    bytes[40] ^= 0xff;
    machine.disk.poke(latest, bytes);
    const lines: string[] = [];
    const r = await tryOpen(
      () => Database.open({ storage: machine.process(), dir: "db", logger: (l) => lines.push(l) }),
      "second fallback",
    );
    const expected = dump(model);
    await model.close();
    assert.ok(
      r.ok,
      `a valid older snapshot and the log behind it should replace the damaged newest one, got ${
        (r as { error?: unknown }).error
      } ` +
        `(snapshots on disk: ${snaps.join(", ")}; wal: ${(await machine.disk.list("db/wal")).join(", ")})`,
    );
    assert.deepStrictEqual(r.state, expected);
  });

  it("the only snapshot damaged, log complete from LSN 1 → full state from the log", async () => {
    const { oneSnapshot: img } = await buildAll();
    const snap = img.snapshots[0];
    const m: Mutation = { file: snap, kind: "flip", at: img.files.get(snap)!.length - 3, xor: 0x10 };
    const r = await tryOpen(
      (logger) => Database.open({ storage: storageWith(mutate(img.files, m)), dir: "db", logger }),
      "one snapshot",
    );
    check(r, [{ state: img.n }], "the only snapshot damaged");
  });

  it("both snapshots damaged and the log does not reach back → CorruptionError naming the snapshot", async () => {
    const { twoSnapshots: img } = await buildAll();
    let files = mutate(img.files, { file: img.snapshots[0], kind: "flip", at: 40, xor: 1 });
    files = mutate(files, { file: img.snapshots[1], kind: "flip", at: 40, xor: 1 });
    const r = await tryOpen(
      (logger) => Database.open({ storage: storageWith(files), dir: "db", logger }),
      "both snapshots",
    );
    assert.ok(!r.ok, "cannot open");
    const e = r.error as CorruptionError;
    assert.ok(e instanceof CorruptionError, `CorruptionError, got ${e}`);
    assert.ok(e.file !== undefined && img.snapshots.includes(e.file), `names a snapshot: ${e.file}`);
    assert.equal(typeof e.offset, "number");
  });

  it("mid-log damage → CorruptionError naming file and offset (MemoryStorage and real files)", async () => {
    const { logOnly: img } = await buildAll();
    const seg = img.segments[1];
    const frame = seg.frames[5];
    const files = mutate(img.files, { file: seg.file, kind: "flip", at: frame.o + 12, xor: 0x20 });
    const dir = await tempDir("midlog");
    try {
      await materialize(files, dir);
      for (
        const [how, open] of [
          [
            "memory",
            (logger: (l: string) => void) => Database.open({ storage: storageWith(files), dir: "db", logger }),
          ],
          ["real files", (logger: (l: string) => void) => Database.open({ dir, logger })],
        ] as const
      ) {
        const r = await tryOpen(open, how);
        assert.ok(!r.ok, `${how}: mid-log damage must not open`);
        const e = r.error as CorruptionError;
        assert.ok(e instanceof CorruptionError, `${how}: CorruptionError, got ${e}`);
        assert.equal(e.file, "wal/00000000000000000031.wal");
        assert.equal(e.offset, frame.o);
        assert.ok(e.message.includes("wal/00000000000000000031.wal") && e.message.includes(String(frame.o)), e.message);
      }
      // The failed open left nothing locked.
      const r = await tryOpen((logger) => Database.open({ dir, repair: true, logger }), "repair after failure");
      check(r, [{ state: 30 + 5 }], "repair on real files");
    } finally {
      await removeDir(dir);
    }
  });

  it("repair: true truncates at the first bad record, drops later segments, and the database keeps working", async () => {
    const { logOnly: img } = await buildAll();
    const seg = img.segments[1];
    const frame = seg.frames[10];
    const machine = new Machine(
      storageWith(mutate(img.files, { file: seg.file, kind: "flip", at: frame.e - 1, xor: 0x01 })),
    );
    const storage = machine.disk;
    const r = await tryOpen(
      (logger) => Database.open({ storage: machine.process(), dir: "db", repair: true, logger }),
      "repair",
    );
    check(r, [{ state: 40 }], "repair cuts before LSN 41");
    assert.ok(
      r.lines.some((l) => /repair/i.test(l) && l.includes(seg.file) && l.includes(String(frame.o))),
      r.lines.join(" | "),
    );
    // The close after the repair snapshotted LSN 40 and sealed the log with an empty wal/41.
    assert.deepStrictEqual((await storage.list("db/wal")).filter((n) => n.endsWith(".wal")), [
      "00000000000000000001.wal",
      "00000000000000000031.wal",
      "00000000000000000041.wal",
    ]);
    assert.equal(storage.peek("db/wal/00000000000000000041.wal")?.length, 0);
    // Writes continue from LSN 41; a crash and a reopen without repair keep them.
    const db = await Database.open({ storage: machine.process(), dir: "db", sync: "always" });
    const model = await Database.open();
    for (let i = 1; i <= 40; i++) write(model, i);
    for (let i = 41; i <= 60; i++) {
      write(db, i);
      write(model, i);
    }
    await db.flush();
    machine.crash();
    await abandon(db);
    const again = await Database.open({ storage: machine.process(), dir: "db" });
    assert.deepStrictEqual(dump(again), dump(model));
    await again.close();
    await model.close();
  });

  it("a torn tail (last segment cut mid-record) opens with the prefix, says so through logger, and the cut is durable", async () => {
    const { logOnly: img } = await buildAll();
    const seg = img.segments[2];
    const last = seg.frames[seg.frames.length - 1];
    for (const at of [last.o + 3, last.o + 8, last.o + 9, last.e - 1]) {
      const storage = storageWith(mutate(img.files, { file: seg.file, kind: "truncate", at }));
      const r = await tryOpen((logger) => Database.open({ storage, dir: "db", logger }), `torn at ${at}`);
      check(r, [{ state: img.n - 1, torn: true }], `torn tail at ${at}`);
      assert.ok(r.lines.some((l) => l.includes(seg.file) && /torn/i.test(l)), r.lines.join(" | "));
      assert.equal(storage.peek(`db/${seg.file}`, { durable: true })!.length, last.o, "the torn bytes are cut durably");
      storage.crash();
      const again = await tryOpen((logger) => Database.open({ storage, dir: "db", logger }), "reopen after the cut");
      check(again, [{ state: img.n - 1 }], "reopen after the cut");
      assert.ok(!again.lines.some((l) => /torn/i.test(l)), "nothing left to cut");
    }
    // A zero-filled tail (space the file system extended but never filled) is torn too.
    const bytes = img.files.get(seg.file)!;
    const zeroed = new Uint8Array(last.o + 4096);
    zeroed.set(bytes.subarray(0, last.o));
    const files = new Map(img.files).set(seg.file, zeroed);
    const r = await tryOpen((logger) => Database.open({ storage: storageWith(files), dir: "db", logger }), "zero tail");
    check(r, [{ state: img.n - 1, torn: true }], "zero-filled tail");
  });

  it("a torn tail on real files opens with the prefix and logs the cut", async () => {
    const { logOnly: img } = await buildAll();
    const seg = img.segments[2];
    const last = seg.frames[seg.frames.length - 1];
    const dir = await tempDir("torn");
    try {
      await materialize(mutate(img.files, { file: seg.file, kind: "truncate", at: last.o + 5 }), dir);
      const r = await tryOpen((logger) => Database.open({ dir, logger }), "real torn tail");
      check(r, [{ state: img.n - 1, torn: true }], "real torn tail");
      const wal = await readdir(join(dir, "wal"));
      assert.ok(wal.includes(seg.file.slice(4)));
    } finally {
      await removeDir(dir);
    }
  });

  it("a leftover snapshot temp file (crash mid-snapshot) is ignored and removed", async () => {
    const { twoSnapshots: img } = await buildAll();
    const files = new Map(img.files).set("snapshots/00000000000000000150.snap.tmp", new Uint8Array([1, 2, 3]));
    const storage = storageWith(files);
    const r = await tryOpen((logger) => Database.open({ storage, dir: "db", logger }), "tmp");
    check(r, [{ state: img.n }], "leftover .tmp");
    assert.ok(!(await storage.list("db/snapshots")).some((n) => n.endsWith(".tmp")));
  });
});
