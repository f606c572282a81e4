/**
 * Load (not in CI): N concurrent channels × M requests against the Deno gateway running in its
 * own process. Every response carries the id of its request and is checked: zero lost or
 * mismatched responses are required (exit 1 otherwise). Prints handshake rate, p50/p99
 * request latency and throughput. Self-stopping: --max-seconds (default 600) bounds the run.
 *
 *   node scripts/deno.mjs task load [--channels 2000] [--requests 10] [--handshake-concurrency 64] [--max-seconds 600]
 *
 * Clients use Node's `ws` (Deno's own WebSocket client stalls ~44 ms on messages > 1 KiB).
 */
import { WebSocket as NodeWebSocket } from "ws";
import { type Channel, connect } from "../../src/client/mod.ts";
import { arg, MIB, percentile, spawnGateway } from "./common.ts";

const N = arg("channels", 2000);
const M = arg("requests", 10);
const HC = arg("handshake-concurrency", 64);
const maxSeconds = arg("max-seconds", 600);
const deadline = Date.now() + maxSeconds * 1000;

try {
  const lim = Deno.build.os === "linux"
    ? new Deno.Command("sh", { args: ["-c", "ulimit -n"] }).outputSync()
    : null;
  const n = lim ? Number(new TextDecoder().decode(lim.stdout).trim()) : NaN;
  if (Number.isFinite(n) && n < N * 2 + 100) {
    console.warn(
      `warning: open-file limit ${n} may be too low for ${N} channels (raise it with ulimit -n)`,
    );
  }
} catch { /* informational only */ }

const gw = await spawnGateway(maxSeconds + 30);
console.log(`gateway pid ${gw.pid} at ${gw.wsUrl}; ${N} channels × ${M} requests`);
const rss0 = gw.rss();
const WS = NodeWebSocket as unknown;
const channels: (Channel | null)[] = new Array(N).fill(null);
let connectErrors = 0;

// Phase 1: handshakes, HC at a time.
const tH = performance.now();
let next = 0;
await Promise.all(Array.from({ length: Math.min(HC, N) }, async () => {
  while (next < N && Date.now() < deadline) {
    const i = next++;
    try {
      channels[i] = await connect(gw.wsUrl, {
        pin: gw.pin,
        WebSocket: WS,
        handshakeTimeoutMs: 30_000,
      });
    } catch (e) {
      connectErrors++;
      if (connectErrors <= 3) console.error(`connect ${i}: ${(e as Error).message}`);
    }
  }
}));
const handshakeSeconds = (performance.now() - tH) / 1000;
const open = channels.filter((c) => c !== null).length;
console.log(
  `handshakes: ${open}/${N} in ${handshakeSeconds.toFixed(1)} s (${
    (open / handshakeSeconds).toFixed(0)
  }/s), ${connectErrors} errors; gateway rss ${(gw.rss() / MIB).toFixed(0)} MiB`,
);

// Phase 2: every channel runs its M requests sequentially; all channels at once.
const latencies: number[] = [];
let ok = 0, lost = 0, mismatched = 0;
const tR = performance.now();
await Promise.all(channels.map(async (ch, c) => {
  if (!ch) {
    lost += M;
    return;
  }
  for (let r = 0; r < M; r++) {
    if (Date.now() > deadline) {
      lost += M - r;
      return;
    }
    const id = `${c}-${r}-${crypto.randomUUID()}`;
    const t0 = performance.now();
    try {
      const res = await ch.fetch(`https://load.test/id/${id}`);
      const body = await res.json();
      latencies.push(performance.now() - t0);
      if (res.status === 200 && body.id === id) ok++;
      else mismatched++;
    } catch (e) {
      lost++;
      if (lost <= 3) console.error(`request ${id}: ${(e as Error).message}`);
    }
  }
}));
const reqSeconds = (performance.now() - tR) / 1000;
const rss1 = gw.rss();
for (const ch of channels) ch?.close();
await gw.stop();

latencies.sort((a, b) => a - b);
const total = N * M;
console.log("");
console.log(`channels            ${N} (${open} opened, ${connectErrors} connect errors)`);
console.log(`requests            ${total}: ${ok} ok, ${lost} lost, ${mismatched} mismatched`);
console.log(
  `latency             p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${
    percentile(latencies, 99).toFixed(1)
  } ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
);
console.log(
  `throughput          ${(ok / reqSeconds).toFixed(0)} requests/s over ${reqSeconds.toFixed(1)} s`,
);
console.log(`handshakes          ${(open / handshakeSeconds).toFixed(0)}/s (concurrency ${HC})`);
console.log(
  `gateway rss         ${(rss0 / MIB).toFixed(0)} MiB idle → ${
    (rss1 / MIB).toFixed(0)
  } MiB with ${open} channels`,
);
const pass = ok === total && lost === 0 && mismatched === 0;
console.log(pass ? "PASS: zero lost or mismatched responses" : "FAIL");
Deno.exit(pass ? 0 : 1);
