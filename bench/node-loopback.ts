/**
 * The client half of `npm run bench:node`'s loopback figure (bundled with esbuild and imported
 * by bench/handshake-node.mjs, so it runs in the driver's Node — the system Node 20 — whatever
 * runtime serves): the same client for every gateway, so differences are the server's.
 *
 *   channelRoundTrip(url): new WebSocket (`ws`) → pinned handshake → GET https://origin.bench/1k
 *     through the channel → body read; ms from the constructor to the last byte; then closed.
 *   plainEcho(url): new WebSocket (`ws`) → one 1 KiB message echoed; ms; then closed.
 *
 * The client KEM is the driver runtime's fastest synchronous X-Wing (on Node 20: noble ML-KEM,
 * node:crypto X25519), passed as the Channel's `kem` option, as bench/main.ts does.
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { selectBackends } from "../src/crypto/select.ts";
import type { HybridKem } from "../src/protocol/types.ts";
import { BENCH_KEY, ORIGIN_HOST } from "./common.ts";

let kem: HybridKem | null = null;

/** The client's KEM (selected once). */
export async function clientKem(): Promise<HybridKem> {
  kem ??= (await selectBackends({ timeAead: false })).kem;
  return kem;
}

/** One channel: open → handshake → first 1 KiB response; ms. */
export async function channelRoundTrip(url: string): Promise<number> {
  const k = await clientKem();
  const t0 = performance.now();
  const ch = new Channel(url, {
    publicKey: BENCH_KEY.publicKey,
    keyId: BENCH_KEY.keyId,
    WebSocket: WS,
    kem: k,
  });
  try {
    const r = await ch.fetch(`https://${ORIGIN_HOST}/1k`);
    const body = await r.arrayBuffer();
    if (r.status !== 200 || body.byteLength !== 1024) {
      throw new Error(`unexpected response ${r.status}, ${body.byteLength} bytes`);
    }
    return performance.now() - t0;
  } finally {
    ch.close();
  }
}

/** One plain WebSocket: open → one 1 KiB message echoed; ms. */
export async function plainEcho(url: string): Promise<number> {
  const payload = new Uint8Array(1024);
  const t0 = performance.now();
  const ws = new WS(url);
  try {
    await new Promise<void>((res, rej) => {
      ws.on("open", () => ws.send(payload));
      ws.on("message", () => res());
      ws.on("error", rej);
    });
    return performance.now() - t0;
  } finally {
    ws.close();
  }
}
