/**
 * PROTOCOL.md 1.1 conformance of the Cloudflare Worker in real workerd (Miniflare), over the
 * wire: the cases of tests/conformance/wire-cases.ts (the same table the Deno gateway runs in
 * tests/conformance/gateway-wire.test.ts), one Worker start for all of them, configured like
 * the hardening runner (HARDENING_LIMITS through PQGATE_LIMITS, hardening routes, `hold` as a
 * service binding).
 *
 * Differences from the Deno runner: workerd delivers whole WebSocket messages, so an oversized
 * message is refused with 4011, not 1009 at the frame header (§1 allows both). Cases whose
 * `disagrees.workerd` is set (the Worker differs from PROTOCOL.md there) are ignored unless
 * PQGATE_CONFORMANCE_ALL=1.
 */
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { HARDENING_LIMITS, hardeningRoutes, holdService } from "../hardening/bad-input-cases.ts";
import { channelUrl } from "../e2e/loopback.ts";
import { startRecordingOrigin } from "../e2e/recording-origin.ts";
import { WIRE_CASES } from "../conformance/wire-cases.ts";
import { startWorker } from "./miniflare.ts";

Deno.test({
  name: `cf workers: conformance over the wire (${WIRE_CASES.length} cases) against the Worker`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const origin = await startRecordingOrigin();
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const key = generateStaticKey(seed);
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(seed)]),
      routes: hardeningRoutes(origin.url),
      vars: { PQGATE_LIMITS: JSON.stringify(HARDENING_LIMITS) },
      services: { hold: holdService },
      direct: true,
    });
    const httpUrl = w.url.replace(/\/$/, "");
    const target = {
      wsUrl: channelUrl(httpUrl),
      httpUrl,
      pin: pinFor(key.publicKey),
      publicKey: key.publicKey,
      keyId: key.keyId,
    };
    try {
      for (const c of WIRE_CASES) {
        await t.step({
          name: `${c.section} ${c.name}`,
          ignore: c.disagrees?.workerd !== undefined && !Deno.env.get("PQGATE_CONFORMANCE_ALL"),
          fn: () =>
            c.run({
              // Miniflare's entry worker, in front of the Worker on `url`, negotiates WebSocket
              // extensions itself; on Cloudflare the Worker is the front. Extension cases go to
              // the Worker's own socket.
              target: c.name.includes("permessage-deflate")
                ? {
                  ...target,
                  wsUrl: channelUrl(w.directUrl!.replace(/\/$/, "")),
                  httpUrl: w.directUrl!.replace(/\/$/, ""),
                }
                : target,
              originPaths: () => origin.requests.map((r) => r.path),
              atFrameHeader: false,
            }),
        });
      }
    } finally {
      await w.close();
      await origin.close();
    }
  },
});
