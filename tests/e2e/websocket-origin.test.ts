/**
 * Tunneled WebSockets end to end on Deno (PROTOCOL.md §6.9): a real `serveDeno` gateway with
 * WebSocket routes, a real Deno WebSocket origin (ws-origin.ts), the real client, all on
 * loopback; the cases are websocket-suite.ts's. Once for each connector that opens origin
 * sockets on Deno: the platform's (Deno's WebSocket, src/proxy/platform-websocket.ts) and the
 * `ws` package's (src/transport/node-http/origin-websocket.ts, Node's and the CLI's).
 */
import type { OriginWebSocketConnect } from "../../src/proxy/origin-websocket.ts";
import { platformOriginWebSocket } from "../../src/proxy/platform-websocket.ts";
import { wsOriginWebSocket } from "../../src/transport/node-http/origin-websocket.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { channelUrl } from "./loopback.ts";
import { pausableWebSocket, runWebSocketSuite, wsSuiteGateway } from "./websocket-suite.ts";
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
      const { gateway, pin, events } = wsSuiteGateway(origin, connect);
      const server = serveDeno({ gateway, port: 0, hostname: "127.0.0.1" });
      try {
        await runWebSocketSuite(
          {
            name: `deno/${name}`,
            wsUrl: channelUrl(server.url),
            pin,
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
