/**
 * The gateway command, on any runtime: `npm start` (start.ts, on Deno: serveDeno) and
 * `npx pqgate serve` (main.ts, on Node: serveNode) share the flags, the config file
 * (start-config.ts), the key files and the banner; the runtime passes how to listen.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { createArgon2WorkerPool } from "../auth/argon2-pool.ts";
import { resolveLimits } from "../auth/limits.ts";
import type { Argon2Backend, AuthOptions } from "../auth/options.ts";
import type { AuthFileSettings } from "../gateway/auth-config.ts";
import { authOptionsFromFile, type AuthTexts } from "../gateway/auth-options.ts";
import { DEMO_USERS_FILE } from "../demo/demo-user.ts";
import type { AuthVerifier } from "../tunnel/types.ts";
import { createGateway, type Gateway } from "../gateway/create-gateway.ts";
import type { OriginWebSocketConnect } from "../proxy/origin-websocket.ts";
import { ConfigError } from "../gateway/config-error.ts";
import { createLogWriter } from "../gateway/log-writer.ts";
import { stderrLines } from "./log-output.ts";
import { emit, teeLogs } from "../tunnel/events.ts";
import type { MetricsListener } from "../transport/observe/metrics-listener.ts";
import { parseListenAddress } from "../transport/observe/listen-address.ts";
import type { PromMetrics } from "../transport/observe/prom-metrics.ts";
import { UsageError } from "./argv.ts";
import { oneAtATime, reloadAnswer, type ReloadResult, restartOnlyChanges } from "./reload.ts";
import {
  createKeyFile,
  KeyFileError,
  type LoadedKey,
  loadOrCreateKeyFile,
  readKeyFile,
} from "./key-file.ts";
import {
  parseStartFlags,
  resolveStartSettings,
  rewordGatewayError,
  START_USAGE,
  type StartFlags,
  type StartSettings,
} from "./start-config.ts";

/** A listening server, as the banner needs it. */
export interface ListeningServer {
  addr: { hostname: string; port: number };
  finished: Promise<void>;
}

/** What differs between runtimes and commands. */
export interface GatewayRuntime {
  /**
   * Starts the server (handling SIGINT / SIGTERM); throws when it cannot listen. `fetch`
   * serves the gateway of the moment (a reload swaps it: `reload` below).
   */
  serve(
    gateway: Gateway,
    settings: StartSettings,
    fetch: (request: Request, env: unknown) => Response | Promise<Response>,
  ): Promise<ListeningServer>;
  /** Why listening failed, for the error line (e.g. the port is in use). */
  listenError(e: unknown, settings: StartSettings): string;
  /**
   * Adds the demo page at / (demo mode only), with a prebuilt browser client (demo-page.ts):
   * nothing is built at run time.
   */
  addDemoPage?(gateway: Gateway): void;
  /**
   * Opens WebSockets to `ws:` / `wss:` origins (createGateway `websockets.connect`): both
   * commands pass the `ws` package's connector, which bounds an origin message's reassembly
   * (src/transport/node-http/origin-websocket.ts).
   */
  originWebSocket?: OriginWebSocketConnect;
  /** The usage text. */
  usage: string;
  /** The command that creates a key file, e.g. `npm start -- --generate-key`. */
  keygenCommand: string;
  /** The fetch command of the banner's Try line, e.g. `npm run fetch --`. */
  fetchCommand: string;
  /**
   * Resolves relative paths of the command line against INIT_CWD (default: `npm start` runs
   * in the repository, INIT_CWD is where the user typed it). False: against the process's cwd
   * (`npx pqgate` runs where the user typed it; an INIT_CWD inherited from an outer npm
   * script would be wrong).
   */
  initCwd?: boolean;
}

/** The Deno command's: `npm start` and `npm run fetch`. */
export const NPM_START_TEXTS = {
  usage: START_USAGE,
  keygenCommand: "npm start -- --generate-key",
  fetchCommand: "npm run fetch --",
} as const;

/** A listen error's message, naming the port when it is in use (Node or Deno, same code). */
/** The listen address and transport bounds of `settings`, as serveDeno and serveNode take them. */
export function serverOptions(settings: StartSettings) {
  return {
    port: settings.port,
    hostname: settings.hostname,
    handleSignals: true,
    maxChannelsPerAddress: settings.maxChannelsPerAddress,
    maxHandshakesPerAddressPerMinute: settings.maxHandshakesPerAddressPerMinute,
    maxSockets: settings.maxSockets,
    maxHandshakesInFlight: settings.maxHandshakesInFlight,
    closeTimeoutMs: settings.closeTimeoutMs,
    headersTimeoutMs: settings.headersTimeoutMs,
    drainTimeoutMs: settings.drainTimeoutMs,
  };
}

export function describeListenError(e: unknown, settings: StartSettings, inUse: boolean): string {
  return inUse
    ? `port ${settings.port} is in use (try --port <n>, or --port 0 for any free port)`
    : (e as Error).message;
}

/** Paths typed on the command line are relative to where the user ran the command. */
function initCwdPath(p: string): string {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p)) return p;
  let base: string | undefined;
  try {
    base = process.env.INIT_CWD; // set by `deno task` and `npm start`
  } catch { /* no env permission: use the cwd */ }
  return base ? `${base.replace(/\/$/, "")}/${p}` : p;
}

function displayHost(hostname: string): string {
  if (
    hostname === "127.0.0.1" || hostname === "0.0.0.0" || hostname === "::" || hostname === "::1"
  ) {
    return "localhost";
  }
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** A URL a client can try: the first route that names an authority, else a placeholder. */
function exampleTarget(gateway: Gateway): string {
  const r = gateway.routes.routes.find((r) => r.authority !== null);
  return r
    ? `https://${r.authority}${r.pathPrefix === "/" ? "/" : r.pathPrefix + "/"}`
    : "<target-url>";
}

export type { ReloadResult };

class ReloadRefused extends Error {
  constructor(message: string, readonly file: string | null, readonly setting: string | null) {
    super(message);
  }
}

/** A refusal's file and setting (loadConfig's errors carry them). */
interface Where {
  file: string | null;
  setting: string | null;
}

/** The client authentication of a configuration: the verifier's options and their fingerprint. */
interface LoadedAuth {
  options: AuthOptions;
  /** SHA-256 over the settings and the texts read: equal → the same verifier can be kept. */
  fingerprint: string;
  /** The demo user (no --config, no --users-file). */
  demo: boolean;
}

/**
 * Reads what `auth` names (users file, PSK file, the token secret from its file or variable)
 * and builds the verifier's options; without auth in demo mode, the demo user. Errors name the
 * file and setting, never a line's content.
 */
async function loadAuth(
  auth: AuthFileSettings | undefined,
  demo: boolean,
  routes: unknown,
): Promise<{ auth: LoadedAuth | null } | ({ error: string } & Where)> {
  if (auth === undefined && !demo) return { auth: null };
  const settings: AuthFileSettings = auth ?? {
    methods: ["password"],
    usersFile: undefined,
    pskFile: undefined,
    token: undefined,
    limits: undefined,
  };
  const texts: AuthTexts = {};
  const read = async (path: string, setting: string) => {
    try {
      return { text: await readFile(path, "utf8"), source: path };
    } catch (e) {
      throw Object.assign(
        new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`),
        {
          where: { file: path, setting },
        },
      );
    }
  };
  try {
    if (settings.methods.includes("password")) {
      texts.users = settings.usersFile === undefined
        ? { text: DEMO_USERS_FILE, source: "the demo user" }
        : await read(settings.usersFile, "auth.usersFile");
    }
    if (settings.pskFile !== undefined) texts.psks = await read(settings.pskFile, "auth.pskFile");
    const t = settings.token;
    if (t?.secretFile !== undefined) {
      texts.tokenSecret = await read(t.secretFile, "auth.token.secretFile");
    } else if (t?.secretEnv !== undefined) {
      let v: string | undefined;
      try {
        v = process.env[t.secretEnv];
      } catch { /* no env permission */ }
      if (v === undefined || v === "") {
        return {
          error: `auth.token.secretEnv: the environment variable ${t.secretEnv} is not set`,
          file: null,
          setting: "auth.token.secretEnv",
        };
      }
      texts.tokenSecret = { text: v, source: t.secretEnv };
    }
  } catch (e) {
    const w = (e as { where?: Where }).where;
    if (w) return { error: (e as Error).message, ...w };
    throw e;
  }
  let options: AuthOptions;
  try {
    options = authOptionsFromFile(settings, texts);
  } catch (e) {
    if (e instanceof ConfigError) {
      // The message starts with the file it is about (users, PSK or secret file).
      const file = [texts.users, texts.psks, texts.tokenSecret].find((t) =>
        t && e.message.startsWith(`${t.source}: `)
      )?.source ?? null;
      return { error: e.message, file, setting: "auth" };
    }
    throw e;
  }
  // The routes too: the verifier's JWKS fetch is restricted to their origins.
  const h = createHash("sha256").update(JSON.stringify([settings, routes ?? null]));
  for (const t of [texts.users, texts.psks, texts.tokenSecret]) h.update(`\0${t?.text ?? ""}`);
  return { auth: { options, fingerprint: h.digest("hex"), demo: auth === undefined } };
}

/**
 * The config file (if any), the settings and the key files: at start (`create`: the default
 * key file is created when missing) and on every reload (never creates). Errors name the file
 * and the setting.
 */
async function loadConfig(
  flags: StartFlags,
  create: boolean,
): Promise<
  | { settings: StartSettings; loaded: LoadedKey[]; auth: LoadedAuth | null }
  | ({ error: string; missingKey?: boolean } & Where)
> {
  let configText: string | null = null;
  if (flags.config !== null) {
    try {
      configText = await readFile(flags.config, "utf8");
    } catch (e) {
      return {
        error: `cannot read config file ${flags.config}: ${(e as Error).message}`,
        file: flags.config,
        setting: null,
      };
    }
  }
  let settings: StartSettings;
  try {
    settings = resolveStartSettings(flags, configText);
  } catch (e) {
    if (e instanceof UsageError) {
      const cause = (e as { cause?: unknown }).cause;
      const setting = cause instanceof ConfigError ? cause.path || null : null;
      return { error: e.message, file: flags.config, setting };
    }
    throw e;
  }
  const loaded: LoadedKey[] = [];
  let reading: string | null = null;
  try {
    for (const [i, path] of settings.keyFiles.entries()) {
      reading = path;
      loaded.push(
        i === 0 && settings.createMissingKey && create
          ? await loadOrCreateKeyFile(path, { allowUnignored: flags.allowUnignoredKey })
          : await readKeyFile(path),
      );
    }
  } catch (e) {
    if (e instanceof KeyFileError) {
      const setting = flags.keyFile !== null ? "--key-file" : flags.config !== null ? "keys" : null;
      return { error: e.message, missingKey: e.missing, file: reading, setting };
    }
    throw e;
  }
  const a = await loadAuth(settings.auth, settings.routes === undefined, settings.routes);
  if ("error" in a) return a;
  return { settings, loaded, auth: a.auth };
}

export async function runGateway(argv: readonly string[], rt: GatewayRuntime): Promise<number> {
  const userPath = rt.initCwd === false ? (p: string) => p : initCwdPath;
  let flags: StartFlags;
  try {
    const f = parseStartFlags(argv);
    if (f === "help") {
      console.log(rt.usage);
      return 0;
    }
    flags = f;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`pqgate: ${e.message}\n\n${rt.usage}`);
      return 2;
    }
    throw e;
  }

  if (flags.generateKey !== null) {
    try {
      const k = await createKeyFile(userPath(flags.generateKey), {
        allowUnignored: flags.allowUnignoredKey,
      });
      console.log(`created ${k.path}\n  key id  ${k.keyIdHex}\n  pin     ${k.pin}`);
      return 0;
    } catch (e) {
      console.error(`pqgate: cannot create key file ${flags.generateKey}: ${(e as Error).message}`);
      return 1;
    }
  }

  if (flags.config !== null) flags = { ...flags, config: userPath(flags.config) };
  if (flags.keyFile !== null) flags = { ...flags, keyFile: userPath(flags.keyFile) };
  if (flags.usersFile) flags = { ...flags, usersFile: userPath(flags.usersFile) };
  if (flags.pskFile) flags = { ...flags, pskFile: userPath(flags.pskFile) };
  const first0 = await loadConfig(flags, true);
  if ("error" in first0) {
    console.error(`pqgate: ${first0.error}`);
    if (first0.missingKey) console.error(`  create it with: ${rt.keygenCommand} <path>`);
    return 2;
  }
  let { settings, loaded, auth: loadedAuth } = first0;
  for (const k of loaded) if (k.warning) console.error(`pqgate: warning: ${k.warning}`);

  const o = settings.observe;
  const logLines = createLogWriter({
    level: o.logLevel,
    format: o.logFormat,
    paths: o.logRequestTargets,
    addresses: o.logClientAddresses,
    subjects: o.logAuthSubjects,
    write: stderrLines(),
  });
  let metrics: PromMetrics | null = null;
  if (o.metricsListen !== undefined) {
    const { createPromMetrics } = await import("../transport/observe/prom-metrics.ts");
    metrics = await createPromMetrics({ keyIds: loaded.map((k) => k.keyIdHex) });
  }
  const log = teeLogs(logLines, metrics?.log);

  // Argon2id on Deno: one worker pool for the process, sized by the start's maxInFlight and
  // started at the first verification; every verifier (one per reload that changes auth)
  // shares it, so reloads never add threads. Node: the verifier's own (the calling thread).
  const inFlight = (a: LoadedAuth | null) => {
    try {
      return resolveLimits(a?.options.limits).maxInFlight;
    } catch {
      return null; // out of range: createGateway reports it, naming the setting
    }
  };
  const poolSize = inFlight(loadedAuth) ?? 2;
  let pool: Argon2Backend | null = null;
  const argon2: Argon2Backend | undefined = "Deno" in globalThis && typeof Worker === "function"
    ? {
      hash: (pw, salt, params) =>
        (pool ??= createArgon2WorkerPool(poolSize)).hash(pw, salt, params),
    }
    : undefined;
  let verifier: { fingerprint: string; auth: AuthVerifier } | null = null;
  /** The last verifier when its configuration is unchanged (keeps its failure counts), else options. */
  const authFor = (a: LoadedAuth | null) =>
    a === null
      ? undefined
      : verifier?.fingerprint === a.fingerprint
      ? verifier.auth
      : { ...a.options, argon2 };

  const build = (
    settings: StartSettings,
    loaded: LoadedKey[],
    auth: LoadedAuth | null,
  ): Gateway => {
    const g = createGateway({
      keys: loaded.map((k) => k.key),
      routes: settings.routes,
      allowAnonymous: settings.allowAnonymous,
      suites: settings.suites,
      limits: settings.limits,
      originTimeoutMs: settings.originTimeoutMs,
      originBodyIdleTimeoutMs: settings.originBodyIdleTimeoutMs,
      channelPath: settings.channelPath,
      allowedOrigins: settings.allowedOrigins,
      websockets: rt.originWebSocket
        ? { ...settings.websockets, connect: rt.originWebSocket }
        : settings.websockets,
      auth: authFor(auth),
      log,
    });
    if (settings.routes === undefined) rt.addDemoPage?.(g);
    return g;
  };
  /** A built gateway's verifier becomes the one later reloads may keep. */
  const keep = (g: Gateway, auth: LoadedAuth | null) => {
    verifier = auth && g.auth ? { fingerprint: auth.fingerprint, auth: g.auth } : null;
  };
  /** Token keys from configuration are imported asynchronously: a bad one fails here. */
  const authReady = async (g: Gateway): Promise<string | null> => {
    try {
      await (g.auth as { ready?: () => Promise<void> } | null)?.ready?.();
      return null;
    } catch (e) {
      return `auth: ${(e as Error).message}`;
    }
  };
  let gateway: Gateway;
  try {
    gateway = build(settings, loaded, loadedAuth);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`pqgate: ${rewordGatewayError(e.message, settings.configPath)}`);
      return 2;
    }
    throw e;
  }
  {
    const bad = await authReady(gateway);
    if (bad !== null) {
      console.error(`pqgate: ${settings.configPath ? `${settings.configPath}: ` : ""}${bad}`);
      return 2;
    }
  }
  keep(gateway, loadedAuth);

  /**
   * Reload (SIGHUP, POST /-/reload; docs/operations.md "Reload"): the same files through the
   * same parser as at start; a new gateway (keys, routes, limits) for new channels once its
   * crypto self-tests ran, open channels keep theirs. Refused (old one kept) with the file and
   * setting named. One at a time, bounded: a reload during a reload waits for it and runs once
   * more, later ones share that one (reload.ts oneAtATime). Restart-only settings are compared
   * with the ones the server was started with.
   */
  const started = settings;
  const reload = oneAtATime(async (): Promise<ReloadResult> => {
    let next: Awaited<ReturnType<typeof loadConfig>>;
    let g: Gateway;
    try {
      // Inside the try: an unexpected error answers 500 and never rejects (SIGHUP's caller
      // does not wait, so a rejection would be an unhandled one).
      next = await loadConfig(flags, false);
      if ("error" in next) throw new ReloadRefused(next.error, next.file, next.setting);
      try {
        g = build(next.settings, next.loaded, next.auth);
      } catch (e) {
        if (e instanceof ConfigError) {
          throw new ReloadRefused(
            rewordGatewayError(e.message, next.settings.configPath),
            next.settings.configPath,
            e.path.replace(/^options\./, "") || null,
          );
        }
        throw e;
      }
    } catch (e) {
      const refused = e instanceof ReloadRefused;
      const error = refused ? e.message : `reload failed: ${e}`;
      const file = refused ? e.file : null, setting = refused ? e.setting : null;
      console.error(`pqgate: reload refused, the running configuration is kept: ${error}`);
      emit(log, "gateway.reload", {
        ok: false,
        keyIds: loaded.map((k) => k.keyIdHex),
        error,
        file,
        setting,
        restartOnly: [],
      });
      return { ok: false, status: refused ? 422 : 500, error, file, setting };
    }
    const bad = await authReady(g);
    if (bad !== null) {
      const error = `${next.settings.configPath ?? ""}: ${bad}`.replace(/^: /, "");
      console.error(`pqgate: reload refused, the running configuration is kept: ${error}`);
      emit(log, "gateway.reload", {
        ok: false,
        keyIds: loaded.map((k) => k.keyIdHex),
        error,
        file: next.settings.configPath,
        setting: "auth",
        restartOnly: [],
      });
      return { ok: false, status: 422, error, file: next.settings.configPath, setting: "auth" };
    }
    await g.cryptoReport();
    for (const k of next.loaded) if (k.warning) console.error(`pqgate: warning: ${k.warning}`);
    const keyIds = next.loaded.map((k) => k.keyIdHex);
    metrics?.allowKeyIds(keyIds);
    const restart = restartOnlyChanges(started, next.settings);
    if (inFlight(next.auth) !== poolSize && argon2) {
      restart.push("auth.limits.maxInFlight");
    }
    keep(g, next.auth);
    const before = loaded.map((k) => k.keyIdHex);
    gateway = g;
    settings = next.settings;
    loaded = next.loaded;
    console.error(
      `pqgate: reloaded: keys ${keyIds.join(", ")}; ${
        next.settings.routes ? `${next.settings.routes.length} routes` : "demo origin"
      }${restart.length ? ` (${restart.join(", ")} changed: applied at the next restart)` : ""}`,
    );
    emit(log, "gateway.reload", {
      ok: true,
      keyIds,
      error: null,
      file: next.settings.configPath,
      setting: null,
      restartOnly: restart,
    });
    return {
      ok: true,
      keyIds,
      added: keyIds.filter((id) => !before.includes(id)),
      removed: before.filter((id) => !keyIds.includes(id)),
      restartOnly: restart,
    };
  });
  const onHangup = () => void reload().catch(() => {/* reload() answers every error itself */});
  try {
    process.on("SIGHUP", onHangup);
  } catch { /* no SIGHUP on this platform */ }

  let metricsListener: MetricsListener | null = null;
  if (metrics && o.metricsListen !== undefined) {
    const at = parseListenAddress(o.metricsListen)!;
    const { startMetricsListener } = await import("../transport/observe/metrics-listener.ts");
    try {
      metricsListener = await startMetricsListener({
        ...at,
        metrics: metrics.metrics,
        contentType: metrics.contentType,
        onReload: async () => reloadAnswer(await reload()),
      });
    } catch (e) {
      console.error(
        `pqgate: cannot listen for metrics on ${o.metricsListen}: ${(e as Error).message}`,
      );
      return 1;
    }
  }

  let server: ListeningServer;
  try {
    server = await rt.serve(
      gateway,
      settings,
      (req, env) => gateway.app.fetch(req, env as Record<string, unknown>),
    );
  } catch (e) {
    console.error(
      `pqgate: cannot listen on ${settings.hostname}:${settings.port}: ${
        rt.listenError(e, settings)
      }`,
    );
    return 1;
  }

  const host = displayHost(server.addr.hostname);
  const base = `http://${host}:${server.addr.port}`;
  const channel = `ws://${host}:${server.addr.port}${gateway.channelPath}`;
  const first = loaded[0];
  const lines = [
    `pqgate gateway listening on ${server.addr.hostname}:${server.addr.port}`,
    `  channel  ${channel}`,
    `  keys     ${base}/.well-known/pqgate`,
  ];
  if (metricsListener) {
    const m = metricsListener.addr;
    const mh = m.hostname.includes(":") ? `[${m.hostname}]` : m.hostname;
    lines.push(`  metrics  http://${mh}:${m.port}/metrics`);
  }
  for (const k of loaded) {
    lines.push(`  key id   ${k.keyIdHex}  (${k.created ? "created " : ""}${k.path})`);
    lines.push(`  pin      ${k.pin}`);
  }
  lines.push(
    settings.routes === undefined
      ? `  origin   embedded demo origin at https://demo/ (api/hello, api/items, api/echo, api/stream)`
      : `  routes   ${settings.routes.length} from ${settings.configPath}`,
  );
  if (gateway.auth) {
    lines.push(
      loadedAuth?.demo
        ? `  auth     demo user "demo", password "pqgate-demo" (public, demo only): https://demo/api/me`
        : `  auth     ${[...gateway.auth.methods].join(", ")} (client authentication)`,
    );
  }
  if (settings.routes === undefined && rt.addDemoPage) {
    lines.push(`  demo     ${base}/  (open in a browser)`);
  }
  // Chosen by self-tests against noble (a few hundred ms, once); connections that arrive
  // meanwhile use noble.
  lines.push(`  crypto   ${(await gateway.cryptoReport()).summary}`);
  const target = settings.routes === undefined ? "https://demo/api/hello" : exampleTarget(gateway);
  lines.push("", "Try:", `  ${rt.fetchCommand} --pin ${first.pin} ${channel} ${target}`, "");
  console.log(lines.join("\n"));

  await server.finished;
  try {
    process.off("SIGHUP", onHangup);
  } catch { /* as above */ }
  await metricsListener?.close();
  (pool as Argon2Backend | null)?.close?.();
  console.log("pqgate stopped");
  return 0;
}
