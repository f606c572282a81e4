/**
 * Tunneled WebSockets on Deno (docs/websockets.md): the round-trip time of one message through
 * `channel.websocket()` → a real `serveDeno` gateway → a WebSocket echo origin on loopback,
 * side by side with a direct WebSocket from the same client runtime to the same origin, same
 * run, same sizes. Everything runs in this process (client, gateway, origin), so the difference
 * is what the channel adds (AEAD both ways, the relay, one more WebSocket hop), on one core.
 *
 * Two WebSocket stacks, each end to end: Deno's built-in `WebSocket` (the channel's socket and
 * the gateway's default origin connector on Deno), and the `ws` package (the channel's socket
 * passed as `connect(url, { WebSocket })`, the origin connector `wsOriginWebSocket()`, as
 * `npm start` uses). Deno's client leaves TCP_NODELAY off and writes a frame's header and
 * payload separately past 1,024 B, so a message over that waits ~40 ms for a delayed ACK on
 * every hop it takes with it (docs/websockets.md "Platforms"); the 2 KiB size shows it.
 *
 *   deno run -A bench/ws-tunnel-deno.ts [--json] [N=300]
 *
 * Rows: runtime, implementation, message size, median and p99 round trip in ms.
 */
import { connect } from "../src/client/mod.ts";
import { createGateway } from "../src/gateway/create-gateway.ts";
import { pinFor } from "../src/protocol/static-keys.ts";
import { serveDeno } from "../src/transport/deno/serve.ts";
import { WebSocket as NodeWebSocket } from "ws";
import type { OriginWebSocketConnect } from "../src/proxy/origin-websocket.ts";
import { platformOriginWebSocket } from "../src/proxy/platform-websocket.ts";
import { wsOriginWebSocket } from "../src/transport/node-http/origin-websocket.ts";
import type { WebSocketConstructor } from "../src/client/websocket-socket.ts";
import { BENCH_KEY, cpuModel, type Stat, stat } from "./common.ts";

const json = Deno.args.includes("--json");
const N = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 300);
const SIZES = [16, 1024, 2048, 64 * 1024];

/** The shape both sockets share (a browser WebSocket's). */
interface Socketish {
  binaryType: string;
  onopen: ((e: Event) => void) | null;
  onmessage: ((e: MessageEvent) => void) | null;
  onerror: ((e: Event) => void) | null;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(): void;
}

async function roundTrips(ws: Socketish, size: number): Promise<Stat> {
  ws.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("WebSocket failed to open"));
  });
  const msg = new Uint8Array(size).fill(0x61);
  const once = () =>
    new Promise<void>((resolve) => {
      ws.onmessage = () => resolve();
      ws.send(msg);
    });
  for (let i = 0; i < 20; i++) await once(); // warm
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  ws.close();
  return stat(times, 3);
}

const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
});
const originUrl = `ws://127.0.0.1:${origin.addr.port}`;
const runtime = `deno ${Deno.version.deno}`;

/** A gateway in this process whose origin sockets `connect` opens, and a channel to it. */
async function tunnel(connector: OriginWebSocketConnect, socket: WebSocketConstructor | null) {
  const gateway = createGateway({
    keys: BENCH_KEY,
    routes: [{ match: { authority: "echo.bench" }, origin: originUrl }],
    websockets: { connect: connector },
  });
  await gateway.cryptoReport();
  const server = serveDeno({ gateway, port: 0 });
  const channel = await connect(`${server.url.replace(/^http/, "ws")}/pqgate`, {
    pin: pinFor(BENCH_KEY.publicKey),
    ...(socket ? { WebSocket: socket } : {}),
  });
  return { channel, close: () => (channel.close(), server.shutdown()) };
}

const stacks = [
  {
    name: "Deno WebSocket",
    direct: () => new WebSocket(originUrl) as unknown as Socketish,
    tunnel: await tunnel(platformOriginWebSocket()!, null),
  },
  {
    name: "ws",
    direct: () => new NodeWebSocket(originUrl) as unknown as Socketish,
    tunnel: await tunnel(wsOriginWebSocket(), NodeWebSocket as unknown as WebSocketConstructor),
  },
];

const rows: { runtime: string; implementation: string; bytes: number; stat: Stat }[] = [];
try {
  for (const bytes of SIZES) {
    for (const s of stacks) {
      rows.push({
        runtime,
        implementation: `${s.name}: direct (baseline)`,
        bytes,
        stat: await roundTrips(s.direct(), bytes),
      });
      rows.push({
        runtime,
        implementation: `${s.name}: via pqgate`,
        bytes,
        stat: await roundTrips(
          s.tunnel.channel.websocket("ws://echo.bench/") as unknown as Socketish,
          bytes,
        ),
      });
    }
  }
} finally {
  for (const s of stacks) await s.tunnel.close();
  await origin.shutdown();
}

if (json) {
  console.log(JSON.stringify({ machine: cpuModel(), n: N, rows }));
} else {
  console.log(`Tunneled WebSocket round trips, ${N} per row (${cpuModel()})`);
  console.log("runtime      implementation                      bytes   median ms   p99 ms");
  for (const r of rows) {
    console.log(
      `${r.runtime.padEnd(12)} ${r.implementation.padEnd(34)} ${String(r.bytes).padStart(6)} ${
        r.stat.median.toFixed(3).padStart(11)
      } ${r.stat.p99.toFixed(3).padStart(8)}`,
    );
  }
}
