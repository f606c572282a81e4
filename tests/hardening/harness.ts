/**
 * Starts the REAL Deno gateway in-process for the hardening tests: `serveDeno` on port 0 with
 * HARDENING_LIMITS, the hardening routes in front of the e2e recording origin, and every log
 * event captured (to check that no secret is ever logged).
 */
import { createGateway, type GatewayOptions } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import type { RouteConfig } from "../../src/proxy/routes.ts";
import {
  type DenoServer,
  serveDeno,
  type ServeDenoOptions,
} from "../../src/transport/deno/serve.ts";
import { channelUrl } from "../e2e/loopback.ts";
import { type RecordingOrigin, startRecordingOrigin } from "../e2e/recording-origin.ts";
import { HARDENING_LIMITS, hardeningRoutes, holdService } from "./bad-input-cases.ts";
import { type HardeningTarget, SecretBook } from "./wire.ts";

export interface Harness {
  target: HardeningTarget;
  server: DenoServer;
  origin: RecordingOrigin;
  /** Every log event, as { event, fields }. */
  logs: { event: string; fields?: Record<string, unknown> }[];
  /** Holds the gateway's static key seed from the start. */
  book: SecretBook;
  close(): Promise<void>;
}

export interface HarnessOptions {
  routes?: (origin: RecordingOrigin) => RouteConfig[];
  gateway?: Partial<GatewayOptions>;
  /** Extra serveDeno options (e.g. per-address limits). */
  serve?: Partial<Omit<ServeDenoOptions, "gateway">>;
  port?: number;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const origin = await startRecordingOrigin();
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const key = generateStaticKey(seed);
  const book = new SecretBook();
  book.add("gateway key seed", seed);
  book.add("gateway secret key", key.secretKey);
  const logs: Harness["logs"] = [];
  const gateway = createGateway({
    keys: key,
    routes: o.routes ? o.routes(origin) : hardeningRoutes(origin.url),
    services: { hold: holdService },
    limits: HARDENING_LIMITS,
    log: (event, fields) => logs.push({ event, fields }),
    ...o.gateway,
  });
  const server = serveDeno({ ...o.serve, gateway, port: o.port ?? 0 });
  return {
    target: {
      wsUrl: channelUrl(server.url),
      httpUrl: server.url,
      pin: pinFor(key.publicKey),
      publicKey: key.publicKey,
      keyId: key.keyId,
    },
    server,
    origin,
    logs,
    book,
    async close() {
      await server.shutdown();
      await origin.close();
    },
  };
}
