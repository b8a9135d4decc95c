// Test helper (not a test file): the contract harness. One behaviour suite
// for dicts, lists, tables and queries runs once per target — embedded
// (mod.ts), over WebSocket and over HTTP (client.ts against one real server
// process) — the way TinyBase runs one suite over every persister.
//
// Each test gets a fresh database-like handle (`Db`). Every call is awaited,
// so one test body serves the synchronous embedded API and the asynchronous
// remote one: `await d.set(1, 2)` works on both. The few getters that are
// methods remotely by design (`size`, `length`, `schema`) are read through
// `size(d)`, `length(l)` and `schema(t)`.
//
// Remote handles share the server's one database, so each test's collection
// names carry a unique prefix (`db.n("d")` is the real name); error messages
// are compared across targets with that prefix taken out.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type CollectionInfo, Database, type Key, type TableSchema, type Value } from "../../mod.ts";
import { type Client, connect, type RemoteDict, type RemoteList, type RemoteTable } from "../../client.ts";
import { type ServerProcess, startServer, webSocket } from "../server_process.ts";

/** Where a suite runs. */
export type TargetName = "embedded" | "ws" | "http";

/** A dict as the suite sees it: every method awaited; `size` through {@linkcode size}. */
export type Dict<V extends Value = Value> = Omit<RemoteDict<V>, "size">;
/** A list as the suite sees it; `length` through {@linkcode length}. */
export type List<V extends Value = Value> = Omit<RemoteList<V>, "length">;
/** A table as the suite sees it; `schema` through {@linkcode schema}. */
export type Table<S extends TableSchema = TableSchema> = Omit<RemoteTable<S>, "schema" | "stream">;

/** An error class, as `instanceof` takes it. */
// deno-lint-ignore no-explicit-any
export type ErrClass = abstract new (...args: any[]) => Error;

/** A fresh database-like handle for one test. */
export interface Db {
  /** The target this handle talks to. */
  readonly target: TargetName;
  /** Whether calls cross the wire. */
  readonly remote: boolean;
  /** The real name of this test's collection `name` (prefixed remotely). */
  n(name: string): string;
  createDict<V extends Value = Value>(
    name: string,
    init?: NoInfer<Iterable<readonly [Key, V]> | Record<string, V>>,
  ): Promise<Dict<V>>;
  getDict<V extends Value = Value>(name: string): Promise<Dict<V>>;
  createList<V extends Value = Value>(name: string, init?: NoInfer<Iterable<V>>): Promise<List<V>>;
  getList<V extends Value = Value>(name: string): Promise<List<V>>;
  createTable<const S extends TableSchema>(schema: S): Promise<Table<S>>;
  getTable<S extends TableSchema = TableSchema>(name: string): Promise<Table<S>>;
  /** Get-or-create. */
  dict<V extends Value = Value>(name: string): Promise<Dict<V>>;
  list<V extends Value = Value>(name: string): Promise<List<V>>;
  table<const S extends TableSchema>(schema: S): Promise<Table<S>>;
  /** This test's collections, with their names as the test gave them, sorted by name. */
  collections(): Promise<CollectionInfo[]>;
  drop(name: string): Promise<boolean>;
  /** Several ops as one transaction (embedded `executeAtomic`, remote `atomic`); names are real names. */
  atomic(ops: { op: string; args: unknown[] }[]): Promise<unknown[]>;
  /** One op by name (embedded `execute`, remote `call`); names are real names. */
  call(op: string, args: unknown[]): Promise<unknown>;
  /**
   * Expects `fn` to throw or reject with `Class` (and its code); the message
   * must start with a capital letter and be the same on every target.
   * Returns the error.
   */
  rejects(fn: () => unknown, Class: ErrClass, note?: string): Promise<Error & { code: string }>;
}

/** The value of a getter embedded, of a method remotely. */
async function read<T>(handle: object, name: string): Promise<T> {
  const v = (handle as Record<string, unknown>)[name];
  return typeof v === "function" ? await (v as () => Promise<T>).call(handle) : v as T;
}

/** A dict's size: the `size` getter embedded, `size()` remotely. */
export function size(d: Dict<never> | Dict): Promise<number> {
  return read(d, "size");
}
/** A list's length: the `length` getter embedded, `length()` remotely. */
export function length(l: List<never> | List): Promise<number> {
  return read(l, "length");
}
/** A table's schema: the `schema` getter embedded, `schema()` remotely. */
// deno-lint-ignore no-explicit-any
export function schema<S extends TableSchema>(t: Table<S>): Promise<any> {
  return read(t, "schema");
}

/** Everything a sync or async iterable yields (`for await` takes both). */
export async function all<T>(it: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** `Object.is` for numbers (so -0 and NaN count), deep equality for the rest. */
export function same(actual: unknown, expected: unknown, what?: string): void {
  if (typeof expected === "number") {
    assert.ok(Object.is(actual, expected), `${what ?? ""}: ${String(actual)} is not ${String(expected)}`);
  } else assert.deepStrictEqual(actual, expected, what);
}

// ---------------------------------------------------------------------------
// Error messages are compared across targets: the embedded target runs first
// and records each test's messages in order; the remote ones must match.
// ---------------------------------------------------------------------------

const referenceMessages = new Map<string, string>();

/**
 * What the wire cannot carry faithfully (functions, symbols, class
 * instances, cycles) the client refuses before sending, with the embedded
 * class and code but in its own words: it names the argument, as it cannot
 * know the label the engine would use. DESIGN §4 asks for the same message
 * when a call fails on the server; these never reach it.
 */
const REFUSED_BY_CLIENT = /^Argument \d+ of [a-z]+\.[A-Za-z]+\b/;

function expectedCode(Class: ErrClass): string {
  return (new (Class as unknown as new (m: string) => { code: string })("")).code;
}

async function rejects(
  target: TargetName,
  key: string,
  prefix: string,
  fn: () => unknown,
  Class: ErrClass,
  note: string,
): Promise<Error & { code: string }> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  const tag = note ? ` (${note})` : "";
  if (error === undefined) assert.fail(`Expected ${Class.name}${tag}, but nothing was thrown`);
  const err = error as Error & { code: string };
  assert.ok(error instanceof Class, `Expected ${Class.name}${tag}, got ${err?.name}: ${err?.message}`);
  assert.equal(err.code, expectedCode(Class), `code${tag}`);
  assert.match(err.message, /^[A-Z]/, `the message starts with a capital letter${tag}`);
  const message = prefix === "" ? err.message : err.message.replaceAll(prefix, "");
  if (target === "embedded") referenceMessages.set(key, message);
  else if (referenceMessages.has(key) && !REFUSED_BY_CLIENT.test(message)) {
    assert.equal(message, referenceMessages.get(key), `the message is the embedded one${tag}`);
  }
  return err;
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

/** What a suite is given: `group`/`test` wrappers that hand each test a fresh `Db`. */
export interface Contract {
  readonly target: TargetName;
  /** A `describe` block. */
  group(name: string, body: () => void): void;
  /** An `it` whose body gets a fresh handle, closed afterwards. */
  test(name: string, body: (db: Db) => Promise<void>): void;
}

/** A suite: declares its groups and tests through the `Contract` it is given. */
export type Suite = (c: Contract) => void;

const PASSWORD = "contract-pw";

/** `fn()` as a promise: a synchronous throw becomes a rejection, as a remote call's error is. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

function embeddedDb(database: Database, key: () => string): Db & { close(): Promise<void> } {
  let ordinal = 0;
  return {
    target: "embedded",
    remote: false,
    n: (name) => name,
    createDict: (name, init) => settle(() => database.createDict(name, init)) as never,
    getDict: (name) => settle(() => database.getDict(name)) as never,
    createList: (name, init) => settle(() => database.createList(name, init)) as never,
    getList: (name) => settle(() => database.getList(name)) as never,
    createTable: (s) => settle(() => database.createTable(s)) as never,
    getTable: (name) => settle(() => database.getTable(name)) as never,
    dict: (name) => settle(() => database.dict(name)) as never,
    list: (name) => settle(() => database.list(name)) as never,
    table: (s) => settle(() => database.table(s)) as never,
    collections: () => settle(() => database.collections()),
    drop: (name) => settle(() => database.drop(name)),
    atomic: (ops) => settle(() => database.executeAtomic(ops)),
    call: (op, args) => settle(() => database.execute(op, args)),
    rejects: (fn, Class, note = "") => rejects("embedded", `${key()} #${ordinal++}`, "", fn, Class, note),
    close: () => database.close(),
  } as Db & { close(): Promise<void> };
}

let sequence = 0;

function remoteDb(target: "ws" | "http", client: Client, key: () => string): Db & { close(): Promise<void> } {
  const prefix = `${target}${++sequence}_`;
  // Only names the server would accept get the prefix: a bad name must stay bad.
  const n = (name: string) => typeof name === "string" && name !== "" ? `${prefix}${name}` : name;
  const own = (name: string) => name.startsWith(prefix);
  let ordinal = 0;
  return {
    target,
    remote: true,
    n,
    createDict: (name, init) => client.createDict(n(name), init),
    getDict: (name) => client.getDict(n(name)),
    createList: (name, init) => client.createList(n(name), init),
    getList: (name) => client.getList(n(name)),
    // A schema that is not an object goes through as it is (the server refuses it).
    createTable: (s) =>
      client.createTable(typeof s === "object" && s !== null && !Array.isArray(s) ? { ...s, name: n(s.name) } : s),
    getTable: (name) => client.getTable(n(name)),
    dict: (name) => client.dict(n(name)),
    list: (name) => client.list(n(name)),
    table: (s) =>
      client.table(typeof s === "object" && s !== null && !Array.isArray(s) ? { ...s, name: n(s.name) } : s),
    collections: async () =>
      (await client.collections()).filter((c) => own(c.name)).map((c) => ({
        name: c.name.slice(prefix.length),
        kind: c.kind,
      })),
    drop: (name) => client.drop(n(name)),
    atomic: (ops) => client.atomic(ops),
    call: (op, args) => client.call(op, args),
    rejects: (fn, Class, note = "") => rejects(target, `${key()} #${ordinal++}`, prefix, fn, Class, note),
    async close() {
      // Frees what the test stored (the server is shared by every test of the file).
      const mine = (await client.collections()).filter((c) => own(c.name));
      await Promise.all(mine.map((c) => client.drop(c.name)));
    },
  } as Db & { close(): Promise<void> };
}

/**
 * Runs `suites` three times — embedded, over WebSocket, over HTTP — against
 * one server process for the whole file (`--memory`, with a password).
 */
export function runContract(suites: Suite[]): void {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(["--memory", "--password", PASSWORD]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0, "the server exits 0 on SIGTERM");
  });

  for (const target of ["embedded", "ws", "http"] as const) {
    describe(`contract: ${target}`, () => {
      let client: Client | undefined;
      if (target !== "embedded") {
        before(async () => {
          client = await connect(target === "ws" ? server.ws : server.http, {
            password: PASSWORD,
            WebSocket: await webSocket(),
            // Small batches: iteration and streamed answers take several round trips.
            batchSize: 7,
            streamBatchRows: 16,
          });
          assert.equal(client.kind, target);
        });
        after(async () => {
          await client?.close();
        });
      }
      // Test names are the keys of the recorded messages: unique per target.
      const names = new Set<string>();
      const contract: Contract = {
        target,
        group: (name, body) => describe(name, body),
        test(name, body) {
          if (names.has(name)) throw new Error(`Two contract tests are named ${JSON.stringify(name)}: rename one`);
          names.add(name);
          it(name, async () => {
            const db = target === "embedded"
              ? embeddedDb(await Database.open(), () => name)
              : remoteDb(target, client!, () => name);
            try {
              await body(db);
            } finally {
              await db.close();
            }
          });
        },
      };
      for (const suite of suites) suite(contract);
    });
  }
}
