// Writes src/cloudflare/client_bundle.ts: the browser bundle of client.ts
// (the same esbuild build the server makes at GET /client.js, see
// src/server/bundle.ts) as a string constant, for the Durable Object to
// serve, since no bundler runs inside a Worker. Committed, so a fresh clone,
// `wrangler deploy` and a package user need no build step;
// tests/cloudflare_bundle_test.ts fails when it is not what client.ts builds
// to today, and says to run this:
//
//   npm run build:client        (node --import tsx scripts/build_client.ts)
import { writeFile } from "node:fs/promises";
import { CLIENT_BUNDLE_PATH, clientBundleModule } from "./client_bundle_source.ts";

const path = new URL(`../${CLIENT_BUNDLE_PATH}`, import.meta.url);
const text = await clientBundleModule();
await writeFile(path, text);
console.log(`wrote ${CLIENT_BUNDLE_PATH} (${text.length} bytes)`);
