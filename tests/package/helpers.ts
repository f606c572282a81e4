/**
 * Shared by the package tests (package.test.ts: Node and TypeScript consumers of pqgate/client;
 * deno-consumer.test.ts: Deno consumers of pqgate/hono and pqgate/deno): running commands, the
 * build and `npm pack` (once per test process, whichever test asks first), and a consumer
 * directory with the tarball installed from the npm cache.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
export const BIN: string = REPO_ROOT + "node_modules/.bin/";
export const TSC: string = REPO_ROOT + "node_modules/typescript/bin/tsc";

const MANIFEST = JSON.parse(await Deno.readTextFile(REPO_ROOT + "package.json"));
/** Versions the repository pins (package.json), for consumers' installs. */
export const VERSIONS: { ws: string; hono: string; typesNode: string } = {
  ws: MANIFEST.dependencies.ws,
  hono: MANIFEST.devDependencies.hono,
  typesNode: MANIFEST.devDependencies["@types/node"],
};

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The environment every command gets: quiet npm, no colours, no Node warnings. */
export const QUIET_ENV: Record<string, string> = {
  npm_config_update_notifier: "false",
  npm_config_fund: "false",
  npm_config_audit: "false",
  NO_COLOR: "1",
  NODE_NO_WARNINGS: "1",
  DENO_NO_UPDATE_CHECK: "1",
};

/** Runs a command to completion (killed after timeoutMs). Never throws on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { ...QUIET_ENV, ...opts.env },
  }).spawn();
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, opts.timeoutMs ?? 60_000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      ms: performance.now() - t0,
    };
  } finally {
    clearTimeout(killer);
  }
}

/** run(), asserting exit code 0 (the message carries both output streams). */
export async function ok(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  assert.equal(
    r.code,
    0,
    `${cmd} ${args.join(" ")} exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
  );
  return r;
}

export interface PackedFile {
  path: string;
  size: number;
}
export interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: PackedFile[];
}
export interface Packed {
  pack: PackResult;
  /** Absolute path of the .tgz (in a temporary directory removed when the process ends). */
  tarball: string;
  buildMs: number;
  packMs: number;
}

let packed: Promise<Packed> | undefined;

/**
 * `scripts/build-package.mjs` (as `npm run build:package`), then `npm pack --ignore-scripts`
 * (prepack would rebuild) into a temporary directory. Once per process: the second caller gets
 * the first one's tarball (a failed build fails both).
 */
export function buildAndPack(): Promise<Packed> {
  packed ??= (async () => {
    const t0 = performance.now();
    await ok("node", [REPO_ROOT + "scripts/build-package.mjs"], { cwd: REPO_ROOT });
    const buildMs = performance.now() - t0;
    const dir = await Deno.makeTempDir({ prefix: "pqgate-pack-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    });
    const r = await ok("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], {
      cwd: REPO_ROOT,
    });
    const pack = (JSON.parse(r.stdout) as PackResult[])[0];
    return { pack, tarball: dir + "/" + pack.filename, buildMs, packMs: r.ms };
  })();
  return packed;
}

/**
 * A fresh consumer project in `dir` (`npm init -y`, `"type": "module"`) with `specs` installed
 * (the tarball and pinned extras) from the npm cache where possible.
 */
export async function installConsumer(dir: string, specs: string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await ok("npm", ["init", "-y"], { cwd: dir });
  await ok("npm", ["pkg", "set", "type=module"], { cwd: dir });
  await ok("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...specs], {
    cwd: dir,
    timeoutMs: 60_000,
  });
  const installed = JSON.parse(await Deno.readTextFile(dir + "/node_modules/pqgate/package.json"));
  assert.equal(installed.name, "pqgate");
}

/** Whether `path` exists. */
export function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}
