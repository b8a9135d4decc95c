/**
 * `cyberdb check <dir>` and `cyberdb repair <dir>`: what `redis-check-aof`
 * does for Redis, for a CyberDB directory.
 *
 * Check reads every snapshot and every frame of every log segment — also
 * the segments a snapshot covers, which open skips — and reports each
 * problem with its file, byte offset and what is wrong. After a bad frame
 * whose length still makes sense it steps over it and goes on, but only when
 * the frame after it checks out (a CRC-32C match at a wrong position is a
 * 1-in-4-billion chance), so one flipped bit yields one finding, not a
 * cascade. It then reads the directory exactly as open would (`state.ts`)
 * and says whether open succeeds.
 *
 * Repair cuts where `Database.open({ repair: true })` would — the first bad
 * record of the log open reads, or the first record that checks out but
 * cannot be replayed — after saying exactly what goes (bytes, records, the
 * last LSN kept), asking, and copying the cut bytes aside.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { recordProblem, type WalRecord } from "../log/codec.ts";
import { checkFrame, HEADER_BYTES, MAX_FRAME_BYTES } from "../log/frame.ts";
import { applyCut, type WalCut } from "../log/reader.ts";
import { listSegments, type SegmentInfo } from "../log/segments.ts";
import { readSnapshot, snapshotLsn } from "../snapshot/snapshot.ts";
import { dirname, joinPath } from "../storage/paths.ts";
import type { Storage } from "../storage/types.ts";
import { type DirState, readState, WAL_CODEC } from "./state.ts";

/** How bad a finding is: damage, a torn tail (what a crash leaves; open cuts it), or a note. */
export type Severity = "damage" | "torn" | "note";

/** One thing check found, where it is, and what is wrong. */
export interface Finding {
  /** The file, relative to the database directory (`wal/…`, `snapshots/…`). */
  file: string;
  /** The byte offset in that file. */
  offset: number;
  /** How bad it is. */
  severity: Severity;
  /** What is wrong, for people. */
  problem: string;
}

/** One snapshot file as check found it. */
export interface SnapshotFile {
  /** `snapshots/<name>`. */
  file: string;
  /** Whether it checks out; `set-aside`: a `.damaged` file from an earlier open; `leftover`: a crash's `.tmp`. */
  status: "ok" | "damaged" | "set-aside" | "leftover";
  /** Its LSN, when it checks out. */
  lsn?: number;
  /** Collections in it, when it checks out. */
  collections?: number;
  /** Items (entries, elements, rows) in it, when it checks out. */
  items?: number;
}

/** One good record: its LSN and where its frame starts. */
export interface RecordPos {
  /** The record's LSN. */
  lsn: number;
  /** The byte offset of its frame header. */
  offset: number;
}

/** One log segment as check found it. */
export interface SegmentFile extends SegmentInfo {
  /** Its size in bytes. */
  bytes: number;
  /** The records that check out, in file order. */
  records: RecordPos[];
  /** Whether the newest good snapshot covers it (open does not read it). */
  covered: boolean;
}

/** Everything `check` found. */
export interface CheckReport {
  /** The database directory. */
  dir: string;
  /** Every snapshot file, newest first. */
  snapshots: SnapshotFile[];
  /** Every log segment, oldest first. */
  segments: SegmentFile[];
  /** Every finding, snapshots first, then the log in order. */
  findings: Finding[];
  /** The directory read as open reads it. */
  open: DirState;
  /** Whether anything is damaged (a torn tail is not damage). */
  damaged: boolean;
}

/**
 * Checks the database at `dir`, changing nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { checkDatabase } from "./check.ts";
 * const storage = new MemoryStorage();
 * const db = await Database.open({ dir: "db", storage });
 * db.createList("l", [1, 2, 3]);
 * await db.close();
 * const report = await checkDatabase(storage, "db");
 * assert.equal(report.damaged, false);
 * assert.equal(report.open.failure, null);
 * ```
 */
export async function checkDatabase(storage: Storage, dir: string): Promise<CheckReport> {
  const findings: Finding[] = [];
  const snapshots = await checkSnapshots(storage, dir, findings);
  const floor = snapshots.find((s) => s.status === "ok")?.lsn ?? 0;
  const segments = await checkSegments(storage, dir, floor, findings);
  const open = await readState(storage, dir);
  if (open.failure !== null) placeFailure(open.failure, segments, findings);
  return {
    dir,
    snapshots,
    segments,
    findings,
    open,
    damaged: findings.some((f) => f.severity === "damage") || open.failure !== null,
  };
}

async function checkSnapshots(storage: Storage, dir: string, findings: Finding[]): Promise<SnapshotFile[]> {
  const snapDir = joinPath(dir, "snapshots");
  const out: SnapshotFile[] = [];
  for (const name of (await storage.list(snapDir)).slice().reverse()) {
    const file = `snapshots/${name}`;
    if (snapshotLsn(name) !== null) {
      try {
        const snap = await readSnapshot(storage, joinPath(snapDir, name), file);
        out.push({ file, status: "ok", lsn: snap.lsn, collections: snap.collections.length, items: snap.items });
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        out.push({ file, status: "damaged" });
        findings.push({ file, offset: e.offset ?? 0, severity: "damage", problem: snapshotProblem(e.message) });
      }
    } else if (name.endsWith(".snap.damaged")) {
      out.push({ file, status: "set-aside" });
      findings.push({
        file,
        offset: 0,
        severity: "note",
        problem: "a damaged snapshot an earlier open set aside (kept for inspection; remove it when done)",
      });
    } else if (name.endsWith(".snap.tmp")) {
      out.push({ file, status: "leftover" });
      findings.push({
        file,
        offset: 0,
        severity: "note",
        problem: "a snapshot a crash left unfinished (never valid; the next open removes it)",
      });
    }
  }
  return out;
}

/** The part of a snapshot's CorruptionError message that says what is wrong. */
function snapshotProblem(message: string): string {
  const m = /is damaged at byte \d+: (.*?); the previous snapshot/.exec(message);
  return m ? m[1] : message;
}

async function checkSegments(
  storage: Storage,
  dir: string,
  floor: number,
  findings: Finding[],
): Promise<SegmentFile[]> {
  const infos = await listSegments(storage, dir);
  const out: SegmentFile[] = [];
  const walk: Walk = { prev: null, resync: false, floor };
  for (let i = 0; i < infos.length; i++) {
    const seg = infos[i];
    const last = i === infos.length - 1;
    const bytes = (await storage.read(seg.path)) ?? new Uint8Array(0);
    const covered = !last && infos[i + 1].firstLsn <= floor + 1;
    const records = scanSegment(bytes, seg, last, walk, findings);
    out.push({ ...seg, bytes: bytes.length, records, covered });
  }
  return out;
}

/** Where the walk through the log stands between records and segments. */
interface Walk {
  /** The LSN of the last good record. */
  prev: number | null;
  /** Set after a bad frame: the next record's LSN is not held against `prev`. */
  resync: boolean;
  /** The newest good snapshot's LSN: a gap at or below it loses nothing. */
  floor: number;
}

/** Walks every frame of one segment; returns its good records and adds findings. */
function scanSegment(bytes: Uint8Array, seg: SegmentInfo, last: boolean, walk: Walk, findings: Finding[]): RecordPos[] {
  const records: RecordPos[] = [];
  const add = (offset: number, severity: Severity, problem: string) =>
    findings.push({ file: seg.file, offset, severity, problem });
  let at = 0;
  while (at < bytes.length) {
    const length = checkFrame(bytes, at, last);
    if (typeof length !== "number") {
      if (length.torn) {
        add(
          at,
          "torn",
          `${length.reason}: a torn ${length.bytes}-byte tail, what a crash during a write leaves (open cuts it)`,
        );
        break;
      }
      const next = stepOver(bytes, at, last);
      add(
        at,
        "damage",
        next === null
          ? `${length.reason}; the ${length.bytes} bytes from here to the end of the segment cannot be read`
          : length.reason,
      );
      if (next === null) break;
      at = next;
      walk.resync = true;
      continue;
    }
    const end = at + HEADER_BYTES + length;
    const problem = recordAt(bytes, at, end, seg, walk);
    if (typeof problem === "string") {
      add(at, "damage", problem);
      walk.resync = true;
    } else {
      records.push({ lsn: problem, offset: at });
      walk.prev = problem;
      walk.resync = false;
    }
    at = end;
  }
  return records;
}

/** The LSN of the good record in `[at, end)`, or what is wrong with it (the rules of the log reader). */
function recordAt(bytes: Uint8Array, at: number, end: number, seg: SegmentInfo, walk: Walk): number | string {
  let record: WalRecord;
  try {
    record = WAL_CODEC.decode(bytes, at + HEADER_BYTES, end) as WalRecord;
  } catch (e) {
    return `checksum-valid payload does not decode: ${(e as Error).message}`;
  }
  const bad = recordProblem(record);
  if (bad !== null) return bad;
  const lsn = record.lsn;
  if (at === 0 && lsn !== seg.firstLsn) return `segment named for LSN ${seg.firstLsn} starts with LSN ${lsn}`;
  const prev = walk.prev;
  if (prev !== null && lsn <= prev) return `LSN ${lsn} does not follow LSN ${prev}`;
  if (prev !== null && !walk.resync && lsn > prev + 1 && lsn > walk.floor + 1) {
    return `LSNs ${prev + 1}..${lsn - 1} are missing before LSN ${lsn}`;
  }
  return lsn;
}

/**
 * Where the frame after a bad one at `at` starts, when its length field
 * still makes sense and the frame after it checks out; `null` otherwise.
 */
function stepOver(bytes: Uint8Array, at: number, last: boolean): number | null {
  const length = (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
  if (length === 0 || length > MAX_FRAME_BYTES) return null;
  const next = at + HEADER_BYTES + length;
  if (next > bytes.length) return null;
  if (next === bytes.length) return next;
  return typeof checkFrame(bytes, next, last) === "number" ? next : null;
}

/** Adds open's failure as a finding where the walk has none for it (a record that cannot be replayed). */
function placeFailure(failure: NonNullable<DirState["failure"]>, segments: SegmentFile[], findings: Finding[]): void {
  if (failure.lsn !== undefined) {
    for (const seg of segments) {
      const rec = seg.records.find((r) => r.lsn === failure.lsn);
      if (rec === undefined) continue;
      const reason = /cannot be replayed \((.*)\): the log/.exec(failure.error.message)?.[1] ?? failure.error.message;
      findings.push({
        file: seg.file,
        offset: rec.offset,
        severity: "damage",
        problem: `record LSN ${failure.lsn} checks out but cannot be replayed: ${reason}`,
      });
      return;
    }
  }
  const { file, offset } = failure.error;
  if (file !== undefined && findings.some((f) => f.file === file && f.offset === offset)) return;
  findings.push({ file: file ?? "", offset: offset ?? 0, severity: "damage", problem: failure.error.message });
}

/**
 * The report as printed by `cyberdb check`: one line per file, one per
 * finding (`DAMAGED <file> at byte <offset>: <what>`), then whether the
 * database opens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { checkDatabase, formatReport } from "./check.ts";
 * const storage = new MemoryStorage();
 * await (await Database.open({ dir: "db", storage })).close();
 * const text = formatReport(await checkDatabase(storage, "db")).join("\n");
 * assert.match(text, /^Result: OK/m);
 * ```
 */
export function formatReport(report: CheckReport): string[] {
  const lines: string[] = [];
  for (const s of report.snapshots) {
    if (s.status === "ok") {
      lines.push(`ok       ${s.file}: LSN ${s.lsn}, ${s.collections} collections, ${s.items} items`);
    }
  }
  for (const seg of report.segments) {
    const recs = seg.records;
    const span = recs.length === 0 ? "no records" : `${recs.length} records, LSN ${recs[0].lsn}..${recs.at(-1)!.lsn}`;
    const mark = report.findings.some((f) => f.file === seg.file && f.severity === "damage") ? "checked " : "ok      ";
    lines.push(
      `${mark} ${seg.file}: ${span}, ${seg.bytes} bytes${seg.covered ? " (covered by a snapshot: open skips it)" : ""}`,
    );
  }
  for (const f of report.findings) {
    const tag = f.severity === "damage" ? "DAMAGED " : f.severity === "torn" ? "torn    " : "note    ";
    lines.push(`${tag} ${f.file} at byte ${f.offset}: ${f.problem}`);
  }
  const open = report.open;
  if (open.failure === null) {
    lines.push(
      `Open: succeeds at LSN ${open.lsn}, ${open.engine.collections.size} collections (snapshot ${
        open.snapshotLsn === null ? "none" : `at LSN ${open.snapshotLsn}`
      }, then ${open.replayed} log records)${open.cut?.torn ? "; it cuts the torn tail first" : ""}`,
    );
  } else {
    lines.push(`Open: fails — ${open.failure.error.message}`);
  }
  const damage = report.findings.filter((f) => f.severity === "damage").length;
  lines.push(
    report.damaged
      ? `Result: DAMAGED (${damage} problem${damage === 1 ? "" : "s"})${
        open.failure !== null ? `; see what repair would cut: cyberdb repair ${report.dir}` : ""
      }`
      : "Result: OK",
  );
  return lines;
}

/** What `repair` would cut, and what that loses. */
export interface RepairPlan {
  /** The cut, as the log reader describes one (`applyCut` applies it). */
  cut: WalCut;
  /** The LSN the database has after the cut. */
  keptLsn: number;
  /** Records that checked out but are cut (in the cut segment after the cut, and in later segments). */
  lostRecords: RecordPos[];
  /** Bytes removed in all: the segment's tail and the later segments. */
  lostBytes: number;
}

/**
 * Plans a repair: where `Database.open({ repair: true })` would cut (or the
 * first record that cannot be replayed, when that comes first), or `null`
 * when open succeeds without cutting damage (a torn tail open cuts itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { checkDatabase, planRepair } from "./check.ts";
 * const storage = new MemoryStorage();
 * await (await Database.open({ dir: "db", storage })).close();
 * assert.equal(await planRepair(storage, "db", await checkDatabase(storage, "db")), null);
 * ```
 */
export async function planRepair(storage: Storage, dir: string, report: CheckReport): Promise<RepairPlan | null> {
  const state = await readState(storage, dir, { repair: true });
  let cut: WalCut | null = state.cut;
  if (state.failure !== null) {
    if (state.failure.lsn === undefined) throw state.failure.error;
    cut = cutAtRecord(report.segments, state.failure.lsn, state.failure.error.message);
  }
  if (cut === null || cut.torn) return null;
  const lost: RecordPos[] = [];
  let lostBytes = cut.bytes;
  for (const seg of report.segments) {
    if (seg.path === cut.path) lost.push(...seg.records.filter((r) => r.offset >= cut.offset));
    if (cut.dropped.includes(seg.path)) {
      lost.push(...seg.records);
      lostBytes += seg.bytes;
    }
  }
  return { cut, keptLsn: state.lsn, lostRecords: lost, lostBytes };
}

/** The cut in front of the record `lsn` (one that checks out but cannot be replayed). */
function cutAtRecord(segments: SegmentFile[], lsn: number, reason: string): WalCut {
  const i = segments.findIndex((s) => s.records.some((r) => r.lsn === lsn));
  if (i === -1) throw new CorruptionError(reason);
  const seg = segments[i];
  const offset = seg.records.find((r) => r.lsn === lsn)!.offset;
  return {
    file: seg.file,
    path: seg.path,
    offset,
    bytes: seg.bytes - offset,
    reason: `record LSN ${lsn} cannot be replayed`,
    torn: false,
    dropped: segments.slice(i + 1).map((s) => s.path),
  };
}

/**
 * The plan in words: exactly what goes and what stays.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describePlan } from "./check.ts";
 * const lines = describePlan({
 *   cut: { file: "wal/00000000000000000001.wal", path: "db/wal/00000000000000000001.wal", offset: 96, bytes: 40,
 *     reason: "checksum mismatch", torn: false, dropped: [] },
 *   keptLsn: 3,
 *   lostRecords: [{ lsn: 5, offset: 120 }],
 *   lostBytes: 40,
 * });
 * assert.match(lines[0], /^Cut wal\/00000000000000000001\.wal at byte 96 \(checksum mismatch\)/);
 * ```
 */
export function describePlan(plan: RepairPlan): string[] {
  const { cut, lostRecords } = plan;
  const lines = [
    `Cut ${cut.file} at byte ${cut.offset} (${cut.reason}): remove its last ${cut.bytes} bytes` +
    (cut.dropped.length > 0
      ? ` and ${cut.dropped.length} later segment(s) (${cut.dropped.map((p) => p.split("/").pop()).join(", ")})`
      : "") +
    `, ${plan.lostBytes} bytes in all.`,
    `Keeps every record up to LSN ${plan.keptLsn}; the database opens at LSN ${plan.keptLsn}.`,
  ];
  if (lostRecords.length > 0) {
    const lsns = lostRecords.map((r) => r.lsn);
    lines.push(
      `Loses the damaged record(s) and ${lostRecords.length} record(s) after them that still check out ` +
        `(LSN ${Math.min(...lsns)}..${Math.max(...lsns)}).`,
    );
  } else lines.push("No record after the damage checks out: only the damaged bytes are lost.");
  return lines;
}

/**
 * Copies what a cut removes into `backupDir` (`<segment>.from-byte-<offset>`
 * for the segment's tail, whole files for dropped segments), fsynced, then
 * applies the cut durably. Returns the files written.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { applyRepair } from "./check.ts";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db/wal");
 * const seg = await storage.create("db/wal/00000000000000000001.wal");
 * await seg.write(new Uint8Array([1, 2, 3, 4]));
 * await seg.close();
 * await applyRepair(storage, "db", {
 *   cut: { file: "wal/00000000000000000001.wal", path: "db/wal/00000000000000000001.wal", offset: 0, bytes: 4,
 *     reason: "zero-length frame", torn: false, dropped: [] },
 *   keptLsn: 0, lostRecords: [], lostBytes: 4,
 * }, "db/repair/now");
 * ```
 */
export async function applyRepair(
  storage: Storage,
  dir: string,
  plan: RepairPlan,
  backupDir: string,
): Promise<string[]> {
  const written: string[] = [];
  await storage.mkdir(backupDir);
  const copy = async (name: string, bytes: Uint8Array) => {
    const path = joinPath(backupDir, name);
    const file = await storage.create(path);
    try {
      await file.write(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    written.push(path);
  };
  const { cut } = plan;
  const tail = (await storage.read(cut.path)) ?? new Uint8Array(0);
  await copy(`${cut.path.split("/").pop()}.from-byte-${cut.offset}`, tail.subarray(cut.offset));
  for (const path of cut.dropped) await copy(path.split("/").pop()!, (await storage.read(path)) ?? new Uint8Array(0));
  await copy("README.txt", new TextEncoder().encode(describePlan(plan).join("\n") + "\n"));
  await storage.syncDir(backupDir);
  await storage.syncDir(dirname(backupDir));
  await applyCut(storage, dir, cut);
  return written;
}
