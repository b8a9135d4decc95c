// Test helper (not a test file), checked by the type checker only (deno test
// and deno check compile it with tests/contract_test.ts): the remote facades
// have every member of the embedded ones, each method taking the same
// parameters, and nothing more than what is remote by design. A member added
// on one side only, or a parameter type that drifts, fails to compile and the
// error names it. Getters that are methods remotely (size, length, schema)
// are left to the behaviour suite.
import type { CyberDict, CyberList, Database, Table, TableQuery } from "../../mod.ts";
import type { RemoteDict, RemoteList, RemoteQuery, RemoteTable, Session } from "../../client.ts";

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => any;
type Params<T, K extends keyof T> = T[K] extends Fn ? Parameters<T[K]> : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Members of `A` that `B` lacks, apart from `Allowed`. */
type Missing<A, B, Allowed extends PropertyKey = never> = Exclude<keyof A, keyof B | Allowed>;
/** Members of both whose parameters differ (the last overload of each), apart from `Skip`. */
type Drift<A, B, Skip extends PropertyKey = never> = {
  [K in Exclude<keyof A & keyof B, Skip>]: Same<Params<A, K>, Params<B, K>> extends true ? never : K;
}[Exclude<keyof A & keyof B, Skip>];
/** Compiles only when `T` is `never`. */
type None<T extends never> = T;

type S = {
  readonly name: "t";
  readonly columns: readonly [
    { readonly name: "id"; readonly type: "Int64"; readonly primaryKey: true },
    { readonly name: "n"; readonly type: "Utf8"; readonly nullable: true },
  ];
};

/** Embedded-only by design: synchronous iteration, and a standalone table's durability. */
type EmbeddedOnly = typeof Symbol.iterator | "flush" | "snapshot" | "close" | typeof Symbol.asyncDispose;
/** Remote-only by design: `for await`, and streaming a query's answer batch by batch. */
type RemoteOnly = typeof Symbol.asyncIterator | "stream";

/**
 * Database-level members the client has under other names or not at all:
 * `transaction(fn)` cannot cross the wire (remote: `atomic(ops)`), `execute`
 * / `executeAtomic` are the client's `call` / `atomic`, and durability and
 * lifecycle belong to the server.
 */
type DatabaseOnly =
  | "transaction"
  | "execute"
  | "executeAtomic"
  | "flush"
  | "snapshot"
  | "close"
  | "closed"
  | "options"
  | "unsynced"
  | "storageError"
  | "watchCursor"
  | "durabilityCounters"
  | typeof Symbol.asyncDispose;
/** `watchUrl`: the URL of the server's event stream, for a browser's `EventSource`. */
type SessionOnly = "call" | "watchUrl";

/** Every check; a failing one is a compile error naming the member. */
export type Conformance = [
  None<Missing<CyberDict<number>, RemoteDict<number>, EmbeddedOnly>>,
  None<Missing<RemoteDict<number>, CyberDict<number>, RemoteOnly>>,
  None<Drift<CyberDict<number>, RemoteDict<number>, "size">>,
  None<Missing<CyberList<number>, RemoteList<number>, EmbeddedOnly>>,
  None<Missing<RemoteList<number>, CyberList<number>, RemoteOnly>>,
  None<Drift<CyberList<number>, RemoteList<number>, "length">>,
  None<Missing<Table<S>, RemoteTable<S>, EmbeddedOnly>>,
  None<Missing<RemoteTable<S>, Table<S>, RemoteOnly>>,
  None<Drift<Table<S>, RemoteTable<S>, "schema">>,
  None<Missing<TableQuery<S>, RemoteQuery<S>>>,
  None<Missing<RemoteQuery<S>, TableQuery<S>, RemoteOnly>>,
  None<Drift<TableQuery<S>, RemoteQuery<S>>>,
  None<Missing<Database, Session, DatabaseOnly>>,
  None<Missing<Session, Database, SessionOnly>>,
  // DESIGN §9 names both forms: db.atomic({ checks, ops }) and client.atomic(ops, { checks }); lsn and historyId are getters embedded.
  None<Drift<Database, Session, "atomic" | "lsn" | "historyId">>,
];
