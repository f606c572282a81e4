#!/usr/bin/env node
// `npm start`: the browser client and the Service Worker built if their sources changed (build-client.mjs --if-changed),
// then `deno task start` with this script's arguments. One process instead of
// `build && deno task start` in npm's shell: npm passes SIGTERM / SIGINT on to the process it
// started, and a shell running `a && b` dies of it without passing it on (dash, bash: measured,
// the gateway was left orphaned and serving). This process forwards SIGTERM / SIGINT / SIGHUP to
// each step (forward-signals.mjs) and exits with the gateway's status.
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runDeno } from "./deno.mjs";
import { runForwarding } from "./forward-signals.mjs";

const scripts = fileURLToPath(new URL(".", import.meta.url));
const built = await runForwarding(process.execPath, [
  join(scripts, "build-client.mjs"),
  "--if-changed",
]);
if (built !== 0) process.exit(built);
// The Service Worker of the demo page's second mode (docs/service-worker.md).
const builtSw = await runForwarding(process.execPath, [
  join(scripts, "build-client.mjs"),
  "--service-worker",
  "--if-changed",
]);
if (builtSw !== 0) process.exit(builtSw);
process.exit(await runDeno(["task", "start", ...process.argv.slice(2)]));
