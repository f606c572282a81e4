/**
 * Bench-only Worker entry (bundled into dist/ws-tunnel-worker/, loaded by bench/ws-tunnel.ts into
 * Miniflare; NEVER deployed): the production Worker and its Durable Object, plus `ProtoRelay`, the
 * smallest Durable Object that tunnels a WebSocket the way pqgate's does (a hibernatable client
 * socket, an origin socket opened by the Workers connector, src/transport/cloudflare/
 * origin-websocket.ts), without any channel. It is the baseline of the tunnel bench and the
 * subject of the hibernation probe.
 *
 *   GET /proto/<name>?origin=ws://host:port/   upgrade: ProtoRelay <name>, relaying to the origin
 *   GET /proto/<name>                           upgrade: ProtoRelay <name>, echoing itself
 *   GET /proto-state/<name>                     { instance, sockets, origins } of ProtoRelay <name>
 *   GET /close-codes                            which codes workerd's close() accepts
 *   anything else                               the production Worker
 *
 * `instance` numbers the object's constructions in this isolate: it changes when the object was
 * evicted (hibernated) and rebuilt between two requests.
 */
import worker, { PqgateSession } from "../worker/index.ts";
import type { WorkerEnv } from "../src/transport/cloudflare/worker.ts";
import type {
  DurableObjectContext,
  DurableObjectNamespace,
  HibernatableWebSocket,
} from "../src/transport/cloudflare/platform.ts";
import { workerdOriginWebSocket } from "../src/transport/cloudflare/origin-websocket.ts";
import type { OriginSocket } from "../src/proxy/origin-websocket.ts";

export { PqgateSession };

let constructions = 0;

interface Pair {
  0: HibernatableWebSocket & { accept(): void };
  1: HibernatableWebSocket & { accept(): void };
}
const newPair = () =>
  new (globalThis as unknown as { WebSocketPair: new () => Pair }).WebSocketPair();

export class ProtoRelay {
  private readonly instance = ++constructions;
  private readonly origins = new Map<HibernatableWebSocket, OriginSocket>();
  constructor(private readonly ctx: DurableObjectContext, _env: unknown) {}

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/proto-state/")) {
      return Response.json({
        instance: this.instance,
        sockets: this.ctx.getWebSockets().length,
        origins: this.origins.size,
      });
    }
    const pair = newPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server);
    const target = url.searchParams.get("origin");
    if (target) {
      const origin = await workerdOriginWebSocket()({
        url: target,
        protocols: [],
        headers: new Headers(),
        signal: new AbortController().signal,
        maxMessage: 1 << 20,
      });
      origin.onmessage = (d) => server.send(d);
      origin.onclose = (code, reason) => {
        this.origins.delete(server);
        try {
          server.close(code === 1005 || code === 1006 ? 1000 : code, reason);
        } catch { /* gone */ }
      };
      this.origins.set(server, origin);
    }
    return new Response(null, { status: 101, webSocket: pair[0] } as unknown as ResponseInit);
  }

  webSocketMessage(ws: HibernatableWebSocket, message: string | ArrayBuffer): void {
    const origin = this.origins.get(ws);
    if (origin) origin.send(typeof message === "string" ? message : new Uint8Array(message));
    else ws.send(message);
  }

  webSocketClose(ws: HibernatableWebSocket, code: number, reason: string): void {
    this.origins.get(ws)?.close(code, reason);
    this.origins.delete(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch { /* gone */ }
  }
}

/** Which close codes workerd's close() accepts on an accepted socket. */
function closeCodes(): Response {
  const out: Record<string, string> = {};
  for (
    const code of [
      999,
      1000,
      1001,
      1002,
      1003,
      1004,
      1005,
      1006,
      1007,
      1011,
      1012,
      1014,
      1015,
      1016,
      2999,
      3000,
      4999,
      5000,
    ]
  ) {
    const pair = newPair();
    pair[0].accept();
    pair[1].accept();
    try {
      pair[0].close(code, "x");
      out[code] = "ok";
    } catch (e) {
      out[code] = String((e as Error).message);
    }
  }
  return Response.json(out);
}

export default {
  fetch(request: Request, env: WorkerEnv & { PROTO_RELAY: DurableObjectNamespace }, ctx: unknown) {
    const { pathname } = new URL(request.url);
    const m = /^\/(proto|proto-state)\/([\w-]+)$/.exec(pathname);
    if (m) return env.PROTO_RELAY.get(env.PROTO_RELAY.idFromName(m[2])).fetch(request);
    if (pathname === "/close-codes") return Promise.resolve(closeCodes());
    return worker.fetch(request, env, ctx);
  },
};
