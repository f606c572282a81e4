/**
 * The start command's settings: flags and the optional `--config file.json`. Pure (no I/O)
 * apart from what the caller reads, so it is unit-tested. The file itself is validated by the
 * gateway's one configuration parser (src/gateway/config.ts, shared with the environment);
 * its errors name the file and the setting (`pqgate.json: routes[0].origin: ...`).
 */
import type { WebSocketSettings } from "../gateway/websocket-options.ts";
import {
  checkListen,
  checkLogFormat,
  checkLogLevel,
  ConfigError,
  configFail,
  type ObserveSettings,
  parseConfigText,
  parseDurationMs,
  type ServerSettings,
  type Where,
} from "../gateway/config.ts";
import type { AuthFileSettings } from "../gateway/auth-config.ts";
import type { SuiteId } from "../protocol/constants.ts";
import type { RouteConfig } from "../proxy/routes.ts";
import type { SessionLimits } from "../tunnel/types.ts";
import { DEFAULT_KEY_FILE } from "./key-file.ts";
import { UsageError, walkArgs } from "./argv.ts";

export const DEFAULT_PORT = 8787;
export const DEFAULT_HOSTNAME = "127.0.0.1";

/**
 * The per-address and per-process limits and timeouts of the Deno/Node transport come from the
 * config file's ServerSettings (undefined = serveDeno's defaults); port and hostname resolved.
 */
export interface StartSettings extends Omit<ServerSettings, "port" | "hostname"> {
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
  channelPath: string | undefined;
  /**
   * Browser origins allowed to open a channel (createGateway `allowedOrigins`). Without
   * --config: undefined (same origin: the demo page the gateway serves itself). With a config
   * file and no `allowedOrigins`: [] (no browser page; the gateway serves none of its own).
   */
  allowedOrigins: string[] | undefined;
  /** The config file's tunneled-WebSocket caps (createGateway `websockets`). */
  websockets: WebSocketSettings | undefined;
  configPath: string | null;
  /**
   * Client authentication (docs/configuration.md §6): the config file's `auth` with its paths
   * resolved, and `--users-file` / `--psk-file` over it. Undefined: none (in demo mode: the
   * demo user, src/demo/demo-user.ts).
   */
  auth: AuthFileSettings | undefined;
  verbose: boolean;
  /** Logs and metrics (flags over the config file; defaults: info, json, no targets/addresses). */
  observe: Required<Omit<ObserveSettings, "metricsListen">> & {
    metricsListen: string | undefined;
  };
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
  /** Log and metrics flags (null: the config file's, else the default). */
  observe?: { [K in keyof ObserveSettings]: Exclude<ObserveSettings[K], undefined> | null };
  /** --drain-timeout: the graceful shutdown's drain deadline (ms), over the config file's. */
  drainTimeoutMs: number | null;
  /** --users-file / --psk-file: client authentication files, over the config file's. */
  usersFile?: string | null;
  pskFile?: string | null;
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
  --log-level L        debug, info (default), warn, error or off: JSON lines on stderr, one
                       per request and per channel open/close (docs/operations.md)
  --log-format F       json (default) or text
  --log-request-targets
                       write each request's authority and path in its access line (off by
                       default: URLs can carry personal data and tokens)
  --log-client-addresses
                       write client IP addresses (off by default)
  --log-auth-subjects  write who authenticated (user name, token sub, PSK identity) in
                       auth lines (off by default)
  --metrics-listen HOST:PORT
                       serve Prometheus metrics at http://HOST:PORT/metrics and the admin
                       POST /-/reload (off by default; bind it to a private address)
  --users-file PATH    enable password client authentication with this users file (USER:PHC
                       lines; \`pqgate passwd add\` writes them), over the config file's
  --psk-file PATH      enable PSK client authentication with this PSK file (IDENTITY:KEY)
  --drain-timeout T    on SIGTERM / SIGINT, how long open requests may finish before their
                       channels are closed (10s, 500ms, or seconds; default 10s; 0 = none).
                       SIGHUP reloads the config and key files (docs/operations.md)
  -v, --verbose        --log-level debug
  -h, --help           this text
`;

export function parseStartFlags(argv: readonly string[]): StartFlags | "help" {
  const observe: NonNullable<StartFlags["observe"]> = {
    logLevel: null,
    logFormat: null,
    logRequestTargets: null,
    logClientAddresses: null,
    logAuthSubjects: null,
    metricsListen: null,
  };
  const f: StartFlags = {
    config: null,
    port: null,
    hostname: null,
    keyFile: null,
    generateKey: null,
    allowUnignoredKey: false,
    verbose: false,
    observe,
    drainTimeoutMs: null,
    usersFile: null,
    pskFile: null,
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
      case "--users-file":
        f.usersFile = value();
        break;
      case "--psk-file":
        f.pskFile = value();
        break;
      case "--drain-timeout":
        try {
          f.drainTimeoutMs = parseDurationMs(value(), "--drain-timeout");
        } catch (e) {
          if (e instanceof ConfigError) throw new UsageError(e.message);
          throw e;
        }
        break;
      case "--allow-unignored-key":
        f.allowUnignoredKey = true;
        break;
      case "-v":
      case "--verbose":
        f.verbose = true;
        break;
      case "--log-level":
        observe.logLevel = observeFlag(arg, value(), checkLogLevel);
        break;
      case "--log-format":
        observe.logFormat = observeFlag(arg, value(), checkLogFormat);
        break;
      case "--log-request-targets":
        observe.logRequestTargets = true;
        break;
      case "--log-client-addresses":
        observe.logClientAddresses = true;
        break;
      case "--log-auth-subjects":
        observe.logAuthSubjects = true;
        break;
      case "--metrics-listen":
        observe.metricsListen = observeFlag(arg, value(), checkListen);
        break;
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  return f;
}

/** A log/metrics flag's value through the config parser's check of the same setting. */
function observeFlag<T>(name: string, v: string, check: (v: unknown, w: Where) => T): T {
  try {
    return check(v, { path: [name] });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

function parsePort(v: unknown, what: string): number {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`${what} must be a port number from 0 to 65535, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Joins a path from the config file with the config file's directory. */
export function resolveFrom(configPath: string, p: string): string {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p)) return p;
  const slash = Math.max(configPath.lastIndexOf("/"), configPath.lastIndexOf("\\"));
  return slash < 0 ? p : configPath.slice(0, slash + 1) + p;
}

/**
 * Settings from flags and the config file text (null without --config). The file is checked by
 * the gateway's one parser (src/gateway/config.ts); this adds what only the command has: key
 * file paths relative to the config file, a key created on first run, flags over the file.
 * A bad file throws a UsageError (what runGateway reports, exit 2) whose `cause` is the
 * parser's ConfigError (its `path` names the setting).
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
    drainTimeoutMs: undefined,
    channelPath: undefined,
    allowedOrigins: undefined,
    websockets: undefined,
    configPath: flags.config,
    auth: undefined,
    verbose: flags.verbose,
    observe: {
      logLevel: flags.verbose ? "debug" : "info",
      logFormat: "json",
      logRequestTargets: false,
      logClientAddresses: false,
      logAuthSubjects: false,
      metricsListen: undefined,
    },
  };
  if (flags.config !== null && configText !== null) {
    try {
      applyConfigFile(s, flags.config, configText);
    } catch (e) {
      if (e instanceof ConfigError) throw Object.assign(new UsageError(e.message), { cause: e });
      throw e;
    }
  }
  for (const [k, v] of Object.entries(flags.observe ?? {})) {
    if (v !== null) (s.observe as Record<string, unknown>)[k] = v;
  }
  if (flags.port !== null) s.port = flags.port;
  if (flags.hostname !== null) s.hostname = flags.hostname;
  if (flags.drainTimeoutMs !== null) s.drainTimeoutMs = flags.drainTimeoutMs;
  if (flags.keyFile !== null) {
    s.keyFiles = [flags.keyFile];
    s.createMissingKey = true;
  }
  s.auth = withAuthFlags(s.auth, flags.usersFile ?? null, flags.pskFile ?? null);
  return s;
}

/** `--users-file` / `--psk-file` over the config file's `auth` (each enables its method). */
function withAuthFlags(
  auth: AuthFileSettings | undefined,
  usersFile: string | null,
  pskFile: string | null,
): AuthFileSettings | undefined {
  if (usersFile === null && pskFile === null) return auth;
  const a: AuthFileSettings = auth ? { ...auth, methods: [...auth.methods] } : {
    methods: [],
    usersFile: undefined,
    pskFile: undefined,
    token: undefined,
    limits: undefined,
  };
  if (usersFile !== null) a.usersFile = usersFile;
  if (pskFile !== null) a.pskFile = pskFile;
  for (const [m, on] of [["password", a.usersFile], ["psk", a.pskFile]] as const) {
    if (on !== undefined && !a.methods.includes(m)) a.methods.push(m);
  }
  return a;
}

function applyConfigFile(s: StartSettings, where: string, text: string): void {
  const { gateway, server, observe, keyFile, keys, auth } = parseConfigText(text, where);
  for (const [k, v] of Object.entries(observe)) {
    if (v !== undefined) (s.observe as Record<string, unknown>)[k] = v;
  }
  for (const [k, v] of Object.entries(server)) {
    if (v !== undefined) (s as unknown as Record<string, unknown>)[k] = v;
  }
  if (keyFile !== undefined) s.keyFiles = [resolveFrom(where, keyFile)];
  if (keys !== undefined) {
    s.keyFiles = keys.map((k) => resolveFrom(where, k));
    if (new Set(s.keyFiles).size !== s.keyFiles.length) {
      configFail({ source: where, path: ["keys"] }, "lists a key file twice");
    }
    s.createMissingKey = false; // rotation sets are explicit: create new keys with --generate-key
  }
  s.routes = gateway.routes;
  s.allowAnonymous = gateway.allowAnonymous ?? false;
  s.suites = gateway.suites;
  s.limits = gateway.limits;
  s.originTimeoutMs = gateway.originTimeoutMs;
  s.originBodyIdleTimeoutMs = gateway.originBodyIdleTimeoutMs;
  s.channelPath = gateway.channelPath;
  s.websockets = gateway.websockets;
  if (auth !== undefined) {
    const t = auth.token;
    s.auth = {
      ...auth,
      usersFile: auth.usersFile === undefined ? undefined : resolveFrom(where, auth.usersFile),
      pskFile: auth.pskFile === undefined ? undefined : resolveFrom(where, auth.pskFile),
      token: t?.secretFile === undefined
        ? t
        : { ...t, secretFile: resolveFrom(where, t.secretFile) },
    };
  }
  // No page is served in config mode, so a same-origin page could only be a DNS-rebinding
  // one: no browser origin unless listed.
  s.allowedOrigins = gateway.allowedOrigins ?? [];
}

/**
 * Rewrites a createGateway validation message to name the config file instead of `options`.
 * A config file is checked before createGateway runs, so only what the file cannot know
 * reaches this: two key files holding the same key (`keys[1].keyId ... is used by two keys`).
 */
export function rewordGatewayError(message: string, configPath: string | null): string {
  const m = message.replace(/^createGateway: /, "");
  return configPath ? `${configPath}: ${m.replace(/^options\./, "")}` : m;
}
