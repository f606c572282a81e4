/**
 * fetch fidelity (tests/e2e/fetch-fidelity.ts) through a real `serveDeno` gateway: every case
 * sent with the platform fetch straight to the origin and with `channel.fetch` through the
 * gateway must come out the same.
 */
import { connect } from "../../src/client/mod.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { fidelityRoutes, runFetchFidelity, startFidelityOrigin } from "./fetch-fidelity.ts";
import { channelUrl, deadOriginUrl } from "./loopback.ts";

Deno.test({
  name: "e2e: channel.fetch behaves like fetch (Deno gateway)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const origin = startFidelityOrigin();
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const gateway = createGateway({ keys: key, routes: fidelityRoutes(origin, deadOriginUrl()) });
    const server = serveDeno({ gateway, port: 0 });
    const channel = await connect(channelUrl(server.url), { pin: pinFor(key.publicKey) });
    try {
      await runFetchFidelity("deno", origin, (i, init) => channel.fetch(i, init), t);
    } finally {
      channel.close();
      await server.shutdown();
      await origin.close();
    }
  },
});
