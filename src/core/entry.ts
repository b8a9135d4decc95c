/**
 * The types of versioned entries and expiry options (DESIGN §9), shared by
 * the embedded handles and the remote client.
 *
 * @module
 */

import type { Key, Value } from "./value.ts";

/** Options of `dict.set(key, value, options)`. */
export interface SetOptions {
  /** Milliseconds from now after which the key expires (a positive number). */
  expireIn?: number;
}

/** A dict entry with its version (`dict.getEntry`). */
export interface Entry<V extends Value = Value> {
  /** The key. */
  key: Key;
  /** A copy of the value. */
  value: V;
  /** The LSN of the key's last write: pass it to a check of an atomic batch. */
  version: number;
}

/** One check of an atomic batch (check-and-set): the entry's version must be `version`, `null` = must be absent. */
export interface Check {
  /** The dict or table. */
  collection: string;
  /** The dict key, or the table row's primary key. */
  key: unknown;
  /** The expected version (an LSN from `getEntry`), or `null` for "absent". */
  version: number | null;
}
