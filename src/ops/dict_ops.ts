/**
 * Dict operations: Map's methods plus Python's dict methods.
 *
 * @module
 */

import { KeyNotFoundError, ValidationError } from "../errors.ts";
import type { DictState, Engine } from "../core/engine.ts";
import { checkKey, cloneIn, cloneOut, copyFlat, isFlat, type Key, quote, setOwn, type Value } from "../core/value.ts";
import { capturedBatches } from "../core/batches.ts";
import { ALL_ITEMS, op } from "./types.ts";

/**
 * Turns the forms `update()` and `createDict()` accept — a plain object, a
 * Map or an iterable of `[key, value]` pairs — into checked entries. Checks
 * every entry before returning, so a bad one stores nothing.
 *
 * @example
 * ```ts
 * import { toEntries } from "./dict_ops.ts";
 * toEntries({ a: 1 }); // [["a", 1]]
 * ```
 */
export function toEntries(input: unknown): [Key, Value][] {
  const out: [Key, Value][] = [];
  if (typeof input !== "object" || input === null) {
    throw new ValidationError(
      `Entries ${quote(input)} are not an object, a Map or an iterable of [key, value] pairs: pass one of those`,
    );
  }
  const proto = Object.getPrototypeOf(input);
  if (proto === Object.prototype || proto === null) {
    const obj = input as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      if (obj[k] === undefined) continue;
      out.push([checkKey(k), cloneIn(obj[k], `Value of key ${quote(k)}`)]);
    }
    return out;
  }
  if (typeof (input as Iterable<unknown>)[Symbol.iterator] !== "function") {
    throw new ValidationError(
      `Entries ${quote(input)} are not an object, a Map or an iterable of [key, value] pairs: pass one of those`,
    );
  }
  let i = 0;
  for (const pair of input as Iterable<unknown>) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new ValidationError(`Entry ${i} is ${quote(pair)}, not a [key, value] pair: pass pairs of two`);
    }
    out.push([checkKey(pair[0]), cloneIn(pair[1], `Value of key ${quote(pair[0])}`)]);
    i++;
  }
  return out;
}

function missing(d: DictState, key: Key): never {
  throw new KeyNotFoundError(
    `Key ${quote(key)} is not in dict ${quote(d.name)}: check has() first or pass a fallback`,
  );
}

/** No expiry. */
const NEVER = Infinity;

/**
 * Reads the options of `dict.set(key, value, options)`: `{ expireIn }` (ms
 * from now, > 0) as callers pass it, or `{ expireAt }` (ms since the epoch)
 * as the log records it. Returns the absolute expiry, `Infinity` for none.
 */
function expiryOption(e: Engine, options: unknown): number {
  if (options === undefined || options === null) return NEVER;
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new ValidationError(
      `Options ${quote(options)} of dict.set are not an object: pass { expireIn: ms } or leave them out`,
    );
  }
  let at = NEVER;
  for (const k of Object.keys(options)) {
    const v = (options as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (k === "expireIn") at = e.clock() + checkDelay(v, "expireIn");
    else if (k === "expireAt") at = checkInstant(v, "expireAt");
    else throw new ValidationError(`Option ${quote(k)} of dict.set is unknown: use expireIn (ms)`);
  }
  return at;
}

/** A delay in ms: a positive finite number. */
function checkDelay(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new ValidationError(
      `${what} ${quote(v)} is not a positive number of milliseconds: pass e.g. 60000 for a minute`,
    );
  }
  return v;
}

/** An instant in ms since the epoch: a finite number. */
function checkInstant(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new ValidationError(
      `${what} ${quote(v)} is not a time in milliseconds since the epoch: pass e.g. Date.now() + 60000`,
    );
  }
  return v;
}

/** The logged arguments of a set: its expiry as an absolute time, so replay does not depend on when it runs. */
function setArgs(d: DictState, k: Key, v: Value, expireAt: number): unknown[] {
  return expireAt === NEVER ? [d.name, k, v] : [d.name, k, v, { expireAt }];
}

/**
 * Runs a write on `keys` so that a key stored but expired counts as absent:
 * if any is, it is first removed — logged as a delete, in one transaction
 * with the write, so the call still commits with one LSN and replay needs
 * no clock. Otherwise the write runs as it is.
 */
function freshly<T>(e: Engine, d: DictState, keys: readonly Key[], write: () => T): T {
  if (!d.store.expiring) return write();
  const now = e.now();
  const expired = keys.filter((k) => d.store.isExpired(k, now));
  if (expired.length === 0) return write();
  return e.transaction(() => {
    for (const k of expired) removeKey(e, d, k);
    return write();
  });
}

/** Stores `v` under `k` with the expiry `at` (`Infinity`: none), logged as the `dict.set` replay needs. */
function putKey(e: Engine, d: DictState, k: Key, v: Value, at: number): void {
  d.store.set(k, v, e.undo, e.nextLsn, at);
  if (at !== NEVER) e.expiryScheduled?.(at);
  if (e.logging) e.log("dict.set", setArgs(d, k, v, at));
  else e.tick();
}

/** Removes a stored key (expired or not) as a logged delete. */
function removeKey(e: Engine, d: DictState, k: Key): void {
  d.store.delete(k, e.undo);
  if (e.logging) e.log("dict.delete", [d.name, k]);
  else e.tick();
}

/**
 * The body of `dict.get`, callable without an args array (the handle's hot
 * path). The key is checked only on a miss: every stored key was checked
 * when it was written, and a `Map` lookup finds nothing for a key that is
 * not a string or a number (and finds `0` for `-0`, as `checkKey`
 * normalises it), so a hit proves the key valid and a miss still refuses a
 * bad key with `ValidationError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * db.createDict("d").set("k", { n: 1 });
 * assert.deepEqual(db.getDict("d").get("k"), { n: 1 }); // the handle calls getValue
 * ```
 */
export function getValue(e: Engine, d: DictState, key: unknown, hasFallback: boolean, fallback: unknown): unknown {
  const store = d.store;
  const slot = store.expiring ? store.find(key as Key, e.now()) : store.find(key as Key);
  if (slot === -1) {
    checkKey(key);
    return hasFallback ? fallback : undefined;
  }
  return copyOf(store, slot);
}

/** Memo of a dict entry whose value is a flat object or array (see `SlotMap.setMemo`). */
const FLAT = 1;
/** Memo of a dict entry whose value needs a deep copy. */
const DEEP = 2;

/**
 * A caller's copy of the value in `slot`. Whether it is flat is found out at
 * its first read and noted on the entry, so later reads of a flat value are
 * one engine clone with no pass over its cells (on V8 that pass cost about
 * as much as the clone itself).
 */
function copyOf(store: DictState["store"], slot: number): Value {
  const v = store.valueAt(slot);
  if (typeof v !== "object" || v === null) return v;
  let memo = store.memoAt(slot);
  if (memo === 0) store.setMemo(slot, memo = isFlat(v) ? FLAT : DEEP);
  return memo === FLAT ? copyFlat(v) : cloneOut(v);
}

/** `dict.get(key, fallback?)`: the value, else the fallback, else `undefined`. */
export const dictGet = op<DictState>("dict.get", {
  run: (e, d, args) => getValue(e, d, args[1], args.length > 2, args[2]),
});

/** `dict.getEntry(key)`: `{ key, value, version }` (a copy, and the LSN of the key's last write), or `undefined`. */
export const dictGetEntry = op<DictState>("dict.getEntry", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const now = d.store.expiring ? e.now() : -Infinity;
    const v = d.store.get(k, now);
    return v === undefined ? undefined : { key: k, value: cloneOut(v), version: d.store.versionOf(k, now) };
  },
});

/**
 * The body of `dict.set`, callable without an args array (the handle's hot
 * path). It checks that writes are accepted itself, as `op()` does for
 * every write op, since the handle calls it directly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "@cyberdb/core";
 * const db = await Database.open();
 * const d = db.createDict("d");
 * d.set("k", { n: 1 }); // the handle calls setValue
 * assert.deepEqual(d.get("k"), { n: 1 });
 * ```
 */
export function setValue(e: Engine, d: DictState, key: unknown, value: unknown, options: unknown): void {
  if (e.storageError !== null) e.checkWritable();
  const k = checkKey(key);
  const v = cloneIn(value);
  const at = options === undefined ? NEVER : expiryOption(e, options);
  // freshly() allocates a key array and a closure: only worth it when this key may have expired.
  if (d.store.expiring && d.store.isExpired(k, e.now())) {
    freshly(e, d, [k], () => putKey(e, d, k, v, at));
  } else putKey(e, d, k, v, at);
}

/** `dict.set(key, value, options?)`: stores the value; options `{ expireIn }` (ms); a set without it clears any expiry. */
export const dictSet = op<DictState>("dict.set", {
  run: (e, d, args) => setValue(e, d, args[1], args[2], args[3]),
});

/** `dict.has(key)`: whether the key is there (an expired key is not). */
export const dictHas = op<DictState>("dict.has", {
  run: (e, d, args) => d.store.has(checkKey(args[1]), d.store.expiring ? e.now() : -Infinity),
});

/** `dict.delete(key)`: whether the key was there (an expired key was not). */
export const dictDelete = op<DictState>("dict.delete", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    if (!d.store.has(k, d.store.expiring ? e.now() : -Infinity)) return false;
    removeKey(e, d, k);
    return true;
  },
});

/** `dict.size`: the number of keys (expired ones not counted). */
export const dictSize = op<DictState>("dict.size", {
  run: (e, d) => d.store.expiring ? d.store.count(e.now()) : d.store.size,
});

function* mapIter<T, U>(it: Iterable<T>, fn: (t: T) => U): IterableIterator<U> {
  for (const t of it) yield fn(t);
}

/** The time that decides which entries a read sees. */
function seenAt(e: Engine, d: DictState): number {
  return d.store.expiring ? e.now() : -Infinity;
}

/** `dict.keys()`: an iterator in insertion order. */
export const dictKeys = op<DictState>("dict.keys", {
  run: (e, d) => d.store.keys(seenAt(e, d)),
  stream: (e, d) => capturedBatches([...d.store.keys(seenAt(e, d))], (k) => k),
  answer: ALL_ITEMS,
});

/** `dict.values()`: an iterator of copies in insertion order. */
export const dictValues = op<DictState>("dict.values", {
  run: (e, d) => mapIter(d.store.values(seenAt(e, d)), cloneOut),
  stream: (e, d) => capturedBatches([...d.store.values(seenAt(e, d))], cloneOut),
  answer: ALL_ITEMS,
});

/** `dict.entries()`: an iterator of `[key, copy]` in insertion order. */
export const dictEntries = op<DictState>("dict.entries", {
  run: (e, d) => mapIter(d.store.entries(seenAt(e, d)), ([k, v]): [Key, Value] => [k, cloneOut(v)]),
  stream: (e, d) => capturedBatches([...d.store.entries(seenAt(e, d))], ([k, v]): [Key, Value] => [k, cloneOut(v)]),
  answer: ALL_ITEMS,
});

/** `dict.clear()`: removes every key. */
export const dictClear = op<DictState>("dict.clear", {
  run(e, d) {
    d.store.clear(e.undo);
    if (e.logging) e.log("dict.clear", [d.name]);
    else e.tick();
  },
});

/** `dict.update(objectOrEntries)`: sets every entry of an object, a Map or `[key, value]` pairs, all or none; each key loses any expiry. */
export const dictUpdate = op<DictState>("dict.update", {
  run(e, d, args) {
    const entries = toEntries(args[1]);
    if (entries.length === 0) return;
    freshly(e, d, entries.map(([k]) => k), () => {
      const version = e.nextLsn;
      for (const [k, v] of entries) d.store.set(k, v, e.undo, version);
      if (e.logging) e.log("dict.update", [d.name, entries]);
      else e.tick();
    });
  },
});

/** `dict.pop(key, fallback?)`: removes and returns the value; a missing key without a fallback → KeyNotFoundError. */
export const dictPop = op<DictState>("dict.pop", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const v = d.store.get(k, seenAt(e, d));
    if (v === undefined) return args.length > 2 ? args[2] : missing(d, k);
    removeKey(e, d, k);
    // A copy even though it left the store: a rollback would put it back.
    return cloneOut(v);
  },
});

/** `dict.popItem()`: removes and returns the last inserted `[key, value]`; an empty dict → KeyNotFoundError. */
export const dictPopItem = op<DictState>("dict.popItem", {
  run(e, d) {
    const last = d.store.last(seenAt(e, d));
    if (last === undefined) {
      throw new KeyNotFoundError(`Cannot popItem() from dict ${quote(d.name)}: it is empty; check size first`);
    }
    // Logged as its effect: which key goes depends on state, not on args.
    removeKey(e, d, last[0]);
    return [last[0], cloneOut(last[1])];
  },
});

/** `dict.setDefault(key, value)`: the existing value, or stores and returns `value`. */
export const dictSetDefault = op<DictState>("dict.setDefault", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const old = d.store.get(k, seenAt(e, d));
    if (old !== undefined) return cloneOut(old);
    const v = cloneIn(args[2]);
    freshly(e, d, [k], () => {
      d.store.set(k, v, e.undo, e.nextLsn);
      if (e.logging) e.log("dict.set", [d.name, k, v]);
      else e.tick();
    });
    return cloneOut(v);
  },
});

/** The step of an increment: a finite number or a bigint. */
function checkStep(by: unknown): number | bigint {
  if (typeof by === "bigint" || (typeof by === "number" && Number.isFinite(by))) return by;
  throw new ValidationError(`Increment ${quote(by)} is not a finite number or a bigint: pass e.g. 1 or 1n`);
}

/** `current + by`, in the type of `current` (bigint stays bigint), or a ValidationError naming why not. */
function add(d: DictState, k: Key, current: Value, by: number | bigint): number | bigint {
  if (typeof current === "bigint") {
    if (typeof by === "number" && !Number.isInteger(by)) {
      throw new ValidationError(
        `Key ${quote(k)} of dict ${quote(d.name)} holds a bigint; increment it by an integer, not ${quote(by)}`,
      );
    }
    const sum = current + BigInt(by);
    if (sum < -(2n ** 63n) || sum > 2n ** 64n - 1n) {
      throw new ValidationError(
        `Incrementing key ${quote(k)} of dict ${quote(d.name)} by ${
          quote(by)
        } leaves the 64-bit range: store it as a string`,
      );
    }
    return sum;
  }
  if (typeof current === "number") {
    if (typeof by === "bigint") {
      if (by > BigInt(Number.MAX_SAFE_INTEGER) || by < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new ValidationError(
          `Key ${quote(k)} of dict ${quote(d.name)} holds a number; ${
            quote(by)
          } is beyond its exact range: pass a number`,
        );
      }
      return current + Number(by);
    }
    return current + by;
  }
  throw new ValidationError(
    `Key ${quote(k)} of dict ${quote(d.name)} holds ${
      quote(current)
    }, not a number: increment works on numbers and bigints`,
  );
}

/**
 * `dict.increment(key, by = 1)`: adds `by` and returns the new value; a
 * missing (or expired) key starts at 0 (`0n` for a bigint step). The key
 * keeps its expiry. Logged as the resulting `dict.set`, so replay never
 * depends on the value before.
 */
export const dictIncrement = op<DictState>("dict.increment", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const by = checkStep(args.length > 2 ? args[2] : 1);
    const now = seenAt(e, d);
    const current = d.store.get(k, now);
    const next = add(d, k, current === undefined ? (typeof by === "bigint" ? 0n : 0) : current, by);
    const at = current === undefined ? NEVER : d.store.expiryOf(k, now) ?? NEVER;
    freshly(e, d, [k], () => {
      d.store.set(k, next, e.undo, e.nextLsn, at);
      if (e.logging) e.log("dict.set", setArgs(d, k, next, at));
      else e.tick();
    });
    return next;
  },
});

/** Sets a visible key's expiry (`Infinity`: none) as a logged `dict.expireAt`; whether the key exists. */
function setExpiry(e: Engine, d: DictState, k: Key, at: number): boolean {
  if (!d.store.has(k, seenAt(e, d))) return false;
  d.store.setExpiry(k, at, e.undo, e.nextLsn);
  if (at !== NEVER) e.expiryScheduled?.(at);
  if (e.logging) e.log("dict.expireAt", [d.name, k, at === NEVER ? null : at]);
  else e.tick();
  return true;
}

/** `dict.expire(key, ms | null)`: expires the key `ms` from now (`null`: never); whether the key exists. */
export const dictExpire = op<DictState>("dict.expire", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const at = args[2] === null ? NEVER : e.clock() + checkDelay(args[2], "expire");
    return setExpiry(e, d, k, at);
  },
});

/** `dict.expireAt(key, epochMs | null)`: expires the key at that time (`null`: never); whether the key exists. */
export const dictExpireAt = op<DictState>("dict.expireAt", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    return setExpiry(e, d, k, args[2] === null ? NEVER : checkInstant(args[2], "expireAt"));
  },
});

/** `dict.ttl(key)`: the milliseconds left, `null` for no expiry, `undefined` for a missing key. */
export const dictTtl = op<DictState>("dict.ttl", {
  run(e, d, args) {
    const k = checkKey(args[1]);
    const now = e.now();
    const at = d.store.expiryOf(k, now);
    return at === undefined || at === null ? at : Math.max(0, at - now);
  },
});

/**
 * Removes up to `limit` keys that expired by now, from every dict, each as
 * a logged delete — all of them one transaction (one log record). Returns
 * how many went. The database calls it from a timer, a little at a time
 * (Redis's active expiry), so a million keys expiring at once never stall
 * a writer for long; reads never wait for it, since an expired key is
 * invisible at once.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { execute } from "./mod.ts";
 * import { removeExpired } from "./dict_ops.ts";
 * const e = new Engine();
 * let now = 0;
 * e.clock = () => now;
 * execute(e, "db.createDict", ["d"]);
 * execute(e, "dict.set", ["d", "k", 1, { expireIn: 10 }]);
 * now = 10;
 * removeExpired(e, 100); // 1: "k" removed, logged as dict.delete
 * ```
 */
export function removeExpired(engine: Engine, limit: number): number {
  // Writes are refused (closed, or the disk refuses the log): nothing to do until they are not.
  if (engine.closedReason !== null || engine.storageError !== null || engine.replaying) return 0;
  const now = engine.now();
  let removed = 0;
  const due: [DictState, Key[]][] = [];
  for (const s of engine.collections.values()) {
    if (removed >= limit) break;
    if (s.kind !== "dict" || !s.store.expiring) continue;
    const keys = s.store.due(now, limit - removed);
    if (keys.length > 0) due.push([s, keys]);
    removed += keys.length;
  }
  if (removed === 0) return 0;
  engine.transaction(() => {
    for (const [d, keys] of due) for (const k of keys) removeKey(engine, d, k);
  });
  return removed;
}

/**
 * When the next key of any dict expires (ms), or `Infinity`.
 *
 * @example
 * ```ts
 * import { Engine } from "../core/engine.ts";
 * import { nextExpiry } from "./dict_ops.ts";
 * nextExpiry(new Engine()); // Infinity
 * ```
 */
export function nextExpiry(engine: Engine): number {
  let next = Infinity;
  for (const s of engine.collections.values()) {
    if (s.kind === "dict" && s.store.expiring) next = Math.min(next, s.store.nextExpiry());
  }
  return next;
}

/**
 * Checks a scan cursor and page size.
 *
 * @example
 * ```ts
 * import { checkScan } from "./dict_ops.ts";
 * checkScan(0, 100); // [0, 100]
 * ```
 */
export function checkScan(cursor: unknown, count: unknown): [number, number] {
  if (typeof cursor !== "number" || !Number.isSafeInteger(cursor) || cursor < 0) {
    throw new ValidationError(
      `Scan cursor ${quote(cursor)} is not valid: pass 0 to start, then the cursor the last page returned`,
    );
  }
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 100_000) {
    throw new ValidationError(`Scan count ${quote(count)} is not an integer from 1 to 100000: pass a page size`);
  }
  return [cursor, count];
}

/** `dict.scan(cursor, count)`: one page `[nextCursor | null, [key, value][]]`, for batched iteration. */
export const dictScan = op<DictState>("dict.scan", {
  run(e, d, args) {
    const [cursor, count] = checkScan(args[1], args[2]);
    const { next, entries } = d.store.scan(cursor, count, seenAt(e, d));
    return [next, entries.map(([k, v]): [Key, Value] => [k, cloneOut(v)])];
  },
});

/**
 * `dict.toObject()`: a plain object (number keys become strings). Built by
 * assignment — `defineProperty` per key is several times slower on V8 — with
 * the one key assignment gets wrong, `"__proto__"`, made an own property.
 */
export const dictToObject = op<DictState>("dict.toObject", {
  run(e, d) {
    const out: Record<string, Value> = {};
    d.store.forEach((v, k) => setOwn(out, k as string, cloneOut(v)), seenAt(e, d));
    return out;
  },
});

/** Every dict op. */
export const DICT_OPS = [
  dictGet,
  dictSet,
  dictHas,
  dictDelete,
  dictSize,
  dictKeys,
  dictValues,
  dictEntries,
  dictClear,
  dictUpdate,
  dictPop,
  dictPopItem,
  dictSetDefault,
  dictToObject,
  dictScan,
  dictGetEntry,
  dictIncrement,
  dictExpire,
  dictExpireAt,
  dictTtl,
];
