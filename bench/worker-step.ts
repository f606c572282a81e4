/**
 * Step profile inside workerd: CPU per call of one primitive, through the bench Worker's
 * `/__bench/step` route (op list in bench/worker-entry.ts `step`). Bench code only.
 *
 *   deno run -A bench/worker-step.ts [pinned|native] op1 op2 ...
 *
 * Per op: 200 calls, CPU of workerd's event-loop thread minus the same request with 0 calls;
 * 5 samples after one warm-up, printed sorted with their median (µs per call).
 */
import { processCpuNs, startWorker, type WorkerRuntime } from "../tests/cloudflare/miniflare.ts";
import { toBase64Url } from "../src/protocol/bytes.ts";
import { BENCH_KEY } from "./common.ts";

const BUNDLE = new URL("../dist/bench-worker/index.js", import.meta.url);
const { buildWorker } = await import("../scripts/build-worker.mjs");
await buildWorker({ entry: "bench/worker-entry.ts", outfile: BUNDLE.pathname });
const runtime = (Deno.args[0] ?? "native") as WorkerRuntime;
const w = await startWorker({
  keys: JSON.stringify([toBase64Url(BENCH_KEY.secretKey)]),
  bundle: BUNDLE,
  runtime,
  vars: { PQGATE_CRYPTO: "auto" },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function cpuNs(op: string, n: number): Promise<number> {
  await sleep(5);
  const c0 = processCpuNs(w.workerdPid!).main;
  const r = await fetch(w.url + `__bench/step?op=${op}&n=${n}`);
  const t = await r.text();
  if (!r.ok) throw new Error(`${op}: ${r.status} ${t.slice(0, 200)}`);
  await sleep(5);
  return processCpuNs(w.workerdPid!).main - c0;
}
try {
  const N = 200;
  for (const op of Deno.args.slice(1)) {
    await cpuNs(op, N);
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) xs.push((await cpuNs(op, N) - await cpuNs(op, 0)) / N / 1e3);
    xs.sort((a, b) => a - b);
    console.log(op.padEnd(24), xs.map((x) => x.toFixed(1)).join(" "), " median", xs[2].toFixed(1));
  }
} finally {
  await w.close();
}
