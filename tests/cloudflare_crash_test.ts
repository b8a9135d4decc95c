// The crash test on Cloudflare's runtime: the workerd process serving a
// CyberDBObject (sync "always", its default) is SIGKILLed at random moments
// while one client keeps many writes in flight over a WebSocket, then
// restarted on the same Durable Object storage. After every restart:
//   - the object opens (recovery never fails);
//   - every write that was acknowledged is there, with its value;
//   - an atomic pair is all or nothing;
//   - nothing appears that was never sent, and each writer's keys form a
//     prefix of what it sent (it sends key n+1 only after n was answered).
//
// Run once per test command, from Node's run only: the process killed is
// workerd, the same program whichever runtime runs this file, and the loop
// takes 30-60 s. CYBERDB_CF_CRASH_KILLS raises the number of kills (at
// least 20), CYBERDB_CF_CRASH_SEED replays a run.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { connect } from "../client.ts";
import { prng, randInt } from "./fixtures/prng.ts";
import { seedFromEnv } from "./fixtures/durability_common.ts";
import { bundleWorker, startWorkerd, tempDir } from "./fixtures/workerd.ts";
import { runtime, webSocket } from "./server_process.ts";

const KILLS = Math.max(20, Number(process.env.CYBERDB_CF_CRASH_KILLS) || 21);
const SEED = seedFromEnv("CYBERDB_CF_CRASH_SEED");
const PASSWORD = "crash";
/** Writers with a write in flight at any moment (each waits for its answer before the next). */
const WRITERS = 48;
/** The longest a generation runs before its kill: the whole loop stays bounded. */
const MAX_LOAD_MS = 1500;

/** What one writer sent and what was acknowledged. */
interface Writer {
  /** Keys sent, in order: `w<i>:<n>` (single) or the pair `p<i>:<n>:a` / `p<i>:<n>:b`. */
  sent: string[];
  acked: Set<string>;
}

if (runtime() === "node") {
  describe(`Cloudflare crash test: SIGKILL workerd at random moments under load (seed ${SEED}, ${KILLS} kills)`, () => {
    it("every acknowledged write survives, atomic pairs are all or nothing, each writer's keys are a prefix", async () => {
      const rand = prng(SEED);
      const dir = await tempDir("cf-crash");
      const script = (await bundleWorker("tests/fixtures/cf_test_worker.ts", dir.path)).path;
      const persist = join(dir.path, "state");
      const WebSocket = await webSocket();
      const writers: Writer[] = [];
      const start = () => startWorkerd({ script, persist, vars: { CYBERDB_PASSWORD: PASSWORD } });
      const where = (g: number) => `[replay with CYBERDB_CF_CRASH_SEED=${SEED}; generation ${g}]`;
      let acknowledged = 0;
      try {
        for (let g = 0; g <= KILLS; g++) {
          const w = await start();
          try {
            const client = await connect(`${w.ws}/db/crash`, { password: PASSWORD, WebSocket, reconnect: false });
            const d = g === 0 ? await client.createDict("d") : await client.getDict("d");
            // What survived every kill so far.
            const state = await d.toObject() as Record<string, number>;
            for (const [i, wr] of writers.entries()) {
              let gap = false;
              for (const key of wr.sent) {
                const pair = key.endsWith(":a") ? key.slice(0, -2) : null;
                const present = key in state;
                if (wr.acked.has(key)) assert.ok(present, `acknowledged ${key} is missing ${where(g)}`);
                if (present) {
                  assert.ok(!gap, `writer ${i}: ${key} is there but an earlier key is not ${where(g)}`);
                  assert.equal(state[key], wr.sent.indexOf(key), `${key} has the value written ${where(g)}`);
                } else {
                  gap = true;
                }
                if (pair !== null) {
                  assert.equal(present, `${pair}:b` in state, `the pair ${pair} is half there ${where(g)}`);
                }
              }
            }
            const known = new Set(
              writers.flatMap((wr) => wr.sent.flatMap((k) => k.endsWith(":a") ? [k, k.slice(0, -2) + ":b"] : [k])),
            );
            for (const key of Object.keys(state)) assert.ok(known.has(key), `${key} was never sent ${where(g)}`);
            if (g === KILLS) break;

            // Load, and a kill at a random moment of it.
            const running: Promise<void>[] = [];
            let killed = false;
            for (let i = 0; i < WRITERS; i++) {
              const wr: Writer = { sent: [], acked: new Set() };
              const id = writers.push(wr) - 1;
              running.push((async () => {
                for (let n = 0; !killed; n++) {
                  const atomic = n % 5 === 4;
                  const key = atomic ? `p${id}:${n}:a` : `w${id}:${n}`;
                  wr.sent.push(key);
                  try {
                    if (atomic) {
                      await client.atomic([
                        { op: "dict.set", args: ["d", key, n] },
                        { op: "dict.set", args: ["d", `p${id}:${n}:b`, n] },
                      ]);
                    } else {
                      await d.set(key, n);
                    }
                  } catch {
                    return; // the kill: not acknowledged, may or may not be there
                  }
                  wr.acked.add(key);
                  acknowledged++;
                }
              })());
            }
            await new Promise((r) => setTimeout(r, randInt(rand, 50, MAX_LOAD_MS)));
            killed = true;
            await w.kill();
            await Promise.all(running);
            await client.close();
          } finally {
            await w.kill();
          }
        }
        assert.ok(acknowledged > KILLS * 10, `only ${acknowledged} writes were acknowledged: the load did not run`);
      } finally {
        await dir.remove();
      }
    });
  });
}
