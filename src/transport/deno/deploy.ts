/**
 * pqgate on Deno Deploy, or anywhere with `deno run --allow-net --allow-env`: the gateway
 * configured from the same PQGATE_* variables as the Worker (src/gateway/config.ts), served
 * with Deno.serve and Deno.upgradeWebSocket (`serveDeno({ server: "deno" })`: Deno Deploy has
 * no node:http server; SECURITY.md says which bounds that leaves out). No key file, no demo
 * page, no bundler: it needs no --allow-read, --allow-write or --allow-run.
 *
 *   deno run --allow-net --allow-env src/transport/deno/deploy.ts
 *
 * PORT (default 8000) and HOSTNAME (default 0.0.0.0) choose the listen address where the
 * platform does not (Deno Deploy picks its own). docs/deno-deploy.md is the walk-through.
 */
import { createGateway, type Gateway } from "../../gateway/create-gateway.ts";
import {
  ConfigError,
  configFail,
  type GatewayEnv,
  gatewayOptionsFromEnv,
  parseLogLevel,
  serviceOrigins,
} from "../../gateway/config.ts";
import { type DenoServer, serveDeno } from "./serve.ts";
import { createLogWriter } from "../../gateway/log-writer.ts";

/** The entry's own line (listening), in the log writer's format, before the gateway's. */
const log = createLogWriter({ level: "info", write: (line) => console.log(line) })!;

/** The gateway the environment describes (ConfigError naming the variable otherwise). */
export function gatewayFromEnv(env: GatewayEnv): Gateway {
  const { logOff: _, ...options } = gatewayOptionsFromEnv(env);
  const logLevel = parseLogLevel(env.PQGATE_LOG);
  for (const { index, name } of serviceOrigins(options.routes)) {
    configFail(
      { path: ["PQGATE_ROUTES", index, "origin"] },
      `is service:${name}, but the environment provides no services (service: origins are for createGateway({ services }) in code)`,
    );
  }
  // JSON lines on stdout at PQGATE_LOG's level (Deno Deploy collects stdout).
  const lines = createLogWriter({ level: logLevel, write: (line) => console.log(line) });
  return createGateway({ ...options, log: lines });
}

/** Serves `gatewayFromEnv(env)`; `listen` defaults to PORT / HOSTNAME of `env`. */
export function serveFromEnv(
  env: GatewayEnv & { PORT?: string; HOSTNAME?: string },
  onListen?: (server: { url: string }) => void,
): DenoServer {
  const port = env.PORT === undefined || env.PORT === "" ? 8000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    configFail(
      { path: ["PORT"] },
      `must be a port number from 0 to 65535, got ${JSON.stringify(env.PORT)}`,
    );
  }
  const hostname = env.HOSTNAME || "0.0.0.0";
  const server: DenoServer = serveDeno({
    gateway: gatewayFromEnv(env),
    server: "deno",
    port,
    hostname,
    handleSignals: true,
    onListen: (addr) => onListen?.({ url: `http://${addr.hostname}:${addr.port}` }),
  });
  return server;
}

if (import.meta.main) {
  try {
    serveFromEnv(Deno.env.toObject(), ({ url }) => {
      log("gateway.listening", { url, channel: url.replace(/^http/, "ws") + "/pqgate" });
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`pqgate: ${(e as Error).message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
