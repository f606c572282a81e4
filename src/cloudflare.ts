/**
 * `pqgate/cloudflare`: pqgate as a Cloudflare Worker with one Durable Object per channel.
 *
 *   export { PqgateSession } from "pqgate/cloudflare";
 *   import { createWorker } from "pqgate/cloudflare";
 *   export default createWorker();            // or createWorker({ routes, services, log, ... })
 *
 * with wrangler.toml binding PQGATE_SESSION to the class PqgateSession (a new_sqlite_classes
 * migration) and the compatibility flags of docs/cloudflare.md; keys from
 * `wrangler secret put PQGATE_KEYS`. The implementation: src/transport/cloudflare/.
 */
export {
  createWorker,
  type CreateWorkerOptions,
  PqgateSession,
  type PqgateWorker,
  type WorkerEnv,
} from "./transport/cloudflare/worker.ts";
export { ConfigError, type GatewayEnv } from "./gateway/config.ts";
export type { DurableObjectNamespace, Fetcher } from "./transport/cloudflare/platform.ts";
