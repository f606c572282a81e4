/**
 * Tunneled WebSockets end to end on Deno (PROTOCOL.md §6.9): a real `serveDeno` gateway with
 * WebSocket routes, a real Deno WebSocket origin (ws-origin.ts), the real client, all on
 * loopback; the cases are websocket-suite.ts's. The gateway opens origin sockets with the
 * platform's connector (src/proxy/platform-websocket.ts).
 */
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { platformOriginWebSocket } from "../../src/proxy/platform-websocket.ts";
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

Deno.test({
  name: "e2e: tunneled WebSockets through a serveDeno gateway to a real WebSocket origin",
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
        connect: platformOriginWebSocket()!,
      },
      log: (event, fields) => {
        if (event === "websocket") events.push(fields as Record<string, unknown>);
      },
    });
    const server = serveDeno({ gateway, port: 0, hostname: "127.0.0.1" });
    try {
      await runWebSocketSuite(
        {
          name: "deno",
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
