/**
 * `cyberdb dump` and `cyberdb load`: every collection as JSON lines, every
 * value tagged as the HTTP API tags it (`$bigint`, `$bytes`, `$date`,
 * `$num` for `-0`/`NaN`/`±Infinity`, `$obj` for a stored one-key `$…`
 * object), so nothing is lost:
 *
 * ```
 *   {"cyberdb":"dump","version":1}                          first line
 *   {"collection":"d","kind":"dict"}                        a dict, then its entries in insertion order
 *   {"key":"k","value":{"$bigint":"1"}}
 *   {"key":0,"value":[1,2],"expireAt":1767225600000}        expiry: ms since the epoch
 *   {"collection":"l","kind":"list"}                        a list, then its elements in order
 *   {"value":{"$num":"-0"}}
 *   {"collection":"t","kind":"table","schema":{…},"indexes":[{"column":"age","unique":false}]}
 *   {"row":{"id":1,"name":"Ada","photo":{"$bytes":"AQI="}}}  a table, then its rows in insertion order
 *   {"end":true,"collections":3,"entries":4}                last line: a dump cut short is refused
 * ```
 *
 * Collections come sorted by name. Nothing in a dump depends on when it was
 * taken (no LSN, no versions, no time stamp), so dump → load → dump gives
 * the same bytes. Versions (LSNs) are not kept: a loaded database numbers
 * its own writes.
 *
 * Both work on an {@linkcode Endpoint}: a directory read as open reads it
 * (dump), a database opened on a directory (load), or a server.
 *
 * @module
 */

import type { Database } from "../api/database.ts";
import type { Session } from "../client/client.ts";
import type { Engine } from "../core/engine.ts";
import { quote } from "../core/value.ts";
import { AlreadyExistsError, CyberDBError, errorFromCode, ValidationError } from "../errors.ts";
import { answerOf, execute } from "../ops/mod.ts";
import { fromJsonValue, toJsonValue } from "../wire/json.ts";

/**
 * The format's version, in the first line (`{"cyberdb":"dump","version":1}`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DUMP_VERSION } from "./dump.ts";
 * assert.equal(DUMP_VERSION, 1);
 * ```
 */
export const DUMP_VERSION = 1;

/** Entries read or written per round trip. */
const BATCH = 1000;
/** Bytes of dump lines loaded per round trip at most (well under the request limits). */
const BATCH_BYTES = 4 * 1024 * 1024;

/** One op call. */
export interface Call {
  /** The op's name. */
  op: string;
  /** Its arguments. */
  args: unknown[];
}

/** Where dump reads and load writes: a directory's state, a database, or a server. */
export interface Endpoint {
  /** Runs one op. */
  call(op: string, args: unknown[]): Promise<unknown>;
  /** Runs ops as one transaction (reads see one instant; writes all or none). */
  batch(calls: Call[]): Promise<unknown[]>;
  /** The time against which `dict.ttl` answers were measured (ms since the epoch). */
  now(): number;
}

/**
 * An endpoint on an engine rebuilt from a directory (read-only use; the
 * engine's frozen clock makes `ttl` exact).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../core/engine.ts";
 * import { engineEndpoint } from "./dump.ts";
 * const e = engineEndpoint(new Engine());
 * assert.deepEqual(await e.call("db.collections", []), []);
 * ```
 */
export function engineEndpoint(engine: Engine): Endpoint {
  const call = (op: string, args: unknown[]) => answerOf(op, execute(engine, op, args));
  return {
    call: (op, args) => Promise.resolve().then(() => call(op, args)),
    batch: (calls) => Promise.resolve().then(() => calls.map((c) => call(c.op, c.args))),
    now: () => engine.clock(),
  };
}

/**
 * An endpoint on an open database (what `load <dir>` writes to).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { databaseEndpoint } from "./dump.ts";
 * const db = await Database.open();
 * await databaseEndpoint(db).call("db.createDict", ["d"]);
 * assert.equal(db.collections().length, 1);
 * ```
 */
export function databaseEndpoint(db: Database): Endpoint {
  return {
    call: (op, args) => Promise.resolve().then(() => db.execute(op, args)),
    batch: (calls) => Promise.resolve().then(() => db.executeAtomic(calls)),
    now: () => Date.now(),
  };
}

/**
 * An endpoint on a server. `now()` is this machine's clock when the last
 * batch was answered: expiry times dumped from a server are exact only to
 * the round trip and the clocks' difference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "@cyberdb/core/client";
 * import { parseConfig, startServer } from "@cyberdb/core/server";
 * import { sessionEndpoint } from "./dump.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * const client = await connect(server.url);
 * assert.deepEqual(await sessionEndpoint(client).call("db.collections", []), []);
 * await client.close();
 * await server.close();
 * ```
 */
export function sessionEndpoint(session: Session): Endpoint {
  let answered = Date.now();
  return {
    call: (op, args) => session.call(op, args),
    async batch(calls) {
      const out = calls.length === 1 ? [await session.call(calls[0].op, calls[0].args)] : await session.atomic(calls);
      answered = Date.now();
      return out;
    },
    now: () => answered,
  };
}

/** Counts of a dump or a load. */
export interface DumpCounts {
  /** Collections. */
  collections: number;
  /** Entries, elements and rows. */
  entries: number;
}

function line(fields: Record<string, unknown>): string {
  return JSON.stringify(fields);
}

/**
 * Writes every collection of `from` as JSON lines to `write` (each line
 * without its newline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { databaseEndpoint, dump } from "./dump.ts";
 * const db = await Database.open();
 * db.createList("l", [1n, -0]);
 * const lines: string[] = [];
 * await dump(databaseEndpoint(db), (l) => void lines.push(l));
 * assert.deepEqual(lines, [
 *   '{"cyberdb":"dump","version":1}',
 *   '{"collection":"l","kind":"list"}',
 *   '{"value":{"$bigint":"1"}}',
 *   '{"value":{"$num":"-0"}}',
 *   '{"end":true,"collections":1,"entries":2}',
 * ]);
 * ```
 */
export async function dump(from: Endpoint, write: (line: string) => void | Promise<void>): Promise<DumpCounts> {
  await write(line({ cyberdb: "dump", version: DUMP_VERSION }));
  const collections = await from.call("db.collections", []) as { name: string; kind: string }[];
  let entries = 0;
  for (const { name, kind } of collections) {
    if (kind === "dict") entries += await dumpDict(from, name, write);
    else if (kind === "list") entries += await dumpList(from, name, write);
    else entries += await dumpTable(from, name, write);
  }
  await write(line({ end: true, collections: collections.length, entries }));
  return { collections: collections.length, entries };
}

async function dumpDict(from: Endpoint, name: string, write: (line: string) => void | Promise<void>): Promise<number> {
  await write(line({ collection: name, kind: "dict" }));
  let n = 0;
  let cursor = 0;
  for (;;) {
    const [next, page] = await from.call("dict.scan", [name, cursor, BATCH]) as [number | null, [unknown, unknown][]];
    // Each key's expiry, read together: one instant for the page.
    const ttls = page.length === 0
      ? []
      : await from.batch(page.map(([k]) => ({ op: "dict.ttl", args: [name, k] }))) as (number | null | undefined)[];
    const now = from.now();
    for (let i = 0; i < page.length; i++) {
      const ttl = ttls[i];
      if (ttl === undefined) continue; // removed (or expired) since the page was read
      const [k, v] = page[i];
      const fields: Record<string, unknown> = { key: toJsonValue(k), value: toJsonValue(v) };
      if (ttl !== null) fields.expireAt = now + ttl;
      await write(line(fields));
      n++;
    }
    if (next === null) return n;
    cursor = next;
  }
}

async function dumpList(from: Endpoint, name: string, write: (line: string) => void | Promise<void>): Promise<number> {
  await write(line({ collection: name, kind: "list" }));
  let n = 0;
  for (;;) {
    const items = await from.call("list.slice", [name, n, n + BATCH]) as unknown[];
    for (const v of items) await write(line({ value: toJsonValue(v) }));
    n += items.length;
    if (items.length < BATCH) return n;
  }
}

async function dumpTable(from: Endpoint, name: string, write: (line: string) => void | Promise<void>): Promise<number> {
  const [schema, indexes] = await from.batch([
    { op: "table.schema", args: [name] },
    { op: "table.indexes", args: [name] },
  ]);
  await write(line({ collection: name, kind: "table", schema: toJsonValue(schema), indexes: toJsonValue(indexes) }));
  let n = 0;
  let cursor = 0;
  for (;;) {
    const [next, rows] = await from.call("table.scan", [name, cursor, BATCH]) as [number | null, unknown[]];
    for (const row of rows) await write(line({ row: toJsonValue(row) }));
    n += rows.length;
    if (next === null) return n;
    cursor = next;
  }
}

/** A collection as a dump declares it. */
interface Header {
  name: string;
  kind: "dict" | "list" | "table";
  schema?: unknown;
  indexes: { column: string; unique: boolean }[];
  line: number;
}

/** One parsed line of a dump body. */
type Parsed =
  | { type: "header"; header: Header }
  | { type: "entry"; key?: unknown; value?: unknown; expireAt?: number; row?: unknown }
  | { type: "end"; collections: number; entries: number };

function bad(n: number, what: string): ValidationError {
  return new ValidationError(`Line ${n} of the dump ${what}`);
}

/** Reads line `n` of a dump after the first: its kind checked against the collection it belongs to. */
function parseLine(text: string, n: number, current: Header | null): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(n, `is not JSON (${(e as Error).message}): is this a cyberdb dump?`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad(n, `is not an object: ${quote(raw)}`);
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(",");
  const tagged = (v: unknown, what: string) => {
    try {
      return fromJsonValue(v);
    } catch (e) {
      throw bad(n, `has a bad ${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if ("collection" in o) {
    const { collection: name, kind } = o;
    if (typeof name !== "string") throw bad(n, `names no collection: ${quote(o)}`);
    if (kind === "dict" || kind === "list") {
      if (keys !== "collection,kind") throw bad(n, `has unknown fields: ${quote(o)}`);
      return { type: "header", header: { name, kind, indexes: [], line: n } };
    }
    if (kind === "table") {
      if (keys !== "collection,indexes,kind,schema") throw bad(n, `is not a table header: ${quote(o)}`);
      const indexes = o.indexes;
      if (
        !Array.isArray(indexes) ||
        !indexes.every((ix) => typeof ix?.column === "string" && typeof ix?.unique === "boolean")
      ) throw bad(n, `has malformed indexes: ${quote(indexes)}`);
      return { type: "header", header: { name, kind, schema: tagged(o.schema, "schema"), indexes, line: n } };
    }
    throw bad(n, `has an unknown kind: ${quote(kind)}`);
  }
  if (o.end === true) {
    if (keys !== "collections,end,entries" || typeof o.collections !== "number" || typeof o.entries !== "number") {
      throw bad(n, `is a malformed end line: ${quote(o)}`);
    }
    return { type: "end", collections: o.collections, entries: o.entries };
  }
  if (current === null) throw bad(n, "comes before any collection line");
  if (current.kind === "dict") {
    if (keys !== "key,value" && keys !== "expireAt,key,value") throw bad(n, `is not a dict entry: ${quote(o)}`);
    if (o.expireAt !== undefined && (typeof o.expireAt !== "number" || !Number.isFinite(o.expireAt))) {
      throw bad(n, `has a bad expireAt: ${quote(o.expireAt)}`);
    }
    return {
      type: "entry",
      key: tagged(o.key, "key"),
      value: tagged(o.value, "value"),
      ...(o.expireAt === undefined ? {} : { expireAt: o.expireAt as number }),
    };
  }
  if (current.kind === "list") {
    if (keys !== "value") throw bad(n, `is not a list element: ${quote(o)}`);
    return { type: "entry", value: tagged(o.value, "value") };
  }
  if (keys !== "row" || typeof o.row !== "object" || o.row === null || Array.isArray(o.row)) {
    throw bad(n, `is not a table row: ${quote(o)}`);
  }
  return { type: "entry", row: tagged(o.row, "row") };
}

/**
 * Reads a whole dump, checking every line, and returns its collections in
 * order. Throws `ValidationError` naming the line of the first problem.
 */
async function survey(lines: AsyncIterable<string>): Promise<Header[]> {
  const headers: Header[] = [];
  const names = new Set<string>();
  let n = 0;
  let current: Header | null = null;
  let entries = 0;
  let end: Parsed | null = null;
  for await (const text of lines) {
    n++;
    if (n === 1) {
      checkFirstLine(text);
      continue;
    }
    if (text.trim() === "") continue;
    if (end !== null) throw bad(n, "comes after the end line");
    const p = parseLine(text, n, current);
    if (p.type === "header") {
      if (names.has(p.header.name)) throw bad(n, `names ${quote(p.header.name)} a second time`);
      names.add(p.header.name);
      headers.push(p.header);
      current = p.header;
    } else if (p.type === "entry") entries++;
    else end = p;
  }
  if (n === 0) throw new ValidationError("The dump is empty: nothing to load");
  if (end === null || end.type !== "end") {
    throw new ValidationError(`The dump has no end line after line ${n}: it was cut short; nothing was loaded`);
  }
  if (end.collections !== headers.length || end.entries !== entries) {
    throw new ValidationError(
      `The dump's end line counts ${end.collections} collections and ${end.entries} entries, but it holds ` +
        `${headers.length} and ${entries}: it is damaged; nothing was loaded`,
    );
  }
  return headers;
}

function checkFirstLine(text: string): void {
  let first: unknown;
  try {
    first = JSON.parse(text);
  } catch {
    first = null;
  }
  const f = first as { cyberdb?: unknown; version?: unknown } | null;
  if (f?.cyberdb !== "dump") {
    throw new ValidationError(`Line 1 is not a cyberdb dump's first line: ${quote(text)}; make one with cyberdb dump`);
  }
  if (f.version !== DUMP_VERSION) {
    throw new ValidationError(
      `The dump is version ${quote(f.version)}; this cyberdb reads version ${DUMP_VERSION}: use a matching cyberdb`,
    );
  }
}

/** Options of {@linkcode load}. */
export interface LoadOptions {
  /** Drop a collection of the same name first, instead of refusing to load. */
  replace?: boolean;
}

/**
 * Loads a dump into `to` (or the endpoint `to()` opens, once the dump has
 * checked out: a directory is then not created for a dump that is refused).
 * Reads `lines()` twice: first to check every line and every name (nothing
 * is written when the dump is malformed, or names a collection the target
 * has and `replace` is not set), then to write, in batches. A failure while
 * writing stops the load (what was written stays: a load is not one
 * transaction) and names the line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * import { databaseEndpoint, load } from "./dump.ts";
 * const db = await Database.open();
 * const text = [
 *   '{"cyberdb":"dump","version":1}',
 *   '{"collection":"d","kind":"dict"}',
 *   '{"key":"n","value":{"$bigint":"7"}}',
 *   '{"end":true,"collections":1,"entries":1}',
 * ];
 * async function* lines() {
 *   yield* text;
 * }
 * await load(databaseEndpoint(db), lines);
 * assert.equal(db.getDict("d").get("n"), 7n);
 * ```
 */
export async function load(
  target: Endpoint | (() => Promise<Endpoint>),
  lines: () => AsyncIterable<string>,
  options: LoadOptions = {},
): Promise<DumpCounts> {
  const headers = await survey(lines());
  const to = typeof target === "function" ? await target() : target;
  const existing = new Set((await to.call("db.collections", []) as { name: string }[]).map((c) => c.name));
  const clash = headers.filter((h) => existing.has(h.name));
  if (clash.length > 0 && !options.replace) {
    throw new AlreadyExistsError(
      `The target already has ${clash.length === 1 ? "a collection" : "collections"} named ${
        clash.slice(0, 5).map((h) => quote(h.name)).join(", ")
      }${
        clash.length > 5 ? ", …" : ""
      }: nothing was loaded; pass --replace to drop and load them, or load into an empty database`,
    );
  }
  const writer = new Writer(to, existing);
  let n = 0;
  let current: Header | null = null;
  for await (const text of lines()) {
    n++;
    if (n === 1 || text.trim() === "") continue;
    const p = parseLine(text, n, current);
    try {
      if (p.type === "header") {
        await writer.finish();
        current = p.header;
        await writer.start(current);
      } else if (p.type === "entry") await writer.add(p, text.length, n);
      else await writer.finish();
    } catch (e) {
      throw atLine(e, writer.firstLine ?? n, current);
    }
  }
  return { collections: headers.length, entries: writer.entries };
}

function atLine(e: unknown, n: number, h: Header | null): Error {
  if (!(e instanceof CyberDBError)) return e as Error;
  const where = h === null ? `line ${n}` : `collection ${quote(h.name)} (by line ${n})`;
  // The same class and code, with where it happened.
  return errorFromCode(e.code, `Loading ${where} failed: ${e.message}; the collections before it are loaded`);
}

/** Writes one collection at a time, entries in batches. */
class Writer {
  #to: Endpoint;
  #existing: Set<string>;
  #h: Header | null = null;
  #calls: Call[] = [];
  #pairs: [unknown, unknown][] = [];
  #items: unknown[] = [];
  #size = 0;
  #count = 0;
  /** The first line of the batch being gathered (for messages). */
  firstLine: number | null = null;
  /** Entries written so far. */
  entries = 0;

  constructor(to: Endpoint, existing: Set<string>) {
    this.#to = to;
    this.#existing = existing;
  }

  async start(h: Header): Promise<void> {
    this.#h = h;
    if (this.#existing.has(h.name)) await this.#to.call("db.drop", [h.name]);
    if (h.kind === "table") await this.#to.call("db.createTable", [h.schema]);
    else await this.#to.call(h.kind === "dict" ? "db.createDict" : "db.createList", [h.name]);
  }

  async add(p: Extract<Parsed, { type: "entry" }>, bytes: number, n: number): Promise<void> {
    const h = this.#h!;
    this.firstLine ??= n;
    if (h.kind === "dict") {
      if (p.expireAt === undefined) this.#pairs.push([p.key, p.value]);
      else {
        this.#flushPairs();
        this.#calls.push({ op: "dict.set", args: [h.name, p.key, p.value, { expireAt: p.expireAt }] });
      }
    } else this.#items.push(h.kind === "list" ? p.value : p.row);
    this.#size += bytes;
    this.#count++;
    if (this.#count >= BATCH || this.#size >= BATCH_BYTES) await this.#send();
  }

  #flushPairs(): void {
    if (this.#pairs.length > 0) this.#calls.push({ op: "dict.update", args: [this.#h!.name, this.#pairs] });
    this.#pairs = [];
  }

  async #send(): Promise<void> {
    const h = this.#h!;
    if (h.kind === "dict") this.#flushPairs();
    else if (this.#items.length > 0) {
      this.#calls.push({ op: h.kind === "list" ? "list.extend" : "table.insertMany", args: [h.name, this.#items] });
    }
    if (this.#calls.length > 0) await this.#to.batch(this.#calls);
    this.entries += this.#count;
    this.#calls = [];
    this.#items = [];
    this.#size = 0;
    this.#count = 0;
    this.firstLine = null;
  }

  /** Sends what is gathered and builds the collection's indexes (after its rows: one pass each). */
  async finish(): Promise<void> {
    const h = this.#h;
    if (h === null) return;
    await this.#send();
    for (const ix of h.indexes) await this.#to.call("table.createIndex", [h.name, ix.column, { unique: ix.unique }]);
    this.#h = null;
  }
}
