/**
 * The start command's settings: flags and the optional `--config file.json`. Pure (no I/O)
 * apart from what the caller reads, so it is unit-tested. Routes, limits and suites are
 * validated later by createGateway, whose errors are re-worded to name the config file.
 */
import {
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
} from "../protocol/constants.ts";
import type { RouteConfig } from "../proxy/routes.ts";
import type { SessionLimits } from "../tunnel/types.ts";
import { DEFAULT_KEY_FILE } from "./key-file.ts";
import { UsageError, walkArgs } from "./argv.ts";

export const DEFAULT_PORT = 8787;
export const DEFAULT_HOSTNAME = "127.0.0.1";

export interface StartSettings {
  port: number;
  hostname: string;
  /** Key files, first one = the one shown first; all are live. */
  keyFiles: string[];
  /** Create the key file when missing (default key file / keyFile / --key-file only). */
  createMissingKey: boolean;
  routes: RouteConfig[] | undefined; // undefined = embedded demo origin
  allowAnonymous: boolean;
  suites: SuiteId[] | undefined;
  limits: Partial<SessionLimits> | undefined;
  originTimeoutMs: number | undefined;
  originBodyIdleTimeoutMs: number | undefined;
  /** Per-client-address limits of the Deno transport (undefined = serveDeno's defaults). */
  maxChannelsPerAddress: number | undefined;
  maxHandshakesPerAddressPerMinute: number | undefined;
  /** Per-process limits and timeouts of the Deno transport (undefined = serveDeno's defaults). */
  maxSockets: number | undefined;
  maxHandshakesInFlight: number | undefined;
  closeTimeoutMs: number | undefined;
  headersTimeoutMs: number | undefined;
  channelPath: string | undefined;
  /**
   * Browser origins allowed to open a channel (createGateway `allowedOrigins`). Without
   * --config: undefined (same origin: the demo page the gateway serves itself). With a config
   * file and no `allowedOrigins`: [] (no browser page; the gateway serves none of its own).
   */
  allowedOrigins: string[] | undefined;
  configPath: string | null;
  verbose: boolean;
}

export interface StartFlags {
  config: string | null;
  port: number | null;
  hostname: string | null;
  keyFile: string | null;
  generateKey: string | null;
  /** --allow-unignored-key: write a key file even where git would pick it up. */
  allowUnignoredKey: boolean;
  verbose: boolean;
}

export const START_USAGE = `Usage: npm start -- [options]

Runs the pqgate gateway on Deno; without --config it serves the embedded demo origin
(https://demo/...) and creates a gateway key in ${DEFAULT_KEY_FILE} on first run.

Options:
  --config FILE        run in front of real APIs (see docs/configuration.md)
  --port N             listen port (default ${DEFAULT_PORT}; 0 = any free port)
  --hostname H         listen address (default ${DEFAULT_HOSTNAME})
  --key-file PATH      gateway key file (default ${DEFAULT_KEY_FILE}; created if missing)
  --generate-key PATH  create a new key file at PATH, print its key id and pin, and exit
  --allow-unignored-key
                       create a key file even inside a git work tree where git would not
                       ignore it (refused by default: a committed key is a leaked key)
  -v, --verbose        log channel and request events to stderr
  -h, --help           this text
`;

export function parseStartFlags(argv: readonly string[]): StartFlags | "help" {
  const f: StartFlags = {
    config: null,
    port: null,
    hostname: null,
    keyFile: null,
    generateKey: null,
    allowUnignoredKey: false,
    verbose: false,
  };
  for (const { arg, value } of walkArgs(argv)) {
    switch (arg) {
      case "-h":
      case "--help":
        return "help";
      case "--config":
        f.config = value();
        break;
      case "--port":
        f.port = parsePort(value(), "--port");
        break;
      case "--hostname":
        f.hostname = value();
        break;
      case "--key-file":
        f.keyFile = value();
        break;
      case "--generate-key":
        f.generateKey = value();
        break;
      case "--allow-unignored-key":
        f.allowUnignoredKey = true;
        break;
      case "-v":
      case "--verbose":
        f.verbose = true;
        break;
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  return f;
}

function parsePort(v: unknown, what: string): number {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`${what} must be a port number from 0 to 65535, got ${JSON.stringify(v)}`);
  }
  return n;
}

const CONFIG_KEYS = [
  "port",
  "hostname",
  "keyFile",
  "keys",
  "routes",
  "allowAnonymous",
  "suites",
  "limits",
  "originTimeoutMs",
  "originBodyIdleTimeoutMs",
  "maxChannelsPerAddress",
  "maxHandshakesPerAddressPerMinute",
  "maxSockets",
  "maxHandshakesInFlight",
  "closeTimeoutMs",
  "headersTimeoutMs",
  "channelPath",
  "allowedOrigins",
];

const SUITE_NAMES: Record<string, SuiteId> = {
  "aes-256-gcm": SUITE_XWING_AES256GCM,
  "chacha20-poly1305": SUITE_XWING_CHACHA20POLY1305,
};

/** Joins a path from the config file with the config file's directory. */
export function resolveFrom(configPath: string, p: string): string {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p)) return p;
  const slash = Math.max(configPath.lastIndexOf("/"), configPath.lastIndexOf("\\"));
  return slash < 0 ? p : configPath.slice(0, slash + 1) + p;
}

/**
 * Settings from flags and the config file text (null without --config). Relative paths in
 * the config file are relative to the config file. Flags override the file.
 */
export function resolveStartSettings(flags: StartFlags, configText: string | null): StartSettings {
  const s: StartSettings = {
    port: DEFAULT_PORT,
    hostname: DEFAULT_HOSTNAME,
    keyFiles: [DEFAULT_KEY_FILE],
    createMissingKey: true,
    routes: undefined,
    allowAnonymous: false,
    suites: undefined,
    limits: undefined,
    originTimeoutMs: undefined,
    originBodyIdleTimeoutMs: undefined,
    maxChannelsPerAddress: undefined,
    maxHandshakesPerAddressPerMinute: undefined,
    maxSockets: undefined,
    maxHandshakesInFlight: undefined,
    closeTimeoutMs: undefined,
    headersTimeoutMs: undefined,
    channelPath: undefined,
    allowedOrigins: undefined,
    configPath: flags.config,
    verbose: flags.verbose,
  };
  if (flags.config !== null && configText !== null) {
    const where = flags.config;
    const err = (field: string, msg: string) => new UsageError(`${where}: ${field} ${msg}`);
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(configText);
    } catch (e) {
      throw new UsageError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof c !== "object" || c === null || Array.isArray(c)) {
      throw new UsageError(`${where}: must be a JSON object`);
    }
    for (const k of Object.keys(c)) {
      if (!CONFIG_KEYS.includes(k)) {
        throw err(k, `is not a known setting (known: ${CONFIG_KEYS.join(", ")})`);
      }
    }
    if (c.port !== undefined) s.port = parsePort(c.port, `${where}: port`);
    if (c.hostname !== undefined) {
      if (typeof c.hostname !== "string" || c.hostname === "") {
        throw err("hostname", "must be a non-empty string");
      }
      s.hostname = c.hostname;
    }
    if (c.keyFile !== undefined && c.keys !== undefined) {
      throw err("keyFile", "and keys exclude each other");
    }
    if (c.keyFile !== undefined) {
      if (typeof c.keyFile !== "string" || c.keyFile === "") throw err("keyFile", "must be a path");
      s.keyFiles = [resolveFrom(where, c.keyFile)];
    }
    if (c.keys !== undefined) {
      if (
        !Array.isArray(c.keys) || c.keys.length === 0 ||
        c.keys.some((k) => typeof k !== "string" || k === "")
      ) {
        throw err("keys", "must be a non-empty array of key file paths");
      }
      s.keyFiles = (c.keys as string[]).map((k) => resolveFrom(where, k));
      if (new Set(s.keyFiles).size !== s.keyFiles.length) {
        throw err("keys", "lists a key file twice");
      }
      s.createMissingKey = false; // rotation sets are explicit: create new keys with --generate-key
    }
    if (c.routes !== undefined) {
      if (!Array.isArray(c.routes)) throw err("routes", "must be an array of routes");
      s.routes = c.routes as RouteConfig[];
    } else {
      throw err(
        "routes",
        "is required in a config file (the demo origin runs only without --config)",
      );
    }
    if (c.allowAnonymous !== undefined) {
      if (typeof c.allowAnonymous !== "boolean") {
        throw err("allowAnonymous", "must be true or false");
      }
      s.allowAnonymous = c.allowAnonymous;
    }
    if (c.suites !== undefined) {
      if (!Array.isArray(c.suites)) throw err("suites", "must be an array");
      s.suites = c.suites.map((x) => {
        if (typeof x === "string" && x.toLowerCase() in SUITE_NAMES) {
          return SUITE_NAMES[x.toLowerCase()];
        }
        if (typeof x === "number") return x as SuiteId; // createGateway validates
        throw err(
          "suites",
          `has unknown suite ${JSON.stringify(x)} (use "aes-256-gcm", "chacha20-poly1305", 1 or 2)`,
        );
      });
    }
    if (c.limits !== undefined) {
      if (typeof c.limits !== "object" || c.limits === null || Array.isArray(c.limits)) {
        throw err("limits", "must be an object");
      }
      s.limits = c.limits as Partial<SessionLimits>;
    }
    if (c.originTimeoutMs !== undefined) s.originTimeoutMs = c.originTimeoutMs as number;
    if (c.originBodyIdleTimeoutMs !== undefined) {
      s.originBodyIdleTimeoutMs = c.originBodyIdleTimeoutMs as number; // createGateway validates
    }
    for (
      const k of [
        "maxChannelsPerAddress",
        "maxHandshakesPerAddressPerMinute",
        "maxSockets",
        "maxHandshakesInFlight",
      ] as const
    ) {
      const v = c[k];
      if (v === undefined) continue;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
        throw err(
          k,
          `must be an integer from 0 (no limit) to 4294967295, got ${JSON.stringify(v)}`,
        );
      }
      s[k] = v;
    }
    for (const k of ["closeTimeoutMs", "headersTimeoutMs"] as const) {
      const v = c[k];
      if (v === undefined) continue;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 100 || v > 60_000) {
        throw err(k, `must be an integer from 100 to 60000 (ms), got ${JSON.stringify(v)}`);
      }
      s[k] = v;
    }
    if (c.channelPath !== undefined) s.channelPath = c.channelPath as string;
    if (c.allowedOrigins !== undefined && !Array.isArray(c.allowedOrigins)) {
      throw err(
        "allowedOrigins",
        'must be an array of origins like "https://app.example.com" (or ["*"])',
      );
    }
    // Entries are validated by createGateway. No page is served in config mode, so a
    // same-origin page could only be a DNS-rebinding one: no browser origin unless listed.
    s.allowedOrigins = (c.allowedOrigins as string[] | undefined) ?? [];
  }
  if (flags.port !== null) s.port = flags.port;
  if (flags.hostname !== null) s.hostname = flags.hostname;
  if (flags.keyFile !== null) {
    s.keyFiles = [flags.keyFile];
    s.createMissingKey = true;
  }
  return s;
}

/** Rewrites a createGateway validation message to name the config file instead of `options`. */
export function rewordGatewayError(message: string, configPath: string | null): string {
  const m = message.replace(/^createGateway: /, "");
  return configPath ? `${configPath}: ${m.replace(/^options\./, "")}` : m;
}
