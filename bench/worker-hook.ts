/**
 * Hook for the Workers (workerd / miniflare) handshake figures, NOT run by this bench: the
 * Workers engineer or the lead fills it in (tests/cloudflare/miniflare.ts starts a Worker).
 *
 * Expected result, so that bench/report.ts prints it beside the Deno figures:
 *   { runtime: "workerd <version>", backend: string,
 *     warm: { n, median, p99 }  // gateway CPU µs per pinned-key handshake, warm isolate
 *     cold: { n, median, p99 }  // first handshake in a fresh isolate, µs (target < 5 ms)
 *   }
 * Suggested method: a Worker route (test bindings only) that runs bench/handshake.ts's
 * `benchHandshake` loop with `selectBackends()` inside the isolate and returns its JSON; cold
 * = a fresh Miniflare instance per sample, timing the first handshake inside the isolate.
 */
export interface WorkerBench {
  runtime: string;
  backend: string;
  warm: { n: number; median: number; p99: number } | null;
  cold: { n: number; median: number; p99: number } | null;
}

export function benchWorkerHandshake(
  _opts: { quick: boolean },
): Promise<WorkerBench | { skipped: string }> {
  return Promise.resolve({
    skipped: "not measured by this bench: fill in bench/worker-hook.ts (miniflare/workerd)",
  });
}
