#!/usr/bin/env node
// The `cyberdb` command as npm links it (`npx cyberdb …`, package.json
// "bin"). Plain JavaScript, so Node runs it without a TypeScript loader.
//
// Which code it runs:
//   a checkout (cli.ts is here)  Deno and Bun import cli.ts as it is; Node
//                                registers tsx (a devDependency) first
//   a built package (dist/)      dist/cli.js, compiled by scripts/build.mjs
// The source wins when it can run, so a stale dist/ in a checkout is never
// what answers. Either way it runs in this process: `serve` gets the
// signals itself, and the exit status is the command's.
import { existsSync } from "node:fs";
import process from "node:process";

const source = new URL("../cli.ts", import.meta.url);
const built = new URL("../dist/cli.js", import.meta.url);
const g = globalThis;

async function tsxRegistered() {
  try {
    const { register } = await import("tsx/esm/api");
    register();
    return true;
  } catch {
    return false;
  }
}

if (existsSync(source) && (g.Deno !== undefined || g.Bun !== undefined || await tsxRegistered())) {
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  console.error(
    "cyberdb: found neither dist/cli.js (build it: node scripts/build.mjs) nor a way to run cli.ts " +
      "(install the devDependencies: npm install; or run it directly: deno run -A cli.ts)",
  );
  process.exit(2);
}
