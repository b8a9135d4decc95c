// One conformance suite over every Storage implementation this runtime can
// run: memory and node everywhere, deno too under Deno (node:fs works there).
// Memory-only crash semantics and real-process lock tests follow.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import process from "node:process";
import { ClosedError, LockedError, ValidationError } from "../src/errors.ts";
import { Database } from "../src/api/database.ts";
import { defaultStorage, DenoStorage, MemoryStorage, NodeStorage, storageHost } from "../src/storage/mod.ts";
import type { Storage } from "../src/storage/types.ts";
import { type DirState, PathIdentities, QUIET_MS } from "../src/storage/path_identity.ts";
import { conformanceCases, type ConformanceTarget } from "./fixtures/storage_conformance.ts";

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const isBun = Boolean((process.versions as Record<string, string | undefined>).bun);
const root = new URL("..", import.meta.url).pathname;

interface Impl {
  name: "memory" | "node" | "deno";
  make(): Storage;
  /** A storage that sees only what is durable: a fresh instance, or the same memory after crash(). */
  reopen(s: Storage): Storage;
}

const impls: Impl[] = [
  {
    name: "memory",
    make: () => new MemoryStorage(),
    reopen: (s) => {
      (s as MemoryStorage).crash();
      return s;
    },
  },
  { name: "node", make: () => new NodeStorage(), reopen: () => new NodeStorage() },
];
if (isDeno) impls.push({ name: "deno", make: () => new DenoStorage(), reopen: () => new DenoStorage() });

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

/** Runs `fn` with a fresh storage and directory, removing the directory after. */
async function withDir(impl: Impl, fn: (s: Storage, dir: string) => Promise<void>): Promise<void> {
  const storage = impl.make();
  const dir = impl.name === "memory" ? "db" : await mkdtemp(join(tmpdir(), "cyberdb-storage-"));
  try {
    await storage.mkdir(dir);
    await fn(storage, dir);
  } finally {
    if (impl.name !== "memory") await rm(dir, { recursive: true, force: true });
  }
}

async function writeFileVia(s: Storage, path: string, text: string, durable = true): Promise<void> {
  const f = await s.create(path);
  await f.write(enc(text));
  if (durable) await f.sync();
  await f.close();
}

for (const impl of impls) {
  describe(`Storage conformance: ${impl.name}`, () => {
    const target: ConformanceTarget = {
      kind: impl.name,
      make: impl.make,
      reopen: impl.reopen,
      dir: async () => {
        if (impl.name === "memory") return { path: "db", remove: () => Promise.resolve() };
        const path = await mkdtemp(join(tmpdir(), "cyberdb-storage-"));
        return { path, remove: () => rm(path, { recursive: true, force: true }) };
      },
    };
    for (const c of conformanceCases(target)) it(c.name, c.run);

    if (impl.name !== "memory") {
      it("preallocate writes real zeros ahead while the file is open, a chunk past each append that outruns them; close cuts them off", () =>
        withDir(impl, async (s, dir) => {
          const path = join(dir, "seg");
          const onDisk = async () => new Uint8Array(await readFile(path));
          const f = await s.create(path, { preallocate: 8192 });
          await f.write(enc("abc"));
          let disk = await onDisk();
          assert.equal(disk.length, 3 + 8192, "zeros a chunk past the first append");
          assert.equal(dec(disk.subarray(0, 3)), "abc");
          assert.ok(disk.subarray(3).every((b) => b === 0));
          await f.write(new Uint8Array(8000).fill(1)); // fits in the zeros: the file does not grow
          assert.equal((await onDisk()).length, 3 + 8192);
          await f.write(new Uint8Array(300).fill(2)); // outruns them: a chunk past its end
          disk = await onDisk();
          assert.equal(disk.length, 8303 + 8192);
          assert.ok(disk.subarray(3, 8003).every((b) => b === 1) && disk.subarray(8003, 8303).every((b) => b === 2));
          assert.equal(await f.size(), 8303);
          await f.close();
          assert.equal((await onDisk()).length, 8303, "closed: exactly what was appended");
        }));

      it("preallocate writes no zeros where they gain nothing: on tmpfs (/dev/shm) the file holds just its appends", async () => {
        const shm = await statfs("/dev/shm").catch(() => null);
        assert.equal(shm?.type, 0x01021994, "this test needs /dev/shm on tmpfs (Linux)");
        const dir = await mkdtemp(join("/dev/shm", "cyberdb-storage-"));
        try {
          const s = impl.make();
          const f = await s.create(join(dir, "seg"), { preallocate: 8192 });
          await f.write(enc("abc"));
          assert.equal((await readFile(join(dir, "seg"))).length, 3);
          await f.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("a lock file left by a dead pid is taken over", () =>
        withDir(impl, async (s, dir) => {
          // A pid far above any pid_max that Linux or macOS hands out.
          await writeFile(join(dir, "LOCK"), JSON.stringify({ pid: 2 ** 30, runtime: "node" }) + "\n");
          const lock = await s.lock(`${dir}/LOCK`);
          await lock.release();
        }));
    }
  });
}

/**
 * Every change of an entry is seen by `identity()` and `held()`, also past
 * the quiet time after which a directory's stat answers for its entries.
 */
async function identityPastQuietTime(s: Storage, dir: string): Promise<void> {
  // One directory per change, all past the quiet time together: one wait.
  const changes: Record<string, (d: string) => Promise<void>> = {
    "renamed over": async (d) => {
      await writeFile(join(d, "tmp"), "other");
      await rename(join(d, "tmp"), join(d, "f"));
    },
    "removed": (d) => rm(join(d, "f")),
    "its directory replaced": async (d) => {
      await rename(d, `${d}-old`);
      await mkdir(d);
      await writeFile(join(d, "f"), "new");
    },
    "its directory removed": (d) => rm(d, { recursive: true }),
    "left alone": () => Promise.resolve(),
  };
  const dirs = Object.keys(changes).map((_, i) => join(dir, `d${i}`));
  for (const d of dirs) {
    await mkdir(d);
    await writeFile(join(d, "f"), "first");
  }
  const lockDir = join(dir, "locked");
  await mkdir(lockDir);
  const lock = await s.lock(join(lockDir, "LOCK"));
  const before = await Promise.all(dirs.map((d) => s.identity!(join(d, "f"))));
  assert.ok(before.every((id) => typeof id === "string"));
  assert.equal(await lock.held!(), true);
  await new Promise((r) => setTimeout(r, QUIET_MS + 200));
  // Stat'ed again now, past the quiet time: from here on the directory's stat answers.
  assert.deepEqual(await Promise.all(dirs.map((d) => s.identity!(join(d, "f")))), before);
  assert.equal(await lock.held!(), true);
  assert.deepEqual(await Promise.all(dirs.map((d) => s.identity!(join(d, "f")))), before);
  await Promise.all(Object.values(changes).map((change, i) => change(dirs[i])));
  await writeFile(join(lockDir, "LOCK.new"), "someone else's");
  await rename(join(lockDir, "LOCK.new"), join(lockDir, "LOCK"));
  const after = await Promise.all(dirs.map((d) => s.identity!(join(d, "f"))));
  const names = Object.keys(changes);
  assert.notEqual(after[0], before[0], names[0]);
  assert.equal(typeof after[0], "string", names[0]);
  assert.equal(after[1], null, names[1]);
  assert.notEqual(after[2], before[2], names[2]);
  assert.equal(typeof after[2], "string", names[2]);
  assert.equal(after[3], null, names[3]);
  assert.equal(after[4], before[4], names[4]);
  assert.equal(await lock.held!(), false, "a LOCK renamed over is not held");
  await lock.release();
}

describe("identity() and held() on a real file system, past the quiet time (path_identity.ts)", () => {
  it("see a file renamed over, removed, its directory replaced or removed, a LOCK renamed over; not an untouched file", async () => {
    // Every file-system storage at once: one wait past the quiet time.
    await Promise.all(
      impls.filter((impl) => impl.name !== "memory").map((impl) =>
        withDir(impl, (s, dir) => identityPastQuietTime(s, dir))
      ),
    );
  });
});

describe("defaultStorage", () => {
  it("picks this runtime's storage", async () => {
    const s = await defaultStorage();
    assert.equal(s.kind, isDeno ? "deno" : "node");
    assert.equal((await defaultStorage({ dir: "./data" })).kind, isDeno ? "deno" : "node");
    assert.equal(storageHost(), isDeno ? "deno" : "node");
  });

  // The globals of each host, as far as the choice goes.
  const hosts = {
    deno: { Deno: {}, navigator: { userAgent: "Deno/2.5.0" } },
    node: { process: { versions: { node: "22.0.0" } }, navigator: { userAgent: "Node.js/22" } },
    bun: { process: { versions: { node: "22.0.0", bun: "1.2.0" } }, navigator: { userAgent: "Bun/1.2.0" } },
    // workerd with nodejs_compat: process.versions.node is there, and node:fs is in memory.
    workerd: { process: { versions: { node: "22.0.0" } }, navigator: { userAgent: "Cloudflare-Workers" } },
    browser: { navigator: { userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0" } },
    // A page has OPFS (navigator.storage.getDirectory) but no sync access handles: a dedicated Worker has both.
    page: {
      navigator: { userAgent: "Mozilla/5.0 Chrome/130.0", storage: { getDirectory: () => Promise.resolve({}) } },
      FileSystemFileHandle: { prototype: {} },
    },
    bare: {},
  };

  it("tells the host from its globals, workerd before node", () => {
    assert.equal(storageHost(hosts.deno), "deno");
    assert.equal(storageHost(hosts.node), "node");
    assert.equal(storageHost(hosts.bun), "node");
    assert.equal(storageHost(hosts.workerd), "workerd");
    assert.equal(storageHost(hosts.browser), "other");
    assert.equal(storageHost(hosts.bare), "other");
  });

  it("without dir, hosts without files get memory; with dir they get ValidationError naming the storage to pass", async () => {
    for (const name of ["workerd", "browser", "page", "bare"] as const) {
      assert.equal((await defaultStorage({ globals: hosts[name] })).kind, "memory", name);
      await assert.rejects(defaultStorage({ dir: "./data", globals: hosts[name] }), (e: unknown) => {
        assert.ok(e instanceof ValidationError, `${name}: ValidationError, got ${e}`);
        assert.match(e.message, /"\.\/data"/, "quotes the dir");
        assert.match(e.message, /storage: new MemoryStorage\(\)/, "names what to pass");
        if (name === "workerd") assert.match(e.message, /workerd/);
        else {assert.match(
            e.message,
            /dedicated Worker, where \{ dir \} uses OPFS \(OpfsStorage/,
            "says where OPFS works",
          );}
        return true;
      });
    }
    // A dedicated Worker's globals: { dir } picks OpfsStorage — which then finds that this runtime
    // (Deno, Bun or Node, not a browser) lacks the real thing; in Chromium, tests/opfs_test.ts opens one.
    const worker = {
      navigator: { userAgent: "Mozilla/5.0 Chrome/130.0", storage: { getDirectory: () => Promise.resolve({}) } },
      FileSystemFileHandle: { prototype: { createSyncAccessHandle: () => Promise.resolve({}) } },
    };
    await assert.rejects(
      defaultStorage({ dir: "./data", globals: worker }),
      /^ValidationError: OpfsStorage cannot run here/,
    );
    for (const name of ["deno", "node", "bun"] as const) {
      const kind = (await defaultStorage({ dir: "./data", globals: hosts[name] })).kind;
      assert.equal(kind, name === "deno" ? "deno" : "node", name);
    }
  });

  it("Database.open({ dir }) where navigator says Cloudflare-Workers → ValidationError, nothing created; without dir it opens in memory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cyberdb-workerd-"));
    const saved = Object.getOwnPropertyDescriptor(globalThis, "navigator");
    Object.defineProperty(globalThis, "navigator", {
      value: { userAgent: "Cloudflare-Workers" },
      configurable: true,
      writable: true,
    });
    try {
      await assert.rejects(Database.open({ dir: join(dir, "db") }), ValidationError);
      assert.deepEqual(await readdir(dir), [], "nothing was created");
      const mem = await Database.open();
      mem.createDict("d").set("a", 1);
      await mem.flush();
      await mem.close();
      // An explicit storage is the caller's decision, and works.
      const explicit = await Database.open({ dir: "db", storage: new MemoryStorage() });
      await explicit.close();
    } finally {
      if (saved) Object.defineProperty(globalThis, "navigator", saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
      await rm(dir, { recursive: true, force: true });
    }
    // And on this runtime, a dir is durable.
    const real = await mkdtemp(join(tmpdir(), "cyberdb-real-"));
    try {
      const db = await Database.open({ dir: real });
      db.createDict("d").set("a", 1);
      await db.close();
      const again = await Database.open({ dir: real });
      assert.deepEqual(again.getDict("d").toObject(), { a: 1 });
      await again.close();
    } finally {
      await rm(real, { recursive: true, force: true });
    }
  });
});

// ---- locks held by other processes ----------------------------------------

/** Starts a child of this runtime that takes `lockPath` with `kind` storage and waits. */
async function lockInChild(kind: string, lockPath: string, scratch: string) {
  const script = join(scratch, "child.mts");
  const mod = new URL("../src/storage/mod.ts", import.meta.url).href;
  await writeFile(
    script,
    `import process from "node:process";
import { DenoStorage, NodeStorage } from ${JSON.stringify(mod)};
const storage = process.argv[2] === "deno" ? new DenoStorage() : new NodeStorage();
await storage.lock(process.argv[3]);
console.log("locked");
setInterval(() => {}, 60_000);
`,
  );
  const args = isDeno ? ["run", "-A", script] : isBun ? [script] : ["--import", "tsx", script];
  const child = spawn(process.execPath, [...args, kind, lockPath], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Child did not lock in time: ${output}`)), 60_000);
    child.stdout!.on("data", (d) => {
      output += String(d);
      if (output.includes("locked")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on("data", (d) => (output += String(d)));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Child exited with ${code} before locking: ${output}`));
    });
  });
  return {
    pid: child.pid!,
    async kill() {
      child.kill("SIGKILL");
      await exited; // reaped: no zombie left for the liveness check to see
    },
  };
}

const realKinds = impls.filter((i) => i.name !== "memory");
for (const parent of realKinds) {
  for (const childKind of realKinds) {
    describe(`Locks across processes: ${childKind.name} child, ${parent.name} parent`, () => {
      it("a lock held by a live child is LockedError naming its pid", async () => {
        const scratch = await mkdtemp(join(tmpdir(), "cyberdb-lock-"));
        const child = await lockInChild(childKind.name, join(scratch, "LOCK"), scratch);
        try {
          await assert.rejects(parent.make().lock(join(scratch, "LOCK")), (e: unknown) => {
            assert.ok(e instanceof LockedError);
            assert.match(e.message, new RegExp(`process ${child.pid}\\b`));
            assert.ok(e.message.includes(join(scratch, "LOCK")));
            return true;
          });
        } finally {
          await child.kill();
          await rm(scratch, { recursive: true, force: true });
        }
      });

      if (parent === childKind) {
        it("a lock left by a SIGKILLed child is taken over", async () => {
          const scratch = await mkdtemp(join(tmpdir(), "cyberdb-lock-"));
          try {
            const child = await lockInChild(childKind.name, join(scratch, "LOCK"), scratch);
            await child.kill();
            const s = parent.make();
            const lock = await s.lock(join(scratch, "LOCK"));
            await assert.rejects(s.lock(join(scratch, "LOCK")), LockedError);
            await lock.release();
          } finally {
            await rm(scratch, { recursive: true, force: true });
          }
        });
      }
    });
  }
}

describe("Stale lock files whose pid now names another live process (pid reuse after a crash and reboot)", () => {
  const BOOT = "/proc/sys/kernel/random/boot_id";
  const OTHER_BOOT = "00000000-0000-4000-8000-000000000000";

  /** A live process that has nothing to do with any database: its pid and real start time. */
  async function unrelated(): Promise<{ pid: number; start: string; stop(): Promise<void> }> {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", reject);
    });
    const stat = await readFile(`/proc/${child.pid}/stat`, "utf8");
    const start = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/)[19];
    return {
      pid: child.pid!,
      start,
      async stop() {
        child.kill("SIGKILL");
        await exited;
      },
    };
  }

  async function withLockFile(content: object, fn: (dir: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "cyberdb-stale-"));
    try {
      await writeFile(join(dir, "LOCK"), JSON.stringify(content) + "\n");
      await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const opens = async (dir: string) => {
    const db = await Database.open({ dir });
    db.createDict("d").set("k", 1);
    await db.close();
  };

  it("a Node/Bun holder recorded with another start time → the database opens (the pid was reused)", async () => {
    const other = await unrelated();
    try {
      const boot = (await readFile(BOOT, "utf8")).trim();
      const since = new Date().toISOString();
      for (const runtime of ["node", "bun"]) {
        await withLockFile({ pid: other.pid, runtime, since, boot, start: String(Number(other.start) - 1) }, opens);
      }
    } finally {
      await other.stop();
    }
  });

  it("a holder recorded before a reboot (another boot id) → the database opens", async () => {
    const other = await unrelated();
    try {
      for (const runtime of ["node", "bun", "deno"]) {
        await withLockFile({
          pid: other.pid,
          runtime,
          since: "2020-01-01T00:00:00.000Z",
          boot: OTHER_BOOT,
          start: other.start,
        }, opens);
      }
    } finally {
      await other.stop();
    }
  });

  it("a Deno holder's file with a live pid: Deno (whose OS lock is free) opens; Node and Bun, which cannot see the OS lock, refuse", async () => {
    const other = await unrelated();
    try {
      // The format before boot and start time were recorded: nothing but the pid to go by.
      await withLockFile({ pid: other.pid, runtime: "deno", since: "2020-01-01T00:00:00.000Z" }, async (dir) => {
        if (isDeno) await opens(dir);
        else await assert.rejects(Database.open({ dir }), LockedError);
      });
    } finally {
      await other.stop();
    }
  });

  it("a holder whose boot, pid and start time all match a live process is still LockedError", async () => {
    const other = await unrelated();
    try {
      const boot = (await readFile(BOOT, "utf8")).trim();
      for (const runtime of ["node", "bun"]) {
        await withLockFile(
          { pid: other.pid, runtime, since: new Date().toISOString(), boot, start: other.start },
          async (dir) => {
            await assert.rejects(Database.open({ dir }), (e: unknown) => {
              assert.ok(e instanceof LockedError, `LockedError, got ${e}`);
              assert.match(e.message, new RegExp(`process ${other.pid} \\(${runtime}\\)`));
              return true;
            });
          },
        );
      }
    } finally {
      await other.stop();
    }
  });

  it("an empty LOCK (its holder killed between creating it and writing its pid) → the open waits for it to age and succeeds", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cyberdb-empty-lock-"));
    try {
      await writeFile(join(dir, "LOCK"), "");
      await opens(dir); // before: LockedError "did not record its pid yet" for the first 2 s
      // It took the stale file over and released it on close.
      await assert.rejects(readFile(join(dir, "LOCK")), { code: "ENOENT" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an empty LOCK whose live holder then records its pid → LockedError naming that holder", async () => {
    const other = await unrelated();
    const dir = await mkdtemp(join(tmpdir(), "cyberdb-empty-lock-"));
    let write: Promise<void> = Promise.resolve();
    try {
      const boot = (await readFile(BOOT, "utf8")).trim();
      await writeFile(join(dir, "LOCK"), "");
      // The holder mid-write: its pid lands while the opener waits.
      write = new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          const holder = { pid: other.pid, runtime: "node", since: new Date().toISOString(), boot, start: other.start };
          writeFile(join(dir, "LOCK"), JSON.stringify(holder) + "\n").then(resolve, reject);
        }, 200)
      );
      await assert.rejects(Database.open({ dir }), (e: unknown) => {
        assert.ok(e instanceof LockedError, `LockedError, got ${e}`);
        assert.match(e.message, new RegExp(`process ${other.pid} \\(node\\)`));
        return true;
      });
    } finally {
      await write.catch(() => {}); // settled before the directory goes, pass or fail
      await other.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("this runtime records boot id and start time in its lock file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cyberdb-ident-"));
    try {
      const db = await Database.open({ dir });
      const held = JSON.parse(await readFile(join(dir, "LOCK"), "utf8"));
      const boot = (await readFile(BOOT, "utf8")).trim();
      const stat = await readFile(`/proc/${process.pid}/stat`, "utf8");
      assert.equal(held.pid, process.pid);
      assert.equal(held.boot, boot);
      assert.equal(held.start, stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/)[19]);
      await db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

if (isDeno) {
  describe("Locks across storages in one process", () => {
    it("DenoStorage and NodeStorage see each other's locks", async () => {
      const scratch = await mkdtemp(join(tmpdir(), "cyberdb-lock-"));
      try {
        const path = join(scratch, "LOCK");
        const a = await new DenoStorage().lock(path);
        await assert.rejects(new NodeStorage().lock(path), LockedError);
        await a.release();
        const b = await new NodeStorage().lock(path);
        await assert.rejects(new DenoStorage().lock(path), LockedError);
        await b.release();
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
  });
}

// ---- MemoryStorage crash simulation -----------------------------------------

describe("MemoryStorage setFault()", () => {
  it("capacity: a write past it stores what fits and fails with ENOSPC; reads and removals still work", async () => {
    const s = new MemoryStorage();
    await s.mkdir("db");
    const f = await s.create("db/a");
    await f.write(enc("12345"));
    s.setFault({ capacity: 8 });
    await assert.rejects(f.write(enc("6789")), (e: unknown) => (e as { code?: string }).code === "ENOSPC");
    assert.equal(dec(await s.read("db/a")), "12345678", "a short write, as on a real disk");
    await assert.rejects(f.truncate(100), (e: unknown) => (e as { code?: string }).code === "ENOSPC");
    await f.truncate(2); // shrinking frees space
    await f.write(enc("ab"));
    s.setFault(null);
    await f.write(enc("-free"));
    assert.equal(dec(await s.read("db/a")), "12ab-free");
    await f.close();
  });

  it("readOnly: every change fails with EROFS, reads work, and clearing it restores writes", async () => {
    const s = new MemoryStorage();
    await s.mkdir("db");
    const f = await s.create("db/a");
    await f.write(enc("kept"));
    s.setFault({ readOnly: true });
    const erofs = (e: unknown) => (e as { code?: string }).code === "EROFS";
    await assert.rejects(f.write(enc("x")), erofs);
    await assert.rejects(f.sync(), erofs);
    await assert.rejects(f.truncate(0), erofs);
    await assert.rejects(s.create("db/b"), erofs);
    await assert.rejects(s.rename("db/a", "db/c"), erofs);
    await assert.rejects(s.remove("db/a"), erofs);
    await assert.rejects(s.mkdir("db/sub"), erofs);
    await assert.rejects(s.syncDir("db"), erofs);
    assert.equal(dec(await s.read("db/a")), "kept");
    const g = await s.openAppend("db/a"); // opening an existing file is a read-only act
    await g.close();
    s.setFault(null);
    await f.write(enc("!"));
    await f.close();
    assert.equal(dec(await s.read("db/a")), "kept!");
  });
});

describe("MemoryStorage crash()", () => {
  async function setup() {
    const s = new MemoryStorage();
    await s.mkdir("db");
    return s;
  }

  it("drops bytes written after the last sync", async () => {
    const s = await setup();
    const f = await s.create("db/a");
    await f.write(enc("kept"));
    await f.sync();
    await s.syncDir("db");
    await f.write(enc("-lost"));
    assert.equal(dec(s.peek("db/a")), "kept-lost");
    assert.equal(dec(s.peek("db/a", { durable: true })), "kept");
    s.crash();
    assert.equal(dec(await s.read("db/a")), "kept");
  });

  it("a created file is gone without syncDir, and empty without its own sync", async () => {
    const s = await setup();
    const f = await s.create("db/synced");
    await f.write(enc("x"));
    await f.sync();
    const g = await s.create("db/unsynced");
    await g.write(enc("y"));
    await s.syncDir("db");
    const h = await s.create("db/after-dir-sync");
    await h.sync();
    s.crash();
    assert.equal(dec(await s.read("db/synced")), "x");
    assert.deepEqual(await s.read("db/unsynced"), new Uint8Array(0));
    assert.equal(await s.read("db/after-dir-sync"), null);
    assert.deepEqual(await s.list("db"), ["synced", "unsynced"]);
  });

  it("reverts renames and removals not followed by syncDir", async () => {
    const s = await setup();
    await s.mkdir("db/snap");
    await writeFileVia(s, "db/snap/tmp", "v1");
    await writeFileVia(s, "db/gone", "g");
    await s.syncDir("db/snap");
    await s.syncDir("db");
    await s.rename("db/snap/tmp", "db/snap/final");
    await s.remove("db/gone");
    s.crash();
    assert.deepEqual(await s.list("db/snap"), ["tmp"]);
    assert.equal(dec(await s.read("db/gone")), "g");
    await s.rename("db/snap/tmp", "db/snap/final");
    await s.syncDir("db/snap");
    s.crash();
    assert.deepEqual(await s.list("db/snap"), ["final"]);
    assert.equal(dec(await s.read("db/snap/final")), "v1");
  });

  it("a truncate below the synced size is undone, then redone after sync", async () => {
    const s = await setup();
    await writeFileVia(s, "db/t", "0123456789");
    await s.syncDir("db");
    const f = await s.openAppend("db/t");
    await f.truncate(3);
    await f.write(enc("abc"));
    s.crash();
    assert.equal(dec(await s.read("db/t")), "0123456789");
    const g = await s.openAppend("db/t");
    await g.truncate(3);
    await g.sync();
    s.crash();
    assert.equal(dec(await s.read("db/t")), "012");
  });

  it("kills open handles and releases locks; the instance opens again", async () => {
    const s = await setup();
    const f = await s.openAppend("db/log");
    await f.write(enc("a"));
    await f.sync();
    await s.syncDir("db");
    const lock = await s.lock("db/LOCK");
    s.crash();
    await assert.rejects(f.write(enc("b")), ClosedError);
    await assert.rejects(f.sync(), ClosedError);
    await assert.rejects(f.size(), ClosedError);
    await assert.rejects(f.truncate(0), ClosedError);
    await f.close();
    const again = await s.lock("db/LOCK");
    await lock.release(); // the dead holder's release must not free the new one
    await assert.rejects(s.lock("db/LOCK"), LockedError);
    const g = await s.openAppend("db/log");
    await g.write(enc("c"));
    await g.close();
    assert.equal(dec(await s.read("db/log")), "ac");
    await again.release();
  });

  it("poke writes durable bytes and paths lists every file", async () => {
    const s = await setup();
    s.poke("db/x", enc("poked"));
    await writeFileVia(s, "db/y", "y", false);
    assert.deepEqual(s.paths(), ["db/x", "db/y"]);
    s.crash();
    assert.equal(dec(await s.read("db/x")), "poked");
    assert.deepEqual(s.paths(), ["db/x"]);
    assert.throws(() => s.poke("missing-dir/x", enc("?")));
  });

  it("rejects files in missing directories, like a real disk", async () => {
    const s = new MemoryStorage();
    await assert.rejects(s.create("nodir/a"));
    await assert.rejects(s.openAppend("nodir/a"));
  });
});

describe("PathIdentities: a file's identity from its directory's stat once that stayed the same", () => {
  /** A fake file system and clock: `dirs` and `files` are what the stats answer. */
  function fake() {
    const fs = {
      now: 0,
      dirs: new Map<string, DirState>([["/db", { id: "1:1", times: "10,10" }]]),
      files: new Map<string, string>([["/db/f", "1:7"]]),
      fileStats: 0,
    };
    const ids = new PathIdentities({
      dir: (p) => Promise.resolve(fs.dirs.get(p) ?? null),
      file: (p) => Promise.resolve((fs.fileStats++, fs.files.get(p) ?? null)),
      now: () => fs.now,
    });
    return { fs, ids };
  }

  it("stats the file until a stat made QUIET_MS after the directory was first seen still finds it the same", async () => {
    const { fs, ids } = fake();
    assert.equal(await ids.identity("/db/f"), "1:7");
    fs.now += QUIET_MS - 1;
    assert.equal(await ids.identity("/db/f"), "1:7");
    assert.equal(fs.fileStats, 2, "not yet trusted: stat'ed each time");
    fs.now += 1;
    assert.equal(await ids.identity("/db/f"), "1:7"); // this stat makes it trusted
    assert.equal(await ids.identity("/db/f"), "1:7");
    assert.equal(await ids.identity("/db/f"), "1:7");
    assert.equal(fs.fileStats, 3, "trusted: the directory's stat answers");
  });

  it("a directory whose times or identity changed, or that is gone, sends it back to the file", async () => {
    const { fs, ids } = fake();
    await ids.identity("/db/f");
    fs.now += QUIET_MS;
    await ids.identity("/db/f");
    // The entry renamed over: the directory's times moved.
    fs.files.set("/db/f", "1:8");
    fs.dirs.set("/db", { id: "1:1", times: "20,20" });
    assert.equal(await ids.identity("/db/f"), "1:8");
    // Not trusted again until the new times stayed for QUIET_MS.
    fs.files.set("/db/f", "1:9"); // (a change a coarse clock might not show)
    assert.equal(await ids.identity("/db/f"), "1:9");
    // The directory replaced by another with the same times: its identity differs.
    fs.now += QUIET_MS;
    await ids.identity("/db/f");
    fs.dirs.set("/db", { id: "1:2", times: "20,20" });
    fs.files.set("/db/f", "1:10");
    assert.equal(await ids.identity("/db/f"), "1:10");
    fs.dirs.delete("/db");
    assert.equal(await ids.identity("/db/f"), null);
  });

  it("never trusts a missing file, nor a directory without times", async () => {
    const { fs, ids } = fake();
    fs.files.delete("/db/f");
    assert.equal(await ids.identity("/db/f"), null);
    fs.now += QUIET_MS;
    assert.equal(await ids.identity("/db/f"), null);
    fs.files.set("/db/f", "1:11"); // created without the directory's times moving (a coarse clock)
    assert.equal(await ids.identity("/db/f"), "1:11");
    fs.dirs.set("/db", { id: "1:1", times: null });
    const before = fs.fileStats;
    fs.now += 10 * QUIET_MS;
    for (let i = 0; i < 3; i++) await ids.identity("/db/f");
    assert.equal(fs.fileStats, before + 3, "no times: every call stats the file");
  });

  it("a state seen once, then again after QUIET_MS without a file stat in between, is trusted only after one", async () => {
    const { fs, ids } = fake();
    await ids.identity("/db/f");
    fs.now += 10 * QUIET_MS;
    fs.files.set("/db/f", "1:12"); // a change the directory's times did not show
    assert.equal(await ids.identity("/db/f"), "1:12", "the trusting call stats the file itself");
  });
});
