#!/usr/bin/env node
// `npm run dev:worker [-- wrangler dev options]`: serves the Cloudflare Worker locally with
// `wrangler dev` (workerd, Durable Objects, hibernation API) on http://127.0.0.1:8787.
//
// Secrets for local dev live in .dev.vars (git-ignored), the wrangler convention. If it has no
// PQGATE_KEYS, this script adds one: the Deno gateway's key file (.pqgate/gateway-key.json) when
// it exists, so both gateways share a key and a pin; otherwise a fresh random seed.
// The pin to give clients: GET http://127.0.0.1:8787/.well-known/pqgate → keys[].pin
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const devVars = join(root, ".dev.vars");
const keyFile = join(root, ".pqgate", "gateway-key.json");

const current = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
if (!/^PQGATE_KEYS\s*=/m.test(current)) {
  let value;
  if (existsSync(keyFile)) {
    value = JSON.stringify([JSON.parse(readFileSync(keyFile, "utf8"))]);
    console.error(`dev:worker: PQGATE_KEYS in .dev.vars ← ${keyFile}`);
  } else {
    value = JSON.stringify([randomBytes(32).toString("base64url")]);
    console.error("dev:worker: PQGATE_KEYS in .dev.vars ← a new random key");
  }
  const line = `PQGATE_KEYS='${value}'\n`;
  writeFileSync(devVars, (current && !current.endsWith("\n") ? current + "\n" : current) + line, {
    mode: 0o600,
  });
  chmodSync(devVars, 0o600);
}

const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const args = process.argv.slice(2);
if (!args.some((a) => a === "--port" || a.startsWith("--port="))) args.push("--port", "8787");
if (!args.some((a) => a === "--ip" || a.startsWith("--ip="))) args.push("--ip", "127.0.0.1");
const child = spawn(process.execPath, [wrangler, "dev", ...args], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
