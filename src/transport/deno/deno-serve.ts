/**
 * The Deno.serve side of serveDeno ({ server: "deno" }) and `denoTransport` (for a user's own
 * Deno.serve): admission (../node-http/admission.ts) in front of the Deno.upgradeWebSocket
 * upgrader (deno-upgrade.ts), with the node:http server's transport face and shutdown.
 */
import { UPGRADE_ENV_KEY } from "../../gateway/create-gateway.ts";
import { Admission } from "../node-http/admission.ts";
import {
  admissionLimits,
  type GatewayTransport,
  httpUrl,
  type ResolvedServeOptions,
  type ServerEnv,
  type StartedServer,
  transportOf,
  type TransportOptions,
} from "../node-http/gateway-server.ts";
import { drainAll, goAwayAll, GRACE_MS } from "../node-http/live-sockets.ts";
import { denoUpgrader, type DenoUpgradeState } from "./deno-upgrade.ts";

/** The `Deno.upgradeWebSocket` transport, for a user's own `Deno.serve` (see deno-upgrade.ts). */
export function denoTransport(options: TransportOptions = {}): GatewayTransport {
  const admission = new Admission(admissionLimits(options), options.log);
  const state: DenoUpgradeState = { admission, live: new Map(), stopping: false };
  return transportOf(admission, denoUpgrader(state), (graceMs = GRACE_MS, drainMs = 0) => {
    state.stopping = true;
    return drainMs > 0
      ? drainAll(state.live.values(), drainMs, graceMs, options.log)
      : goAwayAll(state.live.values(), graceMs);
  });
}

/** The gateway on Deno.serve with `denoTransport` (serveDeno's `server: "deno"`). */
export function startDenoServe(
  o: ResolvedServeOptions<ServerEnv<Deno.Addr>>,
  onListen?: (addr: Deno.NetAddr) => void,
): StartedServer<Deno.NetAddr> {
  const transport = denoTransport({ ...o.limits, log: o.log });
  const server = Deno.serve(
    { port: o.port, hostname: o.hostname, onListen: (a) => onListen?.(a as Deno.NetAddr) },
    (req, info) =>
      o.handler(req, { remoteAddr: info.remoteAddr, [UPGRADE_ENV_KEY]: transport.upgrade }),
  );
  const addr = server.addr as Deno.NetAddr;
  return {
    addr,
    url: httpUrl(addr.hostname, addr.port),
    transport,
    finished: server.finished,
    stopServer: async (drainMs) => {
      await transport.shutdown(GRACE_MS, drainMs);
      await server.shutdown();
    },
  };
}
