#!/usr/bin/env node
// `npx pqgate ...`: the package's command line (src/cli/main.ts, compiled to dist/pkg/), run in
// this process (no child: `pqgate serve` handles SIGTERM / SIGINT itself and drains).
//
// Under npx the command runs in npm's shell (`sh -c pqgate ...`), and npm passes SIGTERM /
// SIGINT on to that shell only, which dies of it (measured with npm 11 and dash): this process,
// reparented, then shuts itself down as if it had been sent SIGTERM (checked every 250 ms), so
// no gateway is left serving after `kill <npx's pid>`. Only under npm (`npm_command` set):
// `nohup pqgate serve &` must outlive its shell.
import { run } from "../dist/pkg/cli/main.js";

if (process.env.npm_command !== undefined) {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, "SIGTERM");
  }, 250);
  watch.unref();
}

process.exit(await run(process.argv.slice(2)));
