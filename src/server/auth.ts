/**
 * Authentication for the server: the constant-time password check, reading
 * credentials from an `Authorization` header, and the per-peer throttle on
 * wrong passwords.
 *
 * Passwords are Unicode strings compared as UTF-8. HTTP header values are
 * byte strings, so a password that is not printable ASCII travels as
 * `Authorization: Basic base64(":" + utf8(password))` (RFC 7617 with
 * charset UTF-8, what `curl -u :password` sends); `Bearer <password>` works
 * for every password whose UTF-8 bytes were sent as they are.
 *
 * @module
 */

import { AuthError } from "../errors.ts";

export { authorizationHeader } from "../wire/protocol.ts";

/** Checks a presented password; `true` when it is the right one. */
export type PasswordCheck = (given: unknown) => boolean;

/**
 * Compares a presented password with the configured one in time that
 * depends only on the presented length, never on where they differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { passwordChecker } from "./auth.ts";
 * const check = passwordChecker("secret");
 * assert.equal(check("secret"), true);
 * ```
 */
export function passwordChecker(password: string): PasswordCheck {
  const want = new TextEncoder().encode(password);
  return (given) => {
    if (typeof given !== "string") return false;
    const got = new TextEncoder().encode(given);
    let diff = got.length ^ want.length;
    for (let i = 0; i < got.length; i++) diff |= got[i] ^ want[i % want.length];
    return diff === 0;
  };
}

/** A header value (a byte string) read as UTF-8 when it is valid UTF-8, else as it is. */
function headerText(value: string): string {
  let wide = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return value; // already decoded by the runtime
    if (c > 0x7f) wide = true;
  }
  if (!wide) return value;
  const bytes = Uint8Array.from(value, (ch) => ch.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return value;
  }
}

/** The longest Authorization header looked at; longer ones are wrong by definition. */
const MAX_HEADER = 4096;

/**
 * The password in an `Authorization` header: `Bearer <password>` or
 * `Basic base64(user:password)` (the user part is ignored). `undefined`
 * when the header is missing or has neither form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { passwordFromHeader } from "./auth.ts";
 * assert.equal(passwordFromHeader("Bearer secret"), "secret");
 * assert.equal(passwordFromHeader("Basic " + btoa(":secret")), "secret");
 * ```
 */
export function passwordFromHeader(header: string | undefined | null): string | undefined {
  if (header === undefined || header === null || header.length > MAX_HEADER) return undefined;
  const space = header.indexOf(" ");
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const rest = header.slice(space + 1);
  if (scheme === "bearer") return headerText(rest);
  if (scheme !== "basic") return undefined;
  let decoded: string;
  try {
    const bin = atob(rest.trim());
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** Options of {@linkcode AuthGuard}. */
export interface AuthGuardOptions {
  /** Wrong passwords a peer may try before it is refused for a while (default 5). */
  freeFailures?: number;
  /** The first refusal period in ms; each further failure doubles it (default 250). */
  baseDelay?: number;
  /** The longest refusal period in ms (default 60 000). */
  maxDelay?: number;
  /** Peers remembered at once; the least recently seen are forgotten first (default 10 000). */
  maxPeers?: number;
  /** The clock (default `Date.now`). */
  now?: () => number;
  /** Receives one line per refusal period that starts. */
  log?: (line: string) => void;
  /** Told of every refusal (wrong or missing password, throttled peer): metrics and `--verbose`. */
  onRefused?: (peer: string, error: AuthError) => void;
}

interface PeerRecord {
  /** Wrong passwords since the last success. */
  failures: number;
  /** Refused until this time (ms). */
  until: number;
  /** The time of the last wrong password. */
  last: number;
}

/** How long a peer's record of failures is kept after its last failure. */
const FORGET_MS = 15 * 60 * 1000;

/**
 * Throttles password guessing per peer address: after a few wrong
 * passwords a peer is refused without its password being looked at, for a
 * period that doubles with every further failure (250 ms up to a minute),
 * so guessing drops to about one try a minute, while the right password
 * from any other peer is never slowed. A success forgets the peer's failures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthError } from "../errors.ts";
 * import { AuthGuard, passwordChecker } from "./auth.ts";
 * const guard = new AuthGuard(passwordChecker("secret"));
 * assert.ok(guard.verify("10.0.0.7", "guess") instanceof AuthError); // wrong password
 * assert.equal(guard.verify("10.0.0.7", "secret"), null); // it may pass
 * ```
 */
export class AuthGuard {
  #check: PasswordCheck;
  #peers = new Map<string, PeerRecord>();
  #free: number;
  #base: number;
  #max: number;
  #maxPeers: number;
  #now: () => number;
  #log: (line: string) => void;
  #onRefused: ((peer: string, error: AuthError) => void) | null;
  #refused = 0;

  /** A guard over `check`. */
  constructor(check: PasswordCheck, options: AuthGuardOptions = {}) {
    this.#check = check;
    this.#free = options.freeFailures ?? 5;
    this.#base = options.baseDelay ?? 250;
    this.#max = options.maxDelay ?? 60_000;
    this.#maxPeers = options.maxPeers ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => {});
    this.#onRefused = options.onRefused ?? null;
  }

  /** Wrong passwords and refusals counted since the start. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * `null` when `given` is the password and `peer` is not being refused;
   * otherwise the AuthError to answer (`retryAfter` set when refused for a while).
   */
  verify(peer: string, given: unknown): (AuthError & { retryAfter?: number }) | null {
    const refused = this.#verify(peer, given);
    if (refused !== null) this.#onRefused?.(peer, refused);
    return refused;
  }

  #verify(peer: string, given: unknown): (AuthError & { retryAfter?: number }) | null {
    const now = this.#now();
    const rec = this.#peers.get(peer);
    if (rec !== undefined && rec.until > now) {
      this.#refused++;
      const wait = Math.ceil((rec.until - now) / 1000);
      return Object.assign(
        new AuthError(`Too many wrong passwords from ${peer}: retry in ${wait} s with the right password`),
        { retryAfter: wait },
      );
    }
    if (this.#check(given)) {
      if (rec !== undefined) this.#peers.delete(peer);
      return null;
    }
    this.#refused++;
    this.#fail(peer, rec, now);
    return new AuthError(
      given === undefined || given === null
        ? "This server needs a password and none was given: pass { password } to connect(), or send the header Authorization: Bearer <password>"
        : "Wrong password: check the password given to the client against the server's --password",
    );
  }

  #fail(peer: string, rec: PeerRecord | undefined, now: number): void {
    const r = rec ?? { failures: 0, until: 0, last: now };
    r.failures++;
    r.last = now;
    if (r.failures > this.#free) {
      const delay = Math.min(this.#max, this.#base * 2 ** Math.min(30, r.failures - this.#free - 1));
      r.until = now + delay;
      this.#log(`cyberdb: ${r.failures} wrong passwords from ${peer}; refusing it for ${delay} ms`);
    } else {
      r.until = 0;
    }
    // Re-inserted so the map's order is least recently failed first.
    this.#peers.delete(peer);
    this.#peers.set(peer, r);
    this.#evict(now);
  }

  #evict(now: number): void {
    for (const [peer, r] of this.#peers) {
      if (this.#peers.size <= this.#maxPeers && r.last + FORGET_MS > now) break;
      this.#peers.delete(peer);
    }
  }
}
