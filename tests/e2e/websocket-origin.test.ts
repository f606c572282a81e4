/**
 * Tunneled WebSockets end to end on Deno (PROTOCOL.md §6.9): a real `serveDeno` gateway with
 * WebSocket routes, a real Deno WebSocket origin (ws-origin.ts), the real client, all on
 * loopback; the cases are websocket-suite.ts's. Once for each connector that opens origin
 * sockets on Deno: the platform's (Deno's WebSocket, src/proxy/platform-websocket.ts) and the
 * `ws` package's (src/transport/node-http/origin-websocket.ts, Node's and the CLI's).
 */
import { createGateway } from "../../src/gateway/create-gateway.ts";
import type { OriginWebSocketConnect } from "../../src/proxy/origin-websocket.ts";
import { platformOriginWebSocket } from "../../src/proxy/platform-websocket.ts";
import { wsOriginWebSocket } from "../../src/transport/node-http/origin-websocket.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { channelUrl } from "./loopback.ts";
import {
  pausableWebSocket,
  runWebSocketSuite,
  WS_SUITE_LIMITS,
  WS_SUITE_WEBSOCKETS,
  wsSuiteRoutes,
} from "./websocket-suite.ts";
import { startWsOrigin } from "./ws-origin.ts";

for (
  const [name, connect] of [
    ["deno", platformOriginWebSocket()!],
    ["ws", wsOriginWebSocket()],
  ] as [string, OriginWebSocketConnect][]
) {
  Deno.test({
    name:
      `e2e: tunneled WebSockets through a serveDeno gateway to a real WebSocket origin (${name} connector)`,
    // Sockets and timers of closed channels wind down asynchronously after each scenario.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const origin = startWsOrigin();
      const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
      const events: Record<string, unknown>[] = [];
      const gateway = createGateway({
        keys: key,
        routes: wsSuiteRoutes(origin.url),
        limits: WS_SUITE_LIMITS,
        websockets: {
          ...WS_SUITE_WEBSOCKETS,
          connect,
        },
        log: (event, fields) => {
          if (event === "websocket") events.push(fields as Record<string, unknown>);
        },
      });
      const server = serveDeno({ gateway, port: 0, hostname: "127.0.0.1" });
      try {
        await runWebSocketSuite(
          {
            name: `deno/${name}`,
            wsUrl: channelUrl(server.url),
            pin: pinFor(key.publicKey),
            events: () => events,
            pausable: pausableWebSocket(),
          },
          origin,
          t,
        );
      } finally {
        await server.shutdown();
        await origin.close();
      }
    },
  });
}
