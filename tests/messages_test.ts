// Messages read as English and say what happened (issue 13, item 6): a type
// or class name in a message takes the article it is spoken with — "an
// Int32", "an Int16Array", but "a UInt8" and "a Uint8ClampedArray" — embedded
// and in the client's own checks; a missing password is not called wrong;
// the browser bundle keeps class names, so its errors read KeyNotFoundError.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { AuthError, Database, KeyNotFoundError, ValidationError } from "../mod.ts";
import { connect } from "../client.ts";
import { checkArgs } from "../src/client/values.ts";
import { AuthGuard, passwordChecker } from "../src/server/auth.ts";
import { CLIENT_BUNDLE } from "../src/cloudflare/client_bundle.ts";
import { startServer } from "./server_process.ts";

describe("messages", () => {
  it("a query operand of the wrong type says which type to pass", async () => {
    const db = await Database.open();
    const t = db.createTable({
      name: "t",
      columns: [{ name: "id", type: "Int32", primaryKey: true }, { name: "u", type: "UInt8" }, {
        name: "i",
        type: "Int64",
      }],
    });
    assert.throws(() => t.where("id", "=", "x" as never).toArray(), {
      name: "ValidationError",
      message: /: pass an Int32 value$/,
    });
    assert.throws(() => t.query({ where: { column: "i", op: ">", value: "x" } }), { message: /pass an Int64 value$/ });
    assert.throws(() => t.count({ column: "u", op: "<", value: "x" }), { message: /pass a UInt8 value$/ });
    await db.close();
  });

  it("the client names a value it cannot send with its class and the right article", () => {
    const cases: [unknown, string][] = [
      [new Int16Array(2), "an Int16Array"],
      [new ArrayBuffer(2), "an ArrayBuffer"],
      [new Error("e"), "an Error"],
      [new Uint8ClampedArray(2), "a Uint8ClampedArray"],
      [new Map(), "a Map"],
    ];
    for (const [value, named] of cases) {
      assert.throws(() => checkArgs("dict.set", ["d", "k", value]), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.match(e.message, new RegExp(`^Argument 2 of dict\\.set is ${named},`));
        return true;
      });
    }
  });

  it("a missing password is told apart from a wrong one", async () => {
    const guard = new AuthGuard(passwordChecker("secret"));
    assert.match(guard.verify("10.0.0.7", undefined)!.message, /^This server needs a password and none was given/);
    assert.match(guard.verify("10.0.0.8", "guess")!.message, /^Wrong password/);
    const server = await startServer(["--memory", "--password", "123456"]);
    try {
      await assert.rejects(connect(server.http), (e: unknown) => {
        assert.ok(e instanceof AuthError);
        assert.match(e.message, /none was given/);
        return true;
      });
    } finally {
      await server.stop();
    }
  });

  it("the browser bundle keeps class names: its errors read KeyNotFoundError, not a minified name", async () => {
    // A file of its own: Bun does not load a module this size from a data: URL.
    const dir = await mkdtemp(join(tmpdir(), "cyberdb-bundle-"));
    const file = join(dir, "client.mjs");
    await writeFile(file, CLIENT_BUNDLE);
    const bundle = await import(pathToFileURL(file).href).finally(() => rm(dir, { recursive: true, force: true }));
    const e = new bundle.KeyNotFoundError('Key "k" is not in dict "d"');
    assert.equal(e.name, new KeyNotFoundError("").name);
    assert.match(String(e), /^KeyNotFoundError: Key "k"/);
  });
});
