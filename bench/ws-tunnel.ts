/**
 * Tunneled WebSockets on Workers (docs/cloudflare.md "Tunneled WebSockets"): what a relayed
 * message costs the Durable Object in CPU, and what an open origin socket costs in duration
 * (it keeps the object in memory: no hibernation). Bench code only.
 *
 *   deno run -A bench/ws-tunnel.ts [--json]
 *
 * CPU. workerd's clocks do not advance while JavaScript computes, so nothing is timed inside
 * the isolate: a batch of round trips (the client sends one message, waits for its echo) runs
 * against the Worker's direct socket (no Miniflare entry worker in front), and the CPU of
 * workerd's event-loop thread over the batch (/proc/<pid>/task/<pid>/schedstat), divided by the
 * batch size, is the CPU per round trip: one message relayed each way. That thread also runs
 * workerd's own networking, so the figures are upper bounds. Rows, same run, same sizes:
 *
 *   DO echo            the baseline: a hibernatable client socket, the object echoes itself
 *   DO relay           + the origin socket (the Workers connector,
 *                        src/transport/cloudflare/origin-websocket.ts) to an echo origin
 *                        in this process: the added leg a tunneled WebSocket costs, no channel
 *
 * Residency. A relaying object and an echoing one stay idle past workerd's 10 s eviction of
 * hibernatable objects; `instance` (bench/ws-tunnel-entry.ts) tells whether each was rebuilt.
 * The duration price per resident hour is computed from Cloudflare's published price.
 */
import { processCpuNs, startWorker, workerdVersion } from "../tests/cloudflare/miniflare.ts";
import { toBase64Url } from "../src/protocol/bytes.ts";
import { BENCH_KEY, cpuModel, type Stat, stat } from "./common.ts";

/** Cloudflare's Durable Objects duration price (developers.cloudflare.com/durable-objects/platform/pricing/). */
export const DO_PRICE = {
  usdPerMillionGbS: 12.5,
  /** Every object is billed at 128 MB, as the pricing page's examples compute it (128 MB / 1 GB). */
  gb: 0.128,
  includedGbSPerMonth: 400_000,
};

/** Duration billed while an object stays in memory for `hours`, in GB-s and USD. */
export function residentCost(hours: number): { gbS: number; usd: number } {
  const gbS = hours * 3600 * DO_PRICE.gb;
  return { gbS, usd: gbS * DO_PRICE.usdPerMillionGbS / 1e6 };
}

const BUNDLE = new URL("../dist/ws-tunnel-worker/index.js", import.meta.url);
const SIZES = [1024, 64 * 1024];
const BATCH = 40;
const BATCHES = 15;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TunnelRow {
  implementation: string;
  bytes: number;
  /** CPU µs per round trip (one message each way), over batches. */
  cpuUs: Stat;
}

export interface TunnelBench {
  runtime: string;
  cpu: string;
  rows: TunnelRow[];
  residency: { idleS: number; relayRebuilt: boolean; echoRebuilt: boolean };
  costPerResidentHour: { gbS: number; usd: number };
  costPerResidentMonth: { gbS: number; usd: number };
}

export async function runTunnelBench(): Promise<TunnelBench> {
  const { buildWorker } = await import("../scripts/build-worker.mjs");
  await buildWorker({ entry: "bench/ws-tunnel-entry.ts", outfile: BUNDLE.pathname });
  const echo = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
  const originUrl = `ws://127.0.0.1:${echo.addr.port}/`;
  const w = await startWorker({
    keys: JSON.stringify([toBase64Url(BENCH_KEY.secretKey)]),
    bundle: BUNDLE,
    objects: { PROTO_RELAY: "ProtoRelay" },
    vars: { PQGATE_CRYPTO: "noble" },
    direct: true,
  });
  const pid = w.workerdPid;
  if (pid === null) throw new Error("workerd pid not found");
  const base = w.directUrl!.replace(/^http/, "ws");
  const state = async (name: string) =>
    (await (await fetch(`${w.url}proto-state/${name}`)).json()) as { instance: number };
  const open = (name: string, origin: string | null) =>
    new Promise<WebSocket>((resolve, reject) => {
      const q = origin ? `?origin=${encodeURIComponent(origin)}` : "";
      const ws = new WebSocket(`${base}proto/${name}${q}`);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`${name}: upgrade failed`));
    });
  const roundTrip = (ws: WebSocket, payload: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      ws.onmessage = (e) => {
        const n = (e.data as ArrayBuffer).byteLength;
        n === payload.length ? resolve() : reject(new Error(`echo of ${n} bytes`));
      };
      ws.send(payload);
    });
  try {
    const rows: TunnelRow[] = [];
    const subjects = [
      {
        implementation: "DO echo (baseline: hibernatable socket only)",
        name: "echo",
        origin: null,
      },
      {
        implementation: "DO relay (+ origin socket via fetch Upgrade)",
        name: "relay",
        origin: originUrl,
      },
    ];
    const sockets = new Map<string, WebSocket>();
    for (const s of subjects) sockets.set(s.name, await open(s.name, s.origin));
    for (const bytes of SIZES) {
      const payload = crypto.getRandomValues(new Uint8Array(bytes));
      for (const s of subjects) {
        const ws = sockets.get(s.name)!;
        for (let i = 0; i < BATCH; i++) await roundTrip(ws, payload); // warm-up
        const xs: number[] = [];
        for (let b = 0; b < BATCHES; b++) {
          await sleep(5);
          const c0 = processCpuNs(pid).main;
          for (let i = 0; i < BATCH; i++) await roundTrip(ws, payload);
          await sleep(5);
          xs.push((processCpuNs(pid).main - c0) / BATCH / 1e3);
        }
        rows.push({ implementation: s.implementation, bytes, cpuUs: stat(xs) });
      }
    }
    // Residency: both objects idle past workerd's 10 s eviction of hibernatable objects.
    const before = { relay: await state("relay"), echo: await state("echo") };
    const idleS = 25;
    await sleep(idleS * 1000);
    const after = { relay: await state("relay"), echo: await state("echo") };
    for (const ws of sockets.values()) ws.close(1000);
    await sleep(200);
    return {
      runtime: `workerd ${workerdVersion("pinned")}`,
      cpu: cpuModel(),
      rows,
      residency: {
        idleS,
        relayRebuilt: after.relay.instance !== before.relay.instance,
        echoRebuilt: after.echo.instance !== before.echo.instance,
      },
      costPerResidentHour: residentCost(1),
      costPerResidentMonth: residentCost(24 * 30),
    };
  } finally {
    await w.close();
    await echo.shutdown();
  }
}

export function tunnelTable(r: TunnelBench): string {
  const lines = [
    `CPU per round trip (one message relayed each way), ${r.runtime}, ${r.cpu}; ${BATCH} round trips per batch, ${BATCHES} batches:`,
    "",
    "| runtime | implementation | message | median µs | p99 µs |",
    "| --- | --- | ---: | ---: | ---: |",
    ...r.rows.map((x) =>
      `| ${r.runtime} | ${x.implementation} | ${
        x.bytes / 1024
      } KiB | ${x.cpuUs.median} | ${x.cpuUs.p99} |`
    ),
    "",
    `Residency after ${r.residency.idleS} s idle: relaying object ${
      r.residency.relayRebuilt ? "evicted (rebuilt)" : "stayed in memory"
    }, echoing object ${
      r.residency.echoRebuilt ? "evicted (hibernated, rebuilt)" : "stayed in memory"
    }.`,
    `Duration while resident: ${r.costPerResidentHour.gbS.toFixed(1)} GB-s = $${
      r.costPerResidentHour.usd.toFixed(5)
    } per hour; $${
      r.costPerResidentMonth.usd.toFixed(2)
    } per 30-day month (before the included ${DO_PRICE.includedGbSPerMonth} GB-s).`,
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const r = await runTunnelBench();
  console.log(Deno.args.includes("--json") ? JSON.stringify(r, null, 2) : tunnelTable(r));
}
