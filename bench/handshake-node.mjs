#!/usr/bin/env node
// Runs bench/handshake.ts on Node: Node 20 cannot run TypeScript, so the bench (with the
// protocol core, src/crypto and noble) is bundled with the project's esbuild into a temporary
// ESM file first. Arguments are passed through (--json, --n N).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  console.error("esbuild not found in node_modules: run `npm install` first");
  process.exit(127);
}
const dir = mkdtempSync(join(tmpdir(), "pqgate-bench-"));
const out = join(dir, "handshake.mjs");
try {
  await esbuild.build({
    entryPoints: [join(root, "bench/handshake.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    logLevel: "warning",
  });
  const r = spawnSync(process.execPath, [out, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
