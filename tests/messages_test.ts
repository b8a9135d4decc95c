// Messages read as English (issue 13, item 6): a type or class name in a
// message takes the article it is spoken with — "an Int32", "an Int16Array",
// but "a UInt8" and "a Uint8ClampedArray" — embedded and in the client's own
// checks before a call is sent.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Database, ValidationError } from "../mod.ts";
import { checkArgs } from "../src/client/values.ts";

describe("articles in messages", () => {
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
});
