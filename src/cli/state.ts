/**
 * A database directory read the way `Database.open` reads it — the newest
 * snapshot that checks out, then every log record after it replayed through
 * the operation table — without writing anything: no temp file removed, no
 * torn tail cut, no snapshot set aside, no new segment. `check`, `repair`
 * and `dump <dir>` are built on it.
 *
 * @module
 */

import { Engine } from "../core/engine.ts";
import { loadSnapshot, Replayer } from "../durable/persistence.ts";
import { CorruptionError } from "../errors.ts";
import type { WalCodec } from "../log/codec.ts";
import { readWal, type WalCut } from "../log/reader.ts";
import type { SegmentInfo } from "../log/segments.ts";
import type { Storage, StorageLock } from "../storage/types.ts";
import { joinPath } from "../storage/paths.ts";
import { decodeRange, encode } from "../wire/codec.ts";
import { LockedError, ValidationError } from "../errors.ts";

/**
 * The log's codec, as the database writes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WAL_CODEC } from "./state.ts";
 * const bytes = WAL_CODEC.encode({ lsn: 1, op: "db.createDict", args: ["d"] });
 * assert.deepEqual(WAL_CODEC.decode(bytes, 0, bytes.length), { lsn: 1, op: "db.createDict", args: ["d"] });
 * ```
 */
export const WAL_CODEC: WalCodec = { encode, decode: decodeRange };

/** What reading a directory found. */
export interface DirState {
  /** The rebuilt state (expiry frozen at the moment of reading; see {@linkcode readState}). */
  engine: Engine;
  /** The LSN of the snapshot loaded, or `null` when the log alone was replayed. */
  snapshotLsn: number | null;
  /** Snapshots that did not check out (open skips them, newest first). */
  damagedSnapshots: CorruptionError[];
  /** The last LSN recovered. */
  lsn: number;
  /** Log records replayed. */
  replayed: number;
  /** The log's segments. */
  segments: SegmentInfo[];
  /**
   * A torn tail that open would cut; with `repair`, where the damage starts
   * (what `Database.open({ repair: true })` would cut).
   */
  cut: WalCut | null;
  /**
   * Why open fails (`null`: it succeeds). `lsn` is set when a record
   * checked out but could not be replayed (its file and offset are then
   * the log's business: see `check.ts`).
   */
  failure: { error: CorruptionError; lsn?: number } | null;
}

/**
 * Reads the database at `dir` as open would, writing nothing. With `repair`
 * a damaged log is not a failure but a `cut` (as `{ repair: true }` opens).
 * The state's clock is frozen at `now` (default: the time of reading), so
 * what counts as expired, and every `dict.ttl`, is measured from one instant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { execute } from "../ops/mod.ts";
 * import { readState } from "./state.ts";
 * const storage = new MemoryStorage();
 * const db = await Database.open({ dir: "db", storage });
 * db.createDict("d").set("k", 1);
 * await db.flush(); // durable, and the database still open: a running server's files
 * const state = await readState(storage, "db");
 * assert.equal(state.failure, null);
 * assert.equal(execute(state.engine, "dict.get", ["d", "k"]), 1);
 * await db.close();
 * ```
 */
export async function readState(
  storage: Storage,
  dir: string,
  options: { repair?: boolean; now?: number } = {},
): Promise<DirState> {
  const engine = new Engine();
  engine.replaying = true;
  // Infinity: every snapshot counts, and nothing is removed (see loadSnapshot).
  const base = await loadSnapshot(engine, storage, dir, () => {}, Infinity);
  const afterLsn = base.snapshot?.lsn ?? 0;
  engine.lsn = afterLsn;
  let replayed = 0;
  let failedLsn: number | undefined;
  const state: DirState = {
    engine,
    snapshotLsn: base.snapshot?.lsn ?? null,
    damagedSnapshots: [],
    lsn: afterLsn,
    replayed: 0,
    segments: [],
    cut: null,
    failure: null,
  };
  if (base.damaged !== null) state.damagedSnapshots.push(base.damaged);
  try {
    const replayer = new Replayer(engine);
    const wal = await readWal(storage, dir, {
      afterLsn,
      repair: options.repair,
      codec: WAL_CODEC,
      onRecord: (record) => {
        failedLsn = record.lsn;
        replayer.apply(record);
        failedLsn = undefined;
        replayed++;
      },
    });
    state.segments = wal.segments;
    state.cut = wal.cut;
    state.lsn = Math.max(afterLsn, wal.lastLsn ?? 0);
  } catch (e) {
    if (!(e instanceof CorruptionError)) throw e;
    state.failure = failedLsn === undefined ? { error: e } : { error: e, lsn: failedLsn };
    state.lsn = failedLsn === undefined ? engine.lsn : failedLsn - 1;
  }
  state.replayed = replayed;
  engine.replaying = false;
  const now = options.now ?? Date.now();
  engine.clock = () => now;
  return state;
}

/**
 * Makes sure `dir` holds a database (a `wal/` or `snapshots/` folder):
 * `ValidationError` saying what is there otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { expectDatabase } from "./state.ts";
 * await assert.rejects(expectDatabase(new MemoryStorage(), "nowhere"), /does not exist/);
 * ```
 */
export async function expectDatabase(storage: Storage, dir: string): Promise<void> {
  const names = await storage.list(dir);
  if (names.includes("wal") || names.includes("snapshots")) return;
  const where = JSON.stringify(dir.length > 120 ? dir.slice(0, 117) + "..." : dir);
  throw new ValidationError(
    names.length === 0
      ? `No database at ${where}: the directory does not exist or is empty; pass the server's --dir`
      : `No database at ${where}: it has no wal/ or snapshots/ folder; pass the directory the server was started with (--dir)`,
  );
}

/**
 * Takes the database's `LOCK` for a command that must not run beside a
 * live server; with `force`, takes nothing (returns `null`). A held lock is
 * `LockedError` with what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * import { lockForCommand } from "./state.ts";
 * const storage = new MemoryStorage();
 * await storage.mkdir("db");
 * const lock = await lockForCommand(storage, "db", "check", false);
 * await assert.rejects(lockForCommand(storage, "db", "check", false), /pass --force/); // held
 * await lock?.release();
 * ```
 */
export async function lockForCommand(
  storage: Storage,
  dir: string,
  command: string,
  force: boolean,
): Promise<StorageLock | null> {
  if (force) return null;
  try {
    return await storage.lock(joinPath(dir, "LOCK"));
  } catch (e) {
    if (!(e instanceof LockedError)) throw e;
    const hint = command === "repair"
      ? "A log is never cut under a running database: stop the server first."
      : `To ${command} while the server runs, pass --force (its newest records may then look torn).`;
    throw new LockedError(`${e.message} ${hint}`, { cause: e });
  }
}
