/**
 * An insertion-ordered map whose deletes can be undone in place.
 *
 * A JavaScript `Map` forgets where a deleted key stood, so rolling back a
 * transaction that deleted a key would move it to the end. Dicts and tables
 * promise insertion order (`popItem`, `rows()`), and a rolled-back
 * transaction must leave them exactly as they were, so entries live in
 * slots and a delete leaves a tombstone that an undo can fill again.
 * Tombstones are compacted away once they outnumber live entries, but never
 * inside a transaction, whose undo entries refer to slot numbers.
 *
 * ```
 *   index: Map<key, slot>        keys:  [ "a" | ∅ | "c" | "d" ]
 *                                vals:  [  1  | ∅ |  3  |  4  ]
 *                                tags:  [ 29  | ∅ | 36  | 50  ]   version × 4 + memo
 *                                exps:  [  0  | ∅ | t1  |  0  ]   absolute expiry (ms), 0 = none
 *                                            ^ tombstone (deleted "b")
 *   due: min-heap of (expiry, key)           which entries expire next
 * ```
 *
 * A tag packs two numbers per entry: the LSN of its last write (its
 * version) and the owner's memo on its value (0–3, 0 = none), as
 * `version * 4 + memo`. One array instead of two is one push fewer per new
 * key, which is most of what versions cost a write; the product stays an
 * exact integer for every LSN below 2^51 (a million writes a second for
 * seventy years).
 *
 * Entries may expire (DESIGN §9): an entry whose expiry is at or before
 * `now` is invisible to every read that passes `now` — `get`, `has`,
 * `count`, iteration, `last`, `scan` — though it keeps its slot until it is
 * removed (the database removes expired entries with logged deletes; this
 * map only answers). `exps` is allocated with the first expiring entry, and
 * a map that never had one pays nothing for the feature.
 *
 * @module
 */

/** Undo entries of the running transaction, or `null` outside one. */
export type Undo = Array<() => void> | null;

const COMPACT_MIN = 64;

/** Tags are `version * MEMO_SPAN + memo`: memos are 0..MEMO_SPAN-1. */
const MEMO_SPAN = 4;

/** The version in a tag (exact: dividing by a power of two and flooring). */
function versionOfTag(tag: number): number {
  return Math.floor(tag / MEMO_SPAN);
}

/** No expiry: time never reaches it. */
const NEVER = Infinity;

/**
 * An insertion-ordered map with undoable, order-preserving deletes, a
 * version per entry and optional expiry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SlotMap } from "./slot_map.ts";
 * const m = new SlotMap<string, number>();
 * m.set("a", 1, null, 7);
 * assert.equal(m.get("a"), 1);
 * assert.equal(m.versionOf("a"), 7);
 * m.set("b", 2, null, 8, 1_000);
 * assert.equal(m.get("b", 999), 2);
 * assert.equal(m.get("b", 1_000), undefined); // expired at 1000
 * ```
 */
export class SlotMap<K, V> {
  #index = new Map<K, number>();
  #keys: (K | undefined)[] = [];
  #vals: (V | undefined)[] = [];
  /**
   * Per slot, `version * MEMO_SPAN + memo`: the LSN of the entry's last
   * write, and a small number the owner may attach to its value
   * (`setMemo`), such as how to copy it. A memo is 0 until set and back to
   * 0 whenever the value in that slot changes (every write stores a new
   * tag), so it always describes the value it sits by.
   */
  #tags: number[] = [];
  /** Absolute expiry per slot (`Infinity` = none); `null` until the first expiring entry. */
  #exps: number[] | null = null;
  /** Entries that expire, soonest first; stale ones (overwritten, deleted) are skipped when met. */
  #due = new ExpiryHeap<K>();
  #dead = 0;
  /** Bumped by every compaction; scan cursors carry it. */
  #epoch = 0;
  /** The old slots the last compaction kept, ascending: maps an old cursor to a new slot. */
  #kept: Int32Array | null = null;

  /** The number of entries, expired ones not yet removed included (see {@linkcode count}). */
  get size(): number {
    return this.#index.size;
  }

  /** Whether any entry has (or had) an expiry: reads may then need `now`. */
  get expiring(): boolean {
    return this.#due.size > 0;
  }

  /**
   * The number of entries visible at `now` (expired ones left out). Few
   * due entries are counted through the heap; when many are due (a million
   * keys that expired together, not yet removed) a walk of the heap with its
   * set of seen keys would cost far more than one pass over the expiry
   * array, so past a small budget it makes that pass instead.
   */
  count(now: number): number {
    if (this.#due.size === 0) return this.#index.size;
    const budget = Math.max(64, this.#keys.length >> 6);
    const due = this.#due.countDue(now, (key, at) => this.#expiryIs(key, at), budget);
    if (due >= 0) return this.#index.size - due;
    const vals = this.#vals;
    const exps = this.#exps!;
    let n = 0;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== undefined && exps[i] > now) n++;
    return n;
  }

  #expiryIs(key: K, at: number): boolean {
    const slot = this.#index.get(key);
    return slot !== undefined && this.#exps !== null && this.#exps[slot] === at;
  }

  #expiredAt(slot: number, now: number): boolean {
    return this.#exps !== null && this.#exps[slot] <= now;
  }

  /** The slot of `key` if it is visible at `now`, else -1 (see {@linkcode valueAt}, {@linkcode memoAt}). */
  find(key: K, now = -Infinity): number {
    const slot = this.#index.get(key);
    return slot === undefined || this.#expiredAt(slot, now) ? -1 : slot;
  }

  /** The value in a slot that {@linkcode find} returned. */
  valueAt(slot: number): V {
    return this.#vals[slot] as V;
  }

  /** The memo of the value in a slot that {@linkcode find} returned: 0 until {@linkcode setMemo}. */
  memoAt(slot: number): number {
    return this.#tags[slot] % MEMO_SPAN;
  }

  /** Notes `memo` (0–3) on the value now in `slot`; any change of that value clears it. */
  setMemo(slot: number, memo: number): void {
    const tag = this.#tags[slot];
    this.#tags[slot] = tag - (tag % MEMO_SPAN) + memo;
  }

  /** The value stored under `key` and visible at `now`, or `undefined`. */
  get(key: K, now = -Infinity): V | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined || this.#expiredAt(slot, now)) return undefined;
    return this.#vals[slot];
  }

  /** The version (LSN of the last write) of `key` visible at `now`, or `undefined`. */
  versionOf(key: K, now = -Infinity): number | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined || this.#expiredAt(slot, now)) return undefined;
    return versionOfTag(this.#tags[slot]);
  }

  /** The absolute expiry (ms) of `key` visible at `now`: `null` for none, `undefined` when absent. */
  expiryOf(key: K, now = -Infinity): number | null | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined || this.#expiredAt(slot, now)) return undefined;
    const at = this.#exps === null ? NEVER : this.#exps[slot];
    return at === NEVER ? null : at;
  }

  /** Whether `key` is stored but expired at `now` (it still holds a slot). */
  isExpired(key: K, now: number): boolean {
    const slot = this.#index.get(key);
    return slot !== undefined && this.#expiredAt(slot, now);
  }

  /** The slot of `key` (its insertion rank among all slots), or -1. */
  slotOf(key: K): number {
    return this.#index.get(key) ?? -1;
  }

  /** Whether `key` is present and visible at `now`. */
  has(key: K, now = -Infinity): boolean {
    const slot = this.#index.get(key);
    return slot !== undefined && !this.#expiredAt(slot, now);
  }

  /**
   * Stores `value` under `key` with `version` and an absolute expiry
   * (`Infinity`: none); an existing key keeps its position. Returns the
   * previous value or `undefined`.
   */
  set(key: K, value: V, undo: Undo, version = 0, expireAt = NEVER): V | undefined {
    const slot = this.#index.get(key);
    if (slot !== undefined) {
      const vals = this.#vals;
      const tags = this.#tags;
      const old = vals[slot];
      const oldTag = tags[slot];
      vals[slot] = value;
      tags[slot] = version * MEMO_SPAN;
      const exps = this.#expiry(expireAt);
      const oldExp = exps === null ? NEVER : exps[slot];
      if (exps !== null) exps[slot] = expireAt;
      if (expireAt !== NEVER) this.#schedule(key, expireAt);
      if (undo) {
        undo.push(() => {
          // The old value comes back with its own memo.
          vals[slot] = old;
          tags[slot] = oldTag;
          if (exps !== null) exps[slot] = oldExp;
          // The old expiry is back: the heap must know it again.
          if (oldExp !== NEVER) this.#due.push(oldExp, key);
        });
      }
      return old;
    }
    this.#append(key, value, undo, version, expireAt);
    return undefined;
  }

  /** Notes that `key` expires at `expireAt`; rebuilds the heap when stale entries outnumber live ones. */
  #schedule(key: K, expireAt: number): void {
    this.#due.push(expireAt, key);
    // Entries go stale on every overwrite (a session refreshed each request): keep the heap in proportion.
    if (this.#due.size > 2 * this.#index.size + 64) this.#due.dropStale((k, at) => this.#expiryIs(k, at), true);
  }

  /** The expiry array, allocated (all `Infinity`) once an expiry is first needed. */
  #expiry(expireAt: number): number[] | null {
    if (this.#exps === null && expireAt !== NEVER) this.#exps = new Array(this.#keys.length).fill(NEVER);
    return this.#exps;
  }

  #append(key: K, value: V, undo: Undo, version: number, expireAt: number): void {
    const at = this.#keys.length;
    // Allocated (for the slots so far) before this slot is added.
    const exps = this.#expiry(expireAt);
    this.#keys.push(key);
    this.#vals.push(value);
    this.#tags.push(version * MEMO_SPAN);
    if (exps !== null) exps.push(expireAt);
    this.#index.set(key, at);
    if (expireAt !== NEVER) this.#schedule(key, expireAt);
    if (undo) {
      undo.push(() => {
        this.#index.delete(key);
        this.#truncate(at);
      });
    }
  }

  #truncate(n: number): void {
    this.#keys.length = n;
    this.#vals.length = n;
    this.#tags.length = n;
    if (this.#exps !== null) this.#exps.length = n;
  }

  /** Stores `value` under a new `key`; returns `false` (and changes nothing) when it exists. */
  add(key: K, value: V, undo: Undo, version = 0, expireAt = NEVER): boolean {
    if (this.#index.has(key)) return false;
    this.#append(key, value, undo, version, expireAt);
    return true;
  }

  /**
   * Sets the expiry of a stored `key` (`Infinity`: none) and its version;
   * returns whether it was there.
   */
  setExpiry(key: K, expireAt: number, undo: Undo, version: number): boolean {
    const slot = this.#index.get(key);
    if (slot === undefined) return false;
    const exps = this.#expiry(expireAt);
    const tags = this.#tags;
    const oldTag = tags[slot];
    // The value stays, and so does its memo.
    tags[slot] = version * MEMO_SPAN + (oldTag % MEMO_SPAN);
    if (exps === null) {
      if (undo) undo.push(() => void (tags[slot] = oldTag));
      return true;
    }
    const oldExp = exps[slot];
    exps[slot] = expireAt;
    if (expireAt !== NEVER) this.#schedule(key, expireAt);
    if (undo) {
      undo.push(() => {
        exps[slot] = oldExp;
        tags[slot] = oldTag;
        if (oldExp !== NEVER) this.#due.push(oldExp, key);
      });
    }
    return true;
  }

  /** Removes `key`; returns the removed value or `undefined` when absent. */
  delete(key: K, undo: Undo): V | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined) return undefined;
    const keys = this.#keys;
    const vals = this.#vals;
    const tags = this.#tags;
    const exps = this.#exps;
    const old = vals[slot];
    const oldTag = tags[slot];
    const oldExp = exps === null ? NEVER : exps[slot];
    keys[slot] = undefined;
    vals[slot] = undefined;
    if (exps !== null) exps[slot] = NEVER;
    this.#index.delete(key);
    this.#dead++;
    if (undo) {
      undo.push(() => {
        keys[slot] = key;
        vals[slot] = old;
        tags[slot] = oldTag;
        if (exps !== null) exps[slot] = oldExp;
        if (oldExp !== NEVER) this.#due.push(oldExp, key);
        this.#index.set(key, slot);
        this.#dead--;
      });
    } else if (slot === keys.length - 1) {
      // Trim trailing tombstones so that repeated popItem() stays O(1).
      let n = keys.length;
      while (n > 0 && vals[n - 1] === undefined) n--;
      this.#dead -= keys.length - n;
      this.#truncate(n);
    } else this.#maybeCompact();
    return old;
  }

  /** The last entry visible at `now` in insertion order, or `undefined` when there is none. */
  last(now = -Infinity): [K, V] | undefined {
    const keys = this.#keys;
    for (let i = keys.length - 1; i >= 0; i--) {
      if (this.#vals[i] !== undefined && !this.#expiredAt(i, now)) return [keys[i] as K, this.#vals[i] as V];
    }
    return undefined;
  }

  /** Removes every entry. */
  clear(undo: Undo): void {
    const index = this.#index;
    const keys = this.#keys;
    const vals = this.#vals;
    const tags = this.#tags;
    const exps = this.#exps;
    const due = this.#due;
    const dead = this.#dead;
    this.#index = new Map();
    this.#keys = [];
    this.#vals = [];
    this.#tags = [];
    this.#exps = null;
    this.#due = new ExpiryHeap();
    this.#dead = 0;
    if (undo) {
      undo.push(() => {
        this.#index = index;
        this.#keys = keys;
        this.#vals = vals;
        this.#tags = tags;
        this.#exps = exps;
        this.#due = due;
        this.#dead = dead;
      });
    }
  }

  /** Keys visible at `now` in insertion order. */
  *keys(now = -Infinity): IterableIterator<K> {
    const keys = this.#keys;
    const vals = this.#vals;
    for (let i = 0; i < keys.length; i++) if (vals[i] !== undefined && !this.#expiredAt(i, now)) yield keys[i] as K;
  }

  /** Values visible at `now` in insertion order. */
  *values(now = -Infinity): IterableIterator<V> {
    const vals = this.#vals;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined && !this.#expiredAt(i, now)) yield v;
    }
  }

  /** Entries visible at `now` in insertion order. */
  *entries(now = -Infinity): IterableIterator<[K, V]> {
    const keys = this.#keys;
    const vals = this.#vals;
    for (let i = 0; i < keys.length; i++) {
      const v = vals[i];
      if (v !== undefined && !this.#expiredAt(i, now)) yield [keys[i] as K, v];
    }
  }

  /** Calls `fn` for every entry visible at `now` in insertion order (faster than iterating). */
  forEach(fn: (value: V, key: K, version: number) => void, now = -Infinity): void {
    const keys = this.#keys;
    const vals = this.#vals;
    const tags = this.#tags;
    for (let i = 0; i < keys.length; i++) {
      const v = vals[i];
      if (v !== undefined && !this.#expiredAt(i, now)) fn(v, keys[i] as K, versionOfTag(tags[i]));
    }
  }

  /**
   * Up to `limit` keys expired at `now`, soonest first (their entries are
   * still stored: the caller removes them). Stale heap entries met on the
   * way are dropped.
   */
  due(now: number, limit: number): K[] {
    return this.#due.popDue(now, limit, (key, at) => this.#expiryIs(key, at));
  }

  /** When the next entry expires (ms), or `Infinity` when none does. */
  nextExpiry(): number {
    this.#due.dropStale((key, at) => this.#expiryIs(key, at));
    return this.#due.peek();
  }

  /**
   * Copies of the slot arrays (tombstones are `undefined` values): a
   * consistent view of this moment at the cost of a memcpy, because stored
   * values are never changed in place — every write replaces them.
   */
  capture(): { keys: (K | undefined)[]; vals: (V | undefined)[]; vers: number[]; exps: number[] | null } {
    const tags = this.#tags;
    const vers = new Array<number>(tags.length);
    for (let i = 0; i < tags.length; i++) vers[i] = versionOfTag(tags[i]);
    return {
      keys: this.#keys.slice(),
      vals: this.#vals.slice(),
      vers,
      exps: this.#exps === null ? null : this.#exps.slice(),
    };
  }

  /** Compacts tombstones now if there are many; called after a transaction ends. */
  settle(): void {
    this.#maybeCompact();
  }

  #maybeCompact(): void {
    if (this.#dead < COMPACT_MIN || this.#dead < this.#index.size) return;
    // New arrays rather than in-place moves: a running iterator keeps walking
    // the old ones and so never sees an entry twice or skips one.
    const keys: K[] = [];
    const vals: V[] = [];
    const tags: number[] = [];
    const exps: number[] | null = this.#exps === null ? null : [];
    const index = new Map<K, number>();
    const oldKeys = this.#keys;
    const oldVals = this.#vals;
    for (let i = 0; i < oldKeys.length; i++) {
      const v = oldVals[i];
      if (v === undefined) continue;
      index.set(oldKeys[i] as K, keys.length);
      keys.push(oldKeys[i] as K);
      vals.push(v);
      tags.push(this.#tags[i]);
      if (exps !== null) exps.push(this.#exps![i]);
    }
    const kept = new Int32Array(keys.length);
    for (let i = 0, j = 0; i < oldKeys.length; i++) if (oldVals[i] !== undefined) kept[j++] = i;
    this.#kept = kept;
    this.#epoch++;
    this.#keys = keys;
    this.#vals = vals;
    this.#tags = tags;
    this.#exps = exps;
    this.#index = index;
    this.#dead = 0;
    this.#due.dropStale((key, at) => this.#expiryIs(key, at), true);
  }

  /**
   * One page of a cursor scan in insertion order: up to `count` entries
   * visible at `now` from `cursor` (0 to start), and the cursor of the next
   * page or `null` at the end. As with Redis's SCAN, an entry present for
   * the whole scan is returned at least once and entries added meanwhile
   * may or may not be; a cursor outlives one compaction exactly, and
   * restarts (so may repeat entries) after two.
   */
  scan(cursor: number, count: number, now = -Infinity): { next: number | null; entries: [K, V][] } {
    const from = cursorStart(cursor, this.#epoch, this.#kept);
    const keys = this.#keys;
    const vals = this.#vals;
    const entries: [K, V][] = [];
    let i = from;
    for (; i < keys.length && entries.length < count; i++) {
      const v = vals[i];
      if (v !== undefined && !this.#expiredAt(i, now)) entries.push([keys[i] as K, v]);
    }
    return { next: cursorNext(i, keys.length, this.#epoch), entries };
  }
}

/**
 * The entries that expire, as a binary min-heap of `(expiry, key)` kept in
 * two parallel arrays. Entries are never updated in place: a new expiry is
 * pushed, and an entry whose key no longer has that expiry (overwritten,
 * deleted, rolled back) is stale and skipped — the `valid` callback tells.
 */
class ExpiryHeap<K> {
  #at: number[] = [];
  #keys: K[] = [];

  get size(): number {
    return this.#at.length;
  }

  peek(): number {
    return this.#at.length === 0 ? Infinity : this.#at[0];
  }

  push(at: number, key: K): void {
    const a = this.#at;
    const k = this.#keys;
    let i = a.length;
    a.push(at);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= at) break;
      a[i] = a[p];
      k[i] = k[p];
      i = p;
    }
    a[i] = at;
    k[i] = key;
  }

  #pop(): void {
    const a = this.#at;
    const k = this.#keys;
    const lastAt = a.pop()!;
    const lastKey = k.pop()!;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && a[l + 1] < a[l] ? l + 1 : l;
      if (a[c] >= lastAt) break;
      a[i] = a[c];
      k[i] = k[c];
      i = c;
    }
    a[i] = lastAt;
    k[i] = lastKey;
  }

  /** Pops up to `limit` valid entries due at `now`; returns their keys. */
  popDue(now: number, limit: number, valid: (key: K, at: number) => boolean): K[] {
    const out: K[] = [];
    const seen = new Set<K>();
    while (out.length < limit && this.#at.length > 0 && this.#at[0] <= now) {
      const at = this.#at[0];
      const key = this.#keys[0];
      this.#pop();
      // A key pushed twice with the same expiry (a rollback) is one entry.
      if (valid(key, at) && !seen.has(key)) {
        seen.add(key);
        out.push(key);
      }
    }
    return out;
  }

  /** Drops stale entries from the top (and, with `all`, everywhere, by rebuilding when many are stale). */
  dropStale(valid: (key: K, at: number) => boolean, all = false): void {
    while (this.#at.length > 0 && !valid(this.#keys[0], this.#at[0])) this.#pop();
    if (!all) return;
    const a = this.#at;
    const k = this.#keys;
    const keepAt: number[] = [];
    const keepKeys: K[] = [];
    const seen = new Set<K>();
    for (let i = 0; i < a.length; i++) {
      if (valid(k[i], a[i]) && !seen.has(k[i])) {
        seen.add(k[i]);
        keepAt.push(a[i]);
        keepKeys.push(k[i]);
      }
    }
    this.#at = [];
    this.#keys = [];
    for (let i = 0; i < keepAt.length; i++) this.push(keepAt[i], keepKeys[i]);
  }

  /**
   * How many distinct valid entries are due at `now`: a walk of the heap
   * that only enters nodes due by then, so it costs the due entries, not
   * the whole heap. `-1` once it has entered more than `limit` nodes.
   */
  countDue(now: number, valid: (key: K, at: number) => boolean, limit = Infinity): number {
    const a = this.#at;
    if (a.length === 0 || a[0] > now) return 0;
    const k = this.#keys;
    const seen = new Set<K>();
    const stack = [0];
    let entered = 0;
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (i >= a.length || a[i] > now) continue;
      if (++entered > limit) return -1;
      if (valid(k[i], a[i])) seen.add(k[i]);
      stack.push(2 * i + 1, 2 * i + 2);
    }
    return seen.size;
  }
}

/**
 * The slot a scan cursor resumes at. A cursor is `epoch * 2^32 + slot`
 * (both fit a safe integer for 2^20 compactions); one from the epoch before
 * the last compaction is mapped through the slots that compaction `kept`
 * (ascending old slots), an older one restarts at 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cursorStart } from "./slot_map.ts";
 * assert.equal(cursorStart(5, 0, null), 5);
 * ```
 */
export function cursorStart(cursor: number, epoch: number, kept: Int32Array | null): number {
  const from = cursor % 2 ** 32;
  const at = Math.floor(cursor / 2 ** 32);
  if (at === epoch % 2 ** 20) return from;
  if (kept === null || at !== (epoch - 1) % 2 ** 20) return 0;
  let lo = 0;
  let hi = kept.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (kept[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The cursor of the page after one that stopped at slot `i`, or `null` at the end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cursorNext } from "./slot_map.ts";
 * assert.equal(cursorNext(10, 10, 0), null);
 * ```
 */
export function cursorNext(i: number, length: number, epoch: number): number | null {
  return i >= length ? null : (epoch % 2 ** 20) * 2 ** 32 + i;
}
