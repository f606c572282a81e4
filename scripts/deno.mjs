#!/usr/bin/env node
// Runs the Deno that `npm install` put in node_modules, with that binary's folder first on
// PATH, so tasks that call `deno` reach it. Why a platform package (@deno/<os>-<cpu>, a
// devDependency: consumers of the published package never download it) instead of the `deno`
// wrapper package: the wrapper links
// node_modules/.bin/deno, and `deno task` resolves a nested `deno` to that file and tries to
// run the native binary as JavaScript (measured: `deno task` fails that way). The platform packages have no bin.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
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
    console.error("deno not found: run `npm install` (linux-x64), or install Deno >= 2.9 on PATH");
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
const r = spawnSync(bin, process.argv.slice(2), { stdio: "inherit", env, cwd: process.cwd() });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
