/**
 * Snapshots: the whole database at one LSN, written without stopping
 * writers for long, and read back with every byte checked.
 *
 * Capturing is synchronous and cheap — the slot arrays of every collection
 * are copied (a memcpy; stored values are immutable, every write replaces
 * them) — and encoding then runs in chunks with an `await` between writes,
 * so writers stall for one chunk at most, not for the whole database.
 *
 * File layout (`<dir>/snapshots/<20-digit LSN>.snap`, written as `.tmp`,
 * fsynced, renamed, directory fsynced):
 *
 * ```
 *  0         8         12        16                  24        28
 *  +---------+---------+---------+-------------------+---------+
 *  | magic   | version | flags=0 | LSN (u64 LE)      | CRC-32C |  header: CRC of bytes 0..24
 *  | CYDBSNAP| u32 LE  | u32 LE  |                   | u32 LE  |
 *  +---------+---------+---------+-------------------+---------+
 *  then WAL-style frames:  u32 length | u32 CRC-32C | msgpack payload
 *    frame 0     catalog  { lsn, collections: [{ name, kind, schema?, indexes?, count }] }
 *    frames 1..n chunks   { c: collection index, items: [...] }
 *                           dict:  [k0, v0, ver0, exp0, k1, v1, ver1, exp1, ...]
 *                                  (ver: LSN of the entry's last write; exp: expiry in ms, or null)
 *                           list:  [v0, v1, ...]
 *                           table: [[col0, col1, ..., ver], ...] in schema column order, the version last
 *    last frame  end      { end: true, frames: n }
 * ```
 *
 * Version 1 (before versions and expiry) held dict items as `[k0, v0, ...]`
 * and table rows without a version; it still loads, every entry with
 * version 0 and no expiry.
 *
 * @module
 */

import { decode, encode } from "../wire/codec.ts";
import { CorruptionError } from "../errors.ts";
import type { Engine, State } from "../core/engine.ts";
import { type ColumnsCapture, ColumnStore } from "../core/column_store.ts";
import { compileSchema, type TableSchema } from "../core/schema.ts";
import { SlotMap } from "../core/slot_map.ts";
import { cloneIn, type Key, type Value } from "../core/value.ts";
import { crc32c } from "../log/crc32c.ts";
import { buildIndex } from "../core/secondary_index.ts";
import { encodeFrame, scanFrames } from "../log/frame.ts";
import type { Storage } from "../storage/types.ts";

const MAGIC = new TextEncoder().encode("CYDBSNAP");
const VERSION = 2;
/** The oldest format this build reads. */
const OLDEST = 1;
const HEADER = 28;
/** Items per chunk frame: small enough that encoding one stalls writers < ~5 ms. */
const CHUNK = 2048;
/** Bytes gathered before one write call. */
const WRITE_BYTES = 1 << 20;
/** Encoding time after which the writer yields to the event loop. */
const YIELD_MS = 4;

function clock(): number {
  return globalThis.performance?.now() ?? Date.now();
}

/** One collection as captured for a snapshot. */
type Captured =
  | {
    kind: "dict";
    name: string;
    size: number;
    keys: (Key | undefined)[];
    vals: (Value | undefined)[];
    vers: number[];
    exps: number[] | null;
  }
  | { kind: "list"; name: string; size: number; items: Value[] }
  | {
    kind: "table";
    name: string;
    size: number;
    schema: TableSchema;
    indexes: { column: string; unique: boolean }[];
    columns: ColumnsCapture;
  };

/** The state of a database at one LSN, ready to be written. */
export interface Capture {
  /** The LSN of the last write the capture includes. */
  lsn: number;
  /** The collections, as copies of their slot arrays. */
  collections: Captured[];
}

/**
 * Captures every collection at this instant (synchronous, O(entries) memcpy).
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { capture } from "./snapshot.ts";
 * const c = capture(new Engine(), 0);
 * ```
 */
export function capture(engine: Engine, lsn: number): Capture {
  const collections: Captured[] = [];
  for (const s of engine.collections.values()) {
    if (s.kind === "dict") collections.push({ kind: "dict", name: s.name, size: s.store.size, ...s.store.capture() });
    else if (s.kind === "list") {
      collections.push({ kind: "list", name: s.name, size: s.items.length, items: s.items.slice() });
    } else {
      const indexes = [...s.indexes.values()].map((ix) => ({ column: ix.column, unique: ix.unique }));
      collections.push({
        kind: "table",
        name: s.name,
        size: s.store.size,
        schema: s.schema.def,
        indexes,
        columns: s.store.capture(),
      });
    }
  }
  return { lsn, collections };
}

/** Yields the chunk payloads of one captured collection. */
function* chunks(c: Captured): Generator<unknown[]> {
  if (c.kind === "list") {
    for (let i = 0; i < c.items.length; i += CHUNK) yield c.items.slice(i, i + CHUNK);
    return;
  }
  let items: unknown[] = [];
  let n = 0;
  if (c.kind === "table") {
    const { live, length, columns, vers } = c.columns;
    for (let i = 0; i < length; i++) {
      if (live[i] !== 1) continue;
      const row: unknown[] = columns.map((col) => col.get(i));
      row.push(vers[i]);
      items.push(row);
      if (++n === CHUNK) {
        yield items;
        items = [];
        n = 0;
      }
    }
    if (n > 0) yield items;
    return;
  }
  for (let i = 0; i < c.vals.length; i++) {
    const v = c.vals[i];
    if (v === undefined) continue;
    const exp = c.exps === null ? Infinity : c.exps[i];
    items.push(c.keys[i], v, c.vers[i], exp === Infinity ? null : exp);
    if (++n === CHUNK) {
      yield items;
      items = [];
      n = 0;
    }
  }
  if (n > 0) yield items;
}

/**
 * The snapshot file name for an LSN.
 *
 * @example
 * ```ts
 * import { snapshotName } from "./snapshot.ts";
 * snapshotName(42); // "00000000000000000042.snap"
 * ```
 */
export function snapshotName(lsn: number): string {
  return `${String(lsn).padStart(20, "0")}.snap`;
}

/**
 * The LSN of a snapshot file name, or `null` when it is not one.
 *
 * @example
 * ```ts
 * import { snapshotLsn } from "./snapshot.ts";
 * snapshotLsn("00000000000000000042.snap"); // 42
 * ```
 */
export function snapshotLsn(file: string): number | null {
  const m = /^(\d{20})\.snap$/.exec(file);
  return m ? Number(m[1]) : null;
}

/**
 * Writes a captured state atomically to `<dir>/snapshots/` and returns the
 * file's path and size. Awaits between chunks so that writers keep going.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { capture, writeSnapshot } from "./snapshot.ts";
 * await writeSnapshot(new MemoryStorage(), "db", capture(new Engine(), 0));
 * ```
 */
export async function writeSnapshot(
  storage: Storage,
  dir: string,
  cap: Capture,
): Promise<{ path: string; bytes: number }> {
  const snapDir = `${dir}/snapshots`;
  await storage.mkdir(snapDir);
  const path = `${snapDir}/${snapshotName(cap.lsn)}`;
  const tmp = `${path}.tmp`;
  const file = await storage.create(tmp);
  let bytes = 0;
  let done = false;
  try {
    const header = new Uint8Array(HEADER);
    const view = new DataView(header.buffer);
    header.set(MAGIC, 0);
    view.setUint32(8, VERSION, true);
    view.setUint32(12, 0, true);
    view.setBigUint64(16, BigInt(cap.lsn), true);
    view.setUint32(24, crc32c(header.subarray(0, 24)), true);
    let pending: Uint8Array[] = [header];
    let pendingBytes = HEADER;
    let frames = 0;
    let slice = clock();
    const put = async (payload: unknown) => {
      const frame = encodeFrame(encode(payload));
      pending.push(frame);
      pendingBytes += frame.length;
      frames++;
      if (pendingBytes >= WRITE_BYTES) {
        const buf = concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        bytes += buf.length;
        await file.write(buf);
      }
      // Every few milliseconds of encoding, let timers and I/O callbacks (other
      // writers) run, whether or not the storage call above had to wait.
      if (clock() - slice >= YIELD_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        slice = clock();
      }
    };
    const catalog = cap.collections.map((c) =>
      c.kind === "table"
        ? { name: c.name, kind: c.kind, schema: c.schema, indexes: c.indexes, count: c.size }
        : { name: c.name, kind: c.kind, count: c.size }
    );
    await put({ lsn: cap.lsn, collections: catalog });
    for (let i = 0; i < cap.collections.length; i++) {
      for (const items of chunks(cap.collections[i])) await put({ c: i, items });
    }
    await put({ end: true, frames });
    const rest = concat(pending, pendingBytes);
    bytes += rest.length;
    await file.write(rest);
    await file.sync();
    done = true;
  } finally {
    await file.close().catch(() => {});
    // A full disk must not stay full of a snapshot that will never be used.
    if (!done) await storage.remove(tmp).catch(() => {});
  }
  await storage.rename(tmp, path);
  await storage.syncDir(snapDir);
  return { path, bytes };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A snapshot read back and checked, not yet loaded. */
export interface LoadedSnapshot {
  /** The LSN it was taken at. */
  lsn: number;
  /** The collection states, ready to be installed. */
  collections: State[];
  /** How many rows, entries and elements it held. */
  items: number;
}

function bad(file: string, offset: number, what: string): never {
  throw new CorruptionError(
    `Snapshot ${file} is damaged at byte ${offset}: ${what}; the previous snapshot and the log are used when they cover it, otherwise restore a backup`,
    { file, offset },
  );
}

/** How far {@linkcode readSnapshot} has come. */
export interface SnapshotProgress {
  /** Items (dict entries, list elements, table rows) loaded so far. */
  items: number;
  /** Bytes of the file loaded so far. */
  bytes: number;
  /** The file's size. */
  totalBytes: number;
}

/** Options of {@linkcode readSnapshot}. */
export interface ReadSnapshotOptions {
  /**
   * Told after each chunk of items is loaded. When it returns a promise,
   * loading waits for it (a caller yields to the event loop this way).
   */
  onProgress?: (progress: SnapshotProgress) => void | Promise<void>;
}

/**
 * Reads and checks a whole snapshot file (header, every frame's CRC, the
 * catalog, counts and the end frame). Any damage → `CorruptionError`.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { readSnapshot } from "./snapshot.ts";
 * // await readSnapshot(new MemoryStorage(), "snapshots/00000000000000000000.snap", "00000000000000000000.snap");
 * ```
 */
export async function readSnapshot(
  storage: Storage,
  path: string,
  file: string,
  options: ReadSnapshotOptions = {},
): Promise<LoadedSnapshot> {
  const bytes = await storage.read(path);
  if (bytes === null) bad(file, 0, "the file is missing");
  if (bytes.length < HEADER) bad(file, 0, "it is shorter than its header");
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) bad(file, 0, "the magic bytes are wrong");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(24, true) !== crc32c(bytes.subarray(0, 24))) bad(file, 24, "the header checksum does not match");
  const version = view.getUint32(8, true);
  if (version < OLDEST || version > VERSION) {
    bad(file, 8, `format version ${version} is not supported by this build (${OLDEST} to ${VERSION})`);
  }
  const lsn = Number(view.getBigUint64(16, true));
  let scan;
  try {
    scan = scanFrames(bytes.subarray(HEADER), { file, last: false });
  } catch (e) {
    const at = e instanceof CorruptionError ? HEADER + (e.offset ?? 0) : HEADER;
    return bad(file, at, "a frame is torn or fails its checksum");
  }
  const payloads = scan.payloads;
  const offsets = scan.offsets.map((o) => o + HEADER);
  if (payloads.length < 2) bad(file, HEADER, "it has no catalog or no end frame");
  const read = (i: number) => {
    try {
      return decode(payloads[i]) as Record<string, unknown>;
    } catch {
      return bad(file, offsets[i], "a frame does not decode");
    }
  };
  const catalog = read(0) as { lsn?: unknown; collections?: unknown };
  if (catalog.lsn !== lsn || !Array.isArray(catalog.collections)) bad(file, offsets[0], "the catalog is malformed");
  const end = read(payloads.length - 1) as { end?: unknown; frames?: unknown };
  if (end.end !== true || end.frames !== payloads.length - 1) {
    bad(file, offsets[payloads.length - 1], "the end frame is missing");
  }
  const states: State[] = [];
  const counts: number[] = [];
  for (const entry of catalog.collections as Record<string, unknown>[]) {
    const { name, kind, schema } = entry ?? {};
    if (typeof name !== "string") bad(file, offsets[0], "a catalog entry has no name");
    if (kind === "dict") states.push({ kind, name, store: new SlotMap(), dropped: false });
    else if (kind === "list") states.push({ kind, name, items: [], copiedAt: 0, dropped: false });
    else if (kind === "table") {
      const compiled = compileSchema(schema);
      states.push({
        kind,
        name,
        schema: compiled,
        store: new ColumnStore(compiled),
        indexes: new Map(),
        dropped: false,
      });
    } else bad(file, offsets[0], `collection ${name} has unknown kind ${String(kind)}`);
    counts.push(0);
  }
  let items = 0;
  for (let f = 1; f < payloads.length - 1; f++) {
    const chunk = read(f) as { c?: unknown; items?: unknown };
    const s = states[chunk.c as number];
    if (s === undefined || !Array.isArray(chunk.items)) bad(file, offsets[f], "a chunk names no collection");
    const n = fill(s, chunk.items as unknown[], version);
    counts[chunk.c as number] += n;
    items += n;
    if (options.onProgress !== undefined) {
      const wait = options.onProgress({ items, bytes: offsets[f + 1], totalBytes: bytes.length });
      if (wait !== undefined) await wait;
    }
  }
  (catalog.collections as { count: number; indexes?: { column: string; unique: boolean }[] }[]).forEach((entry, i) => {
    if (entry.count !== counts[i]) {
      bad(file, offsets[0], `collection ${states[i].name} holds ${counts[i]} items, not ${entry.count}`);
    }
    const s = states[i];
    // Indexes are declared, not stored: rebuilt from the rows.
    if (s.kind === "table") {
      for (const ix of entry.indexes ?? []) s.indexes.set(ix.column, buildIndex(s, ix.column, ix.unique));
    }
  });
  return { lsn, collections: states, items };
}

/** Installs decoded items; binaries and nested values are copied out of the file buffer. */
function fill(s: State, items: unknown[], version: number): number {
  if (s.kind === "list") {
    for (const v of items) s.items.push(cloneIn(v));
    return items.length;
  }
  if (s.kind === "dict") {
    if (version === 1) {
      for (let i = 0; i < items.length; i += 2) s.store.set(items[i] as Key, cloneIn(items[i + 1]), null);
      return items.length / 2;
    }
    for (let i = 0; i < items.length; i += 4) {
      const exp = items[i + 3];
      s.store.set(
        items[i] as Key,
        cloneIn(items[i + 1]),
        null,
        items[i + 2] as number,
        exp === null ? Infinity : exp as number,
      );
    }
    return items.length / 4;
  }
  const { copyOut } = s.schema;
  const width = s.schema.names.length;
  for (const cells of items as Value[][]) {
    for (const i of copyOut) cells[i] = cloneIn(cells[i]);
    s.store.appendCells(cells, version === 1 ? 0 : cells[width] as number);
  }
  return items.length;
}

/**
 * Makes `engine` hold what `from` holds, keeping the collection state
 * objects `engine` already has wherever a collection of the same name, kind
 * (and schema, for tables) exists in both: their content is replaced in
 * place, so handles made before keep working. A collection `from` lacks is
 * marked dropped (its handles then say so). Used to roll a running database
 * back to its durable state after a failed fsync.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { restore } from "./snapshot.ts";
 * restore(new Engine(), new Engine());
 * ```
 */
export function restore(engine: Engine, from: Engine): void {
  const next = new Map<string, State>();
  for (const [name, s] of from.collections) {
    const live = engine.collections.get(name);
    next.set(name, live !== undefined && adopt(live, s) ? live : s);
  }
  for (const [name, live] of engine.collections) if (next.get(name) !== live) live.dropped = true;
  engine.collections.clear();
  for (const [name, s] of next) engine.collections.set(name, s);
}

/** Moves `src`'s content into `live` when they are the same collection; false otherwise. */
function adopt(live: State, src: State): boolean {
  if (live.kind === "dict" && src.kind === "dict") live.store = src.store;
  else if (live.kind === "list" && src.kind === "list") {
    live.items = src.items;
    live.copiedAt = 0;
  } else if (live.kind === "table" && src.kind === "table") {
    if (JSON.stringify(live.schema.def) !== JSON.stringify(src.schema.def)) return false;
    live.store = src.store;
    live.indexes = src.indexes;
  } else return false;
  live.dropped = false;
  return true;
}

/**
 * Replaces the engine's collections with a loaded snapshot's.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { install } from "./snapshot.ts";
 * install(new Engine(), { lsn: 0, collections: [], items: 0 });
 * ```
 */
export function install(engine: Engine, snap: LoadedSnapshot): void {
  engine.collections.clear();
  for (const s of snap.collections) engine.collections.set(s.name, s);
}
