/**
 * The seam between the server and a runtime: each of `deno.ts`, `bun.ts`
 * and `node.ts` implements {@linkcode RuntimeGlue}, and {@linkcode loadGlue}
 * picks the one for the running runtime.
 *
 * @module
 */

import type { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";

/** What the runtime tells the app besides its WebSocket helper. */
export interface RuntimeLimits {
  /** The largest WebSocket frame this runtime delivers (Deno: under 64 MiB, whatever is asked). */
  maxFrameBytes: number;
}

/** Builds the app once the runtime's WebSocket helper is known. */
export type MakeApp = (upgradeWebSocket: UpgradeWebSocket, limits: RuntimeLimits) => Hono;

/** Where and how to listen. */
export interface ServeOptions {
  /** Interface to bind. */
  hostname: string;
  /** Port; 0 = any free port. */
  port: number;
  /** Largest WebSocket frame / body the app accepts (runtime limits are set above it). */
  maxPayload: number;
  /** Most bytes of replies that may wait unsent to one WebSocket client (the app closes it past that). */
  maxOutputBytes: number;
  /** PEM certificate (contents), for TLS. */
  cert?: string;
  /** PEM private key (contents), for TLS. */
  key?: string;
}

/** A listening server. */
export interface Served {
  /** The real port. */
  port: number;
  /** Stops accepting connections and waits for open requests. */
  shutdown(): Promise<void>;
}

/** What each runtime module exports. */
export interface RuntimeGlue {
  /** Serves the app; resolves once listening. */
  serve(make: MakeApp, options: ServeOptions): Promise<Served>;
  /** Calls `fn` on SIGINT/SIGTERM. */
  onSignals(fn: () => void): void;
  /** Ends the process. */
  exit(code: number): never;
}

/**
 * The glue for the runtime this runs on (read at call time, never at import).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGlue } from "./runtime.ts";
 * const glue = await loadGlue(); // deno.ts here; bun.ts under Bun, node.ts under Node
 * assert.equal(glue, await import("./deno.ts"));
 * ```
 */
export async function loadGlue(): Promise<RuntimeGlue> {
  const g = globalThis as Record<string, unknown>;
  if (g.Deno !== undefined) return await import("./deno.ts");
  if (g.Bun !== undefined) return await import("./bun.ts");
  return await import("./node.ts");
}
