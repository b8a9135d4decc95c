// The operation table (DESIGN §5): every op named in src/ops/signatures.ts
// (the names the remote facades call) has its entry in OPS, with the facts
// the signature states, and OPS has no op the signatures do not name.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OPS } from "../src/ops/mod.ts";
import { SIGNATURES } from "../src/ops/signatures.ts";

describe("the operation table", () => {
  it("has exactly the ops the signatures name, with their kind, writes and arity", () => {
    assert.deepStrictEqual([...OPS.keys()].sort(), Object.keys(SIGNATURES).sort());
    for (const [name, sig] of Object.entries(SIGNATURES)) {
      const op = OPS.get(name)!;
      assert.deepStrictEqual({ kind: op.kind, write: op.write, arity: op.arity }, sig, name);
      assert.equal(name.split(".")[0], sig.kind, `${name} is named after its kind`);
    }
  });
});
