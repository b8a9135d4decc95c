// The crash test with real processes. A child of the runtime under test
// (tests/fixtures/crash_worker.ts) writes continuously to a real directory —
// dict sets, list appends, table upserts and multi-op transactions — and
// prints `ack <n>` once it has seen its first n writes acknowledged as
// durable. The parent SIGKILLs it at a random moment (seeded), reopens the
// directory in-process and checks that:
//   - reopening never fails;
//   - every acknowledged write is there;
//   - the state is exactly the state after some prefix of the writes (so
//     each transaction is all or nothing, and nothing appears that was
//     never written) — computed by replaying the same writes on a model;
// across the three sync modes, with automatic snapshots switched on and off.
//
// CYBERDB_CRASH_KILLS raises the number of kills (total over the three
// modes, default 21); CYBERDB_CRASH_SEED replays a failing run.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import { join } from "node:path";
import { Database } from "../mod.ts";
import {
  crashCount,
  crashSetup,
  crashWrite,
  dump,
  removeDir,
  runtime,
  seedFromEnv,
  sleep,
  spawnChild,
  tempDir,
  within,
} from "./fixtures/durability_common.ts";
import { prng, randInt } from "./fixtures/prng.ts";

type Sync = "always" | "interval" | "manual";
const SYNCS: Sync[] = ["always", "interval", "manual"];

const TOTAL_KILLS = Math.max(3, Number(process.env.CYBERDB_CRASH_KILLS) || 21);
const KILLS_PER_MODE = Math.ceil(TOTAL_KILLS / SYNCS.length);
const SEED = seedFromEnv("CYBERDB_CRASH_SEED");

/** Copies a database directory (files and subdirectories). */
async function copyDir(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.isDirectory()) await copyDir(join(from, entry.name), join(to, entry.name));
    else await writeFile(join(to, entry.name), await readFile(join(from, entry.name)));
  }
}

async function listing(dir: string): Promise<string> {
  const out: string[] = [];
  for (const sub of ["wal", "snapshots"]) {
    const names = await readdir(join(dir, sub)).catch(() => [] as string[]);
    out.push(`${sub}: ${names.join(" ")}`);
  }
  return out.join("; ");
}

describe(`Crash test: SIGKILL a ${runtime()} child at random moments (seed ${SEED}, ${KILLS_PER_MODE} kills per sync mode)`, () => {
  for (const [m, sync] of SYNCS.entries()) {
    it(`sync "${sync}": every acknowledged write survives, transactions are all or nothing, reopen never fails`, async () => {
      const seed = (SEED + m * 0x51ed27) >>> 0;
      const rand = prng(seed);
      const dir = await tempDir(`crash-${sync}`);
      const model = await Database.open();
      const where = (g: number, extra = "") =>
        `[replay with CYBERDB_CRASH_SEED=${SEED}; runtime ${runtime()}, sync "${sync}", generation ${g}${extra}]`;
      try {
        // The collections exist before the first child: every child only writes.
        const init = await Database.open({ dir });
        crashSetup(init);
        await init.close();
        crashSetup(model);

        let lastOriginalCheck = -1;
        for (let g = 0; g < KILLS_PER_MODE; g++) {
          const opts = {
            dir,
            sync,
            g,
            seed,
            flushInterval: sync === "interval" ? [2, 10, 50][randInt(rand, 0, 2)] : undefined,
            snapshotWalBytes: [0, 4096, 65536, undefined][randInt(rand, 0, 3)],
            snapshotInterval: [0, 25, undefined][randInt(rand, 0, 2)],
            maxWrites: 3000,
          };
          const child = spawnChild("crash_worker.ts", [JSON.stringify(opts)]);
          let acked = 0;
          child.onLine((line) => {
            if (line.startsWith("ack ")) acked = Math.max(acked, Number(line.slice(4)));
          });
          const early = rand() < 0.15;
          const delay = early ? randInt(rand, 0, 400) : randInt(rand, 0, 350);
          try {
            if (!early) await child.waitFor((l) => l === "ready", 60_000, `the child to open ${where(g)}`);
            await sleep(delay);
          } finally {
            await child.kill();
          }
          assert.equal(
            child.exit?.signal,
            "SIGKILL",
            `the child must run until killed, it exited ${JSON.stringify(child.exit)} ${where(g)}\n${child.output()}`,
          );

          // Check on a copy half of the time, so that the next child itself
          // recovers the crashed directory (stale lock included).
          const onCopy = rand() < 0.5;
          const checkDir = onCopy ? `${dir}-copy${g}` : dir;
          if (onCopy) await copyDir(dir, checkDir);
          const files = await listing(checkDir);
          const lines: string[] = [];
          let db: Database;
          try {
            db = await within(
              Database.open({ dir: checkDir, logger: (l) => lines.push(l) }),
              60_000,
              `reopen ${where(g)}`,
            );
          } catch (e) {
            assert.fail(
              `Reopening after SIGKILL failed: ${(e as Error)?.stack ?? e} ${where(g)}\nfiles: ${files}\nlog: ${
                lines.join("\n")
              }`,
            );
          }
          try {
            const ctx = where(
              g,
              `, killed ${early ? "early" : "after ready"} +${delay} ms, acked ${acked}, options ${
                JSON.stringify({ ...opts, dir: undefined })
              }`,
            );
            const k = crashCount(db, g);
            assert.ok(
              k >= acked,
              `only ${k} writes came back but ${acked} were acknowledged as durable ${ctx}\nfiles: ${files}\nlog: ${
                lines.join("\n")
              }`,
            );
            if (process.env.CYBERDB_CRASH_VERBOSE) {
              console.log(`${sync} g${g}: recovered ${k} writes, acked ${acked} ${ctx} ${files}`);
            }
            for (let i = 0; i < k; i++) crashWrite(model, g, i);
            assert.deepStrictEqual(
              dump(db),
              dump(model),
              `the recovered state is not the state after the first ${k} writes ${ctx}\nfiles: ${files}\nlog: ${
                lines.join("\n")
              }`,
            );
          } finally {
            await db.close();
            if (onCopy) await removeDir(checkDir);
          }
          if (!onCopy) lastOriginalCheck = g;
        }
        if (lastOriginalCheck !== KILLS_PER_MODE - 1) {
          // The last check ran on a copy: the directory itself must recover the same state.
          const db = await within(Database.open({ dir }), 60_000, `final reopen ${where(KILLS_PER_MODE)}`);
          try {
            assert.deepStrictEqual(
              dump(db),
              dump(model),
              `final reopen of the original directory ${where(KILLS_PER_MODE)}`,
            );
          } finally {
            await db.close();
          }
        }
      } finally {
        await model.close();
        await removeDir(dir);
      }
    });
  }
});
