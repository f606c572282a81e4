#!/usr/bin/env node
// `npm run dev:worker [-- wrangler dev options]`: serves the Cloudflare Worker locally with
// `wrangler dev` (workerd, Durable Objects, hibernation API) on http://127.0.0.1:8788 (npm start
// uses 8787, so both can run side by side). Once it answers, prints the channel URL, the pin and
// a command to try, as npm start does.
//
// Secrets for local dev live in .dev.vars (git-ignored), the wrangler convention. If it has no
// PQGATE_KEYS, this script adds one: the Deno gateway's key file (.pqgate/gateway-key.json) when
// it exists, so both gateways share a key and a pin; otherwise a fresh random seed.
// The pin is read back from the running Worker (GET /.well-known/pqgate → keys[0].pin).
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
    console.error(
      `dev:worker: wrote the dev secret PQGATE_KEYS to ${devVars} (mode 0600, git-ignored) from ${keyFile}`,
    );
  } else {
    value = JSON.stringify([randomBytes(32).toString("base64url")]);
    console.error(
      `dev:worker: wrote the dev secret PQGATE_KEYS to ${devVars} (mode 0600, git-ignored): a new random key`,
    );
  }
  const line = `PQGATE_KEYS='${value}'\n`;
  writeFileSync(devVars, (current && !current.endsWith("\n") ? current + "\n" : current) + line, {
    mode: 0o600,
  });
  chmodSync(devVars, 0o600);
}

const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const args = process.argv.slice(2);
if (!args.some((a) => a === "--port" || a.startsWith("--port="))) args.push("--port", "8788");
if (!args.some((a) => a === "--ip" || a.startsWith("--ip="))) args.push("--ip", "127.0.0.1");
const argValue = (flag) => {
  const i = args.findIndex((a) => a === flag || a.startsWith(flag + "="));
  return args[i].includes("=") ? args[i].slice(flag.length + 1) : args[i + 1];
};
const base = `http://${argValue("--ip")}:${argValue("--port")}`;
const child = spawn(process.execPath, [wrangler, "dev", ...args], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));

// Wait for the Worker, then say what to connect to (wrangler prints neither the channel nor the pin).
(async () => {
  for (let i = 0; i < 240; i++) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      const res = await fetch(`${base}/.well-known/pqgate`);
      if (!res.ok) continue;
      const pin = (await res.json()).keys?.[0]?.pin;
      if (!pin) continue;
      const channel = base.replace(/^http/, "ws") + "/pqgate";
      console.error(
        `\ndev:worker: channel  ${channel}\ndev:worker: pin      ${pin}\n` +
          `dev:worker: try      npm run fetch -- --pin ${pin} ${channel} https://demo/api/hello\n`,
      );
      return;
    } catch { /* not up yet */ }
  }
})();
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
