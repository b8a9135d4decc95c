// CyberDB's client quick start, remote: start a server first
//   npm start -- --password 123456          (or: bun run server.ts --password 123456)
// then run this with any runtime:
//   deno run -A examples/client.ts | bun run examples/client.ts | node --import tsx examples/client.ts
// CYBERDB_URL picks the server and transport (ws:// or http://).
import process from "node:process";
import { connect, KeyNotFoundError, type WebSocketConstructor } from "../client.ts";

const url = process.env.CYBERDB_URL ?? "ws://127.0.0.1:9980";
// Node 20 has no global WebSocket: the `ws` package stands in.
const WebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ??
  ((await import("ws")).WebSocket as unknown as WebSocketConstructor);

await using client = await connect(url, { password: process.env.CYBERDB_PASSWORD ?? "123456", WebSocket });

const name = `dict_${Date.now()}`;
const dict = await client.createDict(name);
await dict.set(0, 100);
await dict.set("key", "value");
console.log(await dict.get(0)); // 100
console.log(await dict.pop("key")); // "value": pop returns the value
try {
  await dict.pop("key");
} catch (e) {
  console.log(e instanceof KeyNotFoundError, (e as Error).message); // the connection stays usable
}

const list = await client.createList(`list_${Date.now()}`, [3, 1, 2]);
await list.append(0);
await list.sort();
console.log(await list.toArray()); // [0, 1, 2, 3]

{
  await using proxy = client.getProxy(); // CyberDB's proxy: a pooled connection
  const same = await proxy.getDict(name);
  for await (const [k, v] of same) console.log(k, v);
}
await client.drop(name);
