// What the Cloudflare deployment is built from: the prebuilt client bundle
// is current, the Worker bundles for the browser platform with nothing
// marked external (so no node: module is reachable from it: workerd without
// nodejs_compat could not load one), and wrangler builds the ready
// wrangler.jsonc.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { CLIENT_BUNDLE_PATH, clientBundleModule } from "../scripts/client_bundle_source.ts";
import { ROOT, tempDir } from "./fixtures/workerd.ts";
import { runtime } from "./server_process.ts";

/** `entry` bundled by esbuild for the browser platform, minified, nothing external (a node: import fails the build). */
async function browserBundle(entry: string): Promise<string> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    format: "esm",
    platform: "browser",
    minify: true,
    write: false,
    logLevel: "silent",
    legalComments: "none",
  });
  await esbuild.stop?.();
  assert.deepEqual(result.errors, []);
  return result.outputFiles[0].text;
}

describe("Cloudflare build", () => {
  it("src/cloudflare/client_bundle.ts is what client.ts builds to today", async () => {
    const committed = await readFile(join(ROOT, CLIENT_BUNDLE_PATH), "utf8");
    const fresh = await clientBundleModule();
    assert.ok(
      committed === fresh,
      `${CLIENT_BUNDLE_PATH} is out of date with client.ts: run \`npm run build:client\` and commit it`,
    );
  });

  for (const entry of ["mod.ts", "storage.ts"]) {
    it(`${entry} bundles for the browser platform, nothing external, and imports no node: module`, async () => {
      const code = await browserBundle(entry);
      assert.doesNotMatch(code, /\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\brequire\s*\(\s*["']node:/);
    });
  }

  it("the Worker bundles for the browser platform, nothing external, and its code imports no node: module", async () => {
    const code = await browserBundle("examples/cloudflare_worker.ts");
    assert.doesNotMatch(code, /\bfrom\s*["']node:/, "no static import of a node: module");
    assert.doesNotMatch(code, /\bimport\s*\(\s*["']node:/, "no dynamic import of a node: module");
    assert.doesNotMatch(code, /\brequire\s*\(\s*["']node:/, "no require of a node: module");
    assert.match(code, /CyberDBObject/);
  });

  // wrangler is the same program whatever runtime runs this file: built once, from Node's run.
  if (runtime() === "node") {
    it("wrangler builds wrangler.jsonc (no nodejs_compat) with the CyberDBObject binding", async () => {
      const out = await tempDir("wrangler");
      try {
        const r = await new Promise<{ code: number | null; text: string }>((resolve) => {
          const child = spawn(
            join(ROOT, "node_modules/.bin/wrangler"),
            ["deploy", "--dry-run", "--outdir", out.path],
            {
              cwd: ROOT,
              stdio: ["ignore", "pipe", "pipe"],
              env: {
                ...process.env,
                WRANGLER_SEND_METRICS: "false",
                CLOUDFLARE_CF_FETCH_ENABLED: "false",
                NO_COLOR: "1",
              },
            },
          );
          let text = "";
          child.stdout!.on("data", (b) => (text += b));
          child.stderr!.on("data", (b) => (text += b));
          const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
          child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, text });
          });
        });
        assert.equal(r.code, 0, r.text);
        assert.match(r.text, /env\.CYBERDB \(CyberDBObject\)\s+Durable Object/);
        const config = await readFile(join(ROOT, "wrangler.jsonc"), "utf8");
        assert.doesNotMatch(config, /"compatibility_flags"[^\]]*nodejs_compat/);
        assert.match(config, /"new_sqlite_classes":\s*\["CyberDBObject"\]/);
      } finally {
        await out.remove();
      }
    });
  }
});
