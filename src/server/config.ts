/**
 * The server's configuration from flags and environment (DESIGN §7), parsed
 * without touching any runtime global so it can be tested anywhere.
 *
 * @module
 */

import type { SyncMode } from "../api/database.ts";
import { ValidationError } from "../errors.ts";

/** Everything `server.ts` needs to start. */
export interface ServerConfig {
  /** Interface to listen on (default `127.0.0.1`). */
  host: string;
  /** TCP port; `0` picks a free one (default 9980). */
  port: number;
  /** The password clients must present; `undefined` = no auth, loopback only. */
  password?: string;
  /** The data directory (default `./data`); `null` with `--memory`. */
  dir: string | null;
  /** When acknowledged writes reach the disk (default `"interval"`). */
  sync: SyncMode;
  /**
   * `--repair`: open a damaged log by cutting it at the first damaged record
   * (`Database.open({ repair: true })`; the cut is printed), instead of
   * refusing to start.
   */
  repair?: boolean;
  /** Milliseconds between fsyncs in `"interval"` mode. */
  flushInterval?: number;
  /** Milliseconds between automatic snapshots. */
  snapshotInterval?: number;
  /** Bytes of zeros the log keeps written ahead of its end (`Database.open`'s `preallocate`; 0: plain appends). */
  preallocate?: number;
  /** Recent commits the change feed keeps in memory for watchers to resume from (default 10 000). */
  watchBuffer?: number;
  /** Largest request body or WebSocket frame, in bytes (default 64 MiB). */
  maxRequestBytes: number;
  /** Path of a PEM certificate for TLS (with `key`). */
  cert?: string;
  /** Path of a PEM private key for TLS (with `cert`). */
  key?: string;
  /** Milliseconds a WebSocket may stay unauthenticated (default 10 000). */
  authTimeout: number;
  /** Most WebSockets that may wait for authentication at once (default 256). */
  maxUnauthenticated: number;
  /** Most WebSockets that may wait for authentication at once from one address (default 16). */
  maxUnauthenticatedPerPeer: number;
  /** Most bytes of replies that may wait unsent to one WebSocket client before it is disconnected (default 256 MiB). */
  maxOutputBytes: number;
  /** Without a password: browser origins allowed besides loopback ones (`*` = all). */
  allowOrigin: string[];
  /** Write one line per connection, refused password and failed op to stderr. */
  verbose: boolean;
}

/** The defaults of every optional setting. */
export const DEFAULTS = {
  host: "127.0.0.1",
  port: 9980,
  dir: "./data",
  sync: "interval" as SyncMode,
  maxRequestBytes: 64 * 1024 * 1024,
  authTimeout: 10_000,
  maxUnauthenticated: 256,
  maxUnauthenticatedPerPeer: 16,
  maxOutputBytes: 256 * 1024 * 1024,
};

const FLAGS: Record<string, string> = {
  host: "CYBERDB_HOST",
  port: "CYBERDB_PORT",
  password: "CYBERDB_PASSWORD",
  dir: "CYBERDB_DIR",
  sync: "CYBERDB_SYNC",
  "flush-interval": "CYBERDB_FLUSH_INTERVAL",
  "snapshot-interval": "CYBERDB_SNAPSHOT_INTERVAL",
  preallocate: "CYBERDB_PREALLOCATE",
  "watch-buffer": "CYBERDB_WATCH_BUFFER",
  "max-request-bytes": "CYBERDB_MAX_REQUEST_BYTES",
  cert: "CYBERDB_CERT",
  key: "CYBERDB_KEY",
  "auth-timeout": "CYBERDB_AUTH_TIMEOUT",
  "max-unauthenticated": "CYBERDB_MAX_UNAUTHENTICATED",
  "max-unauthenticated-per-peer": "CYBERDB_MAX_UNAUTHENTICATED_PER_PEER",
  "max-output-bytes": "CYBERDB_MAX_OUTPUT_BYTES",
  "allow-origin": "CYBERDB_ALLOW_ORIGIN",
  memory: "CYBERDB_MEMORY",
  verbose: "CYBERDB_VERBOSE",
  repair: "CYBERDB_REPAIR",
};

/** Flags that take no value (`--memory`; `--memory=0` turns one off that the environment set). */
const SWITCHES = new Set(["memory", "verbose", "repair"]);

/** The usage text printed by `--help` and after a bad flag. */
export const USAGE = `Usage: server.ts [flags]   (each flag also reads its CYBERDB_* env variable)
  --host HOST                 interface (default 127.0.0.1; non-loopback needs --password)
  --port PORT                 TCP port (default 9980; 0 = any free port)
  --password PASSWORD         require this password (HTTP: Authorization: Bearer or Basic; WS: first frame);
                              wrong passwords are throttled per client address
  --dir DIR                   data directory (default ./data)
  --memory                    keep everything in memory only (no --dir)
  --repair                    if the log is damaged, cut it at the first damaged record and start
                              (the records from there on are lost; the cut is printed). See first
                              what would be cut: cyberdb check DIR / cyberdb repair DIR
  --sync always|interval|manual   when writes reach the disk (default interval)
  --flush-interval MS         fsync period in interval mode (default 1000)
  --snapshot-interval MS      snapshot period (default 900000)
  --preallocate BYTES         zeros kept written ahead of the log, so an fsync need not grow the
                              file (default 1048576, skipped by itself on tmpfs, btrfs, ZFS; 0 = never)
  --watch-buffer N            recent commits kept in memory for watchers (default 10000); a watcher
                              further behind gets LAGGED, and a resume from further back reads the log
  --max-request-bytes N       largest request body / WebSocket frame (default 67108864)
  --cert FILE --key FILE      serve HTTPS / WSS
  --auth-timeout MS           time a WebSocket has to authenticate (default 10000)
  --max-unauthenticated N     WebSockets allowed to wait for auth at once (default 256)
  --max-unauthenticated-per-peer N   of those, from one address (default 16)
  --max-output-bytes N        unread replies one WebSocket client may have before it is
                              disconnected (default 268435456)
  --allow-origin ORIGINS      without a password, also answer these web origins (comma-separated,
                              e.g. http://app.local:8080; '*' = any); loopback pages always may
  --verbose                   one line per connection, refused password and failed op on stderr`;

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new ValidationError(
      `--${name} ${JSON.stringify(raw)} is not an integer from ${min} to ${max}: pass e.g. --${name} ${
        min === 0 ? 1000 : min
      }`,
    );
  }
  return n;
}

/** `--allow-origin`: comma-separated origins (`http(s)://host[:port]`) or `*`. */
function parseOrigins(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const out: string[] = [];
  for (const part of raw.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    if (part === "*") {
      out.push("*");
      continue;
    }
    let url: URL | null = null;
    try {
      url = new URL(part);
    } catch { /* reported below */ }
    if (
      url === null || (url.protocol !== "http:" && url.protocol !== "https:") || url.origin !== part.replace(/\/$/, "")
    ) {
      throw new ValidationError(
        `--allow-origin ${
          JSON.stringify(part.slice(0, 100))
        } is not an origin: pass scheme://host[:port] such as http://app.local:8080, or '*'`,
      );
    }
    out.push(url.origin);
  }
  return out;
}

/**
 * Parses flags (`--name value` or `--name=value`) over environment variables
 * over defaults. Throws `ValidationError` with a message fit for the terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValidationError } from "@cyberdb/core";
 * import { parseConfig } from "@cyberdb/core/server";
 * const c = parseConfig(["--port", "0", "--sync=always"], { CYBERDB_PORT: "7000", CYBERDB_DIR: "/srv/db" });
 * assert.equal(c.port, 0); // a flag wins over the environment...
 * assert.equal(c.dir, "/srv/db"); // ...which wins over the defaults
 * assert.equal(c.host, "127.0.0.1");
 * assert.throws(() => parseConfig(["--prot", "1"], {}), ValidationError);
 * ```
 */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): ServerConfig {
  const raw: Record<string, string> = {};
  for (const [flag, variable] of Object.entries(FLAGS)) {
    const v = env[variable];
    if (v !== undefined && v !== "") raw[flag] = v;
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      throw new ValidationError(`Unexpected argument ${JSON.stringify(a)}: flags look like --port 9980\n${USAGE}`);
    }
    const eq = a.indexOf("=");
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (!(name in FLAGS)) throw new ValidationError(`Unknown flag ${JSON.stringify("--" + name)}\n${USAGE}`);
    if (SWITCHES.has(name)) {
      raw[name] = eq < 0 ? "1" : a.slice(eq + 1);
      continue;
    }
    const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (value === undefined) throw new ValidationError(`Flag --${name} needs a value\n${USAGE}`);
    raw[name] = value;
  }
  const sync = (raw.sync ?? DEFAULTS.sync) as SyncMode;
  if (!["always", "interval", "manual"].includes(sync)) {
    throw new ValidationError(`--sync ${JSON.stringify(sync)} is unknown: use always, interval or manual`);
  }
  const on = (v: string | undefined) => v !== undefined && v !== "0" && v !== "false";
  const memory = on(raw.memory);
  const config: ServerConfig = {
    host: raw.host ?? DEFAULTS.host,
    port: raw.port === undefined ? DEFAULTS.port : integer("port", raw.port, 0, 65535),
    password: raw.password,
    dir: memory ? null : raw.dir ?? DEFAULTS.dir,
    sync,
    maxRequestBytes: raw["max-request-bytes"] === undefined
      ? DEFAULTS.maxRequestBytes
      : integer("max-request-bytes", raw["max-request-bytes"], 1024, 2 ** 31 - 1),
    authTimeout: raw["auth-timeout"] === undefined
      ? DEFAULTS.authTimeout
      : integer("auth-timeout", raw["auth-timeout"], 1, 3_600_000),
    maxUnauthenticated: raw["max-unauthenticated"] === undefined
      ? DEFAULTS.maxUnauthenticated
      : integer("max-unauthenticated", raw["max-unauthenticated"], 1, 1_000_000),
    maxUnauthenticatedPerPeer: raw["max-unauthenticated-per-peer"] === undefined
      ? DEFAULTS.maxUnauthenticatedPerPeer
      : integer("max-unauthenticated-per-peer", raw["max-unauthenticated-per-peer"], 1, 1_000_000),
    maxOutputBytes: raw["max-output-bytes"] === undefined
      ? DEFAULTS.maxOutputBytes
      : integer("max-output-bytes", raw["max-output-bytes"], 64 * 1024, 2 ** 40),
    allowOrigin: parseOrigins(raw["allow-origin"]),
    verbose: on(raw.verbose),
  };
  if (on(raw.repair)) {
    if (memory) throw new ValidationError("--repair repairs a data directory's log: it does nothing with --memory");
    config.repair = true;
  }
  if (raw["flush-interval"] !== undefined) {
    config.flushInterval = integer("flush-interval", raw["flush-interval"], 0, 86_400_000);
  }
  if (raw["watch-buffer"] !== undefined) {
    config.watchBuffer = integer("watch-buffer", raw["watch-buffer"], 1, 100_000_000);
  }
  if (raw["snapshot-interval"] !== undefined) {
    config.snapshotInterval = integer("snapshot-interval", raw["snapshot-interval"], 0, 2 ** 31 - 1);
  }
  if (raw.preallocate !== undefined) {
    if (memory) {
      throw new ValidationError("--preallocate sizes the log of a data directory: it does nothing with --memory");
    }
    config.preallocate = integer("preallocate", raw.preallocate, 0, 2 ** 30);
  }
  if ((raw.cert === undefined) !== (raw.key === undefined)) {
    throw new ValidationError("TLS needs both --cert and --key: pass both PEM files, or neither for plain HTTP");
  }
  if (raw.cert !== undefined) [config.cert, config.key] = [raw.cert, raw.key];
  if (config.password === "") delete config.password;
  if (config.password === undefined && !isLoopback(config.host)) {
    throw new ValidationError(
      `Refusing to listen on ${
        JSON.stringify(config.host)
      } without a password: anyone who can reach it could read and change every collection. ` +
        `Set --password (or CYBERDB_PASSWORD), or listen on 127.0.0.1`,
    );
  }
  return config;
}
