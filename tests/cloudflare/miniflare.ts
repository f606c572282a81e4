/**
 * Runs the Worker bundle (dist/worker/index.js, built by scripts/build-worker.mjs) in a real
 * workerd through Miniflare, configured like wrangler.toml (same compatibility date and flags,
 * the PqgateSession Durable Object), plus test-only bindings.
 *
 * Two runtimes (`runtime` option):
 *   "pinned"  the `miniflare` devDependency (4.20260426.0, workerd 2026-04-26, what wrangler
 *             4.86.0 brings on Node 20): no WebCrypto ML-KEM, so the crypto falls back to noble.
 *   "native"  the `miniflare-native` alias (miniflare 4.20260730.0 with its workerd overridden
 *             to 1.20261117.1 in package.json "overrides"): WebCrypto ML-KEM behind the
 *             `webcrypto_modern_algorithms` flag, which this runtime adds to wrangler.toml's
 *             flags. The newest miniflare 4.x bundles a 2026-07-30 workerd (flag unknown there);
 *             2026-11 workerds only ship with the miniflare 5 betas, whose options API differs.
 */
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import { fileURLToPath as fromFileUrl } from "node:url";

export const ROOT = new URL("../../", import.meta.url);
const BUNDLE = new URL("dist/worker/index.js", ROOT);
/** The flag that turns on WebCrypto ML-KEM in 2026-11+ workerd. */
export const NATIVE_FLAG = "webcrypto_modern_algorithms";

export type WorkerRuntime = "pinned" | "native";

/** The Miniflare class of a runtime ("native" is imported on demand). */
async function miniflareOf(runtime: WorkerRuntime): Promise<typeof Miniflare> {
  if (runtime === "pinned") return Miniflare;
  const m = await import("miniflare-native");
  return m.Miniflare as unknown as typeof Miniflare;
}

/** workerd version of a runtime's Miniflare, e.g. "1.20261117.1". */
export function workerdVersion(runtime: WorkerRuntime): string {
  const dir = runtime === "pinned" ? "node_modules/workerd" : "node_modules/miniflare-native/node_modules/workerd";
  try {
    return JSON.parse(readFileSync(new URL(`${dir}/package.json`, ROOT), "utf8")).version;
  } catch {
    return JSON.parse(readFileSync(new URL("node_modules/workerd/package.json", ROOT), "utf8")).version;
  }
}

/** compatibility_date / compatibility_flags from wrangler.toml, so tests run what deploys. */
export function wranglerCompat(): { compatibilityDate: string; compatibilityFlags: string[] } {
  const toml = readFileSync(new URL("wrangler.toml", ROOT), "utf8");
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? "";
  if (!date) throw new Error("wrangler.toml has no compatibility_date");
  return {
    compatibilityDate: date,
    compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]),
  };
}

let built: Promise<{ bytes: number; ms: number }> | null = null;
/** Build the bundle once per test process. */
export function buildBundle(): Promise<{ bytes: number; ms: number }> {
  built ??= (async () => {
    const { buildWorker } = await import("../../scripts/build-worker.mjs");
    return await buildWorker();
  })();
  return built;
}

export interface WorkerOptions {
  /** PQGATE_KEYS secret value. */
  keys: string;
  routes?: unknown[];
  vars?: Record<string, string>;
  /** Service bindings implemented in the test process. */
  services?: Record<string, (request: Request) => Response | Promise<Response>>;
  testHooks?: boolean;
  compatibilityFlags?: string[];
  /** Which workerd (see the top of this file). Default "pinned". */
  runtime?: WorkerRuntime;
  /** Another bundle (e.g. the bench entry); default dist/worker/index.js, built on demand. */
  bundle?: URL;
}

export interface WorkerHarness {
  /** http://127.0.0.1:PORT/ */
  url: string;
  mf: Miniflare;
  /** ms from `new Miniflare` to ready (workerd start + script load). */
  startupMs: number;
  /** workerd child pid, for CPU accounting (null if not found). */
  workerdPid: number | null;
  close(): Promise<void>;
}

function workerdChildren(): Set<number> {
  const out = new Set<number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === Deno.pid && comm.startsWith("workerd")) out.add(Number(e.name));
    } catch { /* raced with exit */ }
  }
  return out;
}

/**
 * CPU time (ns) of workerd from /proc/<pid>/task/<tid>/schedstat: `main` is the event-loop
 * thread that runs the isolates (JS, and workerd's own networking), `total` adds V8's
 * background threads (concurrent JIT compilation and GC), which Workers does not bill.
 */
export function processCpuNs(pid: number): { main: number; total: number } {
  let total = 0;
  let main = 0;
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0]);
      total += ns;
      if (t.name === String(pid)) main = ns;
    } catch { /* thread exited */ }
  }
  return { main, total };
}

export async function startWorker(o: WorkerOptions): Promise<WorkerHarness> {
  if (!o.bundle) await buildBundle();
  const bundle = o.bundle ?? BUNDLE;
  const runtime = o.runtime ?? "pinned";
  const MF = await miniflareOf(runtime);
  const compat = wranglerCompat();
  if (runtime === "native") compat.compatibilityFlags.push(NATIVE_FLAG);
  const before = workerdChildren();
  const t0 = performance.now();
  const bindings: Record<string, string> = {
    PQGATE_KEYS: o.keys,
    ...(Deno.env.get("PQGATE_TEST_LOG") ? {} : { PQGATE_LOG: "off" }),
    ...o.vars,
  };
  if (o.routes) bindings.PQGATE_ROUTES = JSON.stringify(o.routes);
  if (o.testHooks) bindings.PQGATE_TEST_HOOKS = "1";
  const mf = new MF({
    modules: [{ type: "ESModule", path: fromFileUrl(bundle) }],
    modulesRoot: fromFileUrl(new URL(".", bundle)),
    compatibilityDate: compat.compatibilityDate,
    compatibilityFlags: o.compatibilityFlags ?? compat.compatibilityFlags,
    durableObjects: { PQGATE_SESSION: { className: "PqgateSession", useSQLite: true } },
    bindings,
    serviceBindings: o.services,
    host: "127.0.0.1",
    port: 0,
  });
  const url = String(await mf.ready);
  const startupMs = performance.now() - t0;
  const after = [...workerdChildren()].filter((p) => !before.has(p));
  return {
    url,
    mf,
    startupMs,
    workerdPid: after.length === 1 ? after[0] : null,
    close: async () => {
      try {
        await mf.dispose();
      } catch (e) {
        // Deno's node:http sometimes reports "Server is not running" when Miniflare stops its
        // loopback server; workerd itself is already stopped by then.
        if (!/Server is not running/.test(String(e))) throw e;
      }
    },
  };
}
