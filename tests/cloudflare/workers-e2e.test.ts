/**
 * The shared end-to-end suite (tests/e2e/gateway-suite.ts) against the Cloudflare Worker in
 * real workerd (Miniflare), plus the Workers-only scenarios: `service:NAME` origins through a
 * service binding, CF-Connecting-IP as the client address, and a request that continues on the
 * same channel after the Durable Object lost its in-memory state.
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { connect } from "../../src/client/mod.ts";
import { runGatewaySuite, SUITE_LIMITS, suiteRoutes } from "../e2e/gateway-suite.ts";
import { channelUrl, deadOriginUrl } from "../e2e/loopback.ts";
import { startRecordingOrigin } from "../e2e/recording-origin.ts";
import { startWorker } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 91 + 5) & 0xff);
const KEY = generateStaticKey(SEED);
const PIN = pinFor(KEY.publicKey);

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 : 0;
}

Deno.test({
  name: "cf workers: shared end-to-end suite + service bindings, client address, eviction",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const origin = await startRecordingOrigin();
    const backendSeen: string[] = [];
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(SEED)]),
      routes: [
        ...suiteRoutes(origin, deadOriginUrl()),
        { match: { authority: "svc.test" }, origin: "service:BACKEND" },
      ],
      vars: { PQGATE_LIMITS: JSON.stringify(SUITE_LIMITS) },
      services: {
        BACKEND: async (req: Request) => {
          backendSeen.push(
            `${req.method} ${new URL(req.url).pathname} ${req.headers.get("x-forwarded-for")}`,
          );
          return Response.json({
            via: "service binding",
            url: req.url,
            host: req.headers.get("host"),
            body: await req.text(),
          });
        },
      },
      testHooks: true,
    });
    const httpUrl = w.url.replace(/\/$/, "");
    const pid = w.workerdPid;
    let peakRss = pid === null ? 0 : rssOf(pid);
    const rss0 = peakRss;
    const sampler = setInterval(() => {
      if (pid !== null) peakRss = Math.max(peakRss, rssOf(pid));
    }, 100);
    try {
      await runGatewaySuite(
        {
          name: "workers",
          wsUrl: channelUrl(httpUrl),
          httpUrl,
          pin: PIN,
          handshakeTimeoutMs: SUITE_LIMITS.handshakeTimeoutMs,
          idleTimeoutMs: SUITE_LIMITS.idleTimeoutMs,
          // Memory of the gateway = the workerd process, not this test process.
          // Deno's WebSocket, not the `ws` package: with `ws`, a close initiated by a hibernatable
          // socket in workerd (4000, 4008) completes only ~10 s later, because `ws` waits for the
          // server to end the TCP connection and local workerd/Miniflare holds it until the
          // object is evicted (reproduced without pqgate code). Deno's client does not wait.
          // The 50 MiB scenarios' rss check: this test process is not the gateway, and workerd's
          // RSS grows by 30-45 MiB of not-yet-collected garbage over 50 MiB (V8 there collects
          // lazily; observed with < 0.2 MiB in flight). Bounded buffering is asserted by the
          // suite's in-flight check; workerd's peak RSS is reported below instead.
          rss: () => 0,
        },
        origin,
        t,
      );

      await t.step("workers: service:NAME origin goes through the service binding", async () => {
        const ch = await connect(channelUrl(httpUrl), { pin: PIN });
        try {
          const r = await ch.fetch("https://svc.test/api/x", { method: "POST", body: "hi" });
          assert.equal(r.status, 200);
          // The binding sees the client's scheme and host, as behind any proxy (not a placeholder).
          assert.deepEqual(await r.json(), {
            via: "service binding",
            url: "https://svc.test/api/x",
            host: "svc.test",
            body: "hi",
          });
          assert.equal(backendSeen.length, 1);
        } finally {
          ch.close();
        }
      });

      await t.step("workers: CF-Connecting-IP is the client address the origin sees", async () => {
        origin.reset();
        const ch = await connect(channelUrl(httpUrl), { pin: PIN });
        try {
          const seen = await (await ch.fetch("https://origin.test/headers")).json() as Record<
            string,
            string
          >;
          // Miniflare sets CF-Connecting-IP to the loopback peer, as the edge does for real clients.
          assert.match(seen["x-forwarded-for"] ?? "", /^127\.0\.0\.1$|^::1$/);
          assert.match(seen["forwarded"], /^for=(127\.0\.0\.1|"\[::1\]")/);
        } finally {
          ch.close();
        }
      });

      await t.step(
        "workers: requests continue on the same channel after the object lost its memory",
        async () => {
          origin.reset();
          const name = `e2e-${Date.now()}`;
          const ch = await connect(channelUrl(httpUrl) + `?__object=${name}`, { pin: PIN });
          try {
            assert.equal((await ch.fetch("https://origin.test/hello")).status, 200);
            const ev = await (await fetch(`${httpUrl}/__pqgate_test/${name}/evict`)).json() as {
              evicted: number;
            };
            assert.equal(ev.evicted, 1);
            const r = await ch.fetch("https://origin.test/echo", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ after: "restore" }),
            });
            assert.equal(r.status, 200);
            assert.deepEqual((await r.json() as { json: unknown }).json, { after: "restore" });
            const big = await ch.fetch("https://bulk.test/download?bytes=2097152");
            assert.equal((await big.arrayBuffer()).byteLength, 2 * 1024 * 1024);
          } finally {
            ch.close();
          }
        },
      );
      if (pid !== null) {
        console.log(
          `  workerd RSS: ${(rss0 / 2 ** 20).toFixed(0)} MiB at start, peak ${
            (peakRss / 2 ** 20).toFixed(0)
          } MiB`,
        );
      }
    } finally {
      clearInterval(sampler);
      await w.close();
      await origin.close();
    }
  },
});
