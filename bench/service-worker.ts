/**
 * The Service Worker mode's added latency per request (docs/service-worker.md): in Chromium,
 * against one Deno gateway and its embedded demo origin, N sequential GET /api/hello from the
 * page (1) with `channel.fetch` on a channel the page holds, (2) with plain `fetch`, answered by
 * pqgate-sw.js through its channel. Same page, same gateway, same run; warm channels (the first
 * request of each is not counted). Prints runtime, implementation, median and p99.
 *
 *   deno run -A bench/service-worker.ts [N=300]
 */
import { createGateway } from "../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../src/protocol/static-keys.ts";
import { launchChromium } from "../tests/browser/chromium.ts";
import { serveDemoPage } from "../tests/browser/testing.ts";

const N = Number(Deno.args[0] ?? 300);
const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
const gateway = createGateway({ keys: key });
gateway.app.get("/bench.html", (c) =>
  c.html(`<!doctype html><script type="module">
import * as pq from "/client.js"; globalThis.pq = pq; document.title = "ready";
</script>`));
const { server, sw } = await serveDemoPage(gateway);
const chromium = await launchChromium();
try {
  const page = await chromium.browser.contexts()[0].newPage();
  await page.goto(`${server.url}/bench.html`);
  await page.waitForFunction(`document.title === "ready"`);
  const result = await page.evaluate(`(async () => {
    const gw = "ws://127.0.0.1:${server.addr.port}${gateway.channelPath}";
    const pin = ${JSON.stringify(pinFor(key.publicKey))};
    await pq.registerPqgate({ gateway: gw, pin, match: [{ origin: "https://demo" }] });
    const ch = await pq.connect(gw, { pin });
    const url = "https://demo/api/hello";
    const run = async (f) => {
      await (await f(url)).text(); // warm
      const t = [];
      for (let i = 0; i < ${N}; i++) {
        const t0 = performance.now();
        await (await f(url)).text();
        t.push(performance.now() - t0);
      }
      return t;
    };
    const out = {};
    // Interleaved rounds so drift affects both alike.
    out.direct = []; out.sw = [];
    for (let r = 0; r < 3; r++) {
      out.direct.push(...await run((u) => ch.fetch(u)));
      out.sw.push(...await run((u) => fetch(u)));
    }
    return out;
  })()`) as { direct: number[]; sw: number[] };
  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
  };
  const rows = [
    ["chromium", "channel.fetch in the page", result.direct],
    ["chromium", "plain fetch via pqgate-sw.js", result.sw],
  ] as const;
  console.log(`Service Worker mode: ${result.direct.length} sequential GET /api/hello each`);
  console.log("runtime    implementation                  median ms   p99 ms");
  for (const [rt, impl, xs] of rows) {
    console.log(
      `${rt.padEnd(10)} ${impl.padEnd(31)} ${q(xs, 0.5).toFixed(2).padStart(9)} ${
        q(xs, 0.99).toFixed(2).padStart(8)
      }`,
    );
  }
  console.log(
    `added by the worker: median ${(q(result.sw, 0.5) - q(result.direct, 0.5)).toFixed(2)} ms`,
  );
  console.log(`pqgate-sw.js: ${sw.code.length} bytes`);
} finally {
  await chromium.close();
  await server.shutdown();
}
