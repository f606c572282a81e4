#!/usr/bin/env node
// Runs the Deno that `npm install` put in node_modules, with that binary's folder first on
// PATH, so tasks that call `deno` reach it. Why a platform package (@deno/<os>-<cpu>, a
// devDependency: consumers of the published package never download it) instead of the `deno`
// wrapper package: the wrapper links
// node_modules/.bin/deno, and `deno task` resolves a nested `deno` to that file and tries to
// run the native binary as JavaScript (measured: `deno task` fails that way). The platform packages have no bin.
//
// Signals: SIGTERM / SIGINT / SIGHUP sent to this process go on to Deno, and this process exits
// with Deno's status (forward-signals.mjs); `deno task` passes them on to its task's process
// (measured with Deno 2.9.6: SIGTERM to `deno task start` → the gateway drains and exits 0).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runForwarding } from "./forward-signals.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The Deno binary to run and the environment to run it in (exits 127 when there is none). */
export function denoCommand() {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const candidates = {
    linux: [`@deno/linux-${arch}-glibc/deno`, "deno/deno"],
    darwin: [`@deno/darwin-${arch}/deno`, "deno/deno"],
    win32: [`@deno/win32-${arch}/deno.exe`, "deno/deno.exe"],
  }[process.platform] ?? ["deno/deno"];
  // Only the linux-x64 platform package is in the lock file (the registry this project installs
  // from serves no other); elsewhere a Deno >= 2.9 on PATH is used.
  let bin = candidates.map((c) => join(root, "node_modules", c)).find((p) => existsSync(p));
  if (!bin) {
    const probe = spawnSync("deno", ["--version"], { stdio: "ignore" });
    if (probe.status !== 0) {
      console.error(
        "deno not found: run `npm install` (linux-x64), or install Deno >= 2.9 on PATH",
      );
      process.exit(127);
    }
    bin = "deno";
  }
  const sep = process.platform === "win32" ? ";" : ":";
  const env = {
    ...process.env,
    DENO_BIN: bin,
    PATH: (bin === "deno" ? "" : dirname(bin) + sep) + (process.env.PATH ?? ""),
    DENO_NO_UPDATE_CHECK: "1",
  };
  return { bin, env };
}

/** `deno <args>` with signals forwarded; resolves with Deno's exit status. */
export function runDeno(args) {
  const { bin, env } = denoCommand();
  return runForwarding(bin, args, { env, cwd: process.cwd() });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await runDeno(process.argv.slice(2)));
}
