/**
 * fetch fidelity (tests/e2e/fetch-fidelity.ts) through the Cloudflare Worker in real workerd:
 * the gateway side of every case runs on the Workers fetch (FixedLengthStream framing,
 * workerd's redirect and header handling) instead of Deno's.
 */
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { connect } from "../../src/client/mod.ts";
import { fidelityRoutes, runFetchFidelity, startFidelityOrigin } from "../e2e/fetch-fidelity.ts";
import { channelUrl, deadOriginUrl } from "../e2e/loopback.ts";
import { startWorker } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 17 + 9) & 0xff);
const KEY = generateStaticKey(SEED);

Deno.test({
  name: "cf workers: channel.fetch behaves like fetch (Worker gateway)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const origin = startFidelityOrigin();
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(SEED)]),
      routes: fidelityRoutes(origin, deadOriginUrl()),
    });
    const channel = await connect(channelUrl(w.url.replace(/\/$/, "")), {
      pin: pinFor(KEY.publicKey),
    });
    try {
      await runFetchFidelity("workers", origin, (i, init) => channel.fetch(i, init), t, {
        bodilessContentLengthZero: true,
      });
    } finally {
      channel.close();
      await w.close();
      await origin.close();
    }
  },
});
