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
 * import { CyberDBError, Database } from "@cyberdb/core";
 * const db = await Database.open();
 * try {
 *   db.getDict("missing");
 * } catch (e) {
 *   if (e instanceof CyberDBError) console.log(e.code); // "NOT_FOUND"
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
 * import { Database, NotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * try { db.getDict("nope"); } catch (e) { console.log(e instanceof NotFoundError); }
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
 * import { AlreadyExistsError, Database } from "@cyberdb/core";
 * const db = await Database.open();
 * db.createDict("a");
 * try { db.createList("a"); } catch (e) { console.log(e instanceof AlreadyExistsError); }
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
 * import { Database, WrongKindError } from "@cyberdb/core";
 * const db = await Database.open();
 * db.createList("l");
 * try { db.getDict("l"); } catch (e) { console.log(e instanceof WrongKindError); }
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
 * import { Database, KeyNotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * try { d.pop("x"); } catch (e) { console.log(e instanceof KeyNotFoundError); }
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
 * import { Database, IndexOutOfRangeError } from "@cyberdb/core";
 * const db = await Database.open();
 * const l = db.createList("l");
 * try { l.pop(); } catch (e) { console.log(e instanceof IndexOutOfRangeError); }
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
 * import { Database, ValueNotFoundError } from "@cyberdb/core";
 * const db = await Database.open();
 * const l = db.createList("l", [1]);
 * try { l.remove(2); } catch (e) { console.log(e instanceof ValueNotFoundError); }
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
 * import { Database, DuplicateKeyError } from "@cyberdb/core";
 * const db = await Database.open();
 * const t = db.createTable({ name: "t", columns: [{ name: "id", type: "Int32", primaryKey: true }] });
 * t.insert({ id: 1 });
 * try { t.insert({ id: 1 }); } catch (e) { console.log(e instanceof DuplicateKeyError); }
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
 * import { Database, ValidationError } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * try { d.set("f", (() => 1) as never); } catch (e) { console.log(e instanceof ValidationError); }
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
 * import { Database, SchemaError } from "@cyberdb/core";
 * const db = await Database.open();
 * try { db.createTable({ name: "t", columns: [] }); } catch (e) { console.log(e instanceof SchemaError); }
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
 * import { CorruptionError } from "@cyberdb/core";
 * const e = new CorruptionError("Bad record", { file: "wal/1.wal", offset: 42 });
 * console.log(e.file, e.offset);
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
 * import { LockedError } from "@cyberdb/core";
 * console.log(new LockedError("Locked").code); // "LOCKED"
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
 * import { ClosedError, Database } from "@cyberdb/core";
 * const db = await Database.open();
 * await db.close();
 * try { db.createDict("d"); } catch (e) { console.log(e instanceof ClosedError); }
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
 * import { AuthError } from "@cyberdb/core";
 * console.log(new AuthError("Wrong password").code); // "AUTH"
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
 * import { ProtocolError } from "@cyberdb/core";
 * console.log(new ProtocolError("Unknown op").code); // "PROTOCOL"
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
 * import { TooLargeError } from "@cyberdb/core";
 * console.log(new TooLargeError("Too large").code); // "TOO_LARGE"
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
 * import { ConnectionError } from "@cyberdb/core";
 * console.log(new ConnectionError("Connection refused").code); // "CONNECTION"
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
 * import { ConflictError } from "@cyberdb/core";
 * console.log(new ConflictError("Version mismatch").code); // "CONFLICT"
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
 * import { ResetError } from "@cyberdb/core";
 * console.log(new ResetError("Too old").code); // "RESET"
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
 * import { LaggedError } from "@cyberdb/core";
 * console.log(new LaggedError("Too slow", { lsn: 42 }).lsn); // 42
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
 * import { LoadingError } from "@cyberdb/core";
 * console.log(new LoadingError("Loading").code); // "LOADING"
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
 * import { StorageError } from "@cyberdb/core";
 * console.log(new StorageError("No space left on device (ENOSPC)").code); // "STORAGE"
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
 * import { InternalError } from "@cyberdb/core";
 * console.log(new InternalError("Internal server error").code); // "INTERNAL"
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
 * with an error reply. Unknown codes become a plain {@linkcode CyberDBError}
 * with code `PROTOCOL`.
 *
 * @example
 * ```ts
 * import { errorFromCode, KeyNotFoundError } from "@cyberdb/core";
 * const e = errorFromCode("KEY_NOT_FOUND", "Key 1 is not in dict \"d\"");
 * console.log(e instanceof KeyNotFoundError); // true
 * ```
 */
export function errorFromCode(code: string, message: string): CyberDBError {
  const Class = Object.hasOwn(CLASSES, code) ? CLASSES[code as ErrorCode] : undefined;
  return Class ? new Class(message) : new ProtocolError(message);
}
