/**
 * Soak (not in CI): K channels send requests continuously for --seconds (default 300) against
 * the Deno gateway in its own process, a fraction of the channels is closed and reopened every
 * sample, and the gateway's RSS is sampled every --sample-seconds (default 10). Prints the
 * samples and whether memory stayed flat (last third vs. first third after warm-up, within
 * --tolerance-mib, default 32). Zero mismatched responses required. Self-stopping.
 *
 *   node scripts/deno.mjs task soak [--seconds 300] [--channels 50] [--sample-seconds 10] [--churn 0.2]
 */
import { WebSocket as NodeWebSocket } from "ws";
import { type Channel, connect } from "../../src/client/mod.ts";
import { arg, MIB, percentile, spawnGateway } from "./common.ts";

const seconds = arg("seconds", 300);
const K = arg("channels", 50);
const sampleSeconds = arg("sample-seconds", 10);
const churn = arg("churn", 0.2);
const toleranceMiB = arg("tolerance-mib", 32);
const WS = NodeWebSocket as unknown;

const gw = await spawnGateway(seconds + 60);
console.log(
  `soak: gateway pid ${gw.pid}, ${K} channels, ${seconds} s, RSS every ${sampleSeconds} s, churn ${
    churn * 100
  }% per sample`,
);
const end = Date.now() + seconds * 1000;
const open = () => connect(gw.wsUrl, { pin: gw.pin, WebSocket: WS, handshakeTimeoutMs: 30_000 });
const channels: Channel[] = await Promise.all(Array.from({ length: K }, open));
let ok = 0, failed = 0, mismatched = 0, reconnects = 0;
const latencies: number[] = [];
const reasons = new Map<string, number>();

const workers = channels.map(async (_, c) => {
  let r = 0;
  while (Date.now() < end) {
    const ch = channels[c];
    const id = `${c}-${r++}`;
    const t0 = performance.now();
    try {
      const big = r % 10 === 0;
      const res = big
        ? await ch.fetch("https://load.test/echo", {
          method: "POST",
          body: id + "x".repeat(20_000),
        })
        : await ch.fetch(`https://load.test/id/${id}`);
      const good = big ? (await res.text()).startsWith(id + "x") : (await res.json()).id === id;
      if (latencies.length < 1_000_000) latencies.push(performance.now() - t0);
      if (good) ok++;
      else mismatched++;
    } catch (e) {
      failed++; // a channel closed by churn: the next request reconnects
      const m = (e as Error)?.message ?? String(e);
      reasons.set(m.slice(0, 120), (reasons.get(m.slice(0, 120)) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
});

const samples: { t: number; rss: number }[] = [];
const t0 = Date.now();
samples.push({ t: 0, rss: gw.rss() });
while (Date.now() < end) {
  await new Promise((r) =>
    setTimeout(r, Math.min(sampleSeconds * 1000, Math.max(0, end - Date.now())))
  );
  // Churn: close some channels; their next request reconnects with a new handshake.
  for (let c = 0; c < K; c++) {
    if (Math.random() < churn) {
      const old = channels[c];
      channels[c] = await open(); // swap first, so workers never pick up the closed channel
      old.close();
      reconnects++;
    }
  }
  const s = { t: Math.round((Date.now() - t0) / 1000), rss: gw.rss() };
  samples.push(s);
  console.log(
    `  t=${String(s.t).padStart(4)} s  rss ${
      (s.rss / MIB).toFixed(1).padStart(6)
    } MiB  requests ok ${ok}, failed ${failed}, mismatched ${mismatched}`,
  );
}
await Promise.all(workers);
for (const ch of channels) ch.close();
await gw.stop();

const body = samples.slice(Math.min(2, samples.length - 1)); // skip warm-up
const third = Math.max(1, Math.floor(body.length / 3));
const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const first = med(body.slice(0, third).map((s) => s.rss));
const last = med(body.slice(-third).map((s) => s.rss));
const growth = (last - first) / MIB;
latencies.sort((a, b) => a - b);
console.log("");
console.log(
  `requests   ${ok} ok, ${failed} failed (churned channels), ${mismatched} mismatched; ${reconnects} reconnects`,
);
for (const [m, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5)) {
  console.log(`  failure ×${n}: ${m}`);
}
console.log(
  `latency    p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${
    percentile(latencies, 99).toFixed(1)
  } ms; ${(ok / seconds).toFixed(0)} requests/s`,
);
console.log(
  `rss        first third ${(first / MIB).toFixed(1)} MiB → last third ${
    (last / MIB).toFixed(1)
  } MiB (${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MiB), max ${
    (Math.max(...samples.map((s) => s.rss)) / MIB).toFixed(1)
  } MiB`,
);
const flat = growth < toleranceMiB;
console.log(
  flat ? `memory FLAT (growth < ${toleranceMiB} MiB)` : `memory GREW by ${growth.toFixed(1)} MiB`,
);
Deno.exit(flat && mismatched === 0 ? 0 : 1);
