/**
 * Issue 14: what observation costs per request. Three gateways in this process, identical but
 * for their `log` (the observation seam, src/tunnel/events.ts):
 *
 *   off           no sink (what a gateway built without `log` pays: no access record, no line)
 *   seam only     a sink that drops everything but wants it all: the session's own cost of
 *                 observing (access record, event objects), without any writer
 *   logs          the JSON-line writer at info (src/gateway/log-writer.ts), batched, written to
 *                 /dev/null: one access line per request
 *   logs+metrics  the same plus prom-client (src/transport/observe/prom-metrics.ts)
 *
 * Each has one established channel (client and gateway session back to back over an in-memory
 * socket, the gateway's real handler in front of a `service:` origin answering 1 KiB). A round
 * runs a batch of N sequential GETs on each variant, in rotating order; the process CPU
 * (node:process cpuUsage, client + gateway + origin, all in this process) / N is one sample.
 * The client's and the origin's share is the same in all three, so "added" (variant − off, per
 * round, then the median) is the observation's own cost.
 *
 *   deno run -A bench/observe-cost.ts [--n 2000] [--rounds 9] [--json]
 */
import { cpuUsage } from "node:process";
import { createGateway } from "../src/gateway/create-gateway.ts";
import { batchedLines, createLogWriter } from "../src/gateway/log-writer.ts";
import { ClientSession } from "../src/tunnel/client-session.ts";
import { teeLogs } from "../src/tunnel/events.ts";
import type { EventLog } from "../src/tunnel/events.ts";
import { memorySocketPair } from "../src/tunnel/memory-socket.ts";
import { createPromMetrics } from "../src/transport/observe/prom-metrics.ts";
import { toHex } from "../src/protocol/bytes.ts";
import { BENCH_KEY, type Stat, stat } from "./common.ts";

const args = Deno.args;
const arg = (k: string, d: string) => args.includes(k) ? args[args.indexOf(k) + 1] : d;
const N = Number(arg("--n", "2000"));
const ROUNDS = Number(arg("--rounds", "9"));
const JSON_OUT = args.includes("--json");
const say = (m: string) => {
  if (!JSON_OUT) console.error(m);
};

const BODY = new Uint8Array(1024).fill(0x61);
const devNull = Deno.openSync("/dev/null", { write: true });
const toDevNull = batchedLines((chunk) => {
  devNull.writeSync(new TextEncoder().encode(chunk));
});

async function variant(name: string, log: EventLog | undefined) {
  const gateway = createGateway({
    keys: BENCH_KEY,
    routes: [{ match: { authority: "api" }, origin: "service:api" }],
    services: {
      api: () => new Response(BODY, { headers: { "content-type": "application/octet-stream" } }),
    },
    // ChaCha20-Poly1305 first: the in-process client runs noble's AEADs, of which it is the
    // faster; the gateway side uses the selected native backends.
    suites: [2, 1],
    log,
  });
  await gateway.cryptoReport();
  const [cs, ss] = memorySocketPair();
  const server = gateway.createSession(ss, "192.0.2.1");
  ss.onmessage = (m) => void server.receive(m as Uint8Array<ArrayBuffer>);
  ss.onclose = (c, r) => server.onSocketClose(c, r);
  const client = new ClientSession({
    socket: cs,
    env: { now: () => Date.now(), random: (n) => crypto.getRandomValues(new Uint8Array(n)) },
    server: { keyId: BENCH_KEY.keyId, publicKey: BENCH_KEY.publicKey },
  });
  cs.onmessage = (m) => client.receive(m);
  cs.onclose = (c, r) => client.onSocketClose(c, r);
  client.start();
  await client.ready;
  const once = async () => {
    const r = await client.fetch(new Request("https://api/1k"));
    await r.arrayBuffer();
  };
  return { name, once, log, close: () => client.close() };
}

const metrics = await createPromMetrics({ keyIds: [toHex(BENCH_KEY.keyId)] });
const noop: EventLog = () => {};
const variants = [
  await variant("off", undefined),
  await variant("seam only (no-op sink)", noop),
  await variant("logs", createLogWriter({ level: "info", write: toDevNull })),
  await variant(
    "logs+metrics",
    teeLogs(createLogWriter({ level: "info", write: toDevNull }), metrics.log),
  ),
];

const cpuUs = () => {
  const u = cpuUsage();
  return u.user + u.system;
};

for (const v of variants) for (let i = 0; i < 300; i++) await v.once(); // warm-up
const samples: Record<string, number[]> = {};
const added: Record<string, number[]> = {};
for (const v of variants) samples[v.name] = [];
for (let r = 0; r < ROUNDS; r++) {
  const order = variants.map((_, i) => variants[(i + r) % variants.length]);
  const round: Record<string, number> = {};
  for (const v of order) {
    const c0 = cpuUs();
    for (let i = 0; i < N; i++) await v.once();
    round[v.name] = (cpuUs() - c0) / N;
    samples[v.name].push(round[v.name]);
  }
  for (const v of variants.slice(1)) (added[v.name] ??= []).push(round[v.name] - round.off);
  say(
    `round ${r + 1}/${ROUNDS}: ${
      variants.map((v) => `${v.name} ${round[v.name].toFixed(1)}`).join(", ")
    } µs`,
  );
}
for (const v of variants) v.close();

// ---- Section 2: the sinks alone, per request ------------------------------------------------
// The events one proxied request produces (stream_open + request, fresh field objects as the
// session makes them) through each sink, in a tight loop, rounds interleaved: µs per request.
// Precise where section 1 is noisy (its per-request figure includes the client and the origin).
const ACCESS = {
  sessionId: "00112233445566778899aabbccddeeff",
  stream: 7,
  method: "GET",
  route: "0",
  status: 200,
  gatewayError: null,
  bytesIn: 0,
  bytesOut: 1024,
  ms: 1,
  originMs: 0,
  outcome: "complete",
  authority: "api",
  path: "/1k",
  clientAddress: "192.0.2.1",
} as const;
const SINK_N = 20_000;
const sinks: { name: string; log: EventLog }[] = [
  { name: "logs (JSON line, batched to /dev/null)", log: variants[2].log! },
  { name: "metrics (prom-client)", log: metrics.log },
  { name: "logs+metrics", log: variants[3].log! },
];
const sinkSamples: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS + 2; r++) {
  for (const k of sinks.map((_, i) => sinks[(i + r) % sinks.length])) {
    const t0 = performance.now();
    for (let i = 0; i < SINK_N; i++) {
      k.log("stream_open", { sessionId: ACCESS.sessionId, stream: i });
      k.log("request", { ...ACCESS, stream: i });
      if (i % 64 === 63) await Promise.resolve(); // a task boundary: the batch is written
    }
    await Promise.resolve();
    if (r >= 2) (sinkSamples[k.name] ??= []).push((performance.now() - t0) * 1000 / SINK_N);
  }
}
const sinkRows = sinks.map((k) => ({ implementation: k.name, us: stat(sinkSamples[k.name], 2) }));

export interface ObserveRow {
  implementation: string;
  us: Stat;
  addedUs: Stat | null;
}
const rows: ObserveRow[] = variants.map((v) => ({
  implementation: v.name,
  us: stat(samples[v.name]),
  addedUs: added[v.name] ? stat(added[v.name]) : null,
}));
const result = { runtime: `Deno ${Deno.version.deno}`, n: N, rounds: ROUNDS, rows, sinkRows };

if (JSON_OUT) console.log(JSON.stringify(result));
else {
  console.log(
    `\nPer-request CPU (client + gateway + origin in one process, µs), ${N} GETs × ${ROUNDS} rounds\n`,
  );
  console.log("| runtime | implementation | median | p99 | added vs off (median, p99) |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${result.runtime} | ${r.implementation} | ${r.us.median} | ${r.us.p99} | ${
        r.addedUs ? `${r.addedUs.median}, ${r.addedUs.p99}` : "baseline"
      } |`,
    );
  }
  console.log(`\nThe sinks alone: one request's events (stream_open + request), µs per request\n`);
  console.log("| runtime | implementation | median | p99 |");
  console.log("| --- | --- | --- | --- |");
  for (const r of sinkRows) {
    console.log(`| ${result.runtime} | ${r.implementation} | ${r.us.median} | ${r.us.p99} |`);
  }
}
Deno.exit(0);
