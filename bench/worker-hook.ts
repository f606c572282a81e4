/**
 * Workers (workerd, through Miniflare) figures for `npm run bench` (section "worker"):
 *
 *   warm   gateway CPU per pinned-key handshake inside a warm isolate, per runtime and backend
 *   cold   the first handshake in a fresh isolate (a fresh Miniflare = a fresh workerd process)
 *   load   handshakes/s with N concurrent clients against the real Worker (Durable Objects)
 *
 * Runtimes: "pinned" = miniflare 4.20260426.0 / workerd 2026-04-26 (no native ML-KEM; the
 * fallback path), "native" = the same miniflare on the workerd 2026-11-17 binary and the
 * `webcrypto_modern_algorithms` flag (WebCrypto ML-KEM). Backends: PQGATE_CRYPTO=noble|auto.
 *
 * Method. workerd's clocks do not advance while JavaScript computes, so nothing is timed inside
 * the isolate. The bench bundle (bench/worker-entry.ts = the production Worker + batch routes)
 * runs only the gateway's handshake calls for a batch of ClientHellos (`prepareServer` +
 * `receiveClientHello`), then, after the client side ran here in Deno, the batch's
 * `receiveClientFinished`; the CPU of workerd's event-loop thread (the one running JavaScript;
 * /proc/<pid>/task/<pid>/schedstat, ns) over those two requests, minus the same two requests
 * to an echo route (same body and response sizes, no handshake work), divided by the batch
 * size, is the per-handshake CPU. Wall time of the requests
 * (same subtraction) is reported beside it. The event-loop thread also runs workerd's own
 * networking and Miniflare's proxy worker, so these are upper bounds. V8's background
 * threads (concurrent JIT, GC) are not counted (Workers does not bill them either).
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { toBase64Url } from "../src/protocol/bytes.ts";
import { ClientHandshake } from "../src/protocol/handshake-client.ts";
import type { HybridKem } from "../src/protocol/types.ts";
import { selectBackends } from "../src/crypto/select.ts";
import {
  processCpuNs,
  startWorker,
  workerdVersion,
  type WorkerHarness,
  type WorkerRuntime,
} from "../tests/cloudflare/miniflare.ts";
import { BENCH_KEY, type Stat, stat } from "./common.ts";
import { joinBatch, splitBatch } from "./batch.ts";

export interface WorkerBench {
  runtimes: Record<string, string>;
  method: string;
  /** Per runtime and backend: warm CPU µs per handshake (median/p99 over batches). */
  warm: WarmRow[];
  cold: ColdRow[];
  load: LoadRow[];
  seconds: number;
}
interface WarmRow {
  runtime: WorkerRuntime;
  backend: string;
  crypto: string;
  batches: number;
  batchSize: number;
  cpuUs: Stat;
  wallUs: Stat;
  startupCpuMs: number;
}
interface ColdRow {
  runtime: WorkerRuntime;
  backend: string;
  n: number;
  firstCpuUs: Stat;
  firstWallUs: Stat;
  startupCpuMs: Stat;
  firstRequestCpuMs: Stat;
}
interface LoadRow {
  runtime: WorkerRuntime;
  backend: string;
  clients: number;
  handshakes: number;
  perSecond: number;
  handshakeMs: Stat;
  workerdCpuUsPerHandshake: number | null;
  errors: number;
}

const ROOT = new URL("..", import.meta.url);
const BUNDLE = new URL("dist/bench-worker/index.js", ROOT);
const KEYS = JSON.stringify([toBase64Url(BENCH_KEY.secretKey)]);
const server = { keyId: BENCH_KEY.keyId, publicKey: BENCH_KEY.publicKey };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One request; CPU (ns, event-loop thread) and wall (ms) it cost workerd. */
async function measured(
  w: WorkerHarness,
  path: string,
  body?: Uint8Array<ArrayBuffer>,
): Promise<{ cpuNs: number; wallMs: number; bytes: Uint8Array }> {
  const pid = w.workerdPid!;
  await sleep(5); // let workerd finish the previous request's tail
  const c0 = processCpuNs(pid).main;
  const t0 = performance.now();
  const r = await fetch(w.url + path, body ? { method: "POST", body } : undefined);
  const bytes = new Uint8Array(await r.arrayBuffer());
  const wallMs = performance.now() - t0;
  await sleep(5);
  const cpuNs = processCpuNs(pid).main - c0;
  if (!r.ok) throw new Error(`${path}: ${r.status} ${new TextDecoder().decode(bytes)}`);
  return { cpuNs, wallMs, bytes };
}

/** One batch of `size` pinned handshakes, gateway side in workerd: {cpuNs, wallMs} totals. */
async function batch(w: WorkerHarness, size: number, clientKem: HybridKem) {
  const clients = Array.from({ length: size }, () =>
    new ClientHandshake({
      server,
      kem: clientKem,
      random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    }));
  const hellos = clients.map((c) => c.start());
  const a = await measured(w, "__bench/hello?backend=gateway", joinBatch(hellos));
  const shs = splitBatch(a.bytes);
  const fins = clients.map((c, i) => c.receiveServerHello(shs[i]).clientFinished);
  const b = await measured(w, "__bench/finished", joinBatch(fins));
  // Baseline: the same two requests (sizes) without handshake work.
  const a0 = await measured(w, `__bench/echo?size=${shs[0].length}`, joinBatch(hellos));
  const b0 = await measured(w, "__bench/echo?size=8", joinBatch(fins));
  return {
    cpuNs: a.cpuNs + b.cpuNs - a0.cpuNs - b0.cpuNs,
    wallMs: a.wallMs + b.wallMs - a0.wallMs - b0.wallMs,
  };
}

async function start(runtime: WorkerRuntime, backend: string): Promise<WorkerHarness> {
  const w = await startWorker({
    keys: KEYS,
    bundle: BUNDLE,
    runtime,
    vars: { PQGATE_CRYPTO: backend },
  });
  if (w.workerdPid === null) {
    await w.close();
    throw new Error("workerd pid not found: CPU cannot be measured");
  }
  return w;
}

async function warm(runtime: WorkerRuntime, backend: string, quick: boolean, clientKem: HybridKem) {
  const w = await start(runtime, backend);
  try {
    const startupCpuMs = Math.round(processCpuNs(w.workerdPid!).main / 1e5) / 10;
    const report = await (await fetch(w.url + "__bench/select")).json();
    const size = 20, batches = quick ? 6 : 20;
    for (let i = 0; i < 3; i++) await batch(w, size, clientKem); // JIT warm-up
    const cpu: number[] = [], wall: number[] = [];
    for (let i = 0; i < batches; i++) {
      const r = await batch(w, size, clientKem);
      cpu.push(r.cpuNs / size / 1e3);
      wall.push((r.wallMs * 1e3) / size);
    }
    return {
      runtime,
      backend,
      crypto: report.summary as string,
      batches,
      batchSize: size,
      cpuUs: stat(cpu, 0),
      wallUs: stat(wall, 0),
      startupCpuMs,
    };
  } finally {
    await w.close();
  }
}

async function cold(runtime: WorkerRuntime, backend: string, n: number, clientKem: HybridKem) {
  const f: number[] = [], fw: number[] = [], su: number[] = [], fr: number[] = [];
  for (let i = 0; i < n; i++) {
    const w = await start(runtime, backend);
    try {
      await sleep(20);
      su.push(processCpuNs(w.workerdPid!).main / 1e6);
      // The isolate's first request (request path, routing, key config) — not the handshake.
      fr.push((await measured(w, "__bench/noop")).cpuNs / 1e6);
      await measured(w, "__bench/noop");
      const first = await batch(w, 1, clientKem);
      f.push(first.cpuNs / 1e3);
      fw.push(first.wallMs * 1e3);
    } finally {
      await w.close();
    }
  }
  return {
    runtime,
    backend,
    n,
    firstCpuUs: stat(f, 0),
    firstWallUs: stat(fw, 0),
    startupCpuMs: stat(su, 1),
    firstRequestCpuMs: stat(fr, 2),
  };
}

async function load(
  runtime: WorkerRuntime,
  backend: string,
  concs: number[],
  seconds: number,
  clientKem: HybridKem,
): Promise<LoadRow[]> {
  const w = await start(runtime, backend);
  const rows: LoadRow[] = [];
  try {
    await fetch(w.url + "__bench/select").then((r) => r.text());
    const url = w.url.replace(/^http/, "ws") + "pqgate";
    const channel = () =>
      new Channel(url, {
        publicKey: BENCH_KEY.publicKey,
        keyId: BENCH_KEY.keyId,
        WebSocket: WS,
        kem: clientKem,
      });
    for (let i = 0; i < 5; i++) {
      const ch = channel();
      await ch.ready();
      ch.close();
    }
    for (const conc of concs) {
      const lat: number[] = [];
      let errors = 0;
      await sleep(50);
      const c0 = processCpuNs(w.workerdPid!).main;
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      const worker = async () => {
        while (performance.now() < end) {
          const s = performance.now();
          const ch = channel();
          try {
            await ch.ready();
            lat.push(performance.now() - s);
          } catch {
            errors++;
          }
          ch.close();
        }
      };
      await Promise.all(Array.from({ length: conc }, worker));
      const elapsed = (performance.now() - t0) / 1000;
      await sleep(50);
      const cpu = processCpuNs(w.workerdPid!).main - c0;
      rows.push({
        runtime,
        backend,
        clients: conc,
        handshakes: lat.length,
        perSecond: Math.round(lat.length / elapsed),
        handshakeMs: stat(lat, 2),
        workerdCpuUsPerHandshake: lat.length ? Math.round(cpu / lat.length / 1e3) : null,
        errors,
      });
    }
  } finally {
    await w.close();
  }
  return rows;
}

/** Runs the Workers section; `{ skipped }` with the reason when Miniflare cannot run here. */
export async function benchWorkerHandshake(
  opts: { quick: boolean; say?: (m: string) => void },
): Promise<WorkerBench | { skipped: string }> {
  const t0 = performance.now();
  const say = opts.say ?? (() => {});
  try {
    const { buildWorker } = await import("../scripts/build-worker.mjs");
    await buildWorker({ entry: "bench/worker-entry.ts", outfile: BUNDLE.pathname });
  } catch (e) {
    return { skipped: `bench Worker bundle failed: ${(e as Error).message}` };
  }
  const clientKem = (await selectBackends({ timeAead: false })).kem;
  const runtimes: WorkerRuntime[] = ["pinned", "native"];
  const configs: [WorkerRuntime, string][] = [];
  for (const r of runtimes) for (const b of ["noble", "auto"]) configs.push([r, b]);
  const out: WorkerBench = {
    runtimes: Object.fromEntries(runtimes.map((r) => [r, `workerd ${workerdVersion(r)}`])),
    method:
      "workerd event-loop thread CPU (schedstat) over batch requests minus same-size echo requests",
    warm: [],
    cold: [],
    load: [],
    seconds: 0,
  };
  for (const [r, b] of configs) {
    say(`· workerd ${r}, ${b}: warm handshake CPU …`);
    try {
      out.warm.push(await warm(r, b, opts.quick, clientKem));
    } catch (e) {
      if (r === "native") {
        say(`  native workerd unavailable: ${(e as Error).message}`);
        continue;
      }
      throw e;
    }
  }
  for (const [r, b] of configs) {
    say(`· workerd ${r}, ${b}: cold first handshake (fresh isolate per sample) …`);
    try {
      out.cold.push(await cold(r, b, opts.quick ? 3 : 8, clientKem));
    } catch (e) {
      if (r !== "native") throw e;
    }
  }
  for (const [r, b] of [["pinned", "noble"], ["native", "auto"]] as [WorkerRuntime, string][]) {
    say(`· workerd ${r}, ${b}: handshakes/s through the Worker + Durable Objects …`);
    try {
      out.load.push(...await load(r, b, [1, 8, 32], opts.quick ? 1.5 : 4, clientKem));
    } catch (e) {
      if (r !== "native") throw e;
    }
  }
  out.seconds = Math.round((performance.now() - t0) / 1000);
  return out;
}

// Stand-alone: deno run -A bench/worker-hook.ts [--quick] (JSON on stdout).
if (import.meta.main) {
  const r = await benchWorkerHandshake({
    quick: Deno.args.includes("--quick"),
    say: console.error,
  });
  console.log(JSON.stringify(r, null, 1));
  Deno.exit(0);
}
