#!/usr/bin/env node
// Bundles the Cloudflare Worker (worker/index.ts) with esbuild into dist/worker/index.js, the
// same way wrangler would (ESM, workerd conditions, `node:*` and `cloudflare:*` left to the
// runtime). The tests load this bundle into Miniflare; `wrangler dev/deploy` bundles on its own.
//
//   node scripts/build-worker.mjs [--entry worker/index.ts] [--outfile dist/worker/index.js]
//
// Also importable: `buildWorker({ entry, outfile })` resolves to { outfile, bytes, ms }.
import { build } from "esbuild";
import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** `npm:pkg@1.2.3/sub` (Deno style) → `pkg/sub`, resolved from node_modules. */
const npmSpecifiers = {
  name: "npm-specifiers",
  setup(b) {
    b.onResolve({ filter: /^npm:/ }, async (args) => {
      const spec = args.path.slice(4).replace(/^\//, "");
      const m = /^(@[^/]+\/[^/@]+|[^/@]+)(?:@[^/]+)?(\/.*)?$/.exec(spec);
      if (!m) return { errors: [{ text: `unsupported npm specifier ${args.path}` }] };
      const r = await b.resolve(m[1] + (m[2] ?? ""), {
        kind: args.kind,
        resolveDir: args.resolveDir,
      });
      return r;
    });
  },
};

export async function buildWorker(opts = {}) {
  const entry = resolve(root, opts.entry ?? "worker/index.ts");
  const outfile = resolve(root, opts.outfile ?? "dist/worker/index.js");
  const t0 = performance.now();
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser", "import", "default"],
    mainFields: ["module", "main"],
    external: ["node:*", "cloudflare:*"],
    sourcemap: "linked",
    minify: false,
    logLevel: "warning",
    plugins: [npmSpecifiers],
    absWorkingDir: root,
  });
  return { outfile, bytes: statSync(outfile).size, ms: performance.now() - t0 };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const get = (flag) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const r = await buildWorker({ entry: get("--entry"), outfile: get("--outfile") });
  console.log(`built ${r.outfile} (${(r.bytes / 1024).toFixed(1)} KiB) in ${r.ms.toFixed(0)} ms`);
}
