/**
 * Every error @cyberdb/core throws, in one place.
 *
 * Each class carries a stable `code` (DESIGN §4) so that a remote client can
 * re-create the same class from `{ code, message }` on the other side of the
 * wire. Messages start with a capital letter, quote the offending value and
 * say what to do.
 *
 * @module
 */

/** The stable error codes, one per error class. */
export type ErrorCode =
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "WRONG_KIND"
  | "KEY_NOT_FOUND"
  | "INDEX_OUT_OF_RANGE"
  | "VALUE_NOT_FOUND"
  | "DUPLICATE_KEY"
  | "VALIDATION"
  | "SCHEMA"
  | "CORRUPTION"
  | "LOCKED"
  | "CLOSED"
  | "AUTH"
  | "PROTOCOL"
  | "TOO_LARGE"
  | "CONNECTION"
  | "CONFLICT"
  | "RESET"
  | "LAGGED"
  | "LOADING"
  | "STORAGE"
  | "INTERNAL";

/**
 * The base class of every error thrown by @cyberdb/core.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CyberDBError, Database, NotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * try {
 *   db.getDict("missing");
 *   assert.fail("getDict should have thrown");
 * } catch (e) {
 *   if (!(e instanceof CyberDBError)) throw e;
 *   assert.equal(e.code, "NOT_FOUND"); // the stable code: a remote client gets the same
 *   assert.ok(e instanceof NotFoundError);
 * }
 * ```
 */
export class CyberDBError extends Error {
  /** The stable machine-readable code of this error. */
  readonly code: ErrorCode;
  /** Creates an error with the given code and message. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A collection with that name does not exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, NotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * assert.throws(() => db.getDict("nope"), NotFoundError);
 * ```
 */
export class NotFoundError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("NOT_FOUND", message, options);
  }
}

/**
 * A collection with that name exists already.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AlreadyExistsError, Database } from "@cyberdb/core";
 * const db = await Database.open();
 * db.createDict("a");
 * assert.throws(() => db.createList("a"), AlreadyExistsError); // whatever the kind
 * ```
 */
export class AlreadyExistsError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("ALREADY_EXISTS", message, options);
  }
}

/**
 * The collection exists but is of another kind (a list asked for as a dict).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, WrongKindError } from "@cyberdb/core";
 * const db = await Database.open();
 * db.createList("l");
 * assert.throws(() => db.getDict("l"), WrongKindError);
 * ```
 */
export class WrongKindError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("WRONG_KIND", message, options);
  }
}

/**
 * A dict key or table primary key is not present.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, KeyNotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * assert.throws(() => d.pop("x"), KeyNotFoundError);
 * assert.equal(d.pop("x", 0), 0); // with a default, no error
 * ```
 */
export class KeyNotFoundError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("KEY_NOT_FOUND", message, options);
  }
}

/**
 * A list index is outside the list (or the list is empty).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, IndexOutOfRangeError } from "@cyberdb/core";
 * const db = await Database.open();
 * const l = db.createList("l", [1]);
 * assert.throws(() => l.set(1, 2), IndexOutOfRangeError);
 * l.pop();
 * assert.throws(() => l.pop(), IndexOutOfRangeError); // empty
 * ```
 */
export class IndexOutOfRangeError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("INDEX_OUT_OF_RANGE", message, options);
  }
}

/**
 * `list.remove(v)` found no element deep-equal to `v`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, ValueNotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * const l = db.createList("l", [1]);
 * assert.throws(() => l.remove(2), ValueNotFoundError);
 * ```
 */
export class ValueNotFoundError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("VALUE_NOT_FOUND", message, options);
  }
}

/**
 * A row with that primary key (or unique index value) exists already.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, DuplicateKeyError } from "@cyberdb/core";
 * const db = await Database.open();
 * const t = db.createTable({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * t.insert({ id: 1 });
 * assert.throws(() => t.insert({ id: 1 }), DuplicateKeyError);
 * t.upsert({ id: 1 }); // upsert replaces instead
 * ```
 */
export class DuplicateKeyError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("DUPLICATE_KEY", message, options);
  }
}

/**
 * A value, key, row or argument is not acceptable; nothing was stored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, ValidationError } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * assert.throws(() => d.set("f", (() => 1) as never), ValidationError); // a function is no Value
 * assert.equal(d.has("f"), false); // nothing was stored
 * ```
 */
export class ValidationError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("VALIDATION", message, options);
  }
}

/**
 * A table schema is malformed, or differs from the one stored on disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, SchemaError } from "@cyberdb/core";
 * const db = await Database.open();
 * assert.throws(() => db.createTable({ name: "t", columns: [] }), SchemaError);
 * ```
 */
export class SchemaError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("SCHEMA", message, options);
  }
}

/**
 * A file on disk failed its checksum or could not be decoded. Carries the
 * file and byte offset where the damage starts, when known.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CorruptionError } from "@cyberdb/core";
 * const e = new CorruptionError("Bad record", { file: "wal/1.wal", offset: 42 });
 * assert.equal(e.code, "CORRUPTION");
 * assert.deepEqual([e.file, e.offset], ["wal/1.wal", 42]);
 * ```
 */
export class CorruptionError extends CyberDBError {
  /** The damaged file, relative to the database directory, if known. */
  readonly file?: string;
  /** The byte offset in `file` where the damage starts, if known. */
  readonly offset?: number;
  /** Creates the error. */
  constructor(
    message: string,
    options?: ErrorOptions & { file?: string; offset?: number },
  ) {
    super("CORRUPTION", message, options);
    this.file = options?.file;
    this.offset = options?.offset;
  }
}

/**
 * The database directory is held by another open database (this process or another).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, LockedError } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * const storage = new MemoryStorage();
 * const db = await Database.open({ dir: "data", storage });
 * await assert.rejects(Database.open({ dir: "data", storage }), LockedError);
 * await db.close(); // releases the directory
 * await (await Database.open({ dir: "data", storage })).close();
 * ```
 */
export class LockedError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("LOCKED", message, options);
  }
}

/**
 * The database, collection handle or connection was closed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClosedError, Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * await db.close();
 * assert.throws(() => db.createDict("e"), ClosedError);
 * assert.throws(() => d.get("k"), ClosedError); // its handles too
 * ```
 */
export class ClosedError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("CLOSED", message, options);
  }
}

/**
 * A wrong or missing password.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthError } from "@cyberdb/core";
 * assert.equal(new AuthError("Wrong password").code, "AUTH");
 * ```
 */
export class AuthError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("AUTH", message, options);
  }
}

/**
 * A malformed request or reply on the wire (bad frame, unknown op).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, ProtocolError } from "@cyberdb/core";
 * const db = await Database.open();
 * assert.throws(() => db.execute("dict.nope", ["d"]), ProtocolError); // an unknown op
 * ```
 */
export class ProtocolError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("PROTOCOL", message, options);
  }
}

/**
 * A value, request or frame exceeds the configured size limit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TooLargeError } from "@cyberdb/core";
 * assert.equal(new TooLargeError("Too large").code, "TOO_LARGE");
 * ```
 */
export class TooLargeError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("TOO_LARGE", message, options);
  }
}

/**
 * The connection to the server failed or was lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionError } from "@cyberdb/core";
 * assert.equal(new ConnectionError("Connection refused").code, "CONNECTION");
 * ```
 */
export class ConnectionError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("CONNECTION", message, options);
  }
}

/**
 * A check of an atomic batch failed: the entry's version is not the one
 * expected. Nothing of the batch was applied; read again and retry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConflictError } from "@cyberdb/core";
 * assert.equal(new ConflictError("Version mismatch").code, "CONFLICT");
 * ```
 */
export class ConflictError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("CONFLICT", message, options);
  }
}

/**
 * A watch asked to resume from an LSN older than the change feed keeps:
 * re-read the data and watch again from the current LSN.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResetError } from "@cyberdb/core";
 * assert.equal(new ResetError("Too old").code, "RESET");
 * ```
 */
export class ResetError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("RESET", message, options);
  }
}

/**
 * A watcher fell too far behind the writers; `lsn` is the last change it
 * received, from which it may resume.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LaggedError } from "@cyberdb/core";
 * const e = new LaggedError("Too slow", { lsn: 42 });
 * assert.equal(e.code, "LAGGED");
 * assert.equal(e.lsn, 42); // resume from here
 * ```
 */
export class LaggedError extends CyberDBError {
  /** The LSN of the last change delivered before the watcher was cut off, when known. */
  readonly lsn?: number;
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions & { lsn?: number }) {
    super("LAGGED", message, options);
    this.lsn = options?.lsn;
  }
}

/**
 * The server is still recovering its data and cannot answer yet: retry shortly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoadingError } from "@cyberdb/core";
 * assert.equal(new LoadingError("Loading").code, "LOADING");
 * ```
 */
export class LoadingError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("LOADING", message, options);
  }
}

/**
 * The disk refused a write or sync (full, read-only, files removed): the
 * write was not made durable and was not applied. Reads keep working;
 * writes resume once the disk accepts them again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database, StorageError } from "@cyberdb/core";
 * import { MemoryStorage } from "@cyberdb/core/storage";
 * const storage = new MemoryStorage();
 * const db = await Database.open({ dir: "data", storage });
 * const d = db.createDict("d");
 * storage.setFault({ capacity: 0 }); // the disk is full
 * d.set("k", 1);
 * await assert.rejects(db.flush(), { name: "StorageError", code: "STORAGE", message: /ENOSPC/ });
 * assert.throws(() => d.set("k", 2), StorageError); // refused before changing anything
 * assert.equal(d.get("k"), 1); // reads keep working
 * storage.setFault(null);
 * await db.close();
 * ```
 */
export class StorageError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("STORAGE", message, options);
  }
}

/**
 * An unexpected failure inside the server (a bug): the server log has the
 * details. Only ever received from a server, never thrown by the engine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InternalError } from "@cyberdb/core";
 * assert.equal(new InternalError("Internal server error").code, "INTERNAL");
 * ```
 */
export class InternalError extends CyberDBError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("INTERNAL", message, options);
  }
}

const CLASSES: Record<ErrorCode, new (message: string) => CyberDBError> = {
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  WRONG_KIND: WrongKindError,
  KEY_NOT_FOUND: KeyNotFoundError,
  INDEX_OUT_OF_RANGE: IndexOutOfRangeError,
  VALUE_NOT_FOUND: ValueNotFoundError,
  DUPLICATE_KEY: DuplicateKeyError,
  VALIDATION: ValidationError,
  SCHEMA: SchemaError,
  CORRUPTION: CorruptionError,
  LOCKED: LockedError,
  CLOSED: ClosedError,
  AUTH: AuthError,
  PROTOCOL: ProtocolError,
  TOO_LARGE: TooLargeError,
  CONNECTION: ConnectionError,
  CONFLICT: ConflictError,
  RESET: ResetError,
  LAGGED: LaggedError,
  LOADING: LoadingError,
  STORAGE: StorageError,
  INTERNAL: InternalError,
};

/**
 * Re-creates the typed error for a `{ code, message }` pair, as a client does
 * with an error reply. Unknown codes become a {@linkcode ProtocolError}
 * (code `PROTOCOL`) carrying the message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorFromCode, KeyNotFoundError, ProtocolError } from "@cyberdb/core";
 * const e = errorFromCode("KEY_NOT_FOUND", "Key 1 is not in dict \"d\"");
 * assert.ok(e instanceof KeyNotFoundError);
 * assert.equal(e.message, "Key 1 is not in dict \"d\"");
 * assert.ok(errorFromCode("NO_SUCH_CODE", "?") instanceof ProtocolError);
 * ```
 */
export function errorFromCode(code: string, message: string): CyberDBError {
  const Class = Object.hasOwn(CLASSES, code) ? CLASSES[code as ErrorCode] : undefined;
  return Class ? new Class(message) : new ProtocolError(message);
}
