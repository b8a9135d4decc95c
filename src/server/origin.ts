/**
 * The browser rules of a server without a password (Redis's protected mode,
 * the host checks of Jupyter and Vite). Without a password anyone who can
 * reach the port is trusted, and a loopback port is reachable by every web
 * page the user opens: a page can post to `http://127.0.0.1:9980`, or point
 * its own domain at 127.0.0.1 (DNS rebinding). So, without a password, a
 * request is refused when
 *
 * - its `Origin` is present and is not a loopback origin
 *   (`http://localhost:*`, `http://127.x.x.x:*`, `http://[::1]:*`, and
 *   `https` of those), nor one named by `--allow-origin`; or
 * - its `Host` is not a loopback name or address (`localhost`,
 *   `*.localhost`, `127.x.x.x`, `[::1]`), nor the host of an allowed origin.
 *
 * Programs other than browsers send no `Origin` and a loopback `Host`, so
 * they pass. `--allow-origin '*'` turns both checks off. With a password
 * the password protects, and any origin may call (CORS `*`).
 *
 * @module
 */

import { isLoopback } from "./config.ts";

/** The hostname part of a `Host` header (`[::1]:80` → `::1`), lowercased. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end < 0 ? h : h.slice(1, end);
  }
  const colon = h.indexOf(":");
  // One colon: name:port. More: a bare IPv6 address (not valid in Host, but harmless).
  return colon >= 0 && h.indexOf(":", colon + 1) < 0 ? h.slice(0, colon) : h;
}

function isLoopbackName(name: string): boolean {
  return isLoopback(name) || name.endsWith(".localhost");
}

/** The normalised `scheme://host:port` of an origin, or `null` when it is not one. */
function normalOrigin(origin: string): string | null {
  if (origin === "null") return null;
  try {
    const u = new URL(origin);
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
    return u.origin;
  } catch {
    return null;
  }
}

/**
 * Decides which browser origins and Host headers a server without a
 * password answers (see the module text). With `open` (a password is set,
 * or `--allow-origin '*'`), everything passes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OriginPolicy } from "./origin.ts";
 * const policy = new OriginPolicy({ open: false, allow: ["http://app.example:8080"] });
 * assert.equal(typeof policy.refusal("http://evil.example", "127.0.0.1:9980"), "string"); // refused: why
 * assert.equal(policy.refusal(undefined, "127.0.0.1:9980"), null); // a program, not a page
 * assert.equal(policy.refusal("http://localhost:5173", "localhost:9980"), null);
 * ```
 */
export class OriginPolicy {
  #open: boolean;
  #origins: Set<string>;
  #hosts: Set<string>;

  /** `open`: no checks at all; `allow`: origins allowed besides loopback ones. */
  constructor(options: { open: boolean; allow?: readonly string[] }) {
    const allow = options.allow ?? [];
    this.#open = options.open || allow.includes("*");
    this.#origins = new Set();
    this.#hosts = new Set();
    for (const a of allow) {
      const o = normalOrigin(a);
      if (o === null) continue;
      this.#origins.add(o);
      this.#hosts.add(new URL(o).hostname.replace(/^\[|\]$/g, ""));
    }
  }

  /** Whether every origin passes (a password is set, or `--allow-origin '*'`). */
  get open(): boolean {
    return this.#open;
  }

  /** Whether a browser page of `origin` may call (and read the answers). */
  allowsOrigin(origin: string): boolean {
    if (this.#open) return true;
    const o = normalOrigin(origin);
    if (o === null) return false;
    return this.#origins.has(o) || isLoopbackName(new URL(o).hostname.replace(/^\[|\]$/g, ""));
  }

  /** `null` when a request with these headers may be served, else why not (a message for the caller). */
  refusal(origin: string | undefined, host: string | undefined): string | null {
    if (this.#open) return null;
    if (origin !== undefined && !this.allowsOrigin(origin)) {
      return `Requests from the web page at ${
        JSON.stringify(origin.slice(0, 200))
      } are refused: this server has no password, ` +
        "so only pages served from this machine (localhost) may use it; set --password, or pass --allow-origin with that origin";
    }
    if (host !== undefined && host !== "") {
      const name = hostName(host);
      if (!isLoopbackName(name) && !this.#hosts.has(name)) {
        return `Host ${
          JSON.stringify(host.slice(0, 200))
        } is not a loopback name: this server has no password, so it answers only ` +
          "requests addressed to localhost or 127.0.0.1 (a guard against DNS rebinding); set --password, or pass --allow-origin with that host's origin";
      }
    }
    return null;
  }
}
