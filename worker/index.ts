/**
 * This repository's own Worker (wrangler.toml `main`): exactly what a user's Worker is, with
 * pqgate/cloudflare imported from source (src/transport/cloudflare/, docs/cloudflare.md).
 */
export { PqgateSession } from "../src/transport/cloudflare/mod.ts";
import { createWorker } from "../src/transport/cloudflare/mod.ts";

export default createWorker();
