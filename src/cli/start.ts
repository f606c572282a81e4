/**
 * `deno task start` / `npm start`: the gateway on Deno.
 *
 * With no arguments it needs no set-up: the embedded demo origin (https://demo/...) behind the
 * channel, and a gateway key created on first run in .pqgate/gateway-key.json (mode 0600,
 * git-ignored, never printed). `--config file.json` runs it in front of real APIs
 * (docs/configuration.md). SIGINT / SIGTERM shut it down gracefully (clients see 1001).
 */
import { createGateway, type Gateway } from "../gateway/create-gateway.ts";
import { GatewayConfigError } from "../gateway/options.ts";
import { serveDeno } from "../transport/deno/serve.ts";
import { loadClientBundle } from "../gateway/client-bundle.ts";
import { demoPageRoutes } from "../demo/page.ts";
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
} from "./start-config.ts";

/** Paths typed on the command line are relative to where the user ran the command. */
function userPath(p: string): string {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p)) return p;
  let base: string | undefined;
  try {
    base = Deno.env.get("INIT_CWD"); // set by `deno task` and `npm start`
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

export async function main(argv: readonly string[]): Promise<number> {
  let flags: StartFlags;
  try {
    const f = parseStartFlags(argv);
    if (f === "help") {
      console.log(START_USAGE);
      return 0;
    }
    flags = f;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`pqgate: ${e.message}\n\n${START_USAGE}`);
      return 2;
    }
    throw e;
  }

  if (flags.generateKey !== null) {
    try {
      const k = await createKeyFile(userPath(flags.generateKey), { allowUnignored: flags.allowUnignoredKey });
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
      configText = await Deno.readTextFile(flags.config!);
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
      if (/not found/.test(e.message)) {
        console.error("  create it with: npm start -- --generate-key <path>");
      }
      return 2;
    }
    throw e;
  }
  for (const k of loaded) if (k.warning) console.error(`pqgate: warning: ${k.warning}`);

  const log = settings.verbose
    ? (event: string, fields?: Record<string, unknown>) =>
      console.error(JSON.stringify({ t: new Date().toISOString(), event, ...fields }))
    : undefined;

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
    if (e instanceof GatewayConfigError) {
      console.error(`pqgate: ${rewordGatewayError(e.message, settings.configPath)}`);
      return 2;
    }
    throw e;
  }

  if (settings.routes === undefined) {
    // Demo mode: the page at / talks to the embedded demo origin through the channel.
    const say = (m: string) => console.error(`pqgate: ${m}`);
    gateway.app.route("/", demoPageRoutes({
      clientBundle: () => loadClientBundle({ log: say }),
      channelPath: gateway.channelPath,
      onError: (what, e) => say(`demo page: ${what}: ${(e as Error).message}`),
    }));
  }

  let server;
  try {
    server = serveDeno({
      gateway,
      port: settings.port,
      hostname: settings.hostname,
      handleSignals: true,
      maxChannelsPerAddress: settings.maxChannelsPerAddress,
      maxHandshakesPerAddressPerMinute: settings.maxHandshakesPerAddressPerMinute,
      maxSockets: settings.maxSockets,
      maxHandshakesInFlight: settings.maxHandshakesInFlight,
      closeTimeoutMs: settings.closeTimeoutMs,
      headersTimeoutMs: settings.headersTimeoutMs,
    });
  } catch (e) {
    const why = e instanceof Deno.errors.AddrInUse
      ? `port ${settings.port} is in use (try --port <n>, or --port 0 for any free port)`
      : (e as Error).message;
    console.error(`pqgate: cannot listen on ${settings.hostname}:${settings.port}: ${why}`);
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
  for (const k of loaded) {
    lines.push(`  key id   ${k.keyIdHex}  (${k.created ? "created " : ""}${k.path})`);
    lines.push(`  pin      ${k.pin}`);
  }
  lines.push(
    settings.routes === undefined
      ? `  origin   embedded demo origin at https://demo/ (api/hello, api/items, api/echo, api/stream)`
      : `  routes   ${settings.routes.length} from ${settings.configPath}`,
  );
  if (settings.routes === undefined) lines.push(`  demo     ${base}/  (open in a browser)`);
  // Chosen by self-tests against noble (a few hundred ms, once); connections that arrive
  // meanwhile use noble.
  lines.push(`  crypto   ${(await gateway.cryptoReport()).summary}`);
  const target = settings.routes === undefined ? "https://demo/api/hello" : exampleTarget(gateway);
  lines.push("", "Try:", `  npm run fetch -- --pin ${first.pin} ${channel} ${target}`, "");
  console.log(lines.join("\n"));

  await server.finished;
  console.log("pqgate stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
