/**
 * Request bodies through the gateway: a body of known length (sent with content-length to the
 * origin, src/proxy/fixed-length-body.ts, origin-fetch.ts) against the same bytes as a
 * ReadableStream (length unknown: the gateway's fetch frames it chunked), in the same run, same
 * gateway, same origin. Prints runtime, implementation, median and p99 per size.
 *
 *   deno run -A bench/upload-framing.ts [--rounds N]
 *
 * The client is Deno + the `ws` package (Deno's own WebSocket client stalls on larger messages:
 * docs/benchmarks.md), the gateway serveDeno in this process, the origin node:http on loopback.
 */
import http from "node:http";
import { WebSocket } from "ws";
import { connect } from "../src/client/mod.ts";
import { createGateway } from "../src/gateway/create-gateway.ts";
import { pinFor } from "../src/protocol/static-keys.ts";
import { serveDeno } from "../src/transport/deno/serve.ts";
import { BENCH_KEY, cpuModel, stat } from "./common.ts";

const arg = (name: string, d: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : d;
};
const ROUNDS = arg("--rounds", 300);

const origin = http.createServer((rq, rs) => {
  let n = 0;
  rq.on("data", (c: Uint8Array) => (n += c.length));
  rq.on("end", () => rs.end(String(n)));
});
await new Promise<void>((r) => origin.listen(0, "127.0.0.1", () => r()));
const base = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
const gateway = createGateway({
  keys: BENCH_KEY,
  routes: [{ match: { authority: "o.bench" }, origin: base }],
});
await gateway.cryptoReport();
const server = serveDeno({ gateway, port: 0 });
const ch = await connect(server.url.replace(/^http/, "ws") + "/pqgate", {
  pin: pinFor(BENCH_KEY.publicKey),
  WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
});

async function once(size: number, streamed: boolean): Promise<number> {
  const bytes = new Uint8Array(size);
  const body = streamed ? new Blob([bytes]).stream() : bytes;
  const t = performance.now();
  const r = await ch.fetch(
    "https://o.bench/",
    { method: "POST", body, duplex: "half" } as RequestInit,
  );
  if ((await r.text()) !== String(size)) throw new Error("origin saw a different body");
  return performance.now() - t;
}

console.log(
  `upload framing, Deno ${Deno.version.deno}, ${cpuModel()}, ${ROUNDS} requests per cell (ms)`,
);
console.log("| size | implementation | median | p99 |");
console.log("|---:|---|---:|---:|");
for (const size of [1024, 32 * 1024, 256 * 1024, 1024 * 1024]) {
  const n = size >= 256 * 1024 ? Math.max(20, ROUNDS >> 3) : ROUNDS;
  for (const streamed of [false, true]) {
    for (let i = 0; i < 20; i++) await once(size, streamed); // warm-up
    const xs: number[] = [];
    // Interleaving is not needed for a same-run comparison of this size; rows run back to back.
    for (let i = 0; i < n; i++) xs.push(await once(size, streamed));
    const s = stat(xs, 2);
    const impl = streamed
      ? "ReadableStream (chunked to the origin), baseline"
      : "known length (content-length)";
    console.log(
      `| ${
        size >= 1024 * 1024 ? size / 1024 / 1024 + " MiB" : size / 1024 + " KiB"
      } | ${impl} | ${s.median} | ${s.p99} |`,
    );
  }
}
ch.close();
await server.shutdown();
origin.close();
