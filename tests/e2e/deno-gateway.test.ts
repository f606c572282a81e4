/**
 * The shared end-to-end suite against the Deno transport: a real `serveDeno` gateway, a real
 * recording origin, the real client, all on loopback.
 */
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/gateway-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { runGatewaySuite, SUITE_LIMITS, suiteRoutes } from "./gateway-suite.ts";
import { channelUrl, deadOriginUrl } from "./loopback.ts";
import { startRecordingOrigin } from "./recording-origin.ts";

Deno.test({
  name: "e2e: gateway on Deno (serveDeno)",
  // Sockets and timers of closed channels wind down asynchronously after each scenario.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const origin = await startRecordingOrigin();
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const gateway = createGateway({
      keys: key,
      routes: suiteRoutes(origin, deadOriginUrl()),
      limits: SUITE_LIMITS,
    });
    const server = serveDeno({ gateway, port: 0 });
    try {
      await runGatewaySuite(
        {
          name: "deno",
          wsUrl: channelUrl(server.url),
          httpUrl: server.url,
          pin: pinFor(key.publicKey),
          ...SUITE_LIMITS,
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
