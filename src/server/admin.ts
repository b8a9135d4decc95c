/**
 * The admin page's routes: `GET /` and `GET /admin` answer the static page
 * of `admin_page.ts`; `GET /admin/info` tells the page whether to ask for a
 * password (so that it never spends one of the peer's allowed wrong
 * passwords finding out). Neither needs the password — the page holds no
 * data; everything it shows comes through the authenticated API.
 *
 * The page is answered with a Content-Security-Policy that allows its own
 * inline style and script by hash and nothing else but this server (its
 * `/client.js`, `/v1/rpc` and `/metrics`): no other script runs in it even
 * if a bug let markup through, and no other site may frame it.
 *
 * @module
 */

import { Hono } from "hono";
import { ADMIN_HTML, ADMIN_SCRIPT, ADMIN_STYLE } from "./admin_page.ts";

/** Options of {@linkcode adminRoutes}. */
export interface AdminOptions {
  /** Whether the server asks for a password (the page then shows its login). */
  password: boolean;
}

/** The base64 SHA-256 of a text, as CSP hash sources write it. */
async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let bin = "";
  for (const b of digest) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * The headers of the page: its CSP (the inline style and script by hash,
 * everything else from this server only) and the usual hardening.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pageHeaders } from "./admin.ts";
 * const headers = await pageHeaders();
 * assert.match(headers["content-security-policy"], /script-src 'self' 'sha256-[A-Za-z0-9+\/]+=*'/);
 * ```
 */
export async function pageHeaders(): Promise<Record<string, string>> {
  const [script, style] = await Promise.all([sha256(ADMIN_SCRIPT), sha256(ADMIN_STYLE)]);
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${script}'`,
    `style-src 'sha256-${style}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  };
}

/**
 * The admin routes, to mount at the root of the server's app.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adminRoutes } from "./admin.ts";
 * const admin = adminRoutes({ password: true });
 * const page = await admin.request("/admin");
 * assert.equal(page.status, 200);
 * assert.match(await page.text(), /<title>CyberDB admin<\/title>/);
 * assert.deepEqual(await (await admin.request("/admin/info")).json(), { ok: true, value: { password: true } });
 * ```
 */
export function adminRoutes(options: AdminOptions): Hono {
  const routes = new Hono();
  let headers: Promise<Record<string, string>> | null = null;
  const page = async () => {
    headers ??= pageHeaders();
    return new Response(ADMIN_HTML, { status: 200, headers: await headers });
  };
  routes.get("/", page);
  routes.get("/admin", page);
  routes.get("/admin/", page);
  routes.get("/admin/info", (c) => {
    c.header("cache-control", "no-store");
    return c.json({ ok: true, value: { password: options.password } });
  });
  return routes;
}
