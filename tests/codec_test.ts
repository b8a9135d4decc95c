// The MessagePack codec on hostile input (issue 9, items 4, 10 and 11): huge
// bigint extensions are refused by their length, msgpackr's structured-clone
// and other non-value extensions are refused, nesting is bounded, a
// "__proto__" key is an own property, and every error message is short.
// Also: what encode writes, decode reads back exactly.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, decodeMultiple, decodeRange, decodeRecordRange, encode } from "../src/wire/codec.ts";
import { encodeOpRecordInto, fastEncode, fastEncodeInto } from "../src/wire/fast_encode.ts";
import { Packr } from "msgpackr";
import { ProtocolError } from "../src/errors.ts";
import { MAX_DEPTH } from "../src/core/value.ts";
import { fromJsonValue, toJsonValue } from "../src/wire/json.ts";
import { Database } from "../mod.ts";
import { tempDir } from "./server_process.ts";
import { abandon, Machine } from "./fixtures/durability_common.ts";
import { prng } from "./fixtures/prng.ts";

const MiB = 1024 * 1024;

/** Bytes from hex text, spaces ignored. */
function hex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, "");
  return new Uint8Array(t.match(/../g)!.map((b) => parseInt(b, 16)));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * An ext 32 value:
 *
 * ```
 *   c9 | u32 BE payload length | type | payload
 * ```
 */
function ext32(type: number, payload: Uint8Array): Uint8Array {
  const head = new Uint8Array(6);
  head[0] = 0xc9;
  new DataView(head.buffer).setUint32(1, payload.length);
  head[5] = type;
  return concat(head, payload);
}

/** The start of `{ op: "dict.set", args: ["d", "k", <value>] }`; the value's bytes follow. */
const SET_HEAD = hex("82 a2 6f70 a8 646963742e736574 a4 61726773 93 a1 64 a1 6b");

/** Runs `fn`; it must throw ProtocolError with a short message matching `re`. */
function refused(fn: () => unknown, re: RegExp, note: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `${note}: decoded without an error`);
  const e = err as Error;
  assert.ok(
    e instanceof ProtocolError,
    `${note}: expected ProtocolError, got ${e?.name}: ${String(e?.message).slice(0, 200)}`,
  );
  assert.ok(e.message.length < 300, `${note}: message of ${e.message.length} chars`);
  assert.match(e.message, re, note);
  assert.match(e.message, /^[A-Z]/, `${note}: capital letter`);
}

describe("codec: huge bigints are refused by length (item 4)", () => {
  // Extension 0x42 (msgpackr's bigint): big-endian two's complement.
  //
  //   c9 | 00 10 00 00 | 42 | 7f 00 00 ... 00     a 1 MiB positive bigint
  //   (one stray byte after it makes the input invalid as a whole)
  for (const mib of [1, 16]) {
    for (const stray of [false, true]) {
      it(`a ${mib} MiB bigint extension${stray ? " with a stray byte after it" : ""} → a short error`, () => {
        const payload = new Uint8Array(mib * MiB);
        payload[0] = 0x7f;
        const value = ext32(0x42, payload);
        const bytes = stray ? concat(value, hex("00")) : value;
        refused(() => decode(bytes), /bigint/i, "alone");
        refused(() => decode(concat(SET_HEAD, bytes)), /bigint/i, "inside a request");
        refused(() => decodeMultiple(bytes), /bigint/i, "decodeMultiple");
        refused(() => decodeRange(bytes, 0, bytes.length), /bigint/i, "decodeRange");
      });
    }
  }

  it("bigint extensions within 64 bits decode; outside are refused", () => {
    assert.equal(decode(hex("d4 42 05")), 5n);
    assert.equal(decode(hex("d4 42 ff")), -1n);
    assert.equal(decode(hex("c7 09 42 00 ffffffffffffffff")), 2n ** 64n - 1n);
    assert.equal(decode(hex("d7 42 8000000000000000")), -(2n ** 63n));
    // msgpackr pads to whole 64-bit words: 16 bytes holding a small value.
    assert.equal(decode(hex("d8 42 0000000000000000 0000000000000007")), 7n);
    refused(() => decode(hex("c7 09 42 01 0000000000000000")), /bigint/i, "2^64");
    refused(() => decode(hex("c7 09 42 ff 7fffffffffffffff")), /bigint/i, "-(2^63)-1");
    refused(() => decode(hex("c7 00 42")), /bigint/i, "empty");
  });

  it("JSON: a $bigint tag of a million digits is refused by length, with a short message", () => {
    let err: Error | undefined;
    try {
      fromJsonValue({ op: "dict.set", args: ["d", "k", { $bigint: "9".repeat(1_000_000) }] });
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err instanceof ProtocolError, `got ${err?.name}`);
    assert.ok(err.message.length < 300, `a message of ${err.message.length} chars`);
    assert.match(err.message, /\$bigint/);
    assert.equal(fromJsonValue({ $bigint: "18446744073709551615" }), 2n ** 64n - 1n);
    assert.equal(fromJsonValue({ $bigint: "-9223372036854775808" }), -(2n ** 63n));
  });

  it("encode of a bigint outside 64 bits is a short ValidationError (msgpackr's own error prints it in decimal)", () => {
    for (const v of [1n << 33_554_432n, [{ a: -(1n << 33_554_432n) }], 2n ** 64n, [-0, 2n ** 64n]]) {
      assert.throws(
        () => encode(v),
        (e: Error) => e.name === "ValidationError" && e.message.length < 300 && /64-bit range/.test(e.message),
      );
    }
  });

  it("int 64 / uint 64 stay bigints; the ends of the range round-trip", () => {
    for (const v of [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n]) {
      assert.equal(decode(encode(v)), v);
    }
  });
});

describe("codec: structured clones and other non-value extensions are refused (item 10)", () => {
  // Every byte string below is what msgpackr writes for the value named
  // (structuredClone / moreTypes / useRecords / bundleStrings options).
  const cases: [string, string][] = [
    // const o = {}; o.self = o
    //   d6 69 00000001      fixext 4, type 0x69 "i": object #1 starts here
    //   de 0001 a4 "self"   map 16 with one entry, key "self"
    //   d6 70 00000001      fixext 4, type 0x70 "p": pointer to object #1
    ["a cyclic object (0x69 / 0x70)", "d6 69 00000001 de 0001 a4 73656c66 d6 70 00000001"],
    // const a = [1]; a.push(a)
    ["a cyclic array (0x69 / 0x70)", "d6 69 00000001 92 01 d6 70 00000001"],
    // const s = { a: 1 }; [s, s]  (one object shared twice)
    ["a shared reference (0x69 / 0x70)", "92 d6 69 00000001 de 0001 a1 61 01 d6 70 00000001"],
    // a lone pointer to an unknown object
    ["a dangling pointer (0x70)", "d6 70 00000007"],
    //   d4 73 00 | 91 01     fixext 1 "s" (Set), then its elements [1]
    ["a Set (0x73)", "d4 73 00 91 01"],
    //   d4 78 00 | 92 a1 "a" a1 "g"     RegExp /a/g
    ["a RegExp (0x78)", "d4 78 00 92 a161 a167"],
    //   d4 65 00 | 93 "Error" "x" undefined     Error("x")
    ["an Error (0x65)", "d4 65 00 93 a5 4572726f72 a1 78 d4 00 00"],
    //   c7 03 74 | 03 | 01 00     ext 8, "t" (typed array), kind 3 = Int16Array, bytes
    ["an Int16Array (0x74)", "c7 03 74 03 0100"],
    ["a Float64Array (0x74)", "c7 09 74 08 000000000000f03f"],
    ["a Uint8Array as a typed-array extension (0x74)", "c7 03 74 01 0102"],
    ["an ArrayBuffer (0x74, kind 16)", "c7 03 74 10 0000"],
    ["a DataView (0x74, kind 17)", "c7 03 74 11 0000"],
    //   d4 72 40 | 91 a1 "a" | 01     record definition #0 with key "a", then its value
    ["a record definition (0x72)", "92 d4 72 40 91 a1 61 01 40 02"],
    //   d6 62 00000008 ...      bundled strings, read back through 0xc1
    ["bundled strings (0x62)", "de 0001 d6 62 00000008 c1 06 c1 0b a0 b1 616263646566 68656c6c6f20776f726c64"],
    ["the never-used byte 0xc1", "91 c1"],
    ["an unknown extension type (0x01)", "d4 01 00"],
  ];
  for (const [name, bytes] of cases) {
    it(`${name} → a clear error`, () => {
      refused(() => decode(hex(bytes)), /MessagePack/, name);
      refused(() => decode(concat(SET_HEAD, hex(bytes))), /MessagePack/, `${name} inside a request`);
    });
  }

  it("nesting deeper than values allow is refused before the stack runs out", () => {
    const deep = new Uint8Array(200_000).fill(0x91); // [[[[...
    refused(() => decode(concat(deep, hex("c0"))), /nested/, "200000 levels of arrays");
    const maps = new Uint8Array(3 * 100_000);
    for (let i = 0; i < maps.length; i += 3) maps.set([0x81, 0xa1, 0x61], i); // {a:{a:{...
    refused(() => decode(concat(maps, hex("c0"))), /nested/, "100000 levels of maps");
  });

  it("a value nested as deep as values allow decodes inside a request", () => {
    let v: unknown = 1;
    for (let i = 1; i < MAX_DEPTH; i++) v = [v];
    const back = decode(encode({ id: 1, op: "dict.set", args: ["d", "k", v] })) as { args: unknown[] };
    assert.deepEqual(back.args[2], v);
  });

  it("lengths the input cannot hold are refused before allocating", () => {
    refused(() => decode(hex("dd ffffffff")), /ends early/, "array 32 of 4 G elements");
    refused(() => decode(hex("df ffffffff")), /ends early/, "map 32 of 4 G entries");
    refused(() => decode(hex("db ffffffff 61")), /ends early/, "str 32");
    refused(() => decode(hex("c6 ffffffff 61")), /ends early/, "bin 32");
    refused(() => decode(hex("92 01")), /ends early/, "a truncated array");
    refused(() => decode(new Uint8Array(0)), /ends early/, "nothing");
    refused(() => decode(hex("01 02")), /after the end/, "trailing bytes");
  });

  it("map keys are strings; numbers become strings; anything else is refused", () => {
    assert.deepEqual(decode(hex("82 01 a1 61 cb 3ff8000000000000 c3")), { 1: "a", "1.5": true });
    refused(() => decode(hex("81 90 01")), /key/, "an array key");
    refused(() => decode(hex("81 c0 01")), /key/, "a nil key");
  });

  it("encode of a cyclic or too deep value is a clear error, not a stack overflow", () => {
    const o: Record<string, unknown> = { a: -0 };
    o.self = o;
    const a: unknown[] = [1];
    a.push(a);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    for (const [name, v] of [["a cyclic object", o], ["a cyclic array", a], ["100000 levels", deep]] as const) {
      assert.throws(
        () => encode(v),
        (e: Error) => !(e instanceof RangeError) && /nested|cycle/.test(e.message) && e.message.length < 300,
        name,
      );
    }
  });
});

describe('codec: "__proto__" is an own property (item 11)', () => {
  it('a "__proto__" map key decodes to an own data property, never a prototype', () => {
    //   81 | a9 "__proto__" | 82 a2 "op" a7 "db.drop" a4 "args" 91 a1 "d"
    const bytes = hex("81 a9 5f5f70726f746f5f5f 82 a2 6f70 a7 64622e64726f70 a4 61726773 91 a1 64");
    const v = decode(bytes) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.hasOwn(v, "__proto__"));
    assert.deepEqual(Object.keys(v), ["__proto__"]);
    assert.equal(v.op, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, "__proto__")?.value, { op: "db.drop", args: ["d"] });
    assert.equal(({} as Record<string, unknown>).op, undefined, "nothing polluted");
  });

  it('an object with an own "__proto__" round-trips through encode/decode, also with -0 inside', () => {
    for (const text of ['{"__proto__":{"x":1},"a":1}', '{"a":{"__proto__":[1,2]}}']) {
      const v = JSON.parse(text);
      const back = decode(encode(v)) as Record<string, unknown>;
      assert.equal(JSON.stringify(back), text);
    }
    const withNegZero = JSON.parse('{"__proto__":{"x":1},"a":1}');
    withNegZero.z = -0;
    const back = decode(encode(withNegZero)) as Record<string, unknown>;
    assert.ok(Object.hasOwn(back, "__proto__"));
    assert.ok(Object.is(back.z, -0));
  });

  it('JSON: a "__proto__" key is an own property after fromJsonValue, and survives toJsonValue', () => {
    const parsed = JSON.parse('{"atomic":true,"ops":[{"__proto__":{"op":"db.drop","args":["d"]}}]}');
    const v = fromJsonValue(parsed) as { ops: Record<string, unknown>[] };
    const op = v.ops[0];
    assert.equal(Object.getPrototypeOf(op), Object.prototype);
    assert.equal(op.op, undefined, "op is not read through an injected prototype");
    assert.equal(op.args, undefined);
    assert.ok(Object.hasOwn(op, "__proto__"));
    const tagged = fromJsonValue(JSON.parse('{"$obj":{"__proto__":{"op":"x"}}}')) as Record<string, unknown>;
    assert.equal(tagged.op, undefined);
    assert.ok(Object.hasOwn(tagged, "__proto__"));
    const out = JSON.stringify(toJsonValue(JSON.parse('{"__proto__":{"n":1},"b":2}')));
    assert.equal(out, '{"__proto__":{"n":1},"b":2}');
  });
});

describe('codec: "__proto__" survives the log and a snapshot (item 11)', () => {
  it('a dict key "__proto__" and values with an own "__proto__" come back after reopen (real files)', async () => {
    const { dir, remove } = await tempDir("cyberdb-proto-");
    const text = '{"__proto__":{"x":1},"list":[{"__proto__":null}]}';
    const check = (db: Database, note: string) => {
      const d = db.getDict("d");
      const o = d.toObject() as Record<string, unknown>;
      assert.deepEqual(Object.keys(o), ["__proto__", "v"], note);
      assert.equal(JSON.stringify(d.get("v")), text, note);
      assert.equal(JSON.stringify(d.get("__proto__")), text, note);
      assert.equal((d.get("v") as Record<string, unknown>).x, undefined, `${note}: not a prototype`);
      assert.equal(JSON.stringify(db.getList("l").get(0)), text, note);
    };
    try {
      const db = await Database.open({ dir, snapshotInterval: 0 });
      const d = db.createDict("d");
      d.set("__proto__", JSON.parse(text));
      d.set("v", JSON.parse(text));
      db.createList("l").append(JSON.parse(text));
      await db.flush();
      check(db, "in memory");
      await db.close();
      const again = await Database.open({ dir, snapshotInterval: 0 });
      check(again, "after close (snapshot)");
      again.getDict("d").set("w", 1);
      again.getDict("d").delete("w");
      await again.close();
      const third = await Database.open({ dir });
      check(third, "after a second reopen");
      await third.close();
    } finally {
      await remove();
    }
  });

  it("the same, replayed from the log alone after a crash", async () => {
    const machine = new Machine();
    const open = () => Database.open({ storage: machine.process(), dir: "db", snapshotInterval: 0 });
    const text = '{"__proto__":{"x":1}}';
    const db = await open();
    db.createDict("d").set("__proto__", JSON.parse(text));
    await db.flush();
    machine.crash();
    const again = await open();
    const o = again.getDict("d").toObject() as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), ["__proto__"]);
    assert.equal(JSON.stringify(Object.getOwnPropertyDescriptor(o, "__proto__")?.value), text);
    await again.close();
    await abandon(db);
  });
});

describe("codec: what encode writes, decode reads back exactly", () => {
  const values: [string, unknown][] = [
    ["integers at every width", [
      0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53 - 1,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      -(2 ** 53) + 1,
    ]],
    ["floats and the odd numbers", [0.5, -1.25, 1e300, -1e-300, Number.MIN_VALUE, NaN, Infinity, -Infinity, -0]],
    ["strings", [
      "",
      "a",
      "abc",
      "x".repeat(12),
      "x".repeat(13),
      "x".repeat(31),
      "x".repeat(32),
      "y".repeat(255),
      "y".repeat(256),
      "z".repeat(65536),
      "Zoë",
      "日本語",
      "😀 emoji",
      "mixed ascii and ü".repeat(3),
    ]],
    ["binaries", [
      new Uint8Array(0),
      new Uint8Array([1, 2, 3]),
      new Uint8Array(256).fill(7),
      new Uint8Array(65536).fill(9),
    ]],
    ["dates", [
      new Date(0),
      new Date(1500),
      new Date(-1500),
      new Date(1_700_000_000_123),
      new Date(2 ** 34 * 1000 + 5),
      new Date(-8.64e15),
      new Date(8.64e15),
    ]],
    ["undefined, null, booleans", [undefined, null, true, false]],
    ["nested containers", {
      a: [1, { b: [new Uint8Array([1]), { c: "d" }] }],
      "": {},
      "1": [],
      big: Array.from({ length: 70000 }, (_, i) => i),
    }],
    ["a map with many keys", Object.fromEntries(Array.from({ length: 70000 }, (_, i) => ["k" + i, i]))],
  ];
  for (const [name, v] of values) {
    it(name, () => {
      const back = decode(encode(v));
      assert.deepEqual(back, v);
      if (Array.isArray(v)) {
        (v as unknown[]).forEach((x, i) =>
          assert.ok(Object.is((back as unknown[])[i], x) || typeof x === "object", `${name}[${i}]`)
        );
      }
    });
  }

  it("an invalid Date comes back invalid; binaries come back as plain Uint8Arrays", () => {
    assert.ok(Number.isNaN((decode(encode(new Date(NaN))) as Date).getTime()));
    const b = decode(encode({ b: new Uint8Array([1, 2]) })) as { b: Uint8Array };
    assert.equal(Object.getPrototypeOf(b.b), Uint8Array.prototype);
  });

  it("short ASCII strings of every length (decoded by hand up to 12 bytes) come back as values and as keys", () => {
    for (let n = 0; n <= 14; n++) {
      const s = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 37 + n) % 95))).join("");
      assert.equal(decode(encode(s)), s);
      assert.deepEqual(Object.keys(decode(encode({ [s]: 1 })) as object), [s]);
      assert.equal(decode(encode(s + "é")), s + "é"); // not ASCII: TextDecoder
    }
  });

  it("float 32 and float 64 from any encoder, in a large input too (read without a DataView)", () => {
    const f32 = new Uint8Array([0xca, 0x3f, 0xc0, 0x00, 0x00]); // 1.5
    const f64 = new Uint8Array([0xcb, 0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]); // -Math.PI
    assert.equal(decode(f32), 1.5);
    assert.equal(decode(f64), -Math.PI);
    assert.ok(Number.isNaN(decode(new Uint8Array([0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]))));
    assert.equal(decode(new Uint8Array([0xca, 0xff, 0x80, 0, 0])), -Infinity);
    const big = new Uint8Array(2 * 1024 * 1024);
    big.set(f64, 100);
    big.set(f32, 200);
    assert.equal(decodeRange(big, 100, 109), -Math.PI);
    assert.equal(decodeRange(big, 200, 205), 1.5);
    assert.throws(() => decodeRange(big, 100, 105), ProtocolError); // cut short
  });

  it("decodeMultiple and decodeRange read back to back values", () => {
    const a = encode({ x: 1 });
    const b = encode("two");
    const both = concat(a, b);
    assert.deepEqual(decodeMultiple(both), [{ x: 1 }, "two"]);
    assert.equal(decodeRange(both, a.length, both.length), "two");
    refused(() => decodeRange(both, 0, a.length + 1), /MessagePack/, "a range that ends inside a value");
  });
});

describe("codec: the fast path keeps no large buffer", () => {
  it("after a large value, the next answers are not views into the buffer grown for it", () => {
    const big = fastEncode("x".repeat(4 << 20))!;
    assert.equal(big.byteLength, 5 + (4 << 20));
    const small = fastEncode({ a: 1 })!;
    assert.deepEqual([...small], [0x81, 0xa1, 0x61, 0x01]);
    assert.ok(small.buffer.byteLength <= 64 * 1024, `a later answer pins ${small.buffer.byteLength} bytes`);
  });
});

describe("codec: the fast path of encode writes msgpackr's bytes", () => {
  // The same options as codec.ts's Packr: the fast path must match it byte for byte.
  const reference = new Packr({
    useRecords: false,
    moreTypes: false,
    encodeUndefinedAsNil: false,
    variableMapSize: true,
  });
  const ints = [
    0,
    1,
    0x1f,
    0x20,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x10000,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53 - 1,
    -1,
    -0x20,
    -0x21,
    -0x80,
    -0x81,
    -0x8000,
    -0x8001,
    -(2 ** 31),
    -(2 ** 31) - 1,
    -(2 ** 53) + 1,
  ];
  const floats = [0.5, -1.25, 1e300, 1e-300, NaN, Infinity, -Infinity, Math.PI];
  const pieces = ["a", "é", "€", "😀", "\ud800", "\udc00", "\u0000", "z\ud83d"];
  const lengths = [0, 1, 0x1f, 0x20, 0x3f, 0x40, 0x55, 0xff, 0x100, 0x3000, 0xffff, 0x10000];

  const rng = prng;
  function str(r: () => number, depth = 0): string {
    // Long strings only at the top, so a value stays small (nested ones are at most 0x100 long).
    const choices = depth === 0 ? lengths : lengths.slice(0, 9);
    const n = choices[Math.floor(r() * choices.length)] + (r() < 0.3 ? Math.floor(r() * 3) - 1 : 0);
    const kinds = pieces.slice(0, 1 + Math.floor(r() * pieces.length));
    let s = "";
    while (s.length < n) s += kinds[Math.floor(r() * kinds.length)];
    return s.slice(0, Math.max(0, n));
  }
  function value(r: () => number, depth: number): unknown {
    const k = Math.floor(r() * (depth > 1 ? 5 : 7));
    switch (k) {
      case 0:
        return ints[Math.floor(r() * ints.length)];
      case 1:
        return floats[Math.floor(r() * floats.length)];
      case 2:
        return str(r, depth);
      case 3:
        return [null, true, false][Math.floor(r() * 3)];
      case 4:
        return Math.floor(r() * 2 ** 40) - 2 ** 39;
      case 5:
        return Array.from({ length: [0, 1, 15, 16, 17][Math.floor(r() * 5)] }, () => value(r, depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        const n = [0, 1, 15, 16, 17][Math.floor(r() * 5)];
        for (let i = 0; i < n; i++) o[i % 5 === 4 ? str(r, depth + 1) : `k${i}`] = value(r, depth + 1);
        if (r() < 0.1) Object.defineProperty(o, "__proto__", { value: 1, enumerable: true, writable: true });
        return o;
      }
    }
  }

  it("on random plain values (numbers at every boundary, strings of every header size, lone surrogates)", () => {
    const r = rng(12345);
    for (let i = 0; i < 3000; i++) {
      const v = value(r, 0);
      const mine = fastEncode(v);
      assert.ok(mine !== null, `the fast path took value ${i}`);
      assert.deepEqual([...mine], [...reference.pack(v)], `value ${i}`);
    }
    // Array and map headers beyond 16 bits of length.
    const big = Array.from({ length: 0x10000 }, (_, i) => i & 0xff);
    assert.deepEqual(fastEncode(big), new Uint8Array(reference.pack(big)));
    const wide = Object.fromEntries(big.map((_, i) => [`k${i}`, i]));
    assert.deepEqual(fastEncode(wide), new Uint8Array(reference.pack(wide)));
  });

  it("leaves to msgpackr what it does not write: -0, undefined, bigints, binaries, dates, other classes, holes, deep nesting", () => {
    class Point {
      x = 1;
    }
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    for (
      const v of [
        -0,
        [1, -0],
        { a: undefined },
        undefined,
        1n,
        [2n],
        new Uint8Array(2),
        new Date(0),
        new Map(),
        Object.create(null),
        new Point(),
        [1, , 3],
        deep,
        { constructor: 1 },
      ]
    ) {
      assert.equal(fastEncode(v), null, quoteForTest(v));
      // encode itself still writes them, as before.
      if (v !== undefined) assert.ok(encode(v).byteLength > 0);
    }
    assert.equal(decode(encode([1, -0]))![1 as never], -0);
  });

  it("a view it handed out is never written again", () => {
    const kept: [unknown, Uint8Array][] = [];
    // ~60 records per 64 KiB chunk: 5,000 records fill many chunks.
    for (let i = 0; i < 5_000; i++) {
      const v = { lsn: i, op: "dict.set", args: ["d", `key ${i} `.repeat(1 + (i % 200)).slice(0, 1000), i] };
      const bytes = encode(v);
      if (i % 97 === 0) kept.push([v, bytes]);
    }
    for (const [v, bytes] of kept) assert.deepEqual(decode(bytes), v);
  });

  it("decodeRecordRange (the log reader's fast path) decodes records as decodeRange does, and refuses alike", () => {
    const r = rng(4242);
    for (let i = 0; i < 2000; i++) {
      const lsn = [0, 1, 127, 128, 0xffff, 0x10000, 2 ** 32, 2 ** 53 - 1][i % 8];
      const record = i % 17 === 0
        ? { lsn, ops: [{ op: "dict.set", args: ["d", "k", value(r, 2)] }] }
        : { lsn, op: i % 2 ? "dict.set" : "list.append", args: ["d", str(r, 1), value(r, 2)] };
      const bytes = encode(record);
      const at = i % 5;
      const padded = new Uint8Array(bytes.length + at + 3);
      padded.set(bytes, at);
      assert.deepEqual(decodeRecordRange(padded, at, at + bytes.length), decodeRange(padded, at, at + bytes.length));
      // Cut short, or with a byte too many: the same error as the generic decoder's.
      for (const end of [at + bytes.length - 1, at + bytes.length + 1, at + 16]) {
        if (end <= at) continue;
        let mine: unknown = null, theirs: unknown = null;
        try {
          decodeRecordRange(padded, at, end);
        } catch (e) {
          mine = (e as Error).message;
        }
        try {
          decodeRange(padded, at, end);
        } catch (e) {
          theirs = (e as Error).message;
        }
        assert.equal(mine, theirs, `record ${i} cut at ${end - at}`);
      }
    }
    // The shape a hand-made log may have: other key orders, a map16 header, an lsn that is not a number.
    for (const v of [{ op: "x", lsn: 1, args: [] }, { lsn: "1", op: "x", args: [] }, { lsn: 1, op: "x", args: {} }]) {
      const bytes = encode(v);
      assert.deepEqual(decodeRecordRange(bytes, 0, bytes.length), v);
    }
    const map16 = new Uint8Array([0xde, 0, 3, ...encode({ lsn: 1, op: "x", args: [] }).subarray(1)]);
    assert.deepEqual(decodeRecordRange(map16, 0, map16.length), { lsn: 1, op: "x", args: [] });
  });

  it("into a caller's buffer (the WAL's records): the same bytes, or -1 and the shared chunk untouched", () => {
    const r = rng(777);
    const buf = new Uint8Array(1 << 20);
    for (let i = 0; i < 2000; i++) {
      const v = value(r, 1);
      const at = i % 13;
      const end = fastEncodeInto(v, buf, at);
      assert.deepEqual([...buf.subarray(at, end)], [...reference.pack(v)], `value ${i}`);
      const lsn = [0, 1, 127, 128, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1][i % 9];
      const args = [i % 3 ? "d" : str(r, 1), str(r, 1), v];
      const recEnd = encodeOpRecordInto(buf, at, lsn, i % 2 ? "dict.set" : "list.append", args);
      assert.deepEqual(
        [...buf.subarray(at, recEnd)],
        [...reference.pack({ lsn, op: i % 2 ? "dict.set" : "list.append", args })],
        `record ${i}`,
      );
    }
    // What the general encoder must write, and what does not fit, answer -1.
    for (const v of [-0, [1, -0], 1n, new Uint8Array(1), new Date(0), undefined]) {
      assert.equal(fastEncodeInto(v, buf, 0), -1, quoteForTest(v));
      assert.equal(encodeOpRecordInto(buf, 0, 1, "dict.set", ["d", "k", v]), -1, quoteForTest(v));
    }
    assert.equal(encodeOpRecordInto(buf, 0, -1, "dict.set", ["d", "k", 1]), -1); // not an LSN
    assert.equal(fastEncodeInto("x".repeat(100), new Uint8Array(50), 0), -1);
    assert.equal(encodeOpRecordInto(new Uint8Array(64), 10, 1, "dict.set", ["d", "k", "x".repeat(60)]), -1);
    // The simple cells the record's fast path writes itself, their edges, and what it hands on.
    const cells: unknown[] = [
      ...[0, 1, 31, 32, 33].map((n) => "k".repeat(n)),
      "é",
      "a\u{1F600}",
      ...[0, 127, 128, 255, 256, 0xffff, 0x10000, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -1, -33, 1.5, NaN],
      null,
      true,
      false,
      { a: 1 },
      [1],
    ];
    const names = ["d", "other", "ünï", "n".repeat(130)];
    for (let i = 0; i < 3000; i++) {
      const n = 1 + (i % 17);
      const args = [
        names[i % names.length],
        ...Array.from({ length: n - 1 }, (_, j) => cells[(i * 7 + j * 3) % cells.length]),
      ];
      const op = i % 5 ? "dict.set" : "o".repeat(i % 40);
      const lsn = [0, 5, 200, 70000, 2 ** 32 - 1, 2 ** 32][i % 6];
      const expected = [...reference.pack({ lsn, op, args })];
      const room = i % 4 === 0 ? 16 + (i % (expected.length + 8)) : 4096;
      const small = new Uint8Array(room);
      const end = encodeOpRecordInto(small, 3, lsn, op, args);
      if (3 + expected.length > room) assert.equal(end, -1, `record ${i} does not fit`);
      // (A tight fit may still answer -1: the general path asks room for 3 bytes per character.)
      else if (end !== -1 || room === 4096) assert.deepEqual([...small.subarray(3, end)], expected, `record ${i}`);
    }
    // A value encoded before, held as a view of the shared chunk, is not overwritten by any of it.
    const held = encode({ a: "held" });
    const copy = [...held];
    fastEncodeInto("y".repeat(40), new Uint8Array(30), 0);
    assert.deepEqual([...encode({ b: 1 })], [...reference.pack({ b: 1 })]);
    assert.deepEqual([...held], copy);
  });
});

function quoteForTest(v: unknown): string {
  try {
    return typeof v === "bigint" ? `${v}n` : JSON.stringify(v)?.slice(0, 40) ?? String(v);
  } catch {
    return String(v);
  }
}

describe("codec: map keys and short strings (the decoder's key cache)", () => {
  // Keys of every short length, ASCII and not, more distinct ones than the
  // cache has slots, each decoded several times: a slot reused by another
  // key, or bytes that are not ASCII, must never hand back a wrong string.
  const alphabet = ["a", "z", "0", "_", ":", "é", "ß", "中", "😀", "\u007f", "\u0080", "\u0000"];
  function keyOf(rand: () => number): string {
    const n = Math.floor(rand() * 34);
    let s = "";
    for (let i = 0; i < n; i++) {
      s += rand() < 0.85 ? String.fromCharCode(32 + Math.floor(rand() * 95)) : alphabet[Math.floor(rand() * 12)];
    }
    return s;
  }

  it("a dict of 10 000 keys decodes exactly, twice, and keys of one length never mix", () => {
    const rand = prng(1414);
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) o[keyOf(rand)] = { k: i, name: keyOf(rand) };
    // Same-length ASCII keys that differ in one byte, side by side.
    for (let i = 0; i < 300; i++) o["key" + String(i).padStart(5, "0")] = i;
    const bytes = encode(o);
    for (let round = 0; round < 2; round++) {
      const back = decode(bytes) as Record<string, unknown>;
      // Counted first: a failing deepEqual of 10 000 keys spends minutes on its diff.
      const keys = Object.keys(o);
      const got = Object.keys(back);
      assert.equal(got.length, keys.length);
      assert.equal(keys.filter((k, i) => got[i] !== k).length, 0, "keys decoded wrong");
      assert.deepEqual(back, o);
    }
  });

  it("strings of 0 to 40 bytes decode exactly as values and as keys", () => {
    const rand = prng(77);
    for (let i = 0; i < 2000; i++) {
      const s = keyOf(rand);
      assert.equal(decode(encode(s)), s);
      assert.deepEqual(Object.keys(decode(encode({ [s]: 1 })) as object), [s]);
    }
  });
});
