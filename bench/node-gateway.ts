/**
 * The Node side of `npm run bench:node` (driver: bench/handshake-node.mjs, which bundles this
 * file with esbuild and runs it under each Node binary it measures). Two modes:
 *
 *   node node-gateway.mjs --accept [--n 300]
 *     In process: the gateway's per-connection handshake, as the gateway does it. For crypto
 *     "auto" and "noble" (one `createGateway` each, from pqgate/hono's entry), every sample is a
 *     fresh `gateway.createSession(socket)` fed a ClientHello (→ its ServerHello is sent, after
 *     the async native ML-KEM hop where the selection has one) and then the ClientFinished (→
 *     SESSION_INFO, the first record, is sent). Only those two `receive` calls and the session's
 *     construction are timed; the client's work in between is not. The two modes alternate
 *     sample by sample, so background load hits both alike. Prints one JSON line: the
 *     runtime, each gateway's `cryptoReport()` and the raw samples (µs).
 *
 *   node node-gateway.mjs --serve
 *     Real servers on 127.0.0.1 for the loopback figure: `serveNode` (pqgate/node) with a
 *     crypto-"auto" gateway and another with crypto "noble", each routing `origin.bench` to an
 *     in-process service that answers 1 KiB; and a plain `ws` WebSocket echo on node:http (the
 *     transport floor of the same runtime). Prints one JSON line with the URLs when ready; over
 *     the IPC channel, `{ cmd: "cpu" }` answers this process's CPU time (µs, user + system).
 *     Stops when the IPC channel closes (the driver exits) or on SIGTERM.
 *
 * Portable Node code (no Deno.*): Node 20 cannot run TypeScript, so it always runs bundled.
 */
import http from "node:http";
import process from "node:process";
import { WebSocketServer } from "ws";
import { createGateway, type Gateway, type GatewayCryptoReport } from "../src/hono.ts";
import { type NodeGatewayServer, serveNode } from "../src/node.ts";
import { selectBackends } from "../src/crypto/select.ts";
import { hasWebCryptoMlKem } from "../src/crypto/xwing-webcrypto.ts";
import { ClientHandshake } from "../src/protocol/handshake-client.ts";
import { BENCH_KEY, cpuModel, ORIGIN_HOST } from "./common.ts";

const args = process.argv.slice(2);
const arg = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);

const KIB = new Uint8Array(1024).fill(0x61);
const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

function gatewayFor(mode: "auto" | "noble"): Gateway {
  return createGateway({
    keys: BENCH_KEY,
    routes: [{ match: { authority: ORIGIN_HOST }, origin: "service:bench" }],
    services: { bench: () => new Response(KIB, { headers: { "content-type": "text/plain" } }) },
    crypto: mode,
  });
}

/** What the runtime is, for the table's runtime column. */
function runtimeInfo() {
  return {
    runtime: `Node ${process.version}`,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    cpu: cpuModel(),
    webcryptoMlKem: hasWebCryptoMlKem(),
  };
}

/** The part of a `ws` server-side socket the echo uses (the package ships no types). */
interface EchoSocket {
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): void;
  send(data: unknown, options: { binary: boolean }): void;
}

/** The samples of one mode: µs per whole accept, its two halves, and process CPU µs. */
interface Samples {
  totalUs: number[];
  helloUs: number[];
  finishedUs: number[];
  cpuUs: number[];
}

async function accept(): Promise<void> {
  const n = Math.max(10, Number(arg("--n")) || 300);
  const warmup = Math.max(20, Math.round(n / 5));
  const modes = ["auto", "noble"] as const;
  const gateways = { auto: gatewayFor("auto"), noble: gatewayFor("noble") };
  const crypto: Record<string, GatewayCryptoReport> = {};
  for (const m of modes) crypto[m] = await gateways[m].cryptoReport(); // select before timing
  // The client's KEM is the same for both gateways (its work is not timed): the runtime's
  // fastest synchronous X-Wing, only to keep the bench short.
  const clientKem = (await selectBackends({ timeAead: false })).kem;
  const samples: Record<string, Samples> = {};
  for (const m of modes) samples[m] = { totalUs: [], helloUs: [], finishedUs: [], cpuUs: [] };

  for (let i = 0; i < warmup + n; i++) {
    for (const m of i % 2 ? modes : [...modes].reverse()) {
      const client = new ClientHandshake({
        kem: clientKem,
        random,
        server: { keyId: BENCH_KEY.keyId, publicKey: BENCH_KEY.publicKey },
      });
      const clientHello = client.start();
      // The session's socket: resolves `sending` at each message the gateway sends (the
      // ServerHello synchronously or after the async hop, SESSION_INFO in a microtask).
      const sent: Uint8Array[] = [];
      let wake = () => {};
      const sending = () => new Promise<void>((r) => (wake = r));
      const socket = {
        send: (b: Uint8Array) => {
          sent.push(b);
          wake();
        },
        close: () => {},
        bufferedAmount: 0,
      };
      let c0 = cpuNow(), t0 = performance.now();
      const session = gateways[m].createSession(socket, "127.0.0.1");
      let next = sending();
      session.receive(clientHello);
      await next;
      const hello = performance.now() - t0;
      let cpu = cpuNow() - c0;
      if (sent.length !== 1) throw new Error(`${m}: no ServerHello (${sent.length} messages)`);
      const { clientFinished } = client.receiveServerHello(sent[0]);
      c0 = cpuNow();
      t0 = performance.now();
      next = sending();
      session.receive(clientFinished);
      await next;
      const finished = performance.now() - t0;
      cpu += cpuNow() - c0;
      if ((sent.length as number) !== 2) {
        throw new Error(`${m}: no SESSION_INFO (${sent.length} messages)`);
      }
      session.shutdown();
      if (i >= warmup) {
        const s = samples[m];
        s.totalUs.push(Math.round((hello + finished) * 10000) / 10);
        s.helloUs.push(Math.round(hello * 10000) / 10);
        s.finishedUs.push(Math.round(finished * 10000) / 10);
        s.cpuUs.push(cpu);
      }
    }
  }
  console.log(JSON.stringify({ ...runtimeInfo(), n, warmup, crypto, samples }));
}

async function serve(): Promise<void> {
  const limitsOff = {
    // Every bench client comes from 127.0.0.1, many channels a minute.
    maxChannelsPerAddress: 0,
    maxHandshakesPerAddressPerMinute: 0,
    maxSockets: 0,
    maxHandshakesInFlight: 0,
  };
  const out: Record<string, unknown> = { ...runtimeInfo(), pid: process.pid };
  const servers: NodeGatewayServer[] = [];
  const crypto: Record<string, GatewayCryptoReport> = {};
  for (const m of ["auto", "noble"] as const) {
    const gateway = gatewayFor(m);
    crypto[m] = await gateway.cryptoReport();
    const server = serveNode({ gateway, port: 0, ...limitsOff });
    await server.listening;
    servers.push(server);
    out[m] = server.url.replace(/^http/, "ws") + gateway.channelPath;
  }
  out.crypto = crypto;
  // The plain baseline: a `ws` echo on node:http, the WebSocket library serveNode runs on.
  const plain = http.createServer((_req, res) => res.end("ok\n"));
  const wss = new WebSocketServer({ server: plain });
  wss.on("connection", (ws: EchoSocket) => {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
  out.plain = `ws://127.0.0.1:${(plain.address() as { port: number }).port}/`;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    wss.close();
    plain.closeAllConnections?.();
    plain.close();
    await Promise.all(servers.map((s) => s.shutdown()));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("disconnect", () => void stop());
  process.on("message", (m: { cmd?: string }) => {
    if (m?.cmd === "cpu") process.send?.({ cpuUs: cpuNow() });
  });
  console.log(JSON.stringify(out));
}

if (args.includes("--accept")) await accept();
else if (args.includes("--serve")) await serve();
else {
  console.error(
    "usage: node-gateway.mjs --accept [--n N] | --serve   (see bench/handshake-node.mjs)",
  );
  process.exit(2);
}
