// The Worker behind `npm run dev:cf` and wrangler.jsonc: one CyberDB database
// per Durable Object, routed by name. Connect with the unchanged client:
//
//   const client = await connect("ws://127.0.0.1:8787/db/mydb", { password });
//
// Your own Worker needs only these two lines (from "@cyberdb/core/cloudflare").
export { CyberDBObject } from "../cloudflare.ts";
import { createWorker } from "../cloudflare.ts";

export default createWorker();
