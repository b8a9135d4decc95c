#!/usr/bin/env node
/**
 * The `cyberdb` command: `serve`, `cli`, `check`, `repair`, `dump`, `load`,
 * `stats` (`cyberdb help` lists them). Runs on Deno (`deno run -A cli.ts`),
 * Bun (`bun run cli.ts`) and Node (`node --import tsx cli.ts`), or as the
 * package's `cyberdb` bin (`bin/cyberdb.mjs`: `npx cyberdb …`). `serve` is
 * `server.ts` itself, with its flags; the others live in `src/cli/`.
 *
 * @module
 */

import process from "node:process";
import { runServer, USAGE as SERVER_USAGE } from "./server.ts";
import { runCommand } from "./src/cli/main.ts";

const argv = process.argv.slice(2);
if (argv[0] === "serve") {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(SERVER_USAGE.replace("Usage: server.ts [flags]", "Usage: cyberdb serve [flags]"));
  } else {
    await runServer(argv.slice(1), process.env);
  }
} else {
  // `cyberdb dump … | head`: a reader that stops early is not an error to report.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
  const code = await runCommand(argv, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    env: process.env,
  });
  // Everything written reaches the pipe before the process ends.
  await new Promise((resolve) => process.stdout.write("", resolve));
  await new Promise((resolve) => process.stderr.write("", resolve));
  process.exit(code);
}
