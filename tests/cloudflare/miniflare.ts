/**
 * Runs the Worker bundle (dist/worker/index.js, built by scripts/build-worker.mjs) in a real
 * workerd through Miniflare, configured like wrangler.toml (same compatibility date and flags,
 * the PqgateSession Durable Object). With `testHooks`, the test Worker instead
 * (tests/cloudflare/test-worker.ts → dist/test-worker/index.js).
 *
 * Two runtimes (`runtime` option):
 *   "pinned"  the `miniflare` devDependency (4.20260426.0, workerd 2026-04-26, what wrangler
 *             4.86.0 brings on Node 20): no WebCrypto ML-KEM, so the crypto falls back to noble.
 *   "native"  the same Miniflare driving the workerd 1.20261117.1 binary from the
 *             `workerd-native-linux-64` devDependency (an alias of
 *             @cloudflare/workerd-linux-64), through Miniflare's MINIFLARE_WORKERD_PATH:
 *             WebCrypto ML-KEM behind the `webcrypto_modern_algorithms` flag, which this runtime
 *             adds to wrangler.toml's flags. No miniflare 4.x bundles a 2026-11 workerd (the
 *             newest bundles 2026-07-30, which does not know the flag), and only the linux-x64
 *             build of that workerd is on the registry used here, so it is a binary alias rather
 *             than a second miniflare.
 */
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import { fileURLToPath as fromFileUrl } from "node:url";

export const ROOT = new URL("../../", import.meta.url);
const BUNDLE = new URL("dist/worker/index.js", ROOT);
/** The test Worker (test-worker.ts: the production Worker plus the /__pqgate_test/ hooks). */
const TEST_BUNDLE = new URL("dist/test-worker/index.js", ROOT);
/** The flag that turns on WebCrypto ML-KEM in 2026-11+ workerd. */
export const NATIVE_FLAG = "webcrypto_modern_algorithms";

export type WorkerRuntime = "pinned" | "native";

const NATIVE_PACKAGE = new URL("node_modules/workerd-native-linux-64/", ROOT);

/** Path of the native-ML-KEM workerd binary, or null where it is not installed (not linux-x64). */
export function nativeWorkerdPath(): string | null {
  const bin = fromFileUrl(new URL("bin/workerd", NATIVE_PACKAGE));
  try {
    return Deno.statSync(bin).isFile ? bin : null;
  } catch {
    return null;
  }
}

/** workerd version of a runtime, e.g. "1.20261117.1". */
export function workerdVersion(runtime: WorkerRuntime): string {
  const pkg = runtime === "pinned"
    ? new URL("node_modules/workerd/package.json", ROOT)
    : new URL("package.json", NATIVE_PACKAGE);
  return JSON.parse(readFileSync(pkg, "utf8")).version;
}

/**
 * Starts Miniflare on a runtime's workerd. Miniflare reads MINIFLARE_WORKERD_PATH when it spawns
 * workerd; the variable is set only for that moment (test files run one at a time).
 */
async function withWorkerd<T>(runtime: WorkerRuntime, start: () => Promise<T>): Promise<T> {
  if (runtime === "pinned") return await start();
  const bin = nativeWorkerdPath();
  if (!bin) throw new Error("the native-ML-KEM workerd (workerd-native-linux-64) is not installed");
  const previous = Deno.env.get("MINIFLARE_WORKERD_PATH");
  Deno.env.set("MINIFLARE_WORKERD_PATH", bin);
  try {
    return await start();
  } finally {
    if (previous === undefined) Deno.env.delete("MINIFLARE_WORKERD_PATH");
    else Deno.env.set("MINIFLARE_WORKERD_PATH", previous);
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

const built = new Map<string, Promise<{ bytes: number; ms: number }>>();
/**
 * Build a bundle once per test process: the production Worker (worker/index.ts →
 * dist/worker/index.js), or with `testHooks` the test Worker (tests/cloudflare/test-worker.ts
 * → dist/test-worker/index.js).
 */
export function buildBundle(
  opts: { testHooks?: boolean } = {},
): Promise<{ bytes: number; ms: number }> {
  const which = opts.testHooks ? "test" : "production";
  let p = built.get(which);
  if (!p) {
    p = (async () => {
      const { buildWorker } = await import("../../scripts/build-worker.mjs");
      return await buildWorker(
        opts.testHooks
          ? { entry: "tests/cloudflare/test-worker.ts", outfile: fromFileUrl(TEST_BUNDLE) }
          : {},
      );
    })();
    built.set(which, p);
  }
  return p;
}

export interface WorkerOptions {
  /** PQGATE_KEYS secret value. */
  keys: string;
  routes?: unknown[];
  vars?: Record<string, string>;
  /** Service bindings implemented in the test process. */
  services?: Record<string, (request: Request) => Response | Promise<Response>>;
  /**
   * Load the test Worker (tests/cloudflare/test-worker.ts) instead of the production one:
   * `?__object=NAME` names a channel's Durable Object, `/__pqgate_test/NAME/{evict,state,
   * corrupt}` reaches it.
   */
  testHooks?: boolean;
  compatibilityFlags?: string[];
  /** Which workerd (see the top of this file). Default "pinned". */
  runtime?: WorkerRuntime;
  /** Another bundle (e.g. the bench entry); default dist/worker/index.js, built on demand. */
  bundle?: URL;
  /**
   * Also listen on a socket straight to the Worker (no Miniflare entry worker in front), as
   * `directUrl`. Needed where the entry worker would answer for the Worker, e.g. WebSocket
   * extension negotiation.
   */
  direct?: boolean;
  /** Bind PQGATE_ANALYTICS to a local Analytics Engine dataset (miniflare: writes are dropped). */
  analytics?: boolean;
  /** workerd's stdout, line by line (the Worker's console.log). */
  stdout?: (line: string) => void;
  /**
   * The Worker's modules instead of the bundle alone (e.g. an entry importing a CompiledWasm
   * module, as wrangler bundles `import wasm from "x.wasm"`); paths under the bundle's directory.
   */
  modules?: { type: "ESModule" | "CompiledWasm"; path: string; contents: string | Uint8Array }[];
  /** More Durable Object bindings of the bundle (binding → class name), beside PQGATE_SESSION. */
  objects?: Record<string, string>;
}

export interface WorkerHarness {
  /** http://127.0.0.1:PORT/ */
  url: string;
  mf: Miniflare;
  /** ms from `new Miniflare` to ready (workerd start + script load). */
  startupMs: number;
  /** workerd child pid, for CPU accounting (null if not found). */
  workerdPid: number | null;
  /** http://127.0.0.1:PORT/ of the direct socket (with `direct: true`), else null. */
  directUrl: string | null;
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
      const ns = Number(
        Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0],
      );
      total += ns;
      if (t.name === String(pid)) main = ns;
    } catch { /* thread exited */ }
  }
  return { main, total };
}

/** Miniflare's handleRuntimeStdio: stdout as lines to `onLine`, stderr passed through. */
function stdioLines(onLine: (line: string) => void) {
  return (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
    let rest = "";
    stdout.on("data", (chunk: Uint8Array | string) => {
      rest += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      for (const l of parts) onLine(l);
    });
    stderr.on("data", (chunk: Uint8Array | string) => {
      Deno.stderr.writeSync(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
    });
  };
}

export async function startWorker(o: WorkerOptions): Promise<WorkerHarness> {
  if (o.bundle && o.testHooks) throw new Error("testHooks needs the test Worker bundle");
  if (!o.bundle) await buildBundle({ testHooks: o.testHooks });
  const bundle = o.bundle ?? (o.testHooks ? TEST_BUNDLE : BUNDLE);
  const runtime = o.runtime ?? "pinned";
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
  const { mf, url } = await withWorkerd(runtime, async () => {
    const mf = new Miniflare({
      modules: o.modules ?? [{ type: "ESModule", path: fromFileUrl(bundle) }],
      modulesRoot: fromFileUrl(new URL(".", bundle)),
      compatibilityDate: compat.compatibilityDate,
      compatibilityFlags: o.compatibilityFlags ?? compat.compatibilityFlags,
      durableObjects: {
        PQGATE_SESSION: { className: "PqgateSession", useSQLite: true },
        ...Object.fromEntries(
          Object.entries(o.objects ?? {}).map((
            [b, className],
          ) => [b, { className, useSQLite: true }]),
        ),
      },
      bindings,
      serviceBindings: o.services,
      ...(o.analytics
        ? { analyticsEngineDatasets: { PQGATE_ANALYTICS: { dataset: "pqgate_test" } } }
        : {}),
      ...(o.stdout ? { handleRuntimeStdio: stdioLines(o.stdout) } : {}),
      host: "127.0.0.1",
      port: 0,
      ...(o.direct ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
    });
    return { mf, url: String(await mf.ready) };
  });
  const directUrl = o.direct ? String(await mf.unsafeGetDirectURL()) : null;
  const startupMs = performance.now() - t0;
  const after = [...workerdChildren()].filter((p) => !before.has(p));
  return {
    url,
    mf,
    startupMs,
    workerdPid: after.length === 1 ? after[0] : null,
    directUrl,
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
