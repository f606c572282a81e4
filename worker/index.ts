/**
 * This repository's own Worker (wrangler.toml `main`): exactly what a user's Worker is, with
 * pqgate/cloudflare imported from source (src/cloudflare.ts, docs/cloudflare.md).
 */
export { PqgateSession } from "../src/cloudflare.ts";
import { createWorker } from "../src/cloudflare.ts";

export default createWorker();
