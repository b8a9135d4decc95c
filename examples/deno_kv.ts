// A database kept in Deno KV instead of files, served over HTTP and WebSocket
// with the project's own app: what runs on Deno Deploy (where Deno.openKv()
// with no path is the project's KV database) or on any machine with Deno.
//
//   deno run -A --unstable-kv examples/deno_kv.ts ./data.kv     # a local KV file
//   deno run -A --unstable-kv examples/deno_kv.ts               # Deno's default KV
//
// Then, from any client (Deno, Bun, Node, a browser):
//   const client = await connect("ws://127.0.0.1:9981/db", { password });
//
// Environment: PORT (default 9981), HOST (default 127.0.0.1), CYBERDB_PASSWORD
// (required unless HOST is a loopback address). One process writes the
// database: a second one gets LockedError until the first closes, or until
// its lease (10 s) runs out after it died.
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import { Database, LockedError } from "../mod.ts";
import { createApp, isLoopback } from "../server.ts";
import { DenoKvStorage } from "../storage.ts";

const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
const port = Number(Deno.env.get("PORT") ?? 9981);
const password = Deno.env.get("CYBERDB_PASSWORD");
if (password === undefined && !isLoopback(hostname)) {
  console.error(`Set CYBERDB_PASSWORD: HOST ${JSON.stringify(hostname)} is reachable from other machines.`);
  Deno.exit(2);
}

const storage = new DenoKvStorage({ path: Deno.args[0] });
const db = await openWaiting();
const served = createApp(db, { upgradeWebSocket, password });
const app = new Hono().route("/db", served.app);
const server = Deno.serve({
  hostname,
  port,
  onListen: (a) => console.log(`cyberdb on Deno KV: ws://${a.hostname}:${a.port}/db`),
}, app.fetch);

// Stop taking requests, flush, snapshot into KV, give the lease back.
const stop = async () => {
  await served.drain();
  await server.shutdown();
  await db.close();
  storage.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

/**
 * Opens the database; while another process holds the lease, waits (a
 * restart right after a crash finds the dead process's lease still running,
 * for at most its 10 s) — up to 15 s, then gives up with the LockedError.
 */
async function openWaiting(): Promise<Database> {
  const deadline = Date.now() + 15_000;
  for (let said = false;; said = true) {
    try {
      return await Database.open({ dir: "app", storage, sync: "always" });
    } catch (e) {
      if (!(e instanceof LockedError) || Date.now() > deadline) throw e;
      if (!said) console.error(`${e.message} Waiting...`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
