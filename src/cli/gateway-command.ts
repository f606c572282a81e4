/**
 * The gateway command, on any runtime: `npm start` (start.ts, on Deno: serveDeno) and
 * `npx pqgate serve` (main.ts, on Node: serveNode) share the flags, the config file
 * (start-config.ts), the key files and the banner; the runtime passes how to listen.
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { createGateway, type Gateway } from "../gateway/create-gateway.ts";
import { ConfigError } from "../gateway/config-error.ts";
import { createLogWriter } from "../gateway/log-writer.ts";
import { stderrLines } from "./log-output.ts";
import { teeLogs } from "../tunnel/events.ts";
import type { MetricsListener } from "../transport/observe/metrics-listener.ts";
import { parseListenAddress } from "../transport/observe/listen-address.ts";
import type { PromMetrics } from "../transport/observe/prom-metrics.ts";
import { UsageError } from "./argv.ts";
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
  /** Starts the server (handling SIGINT / SIGTERM); throws when it cannot listen. */
  serve(gateway: Gateway, settings: StartSettings): Promise<ListeningServer>;
  /** Why listening failed, for the error line (e.g. the port is in use). */
  listenError(e: unknown, settings: StartSettings): string;
  /**
   * Adds the demo page at / (demo mode only), with a prebuilt browser client (demo-page.ts):
   * nothing is built at run time.
   */
  addDemoPage?(gateway: Gateway): void;
  /** The usage text. */
  usage: string;
  /**
   * POST /-/reload on the metrics listener: re-reads keys, routes and limits (absent: the
   * endpoint answers 501).
   */
  onReload?: () => Promise<void>;
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

  let configText: string | null = null;
  if (flags.config !== null) {
    flags = { ...flags, config: userPath(flags.config) };
    try {
      configText = await readFile(flags.config!, "utf8");
    } catch (e) {
      console.error(`pqgate: cannot read config file ${flags.config}: ${(e as Error).message}`);
      return 2;
    }
  }
  if (flags.keyFile !== null) flags = { ...flags, keyFile: userPath(flags.keyFile) };

  let settings;
  try {
    settings = resolveStartSettings(flags, configText);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`pqgate: ${e.message}`);
      return 2;
    }
    throw e;
  }

  const loaded: LoadedKey[] = [];
  try {
    for (const [i, path] of settings.keyFiles.entries()) {
      loaded.push(
        i === 0 && settings.createMissingKey
          ? await loadOrCreateKeyFile(path, { allowUnignored: flags.allowUnignoredKey })
          : await readKeyFile(path),
      );
    }
  } catch (e) {
    if (e instanceof KeyFileError) {
      console.error(`pqgate: ${e.message}`);
      if (e.missing) {
        console.error(`  create it with: ${rt.keygenCommand} <path>`);
      }
      return 2;
    }
    throw e;
  }
  for (const k of loaded) if (k.warning) console.error(`pqgate: warning: ${k.warning}`);

  const o = settings.observe;
  const logLines = createLogWriter({
    level: o.logLevel,
    format: o.logFormat,
    paths: o.logRequestTargets,
    addresses: o.logClientAddresses,
    write: stderrLines(),
  });
  let metrics: PromMetrics | null = null;
  if (o.metricsListen !== undefined) {
    const { createPromMetrics } = await import("../transport/observe/prom-metrics.ts");
    metrics = await createPromMetrics({ keyIds: loaded.map((k) => k.keyIdHex) });
  }
  const log = teeLogs(logLines, metrics?.log);

  let gateway: Gateway;
  try {
    gateway = createGateway({
      keys: loaded.map((k) => k.key),
      routes: settings.routes,
      allowAnonymous: settings.allowAnonymous,
      suites: settings.suites,
      limits: settings.limits,
      originTimeoutMs: settings.originTimeoutMs,
      originBodyIdleTimeoutMs: settings.originBodyIdleTimeoutMs,
      channelPath: settings.channelPath,
      allowedOrigins: settings.allowedOrigins,
      log,
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`pqgate: ${rewordGatewayError(e.message, settings.configPath)}`);
      return 2;
    }
    throw e;
  }

  if (settings.routes === undefined) rt.addDemoPage?.(gateway);

  let metricsListener: MetricsListener | null = null;
  if (metrics && o.metricsListen !== undefined) {
    const at = parseListenAddress(o.metricsListen)!;
    const { startMetricsListener } = await import("../transport/observe/metrics-listener.ts");
    try {
      metricsListener = await startMetricsListener({
        ...at,
        metrics: metrics.metrics,
        contentType: metrics.contentType,
        onReload: rt.onReload,
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
    server = await rt.serve(gateway, settings);
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
  await metricsListener?.close();
  console.log("pqgate stopped");
  return 0;
}
