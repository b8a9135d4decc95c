/**
 * The child process of `store_bench.ts`'s cold-open section: opens one
 * store of the kind named by its first argument in the directory (or file
 * path) named by its second, prints `opened` as soon as it is ready for
 * writes, then closes it and exits. `empty` opens nothing: the parent
 * subtracts its time (runtime start-up and this script) from the others.
 *
 * Every import is dynamic and inside the chosen branch, so each kind pays
 * exactly for the modules it needs, as a program that opens that store
 * would.
 *
 * ```sh
 * deno run -A --unstable-kv bench/store_open_child.ts cyberdb /tmp/x
 * bun run bench/store_open_child.ts sqlite /tmp/x.db
 * ```
 *
 * @module
 */

const [kind, path] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  (await import("node:process")).default.argv.slice(2);

/** Says the store is ready; the parent timestamps this line. */
function opened(): void {
  console.log("opened");
}

if (kind === "empty") {
  opened();
} else if (kind === "cyberdb") {
  const { Database } = await import("../mod.ts");
  const db = await Database.open({ dir: path });
  opened();
  await db.close();
} else if (kind === "kv") {
  // deno-lint-ignore no-explicit-any
  const kv = await (globalThis as any).Deno.openKv(path);
  opened();
  kv.close();
} else if (kind === "sqlite") {
  // deno-lint-ignore no-explicit-any
  const bun = (globalThis as any).Bun !== undefined;
  const Sqlite = bun
    ? (await import("bun:sqlite" as string)).Database
    : (await import("node:sqlite" as string)).DatabaseSync;
  const db = new Sqlite(path);
  db.exec("PRAGMA journal_mode=WAL");
  opened();
  db.close();
} else {
  throw new Error(`Unknown kind ${JSON.stringify(String(kind).slice(0, 40))}: use empty, cyberdb, kv or sqlite.`);
}
