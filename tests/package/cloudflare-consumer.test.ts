/**
 * Consumer 3: a user's own Cloudflare Worker project on the packed tarball (helpers.ts
 * buildAndPack, shared with the other package tests), exactly as docs/cloudflare.md tells:
 *
 *   1. A fresh directory with the tarball installed (package.json depends on it), its own
 *      src/index.ts (the three lines) and its own wrangler.toml (the documented one: binding
 *      PQGATE_SESSION, a new_sqlite_classes migration, the compatibility flags).
 *   2. `wrangler deploy --dry-run --outdir dist` (the repository's wrangler, run with node):
 *      wrangler's own bundling of pqgate/cloudflare from node_modules. The bundle carries no
 *      test hooks.
 *   3. That bundle in real workerd (tests/cloudflare/miniflare.ts startWorker, `bundle`), with
 *      PQGATE_KEYS set: a channel from this process's client (src/client) pinned to that key,
 *      GET https://demo/api/hello → 200; and 503 naming PQGATE_KEYS without it.
 *
 * Writes only dist/pkg/ (git-ignored) in the repository; the rest is in a temporary directory.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { startWorker, wranglerCompat } from "../cloudflare/miniflare.ts";
import { buildAndPack, installConsumer, ok, REPO_ROOT } from "./helpers.ts";

const WRANGLER = REPO_ROOT + "node_modules/wrangler/bin/wrangler.js";

/** The user's Worker: docs/cloudflare.md "Quick start". */
const INDEX_TS = `export { PqgateSession } from "pqgate/cloudflare";
import { createWorker } from "pqgate/cloudflare";
export default createWorker();
`;

/** The user's wrangler.toml (docs/cloudflare.md), with this repository's compatibility date. */
function wranglerToml(): string {
  const { compatibilityDate, compatibilityFlags } = wranglerCompat();
  return `name = "my-pqgate"
main = "src/index.ts"
compatibility_date = "${compatibilityDate}"
compatibility_flags = [${compatibilityFlags.map((f) => JSON.stringify(f)).join(", ")}]

[[durable_objects.bindings]]
name = "PQGATE_SESSION"
class_name = "PqgateSession"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["PqgateSession"]

[vars]
PQGATE_CRYPTO = "auto"
`;
}

Deno.test({
  name:
    "package: consumer 3, a user's own Cloudflare Worker on pqgate/cloudflare (wrangler build, workerd)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const times: string[] = [];
    const timed = async (name: string, fn: () => Promise<void>) => {
      const t0 = performance.now();
      const passed = await t.step(name, fn);
      times.push(`${name} ${(performance.now() - t0).toFixed(0)} ms`);
      if (!passed) throw new Error(`step failed: ${name}`);
    };
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-cf-consumer-" });
    const app = tmp + "/my-worker";
    try {
      await timed("a Worker project on the tarball (index.ts, wrangler.toml)", async () => {
        const { tarball } = await buildAndPack();
        await installConsumer(app, [tarball]);
        const manifest = JSON.parse(await Deno.readTextFile(app + "/package.json"));
        assert.match(manifest.dependencies.pqgate, /^file:.*\.tgz$/);
        await Deno.mkdir(app + "/src");
        await Deno.writeTextFile(app + "/src/index.ts", INDEX_TS);
        await Deno.writeTextFile(app + "/wrangler.toml", wranglerToml());
      });

      await timed("wrangler deploy --dry-run --outdir dist", async () => {
        const r = await ok("node", [WRANGLER, "deploy", "--dry-run", "--outdir", "dist"], {
          cwd: app,
          env: { WRANGLER_SEND_METRICS: "false", CI: "true", HOME: tmp },
          timeoutMs: 120_000,
        });
        assert.match(
          r.stdout + r.stderr,
          /PQGATE_SESSION/,
          "wrangler did not report the Durable Object binding",
        );
        const bundle = await Deno.readTextFile(app + "/dist/index.js");
        assert.ok(!bundle.includes("__pqgate_test"), "the production bundle carries test hooks");
        assert.ok(
          !bundle.includes("__object"),
          "the production bundle lets a client name its object",
        );
        console.log(
          `  wrangler bundle: ${(bundle.length / 1024).toFixed(0)} KiB in ${r.ms.toFixed(0)} ms`,
        );
      });

      await timed(
        "the bundle in workerd: channel round trip; 503 without PQGATE_KEYS",
        async () => {
          const seed = crypto.getRandomValues(new Uint8Array(32));
          const pin = pinFor(generateStaticKey(seed).publicKey);
          const bundle = new URL(`file://${app}/dist/index.js`);
          const w = await startWorker({ keys: JSON.stringify([toBase64Url(seed)]), bundle });
          try {
            const ch = await connect(w.url.replace(/^http/, "ws") + "pqgate", { pin });
            try {
              const r = await ch.fetch("https://demo/api/hello");
              assert.equal(r.status, 200);
              assert.equal((await r.json()).message, "hello from the pqgate demo origin");
            } finally {
              ch.close();
            }
          } finally {
            await w.close();
          }
          const bad = await startWorker({ keys: "", bundle });
          try {
            const r = await fetch(bad.url + ".well-known/pqgate");
            assert.equal(r.status, 503);
            assert.match((await r.json()).message, /PQGATE_KEYS/);
          } finally {
            await bad.close();
          }
        },
      );
    } finally {
      console.log("cloudflare consumer: " + times.join(", "));
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
