/**
 * The bench's gateway process: a real `serveDeno` gateway (crypto "auto" or "noble") in front
 * of a small origin, plus a plain WebSocket echo endpoint on the origin for the baseline.
 *
 *   deno run -A [--v8-flags=--expose-gc] bench/gateway-server.ts [--crypto auto|noble]
 *     [--server node|deno]   (serveDeno's server: node:http + ws (default) or Deno.serve)
 *     [--observe]            logs at info (JSON lines, to /dev/null) + prom-client metrics, as
 *                            `npm start -- --metrics-listen` runs (bench/observe-cost.ts)
 *
 * Prints one JSON line when ready: { gateway, origin, pid, crypto }. Extra endpoints on the
 * gateway (bench only): GET /__bench/stats → { rss, heapUsed, external, newSpaceMB, sessions }
 * after a GC when --expose-gc is on (`?nogc`: without it). Stops on SIGTERM / SIGINT.
 */
import { getHeapSpaceStatistics } from "node:v8";
import { createGateway } from "../src/gateway/create-gateway.ts";
import { serveDeno } from "../src/transport/deno/serve.ts";
import { BENCH_KEY, ORIGIN_HOST } from "./common.ts";
import { batchedLines, createLogWriter } from "../src/gateway/log-writer.ts";
import { type EventLog, teeLogs } from "../src/tunnel/events.ts";
import { toHex } from "../src/protocol/bytes.ts";

const args = Deno.args;
const mode = args[args.indexOf("--crypto") + 1] === "noble" ? "noble" : "auto";
const serverKind = args.includes("--server") && args[args.indexOf("--server") + 1] === "deno"
  ? "deno"
  : "node";

const KIB = new Uint8Array(1024).fill(0x61);
const MIB = new Uint8Array(1024 * 1024).fill(0x62);
const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/ws-echo") {
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  }
  if (path === "/1k") return new Response(KIB, { headers: { "content-type": "text/plain" } });
  if (path === "/1m") {
    return new Response(MIB, { headers: { "content-type": "application/octet-stream" } });
  }
  return new Response("ok\n");
});
const originUrl = `http://127.0.0.1:${(origin.addr as Deno.NetAddr).port}`;

const observe = args.includes("--observe");
let log: EventLog | undefined;
if (observe) {
  const devNull = Deno.openSync("/dev/null", { write: true });
  const enc = new TextEncoder();
  const lines = createLogWriter({
    level: "info",
    write: batchedLines((chunk) => void devNull.writeSync(enc.encode(chunk))),
  });
  const { createPromMetrics } = await import("../src/transport/observe/prom-metrics.ts");
  log = teeLogs(lines, (await createPromMetrics({ keyIds: [toHex(BENCH_KEY.keyId)] })).log);
}

const gateway = createGateway({
  keys: BENCH_KEY,
  log,
  routes: [{ match: { authority: ORIGIN_HOST }, origin: originUrl }],
  crypto: mode,
  // Idle channels for the memory figure must stay open; PINGs every 5 minutes.
  limits: { idleTimeoutMs: 600_000, handshakeTimeoutMs: 30_000 },
});
const report = await gateway.cryptoReport(); // select before the first connection
const gc = (globalThis as { gc?: () => void }).gc;
const server = serveDeno({
  gateway,
  port: 0,
  handleSignals: true,
  // Every bench client comes from 127.0.0.1: per-address limits would refuse the 10,000
  // idle channels of the memory figure.
  maxChannelsPerAddress: 0,
  maxHandshakesPerAddressPerMinute: 0,
  // ... nor the process caps (10,000 sockets, 1,000 handshakes in flight).
  maxSockets: 0,
  maxHandshakesInFlight: 0,
  server: serverKind,
  fetch: (req, env) => {
    const url = new URL(req.url);
    if (url.pathname === "/__bench/stats") {
      if (gc && !url.searchParams.has("nogc")) { for (let i = 0; i < 3; i++) gc(); }
      const m = Deno.memoryUsage();
      // V8's young generation, committed: it grows during a burst of handshakes and is given
      // back by V8's memory reducer once the process is idle (bench/idle-client.ts waits).
      const young = getHeapSpaceStatistics().find((x) => x.space_name === "new_space");
      return Response.json({
        rss: m.rss,
        heapUsed: m.heapUsed,
        external: m.external,
        newSpaceMB: young ? Math.round(young.space_size / 1e5) / 10 : null,
        sessions: server.transport.sessionCount,
        gc: !!gc,
      });
    }
    return gateway.app.fetch(req, env);
  },
});
console.log(
  JSON.stringify({
    gateway: server.url,
    origin: originUrl,
    pid: Deno.pid,
    crypto: report,
    server: serverKind,
  }),
);
await server.finished;
await origin.shutdown();
